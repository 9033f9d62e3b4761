"""Per-layer BERT functions over explicit (already sliced) weight tensors.

One code path serves both the sliced supernet (`slice_layer` returns *views* of the HF parameters, so gradients
flow into the kept prefixes only) and a materialised small model (its own, smaller tensors). Nothing here knows
about `Arch`; `models.bert` walks the kept layers.

A layer is split into `attention_block` (self-attention + residual + LayerNorm) and `ffn_block`
(intermediate + output + residual + LayerNorm), with `layer_forward` composing them. LAT token dropping
(drop-and-restore) will gather the kept tokens between the two blocks: the attention output and its
probabilities (for token significance) are both available at that point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "AttentionOutput",
    "LayerOutput",
    "LayerWeights",
    "additive_mask",
    "attention_block",
    "ffn_block",
    "layer_forward",
    "slice_layer",
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
    """Result of `attention_block`; scores/probs are None when not requested (fast SDPA path)."""

    hidden: Tensor  # (B, L, d) after residual + LayerNorm
    scores: Tensor | None  # (B, h, L, L) pre-softmax, after the additive mask
    probs: Tensor | None  # (B, h, L, L) softmax(scores), before dropout and head mask


@dataclass(frozen=True)
class LayerOutput:
    """Result of `layer_forward`."""

    hidden: Tensor  # (B, L_out, d)
    scores: Tensor | None  # (B, h, L_in, L_in)
    mask: Tensor  # (B, 1, 1, L_out) additive mask for the next layer


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


def attention_block(
    x: Tensor,
    w: LayerWeights,
    mask: Tensor,
    *,
    training: bool = False,
    head_mask: Tensor | None = None,
    need_probs: bool = False,
) -> AttentionOutput:
    """Multi-head self-attention, residual and LayerNorm (Vaswani et al. eq. 1; BERT's post-LN layer).

    Args:
        x: (B, L, d) layer input.
        w: the layer's (sliced) weights.
        mask: (B, 1, 1, L) additive mask from `additive_mask`.
        training: apply dropout (attention probabilities and output projection).
        head_mask: optional (h,) multiplier of each head's attention probabilities (Michel et al. 2019; its
            gradient is the DynaBERT head importance).
        need_probs: also return scores and probabilities. Without it and without a head mask the fused
            `scaled_dot_product_attention` kernel runs instead.
    """
    B, L, _ = x.shape
    h, dh = w.num_heads, w.head_dim
    q = F.linear(x, w.q_weight, w.q_bias).view(B, L, h, dh).transpose(1, 2)  # (B, h, L, dh)
    k = F.linear(x, w.k_weight, w.k_bias).view(B, L, h, dh).transpose(1, 2)  # (B, h, L, dh)
    v = F.linear(x, w.v_weight, w.v_bias).view(B, L, h, dh).transpose(1, 2)  # (B, h, L, dh)
    p_drop = w.attn_dropout if training else 0.0
    scores = probs = None
    if need_probs or head_mask is not None:
        scores = torch.matmul(q, k.transpose(-1, -2)) * dh**-0.5 + mask  # (B, h, L, L)
        probs = scores.softmax(dim=-1)  # (B, h, L, L)
        weights = F.dropout(probs, p=p_drop, training=training)
        if head_mask is not None:
            weights = weights * head_mask.view(1, h, 1, 1)
        context = torch.matmul(weights, v)  # (B, h, L, dh)
    else:
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p_drop, scale=dh**-0.5)
    context = context.transpose(1, 2).reshape(B, L, h * dh)  # (B, L, h*dh)
    out = F.dropout(
        F.linear(context, w.attn_out_weight, w.attn_out_bias), p=w.hidden_dropout, training=training
    )
    hidden = F.layer_norm(
        out + x, x.shape[-1:], w.attn_ln_weight, w.attn_ln_bias, w.layer_norm_eps
    )  # (B, L, d)
    return AttentionOutput(hidden, scores, probs)


def ffn_block(x: Tensor, w: LayerWeights, *, training: bool = False) -> Tensor:
    """Position-wise FFN, residual and LayerNorm: LN(x + W2 act(W1 x + b1) + b2). x: (B, L, d) -> (B, L, d)."""
    inner = w.activation(F.linear(x, w.ffn_in_weight, w.ffn_in_bias))  # (B, L, f)
    out = F.dropout(F.linear(inner, w.ffn_out_weight, w.ffn_out_bias), p=w.hidden_dropout, training=training)
    return F.layer_norm(out + x, x.shape[-1:], w.ffn_ln_weight, w.ffn_ln_bias, w.layer_norm_eps)  # (B, L, d)


def layer_forward(
    x: Tensor,
    w: LayerWeights,
    mask: Tensor,
    *,
    training: bool = False,
    head_mask: Tensor | None = None,
    need_scores: bool = False,
    keep_tokens: int | None = None,
) -> LayerOutput:
    """One BERT layer: `attention_block` then `ffn_block`.

    Args:
        x: (B, L, d) input; mask: (B, 1, 1, L) additive mask.
        w: the layer's (sliced) weights.
        training: apply dropout.
        head_mask: optional (h,) per-head multiplier of the attention probabilities.
        need_scores: return the pre-softmax scores (for attention distillation).
        keep_tokens: LAT length reduction, the number of tokens to keep after this layer's attention. Not
            implemented yet: it will select tokens by significance (attention probabilities summed over heads
            and queries, [CLS] always kept), gather them from the attention output and the mask, then run
            the FFN on the kept tokens only.

    Returns:
        `LayerOutput` with the new hidden states, scores (if requested) and the mask for the next layer.
    """
    if keep_tokens is not None:
        raise NotImplementedError(
            "token dropping (Arch.tokens) is not implemented in the elastic forward yet; use tokens=None"
        )
    att = attention_block(x, w, mask, training=training, head_mask=head_mask, need_probs=need_scores)
    return LayerOutput(ffn_block(att.hidden, w, training=training), att.scores, mask)
