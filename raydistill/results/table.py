"""The trial table: one row per search trial, with a fixed column schema declared once (`COLUMNS`).

Every stage that produces or reads trial results goes through this module, so the schema lives in one place:
the search builds rows (plain dicts) and calls `make_table`, writes them with `write_table`, and the report
reads them back with `read_table`. Columns, in table order (dtype, meaning):

    trial_id         str      unique id of the trial (e.g. Ray Tune's trial id)
    arch_id          str      `Arch.id` of the evaluated sub-network, e.g. `L6-H6x6-F768x6`
    arch_json        str      `Arch.to_json()`; must describe the same Arch as `arch_id` (checked)
    flops            int64    analytic FLOPs (= 2 x `macs`, checked), `models.flops`
    flops_ratio      float64  FLOPs / teacher FLOPs
    macs             int64    analytic multiply-accumulates
    params           int64    parameters of the materialised sub-network
    search_metric    float64  task metric on the search split (NaN when not evaluated)
    dev_metric       float64  task metric on dev; NaN when not evaluated (only chosen Archs are)
    metric_name      str      name of the metric in both metric columns, e.g. `accuracy`
    sampler          str      sampler that proposed the trial, e.g. `nsga2`
    budget_feasible  bool     fits the largest budget (`results.pareto.within_budget`: encoder FLOPs priced)
    status           str      `ok` (evaluated, feasible) | `infeasible` (over the largest budget; may or may not
                              have been evaluated) | `failed` (evaluated, but the outputs or the metric were
                              NaN or infinite: no metric) | `error` (the trial raised)
    note             str      "" or what the metric alone does not say: `constant predictions` (one class /
                              score for every example; a correlation is then 0), `non-finite outputs` (why a
                              `failed` row failed). Defaults to "" (tables written before the column existed)
    wall_time_s      float64  seconds the trial took
    latency_b1_ms    float64  `search.objective: latency`: median CPU latency of the materialised sub-network at
    latency_b32_ms   float64  batch 1 / 32 (`search.latency_objective`); NaN otherwise (default)
    latency_ratio    float64  the latency objective: mean over both batch sizes of latency / the full model's
    on_front         bool     derived: on the Pareto front of search_metric (max) vs flops_ratio (min) among
                              `ok` rows. `make_table`/`validate_table` always (re)compute it.

Policies: a missing column is an error naming it (except `dev_metric` and the latency columns, which default to
NaN, `note`, which defaults to "", and the derived `on_front`); unknown columns are rejected (the schema is fixed: add a column here, not ad hoc). Values are coerced
only when lossless (an int column given 3.0 becomes 3; 3.5 is rejected; floats accept ints; strings and booleans
are never converted from numbers). Row order is kept: it is the trial completion order `hypervolume_history`
follows. `make_table` raises `ValueError` (its input comes from code); `read_table` raises `RunError` naming
the file.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from raydistill.errors import ArchError, RunError
from raydistill.layout import CSV_FILE, PARQUET_FILE  # the trial table's file names in a search dir
from raydistill.models.arch import Arch
from raydistill.results.pareto import front_flags
from raydistill.results.schema import check_columns, coerce_frame, empty_frame, read_csv_frame

__all__ = [
    "COLUMNS",
    "CSV_FILE",
    "PARQUET_FILE",
    "STATUSES",
    "empty_table",
    "make_table",
    "read_table",
    "validate_table",
    "with_dev_metrics",
    "write_table",
]

COLUMNS: dict[str, str] = {
    "trial_id": "str",
    "arch_id": "str",
    "arch_json": "str",
    "flops": "int64",
    "flops_ratio": "float64",
    "macs": "int64",
    "params": "int64",
    "search_metric": "float64",
    "dev_metric": "float64",
    "metric_name": "str",
    "sampler": "str",
    "budget_feasible": "bool",
    "status": "str",
    "note": "str",
    "wall_time_s": "float64",
    "latency_b1_ms": "float64",
    "latency_b32_ms": "float64",
    "latency_ratio": "float64",
    "on_front": "bool",
}
STATUSES = ("ok", "infeasible", "failed", "error")
DEFAULTS: dict[str, Any] = {
    "dev_metric": math.nan,
    "note": "",
    "latency_b1_ms": math.nan,
    "latency_b32_ms": math.nan,
    "latency_ratio": math.nan,
}  # the input columns that may be left out
DERIVED = ("on_front",)  # computed here, never trusted from the input


def _schema_error(column: str, problem: str) -> ValueError:
    return ValueError(f"trial table column {column!r} ({COLUMNS[column]}): {problem}")


def _required() -> list[str]:
    return [c for c in COLUMNS if c not in DEFAULTS and c not in DERIVED]


def _check_columns(present: Iterable[str]) -> None:
    check_columns(present, COLUMNS, _required(), "trial table", "raydistill/results/table.py COLUMNS")


def _check_rows(df: pd.DataFrame) -> None:
    dup = df["trial_id"][df["trial_id"].duplicated()]
    if len(dup):
        raise _schema_error("trial_id", f"{dup.iloc[0]!r} appears more than once; trial ids must be unique")
    bad_status = df.loc[~df["status"].isin(STATUSES), "status"]
    if len(bad_status):
        raise _schema_error("status", f"{bad_status.iloc[0]!r} is not one of {', '.join(STATUSES)}")
    rules = [
        (df["flops"] != 2 * df["macs"], "flops", "is not 2 x macs (FLOPs = 2 x MACs in raydistill)"),
        ((df[["flops", "macs", "params"]] < 0).any(axis=1), "params", "flops, macs or params is negative"),
        (
            ~(df["flops_ratio"] >= 0) | ~np.isfinite(df["flops_ratio"]),
            "flops_ratio",
            "is negative or not finite",
        ),
        (
            (df["status"] == "ok") & ~np.isfinite(df["search_metric"]),
            "search_metric",
            "is NaN on an `ok` row",
        ),
        (
            (df["status"] == "failed") & df["search_metric"].notna(),
            "search_metric",
            "is a number on a `failed` row (a failed evaluation has no metric: NaN)",
        ),
        ((df["status"] == "ok") & ~df["budget_feasible"], "budget_feasible", "is False on an `ok` row"),
        (
            (df["status"] == "infeasible") & df["budget_feasible"],
            "budget_feasible",
            "is True on `infeasible`",
        ),
    ]
    for broken, column, what in rules:
        if broken.any():
            trial = df.loc[broken, "trial_id"].iloc[0]
            raise _schema_error(column, f"{what} (trial {trial!r})")


def _check_archs(df: pd.DataFrame) -> None:
    for trial, arch_id, arch_json in zip(df["trial_id"], df["arch_id"], df["arch_json"], strict=True):
        try:
            parsed = Arch.from_json(arch_json).id
        except ArchError as e:
            raise _schema_error("arch_json", f"trial {trial!r}: {e}") from None
        if parsed != arch_id:
            raise _schema_error("arch_id", f"trial {trial!r}: {arch_id!r} but arch_json describes {parsed!r}")


def validate_table(df: pd.DataFrame) -> pd.DataFrame:
    """Check and coerce a DataFrame to the trial schema; returns a new table with `on_front` recomputed.

    Raises:
        ValueError: naming the column (and trial) that breaks the schema.
    """
    _check_columns(df.columns)
    out = coerce_frame(df, COLUMNS, DEFAULTS, "trial table", skip=DERIVED)
    _check_rows(out)
    _check_archs(out)
    out["on_front"] = front_flags(out)
    return out


def make_table(rows: Iterable[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Build the trial table from one dict per trial (keys = `COLUMNS`; `on_front`, `dev_metric`, `note`
    optional).

    A DataFrame is accepted too (same rules, via `validate_table`).

    Example: `make_table([{"trial_id": "t1", "arch_id": arch.id, "arch_json": arch.to_json(), ...}])`.

    Raises:
        ValueError: a row lacks a column (the message names it and the row), has an unknown column, or a value
            breaks the schema.
    """
    if isinstance(rows, pd.DataFrame):
        return validate_table(rows)
    rows = list(rows)
    if not rows:
        return empty_table()
    _check_columns(rows[0].keys())
    first = set(rows[0])
    for i, row in enumerate(rows[1:], start=1):
        if set(row) != first:
            raise ValueError(
                f"trial table row {i} (trial {row.get('trial_id')!r}): missing column(s) {sorted(first - set(row))}, "
                f"extra column(s) {sorted(set(row) - first)} compared with row 0; give every row the same columns"
            )
    return validate_table(pd.DataFrame.from_records(rows))


def empty_table() -> pd.DataFrame:
    """A trial table with no rows (every column with its schema dtype)."""
    return empty_frame(COLUMNS)


def with_dev_metrics(df: pd.DataFrame, by_arch: Mapping[str, float]) -> pd.DataFrame:
    """Copy of `df` with `dev_metric` set on every row whose `arch_id` is a key of `by_arch`.

    Raises:
        ValueError: a key names no Arch of the table.
    """
    unknown = sorted(set(by_arch) - set(df["arch_id"]))
    if unknown:
        raise ValueError(f"dev metrics given for arch ids {unknown} that no trial evaluated")
    out = df.copy()
    hit = out["arch_id"].isin(list(by_arch))
    out.loc[hit, "dev_metric"] = out.loc[hit, "arch_id"].map(dict(by_arch)).astype("float64")
    return out


def write_table(df: pd.DataFrame, directory: str | Path, formats: Iterable[str] = ("parquet", "csv")) -> Path:
    """Validate `df` and write `trials.parquet` and/or `trials.csv` into `directory` (created if needed).

    Returns:
        The path of the first file written (`trials.parquet` by default).
    """
    formats = list(formats)
    if not formats:
        raise ValueError("write_table: no format given; use parquet and/or csv")
    table = validate_table(df)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        if fmt == "parquet":
            table.to_parquet(directory / PARQUET_FILE, index=False)
            written.append(directory / PARQUET_FILE)
        elif fmt == "csv":
            table.to_csv(directory / CSV_FILE, index=False)
            written.append(directory / CSV_FILE)
        else:
            raise ValueError(f"table format {fmt!r} is unknown; use parquet or csv")
    return written[0]


def _read_csv(path: Path) -> pd.DataFrame:
    return read_csv_frame(path, COLUMNS)


def read_table(directory: str | Path) -> pd.DataFrame:
    """Read the trial table from `directory`: `trials.parquet` if present, else `trials.csv`; schema checked.

    Raises:
        RunError: neither file exists, or the file breaks the schema (the message names the file).
    """
    directory = Path(directory)
    for name, reader in ((PARQUET_FILE, pd.read_parquet), (CSV_FILE, _read_csv)):
        path = directory / name
        if path.is_file():
            try:
                return validate_table(reader(path))
            except (ValueError, TypeError, OSError) as e:
                raise RunError(f"{path}: not a valid trial table: {e}") from None
    raise RunError(
        f"no trial table in {directory}: expected {PARQUET_FILE} (or {CSV_FILE}); "
        "the search stage writes it (`raydistill run SPEC`)"
    )
