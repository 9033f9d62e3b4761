"""The teacher's cached outputs: KD and Patient-KD from the cache give the losses of recomputing the teacher on
shuffled, length-grouped, dynamically padded batches; a cache of other data fails loudly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from raydistill.data.collate import sequence_lengths
from raydistill.data.features import INDEX_KEY
from raydistill.distill.methods import get_method
from raydistill.distill.students import load_frozen_teacher
from raydistill.distill.teacher_outputs import TeacherOutputs, compute_teacher_outputs
from raydistill.errors import RaydistillError
from raydistill.models.loading import load_task_model, load_tokenizer
from raydistill.models.student import StudentShape
from raydistill.training.config import LoopConfig
from raydistill.training.method_io import training_data
from raydistill.training.runtime import train_loader
from tests.unit.distill.recording import RecordingBackward
from tests.unit.distill.students import save_small_student, save_teacher


def _setup(tmp_path: Path, tiny_tokenizer: Any, make_config: Callable[..., LoopConfig], layers: int) -> tuple:
    """(teacher dir, student dir, the loop's training data, the saved cache file) for a `layers`-layer teacher
    and a 2-layer student of its width."""
    teacher = save_teacher(tmp_path, tiny_tokenizer, layers=layers)
    student = save_small_student(tmp_path, teacher, StudentShape(2, 32, 4, 64), init="every_kth")
    cfg = make_config(model=str(student), method="kd")
    data = training_data(get_method("kd"), cfg, load_tokenizer(str(student)))
    frozen = load_frozen_teacher(str(teacher), "classification", 2, torch.device("cpu"))
    cache = compute_teacher_outputs(
        frozen, data.train, data.collate, batch_size=5, device=torch.device("cpu")
    )
    return teacher, student, data, cache.save(tmp_path / "teacher_outputs.pt")


def _losses(method: str, options: dict[str, Any], student: Path, data: Any) -> tuple[list[float], Any]:
    """The step's loss on every batch of two shuffled, length-grouped epochs (no optimizer step: same weights)."""
    built = get_method(method).build(options, torch.device("cpu"))
    model = load_task_model(str(student), "classification", 2)
    losses = []
    for epoch in range(2):
        loader = train_loader(data.train, data.collate, 8, seed=3, epoch=epoch, rank=0, world=1,
                              lengths=sequence_lengths(data.train))  # fmt: skip
        for batch in loader:
            assert INDEX_KEY in batch
            losses.append(float(built.step(model, batch, 0, RecordingBackward(model))["loss"]))
            model.zero_grad(set_to_none=True)
    return losses, built.step


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("kd", {"temperature": 2.0, "alpha": 0.5}),
        ("pkd", {"strategy": "skip"}),
        ("pkd", {"strategy": "last"}),
    ],
)
def test_distilling_from_the_cache_gives_the_loss_of_recomputing_the_teacher(
    tmp_path: Path, tiny_tokenizer: Any, make_config: Callable[..., LoopConfig], method: str, options: dict
) -> None:
    teacher, student, data, path = _setup(tmp_path, tiny_tokenizer, make_config, layers=4)
    base = {"teacher": str(teacher), "kind": "classification", **options}
    if method == "pkd":
        base["student"] = str(student)
    recomputed, step = _losses(method, base, student, data)
    cached, cached_step = _losses(method, base | {"teacher_outputs": str(path)}, student, data)
    assert step.teacher is not None and cached_step.teacher is None  # the cache replaces the teacher
    assert len(cached) == 10 and cached == pytest.approx(recomputed, rel=1e-5, abs=1e-6)
    assert len(set(recomputed)) > 1  # the batches differ (a lookup of the wrong rows would show)


def test_the_cache_holds_every_example_in_dataset_order(
    tmp_path: Path, tiny_tokenizer: Any, make_config: Callable[..., LoopConfig]
) -> None:
    teacher, _, data, path = _setup(tmp_path, tiny_tokenizer, make_config, layers=2)
    cache = TeacherOutputs.load(path)
    frozen = load_frozen_teacher(str(teacher), "classification", 2, torch.device("cpu"))
    for i in (0, 7, len(data.train) - 1):
        item = {k: v[None] for k, v in data.train[i].items() if k != INDEX_KEY and v.dim() == 1}
        with torch.no_grad():
            out = frozen(**item, output_hidden_states=True)  # one unpadded example
        assert torch.allclose(cache.logits[i], out.logits[0], atol=1e-5)
        assert torch.allclose(cache.cls[i], torch.stack([h[0, 0] for h in out.hidden_states]), atol=1e-5)
    assert cache.cls.shape == (len(data.train), 3, 32) and cache.lengths.shape == (len(data.train),)


def test_a_cache_of_other_data_fails_loudly(
    tmp_path: Path, tiny_tokenizer: Any, make_config: Callable[..., LoopConfig]
) -> None:
    _, _, data, path = _setup(tmp_path, tiny_tokenizer, make_config, layers=2)
    cache = TeacherOutputs.load(path)
    batch = data.collate([data.train[0], data.train[1]])
    assert cache.logits_of(batch).shape == (2, 2)
    shifted = batch | {INDEX_KEY: batch[INDEX_KEY] + 1}  # rows of other examples (other lengths here)
    lengths = cache.lengths
    assert not torch.equal(lengths[shifted[INDEX_KEY]], lengths[batch[INDEX_KEY]])
    with pytest.raises(RaydistillError, match="belong to other training data"):
        cache.logits_of(shifted)
    with pytest.raises(RaydistillError, match="past its"):
        cache.logits_of(batch | {INDEX_KEY: torch.tensor([0, len(lengths)])})
    with pytest.raises(RaydistillError, match="without 'example_index'"):
        cache.logits_of({k: v for k, v in batch.items() if k != INDEX_KEY})
