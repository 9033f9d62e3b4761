"""The `search_sst2` benchmark's numbers: per-sampler summaries, seeds combined, targets judged (pure functions).

Tested in tests/unit/test_bench_search.py on hand-made tables.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from raydistill.results.pareto import best_per_budget, hypervolume_history

SAMPLERS = ["nsga2", "tpe", "random", "evolution"]
BASELINES = ["random", "evolution"]
BUDGETS = [0.25, 0.5, 0.75]
SPACE = "layerwise"
CONCURRENT = 2
TARGET_PCT = {0.5: 99.5, 0.25: 97.0}  # budget -> % of the teacher's dev accuracy
TARGET_EVALS_PER_MIN = 30.0


def checkpoints(num_trials: int) -> list[int]:
    """Trial counts at 25/50/75/100% of `num_trials` (rounded, at least 1, no repeats)."""
    return list(dict.fromkeys(max(1, round(num_trials * q)) for q in (0.25, 0.5, 0.75, 1.0)))


def hv_after(table: pd.DataFrame, n: int) -> float:
    """Hypervolume of the first `n` rows of `table` (completion order); NaN when it has fewer rows."""
    if n < 1 or len(table) < n:
        return math.nan
    return float(hypervolume_history(table.reset_index(drop=True)).hypervolume.iloc[n - 1])


def pick(row: pd.Series | None, teacher_acc: float) -> dict[str, Any] | None:
    """A `best_per_budget` row as plain values, with its dev accuracy as % of the teacher's."""
    if row is None:
        return None
    dev = float(row["dev_metric"])
    out = {"arch_id": str(row["arch_id"]), "flops_ratio": float(row["flops_ratio"]), "dev_accuracy": dev}
    if "search_metric" in row:
        out["search_accuracy"] = float(row["search_metric"])
    return out | {"dev_pct_of_teacher": 100.0 * dev / teacher_acc}


def tune_span_s(experiment: Path) -> float:
    """Seconds from the first trial's start to the last trial's end, from the Tune trials' `result.json` lines."""
    files = experiment.glob("trial_*/result.json")
    rows = [json.loads(line) for f in files for line in f.read_text().splitlines() if line.strip()]
    if not rows:
        return math.nan
    return max(r["evaluated_at"] for r in rows) - min(r["evaluated_at"] - r["wall_time_s"] for r in rows)


def sampler_summary(
    table: pd.DataFrame,
    teacher_acc: float,
    budgets: list[float],
    wall_s: float,
    span_s: float = math.nan,
    *,
    fixed_ratio: float,
) -> dict[str, Any]:
    """One sampler's numbers: trial counts, hypervolume (+ history), evaluations/min, best Arch per budget.

    `wall_s` is the whole `run_search` call; `span_s` the Tune trials' span (`tune_span_s`); `fixed_ratio` the
    run's unshrinkable FLOPs share (`meta.json`), which budgets do not price (`results.pareto` "Budgets").
    """
    n_ok = int((table["status"] == "ok").sum())
    ok_times = table.loc[table["status"] == "ok", "wall_time_s"]
    return {
        "trials": len(table),
        "evaluated_ok": n_ok,
        "infeasible_not_evaluated": int((table["status"] == "infeasible").sum()),
        "errors": int((table["status"] == "error").sum()),
        "hypervolume": hv_after(table, len(table)) if len(table) else 0.0,
        "hypervolume_history": {str(k): hv_after(table, k) for k in checkpoints(len(table))},
        "evaluations_per_min": 60.0 * n_ok / wall_s,
        "evaluations_per_min_tune_phase": 60.0 * n_ok / span_s,
        "tune_phase_s": span_s,
        "mean_evaluation_s": float(ok_times.mean()) if n_ok else math.nan,
        "wall_time_s": wall_s,
        "best": {
            f"{b:g}": pick(row, teacher_acc)
            for b, row in best_per_budget(table, budgets, fixed_ratio=fixed_ratio).items()
        },
    }


def equal_evaluation_hv(tables: dict[str, pd.DataFrame]) -> tuple[int, dict[str, float]]:
    """(n, {sampler: hypervolume of its first n evaluated trials}), n = the fewest evaluated by any sampler."""
    ok = {name: t[t["status"] == "ok"] for name, t in tables.items()}
    n = min(len(t) for t in ok.values())
    return n, {name: hv_after(t, n) if n else 0.0 for name, t in ok.items()}


def combine_seeds(per_seed: dict[int, dict[str, dict[str, Any]]], primary: int) -> dict[str, dict[str, Any]]:
    """Each sampler's primary-seed summary, with what the targets compare taken over every seed.

    `hv_equal_evaluations` becomes the mean over seeds (each seed's value at that seed's equal evaluation
    count), with its sample std and per-seed values; `evaluations_per_min` becomes the slowest seed's rate; and
    `dev_pct_by_seed` holds every seed's pick per budget as % of the teacher (NaN when nothing fits).
    """
    out: dict[str, dict[str, Any]] = {}
    for sampler, summary in per_seed[primary].items():
        runs = {seed: per_seed[seed][sampler] for seed in per_seed}
        hvs = [r["hv_equal_evaluations"] for r in runs.values()]
        out[sampler] = summary | {
            "hv_equal_evaluations": float(np.mean(hvs)),
            "hv_equal_evaluations_std": float(np.std(hvs, ddof=1)) if len(hvs) > 1 else 0.0,
            "hv_equal_evaluations_by_seed": {seed: r["hv_equal_evaluations"] for seed, r in runs.items()},
            "evaluations_per_min": min(r["evaluations_per_min"] for r in runs.values()),
            "evaluations_per_min_by_seed": {seed: r["evaluations_per_min"] for seed, r in runs.items()},
            "dev_pct_by_seed": {f"{b:g}": {seed: dev_pct(r, b) for seed, r in runs.items()} for b in BUDGETS},
        }
    return out


def dev_pct(summary: dict[str, Any], budget: float) -> float:
    """Dev accuracy of the best Arch within `budget`, as % of the teacher's (NaN when nothing fits)."""
    pick = summary["best"].get(f"{budget:g}")
    return math.nan if pick is None else float(pick["dev_pct_of_teacher"])


def judge(per: dict[str, dict[str, Any]]) -> dict[str, bool]:
    """Pass/fail of every target (NaN never passes); `per[s]["hv_equal_evaluations"]` must be set."""
    met: dict[str, bool] = {}
    for budget, pct in TARGET_PCT.items():
        best = max(
            (v for v in (dev_pct(s, budget) for s in per.values()) if not math.isnan(v)), default=math.nan
        )
        met[f"best_over_samplers_at_{budget:g}_ge_{pct:g}pct"] = bool(best >= pct)
        met[f"nsga2_at_{budget:g}_ge_{pct:g}pct"] = bool(dev_pct(per["nsga2"], budget) >= pct)
    baseline = max(per[b]["hv_equal_evaluations"] for b in BASELINES)
    for s in ("nsga2", "tpe"):
        met[f"{s}_hv_above_random_and_evolution"] = bool(per[s]["hv_equal_evaluations"] > baseline)
    rates = [s["evaluations_per_min"] for s in per.values()]
    met[f"evaluations_per_min_ge_{TARGET_EVALS_PER_MIN:g}"] = bool(min(rates) >= TARGET_EVALS_PER_MIN)
    return met


def grid_reference(
    grid: pd.DataFrame, budgets: list[float], teacher_acc: float, fixed_ratio: float
) -> dict[str, Any]:
    """Best uniform (width, depth) sub-network per budget from the supernet's dev grid (picked on dev), by the
    same budget rule as the search's picks (`fixed_ratio` from its `meta.json`)."""
    picks = best_per_budget(
        grid.assign(status="ok"), budgets, "dev_metric", "flops_ratio", fixed_ratio=fixed_ratio
    )
    return {f"{b:g}": pick(row, teacher_acc) for b, row in picks.items()}


def judge_retrained(retrained: dict[str, Any] | None) -> dict[str, bool]:
    """The accuracy targets on the re-trained NSGA-II picks (none when the step did not run)."""
    if retrained is None:
        return {}
    met = {}
    for budget, pct in TARGET_PCT.items():
        pick = retrained["by_budget"].get(f"{budget:g}")
        met[f"nsga2_retrained_at_{budget:g}_ge_{pct:g}pct"] = bool(
            pick is not None and pick["dev_after_pct_of_teacher"] >= pct
        )
    return met
