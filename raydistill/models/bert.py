"""Elastic BERT: run any `Arch` (width, depth, length) over the parameters of a standard HF BERT model.

No forked `modeling_bert.py`: the HF model keeps its own modules and state-dict names; `elastic_forward` reuses
the embeddings module as is, runs the kept layers through `models.elastic.encoder_forward` (the stack the
exported `hf_subnet` models run too) with prefix-sliced weights (DynaBERT width slicing), and applies the model's
own pooler/classifier or QA head. At the full Arch the logits equal `transformers`' forward (tested to 1e-5).

Supported models: `BertForSequenceClassification` (classification, regression), `BertForQuestionAnswering`
and `BertModel` (no head; `logits` is None), optionally wrapped in `ElasticBert` and/or DDP.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import BertForQuestionAnswering, BertForSequenceClassification, BertModel

from raydistill.errors import ModelError
from raydistill.models.arch import Arch
from raydistill.models.elastic import EncoderOutput, TokenCountError, encoder_forward, slice_layer
from raydistill.models.token_selection import counts_for_config

__all__ = [
    "ElasticBert",
    "ElasticOutput",
    "base_bert",
    "elastic_forward",
    "head_kind",
    "task_loss",
    "unwrap_model",
]

_INPUT_KEYS = ("input_ids", "attention_mask", "token_type_ids")
_LABEL_KEYS = ("labels", "start_positions", "end_positions")


@dataclass(kw_only=True)
class ElasticOutput(EncoderOutput):
    """What `elastic_forward` returns: the `EncoderOutput` of the kept layers (last hidden state, its mask and,
    on request, hidden states, attention scores, attention probabilities, kept token indices) plus the head's.

    Attributes:
        logits: (B, C) for classification/regression; (start_logits, end_logits), each (B, L), for QA (each
            (B, L_n) on the kept tokens with `restore_tokens=False`, see `kept_indices`); None for a bare
            `BertModel`.
        embeddings: (B, L, d) output of the embeddings module (after its LayerNorm and dropout).
        pooled_output: (B, d) pooler output when the model has a pooler.
    """

    logits: Tensor | tuple[Tensor, Tensor] | None
    embeddings: Tensor
    pooled_output: Tensor | None = None


def unwrap_model(model: nn.Module) -> Any:
    """Strip `ElasticBert` (`.model`) and DDP/DataParallel (`.module`) wrappers down to the HF model."""
    inner: Any = model
    while True:
        if isinstance(inner, ElasticBert):
            inner = inner.model
        elif isinstance(getattr(inner, "module", None), nn.Module):
            inner = inner.module
        else:
            return inner


def head_kind(model: nn.Module) -> str:
    """'classification', 'qa' or 'none' (bare `BertModel`) for a supported (possibly wrapped) model."""
    model = unwrap_model(model)
    if isinstance(model, BertForSequenceClassification):
        return "classification"
    if isinstance(model, BertForQuestionAnswering):
        return "qa"
    if isinstance(model, BertModel):
        return "none"
    raise ModelError(
        f"elastic BERT got a {type(model).__name__}; supported: BertForSequenceClassification, "
        "BertForQuestionAnswering, BertModel (load the checkpoint with one of these classes)"
    )


def base_bert(model: nn.Module) -> BertModel:
    """The `BertModel` inside a supported (possibly wrapped) model."""
    hf = unwrap_model(model)
    return hf if head_kind(hf) == "none" else hf.bert


def elastic_forward(
    model: nn.Module,
    arch: Arch,
    input_ids: Tensor,
    attention_mask: Tensor | None = None,
    token_type_ids: Tensor | None = None,
    *,
    head_mask: Tensor | None = None,
    output_hidden_states: bool = False,
    output_attention_scores: bool = False,
    output_attention_probs: bool = False,
    token_counts: Sequence[Tensor | None] | None = None,
    restore_tokens: bool = True,
) -> ElasticOutput:
    """Forward the sub-network `arch` of `model` (DynaBERT width/depth slicing, LAT length reduction).

    Dropout follows `model.training`, so the same call trains the supernet and evaluates sub-networks.

    Args:
        model: a supported HF BERT, or one wrapped in `ElasticBert`/DDP (see `ElasticBert` for DDP use).
        arch: the sub-network; validated against the model's config (`ArchError` if it does not fit).
        input_ids: (B, L) token ids; attention_mask: (B, L) 1 = token, 0 = padding (default all ones);
            token_type_ids: (B, L) segment ids (default zeros).
        head_mask: optional (num_layers, num_heads) of the FULL model; row `arch.layers[i]`, first
            `arch.heads[i]` entries multiply the kept heads' attention probabilities (used for importance).
        output_hidden_states: also return embeddings + every kept layer's output.
        output_attention_scores: also return the pre-softmax attention scores of every kept layer.
        output_attention_probs: also return the attention probabilities of every kept layer.
        token_counts: optional token selection, one entry per KEPT layer: None or a (B,) integer tensor of the
            tokens each example keeps after that layer's attention (`models.elastic.select_tokens`). The explicit
            hook; an Arch with `tokens` sets it itself (count = `token_rule.kept_token_count(tokens[i], n_b)` for
            each example's real length n_b), so give one or the other.
        restore_tokens: with a selection, drop-and-restore: `last_hidden_state`, `hidden_states` and QA logits
            cover every input position, (B, L, ...), a dropped token holding its state from the last layer that
            kept it (`models.elastic.restore_tokens`). False: they cover the kept tokens only (QA logits then
            follow `kept_indices[-1]`). Classification reads [CLS], which is always kept, either way.

    Raises:
        ArchError: `arch` does not fit the model. ModelError: both `arch.tokens` and `token_counts` given, or
            token counts of the wrong shape.
    """
    hf = unwrap_model(model)
    kind = head_kind(hf)
    bert = base_bert(hf)
    arch.validate_for(bert.config)
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    x = bert.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)  # (B, L, d)
    kept = list(zip(arch.layers, arch.heads, arch.ffn, strict=True))
    try:  # Arch.tokens selects tokens per example (`token_rule`), else the explicit token_counts
        counts = counts_for_config(
            arch.tokens, attention_mask, token_counts, bert.config.max_position_embeddings
        )
        enc = encoder_forward(
            x,
            [slice_layer(bert.encoder.layer[idx], heads, ffn) for idx, heads, ffn in kept],
            attention_mask,
            training=hf.training,
            head_masks=None if head_mask is None else [head_mask[idx, :heads] for idx, heads, _ in kept],
            output_hidden_states=output_hidden_states,
            output_attention_scores=output_attention_scores,
            output_attention_probs=output_attention_probs,
            token_counts=counts,
            restore=restore_tokens,
        )
    except TokenCountError as exc:
        raise ModelError(f"elastic_forward for Arch {arch.id}: {exc}") from exc
    logits, pooled = _apply_head(hf, kind, bert, enc.last_hidden_state)
    return ElasticOutput(**vars(enc), logits=logits, embeddings=x, pooled_output=pooled)


def _apply_head(
    hf: Any, kind: str, bert: BertModel, x: Tensor
) -> tuple[Tensor | tuple[Tensor, Tensor] | None, Tensor | None]:
    """The model's own task head on the last hidden state x (B, L, d) -> (logits, pooled output)."""
    pooled = bert.pooler(x) if bert.pooler is not None else None  # (B, d): tanh(W h_[CLS] + b)
    if kind == "classification":
        logits = hf.classifier(hf.dropout(pooled))  # (B, C)
        return logits, pooled
    if kind == "qa":
        start, end = hf.qa_outputs(x).unbind(dim=-1)  # (B, L) each
        return (start.contiguous(), end.contiguous()), pooled
    return None, pooled


def logits_task_loss(logits: Any, batch: Mapping[str, Tensor], kind: str) -> Tensor:
    """The task loss of a head's logits (BERT sec. 4): cross-entropy on `labels` for (B, C) classification
    logits, MSE for (B, 1) regression outputs, and for QA's ((B, L) start, (B, L) end) pair the mean of start and
    end cross-entropy on `start_positions`/`end_positions` (positions outside the sequence ignored, as in HF)."""
    if kind == "qa":
        start, end = logits
        ignored = start.size(1)
        losses = [
            F.cross_entropy(lg, batch[key].view(-1).clamp(0, ignored), ignore_index=ignored)
            for lg, key in ((start, "start_positions"), (end, "end_positions"))
        ]
        return (losses[0] + losses[1]) / 2
    labels = batch["labels"].view(-1)  # (B,)
    if kind == "regression":
        return F.mse_loss(logits.squeeze(-1), labels.to(logits.dtype))  # (B, 1) -> (B,)
    return F.cross_entropy(logits, labels)  # (B, C) vs (B,)


def task_loss(model: nn.Module, output: ElasticOutput, batch: Mapping[str, Tensor]) -> Tensor:
    """The task loss HF would compute for this head from the batch labels.

    Classification: cross-entropy on `labels` (BCE-with-logits if `problem_type` is multi-label); regression
    (`num_labels == 1`): MSE; QA: mean of start and end cross-entropy on `start_positions`/`end_positions`
    (positions outside the sequence ignored, as in HF). See `logits_task_loss`.
    """
    hf = unwrap_model(model)
    kind = head_kind(hf)
    if kind == "qa" and isinstance(output.logits, tuple):
        return logits_task_loss(output.logits, batch, "qa")
    logits, labels = output.logits, batch.get("labels")
    if kind != "classification" or not isinstance(logits, Tensor) or labels is None:
        raise ModelError(
            f"task_loss needs a classification/QA model and its labels (got a {kind!r} head, batch keys "
            f"{sorted(batch)}); for a bare BertModel pass your own loss_fn"
        )
    if hf.config.num_labels == 1 or hf.config.problem_type == "regression":
        return logits_task_loss(logits, batch, "regression")
    if hf.config.problem_type == "multi_label_classification":
        return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
    return logits_task_loss(logits, batch, "classification")


class ElasticBert(nn.Module):
    """`nn.Module` wrapper so an elastic forward can be the module's `forward` (for DDP and hooks).

    Wrap *this* in DDP, not the inner model: DDP's gradient synchronisation runs only through the wrapper's
    `forward`. Depth-reduced Archs leave whole layers without gradients, so either pass
    `find_unused_parameters=True` or make the last (synchronising, outside `no_sync()`) backward of each step a
    full-depth sub-network. Width slicing alone leaves no parameter unused (pruned slices get zero gradients).

    Attributes:
        model: the HF model; its state dict is the ElasticBert's under the `model.` prefix.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        head_kind(model)  # fail early on unsupported models
        self.model = unwrap_model(model)

    @property
    def config(self) -> Any:
        """The HF config of the wrapped model."""
        return self.model.config

    @property
    def full_arch(self) -> Arch:
        """The Arch of the whole model."""
        return Arch.for_config(self.config)

    def forward(  # type: ignore[override]
        self,
        arch: Arch,
        *,
        head_mask: Tensor | None = None,
        output_hidden_states: bool = False,
        output_attention_scores: bool = False,
        output_attention_probs: bool = False,
        token_counts: Sequence[Tensor | None] | None = None,
        restore_tokens: bool = True,
        **batch: Tensor,
    ) -> ElasticOutput:
        """`elastic_forward` on a batch dict (input_ids, attention_mask, token_type_ids; label keys ignored)."""
        unknown = set(batch) - set(_INPUT_KEYS) - set(_LABEL_KEYS)
        if unknown or "input_ids" not in batch:
            raise ModelError(
                f"ElasticBert.forward got batch keys {sorted(batch)}; expected input_ids and optionally "
                f"{', '.join(_INPUT_KEYS[1:] + _LABEL_KEYS)}"
            )
        return elastic_forward(
            self.model,
            arch,
            batch["input_ids"],
            batch.get("attention_mask"),
            batch.get("token_type_ids"),
            head_mask=head_mask,
            output_hidden_states=output_hidden_states,
            output_attention_scores=output_attention_scores,
            output_attention_probs=output_attention_probs,
            token_counts=token_counts,
            restore_tokens=restore_tokens,
        )
