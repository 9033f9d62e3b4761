"""Pre-softmax attention scores of a HF BERT forward, recorded without changing the forward (TinyBERT eq. 7).

HF's `output_attentions` returns probabilities (after softmax), and a student's forward must go through its
DDP wrapper, so the scores cannot come from a forward of our own (`models.elastic.encoder_forward` returns them,
but for a model run outside DDP). `record_scores` hooks the query and key projections of every self-attention
module, whatever attention kernel the model uses, and computes

    A = Q K^T / sqrt(d_head)        (B, h, L, L) per layer, with gradients through Q and K

after the forward. The additive padding mask is NOT in these scores (`encoder_forward` adds it): the consumer
ignores masked positions (`losses.attention_mse` zeroes every pair whose query or key is padding), so both
definitions give the same loss.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from torch import Tensor, nn

from raydistill.distill.methods import unwrap
from raydistill.errors import ModelError


def self_attentions(model: nn.Module) -> list[nn.Module]:
    """The self-attention modules of a (possibly wrapped) BERT, in layer order: those with `query` and `key`
    projections and an `attention_head_size` (HF `BertSelfAttention`, `raydistill_bert` sub-networks).

    Raises:
        ModelError: the model has none.
    """
    found = [
        m
        for m in unwrap(model).modules()
        if isinstance(getattr(m, "query", None), nn.Linear)
        and isinstance(getattr(m, "key", None), nn.Linear)
        and hasattr(m, "attention_head_size")
    ]
    if not found:
        raise ModelError(
            f"{type(unwrap(model)).__name__} has no BERT self-attention modules (query/key projections); "
            "attention distillation needs a BERT-family model"
        )
    return found


def _heads(x: Tensor, head_size: int) -> Tensor:
    """(B, L, h * dh) -> (B, h, L, dh)."""
    b, length, _ = x.shape
    return x.view(b, length, -1, head_size).transpose(1, 2)


class ScoreRecorder:
    """The query/key outputs of one forward; `scores()` turns them into per-layer attention scores."""

    def __init__(self, attentions: list[nn.Module]) -> None:
        self.attentions = attentions
        self.outputs: dict[tuple[int, str], Tensor] = {}

    def hook(self, layer: int, which: str) -> Any:
        """A forward hook storing the projection's output (B, L, h * dh) as (layer, which)."""

        def store(module: nn.Module, args: Any, output: Tensor) -> None:
            del module, args
            self.outputs[(layer, which)] = output

        return store

    def scores(self) -> list[Tensor]:
        """One (B, h, L, L) tensor per layer: Q K^T / sqrt(dh), before the mask and the softmax."""
        if len(self.outputs) != 2 * len(self.attentions):
            raise ModelError(
                f"recorded {len(self.outputs)} query/key outputs for {len(self.attentions)} layers; run exactly "
                "one forward of the model inside record_scores"
            )
        out = []
        for i, attention in enumerate(self.attentions):
            dh: int = attention.attention_head_size  # type: ignore[assignment]
            q = _heads(self.outputs[(i, "query")], dh)  # (B, h, L, dh)
            k = _heads(self.outputs[(i, "key")], dh)  # (B, h, L, dh)
            out.append(q.matmul(k.transpose(-1, -2)) * dh**-0.5)  # (B, h, L, L)
        return out


@contextmanager
def record_scores(model: nn.Module) -> Iterator[ScoreRecorder]:
    """Hook `model`'s query/key projections for the forwards run inside; the hooks go on exit."""
    recorder = ScoreRecorder(self_attentions(model))
    handles = [
        getattr(attention, which).register_forward_hook(recorder.hook(i, which))
        for i, attention in enumerate(recorder.attentions)
        for which in ("query", "key")
    ]
    try:
        yield recorder
    finally:
        for handle in handles:
            handle.remove()
