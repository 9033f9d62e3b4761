"""`run_pipeline(spec)`: plan the stage graph (`stages`), print the plan, run what is not cached.

A stage writes its outputs under `<storage_path>/<name>/<stage>/` and, once complete, a `stage.json` holding its
key (its own spec sections, its needs' keys, the data files' digest: `stages.keys`) and what went into it.
Rerunning the same spec skips stages whose key matches; an interrupted stage resumes from the newest complete
checkpoint of its Ray runs (kept only when started under the same run key). Changing a section reruns exactly
the stages that read it and the stages that need them; the plan line says which and why.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raydistill import console
from raydistill.errors import DataError, RunError
from raydistill.layout import RunLayout
from raydistill.spec import Spec
from raydistill.stages import PlannedStage, Stage, StageRun, plan_run, stage_graph
from raydistill.stages.report import report_dir_for

__all__ = ["PipelineResult", "StageOutcome", "log_file_for", "report_dir_for", "run_dir_for", "run_pipeline"]


@dataclass
class StageOutcome:
    name: str
    status: str  # "ran" | "cached" | "skipped"
    seconds: float
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class PipelineResult:
    name: str
    run_dir: Path
    stages: list[StageOutcome]

    def summary(self) -> str:
        """A short block: a header, one line per enabled stage (status, seconds, headline), and last the report
        (or, without one, the run directory)."""
        shown = [s for s in self.stages if s.status != "skipped"]
        ran = sum(s.status == "ran" for s in shown)
        seconds = sum(s.seconds for s in shown)
        report = next((s.summary["index_html"] for s in shown if "index_html" in s.summary), None)
        header = f"{self.name}: {len(shown)} stages ({ran} ran, {len(shown) - ran} cached) in {seconds:.0f} s"
        lines = [header + (f"; run dir {_shown_path(self.run_dir)}" if report else "")]
        width = max((len(s.name) for s in shown), default=0)
        for s in shown:
            took = f"{s.seconds:4.0f} s" if s.status == "ran" else ""
            lines.append(f"  {s.name:<{width}}  {s.status:<6} {took:>6}  {s.summary.get('headline', '')}".rstrip())
        lines.append(f"report: {_shown_path(Path(report))}" if report else f"run dir: {_shown_path(self.run_dir)}")
        return "\n".join(lines)


def _shown_path(path: Path) -> str:
    """`path` relative to the working directory when it lies below it (shorter to read), else as it is."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def short_headline(summary: dict[str, Any], default: str = "done") -> str:
    """A stage headline's first ` | `-separated part: the progress line's short form (the summary block gives
    the whole headline)."""
    return str(summary.get("headline", default)).split(" | ", 1)[0]


def run_dir_for(spec: Spec) -> Path:
    """`<storage_path>/<name>`, absolute (Ray needs absolute storage paths)."""
    root = spec.resources.storage_path
    if "://" in root:
        raise RunError(
            f"resources.storage_path={root!r}: stage outputs are written locally; give a local or mounted directory"
        )
    return RunLayout.of(root, spec.name).root


def log_file_for(spec: Spec) -> Path:
    """`<run dir>/logs/ray.log`: where a command run without `--verbose` sends Ray's output."""
    return RunLayout(run_dir_for(spec)).ray_log


def _absolute_data_path(spec: Spec) -> Spec:
    """A relative `data.path` made absolute: Ray workers do not run in this directory. `builtin:` paths stay
    as written (data loading resolves them wherever raydistill is installed, so they hash the same everywhere).
    """
    from raydistill.data.builtin import PREFIX

    path = spec.data.path
    if not path or path.startswith(PREFIX) or Path(path).expanduser().is_absolute():
        return spec
    absolute = str(Path(path).expanduser().resolve())
    return spec.model_copy(update={"data": spec.data.model_copy(update={"path": absolute})})


def _check_data(spec: Spec) -> None:
    """The data checks of `validate` (path, train and dev files, columns, examples, labels), so a data mistake
    fails here, before any stage starts Ray, even for a `Spec` not loaded from a file. Warnings (data checked
    here for a run on a cluster) are left to the spec loader, which prints them.

    Raises:
        DataError: one line `dotted.path: what is wrong; how to fix` per problem.
    """
    from raydistill.spec.data_rules import data_problems

    errors = [p for p in data_problems(spec) if not p.warning]
    if errors:
        raise DataError("\n".join(f"{p.path}: {p.message}" for p in errors))


def run_pipeline(
    spec: Spec, *, until: str | None = None, echo: Callable[[str], None] = print
) -> PipelineResult:
    """Plan the stage graph, print the plan, then run the stages that are not cached (up to `until` and what it
    needs).

    Each stage is numbered among the planned ones (`[2/5] supernet`); a running stage tells the active console
    (live progress), and `echo` gets the plan line first, then one line as each stage ends (or is served from
    cache). A stage's rows of the points table are dropped when the spec turns the stage off.
    """
    spec = _absolute_data_path(spec)
    graph = stage_graph()
    layout = RunLayout(run_dir_for(spec))
    plan = plan_run(spec, layout, graph, until)  # an unknown `until` fails here, before anything is written
    _check_data(spec)
    layout.root.mkdir(parents=True, exist_ok=True)
    layout.spec_json.write_text(spec.model_dump_json(indent=2))
    _drop_points_of_disabled(spec, layout, graph)
    echo(plan.text())
    active = [p for p in plan.stages if p.status != "skipped"]
    statement = _split_statement(spec) if any(p.status == "run" for p in plan.stages) else None
    outcomes: list[StageOutcome] = []
    for planned in plan.stages:
        if planned.status == "skipped":
            outcomes.append(StageOutcome(planned.name, "skipped", 0.0))
            continue
        prefix = f"[{active.index(planned) + 1}/{len(active)}] {planned.name}"
        if planned.status == "cached" and planned.record is not None:
            summary = planned.record.get("summary") or {}
            echo(f"{prefix}: {short_headline(summary)} (cached)")
            outcomes.append(StageOutcome(planned.name, "cached", 0.0, summary))
            continue
        outcomes.append(_run_stage(planned, StageRun(spec, layout, planned.key, planned.run_key), prefix, echo))
        _state_splits(layout, planned.name, statement)
    return PipelineResult(spec.name, layout.root, outcomes)


def _run_stage(planned: PlannedStage, ctx: StageRun, prefix: str, echo: Callable[[str], None]) -> StageOutcome:
    """Run one stage and record it (`<stage>/stage.json`: its key, what went into it, its summary)."""
    console.stage(prefix)
    stage_file = ctx.layout.stage_file(planned.name)
    stage_file.unlink(missing_ok=True)  # its outputs are about to change: never reuse them
    start = time.perf_counter()
    summary = planned.stage.run(ctx)
    seconds = time.perf_counter() - start
    stage_file.parent.mkdir(parents=True, exist_ok=True)
    record = {"key": planned.key, "run_key": planned.run_key, "inputs": planned.inputs, "seconds": seconds,
              "summary": summary}  # fmt: skip
    stage_file.write_text(json.dumps(record, indent=2, default=str))
    echo(f"{prefix}: {short_headline(summary)} (ran in {seconds:.0f} s)")
    return StageOutcome(planned.name, "ran", seconds, summary)


def _split_statement(spec: Spec) -> Any:
    """`data.statement.SplitStatement` of the run's data; None when this machine cannot read it (a cluster run
    whose nodes hold their own copy)."""
    from raydistill.data.statement import split_statement
    from raydistill.training.config import data_kwargs

    try:
        return split_statement(data_kwargs(spec.data), spec.task, spec.seed)
    except (DataError, OSError):
        return None


def _state_splits(layout: RunLayout, stage: str, statement: Any) -> None:
    """Name the search and dev data on every points row `stage` wrote (the points table's `*_split` columns)."""
    from raydistill.results.points import read_points, write_points

    if statement is None or not (layout.points_parquet.is_file() or layout.points_csv.is_file()):
        return
    points = read_points(layout)
    rows = points["stage"] == stage
    if rows.any():
        points.loc[rows, ["search_split", "dev_split"]] = [statement.search, statement.dev]
        write_points(layout, points)


def _drop_points_of_disabled(spec: Spec, layout: RunLayout, graph: list[Stage]) -> None:
    """Rows of the points table written by a stage the spec now turns off go (they describe another run)."""
    from raydistill.results.points import read_points, replace_points

    if not (layout.points_parquet.is_file() or layout.points_csv.is_file()):
        return
    written = set(read_points(layout)["stage"])
    for stage in graph:
        if stage.name in written and not stage.enabled(spec):
            replace_points(layout, stage.name, [])
