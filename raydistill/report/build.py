"""`build_report`: a run directory (or `ReportInputs`) -> `index.html`, `summary.md`, `pareto.csv`,
`trials.parquet`, `points.csv`.

Data first (`report.summary`: Pareto front, the picks' budget table, hypervolume history, the points), then
drawing (`report.figures`), then the writers (`report.html`, `report.markdown`), all into one output directory.
A run without a search gets the points figure and table, an empty `pareto.csv` and an empty `trials.parquet`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import plotly.graph_objects as go

from raydistill.layout import POINTS_CSV  # the points table copy keeps its run name
from raydistill.report.figures import hypervolume_figure, points_figure, trials_figure
from raydistill.report.html import render_html
from raydistill.report.inputs import ReportInputs, load_report_inputs
from raydistill.report.markdown import render_markdown
from raydistill.report.shapes import shapes_figure
from raydistill.report.summary import ReportData, build_report_data
from raydistill.results.pareto import reference_for
from raydistill.results.table import PARQUET_FILE, empty_table, write_table

__all__ = ["ReportFiles", "build_report"]


@dataclass(frozen=True)
class ReportFiles:
    """Paths of the files `build_report` wrote."""

    index_html: Path
    summary_md: Path
    pareto_csv: Path
    trials_parquet: Path
    points_csv: Path

    def summary(self) -> str:
        """One line for the CLI: where the report is."""
        return f"report: {self.index_html} (+ summary.md, pareto.csv, trials.parquet, points.csv)"


def report_figures(inputs: ReportInputs, data: ReportData) -> dict[str, go.Figure]:
    """The figures of the page: trade-off and hypervolume with a search, the points figure without one."""
    shapes = {"shapes": shapes_figure(data.shapes, int(inputs.teacher["seq_length"]))} if len(data.shapes) else {}
    if inputs.trials is None:
        return {"points": points_figure(inputs.points, inputs.metric_name), **shapes}
    return {
        "trials": trials_figure(
            inputs.trials,
            data.front,
            inputs.points,
            inputs.metric_name,
            picks=data.picks,
            budgets=inputs.budgets,
            fixed_ratio=inputs.fixed_ratio,
        ),
        "hypervolume": hypervolume_figure(data.history, reference_for(inputs.metric_name)),
        **shapes,  # each pick's heads, FFN width and kept tokens per layer
    }


def build_report(source: str | Path | ReportInputs, out_dir: str | Path) -> ReportFiles:
    """Write the report of a run into `out_dir` (created if needed; existing report files are replaced).

    Args:
        source: a run directory (read by `load_report_inputs`; see its module for the file contracts) or
            ready `ReportInputs`.
        out_dir: where to write `index.html`, `summary.md`, `pareto.csv`, `trials.parquet` and `points.csv`.

    Raises:
        RunError: the run directory lacks a required file (the message names it and its producer).
    """
    inputs = source if isinstance(source, ReportInputs) else load_report_inputs(source)
    data = build_report_data(inputs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(
        out / "index.html", out / "summary.md", out / "pareto.csv", out / PARQUET_FILE, out / POINTS_CSV
    )
    files.index_html.write_text(render_html(inputs, data, report_figures(inputs, data)), encoding="utf-8")
    files.summary_md.write_text(render_markdown(inputs, data), encoding="utf-8")
    data.front.to_csv(files.pareto_csv, index=False)
    write_table(inputs.trials if inputs.trials is not None else empty_table(), out, formats=["parquet"])
    inputs.points.to_csv(files.points_csv, index=False)
    return files
