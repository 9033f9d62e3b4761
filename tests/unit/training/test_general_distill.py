"""TinyBERT general distillation (`tinybert_general`, data kind "corpus"): the loop trains a student on the
lines of a text file with no labels, lowers the intermediate-layer loss, and a kill-and-resume restores its
projection exactly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from raydistill.checkpoint_files import METHOD_PT
from raydistill.data.corpus import encode_corpus, read_corpus
from raydistill.distill.methods import get_method
from raydistill.errors import DataError
from raydistill.models.loading import load_tokenizer
from raydistill.training.config import LoopConfig
from raydistill.training.loop import train_loop_per_worker
from raydistill.training.method_io import training_data
from raydistill.training.trainer import fit
from tests.unit.distill.students import save_small_student, save_teacher
from tests.unit.training.conftest import NEGATIVE, POSITIVE

LINES = 24  # corpus lines; batch 8 -> 3 steps an epoch


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """Generated text, one sentence a line, blank lines between some (skipped)."""
    words = POSITIVE + NEGATIVE
    lines = [f"{words[i % 10]} and {words[(3 * i + 1) % 10]}" for i in range(LINES)]
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(line + ("\n" if i % 5 == 0 else "") for i, line in enumerate(lines)) + "\n")
    return path


@pytest.fixture
def general_config(
    tmp_path: Path,
    tiny_tokenizer,
    corpus: Path,
    make_config: Callable[..., LoopConfig],  # type: ignore[no-untyped-def]
) -> LoopConfig:
    teacher = save_teacher(tmp_path, tiny_tokenizer)
    student = save_small_student(tmp_path, teacher)  # hidden 16 vs 32: a projection
    options = {"teacher": str(teacher), "kind": "classification", "student": str(student), "stage": "general"}
    return make_config(
        model=str(student), method="tinybert_general", method_options=options,
        data={"corpus": str(corpus), "max_seq_length": 16}, optim={"max_steps": 6, "learning_rate": 3e-3},
    )  # fmt: skip


def _fit(config: LoopConfig, storage: Path, name: str):  # type: ignore[no-untyped-def]
    return fit(train_loop_per_worker, config.to_dict(), run_name=name, storage_path=storage, num_workers=0)


def test_the_corpus_is_its_non_blank_lines_without_labels(corpus: Path, tiny_model_dir: Path) -> None:
    lines = read_corpus(corpus)
    assert len(lines) == LINES and all(line == line.strip() and line for line in lines)
    dataset = encode_corpus(lines, load_tokenizer(str(tiny_model_dir)), max_seq_length=5)
    assert len(dataset) == LINES and "labels" not in dataset[0]
    assert max(int(dataset[i]["input_ids"].numel()) for i in range(LINES)) == 5
    empty = corpus.with_name("empty.txt")
    empty.write_text("\n \n")
    with pytest.raises(DataError, match="holds no text"):
        read_corpus(empty)


def test_the_loop_builds_corpus_data(general_config: LoopConfig) -> None:
    tokenizer = load_tokenizer(general_config.model)
    data = training_data(get_method("tinybert_general"), general_config, tokenizer)
    assert len(data.train) == LINES and data.dev == {} and len(data.search.dataset) == 0


def test_general_distillation_trains_and_resumes_its_projection_exactly(
    general_config: LoopConfig, tmp_path: Path
) -> None:
    straight = _fit(general_config, tmp_path / "runs", "straight")
    assert straight.metrics["step"] == 6 and "dev" not in straight.metrics
    state = torch.load(Path(straight.checkpoint.path) / METHOD_PT, weights_only=True)
    assert set(state) == {"projection.weight", "projection.bias"}

    stopped = _fit(
        general_config.with_updates(stop_after_steps=4), tmp_path / "runs", "resumed"
    )  # mid epoch 2
    assert stopped.metrics["stopped"]
    resumed = _fit(general_config, tmp_path / "runs", "resumed")
    assert resumed.metrics["start_step"] == 4 and resumed.metrics["step"] == 6
    final = torch.load(Path(resumed.checkpoint.path) / METHOD_PT, weights_only=True)
    for key in state:
        torch.testing.assert_close(final[key], state[key], atol=1e-6, rtol=0)
    a = load_file(Path(straight.checkpoint.path) / "model.safetensors")
    b = load_file(Path(resumed.checkpoint.path) / "model.safetensors")
    for key in a:
        torch.testing.assert_close(b[key], a[key], atol=1e-6, rtol=0)


def test_general_distillation_lowers_the_intermediate_loss(
    general_config: LoopConfig, tmp_path: Path
) -> None:
    """The general run's model, measured by the task intermediate objective on corpus text with a fresh W."""
    from raydistill.data.collate import PadCollator
    from raydistill.models.loading import load_task_model
    from tests.unit.distill.recording import RecordingBackward

    config = general_config.with_updates(optim={**general_config.optim, "max_steps": 12})
    result = _fit(config, tmp_path / "runs", "general")
    tokenizer = load_tokenizer(config.model)
    batch = PadCollator(tokenizer.pad_token_id)(list(encode_corpus(read_corpus(config.data["corpus"]),
                                                                   tokenizer, 16).items))  # fmt: skip

    def loss(model_dir: str) -> float:
        torch.manual_seed(0)  # the same fresh W for both
        built = get_method("tinybert_general").build(config.method_options, torch.device("cpu"))
        model = load_task_model(model_dir, "classification", 2).eval()
        return float(built.step(model, batch, 0, RecordingBackward(model))["loss"])

    before, after = loss(config.model), loss(result.checkpoint.path)
    assert after < 0.9 * before, (before, after)
