"""The Tune function trainable of the search: one trial = one sub-network scored on the search split.

Sharing and caching (RAY_NOTES, "Ray Tune + Optuna"):
- The supernet weights travel ONCE through the object store: `tune.with_parameters(search_trial,
  model_state=state, payload=payload)` puts them there when the Tuner starts. The state is a dict of numpy
  arrays (`state_to_numpy`), which Ray hands back zero-copy (read-only views of shared memory), so fetching it
  per trial costs no copy.
- With `TuneConfig(reuse_actors=True)` one actor runs many trials; the model it built for the first trial is
  kept in this module (`_ACTOR_MODEL`, keyed by `TrialPayload.key`, one entry) and reused, so a trial does not
  rebuild the model from the state dict.
- A candidate whose analytic FLOPs exceed the largest budget (`config["feasible"]` is False, priced by the
  search space before the trial started) is never evaluated: it reports the metric's worst value and
  `status="infeasible"`, and the searcher tells the sampler it is infeasible.
- A candidate whose outputs hold NaN or inf, or whose metric is not finite, reports the metric as NaN and
  `status="failed"`: the table marks it, and the searcher tells the sampler the trial failed (no value).
- A candidate whose evaluation raised reports `status="error"` with the error in `note` (`error_result`) instead
  of raising, so Tune retries (`search.max_failures`) only trials whose actor or node died.
- Every result carries the `node_id` of the Ray node the trial ran on (where trials ran, multi-node tests).
"""

from __future__ import annotations

import math
import time
import traceback
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from raydistill.data import EvalSet
from raydistill.search.evaluator import evaluate_arch, worst_value
from raydistill.search.latency_objective import LatencySettings, latency_result, reference_ms
from raydistill.search.spaces import Candidate

__all__ = [
    "TrialPayload",
    "actor_model",
    "error_result",
    "model_from_state",
    "run_trial",
    "search_trial",
    "state_to_numpy",
]

Evaluate = Callable[..., dict[str, float]]


@dataclass
class TrialPayload:
    """Everything a trial needs besides the weights and its own config (shared once via the object store).

    Attributes:
        key: identifies one supernet state (one `run_search` call); the actor's cached model is keyed by it.
        model_config: the supernet's HF config as a dict (`config.to_dict()`).
        head: "classification" (also regression) or "qa": which HF class to build.
        evalset: the search split (capped by `search.max_search_examples`). Never a dev set.
        collate: the task's collate function.
        batch_size: examples per forward.
        metric: the task's main metric (the first objective).
        num_threads: torch threads per trial (Ray gives fractional-CPU actors 1 by default).
        use_gpu: run on the trial's GPU when one is visible.
        latency: with `search.objective: latency`, how every candidate (feasible or not) is timed
            (`latency_objective`); None: no latency is measured.
    """

    key: str
    model_config: dict[str, Any]
    head: str
    evalset: EvalSet
    collate: Callable
    batch_size: int
    metric: str
    num_threads: int = 1
    use_gpu: bool = False
    latency: LatencySettings | None = None


def state_to_numpy(model: nn.Module) -> dict[str, np.ndarray]:
    """The model's state dict as numpy arrays (zero-copy out of Ray's object store)."""
    return {name: value.detach().cpu().numpy() for name, value in model.state_dict().items()}


def model_from_state(
    state: Mapping[str, np.ndarray | Tensor], model_config: dict[str, Any], head: str
) -> nn.Module:
    """Build the HF model of `head` from its config dict and load `state` into it (eval mode, CPU)."""
    from transformers import BertConfig, BertForQuestionAnswering, BertForSequenceClassification

    cls = BertForQuestionAnswering if head == "qa" else BertForSequenceClassification
    model = cls(BertConfig.from_dict(model_config))
    with warnings.catch_warnings():  # object-store arrays are read-only; load_state_dict only reads them
        warnings.filterwarnings("ignore", message=".*not writable.*")
        tensors = {k: v if isinstance(v, Tensor) else torch.from_numpy(v) for k, v in state.items()}
    model.load_state_dict(tensors, strict=True)
    return model.eval()


_ACTOR_MODEL: dict[str, nn.Module] = {}  # payload key -> built model; at most one entry per actor process


def actor_model(state: Mapping[str, np.ndarray | Tensor], payload: TrialPayload) -> nn.Module:
    """The model for `payload.key`, built on this actor's first trial and reused by the following ones."""
    model = _ACTOR_MODEL.get(payload.key)
    if model is None:
        _ACTOR_MODEL.clear()  # a new search: drop the previous supernet first
        model = model_from_state(state, payload.model_config, payload.head)
        if payload.use_gpu and torch.cuda.is_available():
            model = model.to("cuda")
        _ACTOR_MODEL[payload.key] = model
    return model


def run_trial(
    config: dict[str, Any],
    model_state: Mapping[str, np.ndarray | Tensor],
    payload: TrialPayload,
    *,
    evaluate: Evaluate = evaluate_arch,
) -> dict[str, Any]:
    """Evaluate the trial's candidate (unless it is over budget) and return the result to report.

    Args:
        config: the trial config; holds the priced candidate (`Candidate.to_config`) and the sampled params.
        model_state: the supernet weights.
        payload: the shared settings (`TrialPayload`).
        evaluate: `evaluate_arch`, replaceable in tests.

    Returns:
        {<main metric>: value, flops, macs, params, flops_ratio, arch_id, arch_json, status ("ok" |
        "infeasible" | "failed": the metric is NaN), note ("" or why the value is special, e.g.
        "constant predictions"), evaluated (bool), wall_time_s, evaluated_at (epoch seconds)}; with
        `payload.latency` also latency_b1_ms, latency_b32_ms and latency_ratio (`latency_objective`).
    """
    start = time.perf_counter()
    candidate = Candidate.from_config(config)
    note = ""
    if candidate.feasible:
        torch.set_num_threads(payload.num_threads)
        model = actor_model(model_state, payload)
        metrics = evaluate(model, candidate.arch, payload.evalset, payload.collate, payload.batch_size)
        value, status, note = float(metrics[payload.metric]), "ok", getattr(metrics, "note", "")
        if not math.isfinite(value):
            value, status, note = math.nan, "failed", note or f"non-finite {payload.metric} ({value})"
    else:
        value, status = worst_value(payload.metric), "infeasible"
    timed: dict[str, Any] = {}
    if payload.latency is not None:  # the latency objective: every candidate is timed, on the CPU
        model = actor_model(model_state, payload)  # the timed copies are built on the CPU
        reference = reference_ms(payload.key, model, payload.latency)
        timed = latency_result(model, candidate.arch, payload.latency, reference)
    return {
        payload.metric: value,
        **{k: v for k, v in candidate.to_config().items() if k != "feasible"},
        **timed,
        "status": status,
        "note": note,
        "evaluated": candidate.feasible,
        "wall_time_s": time.perf_counter() - start,
        "evaluated_at": time.time(),
    }


def search_trial(
    config: dict[str, Any],
    model_state: Mapping[str, np.ndarray | Tensor] | None = None,
    payload: TrialPayload | None = None,
) -> None:
    """Tune function trainable: `run_trial` and report its result once (wrap with `tune.with_parameters`)."""
    import ray
    from ray import tune

    if model_state is None or payload is None:
        raise TypeError("search_trial needs model_state and payload; wrap it with tune.with_parameters(...)")
    try:
        result = run_trial(config, model_state, payload)
    except Exception as exc:  # recorded once; Tune's retries are for dead actors and nodes
        traceback.print_exc()  # the trial's log in the Ray logs
        result = error_result(config, payload, exc)
    tune.report({**result, "node_id": ray.get_runtime_context().get_node_id()})


def error_result(config: dict[str, Any], payload: TrialPayload, exc: BaseException) -> dict[str, Any]:
    """The result a trial whose evaluation raised reports: status "error", the error in `note`, metric NaN.

    A trial reports its own error instead of raising it, so Tune's `FailureConfig(max_failures)` retries only
    trials whose actor or node died: a deterministic error would fail again on every retry.
    """
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return {
        payload.metric: math.nan,
        **{k: v for k, v in Candidate.from_config(config).to_config().items() if k != "feasible"},
        "status": "error",
        "note": f"{type(exc).__name__}: {lines[0] if lines else ''}".strip(),
        "evaluated": False,
        "wall_time_s": 0.0,
        "evaluated_at": time.time(),
    }
