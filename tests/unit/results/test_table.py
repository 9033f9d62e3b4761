"""Trial-table schema: columns, dtypes, coercion, rejections and the parquet/CSV round trip."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from raydistill.errors import RunError
from raydistill.models.arch import Arch
from raydistill.results.table import (
    COLUMNS,
    CSV_FILE,
    PARQUET_FILE,
    empty_table,
    make_table,
    read_table,
    with_dev_metrics,
    write_table,
)
from tests.unit.results.conftest import fixture_rows, trial_row


def test_columns_and_dtypes_in_schema_order(trials: pd.DataFrame) -> None:
    assert list(trials.columns) == list(COLUMNS)
    for name, dtype in COLUMNS.items():
        if dtype == "str":
            assert pd.api.types.is_string_dtype(trials[name]), name
        else:
            assert trials[name].dtype == np.dtype(dtype), name
    assert trials["on_front"].tolist() == [True, True, False, True, False, False, False]


def test_input_order_of_keys_does_not_matter() -> None:
    rows = [dict(reversed(list(r.items()))) for r in fixture_rows()]
    pd.testing.assert_frame_equal(make_table(rows), make_table(fixture_rows()))


def test_missing_column_is_named() -> None:
    rows = fixture_rows()
    for row in rows:
        del row["params"]
    with pytest.raises(ValueError, match=r"missing column\(s\) \['params'\]"):
        make_table(rows)


def test_column_missing_in_one_row_is_named() -> None:
    rows = fixture_rows()
    del rows[3]["wall_time_s"]
    with pytest.raises(ValueError, match=r"row 3 .*missing column\(s\) \['wall_time_s'\]"):
        make_table(rows)


def test_unknown_column_rejected() -> None:
    rows = [{**r, "loss": 0.1} for r in fixture_rows()]
    with pytest.raises(ValueError, match=r"unknown column\(s\) \['loss'\]"):
        make_table(rows)


def test_dev_metric_defaults_to_nan_and_on_front_is_recomputed() -> None:
    rows = fixture_rows()
    for row in rows:
        del row["dev_metric"]
        row["on_front"] = True  # a wrong claim: derived data is never trusted
    table = make_table(rows)
    assert table["dev_metric"].isna().all()
    assert table["on_front"].sum() == 3


def test_lossless_coercion() -> None:
    rows = fixture_rows()
    rows[0]["flops"] = float(rows[0]["flops"])  # 400000.0 -> 400000
    rows[0]["macs"] = np.int32(rows[0]["macs"])
    rows[0]["wall_time_s"] = 2  # int -> float
    rows[0]["budget_feasible"] = np.bool_(True)
    table = make_table(rows)
    assert table["flops"].dtype == np.int64 and table.loc[0, "flops"] == 400_000
    assert table["wall_time_s"].dtype == np.float64 and table.loc[0, "wall_time_s"] == 2.0


@pytest.mark.parametrize(
    ("column", "value", "match"),
    [
        ("params", 1.5, "not a whole number"),
        ("params", "many", "booleans or strings"),
        ("search_metric", "0.9", "booleans or strings"),
        ("budget_feasible", 1, "give True or False"),
        ("trial_id", 7, "non-text"),
        ("status", "done", "not one of ok, infeasible, failed, error"),
    ],
)
def test_wrong_dtype_rejected(column: str, value: object, match: str) -> None:
    rows = fixture_rows()
    rows[1][column] = value
    with pytest.raises(ValueError, match=match) as info:
        make_table(rows)
    assert repr(column) in str(info.value)


def test_row_rules() -> None:
    rows = fixture_rows()
    rows[2]["flops"] += 2  # no longer 2 x macs
    with pytest.raises(ValueError, match=r"is not 2 x macs .*\(trial 't2'\)"):
        make_table(rows)
    rows = fixture_rows()
    rows[0]["search_metric"] = math.nan  # an `ok` trial must have a metric
    with pytest.raises(ValueError, match="NaN on an `ok` row"):
        make_table(rows)
    rows = fixture_rows()
    rows[4]["flops_ratio"] = math.nan
    with pytest.raises(
        ValueError, match=r"'flops_ratio' \(float64\): is negative or not finite \(trial 't4'\)"
    ):
        make_table(rows)
    rows = fixture_rows()
    rows[1]["trial_id"] = "t0"
    with pytest.raises(ValueError, match="'t0' appears more than once"):
        make_table(rows)


def test_failed_rows_carry_no_metric_and_notes_survive_both_formats(tmp_path: Path) -> None:
    """`failed` = non-finite outputs or metric: NaN only; `note` is free text, "" when a table lacks it."""
    rows = fixture_rows()
    rows[1] |= {"status": "failed", "search_metric": math.nan, "note": "non-finite outputs"}
    rows[2]["note"] = "constant predictions"
    table = make_table(rows)
    assert list(table["status"])[1] == "failed" and not table.loc[1, "on_front"]
    for fmt in ("parquet", "csv"):
        write_table(table, tmp_path / fmt, formats=[fmt])
        pd.testing.assert_frame_equal(read_table(tmp_path / fmt), table)
    rows[1]["search_metric"] = 0.5
    with pytest.raises(ValueError, match="a number on a `failed` row"):
        make_table(rows)
    old = fixture_rows()
    for row in old:
        del row["note"]  # written before the column existed
    assert (make_table(old)["note"] == "").all()


def test_arch_json_must_match_arch_id() -> None:
    rows = fixture_rows()
    rows[0]["arch_id"] = "L6-H12x6-F3072x6"
    with pytest.raises(ValueError, match="arch_json describes 'L3@1,3,5-H3x3-F768x3'"):
        make_table(rows)


def test_empty_table_has_schema() -> None:
    table = make_table([])
    assert list(table.columns) == list(COLUMNS) and len(table) == 0
    pd.testing.assert_frame_equal(table, empty_table())


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_round_trip_identical(trials: pd.DataFrame, tmp_path: Path, fmt: str) -> None:
    table = with_dev_metrics(trials, {trials.loc[3, "arch_id"]: 0.8912345678901234})
    table.loc[0, "trial_id"] = "00017"  # leading zeros must survive the CSV
    table.loc[1, "metric_name"] = "NA"  # ...and so must text pandas would read as missing
    write_table(table, tmp_path, formats=[fmt])
    back = read_table(tmp_path)
    pd.testing.assert_frame_equal(back, table)
    assert back.loc[3, "dev_metric"] == 0.8912345678901234  # bit-exact float


def test_write_both_and_parquet_preferred(trials: pd.DataFrame, tmp_path: Path) -> None:
    assert write_table(trials, tmp_path) == tmp_path / PARQUET_FILE
    assert (tmp_path / CSV_FILE).is_file()
    (tmp_path / CSV_FILE).write_text("garbage\n")  # would fail if it were read
    pd.testing.assert_frame_equal(read_table(tmp_path), trials)


def test_read_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="no trial table in .*trials.parquet"):
        read_table(tmp_path)
    pd.DataFrame([{"trial_id": "a"}]).to_csv(tmp_path / CSV_FILE, index=False)
    with pytest.raises(RunError, match=r"trials.csv: not a valid trial table: .*missing column"):
        read_table(tmp_path)


def test_with_dev_metrics(trials: pd.DataFrame) -> None:
    arch = trials.loc[1, "arch_id"]  # t1 and t4 share this Arch
    out = with_dev_metrics(trials, {arch: 0.84})
    assert out.loc[out["arch_id"] == arch, "dev_metric"].tolist() == [0.84, 0.84]
    assert out.loc[out["arch_id"] != arch, "dev_metric"].isna().all()
    assert trials["dev_metric"].isna().all()  # the input is not modified
    with pytest.raises(ValueError, match="no trial evaluated"):
        with_dev_metrics(trials, {"L1-H1-F1": 0.5})


def test_trial_row_helper_is_schema_complete() -> None:
    assert set(trial_row("x", 1.0, 1.0, 0.5, 0.5, "ok")) == set(COLUMNS) - {"on_front"}


def test_dataframe_input_and_token_archs() -> None:
    row = trial_row("x", 1.0, 1.0, 0.5, 0.5, "ok")
    arch = Arch((0, 1), (2, 2), (8, 8), (1.0, 0.25))
    row |= {"arch_id": arch.id, "arch_json": arch.to_json()}
    table = make_table(pd.DataFrame([row]))
    assert table.loc[0, "arch_id"] == "L2-H2x2-F8x2-T1,0.25" and table.loc[0, "on_front"]
