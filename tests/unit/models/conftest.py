"""Tiny models and a padded batch for the models-layer tests (nothing downloaded)."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn
from transformers import BertForQuestionAnswering, BertForSequenceClassification, BertModel

from tests.conftest import TINY_VOCAB, tiny_bert_config

KINDS = {
    "classification": (BertForSequenceClassification, {"num_labels": 3}),
    "regression": (BertForSequenceClassification, {"num_labels": 1}),
    "qa": (BertForQuestionAnswering, {}),
    "base": (BertModel, {}),
}


def make_model(kind: str = "classification", seed: int = 0, **overrides: object) -> nn.Module:
    """A randomly initialised tiny BERT of the given head kind, in eval mode (eager attention).

    The init range is 10x BERT's 0.02 and biases/LayerNorms are perturbed (BERT inits them to 0/1), so logits
    are O(1) and any slicing mistake, even in a bias, shows clearly.
    """
    cls, extra = KINDS[kind]
    config = tiny_bert_config(attn_implementation="eager", initializer_range=0.2, **{**extra, **overrides})
    torch.manual_seed(seed)
    model = cls(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1:
                p.add_(0.1 * torch.randn_like(p))
    return model


def make_batch(batch: int = 3, length: int = 10, seed: int = 1) -> dict[str, Tensor]:
    """Random ids with two segments and padding (row 1 padded after 6 tokens, row 2 after 3)."""
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(5, len(TINY_VOCAB), (batch, length), generator=g)
    attention_mask = torch.ones(batch, length, dtype=torch.long)
    if batch > 1:
        attention_mask[1, 6:] = 0
    if batch > 2:
        attention_mask[2, 3:] = 0
    input_ids = input_ids * attention_mask  # [PAD] = 0 on padding
    token_type_ids = torch.zeros_like(input_ids)
    token_type_ids[:, length // 2 :] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}


def with_labels(batch: dict[str, Tensor], kind: str, seed: int = 2) -> dict[str, Tensor]:
    """Add random task labels to a batch for the given kind."""
    g = torch.Generator().manual_seed(seed)
    b, length = batch["input_ids"].shape
    out = dict(batch)
    if kind == "classification":
        out["labels"] = torch.randint(0, 3, (b,), generator=g)
    elif kind == "regression":
        out["labels"] = torch.randn(b, generator=g)
    else:
        out["start_positions"] = torch.randint(0, 3, (b,), generator=g)
        out["end_positions"] = out["start_positions"] + 1
    return out


@pytest.fixture
def batch() -> dict[str, Tensor]:
    return make_batch()
