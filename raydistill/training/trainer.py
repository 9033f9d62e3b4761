"""`fit`: build and run a Ray Train `TorchTrainer` (Train V2) for a loop function, with stable, resumable runs.

- `num_workers=0` runs the loop in this process (no Ray cluster, no DDP); N >= 1 runs N Ray workers (DDP for
  N > 1: gloo on CPU, NCCL on GPU).
- The run lives at `<storage_path>/<run_name>` (absolute path, no timestamps), so calling `fit` again with the
  same name resumes from the newest complete checkpoint there (`checkpoint.resume_checkpoint_dir` in the loop:
  also one written after the last that Ray's snapshot recorded, as a Ctrl-C leaves it) -- only when the loop
  run was started under the same key: the stage's run key (`stages.StageRun.run_key`: its spec sections and
  its needs' run keys, so a re-trained teacher or init is a new key), or, when `fit` is called without one,
  a hash of the loop config (`config.RUN_CONTROL_KEYS` aside). `<run_name>.inputs.json` beside the run records
  the key; a run started under another key (or by a version that kept no record) is moved to
  `<run_name>.prev` and the run starts afresh, so a changed spec or a re-trained model never continues a
  stale checkpoint.
- A full disk can leave Ray's own checkpoint record (`checkpoint_manager_snapshot.json`) empty; `fit` drops an
  unreadable one before it starts, so the rerun resumes from the newest complete checkpoint instead of failing.
- A failed run raises a `RaydistillError`: the worker's own error when it was one (a `DataError` stays a
  `DataError`), else a `RunError` carrying the worker's message, not Ray's traceback. Ray Train's own console
  lines are kept to warnings (`LoggingConfig`: its INFO lines, among them the controller's report of a failed
  worker with the worker's traceback, go to Ray's log files only), and a worker drops the traceback of a
  `RaydistillError` from its console (`runtime.hide_user_error_tracebacks`): a user mistake reads as one line.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray.train
from ray.train import CheckpointConfig, FailureConfig, LoggingConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer

from raydistill.checkpoint_files import (
    MANIFEST,
    METHOD_PT,
    STATE_JSON,
    STATE_PT,
    checkpoint_step,
    complete_checkpoints,
)
from raydistill.disk import SNAPSHOT_FILE
from raydistill.errors import Interrupted, RaydistillError, RunError
from raydistill.layout import RayDir, RunLayout
from raydistill.spec.schema import Spec
from raydistill.training.config import RUN_CONTROL_KEYS
from raydistill.training.progress import watch_progress
from raydistill.training.runtime import note
from raydistill.training.session import ensure_ray

NUM_TO_KEEP = 2
NO_SPACE = "No space left on device"  # strerror(ENOSPC)


@dataclass(frozen=True)
class FitResult:
    """What a finished `fit` hands back.

    Attributes:
        metrics: the loop's return value on rank 0 (final metrics).
        checkpoint: the newest checkpoint (HF model dir + training state), or None if none was taken.
        path: the run directory `<storage_path>/<run_name>`.
    """

    metrics: dict[str, Any]
    checkpoint: ray.train.Checkpoint | None
    path: Path


def _storage_root(storage_path: str | Path) -> Path:
    return Path(storage_path).expanduser().resolve()


def _worker_config(
    loop_config: dict[str, Any], run_dir: Path, num_workers: int, use_gpu: bool, cpus_per_worker: float
) -> dict[str, Any]:
    """Fill the `LoopConfig` keys that depend on where the loop runs."""
    progress = str(RayDir(run_dir).progress)
    config = dict(loop_config, use_gpu=use_gpu, run_dir=str(run_dir), progress_file=progress)
    if num_workers == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        config["local_run_dir"] = str(run_dir)
    elif config.get("num_threads") is None:
        config["num_threads"] = max(1, int(cpus_per_worker))  # Ray starts workers with 1 torch thread
    return config


def fit(
    train_fn: Callable[[dict[str, Any]], Any],
    loop_config: dict[str, Any],
    *,
    run_name: str,
    storage_path: str | Path,
    num_workers: int,
    use_gpu: bool = False,
    cpus_per_worker: float = 1.0,
    max_failures: int = 0,
    address: str | None = None,
    key: str | None = None,
) -> FitResult:
    """Run `train_fn(loop_config)` under a `TorchTrainer` and return its result.

    Args:
        train_fn: an importable loop function (e.g. `train_loop_per_worker`); Ray workers import it by name.
        loop_config: `LoopConfig.to_dict()`; `use_gpu`, `run_dir`, `num_threads` (from `cpus_per_worker` when
            unset) and `local_run_dir` (in-process runs) are filled in here.
        run_name: stable run name (no timestamps): the same name resumes.
        storage_path: root directory of runs (made absolute).
        num_workers: 0 = in this process; N = N Ray Train workers.
        use_gpu: one GPU per worker.
        cpus_per_worker: CPUs reserved per worker (also the torch thread count unless `num_threads` is set).
        max_failures: worker-group restarts (from the latest checkpoint) before the run fails.
        address: Ray cluster to join (None: start a quiet local Ray, no dashboard); unused in-process.
        key: what the run is started under (the stage's run key); an existing run under another key is set
            aside. None: a hash of `loop_config` without its `RUN_CONTROL_KEYS`.

    Raises:
        RaydistillError: the run failed; the message is the worker's.
    """
    root = _storage_root(storage_path)
    run_dir = root / run_name
    _claim_run_dir(run_dir, key if key is not None else config_key(loop_config))
    _drop_unreadable_snapshot(run_dir)
    if num_workers > 0:
        ensure_ray(address)
    resources = {"CPU": cpus_per_worker, **({"GPU": 1} if use_gpu else {})}
    trainer = TorchTrainer(
        train_fn,
        train_loop_config=_worker_config(loop_config, run_dir, num_workers, use_gpu, cpus_per_worker),
        scaling_config=ScalingConfig(
            num_workers=num_workers, use_gpu=use_gpu, resources_per_worker=resources
        ),
        run_config=RunConfig(
            name=run_name,
            storage_path=str(root),
            checkpoint_config=CheckpointConfig(num_to_keep=NUM_TO_KEEP),
            failure_config=FailureConfig(max_failures=max_failures, controller_failure_limit=0),  # type: ignore[call-arg]
            logging_config=LoggingConfig(log_level="WARNING"),  # Ray Train's INFO lines: its log files only
        ),
    )
    try:
        with watch_progress(RayDir(run_dir).progress):
            result = trainer.fit()
    except SystemExit:  # Ray Train's own Ctrl-C handler aborts the run, then exits from inside `fit`
        raise Interrupted(
            f"training run {run_name} stopped; its latest checkpoint is kept: rerun the same command to resume"
        ) from None
    except RaydistillError:
        raise
    except ray.train.TrainingFailedError as err:
        raise _clean_error(err, run_name, run_dir) from None
    checkpoint = _newest_checkpoint(run_dir, result.checkpoint)
    metrics = dict(getattr(result, "return_value", None) or {})  # Train V2: rank 0's return value
    return FitResult(metrics=metrics, checkpoint=checkpoint, path=run_dir)


def _newest_checkpoint(run_dir: Path, recorded: ray.train.Checkpoint | None) -> ray.train.Checkpoint | None:
    """The newest complete checkpoint in `run_dir`, or Ray's `recorded` one when that is newer (or the only one).

    Ray's is older when the run resumed from a checkpoint Ray never recorded and had nothing left to train (it
    reported nothing new); in-process runs keep no Ray storage, their checkpoints live only in `run_dir`.
    """
    found = complete_checkpoints(run_dir)
    recorded_step = checkpoint_step(Path(recorded.path)) if recorded is not None else None
    if found and (recorded_step is None or (checkpoint_step(found[-1]) or 0) >= recorded_step):
        return ray.train.Checkpoint.from_directory(str(found[-1]))
    return recorded


def config_key(loop_config: dict[str, Any]) -> str:
    """The key of a run started without a stage's key: sha256 of its loop config, `RUN_CONTROL_KEYS` aside."""
    trained_from = {k: v for k, v in loop_config.items() if k not in RUN_CONTROL_KEYS}
    text = json.dumps(trained_from, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _claim_run_dir(run_dir: Path, key: str) -> None:
    """Keep `run_dir` for resuming only if it was started under `key`; else move it to `.prev`."""
    record = RayDir(run_dir).inputs
    text = json.dumps({"key": key})
    if run_dir.exists() and (not record.is_file() or record.read_text() != text):
        backup = RayDir(run_dir).prev
        shutil.rmtree(backup, ignore_errors=True)
        run_dir.rename(backup)
        note(f"{run_dir.name}: inputs changed; previous run kept at {backup}; starting afresh")
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(text)


def _drop_unreadable_snapshot(run_dir: Path) -> None:
    """Delete Ray's checkpoint record of the run when it is not JSON (a full disk cuts its rewrite short):
    Ray's controller refuses to start on it, and resuming does not need it (`checkpoint.resume_checkpoint_dir`
    takes the newest complete checkpoint on disk)."""
    snapshot = run_dir / SNAPSHOT_FILE
    try:
        json.loads(snapshot.read_text())
    except FileNotFoundError:
        return
    except (OSError, ValueError):
        snapshot.unlink()
        note(f"{run_dir.name}: Ray's checkpoint record was unreadable (cut short); resuming from the checkpoints")


def _worker_errors(err: BaseException) -> list[BaseException]:
    """The exceptions raised inside workers, dug out of Ray's wrappers."""
    found: list[BaseException] = []
    for attr in ("worker_failures", "_worker_failures"):
        failures = getattr(err, attr, None)
        if isinstance(failures, dict):
            found.extend(failures.values())
    cause = err.__cause__ or err.__context__
    if not found and cause is not None and cause is not err:
        found = _worker_errors(cause) or [cause]
    return found


def _clean_error(
    err: ray.train.TrainingFailedError, run_name: str, run_dir: Path | None = None
) -> RaydistillError:
    """The worker's own `RaydistillError` when it raised one, else a one-line `RunError` with its message (for a
    full disk: where, and that a rerun resumes from the latest complete checkpoint, which a cut-off write never
    replaces: `checkpoint_files.is_complete`)."""
    errors = _worker_errors(err) or [err]
    for e in errors:
        if isinstance(e, RaydistillError):
            return e
    first = errors[0]
    lines = [line.strip() for line in str(first).splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(("For further information", "Traceback", "File "))]
    message = "; ".join(lines[:3]) or "(no message)"
    if any(NO_SPACE in line for line in lines):
        where = f" under {run_dir}" if run_dir is not None else ""
        return RunError(
            f"training run {run_name!r} failed: the storage is full ({NO_SPACE}){where}; free space there and "
            "rerun the same command: it resumes from the latest complete checkpoint"
        )
    return RunError(
        f"training run {run_name!r} failed: {type(first).__name__}: {message} (full traceback in the Ray logs)"
    )


def ray_storage(spec: Spec) -> Path:
    """Where the stages' Ray Train runs live: `<storage_path>/<name>/ray`, absolute."""
    return RunLayout.of(spec.resources.storage_path, spec.name).ray_dir


def fit_stage(
    spec: Spec,
    train_fn: Callable[[dict[str, Any]], Any],
    loop_config: dict[str, Any],
    run_name: str,
    model_dir: Path,
    key: str | None = None,
) -> FitResult:
    """`fit` with the spec's resources, then copy the final checkpoint's HF model (not its state) to `model_dir`.
    `key`: the stage's run key (see `fit`)."""
    result = fit(
        train_fn,
        loop_config,
        run_name=run_name,
        storage_path=ray_storage(spec),
        num_workers=spec.resources.num_workers,
        use_gpu=spec.resources.use_gpu,
        cpus_per_worker=spec.resources.cpus_per_worker,
        max_failures=spec.resources.max_failures,
        address=spec.resources.address,
        key=key,
    )
    if result.checkpoint is None:
        raise RunError(f"{run_name} run at {result.path} finished without a checkpoint; delete it and rerun")
    with result.checkpoint.as_directory() as directory:
        _copy_model(Path(directory), model_dir)
    return result


def _copy_model(checkpoint_dir: Path, model_dir: Path) -> None:
    """Copy the HF files of a checkpoint (not its optimizer/RNG state, nor the method's modules) into `model_dir`."""
    shutil.rmtree(model_dir, ignore_errors=True)
    model_dir.mkdir(parents=True)
    for item in checkpoint_dir.iterdir():
        if item.name in (STATE_JSON, STATE_PT, METHOD_PT, MANIFEST):
            continue
        target = model_dir / item.name
        if item.is_dir():
            shutil.copytree(item, target)
        else:
            shutil.copy2(item, target)
