"""Train one distilled student (a `students:` entry) with Ray Train: build it, run its phases, score it.

A student is a plain HF BERT of its own shape (`models.student.build_student`: from a shape, optionally
initialised from the teacher's first / every k-th layers, or from a checkpoint), saved with the teacher's
tokenizer at `students/<name>/init/`. It is then trained by its phases, each one Ray Train run
(`trainer.fit_stage`: 1..N workers, resumed from its latest checkpoint when rerun under the same key):

- `kd`, `pkd`, `finetune`: one run `<name>-student-<student>`, into `students/<student>/model/`;
- `tinybert`: TinyBERT's two task-distillation stages in order, `intermediate` (into
  `students/<student>/intermediate/`) then `prediction` from its result (run `...-prediction`, into `model/`);
  with `general:`, general distillation on its corpus first (method `tinybert_general`, run `...-general`, into
  `students/<student>/general/`), and the intermediate stage starts from its result.

Every phase is seeded by the entry's `seed` (default: the spec's): the student's initialisation, dropout and data
order. The search split is always carved with the spec's seed (`seed` in the loop's data arguments), so
students of several seeds are scored on one split.

The caller (stage `students`) hands in each phase's method options and run key. The training data of every
phase come from `student_data`: the general phase's corpus; else the task's data, with the train split
replaced by the augment stage's examples for an entry with `train_data: augmented`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raydistill.data import get_task
from raydistill.layout import RunLayout
from raydistill.spec.schema import OptimSpec, Spec, StudentSpec
from raydistill.training.config import LoopConfig, data_kwargs
from raydistill.training.loop import train_loop_per_worker
from raydistill.training.trainer import fit_stage

__all__ = ["Phase", "build_initial_student", "phases_of", "student_data", "student_seed", "train_student"]

TINYBERT_PHASES = ("intermediate", "prediction")
GENERAL, GENERAL_METHOD = "general", "tinybert_general"  # the general-distillation phase and its method


@dataclass(frozen=True)
class Phase:
    """One Ray Train run of a student.

    Attributes:
        name: "" for a one-run method, else the method's stage (`intermediate`, `prediction`).
        start: the HF dir the run starts from.
        out: where its trained model goes.
        optim: its optimiser settings.
        method: the method of the run ("": the entry's).
    """

    name: str
    start: Path
    out: Path
    optim: OptimSpec
    method: str = ""


def phases_of(entry: StudentSpec, layout: RunLayout) -> list[Phase]:
    """The runs of `entry`, in order (module docstring)."""
    init, model = layout.student_init(entry.name), layout.student_model(entry.name)
    if entry.method != "tinybert":
        return [Phase("", init, model, entry.train)]
    phases: list[Phase] = []
    start = init
    if entry.general is not None:
        start = layout.student_phase(entry.name, GENERAL)
        phases.append(Phase(GENERAL, init, start, entry.general.train, GENERAL_METHOD))
    middle = layout.student_phase(entry.name, TINYBERT_PHASES[0])
    return [
        *phases,
        Phase(TINYBERT_PHASES[0], start, middle, entry.train),
        Phase(TINYBERT_PHASES[1], middle, model, entry.prediction_train or entry.train),
    ]


def student_run_name(spec: Spec, entry: StudentSpec, phase: Phase) -> str:
    """The stable Ray Train run name of one phase (same name and key = resume)."""
    return f"{spec.name}-student-{entry.name}" + (f"-{phase.name}" if phase.name else "")


def student_data(spec: Spec, layout: RunLayout, entry: StudentSpec, phase: Phase) -> dict[str, Any]:
    """The data keyword arguments of one phase's run (`LoopConfig.data`, read by its method's data kind).

    The general phase: its corpus (absolute: workers run elsewhere) and token cap. Every other phase: the task's
    data as the spec says (the search split carved out), the train split replaced by the augment stage's
    examples (`RunLayout.augmented_train`) when the entry says `train_data: augmented`."""
    if phase.name == GENERAL and entry.general is not None:
        corpus = str(Path(entry.general.corpus).expanduser().resolve())
        return {"corpus": corpus, "max_seq_length": entry.general.max_seq_length or spec.data.max_seq_length}
    kwargs = data_kwargs(spec.data)
    if entry.train_data == "augmented":
        kwargs["augmented_train"] = str(layout.augmented_train.resolve())
    return kwargs


def student_seed(spec: Spec, entry: StudentSpec) -> int:
    """The seed of `entry`'s initialisation, dropout and data order: its own `seed`, else the spec's."""
    return spec.seed if entry.seed is None else entry.seed


def build_initial_student(spec: Spec, entry: StudentSpec, teacher_dir: Path, out: Path) -> Path:
    """Build `entry`'s student (widths left out are the teacher's) and save it with the teacher's tokenizer."""
    from transformers import AutoConfig

    from raydistill.models.student import StudentShape, build_student, save_student

    task = get_task(spec.task)
    shape = None
    if entry.shape is not None:
        teacher = StudentShape.of_config(AutoConfig.from_pretrained(str(teacher_dir)))
        s = entry.shape
        shape = StudentShape(s.layers, s.hidden or teacher.hidden, s.heads or teacher.heads, s.ffn or teacher.ffn)
    student = build_student(str(teacher_dir), task.kind, task.num_labels, shape=shape,
                            checkpoint=entry.checkpoint, init=entry.init, seed=student_seed(spec, entry))  # fmt: skip
    return save_student(student, str(teacher_dir), out)


def train_student(
    spec: Spec,
    layout: RunLayout,
    entry: StudentSpec,
    options: Callable[[Phase], dict[str, Any]],
    run_key: Callable[[Phase], str],
) -> dict[str, Any]:
    """Build and train `entry` (module docstring); returns its record: method, phases, main metric on dev and
    on the search split (NaN when not scored), optimizer steps and training seconds (the loop's, summed over
    the phases) and wall seconds of this call (Ray start-up, evaluation and a resumed run's checks included).

    Args:
        options: a phase -> the method options of its run.
        run_key: a phase -> the key of its Ray Train run (`StageRun.sub_key`).

    Raises:
        RaydistillError: bad model or data, or a failed run.
    """
    task = get_task(spec.task)
    start = time.perf_counter()
    build_initial_student(spec, entry, layout.teacher_model, layout.student_init(entry.name))
    metrics: dict[str, Any] = {}
    steps, train_s = 0, 0.0
    phases = phases_of(entry, layout)
    for phase in phases:
        name = student_run_name(spec, entry, phase)
        config = LoopConfig(
            model=str(phase.start.resolve()), task=spec.task,
            data={"seed": spec.seed} | student_data(spec, layout, entry, phase),  # the split: the spec's seed
            optim=phase.optim.model_dump(), seed=student_seed(spec, entry), method=phase.method or entry.method,
            method_options=options(phase),
            num_threads=phase.optim.num_threads, use_gpu=spec.resources.use_gpu, name=name,
        )  # fmt: skip
        metrics = fit_stage(spec, train_loop_per_worker, config.to_dict(), name, phase.out, run_key(phase)).metrics
        steps += int(metrics.get("step", 0))
        train_s += float(metrics.get("train_time_s", 0.0))
    dev = (metrics.get("dev") or {}).get(task.main_dev, {}).get(task.main_metric, math.nan)
    search = (metrics.get("search") or {}).get(task.main_metric, math.nan)
    return {
        "method": entry.method,
        "phases": [p.name or entry.method for p in phases],
        "metric": task.main_metric,
        "dev_metric": float(dev),
        "search_metric": float(search),
        "model_dir": str(layout.student_model(entry.name)),
        "steps": steps,
        "train_time_s": train_s,
        "wall_time_s": time.perf_counter() - start,
    }
