"""`index.html`: one self-contained page (plotly.js inlined once, no external URL) with the report's figures.

The first figure carries plotly.js (`include_plotlyjs=True`), the others reference the already-loaded
`Plotly` (`include_plotlyjs=False`), so the page works offline and holds the library exactly once. Figure div
ids are fixed (`fig-<key>`), so the same inputs give the same page.
"""

from __future__ import annotations

import html
from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go

from raydistill.report.inputs import ReportInputs
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

__all__ = ["figures_html", "html_table", "render_html"]

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; padding: 0 1em; max-width: 1100px; color: #222; }
div.table-scroll { max-width: 100%; overflow-x: auto; margin: 0.5em 0 1.5em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.6em; text-align: left; }
th { background: #f4f4f4; }
table.facts th { background: none; border: none; padding-right: 1.5em; }
table.facts td { border: none; }
code { font-size: 0.95em; }
p.note { color: #555; font-size: 0.9em; }
"""


def html_table(table: pd.DataFrame, css_class: str = "data") -> str:
    """An escaped `<table>` of a DataFrame of display text, in a box that scrolls sideways when the table is
    wider than the page (`div.table-scroll`), so no column is cut off."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in table.itertuples(index=False)
    )
    table_html = f'<table class="{css_class}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    return f'<div class="table-scroll">{table_html}</div>'


def figures_html(figures: Mapping[str, go.Figure]) -> list[str]:
    """Each figure as an HTML fragment; only the first inlines plotly.js."""
    return [
        fig.to_html(
            full_html=False,
            include_plotlyjs=i == 0,
            include_mathjax=False,
            div_id=f"fig-{key}",
            config={"displaylogo": False, "responsive": True},
        )
        for i, (key, fig) in enumerate(figures.items())
    ]


def _budget_section(inputs: ReportInputs, data: ReportData, notes: str) -> list[str]:
    """The best Arch per budget (the `pick` rows), with the notes on its columns and the budget rule."""
    e = html.escape
    return [
        "<h2>Best Arch per budget</h2>",
        html_table(display_budget_table(data, inputs.metric_name)),
        '<p class="note">Picked by the search-split metric; dev is evaluated once, for the chosen Archs only.'
        + (f" {e(notes)}" if notes else "")
        + "</p>",
        f'<p class="note">{e(budget_note(inputs))}</p>',
    ]


def render_html(inputs: ReportInputs, data: ReportData, figures: Mapping[str, go.Figure]) -> str:
    """The whole `index.html` text: facts, budget table (when the run has picks), figures, Pareto front (when
    it has a search), then every model of the run (the points table)."""
    e = html.escape
    facts = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in data.facts)
    notes = " ".join(n for n in (retrain_note(inputs), latency_note(inputs)) if n)
    sections = [f"<h1>raydistill report: {e(inputs.name)}</h1>", f'<table class="facts">{facts}</table>']
    if len(data.budgets):
        sections += _budget_section(inputs, data, notes)
    no_search = no_search_note(inputs)
    if no_search:
        sections.append(f"<p>{e(no_search)}</p>")
    sections += [f'<div class="figure">{fragment}</div>' for fragment in figures_html(figures)]
    if inputs.has_search:
        front = display_front_table(data, inputs.metric_name)
        sections += [
            "<h2>Pareto front (search split)</h2>",
            html_table(front) if len(front) else "<p>No trial finished with status <code>ok</code>.</p>",
        ]
    sections += [
        "<h2>Models of the run (points table)</h2>",
        html_table(display_points_table(data, inputs.metric_name)),
    ]
    if notes and not len(data.budgets):
        sections.append(f'<p class="note">{e(notes)}</p>')
    body = "\n".join(sections)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>raydistill report: {e(inputs.name)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )
