"""A `students:` entry's own `seed`: part of its run key (left out = the spec's seed), and it seeds the student's
initialisation and data order only: its loop's search split is the one the spec's seed carves."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

import raydistill.stages  # noqa: F401  the students checks join the spec rules
from raydistill.distill.methods import get_method
from raydistill.layout import RunLayout
from raydistill.models.loading import load_tokenizer
from raydistill.spec import Spec
from raydistill.stages import StageRun
from raydistill.stages.students import entry_key
from raydistill.training import students as students_module
from raydistill.training.config import LoopConfig
from raydistill.training.method_io import training_data
from raydistill.training.trainer import FitResult
from tests.unit.stages.conftest import make_spec, plan_of
from tests.unit.training.conftest import write_sst2

KD = {"name": "kd1", "method": "kd", "shape": {"layers": 1}}


def _keys(spec: Spec) -> dict[str, str]:
    planned = {p.name: p for p in plan_of(spec).stages}["students"]
    ctx = StageRun(spec, RunLayout.of(spec.resources.storage_path, spec.name), planned.key, planned.run_key)
    return {e.name: entry_key(ctx, e, "") for e in spec.students}


def test_an_entry_seed_is_part_of_its_key_and_defaults_to_the_spec_seed(tmp_path: Path) -> None:
    other = {**KD, "name": "kd2"}
    plain = _keys(make_spec(tmp_path, students=[KD, other], seed=42))
    same = _keys(make_spec(tmp_path, students=[{**KD, "seed": 42}, other], seed=42))
    seeded = _keys(make_spec(tmp_path, students=[{**KD, "seed": 7}, other], seed=42))
    assert same == plain  # seed 42 written out is the default: the same runs
    assert seeded["kd1"] != plain["kd1"]
    assert seeded["kd2"] == plain["kd2"]  # another entry's seed leaves this one's runs alone


def test_a_bad_entry_seed_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="out of range"):
        make_spec(tmp_path, students=[{**KD, "seed": -1}])


def _train(tmp_path: Path, tiny_model_dir: Path, seed: int | None, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Run `train_student` for a kd entry with `seed` with Ray Train replaced by a recorder; its loop config."""
    spec = Spec.model_validate({
        "name": "seeds", "task": "sst2", "seed": 42,
        "data": {"path": str(write_sst2(tmp_path / f"data{seed}", repeats=8)), "max_seq_length": 32},
        "teacher": {"model": str(tiny_model_dir), "finetuned": True},
        "supernet": {"enabled": False}, "search": {"enabled": False},
        "students": [{**KD, "shape": {"layers": 1, "ffn": 32}, "seed": seed}],
        "resources": {"num_workers": 0, "storage_path": str(tmp_path / f"runs{seed}")},
    })  # fmt: skip
    layout = RunLayout.of(spec.resources.storage_path, spec.name)
    shutil.copytree(tiny_model_dir, layout.teacher_model)
    seen: dict[str, Any] = {}

    def fake_fit(spec: Spec, fn: Any, config: dict, name: str, out: Path, key: Any = None) -> FitResult:
        seen.update(config)
        return FitResult({}, None, out)

    monkeypatch.setattr(students_module, "fit_stage", fake_fit)
    entry = spec.students[0]
    students_module.train_student(spec, layout, entry, lambda phase: {}, lambda phase: "key")
    seen["init"] = load_file(layout.student_init("kd1") / "model.safetensors")
    return seen


def _search_guids(config: dict) -> list[str]:
    cfg = LoopConfig.from_dict({k: v for k, v in config.items() if k != "init"})
    data = training_data(get_method("kd"), cfg, load_tokenizer(cfg.model))
    return [ex.guid for ex in data.search.examples]


def test_an_entry_seed_seeds_the_student_but_never_the_split(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = _train(tmp_path, tiny_model_dir, None, monkeypatch)
    seven = _train(tmp_path, tiny_model_dir, 7, monkeypatch)
    assert default["seed"] == 42 and seven["seed"] == 7  # dropout and the data order of every epoch
    assert seven["data"]["seed"] == default["data"]["seed"] == 42  # the split's seed
    assert _search_guids(seven) == _search_guids(default)
    carved_by_seven = _search_guids({**seven, "data": {**seven["data"], "seed": 7}})
    assert carved_by_seven != _search_guids(default)  # the entry seed would have carved another split
    init = [n for n in default["init"] if "classifier" in n or "layer.0." in n]
    assert init and any(not torch.equal(default["init"][n], seven["init"][n]) for n in init)
