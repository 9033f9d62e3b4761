"""Cross-field rules: checks that need more than one field, the task registry, or the file system.

A rule is a small function `(spec, task) -> iterable of Problem`; `task` is the registry entry of `spec.task`, or
None when the name is unknown (then only rules that do not need it run). Add a rule by writing a function and
appending it to `RULES`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from raydistill.methods_registry import METHODS, method_names, unknown_method
from raydistill.spec import data_rules
from raydistill.spec.problems import Problem
from raydistill.spec.schema import Spec

if TYPE_CHECKING:
    from raydistill.data.tasks import Task

# Names of the search-space registry (`raydistill/search/spaces`); listed here so that validating a spec never
# imports Ray. Keep in sync when a space is added.
SEARCH_SPACES = ("width_depth", "layerwise", "length", "joint")
LENGTH_SPACES = ("length", "joint")  # spaces that search tokens kept per layer
LOCAL_PATH_PREFIXES = ("/", "./", "../", "~")

Rule = Callable[[Spec, "Task | None"], Iterable[Problem]]


def task_is_known(spec: Spec, task: Task | None) -> Iterator[Problem]:
    """`task` must name a registered task (with a did-you-mean)."""
    if task is not None:
        return
    from raydistill.data.tasks import TASKS

    close = difflib.get_close_matches(spec.task.lower(), list(TASKS), n=1, cutoff=0.5)
    did = f"did you mean {close[0]!r}? " if close else ""
    yield Problem("task", f"unknown task {spec.task!r}; {did}known tasks: {', '.join(sorted(TASKS))}")


def _with_task(check: Callable[[Spec, Task], Iterable[Problem]]) -> Rule:
    """Adapt a rule that needs the task's registry entry: skipped when the task is unknown."""

    def rule(spec: Spec, task: Task | None) -> Iterable[Problem]:
        return check(spec, task) if task is not None else ()

    rule.__name__ = check.__name__
    rule.__doc__ = check.__doc__
    return rule


def search_needs_supernet(spec: Spec, task: Task | None) -> Iterator[Problem]:
    """The search picks sub-networks of the trained supernet."""
    if spec.search.enabled and not spec.supernet.enabled:
        yield Problem(
            "search.enabled",
            "the search picks sub-networks of the supernet, but supernet.enabled is false; "
            "set supernet.enabled: true, or search.enabled: false",
            near=("supernet.enabled",),
        )


def search_space_fits(spec: Spec, task: Task | None) -> Iterator[Problem]:
    """`search.space` must be a registered space; "length" and "joint" need the length-adaptive supernet."""
    space = spec.search.space
    if space not in SEARCH_SPACES:
        close = difflib.get_close_matches(space, SEARCH_SPACES, n=1)
        did = f"did you mean {close[0]!r}? " if close else ""
        yield Problem(
            "search.space", f"unknown search space {space!r}; {did}allowed: {', '.join(SEARCH_SPACES)}"
        )
    elif space in LENGTH_SPACES and not spec.supernet.length.enabled:
        yield Problem(
            "search.space",
            f"{space!r} searches tokens kept per layer, which needs a length-adaptive supernet; "
            "set supernet.length.enabled: true, or use space width_depth or layerwise",
        )


def export_needs_search(spec: Spec, task: Task | None) -> Iterator[Problem]:
    """Export writes the best sub-network per budget, which only the search finds, and the students."""
    if spec.export.enabled and not spec.search.enabled and not spec.students:
        yield Problem(
            "export.enabled",
            "export writes the best sub-network per budget found by the search and the students, but "
            "search.enabled is false and there are no students; set export.enabled: false, or "
            "search.enabled: true",
            near=("search.enabled",),
        )


def layerwise_sampling_needs_full_teacher(spec: Spec, task: Task | None) -> Iterator[Problem]:
    """`same_width` slices the teacher to the sub-network's one width; layerwise sub-networks have none."""
    sn = spec.supernet
    if sn.sampling == "layerwise" and sn.teacher_mode == "same_width":
        yield Problem(
            "supernet.teacher_mode",
            "same_width needs one width per sub-network, but sampling: layerwise mixes widths across layers; "
            "use teacher_mode: full, or sampling: all / sandwich",
            near=("supernet.sampling",),
        )


def gpu_needs_workers(spec: Spec, task: Task | None) -> Iterator[Problem]:
    """`num_workers: 0` runs in-process without Ray, where `use_gpu` would be silently ignored."""
    if spec.resources.use_gpu and spec.resources.num_workers == 0:
        yield Problem(
            "resources.use_gpu",
            "true with num_workers: 0 (in-process, no Ray) would be ignored; "
            "set resources.num_workers >= 1 to train on GPUs through Ray Train, or use_gpu: false",
            near=("resources.num_workers",),
        )


def teacher_path_exists(spec: Spec, task: Task | None) -> Iterator[Problem]:
    """A `teacher.model` written as a local path must be an existing HF model directory."""
    model = spec.teacher.model
    if not model.startswith(LOCAL_PATH_PREFIXES):
        return
    try:
        path = Path(model).expanduser()
        found = path.exists()
    except (OSError, ValueError, RuntimeError) as exc:  # NUL byte, name too long, unknown ~user
        yield Problem(
            "teacher.model", f"{model!r} is not a usable path ({exc}); give an HF model dir or hub name"
        )
        return
    if not found:
        yield Problem(
            "teacher.model",
            f"{model!r} looks like a local path but does not exist (relative to {str(Path.cwd())!r}); "
            "give an existing HF model dir (with config.json) or a hub name such as bert-base-uncased",
        )
    elif not (path / "config.json").is_file():
        yield Problem(
            "teacher.model",
            f"{model!r} exists but is not an HF model dir (no config.json inside); "
            "give the folder written by save_pretrained, or a hub name",
        )


def length_method_fits(spec: Spec, task: Task | None) -> Iterator[Problem]:
    """The length axis trains with `lengthdrop` (`supernet.length.enabled` picks it for the default method
    `supernet`); another sub-network method would ignore `supernet.length`, and `lengthdrop` needs it on."""
    sn = spec.supernet
    if sn.length.enabled and sn.method not in ("supernet", "lengthdrop"):
        yield Problem(
            "supernet.method",
            f"{sn.method!r} does not train token lengths, but supernet.length.enabled is true (LengthDrop, "
            "method lengthdrop); leave supernet.method at supernet (or lengthdrop), or set length.enabled: false",
            near=("supernet.length.enabled",),
        )
    elif sn.method == "lengthdrop" and not sn.length.enabled:
        yield Problem(
            "supernet.method",
            "lengthdrop trains the length axis, which supernet.length.enabled turns on (it is false); "
            "set supernet.length.enabled: true, or use method supernet",
            near=("supernet.length.enabled",),
        )


def augment_fits(spec: Spec, task: Task | None) -> Iterator[Problem]:
    """TinyBERT augmentation rewrites sentences of a classification or regression task, and reads a GloVe
    file (and, when given, a corpus file) that must exist."""
    aug = spec.augment
    if not aug.enabled:
        return
    if task is not None and task.kind == "qa":
        yield Problem(
            "augment.enabled",
            f"task {task.name} is extractive QA, whose answers are character spans that rewritten words would "
            "move; augment a classification or regression task, or set augment.enabled: false",
        )
    if aug.glove_path is None:
        yield Problem(
            "augment.glove_path",
            "is required when augment.enabled (multi-piece words are replaced by GloVe neighbours); give a GloVe "
            "text file such as ../shared/data/glove/glove.6B.50d.top100k.txt",
            near=("augment.enabled",),
        )
    for field, value in (("augment.glove_path", aug.glove_path), ("augment.mlm_corpus", aug.mlm_corpus)):
        if value is not None and not Path(value).expanduser().is_file():
            yield Problem(
                field, f"{value!r} is not a file (relative to {str(Path.cwd())!r}); give an existing text file"
            )


def _stage_methods(spec: Spec) -> Iterator[tuple[str, str, bool]]:
    """(field, method name, whether the stage trains sub-networks) of every stage that trains with a method."""
    yield "teacher.method", spec.teacher.method, False
    yield "supernet.method", spec.supernet.method, True
    if spec.search.retrain is not None:
        yield "search.retrain.method", spec.search.retrain.method, False


def methods_fit(spec: Spec, task: Task | None) -> Iterator[Problem]:
    """Each stage's training method is registered (`raydistill.methods_registry`) and fits the stage: it trains
    on the task's data, and forwards sub-networks exactly when the stage is the supernet."""
    for path, name, subnetworks in _stage_methods(spec):
        fitting = [n for n in method_names(subnetworks=subnetworks) if METHODS[n].data == "task"]
        entry = METHODS.get(name)
        if entry is None:
            yield Problem(path, unknown_method(name, fitting or method_names()))
        elif entry.subnetworks != subnetworks or entry.data != "task":
            yield Problem(
                path,
                f"method {name!r} trains {_trains(entry.subnetworks, entry.data)}, but this stage trains "
                f"{_trains(subnetworks, 'task')}; methods for it: {', '.join(fitting) or '(none registered)'}",
            )


def _trains(subnetworks: bool, data: str) -> str:
    """`sub-networks of a supernet on the task's labelled data`, ... (for `methods_fit` messages)."""
    model = "sub-networks of a supernet" if subnetworks else "one whole model"
    return f"{model} on the task's labelled data" if data == "task" else f"{model} on an unlabeled corpus"


RULES: list[Rule] = [
    task_is_known,
    _with_task(data_rules.source_fits_task),
    _with_task(data_rules.columns_fit_task),
    _with_task(data_rules.qa_windows_fit),
    _with_task(data_rules.local_files_fit_task),
    search_needs_supernet,
    search_space_fits,
    export_needs_search,
    layerwise_sampling_needs_full_teacher,
    gpu_needs_workers,
    teacher_path_exists,
    length_method_fits,
    methods_fit,
    augment_fits,
]


def check_rules(spec: Spec) -> list[Problem]:
    """Run every rule in `RULES` on a schema-valid spec; the problems of all rules, in rule order."""
    from raydistill.data.tasks import get_task
    from raydistill.errors import DataError

    try:
        task: Task | None = get_task(spec.task)
    except DataError:
        task = None
    return [problem for rule in RULES for problem in rule(spec, task)]
