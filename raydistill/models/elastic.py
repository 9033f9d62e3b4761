"""Per-layer BERT functions over explicit (already sliced) weight tensors, and the one encoder stack.

One code path serves both the sliced supernet (`slice_layer` returns *views* of the HF parameters, so gradients
flow into the kept prefixes only) and a materialised small model (its own, smaller tensors). Nothing here knows
about `Arch`: `models.bert.elastic_forward` and the exported `hf_subnet` models both hand their layers'
`LayerWeights` to `encoder_forward`, so the supernet, the exported model and its ONNX graph run the same code.

A layer is split into `attention_block` (self-attention + residual + LayerNorm) and `ffn_block`
(intermediate + output + residual + LayerNorm), with `layer_forward` composing them. Token selection (LAT, Kim &
Cho 2021; Dynamic-TinyBERT) happens between the two blocks: `select_tokens` ranks tokens by the attention
probabilities of the layer and the FFN runs on the kept tokens only; `token_selection` holds the selection, the
per-example counts and drop-and-restore.

Shipped verbatim next to every `raydistill_bert` export (with `token_selection.py` and `token_rule.py`): import
only torch and those relative modules here (never raydistill).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .token_selection import (
    TokenCountError,
    restore_last,
    restore_tokens,
    select_tokens,
    significance,
    token_counts_for_lengths,
)

__all__ = [
    "AttentionOutput",
    "EncoderOutput",
    "LayerOutput",
    "LayerWeights",
    "TokenCountError",
    "additive_mask",
    "attention_block",
    "encoder_forward",
    "ffn_block",
    "layer_forward",
    "restore_tokens",
    "select_tokens",
    "slice_layer",
    "token_counts_for_lengths",
]


@dataclass(frozen=True)
class LayerWeights:
    """The weights of one BERT layer with h heads of size dh, hidden size d and f FFN neurons.

    Tensor names follow HF `BertLayer` (query/key/value -> attention.output.dense -> LayerNorm ->
    intermediate.dense -> output.dense -> LayerNorm). Linear weights are (out_features, in_features).
    """

    q_weight: Tensor  # (h*dh, d)
    q_bias: Tensor  # (h*dh,)
    k_weight: Tensor  # (h*dh, d)
    k_bias: Tensor  # (h*dh,)
    v_weight: Tensor  # (h*dh, d)
    v_bias: Tensor  # (h*dh,)
    attn_out_weight: Tensor  # (d, h*dh)
    attn_out_bias: Tensor  # (d,)
    attn_ln_weight: Tensor  # (d,)
    attn_ln_bias: Tensor  # (d,)
    ffn_in_weight: Tensor  # (f, d)
    ffn_in_bias: Tensor  # (f,)
    ffn_out_weight: Tensor  # (d, f)
    ffn_out_bias: Tensor  # (d,)
    ffn_ln_weight: Tensor  # (d,)
    ffn_ln_bias: Tensor  # (d,)
    num_heads: int
    head_dim: int
    activation: Callable[[Tensor], Tensor]
    layer_norm_eps: float = 1e-12
    attn_dropout: float = 0.0  # on attention probabilities
    hidden_dropout: float = 0.0  # on the attention-output and FFN-output projections

    def tensors(self) -> dict[str, Tensor]:
        """All weight tensors by field name (for parameter counting and export)."""
        return {k: v for k, v in vars(self).items() if isinstance(v, Tensor)}


@dataclass(frozen=True)
class AttentionOutput:
    """Result of `attention_block`; scores/probs are None when not requested (fast SDPA path), significance
    unless a ranking was asked for."""

    hidden: Tensor  # (B, L, d) after residual + LayerNorm
    scores: Tensor | None  # (B, h, L, L) pre-softmax, after the additive mask
    probs: Tensor | None  # (B, h, L, L) softmax(scores), before dropout and head mask
    significance: Tensor | None = None  # (B, L) attention each token receives (`token_selection.significance`)


@dataclass(frozen=True)
class LayerOutput:
    """Result of `layer_forward`; L_out = L_in unless the layer selected tokens."""

    hidden: Tensor  # (B, L_out, d)
    scores: Tensor | None  # (B, h, L_in, L_in) pre-softmax, after the additive mask
    probs: Tensor | None  # (B, h, L_in, L_in) softmax, before dropout and head mask
    valid: Tensor  # (B, L_out) bool: True at real tokens
    kept: Tensor | None  # (B, L_out) positions in the layer INPUT of the kept tokens; None: no selection


@dataclass
class EncoderOutput:
    """What `encoder_forward` returns (and, with the task head's fields added, `models.bert.ElasticOutput`).

    Attributes:
        last_hidden_state: (B, L_n, d) output of the last layer; L_n < L when tokens were selected and not
            restored (`restore`: then (B, L, d) at the input positions).
        attention_mask: (B, L_n) 1/0 mask of `last_hidden_state` (the input mask itself without selection or
            when restored).
        hidden_states: with `output_hidden_states`: the encoder input (embeddings) first, then one (B, L_i, d)
            per layer ((B, L, d) each when restored).
        attention_scores: with `output_attention_scores`: one (B, h_i, L_i, L_i) per layer, pre-softmax and
            after the additive mask (what TinyBERT's attention loss compares).
        attention_probs: with `output_attention_probs`: one (B, h_i, L_i, L_i) per layer, the softmax of the
            scores before dropout and head mask (HF's `attentions`).
        kept_indices: with `token_counts`: one entry per layer, None while no layer so far selected tokens,
            else (B, L_i') = for each position of that layer's OUTPUT, its position in the ORIGINAL input
            sequence, -1 at padding slots (what drop-and-restore scatters back).
    """

    last_hidden_state: Tensor
    attention_mask: Tensor
    hidden_states: tuple[Tensor, ...] | None = None
    attention_scores: tuple[Tensor, ...] | None = None
    attention_probs: tuple[Tensor, ...] | None = None
    kept_indices: tuple[Tensor | None, ...] | None = None


def slice_layer(layer: Any, heads: int, ffn: int) -> LayerWeights:
    """Prefix views of an HF `BertLayer`'s parameters: the first `heads` heads and `ffn` FFN neurons.

    DynaBERT width slicing: Q/K/V output rows and attention-output input columns of the kept heads; intermediate
    rows (+ bias) and output input columns of the kept neurons. Views share storage with the parameters, so
    the forward is differentiable and gradients land only in the kept slices.
    """
    attn, out = layer.attention.self, layer.attention.output
    dh = attn.attention_head_size
    hd = heads * dh
    return LayerWeights(
        q_weight=attn.query.weight[:hd],
        q_bias=attn.query.bias[:hd],
        k_weight=attn.key.weight[:hd],
        k_bias=attn.key.bias[:hd],
        v_weight=attn.value.weight[:hd],
        v_bias=attn.value.bias[:hd],
        attn_out_weight=out.dense.weight[:, :hd],
        attn_out_bias=out.dense.bias,
        attn_ln_weight=out.LayerNorm.weight,
        attn_ln_bias=out.LayerNorm.bias,
        ffn_in_weight=layer.intermediate.dense.weight[:ffn],
        ffn_in_bias=layer.intermediate.dense.bias[:ffn],
        ffn_out_weight=layer.output.dense.weight[:, :ffn],
        ffn_out_bias=layer.output.dense.bias,
        ffn_ln_weight=layer.output.LayerNorm.weight,
        ffn_ln_bias=layer.output.LayerNorm.bias,
        num_heads=heads,
        head_dim=dh,
        activation=layer.intermediate.intermediate_act_fn,
        layer_norm_eps=out.LayerNorm.eps,
        attn_dropout=attn.dropout.p,
        hidden_dropout=out.dropout.p,
    )


def additive_mask(attention_mask: Tensor, dtype: torch.dtype) -> Tensor:
    """(B, L) 1/0 padding mask -> (B, 1, 1, L) additive mask: 0 where kept, dtype-min where padded."""
    mask = attention_mask[:, None, None, :].to(dtype)  # (B, 1, 1, L)
    return (1.0 - mask) * torch.finfo(dtype).min


# Elements of the (n, h, L, L) probabilities one chunk of a no-grad ranking pass holds (8 MB in float32): small
# enough to stay in a CPU's cache between the softmax, the value product and the significance. Measured, 1
# thread, 12 heads, 256 tokens, batch 32: the attention alone 71 ms in chunks of 2 vs 183 ms in one pass (SDPA,
# which returns no probabilities: 50 ms); a whole 6-layer export that selects at 4 layers, 5-7% faster.
CHUNK_ELEMENTS = 1 << 21


def attention_block(
    x: Tensor,
    w: LayerWeights,
    mask: Tensor,
    *,
    training: bool = False,
    head_mask: Tensor | None = None,
    need_probs: bool = False,
    rank: Tensor | None = None,
) -> AttentionOutput:
    """Multi-head self-attention, residual and LayerNorm (Vaswani et al. eq. 1; BERT's post-LN layer).

    Args:
        x: (B, L, d) layer input.
        w: the layer's (sliced) weights.
        mask: (B, 1, 1, L) additive mask from `additive_mask`.
        training: apply dropout (attention probabilities and output projection).
        head_mask: optional (h,) multiplier of each head's attention probabilities (Michel et al. 2019; its
            gradient is the DynaBERT head importance).
        need_probs: also return scores and probabilities. Without it, a head mask or `rank`, the fused
            `scaled_dot_product_attention` kernel runs instead.
        rank: optional (B, L) bool real tokens: also return each token's `significance` over these queries (what
            `select_tokens` ranks by). Without probabilities to return and without gradients, the explicit softmax
            then runs a few examples at a time (`CHUNK_ELEMENTS`), the same numbers without the memory traffic.
    """
    B, L, _ = x.shape
    h, dh = w.num_heads, w.head_dim
    q = F.linear(x, w.q_weight, w.q_bias).view(B, L, h, dh).transpose(1, 2)  # (B, h, L, dh)
    k = F.linear(x, w.k_weight, w.k_bias).view(B, L, h, dh).transpose(1, 2)  # (B, h, L, dh)
    v = F.linear(x, w.v_weight, w.v_bias).view(B, L, h, dh).transpose(1, 2)  # (B, h, L, dh)
    p_drop = w.attn_dropout if training else 0.0
    scores = probs = sig = None
    if need_probs or head_mask is not None or (rank is not None and torch.is_grad_enabled()):
        context, scores, probs = _softmax_attention(q, k, v, mask, p_drop, training, head_mask)
        sig = None if rank is None else significance(probs, rank)
    elif rank is not None:
        context, sig = _ranked_attention(q, k, v, mask, rank)
    else:
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p_drop, scale=dh**-0.5)
    context = context.transpose(1, 2).reshape(B, L, h * dh)  # (B, L, h*dh)
    out = F.dropout(
        F.linear(context, w.attn_out_weight, w.attn_out_bias), p=w.hidden_dropout, training=training
    )
    hidden = F.layer_norm(
        out + x, x.shape[-1:], w.attn_ln_weight, w.attn_ln_bias, w.layer_norm_eps
    )  # (B, L, d)
    return AttentionOutput(hidden, scores, probs, sig)


def _softmax_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor, p_drop: float, training: bool, head_mask: Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    """Explicit-softmax attention: context (B, h, L, dh), scores and probabilities (B, h, L, L) each.
    q, k, v: (B, h, L, dh); mask: (B, 1, 1, L) additive. The scale goes on q (L*dh products, not L*L)."""
    scores = torch.matmul(q * q.size(-1) ** -0.5, k.transpose(-1, -2))  # (B, h, L, L)
    scores = scores.add_(mask)  # in place: the product's backward needs q and k, not its output
    probs = scores.softmax(dim=-1)  # (B, h, L, L)
    weights = F.dropout(probs, p=p_drop, training=training)
    if head_mask is not None:
        weights = weights * head_mask.view(1, -1, 1, 1)
    return torch.matmul(weights, v), scores, probs  # (B, h, L, dh)


def _ranked_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
    """No-grad, no-dropout attention that also ranks tokens: context (B, h, L, dh) and significance (B, L),
    `CHUNK_ELEMENTS` of probabilities at a time (one chunk while a graph is being traced for export, whose
    batch size is symbolic)."""
    B, h, L, _ = q.shape
    step = B if torch.compiler.is_compiling() else max(1, CHUNK_ELEMENTS // (h * L * L))
    contexts, ranks = [], []
    for i in range(0, B, step):
        part = slice(i, i + step)
        context, _, probs = _softmax_attention(q[part], k[part], v[part], mask[part], 0.0, False, None)
        contexts.append(context)  # (n, h, L, dh)
        ranks.append(significance(probs, valid[part]))  # (n, L)
    if len(contexts) == 1:
        return contexts[0], ranks[0]
    return torch.cat(contexts), torch.cat(ranks)


def ffn_block(x: Tensor, w: LayerWeights, *, training: bool = False) -> Tensor:
    """Position-wise FFN, residual and LayerNorm: LN(x + W2 act(W1 x + b1) + b2). x: (B, L, d) -> (B, L, d)."""
    inner = w.activation(F.linear(x, w.ffn_in_weight, w.ffn_in_bias))  # (B, L, f)
    out = F.dropout(F.linear(inner, w.ffn_out_weight, w.ffn_out_bias), p=w.hidden_dropout, training=training)
    return F.layer_norm(out + x, x.shape[-1:], w.ffn_ln_weight, w.ffn_ln_bias, w.layer_norm_eps)  # (B, L, d)


def _gather(x: Tensor, index: Tensor) -> Tensor:
    """x (B, L, ...) at positions index (B, K) -> (B, K, ...)."""
    return x.gather(1, index.view(*index.shape, *([1] * (x.dim() - 2))).expand(-1, -1, *x.shape[2:]))


def layer_forward(
    x: Tensor,
    w: LayerWeights,
    mask: Tensor,
    valid: Tensor,
    *,
    training: bool = False,
    head_mask: Tensor | None = None,
    need_probs: bool = False,
    token_count: Tensor | None = None,
) -> LayerOutput:
    """One BERT layer: `attention_block`, optionally `select_tokens`, then `ffn_block` on the kept tokens.

    Args:
        x: (B, L, d) input; mask: (B, 1, 1, L) additive mask of `valid`; valid: (B, L) bool real tokens.
        w: the layer's (sliced) weights.
        training: apply dropout.
        head_mask: optional (h,) per-head multiplier of the attention probabilities.
        need_probs: return the pre-softmax scores and the probabilities (explicit softmax path).
        token_count: optional (B,) tokens each example keeps after this layer's attention (`select_tokens`);
            the attention output and the mask are gathered before the FFN (LAT drops after attention).

    Returns:
        `LayerOutput` with the new hidden states, scores/probs (if requested or selecting) and the kept tokens.
    """
    rank = None if token_count is None else valid
    att = attention_block(x, w, mask, training=training, head_mask=head_mask, need_probs=need_probs, rank=rank)
    hidden, kept = att.hidden, None  # (B, L, d)
    if token_count is not None and att.significance is not None:
        kept, valid = select_tokens(att.significance, valid, token_count)  # (B, K) each
        hidden = _gather(hidden, kept)  # (B, K, d)
    return LayerOutput(ffn_block(hidden, w, training=training), att.scores, att.probs, valid, kept)


def _check_counts(token_counts: Sequence[Tensor | None], layers: int, batch: int) -> None:
    if len(token_counts) != layers:
        raise TokenCountError(
            f"token_counts has {len(token_counts)} entries for {layers} layers; give one per layer (None = keep all)"
        )
    for i, c in enumerate(token_counts):
        if c is not None and (c.shape != (batch,) or c.is_floating_point()):
            raise TokenCountError(
                f"token_counts[{i}] is a {c.dtype} tensor of shape {tuple(c.shape)}; expected None or an integer "
                f"tensor of shape ({batch},), the tokens each example keeps"
            )


def encoder_forward(
    x: Tensor,
    layers: Sequence[LayerWeights],
    attention_mask: Tensor,
    *,
    training: bool = False,
    head_masks: Sequence[Tensor | None] | None = None,
    output_hidden_states: bool = False,
    output_attention_scores: bool = False,
    output_attention_probs: bool = False,
    token_counts: Sequence[Tensor | None] | None = None,
    restore: bool = False,
) -> EncoderOutput:
    """The BERT encoder over explicit layer weights: `layer_forward` for each layer in turn.

    Without scores/probs requested, head masks or token counts, each layer runs the fused SDPA kernel; a layer
    with any of them runs the explicit softmax (the same numbers to float rounding).

    Args:
        x: (B, L, d) embeddings.
        layers: the weights of each layer, in order.
        attention_mask: (B, L) 1 = token, 0 = padding.
        training: apply dropout.
        head_masks: optional, one per layer: None or an (h_i,) multiplier of that layer's attention probabilities.
        output_hidden_states / output_attention_scores / output_attention_probs: what to return per layer.
        token_counts: optional, one per layer: None (keep every token) or a (B,) integer tensor, the tokens each
            example keeps after that layer's attention (see `select_tokens` for the rule, clamping included).
        restore: with a selection, return `last_hidden_state` and `hidden_states` at the input positions,
            (B, L, d) each, dropped tokens holding their last state (`restore_tokens`), and the input mask as
            `attention_mask`. Without it they cover each layer's kept tokens only. Scores and probabilities
            always cover the tokens each layer saw.

    Raises:
        TokenCountError: token_counts of the wrong length, shape or dtype.
    """
    if token_counts is not None:
        _check_counts(token_counts, len(layers), x.size(0))
    valid = attention_mask.bool()  # (B, L)
    mask = additive_mask(attention_mask, x.dtype)  # (B, 1, 1, L)
    origin: Tensor | None = None  # (B, L_i) positions in the input of the current tokens, -1 at padding
    hidden, scores, probs, kept_indices = [x], list[Tensor](), list[Tensor](), list[Tensor | None]()
    need_probs = output_attention_scores or output_attention_probs
    for i, w in enumerate(layers):
        count = None if token_counts is None else token_counts[i]
        hm = None if head_masks is None else head_masks[i]
        out = layer_forward(
            x, w, mask, valid, training=training, head_mask=hm, need_probs=need_probs, token_count=count
        )
        x = out.hidden  # (B, L_i, d)
        if out.kept is not None:
            origin = out.kept if origin is None else origin.gather(1, out.kept)  # (B, K_i)
            origin = origin.masked_fill(~out.valid, -1)
            valid, mask = out.valid, additive_mask(out.valid, x.dtype)  # (B, K_i), (B, 1, 1, K_i)
        hidden.append(x)
        scores.extend([out.scores] if out.scores is not None else [])
        probs.extend([out.probs] if out.probs is not None else [])
        kept_indices.append(origin)
    mask_out = attention_mask if origin is None else valid.to(attention_mask.dtype)  # (B, L_n)
    if restore and origin is not None and output_hidden_states:
        hidden = [hidden[0], *restore_tokens(hidden, kept_indices)]  # (B, L, d) each
        x, mask_out = hidden[-1], attention_mask
    elif restore and origin is not None:
        x, mask_out = restore_last(hidden, kept_indices), attention_mask  # (B, L, d)
    return EncoderOutput(
        last_hidden_state=x,
        attention_mask=mask_out,
        hidden_states=tuple(hidden) if output_hidden_states else None,
        attention_scores=tuple(scores) if output_attention_scores else None,
        attention_probs=tuple(probs) if output_attention_probs else None,
        kept_indices=tuple(kept_indices) if token_counts is not None else None,
    )
