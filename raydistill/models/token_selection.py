"""Token selection of length-adaptive sub-networks (LAT, Kim & Cho 2021; Dynamic-TinyBERT, Guskin et al. 2021).

Three batched pieces the encoder stack (`elastic.encoder_forward`) and the exported models share:
    `token_counts_for_lengths`  per-layer, per-example counts from `Arch.tokens` and each example's real length,
                                by the one rounding rule (`token_rule.kept_token_count`)
    `select_tokens`             which tokens a layer keeps, ranked by the attention they receive
    `restore_tokens`            drop-and-restore: every layer's output back at the input positions

Shipped verbatim next to every `raydistill_bert` export: import only torch and the relative `token_rule`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import cast

import torch
from torch import Tensor

from .token_rule import kept_token_count

__all__ = [
    "TokenCountError",
    "counts_for_config",
    "restore_last",
    "restore_tokens",
    "select_tokens",
    "significance",
    "token_counts_for_lengths",
]


class TokenCountError(ValueError):
    """`token_counts` that do not fit the layers or the batch (the callers turn it into their own error)."""


def significance(probs: Tensor, valid: Tensor) -> Tensor:
    """The attention each token receives (PoWER-BERT, Goyal et al. 2020, as used by LAT, Kim & Cho 2021, and
    Dynamic-TinyBERT): sig[b, j] = sum_h sum_i p[b, h, i, j] over the real (unpadded) queries i.

    Summed over heads first (one pass over the probabilities, then a pass over (B, L, L)): the reduction is a few
    times cheaper than weighting all of `probs` by the query mask, and it adds no matmul (the analytic FLOPs,
    which count matmuls only, stay those of the layer).

    Args:
        probs: (B, h, L, L) attention probabilities (softmax, before dropout and head mask).
        valid: (B, L) bool, True at the real queries.

    Returns:
        (B, L) significance of each key position.
    """
    per_query = probs.sum(dim=1)  # (B, L, L): over heads
    return (per_query * valid[:, :, None]).sum(dim=1)  # (B, L): over the real queries


def select_tokens(scores: Tensor, valid: Tensor, count: Tensor) -> tuple[Tensor, Tensor]:
    """Which tokens a layer keeps: the top `count[b]` of example b by significance, in their original order.

    `scores` is the layer's `significance` (the attention each token receives, summed over heads and real
    queries). Position 0 ([CLS]) is always kept when it is a real token; padding is never chosen. Counts are
    clamped to [1, n_b], n_b = the real tokens of example b, so a count at or above n_b keeps every real token.
    LAT keeps the top-k in significance order; here the kept tokens keep their input order (the same set; BERT
    has no causal order, and positions stay comparable with the input).

    Batched: every example gets K = max_b count[b] slots; its kept tokens fill the first count[b] slots and the
    rest are padding (keep False), holding the next-ranked positions in input order (so counts at the real
    lengths of a right-padded batch whose longest example fills L reproduce the input exactly).

    Args:
        scores: (B, L) significance of each token of the layer input (`significance`).
        valid: (B, L) bool, True at the layer input's real tokens.
        count: (B,) integer, how many tokens each example keeps.

    Returns:
        kept: (B, K) positions into the layer input; keep: (B, K) bool, True at the kept (real) slots.
    """
    L = valid.size(1)
    pos = torch.arange(L, device=valid.device)  # (L,)
    ranking = scores.masked_fill(pos == 0, torch.inf).masked_fill(~valid, -torch.inf)  # (B, L)
    count = torch.minimum(count.to(valid.device).long(), valid.sum(dim=-1)).clamp(min=1)  # (B,)
    k = cast(int, count.max().item())  # data-dependent: an unbacked size when exported (ONNX), bounded here
    torch._check(k >= 1)
    torch._check(k <= L)
    ranked = ranking.topk(k, dim=-1).indices  # (B, K), most significant first
    chosen = torch.arange(k, device=valid.device) < count[:, None]  # (B, K): the top count[b] of example b
    order = torch.where(chosen, ranked, ranked + L).sort(dim=-1).values  # (B, K): chosen first, by position
    keep = order < L  # (B, K)
    return torch.where(keep, order, order - L), keep


@functools.lru_cache(maxsize=64)
def _count_table(fractions: tuple[float, ...], max_len: int) -> tuple[tuple[int, ...], ...]:
    """kept_token_count(fractions[i], n) for every layer i and every length n in 0..max_len."""
    return tuple(tuple(kept_token_count(f, n) for n in range(max_len + 1)) for f in fractions)


def token_counts_for_lengths(
    fractions: Sequence[float], lengths: Tensor, max_len: int
) -> list[Tensor | None]:
    """Per-layer, per-example token counts of a length configuration, for `encoder_forward(token_counts=...)`.

    count[i][b] = `kept_token_count(fractions[i], lengths[b])` (the one rounding rule, `token_rule`): batched
    as a lookup into a table of the rule over every length 0..max_len, so no loop over examples and, in an
    exported graph, a constant table plus a Gather. A layer at fraction 1 (a prefix, fractions being
    non-increasing), or at the fraction of the layer before it, gets None: it keeps every token it receives (the
    same count, the same clamp to each real length), so it selects nothing and keeps the fused SDPA path. (Not
    while a graph is traced for export: after the first selection the sequence size is data-dependent, which the
    fused kernel cannot trace, so there every layer past fraction 1 keeps its count.)

    Args:
        fractions: cumulative fraction of the input kept after each layer (`Arch.tokens`), non-increasing.
        lengths: (B,) integer real (unpadded) length of each example, at most max_len.
        max_len: the longest length the table covers (the model's max_position_embeddings).
    """
    table = torch.tensor(_count_table(tuple(float(f) for f in fractions), max_len), device=lengths.device)
    index = lengths.long()  # (B,)
    before = [1.0, *fractions[:-1]]  # the fraction each layer receives
    if torch.compiler.is_compiling():
        before = [1.0] * len(fractions)
    return [None if f >= b else table[i][index] for i, (f, b) in enumerate(zip(fractions, before, strict=True))]


def restore_tokens(states: Sequence[Tensor], kept_indices: Sequence[Tensor | None]) -> list[Tensor]:
    """Drop-and-restore (LAT, Kim & Cho 2021): every layer's output back at the input positions.

    A token dropped by layer i keeps its state from the last layer that kept it (the embeddings if layer 0
    dropped it): starting from the input, each layer's output is scattered into a (B, L, d) canvas at its
    tokens' original positions. Batched (one scatter per layer); padding slots (index -1) are never written, so
    padded positions keep their state from the last layer that ran on every position (junk either way).

    Args:
        states: the layer input (B, L, d) first, then each layer's output (B, L_i, d).
        kept_indices: per layer, (B, L_i) original position of each output slot, -1 at padding; None while no
            layer so far selected tokens (the output is then at the input positions already).

    Returns:
        One (B, L, d) tensor per layer: the state of every input token after that layer.
    """
    canvas = states[0]  # (B, L, d)
    B, L, d = canvas.shape
    restored = []
    for x, origin in zip(states[1:], kept_indices, strict=True):
        if origin is None:
            canvas = x  # (B, L, d): nothing selected yet
        else:
            spare = torch.cat([canvas, canvas[:, :1]], dim=1)  # (B, L + 1, d)
            canvas = spare.scatter(1, _slots(origin, L, d), x)[:, :L]  # (B, L, d)
        restored.append(canvas)
    return restored


def restore_last(states: Sequence[Tensor], kept_indices: Sequence[Tensor | None]) -> Tensor:
    """`restore_tokens(states, kept_indices)[-1]` alone, for a forward that returns no hidden states: one canvas
    from the last layer that ran on every position, each later layer scattered into it in place (no copy of
    the canvas per layer). Same arguments; returns (B, L, d)."""
    start = sum(origin is None for origin in kept_indices)  # layers before the first selection (a prefix)
    base = states[start]  # (B, L, d): the last output at every input position
    L, d = base.shape[1:]
    canvas = torch.cat([base, base[:, :1]], dim=1)  # (B, L + 1, d): column L takes the padding slots
    for x, origin in zip(states[start + 1 :], kept_indices[start:], strict=True):
        assert origin is not None
        canvas = canvas.scatter_(1, _slots(origin, L, d), x)
    return canvas[:, :L]


def _slots(origin: Tensor, length: int, d: int) -> Tensor:
    """Scatter index (B, L_i, d) of `origin` (B, L_i) into a (B, length + 1, d) canvas: padding slots (-1) go to
    the spare column `length`."""
    return origin.masked_fill(origin < 0, length)[..., None].expand(-1, -1, d)


def counts_for_config(
    fractions: Sequence[float] | None,
    attention_mask: Tensor,
    token_counts: Sequence[Tensor | None] | None,
    max_len: int,
) -> Sequence[Tensor | None] | None:
    """The token counts a forward runs: from a model's length configuration `fractions` (`Arch.tokens`,
    `layer_tokens`) and each example's real length, else the explicit `token_counts` (None: no selection).

    Raises:
        TokenCountError: both given.
    """
    if fractions is None:
        return token_counts
    if token_counts is not None:
        raise TokenCountError(
            f"got token_counts and the length configuration {list(fractions)}, which selects tokens itself; "
            "give one of them"
        )
    return token_counts_for_lengths(fractions, attention_mask.sum(dim=-1), max_len)  # (B,) real lengths
