"""Wall-clock latency of a model call: warm-up, then the median (and p90) of repeated timed calls.

What is timed is the model alone on already-tokenised dummy inputs (tokenizer excluded) at a stated batch size and
sequence length, with the thread count set explicitly (torch intra-op threads, or onnxruntime intra-op threads with
inter-op 1): latency numbers mean nothing without them, so `LatencyStats` carries them.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raydistill.errors import ModelError

__all__ = ["LatencyStats", "dummy_inputs", "measure_latency", "time_onnx", "time_torch_model"]


@dataclass(frozen=True)
class LatencyStats:
    """Per-call latency in milliseconds over `repeats` timed calls after `warmup` untimed ones.

    `backend`, `batch_size`, `seq_len` and `threads` describe what was timed (None when `measure_latency` timed an
    arbitrary function).
    """

    median_ms: float
    p90_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    repeats: int
    warmup: int
    backend: str | None = None
    batch_size: int | None = None
    seq_len: int | None = None
    threads: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """All fields, JSON-able."""
        return dataclasses.asdict(self)


def _percentile(sorted_ms: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default method) of an ascending list."""
    pos = (len(sorted_ms) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(sorted_ms) - 1)
    return sorted_ms[lo] + (sorted_ms[hi] - sorted_ms[lo]) * (pos - lo)


def measure_latency(
    fn: Callable[[], Any],
    *,
    warmup: int = 5,
    repeats: int = 30,
    clock: Callable[[], float] = time.perf_counter,
) -> LatencyStats:
    """Call `fn` `warmup` times untimed, then `repeats` times, each timed alone.

    Args:
        fn: the call to time (must finish its work before returning; synchronise devices inside it).
        warmup: untimed calls first (allocations, kernel selection, caches), >= 0.
        repeats: timed calls, >= 1.
        clock: seconds; injectable for tests.
    """
    if warmup < 0 or repeats < 1:
        raise ModelError(f"latency: warmup={warmup}, repeats={repeats}; use warmup >= 0 and repeats >= 1")
    for _ in range(warmup):
        fn()
    times_ms = []
    for _ in range(repeats):
        start = clock()
        fn()
        times_ms.append((clock() - start) * 1e3)
    ordered = sorted(times_ms)
    return LatencyStats(
        median_ms=statistics.median(ordered),
        p90_ms=_percentile(ordered, 90),
        mean_ms=statistics.fmean(ordered),
        min_ms=ordered[0],
        max_ms=ordered[-1],
        repeats=repeats,
        warmup=warmup,
    )


def dummy_inputs(batch_size: int, seq_len: int, vocab_size: int, seed: int = 0) -> dict[str, Any]:
    """Random int64 numpy inputs (input_ids, attention_mask of ones, token_type_ids of zeros), (B, L) each."""
    import numpy as np

    if batch_size < 1 or seq_len < 1:
        raise ModelError(f"latency: batch_size={batch_size}, seq_len={seq_len}; both must be >= 1")
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, vocab_size, size=(batch_size, seq_len), dtype=np.int64)  # (B, L)
    return {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}


def time_torch_model(
    model: Any,
    *,
    batch_size: int,
    seq_len: int,
    threads: int = 1,
    warmup: int = 5,
    repeats: int = 30,
    inputs: dict[str, Any] | None = None,
) -> LatencyStats:
    """Latency of an HF-style torch model (called with input_ids, attention_mask, token_type_ids) on CPU.

    The model runs in eval mode under `torch.inference_mode()` with `torch.set_num_threads(threads)`; the previous
    thread count is restored afterwards. `inputs` (tensors of shape (batch_size, seq_len) each, e.g. real
    tokenised windows) replace the `dummy_inputs`; ModelError when their shape is not that.
    """
    import torch

    if inputs is None:
        dummy = dummy_inputs(batch_size, seq_len, model.config.vocab_size)
        inputs = {k: torch.from_numpy(v) for k, v in dummy.items()}
    shapes = {k: tuple(v.shape) for k, v in inputs.items()}
    if any(shape != (batch_size, seq_len) for shape in shapes.values()):
        raise ModelError(
            f"latency: inputs of shapes {shapes}; each must be (batch_size, seq_len) = ({batch_size}, {seq_len})"
        )
    feeds = inputs
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model.eval()
        with torch.inference_mode():
            stats = measure_latency(lambda: model(**feeds), warmup=warmup, repeats=repeats)
    finally:
        torch.set_num_threads(previous)
    return dataclasses.replace(
        stats, backend="torch", batch_size=batch_size, seq_len=seq_len, threads=threads
    )


def time_onnx(
    onnx_path: str | Path,
    *,
    batch_size: int,
    seq_len: int,
    vocab_size: int,
    threads: int = 1,
    warmup: int = 5,
    repeats: int = 30,
) -> LatencyStats:
    """Latency of an exported ONNX file in onnxruntime (CPU provider, intra-op `threads`, inter-op 1)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    wanted = {i.name for i in session.get_inputs()}
    feeds = {k: v for k, v in dummy_inputs(batch_size, seq_len, vocab_size).items() if k in wanted}
    stats = measure_latency(lambda: session.run(None, feeds), warmup=warmup, repeats=repeats)
    return dataclasses.replace(
        stats, backend="onnxruntime", batch_size=batch_size, seq_len=seq_len, threads=threads
    )
