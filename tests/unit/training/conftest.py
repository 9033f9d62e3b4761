"""Tiny task data in the real file formats (SST-2, STS-B, SQuAD) and loop configs over the tiny BERT."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from raydistill.checkpoint_files import METHOD_PT, STATE_JSON, STATE_PT, checkpoint_name, write_manifest
from raydistill.training.config import LoopConfig
from tests.unit.data.conftest import squad_articles, squad_json

os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.2")

POSITIVE = [
    "the movie was great fun",
    "i love this film",
    "very good movie",
    "great film , great fun",
    "good plot",
]
NEGATIVE = ["a boring plot", "bad acting and awful plot", "the actor was bad", "boring , boring", "i hate it"]


def write_sst2(root: Path, repeats: int = 4) -> Path:
    """SST-2 files (`sentence\\tlabel` header): 10 x `repeats` train rows, the 10 distinct rows as dev."""
    rows = [(s, 1) for s in POSITIVE] + [(s, 0) for s in NEGATIVE]
    folder = root / "SST-2"
    folder.mkdir(parents=True)
    body = "".join(f"{text} {k}\t{label}\n" for k in range(repeats) for text, label in rows)
    (folder / "train.tsv").write_text("sentence\tlabel\n" + body)
    (folder / "dev.tsv").write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
    return folder


@pytest.fixture
def sst2_dir(tmp_path: Path) -> Path:
    return write_sst2(tmp_path / "data")


@pytest.fixture
def stsb_dir(tmp_path: Path) -> Path:
    """STS-B files (`sentence1\\tsentence2\\tscore`): 12 train pairs, 6 dev pairs."""
    folder = tmp_path / "data" / "STS-B"
    folder.mkdir(parents=True)
    pairs = [
        (a, b, float(i % 6))
        for i, (a, b) in enumerate(zip(POSITIVE + NEGATIVE, NEGATIVE + POSITIVE, strict=True))
    ]
    body = "".join(f"{a}\t{b}\t{s}\n" for a, b, s in pairs)
    (folder / "train.tsv").write_text("sentence1\tsentence2\tscore\n" + body + body.replace("the", "a"))
    (folder / "dev.tsv").write_text("sentence1\tsentence2\tscore\n" + "".join(body.splitlines(True)[:6]))
    return folder


@pytest.fixture
def squad_dir(tmp_path: Path) -> Path:
    """SQuAD v1.1 JSON: 4 train articles x 2 questions, 1 dev article x 2 questions."""
    folder = tmp_path / "data" / "squad"
    folder.mkdir(parents=True)
    train, dev = squad_articles()
    (folder / "train-v1.1.json").write_text(squad_json(train))
    (folder / "dev-v1.1.json").write_text(squad_json(dev))
    return folder


@pytest.fixture
def make_config(tiny_model_dir: Path, sst2_dir: Path) -> Callable[..., LoopConfig]:
    """`make_config(**changes)`: an SST-2 loop config over the tiny model (batch 8, lr 1e-3, 1 thread)."""

    def make(optim: dict[str, Any] | None = None, **changes: Any) -> LoopConfig:
        base = LoopConfig(
            model=str(tiny_model_dir),
            task="sst2",
            data={"path": str(sst2_dir), "max_seq_length": 32},
            optim={"epochs": 2, "batch_size": 8, "learning_rate": 1e-3, "warmup_ratio": 0.1, **(optim or {})},
            num_threads=1,
            log_every_steps=1000,
        )
        return base.with_updates(**changes)

    return make


@pytest.fixture
def dropout_model_dir(tmp_path: Path, tiny_tokenizer) -> Path:  # type: ignore[no-untyped-def]
    """The tiny model with dropout on, so an exact resume also needs the RNG state restored."""
    import torch
    from transformers import BertForSequenceClassification

    from tests.conftest import tiny_bert_config

    torch.manual_seed(0)
    out = tmp_path / "tiny-dropout"
    BertForSequenceClassification(tiny_bert_config(hidden_dropout_prob=0.1)).save_pretrained(out)
    tiny_tokenizer.save_pretrained(out)
    return out


def fake_checkpoint(run_dir: Path, step: int, *, manifest: bool = True) -> Path:
    """A checkpoint directory with stand-in files of fixed sizes (what `is_complete` checks, not their content)."""
    directory = run_dir / checkpoint_name(step)
    directory.mkdir(parents=True)
    (directory / "config.json").write_text("{}")
    (directory / "model.safetensors").write_bytes(b"w" * 1000)
    (directory / STATE_JSON).write_text(f'{{"step": {step}}}')
    (directory / STATE_PT).write_bytes(b"s" * 2000)
    (directory / METHOD_PT).write_bytes(b"m" * 300)
    if manifest:
        write_manifest(directory)
    return directory


def manual_accuracy(model_dir: Path, dev_tsv: Path, max_length: int = 32) -> float:
    """Dev accuracy computed without the data layer or `evaluate`: tokenizer padding + argmax by hand."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    rows = [line.split("\t") for line in dev_tsv.read_text().splitlines()[1:]]
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    enc = tokenizer(
        [r[0] for r in rows], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
    )
    with torch.no_grad():
        predicted = model(**enc).logits.argmax(-1)  # (N,)
    labels = torch.tensor([int(r[1]) for r in rows])
    return float((predicted == labels).float().mean())
