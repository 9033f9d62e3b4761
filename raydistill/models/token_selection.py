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
    "restore_tokens",
    "select_tokens",
    "token_counts_for_lengths",
]


class TokenCountError(ValueError):
    """`token_counts` that do not fit the layers or the batch (the callers turn it into their own error)."""


def select_tokens(probs: Tensor, valid: Tensor, count: Tensor) -> tuple[Tensor, Tensor]:
    """Which tokens a layer keeps: the top `count[b]` of example b by significance, in their original order.

    Significance of token j (PoWER-BERT, Goyal et al. 2020, as used by LAT, Kim & Cho 2021, and
    Dynamic-TinyBERT): the attention probability it receives, summed over heads and over the real (unpadded)
    queries, sig[b, j] = sum_h sum_i p[b, h, i, j]. Position 0 ([CLS]) is always kept when it is a real token;
    padding is never chosen. Counts are clamped to [1, n_b], n_b = the real tokens of example b, so a count at
    or above n_b keeps every real token. LAT keeps the top-k in significance order; here the kept tokens keep
    their input order (the same set; BERT has no causal order, and positions stay comparable with the input).

    Batched: every example gets K = max_b count[b] slots; its kept tokens fill the first count[b] slots and the
    rest are padding (keep False), holding the next-ranked positions in input order (so counts at the real
    lengths of a right-padded batch whose longest example fills L reproduce the input exactly).

    Args:
        probs: (B, h, L, L) attention probabilities of the layer (softmax, before dropout and head mask).
        valid: (B, L) bool, True at the layer input's real tokens.
        count: (B,) integer, how many tokens each example keeps.

    Returns:
        kept: (B, K) positions into the layer input; keep: (B, K) bool, True at the kept (real) slots.
    """
    B, L = valid.shape
    significance = (probs * valid[:, None, :, None]).sum(dim=(1, 2))  # (B, L): over heads and real queries
    pos = torch.arange(L, device=valid.device)  # (L,)
    significance = significance.masked_fill(pos == 0, torch.inf).masked_fill(~valid, -torch.inf)  # (B, L)
    count = torch.minimum(count.to(valid.device).long(), valid.sum(dim=-1)).clamp(min=1)  # (B,)
    k = cast(int, count.max().item())  # data-dependent: an unbacked size when exported (ONNX), bounded here
    torch._check(k >= 1)
    torch._check(k <= L)
    ranked = significance.topk(k, dim=-1).indices  # (B, K), most significant first
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
    exported graph, a constant table plus a Gather. Layers at fraction 1 (a prefix, fractions being
    non-increasing) get None: they keep every real token, so they select nothing and keep the fused SDPA path.

    Args:
        fractions: cumulative fraction of the input kept after each layer (`Arch.tokens`), non-increasing.
        lengths: (B,) integer real (unpadded) length of each example, at most max_len.
        max_len: the longest length the table covers (the model's max_position_embeddings).
    """
    table = torch.tensor(_count_table(tuple(float(f) for f in fractions), max_len), device=lengths.device)
    index = lengths.long()  # (B,)
    return [None if f >= 1 else table[i][index] for i, f in enumerate(fractions)]  # (B,) each


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
            index = origin.masked_fill(origin < 0, L)  # (B, L_i): padding slots go to a spare column
            spare = torch.cat([canvas, canvas[:, :1]], dim=1)  # (B, L + 1, d)
            canvas = spare.scatter(1, index[..., None].expand(-1, -1, d), x)[:, :L]  # (B, L, d)
        restored.append(canvas)
    return restored


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
