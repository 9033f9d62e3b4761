"""The search spec: the one user interface of raydistill (YAML -> validated, frozen `Spec`).

`load_spec(path, overrides)` reads and validates a spec, raising `SpecError` with every problem as one line
`SPEC:LINE: dotted.path: what is wrong; what is allowed`; `check_spec` returns the problems instead
(`inspect_spec`: and the warnings).
"""

from __future__ import annotations

from raydistill.spec.canonical import dump_spec, spec_hash, spec_to_dict
from raydistill.spec.loader import check_spec, inspect_spec, load_spec
from raydistill.spec.schema import Spec

__all__ = ["Spec", "check_spec", "dump_spec", "inspect_spec", "load_spec", "spec_hash", "spec_to_dict"]
