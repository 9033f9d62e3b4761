"""`fit`'s pure parts: worker config filling and turning Ray's failure wrappers into short errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import ray.train

from raydistill.checkpoint_files import STATE_PT
from raydistill.errors import DataError, RunError
from raydistill.layout import INPUTS_SUFFIX
from raydistill.spec.schema import OptimSpec
from raydistill.training.trainer import (
    _claim_run_dir,
    _clean_error,
    _newest_checkpoint,
    _worker_config,
)

from .conftest import fake_checkpoint


def test_worker_config_threads_and_run_dirs(tmp_path: Path) -> None:
    local = _worker_config({"num_threads": None}, tmp_path / "run", 0, False, 2.0)
    run, progress = str(tmp_path / "run"), str(tmp_path / "run.progress.jsonl")  # progress: beside the run
    assert local == {
        "num_threads": None, "use_gpu": False, "run_dir": run, "local_run_dir": run, "progress_file": progress
    }  # fmt: skip
    assert (tmp_path / "run").is_dir()
    ray_workers = _worker_config({"num_threads": None}, tmp_path / "r2", 2, True, 3.0)
    assert ray_workers == {
        "num_threads": 3, "use_gpu": True, "run_dir": str(tmp_path / "r2"),
        "progress_file": str(tmp_path / "r2.progress.jsonl"),
    }  # fmt: skip
    assert not (tmp_path / "r2").exists()
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


def test_a_run_resumes_only_under_the_key_it_was_started_with(tmp_path: Path) -> None:
    run = tmp_path / "demo-teacher"
    _claim_run_dir(run, "key-1")  # fresh: nothing to move, the key is recorded
    (run / "checkpoint_000001").mkdir(parents=True)
    _claim_run_dir(run, "key-1")  # same key: kept for resuming
    assert (run / "checkpoint_000001").is_dir()

    _claim_run_dir(run, "key-2")  # another key: the stale run is set aside, not resumed
    assert not run.exists() and (tmp_path / "demo-teacher.prev" / "checkpoint_000001").is_dir()
    assert "key-2" in (tmp_path / f"demo-teacher{INPUTS_SUFFIX}").read_text()


def test_without_a_stage_key_a_run_is_keyed_by_its_loop_config() -> None:
    from raydistill.training.trainer import config_key

    same = config_key({"epochs": 4, "lr": 5e-5}) == config_key({"lr": 5e-5, "epochs": 4, "stop_after_steps": 3})
    assert same and config_key({"epochs": 4}) != config_key({"epochs": 5})  # run-control keys aside


def test_a_run_without_a_record_of_its_inputs_is_not_resumed(tmp_path: Path) -> None:
    run = tmp_path / "old-supernet"
    (run / "checkpoint_000003").mkdir(parents=True)  # left by a version that kept no record
    _claim_run_dir(run, "key")
    assert not run.exists() and (tmp_path / "old-supernet.prev" / "checkpoint_000003").is_dir()


def test_ray_trains_ctrl_c_exit_becomes_an_interrupted_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ray Train's SIGINT handler aborts the run, then calls `sys.exit` inside `fit`: the CLI must see an
    `Interrupted` (exit 130, resume hint), not a silent exit 1."""
    from raydistill.errors import Interrupted
    from raydistill.training import trainer

    class AbortedTrainer:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def fit(self) -> None:
            raise SystemExit(1)

    monkeypatch.setattr(trainer, "TorchTrainer", AbortedTrainer)
    monkeypatch.setattr(trainer, "ensure_ray", lambda *a, **k: True)
    with pytest.raises(Interrupted, match="run r1 stopped; its latest checkpoint is kept"):
        trainer.fit(lambda c: None, {}, run_name="r1", storage_path=tmp_path, num_workers=1)


def test_the_result_is_the_newest_complete_checkpoint_even_one_ray_never_recorded(tmp_path: Path) -> None:
    """A rerun that resumed from a final checkpoint Ray had not recorded trains (and reports) nothing new."""
    run = tmp_path / "run"
    recorded = ray.train.Checkpoint.from_directory(str(fake_checkpoint(run, 5)))
    final = fake_checkpoint(run, 10)
    assert Path(_newest_checkpoint(run, recorded).path) == final
    (final / STATE_PT).unlink()  # incomplete: never the result
    assert Path(_newest_checkpoint(run, recorded).path) == run / "checkpoint_00000005"
    assert Path(_newest_checkpoint(run, None).path) == run / "checkpoint_00000005"  # in-process runs
    older_version = ray.train.Checkpoint.from_directory(str(fake_checkpoint(run, 12, manifest=False)))
    assert _newest_checkpoint(run, older_version) is older_version  # Ray's record, newest: it stands


def test_fit_stage_restarts_lost_workers_resources_max_failures_times(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from raydistill.spec.schema import Spec
    from raydistill.training import trainer

    seen: dict[str, Any] = {}

    def fake_fit(train_fn: Any, loop_config: Any, **kwargs: Any) -> trainer.FitResult:
        seen.update(kwargs)
        return trainer.FitResult(metrics={}, checkpoint=None, path=tmp_path)

    monkeypatch.setattr(trainer, "fit", fake_fit)
    spec = Spec.model_validate({
        "name": "t", "task": "sst2", "teacher": {"model": "bert-base-uncased"},
        "resources": {"max_failures": 3, "storage_path": str(tmp_path)},
    })  # fmt: skip
    with pytest.raises(RunError):  # no checkpoint from the fake run
        trainer.fit_stage(spec, lambda c: None, {}, "t-teacher", tmp_path / "model")
    assert seen["max_failures"] == 3


def test_an_unreadable_ray_snapshot_is_dropped_so_the_run_resumes(tmp_path: Path) -> None:
    from raydistill.disk import SNAPSHOT_FILE
    from raydistill.training.trainer import _drop_unreadable_snapshot

    run = tmp_path / "run"
    run.mkdir()
    _drop_unreadable_snapshot(run)  # none: nothing to do
    (run / SNAPSHOT_FILE).write_text('{"checkpoint_results": []}')
    _drop_unreadable_snapshot(run)
    assert (run / SNAPSHOT_FILE).is_file()  # readable: kept
    (run / SNAPSHOT_FILE).write_text("")  # a rewrite cut short by a full disk
    _drop_unreadable_snapshot(run)
    assert not (run / SNAPSHOT_FILE).exists()
