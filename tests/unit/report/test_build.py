"""The report files: budget table data, a self-contained index.html, summary.md, pareto.csv, trials.parquet."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest

from raydistill.report.build import build_report
from raydistill.report.inputs import ReportInputs
from raydistill.report.summary import build_report_data, latency_note
from raydistill.results.table import empty_table, read_table
from tests.unit.report.conftest import TEACHER, make_trials

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


def test_budget_nothing_fits_and_no_latency(inputs: ReportInputs) -> None:
    small = ReportInputs(**{**vars(inputs), "budgets": [0.1, 0.5], "latency": None})
    table = build_report_data(small).budgets
    assert table.loc[0, "arch_id"] == "" and math.isnan(table.loc[0, "search_metric"])
    assert table.loc[1, "trial_id"] == "t1"
    assert "latency_ms" not in table and latency_note(small) is None


def test_facts_and_latency_note(inputs: ReportInputs) -> None:
    facts = dict(build_report_data(inputs).facts)
    assert facts["trials"] == "7 (5 ok, 1 infeasible, 1 error); 3 on the Pareto front"
    assert facts["teacher dev accuracy"] == "0.9100" and facts["sampler"] == "nsga2"
    assert facts["hypervolume"].startswith("0.6825 ")
    assert latency_note(inputs) == (
        "Latency: median milliseconds of the exported sub-network (batch_size 1, seq_len 128, device cpu)."
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
    mcc = ReportInputs(**{**vars(inputs), "metric_name": "mcc", "trials": trials})
    data = build_report_data(mcc)
    # every point moved down by 1 and the reference with it: the same area as the accuracy run's
    assert dict(data.facts)["hypervolume"] == "0.6825 (reference: mcc -1, FLOPs 100%)"
    expected = build_report_data(inputs).history["hypervolume"].to_numpy()
    assert data.history["hypervolume"].to_numpy() == pytest.approx(expected)


def test_html_is_self_contained(inputs: ReportInputs, tmp_path: Path) -> None:
    html = build_report(inputs, tmp_path).index_html.read_text(encoding="utf-8")
    assert len(PLOTLY_BANNER.findall(html)) == 1  # plotly.js inlined exactly once
    assert html.count("Plotly.newPlot(") == 2  # trials + hypervolume figures
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


def test_report_without_trials(tmp_path: Path) -> None:
    inputs = ReportInputs(
        name="empty",
        task="sst2",
        metric_name="accuracy",
        teacher=TEACHER,
        trials=empty_table(),
        budgets=[0.5],
    )
    files = build_report(inputs, tmp_path)
    assert "| 50.0% | 50.00% | nothing fits |" in files.summary_md.read_text(encoding="utf-8")
    assert "No trial finished with status `ok`." in files.summary_md.read_text(encoding="utf-8")
    assert len(pd.read_csv(files.pareto_csv)) == 0


def test_retrained_columns_and_note(inputs: ReportInputs, tmp_path: Path) -> None:
    """A run that re-trained its picks shows the re-trained dev metric next to the sliced one."""
    from raydistill.report.summary import retrain_note

    retrained = {"L3@1,3,5-H6x3-F1536x3": {"dev_after": 0.905, "dev_before": 0.84, "budget": 0.5}}
    with_retrain = ReportInputs(**{**vars(inputs), "retrained": retrained})
    table = build_report_data(with_retrain).budgets
    after = table["retrained_dev"].tolist()
    assert math.isnan(after[0]) and after[1] == 0.905 and math.isnan(after[2])
    assert table.loc[1, "retrained_minus_teacher"] == pytest.approx(0.905 - 0.91)
    text = build_report(with_retrain, tmp_path).summary_md.read_text(encoding="utf-8")
    assert "| dev accuracy re-trained | re-trained vs teacher |" in text
    assert "| 0.8400 | -0.0700 | 0.9050 | -0.0050 |" in text and retrain_note(with_retrain) in text
    assert "retrained_dev" not in build_report_data(inputs).budgets and retrain_note(inputs) is None


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
    assert len(data_tables) == 2  # budget table and Pareto front
    assert page.count('<div class="table-scroll"><table class="data">') == 2
    assert not re.search(r"(width|max-width)\s*:\s*800px", css)
