"""The students against the supernet's picks: at each budget, is slicing or distilling better?

`students_vs_picks` pairs every budget's pick with the student that the search-split metric prefers among the
students whose FLOPs fit that budget's limit; both sides are chosen on the search split, each among its own
models, and compared on dev (choosing on dev would favour the side with more candidates).
"""

from __future__ import annotations

import pandas as pd

from raydistill.report.cells import display_columns, fmt_metric, fmt_percent2, fmt_signed, fmt_text

__all__ = ["display_students_vs_picks", "students_vs_picks"]

TOLERANCE = 1e-9  # a 3-layer student of a 6-layer teacher costs exactly the 0.5 budget's limit


def students_vs_picks(budgets: pd.DataFrame, students: pd.DataFrame) -> pd.DataFrame:
    """One row per budget with a pick and a fitting student: the pick, the student, their dev metrics and the
    difference (student minus pick). `budgets`: `ReportData.budgets`; `students`: the points rows of kind
    `student`. Empty when no student fits any pick's budget."""
    rows = []
    scored = students[students["search_metric"].notna() & students["dev_metric"].notna()]
    for pick in budgets.itertuples(index=False):
        inside = scored[scored["flops_ratio"] <= pick.flops_limit + TOLERANCE]
        if not pick.arch_id or inside.empty:
            continue
        best = inside.loc[inside["search_metric"].idxmax()]
        rows.append({
            "budget": pick.budget, "arch_id": pick.arch_id, "pick_dev": pick.dev_metric,
            "pick_flops": pick.flops_ratio, "student": best["label"], "student_dev": best["dev_metric"],
            "student_flops": best["flops_ratio"], "student_minus_pick": best["dev_metric"] - pick.dev_metric,
        })  # fmt: skip
    return pd.DataFrame(rows)


def display_students_vs_picks(table: pd.DataFrame, metric_name: str) -> pd.DataFrame:
    """`students_vs_picks` as display text (column labels included)."""
    return display_columns(
        table,
        [
            ("budget", "budget", fmt_percent2),
            ("arch_id", "pick", fmt_text),
            ("pick_dev", f"pick dev {metric_name}", fmt_metric),
            ("pick_flops", "pick FLOPs (% teacher)", fmt_percent2),
            ("student", "student (best on the search split)", fmt_text),
            ("student_dev", f"student dev {metric_name}", fmt_metric),
            ("student_flops", "student FLOPs (% teacher)", fmt_percent2),
            ("student_minus_pick", "student - pick (dev)", fmt_signed),
        ],
    )
