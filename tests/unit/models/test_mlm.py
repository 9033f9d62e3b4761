"""The augmentation's masked LM: a checkpoint's own head is detected and kept; a missing one is fitted tied to
the frozen input embeddings, scored on held-out text, saved and restored."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import BertForMaskedLM

from raydistill.models.mlm import (
    fit_mlm_head,
    head_is_tied,
    load_head,
    load_mlm,
    masked_token_accuracy,
    save_head,
)
from tests.conftest import tiny_bert_config

CORPUS = [
    f"{a} {b} was {c} , {d} and {e}"
    for a in ("the", "a", "this", "that")
    for b in ("movie", "film", "plot", "actor", "acting")
    for c in ("good", "bad", "great", "awful", "fun", "boring")
    for d, e in (("very", "good"), ("not", "bad"))
]


def test_a_checkpoint_with_its_own_head_keeps_it(tmp_path: Path, tiny_tokenizer) -> None:
    torch.manual_seed(0)
    BertForMaskedLM(tiny_bert_config()).save_pretrained(tmp_path / "mlm")
    model, own = load_mlm(str(tmp_path / "mlm"))
    assert own and head_is_tied(model)


def test_a_missing_head_is_fitted_tied_to_frozen_embeddings(tiny_model_dir: Path, tiny_tokenizer) -> None:
    model, own = load_mlm(str(tiny_model_dir))  # a BertForSequenceClassification: no MLM head
    assert not own
    encoder = {k: v.clone() for k, v in model.bert.state_dict().items()}
    held_out, fit_on = CORPUS[:40], CORPUS[40:]
    before = masked_token_accuracy(model, tiny_tokenizer, held_out, seed=3)
    fit_mlm_head(model, tiny_tokenizer, fit_on, steps=60, seed=0, batch_size=16, learning_rate=5e-3)
    after = masked_token_accuracy(model, tiny_tokenizer, held_out, seed=3)
    assert head_is_tied(model)
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    assert all(torch.equal(v, model.bert.state_dict()[k]) for k, v in encoder.items())  # encoder frozen
    assert after["loss"] < before["loss"] - 0.5 and after["top1"] > before["top1"], (before, after)
    assert after["tokens"] == before["tokens"] > 40  # the same masked tokens (the seed fixes them)


def test_a_fitted_head_is_saved_and_restored(tmp_path: Path, tiny_model_dir: Path, tiny_tokenizer) -> None:
    model, _ = load_mlm(str(tiny_model_dir))
    fit_mlm_head(model, tiny_tokenizer, CORPUS, steps=5, seed=0)
    save_head(model, tmp_path / "head.pt")
    assert "predictions.decoder.weight" not in torch.load(tmp_path / "head.pt", weights_only=True)
    fresh, _ = load_mlm(str(tiny_model_dir))
    load_head(fresh, tmp_path / "head.pt")
    assert head_is_tied(fresh)
    batch = tiny_tokenizer(CORPUS[:4], padding=True, return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(model(**batch).logits, fresh(**batch).logits)
