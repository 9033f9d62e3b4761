"""`build_report`: a run directory (or `ReportInputs`) -> `index.html`, `summary.md`, `pareto.csv`, `trials.parquet`.

Data first (`report.summary`: Pareto front, best Arch per budget, hypervolume history), then drawing
(`report.figures`), then the writers (`report.html`, `report.markdown`), all into one output directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from raydistill.report.figures import hypervolume_figure, trials_figure
from raydistill.report.html import render_html
from raydistill.report.inputs import ReportInputs, load_report_inputs
from raydistill.report.markdown import render_markdown
from raydistill.report.summary import build_report_data
from raydistill.results.pareto import reference_for
from raydistill.results.table import PARQUET_FILE, write_table

__all__ = ["ReportFiles", "build_report"]


@dataclass(frozen=True)
class ReportFiles:
    """Paths of the files `build_report` wrote."""

    index_html: Path
    summary_md: Path
    pareto_csv: Path
    trials_parquet: Path

    def summary(self) -> str:
        """One line for the CLI: where the report is."""
        return f"report: {self.index_html} (+ summary.md, pareto.csv, trials.parquet)"


def build_report(source: str | Path | ReportInputs, out_dir: str | Path) -> ReportFiles:
    """Write the report of a run into `out_dir` (created if needed; existing report files are replaced).

    Args:
        source: a run directory (read by `load_report_inputs`; see its module for the file contracts) or
            ready `ReportInputs`.
        out_dir: where to write `index.html`, `summary.md`, `pareto.csv` and `trials.parquet`.

    Raises:
        RunError: the run directory lacks a required file (the message names it and its producer).
    """
    inputs = source if isinstance(source, ReportInputs) else load_report_inputs(source)
    data = build_report_data(inputs)
    figures = {
        "trials": trials_figure(
            inputs.trials,
            data.front,
            inputs.budgets,
            inputs.teacher,
            inputs.grid,
            inputs.metric_name,
            picks=data.picks,
            fixed_ratio=inputs.fixed_ratio,
        ),
        "hypervolume": hypervolume_figure(data.history, reference_for(inputs.metric_name)),
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(out / "index.html", out / "summary.md", out / "pareto.csv", out / PARQUET_FILE)
    files.index_html.write_text(render_html(inputs, data, figures), encoding="utf-8")
    files.summary_md.write_text(render_markdown(inputs, data), encoding="utf-8")
    data.front.to_csv(files.pareto_csv, index=False)
    write_table(inputs.trials, out, formats=["parquet"])
    return files
