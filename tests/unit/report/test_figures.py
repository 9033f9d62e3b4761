"""Figures are checked through their data (traces, values, shapes, hover text), never rendered."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import pytest

from raydistill.models.arch import Arch
from raydistill.report.figures import arch_hover, hypervolume_figure, trials_figure
from raydistill.report.inputs import ReportInputs
from raydistill.results.pareto import hypervolume_history, pareto_front
from tests.unit.report.conftest import DEV, TEACHER, make_grid


def _fig(inputs: ReportInputs, grid: pd.DataFrame | None = None) -> go.Figure:
    front = pareto_front(inputs.trials)
    return trials_figure(inputs.trials, front, inputs.budgets, inputs.teacher, grid, inputs.metric_name)


def _trace(fig: go.Figure, name: str) -> go.Scatter:
    (trace,) = [t for t in fig.data if t.name == name]
    return trace


def test_trace_names_in_order(inputs: ReportInputs) -> None:
    names = [t.name for t in _fig(inputs, inputs.grid).data]
    assert names == [
        "trials (search split)",
        "over budget",
        "Pareto front",
        "chosen (dev)",
        "supernet grid (dev)",
        "teacher",
    ]


def test_trial_points_are_percent_of_teacher_flops(inputs: ReportInputs) -> None:
    trials = _trace(_fig(inputs), "trials (search split)")
    # ok rows with a search metric: t0 t1 t2 t3 t4 (t5 is infeasible, t6 failed)
    assert list(trials.x) == pytest.approx([20, 45, 50, 70, 45])
    assert list(trials.y) == [0.80, 0.85, 0.83, 0.90, 0.85]
    over = _trace(_fig(inputs), "over budget")
    assert list(over.x) == pytest.approx([90]) and list(over.y) == [0.95]


def test_front_line(inputs: ReportInputs) -> None:
    front = _trace(_fig(inputs), "Pareto front")
    assert front.mode == "lines+markers"
    assert list(front.x) == pytest.approx([20, 45, 70]) and list(front.y) == [0.80, 0.85, 0.90]


def test_budget_lines_and_teacher(inputs: ReportInputs) -> None:
    fig = _fig(inputs)
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    assert len(lines) == 3
    assert sorted(s.x0 for s in lines) == [25, 50, 75] and all(s.x0 == s.x1 for s in lines)
    teacher = _trace(fig, "teacher")
    assert list(teacher.x) == [100.0] and list(teacher.y) == [TEACHER["metric"]]
    assert "FLOPs: 100%" in teacher.hovertext[0] and "params: 11.00M" in teacher.hovertext[0]


def test_hover_names_arch_and_per_layer_widths(inputs: ReportInputs) -> None:
    hover = _trace(_fig(inputs), "trials (search split)").hovertext[0]
    assert "L3@1,3,5-H3x3-F768x3" in hover
    assert "layers: 1 3 5" in hover and "heads: 3 3 3" in hover and "FFN: 768 768 768" in hover
    assert "FLOPs: 20.0%" in hover and "search accuracy: 0.8000" in hover and "trial t0 (ok)" in hover


def test_dev_points_are_the_evaluated_rows(inputs: ReportInputs) -> None:
    dev = _trace(_fig(inputs), "chosen (dev)")
    # t1 and t4 share an Arch, so both carry its dev metric
    assert list(dev.y) == [DEV[a] for a in inputs.trials["arch_id"] if a in DEV]
    assert sorted(set(dev.y)) == sorted(DEV.values())


def test_grid_points(inputs: ReportInputs) -> None:
    grid = make_grid()
    trace = _trace(_fig(inputs, grid), "supernet grid (dev)")
    assert list(trace.x) == pytest.approx(list(100 * grid["flops_ratio"]))
    assert list(trace.y) == pytest.approx(list(grid["dev_metric"]))
    assert all(a in h for a, h in zip(grid["arch_id"], trace.hovertext, strict=True))
    assert "width 0.5, depth 0.5" in trace.hovertext[0]


def test_optional_traces_absent_without_data(inputs: ReportInputs) -> None:
    trials = inputs.trials.assign(dev_metric=float("nan"))
    fig = trials_figure(trials, pareto_front(trials), [0.5], TEACHER)
    assert "chosen (dev)" not in [t.name for t in fig.data]
    assert "supernet grid (dev)" not in [t.name for t in fig.data]
    assert len(fig.layout.shapes) == 1


def test_arch_hover_lists_tokens() -> None:
    text = arch_hover(Arch((0, 2), (4, 2), (64, 32), (1.0, 0.5)))
    assert text.split("<br>") == [
        "<b>L2@0,2-H4,2-F64,32-T1,0.5</b>",
        "layers: 0 2",
        "heads: 4 2",
        "FFN: 64 32",
        "tokens: 1 0.5",
    ]


def test_hypervolume_figure(inputs: ReportInputs) -> None:
    history = hypervolume_history(inputs.trials)
    fig = hypervolume_figure(history)
    (trace,) = fig.data
    assert list(trace.x) == list(range(1, 8))
    assert list(trace.y) == pytest.approx(list(history["hypervolume"]))
    assert trace.hovertext[0].startswith("trial t0")
