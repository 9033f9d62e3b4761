"""The length genome stays in the samplers' model: after start-up, every length gene is in Optuna's intersection
search space, so NSGA-II, multivariate TPE and GP recombine / model it instead of sampling it at random.

The searchers are driven as Tune drives them (suggest, then on_trial_complete with the trial's result), with a
made-up metric instead of a supernet evaluation: what is checked is which parameters the samplers model.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import optuna
import pytest
from optuna.search_space import intersection_search_space

from raydistill.models.arch import Arch
from raydistill.search.samplers import ConstrainedOptunaSearch, SamplerOptions, make_searcher, optuna_searcher
from raydistill.search.spaces import SPACES, DefineByRun, SpaceContext, TrialLike
from tests.unit.search.conftest import make_ctx

optuna.logging.set_verbosity(optuna.logging.ERROR)
RATIO = 0.2
TRIALS = 14  # past every sampler's start-up (GP and TPE: 10 trials; NSGA-II: one population of 4)
KEEP_GENES = {"keep_0", "keep_1"}  # a 2-layer supernet keeps the GP fast


def dynamic_length(trial: Any, ctx: SpaceContext) -> Arch:
    """The encoding to avoid: n_i = suggest_int(ceil(n_{i-1} (1 - r)), n_{i-1}), a range per trial."""
    counts, previous = [], ctx.seq_len
    for i in range(ctx.num_layers):
        low = math.ceil(previous * (1 - RATIO))
        if hasattr(trial, "suggest_int"):  # an Optuna trial (Ray wraps it)
            previous = trial.suggest_int(f"keep_{i}", low, previous)
        else:  # the searcher's random fallback for repeated proposals replays categorical choices only
            previous = trial.suggest_categorical(f"keep_{i}", list(range(low, previous + 1)))
        counts.append(previous)
    tokens = tuple(c / ctx.seq_len for c in counts)
    full = Arch.for_config(ctx.config)
    return Arch(full.layers, full.heads, full.ffn, None if min(tokens) == 1 else tokens)


def _searcher(sampler: str, space: str) -> ConstrainedOptunaSearch:
    ctx = make_ctx(num_layers=2, seq_len=64, length_ratio=RATIO, max_budget=0.7)
    options = SamplerOptions(
        DefineByRun(space, ctx), "accuracy", seed=5, population_size=4, num_trials=TRIALS
    )
    if sampler == "tpe (multivariate)":
        searcher = optuna_searcher(options, optuna.samplers.TPESampler(multivariate=True, seed=5))
    else:
        searcher = make_searcher(sampler, options)
    assert isinstance(searcher, ConstrainedOptunaSearch)
    return searcher


def _modelled_genes(sampler: str, space: str) -> tuple[set[str], set[str]]:
    """(length genes in the intersection search space of the told trials, those the sampler models next)."""
    searcher = _searcher(sampler, space)
    for i in range(TRIALS):
        config = searcher.suggest(f"t{i}")
        assert isinstance(config, dict)
        tokens = Arch.from_json(config["arch_json"]).tokens or (1.0,)
        result = {"accuracy": 0.5 + 0.1 * sum(tokens) / len(tokens), "flops_ratio": config["flops_ratio"]}
        searcher.on_trial_complete(f"t{i}", result)
    study = searcher.study
    told = study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.COMPLETE])
    assert len(told) == TRIALS + (searcher.withdrawn if sampler == "gp" else 0)  # GP is told its repeats too
    intersection = set(intersection_search_space(told)) & KEEP_GENES
    modelled = set(study.sampler.infer_relative_search_space(study, told[-1])) & KEEP_GENES
    return intersection, modelled


SAMPLERS = ["nsga2", "tpe (multivariate)", "gp"]


@pytest.mark.parametrize("space", ["length", "joint"])
@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_keep_ratio_is_modelled_after_start_up(sampler: str, space: str) -> None:
    intersection, modelled = _modelled_genes(sampler, space)
    assert intersection == KEEP_GENES
    assert modelled == KEEP_GENES


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_a_previous_bounded_encoding_would_fail_the_check(
    sampler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """suggest_int(high=previous): only the first gene has one range in every trial; the rest fall out."""
    space: Callable[[TrialLike, SpaceContext], Arch] = dynamic_length
    monkeypatch.setitem(SPACES, "dynamic_length", space)
    intersection, modelled = _modelled_genes(sampler, "dynamic_length")
    assert intersection == modelled == {"keep_0"}
