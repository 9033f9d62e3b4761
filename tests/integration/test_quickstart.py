"""The quickstart spec end to end through the real CLI and local Ray (tiny teacher, the shipped data)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", RAY_AIR_NEW_OUTPUT="0", RAY_TRAIN_HEALTH_CHECK_INTERVAL_S="0.2")
    return subprocess.run(
        [sys.executable, "-m", "raydistill", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def test_quickstart_teacher_stage_end_to_end(tmp_path: Path, tiny_model_dir: Path) -> None:
    overrides = [
        "--set", f"teacher.model={tiny_model_dir}",
        "--set", f"resources.storage_path={tmp_path / 'runs'}",
        "--set", "teacher.train.epochs=1",
        "--set", "resources.cpus_per_worker=1",
    ]  # fmt: skip
    spec = str(REPO / "searches" / "quickstart.yaml")
    first = _cli("train", spec, "--stage", "teacher", *overrides, cwd=tmp_path)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    summary = first.stdout.strip().splitlines()[-1]
    assert summary.startswith("quickstart | teacher: dev accuracy=") and "(ran," in summary

    run_dir = tmp_path / "runs" / "quickstart"
    metrics = json.loads((run_dir / "teacher" / "metrics.json").read_text())
    assert metrics["main_metric"] == "accuracy"
    assert 0.0 <= metrics["main_value"] <= 1.0
    assert metrics["dev"]["dev"]["accuracy"] == metrics["main_value"]
    assert metrics["steps"] > 0 and metrics["train_samples_per_s"] > 0

    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(run_dir / "teacher" / "model")
    assert model.config.num_labels == 2

    again = _cli("train", spec, "--stage", "teacher", *overrides, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "teacher: cached" in again.stdout
    assert "(cached," in again.stdout.strip().splitlines()[-1]
