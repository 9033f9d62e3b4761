"""What the trainer consumes: tokenised train features, the search and dev eval sets, and the collator."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from raydistill.data.collate import PadCollator
from raydistill.data.features import encode_examples
from raydistill.data.metrics import NON_FINITE, Scores, compute_metrics, output_note, squad_question_scores
from raydistill.data.splits import load_splits
from raydistill.data.squad import QAFeature, encode_squad, postprocess_qa
from raydistill.data.tasks import Task, get_task
from raydistill.errors import DataError


@dataclass
class EvalSet:
    """One evaluation set: the features the model sees, the raw examples, and how to score outputs.

    Attributes:
        name: "search", "dev", "dev_matched", ...
        dataset: tensor-only feature dicts (for QA: one item per window).
        examples: the raw examples (for QA: one per question).
        task: the task (metrics, kind).
        qa_features: QA only: `QAFeature` per window, aligned with `dataset`.
        n_best, max_answer_length: QA decoding settings (see `postprocess_qa`).
    """

    name: str
    dataset: Dataset
    examples: list
    task: Task
    qa_features: list[QAFeature] | None = None
    n_best: int = 20
    max_answer_length: int = 30

    def compute(self, outputs: Any) -> Scores:
        """Score model outputs on this set; NaN for every metric when an output is NaN or inf.

        Args:
            outputs: logits (N, C), or scores (N,) / (N, 1) for regression, in dataset order; for QA a pair
                `(start_logits, end_logits)`, each (num_features, L); columns past a window's length are
                ignored, so any padding value works.

        Returns:
            every metric of the task, keyed by name (main metric included); its `note` is `output_note`'s
            (`NON_FINITE`: the outputs hold NaN or inf, the evaluation failed and every metric is NaN).
        """
        note = output_note(self.task, outputs)
        if note == NON_FINITE:
            return Scores({name: math.nan for name in self.task.metrics}, note)
        return Scores(self._metrics(outputs), note)

    def question_scores(self, outputs: Any) -> dict[str, np.ndarray]:
        """QA only: every metric of the task per question (`examples` order; `squad_question_scores`), from the
        same outputs `compute` takes; the mean of each array is `compute`'s value. NaN arrays when an output is
        NaN or inf (as `compute`).

        Raises:
            ValueError: not a QA eval set (a classification metric such as F1 or MCC is not a mean over examples).
        """
        if self.task.kind != "qa":
            raise ValueError(f"question_scores: {self.task.name} is not a QA task; use compute")
        if output_note(self.task, outputs) == NON_FINITE:
            return {name: np.full(len(self.examples), math.nan) for name in self.task.metrics}
        scores = squad_question_scores(self._answers(outputs), _gold_texts(self.examples))
        return {name: scores[name] for name in self.task.metrics}

    def _answers(self, outputs: Any) -> dict[str, str]:
        start, end = outputs
        return postprocess_qa(
            self.examples,
            self.qa_features or [],
            _numpy(start),
            _numpy(end),
            self.n_best,
            self.max_answer_length,
        )

    def _metrics(self, outputs: Any) -> dict[str, float]:
        if self.task.kind == "qa":
            return compute_metrics(self.task, self._answers(outputs), self.examples)
        return compute_metrics(self.task, _numpy(outputs), [ex.label for ex in self.examples])


@dataclass
class TaskData:
    """Everything the trainer needs for one task."""

    task: Task
    train: Dataset
    search: EvalSet
    dev: dict[str, EvalSet]
    collate: Callable


def prepare_task_data(
    task_name: str,
    tokenizer: Any,
    *,
    max_seq_length: int = 128,
    source: str = "auto",
    path: str | Path | None = None,
    hub_name: str | None = None,
    train_file: str | None = None,
    dev_file: str | None = None,
    columns: Mapping[str, str | None] | None = None,
    max_train_examples: int | None = None,
    max_eval_examples: int | None = None,
    search_fraction: float = 0.1,
    seed: int = 42,
    doc_stride: int = 128,
    max_query_length: int = 64,
    max_answer_length: int = 30,
    n_best: int = 20,
    augmented_train: str | Path | None = None,
) -> TaskData:
    """Load, split (train / search / dev, see `load_splits`) and tokenise a task.

    `augmented_train`: a JSON Lines file of `augment.write_augmented` whose examples replace the train split
    (TinyBERT's augmented set); the search split and the dev sets are still carved and read as without it.

    Raises:
        DataError: any data problem (unknown task, missing file or column, bad label, ...), or a tokenizer
            without a pad token.
    """
    task = get_task(task_name)
    if tokenizer.pad_token_id is None:
        raise DataError(
            f"tokenizer {type(tokenizer).__name__} has no pad token; set tokenizer.pad_token first"
        )
    splits = load_splits(
        task,
        source=source,
        path=path,
        hub_name=hub_name,
        train_file=train_file,
        dev_file=dev_file,
        columns=columns,
        max_train_examples=max_train_examples,
        max_eval_examples=max_eval_examples,
        search_fraction=search_fraction,
        seed=seed,
    )
    if augmented_train is not None:
        from raydistill.data.augment import read_augmented

        splits.train = read_augmented(Path(augmented_train), task)
    qa = {"max_seq_length": max_seq_length, "doc_stride": doc_stride, "max_query_length": max_query_length}
    decode = {"n_best": n_best, "max_answer_length": max_answer_length}

    def eval_set(name: str, examples: Sequence) -> EvalSet:
        return build_evalset(task, name, examples, tokenizer, **qa, **decode)

    if task.kind == "qa":
        train, _ = encode_squad(splits.train, tokenizer, train=True, **qa)
    else:
        train = encode_examples(splits.train, task, tokenizer, max_seq_length)
    return TaskData(
        task=task,
        train=train,
        search=eval_set("search", splits.search),
        dev={name: eval_set(name, examples) for name, examples in splits.dev.items()},
        collate=PadCollator(tokenizer.pad_token_id),
    )


def build_evalset(
    task: Task,
    name: str,
    examples: Sequence,
    tokenizer: Any,
    *,
    max_seq_length: int = 128,
    doc_stride: int = 128,
    max_query_length: int = 64,
    max_answer_length: int = 30,
    n_best: int = 20,
) -> EvalSet:
    """An `EvalSet` of raw examples, tokenised as `prepare_task_data` does (QA: windows of `doc_stride`)."""
    if task.kind != "qa":
        return EvalSet(name, encode_examples(examples, task, tokenizer, max_seq_length), list(examples), task)
    dataset, features = encode_squad(
        examples,
        tokenizer,
        train=False,
        max_seq_length=max_seq_length,
        doc_stride=doc_stride,
        max_query_length=max_query_length,
    )
    return EvalSet(name, dataset, list(examples), task, features, n_best, max_answer_length)


def _gold_texts(examples: Sequence[Any]) -> dict[str, list[str]]:
    """qid -> gold answer texts of QA examples (`compute_metrics`'s reading of them)."""
    return {ex.qid: [a["text"] for a in ex.answers] for ex in examples}


def _numpy(values: Any) -> np.ndarray:
    if hasattr(values, "detach"):  # torch tensor
        values = values.detach().float().cpu().numpy()
    return np.asarray(values)
