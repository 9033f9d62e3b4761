"""`benchmarks/sampler_study.py`'s Tune-free driver: every proposal scored once, told back, in order."""

from __future__ import annotations

from typing import Any

import optuna
import pytest

from benchmarks.sampler_study import IN_FLIGHT, drive
from benchmarks.search_stats import equal_evaluation_hv
from raydistill.search.samplers import SamplerOptions, make_searcher
from raydistill.search.spaces import Candidate, DefineByRun
from tests.unit.search.conftest import make_ctx

optuna.logging.set_verbosity(optuna.logging.WARNING)


class FakeScore:
    """Scores a config like the study's scorer (accuracy = 1 - ratio / 2; over budget: infeasible, 0)."""

    def __init__(self) -> None:
        self.scored: list[str] = []

    def __call__(self, config: dict[str, Any]) -> dict[str, Any]:
        candidate = Candidate.from_config(config)
        self.scored.append(candidate.arch.id)
        value = 1.0 - candidate.flops_ratio / 2 if candidate.feasible else 0.0
        status = "ok" if candidate.feasible else "infeasible"
        return {
            "accuracy": value,
            "search_metric": value,
            "flops_ratio": candidate.flops_ratio,
            "status": status,
        }


@pytest.mark.parametrize("sampler", ["nsga2", "evolution"])
def test_drive_scores_each_proposal_once_and_tells_the_searcher(sampler: str) -> None:
    options = SamplerOptions(
        DefineByRun("layerwise", make_ctx(num_layers=2, max_budget=0.6)), "accuracy", 0, 4
    )
    searcher = make_searcher(sampler, options)
    score = FakeScore()
    table = drive(searcher, score, 20)
    assert len(table) == 20 and table["arch_id"].tolist() == score.scored  # completion order = scoring order
    assert table["arch_id"].is_unique
    assert IN_FLIGHT == 2
    if sampler == "nsga2":  # every trial was told to the Optuna study (none left running)
        states = [t.state for t in searcher.study.trials]
        assert states.count(optuna.trial.TrialState.COMPLETE) == 20
        assert optuna.trial.TrialState.RUNNING not in states
    n, hv = equal_evaluation_hv({"a": table, "b": table.iloc[:5]})
    assert n == (table.iloc[:5]["status"] == "ok").sum()
    assert hv["a"] == pytest.approx(hv["b"])  # both measured on the same first n evaluated trials
