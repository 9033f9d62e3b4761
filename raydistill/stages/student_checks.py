"""The spec checks of the `students:` section: one `Problem` per bad field, named by its dotted path.

A spec rule (`spec.rules`) that needs the student methods' option classes and the teacher's config, so it lives
with the students stage (a stage module may import every layer; `spec/` may not) and is added to
`spec.rules.RULES` when the stages are imported (`raydistill run` and `raydistill validate` import them).

Each entry's `options` are checked through the option class its method module names (`OPTIONS`, reached through
the method registry): every option on its own first (so a bad value is reported at `students.N.options.KEY`),
then all together. The checks that need both shapes (`check_shapes`: layer maps that divide, equal widths or
head counts) and the teacher-layer initialisation (`models.student`) run when the teacher's config can be read
here (a local dir or the packaged model); a hub teacher is checked when the stage builds the student.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raydistill.errors import RaydistillError
from raydistill.methods_registry import METHODS, method_names, unknown_method
from raydistill.spec.problems import Problem
from raydistill.spec.schema import Spec, StudentSpec

if TYPE_CHECKING:
    from raydistill.data.tasks import Task
    from raydistill.models.student import StudentShape

# Options the stage sets itself (from the teacher, the task and the entry): never given in `options`.
FILLED = ("teacher", "kind", "num_labels", "student", "stage", "teacher_outputs")
PLACEHOLDER = {"teacher": "teacher", "student": "student", "stage": "intermediate"}
NO_GENERAL = (
    "a tinybert entry runs TinyBERT's task distillation, both stages in order (intermediate with `train`, then "
    "prediction with `prediction_train`); for general distillation on a corpus give the entry a `general:` "
    "section (corpus, train with max_steps): drop options.{key}"
)


def options_class(method: str) -> type | None:
    """The option class of a registered method (`OPTIONS` in its module), or None (a method without options)."""
    return getattr(importlib.import_module(METHODS[method].module), "OPTIONS", None)


def method_options(
    entry: StudentSpec, kind: str, base: dict[str, Any], stage: str | None = None
) -> dict[str, Any]:
    """The plain options the loop hands `entry.method`: the stage's values (`base`: teacher, student, ...) the
    option class has, `kind`, `stage` (tinybert) and the entry's own `options`."""
    cls = options_class(entry.method)
    if cls is None:
        return dict(entry.options)
    names = {f.name for f in fields(cls)}
    filled = {"kind": kind, **base} | ({"stage": stage} if stage is not None else {})
    return {k: v for k, v in filled.items() if k in names} | dict(entry.options)


def students_fit(spec: Spec, task: Task | None) -> Iterator[Problem]:
    """Every `students:` entry: a unique name, a method that trains a whole model on the task's data, options
    its option class accepts, and a shape the method and the initialisation fit."""
    seen: set[str] = set()
    teacher = _teacher_shape(spec) if spec.students else None
    for i, entry in enumerate(spec.students):
        at = f"students.{i}"
        if entry.name in seen:
            yield Problem(f"{at}.name", f"{entry.name!r} names two students; give each a name of its own")
        seen.add(entry.name)
        fitting = [n for n in method_names(subnetworks=False) if METHODS[n].data == "task"]
        if entry.method not in fitting:
            known = entry.method in METHODS
            text = (
                f"method {entry.method!r} does not train one whole model on the task's data, as a student "
                f"needs; methods for it: {', '.join(fitting)}"
                if known
                else unknown_method(entry.method, fitting)
            )
            yield Problem(f"{at}.method", text)
            continue
        yield from _data_problems(spec, entry, at)
        kind = task.kind if task is not None else "classification"
        problems = list(_options_problems(entry, at, kind))
        yield from problems
        if not problems and teacher is not None:
            yield from _shape_problems(entry, at, kind, teacher)


def _data_problems(spec: Spec, entry: StudentSpec, at: str) -> Iterator[Problem]:
    """`train_data: augmented` needs the augment stage; `general` is tinybert's, needs max_steps and a corpus."""
    if entry.train_data == "augmented" and not spec.augment.enabled:
        yield Problem(
            f"{at}.train_data",
            "'augmented' trains on the augment stage's examples, but augment.enabled is false; set "
            "augment.enabled: true (and its copies), or drop train_data (the task's examples)",
        )
    general = entry.general
    if general is None:
        return
    if entry.method != "tinybert":
        yield Problem(
            f"{at}.general",
            f"general distillation is TinyBERT's first stage; method {entry.method!r} has none: drop general, "
            "or use method tinybert",
        )
    if general.train.max_steps is None:
        yield Problem(
            f"{at}.general.train.max_steps",
            "is not set; a corpus has no natural epoch: give the general run's length in steps, e.g. 2000",
        )
    if not Path(general.corpus).expanduser().is_file():
        yield Problem(
            f"{at}.general.corpus",
            f"{general.corpus!r} is not a file; give a plain-text file (one sentence or paragraph a line), a "
            "path relative to the directory raydistill runs in, or absolute",
        )


def uses_gold_labels(entry: StudentSpec, kind: str) -> bool:
    """Whether `entry`'s method learns from the examples' gold labels: a method whose option class says so
    (`uses_gold_labels`: kd and pkd with alpha < 1; tinybert never), or one without that declaration
    (finetune: the labels are all it learns from)."""
    cls = options_class(entry.method)
    if cls is None or not hasattr(cls, "uses_gold_labels"):
        return True
    return bool(cls(**method_options(entry, kind, PLACEHOLDER, _first_stage(entry))).uses_gold_labels)


def _options_problems(entry: StudentSpec, at: str, kind: str) -> Iterator[Problem]:
    for key in ("stage", "corpus"):
        if key in entry.options:
            yield Problem(f"{at}.options.{key}", NO_GENERAL.format(key=key))
            return
    cls = options_class(entry.method)
    if cls is None:
        if entry.options:
            yield Problem(f"{at}.options", f"method {entry.method!r} takes no options; drop options")
        return
    valid = sorted(f.name for f in fields(cls) if f.name not in FILLED)
    base = method_options(entry.model_copy(update={"options": {}}), kind, PLACEHOLDER, _first_stage(entry))
    bad = False
    for key, value in entry.options.items():
        if key not in valid:
            why = "is set by the stage" if key in FILLED else "is not an option of it"
            yield Problem(f"{at}.options.{key}", f"method {entry.method!r}: {key!r} {why}; options: {valid}")
            bad = True
        elif (err := _build_error(cls, base | {key: value})) is not None:
            yield Problem(f"{at}.options.{key}", err)
            bad = True
    if not bad and (err := _build_error(cls, base | dict(entry.options))) is not None:
        yield Problem(f"{at}.options", err)


def _first_stage(entry: StudentSpec) -> str | None:
    return "intermediate" if entry.method == "tinybert" else None


def _build_error(cls: type, options: dict[str, Any]) -> str | None:
    """The option class's one-line complaint about `options`, or None when it accepts them."""
    try:
        cls(**options)
    except (RaydistillError, TypeError, ValueError) as err:
        return str(err).splitlines()[0]
    return None


def _teacher_shape(spec: Spec) -> StudentShape | None:
    """The teacher's shape from its config, when it can be read here without the network; else None."""
    from raydistill.distill.students import shape_of

    try:
        return shape_of(spec.teacher.model)
    except (OSError, ValueError, RaydistillError):
        return None


def _shape_problems(entry: StudentSpec, at: str, kind: str, teacher: StudentShape) -> Iterator[Problem]:
    """The student's shape (widths left out are the teacher's), its initialisation and the method's maps."""
    from raydistill.models.student import StudentShape, check_init_widths, init_layers

    if entry.shape is None:
        return  # a checkpoint's shape is checked when the stage loads it
    given = entry.shape
    try:
        shape = StudentShape(
            given.layers, given.hidden or teacher.hidden, given.heads or teacher.heads, given.ffn or teacher.ffn
        )
    except RaydistillError as err:
        yield Problem(f"{at}.shape", str(err))
        return
    if entry.init is not None:
        try:
            init_layers(entry.init, teacher.layers, shape.layers)
            check_init_widths(shape, teacher)
        except RaydistillError as err:
            field = next((n for n in ("hidden", "heads", "ffn") if f"student {n}=" in str(err)), "layers")
            yield Problem(f"{at}.shape.{field}" if field != "layers" else f"{at}.init", str(err))
            return
    cls = options_class(entry.method)
    stages = ("intermediate", "prediction") if entry.method == "tinybert" else (None,)
    for stage in stages:
        if cls is None or not hasattr(cls, "check_shapes"):
            break
        options = method_options(entry, kind, PLACEHOLDER, stage)
        try:
            cls(**options).check_shapes(shape, teacher)
        except RaydistillError as err:
            field = next((n for n in ("heads", "hidden", "layers") if f"student {n}" in str(err)), "layers")
            yield Problem(f"{at}.shape.{field}", str(err))
            return
