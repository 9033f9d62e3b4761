"""`raydistill evaluate EXPORT_DIR --data PATH`: score an exported sub-network on one split of a task.

Loads the export (either kind, `models.export.load_exported`), reads the split with the project's readers
(`data.read_split`: a directory in the task's format, one file, or builtin:NAME), tokenises it as training did
(`data.build_evalset`, at the export's recorded sequence length) and scores it with `training.evaluate.evaluate`,
so the numbers are the ones the pipeline reports for the same model and data. No Ray.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raydistill.data import PadCollator, Task, get_task
from raydistill.data.bundle import build_evalset
from raydistill.data.splits import read_split
from raydistill.errors import ModelError
from raydistill.models.export import ExportInfo, describe, load_exported
from raydistill.training.evaluate import evaluate

__all__ = ["ExportScore", "evaluate_export"]

DEFAULT_SEQ_LEN = 128  # for exports that did not record theirs
QUERY_LENGTH = 64  # QA: question tokens kept per window (the spec's default data.max_query_length)


@dataclass(frozen=True)
class ExportScore:
    """Every metric of `task` on `split` (`examples` examples: questions for QA) of one export."""

    export_dir: str
    arch_id: str
    task: str
    split: str
    examples: int
    metrics: dict[str, float]

    def summary(self) -> str:
        """One line: `ARCH_ID on TASK SPLIT (N examples): metric=value ...`."""
        scores = " ".join(f"{name}={value:.4f}" for name, value in self.metrics.items())
        return f"{self.arch_id} on {self.task} {self.split} ({self.examples} examples): {scores}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-able fields."""
        return dict(vars(self))


def _task_of(info: ExportInfo, export_dir: Path, task: str | None) -> Task:
    """The task to score: `task`, else the export's; it must fit the export's head."""
    name = task or info.task
    if name is None:
        raise ModelError(
            f"{export_dir}/export.json names no task (it was exported without one); give --task, e.g. --task sst2"
        )
    chosen = get_task(name)
    if (chosen.kind == "qa") != (info.head == "qa"):
        raise ModelError(
            f"task {chosen.name} ({chosen.kind}) does not fit the export's {info.head} head; give the --task the "
            f"model was trained for{f' ({info.task})' if info.task else ''}"
        )
    return chosen


def _check_outputs(task: Task, model: Any, export_dir: Path) -> None:
    """A classification/regression head must have as many outputs as the task has labels."""
    outputs = int(model.config.num_labels)
    if task.kind != "qa" and outputs != task.num_labels:
        raise ModelError(
            f"task {task.name} ({task.kind}) needs {task.num_labels} outputs but the export at {export_dir} has "
            f"{outputs}; give the --task the model was trained for"
        )


def evaluate_export(
    export_dir: str | Path,
    data: str | Path,
    *,
    task: str | None = None,
    split: str | None = None,
    max_seq_length: int | None = None,
    batch_size: int = 32,
) -> ExportScore:
    """Score an export on one split (module docstring).

    Args:
        export_dir: a directory written by `raydistill export` / the export stage (format "hf").
        data: the data (see `data.read_split`).
        task: task name; default: the one recorded in export.json.
        split: "train" or a dev set of the task; default: its main dev set.
        max_seq_length: tokenisation length; default: the export's recorded length (else 128).
        batch_size: examples per forward.

    Raises:
        ModelError: not an export, no HF files or tokenizer, or a task that does not fit the head.
        DataError: unknown task or split, missing data, or data that does not fit the task.
    """
    out = Path(export_dir)
    info = describe(out)
    chosen = _task_of(info, out, task)
    loaded = load_exported(out)
    _check_outputs(chosen, loaded.model, out)
    if loaded.tokenizer is None:
        raise ModelError(f"{out} has no tokenizer files; export it again with its tokenizer")
    name = split or chosen.main_dev
    examples = read_split(chosen, data, name)
    seq_len = max_seq_length or info.seq_len or DEFAULT_SEQ_LEN
    # QA windows overlap by the spec's default 128 tokens, less when the window's context part is shorter
    stride = min(128, max(1, (seq_len - QUERY_LENGTH - 3) // 2))
    evalset = build_evalset(
        chosen, name, examples, loaded.tokenizer, max_seq_length=seq_len, doc_stride=stride,
        max_query_length=QUERY_LENGTH,
    )  # fmt: skip
    metrics = evaluate(loaded.model, evalset, PadCollator(loaded.tokenizer.pad_token_id), batch_size)
    return ExportScore(str(out), info.arch_id, chosen.name, name, len(examples), metrics)
