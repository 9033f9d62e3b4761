"""What a training method's declarations mean to the loop: the data it trains on and how it is scored.

Two small registries; adding a data kind or an evaluation is a function + one entry:
- `DATA_KINDS`: data kind (`raydistill.methods_registry.DATA_KINDS`) -> the training data of a run. "task": the
  task's labelled data (train + dev sets + search split; each training item carries its index,
  `data.features.INDEX_KEY`). "corpus": the lines of a plain-text file (`cfg.data`: `corpus`, `max_seq_length`),
  unlabeled, for general distillation; no search split, no dev sets.
- `EVALUATIONS`: evaluation name (`Method.evaluation`) -> the metrics of the trained model at each epoch end.
  "task": the task's dev sets (and, when asked, the search split) scored on the HF model. "none": no metrics (a
  run on a corpus has nothing to score; its result is a starting point for task runs).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from raydistill.data import TaskData, prepare_task_data
from raydistill.data.features import IndexedDataset
from raydistill.distill.methods import Method
from raydistill.errors import RaydistillError
from raydistill.training.config import LoopConfig
from raydistill.training.evaluate import evaluate_task

DataBuilder = Callable[[LoopConfig, Any], TaskData]  # (loop config, tokenizer) -> data
Evaluation = Callable[[nn.Module, TaskData, int, torch.device, bool], dict[str, Any]]


def _task_data(cfg: LoopConfig, tokenizer: Any) -> TaskData:
    """The task's labelled data (`prepare_task_data`), split and tokenised as the loop config says (the split
    carved with `cfg.data["seed"]` when given, else `cfg.seed`); each training item carries its index."""
    data = prepare_task_data(cfg.task, tokenizer, **({"seed": cfg.seed} | cfg.data))
    return dataclasses.replace(data, train=IndexedDataset(data.train))


def _task_metrics(
    model: nn.Module, data: TaskData, batch_size: int, device: torch.device, search: bool
) -> dict[str, Any]:
    """`{"dev": {set: metrics}, "search": metrics}` of the HF model (`evaluate_task`)."""
    return evaluate_task(model, data, batch_size, device=device, search=search)


def _corpus_data(cfg: LoopConfig, tokenizer: Any) -> TaskData:
    """The lines of `cfg.data["corpus"]` tokenised (`data.corpus`); empty search and dev sets."""
    from raydistill.data.bundle import EvalSet
    from raydistill.data.collate import PadCollator
    from raydistill.data.corpus import encode_corpus, read_corpus
    from raydistill.data.features import FeatureDataset
    from raydistill.data.tasks import get_task

    task = get_task(cfg.task)
    train = encode_corpus(read_corpus(cfg.data["corpus"]), tokenizer, cfg.data["max_seq_length"])
    search = EvalSet("search", FeatureDataset([]), [], task)
    return TaskData(task=task, train=train, search=search, dev={}, collate=PadCollator(tokenizer.pad_token_id))


def _no_metrics(
    model: nn.Module, data: TaskData, batch_size: int, device: torch.device, search: bool
) -> dict[str, Any]:
    return {}


DATA_KINDS: dict[str, DataBuilder] = {"task": _task_data, "corpus": _corpus_data}
EVALUATIONS: dict[str, Evaluation] = {"task": _task_metrics, "none": _no_metrics}


def training_data(method: Method, cfg: LoopConfig, tokenizer: Any) -> TaskData:
    """The data `method` trains on (its declared data kind, built by `DATA_KINDS`).

    Raises:
        RaydistillError: the method's data kind is not built in this version.
    """
    builder = DATA_KINDS.get(method.data)
    if builder is None:
        raise RaydistillError(
            f"training method {method.name!r} trains on data kind {method.data!r}, which this version cannot "
            f"build yet; built kinds: {', '.join(sorted(DATA_KINDS))}; choose a method that trains on those"
        )
    return builder(cfg, tokenizer)


def evaluation_of(method: Method) -> Evaluation:
    """The evaluation `method` declares (`EVALUATIONS`).

    Raises:
        RaydistillError: an evaluation name no entry of `EVALUATIONS` has.
    """
    if method.evaluation not in EVALUATIONS:
        raise RaydistillError(
            f"training method {method.name!r} declares evaluation {method.evaluation!r}; known evaluations: "
            f"{', '.join(sorted(EVALUATIONS))}"
        )
    return EVALUATIONS[method.evaluation]
