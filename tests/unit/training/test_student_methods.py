"""Student methods train through the loop: `kd`, `pkd` and both `tinybert` stages lower their loss on a student
of another shape; TinyBERT's projection is optimised, checkpointed and restored exactly on resume."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from torch import Tensor, nn

from raydistill.checkpoint_files import METHOD_PT
from raydistill.distill.methods import BuiltMethod, Method, get_method
from raydistill.models.loading import load_task_model
from raydistill.models.student import StudentShape
from raydistill.training import loop as loop_module
from raydistill.training.config import LoopConfig
from raydistill.training.loop import train_loop_per_worker
from raydistill.training.trainer import fit
from tests.unit.distill.recording import RecordingBackward
from tests.unit.distill.students import save_small_student, save_teacher
from tests.unit.training.conftest import NEGATIVE, POSITIVE

TOTAL = 10  # 36 train rows (after the search split), batch 8, 2 epochs (as in test_loop)
# Measured here (deterministic, dropout 0), before -> after 30 steps: kd 1.79 -> 1.70, pkd-skip 52.8 -> 49.7,
# pkd-last 53.8 -> 50.2 (T^2 softCE at T = 10 dominates), tinybert intermediate 5.49 -> 4.60, prediction 0.77 -> 0.58.


def _fit(config: LoopConfig, storage: Path, name: str):  # type: ignore[no-untyped-def]
    return fit(train_loop_per_worker, config.to_dict(), run_name=name, storage_path=storage, num_workers=0)


def _batch(model_dir: Path) -> dict[str, Tensor]:
    """Every distinct training sentence, padded (the loss is measured on the same batch before and after)."""
    from raydistill.models.loading import load_tokenizer

    enc = load_tokenizer(str(model_dir))(POSITIVE + NEGATIVE, padding=True, return_tensors="pt")
    return dict(enc) | {"labels": torch.tensor([1] * len(POSITIVE) + [0] * len(NEGATIVE))}


def _loss(method: str, options: dict[str, Any], model_dir: Path, batch: dict[str, Tensor]) -> float:
    """The method's loss of one step on `batch` for the model at `model_dir` (the method's own modules fresh)."""
    built = get_method(method).build(options, torch.device("cpu"))
    model = load_task_model(str(model_dir), "classification", 2).eval()
    return float(built.step(model, batch, 0, RecordingBackward(model))["loss"])


@pytest.fixture
def teachers(tmp_path: Path, tiny_tokenizer) -> dict[int, Path]:  # type: ignore[no-untyped-def]
    return {n: save_teacher(tmp_path, tiny_tokenizer, layers=n) for n in (2, 4)}


CASES = {
    "kd": ("kd", 2, StudentShape(1, 16, 4, 32), None, {"temperature": 2.0, "alpha": 0.5}),
    "pkd-skip": ("pkd", 4, StudentShape(2, 32, 4, 64), "every_kth", {"strategy": "skip", "beta": 100.0}),
    "pkd-last": ("pkd", 4, StudentShape(2, 32, 4, 64), "first", {"strategy": "last", "beta": 100.0}),
    "tinybert-intermediate": ("tinybert", 2, StudentShape(1, 16, 4, 32), None, {"stage": "intermediate"}),
    "tinybert-prediction": ("tinybert", 2, StudentShape(1, 16, 4, 32), None, {"stage": "prediction"}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_method_lowers_its_loss_on_a_student_of_another_shape(
    case: str,
    teachers: dict[int, Path],
    make_config: Callable[..., LoopConfig],
    tmp_path: Path,
) -> None:
    method, layers, shape, init, extra = CASES[case]
    teacher = teachers[layers]
    student = save_small_student(tmp_path, teacher, shape, init=init)
    options = {"teacher": str(teacher), "kind": "classification", **extra}
    if method != "kd":
        options["student"] = str(student)
    config = make_config(optim={"epochs": 6, "learning_rate": 3e-3}, model=str(student), method=method)
    result = _fit(config.with_updates(method_options=options), tmp_path / "runs", case)
    assert result.metrics["step"] == 3 * TOTAL and result.checkpoint is not None
    batch = _batch(student)
    before = _loss(method, options, student, batch)
    after = _loss(method, options, Path(result.checkpoint.path), batch)
    assert after < 0.97 * before, (
        case,
        before,
        after,
    )  # soft CE terms cannot fall below the teacher's entropy


def _method_state(checkpoint: Any) -> dict[str, Tensor]:
    return torch.load(Path(checkpoint.path) / METHOD_PT, weights_only=True)


def test_tinybert_projection_is_trained_checkpointed_and_resumed_exactly(
    teachers: dict[int, Path],
    make_config: Callable[..., LoopConfig],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    student = save_small_student(tmp_path, teachers[2])
    options = {"teacher": str(teachers[2]), "kind": "classification", "student": str(student)}
    config = make_config(model=str(student), method="tinybert", method_options=options)
    initial: list[dict[str, Tensor]] = []  # W as each run's build made it, before any restore
    real_get = loop_module.get_method

    def get_spy(name: str) -> Method:
        method = real_get(name)

        def build(opts: Any, device: torch.device) -> BuiltMethod:
            built = method.build(opts, device)
            assert built.modules is not None
            initial.append({k: v.clone() for k, v in built.modules.state_dict().items()})
            return built

        return dataclasses.replace(method, build=build)

    monkeypatch.setattr(loop_module, "get_method", get_spy)
    straight = _fit(config, tmp_path / "runs", "straight")
    trained = _method_state(straight.checkpoint)
    assert set(trained) == {"projection.weight", "projection.bias"}
    assert not torch.equal(trained["projection.weight"], initial[0]["projection.weight"])  # in the optimizer

    restored: list[dict[str, Tensor]] = []
    real_restore = loop_module.restore_method_modules

    def spy(directory: Path, modules: nn.Module | None) -> None:
        real_restore(directory, modules)
        assert modules is not None
        restored.append({k: v.clone() for k, v in modules.state_dict().items()})

    monkeypatch.setattr(loop_module, "restore_method_modules", spy)
    stopped = _fit(config.with_updates(stop_after_steps=7), tmp_path / "runs", "resumed")  # mid epoch 2
    assert stopped.metrics["stopped"] and not restored
    saved = _method_state(stopped.checkpoint)
    resumed = _fit(config, tmp_path / "runs", "resumed")
    assert resumed.metrics["start_step"] == 7 and resumed.metrics["step"] == TOTAL
    assert len(restored) == 1 and all(torch.equal(restored[0][k], saved[k]) for k in saved)
    moved = not torch.equal(saved["projection.weight"], initial[-1]["projection.weight"])
    assert moved  # the resumed run's W came from the checkpoint, not from its build

    final = _method_state(resumed.checkpoint)
    for key in trained:
        torch.testing.assert_close(final[key], trained[key], atol=1e-6, rtol=0)
    a = load_file(Path(straight.checkpoint.path) / "model.safetensors")
    b = load_file(Path(resumed.checkpoint.path) / "model.safetensors")
    for key in a:
        torch.testing.assert_close(b[key], a[key], atol=1e-6, rtol=0)
