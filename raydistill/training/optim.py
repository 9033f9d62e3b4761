"""AdamW with decoupled weight decay (Loshchilov & Hutter 2019) and the BERT linear warmup/decay schedule."""

from __future__ import annotations

import math

import torch
from torch import nn
from transformers import get_linear_schedule_with_warmup


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two AdamW groups: decayed weights, and biases + LayerNorm parameters without decay (BERT recipe)."""
    no_decay: set[int] = set()
    for module in model.modules():
        if isinstance(module, nn.LayerNorm):
            no_decay.update(id(p) for p in module.parameters(recurse=False))
    for name, param in model.named_parameters():
        if name.endswith("bias"):
            no_decay.add(id(param))
    params = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if id(p) not in no_decay], "weight_decay": weight_decay},
        {"params": [p for p in params if id(p) in no_decay], "weight_decay": 0.0},
    ]


def build_optimizer(model: nn.Module, learning_rate: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW over `parameter_groups(model, weight_decay)`."""
    return torch.optim.AdamW(parameter_groups(model, weight_decay), lr=learning_rate)


def build_scheduler(
    optimizer: torch.optim.Optimizer, warmup_ratio: float, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup over `ceil(warmup_ratio * total_steps)` steps, then linear decay to 0 at `total_steps`."""
    return get_linear_schedule_with_warmup(optimizer, math.ceil(warmup_ratio * total_steps), total_steps)


def total_steps(steps_per_epoch: int, epochs: float, max_steps: int | None) -> int:
    """Optimizer steps of a run: `max_steps` when given, else `ceil(epochs * steps_per_epoch)` (at least 1)."""
    if max_steps is not None:
        return max_steps
    return max(1, math.ceil(epochs * steps_per_epoch))
