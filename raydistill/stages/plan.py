"""The run plan: which stages run, which are served from cache, and why (one staleness rule for all stages).

A stage is cached when its `<stage>/stage.json` records today's key, its outputs outside the run dir exist and
none of its needs runs; else it runs, for the first of these reasons: `no record`, what changed among its own
inputs (`search.num_trials changed`, `cost.seq_length changed`, `data files changed`), `needs X` (X runs: X is the
stage whose own reason started the chain), `X changed` (X was rerun on its own since), `output missing`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from raydistill.errors import RunError
from raydistill.layout import RunLayout
from raydistill.spec import Spec
from raydistill.stages.base import Stage
from raydistill.stages.keys import changes, data_digest, digest, stage_inputs

__all__ = ["Plan", "PlannedStage", "plan_run", "read_record"]


@dataclass(frozen=True)
class PlannedStage:
    """One stage of the plan.

    Attributes:
        stage: the stage.
        status: `run`, `cached` or `skipped` (turned off by the spec, or not asked for with `until`).
        reason: why it runs (empty otherwise).
        key, run_key: its cache key and the key of its Ray runs (empty when skipped).
        inputs: what `key` was computed from (recorded in its `stage.json`).
        record: its `stage.json` as found (None when absent or unreadable).
        cause: the stage whose own reason makes this one run (itself, or the start of a `needs` chain).
    """

    stage: Stage
    status: str
    reason: str = ""
    key: str = ""
    run_key: str = ""
    inputs: dict[str, Any] | None = None
    record: dict[str, Any] | None = None
    cause: str = ""

    @property
    def name(self) -> str:
        return self.stage.name


@dataclass(frozen=True)
class Plan:
    stages: list[PlannedStage]

    def text(self) -> str:
        """One line: consecutive stages with the same status and reason grouped, skipped ones left out, e.g.
        `plan: teacher, supernet cached; search runs (search.num_trials changed); picks, export run (needs search)`.
        """
        groups: list[tuple[str, str, list[str]]] = []
        for p in self.stages:
            if p.status == "skipped":
                continue
            if groups and groups[-1][:2] == (p.status, p.reason):
                groups[-1][2].append(p.name)
            else:
                groups.append((p.status, p.reason, [p.name]))
        parts = []
        for status, reason, names in groups:
            verb = "cached" if status == "cached" else ("runs" if len(names) == 1 else "run")
            parts.append(f"{', '.join(names)} {verb}" + (f" ({reason})" if reason else ""))
        return "plan: " + ("; ".join(parts) if parts else "nothing to do")


def read_record(layout: RunLayout, name: str) -> dict[str, Any] | None:
    """A stage's `stage.json`, or None when it is missing, unreadable or from before stage keys."""
    path = layout.stage_file(name)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("key"), str) else None


def _selected(stages: Sequence[Stage], until: str | None) -> set[str]:
    names = [s.name for s in stages]
    if until is None:
        return set(names)
    if until not in names:
        raise RunError(f"--stage {until!r} is not a stage; choose one of: {', '.join(names)}")
    by_name = {s.name: s for s in stages}
    chosen, todo = set(), [until]
    while todo:
        name = todo.pop()
        if name not in chosen:
            chosen.add(name)
            todo.extend(by_name[name].needs)
    return chosen


def plan_run(spec: Spec, layout: RunLayout, stages: Sequence[Stage], until: str | None = None) -> Plan:
    """Plan `stages` (in graph order) for `spec` against the records in `layout` (up to `until` and what it
    needs). The data files are hashed once, here, when a planned stage reads them."""
    selected = _selected(stages, until)
    wanted = [s for s in stages if s.name in selected and s.enabled(spec)]
    data = data_digest(spec) if any(s.reads_data for s in wanted) else None
    done: dict[str, PlannedStage] = {}
    out = []
    for stage in stages:
        if stage not in wanted:
            out.append(PlannedStage(stage, "skipped"))
            continue
        needs = [done[n] for n in stage.needs if n in done]
        inputs = stage_inputs(stage, spec, {n.name: n.key for n in needs}, data)
        run_needs = [n for n in needs if stage.run_needs is None or n.name in stage.run_needs]
        run_inputs = stage_inputs(stage, spec, {n.name: n.run_key for n in run_needs}, data, for_runs=True)
        key, run_key = digest(stage.name, inputs), digest(stage.name, run_inputs)
        record = read_record(layout, stage.name)
        reason, cause = _why(stage, spec, key, inputs, record, needs)
        planned = PlannedStage(
            stage, "run" if reason else "cached", reason, key, run_key, inputs, record, cause
        )
        done[stage.name] = planned
        out.append(planned)
    return Plan(out)


def _why(
    stage: Stage,
    spec: Spec,
    key: str,
    inputs: dict[str, Any],
    record: dict[str, Any] | None,
    needs: list[PlannedStage],
) -> tuple[str, str]:
    """(reason to run or "", the stage that causes it) (module docstring)."""
    if record is None:
        return "no record", stage.name
    own = changes(record.get("inputs") or {}, inputs)
    if own:
        return "; ".join(own), stage.name
    running = [n for n in needs if n.status == "run"]
    if running:
        return f"needs {running[0].cause}", running[0].cause
    old_needs = (record.get("inputs") or {}).get("needs") or {}
    moved = [n.name for n in needs if old_needs.get(n.name) != n.key]
    if moved:
        return f"{moved[0]} changed", stage.name
    gone = sorted(set(old_needs) - {n.name for n in needs})
    if gone:
        return f"{gone[0]} is off", stage.name
    if any(not p.exists() for p in stage.outputs(spec)):
        return "output missing", stage.name
    if record["key"] != key:
        return "inputs changed", stage.name
    return "", ""
