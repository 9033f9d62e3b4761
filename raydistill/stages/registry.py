"""The stage registry: `register_stage(stage)` adds one; `stage_graph()` lists them in run order.

The order is a topological sort of `needs` (ties keep registration order), so a stage runs after every stage it
needs; a stage declared `after_all` (the report) needs every other one. Registering is one line (`STAGE = register_stage(Stage(...))` in the stage's module, imported by
`stages/__init__.py`).
"""

from __future__ import annotations

from dataclasses import replace

from raydistill.errors import RunError
from raydistill.stages.base import Stage

__all__ = ["register_stage", "stage_graph"]

_REGISTRY: dict[str, Stage] = {}


def register_stage(stage: Stage) -> Stage:
    """Add `stage` to the graph (a stage of the same name is replaced) and return it."""
    _REGISTRY[stage.name] = stage
    return stage


def stage_graph() -> list[Stage]:
    """Every registered stage, each after the stages it needs (registration order otherwise).

    Raises:
        RunError: a stage needs one that is not registered, or the needs form a cycle.
    """
    stages = {
        name: replace(s, needs=tuple(n for n in _REGISTRY if n != name)) if s.after_all else s
        for name, s in _REGISTRY.items()
    }
    for stage in stages.values():
        unknown = [n for n in stage.needs if n not in stages]
        if unknown:
            raise RunError(f"stage {stage.name!r} needs {unknown}, not a stage; stages: {', '.join(stages)}")
    ordered: list[Stage] = []
    placed: set[str] = set()
    while len(ordered) < len(stages):
        ready = [s for s in stages.values() if s.name not in placed and set(s.needs) <= placed]
        if not ready:
            left = sorted(set(stages) - placed)
            raise RunError(f"stages {left} need each other in a cycle; a stage can only need earlier ones")
        ordered.append(ready[0])
        placed.add(ready[0].name)
    return ordered
