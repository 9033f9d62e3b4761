"""Evaluation of a model on an `EvalSet`: batched forwards, outputs gathered in dataset order, then scored.

Reusable by every stage: the teacher, the supernet (pass a callable that runs a sub-network) and the search
evaluator. No Ray here; the training loop decides which rank evaluates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Subset

from raydistill.data import NON_FINITE, EvalSet, Scores, TaskData
from raydistill.data.collate import sequence_lengths
from raydistill.distill.methods import model_inputs

log = logging.getLogger(__name__)  # a child of the loop's logger (`runtime.progress_logger`)

_PAD_LOGIT = -1e4  # QA: logit given to padded columns (beyond every window's length; never a best span)


def _as_logits(output: Any) -> Tensor | tuple[Tensor, Tensor]:
    """Logits (B, C) / start-end pair ((B, L), (B, L)) from a HF output, a tensor or a (start, end) tuple."""
    if hasattr(output, "start_logits") and output.start_logits is not None:
        return output.start_logits, output.end_logits
    if hasattr(output, "logits"):
        return output.logits
    return output


def _pad_columns(chunks: list[Tensor]) -> Tensor:
    """Stack (B_i, L_i) chunks into (N, max L_i); batches are padded dynamically so widths differ."""
    width = max(c.size(1) for c in chunks)
    out = torch.full((sum(c.size(0) for c in chunks), width), _PAD_LOGIT)  # (N, L)
    row = 0
    for c in chunks:
        out[row : row + c.size(0), : c.size(1)] = c
        row += c.size(0)
    return out


def length_order(dataset: Dataset) -> list[int]:
    """Indices of `dataset` by ascending sequence length (`input_ids`), ties in dataset order.

    Batches of similar lengths need little dynamic padding: on SST-2 (seq 64) a batch of 32 random phrases is
    padded to ~41 tokens per example, a batch of sorted ones to ~14 (3x fewer tokens through the model).
    """
    lengths = sequence_lengths(dataset)
    return sorted(range(len(lengths)), key=lengths.__getitem__)


def _restore_order(gathered: Tensor, order: list[int]) -> Tensor:
    """Rows gathered in `order` back to dataset order: out[order[k]] = gathered[k]."""
    out = torch.empty_like(gathered)
    out[torch.tensor(order, dtype=torch.long)] = gathered
    return out


@torch.no_grad()
def predict(
    model: nn.Module | Callable[..., Any],
    dataset: Dataset,
    collate: Callable,
    batch_size: int,
    *,
    device: torch.device | str | None = None,
    sort_by_length: bool = True,
) -> Tensor | tuple[Tensor, Tensor]:
    """Run `model` over `dataset` and gather its outputs on the CPU (float32), in dataset order.

    Args:
        model: a HF model (or any callable taking `input_ids`, `attention_mask`, `token_type_ids` keywords and
            returning a HF-style output, logits, or a `(start_logits, end_logits)` pair).
        dataset: tensor feature dicts (extra keys such as labels are not passed to the model).
        collate: the task's collate function (dynamic padding).
        batch_size: examples per forward.
        device: where the model lives (default: the device of its first parameter, else CPU).
        sort_by_length: run the examples in `length_order` (far less padding; outputs are put back in
            dataset order, equal to an unsorted pass up to float rounding).

    Returns:
        logits (N, C) or (N, 1), or for QA `(start_logits, end_logits)`, each (N, L_max).
    """
    if device is None:
        first = next(iter(model.parameters()), None) if isinstance(model, nn.Module) else None
        device = first.device if first is not None else torch.device("cpu")
    order = length_order(dataset) if sort_by_length else None
    # An own generator: building the iterator would otherwise draw from the global RNG (breaks exact resume).
    loader = DataLoader(
        Subset(dataset, order) if order is not None else dataset,
        batch_size=batch_size,
        shuffle=False,
        collate_fn=collate,
        generator=torch.Generator(),
    )
    starts: list[Tensor] = []
    ends: list[Tensor] = []
    for batch in loader:
        inputs = {k: v.to(device, non_blocking=True) for k, v in model_inputs(batch).items()}
        out = _as_logits(model(**inputs))
        if isinstance(out, tuple):
            starts.append(out[0].float().cpu())  # (B, L)
            ends.append(out[1].float().cpu())  # (B, L)
        else:
            starts.append(out.float().cpu())  # (B, C)
    outputs = [_pad_columns(starts), _pad_columns(ends)] if ends else [torch.cat(starts)]  # (N, L) / (N, C)
    if order is not None:
        outputs = [_restore_order(o, order) for o in outputs]
    return (outputs[0], outputs[1]) if ends else outputs[0]


def evaluate(
    model: nn.Module | Callable[..., Any],
    evalset: EvalSet,
    collate: Callable,
    batch_size: int,
    *,
    device: torch.device | str | None = None,
) -> Scores:
    """Score `model` on one eval set: every metric of the task (see `EvalSet.compute`).

    An `nn.Module` is put in eval mode for the pass and restored to its previous mode afterwards.

    Returns:
        metric name -> value, with `Scores.note`. When the model's outputs hold NaN or inf the evaluation
        failed: every metric is NaN, the note is `NON_FINITE`, and a warning names the eval set.
    """
    module = model if isinstance(model, nn.Module) else None
    was_training = module is not None and module.training
    if module is not None:
        module.eval()
    try:
        outputs = predict(model, evalset.dataset, collate, batch_size, device=device)
    finally:
        if module is not None and was_training:
            module.train()
    metrics = evalset.compute(outputs)
    if metrics.note == NON_FINITE:
        log.warning(
            f"evaluation on {evalset.name!r}: the model's outputs hold NaN or inf, so every metric is NaN "
            "(a failed evaluation; the weights or the sub-network produce non-finite values)"
        )
    return Scores({name: float(value) for name, value in metrics.items()}, metrics.note)


def evaluate_task(
    model: nn.Module | Callable[..., Any],
    data: TaskData,
    batch_size: int,
    *,
    device: torch.device | str | None = None,
    search: bool = True,
) -> dict[str, Any]:
    """Metrics of every dev set and (with `search`) the search split: `{"dev": {name: metrics}, "search": ...}`.

    Pass an unwrapped model (not DDP) when only one rank evaluates, so no collective waits for the others.
    """
    dev = {
        name: evaluate(model, es, data.collate, batch_size, device=device) for name, es in data.dev.items()
    }
    metrics: dict[str, Any] = {"dev": dev}
    if search:
        metrics["search"] = evaluate(model, data.search, data.collate, batch_size, device=device)
    return metrics
