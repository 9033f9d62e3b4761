"""The task registry: what each task reads, how many labels it has, and how it is scored.

A task is one frozen `Task` value registered by name (`register_task`). Label names follow the order the
GLUE hub dataset uses, so a file with word labels ("entailment") and one with integer ids ("0") map to the
same class ids. Metric names refer to `raydistill.data.metrics.METRICS` (classification/regression) or to
the SQuAD scores ("exact_match", "f1", in percent) for QA tasks.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Literal

from raydistill.errors import DataError

TaskKind = Literal["classification", "regression", "qa"]
LocalFormat = Literal["glue", "chnsenticorp", "squad"]

GLUE_HUB = "nyu-mll/glue"


@dataclass(frozen=True)
class LocalColumns:
    """Where text and label sit in a task's local TSV files.

    Attributes:
        text_a: header name, or 0-based field index for files without a header (CoLA).
        text_b: same for the second sentence; None for single-sentence tasks.
        label: same for the label (or regression score).
        num_fields: header-less files only: the exact number of fields per row.
    """

    text_a: str | int
    text_b: str | int | None
    label: str | int
    num_fields: int | None = None

    @property
    def has_header(self) -> bool:
        """True when columns are named (the file starts with a header row)."""
        return isinstance(self.text_a, str)


@dataclass(frozen=True)
class Task:
    """One task: data columns, labels, metrics and where its data lives.

    Attributes:
        name: registry name (e.g. "sst2").
        kind: "classification", "regression" or "qa".
        text_a: hub column of the first text (the question for QA).
        text_b: hub column of the second text (the context for QA); None for single-sentence tasks.
        labels: class names in hub order (index = class id); None for regression and QA.
        metrics: every metric reported for the task.
        main_metric: the one the search optimises and reports first (one of `metrics`).
        hub_path: HF hub dataset path.
        hub_config: HF hub config name, or None.
        dev_splits: our eval-set name -> hub split name; the first entry is the main dev set.
        local_format: the format read when a local `path` is given with source "auto".
        glue_dir: the task's folder name in the GLUE distribution (e.g. "SST-2"), or None.
        local_columns: layout of the local TSV files (default: header names `text_a`, `text_b`, "label").
    """

    name: str
    kind: TaskKind
    text_a: str
    text_b: str | None
    labels: tuple[str, ...] | None
    metrics: tuple[str, ...]
    main_metric: str
    hub_path: str
    hub_config: str | None
    dev_splits: dict[str, str] = field(hash=False)
    local_format: LocalFormat
    glue_dir: str | None = None
    local_columns: LocalColumns | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("classification", "regression", "qa"):
            raise ValueError(f"Task {self.name}: kind {self.kind!r} must be classification, regression or qa")
        if self.main_metric not in self.metrics:
            raise ValueError(
                f"Task {self.name}: main_metric {self.main_metric!r} is not in metrics {self.metrics}"
            )
        if (self.kind == "classification") != bool(self.labels):
            raise ValueError(f"Task {self.name}: classification tasks (and only they) need label names")
        if not self.dev_splits:
            raise ValueError(f"Task {self.name}: dev_splits must name at least one eval set")

    @property
    def num_labels(self) -> int:
        """Size of the model's output: number of classes, 1 for regression, 2 (start/end) for QA."""
        if self.kind == "regression":
            return 1
        if self.kind == "qa":
            return 2
        return len(self.labels or ())

    @property
    def pairs(self) -> bool:
        """True when each example holds two texts (sentence pair, or question + context)."""
        return self.text_b is not None

    @property
    def main_dev(self) -> str:
        """Name of the dev set the main metric is reported on (e.g. "dev", "dev_matched")."""
        return next(iter(self.dev_splits))

    @property
    def columns(self) -> LocalColumns:
        """Local TSV layout (the task's own, or header names equal to the hub columns)."""
        return self.local_columns or LocalColumns(self.text_a, self.text_b, "label")


TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Add `task` to `TASKS` (replacing a task of the same name) and return it."""
    TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    """Look a task up by name.

    Raises:
        DataError: unknown name; the message lists the valid names and the closest match.
    """
    if name in TASKS:
        return TASKS[name]
    close = difflib.get_close_matches(name, list(TASKS), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise DataError(f"unknown task {name!r}; valid tasks: {', '.join(sorted(TASKS))}.{hint}")


def _glue(
    name: str,
    glue_dir: str,
    text_a: str,
    text_b: str | None,
    labels: tuple[str, ...] | None,
    metrics: tuple[str, ...],
    local_columns: LocalColumns | None,
) -> Task:
    """A GLUE task: hub config = its name; MNLI has two dev sets (main metric on matched)."""
    dev_splits = {"dev": "validation"}
    if name == "mnli":
        dev_splits = {"dev_matched": "validation_matched", "dev_mismatched": "validation_mismatched"}
    return Task(
        name=name,
        kind="classification" if labels else "regression",
        text_a=text_a,
        text_b=text_b,
        labels=labels,
        metrics=metrics,
        main_metric=metrics[0],
        hub_path=GLUE_HUB,
        hub_config=name,
        dev_splits=dev_splits,
        local_format="glue",
        glue_dir=glue_dir,
        local_columns=local_columns,
    )


_ENTAIL = ("entailment", "not_entailment")
_PAIR = LocalColumns("sentence1", "sentence2", "label")

# Hub columns (text_a, text_b) and label names (index = class id) follow nyu-mll/glue.
# fmt: off
_GLUE = [
    # name    folder   hub text_a   hub text_b    labels                                  metrics (main first)
    ("cola", "CoLA",  "sentence",  None,         ("unacceptable", "acceptable"),         ("mcc", "accuracy")),
    ("sst2", "SST-2", "sentence",  None,         ("negative", "positive"),               ("accuracy",)),
    ("mrpc", "MRPC",  "sentence1", "sentence2",  ("not_equivalent", "equivalent"),       ("f1", "accuracy")),
    ("qqp",  "QQP",   "question1", "question2",  ("not_duplicate", "duplicate"),         ("f1", "accuracy")),
    ("stsb", "STS-B", "sentence1", "sentence2",  None,                                   ("pearson", "spearmanr")),
    ("mnli", "MNLI",  "premise",   "hypothesis", ("entailment", "neutral", "contradiction"),
                                                                                          ("accuracy",)),
    ("qnli", "QNLI",  "question",  "sentence",   _ENTAIL,                                ("accuracy",)),
    ("rte",  "RTE",   "sentence1", "sentence2",  _ENTAIL,                                ("accuracy",)),
    ("wnli", "WNLI",  "sentence1", "sentence2",  ("not_entailment", "entailment"),       ("accuracy",)),
]
# The GLUE TSV layouts, as distributed (CoLA train/dev have no header: field indices).
_GLUE_TSV = {
    "cola": LocalColumns(text_a=3, text_b=None, label=1, num_fields=4),
    "sst2": LocalColumns("sentence", None, "label"),
    "mrpc": LocalColumns("#1 String", "#2 String", "Quality"),
    "qqp": LocalColumns("question1", "question2", "is_duplicate"),
    "stsb": LocalColumns("sentence1", "sentence2", "score"),
    "mnli": LocalColumns("sentence1", "sentence2", "gold_label"),
    "qnli": LocalColumns("question", "sentence", "label"),
    "rte": _PAIR,
    "wnli": _PAIR,
}
# fmt: on
for _row in _GLUE:
    register_task(_glue(*_row, local_columns=_GLUE_TSV[_row[0]]))

register_task(
    Task(
        name="chnsenticorp",
        kind="classification",
        text_a="text",
        text_b=None,
        labels=("negative", "positive"),
        metrics=("accuracy",),
        main_metric="accuracy",
        hub_path="lansinuote/ChnSentiCorp",
        hub_config=None,
        dev_splits={"dev": "validation"},
        local_format="chnsenticorp",
        local_columns=LocalColumns("text_a", None, "label"),
    )
)
register_task(
    Task(
        name="squad",
        kind="qa",
        text_a="question",
        text_b="context",
        labels=None,
        metrics=("f1", "exact_match"),
        main_metric="f1",
        hub_path="rajpurkar/squad",
        hub_config=None,
        dev_splits={"dev": "validation"},
        local_format="squad",
    )
)
