"""Figures are checked through their data (traces, values, shapes, hover text), never rendered."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest

from raydistill.models.arch import Arch
from raydistill.report.figures import arch_hover, hypervolume_figure, points_figure, trials_figure
from raydistill.report.inputs import ReportInputs
from raydistill.report.summary import build_report_data
from raydistill.results.pareto import budget_limit, hypervolume_history, pareto_front
from raydistill.results.points import make_points
from tests.unit.report.conftest import (
    DEV,
    FIXED_RATIO,
    TEACHER,
    make_grid,
    make_run_points,
    point,
    teacher_point,
    trial_point,
)


def _fig(inputs: ReportInputs, grid: bool = True) -> go.Figure:
    """The trade-off figure of `inputs` (without the grid points when `grid` is False)."""
    points = inputs.points if grid else inputs.points[inputs.points["kind"] != "grid"]
    data = build_report_data(inputs)
    return trials_figure(
        inputs.trials, data.front, points, inputs.metric_name,
        picks=data.picks, budgets=inputs.budgets, fixed_ratio=inputs.fixed_ratio,
    )  # fmt: skip


def _with_points(inputs: ReportInputs, *rows: dict) -> ReportInputs:
    return ReportInputs(**{**vars(inputs), "points": make_points([*inputs.points.to_dict("records"), *rows])})


def _trace(fig: go.Figure, name: str) -> go.Scatter:
    (trace,) = [t for t in fig.data if t.name == name]
    return trace


SEARCH_PANEL = [
    "trials (search split)",
    "over budget",
    "Pareto front (search split)",
    "chosen (search split)",
]
DEV_PANEL = ["supernet grid (dev)", "other Pareto-front Archs (dev)", "teacher (dev)", "chosen (dev)"]


def _with_other_dev(inputs: ReportInputs) -> ReportInputs:
    """The fixture plus a dev score for t2's Arch: scored on dev (as a capped front point would be), not a pick."""
    t2 = inputs.trials.set_index("trial_id").loc["t2"].to_dict()
    return _with_points(inputs, trial_point(t2, "trial", "trial t2", dev_metric=0.83))


def test_trace_names_in_order(inputs: ReportInputs) -> None:
    names = [t.name for t in _fig(_with_other_dev(inputs)).data]
    assert names == SEARCH_PANEL + DEV_PANEL  # later traces are drawn on top: the picks last in each panel


def test_picks_are_drawn_over_the_grid_and_the_teacher(inputs: ReportInputs) -> None:
    names = [t.name for t in _fig(inputs).data]
    chosen = names.index("chosen (dev)")
    assert chosen == len(names) - 1 > names.index("supernet grid (dev)")
    assert chosen > names.index("teacher (dev)")
    assert names.index("chosen (search split)") > names.index("Pareto front (search split)")


def test_search_and_dev_metrics_never_share_a_y_axis(inputs: ReportInputs) -> None:
    fig = _fig(_with_other_dev(inputs))
    axes = {t.name: t.yaxis or "y" for t in fig.data}
    assert {axes[n] for n in SEARCH_PANEL} == {"y"}
    assert {axes[n] for n in DEV_PANEL} == {"y2"}  # the teacher's dev metric too
    assert fig.layout.yaxis.title.text == "search-split accuracy"
    assert fig.layout.yaxis2.title.text == "dev accuracy"
    top, bottom = fig.layout.yaxis.domain, fig.layout.yaxis2.domain
    assert bottom[1] < top[0]  # two panels, one above the other
    titles = [a.text for a in fig.layout.annotations if a.text and a.text.startswith(("search split", "dev"))]
    assert len(titles) == 2


def test_trial_points_are_percent_of_teacher_flops(inputs: ReportInputs) -> None:
    trials = _trace(_fig(inputs, grid=False), "trials (search split)")
    # ok rows with a search metric: t0 t1 t2 t3 t4 (t5 is infeasible, t6 failed)
    assert list(trials.x) == pytest.approx([20, 45, 50, 70, 45])
    assert list(trials.y) == [0.80, 0.85, 0.83, 0.90, 0.85]
    over = _trace(_fig(inputs), "over budget")
    assert list(over.x) == pytest.approx([90]) and list(over.y) == [0.95]


def test_front_line(inputs: ReportInputs) -> None:
    front = _trace(_fig(inputs), "Pareto front (search split)")
    assert front.mode == "lines+markers"
    assert list(front.x) == pytest.approx([20, 45, 70]) and list(front.y) == [0.80, 0.85, 0.90]


def test_budget_lines_sit_at_the_rule_limit_in_both_panels(inputs: ReportInputs) -> None:
    fig = _fig(inputs)
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    limits = [100 * budget_limit(b, FIXED_RATIO) for b in inputs.budgets]  # 26.5, 51, 75.5
    assert sorted(s.x0 for s in lines) == pytest.approx(sorted(limits * 2)) and all(
        s.x0 == s.x1 for s in lines
    )
    assert {s.xref for s in lines} == {"x", "x2"}
    labels = [a.text for a in fig.layout.annotations if a.text and a.text.startswith("budget")]
    assert labels == ["budget 25%<br>(<= 26.50% total)", "budget 50%<br>(<= 51.00% total)",
                      "budget 75%<br>(<= 75.50% total)"]  # fmt: skip


def test_teacher_is_on_the_dev_panel(inputs: ReportInputs) -> None:
    teacher = _trace(_fig(inputs), "teacher (dev)")
    assert list(teacher.x) == [100.0] and list(teacher.y) == [TEACHER["metric"]] and teacher.yaxis == "y2"
    assert teacher.hovertext[0].startswith("<b>teacher</b>") and "method: finetune" in teacher.hovertext[0]
    assert "FLOPs: 100.0%" in teacher.hovertext[0] and "params: 11.00M" in teacher.hovertext[0]


def test_hover_names_arch_and_per_layer_widths(inputs: ReportInputs) -> None:
    hover = _trace(_fig(inputs), "trials (search split)").hovertext[0]
    assert "L3@1,3,5-H3x3-F768x3" in hover
    assert "layers: 1 3 5" in hover and "heads: 3 3 3" in hover and "FFN: 768 768 768" in hover
    assert "FLOPs: 20.0%" in hover and "search accuracy: 0.8000" in hover and "trial t0 (ok)" in hover


def test_only_the_picks_are_chosen(inputs: ReportInputs) -> None:
    fig = _fig(_with_other_dev(inputs))
    picks = {"t0": 0.25, "t1": 0.5, "t3": 0.75}  # tests/unit/results/conftest.py
    for name, column in (("chosen (dev)", "dev_metric"), ("chosen (search split)", "search_metric")):
        chosen = _trace(fig, name)
        rows = inputs.points.set_index("label").loc[[f"pick {b:g}" for b in picks.values()]]
        assert list(chosen.x) == pytest.approx(list(100 * rows["flops_ratio"]))
        assert list(chosen.y) == pytest.approx(list(rows[column]))
        assert [h.split("<br>")[0] for h in chosen.hovertext] == [
            f"<b>chosen for budget {100 * b:g}%</b>" for b in picks.values()
        ]
    other = _trace(fig, "other Pareto-front Archs (dev)")  # t2: scored on dev, not a pick
    assert list(other.y) == [0.83] and "trial t2" in other.hovertext[0]
    assert sorted(_trace(fig, "chosen (dev)").y) == sorted(DEV.values())


def test_an_arch_picked_for_two_budgets_is_drawn_once(inputs: ReportInputs) -> None:
    both = ReportInputs(**{**vars(inputs), "points": make_run_points({0.5: "t1", 0.55: "t1"})})
    chosen = _trace(_fig(both), "chosen (dev)")
    assert len(chosen.y) == 1 and chosen.hovertext[0].startswith("<b>chosen for budget 50%, 55%</b>")


def test_grid_points(inputs: ReportInputs) -> None:
    grid = make_grid()
    trace = _trace(_fig(inputs), "supernet grid (dev)")
    assert list(trace.x) == pytest.approx(list(100 * grid["flops_ratio"]))
    assert list(trace.y) == pytest.approx(list(grid["dev_metric"]))
    assert all(a in h for a, h in zip(grid["arch_id"], trace.hovertext, strict=True))
    assert trace.hovertext[0].startswith("<b>grid w0.5-d0.5</b>") and "method: supernet" in trace.hovertext[0]


def test_optional_traces_absent_without_data(inputs: ReportInputs) -> None:
    trials = inputs.trials.assign(dev_metric=float("nan"))
    fig = trials_figure(trials, pareto_front(trials), make_points([teacher_point()]), budgets=[0.5])
    names = [t.name for t in fig.data]
    assert "chosen (dev)" not in names and "chosen (search split)" not in names
    assert "supernet grid (dev)" not in names and "other Pareto-front Archs (dev)" not in names
    assert "students (dev)" not in names and "re-trained (dev)" not in names
    assert len(fig.layout.shapes) == 2  # one budget, both panels


def _student(name: str = "tiny", dev: float = 0.86) -> dict:
    return point(
        f"student {name}", "student", "student", "kd", config_json='{"layers": 2, "hidden": 128}',
        flops=400_000, flops_ratio=0.2, params=2_000_000, dev_metric=dev,
    )  # fmt: skip


def test_every_kind_of_point_has_its_own_trace_in_the_dev_panel(inputs: ReportInputs) -> None:
    t1 = inputs.trials.set_index("trial_id").loc["t1"].to_dict()
    retrained = trial_point(t1, "retrained", "retrained t1", dev_metric=0.9) | {
        "method": "kd",
        "stage": "retrain",
    }
    fig = _fig(_with_points(_with_other_dev(inputs), retrained, _student()))
    names = [t.name for t in fig.data]
    assert names[len(SEARCH_PANEL) :] == [
        "supernet grid (dev)", "other Pareto-front Archs (dev)", "students (dev)", "re-trained (dev)",
        "teacher (dev)", "chosen (dev)",
    ]  # fmt: skip
    student, again = _trace(fig, "students (dev)"), _trace(fig, "re-trained (dev)")
    assert list(student.x) == pytest.approx([20.0]) and list(student.y) == [0.86] and student.yaxis == "y2"
    assert list(student.text) == ["student tiny"] and "layers 2, hidden 128" in student.hovertext[0]
    assert list(again.x) == pytest.approx([45.0]) and list(again.y) == [0.9]
    assert again.hovertext[0].startswith("<b>retrained t1</b>") and "method: kd" in again.hovertext[0]
    symbols = {t.name: t.marker.symbol for t in fig.data if t.yaxis == "y2"}
    assert len(set(symbols.values())) == len(symbols)  # a marker per kind


def test_points_figure_of_a_run_without_a_search() -> None:
    fig = points_figure(
        make_points([teacher_point(), _student(), _student("unscored", float("nan"))]), "accuracy"
    )
    assert [t.name for t in fig.data] == ["students (dev)", "teacher (dev)"]
    assert list(_trace(fig, "students (dev)").text) == ["student tiny"]  # an unscored point is not drawn
    assert fig.layout.yaxis.title.text == "dev accuracy" and not fig.layout.shapes


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
