"""In-process runs of the real loop (`num_workers=0`): metrics, HF checkpoints, exact resume, all task heads."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification, BertForSequenceClassification

from raydistill.checkpoint_files import STATE_PT, complete_checkpoints, is_complete, step_checkpoints
from raydistill.errors import DataError
from raydistill.training.config import LoopConfig
from raydistill.training.loop import train_loop_per_worker
from raydistill.training.trainer import fit

from .conftest import manual_accuracy

# 40 train rows - 4 carved into the search split = 36 -> 5 batches of 8 per epoch; 2 epochs = 10 steps.
STEPS_PER_EPOCH, TOTAL = 5, 10


def _fit(config: LoopConfig, storage: Path, name: str = "run"):  # type: ignore[no-untyped-def]
    return fit(train_loop_per_worker, config.to_dict(), run_name=name, storage_path=storage, num_workers=0)


def test_two_epochs_report_dev_metrics_and_write_hf_checkpoints(
    make_config: Callable[..., LoopConfig], sst2_dir: Path, tmp_path: Path
) -> None:
    result = _fit(make_config(optim={"checkpoint_every_steps": 3}), tmp_path / "runs")
    m = result.metrics
    assert (m["step"], m["total_steps"], m["epochs"], m["stopped"]) == (TOTAL, TOTAL, 2.0, False)
    assert m["train_samples"] == 2 * 36 and m["train_samples_per_s"] > 0 and m["loss"] > 0
    assert set(m["dev"]) == {"dev"} and set(m["search"]) == {"accuracy"}
    checkpoint_dir = Path(result.checkpoint.path)
    assert checkpoint_dir.name == "checkpoint_00000010" and checkpoint_dir.parent == result.path
    assert [p.name for p in complete_checkpoints(result.path)] == [
        "checkpoint_00000009",
        "checkpoint_00000010",
    ]
    assert isinstance(
        AutoModelForSequenceClassification.from_pretrained(checkpoint_dir), BertForSequenceClassification
    )
    assert m["dev"]["dev"]["accuracy"] == pytest.approx(manual_accuracy(checkpoint_dir, sst2_dir / "dev.tsv"))


def test_stop_and_resume_matches_an_uninterrupted_run(
    make_config: Callable[..., LoopConfig], dropout_model_dir: Path, tmp_path: Path
) -> None:
    config = make_config(model=str(dropout_model_dir))
    straight = _fit(config, tmp_path / "runs", "straight")
    stopped = _fit(config.with_updates(stop_after_steps=7), tmp_path / "runs", "resumed")  # mid epoch 2
    assert stopped.metrics["stopped"] and stopped.metrics["step"] == 7
    assert Path(stopped.checkpoint.path).name == "checkpoint_00000007"
    resumed = _fit(config, tmp_path / "runs", "resumed")
    assert resumed.metrics["start_step"] == 7 and resumed.metrics["step"] == straight.metrics["step"] == TOTAL
    a = load_file(Path(straight.checkpoint.path) / "model.safetensors")
    b = load_file(Path(resumed.checkpoint.path) / "model.safetensors")
    first = load_file(Path(tmp_path / "runs" / "straight") / "checkpoint_00000005" / "model.safetensors")
    assert set(a) == set(b)
    assert any(not torch.allclose(a[k], first[k]) for k in a)  # training moved the weights after epoch 1
    for key in a:
        torch.testing.assert_close(b[key], a[key], atol=1e-6, rtol=0)
    sa = torch.load(Path(straight.checkpoint.path) / STATE_PT, weights_only=True)
    sb = torch.load(Path(resumed.checkpoint.path) / STATE_PT, weights_only=True)
    assert sa["scheduler"] == sb["scheduler"]
    assert resumed.metrics["dev"] == straight.metrics["dev"]


def test_a_half_written_newer_checkpoint_is_skipped_and_discarded(
    make_config: Callable[..., LoopConfig], tmp_path: Path
) -> None:
    """A kill while checkpoint 9 was being written: the rerun resumes from 7, and 9 is never loaded."""
    config = make_config()
    stopped = _fit(config.with_updates(stop_after_steps=7), tmp_path / "runs")
    run = stopped.path
    half = run / "checkpoint_00000009"
    shutil.copytree(run / "checkpoint_00000007", half)  # every file there, but the weights cut short
    weights = half / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    assert not is_complete(half)
    resumed = _fit(config, tmp_path / "runs")
    assert resumed.metrics["start_step"] == 7 and resumed.metrics["step"] == TOTAL
    assert [p.name for p in step_checkpoints(run)] == ["checkpoint_00000007", "checkpoint_00000010"]
    assert is_complete(run / "checkpoint_00000010")


def test_a_finished_run_is_not_trained_again(make_config: Callable[..., LoopConfig], tmp_path: Path) -> None:
    config = make_config(optim={"max_steps": 2})
    first = _fit(config, tmp_path / "runs")
    again = _fit(config, tmp_path / "runs")
    assert again.metrics["start_step"] == 2 and again.metrics["dev"] == first.metrics["dev"]
    assert again.checkpoint.path == first.checkpoint.path


@pytest.mark.parametrize(
    ("task", "fixture", "data", "metrics"),
    [
        ("stsb", "stsb_dir", {"max_seq_length": 32}, {"pearson", "spearmanr"}),
        (
            "squad",
            "squad_dir",
            {"max_seq_length": 20, "doc_stride": 4, "max_query_length": 8},
            {"f1", "exact_match"},
        ),
    ],
)
def test_regression_and_qa_runs_train_and_evaluate(
    make_config: Callable[..., LoopConfig],
    request: pytest.FixtureRequest,
    tmp_path: Path,
    task: str,
    fixture: str,
    data: dict,
    metrics: set[str],
) -> None:
    path = request.getfixturevalue(fixture)
    config = make_config(task=task, data={"path": str(path), **data}, optim={"max_steps": 2, "batch_size": 4})
    result = _fit(config, tmp_path / "runs")
    assert result.metrics["step"] == 2 and set(result.metrics["dev"]["dev"]) == metrics


def test_data_errors_surface_unchanged(make_config: Callable[..., LoopConfig], tmp_path: Path) -> None:
    config = make_config(data={"path": str(tmp_path / "missing")})
    with pytest.raises(DataError):
        _fit(config, tmp_path / "runs")


def test_unknown_loop_config_keys_are_named() -> None:
    with pytest.raises(TypeError, match=r"unknown loop config keys \['epochs'\]"):
        LoopConfig.from_dict({"model": "m", "task": "sst2", "epochs": 3})
