"""Display cells of the report's tables, shared by the HTML and markdown writers: a value to its text ("n/a" or
"-" when missing) and a DataFrame to display text by (column, label, formatter) triples."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

__all__ = [
    "display_columns",
    "fmt_gflops",
    "fmt_metric",
    "fmt_millions",
    "fmt_ms",
    "fmt_percent",
    "fmt_percent2",
    "fmt_signed",
    "fmt_text",
    "has_text",
    "is_missing",
]


def has_text(df: pd.DataFrame, column: str) -> bool:
    return column in df and bool((df[column].fillna("") != "").any())


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def fmt_metric(value: Any) -> str:
    return "n/a" if is_missing(value) else f"{float(value):.4f}"


def fmt_signed(value: Any) -> str:
    return "n/a" if is_missing(value) else f"{float(value):+.4f}"


def fmt_percent(value: Any) -> str:
    return "n/a" if is_missing(value) else f"{100 * float(value):.1f}%"


def fmt_percent2(value: Any) -> str:
    return "n/a" if is_missing(value) else f"{100 * float(value):.2f}%"


def fmt_millions(value: Any) -> str:
    return "n/a" if is_missing(value) else f"{float(value) / 1e6:.2f}M"


def fmt_gflops(value: Any) -> str:
    return "n/a" if is_missing(value) else f"{float(value) / 1e9:.3g}"


def fmt_ms(value: Any) -> str:
    return "n/a" if is_missing(value) else f"{float(value):.2f}"


def fmt_text(value: Any) -> str:
    return "-" if is_missing(value) else str(value)


def display_columns(df: pd.DataFrame, columns: Sequence[tuple[str, str, Callable[[Any], str]]]) -> pd.DataFrame:
    """Strings for display: (source column, label, formatter) for each column present in `df`."""
    return pd.DataFrame({label: [fmt(v) for v in df[col]] for col, label, fmt in columns if col in df})
