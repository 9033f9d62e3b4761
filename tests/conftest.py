"""Shared fixtures: tiny BERT configs built in code and tiny tokenizers; nothing is downloaded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [
    w
    for w in ["the", "a", "an", "is", "was", "not", "very", "good", "bad", "great", "awful", "movie", "film", "plot", "actor", "acting", "fun", "boring", "love", "hate", "it", "this", "that", "and", "but", "of", "to", "in", "on", "with", "for", "as", "at", "by", "from", "what", "who", "when", "where", "why", "how", "did", "does", "paris", "france", "capital", "city", "river", "water", "fire", "one", "two", "three", "four", "five", "red", "blue", "green", "yes", "no", "##s", "##ed", "##ing", "##ly", ",", ".", "?", "!"]
]


def tiny_bert_config(**overrides):  # type: ignore[no-untyped-def]
    """The house tiny BERT: 2 layers, hidden 32, 4 heads, FFN 64, vocab of `TINY_VOCAB`."""
    from transformers import BertConfig

    kwargs = dict(
        vocab_size=len(TINY_VOCAB),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=128,
        type_vocab_size=2,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    kwargs.update(overrides)
    return BertConfig(**kwargs)


@pytest.fixture
def tiny_config():  # type: ignore[no-untyped-def]
    return tiny_bert_config()


@pytest.fixture
def tiny_tokenizer(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A real WordPiece `BertTokenizerFast` over `TINY_VOCAB`, written to a temp dir."""
    from transformers import BertTokenizerFast

    del tmp_path  # transformers 5 builds the fast tokenizer from a vocab dict (vocab_file= is ignored)
    return BertTokenizerFast(vocab={w: i for i, w in enumerate(TINY_VOCAB)}, do_lower_case=True)


@pytest.fixture
def tiny_model_dir(tmp_path: Path, tiny_config, tiny_tokenizer):  # type: ignore[no-untyped-def]
    """A saved tiny `BertForSequenceClassification` (2 labels) + tokenizer, loadable by `from_pretrained`."""
    import torch
    from transformers import BertForSequenceClassification

    torch.manual_seed(0)
    model = BertForSequenceClassification(tiny_config)
    out = tmp_path / "tiny-bert"
    model.save_pretrained(out)
    tiny_tokenizer.save_pretrained(out)
    return out
