"""Plotly figures drawn from tables only (trial table, Pareto front, supernet grid, hypervolume history).

Renderers, not computations: every number comes from `results` / `report.summary`; nothing here reads logs or
files. The x axis of the trade-off plot is FLOPs as a percentage of the teacher's (`flops_ratio` x 100).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from raydistill.models.arch import Arch
from raydistill.results.pareto import DEFAULT_REFERENCE

__all__ = ["arch_hover", "hypervolume_figure", "trials_figure"]

TEMPLATE = "plotly_white"
COLORS = {
    "trials": "#8da0cb",
    "over budget": "#cccccc",
    "front": "#e7298a",
    "dev": "#1b9e77",
    "grid": "#e6ab02",
}


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


def _trial_traces(trials: pd.DataFrame, front: pd.DataFrame, metric: str) -> list[go.Scatter]:
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
            front, "search_metric", "Pareto front", hovers(front), COLORS["front"], "lines+markers", size=9
        )
    )
    dev = trials[trials["dev_metric"].notna()]
    if len(dev):
        traces.append(
            _scatter(dev, "dev_metric", "chosen (dev)", hovers(dev), COLORS["dev"], symbol="diamond", size=10)
        )
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
        name="teacher",
        mode="markers",
        hovertext=[hover],
        hoverinfo="text",
        marker={"color": "black", "symbol": "star", "size": 14},
    )


def trials_figure(
    trials: pd.DataFrame,
    front: pd.DataFrame,
    budgets: Sequence[float],
    teacher: Mapping[str, float],
    grid: pd.DataFrame | None = None,
    metric_name: str = "metric",
) -> go.Figure:
    """Metric vs FLOPs (% of teacher): trials, Pareto front, supernet grid, teacher and one line per budget.

    Args:
        trials: the trial table (`results.table`); rows without a search metric are not drawn.
        front: `results.pareto_front(trials)` (drawn as a line, in its row order).
        budgets: FLOPs budgets as fractions of the teacher's FLOPs (vertical dashed lines).
        teacher: {"metric", "flops", "params"} of the teacher (a star at 100%).
        grid: supernet (width, depth) grid evaluation (`report.inputs.GRID_COLUMNS`), or None.
        metric_name: axis and hover label.

    Traces, in order: "trials (search split)", "over budget" (if any scored infeasible trial), "Pareto front",
    "chosen (dev)" (if any row has a dev metric), "supernet grid" (if given), "teacher".
    """
    fig = go.Figure(_trial_traces(trials, front, metric_name))
    if grid is not None and len(grid):
        hover = [_grid_hover(r, metric_name) for r in grid.to_dict("records")]
        fig.add_trace(
            _scatter(
                grid, "dev_metric", "supernet grid (dev)", hover, COLORS["grid"], symbol="square", size=8
            )
        )
    fig.add_trace(_teacher_trace(teacher, metric_name))
    for budget in budgets:
        fig.add_vline(
            x=100 * float(budget),
            line={"dash": "dash", "color": "grey", "width": 1},
            annotation_text=f"budget {100 * float(budget):g}%",
            annotation_position="top",
        )
    fig.update_layout(
        template=TEMPLATE,
        title=f"{metric_name} vs FLOPs (trials: search split; grid, chosen, teacher: dev)",
        xaxis_title="FLOPs (% of teacher)",
        yaxis_title=metric_name,
        hovermode="closest",
        legend={"orientation": "h", "y": -0.2},
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
