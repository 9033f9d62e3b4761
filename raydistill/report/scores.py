"""What the report says beside each number besides the main metric: the task's other dev metrics (SQuAD's exact
match beside its F1, from the points table's `dev_scores`) and the data each metric was scored on (the points
table's `search_split` / `dev_split`, stated by the pipeline: `data.statement`)."""

from __future__ import annotations

import json
import math

import pandas as pd

__all__ = ["other_scores", "split_facts"]


def other_scores(dev_scores: object, main_metric: str) -> str:
    """`"exact_match 81.2500"`: the metrics of a `dev_scores` JSON other than `main_metric`; "" when none."""
    try:
        scores = json.loads(str(dev_scores)) if dev_scores else {}
    except ValueError:
        return ""
    if not isinstance(scores, dict):
        return ""
    parts = [
        f"{name} {float(v):.4f}" if math.isfinite(float(v)) else f"{name} n/a"
        for name, v in sorted(scores.items())
        if name != main_metric and isinstance(v, int | float)
    ]
    return ", ".join(parts)


def split_facts(points: pd.DataFrame) -> list[tuple[str, str]]:
    """("search metrics scored on", ...), ("dev metrics scored on", ...) from the points table; the distinct
    statements (one per run; more only when rows of old runs differ)."""
    facts = []
    for column, label in (
        ("search_split", "search metrics scored on"),
        ("dev_split", "dev metrics scored on"),
    ):
        stated = [s for s in dict.fromkeys(points.get(column, pd.Series(dtype=str))) if s]
        if stated:
            facts.append((label, "; ".join(stated)))
    return facts
