"""`summary.md`: the report's header and tables in GitHub-flavoured markdown (no figures)."""

from __future__ import annotations

import pandas as pd

from raydistill.report.inputs import ReportInputs
from raydistill.report.summary import (
    ReportData,
    budget_note,
    display_budget_table,
    display_front_table,
    latency_note,
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


def render_markdown(inputs: ReportInputs, data: ReportData) -> str:
    """The whole `summary.md` text: facts, best Arch per budget, Pareto front, list of companion files."""
    parts = [f"# raydistill report: {inputs.name}", ""]
    parts += [f"- **{label}**: {value}" for label, value in data.facts]
    parts += [
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
    for note in (retrain_note(inputs), latency_note(inputs)):
        if note:
            parts += ["", note]
    parts += ["", "## Pareto front (search split)", ""]
    front = display_front_table(data, inputs.metric_name)
    parts += [markdown_table(front) if len(front) else "No trial finished with status `ok`."]
    parts += [
        "",
        "Files: `index.html` (figures), `pareto.csv` (front rows), `trials.parquet` (all trials).",
        "",
    ]
    return "\n".join(parts)
