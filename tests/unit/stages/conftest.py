"""Specs built in code and fake stage records: plans are checked without training anything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from raydistill.layout import RunLayout
from raydistill.spec import Spec
from raydistill.stages import Plan, plan_run, stage_graph


def make_spec(tmp_path: Path, data_path: str = "builtin:quickstart_sentiment", **changes: Any) -> Spec:
    """Every stage on (re-training included); `changes`: `{"search.num_trials": 7}`-style dotted values."""
    raw: dict[str, Any] = {
        "name": "plan",
        "task": "sst2",
        "data": {"path": data_path, "max_seq_length": 64},
        "teacher": {"model": "minilm-l6"},
        "search": {"retrain": {"epochs": 1}},
        "export": {"dir": str(tmp_path / "exports")},
        "resources": {"storage_path": str(tmp_path / "runs")},
    }
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node = raw
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return Spec.model_validate(raw)


def layout_of(spec: Spec) -> RunLayout:
    return RunLayout.of(spec.resources.storage_path, spec.name)


def record_plan(spec: Spec, plan: Plan) -> None:
    """Write what a complete run of `plan` leaves: each planned stage's record and its outputs outside the run."""
    layout = layout_of(spec)
    for p in plan.stages:
        if p.status == "skipped":
            continue
        layout.stage_dir(p.name).mkdir(parents=True, exist_ok=True)
        record = {
            "key": p.key,
            "run_key": p.run_key,
            "inputs": p.inputs,
            "summary": {"headline": f"{p.name} ok"},
        }
        layout.stage_file(p.name).write_text(json.dumps(record))
        for out in p.stage.outputs(spec):  # a folder (exports/<name>) or a file (reports/<name>/index.html)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.touch() if out.suffix else out.mkdir(exist_ok=True)


def plan_of(spec: Spec, until: str | None = None) -> Plan:
    return plan_run(spec, layout_of(spec), stage_graph(), until)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The report stage writes `reports/<name>/` under the working directory."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def recorded(tmp_path: Path) -> Spec:
    """A spec whose every stage has a complete record (a finished run)."""
    spec = make_spec(tmp_path)
    record_plan(spec, plan_of(spec))
    return spec
