"""Tiny supernets, pricing contexts and SST-2 data for the search-layer unit tests (no Ray cluster)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from raydistill.search.spaces import SpaceContext
from tests.conftest import tiny_bert_config
from tests.unit.data.conftest import CONTEXT, squad_json
from tests.unit.training.conftest import write_sst2

WIDTHS = (1.0, 0.75, 0.5, 0.25)  # 4 heads -> 4, 3, 2, 1 heads; FFN 64 -> 64, 48, 32, 16 neurons
DEPTHS = (1.0, 0.75, 0.5)  # 4 layers -> 4, 3, 2 layers


def make_ctx(
    num_layers: int = 4, max_budget: float = 1.0, seq_len: int = 16, **overrides: Any
) -> SpaceContext:
    """A pricing context over the house tiny BERT (hidden 32, 4 heads, FFN 64) with `num_layers` layers."""
    return SpaceContext(
        config=tiny_bert_config(num_hidden_layers=num_layers),
        widths=overrides.pop("widths", WIDTHS),
        depths=overrides.pop("depths", DEPTHS),
        seq_len=seq_len,
        max_budget=max_budget,
        **overrides,
    )


@pytest.fixture
def tiny_model() -> torch.nn.Module:
    """A randomly initialised tiny `BertForSequenceClassification` (2 layers, 2 labels), eval mode."""
    from transformers import BertForSequenceClassification

    torch.manual_seed(0)
    return BertForSequenceClassification(tiny_bert_config()).eval()


@pytest.fixture
def sst2_data(tmp_path: Path, tiny_tokenizer: Any) -> Any:
    """`TaskData` of a tiny SST-2 (40 train rows, 25% held out as the search split, 10 dev rows)."""
    from raydistill.data import prepare_task_data

    folder = write_sst2(tmp_path / "data")
    return prepare_task_data("sst2", tiny_tokenizer, path=folder, max_seq_length=32, search_fraction=0.25)


@pytest.fixture
def squad_data(tmp_path: Path, tiny_tokenizer: Any) -> Any:
    """`TaskData` of a tiny SQuAD: 4 train articles (one is the search split), 2 dev questions, each question
    split into several 24-token windows."""
    from raydistill.data import prepare_task_data

    squad_dir = tmp_path / "squad"
    squad_dir.mkdir()
    train = [(f"art{k}", CONTEXT, [(f"t{k}", "what is the capital ?", "paris")]) for k in range(4)]
    dev = [
        (
            "dev0",
            CONTEXT,
            [("d0", "what is the capital of france ?", "paris"), ("d1", "what is red ?", "red")],
        )
    ]
    (squad_dir / "train-v1.1.json").write_text(squad_json(train))
    (squad_dir / "dev-v1.1.json").write_text(squad_json(dev))
    return prepare_task_data(
        "squad",
        tiny_tokenizer,
        path=squad_dir,
        max_seq_length=48,
        doc_stride=8,
        max_query_length=16,
        search_fraction=0.25,
    )
