"""The files of a training checkpoint on disk: names, the completeness manifest, and which one to resume from.

Plain pathlib + json (no torch, no Ray), so commands that only look at a run's files (`raydistill disk`) start
fast; `training.checkpoint` writes and restores checkpoints with them (its docstring describes the layout).
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = [
    "CHECKPOINT_PREFIX",
    "KEEP_LOCAL",
    "MANIFEST",
    "METHOD_PT",
    "STATE_FILES",
    "STATE_JSON",
    "STATE_PT",
    "checkpoint_name",
    "checkpoint_step",
    "complete_checkpoints",
    "is_complete",
    "select_resume_checkpoint",
    "sort_step",
    "step_checkpoints",
    "write_manifest",
]

STATE_JSON = "trainer_state.json"
STATE_PT = "trainer_state.pt"
METHOD_PT = "method_state.pt"  # the method's own modules (`distill.methods.BuiltMethod.modules`)
MANIFEST = "checkpoint_files.json"
CHECKPOINT_PREFIX = "checkpoint_"
KEEP_LOCAL = 2
STATE_FILES = (STATE_JSON, STATE_PT, METHOD_PT)  # a complete checkpoint's manifest lists each (`is_complete`)


def checkpoint_name(step: int) -> str:
    """Directory name of the checkpoint taken after `step` optimizer steps (sorts by step)."""
    return f"{CHECKPOINT_PREFIX}{step:08d}"


def checkpoint_step(directory: Path) -> int | None:
    """The step a checkpoint directory's name records (`checkpoint_00000120` -> 120); None for other names."""
    digits = directory.name.removeprefix(CHECKPOINT_PREFIX)
    return int(digits) if directory.name.startswith(CHECKPOINT_PREFIX) and digits.isdigit() else None


def sort_step(directory: Path | None) -> int:
    """`checkpoint_step` for sorting: -1 for None or a name without a step."""
    step = checkpoint_step(directory) if directory is not None else None
    return -1 if step is None else step


def write_manifest(directory: Path) -> None:
    """Record every file of `directory` with its size in `MANIFEST`; called after everything else is written."""
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST)
    sizes = {p.relative_to(directory).as_posix(): p.stat().st_size for p in files}
    (directory / MANIFEST).write_text(json.dumps(sizes, indent=1))


def is_complete(directory: Path) -> bool:
    """Whether `directory` holds a whole checkpoint: its manifest parses, names the training state, and every file
    it lists exists with the listed size (a copy or delete cut short fails this, whatever order it went in)."""
    try:
        sizes = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(sizes, dict) or not set(STATE_FILES) <= sizes.keys():
        return False
    for name, size in sizes.items():
        path = directory / name
        if not path.is_file() or path.stat().st_size != size:
            return False
    return True


def step_checkpoints(run_dir: Path) -> list[Path]:
    """Every `checkpoint_<step>` directory of a run, complete or not, oldest step first."""
    if not run_dir.is_dir():
        return []
    found = [p for p in run_dir.iterdir() if p.is_dir() and checkpoint_step(p) is not None]
    return sorted(found, key=sort_step)


def complete_checkpoints(run_dir: Path) -> list[Path]:
    """The complete checkpoints of a run (`is_complete`), oldest step first."""
    return [p for p in step_checkpoints(run_dir) if is_complete(p)]


def select_resume_checkpoint(run_dir: Path | None, recorded: Path | None) -> tuple[Path | None, list[Path]]:
    """The checkpoint to resume from, and the incomplete ones newer than it.

    Args:
        run_dir: the run directory (`<storage_path>/<run_name>`); None: only `recorded` counts.
        recorded: the checkpoint Ray's snapshot names (`ray.train.get_checkpoint()`), if any. Ray records a
            checkpoint only once it is wholly written, so it counts even without a manifest (older runs).

    Returns:
        (the newest of the complete checkpoints in `run_dir` and `recorded`, or None; the incomplete
        checkpoints with a later step: half-written by a killed run, to be discarded before training).
    """
    on_disk = step_checkpoints(run_dir) if run_dir is not None else []
    candidates = [p for p in on_disk if is_complete(p)] + ([recorded] if recorded is not None else [])
    chosen = max(candidates, key=sort_step, default=None)
    partial = [p for p in on_disk if sort_step(p) > sort_step(chosen) and not is_complete(p)]
    return chosen, partial
