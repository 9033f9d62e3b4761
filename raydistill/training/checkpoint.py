"""Checkpoints: a Hugging Face model dir plus the training state needed to resume exactly.

Layout of one checkpoint directory (`checkpoint_00000120`):

    config.json, model.safetensors, tokenizer files   `save_pretrained` output: loadable by `from_pretrained`
    trainer_state.json                                 step, epoch, batches done in the epoch, timing, metrics
    trainer_state.pt                                   optimizer, scheduler, RNG states (torch, CUDA, numpy, python)

Under Ray, rank 0 writes the directory to a temp dir and `ray.train.report` persists it to the run's storage; the
other ranks report without a checkpoint (`report` is a barrier, every rank calls it). In-process runs
(`num_workers=0`) have no Ray storage, so the checkpoint is written straight into `local_run_dir` and the two
newest are kept, mirroring `CheckpointConfig(num_to_keep=2)`.
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import ray.train
import torch
from torch import nn

from raydistill.distill.strategies import unwrap

STATE_JSON = "trainer_state.json"
STATE_PT = "trainer_state.pt"
KEEP_LOCAL = 2


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


def checkpoint_name(step: int) -> str:
    """Directory name of the checkpoint taken after `step` optimizer steps (sorts by step)."""
    return f"checkpoint_{step:08d}"


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
) -> None:
    """Write the HF model + tokenizer and the training state into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    hf_model: Any = unwrap(model)  # a transformers PreTrainedModel
    hf_model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    (directory / STATE_JSON).write_text(json.dumps(asdict(state), indent=2))
    blob = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": capture_rng()}
    torch.save(blob, directory / STATE_PT)


def read_train_state(directory: Path) -> tuple[TrainState, dict[str, Any]]:
    """The `TrainState` and the optimizer/scheduler/RNG states of a checkpoint directory."""
    state = TrainState(**json.loads((directory / STATE_JSON).read_text()))
    blob = torch.load(directory / STATE_PT, map_location="cpu", weights_only=True)
    return state, blob


def local_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints of an in-process run, oldest first."""
    if not run_dir.is_dir():
        return []
    return sorted(p for p in run_dir.glob("checkpoint_*") if p.is_dir() and (p / STATE_PT).is_file())


@contextlib.contextmanager
def latest_checkpoint_dir(local_run_dir: str | None) -> Iterator[Path | None]:
    """The directory to resume from: Ray's `get_checkpoint()`, else the newest local one, else None."""
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            yield Path(directory)
        return
    found = local_checkpoints(Path(local_run_dir)) if local_run_dir else []
    yield found[-1] if found else None


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
) -> None:
    """`ray.train.report(metrics)` from every rank, with a checkpoint of the current state from rank 0."""
    name = checkpoint_name(state.step)
    if rank != 0:
        ray.train.report(metrics, checkpoint=None)
        return
    if local_run_dir is None:
        with tempfile.TemporaryDirectory() as tmp:
            save_checkpoint(Path(tmp), model, tokenizer, optimizer, scheduler, state)
            checkpoint = ray.train.Checkpoint.from_directory(tmp)
            ray.train.report(metrics, checkpoint=checkpoint, checkpoint_dir_name=name)
        return
    run_dir = Path(local_run_dir)
    final, partial = run_dir / name, run_dir / f".{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    save_checkpoint(partial, model, tokenizer, optimizer, scheduler, state)
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)  # a crash mid-write never leaves a half checkpoint as the newest
    ray.train.report(
        metrics, checkpoint=ray.train.Checkpoint.from_directory(str(final)), checkpoint_dir_name=name
    )
    for old in local_checkpoints(run_dir)[:-KEEP_LOCAL]:
        shutil.rmtree(old, ignore_errors=True)
