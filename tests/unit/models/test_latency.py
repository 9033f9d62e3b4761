"""Latency measurement: warm-up untimed, per-call timing, median/p90 against hand-computed values."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from raydistill.errors import ModelError
from raydistill.models.latency import LatencyStats, dummy_inputs, measure_latency, time_onnx, time_torch_model
from tests.unit.models.conftest import make_model


class FakeClock:
    """A clock where the k-th timed call lasts durations_ms[k] (set by the function being timed)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now


def test_measure_latency_times_each_call_after_warmup() -> None:
    durations = list(range(1, 11))  # 1..10 ms
    random.Random(0).shuffle(durations)
    clock, calls = FakeClock(), []

    def fn() -> None:
        calls.append(1)
        if len(calls) > 3:  # the 3 warm-up calls would be 1000 s each if they were timed
            clock.now += durations[len(calls) - 4] / 1e3
        else:
            clock.now += 1000.0

    stats = measure_latency(fn, warmup=3, repeats=10, clock=clock)
    assert len(calls) == 13 and clock.reads == 20
    assert stats.median_ms == pytest.approx(5.5)  # mean of 5 and 6
    assert stats.p90_ms == pytest.approx(9.1)  # 9 + 0.1 * (10 - 9), numpy's linear rule
    assert stats.p90_ms == pytest.approx(float(np.percentile(durations, 90)))
    assert (stats.mean_ms, stats.min_ms, stats.max_ms) == pytest.approx((5.5, 1.0, 10.0))
    assert (stats.repeats, stats.warmup, stats.backend) == (10, 3, None)


def test_measure_latency_single_repeat_and_errors() -> None:
    clock = FakeClock()

    def fn() -> None:
        clock.now += 0.002

    stats = measure_latency(fn, warmup=0, repeats=1, clock=clock)
    assert stats.median_ms == stats.p90_ms == pytest.approx(2.0)
    for warmup, repeats in ((0, 0), (-1, 5)):
        with pytest.raises(ModelError, match="repeats"):
            measure_latency(fn, warmup=warmup, repeats=repeats)


def test_dummy_inputs_shapes_and_range() -> None:
    feeds = dummy_inputs(3, 7, vocab_size=11)
    assert {k: v.shape for k, v in feeds.items()} == {k: (3, 7) for k in feeds}
    assert feeds["input_ids"].dtype == np.int64 and feeds["input_ids"].max() < 11
    assert feeds["attention_mask"].all() and not feeds["token_type_ids"].any()
    with pytest.raises(ModelError, match="batch_size"):
        dummy_inputs(0, 7, vocab_size=11)


def _sane(stats: LatencyStats) -> None:
    assert 0 < stats.min_ms <= stats.median_ms <= stats.p90_ms <= stats.max_ms
    assert stats.repeats == 3 and stats.warmup == 1


def test_time_torch_model_states_its_setup_and_restores_threads() -> None:
    model = make_model("classification")
    before = torch.get_num_threads()
    stats = time_torch_model(model, batch_size=2, seq_len=8, threads=1, warmup=1, repeats=3)
    assert torch.get_num_threads() == before
    assert (stats.backend, stats.batch_size, stats.seq_len, stats.threads) == ("torch", 2, 8, 1)
    _sane(stats)
    assert stats.as_dict()["median_ms"] == stats.median_ms


def test_time_onnx_runs_a_session(tmp_path: Path) -> None:
    """A one-node graph (input_ids -> Cast) stands in for a model: the ORT session and feeds are what is tested."""
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", "sequence"])
    graph = helper.make_graph([helper.make_node("Cast", ["input_ids"], ["out"], to=1)], "g", [ids], [out])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9), str(path))
    stats = time_onnx(path, batch_size=4, seq_len=16, vocab_size=20, threads=1, warmup=1, repeats=3)
    assert (stats.backend, stats.batch_size, stats.seq_len, stats.threads) == ("onnxruntime", 4, 16, 1)
    _sane(stats)


def test_time_torch_model_runs_on_the_given_inputs_of_the_stated_shape() -> None:
    model = make_model()
    seen: list[torch.Tensor] = []
    model.register_forward_pre_hook(lambda _m, args, kwargs: seen.append(kwargs["input_ids"]), with_kwargs=True)
    ids = torch.tensor([[2, 7, 8, 3], [2, 9, 3, 0]])  # (2, 4) real tokens, one padded
    inputs = {"input_ids": ids, "attention_mask": (ids > 0).long(), "token_type_ids": torch.zeros_like(ids)}
    stats = time_torch_model(model, batch_size=2, seq_len=4, warmup=1, repeats=2, inputs=inputs)
    assert (stats.batch_size, stats.seq_len, stats.repeats) == (2, 4, 2)
    assert len(seen) == 3 and all(torch.equal(x, ids) for x in seen)
    with pytest.raises(ModelError, match=r"\(batch_size, seq_len\) = \(2, 8\)"):
        time_torch_model(model, batch_size=2, seq_len=8, warmup=0, repeats=1, inputs=inputs)
