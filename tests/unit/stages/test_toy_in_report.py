"""A toy stage and a toy method, each one module-level definition + one registration line, through a real run:
they appear in the plan, the cache and the report. The run has no search: the report renders from the points
table alone (the teacher trained by the toy method + the toy stage's student)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import torch

from raydistill.distill.finetune import finetune_step
from raydistill.distill.methods import BuiltMethod, Method
from raydistill.layout import RunLayout
from raydistill.methods_registry import METHODS, register_method
from raydistill.pipeline import run_pipeline
from raydistill.results.points import read_points, replace_points
from raydistill.spec import Spec
from raydistill.stages import Stage, StageRun, register_stage, registry
from tests.unit.training.conftest import write_sst2

TOY_METHOD = "toy_finetune"


def _build(options: Mapping[str, Any], device: torch.device) -> BuiltMethod:
    del options, device
    return BuiltMethod(finetune_step)


METHOD = Method(TOY_METHOD, build=_build)  # the toy method's module-level definition


def _student(ctx: StageRun) -> dict[str, Any]:
    teacher = read_points(ctx.layout).set_index("label").loc["teacher"]
    row = {"label": "student toy", "kind": "student", "method": "kd", "config_json": '{"layers": 1}',
           "seq_length": ctx.spec.cost_seq_length, "flops": int(teacher["flops"]) // 2,
           "encoder_flops": int(teacher["encoder_flops"]) // 2, "flops_ratio": 0.5, "params": 10,
           "dev_metric": 0.6, "metric_name": "accuracy", "model_dir": "student/model"}  # fmt: skip
    replace_points(ctx.layout, "student", [row])
    return {"headline": "student toy dev accuracy=0.6000"}


STUDENT = Stage("student", _student, needs=("teacher",), sections=("teacher.train",))  # the toy stage


@pytest.fixture
def toys(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))  # registrations undone afterwards
    register_method(TOY_METHOD, __name__)  # the toy method's one line
    register_stage(STUDENT)  # the toy stage's one line
    yield
    del METHODS[TOY_METHOD]


def _spec(tmp_path: Path, model_dir: Path) -> Spec:
    return Spec.model_validate({
        "name": "toys", "task": "sst2",
        "data": {"path": str(write_sst2(tmp_path / "data")), "max_seq_length": 32},
        "teacher": {"model": str(model_dir), "method": TOY_METHOD,
                    "train": {"epochs": 1, "batch_size": 8, "learning_rate": 1e-3, "num_threads": 1}},
        "supernet": {"enabled": False}, "search": {"enabled": False}, "export": {"enabled": False},
        "resources": {"num_workers": 0, "storage_path": str(tmp_path / "runs")},
    })  # fmt: skip


def test_a_toy_stage_and_method_reach_the_plan_the_cache_and_the_report(
    tmp_path: Path, tiny_model_dir: Path, toys: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the report goes to reports/<name>/
    spec = _spec(tmp_path, tiny_model_dir)
    lines: list[str] = []
    run_pipeline(spec, echo=lines.append)
    assert lines[0] == "plan: teacher, student, report run (no record)", lines
    points = read_points(RunLayout(tmp_path / "runs" / "toys")).set_index("label")
    assert points.loc["teacher", "method"] == TOY_METHOD and points.loc["student toy", "kind"] == "student"
    html = (tmp_path / "reports" / "toys" / "index.html").read_text(encoding="utf-8")
    md = (tmp_path / "reports" / "toys" / "summary.md").read_text(encoding="utf-8")
    for text in ("student toy", TOY_METHOD, "No search ran"):
        assert text in html and text in md, text
    again: list[str] = []
    run_pipeline(spec, echo=again.append)
    assert again[0] == "plan: teacher, student, report cached", again


def test_the_toy_stage_reruns_alone_when_its_section_changes(
    tmp_path: Path, tiny_model_dir: Path, toys: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change of a section only the toy stage reads reruns it (and the report, which needs every stage); the
    teacher stays cached."""
    monkeypatch.chdir(tmp_path)
    register_stage(dataclasses.replace(STUDENT, sections=("export.dir",)))  # no other enabled stage reads it
    spec = _spec(tmp_path, tiny_model_dir)
    run_pipeline(spec, echo=lambda line: None)
    changed = spec.model_copy(update={"export": spec.export.model_copy(update={"dir": "elsewhere"})})
    lines: list[str] = []
    run_pipeline(changed, echo=lines.append)
    assert (
        lines[0] == "plan: teacher cached; student runs (export.dir changed); report runs (needs student)"
    ), lines
