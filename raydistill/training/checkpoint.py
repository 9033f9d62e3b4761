"""Checkpoints: a Hugging Face model dir plus the training state needed to resume exactly.

Layout of one checkpoint directory (`checkpoint_00000120`):

    config.json, model.safetensors, tokenizer files   `save_pretrained` output: loadable by `from_pretrained`
    trainer_state.json                                 step, epoch, batches done in the epoch, timing, metrics
    trainer_state.pt                                   optimizer, scheduler, RNG states (torch, CUDA, numpy, python)
    method_state.pt                                    the state dict of the method's own modules ({} without any)
    checkpoint_files.json                              written last: every other file's size (see `is_complete`)

Under Ray, rank 0 writes the directory to a temp dir and `ray.train.report` persists it to the run's storage; the
other ranks report without a checkpoint (`report` is a barrier, every rank calls it). In-process runs
(`num_workers=0`) have no Ray storage, so the checkpoint is written straight into `local_run_dir` and the two
newest are kept, mirroring `CheckpointConfig(num_to_keep=2)`.

Resume (`resume_checkpoint_dir`) takes the newest COMPLETE checkpoint in the run directory, not only the one Ray's
snapshot (`checkpoint_manager_snapshot.json`) names: Ray's controller records a checkpoint some time after the
worker has written it, so a Ctrl-C in between leaves a complete `checkpoint_00000046` that the snapshot does not
list (it still names `checkpoint_00000023`). A checkpoint is complete when its manifest is readable and every
file it lists has the listed size; Ray copies files in no fixed order, so a copy (or a pruning delete) cut short
leaves a directory that fails this check and is skipped, never loaded.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import ray.train
import ray.train.collective
import torch
from torch import nn

from raydistill.checkpoint_files import (
    KEEP_LOCAL,
    METHOD_PT,
    STATE_JSON,
    STATE_PT,
    checkpoint_name,
    complete_checkpoints,
    select_resume_checkpoint,
    sort_step,
    step_checkpoints,
    write_manifest,
)
from raydistill.distill.methods import unwrap
from raydistill.errors import RunError


@dataclass
class TrainState:
    """Where a run stands (saved in every checkpoint).

    Attributes:
        step: optimizer steps done (global).
        epoch: index of the current epoch (batches of it already done: `batch_in_epoch`).
        batch_in_epoch: batches of `epoch` already trained on; 0 at an epoch boundary.
        train_time_s: seconds spent in training steps (eval and checkpointing excluded), over all resumes.
        train_samples: samples trained on (all workers), over all resumes.
        metrics: the last evaluation's metrics.
    """

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    train_time_s: float = 0.0
    train_samples: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)


def capture_rng() -> dict[str, Any]:
    """Every RNG a training step may draw from, in a form `torch.load(weights_only=True)` accepts."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": (kind, torch.from_numpy(np.asarray(keys, dtype=np.int64)), pos, has_gauss, gauss),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of `capture_rng`."""
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    directory: Path,
    model: nn.Module,
    tokenizer: Any,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    state: TrainState,
    method_modules: nn.Module | None = None,
) -> None:
    """Write the HF model + tokenizer, the method's modules and the training state into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    hf_model: Any = unwrap(model)  # a transformers PreTrainedModel
    hf_model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    (directory / STATE_JSON).write_text(json.dumps(asdict(state), indent=2))
    blob = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": capture_rng()}
    torch.save(blob, directory / STATE_PT)
    torch.save(method_modules.state_dict() if method_modules is not None else {}, directory / METHOD_PT)
    write_manifest(directory)


def resume_checkpoint_dir(run_dir: str | None, rank: int) -> Path | None:
    """The directory to resume from (`select_resume_checkpoint`), the same on every rank.

    Rank 0 chooses, deletes the incomplete checkpoints newer than its choice (so a rerun that reaches their step
    writes a fresh directory instead of filling a stale one) and broadcasts the choice to the other ranks.
    """
    chosen: str | None = None
    if rank == 0:
        recorded = ray.train.get_checkpoint()  # storage is a local or shared path (`trainer.fit`)
        found, partial = select_resume_checkpoint(
            Path(run_dir) if run_dir else None, Path(recorded.path) if recorded is not None else None
        )
        for directory in partial:
            shutil.rmtree(directory, ignore_errors=True)
        chosen = str(found) if found is not None else None
    chosen = ray.train.collective.broadcast_from_rank_zero(chosen)
    return Path(chosen) if chosen is not None else None


def read_train_state(directory: Path) -> tuple[TrainState, dict[str, Any]]:
    """The `TrainState` and the optimizer/scheduler/RNG states of a checkpoint directory."""
    state = TrainState(**json.loads((directory / STATE_JSON).read_text()))
    blob = torch.load(directory / STATE_PT, map_location="cpu", weights_only=True)
    return state, blob


def restore_method_modules(directory: Path, modules: nn.Module | None) -> None:
    """Load the method's modules saved in a checkpoint (`METHOD_PT`) into `modules`, in place.

    Raises:
        RunError: the checkpoint holds module state the method does not have (or lacks what it has).
    """
    saved = torch.load(directory / METHOD_PT, map_location="cpu", weights_only=True)
    if modules is None:
        if saved:
            raise RunError(
                f"{directory} holds state of the method's modules ({', '.join(sorted(saved))}) but this "
                "method has none; resume with the method that wrote it, or delete the run to start afresh"
            )
        return
    try:
        modules.load_state_dict(saved)
    except RuntimeError as exc:
        raise RunError(
            f"{directory}: the method's modules do not match the saved ones ({str(exc).splitlines()[0]}); "
            "resume with the method options that wrote it, or delete the run to start afresh"
        ) from None


def report_checkpoint(
    metrics: dict[str, Any],
    *,
    rank: int,
    local_run_dir: str | None,
    model: nn.Module,
    tokenizer: Any,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    state: TrainState,
    method_modules: nn.Module | None = None,
) -> None:
    """`ray.train.report(metrics)` from every rank, with a checkpoint of the current state from rank 0."""
    name = checkpoint_name(state.step)
    if rank != 0:
        ray.train.report(metrics, checkpoint=None)
        return
    if local_run_dir is None:
        with tempfile.TemporaryDirectory() as tmp:
            save_checkpoint(Path(tmp), model, tokenizer, optimizer, scheduler, state, method_modules)
            checkpoint = ray.train.Checkpoint.from_directory(tmp)
            ray.train.report(metrics, checkpoint=checkpoint, checkpoint_dir_name=name)
        return
    run_dir = Path(local_run_dir)
    final, partial = run_dir / name, run_dir / f".{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    save_checkpoint(partial, model, tokenizer, optimizer, scheduler, state, method_modules)
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)  # a crash mid-write never leaves a half checkpoint as the newest
    ray.train.report(
        metrics, checkpoint=ray.train.Checkpoint.from_directory(str(final)), checkpoint_dir_name=name
    )
    oldest_kept = sort_step(complete_checkpoints(run_dir)[-KEEP_LOCAL:][0])
    for old in step_checkpoints(run_dir):
        if sort_step(old) < oldest_kept:
            shutil.rmtree(old, ignore_errors=True)
