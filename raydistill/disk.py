"""A run's disk use by part, and what of it is superseded: safe to drop without touching a result.

`measure(run_dir)` walks a run directory (`RunLayout`) and sizes each part of it: the loose files (spec.json, the
points table), each stage folder, logs/, each Ray Train run under ray/ (with the `.inputs.json` and
`.progress.jsonl` beside it), the Tune experiment, each `.prev` folder, and anything else found there.

Superseded (what `prune` deletes), and nothing else:
- every `.prev` folder under ray/ (a Train run or a Tune experiment set aside when its inputs changed or a search
  was damaged; nothing reads it again);
- in each Train run, the checkpoints older than its newest complete one (resume and the model copy use only the
  newest: `training.checkpoint.select_resume_checkpoint`) and the half-written ones (no complete manifest, or an
  in-process run's `.checkpoint_*.partial` folder).

Never superseded: models, tables, points, spec.json, stage records, the newest complete checkpoint of a run, the
Tune experiment, logs, and files outside the run directory (exports/, reports/).

Ray's bookkeeping: Ray Train V2 keeps a snapshot of its checkpoint manager in the run folder
(`checkpoint_manager_snapshot.json`), and on resume it refuses to start when a checkpoint the snapshot lists is
missing. So the checkpoint the snapshot names as latest (or pending) is never dropped (it is the newest complete
one, except after a Ctrl-C between a checkpoint's write and Ray's record of it), and `prune` first rewrites the
snapshot without the checkpoints it is about to delete, then deletes them (Ray's own order: a delete cut short
leaves only folders the snapshot no longer names, which a later `measure` reports as superseded again). A snapshot
of a shape this module does not know keeps every checkpoint of its run.

Prune a run only while no command is running on it. Plain pathlib and json; the checkpoint rules come from
`raydistill.checkpoint_files` (no torch, no Ray: the command starts fast).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raydistill.checkpoint_files import CHECKPOINT_PREFIX, is_complete, step_checkpoints
from raydistill.layout import PREV_SUFFIX, STAGES, RunLayout

__all__ = ["DiskUse", "Part", "human_size", "measure", "prune", "superseded_checkpoints"]

SNAPSHOT_FILE = "checkpoint_manager_snapshot.json"  # Ray Train V2's own record of a run's checkpoints
PARTIAL_SUFFIX = ".partial"  # an in-process run's checkpoint being written (`checkpoint.report_checkpoint`)
KEPT_BY_RAY = ("latest_checkpoint_result", "pending_training_results")  # snapshot entries Ray loads on resume
LISTS_OF_NAMES = (
    "validated_checkpoint_dir_names",
    "timed_out_validation_checkpoint_dir_names",
    "failed_validation_checkpoint_dir_names",
)


@dataclass(frozen=True)
class Part:
    """One part of a run on disk.

    Attributes:
        label: the part's path relative to the run directory (a folder ends with `/`).
        size: bytes of every file of the part.
        superseded: the paths of the part that `prune` deletes (folders or files).
        superseded_size: bytes of those paths.
    """

    label: str
    size: int
    superseded: tuple[Path, ...] = ()
    superseded_size: int = 0


@dataclass(frozen=True)
class DiskUse:
    """A run's parts (`measure`), in the order they are shown."""

    root: Path
    parts: tuple[Part, ...]

    @property
    def size(self) -> int:
        return sum(p.size for p in self.parts)

    @property
    def superseded_size(self) -> int:
        return sum(p.superseded_size for p in self.parts)

    @property
    def superseded(self) -> tuple[Path, ...]:
        return tuple(path for part in self.parts for path in part.superseded)

    def what(self) -> str:
        """The superseded paths in words: `1 .prev folder, 2 old or half-written checkpoints`."""
        prev = sum(p.name.endswith(PREV_SUFFIX) for p in self.superseded)
        counts = ((prev, f"{PREV_SUFFIX} folder"), (len(self.superseded) - prev, "old or half-written checkpoint"))
        return ", ".join(f"{n} {noun}{'s' if n > 1 else ''}" for n, noun in counts if n) or "nothing"

    def table(self) -> list[str]:
        """The parts as aligned lines (part, size, superseded size), then the total."""
        rows = [(p.label, human_size(p.size), human_size(p.superseded_size) if p.superseded else "-")
                for p in self.parts]  # fmt: skip
        rows.append(("total", human_size(self.size), human_size(self.superseded_size)))
        width = max(len("part"), *(len(r[0]) for r in rows))
        lines = [f"{'part':<{width}}  {'size':>9}  {'superseded':>10}"]
        lines += [f"{label:<{width}}  {size:>9}  {old:>10}" for label, size, old in rows]
        return lines


def human_size(n: int) -> str:
    """`n` bytes in decimal units: `512 B`, `1.5 kB`, `12.3 MB`, `1.2 GB`."""
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            break
    return f"{value:.1f} {unit}"


def size_of(path: Path) -> int:
    """Bytes of a file, or of every file under a folder (links are not followed); 0 for a missing path."""
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    if not path.is_dir():
        return 0
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_symlink() or p.is_file())


def measure(run_dir: Path) -> DiskUse:
    """The disk use of `run_dir` by part, and which paths of each part are superseded (module docstring)."""
    layout = RunLayout(run_dir)
    parts: list[Part] = []
    loose = [layout.spec_json, layout.points_parquet, layout.points_csv]
    named = {*loose, *(layout.stage_dir(s) for s in STAGES), layout.logs_dir, layout.ray_dir}
    parts.append(Part(" ".join(p.name for p in loose if p.exists()) or "run files", sum(map(size_of, loose))))
    parts += [_plain(layout, path) for path in [*map(layout.stage_dir, STAGES), layout.logs_dir] if path.exists()]
    parts += _ray_parts(layout)
    parts += [_plain(layout, path) for path in sorted(run_dir.iterdir()) if path not in named]
    return DiskUse(run_dir, tuple(parts))


def _label(layout: RunLayout, path: Path) -> str:
    text = path.relative_to(layout.root).as_posix()
    return text + "/" if path.is_dir() else text


def _plain(layout: RunLayout, path: Path) -> Part:
    return Part(_label(layout, path), size_of(path))


def _ray_parts(layout: RunLayout) -> list[Part]:
    """The Train runs, `.prev` folders and Tune experiment under ray/, and whatever else Ray keeps there."""
    if not layout.ray_dir.is_dir():
        return []
    entries = sorted(layout.ray_dir.iterdir())
    experiment = layout.search_experiment(layout.root.name).path
    prev = [e for e in entries if e.is_dir() and e.name.endswith(PREV_SUFFIX)]
    train_runs = [layout.train_run(e.name) for e in entries if e.is_dir() and e not in prev and e != experiment]
    beside = {p for run in train_runs for p in (run.inputs, run.progress)}
    parts: list[Part] = []
    for entry in entries:
        if entry in prev:
            size = size_of(entry)
            parts.append(Part(_label(layout, entry), size, (entry,), size))
        elif entry.is_dir() and entry != experiment:
            parts.append(_train_part(layout, entry))
        elif entry not in beside:
            parts.append(_plain(layout, entry))
    return parts


def _train_part(layout: RunLayout, run_dir: Path) -> Part:
    """A Train run with the files beside it; its superseded checkpoints (`superseded_checkpoints`)."""
    ray_dir = layout.train_run(run_dir.name)
    size = size_of(run_dir) + size_of(ray_dir.inputs) + size_of(ray_dir.progress)
    old = tuple(superseded_checkpoints(run_dir))
    return Part(_label(layout, run_dir), size, old, sum(map(size_of, old)))


def superseded_checkpoints(run_dir: Path) -> list[Path]:
    """The checkpoints of a Train run that nothing will read again, oldest step first.

    Those older than the newest complete checkpoint and the half-written ones (any step), except what Ray's
    snapshot needs to resume (`_kept_by_ray`); the newest complete checkpoint is always kept.
    """
    kept = _kept_by_ray(run_dir)
    if kept is None:
        return []
    found = step_checkpoints(run_dir)
    complete = [p for p in found if is_complete(p)]
    newest = complete[-1:]
    old = [p for p in found if p not in newest and p.name not in kept]
    partial = sorted(p for p in run_dir.glob(f".{CHECKPOINT_PREFIX}*{PARTIAL_SUFFIX}") if p.is_dir())
    return old + partial


def _read_snapshot(run_dir: Path) -> dict[str, Any] | None:
    """Ray's checkpoint manager snapshot of a run: {} without one, None when it is not of a known shape."""
    path = run_dir / SNAPSHOT_FILE
    if not path.exists():
        return {}
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    known = isinstance(state, dict) and isinstance(state.get("checkpoint_results"), list)
    known = known and isinstance(state.get("checkpoint_report_indices"), list)
    return state if known and _names(state.get("checkpoint_results")) is not None else None


def _names(entries: Any) -> list[str] | None:
    """The `checkpoint_dir_name` of each snapshot entry (one entry, a list of them, or None); None if malformed."""
    items = [] if entries is None else entries if isinstance(entries, list) else [entries]
    names = [e.get("checkpoint_dir_name") if isinstance(e, dict) else None for e in items]
    return [str(n) for n in names] if all(isinstance(n, str) for n in names) else None


def _kept_by_ray(run_dir: Path) -> set[str] | None:
    """The checkpoint names Ray's snapshot needs on resume (its latest and pending ones); None: keep all."""
    state = _read_snapshot(run_dir)
    if state is None:
        return None
    kept: set[str] = set()
    for key in KEPT_BY_RAY:
        names = _names(state.get(key))
        if names is None:
            return None
        kept |= set(names)
    return kept


def _forget_in_snapshot(run_dir: Path, dropped: set[str]) -> None:
    """Rewrite Ray's snapshot of `run_dir` without the checkpoints named `dropped` (atomic replace)."""
    state = _read_snapshot(run_dir)
    if not state:
        return
    names = _names(state["checkpoint_results"]) or []
    keep = [i for i, name in enumerate(names) if name not in dropped]
    if len(keep) == len(names):
        return
    state["checkpoint_results"] = [state["checkpoint_results"][i] for i in keep]
    state["checkpoint_report_indices"] = [state["checkpoint_report_indices"][i] for i in keep]
    for key in LISTS_OF_NAMES:
        if isinstance(state.get(key), list):
            state[key] = [name for name in state[key] if name not in dropped]
    path = run_dir / SNAPSHOT_FILE
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(state))
    os.replace(temporary, path)


def prune(use: DiskUse) -> int:
    """Delete the superseded paths of `use` (`measure`); Ray's snapshots first (module docstring). Returns the
    bytes freed."""
    freed = 0
    for part in use.parts:
        if not part.superseded:
            continue
        run_dir = use.root / part.label.rstrip("/")
        checkpoints = {p.name for p in part.superseded if p.parent == run_dir}  # none for a `.prev` part
        if checkpoints:
            _forget_in_snapshot(run_dir, checkpoints)
        for path in part.superseded:
            freed += size_of(path)
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
    return freed
