"""The `sst2_joint` benchmark's numbers (pure functions, tested in tests/unit/test_bench_sst2_joint.py).

Dev pricing beyond dynamic padding: an Arch's cost on dev is its mean per-example FLOPs at each example's REAL
length (`models.flops.flops_per_example`: the forward's token rule applied per example) over the full model's mean
per-example FLOPs at the same real lengths: the reference is the full model on dynamically padded batches, so a
token-dropping Arch is credited only for what it saves beyond padding removal (LAT priced every example at 128).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from raydistill.models.arch import Arch
from raydistill.results.pareto import hypervolume, pareto_front

REFERENCE = (0.0, 1.0)  # (accuracy, cost ratio): as search_sst2 and sampler_study


def real_length_ratio(arch: Arch, config: Any, lengths: Sequence[int]) -> float:
    """Mean per-example FLOPs of `arch` / the full model's, both at each example's real length."""
    from raydistill.models.flops import flops_per_example

    own = sum(f.macs for f in flops_per_example(arch, config, lengths))
    full = sum(f.macs for f in flops_per_example(Arch.for_config(config), config, lengths))
    return own / full


def first_evaluated(table: pd.DataFrame, n: int) -> pd.DataFrame:
    """The first `n` evaluated (`ok`) rows of a driven search, in completion order."""
    return table[table["status"] == "ok"].head(n)


def dev_front_hv(
    table: pd.DataFrame, dev_metric: Callable[[str], float], dev_cost: Callable[[str], float]
) -> tuple[float, list[dict[str, Any]]]:
    """Hypervolume on dev of the search-split Pareto front of `table` (accuracy max, cost min, `REFERENCE`).

    The front is chosen on the search split (the searches' objective); each front Arch is then scored on dev
    (`dev_metric(arch_id)`) and priced at dev's real lengths (`dev_cost(arch_id)`): dev is never searched on.
    Returns (hypervolume, the front's points).
    """
    front = pareto_front(table)
    points = [
        {"arch_id": a, "search_metric": float(s), "flops_ratio_at_cost_length": float(c),
         "dev_metric": dev_metric(a), "dev_cost_ratio_real_length": dev_cost(a)}
        for a, s, c in zip(front["arch_id"], front["search_metric"], front["flops_ratio"], strict=True)
    ]  # fmt: skip
    xy = [[p["dev_metric"], p["dev_cost_ratio_real_length"]] for p in points]
    return hypervolume(xy, REFERENCE, (True, False)) if xy else 0.0, points


def paired(a: Mapping[int, float], b: Mapping[int, float]) -> dict[str, Any]:
    """Paired comparison of a vs b over the seeds both have: mean and std of a - b, wins, paired t-test and
    Wilcoxon signed-rank p-values (two-sided; NaN with fewer than 2 seeds or all differences 0)."""
    seeds = sorted(set(a) & set(b))
    diffs = [a[s] - b[s] for s in seeds]
    out: dict[str, Any] = {
        "seeds": seeds,
        "diff_by_seed": dict(zip(map(str, seeds), diffs, strict=True)),
        "mean_diff": statistics.fmean(diffs) if diffs else math.nan,
        "std_diff": statistics.stdev(diffs) if len(diffs) > 1 else math.nan,
        "wins": f"{sum(d > 0 for d in diffs)}/{len(diffs)}",
        "t_test_p": math.nan,
        "wilcoxon_p": math.nan,
    }
    if len(diffs) > 1 and any(d != 0 for d in diffs):
        from scipy import stats

        out["t_test_p"] = float(stats.ttest_rel(list(a[s] for s in seeds), list(b[s] for s in seeds)).pvalue)
        out["wilcoxon_p"] = float(stats.wilcoxon(diffs).pvalue)
    return out


def spread(values: Sequence[float]) -> dict[str, float]:
    """Mean and sample std (NaN std for one value)."""
    vals = [float(v) for v in values]
    return {"mean": statistics.fmean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else math.nan}


def suggest_stats(seconds: Sequence[float]) -> dict[str, float]:
    """Suggest-call wall time of one driven search: mean, median, max and total seconds, and the mean over
    the last quarter of the calls (GP's cost grows with the trials it has seen)."""
    s = np.asarray(seconds, dtype="float64")
    tail = s[-max(1, len(s) // 4) :]
    return {
        "mean_s": float(s.mean()), "median_s": float(np.median(s)), "max_s": float(s.max()),
        "total_s": float(s.sum()), "last_quarter_mean_s": float(tail.mean()), "calls": int(len(s)),
    }  # fmt: skip
