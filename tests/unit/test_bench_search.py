"""Pure helpers of `benchmarks/search_sst2.py`, checked against hand-computed hypervolumes, rates and picks."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from benchmarks import search_sst2 as bench
from benchmarks import search_stats as stats
from raydistill.layout import RunLayout

NAN = math.nan


def _table() -> pd.DataFrame:
    """A (acc 0.8, ratio 0.5), B (0.6, 0.25), C infeasible (ratio 0.9, not evaluated), D (0.9, 0.75)."""
    return pd.DataFrame(
        {
            "trial_id": ["a", "b", "c", "d"],
            "arch_id": ["A", "B", "C", "D"],
            "flops_ratio": [0.5, 0.25, 0.9, 0.75],
            "search_metric": [0.8, 0.6, NAN, 0.9],
            "dev_metric": [0.88, 0.85, NAN, 0.90],
            "status": ["ok", "ok", "infeasible", "ok"],
            "wall_time_s": [1.0, 2.0, 0.0, 3.0],
        }
    )


def test_checkpoints_are_quarters_of_the_trials() -> None:
    assert stats.checkpoints(100) == [25, 50, 75, 100]
    assert stats.checkpoints(8) == [2, 4, 6, 8]
    assert stats.checkpoints(2) == [1, 2]  # 0.5 rounds to 0 -> at least 1; repeats dropped
    assert stats.checkpoints(1) == [1]


def test_hypervolume_after_n_trials_by_hand() -> None:
    # Area of the union of [ratio, 1] x [0, acc]: A alone 0.5 * 0.8 = 0.4; + B adds 0.25 * 0.6 = 0.15;
    # the infeasible C adds nothing; D adds (1 - 0.75) * (0.9 - 0.8) = 0.025.
    t = _table()
    assert [stats.hv_after(t, n) for n in (1, 2, 3, 4)] == pytest.approx([0.4, 0.55, 0.55, 0.575])
    assert math.isnan(stats.hv_after(t, 5)) and math.isnan(stats.hv_after(t, 0))


def test_sampler_summary_counts_rates_and_picks() -> None:
    s = stats.sampler_summary(
        _table(), teacher_acc=0.9, budgets=[0.25, 0.5, 0.75], wall_s=90.0, span_s=60.0, fixed_ratio=0.0
    )
    assert (s["trials"], s["evaluated_ok"], s["infeasible_not_evaluated"], s["errors"]) == (4, 3, 1, 0)
    assert s["hypervolume"] == pytest.approx(0.575)
    assert s["hypervolume_history"] == pytest.approx({"1": 0.4, "2": 0.55, "3": 0.55, "4": 0.575})
    assert s["evaluations_per_min"] == pytest.approx(2.0)  # 3 ok in 1.5 min
    assert s["evaluations_per_min_tune_phase"] == pytest.approx(3.0)  # 3 ok in 1 min
    assert s["mean_evaluation_s"] == pytest.approx(2.0)  # the infeasible trial's 0 s is not an evaluation
    best = s["best"]
    assert [best[b]["arch_id"] for b in ("0.25", "0.5", "0.75")] == ["B", "A", "D"]
    assert best["0.25"]["dev_pct_of_teacher"] == pytest.approx(100 * 0.85 / 0.9)
    assert best["0.5"]["search_accuracy"] == 0.8 and best["0.75"]["dev_pct_of_teacher"] == pytest.approx(
        100.0
    )


def test_equal_evaluation_hypervolume_uses_the_fewest_evaluated() -> None:
    other = _table().assign(status=["ok", "infeasible", "infeasible", "ok"])  # A, D evaluated
    n, hv = stats.equal_evaluation_hv({"x": _table(), "y": other})
    # x's first 2 evaluated: A, B -> 0.55; y's: A, D -> 0.4 + 0.025.
    assert n == 2 and hv == pytest.approx({"x": 0.55, "y": 0.425})


def _summary(hv: float, rate: float, pct: dict[str, float | None]) -> dict[str, Any]:
    best = {b: None if v is None else {"dev_pct_of_teacher": v} for b, v in pct.items()}
    return {"hv_equal_evaluations": hv, "evaluations_per_min": rate, "best": best}


def test_judge_targets() -> None:
    per = {
        "nsga2": _summary(0.5, 40.0, {"0.25": 96.0, "0.5": 99.6}),
        "tpe": _summary(0.4, 31.0, {"0.25": 97.5, "0.5": 99.0}),
        "random": _summary(0.4, 35.0, {"0.25": None, "0.5": 98.0}),
        "evolution": _summary(0.3, 29.0, {"0.25": 90.0, "0.5": 99.4}),
    }
    met = stats.judge(per)
    assert met["best_over_samplers_at_0.5_ge_99.5pct"] and met["nsga2_at_0.5_ge_99.5pct"]
    assert met["best_over_samplers_at_0.25_ge_97pct"] and not met["nsga2_at_0.25_ge_97pct"]
    assert met["nsga2_hv_above_random_and_evolution"]
    assert not met["tpe_hv_above_random_and_evolution"]  # a tie with random is not "above"
    assert not met["evaluations_per_min_ge_30"]  # evolution's 29/min fails it for all
    per["nsga2"]["best"]["0.5"] = None  # nothing fits: never passes
    assert not stats.judge(per)["nsga2_at_0.5_ge_99.5pct"]


def test_grid_reference_picks_on_dev_within_budget() -> None:
    grid = pd.DataFrame(
        {"arch_id": ["full", "w.5", "w.25", "d.5"], "flops_ratio": [1.0, 0.5, 0.26, 0.5],
         "dev_metric": [0.9, 0.88, 0.8, 0.87]}
    )  # fmt: skip
    ref = stats.grid_reference(grid, [0.25, 0.5, 0.75], teacher_acc=0.9, fixed_ratio=0.0)
    assert ref["0.25"] is None  # 0.26 > 0.25
    # a 2% fixed cost (pooler, head) lets budget 0.25 reach 0.25 + 0.75 * 0.02 = 0.265 of the total FLOPs
    assert stats.grid_reference(grid, [0.25], 0.9, fixed_ratio=0.02)["0.25"]["arch_id"] == "w.25"
    assert ref["0.5"]["arch_id"] == ref["0.75"]["arch_id"] == "w.5"
    assert ref["0.5"]["dev_pct_of_teacher"] == pytest.approx(100 * 0.88 / 0.9)


def test_tune_span_from_trial_results(tmp_path: Path) -> None:
    assert math.isnan(stats.tune_span_s(tmp_path))
    for name, end, took in (("trial_a", 110.0, 5.0), ("trial_b", 130.0, 10.0)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "result.json").write_text(
            json.dumps({"evaluated_at": end, "wall_time_s": took}) + "\n"
        )
    assert stats.tune_span_s(tmp_path) == pytest.approx(130.0 - 105.0)


def test_find_inputs_exits_without_a_supernet_and_falls_back_to_the_teacher_run(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="make bench"):
        bench.find_inputs(tmp_path)
    run = tmp_path / "supernet_sst2" / bench.SUPERNET.name
    (run / "supernet" / "model").mkdir(parents=True)
    (run / "supernet" / "model" / "config.json").write_text("{}")
    with pytest.raises(SystemExit, match="metrics.json"):
        bench.find_inputs(tmp_path)
    reused = RunLayout(tmp_path / bench.TEACHER_RUN).teacher_metrics  # the teacher_sst2 run's
    reused.parent.mkdir(parents=True)
    reused.write_text(json.dumps({"main_value": 0.9}))
    inputs = bench.find_inputs(tmp_path)
    assert inputs.teacher_metrics == reused and inputs.grid_csv is None
    own = run / "teacher" / "metrics.json"  # the supernet run's own teacher stage wins
    own.parent.mkdir(parents=True)
    own.write_text("{}")
    assert bench.find_inputs(tmp_path).teacher_metrics == own
    assert bench.find_inputs(tmp_path).teacher_dir == own.parent / "model"  # what search.retrain distils from


def test_judge_retrained_picks() -> None:
    assert stats.judge_retrained(None) == {}
    retrained = {"by_budget": {"0.25": {"dev_after_pct_of_teacher": 97.2}, "0.5": {"dev_after_pct_of_teacher": 99.4}}}
    assert stats.judge_retrained(retrained) == {
        "nsga2_retrained_at_0.5_ge_99.5pct": False,
        "nsga2_retrained_at_0.25_ge_97pct": True,
    }
    del retrained["by_budget"]["0.25"]  # nothing fit the budget: never passes
    assert not stats.judge_retrained(retrained)["nsga2_retrained_at_0.25_ge_97pct"]


def test_combine_seeds_means_hypervolume_and_keeps_the_slowest_rate() -> None:
    def run(hv: float, rate: float, pct: float | None) -> dict[str, Any]:
        summary = _summary(hv, rate, {"0.25": pct, "0.5": pct, "0.75": pct})
        return summary | {"hv_equal_evaluations": hv}

    per_seed = {
        42: {"nsga2": run(0.70, 40.0, 96.0), "random": run(0.71, 50.0, 95.0)},
        43: {"nsga2": run(0.74, 35.0, 98.0), "random": run(0.69, 45.0, None)},
    }
    per = stats.combine_seeds(per_seed, primary=42)
    assert per["nsga2"]["hv_equal_evaluations"] == pytest.approx(0.72)
    assert per["nsga2"]["hv_equal_evaluations_std"] == pytest.approx(0.04 / 2**0.5)
    assert per["nsga2"]["evaluations_per_min"] == 35.0  # the slowest seed
    assert per["nsga2"]["best"] == per_seed[42]["nsga2"]["best"]  # picks: the primary seed's
    assert per["nsga2"]["dev_pct_by_seed"]["0.5"] == {42: 96.0, 43: 98.0}
    assert math.isnan(per["random"]["dev_pct_by_seed"]["0.25"][43])
    assert bench.run_name_for("p", "tpe", bench.SEED) == "p-tpe" and bench.run_name_for("p", "tpe", 7) == "p-tpe-s7"
