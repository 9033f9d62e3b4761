"""The teacher's outputs cached for the students that can use them (stage `students`, issue item 6).

`kd` (alpha > 0) and `pkd` entries of a classification or regression task can read the teacher's logits and
[CLS] states from a file (`distill.teacher_outputs`) instead of running the teacher on every batch. Entries that
train on the same data share one file, keyed by that data (the loop's data arguments, the split seed among
them; the content of each file they name, e.g. augmented examples) and the teacher (the stage's run key chains
the teacher's run key; the weights' digest). It is computed once per key, on the driver, and only where that is
cheaper than recomputing: when the teacher forwards the entries would run (examples seen = steps x batch x
workers, summed over the entries of the key) outnumber the training examples (one forward each). A file already
computed under its key is reused; files of keys no entry uses any more are deleted.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raydistill.spec.schema import StudentSpec
from raydistill.stages.base import StageRun

__all__ = ["CachePlan", "cache_users", "teacher_output_files"]

CACHED_METHODS = ("kd", "pkd")


def cache_users(entries: list[StudentSpec], kind: str) -> list[StudentSpec]:
    """The entries whose method can learn from cached teacher outputs (none for QA)."""
    if kind == "qa":
        return []
    return [
        e for e in entries
        if e.method in CACHED_METHODS and (e.method == "pkd" or float(e.options.get("alpha", 1.0)) > 0)
    ]  # fmt: skip


@dataclass(frozen=True)
class CachePlan:
    """One cache file and its decision.

    Attributes:
        path: the file (`RunLayout.teacher_outputs`).
        entries: names of the entries that train on its data.
        examples: training examples (teacher forwards to fill it).
        demand: teacher forwards the entries would run without it.
        used: whether the entries read it (reused, or demand > examples).
    """

    path: Path
    entries: tuple[str, ...]
    examples: int
    demand: int
    used: bool

    def line(self) -> str:
        """`teacher outputs for kd3, pkd3: cached (8,000 forwards, not 128,000)`-style summary."""
        names = ", ".join(self.entries)
        if self.used:
            return f"teacher outputs for {names}: cached ({self.examples:,} forwards, not {self.demand:,})"
        return f"teacher outputs for {names}: recomputed per batch ({self.demand:,} forwards <= {self.examples:,})"


def _examples_seen(entry: StudentSpec, n: int, workers: int) -> int:
    """Examples the entry's run feeds the teacher: its steps x batch x workers (`training.optim.total_steps`)."""
    from raydistill.training.optim import total_steps
    from raydistill.training.runtime import steps_per_epoch

    opt = entry.train
    per_epoch = steps_per_epoch(range(n), opt.batch_size, workers)
    return total_steps(per_epoch, opt.epochs, opt.max_steps) * opt.batch_size * workers


def _key(ctx: StageRun, data: dict[str, Any], teacher_dir: Path) -> str:
    from raydistill.models.loading import weights_digest
    from raydistill.stages.keys import _file_digest

    files = {k: _file_digest(Path(v)) for k, v in data.items() if isinstance(v, str) and Path(v).is_file()}
    text = json.dumps([data, files, weights_digest(teacher_dir)], sort_keys=True, default=str)
    return ctx.sub_key("teacher-outputs:" + hashlib.sha256(text.encode()).hexdigest())


def teacher_output_files(ctx: StageRun, teacher_dir: Path) -> tuple[dict[str, str], list[CachePlan]]:
    """(entry name -> the cache file it reads, for the entries that use one; the plan of every key)."""
    from raydistill import console
    from raydistill.data import get_task
    from raydistill.training.students import phases_of, student_data

    spec, layout = ctx.spec, ctx.layout
    groups: dict[str, tuple[dict[str, Any], list[StudentSpec]]] = {}
    for entry in cache_users(list(spec.students), get_task(spec.task).kind):
        data = {"seed": spec.seed} | student_data(spec, layout, entry, phases_of(entry, layout)[0])  # kd/pkd: 1
        groups.setdefault(json.dumps(data, sort_keys=True, default=str), (data, []))[1].append(entry)
    files: dict[str, str] = {}
    plans: list[CachePlan] = []
    for data, entries in groups.values():
        plan = _ensure(ctx, data, entries, teacher_dir)
        console.note(plan.line())
        plans.append(plan)
        if plan.used:
            files |= {name: str(plan.path) for name in plan.entries}
    keep = {p.path for p in plans}
    for old in layout.teacher_outputs_dir.glob("*.pt") if layout.teacher_outputs_dir.is_dir() else []:
        if old not in keep:
            old.unlink()
    return files, plans


def _ensure(ctx: StageRun, data: dict[str, Any], entries: list[StudentSpec], teacher_dir: Path) -> CachePlan:
    """Reuse the file of this key, or compute it when cheaper than recomputing (module docstring)."""
    from raydistill.distill.teacher_outputs import TeacherOutputs

    key = _key(ctx, data, teacher_dir)
    path = ctx.layout.teacher_outputs(key)
    names = tuple(e.name for e in entries)
    workers = max(1, ctx.spec.resources.num_workers)
    if path.is_file():
        old = TeacherOutputs.load(path)
        if old.key == key:
            n = int(old.lengths.size(0))
            return CachePlan(path, names, n, sum(_examples_seen(e, n, workers) for e in entries), True)
    train, collate = _training_set(ctx, data, teacher_dir)
    n = len(train)
    demand = sum(_examples_seen(e, n, workers) for e in entries)
    if demand <= n:
        return CachePlan(path, names, n, demand, False)
    _compute(ctx, train, collate, teacher_dir, key, max(e.train.eval_batch_size for e in entries)).save(path)
    return CachePlan(path, names, n, demand, True)


def _training_set(ctx: StageRun, data: dict[str, Any], teacher_dir: Path) -> tuple[Any, Any]:
    """The training features the entries' loops train on (the same `prepare_task_data` call) and the collator."""
    from raydistill.data import prepare_task_data
    from raydistill.models.loading import load_tokenizer

    prepared = prepare_task_data(ctx.spec.task, load_tokenizer(str(teacher_dir)), **data)
    return prepared.train, prepared.collate


def _compute(ctx: StageRun, train: Any, collate: Any, teacher_dir: Path, key: str, batch_size: int) -> Any:
    import torch

    from raydistill import console
    from raydistill.data import get_task
    from raydistill.distill.students import load_frozen_teacher
    from raydistill.distill.teacher_outputs import compute_teacher_outputs

    task = get_task(ctx.spec.task)
    device = torch.device("cuda" if ctx.spec.resources.use_gpu and torch.cuda.is_available() else "cpu")
    teacher = load_frozen_teacher(str(teacher_dir), task.kind, task.num_labels, device)
    return compute_teacher_outputs(
        teacher, train, collate, batch_size=batch_size, device=device, key=key,
        progress=lambda done, total: console.progress(done, total, "teacher outputs", unit="example"),
    )  # fmt: skip
