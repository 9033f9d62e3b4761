"""`fit`'s pure parts: worker config filling and turning Ray's failure wrappers into short errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import ray.train

from raydistill.errors import DataError, RunError
from raydistill.spec.schema import OptimSpec
from raydistill.training.trainer import _clean_error, _worker_config


def test_worker_config_threads_and_local_run_dir(tmp_path: Path) -> None:
    local = _worker_config({"num_threads": None}, tmp_path / "run", 0, False, 2.0)
    assert local == {"num_threads": None, "use_gpu": False, "local_run_dir": str(tmp_path / "run")}
    assert (tmp_path / "run").is_dir()
    ray_workers = _worker_config({"num_threads": None}, tmp_path / "r2", 2, True, 3.0)
    assert ray_workers == {"num_threads": 3, "use_gpu": True} and not (tmp_path / "r2").exists()
    assert _worker_config({"num_threads": 1}, tmp_path, 2, False, 4.0)["num_threads"] == 1


def test_a_worker_raydistill_error_is_raised_as_itself() -> None:
    original = DataError("train.tsv line 3: label 'x' is not one of negative, positive")
    err = ray.train.WorkerGroupError("Training failed due to worker errors", {0: original, 1: original})
    assert _clean_error(err, "r") is original


def test_other_worker_errors_become_one_line() -> None:
    with pytest.raises(ValueError) as info:
        OptimSpec(batch_size=0)
    err = ray.train.WorkerGroupError("Training failed:\nTraceback ...", {0: info.value})
    clean = _clean_error(err, "demo-teacher")
    assert isinstance(clean, RunError) and len(str(clean).splitlines()) == 1
    assert str(clean).startswith("training run 'demo-teacher' failed: ValidationError: 1 validation error")
    assert "batch_size" in str(clean) and "errors.pydantic.dev" not in str(clean)
