"""The teacher stage end to end in this process: model dir + metrics.json, and the evaluate-only path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import BertModel

from raydistill.errors import ModelError
from raydistill.spec.schema import DataSpec, OptimSpec, ResourcesSpec, Spec, TeacherSpec
from raydistill.training.teacher import train_teacher
from raydistill.training.trainer import ray_storage

from .conftest import manual_accuracy


def _spec(model: Path, data: Path, storage: Path, finetuned: bool = False) -> Spec:
    return Spec(
        name="demo",
        task="sst2",
        data=DataSpec(path=str(data), max_seq_length=32),
        teacher=TeacherSpec(
            model=str(model),
            finetuned=finetuned,
            train=OptimSpec(epochs=1, batch_size=8, learning_rate=1e-3, num_threads=1),
        ),
        resources=ResourcesSpec(num_workers=0, storage_path=str(storage)),
    )


def test_train_teacher_writes_model_and_metrics(tiny_model_dir: Path, sst2_dir: Path, tmp_path: Path) -> None:
    spec = _spec(tiny_model_dir, sst2_dir, tmp_path / "runs")
    run_dir = tmp_path / "runs" / "demo"
    result = train_teacher(spec, run_dir)
    assert result.model_dir == run_dir / "teacher" / "model"
    assert sorted(p.name for p in result.model_dir.iterdir()) == [
        "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"
    ]  # fmt: skip
    written = json.loads((run_dir / "teacher" / "metrics.json").read_text())
    assert written == result.metrics
    assert (written["main_metric"], written["main_dev"], written["steps"]) == ("accuracy", "dev", 5)
    assert written["main_value"] == written["dev"]["dev"]["accuracy"]
    assert written["main_value"] == pytest.approx(manual_accuracy(result.model_dir, sst2_dir / "dev.tsv"))
    assert written["train_samples_per_s"] > 0 and written["wall_time_s"] >= written["train_time_s"] > 0
    assert ray_storage(spec) == (tmp_path / "runs" / "demo" / "ray").resolve()
    assert (ray_storage(spec) / "demo-teacher" / "checkpoint_00000005").is_dir()


def test_finetuned_teacher_is_only_evaluated(tiny_model_dir: Path, sst2_dir: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "demo"
    result = train_teacher(_spec(tiny_model_dir, sst2_dir, tmp_path / "runs", finetuned=True), run_dir)
    assert result.metrics["steps"] == 0 and not (run_dir / "ray").exists()
    expected = manual_accuracy(tiny_model_dir, sst2_dir / "dev.tsv")
    assert result.metrics["main_value"] == pytest.approx(expected)
    assert manual_accuracy(result.model_dir, sst2_dir / "dev.tsv") == pytest.approx(expected)


def test_finetuned_teacher_without_a_head_is_refused(
    tiny_config, tiny_tokenizer, sst2_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    base = tmp_path / "base"
    BertModel(tiny_config).save_pretrained(base)
    tiny_tokenizer.save_pretrained(base)
    with pytest.raises(ModelError, match="finetuned: false"):
        train_teacher(_spec(base, sst2_dir, tmp_path / "runs", finetuned=True), tmp_path / "runs" / "demo")
