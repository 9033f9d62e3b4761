"""The points table: schema checks, a stage's rows replaced on rerun, updates by label, picks grouped by Arch."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from raydistill.errors import RunError
from raydistill.layout import RunLayout
from raydistill.models.arch import Arch
from raydistill.results.points import (
    POINT_COLUMNS,
    budgets_of,
    make_points,
    picks_by_arch,
    read_points,
    replace_points,
    update_points,
)

FULL = Arch(layers=(0, 1), heads=(4, 4), ffn=(64, 64))
SMALL = Arch(layers=(0,), heads=(2,), ffn=(32,))


def _row(label: str, kind: str = "grid", arch: Arch | None = FULL, **extra: Any) -> dict[str, Any]:
    row = {
        "label": label, "kind": kind, "stage": "supernet", "method": "supernet", "seq_length": 64,
        "flops": 1000, "encoder_flops": 900, "flops_ratio": 1.0, "params": 50, "dev_metric": 0.9,
        "metric_name": "accuracy", "model_dir": "/runs/x/supernet/model",
    }  # fmt: skip
    if arch is not None:
        row |= {"arch_id": arch.id, "arch_json": arch.to_json()}
    return row | extra


def test_rows_are_coerced_and_defaults_filled() -> None:
    table = make_points([_row("grid a"), _row("pick 0.5", "pick", SMALL, budget=0.5, flops=950.0)])
    assert list(table.columns) == list(POINT_COLUMNS)
    assert table["flops"].dtype == "int64" and table.loc[1, "flops"] == 950
    assert math.isnan(table.loc[0, "search_metric"]) and table.loc[0, "export_dir"] == ""


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([_row("a"), _row("a")], "'a' appears more than once"),
        ([_row("a", "pick")], "budget"),
        ([_row("a", budget=0.5)], "not a `pick`"),
        ([_row("a", "nonsense")], "is not one of teacher"),
        ([_row("a", arch=None)], "config_json"),
        ([_row("a", arch_id=SMALL.id)], "arch_json describes"),
        ([_row("a"), _row("b", seq_length=128)], "one length"),
        ([_row("a", encoder_flops=2000)], "exceeds flops"),
        ([_row("a", flops=1.5)], "not a whole number"),
        ([{**_row("a"), "extra": 1}], "unknown column"),
    ],
)
def test_bad_rows_name_the_column(rows: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_points(rows)


def test_a_student_row_has_a_config_and_no_arch() -> None:
    table = make_points([_row("student s", "student", None, config_json='{"layers": 1}', method="kd")])
    assert table.loc[0, "arch_id"] == "" and table.loc[0, "kind"] == "student"


def test_a_stage_rerun_replaces_only_its_own_rows(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    assert read_points(layout).empty
    replace_points(layout, "teacher", [_row("teacher", "teacher", method="finetune")])
    replace_points(layout, "supernet", [_row("grid a"), _row("grid b", arch=SMALL)])
    replace_points(layout, "supernet", [_row("grid c", arch=SMALL)])
    table = read_points(layout)
    assert list(table["label"]) == ["teacher", "grid c"]
    assert list(table["stage"]) == ["teacher", "supernet"]
    layout.points_parquet.unlink()  # the CSV copy reads back the same
    pd.testing.assert_frame_equal(read_points(layout), table)


def test_update_by_label_and_picks_by_arch(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    picks = [_row(f"pick {b:g}", "pick", SMALL if b < 0.7 else FULL, budget=b) for b in (0.75, 0.25, 0.5)]
    replace_points(layout, "picks", picks)
    update_points(layout, {"pick 0.25": {"latency_ms": 2.5, "export_dir": "exports/x"}})
    table = read_points(layout)
    assert table.set_index("label").loc["pick 0.25", "latency_ms"] == 2.5
    assert picks_by_arch(table) == {SMALL.id: [0.25, 0.5], FULL.id: [0.75]}
    assert budgets_of(table) == [0.25, 0.5, 0.75]
    with pytest.raises(ValueError, match="no row labelled"):
        update_points(layout, {"pick 0.9": {"latency_ms": 1.0}})


def test_a_damaged_file_is_a_run_error_naming_it(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    layout.points_csv.write_text("label,kind\nteacher,teacher\n")
    with pytest.raises(RunError, match="points.csv: not a valid points table"):
        read_points(layout)
