"""`Stage`: what one pipeline stage declares, and `StageRun`: what it is handed when it runs.

A stage declares the other stages it `needs` (a disabled need is skipped), the spec `sections` it reads (dotted
paths, minus `exclude`), values it derives from the spec (`derived`: e.g. the search keeps only the largest
budget), whether it reads the task's data files (`reads_data`) and whether it prices models (`prices`: its
FLOPs are counted at `cost.seq_length`). From these alone the planner (`stages.plan`) computes its cache key;
nothing here imports Ray, torch or a stage's own code (a stage module imports its work lazily, in `run`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raydistill.layout import RunLayout
from raydistill.spec import Spec

__all__ = ["Stage", "StageRun"]


def _always(spec: Spec) -> bool:
    return True


def _nothing(spec: Spec) -> dict[str, Any]:
    return {}


def _no_outputs(spec: Spec) -> list[Path]:
    return []


@dataclass(frozen=True)
class StageRun:
    """What a running stage gets: the spec, its run's layout, and its two keys.

    Attributes:
        spec: the experiment (`data.path` made absolute).
        layout: the run directory's files (`layout.RunLayout`).
        key: the stage's cache key (own sections, needs' keys, data files' digest).
        run_key: the key of the stage's Ray runs (Train runs, Tune experiment): like `key`, but without what does
            not shape what the runs compute (`Stage.run_exclude`, the cost length) and chained over the needs'
            run keys; a Ray run is resumed only when started under the same run key.
    """

    spec: Spec
    layout: RunLayout
    key: str
    run_key: str

    @property
    def run_dir(self) -> Path:
        return self.layout.root

    def sub_key(self, part: str) -> str:
        """The run key of one of the stage's several Ray runs (e.g. one re-trained Arch)."""
        import hashlib

        return hashlib.sha256(f"{self.run_key}:{part}".encode()).hexdigest()


@dataclass(frozen=True)
class Stage:
    """One stage of the run graph (see the module docstring).

    Attributes:
        name: the stage's name (also its folder under the run dir).
        run: does the work; returns the summary kept in `<stage>/stage.json` (`headline`: one line).
        needs: stages whose outputs it reads (their keys enter its key; a disabled one is left out).
        sections: the spec sections it reads (top-level keys or dotted paths).
        exclude: dotted paths inside `sections` it does not read.
        derived: values computed from the spec that enter the key instead of whole sections.
        reads_data: its key includes the content digest of the task's data files.
        prices: it writes FLOPs, counted at `cost.seq_length` (part of its key, not of its run key).
        run_exclude: dotted paths of `sections` that do not shape its Ray runs (left out of the run key).
        run_needs: the needs whose run keys enter its run key (None: all of them); e.g. retrain's runs depend on
            the picks only through the Arch, which is part of each run's own key (`StageRun.sub_key`).
        after_all: it needs every other registered stage (the report), a stage added later included.
        enabled: whether the spec turns the stage on.
        outputs: what it writes outside the run dir; the stage reruns when one is missing.
    """

    name: str
    run: Callable[[StageRun], dict[str, Any]]
    needs: tuple[str, ...] = ()
    sections: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    derived: Callable[[Spec], dict[str, Any]] = _nothing
    reads_data: bool = False
    prices: bool = False
    run_exclude: tuple[str, ...] = ()
    run_needs: tuple[str, ...] | None = None
    after_all: bool = False
    enabled: Callable[[Spec], bool] = _always
    outputs: Callable[[Spec], list[Path]] = field(default=_no_outputs)
