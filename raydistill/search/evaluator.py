"""Score one sub-network on one eval set: the elastic forward of an `Arch` under `torch.inference_mode()`.

No Ray here: the Tune trainable (`search.trainable`) and the final dev evaluation (`search.final`) both call
`evaluate_arch`. The search objective is always the *search split* (carved from train, `data.splits`); dev is
scored only for the chosen sub-networks, once each (LAT's reference searched and reported on dev; we do not).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Subset

from raydistill.data import EvalSet
from raydistill.models.arch import Arch
from raydistill.models.bert import elastic_forward
from raydistill.results.pareto import WORST_VALUES, worst_value  # an infeasible candidate is told the worst
from raydistill.training.evaluate import evaluate, predict

__all__ = ["WORST_VALUES", "cap_evalset", "evaluate_arch", "question_scores_arch", "worst_value"]


def cap_evalset(evalset: EvalSet, max_examples: int | None) -> EvalSet:
    """The first `max_examples` examples of an eval set (QA: with all windows of those questions).

    Returns `evalset` itself when there is no cap or it already fits.
    """
    if max_examples is None or len(evalset.examples) <= max_examples:
        return evalset
    examples = evalset.examples[:max_examples]
    if evalset.qa_features is None:
        return EvalSet(evalset.name, Subset(evalset.dataset, range(max_examples)), examples, evalset.task)
    kept = {ex.qid for ex in examples}
    rows = [i for i, f in enumerate(evalset.qa_features) if f.example_id in kept]
    return EvalSet(
        evalset.name,
        Subset(evalset.dataset, rows),
        examples,
        evalset.task,
        [evalset.qa_features[i] for i in rows],
        evalset.n_best,
        evalset.max_answer_length,
    )


def _arch_forward(model: nn.Module, arch: Arch) -> Callable[..., Any]:
    """A callable `predict` can run: batch inputs -> logits (B, C) or (start, end) of the sub-network."""

    def forward(
        input_ids: Tensor, attention_mask: Tensor | None = None, token_type_ids: Tensor | None = None
    ) -> Any:
        return elastic_forward(model, arch, input_ids, attention_mask, token_type_ids).logits

    return forward


def evaluate_arch(
    model: nn.Module,
    arch: Arch,
    evalset: EvalSet,
    collate: Callable,
    batch_size: int,
    *,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """Every metric of the task for sub-network `arch` of `model` on `evalset` (`EvalSet.compute`).

    The model is put in eval mode (dropout off) for the pass and restored afterwards; no autograd state is
    kept (`torch.inference_mode`).

    Args:
        model: a supported HF BERT (see `models.bert`), e.g. the trained supernet.
        arch: the sub-network; `ArchError` if it does not fit the model.
        evalset: the search split during the search, a dev set afterwards.
        collate: the task's collate function (dynamic padding).
        batch_size: examples per forward.
        device: where the model lives (default: the device of its first parameter).
    """
    with _inference(model, device) as on:
        return evaluate(_arch_forward(model, arch), evalset, collate, batch_size, device=on)


def question_scores_arch(
    model: nn.Module,
    arch: Arch,
    evalset: EvalSet,
    collate: Callable,
    batch_size: int,
    *,
    device: torch.device | str | None = None,
) -> dict[str, np.ndarray]:
    """QA: every metric of sub-network `arch` per question of `evalset` (`EvalSet.question_scores`, in
    `evalset.examples` order), from the same forward as `evaluate_arch`, whose values are their means (what a
    paired test over questions needs). Arguments as `evaluate_arch`.
    """
    with _inference(model, device) as on:
        outputs = predict(_arch_forward(model, arch), evalset.dataset, collate, batch_size, device=on)
    return evalset.question_scores(outputs)


@contextmanager
def _inference(model: nn.Module, device: torch.device | str | None) -> Iterator[torch.device | str]:
    """Eval mode (dropout off) and no autograd state for the pass; the mode restored after. Yields the device
    (default: the device of the model's first parameter)."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield next(model.parameters()).device if device is None else device
    finally:
        model.train(was_training)
