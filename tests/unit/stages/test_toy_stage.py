"""A stage added by one module-level definition and one registration line: it appears in the plan, is cached
on the rerun, and its point lands in the points table (the real stages are served from fake records)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from raydistill.pipeline import run_pipeline
from raydistill.results.points import read_points, replace_points
from raydistill.stages import Stage, StageRun, register_stage, registry
from tests.unit.stages.conftest import layout_of, make_spec, plan_of, record_plan

RAN: list[str] = []


def _student(ctx: StageRun) -> dict[str, Any]:
    RAN.append("student")
    row = {"label": "student tiny", "kind": "student", "method": "kd", "config_json": '{"layers": 2}',
           "seq_length": ctx.spec.cost_seq_length, "flops": 1000, "encoder_flops": 800, "flops_ratio": 0.1,
           "params": 50, "dev_metric": 0.75, "metric_name": "accuracy", "model_dir": "student/model"}  # fmt: skip
    replace_points(ctx.layout, "student", [row])
    return {"headline": "student dev accuracy=0.7500"}


STUDENT = Stage("student", _student, needs=("teacher",), sections=("teacher.train",), reads_data=True)


@pytest.fixture
def own_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real graph, the report's work faked (it is checked on a real run), restored after the test."""
    stages = dict(registry._REGISTRY)
    stages["report"] = dataclasses.replace(stages["report"], run=lambda ctx: {"headline": "report"})
    monkeypatch.setattr(registry, "_REGISTRY", stages)


def test_a_toy_stage_plugs_in_with_one_line(tmp_path: Path, own_registry: None) -> None:
    spec = make_spec(tmp_path)
    record_plan(spec, plan_of(spec))  # a finished run of the real stages
    register_stage(STUDENT)  # the one line
    lines: list[str] = []
    run_pipeline(spec, echo=lines.append)
    assert lines[0] == (
        "plan: teacher, supernet, search, picks, retrain, export cached; student runs (no record); "
        "report runs (needs student)"  # the report renders every stage's points: it needs the new one too
    )
    assert RAN == ["student"], lines
    points = read_points(layout_of(spec))
    assert points["label"].tolist() == ["student tiny"] and points["kind"].tolist() == ["student"]
    again: list[str] = []
    run_pipeline(spec, echo=again.append)
    assert RAN == ["student"]  # cached
    assert again[0] == "plan: teacher, supernet, search, picks, retrain, export, student, report cached"
