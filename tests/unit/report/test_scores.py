"""The report states what the points table records beside the main metric: the task's other dev metrics
(SQuAD's exact match beside F1) and the data every metric was scored on (the `*_split` columns)."""

from __future__ import annotations

import json
from pathlib import Path

from raydistill.report.build import build_report
from raydistill.report.inputs import ReportInputs
from raydistill.report.scores import other_scores, split_facts

SEARCH = "SQuAD v1.1 dev articles 1, 7 (carved by article from SQuAD v1.1 dev articles 0-37, seed 42; 427 questions)"
DEV = "SQuAD v1.1 dev articles 38-47 (1,988 questions)"


def test_other_scores_leave_out_the_main_metric() -> None:
    assert other_scores(json.dumps({"f1": 80.5, "exact_match": 71.25}), "f1") == "exact_match 71.2500"
    assert other_scores(json.dumps({"accuracy": 0.9}), "accuracy") == ""
    assert other_scores("", "f1") == "" and other_scores("not json", "f1") == ""


def test_exact_match_and_the_splits_reach_the_summary(inputs: ReportInputs, tmp_path: Path) -> None:
    points = inputs.points.assign(search_split=SEARCH, dev_split=DEV)
    teacher, pick = points["kind"] == "teacher", points["label"] == "pick 0.5"
    points.loc[teacher, "dev_scores"] = json.dumps({"accuracy": 0.91, "exact_match": 83.125})
    points.loc[pick, "dev_scores"] = json.dumps({"accuracy": 0.84, "exact_match": 77.5})
    md = build_report(ReportInputs(**{**vars(inputs), "points": points}), tmp_path).summary_md.read_text()
    assert f"- **search metrics scored on**: {SEARCH}" in md and f"- **dev metrics scored on**: {DEV}" in md
    assert "(exact_match 83.1250)" in md  # beside the teacher's dev metric
    assert "| dev (other metrics) |" in md and "| exact_match 77.5000 |" in md  # budget and points tables
    plain = build_report(inputs, tmp_path / "plain").summary_md.read_text()
    assert "scored on" not in plain and "other metrics" not in plain


def test_split_facts_are_one_per_statement(inputs: ReportInputs) -> None:
    assert split_facts(inputs.points) == []
    assert split_facts(inputs.points.assign(dev_split=DEV)) == [("dev metrics scored on", DEV)]
