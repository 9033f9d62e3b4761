"""Samplers without a Ray cluster: suggest -> run_trial -> on_trial_complete, as Tune would call them.

Checks that over-budget candidates are never evaluated (the evaluator is counted), are told to the sampler
with the worst metric, and carry an Optuna constraint > 0, while feasible ones carry a constraint <= 0.
"""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from ray.tune.search import Searcher
from torch import nn

from raydistill.errors import SpecError
from raydistill.models.arch import Arch
from raydistill.results.pareto import budget_limit
from raydistill.search.evaluator import worst_value
from raydistill.search.samplers import (
    AUTO_GP_BELOW,
    CONSTRAINT_NAME,
    GP_MAX_REDRAWS,
    GP_STARTUP_TRIALS,
    ConstrainedOptunaSearch,
    SamplerOptions,
    auto_sampler,
    constraint_value,
    make_searcher,
)
from raydistill.search.spaces import DefineByRun
from raydistill.search.trainable import TrialPayload, run_trial, state_to_numpy
from tests.unit.search.conftest import make_ctx

optuna.logging.set_verbosity(optuna.logging.WARNING)
BUDGET = 0.6


class CountingEvaluator:
    """Stands in for `evaluate_arch`: records each Arch it scores; accuracy = 1 - (kept layers) / 10."""

    def __init__(self) -> None:
        self.archs: list[Arch] = []

    def __call__(self, model: nn.Module, arch: Arch, *args: Any, **kwargs: Any) -> dict[str, float]:
        self.archs.append(arch)
        return {"accuracy": 1.0 - arch.num_layers / 10}


def _payload(model: nn.Module, data: Any) -> TrialPayload:
    return TrialPayload(
        key="unit",
        model_config=model.config.to_dict(),
        head="classification",
        evalset=data.search,
        collate=data.collate,
        batch_size=8,
        metric="accuracy",
    )


def _drive(
    searcher: Any, n: int, model: nn.Module, data: Any, evaluator: CountingEvaluator, first: int = 0
) -> list[dict]:
    """Suggest n trials one at a time and report each back, as Tune does with max_concurrent_trials=1."""
    state, payload, results = state_to_numpy(model), _payload(model, data), []
    for i in range(first, first + n):
        config = searcher.suggest(f"t{i}")
        assert config is not None
        result = run_trial(config, state, payload, evaluate=evaluator)
        searcher.on_trial_complete(f"t{i}", result)
        results.append({**config, **result})
    return results


def _options(space: str = "width_depth", population: int = 4, num_trials: int = 40) -> SamplerOptions:
    ctx = make_ctx(num_layers=2, max_budget=BUDGET)
    return SamplerOptions(
        DefineByRun(space, ctx), "accuracy", seed=3, population_size=population, num_trials=num_trials
    )


@pytest.mark.parametrize("sampler", ["nsga2", "tpe", "random", "evolution", "gp"])
def test_over_budget_candidates_are_never_evaluated(
    sampler: str, tiny_model: nn.Module, sst2_data: Any
) -> None:
    evaluator = CountingEvaluator()
    results = _drive(make_searcher(sampler, _options("layerwise")), 24, tiny_model, sst2_data, evaluator)
    feasible = [r for r in results if r["feasible"]]
    infeasible = [r for r in results if not r["feasible"]]
    assert feasible and infeasible  # the budget splits this space
    assert [a.id for a in evaluator.archs] == [r["arch_id"] for r in feasible]  # exactly the feasible ones
    limit = budget_limit(BUDGET, make_ctx(num_layers=2).fixed_ratio)
    for r in infeasible:
        assert r["flops_ratio"] > limit
        assert (r["status"], r["evaluated"], r["accuracy"]) == ("infeasible", False, worst_value("accuracy"))
    for r in feasible:
        assert r["status"] == "ok" and r["accuracy"] == pytest.approx(
            1.0 - len(Arch.from_json(r["arch_json"]).layers) / 10
        )


def test_constraints_are_set_on_the_optuna_trials(tiny_model: nn.Module, sst2_data: Any) -> None:
    searcher = make_searcher("nsga2", _options("layerwise"))
    assert isinstance(searcher, ConstrainedOptunaSearch)
    results = _drive(searcher, 16, tiny_model, sst2_data, CountingEvaluator())
    fixed = make_ctx(num_layers=2).fixed_ratio
    trials = searcher.study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.COMPLETE])
    withdrawn = searcher.study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.FAIL])
    assert len(trials) == 16 and len(withdrawn) == searcher.withdrawn  # repeats are withdrawn, never told
    for trial, result in zip(trials, results, strict=True):
        assert trial.state == optuna.trial.TrialState.COMPLETE
        assert trial.values == [result["accuracy"], result["flops_ratio"]]
        value = trial.constraints[CONSTRAINT_NAME]
        assert value == pytest.approx(result["flops_ratio"] - budget_limit(BUDGET, fixed))
        assert (value > 0) == (not result["feasible"])


def test_constraint_value_sign_matches_the_budget_rule() -> None:
    assert constraint_value(0.5, 0.5, 0.0) <= 0  # exactly on budget is feasible
    assert (
        constraint_value(0.5 + 1e-12, 0.5, 0.0) <= 0
    )  # float round-off absorbed (results.pareto.BUDGET_TOL)
    assert constraint_value(0.51, 0.5, 0.0) == pytest.approx(0.01)
    # a 10% fixed cost: budget 0.5 admits total ratios up to 0.5 + 0.5 * 0.1 = 0.55
    assert constraint_value(0.55, 0.5, 0.1) <= 0 < constraint_value(0.55 + 1e-6, 0.5, 0.1)


def test_unknown_sampler_lists_the_registered_ones() -> None:
    with pytest.raises(SpecError, match="did you mean 'nsga2'.*nsga2, tpe, random, evolution, gp, auto"):
        make_searcher("nsga", _options())


def test_gp_fits_the_constraint_it_is_told(tiny_model: nn.Module, sst2_data: Any) -> None:
    """GPSampler reads `Trial.set_constraint` (no `constraints_func`): after start-up it models the budget."""
    searcher = make_searcher("gp", _options("layerwise"))
    assert isinstance(searcher, ConstrainedOptunaSearch)
    sampler = searcher.study.sampler
    assert isinstance(sampler, optuna.samplers.GPSampler) and sampler._constraints_func is None
    assert searcher._max_redraws == GP_MAX_REDRAWS  # a repeat refits the GPs: asked again once, then random
    results = _drive(searcher, GP_STARTUP_TRIALS + 2, tiny_model, sst2_data, CountingEvaluator())
    assert {r["feasible"] for r in results} == {True, False}
    assert sampler._constraints_gprs_cache_list is not None  # a GP was fitted to the constraint values


@pytest.mark.parametrize(
    ("num_trials", "chosen"), [(1, "gp"), (AUTO_GP_BELOW - 1, "gp"), (AUTO_GP_BELOW, "nsga2")]
)
def test_auto_runs_gp_below_250_trials_else_nsga2(num_trials: int, chosen: str) -> None:
    assert auto_sampler(num_trials) == chosen
    searcher = make_searcher("auto", _options(num_trials=num_trials))
    assert isinstance(searcher, ConstrainedOptunaSearch)
    kind = optuna.samplers.GPSampler if chosen == "gp" else optuna.samplers.NSGAIISampler
    assert type(searcher.study.sampler) is kind


@pytest.mark.parametrize("sampler", ["nsga2", "tpe", "random", "evolution", "gp"])
def test_every_sampler_evaluates_the_start_points_first(
    sampler: str, tiny_model: nn.Module, sst2_data: Any
) -> None:
    """`search.start_from_grid`: the uniform grid comes first, then the sampler's own proposals."""
    from raydistill.search.spaces import grid_points

    options = _options("layerwise")
    grid = grid_points("layerwise", options.define_by_run.ctx)
    options = SamplerOptions(**{**vars(options), "start_points": tuple(grid)})
    results = _drive(
        make_searcher(sampler, options), len(grid) + 3, tiny_model, sst2_data, CountingEvaluator()
    )
    ctx = options.define_by_run.ctx
    expected = [get_arch_id(ctx, p) for p in grid]
    assert [r["arch_id"] for r in results[: len(grid)]] == expected
    assert len(results) == len(grid) + 3


def get_arch_id(ctx: Any, params: dict) -> str:
    from raydistill.search.spaces import layerwise

    return layerwise(optuna.trial.FixedTrial(params), ctx).id


@pytest.mark.parametrize("sampler", ["nsga2", "tpe", "random", "evolution"])
def test_no_sampler_proposes_an_arch_twice(sampler: str, tiny_model: nn.Module, sst2_data: Any) -> None:
    evaluator = CountingEvaluator()
    results = _drive(make_searcher(sampler, _options("layerwise")), 40, tiny_model, sst2_data, evaluator)
    ids = [r["arch_id"] for r in results]
    assert len(set(ids)) == len(ids) == 40
    assert len({a.id for a in evaluator.archs}) == len(evaluator.archs)  # nothing evaluated twice


@pytest.mark.parametrize("sampler", ["nsga2", "tpe", "random", "evolution", "gp"])
def test_a_search_ends_when_its_space_has_no_new_arch(
    sampler: str, tiny_model: nn.Module, sst2_data: Any, tmp_path: Any
) -> None:
    """width_depth over 2 layers: 4 widths x 2 layer sets (depths 1 and .75 both keep 2 layers) = 8 Archs."""
    from raydistill.search.proposals import EXHAUSTED_FILE, read_exhausted

    options = SamplerOptions(**{**vars(_options()), "exhausted_file": str(tmp_path / EXHAUSTED_FILE)})
    searcher = make_searcher(sampler, options)
    state, payload, ids = state_to_numpy(tiny_model), _payload(tiny_model, sst2_data), []
    for i in range(30):
        config = searcher.suggest(f"t{i}")
        if config == Searcher.FINISHED:
            break
        assert isinstance(config, dict)
        ids.append(config["arch_id"])
        searcher.on_trial_complete(f"t{i}", run_trial(config, state, payload, evaluate=CountingEvaluator()))
    else:
        pytest.fail("the searcher never reported the space exhausted")
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 8  # every Arch once
    assert read_exhausted(tmp_path) == 8


def test_default_population_gives_about_ten_generations() -> None:
    from raydistill.search.samplers import population_for
    from raydistill.spec.schema import SearchSpec

    assert SearchSpec().population_size is None  # the default is derived from num_trials
    assert population_for(100) == 10
    assert population_for(200) == 20
    assert population_for(40) == 8  # at least MIN_POPULATION
    assert population_for(100, 30) == 30  # an explicit search.population_size wins


def test_gp_learns_from_its_repeats_and_nsga2_does_not(tiny_model: nn.Module, sst2_data: Any) -> None:
    """A GP repeat of a finished Arch is told COMPLETE with that Arch's own objectives (so the GP's acquisition
    moves on); NSGA-II's repeats are withdrawn (FAIL: its population must not count an Arch twice)."""
    from optuna.trial import TrialState

    for name in ("gp", "nsga2"):
        searcher = make_searcher(name, _options("layerwise"))
        results = _drive(searcher, GP_STARTUP_TRIALS + 3, tiny_model, sst2_data, CountingEvaluator())
        assert searcher.withdrawn > 0, name  # the tiny space makes every sampler repeat itself
        trials = searcher.study.get_trials(deepcopy=False)
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        failed = [t for t in trials if t.state == TrialState.FAIL]
        if name == "nsga2":
            assert len(complete) == len(results) and len(failed) == searcher.withdrawn
            continue
        assert len(complete) == len(results) + searcher.withdrawn and not failed
        evaluated = {(r["accuracy"], r["flops_ratio"]) for r in results}
        assert {tuple(t.values) for t in complete} == evaluated  # repeats carry an evaluated Arch's values
        assert all(t.constraints for t in complete)  # and the budget constraint of that Arch
