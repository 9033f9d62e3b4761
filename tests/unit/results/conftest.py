"""A hand-made trial table whose Pareto front, best-per-budget picks and hypervolume are worked out by hand.

Points (search metric, FLOPs ratio); budgets 0.25 / 0.5 / 0.75:
    t0  0.80 0.20  ok          front
    t1  0.85 0.45  ok          front
    t2  0.83 0.50  ok          dominated by t1 (worse metric, higher cost)
    t3  0.90 0.70  ok          front
    t4  0.85 0.45  ok          exact duplicate of t1 (same Arch): only t1 is marked
    t5  0.95 0.90  infeasible  evaluated but over the largest budget: never a candidate
    t6  NaN  0.30  error
Best per budget: 0.25 -> t0, 0.5 -> t1, 0.75 -> t3. Hypervolume against (metric 0, ratio 1):
(1 - 0.2) * 0.8 + (1 - 0.45) * (0.85 - 0.8) + (1 - 0.7) * (0.9 - 0.85) = 0.64 + 0.0275 + 0.015 = 0.6825.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest

from raydistill.models.arch import Arch
from raydistill.results.table import make_table

TEACHER_MACS = 1_000_000
BUDGETS = [0.25, 0.5, 0.75]
FRONT_HV = 0.64 + 0.0275 + 0.015

# trial id -> (width, depth, search metric, flops ratio, status)
POINTS: dict[str, tuple[float, float, float, float, str]] = {
    "t0": (0.25, 0.5, 0.80, 0.20, "ok"),
    "t1": (0.5, 0.5, 0.85, 0.45, "ok"),
    "t2": (0.5, 1.0, 0.83, 0.50, "ok"),
    "t3": (0.75, 1.0, 0.90, 0.70, "ok"),
    "t4": (0.5, 0.5, 0.85, 0.45, "ok"),
    "t5": (1.0, 1.0, 0.95, 0.90, "infeasible"),
    "t6": (0.25, 1.0, math.nan, 0.30, "error"),
}


def trial_row(
    trial_id: str, width: float, depth: float, metric: float, ratio: float, status: str
) -> dict[str, Any]:
    """One schema-complete row for a uniform DynaBERT Arch of a 6-layer, 12-head, 3072-FFN model."""
    arch = Arch.from_multipliers(width, depth, 6, 12, 3072)
    macs = round(ratio * TEACHER_MACS)
    return {
        "trial_id": trial_id,
        "arch_id": arch.id,
        "arch_json": arch.to_json(),
        "flops": 2 * macs,
        "flops_ratio": ratio,
        "macs": macs,
        "params": 1_000_000 + int(ratio * 10_000_000),
        "search_metric": metric,
        "dev_metric": math.nan,
        "metric_name": "accuracy",
        "sampler": "nsga2",
        "budget_feasible": ratio <= max(BUDGETS),
        "status": status,
        "note": "",
        "wall_time_s": 1.5,
        "latency_b1_ms": math.nan,  # a FLOPs-objective search times nothing
        "latency_b32_ms": math.nan,
        "latency_ratio": math.nan,
    }


def fixture_rows() -> list[dict[str, Any]]:
    return [trial_row(tid, *values) for tid, values in POINTS.items()]


@pytest.fixture
def trials() -> pd.DataFrame:
    return make_table(fixture_rows())
