"""The latency objective (`search.objective: latency`): measured CPU latency of each sub-network as the cost.

With `objective: flops` (the default) the search's second objective is the analytic FLOPs ratio. With `latency`
it is the sub-network's *measured* CPU latency relative to the full model's, timed in the trial that scores it:

    latency_ratio = mean over b in LATENCY_BATCHES of  median_ms(sub-network, b) / median_ms(full model, b)

The sub-network is timed as it would be exported (`models.export.materialise`: only its weights, the token
selection of its `Arch.tokens`; a stock HF `BertFor*` when its widths allow, as the export writes it), on dummy
inputs of `seq_len` real tokens (the run's cost length) at batch 1 and 32, with `threads` torch threads, `warmup`
untimed calls, then the median of `repeats` timed calls (`models.latency.time_torch_model`). The full model is
timed once per trial actor the same way (`reference_ms`, cached by the search payload's key), so both sides of
the ratio share the actor's conditions. A ratio keeps the objective O(1), like the FLOPs ratio.
FLOPs budgets still decide feasibility (the constraint stays `flops_ratio`); an over-budget candidate is timed
too (no forward on data), so the samplers learn both its cost and its constraint.

No Ray or Optuna here: the trainable (`search.trainable`) calls `latency_result`.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from torch import nn

from raydistill.models.arch import Arch

__all__ = [
    "LATENCY_BATCHES",
    "LATENCY_KEY",
    "LatencySettings",
    "cost_key",
    "latency_columns",
    "latency_result",
    "time_arch",
]

LATENCY_KEY = "latency_ratio"  # the cost objective with `objective: latency` (a trial result / table column)
LATENCY_BATCHES = (1, 32)  # batch sizes timed; each has its own table column (`latency_columns`)
OBJECTIVES = ("flops", "latency")


def cost_key(objective: str) -> str:
    """The result key the samplers minimise for `search.objective` (`flops_ratio` or `latency_ratio`)."""
    from raydistill.search.spaces import COST_KEY

    if objective not in OBJECTIVES:
        raise ValueError(f"search.objective {objective!r}: choose one of {', '.join(OBJECTIVES)}")
    return COST_KEY if objective == "flops" else LATENCY_KEY


def latency_columns() -> dict[int, str]:
    """Batch size -> the trial-table column of its median latency (`latency_b1_ms`, `latency_b32_ms`)."""
    return {b: f"latency_b{b}_ms" for b in LATENCY_BATCHES}


@dataclass(frozen=True)
class LatencySettings:
    """How a sub-network is timed (`search.latency` in the spec; `seq_len` is the run's cost length)."""

    seq_len: int
    threads: int = 1
    warmup: int = 3
    repeats: int = 10

    def describe(self) -> str:
        """One line for meta.json and the report."""
        batches = " and ".join(str(b) for b in LATENCY_BATCHES)
        return (
            f"measured CPU latency of the materialised sub-network / the full model's, mean over batch {batches} "
            f"({self.seq_len} real tokens, {self.threads} torch thread(s), {self.warmup} warm-up calls, median of "
            f"{self.repeats})"
        )


def _timed_model(model: nn.Module, arch: Arch) -> nn.Module:
    """`arch` of `model` as the export writes it: a stock HF BERT when its widths allow, else `raydistill_bert`."""
    from raydistill.models.export import materialise, stock_bert

    small = materialise(model, arch)
    return stock_bert(small) or small


def time_arch(model: nn.Module, arch: Arch, settings: LatencySettings) -> dict[int, float]:
    """Median latency (ms) of sub-network `arch` of `model` per batch size in LATENCY_BATCHES."""
    from raydistill.models.latency import time_torch_model

    timed = _timed_model(model, arch)
    return {
        b: time_torch_model(
            timed, batch_size=b, seq_len=settings.seq_len, threads=settings.threads,
            warmup=settings.warmup, repeats=settings.repeats,
        ).median_ms
        for b in LATENCY_BATCHES
    }  # fmt: skip


_REFERENCE: dict[str, dict[int, float]] = {}  # search payload key -> the full model's latency on this actor


def reference_ms(key: str, model: nn.Module, settings: LatencySettings) -> dict[int, float]:
    """The full model's latency per batch size, timed once per `key` (one search) in this process."""
    if key not in _REFERENCE:
        _REFERENCE.clear()
        _REFERENCE[key] = time_arch(model, Arch.for_config(model.config), settings)
    return _REFERENCE[key]


def latency_result(
    model: nn.Module, arch: Arch, settings: LatencySettings, reference: dict[int, float]
) -> dict[str, Any]:
    """The trial result's latency values: one column per batch size and `latency_ratio` (module docstring)."""
    own = time_arch(model, arch, settings)
    ratio = statistics.fmean(own[b] / reference[b] for b in LATENCY_BATCHES)
    return {**{latency_columns()[b]: ms for b, ms in own.items()}, LATENCY_KEY: ratio}
