"""Report fixtures: the hand-made trial table of tests/unit/results (dev metrics for the chosen Archs), and
the points table a full run writes for it (teacher, supernet grid, dev-scored trials, the budget picks, latency
for one export), and a run directory laid out as `report.inputs` documents."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from raydistill.layout import RunLayout
from raydistill.models.arch import Arch
from raydistill.report.inputs import ReportInputs
from raydistill.results.points import make_points, write_points
from raydistill.results.table import make_table, with_dev_metrics, write_table
from tests.unit.results.conftest import fixture_rows

TEACHER = {"metric": 0.91, "flops": 2_000_000, "params": 11_000_000}
FIXED_RATIO = (
    0.02  # pooler + head share of the teacher's FLOPs: budgets 25/50/75% admit 26.5/51/75.5% in total
)
FIXED_FLOPS = round(FIXED_RATIO * TEACHER["flops"])  # 40_000: what the teacher row's encoder_flops leaves out
# t0, t1 and t3 are the picks for budgets 0.25 / 0.5 / 0.75 (see tests/unit/results/conftest.py)
DEV = {"L3@1,3,5-H3x3-F768x3": 0.79, "L3@1,3,5-H6x3-F1536x3": 0.84, "L6-H9x6-F2304x6": 0.88}
PICKS = {0.25: "t0", 0.5: "t1", 0.75: "t3"}
LATENCY_MS = 3.2  # measured on the export of the 50% pick
SEQ_LENGTH = 128


def point(label: str, kind: str, stage: str, method: str, **columns: Any) -> dict[str, Any]:
    """One points-table row; an `arch` (Arch) fills arch_id / arch_json, encoder_flops defaults to flops minus
    the teacher's fixed FLOPs."""
    arch = columns.pop("arch", None)
    if arch is not None:
        columns |= {"arch_id": arch.id, "arch_json": arch.to_json()}
    columns.setdefault("encoder_flops", columns["flops"] - FIXED_FLOPS)
    row = {"label": label, "kind": kind, "stage": stage, "method": method, "seq_length": SEQ_LENGTH}
    row |= dict.fromkeys(
        ("arch_id", "arch_json", "config_json", "export_dir", "note", "dev_scores", "search_split", "dev_split"), ""
    )
    return row | {"metric_name": "accuracy", "model_dir": f"runs/demo-run/{stage}/model"} | columns


def teacher_point() -> dict[str, Any]:
    teacher = Arch.from_multipliers(1.0, 1.0, 6, 12, 3072)
    return point(
        "teacher", "teacher", "teacher", "finetune", arch=teacher, flops=TEACHER["flops"], flops_ratio=1.0,
        params=TEACHER["params"], dev_metric=TEACHER["metric"],
    )  # fmt: skip


def trial_point(trial: dict[str, Any], kind: str, label: str, **columns: Any) -> dict[str, Any]:
    """A point of a trial-table row (an Arch the search evaluated), scored on dev when `DEV` has it."""
    cost = {c: trial[c] for c in ("arch_id", "arch_json", "flops", "flops_ratio", "params", "search_metric")}
    columns.setdefault("dev_metric", DEV.get(trial["arch_id"], math.nan))
    return point(label, kind, "search" if kind == "trial" else "picks", "supernet", **cost, **columns)


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


def grid_points() -> list[dict[str, Any]]:
    return [
        point(f"grid w{r['width']:g}-d{r['depth']:g}", "grid", "supernet", "supernet", arch=Arch.from_id(r["arch_id"]),
              **{c: r[c] for c in ("flops", "flops_ratio", "params", "dev_metric")})
        for r in make_grid().to_dict("records")
    ]  # fmt: skip


def make_run_points(picks: dict[float, str] = PICKS) -> pd.DataFrame:
    """The points table of the fixture run: teacher, grid, the dev-scored trials, then one pick per budget
    (`picks`: budget -> trial id), the 50% pick with a measured latency."""
    trials = {r["trial_id"]: r for r in make_trials().to_dict("records")}
    first: dict[str, str] = {}  # Arch id -> the first trial that evaluated it
    for tid, r in trials.items():
        first.setdefault(r["arch_id"], tid)
    scored = [trial_point(trials[tid], "trial", f"trial {tid}") for arch, tid in first.items() if arch in DEV]
    chosen = [
        trial_point(trials[tid], "pick", f"pick {b:g}", budget=b, **({"latency_ms": LATENCY_MS} if b == 0.5 else {}))
        for b, tid in picks.items()
    ]  # fmt: skip
    return make_points([teacher_point(), *grid_points(), *scored, *chosen])


@pytest.fixture
def inputs() -> ReportInputs:
    return ReportInputs(name="demo-run", task="sst2", points=make_run_points(), trials=make_trials())


def write_spec(run: Path, name: str = "demo-run") -> None:
    run.mkdir(parents=True, exist_ok=True)
    RunLayout(run).spec_json.write_text(json.dumps({"name": name, "task": "sst2", "extra": "ignored"}))


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run directory as `raydistill run` and its stages write it: spec, points table, trial table."""
    run = tmp_path / "demo-run"
    write_spec(run)
    write_table(make_trials(), run / "search")
    write_points(RunLayout(run), make_run_points())
    return run
