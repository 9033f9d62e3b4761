"""`raydistill export RUN --arch ...`: finds the run's model, cuts the Arch out, and errors cleanly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from raydistill.cli import app

runner = CliRunner()


@pytest.fixture
def fake_run(tmp_path: Path, tiny_model_dir: Path) -> Path:
    run = tmp_path / "runs" / "demo"
    (run / "teacher").mkdir(parents=True)
    (run / "spec.json").write_text(json.dumps({"name": "demo", "task": "sst2", "data": {"max_seq_length": 16}}))
    (run / "teacher" / "model").symlink_to(tiny_model_dir, target_is_directory=True)
    return run


def test_export_hf_matches_sliced_forward(fake_run: Path, tmp_path: Path, tiny_model_dir: Path) -> None:
    from transformers import AutoModelForSequenceClassification

    import raydistill  # noqa: F401  (registers the exported model type with the Auto classes)
    from raydistill.models.arch import Arch
    from raydistill.models.bert import elastic_forward

    out = tmp_path / "exp"
    result = runner.invoke(app, ["export", str(fake_run), "--arch", "L1@1-H2-F32", "--out", str(out), "--format", "hf"])
    assert result.exit_code == 0, result.output
    assert "exported L1@1-H2-F32" in result.output
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["task"] == "sst2" and manifest["seq_len"] == 16  # `raydistill evaluate` defaults to them
    small = AutoModelForSequenceClassification.from_pretrained(out).eval()
    full = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir).eval()
    ids = torch.tensor([[2, 5, 9, 11, 3], [2, 7, 3, 0, 0]])
    mask = (ids != 0).long()
    with torch.no_grad():
        want = elastic_forward(full, Arch.from_id("L1@1-H2-F32"), ids, mask).logits
        got = small(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in full.parameters())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--arch", "L9"], "is not of the form"),
        (["--arch", "L3-H4x3-F64x3"], "layer"),  # 3 layers do not fit a 2-layer model
        (["--arch", "{not json"], "Arch JSON"),
    ],
)
def test_export_bad_arch_is_clean_error(fake_run: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["export", str(fake_run), *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_export_missing_run(tmp_path: Path) -> None:
    result = runner.invoke(app, ["export", str(tmp_path / "nope"), "--arch", "L1-H1-F1"])
    assert result.exit_code == 2
    assert "no run at" in result.output


def test_export_says_which_model_it_cut_from_and_only_the_formats_written(fake_run: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["export", str(fake_run), "--arch", "L1@1-H2-F32", "--out", str(tmp_path / "e"), "--format", "hf"])
    assert result.exit_code == 0, result.output
    assert "(cut from teacher/model)" in result.output and "hf " in result.output and "onnx" not in result.output


def test_export_to_a_path_that_is_a_file_is_a_clean_error(fake_run: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("")
    result = runner.invoke(app, ["export", str(fake_run), "--arch", "L1@1-H2-F32", "--out", str(blocker), "--format", "hf"])
    assert result.exit_code == 2, result.output
    assert f"error: {blocker}" in result.output and "give a directory you can write to" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda run: (run / "spec.json").write_text("{bad"), "spec.json: cannot read data.max_seq_length"),
        (lambda run: (run / "spec.json").write_text("{}"), "spec.json: cannot read data.max_seq_length"),
        (lambda run: (run / "teacher" / "model" / "model.safetensors").unlink(), "cannot load the model"),
    ],
)
def test_export_from_a_damaged_run_is_a_clean_error(fake_run: Path, tmp_path: Path, damage, message: str) -> None:  # type: ignore[no-untyped-def]
    damage(fake_run)
    result = runner.invoke(app, ["export", str(fake_run), "--arch", "L1@1-H2-F32", "--out", str(tmp_path / "e")])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
