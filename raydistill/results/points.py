"""The points table: one row per model a run produced, priced at the run's one cost length.

Every stage that produces a model appends its rows here (`replace_points`: a stage's rerun replaces the rows it
wrote before); the export stage and the report read this table (and the trial table), never recompute picks.
Stored in the run directory as `points.parquet` + `points.csv` (`layout.RunLayout.points_parquet`). Columns
(`POINT_COLUMNS`, in table order):

    label          str      unique in the run: `teacher`, `grid w0.5-d1`, `trial <trial id>`, `pick 0.25`,
                            `retrained <arch id>`, `student <name>`
    kind           str      `KINDS`: teacher | grid | trial | pick | retrained | student
    stage          str      the stage that wrote the row (its rerun replaces exactly these rows)
    method         str      the training method whose weights the row scores (`finetune`, `supernet`, `kd`, ...)
    arch_id        str      `Arch.id` of a sub-network of the teacher; "" for a model of its own shape (a student)
    arch_json      str      `Arch.to_json()` (same Arch as `arch_id`, checked), or "" with `arch_id`
    config_json    str      a model of its own shape: its size as JSON (layers, hidden, heads, ffn); else ""
    budget         float64  a `pick` row: the FLOPs budget it is the pick of (fraction of the teacher's encoder
                            FLOPs); NaN on other rows
    seq_length     int64    the cost length every FLOPs figure of the run is counted at (`Spec.cost_seq_length`)
    flops          int64    analytic FLOPs (2 x MACs) of one sequence of `seq_length` tokens, batch 1
    encoder_flops  int64    the transformer layers' share of `flops` (what budgets price; `results.pareto`)
    flops_ratio    float64  flops / the teacher's flops (same length)
    params         int64    parameters of the (materialised) model
    search_metric  float64  main metric on the search split (NaN: not scored there)
    dev_metric     float64  main metric on the main dev set (NaN: not scored there)
    metric_name    str      the metric of both metric columns, e.g. `accuracy`
    model_dir      str      where the weights live: the model's own HF dir, or the supernet dir a sub-network
                            (`arch_json`) is sliced from
    latency_ms     float64  measured latency of the exported model (the export stage), NaN if not measured
    export_dir     str      the export of this model ("" if none)
    note           str      what the numbers alone do not say ("" if nothing)
    dev_scores     str      every metric of the main dev set as JSON (e.g. SQuAD's exact_match and f1), "" if
                            not recorded
    search_split   str      the data `search_metric` was scored on (`data.statement`), e.g. "SQuAD v1.1 dev
                            articles 1, 7 (carved by article from ...)"; the pipeline states it on every row
    dev_split      str      the data `dev_metric` was scored on, e.g. "SQuAD v1.1 dev articles 38-47 (1,988
                            questions)"

Pure pandas (no Ray); `make_points` raises `ValueError` (its input comes from code), `read_points` raises
`RunError` naming the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from raydistill.errors import ArchError, RunError
from raydistill.layout import RunLayout
from raydistill.models.arch import Arch
from raydistill.results.schema import check_columns, coerce_frame, empty_frame, read_csv_frame

__all__ = [
    "KINDS",
    "POINT_COLUMNS",
    "empty_points",
    "make_points",
    "budgets_of",
    "picks_by_arch",
    "read_points",
    "replace_points",
    "update_points",
    "write_points",
]

POINT_COLUMNS: dict[str, str] = {
    "label": "str",
    "kind": "str",
    "stage": "str",
    "method": "str",
    "arch_id": "str",
    "arch_json": "str",
    "config_json": "str",
    "budget": "float64",
    "seq_length": "int64",
    "flops": "int64",
    "encoder_flops": "int64",
    "flops_ratio": "float64",
    "params": "int64",
    "search_metric": "float64",
    "dev_metric": "float64",
    "metric_name": "str",
    "model_dir": "str",
    "latency_ms": "float64",
    "export_dir": "str",
    "note": "str",
    "dev_scores": "str",
    "search_split": "str",
    "dev_split": "str",
}
KINDS = ("teacher", "grid", "trial", "pick", "retrained", "student")
DEFAULTS: dict[str, Any] = {
    "arch_id": "", "arch_json": "", "config_json": "", "budget": np.nan, "search_metric": np.nan,
    "dev_metric": np.nan, "latency_ms": np.nan, "export_dir": "", "note": "", "dev_scores": "",
    "search_split": "", "dev_split": "",
}  # fmt: skip
TABLE = "points table"


def _error(column: str, problem: str) -> ValueError:
    return ValueError(f"{TABLE} column {column!r} ({POINT_COLUMNS[column]}): {problem}")


def _check_columns(present: Iterable[str]) -> None:
    required = [c for c in POINT_COLUMNS if c not in DEFAULTS]
    check_columns(present, POINT_COLUMNS, required, TABLE, "raydistill/results/points.py POINT_COLUMNS")


def _check_rows(df: pd.DataFrame) -> None:
    dup = df["label"][df["label"].duplicated()]
    if len(dup):
        raise _error("label", f"{dup.iloc[0]!r} appears more than once; labels are unique in a run")
    rules = [
        (~df["kind"].isin(KINDS), "kind", f"is not one of {', '.join(KINDS)}"),
        ((df["arch_id"] == "") != (df["arch_json"] == ""), "arch_json", "is given without arch_id or back"),
        (
            (df["arch_id"] == "") & (df["config_json"] == ""),
            "config_json",
            "is empty on a row without an Arch",
        ),
        (
            (df["kind"] == "pick") & ~(df["budget"] > 0),
            "budget",
            "is not a fraction in (0, 1] on a `pick` row",
        ),
        ((df["kind"] != "pick") & df["budget"].notna(), "budget", "is set on a row that is not a `pick`"),
        (df["flops"] < df["encoder_flops"], "encoder_flops", "exceeds flops"),
        ((df[["flops", "encoder_flops", "params"]] < 0).any(axis=1), "params", "flops or params is negative"),
        (df["seq_length"] <= 0, "seq_length", "is not positive"),
    ]
    for broken, column, what in rules:
        if broken.any():
            raise _error(column, f"{what} (row {df.loc[broken, 'label'].iloc[0]!r})")
    if df["seq_length"].nunique() > 1:
        lengths = sorted(int(n) for n in df["seq_length"].unique())
        raise _error("seq_length", f"holds {lengths}: a run prices every model at one length (cost.seq_length)")
    for label, arch_id, arch_json in zip(df["label"], df["arch_id"], df["arch_json"], strict=True):
        if not arch_id:
            continue
        try:
            parsed = Arch.from_json(arch_json).id
        except ArchError as e:
            raise _error("arch_json", f"row {label!r}: {e}") from None
        if parsed != arch_id:
            raise _error("arch_id", f"row {label!r}: {arch_id!r} but arch_json describes {parsed!r}")


def make_points(rows: Iterable[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """The points table from one dict per model (keys of `POINT_COLUMNS`; those in `DEFAULTS` optional), or a
    DataFrame; checked and coerced.

    Raises:
        ValueError: naming the column (and row label) that breaks the schema.
    """
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame.from_records(list(rows))
    if frame.empty and not len(frame.columns):
        return empty_points()
    _check_columns(frame.columns)
    out = coerce_frame(frame, POINT_COLUMNS, DEFAULTS, TABLE)
    _check_rows(out)
    return out


def empty_points() -> pd.DataFrame:
    """A points table with no rows."""
    return empty_frame(POINT_COLUMNS)


def read_points(layout: RunLayout) -> pd.DataFrame:
    """The run's points table (`points.parquet`, else `points.csv`); an empty table when the run has none yet.

    Raises:
        RunError: the file breaks the schema (the message names it and how to rebuild it).
    """
    for path, reader in (
        (layout.points_parquet, pd.read_parquet),
        (layout.points_csv, lambda p: read_csv_frame(p, POINT_COLUMNS)),
    ):
        if path.is_file():
            try:
                return make_points(reader(path))
            except (ValueError, TypeError, OSError) as e:
                raise RunError(
                    f"{path}: not a valid points table: {e}; delete it and rerun `raydistill run SPEC` (every "
                    "stage then writes its rows again)"
                ) from None
    return empty_points()


def write_points(layout: RunLayout, points: pd.DataFrame) -> pd.DataFrame:
    """Check `points` and write it as `points.parquet` + `points.csv` (each replaced whole, atomically)."""
    table = make_points(points)
    layout.root.mkdir(parents=True, exist_ok=True)
    for path, write in (
        (layout.points_parquet, lambda t, p: t.to_parquet(p, index=False)),
        (layout.points_csv, lambda t, p: t.to_csv(p, index=False)),
    ):
        partial = path.with_name(path.name + ".partial")
        write(table, partial)
        partial.replace(path)
    return table


def replace_points(layout: RunLayout, stage: str, rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Drop the rows `stage` wrote before, append `rows` (each given `stage`), write; returns the new table.

    Rows of other stages are kept in their order; the stage's rows go at the end.
    """
    kept = read_points(layout)
    kept = kept[kept["stage"] != stage]
    new = make_points([{**row, "stage": stage} for row in rows]) if rows else empty_points()
    table = pd.concat([kept, new], ignore_index=True) if len(new) else kept.reset_index(drop=True)
    return write_points(layout, table)


def update_points(layout: RunLayout, values: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Set columns of existing rows, by label (`{label: {column: value}}`), e.g. the export's latency.

    Raises:
        ValueError: a label no row has, or a column outside the schema.
    """
    table = read_points(layout)
    unknown = sorted(set(values) - set(table["label"]))
    if unknown:
        raise ValueError(f"{TABLE}: no row labelled {unknown}")
    for label, columns in values.items():
        for column, value in columns.items():
            if column not in POINT_COLUMNS:
                raise ValueError(f"{TABLE}: unknown column {column!r}")
            table.loc[table["label"] == label, column] = value
    return write_points(layout, table)


def picks_by_arch(points: pd.DataFrame) -> dict[str, list[float]]:
    """Arch id -> the budgets it is the pick of (ascending), from the table's `pick` rows, in budget order."""
    picks = points[points["kind"] == "pick"].sort_values("budget")
    by_arch: dict[str, list[float]] = {}
    for arch_id, budget in zip(picks["arch_id"], picks["budget"], strict=True):
        by_arch.setdefault(str(arch_id), []).append(float(budget))
    return by_arch


def budgets_of(points: pd.DataFrame) -> Sequence[float]:
    """The budgets the table has picks for, ascending."""
    return sorted(float(b) for b in points.loc[points["kind"] == "pick", "budget"])
