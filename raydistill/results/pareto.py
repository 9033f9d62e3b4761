"""Pareto fronts, hypervolume and best-per-budget picks: data, not plots (pure numpy/pandas).

Conventions:
    Dominance (Deb et al. 2002, NSGA-II Sec. III-A): point a dominates b when a is no worse than b in every
    objective and strictly better in at least one. `maximize[k]` says which direction is better for objective k.
    Ties and duplicates: points that differ in some objective but tie in another are compared by that rule (so
    (cost 1, metric 0.9) dominates (cost 1, metric 0.8)). Exact duplicates do not dominate each other; of a group
    of identical points only the FIRST (lowest row index) is marked on the front, so the front never lists the
    same point twice (the same Arch sampled twice shows once). Rows with a NaN/inf objective are never on the
    front and dominate nothing.
    Table functions use the trial-table columns (`results.table`): candidates are rows with `status == "ok"`
    (when the column exists) and finite metric and cost; the metric is maximised, the cost minimised.
    Hypervolume (Zitzler & Thiele 1998, the "S metric"): area dominated by the points and bounded by a
    reference point. Reference for (metric, FLOPs ratio): the metric's worst value (`worst_value`: 0, or -1
    for correlations such as MCC) and ratio 1.0 (the teacher's cost), `reference_for(metric)`; so the value
    lies in [0, 1] for metrics in [0, 1] (in [0, 2] for correlations) and points at the worst metric or at a
    ratio >= 1 add nothing.
    Budgets price what compression can shrink. A sub-network fits budget b when its encoder FLOPs (the
    transformer layers: what width, depth and token dropping shrink) are at most b x the teacher's encoder
    FLOPs; the pooler and task head (and any other part no sub-network can shrink) are a fixed cost every
    sub-network pays. With f = fixed / teacher total FLOPs (`fixed_ratio`, recorded per run in
    `search/meta.json`) this is, on the total-FLOPs ratio axis every table uses,
        ratio <= b + (1 - b) * f                                            (`budget_limit`)
    exactly, at any sequence length: encoder <= b * E  <=>  encoder + F <= b * (E + F) + (1 - b) * F. So the
    uniform width-0.25 DynaBERT network of MiniLM-L6 (25.02% of the teacher's total FLOPs) fits budget 0.25.
    `within_budget` adds 1e-9 (`BUDGET_TOL`) to absorb float round-off of ratios of integer FLOPs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "BUDGET_TOL",
    "DEFAULT_REFERENCE",
    "best_per_budget",
    "budget_limit",
    "front_flags",
    "hypervolume",
    "hypervolume_history",
    "pareto_front",
    "pareto_mask",
    "reference_for",
    "within_budget",
    "worst_value",
]

BUDGET_TOL = 1e-9
DEFAULT_REFERENCE = (0.0, 1.0)  # (metric, flops ratio): metric 0, the teacher's cost
# Lowest value each metric can take where it is not 0 (correlations); see `worst_value`.
WORST_VALUES: dict[str, float] = {"mcc": -1.0, "pearson": -1.0, "spearmanr": -1.0}
_BLOCK = 1024  # rows compared at once in `pareto_mask` (bounds memory at n * _BLOCK * m booleans)


def worst_value(metric: str) -> float:
    """The worst possible value of a (maximised) task metric: -1 for correlations, 0 otherwise."""
    return WORST_VALUES.get(metric, 0.0)


def reference_for(metric: str) -> tuple[float, float]:
    """Hypervolume reference (metric, FLOPs ratio) for a search scored with `metric`: its worst value, 1.0."""
    return (worst_value(metric), DEFAULT_REFERENCE[1])


def budget_limit(budget: float, fixed_ratio: float) -> float:
    """The largest total-FLOPs ratio that fits `budget`: b + (1 - b) * f (module docstring, "Budgets").

    Args:
        budget: b, a fraction of the teacher's encoder FLOPs, in (0, 1].
        fixed_ratio: f, FLOPs no sub-network can shrink (pooler, task head) / teacher total FLOPs, in [0, 1).
    """
    if not 0.0 <= fixed_ratio < 1.0:
        raise ValueError(f"fixed_ratio {fixed_ratio!r} is not in [0, 1): it is fixed FLOPs / teacher FLOPs")
    return float(budget) + (1.0 - float(budget)) * float(fixed_ratio)


def within_budget(
    ratio: float | np.ndarray | pd.Series, budget: float, fixed_ratio: float
) -> bool | np.ndarray | pd.Series:
    """True where a total-FLOPs ratio fits the budget (ratio <= `budget_limit`, up to `BUDGET_TOL`)."""
    return ratio <= budget_limit(budget, fixed_ratio) + BUDGET_TOL


def _minimization(points: np.ndarray | Sequence[Sequence[float]], maximize: Sequence[bool]) -> np.ndarray:
    """(n, m) float array with maximised objectives negated, so that smaller is better everywhere."""
    p = np.asarray(points, dtype="float64")
    if p.ndim != 2 or p.shape[1] != len(maximize):
        raise ValueError(
            f"points have shape {p.shape} but maximize has {len(maximize)} entries; "
            "give an (n, m) array and one direction per objective"
        )
    return np.where(np.asarray(maximize, dtype=bool), -p, p)  # (n, m)


def pareto_mask(points: np.ndarray | Sequence[Sequence[float]], maximize: Sequence[bool]) -> np.ndarray:
    """Which points are non-dominated (see the module docstring for ties, duplicates and NaN).

    Args:
        points: (n, m) objective values.
        maximize: m flags; True = larger is better for that objective.

    Returns:
        (n,) boolean mask, True on the Pareto front.
    """
    p = _minimization(points, maximize)  # (n, m)
    finite = np.isfinite(p).all(axis=1)
    q = p[finite]  # (k, m)
    on = np.zeros(len(q), dtype=bool)
    for start in range(0, len(q), _BLOCK):
        block = q[start : start + _BLOCK]  # (b, m): the points judged in this pass
        no_worse = (q[:, None, :] <= block[None, :, :]).all(-1)  # (k, b): q[j] no worse than block[i]
        better = (q[:, None, :] < block[None, :, :]).any(-1)  # (k, b)
        same = (q[:, None, :] == block[None, :, :]).all(-1)  # (k, b)
        earlier = np.arange(len(q))[:, None] < np.arange(start, start + len(block))[None, :]  # (k, b)
        on[start : start + len(block)] = ~((no_worse & better) | (same & earlier)).any(0)
    mask = np.zeros(len(p), dtype=bool)
    mask[finite] = on
    return mask


def _candidates(df: pd.DataFrame, metric_col: str, cost_col: str) -> np.ndarray:
    """Rows that may be chosen: status ok (when the column exists), finite metric and cost."""
    ok = np.isfinite(df[metric_col].to_numpy("float64")) & np.isfinite(df[cost_col].to_numpy("float64"))
    if "status" in df:
        ok &= (df["status"] == "ok").to_numpy()
    return ok


def front_flags(
    df: pd.DataFrame, metric_col: str = "search_metric", cost_col: str = "flops_ratio"
) -> np.ndarray:
    """(n,) bool: row is on the Pareto front of `metric_col` (max) vs `cost_col` (min) among candidate rows."""
    flags = np.zeros(len(df), dtype=bool)
    cand = _candidates(df, metric_col, cost_col)
    points = df.loc[cand, [metric_col, cost_col]].to_numpy("float64")
    flags[cand] = pareto_mask(points, (True, False))
    return flags


def pareto_front(
    df: pd.DataFrame, metric_col: str = "search_metric", cost_col: str = "flops_ratio"
) -> pd.DataFrame:
    """The Pareto-front rows of a trial table, sorted by cost ascending (metric then rises along the front).

    The original index is kept so callers can map rows back to the table.
    """
    front = df[front_flags(df, metric_col, cost_col)]
    return front.sort_values([cost_col, metric_col], ascending=[True, False], kind="stable")


def hypervolume(
    points: np.ndarray | Sequence[Sequence[float]], reference: Sequence[float], maximize: Sequence[bool]
) -> float:
    """Exact 2-D hypervolume of `points` w.r.t. `reference` (Zitzler & Thiele's S metric), by a sweep.

    With both objectives turned into minimisation and points sorted by the first objective (ties: second
    ascending), HV = sum_i (r_0 - x_i) * max(0, min(r_1, y_1..y_{i-1}) - y_i): each point adds the horizontal
    strip between its y and the best y seen so far, reaching from its x to the reference. Points that do not
    strictly beat the reference in both objectives add nothing; NaN points are ignored.

    Args:
        points: (n, 2) objective values.
        reference: the 2 reference values, in the same (unflipped) units as `points`.
        maximize: 2 flags, as in `pareto_mask`.
    """
    if len(maximize) != 2 or len(reference) != 2:
        raise ValueError(f"hypervolume is implemented for 2 objectives; got maximize={list(maximize)}")
    p = _minimization(np.asarray(points, dtype="float64").reshape(-1, 2), maximize)  # (n, 2)
    r = _minimization([list(reference)], maximize)[0]  # (2,)
    p = p[np.isfinite(p).all(axis=1) & (p[:, 0] < r[0]) & (p[:, 1] < r[1])]
    if len(p) == 0:
        return 0.0
    p = p[np.lexsort((p[:, 1], p[:, 0]))]  # sort by x, then y
    best_before = np.minimum.accumulate(np.concatenate([[r[1]], p[:-1, 1]]))  # (n,)
    return float(np.sum((r[0] - p[:, 0]) * np.clip(best_before - p[:, 1], 0.0, None)))


def hypervolume_history(
    df: pd.DataFrame,
    metric_col: str = "search_metric",
    cost_col: str = "flops_ratio",
    reference: Sequence[float] = DEFAULT_REFERENCE,
) -> pd.DataFrame:
    """Hypervolume of the first k trials for k = 1..n, in table (completion) order; non-decreasing by design.

    Only candidate rows (see the module docstring) contribute; others repeat the previous value.

    Returns:
        DataFrame with columns `n_trials` (k), `trial_id` (the k-th trial, when the table has that column) and
        `hypervolume`.
    """
    cand = _candidates(df, metric_col, cost_col)
    points = df[[metric_col, cost_col]].to_numpy("float64")  # (n, 2)
    values = []
    for k in range(1, len(df) + 1):
        values.append(hypervolume(points[:k][cand[:k]], reference, (True, False)))
    out = pd.DataFrame({"n_trials": np.arange(1, len(df) + 1, dtype="int64")})
    if "trial_id" in df:
        out["trial_id"] = df["trial_id"].to_numpy()
    out["hypervolume"] = np.asarray(values, dtype="float64")
    return out


def best_per_budget(
    df: pd.DataFrame,
    budgets: Sequence[float],
    metric_col: str = "search_metric",
    cost_col: str = "flops_ratio",
    *,
    fixed_ratio: float,
) -> dict[float, pd.Series | None]:
    """For each budget, the candidate row with the best metric among rows whose cost fits the budget.

    A row fits budget b when `within_budget(cost, b, fixed_ratio)` (module docstring, "Budgets"): `cost_col`
    holds total-FLOPs ratios and `fixed_ratio` is the run's fixed (unshrinkable) share of the teacher's FLOPs.

    Ties on the metric go to the lower cost, then to the earlier row, so the pick is always a Pareto-front row
    (`front_flags`). A budget that nothing fits maps to None.

    Returns:
        {budget: row (a Series, its `name` is the table index) or None}, in the order of `budgets`.
    """
    cand = df[_candidates(df, metric_col, cost_col)]
    ranked = cand.assign(_pos=np.arange(len(cand))).sort_values(
        [metric_col, cost_col, "_pos"], ascending=[False, True, True], kind="stable"
    )
    picks: dict[float, pd.Series | None] = {}
    for budget in budgets:
        fits = ranked[within_budget(ranked[cost_col], float(budget), fixed_ratio)]
        picks[float(budget)] = fits.iloc[0].drop("_pos") if len(fits) else None
    return picks
