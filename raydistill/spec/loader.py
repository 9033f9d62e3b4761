"""Load a spec: read YAML -> apply overrides -> validate the schema -> run the cross-field rules.

Every problem found is reported at once, each as one line `SPEC:LINE: dotted.path: what is wrong; what is
allowed` (LINE is `override N` for a value set by the N-th `key=value` override). A warning (a data file
checked on this machine for a run on a Ray cluster) has the same form, `SPEC:LINE: dotted.path: warning: ...`,
and leaves the spec valid.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from pydantic import ValidationError

from raydistill.errors import SpecError
from raydistill.spec.messages import translate
from raydistill.spec.overrides import LocationMap, apply_overrides
from raydistill.spec.problems import Problem, format_problem, sort_key
from raydistill.spec.rules import check_rules
from raydistill.spec.schema import Spec
from raydistill.spec.yaml_io import read_yaml


class SpecCheck(NamedTuple):
    """What checking a spec found: the spec (None when it has problems), problem lines, warning lines."""

    spec: Spec | None
    problems: list[str]
    warnings: list[str]


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def load_spec(
    path: str | Path, overrides: Sequence[str] = (), *, warn: Callable[[str], None] = _to_stderr
) -> Spec:
    """Read, override and validate a spec file.

    Args:
        path: the spec YAML, as the user gave it (echoed in problem lines).
        overrides: `key.sub=value` strings, applied in order before validation.
        warn: called with each warning line of a valid spec (default: printed on stderr).

    Returns:
        The validated, frozen `Spec`.

    Raises:
        SpecError: with every problem, one line each (`error.problems`).
    """
    spec, problems, warnings = inspect_spec(path, overrides)
    if spec is None:
        raise SpecError(problems)
    for line in warnings:
        warn(line)
    return spec


def check_spec(path: str | Path, overrides: Sequence[str] = ()) -> tuple[Spec | None, list[str]]:
    """Like `load_spec`, but return `(spec, [])` or `(None, problems)` instead of raising."""
    spec, problems, _ = inspect_spec(path, overrides)
    return spec, problems


def inspect_spec(path: str | Path, overrides: Sequence[str] = ()) -> SpecCheck:
    """Like `check_spec`, with the warning lines too (each sorted by line, like the problems)."""
    label = str(path)
    try:
        data, lines = read_yaml(path)
    except SpecError as exc:
        return SpecCheck(None, exc.problems, [])
    data, where, problems = apply_overrides(data, dict(lines), list(overrides), label)
    spec, found = _validate(data, where, label)
    by_line = lambda line: sort_key(line, label)  # noqa: E731
    errors = sorted(problems + [format_problem(label, where, p) for p in found if not p.warning], key=by_line)
    warnings = sorted((format_problem(label, where, p) for p in found if p.warning), key=by_line)
    return SpecCheck(spec if not errors else None, errors, warnings)


def _validate(data: dict[str, object], where: LocationMap, label: str) -> tuple[Spec | None, list[Problem]]:
    """Schema first; the cross-field rules only run on a schema-valid spec (they read typed fields)."""
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        return None, [Problem(p, m) for p, m in translate(exc)]
    return spec, check_rules(spec)
