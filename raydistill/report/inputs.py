"""What a report is built from (`ReportInputs`), and how `raydistill report RUN` rebuilds it from files alone.

File contracts under a run directory `<storage_path>/<name>/` (the stages that write them must match these):

`search/trials.parquet` (required; `search/trials.csv` is read when the parquet file is absent)
    The trial table, schema in `raydistill.results.table` (write it with `results.write_table`).
    Written by the search stage.
`search/meta.json` (required), written by the search stage next to the table, a JSON object:
    {"name": "sst2-quick",              run name
     "task": "sst2",                    task registry name
     "metric_name": "accuracy",         the metric in `search_metric` / `dev_metric` (and the teacher's)
     "budgets": [0.25, 0.5, 0.75],      FLOPs budgets as fractions of the teacher's encoder FLOPs, in (0, 1]
     "fixed_ratio": 0.0002,             pooler + task head FLOPs / teacher FLOPs: the fixed cost budgets do not
                                        price (`results.pareto` "Budgets"); in [0, 1)
     "sampler": "nsga2",                the search sampler
     "teacher": {"metric": 0.912,       teacher dev metric
                 "flops": 2718000000,   teacher FLOPs (= 2 x MACs) at the search's FLOPs sequence length
                 "params": 22713216}}   teacher parameters
    Other keys are allowed and ignored. When `teacher.metric` is absent it is taken from the teacher stage's
    `teacher/metrics.json` (`main_value`), the one place the teacher's dev metric is recorded.
`supernet/supernet_eval.csv` (optional), written by the supernet stage: one row per (width, depth) grid point
    with at least the columns arch_id (str, `Arch.id`), width (float), depth (float), flops (int),
    flops_ratio (float), params (int), dev_metric (float). Other columns are ignored.
`export/latency.json` (optional), written by the export/bench stage: a JSON object keyed by `Arch.id`:
    {"L3@1,3,5-H6x3-F1536x3": {"latency_ms": 3.21,      median latency in milliseconds (required)
                               "batch_size": 1, "seq_len": 128, "device": "cpu", "runtime": "onnxruntime"}}
    Every key other than latency_ms is optional and only shown in the report's note on how latency was measured.
`retrain/retrain.json` (optional), written by the retrain stage (`search.retrain`): a JSON object keyed by
    `Arch.id`: {"L6-H6x6-F768x6": {"dev_after": 0.91, ...}}, the main dev metric of the chosen Arch after it was
    re-trained on its own (required per entry); other keys (budget, dev_before, ...) are ignored.

`spec.json` (optional), written by `raydistill run` at every start: the run's latest spec. When it turns
    `search.retrain` off (null) or `export.enabled` off, the files those stages left from earlier runs are stale
    and the report does not read them.

A missing required file raises `RunError` naming the file and the command that produces it; a malformed one
raises `RunError` naming the file and what it should hold.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from raydistill.errors import ArchError, RunError
from raydistill.layout import RunLayout
from raydistill.models.arch import Arch
from raydistill.results.table import read_table, validate_table

__all__ = [
    "GRID_COLUMNS",
    "ReportInputs",
    "load_report_inputs",
]

GRID_COLUMNS: dict[str, str] = {
    "arch_id": "str",
    "width": "float64",
    "depth": "float64",
    "flops": "int64",
    "flops_ratio": "float64",
    "params": "int64",
    "dev_metric": "float64",
}
META_KEYS = ("name", "task", "metric_name", "budgets", "teacher")
TEACHER_KEYS = ("metric", "flops", "params")
_PRODUCER = "the search stage writes it: run `raydistill run SPEC` (or `raydistill search SPEC`) first"


@dataclass(frozen=True, eq=False, kw_only=True)
class ReportInputs:
    """Everything a report shows; checked on construction (`RunError` naming the bad field).

    Attributes:
        name, task, metric_name: run name, task registry name, metric of the metric columns.
        teacher: {"metric": dev metric, "flops": FLOPs, "params": parameters} of the teacher.
        trials: the trial table (`results.table` schema; validated and coerced here).
        grid: supernet (width, depth) grid evaluation (`GRID_COLUMNS`), or None.
        budgets: FLOPs budgets as fractions of the teacher's encoder FLOPs (stored sorted ascending).
        fixed_ratio: the run's FLOPs share no sub-network can shrink (pooler, task head), in [0, 1): a budget b
            admits total-FLOPs ratios up to `results.pareto.budget_limit(b, fixed_ratio)`. 0 prices total FLOPs.
        latency: {arch_id: {"latency_ms": ..., ...}} measured on exports, or None.
        sampler: the search sampler; None = the distinct values of `trials.sampler`.
        retrained: {arch_id: {"dev_after": ..., ...}} of the Archs the retrain stage re-trained, or None.
    """

    name: str
    task: str
    metric_name: str
    teacher: Mapping[str, float]
    trials: pd.DataFrame
    grid: pd.DataFrame | None = None
    budgets: Sequence[float] = field(default_factory=tuple)
    fixed_ratio: float = 0.0
    latency: Mapping[str, Mapping[str, Any]] | None = None
    sampler: str | None = None
    retrained: Mapping[str, Mapping[str, Any]] | None = None

    def __post_init__(self) -> None:
        missing = [k for k in TEACHER_KEYS if k not in self.teacher]
        if missing:
            raise RunError(
                f"report teacher {dict(self.teacher)} lacks {missing}; give metric, flops and params"
            )
        bad = [k for k in TEACHER_KEYS if not _is_number(self.teacher[k])]
        if bad:
            raise RunError(f"report teacher {dict(self.teacher)}: {bad} must be finite numbers")
        try:
            budgets = tuple(sorted(float(b) for b in self.budgets))
        except (TypeError, ValueError):
            budgets = ()
        if not budgets or not all(0 < b <= 1 for b in budgets):
            raise RunError(f"report budgets {self.budgets!r} must be fractions in (0, 1], e.g. [0.25, 0.5]")
        if not _is_number(self.fixed_ratio) or not 0 <= self.fixed_ratio < 1:
            raise RunError(f"report fixed_ratio {self.fixed_ratio!r} must be a number in [0, 1)")
        try:
            trials = validate_table(self.trials)
        except ValueError as e:
            raise RunError(f"report trials: {e}") from None
        names = set(trials["metric_name"])
        if names - {self.metric_name}:
            raise RunError(
                f"trials were scored with {sorted(names)} but the report's metric is {self.metric_name!r}"
            )
        object.__setattr__(self, "budgets", budgets)
        object.__setattr__(self, "trials", trials)
        object.__setattr__(self, "grid", None if self.grid is None else _check_grid(self.grid, "grid"))
        _check_latency(self.latency, "latency")
        _check_retrained(self.retrained, "retrained")

    @property
    def sampler_label(self) -> str:
        """`sampler`, else the samplers named in the table (comma-separated), else `-`."""
        return self.sampler or ", ".join(sorted(set(self.trials["sampler"]))) or "-"


def _is_number(value: Any) -> bool:
    """A finite real number (numpy scalars included), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _check_grid(grid: pd.DataFrame, where: str) -> pd.DataFrame:
    missing = [c for c in GRID_COLUMNS if c not in grid]
    if missing:
        raise RunError(f"{where}: missing column(s) {missing}; a grid needs {list(GRID_COLUMNS)}")
    try:
        out = grid[list(GRID_COLUMNS)].astype(GRID_COLUMNS).reset_index(drop=True)
    except (TypeError, ValueError) as e:
        raise RunError(f"{where}: column types do not match {GRID_COLUMNS}: {e}") from None
    try:
        for arch_id in out["arch_id"]:
            Arch.from_id(arch_id)
    except ArchError as e:
        raise RunError(f"{where}: column arch_id must hold `Arch.id` values: {e}") from None
    return out


def _check_per_arch(entries: Mapping[str, Mapping[str, Any]] | None, key: str, what: str, where: str) -> None:
    """Every entry of a {arch_id: {...}} file must hold a finite number under `key`."""
    if entries is not None and not isinstance(entries, Mapping):
        raise RunError(f"{where}: expected {{arch_id: {{'{key}': <{what}>, ...}}}}, got {entries!r}")
    for arch_id, entry in (entries or {}).items():
        if not isinstance(entry, Mapping) or not _is_number(entry.get(key)):
            raise RunError(
                f"{where}: entry for {arch_id!r} is {entry!r}; give {{'{key}': <{what}>, ...}} per arch id"
            )


def _check_latency(latency: Mapping[str, Mapping[str, Any]] | None, where: str) -> None:
    _check_per_arch(latency, "latency_ms", "median ms", where)


def _check_retrained(retrained: Mapping[str, Mapping[str, Any]] | None, where: str) -> None:
    _check_per_arch(retrained, "dev_after", "dev metric", where)


def _read_optional(path: Path, producer: str, enabled: bool = True) -> Any:
    """The JSON object at `path`; None when there is no such file or its stage is off (`enabled`)."""
    if not enabled or not path.is_file():
        return None
    value = _read_json(path, producer)
    if not isinstance(value, dict):
        raise RunError(f"{path}: expected a JSON object keyed by arch id, got {type(value).__name__}; {producer}")
    return value


def _stages_on(layout: RunLayout) -> tuple[bool, bool]:
    """(retrain on, export on) in the run's latest spec (`spec.json`); both True when it is absent."""
    path = layout.spec_json
    if not path.is_file():
        return True, True
    spec = _read_json(path, "`raydistill run` writes it")
    search, export = (spec.get(k) if isinstance(spec, dict) else None for k in ("search", "export"))
    retrain = not isinstance(search, dict) or search.get("retrain") is not None
    return retrain, not isinstance(export, dict) or export.get("enabled") is not False


def _read_grid(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        grid = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise RunError(f"{path}: not a readable CSV ({e}); the supernet stage writes it") from None
    return _check_grid(grid, str(path))


def _read_json(path: Path, producer: str) -> Any:
    if not path.is_file():
        raise RunError(f"{path} not found; {producer}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunError(f"{path}: not valid JSON ({e}); {producer}") from None


def _read_meta(path: Path, teacher_metrics: Path) -> dict[str, Any]:
    meta = _read_json(path, _PRODUCER)
    if not isinstance(meta, dict):
        raise RunError(
            f"{path}: expected a JSON object with keys {list(META_KEYS)}, got {type(meta).__name__}"
        )
    if isinstance(meta.get("teacher"), dict) and "metric" not in meta["teacher"]:
        if not teacher_metrics.is_file():
            raise RunError(
                f"{teacher_metrics} not found (the teacher's dev metric); the teacher stage writes it: rerun "
                "`raydistill run SPEC`"
            )
        metrics = _read_json(teacher_metrics, "the teacher stage writes it")
        if not isinstance(metrics, dict):
            raise RunError(f"{teacher_metrics}: expected a JSON object with 'main_value', got {metrics!r}")
        meta["teacher"] = {**meta["teacher"], "metric": metrics.get("main_value")}
    missing = [k for k in META_KEYS if k not in meta]
    teacher = meta.get("teacher")
    if not isinstance(teacher, dict):
        missing.append("teacher{metric, flops, params}")
    else:
        missing += [f"teacher.{k}" for k in TEACHER_KEYS if k not in teacher]
    if missing:
        raise RunError(
            f"{path}: missing key(s) {sorted(set(missing))}; see raydistill/report/inputs.py for the format"
        )
    if "fixed_ratio" not in meta:
        raise RunError(
            f"{path}: no fixed_ratio (the pooler and task head's share of the teacher's FLOPs, which FLOPs "
            f"budgets need): the search predates it; delete {path.parent} and rerun `raydistill run SPEC` "
            "to search again"
        )
    return meta


def load_report_inputs(run_dir: str | Path) -> ReportInputs:
    """Read a run directory (file contracts in the module docstring) into `ReportInputs`.

    Raises:
        RunError: a required file is missing or malformed; the message names the file and its producer.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(
            f"run directory {run_dir} does not exist; give the directory `raydistill run` printed "
            "(<resources.storage_path>/<name>)"
        )
    layout = RunLayout(run_dir)
    trials_dir = layout.search_dir
    if not layout.trials_parquet.is_file() and not layout.trials_csv.is_file():
        raise RunError(f"{layout.trials_parquet} not found; {_PRODUCER}")
    trials = read_table(trials_dir)
    meta_path = layout.search_meta
    meta = _read_meta(meta_path, layout.teacher_metrics)
    grid = _read_grid(layout.supernet_eval_csv)
    retrain_on, export_on = _stages_on(layout)
    latency_path = layout.latency_json
    latency = _read_optional(latency_path, "the export stage writes it", export_on)
    _check_latency(latency, str(latency_path))
    retrain_path = layout.retrain_file
    retrained = _read_optional(retrain_path, "the retrain stage writes it", retrain_on)
    _check_retrained(retrained, str(retrain_path))
    try:
        return ReportInputs(
            name=str(meta["name"]),
            task=str(meta["task"]),
            metric_name=str(meta["metric_name"]),
            teacher=dict(meta["teacher"]),
            trials=trials,
            grid=grid,
            budgets=list(meta["budgets"]),
            fixed_ratio=meta["fixed_ratio"],
            latency=latency,
            sampler=meta.get("sampler"),
            retrained=retrained,
        )
    except RunError as e:
        raise RunError(f"{meta_path} / {trials_dir}: {e}") from None
