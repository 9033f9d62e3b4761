"""Plotly figures drawn from tables only (trial table, Pareto front, supernet grid, hypervolume history).

Renderers, not computations: every number comes from `results` / `report.summary`; nothing here reads logs or
files. The x axis of the trade-off plot is FLOPs as a percentage of the teacher's (`flops_ratio` x 100); its
search-split and dev metrics are drawn in separate panels, never on one y axis.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from raydistill.models.arch import Arch
from raydistill.results.pareto import DEFAULT_REFERENCE, budget_limit

__all__ = ["arch_hover", "hypervolume_figure", "trials_figure"]

TEMPLATE = "plotly_white"
COLORS = {
    "trials": "#8da0cb",
    "over budget": "#cccccc",
    "front": "#e7298a",
    "dev": "#1b9e77",
    "other dev": "#7570b3",
    "grid": "#e6ab02",
}
PICKED: dict[str, Any] = {
    "symbol": "diamond",
    "size": 12,
    "line": {"color": "black", "width": 1},
}  # marker of the picks


def _join(values: Iterable[Any]) -> str:
    return " ".join(str(v) for v in values)


def arch_hover(arch: Arch) -> str:
    """Hover lines for an Arch: its id, then the kept layers and heads / FFN neurons (and tokens) per layer."""
    lines = [f"<b>{arch.id}</b>", f"layers: {_join(arch.layers)}", f"heads: {_join(arch.heads)}"]
    lines.append(f"FFN: {_join(arch.ffn)}")
    if arch.tokens is not None:
        lines.append(f"tokens: {_join(f'{t:g}' for t in arch.tokens)}")
    return "<br>".join(lines)


def _num(value: Any, fmt: str) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, fmt)


def _cost_lines(row: Mapping[str, Any]) -> list[str]:
    return [
        f"FLOPs: {_num(100 * row['flops_ratio'], '.1f')}% ({_num(row['flops'] / 1e9, '.3g')} GFLOPs)",
        f"params: {_num(row['params'] / 1e6, '.2f')}M",
    ]


def _trial_hover(row: Mapping[str, Any], metric: str) -> str:
    lines = [arch_hover(Arch.from_json(row["arch_json"])), *_cost_lines(row)]
    lines += [
        f"search {metric}: {_num(row['search_metric'], '.4f')}",
        f"dev {metric}: {_num(row['dev_metric'], '.4f')}",
    ]
    return "<br>".join([*lines, f"trial {row['trial_id']} ({row['status']})"])


def _grid_hover(row: Mapping[str, Any], metric: str) -> str:
    lines = [arch_hover(Arch.from_id(row["arch_id"])), f"width {row['width']:g}, depth {row['depth']:g}"]
    return "<br>".join([*lines, *_cost_lines(row), f"dev {metric}: {_num(row['dev_metric'], '.4f')}"])


def _scatter(
    df: pd.DataFrame, y: str, name: str, hover: list[str], color: str, mode: str = "markers", **marker: Any
) -> go.Scatter:
    return go.Scatter(
        x=(100 * df["flops_ratio"]).tolist(),
        y=df[y].tolist(),
        name=name,
        mode=mode,
        hovertext=hover,
        hoverinfo="text",
        marker={"color": color, **marker},
        line={"color": color},
    )


def _picked_hover(row: Mapping[str, Any], metric: str) -> str:
    budgets = ", ".join(f"{100 * b:g}%" for b in row["budgets"])
    return f"<b>chosen for budget {budgets}</b><br>{_trial_hover(row, metric)}"


def _search_traces(
    trials: pd.DataFrame, front: pd.DataFrame, picks: pd.DataFrame, metric: str
) -> list[go.Scatter]:
    """Top panel (search split): every scored trial, the over-budget ones, the front, then the picks on top."""

    def hovers(df: pd.DataFrame) -> list[str]:
        return [_trial_hover(r, metric) for r in df.to_dict("records")]

    scored = trials[trials["search_metric"].notna()]
    ok, over = scored[scored["status"] == "ok"], scored[scored["status"] != "ok"]
    traces = [_scatter(ok, "search_metric", "trials (search split)", hovers(ok), COLORS["trials"], size=7)]
    if len(over):
        traces.append(
            _scatter(over, "search_metric", "over budget", hovers(over), COLORS["over budget"], size=6)
        )
    traces.append(
        _scatter(
            front,
            "search_metric",
            "Pareto front (search split)",
            hovers(front),
            COLORS["front"],
            "lines+markers",
            size=9,
        )  # fmt: skip
    )
    if len(picks):
        hover = [_picked_hover(r, metric) for r in picks.to_dict("records")]
        traces.append(
            _scatter(picks, "search_metric", "chosen (search split)", hover, COLORS["dev"], **PICKED)
        )
    return traces


def _dev_traces(
    trials: pd.DataFrame,
    picks: pd.DataFrame,
    grid: pd.DataFrame | None,
    teacher: Mapping[str, float],
    metric: str,
) -> list[go.Scatter]:
    """Bottom panel (dev): the supernet grid, front Archs scored on dev but not chosen, the teacher, then the
    picks last, so nothing is drawn over them."""
    traces = []
    if grid is not None and len(grid):
        hover = [_grid_hover(r, metric) for r in grid.to_dict("records")]
        traces.append(
            _scatter(
                grid, "dev_metric", "supernet grid (dev)", hover, COLORS["grid"], symbol="square", size=8
            )
        )
    scored = trials[trials["dev_metric"].notna()].drop_duplicates("arch_id")
    other = scored[~scored["arch_id"].isin(picks["arch_id"])]
    if len(other):
        hover = [_trial_hover(r, metric) for r in other.to_dict("records")]
        name = "other Pareto-front Archs (dev)"
        traces.append(
            _scatter(other, "dev_metric", name, hover, COLORS["other dev"], symbol="circle-open", size=9)
        )
    traces.append(_teacher_trace(teacher, metric))
    if len(picks):
        hover = [_picked_hover(r, metric) for r in picks.to_dict("records")]
        traces.append(_scatter(picks, "dev_metric", "chosen (dev)", hover, COLORS["dev"], **PICKED))
    return traces


def _teacher_trace(teacher: Mapping[str, float], metric: str) -> go.Scatter:
    hover = "<br>".join(
        [
            "<b>teacher</b>",
            f"FLOPs: 100% ({teacher['flops'] / 1e9:.3g} GFLOPs)",
            f"params: {teacher['params'] / 1e6:.2f}M",
            f"dev {metric}: {float(teacher['metric']):.4f}",
        ]
    )
    return go.Scatter(
        x=[100.0],
        y=[float(teacher["metric"])],
        name="teacher (dev)",
        mode="markers",
        hovertext=[hover],
        hoverinfo="text",
        marker={"color": "black", "symbol": "star", "size": 14},
    )


def _budget_lines(fig: go.Figure, budgets: Sequence[float], fixed_ratio: float) -> None:
    """A dashed line per budget at its total-FLOPs limit (`budget_limit`) in both panels, labelled once."""
    for budget in budgets:
        limit = 100 * budget_limit(float(budget), fixed_ratio)
        for row in (1, 2):
            fig.add_vline(x=limit, line={"dash": "dash", "color": "grey", "width": 1}, row=row, col=1)  # type: ignore[arg-type]
        fig.add_annotation(  # above the top panel's title
            x=limit, y=1, xref="x", yref="y domain", yanchor="bottom", yshift=24, showarrow=False,
            font={"size": 10}, text=f"budget {100 * float(budget):g}%<br>(<= {limit:.2f}% total)",
        )  # fmt: skip


def trials_figure(
    trials: pd.DataFrame,
    front: pd.DataFrame,
    budgets: Sequence[float],
    teacher: Mapping[str, float],
    grid: pd.DataFrame | None = None,
    metric_name: str = "metric",
    *,
    picks: pd.DataFrame | None = None,
    fixed_ratio: float = 0.0,
) -> go.Figure:
    """Metric vs FLOPs (% of teacher) in two panels sharing the FLOPs axis, one per data split.

    Top, search split (what the search ranks): every scored trial, the Pareto front and the picks. Bottom, dev
    (scored once, after the search): the supernet grid, the other dev-scored front Archs, the teacher and the
    picks. The two splits are never drawn on one y axis (a search-split front above the teacher's dev metric
    would read as beating it). Dashed lines mark each budget's total-FLOPs limit
    (`results.pareto.budget_limit`).

    Args:
        trials: the trial table (`results.table`); rows without a search metric are not drawn.
        front: `results.pareto_front(trials)` (drawn as a line, in its row order).
        budgets: FLOPs budgets as fractions of the teacher's encoder FLOPs.
        teacher: {"metric", "flops", "params"} of the teacher (a star at 100%, dev panel).
        grid: supernet (width, depth) grid evaluation (`report.inputs.GRID_COLUMNS`), or None.
        metric_name: axis and hover label.
        picks: the chosen trial rows with a `budgets` column (`ReportData.picks`), or None (no picks).
        fixed_ratio: the run's unshrinkable FLOPs share (`ReportInputs.fixed_ratio`), placing the budget lines.

    Traces, in order: top (`yaxis` y): "trials (search split)", "over budget" (if any scored infeasible trial),
    "Pareto front (search split)", "chosen (search split)" (if picks); bottom (y2): "supernet grid (dev)" (if
    given), "other Pareto-front Archs (dev)" (dev-scored rows of Archs that are not picks, if any), "teacher
    (dev)", "chosen (dev)" (if picks). Later traces are drawn on top.
    """
    picks = picks if picks is not None else trials.iloc[:0].assign(budgets=[])
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12,
        subplot_titles=(f"search split: {metric_name} the search ranks by (every trial)",
                        f"dev: {metric_name} scored once after the search (chosen Archs, grid, teacher)"),
    )  # fmt: skip
    for trace in _search_traces(trials, front, picks, metric_name):
        fig.add_trace(trace, row=1, col=1)
    for trace in _dev_traces(trials, picks, grid, teacher, metric_name):
        fig.add_trace(trace, row=2, col=1)
    _budget_lines(fig, budgets, fixed_ratio)
    fig.update_layout(
        template=TEMPLATE,
        title=f"{metric_name} vs FLOPs: search split (top) and dev (bottom)",
        height=860,
        margin={"t": 140},
        hovermode="closest",
        legend={"orientation": "h", "y": -0.12},
    )
    fig.update_yaxes(title_text=f"search-split {metric_name}", row=1, col=1)
    fig.update_yaxes(title_text=f"dev {metric_name}", row=2, col=1)
    fig.update_xaxes(title_text="FLOPs (% of teacher)", row=2, col=1)
    fig.update_xaxes(showticklabels=True, row=1, col=1)
    return fig


def hypervolume_figure(history: pd.DataFrame, reference: Sequence[float] = DEFAULT_REFERENCE) -> go.Figure:
    """Hypervolume of the first k trials against k (`results.hypervolume_history`); `reference` labels it."""
    hover = [
        f"trial {t}: HV {hv:.4f}"
        for t, hv in zip(history.get("trial_id", history["n_trials"]), history["hypervolume"], strict=True)
    ]
    fig = go.Figure(
        go.Scatter(
            x=history["n_trials"].tolist(),
            y=history["hypervolume"].tolist(),
            name="hypervolume",
            mode="lines+markers",
            hovertext=hover,
            hoverinfo="text",
            line={"shape": "hv", "color": COLORS["front"]},
        )
    )
    fig.update_layout(
        template=TEMPLATE,
        title=f"Hypervolume of the first k trials (reference: metric {reference[0]:g}, FLOPs {100 * reference[1]:g}%)",
        xaxis_title="trials completed (k)",
        yaxis_title="hypervolume",
    )
    return fig
