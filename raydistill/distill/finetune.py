"""Method `finetune`: plain task fine-tuning of the teacher (BERT paper sec. 4).

The HF heads compute the task loss from the labels in the batch: cross-entropy over classes (classification),
MSE (regression, one output), and the mean of the start/end cross-entropies (SQuAD, BERT sec. 4.2). One forward,
one backward per batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from raydistill.distill.methods import Backward, Batch, BuiltMethod, Method, model_inputs


def finetune_step(model: nn.Module, batch: Batch, step: int, backward: Backward) -> dict[str, float | Tensor]:
    """Forward with labels, backward the head's loss, return it (detached) for logging."""
    del step  # the task loss does not depend on the step
    loss = model(**model_inputs(batch, with_labels=True)).loss  # () scalar
    backward(loss, True)
    return {"loss": loss.detach()}


def make_finetune(options: Mapping[str, Any], device: torch.device) -> BuiltMethod:
    """Build the `finetune` method; it takes no options and has no modules of its own."""
    del device
    if options:
        raise ValueError(f"method 'finetune' takes no options, got {sorted(options)}")
    return BuiltMethod(finetune_step)


METHOD = Method("finetune", build=make_finetune, evaluation="task")
