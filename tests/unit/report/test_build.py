"""The report files: budget table data, a self-contained index.html, summary.md, pareto.csv, trials.parquet."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest

from raydistill.layout import RunLayout
from raydistill.report.build import build_report
from raydistill.report.inputs import ReportInputs
from raydistill.report.summary import build_report_data, latency_note
from raydistill.results.pareto import best_per_budget
from raydistill.results.points import POINT_COLUMNS, make_points, write_points
from raydistill.results.schema import read_csv_frame
from raydistill.results.table import empty_table, read_table
from tests.unit.report.conftest import (
    FIXED_RATIO,
    make_run_points,
    make_trials,
    point,
    teacher_point,
    trial_point,
    write_spec,
)

PLOTLY_BANNER = re.compile(r"\* plotly\.js v\d")  # the licence header at the top of the bundled library


def _plotly_bundle(html: str) -> str:
    """The one <script> holding plotly.js (the largest), to inspect the rest of the page without it."""
    return max(re.findall(r"<script[^>]*>(.*?)</script>", html, re.S), key=len)


# ------------------------------------------------------------------ data
def test_budget_table_data(inputs: ReportInputs) -> None:
    table = build_report_data(inputs).budgets
    assert table["budget"].tolist() == [0.25, 0.5, 0.75]
    assert table["trial_id"].tolist() == ["t0", "t1", "t3"]
    assert table["dev_metric"].tolist() == [0.79, 0.84, 0.88]
    assert table["dev_minus_teacher"].tolist() == pytest.approx([0.79 - 0.91, 0.84 - 0.91, 0.88 - 0.91])
    latency = table["latency_ms"].tolist()
    assert math.isnan(latency[0]) and latency[1] == 3.2 and math.isnan(latency[2])


def test_no_latency_column_when_nothing_was_measured(inputs: ReportInputs) -> None:
    unmeasured = ReportInputs(**{**vars(inputs), "points": inputs.points.assign(latency_ms=math.nan)})
    table = build_report_data(unmeasured).budgets
    assert "latency_ms" not in table and latency_note(unmeasured) is None
    assert table["trial_id"].tolist() == ["t0", "t1", "t3"]


def test_facts_and_latency_note(inputs: ReportInputs) -> None:
    facts = dict(build_report_data(inputs).facts)
    assert facts["trials"] == "7 (5 ok, 1 infeasible, 1 error); 3 on the Pareto front"
    assert facts["teacher dev accuracy"] == "0.9100" and facts["sampler"] == "nsga2"
    assert facts["hypervolume"].startswith("0.6825 ")
    assert facts["models"] == "11 (1 teacher, 4 grid, 3 trial, 3 pick)"
    assert (
        latency_note(inputs)
        == "Latency: median milliseconds of the exported model, as the export stage measured it."
    )


def test_facts_count_failed_trials_when_there_are_some(inputs: ReportInputs) -> None:
    trials = inputs.trials.copy()
    failed = trials["status"] == "error"
    trials.loc[failed, ["status", "note"]] = ["failed", "non-finite outputs"]
    facts = dict(build_report_data(ReportInputs(**{**vars(inputs), "trials": trials})).facts)
    assert facts["trials"] == "7 (5 ok, 1 infeasible, 1 failed, 0 error); 3 on the Pareto front"


# ------------------------------------------------------------------ files
def test_hypervolume_of_a_correlation_metric_starts_at_minus_one(inputs: ReportInputs) -> None:
    trials = inputs.trials.assign(metric_name="mcc", search_metric=inputs.trials["search_metric"] - 1.0)
    mcc = ReportInputs(
        **{**vars(inputs), "points": inputs.points.assign(metric_name="mcc"), "trials": trials}
    )
    data = build_report_data(mcc)
    # every point moved down by 1 and the reference with it: the same area as the accuracy run's
    assert dict(data.facts)["hypervolume"] == "0.6825 (reference: mcc -1, FLOPs 100%)"
    expected = build_report_data(inputs).history["hypervolume"].to_numpy()
    assert data.history["hypervolume"].to_numpy() == pytest.approx(expected)


def test_html_is_self_contained(inputs: ReportInputs, tmp_path: Path) -> None:
    html = build_report(inputs, tmp_path).index_html.read_text(encoding="utf-8")
    assert len(PLOTLY_BANNER.findall(html)) == 1  # plotly.js inlined exactly once
    assert html.count("Plotly.newPlot(") == 3  # trials + hypervolume figures + the picks' shapes
    assert not re.search(r"<script[^>]+src=", html) and "<link" not in html
    rest = html.replace(_plotly_bundle(html), "")
    assert PLOTLY_BANNER.search(_plotly_bundle(html))
    assert "http" not in rest and "//cdn" not in rest  # no URL outside the library's own source text


def test_html_holds_plot_data_and_tables(inputs: ReportInputs, tmp_path: Path) -> None:
    html = build_report(inputs, tmp_path).index_html.read_text(encoding="utf-8")
    (trials_script,) = [
        s for s in re.findall(r"<script[^>]*>(.*?)</script>", html, re.S) if '"fig-trials"' in s
    ]
    assert "L6-H9x6-F2304x6" in trials_script and '"name":"Pareto front (search split)"' in trials_script
    assert "<h1>raydistill report: demo-run</h1>" in html
    assert "<th>sampler</th><td>nsga2</td>" in html
    assert (
        "<td>50.0%</td><td>51.00%</td><td>L3@1,3,5-H6x3-F1536x3</td><td>0.8400</td><td>-0.0700</td>" in html
    )
    assert "<td>3.20</td>" in html  # the measured latency column


def test_summary_md(inputs: ReportInputs, tmp_path: Path) -> None:
    text = build_report(inputs, tmp_path).summary_md.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0] == "# raydistill report: demo-run"
    assert "- **trials**: 7 (5 ok, 1 infeasible, 1 error); 3 on the Pareto front" in lines
    header = (
        "| budget (encoder FLOPs) | FLOPs limit (% teacher) | Arch | dev accuracy | dev vs teacher | search accuracy "
        "| FLOPs (% teacher) | params | latency (ms) | trial |"
    )
    i = lines.index(header)
    assert lines[i + 2 : i + 5] == [
        "| 25.0% | 26.50% | L3@1,3,5-H3x3-F768x3 | 0.7900 | -0.1200 | 0.8000 | 20.00% | 3.00M | n/a | t0 |",
        "| 50.0% | 51.00% | L3@1,3,5-H6x3-F1536x3 | 0.8400 | -0.0700 | 0.8500 | 45.00% | 5.50M | 3.20 | t1 |",
        "| 75.0% | 75.50% | L6-H9x6-F2304x6 | 0.8800 | -0.0300 | 0.9000 | 70.00% | 8.00M | n/a | t3 |",
    ]
    assert "| L6-H9x6-F2304x6 | 70.0% | 0.9000 | 0.8800 | 8.00M | t3 |" in lines  # Pareto front table


def test_pareto_csv_and_trials_copy(inputs: ReportInputs, tmp_path: Path) -> None:
    files = build_report(inputs, tmp_path)
    front = pd.read_csv(files.pareto_csv)
    assert front["trial_id"].tolist() == ["t0", "t1", "t3"]
    assert front["flops_ratio"].tolist() == [0.2, 0.45, 0.7] and front["on_front"].all()
    assert list(front.columns) == list(inputs.trials.columns)
    pd.testing.assert_frame_equal(read_table(tmp_path), make_trials())


def test_build_from_run_dir(run_dir: Path, tmp_path: Path) -> None:
    files = build_report(run_dir, tmp_path / "report")
    assert files.index_html.is_file() and files.summary_md.is_file()
    assert "L6-H9x6-F2304x6" in files.index_html.read_text(encoding="utf-8")
    assert str(files.index_html) in files.summary()


def test_report_of_a_search_where_nothing_finished(tmp_path: Path) -> None:
    """A trial table without an `ok` row and no picks: the front section says so, no budget section."""
    inputs = ReportInputs(
        name="empty", task="sst2", points=make_points([teacher_point()]), trials=empty_table()
    )
    files = build_report(inputs, tmp_path)
    text = files.summary_md.read_text(encoding="utf-8")
    assert "No trial finished with status `ok`." in text and "## Best Arch per budget" not in text
    assert "- **budgets**: no picks in the points table" in text.splitlines()
    assert len(pd.read_csv(files.pareto_csv)) == 0


def _student_run(tmp_path: Path) -> Path:
    """A run directory with a teacher and one distilled student, and no search."""
    run = tmp_path / "kd-run"
    write_spec(run, "kd-run")
    student = point(
        "student tiny", "student", "student", "kd", config_json='{"layers": 2, "hidden": 128}',
        flops=400_000, flops_ratio=0.2, params=2_000_000, dev_metric=0.86, latency_ms=1.5,
    )  # fmt: skip
    write_points(RunLayout(run), [teacher_point(), student])
    return run


def test_a_run_without_a_search_reports_its_points(tmp_path: Path) -> None:
    """Acceptance (issue 13): the report renders from a points table with no trials (teacher + one model)."""
    files = build_report(_student_run(tmp_path), tmp_path / "report")
    page = files.index_html.read_text(encoding="utf-8")
    md = files.summary_md.read_text(encoding="utf-8")
    for text in (page, md):
        assert "teacher" in text and "student tiny" in text and "layers 2, hidden 128" in text
        assert "No search ran in this run" in text
        assert "Best Arch per budget" not in text and "Pareto front (search split)" not in text
    assert (
        "| student tiny | student | kd | layers 2, hidden 128 | 0.0004 | 20.00% | 2.00M | n/a | 0.8600 | 1.50 |"
        in md
    )
    assert (
        "- **search**: none" in md.splitlines()
        and "- **models**: 2 (1 teacher, 1 student)" in md.splitlines()
    )
    assert page.count("Plotly.newPlot(") == 1 and 'id="fig-points"' in page  # no hypervolume without trials
    assert len(pd.read_csv(files.pareto_csv)) == 0 and len(read_table(tmp_path / "report")) == 0
    assert pd.read_csv(files.points_csv)["label"].tolist() == ["teacher", "student tiny"]


def test_the_budget_table_shows_the_pick_rows_and_recomputes_nothing(tmp_path: Path) -> None:
    """A pick row best_per_budget would not choose (t2 for 50%; t1 scores better there) is what the report
    shows: the report reads the picks, it does not pick."""
    trials = make_trials()
    recomputed = best_per_budget(trials, [0.5], fixed_ratio=FIXED_RATIO)[0.5]
    assert recomputed is not None and recomputed["trial_id"] == "t1"
    t2 = trials.set_index("trial_id").loc["t2"]
    inputs = ReportInputs(name="r", task="sst2", points=make_run_points({0.25: "t0", 0.5: "t2", 0.75: "t3"}),
                          trials=trials)  # fmt: skip
    data = build_report_data(inputs)
    assert data.budgets["trial_id"].tolist() == ["t0", "t2", "t3"]
    assert data.budgets.loc[1, "arch_id"] == t2["arch_id"] and data.budgets.loc[1, "search_metric"] == 0.83
    assert data.picks["trial_id"].tolist() == ["t0", "t2", "t3"]
    md = build_report(inputs, tmp_path).summary_md.read_text(encoding="utf-8")
    assert f"| 50.0% | 51.00% | {t2['arch_id']} |" in md


def test_the_points_table_lists_every_model(inputs: ReportInputs, tmp_path: Path) -> None:
    files = build_report(inputs, tmp_path)
    md = files.summary_md.read_text(encoding="utf-8").splitlines()
    start = md.index("## Models of the run (points table)")
    assert md[start + 2] == (
        "| model | kind | method | Arch / config | GFLOPs | FLOPs (% teacher) | params | search accuracy "
        "| dev accuracy | latency (ms) |"
    )
    rows = [line.split(" | ")[0].lstrip("| ") for line in md[start + 4 : start + 4 + len(inputs.points)]]
    assert rows == inputs.points["label"].tolist()
    assert (
        "| pick 0.5 | pick | supernet | L3@1,3,5-H6x3-F1536x3 | 0.0009 | 45.00% | 5.50M | 0.8500 | 0.8400 | 3.20 |"
        in md
    )
    copy = make_points(
        read_csv_frame(files.points_csv, POINT_COLUMNS)
    )  # read as `read_points` reads points.csv
    pd.testing.assert_frame_equal(copy, inputs.points)


def test_a_note_reaches_the_points_table(inputs: ReportInputs, tmp_path: Path) -> None:
    points = inputs.points.copy()
    points.loc[points["label"] == "trial t0", "note"] = "constant predictions"
    md = build_report(ReportInputs(**{**vars(inputs), "points": points}), tmp_path).summary_md.read_text()
    assert "| latency (ms) | note |" in md and "| constant predictions |" in md
    assert "| note |" not in build_report(inputs, tmp_path / "plain").summary_md.read_text()


def test_retrained_columns_and_note(inputs: ReportInputs, tmp_path: Path) -> None:
    """A run that re-trained its picks shows the re-trained dev metric next to the sliced one."""
    from raydistill.report.summary import retrain_note

    t1 = inputs.trials.set_index("trial_id").loc["t1"].to_dict()
    retrained = trial_point(t1, "retrained", f"retrained {t1['arch_id']}", dev_metric=0.905) | {
        "stage": "retrain"
    }
    points = make_points([*inputs.points.to_dict("records"), retrained])
    with_retrain = ReportInputs(**{**vars(inputs), "points": points})
    table = build_report_data(with_retrain).budgets
    after = table["retrained_dev"].tolist()
    assert math.isnan(after[0]) and after[1] == 0.905 and math.isnan(after[2])
    assert table.loc[1, "retrained_minus_teacher"] == pytest.approx(0.905 - 0.91)
    text = build_report(with_retrain, tmp_path).summary_md.read_text(encoding="utf-8")
    assert "| dev accuracy re-trained | re-trained vs teacher |" in text
    assert "| 0.8400 | -0.0700 | 0.9050 | -0.0050 |" in text and retrain_note(with_retrain) in text
    assert "retrained_dev" not in build_report_data(inputs).budgets and retrain_note(inputs) is None
    assert "| retrained L3@1,3,5-H6x3-F1536x3 | retrained | supernet |" in text  # and in the points table


def test_latency_measured_on_the_retrained_weights_shows_on_the_budget_row(inputs: ReportInputs) -> None:
    """With re-training on, the export measures the re-trained model: its row's latency fills the budget row."""
    t3 = inputs.trials.set_index("trial_id").loc["t3"].to_dict()
    retrained = trial_point(t3, "retrained", "retrained t3", dev_metric=0.89, latency_ms=7.5)
    points = make_points([*inputs.points.to_dict("records"), retrained | {"stage": "retrain"}])
    table = build_report_data(ReportInputs(**{**vars(inputs), "points": points})).budgets
    assert table["latency_ms"].tolist()[1:] == [3.2, 7.5] and math.isnan(table.loc[0, "latency_ms"])
    assert table["retrained_dev"].tolist()[2] == 0.89


def test_the_budget_rule_is_stated_next_to_the_table(inputs: ReportInputs, tmp_path: Path) -> None:
    files = build_report(inputs, tmp_path)
    rule = "(2.00% of the teacher's FLOPs) are a fixed cost every sub-network pays"
    example = "budget 25.0% admits 26.50%."
    md = files.summary_md.read_text(encoding="utf-8")
    page = files.index_html.read_text(encoding="utf-8")
    assert rule in md and example in md
    assert md.index(rule) > md.index("## Best Arch per budget") and md.index(rule) < md.index(
        "## Pareto front"
    )
    table_end = page.index("</table>", page.index("<h2>Best Arch per budget</h2>"))
    assert table_end < page.index(rule.replace("'", "&#x27;")) < page.index('<div class="figure">')
    assert (
        dict(build_report_data(inputs).facts)["budgets"]
        == "25.0%, 50.0%, 75.0% of the teacher's encoder FLOPs"
    )


def test_tables_scroll_sideways_instead_of_being_cut(inputs: ReportInputs, tmp_path: Path) -> None:
    page = build_report(inputs, tmp_path).index_html.read_text(encoding="utf-8")
    css = re.search(r"<style>(.*?)</style>", page, re.S).group(1)  # type: ignore[union-attr]
    rule = re.search(r"div\.table-scroll\s*\{([^}]*)\}", css).group(1)  # type: ignore[union-attr]
    assert "overflow-x: auto" in rule and "max-width: 100%" in rule
    tables = re.findall(r"<table[^>]*>", page)
    data_tables = [t for t in tables if 'class="data"' in t]
    assert len(data_tables) == 3  # budget table, Pareto front, points
    assert page.count('<div class="table-scroll"><table class="data">') == 3
    assert not re.search(r"(width|max-width)\s*:\s*800px", css)


def test_a_budget_nothing_fits_is_shown_as_such(tmp_path: Path) -> None:
    """A searched budget without a pick row (no sub-network fits it) keeps its line in the budget table."""
    points = make_run_points({0.5: "t2", 0.75: "t3"})
    inputs = ReportInputs(
        name="r", task="sst2", points=points, trials=make_trials(), searched_budgets=[0.1, 0.5, 0.75]
    )
    assert inputs.budgets == (0.1, 0.5, 0.75)
    data = build_report_data(inputs)
    assert data.budgets["arch_id"].tolist()[0] == "" and math.isnan(data.budgets.loc[0, "dev_metric"])
    md = build_report(inputs, tmp_path).summary_md.read_text(encoding="utf-8")
    assert "| 10.0% |" in md and "nothing fits" in md
