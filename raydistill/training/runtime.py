"""Worker-side plumbing of the training loop: device and threads, resumable batches, backward, progress."""

from __future__ import annotations

import contextlib
import itertools
import logging
import random
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence, Sized
from typing import Any

import numpy as np
import ray.train.torch
import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from raydistill import console
from raydistill.data.collate import group_by_length

LOGGER_NAME = "raydistill.training"
USER_ERROR_LINE = re.compile(r"^raydistill\.errors\.\w+: ", re.MULTILINE)  # a traceback's last line, for ours


def setup_worker(seed: int, num_threads: int | None, use_gpu: bool) -> torch.device:
    """Set torch threads (Ray gives a worker 1), seed every RNG, and return this worker's device."""
    from transformers.utils import logging as hf_logging

    hide_user_error_tracebacks()
    hf_logging.disable_progress_bar()  # checkpoint saves would draw a bar per save in the driver's output
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if use_gpu:
        device = ray.train.torch.get_device()
        if device.type != "cuda":
            raise RuntimeError(
                f"use_gpu is set but this worker's device is {device}; is a GPU visible to Ray?"
            )
        return device
    return torch.device("cpu")


class _NoUserErrorTraceback(logging.Filter):
    """Drops a log record that carries the traceback of a `RaydistillError`."""

    def filter(self, record: logging.LogRecord) -> bool:
        return USER_ERROR_LINE.search(record.getMessage()) is None


def hide_user_error_tracebacks() -> None:
    """Keep the traceback of a user mistake off the console of this (Ray Train worker) process.

    Ray Train logs the traceback of any error that leaves the train function ("Error in training function").
    For a `RaydistillError` the driver prints the error's own one-line message instead (`trainer.fit` hands the
    worker's error on as itself), so console handlers drop that record; Ray's log files keep it, and every other
    error keeps its traceback on the console.
    """
    for logger in (logging.getLogger("ray.train"), logging.getLogger()):
        for handler in logger.handlers:
            console = isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler)
            if console and not any(isinstance(f, _NoUserErrorTraceback) for f in handler.filters):
                handler.addFilter(_NoUserErrorTraceback())


class _ResumableSampler(DistributedSampler):
    """This rank's share of a permutation seeded by (seed, epoch), minus the first `skip` indices.

    The permutation is the one `DistributedSampler.set_epoch(epoch)` draws, so a resumed epoch sees exactly the
    batches an uninterrupted one would have seen after the ones already done.
    """

    def __init__(
        self,
        dataset: Dataset,
        *,
        world: int,
        rank: int,
        seed: int,
        epoch: int,
        skip: int,
        grouping: tuple[Sequence[int], int] | None = None,
    ) -> None:
        super().__init__(dataset, num_replicas=world, rank=rank, shuffle=True, seed=seed)
        self.set_epoch(epoch)
        self.skip = skip
        self.grouping = grouping  # (lengths, batch_size): reorder with `group_by_length`

    def __iter__(self) -> Iterator[int]:
        indices: Iterable[int] = super().__iter__()
        if self.grouping is not None:
            lengths, batch_size = self.grouping
            indices = group_by_length(list(indices), lengths, batch_size)
        return itertools.islice(indices, self.skip, None)

    def __len__(self) -> int:
        return max(0, super().__len__() - self.skip)


def steps_per_epoch(dataset: Dataset | Sized, batch_size: int, world: int) -> int:
    """Batches per epoch on each rank (the distributed sampler pads every rank to the same count)."""
    per_rank = -(-len(dataset) // world)  # type: ignore[arg-type]  # ceil; map-style datasets have len
    return -(-per_rank // batch_size)


def train_loader(
    dataset: Dataset,
    collate: Callable,
    batch_size: int,
    *,
    seed: int,
    epoch: int,
    rank: int,
    world: int,
    skip_batches: int = 0,
    pin_memory: bool = False,
    lengths: Sequence[int] | None = None,
) -> DataLoader:
    """The epoch's shuffled batches for this rank, skipping the `skip_batches` already trained on.

    `pin_memory` (GPU runs) lets `tensor.to(device, non_blocking=True)` overlap the copy with compute.
    `lengths` (every example's token count, `data.collate.sequence_lengths`): group the rank's shuffled
    indices by length (`group_by_length`) so batches need little padding.
    """
    sampler = _ResumableSampler(
        dataset, world=world, rank=rank, seed=seed, epoch=epoch, skip=skip_batches * batch_size,
        grouping=(lengths, batch_size) if lengths is not None else None,
    )  # fmt: skip
    # An own generator keeps DataLoader's base-seed draw off the global RNG (resume stays exact).
    generator = torch.Generator().manual_seed(seed + epoch)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        collate_fn=collate,
        generator=generator,
        pin_memory=pin_memory,
    )


class Backward:
    """The `backward(loss, is_last)` handed to methods, with `no_sync()` for the passes before the last.

    DDP decides whether a backward all-reduces when the forward runs, so `no_sync()` must wrap a pass's forward
    and backward; `__call__` checks that `is_last` agrees with where it is called (see `distill.methods`).
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.last_calls = 0
        self._accumulating = False

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Forwards and backwards in here accumulate gradients locally (DDP `no_sync`; no-op without DDP)."""
        inner = (
            self.model.no_sync()
            if isinstance(self.model, DistributedDataParallel)
            else contextlib.nullcontext()
        )
        self._accumulating = True
        try:
            with inner:
                yield
        finally:
            self._accumulating = False

    def __call__(self, loss: Tensor, is_last: bool) -> None:
        if is_last == self._accumulating:
            where = "inside" if self._accumulating else "outside"
            raise RuntimeError(
                f"backward(loss, is_last={is_last}) called {where} backward.no_sync(); earlier passes must run "
                "(forward and backward) inside no_sync() with is_last=False, the last pass outside it"
            )
        loss.backward()
        self.last_calls += int(is_last)


class Meter:
    """Train-loop throughput (eval and checkpoints excluded) and running means of the method's logs.

    Log values are summed on the device and converted only by `means`, so steps never wait on `.item()`. Two
    windows run side by side: since the last progress line ("log") and since the last report ("report").
    """

    def __init__(self, device: torch.device, world: int, seconds: float = 0.0, samples: int = 0) -> None:
        self.device, self.world = device, world
        self.seconds, self.samples = seconds, samples
        self._started: float | None = None
        self._sums: dict[str, dict[str, Tensor | float]] = {"log": {}, "report": {}}
        self._counts = {"log": 0, "report": 0}

    def start(self) -> None:
        self._started = time.perf_counter()

    def pause(self) -> None:
        """Stop the clock (waiting for queued GPU work first, so the time is real)."""
        if self._started is None:
            return
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.seconds += time.perf_counter() - self._started
        self._started = None

    def add(self, batch_size: int, logs: dict[str, Any]) -> None:
        """Count one step of `batch_size` rows per worker and add its logs to both windows."""
        self.samples += batch_size * self.world
        for window, sums in self._sums.items():
            for key, value in logs.items():
                value = value.detach() if isinstance(value, Tensor) else float(value)
                sums[key] = sums.get(key, 0.0) + value
            self._counts[window] += 1

    def means(self, window: str) -> dict[str, float]:
        """Means of the logs in `window` ("log" or "report"), which then restarts (one sync per value)."""
        count = max(self._counts[window], 1)
        out = {key: float(value) / count for key, value in self._sums[window].items()}
        self._sums[window], self._counts[window] = {}, 0
        return out

    @property
    def samples_per_s(self) -> float:
        """Samples per second of train-loop time, counting the running interval too (mid-epoch progress)."""
        running = time.perf_counter() - self._started if self._started is not None else 0.0
        seconds = self.seconds + running
        return self.samples / seconds if seconds > 0 else 0.0


def progress_logger() -> logging.Logger:
    """The loop's logger; given a stderr handler when nothing is configured (Ray workers, bare scripts)."""
    logger = logging.getLogger(LOGGER_NAME)
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return logger


def note(message: str) -> None:
    """A driver-side message for the user: a line on the active console, else a progress log line."""
    if not console.note(message):
        progress_logger().info(message)
