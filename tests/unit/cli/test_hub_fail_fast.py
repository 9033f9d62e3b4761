"""A hub model or dataset that is neither cached nor downloadable fails at once, before Ray starts, with one
line naming it and the fix (not after ~30 s of download retries)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from raydistill.errors import DataError

REPO = Path(__file__).resolve().parents[3]


def _run_with_model(tmp_path: Path, model: str, **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    offline = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")  # set by tests/conftest.py
    environ = {k: v for k, v in os.environ.items() if k not in offline}
    environ.update(HF_HOME=str(tmp_path / "hf"), **env)  # an empty cache
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "raydistill", "run", str(REPO / "searches" / "quickstart.yaml"),
         "--set", f"teacher.model={model}"],
        cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return done, time.monotonic() - start


def test_a_mistyped_hub_model_fails_fast_without_network(tmp_path: Path) -> None:
    done, seconds = _run_with_model(tmp_path, "bert-base-uncasd", HF_ENDPOINT="http://127.0.0.1:9")
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "'bert-base-uncasd'" in errors[0] and "127.0.0.1:9 cannot be reached" in errors[0]
    assert "Traceback" not in done.stderr and "Retrying" not in done.stderr
    assert seconds < 60, f"took {seconds:.0f} s"  # hub retries would take minutes; 60 s leaves room for a busy machine


def test_a_hub_model_not_cached_fails_fast_offline(tmp_path: Path) -> None:
    done, seconds = _run_with_model(tmp_path, "bert-base-uncasd", HF_HUB_OFFLINE="1")
    assert done.returncode == 2, done.stderr
    assert "error: model 'bert-base-uncasd' is not a local directory" in done.stderr
    assert "HF_HUB_OFFLINE is set" in done.stderr and "check the name for typos" in done.stderr
    assert seconds < 60, f"took {seconds:.0f} s"  # hub retries would take minutes; 60 s leaves room for a busy machine


def test_a_hub_dataset_not_cached_fails_fast_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    from raydistill.data import get_task
    from raydistill.data.hub import require_hub_dataset

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "datasets"))
    monkeypatch.setattr("datasets.config.HF_DATASETS_CACHE", tmp_path / "datasets")
    with pytest.raises(DataError, match=r"hub dataset 'nyu-mll/glue' is not in the local cache.*give data.path"):
        require_hub_dataset(get_task("sst2"))
    (tmp_path / "hub" / "datasets--nyu-mll--glue").mkdir(parents=True)
    require_hub_dataset(get_task("sst2"))  # cached: left to the loader
