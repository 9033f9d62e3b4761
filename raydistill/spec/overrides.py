"""`key.sub=value` overrides from the command line, applied to the raw spec dict before validation.

The value is parsed as YAML, so `search.budgets=[0.3,0.6]` is a list, `data.path=null` is None and
`teacher.finetuned=true` is a bool. Numeric path segments index lists (`supernet.widths.1=0.6`). A value set by the
N-th override is located as `SPEC:override N` in problem lines, so a bad value points at the flag that set it.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, NoReturn

import yaml

from raydistill.spec.yaml_io import join_path

Location = int | str  # a 1-based line number, or "override N"
LocationMap = dict[str, Location]

EXAMPLE = "e.g. search.num_trials=20 or search.budgets=[0.3,0.6]"


class _OverrideProblem(Exception):
    """One malformed override (turned into a problem line by `apply_overrides`)."""


def apply_overrides(
    data: dict[str, Any], where: LocationMap, overrides: Sequence[str], label: str
) -> tuple[dict[str, Any], LocationMap, list[str]]:
    """Apply overrides in order to a copy of the raw spec.

    Args:
        data: the raw spec mapping (as read by `read_yaml`); not modified.
        where: dotted path -> location of each key in the file; not modified.
        overrides: `key.sub=value` strings, applied left to right (a later one wins).
        label: the spec path as the user gave it, used in problem lines.

    Returns:
        `(data, where, problems)`: the overridden copy, the locations with every overridden path (and its
        descendants) now pointing at `override N`, and one problem line per malformed override.
    """
    data = copy.deepcopy(data)
    where = dict(where)
    problems: list[str] = []
    for n, text in enumerate(overrides, start=1):
        loc = f"override {n}"
        try:
            segments, value = parse_override(text)
            _set(data, where, segments, value, loc)
        except _OverrideProblem as exc:
            key = text.partition("=")[0].strip() or "(override)"
            problems.append(f"{label}:{loc}: {key}: {exc}")
    return data, where, problems


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split `key.sub=value` into path segments and the YAML-parsed value."""
    key, eq, raw = text.partition("=")
    key = key.strip()
    if not eq:
        raise _OverrideProblem(f"{text!r} has no '='; write key.sub=value, {EXAMPLE}")
    segments = key.split(".")
    if not key or any(not s.strip() for s in segments):
        raise _OverrideProblem(f"empty key or key part in {text!r}; write dotted keys, {EXAMPLE}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0]
        raise _OverrideProblem(
            f"value {raw!r} is not valid YAML ({first}); quote it or fix the brackets"
        ) from None
    return [s.strip() for s in segments], value


def _set(data: dict[str, Any], where: LocationMap, segments: list[str], value: Any, loc: str) -> None:
    """Walk to the parent of the last segment (creating missing mappings) and set the value there."""
    node: Any = data
    path = ""
    for seg in segments[:-1]:
        node = _child(node, seg, path, where, loc)
        path = join_path(path, seg)
    last = segments[-1]
    if isinstance(node, list):
        node[_index(node, last, path)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        _not_container(path, node)
    target = join_path(path, last)
    for old in [p for p in where if p == target or p.startswith(target + ".")]:
        del where[old]
    where[target] = loc


def _child(node: Any, seg: str, path: str, where: LocationMap, loc: str) -> Any:
    """The child `seg` of `node`; a missing (or empty `key:`) section is created as a mapping."""
    if isinstance(node, list):
        return node[_index(node, seg, path)]
    if not isinstance(node, dict):
        _not_container(path, node)
    child = node.get(seg)
    if child is None:
        node[seg] = child = {}
        where[join_path(path, seg)] = loc
    return child


def _index(items: list[Any], seg: str, path: str) -> int:
    if not seg.isdigit() or int(seg) >= len(items):
        raise _OverrideProblem(
            f"{path} is a list of {len(items)} item(s); index it with 0..{len(items) - 1}, not {seg!r}, "
            f"or set the whole list, e.g. {path}=[...]"
        )
    return int(seg)


def _not_container(path: str, value: Any) -> NoReturn:
    raise _OverrideProblem(
        f"cannot index into {path}, which is a single value ({value!r}); set {path} itself, e.g. {path}=..."
    )
