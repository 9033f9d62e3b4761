"""Analytic cost of an `Arch`: multiply-accumulates (MACs), FLOPs (= 2 x MACs) and parameter counts.

Counted (batch 1, n tokens, hidden d, head size dh, h kept heads, f kept FFN neurons, C labels), per kept layer
with n_in tokens entering and n_out leaving (n_out < n_in only for token-dropping Archs; LAT drops tokens after
the attention output, before the FFN; n_out = `Arch.token_counts(n)`, the rounding rule of `models.token_rule`
that the elastic forward and the exported models apply to each example's real length, and the next layer's
n_in is the previous n_out):
    Q, K, V projections   3 * n_in * d * (h*dh)
    attention scores      n_in^2 * h * dh          (Q K^T)
    attention context     n_in^2 * h * dh          (P V)
    attention output      n_in * (h*dh) * d
    FFN                   2 * n_out * d * f        (intermediate + output dense)
and the task head: pooler d^2 + classifier d*C on [CLS] ("classification"), or n*d*2 ("qa", on all n tokens:
dropped tokens are restored before the QA head). For the full layer this is LAT's
4 n d^2 + 2 n^2 d + 2 n d d_ff (BERT-base at 384 tokens: 35.3 GMACs).

Excluded (not matrix multiplications, a few % at most): embedding lookups and their adds/LayerNorm, biases,
softmax, scaling, GELU, LayerNorms, residual adds, dropout, tanh. The count therefore equals what
`torch.utils.flop_counter.FlopCounterMode` reports for the elastic forward (it counts matmuls only), which the
tests check. Always say MACs or FLOPs explicitly: FLOPs = 2 x MACs here and everywhere in raydistill.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from raydistill.errors import ModelError
from raydistill.models.arch import Arch

__all__ = ["FlopsBreakdown", "count_flops", "flops_per_example", "flops_ratio", "params", "teacher_flops"]

Head = Literal["classification", "qa"]
_HEADS = ("classification", "qa")


@dataclass(frozen=True)
class FlopsBreakdown:
    """MACs per part of the network (batch 1) for one Arch at one sequence length."""

    seq_len: int
    head: str
    qkv_macs: int
    scores_macs: int
    context_macs: int
    attn_out_macs: int
    ffn_macs: int
    pooler_macs: int
    head_macs: int
    per_layer_macs: tuple[int, ...]  # encoder MACs of each kept layer
    embeddings_macs: int = 0  # lookups + LayerNorm: excluded (no matmul)

    @property
    def encoder_macs(self) -> int:
        """MACs of the transformer layers only."""
        return self.qkv_macs + self.scores_macs + self.context_macs + self.attn_out_macs + self.ffn_macs

    @property
    def fixed_macs(self) -> int:
        """MACs outside the transformer layers (embeddings, pooler, task head): the same for every sub-network,
        so FLOPs budgets treat them as a fixed cost (`results.pareto.budget_limit`)."""
        return self.embeddings_macs + self.pooler_macs + self.head_macs

    @property
    def macs(self) -> int:
        """Total multiply-accumulates (all matmuls: encoder + pooler + task head)."""
        return self.encoder_macs + self.fixed_macs

    @property
    def flops(self) -> int:
        """Total floating-point operations, 2 x `macs`."""
        return 2 * self.macs

    def as_dict(self) -> dict[str, Any]:
        """Every part plus the totals (`macs`, `flops`, `encoder_macs`, `fixed_macs`), JSON-able."""
        out = asdict(self)
        out["per_layer_macs"] = list(self.per_layer_macs)
        out.update(
            encoder_macs=self.encoder_macs, fixed_macs=self.fixed_macs, macs=self.macs, flops=self.flops
        )
        return out


def _check_head(head: str) -> None:
    if head not in _HEADS:
        raise ModelError(f"FLOPs head {head!r} is unknown; use one of {', '.join(_HEADS)}")


def count_flops(
    arch: Arch, config: Any, seq_len: int, num_labels: int = 2, head: Head = "classification"
) -> FlopsBreakdown:
    """Analytic MACs/FLOPs of `arch` on one sequence of `seq_len` tokens (formulas in the module docstring).

    Args:
        arch: the sub-network (validated against `config`).
        config: a `BertConfig` (hidden_size, num_attention_heads, ...).
        seq_len: input length n (the padded length, as LAT counts).
        num_labels: classifier outputs C (ignored for "qa").
        head: "classification" (pooler + classifier) or "qa" (span start/end head).
    """
    _check_head(head)
    arch.validate_for(config)
    d = config.hidden_size
    dh = d // config.num_attention_heads
    outs = arch.token_counts(seq_len) or (seq_len,) * arch.num_layers
    ins = (seq_len, *outs[:-1])
    parts = {"qkv": 0, "scores": 0, "context": 0, "attn_out": 0, "ffn": 0}
    per_layer = []
    for n_in, n_out, h, f in zip(ins, outs, arch.heads, arch.ffn, strict=True):
        layer = {
            "qkv": 3 * n_in * d * h * dh,
            "scores": n_in * n_in * h * dh,
            "context": n_in * n_in * h * dh,
            "attn_out": n_in * h * dh * d,
            "ffn": 2 * n_out * d * f,
        }
        per_layer.append(sum(layer.values()))
        for k, v in layer.items():
            parts[k] += v
    pooler, task = (d * d, d * num_labels) if head == "classification" else (0, seq_len * d * 2)
    return FlopsBreakdown(
        seq_len=seq_len,
        head=head,
        qkv_macs=parts["qkv"],
        scores_macs=parts["scores"],
        context_macs=parts["context"],
        attn_out_macs=parts["attn_out"],
        ffn_macs=parts["ffn"],
        pooler_macs=pooler,
        head_macs=task,
        per_layer_macs=tuple(per_layer),
    )


def flops_per_example(
    arch: Arch,
    config: Any,
    lengths: Sequence[int],
    num_labels: int = 2,
    head: Head = "classification",
) -> list[FlopsBreakdown]:
    """`count_flops` of `arch` at each example's real (unpadded) length: what a dynamically padded (or unpadded)
    run costs, example by example, the way the forward selects tokens (per example, from its real length).

    Pricing the full model the same way gives the dynamic-padding reference, so a token-dropping Arch is
    credited only for what it saves beyond padding removal (LAT priced every GLUE example at the padded 128).

    Args:
        arch, config, num_labels, head: as in `count_flops`.
        lengths: real length of each example (tokens with attention mask 1), each >= 1.
    """
    if any(int(n) < 1 for n in lengths):
        raise ModelError(
            f"flops_per_example got a length below 1 (min {min(int(n) for n in lengths)}); give each example's "
            "real token count, e.g. attention_mask.sum(-1), which is at least 1"
        )
    priced = {n: count_flops(arch, config, n, num_labels, head) for n in sorted({int(n) for n in lengths})}
    return [priced[int(n)] for n in lengths]


def teacher_flops(
    config: Any, seq_len: int, num_labels: int = 2, head: Head = "classification"
) -> FlopsBreakdown:
    """`count_flops` of the full model described by `config`."""
    return count_flops(Arch.for_config(config), config, seq_len, num_labels, head)


def flops_ratio(
    arch: Arch,
    full_arch: Arch | None,
    config: Any,
    seq_len: int,
    num_labels: int = 2,
    head: Head = "classification",
) -> float:
    """MACs of `arch` / MACs of `full_arch` (None = the full model of `config`) at the same length and head."""
    full = full_arch if full_arch is not None else Arch.for_config(config)
    return (
        count_flops(arch, config, seq_len, num_labels, head).macs
        / count_flops(full, config, seq_len, num_labels, head).macs
    )


def params(arch: Arch, config: Any, num_labels: int = 2, head: Head = "classification") -> int:
    """Parameters of the materialised sub-network (weights + biases + LayerNorms), embeddings included.

    Embeddings: (vocab + max_positions + type_vocab) * d + LayerNorm 2d. Per kept layer: Q/K/V 3 (d+1) h dh,
    attention output h dh d + d, two LayerNorms 4d, FFN (d+1) f + f d + d. Head: pooler d^2 + d and classifier
    (d+1) C, or QA (d+1) * 2.
    """
    _check_head(head)
    arch.validate_for(config)
    d = config.hidden_size
    dh = d // config.num_attention_heads
    total = (config.vocab_size + config.max_position_embeddings + config.type_vocab_size) * d + 2 * d
    for h, f in zip(arch.heads, arch.ffn, strict=True):
        total += 3 * (d + 1) * h * dh + (h * dh * d + d) + 4 * d + (d + 1) * f + (f * d + d)
    total += (d * d + d) + (d + 1) * num_labels if head == "classification" else (d + 1) * 2
    return total
