"""Plotly figures drawn from tables only (trial table, Pareto front, points table, hypervolume history).

Renderers, not computations: every number comes from `results` / `report.summary`; nothing here reads logs or
files or chooses a model. The x axis is FLOPs as a percentage of the teacher's (`flops_ratio` x 100). A run with
a search gets two panels, search-split and dev metric, never on one y axis (`trials_figure`); a run without one
gets the dev panel alone (`points_figure`). In the dev panel every kind of point (`results.points.KINDS`) has its
own trace, marker and name.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from raydistill.models.arch import Arch
from raydistill.report.summary import model_text
from raydistill.results.pareto import DEFAULT_REFERENCE, budget_limit

__all__ = ["arch_hover", "hypervolume_figure", "points_figure", "trials_figure"]

TEMPLATE = "plotly_white"
COLORS = {
    "trials": "#8da0cb",
    "over budget": "#cccccc",
    "front": "#e7298a",
    "dev": "#1b9e77",
    "other dev": "#7570b3",
    "grid": "#e6ab02",
    "retrained": "#d95f02",
    "student": "#66a61e",
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


def _point_hover(row: Mapping[str, Any], metric: str) -> str:
    """A points-table row: its label, its shape (Arch per layer, or its own config), cost, metrics, method."""
    shape = (
        arch_hover(Arch.from_json(row["arch_json"]))
        if row["arch_json"]
        else model_text("", row["config_json"])
    )
    lines = [f"<b>{row['label']}</b>", shape, *_cost_lines(row)]
    lines += [
        f"search {metric}: {_num(row['search_metric'], '.4f')}",
        f"dev {metric}: {_num(row['dev_metric'], '.4f')}",
    ]
    lines += [f"method: {row['method']}"]
    if not math.isnan(row["latency_ms"]):
        lines.append(f"latency: {row['latency_ms']:.2f} ms")
    return "<br>".join([*lines, *([f"note: {row['note']}"] if row["note"] else [])])


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
    trial = [f"trial {row['trial_id']}"] if row["trial_id"] else []
    return "<br>".join([f"<b>chosen for budget {budgets}</b>", _point_hover(row, metric), *trial])


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


def _dev_points(points: pd.DataFrame, kind: str, name: str, metric: str, **style: Any) -> list[go.Scatter]:
    """One trace of the dev-scored points of `kind` (none when there are none)."""
    rows = points[(points["kind"] == kind) & points["dev_metric"].notna()]
    if not len(rows):
        return []
    hover = [_point_hover(r, metric) for r in rows.to_dict("records")]
    trace = _scatter(rows, "dev_metric", name, hover, **style)
    if "text" in trace.mode:  # a model of its own shape: its label is written next to it
        trace.update(text=rows["label"].tolist(), textposition="top center")
    return [trace]


def _dev_traces(points: pd.DataFrame, picks: pd.DataFrame, metric: str) -> list[go.Scatter]:
    """The dev panel, from the points table: the supernet grid, dev-scored trials that are not picks, students,
    re-trained picks, the teacher, then the picks last, so nothing is drawn over them."""
    trials = points[(points["kind"] == "trial") & ~points["arch_id"].isin(picks["arch_id"])]
    others = pd.concat([points[points["kind"] != "trial"], trials.drop_duplicates("arch_id")])
    traces = [
        *_dev_points(others, "grid", "supernet grid (dev)", metric, color=COLORS["grid"], symbol="square", size=8),
        *_dev_points(others, "trial", "other Pareto-front Archs (dev)", metric, color=COLORS["other dev"],
                     symbol="circle-open", size=9),
        *_dev_points(others, "student", "students (dev)", metric, color=COLORS["student"],
                     symbol="triangle-up", size=12, mode="markers+text"),
        *_dev_points(others, "retrained", "re-trained (dev)", metric, color=COLORS["retrained"],
                     symbol="diamond-open", size=13),
    ]  # fmt: skip
    traces.append(_teacher_trace(points[points["kind"] == "teacher"].iloc[0].to_dict(), metric))
    chosen = picks[picks["dev_metric"].notna()]
    if len(chosen):
        hover = [_picked_hover(r, metric) for r in chosen.to_dict("records")]
        traces.append(_scatter(chosen, "dev_metric", "chosen (dev)", hover, COLORS["dev"], **PICKED))
    return traces


def _teacher_trace(teacher: Mapping[str, Any], metric: str) -> go.Scatter:
    return go.Scatter(
        x=[100 * float(teacher["flops_ratio"])],
        y=[float(teacher["dev_metric"])],
        name="teacher (dev)",
        mode="markers",
        hovertext=[_point_hover(teacher, metric)],
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


def _no_picks(points: pd.DataFrame) -> pd.DataFrame:
    return points.iloc[:0].assign(budgets=[], trial_id=[])


def trials_figure(
    trials: pd.DataFrame,
    front: pd.DataFrame,
    points: pd.DataFrame,
    metric_name: str = "metric",
    *,
    picks: pd.DataFrame | None = None,
    budgets: Sequence[float] = (),
    fixed_ratio: float = 0.0,
) -> go.Figure:
    """Metric vs FLOPs (% of teacher) in two panels sharing the FLOPs axis, one per data split.

    Top, search split (what the search ranks): every scored trial, the Pareto front and the picks. Bottom, dev
    (scored once, after the search): every dev-scored point of the points table, by kind, and the picks. The
    two splits are never drawn on one y axis (a search-split front above the teacher's dev metric would read as
    beating it). Dashed lines mark each budget's total-FLOPs limit (`results.pareto.budget_limit`).

    Args:
        trials: the trial table (`results.table`); rows without a search metric are not drawn.
        front: `results.pareto_front(trials)` (drawn as a line, in its row order).
        points: the points table (`results.points`), with its `teacher` row.
        metric_name: axis and hover label.
        picks: the `pick` rows once per model with `budgets` and `trial_id` columns (`ReportData.picks`), or
            None (no picks).
        budgets: the budgets the picks were made for (fractions of the teacher's encoder FLOPs).
        fixed_ratio: the run's unshrinkable FLOPs share (`ReportInputs.fixed_ratio`), placing the budget lines.

    Traces, in order: top (`yaxis` y): "trials (search split)", "over budget" (if any scored infeasible trial),
    "Pareto front (search split)", "chosen (search split)" (if picks); bottom (y2): "supernet grid (dev)",
    "other Pareto-front Archs (dev)" (dev-scored `trial` points whose Arch is not a pick), "students (dev)",
    "re-trained (dev)" (each only when there are such points), "teacher (dev)", "chosen (dev)" (if picks).
    Later traces are drawn on top.
    """
    picks = picks if picks is not None else _no_picks(points)
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12,
        subplot_titles=(f"search split: {metric_name} the search ranks by (every trial)",
                        f"dev: {metric_name} scored once after the search (chosen Archs, grid, teacher)"),
    )  # fmt: skip
    for trace in _search_traces(trials, front, picks, metric_name):
        fig.add_trace(trace, row=1, col=1)
    for trace in _dev_traces(points, picks, metric_name):
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


def points_figure(points: pd.DataFrame, metric_name: str = "metric") -> go.Figure:
    """Dev metric vs FLOPs (% of teacher) of every dev-scored point, for a run without a search: one panel, the
    dev traces of `trials_figure` (no picks, no budget lines)."""
    fig = go.Figure(_dev_traces(points, _no_picks(points), metric_name))
    fig.update_layout(
        template=TEMPLATE,
        title=f"dev {metric_name} vs FLOPs: the models of the run",
        hovermode="closest",
        legend={"orientation": "h", "y": -0.2},
        xaxis_title="FLOPs (% of teacher)",
        yaxis_title=f"dev {metric_name}",
    )
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
