"""Load a spec: read YAML -> apply overrides -> validate the schema -> run the cross-field rules.

Every problem found is reported at once, each as one line `SPEC:LINE: dotted.path: what is wrong; what is
allowed` (LINE is `override N` for a value set by the N-th `key=value` override).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from raydistill.errors import SpecError
from raydistill.spec.messages import translate
from raydistill.spec.overrides import LocationMap, apply_overrides
from raydistill.spec.problems import Problem, format_problem, sort_key
from raydistill.spec.rules import check_rules
from raydistill.spec.schema import Spec
from raydistill.spec.yaml_io import read_yaml


def load_spec(path: str | Path, overrides: Sequence[str] = ()) -> Spec:
    """Read, override and validate a spec file.

    Args:
        path: the spec YAML, as the user gave it (echoed in problem lines).
        overrides: `key.sub=value` strings, applied in order before validation.

    Returns:
        The validated, frozen `Spec`.

    Raises:
        SpecError: with every problem, one line each (`error.problems`).
    """
    spec, problems = check_spec(path, overrides)
    if spec is None:
        raise SpecError(problems)
    return spec


def check_spec(path: str | Path, overrides: Sequence[str] = ()) -> tuple[Spec | None, list[str]]:
    """Like `load_spec`, but return `(spec, [])` or `(None, problems)` instead of raising."""
    label = str(path)
    try:
        data, lines = read_yaml(path)
    except SpecError as exc:
        return None, exc.problems
    data, where, problems = apply_overrides(data, dict(lines), list(overrides), label)
    spec, found = _validate(data, where, label)
    problems = sorted(problems + found, key=lambda line: sort_key(line, label))
    return (spec if not problems else None), problems


def _validate(data: dict[str, object], where: LocationMap, label: str) -> tuple[Spec | None, list[str]]:
    """Schema first; the cross-field rules only run on a schema-valid spec (they read typed fields)."""
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        return None, [format_problem(label, where, Problem(p, m)) for p, m in translate(exc)]
    return spec, [format_problem(label, where, problem) for problem in check_rules(spec)]
