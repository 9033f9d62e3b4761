"""In-process LengthDrop runs of the real loop (`num_workers=0`): it learns, resumes exactly, and trains width,
depth and length together in joint mode."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from transformers import BertForSequenceClassification

from raydistill.distill.lengthdrop import LengthDropStep, sample_subnets
from raydistill.distill.methods import get_method
from raydistill.models.bert import ElasticBert
from raydistill.training.config import LoopConfig
from raydistill.training.loop import train_loop_per_worker
from raydistill.training.runtime import Backward
from raydistill.training.trainer import fit
from tests.unit.training.test_loop import TOTAL

OPTIONS = {"kind": "classification", "num_labels": 2, "seq_length": 32, "num_sandwich": 2}
JOINT = {**OPTIONS, "widths": [1.0, 0.5], "depths": [1.0, 0.5]}


def _fit(config: LoopConfig, storage: Path, name: str):  # type: ignore[no-untyped-def]
    return fit(train_loop_per_worker, config.to_dict(), run_name=name, storage_path=storage, num_workers=0)


def _config(make_config: Callable[..., LoopConfig], model_dir: Path, options: dict[str, Any]) -> LoopConfig:
    return make_config(model=str(model_dir), method="lengthdrop", method_options=options)


def _batch(sst2_dir: Path, model_dir: Path) -> dict[str, torch.Tensor]:
    """The whole dev file as one batch (padded to its longest example)."""
    from transformers import AutoTokenizer

    rows = [line.split("\t") for line in (sst2_dir / "dev.tsv").read_text().splitlines()[1:]]
    enc = AutoTokenizer.from_pretrained(model_dir)([t for t, _ in rows], padding=True, return_tensors="pt")
    return dict(enc) | {"labels": torch.tensor([int(y) for _, y in rows])}


def _losses(model_dir: Path, options: dict[str, Any], batch: dict[str, torch.Tensor]) -> dict[str, float]:
    """The step's logged losses of the model at `model_dir`, dropout off, on a fixed batch and step."""
    model = ElasticBert(BertForSequenceClassification.from_pretrained(model_dir)).eval()
    step = get_method("lengthdrop").build(options, torch.device("cpu")).step
    assert isinstance(step, LengthDropStep)
    logs = step(model, batch, 0, Backward(model))
    return {k: float(v) for k, v in logs.items()}


@pytest.mark.parametrize("options", [OPTIONS, JOINT], ids=["length", "joint"])
def test_lengthdrop_lowers_the_loss(
    make_config: Callable[..., LoopConfig],
    tiny_model_dir: Path,
    sst2_dir: Path,
    tmp_path: Path,
    options: dict,
) -> None:
    config = _config(make_config, tiny_model_dir, options).with_updates(
        optim={"epochs": 8, "batch_size": 8, "learning_rate": 5e-3, "warmup_ratio": 0.0}
    )
    result = _fit(config, tmp_path / "runs", "run")
    assert result.metrics["step"] == 8 * TOTAL // 2
    trained = Path(result.checkpoint.path)
    batch = _batch(sst2_dir, tiny_model_dir)
    before, after = _losses(tiny_model_dir, options, batch), _losses(trained, options, batch)
    assert after["loss_full"] < 0.8 * before["loss_full"]
    assert after["task_loss_smallest"] < before["task_loss_smallest"]  # the sub-networks learn the task too
    if options is JOINT:  # the step's sub-networks vary width, depth and length at once
        config = BertForSequenceClassification.from_pretrained(trained).config
        archs = [a for s in range(TOTAL) for a in sample_subnets(config, get_opts(options), s)]
        assert any(min(a.heads) < 4 for a in archs) and any(a.num_layers < 2 for a in archs)
        assert all(a.tokens is not None for a in archs) and any(min(a.tokens or ()) < 1 for a in archs)


def get_opts(options: dict[str, Any]) -> Any:
    from raydistill.distill.lengthdrop import LengthDropOptions

    return LengthDropOptions.from_options(options)


def test_lengthdrop_stops_and_resumes_exactly(
    make_config: Callable[..., LoopConfig], dropout_model_dir: Path, tmp_path: Path
) -> None:
    """stop_after_steps + resume gives the uninterrupted run's weights: the per-step draws are seeded by the step
    and the loop restores the RNG that dropout and the replayed full pass use."""
    config = _config(make_config, dropout_model_dir, {**JOINT, "layer_drop_prob": 0.3})
    straight = _fit(config, tmp_path / "runs", "straight")
    stopped = _fit(config.with_updates(stop_after_steps=7), tmp_path / "runs", "resumed")
    assert stopped.metrics["stopped"] and stopped.metrics["step"] == 7
    resumed = _fit(config, tmp_path / "runs", "resumed")
    assert resumed.metrics["start_step"] == 7 and resumed.metrics["step"] == TOTAL
    a = load_file(Path(straight.checkpoint.path) / "model.safetensors")
    b = load_file(Path(resumed.checkpoint.path) / "model.safetensors")
    initial = BertForSequenceClassification.from_pretrained(dropout_model_dir).state_dict()
    assert any(not torch.allclose(a[k], initial[k]) for k in a)
    for key in a:
        torch.testing.assert_close(b[key], a[key], atol=1e-6, rtol=0)
