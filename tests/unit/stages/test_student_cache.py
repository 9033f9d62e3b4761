"""The students stage caches the teacher's outputs only where that is cheaper than recomputing them: one file per
training set, shared by the kd / pkd entries that train on it, reused while its key holds."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from raydistill.layout import RunLayout
from raydistill.spec import Spec
from raydistill.stages import StageRun, plan_run, stage_graph, student_cache
from raydistill.stages.student_cache import teacher_output_files
from tests.unit.training.conftest import write_sst2


def _ctx(tmp_path: Path, teacher: Path, students: list[dict[str, Any]], seq: int = 32) -> StageRun:
    data = tmp_path / "data" / "SST-2"
    spec = Spec.model_validate({
        "name": "cache", "task": "sst2",
        "data": {"path": str(data if data.is_dir() else write_sst2(tmp_path / "data")), "max_seq_length": seq},
        "teacher": {"model": str(teacher), "finetuned": True},
        "supernet": {"enabled": False}, "search": {"enabled": False},
        "students": students, "resources": {"num_workers": 0, "storage_path": str(tmp_path / "runs")},
    })  # fmt: skip
    layout = RunLayout.of(spec.resources.storage_path, spec.name)
    if not layout.teacher_model.is_dir():
        shutil.copytree(teacher, layout.teacher_model)
    planned = {p.name: p for p in plan_run(spec, layout, stage_graph()).stages}["students"]
    return StageRun(spec, layout, planned.key, planned.run_key)


def _kd(name: str, steps: int, **more: Any) -> dict[str, Any]:
    return {"name": name, "method": "kd", "shape": {"layers": 1}, "train": {"max_steps": steps, "batch_size": 8},
            **more}  # fmt: skip


def test_few_teacher_forwards_are_recomputed_not_cached(tmp_path: Path, tiny_model_dir: Path) -> None:
    ctx = _ctx(tmp_path, tiny_model_dir, [_kd("kd1", 2)])
    files, (plan,) = teacher_output_files(ctx, ctx.layout.teacher_model)
    assert files == {} and not plan.used and plan.demand == 16 < plan.examples
    assert not plan.path.exists() and "recomputed per batch" in plan.line()


def test_entries_of_one_training_set_share_one_file_reused_while_its_key_holds(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    students = [
        _kd("kd1", 3), _kd("kd2", 3, seed=7),  # another seed trains on the same data: the same file
        _kd("ft", 50, method="finetune"), _kd("soft0", 50, options={"alpha": 0.0}),  # no teacher: no file
    ]  # fmt: skip
    ctx = _ctx(tmp_path, tiny_model_dir, students)
    files, (plan,) = teacher_output_files(ctx, ctx.layout.teacher_model)
    assert plan.used and plan.entries == ("kd1", "kd2") and plan.demand == 48 > plan.examples
    assert files == {"kd1": str(plan.path), "kd2": str(plan.path)} and plan.path.is_file()

    def no_compute(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("computed again")

    monkeypatch.setattr(student_cache, "_compute", no_compute)
    again, _ = teacher_output_files(ctx, ctx.layout.teacher_model)
    assert again == files  # reused
    monkeypatch.undo()
    other = _ctx(tmp_path, tiny_model_dir, students, seq=16)  # other training features: another key
    moved, (new,) = teacher_output_files(other, other.layout.teacher_model)
    assert new.path != plan.path and new.path.is_file() and not plan.path.exists()  # the stale file is gone
    assert moved == {"kd1": str(new.path), "kd2": str(new.path)}
