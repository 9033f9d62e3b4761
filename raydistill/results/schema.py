"""Fixed column schemas for the results tables (the trial table, the points table): coercion and CSV reading.

A schema is `{column: dtype}` with dtypes `str`, `int64`, `float64`, `bool`. Values are coerced only when lossless
(an int column given 3.0 becomes 3; 3.5 is rejected; floats accept ints; strings and booleans are never converted
from numbers). Errors are `ValueError`s naming the table, the column and its dtype.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["check_columns", "coerce_frame", "empty_frame", "read_csv_frame"]


def _error(table: str, column: str, dtype: str, problem: str) -> ValueError:
    return ValueError(f"{table} column {column!r} ({dtype}): {problem}")


def _coerce_str(s: pd.Series) -> pd.Series | str:
    bad = [v for v in s if not isinstance(v, str)]
    if bad:
        return f"has non-text values such as {bad[0]!r}; give every row a string"
    return s.astype("str")


def _coerce_int(s: pd.Series) -> pd.Series | str:
    if any(isinstance(v, (bool, np.bool_, str)) for v in s):
        return "has booleans or strings; give integers"
    numbers = pd.to_numeric(s, errors="coerce")  # None -> NaN
    if pd.api.types.is_integer_dtype(numbers):
        return numbers.astype("int64")
    floats = numbers.astype("float64")
    whole = np.isfinite(floats) & (floats == np.round(floats))
    if not whole.all():
        return f"has {s[~whole].iloc[0]!r}, which is not a whole number; give integers"
    return floats.astype("int64")


def _coerce_float(s: pd.Series) -> pd.Series | str:
    if any(isinstance(v, (bool, np.bool_, str)) for v in s):
        return "has booleans or strings; give numbers (NaN for 'not measured')"
    try:
        return pd.to_numeric(s).astype("float64")  # None -> NaN
    except (TypeError, ValueError) as e:
        return f"cannot be read as numbers: {e}"


def _coerce_bool(s: pd.Series) -> pd.Series | str:
    if s.dtype != bool and not all(isinstance(v, (bool, np.bool_)) for v in s):
        bad = next(v for v in s if not isinstance(v, (bool, np.bool_)))
        return f"has {bad!r}; give True or False"
    return s.astype("bool")


_COERCE = {"str": _coerce_str, "int64": _coerce_int, "float64": _coerce_float, "bool": _coerce_bool}


def check_columns(
    present: Iterable[str], columns: Mapping[str, str], required: list[str], table: str, home: str
) -> None:
    """Every `required` column present and none outside `columns`.

    Raises:
        ValueError: `<table>: unknown column(s) [...]` (the schema is fixed: add columns in `home`) or
            `<table>: missing column(s) [...]`.
    """
    present = list(present)
    unknown = [c for c in present if c not in columns]
    if unknown:
        raise ValueError(
            f"{table}: unknown column(s) {unknown}; the schema is fixed to {list(columns)} (add new columns in {home})"
        )
    missing = [c for c in required if c not in present]
    if missing:
        raise ValueError(f"{table}: missing column(s) {missing}; every row needs all of {required}")


def coerce_frame(
    df: pd.DataFrame,
    columns: Mapping[str, str],
    defaults: Mapping[str, Any],
    table: str,
    skip: tuple[str, ...] = (),
) -> pd.DataFrame:
    """A new frame with exactly `columns` (minus `skip`), each coerced to its dtype; a column absent from `df`
    takes its value from `defaults`.

    Raises:
        ValueError: a value that cannot be coerced losslessly (`table column 'x' (int64): ...`).
    """
    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    for name, dtype in columns.items():
        if name in skip:
            continue
        column = df[name].reset_index(drop=True) if name in df else pd.Series([defaults[name]] * len(df))
        coerced = _COERCE[dtype](column)
        if isinstance(coerced, str):
            raise _error(table, name, dtype, coerced)
        out[name] = coerced
    return out


def empty_frame(columns: Mapping[str, str]) -> pd.DataFrame:
    """A frame with no rows and every column at its schema dtype."""
    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in columns.items()})


def read_csv_frame(path: Path, columns: Mapping[str, str]) -> pd.DataFrame:
    """A CSV written by `DataFrame.to_csv` read back with the schema's dtypes (empty float cells are NaN,
    empty text cells stay "")."""
    floats = [c for c, t in columns.items() if t == "float64"]
    return pd.read_csv(
        path,
        dtype={c: t for c, t in columns.items() if t != "float64"},
        keep_default_na=False,
        na_values={c: ["", "nan", "NaN"] for c in floats},
        float_precision="round_trip",
    )
