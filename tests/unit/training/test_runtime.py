"""Resumable batches, exact RNG restore, checkpoint state round trip, and the throughput/log meter."""

from __future__ import annotations

import io
import logging
import random
from pathlib import Path

import numpy as np
import torch

from raydistill.checkpoint_files import checkpoint_name
from raydistill.training.checkpoint import TrainState, capture_rng, read_train_state, restore_rng
from raydistill.training.runtime import Meter, hide_user_error_tracebacks, steps_per_epoch, train_loader


class _Rows(torch.utils.data.Dataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": torch.tensor([i])}


def _ids(loader: torch.utils.data.DataLoader) -> list[list[int]]:
    return [batch["input_ids"][:, 0].tolist() for batch in loader]


def _collate(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {"input_ids": torch.stack([it["input_ids"] for it in items])}


def test_skipping_batches_resumes_the_same_epoch_order() -> None:
    data = _Rows(23)
    full = _ids(train_loader(data, _collate, 4, seed=1, epoch=3, rank=0, world=1))
    assert len(full) == steps_per_epoch(data, 4, 1) == 6 and sorted(sum(full, [])) == list(range(23))
    assert _ids(train_loader(data, _collate, 4, seed=1, epoch=3, rank=0, world=1, skip_batches=4)) == full[4:]
    assert (
        _ids(train_loader(data, _collate, 4, seed=1, epoch=4, rank=0, world=1)) != full
    )  # reshuffled per epoch


def test_ranks_split_an_epoch_evenly() -> None:
    data = _Rows(23)
    shards = [
        sum(_ids(train_loader(data, _collate, 4, seed=1, epoch=0, rank=r, world=2)), []) for r in (0, 1)
    ]
    assert len(shards[0]) == len(shards[1]) == 12  # padded to 24 with one repeat
    assert set(shards[0]) | set(shards[1]) == set(range(23))
    assert steps_per_epoch(data, 4, 2) == 3


def test_group_by_length_sorts_each_megabatch_and_keeps_a_permutation() -> None:
    from raydistill.data.collate import MEGABATCH, group_by_length

    rng = random.Random(0)
    lengths = [rng.randint(1, 64) for _ in range(1000)]
    shuffled = rng.sample(range(1000), 1000)
    out = group_by_length(shuffled, lengths, batch_size=4)
    assert sorted(out) == list(range(1000))
    size = MEGABATCH * 4  # 200 indices per group
    for start in range(0, 1000, size):
        group = out[start : start + size]
        assert set(group) == set(shuffled[start : start + size])  # nothing crosses a megabatch
        assert [lengths[i] for i in group] == sorted((lengths[i] for i in group), reverse=True)


def test_length_grouped_loader_pads_less_and_resumes_exactly() -> None:
    from raydistill.data.collate import PadCollator, sequence_lengths

    rng = random.Random(1)

    class _Texts(torch.utils.data.Dataset):
        sizes = [rng.randint(2, 40) for _ in range(300)]

        def __len__(self) -> int:
            return len(self.sizes)

        def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
            return {"input_ids": torch.full((self.sizes[i],), i + 1), "labels": torch.tensor(i)}

    data, collate = _Texts(), PadCollator(0)
    lengths = sequence_lengths(data)
    assert lengths == _Texts.sizes

    def loader(skip: int = 0, grouped: bool = True) -> list[torch.Tensor]:
        kwargs = {"lengths": lengths} if grouped else {}
        it = train_loader(data, collate, 8, seed=1, epoch=2, rank=0, world=1, skip_batches=skip, **kwargs)
        return [b["input_ids"] for b in it]

    grouped, plain = loader(), loader(grouped=False)
    assert sorted(sum((b[:, 0].tolist() for b in grouped), [])) == list(range(1, 301))  # every example once
    padded = lambda batches: sum(b.numel() for b in batches)  # noqa: E731
    assert padded(grouped) < 1.1 * sum(lengths) < 0.75 * padded(plain)  # ~no padding left
    assert [b.tolist() for b in loader(skip=5)] == [b.tolist() for b in grouped[5:]]


def test_rng_capture_and_restore_replays_every_generator() -> None:
    state = capture_rng()
    first = (torch.rand(3), np.random.rand(3), random.random())
    restore_rng(state)
    second = (torch.rand(3), np.random.rand(3), random.random())
    torch.testing.assert_close(first[0], second[0])
    assert np.array_equal(first[1], second[1]) and first[2] == second[2]


def test_train_state_round_trip(tmp_path: Path) -> None:
    from raydistill.checkpoint_files import STATE_JSON, STATE_PT

    state = TrainState(
        step=7, epoch=1, batch_in_epoch=2, train_time_s=1.5, train_samples=56, metrics={"a": 1.0}
    )
    (tmp_path / STATE_JSON).write_text(__import__("json").dumps(state.__dict__))
    torch.save({"optimizer": {}, "scheduler": {}, "rng": capture_rng()}, tmp_path / STATE_PT)
    loaded, blob = read_train_state(tmp_path)
    assert loaded == state and set(blob) == {"optimizer", "scheduler", "rng"}
    assert checkpoint_name(7) == "checkpoint_00000007" < checkpoint_name(10)


def test_meter_means_per_window_and_throughput() -> None:
    meter = Meter(torch.device("cpu"), world=2)
    meter.add(4, {"loss": torch.tensor(1.0)})
    meter.add(4, {"loss": 3.0})
    assert meter.means("log") == {"loss": 2.0} and meter.means("log") == {}
    meter.add(4, {"loss": torch.tensor(5.0)})
    assert meter.means("report") == {"loss": 3.0}  # (1 + 3 + 5) / 3: the report window saw all three
    assert meter.samples == 24
    meter.seconds = 2.0
    assert meter.samples_per_s == 12.0


def test_a_user_error_traceback_is_kept_off_the_console_only(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Ray Train logs a worker's traceback; a RaydistillError's stays in the log file, a bug's shows too."""
    logger = logging.getLogger("ray.train")
    console, file = logging.StreamHandler(io.StringIO()), logging.FileHandler(tmp_path / "ray.log")
    monkeypatch.setattr(logger, "handlers", [console, file])
    monkeypatch.setattr(logger, "propagate", False)
    hide_user_error_tracebacks()
    hide_user_error_tracebacks()  # idempotent: one filter per handler
    assert len(console.filters) == 1 and file.filters == []
    tail = 'File "loop.py", line 72\nraydistill.errors.DataError: train has 1 examples'
    logger.error(f"Error in training function:\nTraceback (most recent call last):\n  {tail}")
    logger.error("Error in training function:\nTraceback (most recent call last):\nValueError: a bug")
    file.flush()
    assert console.stream.getvalue().count("Error in training function") == 1  # type: ignore[attr-defined]
    assert "ValueError: a bug" in console.stream.getvalue()  # type: ignore[attr-defined]
    assert "raydistill.errors.DataError" in (tmp_path / "ray.log").read_text()
    file.close()
