"""A training method is one module + one registration line: a toy method defined here, with a trainable module of
its own, trains in-process, is optimised, checkpointed and restored on resume, and the spec accepts its name."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from torch import Tensor, nn

from raydistill.checkpoint_files import METHOD_PT
from raydistill.distill.methods import Backward, Batch, BuiltMethod, Method, model_inputs
from raydistill.errors import RaydistillError, SpecError
from raydistill.methods_registry import METHODS, register_method
from raydistill.spec import load_spec
from raydistill.training import loop as loop_module
from raydistill.training.config import LoopConfig
from raydistill.training.loop import train_loop_per_worker
from raydistill.training.method_io import DATA_KINDS, training_data
from raydistill.training.retrain import retrain_loop_config
from raydistill.training.supernet import supernet_loop_config
from raydistill.training.teacher import teacher_loop_config
from raydistill.training.trainer import _copy_model, fit
from tests.unit.spec.conftest import MINIMAL, write  # noqa: F401  (the spec tests' `write` fixture)

TOY = "toy_projection"
TOTAL = 10  # 36 train rows (after the search split), batch 8, 2 epochs (as in test_loop)


# ---- the toy method: fine-tuning plus a projection of the last [CLS] hidden state onto the embedding [CLS]
def build_toy(options: Mapping[str, Any], device: torch.device) -> BuiltMethod:
    """Its own module: a (hidden, hidden) projection that starts as the identity (TinyBERT's W_h, eq. 8)."""
    proj = nn.Linear(options["hidden"], options["hidden"])
    with torch.no_grad():
        proj.weight.copy_(torch.eye(options["hidden"]))
        proj.bias.zero_()
    modules = nn.ModuleDict({"proj": proj}).to(device)

    def step(model: nn.Module, batch: Batch, step: int, backward: Backward) -> dict[str, Tensor]:
        out = model(**model_inputs(batch, with_labels=True), output_hidden_states=True)
        cls_last, cls_emb = out.hidden_states[-1][:, 0], out.hidden_states[0][:, 0]  # (B, H) each
        loss = out.loss + (modules["proj"](cls_last) - cls_emb.detach()).pow(2).mean()
        backward(loss, True)
        return {"loss": loss.detach()}

    return BuiltMethod(step, modules)


METHOD = Method(TOY, build=build_toy)


@pytest.fixture(autouse=True)
def toy_registered() -> Iterator[None]:
    register_method(TOY, __name__)  # the one registration line
    yield
    del METHODS[TOY]


def _fit(config: LoopConfig, storage: Path, name: str):  # type: ignore[no-untyped-def]
    return fit(train_loop_per_worker, config.to_dict(), run_name=name, storage_path=storage, num_workers=0)


def _method_state(checkpoint: Any) -> dict[str, Tensor]:
    return torch.load(Path(checkpoint.path) / METHOD_PT, weights_only=True)


def test_the_toy_modules_train_checkpoint_and_resume_exactly(
    make_config: Callable[..., LoopConfig],
    dropout_model_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = make_config(model=str(dropout_model_dir), method=TOY, method_options={"hidden": 32})
    straight = _fit(config, tmp_path / "runs", "straight")
    trained = _method_state(straight.checkpoint)
    assert set(trained) == {"proj.weight", "proj.bias"}
    assert not torch.equal(trained["proj.weight"], torch.eye(32))  # optimised: it is in the optimizer

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

    final = _method_state(resumed.checkpoint)
    for key in trained:
        torch.testing.assert_close(final[key], trained[key], atol=1e-6, rtol=0)
    a = load_file(Path(straight.checkpoint.path) / "model.safetensors")
    b = load_file(Path(resumed.checkpoint.path) / "model.safetensors")
    for key in a:
        torch.testing.assert_close(b[key], a[key], atol=1e-6, rtol=0)

    model_dir = tmp_path / "model"
    _copy_model(Path(straight.checkpoint.path), model_dir)  # the stage's HF model dir stays a plain HF dir
    assert (model_dir / "model.safetensors").is_file() and not (model_dir / METHOD_PT).exists()


def test_a_method_without_modules_saves_an_empty_state(
    make_config: Callable[..., LoopConfig], tmp_path: Path
) -> None:
    result = _fit(make_config(optim={"max_steps": 2}), tmp_path / "runs", "plain")
    assert _method_state(result.checkpoint) == {}


def test_the_spec_takes_registered_methods_that_fit_the_stage(write) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    assert load_spec(write(MINIMAL + f"  method: {TOY}\n")).teacher.method == TOY
    assert load_spec(write(MINIMAL)).teacher.method == "finetune"
    with pytest.raises(SpecError) as err:
        load_spec(write(MINIMAL + "  method: toy_projektion\n"))
    assert err.value.problems == [
        f"{write(MINIMAL)}:5: teacher.method: unknown training method 'toy_projektion'; did you mean "
        f"'{TOY}'? valid methods: finetune, kd, pkd, tinybert, {TOY}"
    ]
    with pytest.raises(
        SpecError, match=r"supernet.method: method 'finetune' trains one whole model .* for it: lengthdrop, supernet"
    ):
        load_spec(write(MINIMAL + "supernet:\n  method: finetune\n"))
    with pytest.raises(SpecError, match=r"teacher.method: method 'supernet' trains sub-networks"):
        load_spec(write(MINIMAL + "  method: supernet\n"))


def test_a_corpus_method_is_refused_by_the_spec_and_an_unbuilt_kind_by_the_loop(  # type: ignore[no-untyped-def]
    write,  # noqa: F811
    make_config: Callable[..., LoopConfig],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    register_method("toy_corpus", __name__, data="corpus")
    try:
        with pytest.raises(SpecError, match=r"'toy_corpus' trains one whole model on an unlabeled corpus"):
            load_spec(write(MINIMAL + "  method: toy_corpus\n"))
        monkeypatch.delitem(DATA_KINDS, "corpus")  # the corpus kind is built (test_general_distill.py)
        with pytest.raises(RaydistillError, match=r"data kind 'corpus', which this version cannot build yet"):
            training_data(Method("toy_corpus", build=build_toy), make_config(), tokenizer=None)
    finally:
        del METHODS["toy_corpus"]


def test_the_stage_builders_read_the_method_from_the_spec(write, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    default = load_spec(write(MINIMAL + "search:\n  retrain: {epochs: 1}\n"))
    assert teacher_loop_config(default).method == "finetune"
    assert supernet_loop_config(default, tmp_path).method == "supernet"
    assert retrain_loop_config(default, tmp_path, tmp_path, 0).method == "kd"
    chosen = load_spec(write(MINIMAL + f"  method: {TOY}\nsearch:\n  retrain: {{method: {TOY}}}\n"))
    assert teacher_loop_config(chosen).method == TOY
    assert retrain_loop_config(chosen, tmp_path, tmp_path, 0).method == TOY
    other = default.model_copy(update={"supernet": default.supernet.model_copy(update={"method": "other"})})
    assert supernet_loop_config(other, tmp_path).method == "other"


def test_the_registry_is_read_without_torch() -> None:
    code = "import sys, raydistill.methods_registry as r; print(sorted(r.METHODS), 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['finetune', 'kd', 'lengthdrop', 'pkd', 'supernet', 'tinybert', 'tinybert_general'] False"
