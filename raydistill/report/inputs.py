"""What a report is built from (`ReportInputs`), and how `raydistill report RUN` rebuilds it from files alone.

A report reads two tables of a run directory `<storage_path>/<name>/` (`layout.RunLayout` names them) and the
run's name and task from its spec:

`points.parquet` (required; `points.csv` is read when the parquet file is absent)
    The points table, schema in `raydistill.results.points`: one row per model the run produced (teacher, grid
    point, dev-scored trial, budget pick, re-trained pick, student). Every stage writes its rows there; it must
    hold a `teacher` row (the teacher's dev metric, FLOPs and encoder FLOPs: the FLOPs share budgets leave out).
    The report renders whatever rows exist and never recomputes picks: the budgets are the `pick` rows' budgets.
`search/trials.parquet` (optional; `search/trials.csv` is read when the parquet file is absent)
    The trial table, schema in `raydistill.results.table`, written by the search stage. Absent when the run had
    no search: the report then says so and shows the points alone.
`spec.json` (required), written by `raydistill run` at every start: the run's `name` and `task` (and, for a run
    with a search, `search.budgets`: a budget no sub-network fits has no pick row).

A missing required file raises `RunError` naming the file and the command that produces it; a malformed one
raises `RunError` naming the file and what it should hold.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from raydistill.errors import RunError
from raydistill.layout import RunLayout
from raydistill.results.points import budgets_of, make_points, read_points
from raydistill.results.table import read_table, validate_table

__all__ = ["ReportInputs", "load_report_inputs"]

_RUN = "run `raydistill run SPEC` (every stage writes its rows there)"


@dataclass(frozen=True, eq=False, kw_only=True)
class ReportInputs:
    """Everything a report shows; checked on construction (`RunError` naming the bad field).

    Attributes:
        name, task: run name and task registry name.
        points: the points table (`results.points` schema; validated and coerced here); needs one `teacher` row.
        trials: the trial table (`results.table` schema; validated and coerced here), or None: no search ran.
        sampler: the search sampler; None = the distinct values of `trials.sampler`.
        searched_budgets: the budgets the search was asked for (`search.budgets`); a budget no sub-network fits
            has no pick row and is shown as such.
        objective: the search's second objective (`search.objective` in `search/meta.json`): flops | latency.
        objective_how: how the latency objective timed the trials (meta.json's `latency.how`), "" otherwise.

    Derived from `points` (properties): `metric_name`, `teacher`, `fixed_ratio`, `budgets`, `rows(kind)`.
    """

    name: str
    task: str
    points: pd.DataFrame
    trials: pd.DataFrame | None = None
    sampler: str | None = None
    searched_budgets: Sequence[float] = ()
    objective: str = "flops"
    objective_how: str = ""

    def __post_init__(self) -> None:
        try:
            points = make_points(self.points).reset_index(drop=True)
        except ValueError as e:
            raise RunError(f"report points: {e}") from None
        teachers = points[points["kind"] == "teacher"]
        if len(teachers) != 1:
            raise RunError(
                f"report points hold {len(teachers)} `teacher` rows; give exactly one (the teacher stage writes it)"
            )
        if not int(teachers["flops"].iloc[0]) > 0:
            raise RunError(
                "report points: the teacher row's flops must be positive (FLOPs ratios divide by it)"
            )
        names = sorted(set(points["metric_name"]))
        if len(names) != 1:
            raise RunError(f"report points are scored with {names}; a run scores every model with one metric")
        object.__setattr__(self, "points", points)
        if self.trials is not None:
            try:
                trials = validate_table(self.trials)
            except ValueError as e:
                raise RunError(f"report trials: {e}") from None
            if set(trials["metric_name"]) - {self.metric_name}:
                raise RunError(
                    f"trials were scored with {sorted(set(trials['metric_name']))} but the points table's metric "
                    f"is {self.metric_name!r}"
                )
            object.__setattr__(self, "trials", trials)

    def rows(self, kind: str) -> pd.DataFrame:
        """The points of one kind (`results.points.KINDS`), in table order."""
        return self.points[self.points["kind"] == kind]

    @property
    def metric_name(self) -> str:
        """The metric of every metric column (one per run)."""
        return str(self.points["metric_name"].iloc[0])

    @property
    def teacher(self) -> Mapping[str, Any]:
        """The teacher row as a dict (`metric` = its dev metric, plus every points column)."""
        row = self.rows("teacher").iloc[0].to_dict()
        return {**row, "metric": float(row["dev_metric"])}

    @property
    def fixed_ratio(self) -> float:
        """The FLOPs share no sub-network can shrink (pooler, task head): (teacher flops - encoder flops) /
        teacher flops, so a budget b admits total-FLOPs ratios up to `results.pareto.budget_limit(b, it)`."""
        teacher = self.teacher
        return (int(teacher["flops"]) - int(teacher["encoder_flops"])) / int(teacher["flops"])

    @property
    def budgets(self) -> Sequence[float]:
        """The budgets of the run, ascending: those of the `pick` rows and those the search was asked for (a
        budget nothing fits has no pick row); empty when it had no search."""
        return tuple(sorted(set(budgets_of(self.points)) | {float(b) for b in self.searched_budgets}))

    @property
    def has_search(self) -> bool:
        """The run has a trial table."""
        return self.trials is not None

    @property
    def sampler_label(self) -> str:
        """`sampler`, else the samplers named in the trial table (comma-separated), else `-`."""
        samplers = set() if self.trials is None else set(self.trials["sampler"])
        return self.sampler or ", ".join(sorted(samplers)) or "-"


def _read_spec(layout: RunLayout) -> tuple[str, str, list[float]]:
    """(name, task, search budgets) of the run's latest spec (`spec.json`)."""
    path = layout.spec_json
    if not path.is_file():
        raise RunError(f"{path} not found; `raydistill run SPEC` writes it when a run starts")
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunError(f"{path}: not valid JSON ({e}); rerun `raydistill run SPEC` to rewrite it") from None
    if not isinstance(spec, dict) or not all(isinstance(spec.get(k), str) for k in ("name", "task")):
        raise RunError(
            f"{path}: expected a JSON object with text `name` and `task`; rerun `raydistill run SPEC`"
        )
    budgets = (spec.get("search") or {}).get("budgets") or []
    return spec["name"], spec["task"], [float(b) for b in budgets if isinstance(b, (int, float))]


def _read_points(layout: RunLayout) -> pd.DataFrame:
    if not layout.points_parquet.is_file() and not layout.points_csv.is_file():
        raise RunError(f"{layout.points_parquet} not found; {_RUN}")
    points = read_points(layout)
    if not (points["kind"] == "teacher").any():
        raise RunError(f"{layout.points_parquet}: no `teacher` row; the teacher stage writes it: {_RUN}")
    return points


def _read_objective(layout: RunLayout) -> tuple[str, str]:
    """(objective, how latency was timed) from `search/meta.json`; ("flops", "") when it does not say."""
    try:
        meta = json.loads(layout.search_meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "flops", ""
    latency = meta.get("latency") if isinstance(meta, dict) else None
    how = str(latency.get("how", "")) if isinstance(latency, dict) else ""
    return str(meta.get("objective", "flops")), how


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
    points = _read_points(layout)
    name, task, budgets = _read_spec(layout)
    searched = layout.trials_parquet.is_file() or layout.trials_csv.is_file()
    trials = read_table(layout.search_dir) if searched else None
    objective, how = _read_objective(layout)
    try:
        return ReportInputs(
            name=name, task=task, points=points, trials=trials, searched_budgets=budgets if searched else (),
            objective=objective, objective_how=how,
        )  # fmt: skip
    except RunError as e:
        raise RunError(f"{layout.points_parquet} / {layout.search_dir}: {e}") from None
