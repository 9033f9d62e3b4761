"""`search.objective: latency`: each trial's measured latency ratio is the second objective Optuna (and the
evolution baseline) is told, and the trial table and meta.json carry it. Driven without Tune (suggest ->
run_trial -> on_trial_complete) on the tiny model."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
import pytest
from torch import nn

from raydistill.models.arch import Arch
from raydistill.results.table import make_table
from raydistill.search.latency_objective import (
    LATENCY_KEY,
    LatencySettings,
    cost_key,
    latency_result,
    time_arch,
)
from raydistill.search.records import search_meta, trial_rows
from raydistill.search.samplers import SamplerOptions, make_searcher
from raydistill.search.spaces import COST_KEY, DefineByRun
from raydistill.search.trainable import TrialPayload, run_trial, state_to_numpy
from raydistill.search.tuner import latency_settings
from raydistill.spec import load_spec
from tests.unit.search.conftest import make_ctx
from tests.unit.spec.conftest import MINIMAL

optuna.logging.set_verbosity(optuna.logging.WARNING)
FAST = LatencySettings(seq_len=8, threads=1, warmup=0, repeats=2)


def _search(sampler: str, model: nn.Module, data: Any, n: int, budget: float) -> tuple[Any, list[Any]]:
    ctx = make_ctx(num_layers=2, max_budget=budget)
    options = SamplerOptions(DefineByRun("layerwise", ctx), "accuracy", 3, 4, cost_key=cost_key("latency"))
    searcher = make_searcher(sampler, options)
    payload = TrialPayload(
        f"lat-{sampler}", model.config.to_dict(), "classification", data.search, data.collate, 8, "accuracy",
        latency=FAST,
    )  # fmt: skip
    state, results = state_to_numpy(model), []
    for i in range(n):
        config = searcher.suggest(f"t{i}")
        result = run_trial(config, state, payload)
        searcher.on_trial_complete(f"t{i}", result)
        results.append(SimpleNamespace(config=config, metrics={**result, "trial_id": f"t{i}"}, error=None))
    return searcher, results


def test_optuna_is_told_the_latency_ratio_and_the_table_holds_it(tiny_model: nn.Module, sst2_data: Any) -> None:
    searcher, results = _search("nsga2", tiny_model, sst2_data, n=4, budget=1.0)
    assert searcher.metric == ["accuracy", LATENCY_KEY]
    told = searcher.study.get_trials(states=[optuna.trial.TrialState.COMPLETE])
    by_arch = {r.config["arch_id"]: r.metrics for r in results}
    assert len(told) == 4
    for trial, result in zip(told, results, strict=True):
        assert result.metrics[LATENCY_KEY] > 0 and result.metrics[LATENCY_KEY] != result.metrics[COST_KEY]
        assert trial.values == [result.metrics["accuracy"], result.metrics[LATENCY_KEY]]
    table = make_table(trial_rows(results, "accuracy", "nsga2"))
    for row in table.itertuples():
        assert row.latency_ratio == pytest.approx(by_arch[row.arch_id][LATENCY_KEY])
        assert row.latency_b1_ms > 0 and row.latency_b32_ms > 0


def test_the_evolution_baseline_ranks_by_the_latency_ratio(tiny_model: nn.Module, sst2_data: Any) -> None:
    searcher, results = _search("evolution", tiny_model, sst2_data, n=3, budget=1.0)
    assert sorted(searcher._scores.values()) == sorted(
        (r.metrics["accuracy"], r.metrics[LATENCY_KEY]) for r in results
    )


def test_an_over_budget_candidate_is_timed_but_not_evaluated(tiny_model: nn.Module, sst2_data: Any) -> None:
    _, results = _search("random", tiny_model, sst2_data, n=4, budget=0.3)
    over = [r.metrics for r in results if r.metrics["status"] == "infeasible"]
    assert over, "budget 0.3 should leave some candidates over budget"
    assert all(not m["evaluated"] and m[LATENCY_KEY] > 0 for m in over)


def test_flops_objective_times_nothing(tiny_model: nn.Module, sst2_data: Any) -> None:
    ctx = make_ctx(num_layers=2)
    searcher = make_searcher("nsga2", SamplerOptions(DefineByRun("layerwise", ctx), "accuracy", 3, 4))
    payload = TrialPayload("flops", tiny_model.config.to_dict(), "classification", sst2_data.search,
                           sst2_data.collate, 8, "accuracy")  # fmt: skip
    config = searcher.suggest("t0")
    result = run_trial(config, state_to_numpy(tiny_model), payload)
    assert searcher.metric == ["accuracy", COST_KEY] and LATENCY_KEY not in result
    row = make_table(trial_rows([SimpleNamespace(config=config, metrics={**result, "trial_id": "t0"}, error=None)],
                                "accuracy", "nsga2")).iloc[0]  # fmt: skip
    assert math.isnan(row["latency_ratio"]) and math.isnan(row["latency_b1_ms"])


def test_the_full_model_has_ratio_one_and_a_smaller_one_is_timed_per_batch(tiny_model: nn.Module) -> None:
    full = Arch.for_config(tiny_model.config)
    reference = time_arch(tiny_model, full, FAST)
    assert set(reference) == {1, 32} and all(ms > 0 for ms in reference.values())
    same = latency_result(tiny_model, full, FAST, {b: ms for b, ms in reference.items()})
    assert set(same) == {"latency_b1_ms", "latency_b32_ms", LATENCY_KEY}
    fake = {1: 2 * same["latency_b1_ms"], 32: 2 * same["latency_b32_ms"]}  # a reference twice as slow
    assert latency_result(tiny_model, full, FAST, fake)[LATENCY_KEY] < 1.0


def _spec(tmp_path: Path, extra: str) -> Any:
    path = tmp_path / "spec.yaml"
    path.write_text(MINIMAL + extra)
    return load_spec(path)


def test_the_spec_chooses_the_objective_and_meta_records_it(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "search:\n  objective: latency\n  latency: {threads: 2, repeats: 5}\n")
    settings = latency_settings(spec)
    assert settings == LatencySettings(spec.cost_seq_length, threads=2, warmup=3, repeats=5)
    meta = search_meta(name="n", task="sst2", metric="accuracy", budgets=[0.5], sampler="nsga2", space="layerwise",
                       num_trials=4, ctx=make_ctx(num_layers=2), objective="latency", latency=settings)  # fmt: skip
    assert meta["objective"] == "latency" and "2 torch thread(s)" in meta["latency"]["how"]
    assert cost_key(spec.search.objective) == LATENCY_KEY
    flops = _spec(tmp_path, "")
    assert latency_settings(flops) is None and cost_key(flops.search.objective) == COST_KEY
