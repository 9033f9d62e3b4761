"""`report/students.py`: each budget's pick against the student the search split prefers within that budget."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from raydistill.report.students import display_students_vs_picks, students_vs_picks


def _budgets() -> pd.DataFrame:
    return pd.DataFrame({
        "budget": [0.25, 0.5, 0.75], "flops_limit": [0.2502, 0.5001, 0.7501], "arch_id": ["A25", "A50", ""],
        "dev_metric": [0.80, 0.88, math.nan], "flops_ratio": [0.25, 0.5, math.nan],
    })  # fmt: skip


def _students() -> pd.DataFrame:
    return pd.DataFrame({
        "label": ["student big", "student 3l-a", "student 3l-b", "student unscored"],
        "flops_ratio": [0.9, 0.5001, 0.5001, 0.2],
        "search_metric": [0.99, 0.90, 0.91, math.nan], "dev_metric": [0.95, 0.87, 0.85, 0.5],
    })  # fmt: skip


def test_each_pick_meets_the_student_best_on_the_search_split_within_its_limit() -> None:
    table = students_vs_picks(_budgets(), _students())
    # 0.25: no scored student fits; 0.5: "3l-b" wins on search although "3l-a" is better on dev (and "big"
    # does not fit); 0.75: nothing was picked
    assert table["budget"].tolist() == [0.5]
    row = table.iloc[0]
    assert row["student"] == "student 3l-b" and row["arch_id"] == "A50"
    assert row["student_minus_pick"] == pytest.approx(0.85 - 0.88)


def test_a_student_exactly_at_the_limit_fits_and_no_student_gives_no_rows() -> None:
    at_limit = _students().assign(flops_ratio=[0.9, 0.5001 + 1e-12, 0.9, 0.9])
    assert students_vs_picks(_budgets(), at_limit)["student"].tolist() == ["student 3l-a"]
    assert students_vs_picks(_budgets(), _students().iloc[:0]).empty


def test_the_display_labels_the_sides() -> None:
    shown = display_students_vs_picks(students_vs_picks(_budgets(), _students()), "accuracy")
    assert "student (best on the search split)" in shown.columns and "pick dev accuracy" in shown.columns
