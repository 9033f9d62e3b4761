"""Report fixtures: the hand-made trial table of tests/unit/results (dev metrics for the chosen Archs), a
supernet grid, latency for one export, and a run directory laid out as `report.inputs` documents."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from raydistill.models.arch import Arch
from raydistill.report.inputs import ReportInputs
from raydistill.results.table import make_table, with_dev_metrics, write_table
from tests.unit.results.conftest import BUDGETS, fixture_rows

TEACHER = {"metric": 0.91, "flops": 2_000_000, "params": 11_000_000}
FIXED_RATIO = (
    0.02  # pooler + head share of the teacher's FLOPs: budgets 25/50/75% admit 26.5/51/75.5% in total
)
# t0, t1 and t3 are the picks for budgets 0.25 / 0.5 / 0.75 (see tests/unit/results/conftest.py)
DEV = {"L3@1,3,5-H3x3-F768x3": 0.79, "L3@1,3,5-H6x3-F1536x3": 0.84, "L6-H9x6-F2304x6": 0.88}
LATENCY = {"L3@1,3,5-H6x3-F1536x3": {"latency_ms": 3.2, "batch_size": 1, "seq_len": 128, "device": "cpu"}}


def make_grid() -> pd.DataFrame:
    rows = []
    for width in (0.5, 1.0):
        for depth in (0.5, 1.0):
            arch = Arch.from_multipliers(width, depth, 6, 12, 3072)
            ratio = width * depth
            rows.append(
                {
                    "arch_id": arch.id,
                    "width": width,
                    "depth": depth,
                    "flops": int(ratio * TEACHER["flops"]),
                    "flops_ratio": ratio,
                    "params": int(ratio * TEACHER["params"]),
                    "dev_metric": 0.7 + 0.2 * ratio,
                }
            )
    return pd.DataFrame(rows)


def make_trials() -> pd.DataFrame:
    return with_dev_metrics(make_table(fixture_rows()), DEV)


@pytest.fixture
def inputs() -> ReportInputs:
    return ReportInputs(
        name="demo-run",
        task="sst2",
        metric_name="accuracy",
        teacher=TEACHER,
        trials=make_trials(),
        grid=make_grid(),
        budgets=BUDGETS,
        fixed_ratio=FIXED_RATIO,
        latency=LATENCY,
    )


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run directory as the search, supernet and export stages write it."""
    run = tmp_path / "demo-run"
    write_table(make_trials(), run / "search")
    meta = {"name": "demo-run", "task": "sst2", "metric_name": "accuracy", "budgets": BUDGETS}
    meta |= {"fixed_ratio": FIXED_RATIO}
    meta |= {"sampler": "nsga2", "teacher": TEACHER, "extra": "ignored"}
    (run / "search" / "meta.json").write_text(json.dumps(meta))
    (run / "supernet").mkdir()
    make_grid().assign(train_loss=0.1).to_csv(run / "supernet" / "supernet_eval.csv", index=False)
    (run / "export").mkdir()
    (run / "export" / "latency.json").write_text(json.dumps(LATENCY))
    return run
