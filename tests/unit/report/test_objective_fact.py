"""The report says which second objective the search minimised (`search.objective` in search/meta.json)."""

from __future__ import annotations

import json
from pathlib import Path

from raydistill.layout import RunLayout
from raydistill.report import build_report
from raydistill.report.inputs import load_report_inputs
from raydistill.report.summary import build_report_data


def _objectives(run_dir: Path) -> str:
    facts = dict(build_report_data(load_report_inputs(run_dir)).facts)
    return facts["objectives"]


def test_a_latency_search_says_so_and_how_it_timed(run_dir: Path, tmp_path: Path) -> None:
    how = "measured CPU latency ... 1 torch thread(s), 3 warm-up calls, median of 10"
    meta = {"objective": "latency", "latency": {"threads": 1, "how": how}}
    RunLayout(run_dir).search_meta.write_text(json.dumps(meta))
    text = _objectives(run_dir)
    assert "latency ratio" in text and how in text
    files = build_report(run_dir, tmp_path / "report")
    assert how in files.summary_md.read_text(encoding="utf-8")
    assert "latency ratio" in files.index_html.read_text(encoding="utf-8")


def test_a_flops_search_says_flops(run_dir: Path) -> None:
    RunLayout(run_dir).search_meta.write_text(json.dumps({"objective": "flops"}))
    assert "FLOPs" in _objectives(run_dir) and "latency" not in _objectives(run_dir)
    RunLayout(run_dir).search_meta.unlink()  # a run written before the objective existed
    assert "FLOPs" in _objectives(run_dir)
