"""A materialised BERT sub-network as a Hugging Face model of its own (`model_type="raydistill_bert"`).

transformers has no per-layer head counts (and transformers 5 dropped head pruning), so an exported DynaBERT/OFA
sub-network needs its own config and classes. Loading it with a plain `BertConfig` would build full-size Q/K/V
and make `from_pretrained` re-initialise every mismatched tensor: the constant-logits failure of PaddleNLP #1466.
Here each layer is built at its own width from `layer_heads`/`layer_ffn`, and a mismatch is a load error.

The model holds only the kept weights, at their sliced shapes, under BERT's state-dict names with the kept layers
renumbered 0..n-1 (`bert.encoder.layer.0.attention.self.query.weight` is (h_0*dh, d)). Its forward has no
attention code of its own: each layer hands its parameters to `models.elastic.slice_layer` (at full width, so the
"slices" are the whole tensors) and the encoder runs `models.elastic.encoder_forward`, the stack the supernet
trains with. Embeddings, pooler and task heads are HF's own `BertEmbeddings`/`BertPooler`/`nn.Linear`.

Outputs follow HF (`hidden_states` start with the embeddings, `attentions` are softmax probabilities, the
`output_*` flags default to the config's) and add `attention_scores` (pre-softmax, with
`output_attention_scores=True`) and `kept_indices` (with a token selection; see `elastic.encoder_forward`).

Length-configured (LAT) sub-networks: with `layer_tokens`, each example keeps `token_rule.kept_token_count(
layer_tokens[i], n_b)` tokens after layer i (n_b its real length; the supernet's and the FLOPs' rule) and the
dropped tokens are restored after the last layer (`token_selection`): outputs cover every input position.

Config fields beyond `BertConfig` (num_attention_heads/intermediate_size keep the *source* model's values, which
fix the head size dh = hidden_size / num_attention_heads):
    layer_heads:   heads kept in each of the num_hidden_layers layers.
    layer_ffn:     FFN neurons kept in each layer.
    layer_tokens:  None (keep every token) or the cumulative fraction of the input kept after each layer
                   (`Arch.tokens`): non-increasing, in (0, 1].
    source_arch:   the `Arch` JSON the model was cut from (`Arch.from_json`).
    source_layers: the source-model layer each layer came from (= Arch.layers).

`auto_classes.register_auto_classes()` makes `AutoConfig`/`AutoModel*` resolve the model type; `import raydistill`
arranges it.

Shipped with every `raydistill_bert` export: this file, `elastic.py`, `token_selection.py` and `token_rule.py`
import only torch, transformers and huggingface_hub (the layer code and the rule by relative imports), and the
classes are registered for the Auto classes (`register_for_auto_class`), so `save_pretrained` copies these files
verbatim next to the weights (relative imports included) and writes `auto_map` into config.json.
`AutoModelForSequenceClassification.from_pretrained(dir, trust_remote_code=True)` then runs this very code
without raydistill installed. Keep it that way: no `raydistill` import in any of them (a test loads an export in
a process where raydistill cannot be imported).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

import torch
from huggingface_hub.dataclasses import strict
from torch import Tensor, nn
from transformers import BertConfig
from transformers.modeling_outputs import (
    BaseModelOutputWithPooling,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
)
from transformers.models.bert.modeling_bert import (
    BertEmbeddings,
    BertIntermediate,
    BertOutput,
    BertPooler,
    BertPreTrainedModel,
)

from .elastic import LayerWeights, TokenCountError, encoder_forward, slice_layer
from .token_rule import fractions_problem
from .token_selection import counts_for_config

__all__ = [
    "MODEL_TYPE",
    "SUBNET_CLASSES",
    "SubnetBertConfig",
    "SubnetBertForQuestionAnswering",
    "SubnetBertForSequenceClassification",
    "SubnetBertModel",
    "SubnetClassifierOutput",
    "SubnetError",
    "SubnetModel",
    "SubnetModelOutput",
    "SubnetQAOutput",
]

MODEL_TYPE = "raydistill_bert"


class SubnetError(Exception):
    """A `raydistill_bert` config or call this model does not support (raydistill reports it as a ModelError).

    Not a ValueError, so the strict config validation passes it on unwrapped."""


@dataclass
class SubnetModelOutput(BaseModelOutputWithPooling):
    """HF's base-model output plus `attention_scores` (per layer, pre-softmax) and `kept_indices` (per layer,
    positions in the input of the tokens kept; see `elastic.EncoderOutput`)."""

    attention_scores: tuple[Tensor, ...] | None = None
    kept_indices: tuple[Tensor | None, ...] | None = None


@dataclass
class SubnetClassifierOutput(SequenceClassifierOutput):
    """HF's classifier output plus the fields of `SubnetModelOutput`."""

    attention_scores: tuple[Tensor, ...] | None = None
    kept_indices: tuple[Tensor | None, ...] | None = None


@dataclass
class SubnetQAOutput(QuestionAnsweringModelOutput):
    """HF's span output plus the fields of `SubnetModelOutput`."""

    attention_scores: tuple[Tensor, ...] | None = None
    kept_indices: tuple[Tensor | None, ...] | None = None


@strict
class SubnetBertConfig(BertConfig):
    """`BertConfig` plus per-layer widths (see the module docstring). Missing widths default to full layers."""

    model_type = MODEL_TYPE
    layer_heads: list[int] | None = None
    layer_ffn: list[int] | None = None
    layer_tokens: list[float] | None = None
    source_arch: str | None = None
    source_layers: list[int] | None = None

    def __post_init__(self, **kwargs: Any) -> None:
        n = self.num_hidden_layers
        if self.layer_heads is None:
            self.layer_heads = [self.num_attention_heads] * n
        if self.layer_ffn is None:
            self.layer_ffn = [self.intermediate_size] * n
        if self.source_layers is None:
            self.source_layers = list(range(n))
        super().__post_init__(**kwargs)

    def validate_architecture(self) -> None:
        """Per-layer widths: one per layer, each in 1..num_attention_heads / 1..intermediate_size."""
        super().validate_architecture()
        n = self.num_hidden_layers
        limits = {"layer_heads": self.num_attention_heads, "layer_ffn": self.intermediate_size}
        for name, limit in limits.items():
            values = list(getattr(self, name) or [])
            if len(values) != n or not all(1 <= v <= limit for v in values):
                raise SubnetError(
                    f"{MODEL_TYPE} config: {name}={values} must list {n} values (one per layer) in 1..{limit}"
                )
        problem = None if self.layer_tokens is None else fractions_problem(self.layer_tokens, n)
        if problem is not None:
            raise SubnetError(f"{MODEL_TYPE} config: layer_tokens={self.layer_tokens} {problem} (or null)")


def _layer_parts(config: SubnetBertConfig, ffn: int) -> SimpleNamespace:
    """The fields HF's `BertIntermediate`/`BertOutput` read, with this layer's FFN width."""
    return SimpleNamespace(
        hidden_size=config.hidden_size,
        intermediate_size=ffn,
        hidden_act=config.hidden_act,
        layer_norm_eps=config.layer_norm_eps,
        hidden_dropout_prob=config.hidden_dropout_prob,
    )


class _SelfAttention(nn.Module):
    """Q/K/V projections of `heads` heads of size dh: (d -> heads*dh) each."""

    def __init__(self, config: SubnetBertConfig, heads: int) -> None:
        super().__init__()
        self.attention_head_size = config.hidden_size // config.num_attention_heads
        width = heads * self.attention_head_size
        self.query = nn.Linear(config.hidden_size, width)
        self.key = nn.Linear(config.hidden_size, width)
        self.value = nn.Linear(config.hidden_size, width)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)


class _SelfOutput(nn.Module):
    """Attention output projection (heads*dh -> d), LayerNorm and dropout."""

    def __init__(self, config: SubnetBertConfig, heads: int) -> None:
        super().__init__()
        width = heads * (config.hidden_size // config.num_attention_heads)
        self.dense = nn.Linear(width, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)


class _Attention(nn.Module):
    def __init__(self, config: SubnetBertConfig, heads: int) -> None:
        super().__init__()
        self.self = _SelfAttention(config, heads)
        self.output = _SelfOutput(config, heads)


class SubnetBertLayer(nn.Module):
    """One BERT layer at its own width, laid out like HF's `BertLayer` so `slice_layer` can read it."""

    def __init__(self, config: SubnetBertConfig, heads: int, ffn: int) -> None:
        super().__init__()
        self.num_heads, self.ffn = heads, ffn
        self.attention = _Attention(config, heads)
        self.intermediate = BertIntermediate(_layer_parts(config, ffn))
        self.output = BertOutput(_layer_parts(config, ffn))

    def weights(self) -> LayerWeights:
        """This layer's parameters as `LayerWeights` (whole tensors: the prefix slices cover them fully)."""
        return slice_layer(self, self.num_heads, self.ffn)


class _Encoder(nn.Module):
    def __init__(self, config: SubnetBertConfig) -> None:
        super().__init__()
        widths = zip(config.layer_heads or [], config.layer_ffn or [], strict=True)
        self.layer = nn.ModuleList(SubnetBertLayer(config, h, f) for h, f in widths)

    def weights(self) -> list[LayerWeights]:
        """`LayerWeights` of every layer, in order."""
        return [cast(SubnetBertLayer, layer).weights() for layer in self.layer]


class SubnetBertPreTrainedModel(BertPreTrainedModel):
    """Weight init and loading from `BertPreTrainedModel` (its `_init_weights` also fills the embeddings' buffers)."""

    config_class = SubnetBertConfig
    config: SubnetBertConfig
    base_model_prefix = "bert"
    supports_gradient_checkpointing = False
    _supports_flash_attn = False
    _supports_flex_attn = False
    _supports_attention_backend = False
    _can_record_outputs: dict[str, Any] = {}  # HF class attribute: no output hooks


def _check_supported(kwargs: dict[str, Any], cls_name: str) -> None:
    """Refuse inputs the exported model does not implement instead of silently ignoring them."""
    given = sorted(k for k, v in kwargs.items() if v is not None and not (k == "return_dict" and v))
    if given:
        raise SubnetError(
            f"{cls_name}.forward got {given}; it supports input_ids, attention_mask, token_type_ids, "
            "output_hidden_states, output_attentions, output_attention_scores, token_counts and restore_tokens "
            "(return_dict=False is not supported either)"
        )


def _no_labels(labels: Tensor | None, cls_name: str) -> None:
    if labels is not None:
        raise SubnetError(
            f"{cls_name} is an exported inference model and computes no loss; call it without labels and "
            "apply your loss to the returned logits (or train the supernet with raydistill)"
        )


class SubnetBertModel(SubnetBertPreTrainedModel):
    """The encoder: `BertEmbeddings` -> per-layer `elastic.layer_forward` -> `BertPooler`."""

    def __init__(self, config: SubnetBertConfig, add_pooling_layer: bool = True) -> None:
        super().__init__(config)
        self.embeddings = BertEmbeddings(config)
        self.encoder = _Encoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.embeddings.word_embeddings = value

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        *,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        output_attention_scores: bool = False,
        token_counts: Sequence[Tensor | None] | None = None,
        restore_tokens: bool = True,
        **unsupported: Any,
    ) -> SubnetModelOutput:
        """Same contract as `BertModel.forward` for these arguments (hidden_states start with the embeddings;
        attentions are softmax probabilities, (B, h_i, L_i, L_i) per layer), plus the pre-softmax scores and
        the token selection: the config's `layer_tokens` (module docstring) or, for a model without them, an
        explicit `token_counts`, one entry per layer, None or (B,) tokens each example keeps after that layer's
        attention (`elastic.select_tokens`). With a selection, `restore_tokens` puts the dropped tokens back
        (`elastic.restore_tokens`); False leaves outputs on the kept tokens only."""
        _check_supported(unsupported, type(self).__name__)
        x = self.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)  # (B, L, d)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        config = self.config
        want_hidden = config.output_hidden_states if output_hidden_states is None else output_hidden_states
        want_probs = config.output_attentions if output_attentions is None else output_attentions
        try:  # the config's length configuration selects tokens per example (`token_rule`)
            counts = counts_for_config(
                config.layer_tokens, attention_mask, token_counts, config.max_position_embeddings
            )
            enc = encoder_forward(
                x,
                self.encoder.weights(),
                attention_mask,
                training=self.training,
                output_hidden_states=bool(want_hidden),
                output_attention_scores=output_attention_scores,
                output_attention_probs=bool(want_probs),
                token_counts=counts,
                restore=restore_tokens,
            )
        except TokenCountError as exc:
            raise SubnetError(f"{type(self).__name__}.forward: {exc}") from exc
        return SubnetModelOutput(
            last_hidden_state=enc.last_hidden_state,  # (B, L_n, d)
            pooler_output=self.pooler(enc.last_hidden_state) if self.pooler is not None else None,  # (B, d)
            hidden_states=enc.hidden_states,
            attentions=enc.attention_probs,
            attention_scores=enc.attention_scores,
            kept_indices=enc.kept_indices,
        )


class SubnetBertForSequenceClassification(SubnetBertPreTrainedModel):
    """Pooler -> dropout -> classifier (B, num_labels), as HF's `BertForSequenceClassification`."""

    def __init__(self, config: SubnetBertConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = SubnetBertModel(config)
        p = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(p)
        self.classifier = nn.Linear(config.hidden_size, int(config.num_labels or 0))
        self.post_init()

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        labels: Tensor | None = None,
        **kwargs: Any,
    ) -> SubnetClassifierOutput:
        _no_labels(labels, type(self).__name__)
        out = self.bert(input_ids, attention_mask, token_type_ids, **kwargs)
        logits = self.classifier(self.dropout(out.pooler_output))  # (B, C)
        return SubnetClassifierOutput(
            logits=logits,
            hidden_states=out.hidden_states,
            attentions=out.attentions,
            attention_scores=out.attention_scores,
            kept_indices=out.kept_indices,
        )


class SubnetBertForQuestionAnswering(SubnetBertPreTrainedModel):
    """Span head on every token: qa_outputs (d -> 2) split into start/end logits (B, L)."""

    def __init__(self, config: SubnetBertConfig) -> None:
        super().__init__(config)
        self.bert = SubnetBertModel(config, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(config.hidden_size, 2)
        self.post_init()

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        start_positions: Tensor | None = None,
        end_positions: Tensor | None = None,
        **kwargs: Any,
    ) -> SubnetQAOutput:
        _no_labels(start_positions if start_positions is not None else end_positions, type(self).__name__)
        out = self.bert(input_ids, attention_mask, token_type_ids, **kwargs)
        start, end = self.qa_outputs(out.last_hidden_state).unbind(dim=-1)  # (B, L) each
        return SubnetQAOutput(
            start_logits=start.contiguous(),  # (B, L); (B, L_n) on the kept tokens with restore_tokens=False
            end_logits=end.contiguous(),
            hidden_states=out.hidden_states,
            attentions=out.attentions,
            attention_scores=out.attention_scores,
            kept_indices=out.kept_indices,
        )


SubnetModel = SubnetBertForSequenceClassification | SubnetBertForQuestionAnswering
SUBNET_CLASSES: dict[str, type[SubnetBertPreTrainedModel]] = {
    "classification": SubnetBertForSequenceClassification,
    "qa": SubnetBertForQuestionAnswering,
}


# `save_pretrained` ships this module (and its relative imports) and writes `auto_map` (module docstring)
SubnetBertConfig.register_for_auto_class()
SubnetBertModel.register_for_auto_class("AutoModel")
SubnetBertForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")
SubnetBertForQuestionAnswering.register_for_auto_class("AutoModelForQuestionAnswering")
