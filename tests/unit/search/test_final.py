"""After the search: which Archs go to dev, each scored once; Tune results -> table rows; trial resources."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pytest
from torch import nn

from raydistill.models.arch import Arch
from raydistill.results.picks import best_arch_ids
from raydistill.results.table import make_table
from raydistill.search import final
from raydistill.search.final import dev_candidates, evaluate_on_dev, main_dev_values
from raydistill.search.records import trial_rows
from raydistill.search.session import trial_resources
from tests.unit.search.conftest import make_ctx

CTX = make_ctx(num_layers=4, max_budget=0.9)
ARCHS = [Arch.from_multipliers(w, d, 4, 4, 64) for w in (1.0, 0.75, 0.5, 0.25) for d in (1.0, 0.5)]


def _result(trial_id: str, arch: Arch, metric: float | None, at: float, error: bool = False) -> Any:
    """A stand-in for a Tune `Result`: config = priced candidate, metrics = what `run_trial` reports."""
    candidate = CTX.price(arch)
    config = {"width": 0.5, **candidate.to_config()}
    if metric is None and not error:  # interrupted: only the id Tune fills in
        return SimpleNamespace(config=config, metrics={"trial_id": trial_id}, error=None)
    status = "ok" if candidate.feasible else "infeasible"
    metrics = {"trial_id": trial_id}
    if not error:
        metrics |= {"accuracy": metric, "status": status, "wall_time_s": 0.1, "evaluated_at": at}
    return SimpleNamespace(config=config, metrics=metrics, error=RuntimeError("boom") if error else None)


def test_trial_rows_follow_completion_order_and_the_schema() -> None:
    results = [
        _result("late", ARCHS[3], 0.7, at=30.0),
        _result("boom", ARCHS[2], None, at=0.0, error=True),
        _result("early", ARCHS[5], 0.6, at=10.0),
        _result("big", ARCHS[0], 0.0, at=20.0),  # full model: ratio 1 > 0.9, infeasible
        _result("unfinished", ARCHS[4], None, at=0.0),
    ]
    rows = trial_rows(results, "accuracy", "nsga2")
    assert [r["trial_id"] for r in rows] == ["early", "big", "late", "boom"]
    status = {r["trial_id"]: r["status"] for r in rows}
    assert status == {"early": "ok", "big": "infeasible", "late": "ok", "boom": "error"}
    big = rows[1]
    assert math.isnan(big["search_metric"]) and not big["budget_feasible"] and big["flops_ratio"] == 1.0
    assert rows[0]["search_metric"] == 0.6 and rows[0]["flops"] == 2 * rows[0]["macs"]
    table = make_table(rows)  # the results layer accepts them as they are
    assert list(table["trial_id"]) == ["early", "big", "late", "boom"]
    # "late" reported, but Tune had not closed it when the search stopped: it will run again on resume
    closed = {"early", "big", "boom"}
    assert [r["trial_id"] for r in trial_rows(results, "accuracy", "nsga2", finished=closed)] == [
        "early",
        "big",
        "boom",
    ]


def _table() -> Any:
    metrics = {0: 0.95, 1: 0.90, 2: 0.93, 3: 0.85, 4: 0.88, 5: 0.80, 6: 0.60, 7: 0.55}
    results = [_result(f"t{i}", ARCHS[i], metrics[i], at=float(i)) for i in range(8)]
    results.append(_result("t2again", ARCHS[2], 0.93, at=9.0))
    return make_table(trial_rows(results, "accuracy", "random"))


def test_dev_candidates_are_the_best_then_the_capped_front() -> None:
    """FLOPs ratios (4-layer tiny BERT, 16 tokens): ARCHS 7: .127, 5 and 6: .251, 3: .376, 1 and 4: .501,
    2: .751, 0: 1.0 (over the 0.9 budget, never evaluated). By hand: best within 0.3 is 5 (0.80), within 0.6
    is 1 (0.90); the front by cost is 7, 5, 3, 1, 2 (6 and 4 are dominated, the second 2 is a duplicate); the
    best on the search split (any budget's pick at the largest budget) is 2. No budget enters the candidates.
    """
    table = _table()
    ids = [a.id for a in ARCHS]
    assert best_arch_ids(table, [0.3, 0.6], 0.0) == {0.3: ids[5], 0.6: ids[1]}
    assert [a.id for a in dev_candidates(table, 0)] == [ids[2]]  # the best, even with no front points
    assert [a.id for a in dev_candidates(table, 2)] == [ids[2], ids[7]]  # the ends
    assert [a.id for a in dev_candidates(table, 100)] == [ids[i] for i in (2, 7, 5, 3, 1)]
    assert best_arch_ids(table, [0.1], 0.0) == {0.1: None}


def test_each_arch_is_scored_on_dev_exactly_once(monkeypatch: pytest.MonkeyPatch, sst2_data: Any) -> None:
    calls: list[tuple[str, str]] = []

    def fake(model: nn.Module, arch: Arch, evalset: Any, *args: Any, **kwargs: Any) -> dict[str, float]:
        calls.append((arch.id, evalset.name))
        return {"accuracy": arch.num_layers / 10}

    monkeypatch.setattr(final, "evaluate_arch", fake)
    small, full = Arch((1,), (2,), (32,)), Arch.full(2, 4, 64)
    dev = evaluate_on_dev(nn.Linear(1, 1), [small, full, small], sst2_data)
    assert sorted(calls) == sorted([(small.id, "dev"), (full.id, "dev")])
    assert main_dev_values(dev, sst2_data) == {small.id: 0.1, full.id: 0.2}


def test_trial_resources_share_the_cluster() -> None:
    assert trial_resources(2, 1.0, False, {"CPU": 2.0}) == {"cpu": 1.0}
    assert trial_resources(4, 1.0, False, {"CPU": 2.0}) == {"cpu": 0.5}
    assert trial_resources(3, 1.0, False, {"CPU": 2.0}) == {"cpu": 0.66}  # floored: 3 x 0.66 <= 2
    assert trial_resources(2, 1.0, False, {"CPU": 16.0}) == {"cpu": 1.0}  # capped by cpus_per_worker
    assert trial_resources(4, 2.0, True, {"CPU": 16.0, "GPU": 1.0}) == {"cpu": 2.0, "gpu": 0.25}
    assert trial_resources(2, 1.0, True, {"CPU": 2.0}) == {"cpu": 1.0}  # no GPU in the cluster
