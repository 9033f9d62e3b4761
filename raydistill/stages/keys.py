"""Cache keys of stages: what goes into a key, the key itself, and why two keys differ.

A stage's key is the sha256 of its inputs (`stage_inputs`): the values of the spec sections it reads, the values
it derives from the spec, the keys of its enabled needs and, for a stage that reads the task's data files, their
content digest (`data_digest`, computed once per run). Its run key (the key of its Ray runs) is the same with
`Stage.run_exclude` and the cost length left out, chained over the needs' run keys. `changes` compares the
inputs recorded in a stage's `stage.json` with today's, in words (`search.num_trials changed`).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from raydistill.spec import Spec
from raydistill.spec.canonical import keyed_dict
from raydistill.stages.base import Stage

__all__ = ["changes", "data_digest", "digest", "stage_inputs"]

COST_LENGTH = "cost.seq_length"  # the derived value of a stage that prices models (`Spec.cost_seq_length`)
DATA_CHANGED = "data files changed"


def data_digest(spec: Spec) -> dict[str, str]:
    """The task's data files, by content: `{relative path: "<size>:<sha256>"}` of every file under `data.path`
    (a folder; hidden files aside) or of that one file. Shipped (`builtin:NAME`) and hub data are keyed by name
    (a package version or a hub revision is not tracked); a path missing here (on a cluster) by its path."""
    from raydistill.data.builtin import PREFIX

    path = spec.data.path
    if not path:
        return {"hub": spec.data.hub_name or spec.task}
    if path.startswith(PREFIX):
        return {"builtin": path[len(PREFIX) :]}
    root = Path(path).expanduser()
    if root.is_file():
        return {root.name: _file_digest(root)}
    if not root.is_dir():
        return {"missing": str(root)}
    files = sorted(p for p in root.rglob("*") if p.is_file() and not _hidden(p.relative_to(root)))
    return {p.relative_to(root).as_posix(): _file_digest(p) for p in files}


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def _file_digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return f"{path.stat().st_size}:{sha.hexdigest()}"


def _section_values(spec: Spec, sections: tuple[str, ...], exclude: tuple[str, ...]) -> dict[str, Any]:
    """`{section: value}` of the spec (JSON data), with the `exclude` paths cut out of them.

    Raises:
        ValueError: a section or excluded path that is not in the spec (a stage's declaration is wrong).
    """
    full = keyed_dict(spec)
    out: dict[str, Any] = {}
    for section in sections:
        if section in exclude:
            continue
        value = copy.deepcopy(_at(full, section, section))
        for path in exclude:
            if path.startswith(section + "."):
                *parents, leaf = path[len(section) + 1 :].split(".")
                owner = _at(value, ".".join(parents), path) if parents else value
                _at(owner, leaf, path)  # raises on a path the spec does not have
                del owner[leaf]
        out[section] = value
    return out


def _at(node: Any, dotted: str, whole: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ValueError(f"stage section {whole!r} is not a path of the spec")
        node = node[part]
    return node


def stage_inputs(
    stage: Stage,
    spec: Spec,
    needs: Mapping[str, str],
    data: Mapping[str, str] | None,
    *,
    for_runs: bool = False,
) -> dict[str, Any]:
    """What a stage's key (or, `for_runs`, its run key) is computed from: `{spec, derived, needs, data}`.

    `needs`: the keys (run keys) of its enabled needs; `data`: `data_digest` (used when `stage.reads_data`).
    """
    exclude = stage.exclude + (stage.run_exclude if for_runs else ())
    derived = dict(stage.derived(spec))
    if stage.prices and not for_runs:
        derived[COST_LENGTH] = spec.cost_seq_length
    return {
        "spec": _section_values(spec, stage.sections, exclude),
        "derived": derived,
        "needs": dict(sorted(needs.items())),
        "data": dict(data) if stage.reads_data and data is not None else None,
    }


def digest(name: str, inputs: Mapping[str, Any]) -> str:
    """The key: sha256 of the stage's name and its inputs (canonical JSON)."""
    text = json.dumps({"stage": name, **inputs}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _leaves(value: Any, prefix: str) -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out |= _leaves(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    return {prefix: value}


def changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Why `new` inputs differ from `old` ones, own inputs only (spec paths, derived values, data files):
    e.g. `["search.num_trials changed", "data files changed"]`. Needs are the planner's business."""
    before = _leaves(old.get("spec") or {}, "") | _leaves(old.get("derived") or {}, "")
    after = _leaves(new.get("spec") or {}, "") | _leaves(new.get("derived") or {}, "")
    paths = sorted(p for p in set(before) | set(after) if before.get(p, None) != after.get(p, None) or
                   (p in before) != (p in after))  # fmt: skip
    out = (
        [f"{', '.join(paths[:2])}{f' and {len(paths) - 2} more' if len(paths) > 2 else ''} changed"]
        if paths
        else []
    )
    if (old.get("data") or None) != (new.get("data") or None):
        out.append(DATA_CHANGED)
    return out
