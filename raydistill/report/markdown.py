"""`summary.md`: the report's header and tables in GitHub-flavoured markdown (no figures)."""

from __future__ import annotations

import pandas as pd

from raydistill.report.inputs import ReportInputs
from raydistill.report.shapes import shapes_table
from raydistill.report.students import display_students_vs_picks, students_vs_picks
from raydistill.report.summary import (
    ReportData,
    budget_note,
    display_budget_table,
    display_front_table,
    display_points_table,
    latency_note,
    no_search_note,
    retrain_note,
)

__all__ = ["markdown_table", "render_markdown"]


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(table: pd.DataFrame) -> str:
    """A pipe table of a DataFrame of display text (header row, separator, one line per row)."""
    lines = ["| " + " | ".join(_cell(c) for c in table.columns) + " |"]
    lines.append("|" + "|".join(" --- " for _ in table.columns) + "|")
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def _budget_section(inputs: ReportInputs, data: ReportData, notes: list[str]) -> list[str]:
    parts = [
        "",
        "## Best Arch per budget",
        "",
        markdown_table(display_budget_table(data, inputs.metric_name)),
    ]
    parts += [
        "",
        "Picked by the search-split metric; dev is evaluated once, for the chosen Archs only.",
        "",
        budget_note(inputs),
    ]
    for note in notes:
        parts += ["", note]
    if len(data.shapes):
        parts += ["", "## Shape of each pick per teacher layer", "", markdown_table(shapes_table(data.shapes))]
        parts += ["", "h: heads, f: FFN neurons, t: tokens kept after the layer by an input of the cost length."]
    return parts


def _students_section(inputs: ReportInputs, data: ReportData) -> list[str]:
    if not len(data.budgets):
        return []
    table = students_vs_picks(data.budgets, inputs.rows("student"))
    if not len(table):
        return []
    return [
        "",
        "## Students against the picks",
        "",
        markdown_table(display_students_vs_picks(table, inputs.metric_name)),
        "",
        "Each side chosen on the search split among its own models (the student among those within the budget's "
        "FLOPs limit), then compared on dev.",
    ]


def render_markdown(inputs: ReportInputs, data: ReportData) -> str:
    """The whole `summary.md` text: facts, best Arch per budget (when the run has picks), Pareto front (when it
    has a search), every model of the run (the points table), list of companion files."""
    parts = [f"# raydistill report: {inputs.name}", ""]
    parts += [f"- **{label}**: {value}" for label, value in data.facts]
    notes = [n for n in (retrain_note(inputs), latency_note(inputs)) if n]
    if len(data.budgets):
        parts += _budget_section(inputs, data, notes)
    no_search = no_search_note(inputs)
    if no_search:
        parts += ["", no_search]
    parts += _students_section(inputs, data)
    if inputs.has_search:
        parts += ["", "## Pareto front (search split)", ""]
        front = display_front_table(data, inputs.metric_name)
        parts += [markdown_table(front) if len(front) else "No trial finished with status `ok`."]
    parts += ["", "## Models of the run (points table)", ""]
    parts += [markdown_table(display_points_table(data, inputs.metric_name))]
    if not len(data.budgets):
        for note in notes:
            parts += ["", note]
    parts += [
        "",
        "Files: `index.html` (figures), `pareto.csv` (front rows), `trials.parquet` (all trials), "
        "`points.csv` (every model).",
        "",
    ]
    return "\n".join(parts)
