"""What a user sees of a real run through the CLI: raydistill's lines only; Ray's go to the run's log file
(`--verbose` shows them). Tiny teacher, one epoch, local Ray in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration

RAY_MARKERS = ("pid=", "TrainController", "RayTrainWorker", "PlacementGroupCleaner", "TrainingReport")


def _train_teacher(tmp_path: Path, model_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", RAY_AIR_NEW_OUTPUT="0", RAY_TRAIN_HEALTH_CHECK_INTERVAL_S="0.2")
    values = [f"teacher.model={model_dir}", "resources.storage_path=runs", "resources.cpus_per_worker=1",
              "teacher.train.epochs=1"]  # fmt: skip
    args = [arg for v in values for arg in ("--set", v)]
    spec = str(REPO / "searches" / "quickstart.yaml")
    return subprocess.run(
        [sys.executable, "-m", "raydistill", "train", spec, "--stage", "teacher", *args, *extra],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_ray_output_goes_to_the_log_file_not_the_terminal(tmp_path: Path, tiny_model_dir: Path) -> None:
    done = _train_teacher(tmp_path, tiny_model_dir)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    shown = done.stdout + done.stderr
    assert not [line for line in shown.splitlines() if any(m in line for m in RAY_MARKERS)], shown
    lines = done.stdout.splitlines()
    assert lines[0] == "Ray's output goes to runs/quickstart/logs/ray.log (--verbose shows it here)"
    assert lines[1] == "plan: teacher runs (no record)"
    assert lines[2].startswith("[1/1] teacher: dev accuracy=")
    assert lines[-1] == "run dir: runs/quickstart" and len(lines) <= 7, shown
    log = (tmp_path / "runs" / "quickstart" / "logs" / "ray.log").read_text()
    assert "(RayTrainWorker pid=" in log and "TrainController" in log


def test_verbose_shows_ray_output(tmp_path: Path, tiny_model_dir: Path) -> None:
    done = _train_teacher(tmp_path, tiny_model_dir, "--verbose")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    shown = done.stdout + done.stderr
    assert "(RayTrainWorker pid=" in shown and "[1/1] teacher: dev accuracy=" in shown
    assert not (tmp_path / "runs" / "quickstart" / "logs" / "ray.log").exists()
