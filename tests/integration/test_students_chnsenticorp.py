"""The students stage end to end on ChnSentiCorp (Ray Train, 1 worker): no Chinese BERT is available offline, so
the teacher is a tiny config-built BERT over a Chinese-character vocabulary (its tokenizer built here) and the
data are tiny files in ChnSentiCorp's own format (`label\\ttext_a`, train.tsv and dev.tsv). A Patient-KD student
(of its own seed) learns from the teacher's cached outputs and lands in the points table.

Run with: `pytest -m integration tests/integration/test_students_chnsenticorp.py` (one Ray Train run, under a
minute on 2 cores).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from raydistill.layout import RunLayout
from raydistill.pipeline import run_pipeline
from raydistill.results.points import read_points
from raydistill.spec import Spec
from raydistill.spec.rules import check_rules
from tests.conftest import tiny_bert_config

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_leftover_placement_groups")]

POSITIVE = ["这家酒店很好", "服务很好", "房间干净", "我很喜欢", "环境不错"]
NEGATIVE = ["房间太小", "服务很差", "环境不好", "我不喜欢", "太脏了"]
SUFFIX = "一二三四"  # train rows: each sentence once per suffix character


def _write_chnsenticorp(folder: Path) -> Path:
    """train.tsv (40 rows) and dev.tsv (the 10 sentences), header `label\\ttext_a` as the real files."""
    folder.mkdir(parents=True)
    rows = [(1, s) for s in POSITIVE] + [(0, s) for s in NEGATIVE]
    train = "".join(f"{y}\t{s}{c}\n" for c in SUFFIX for y, s in rows)
    (folder / "train.tsv").write_text("label\ttext_a\n" + train, encoding="utf-8")
    (folder / "dev.tsv").write_text(
        "label\ttext_a\n" + "".join(f"{y}\t{s}\n" for y, s in rows), encoding="utf-8"
    )
    return folder


def _chinese_teacher(out: Path) -> Path:
    """A tiny BERT (2 layers, hidden 32) with a classification head over a character vocabulary, and its
    WordPiece tokenizer (which splits Chinese text into characters)."""
    from transformers import BertForSequenceClassification, BertTokenizerFast

    chars = sorted({c for s in POSITIVE + NEGATIVE + [SUFFIX] for c in s})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, tokenize_chinese_chars=True)
    torch.manual_seed(0)
    model = BertForSequenceClassification(tiny_bert_config(vocab_size=len(vocab), initializer_range=0.2))
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def test_a_pkd_student_runs_end_to_end_on_chnsenticorp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # reports/<name>/
    teacher = _chinese_teacher(tmp_path / "teacher")
    optim = {"max_steps": 5, "batch_size": 8, "learning_rate": 1e-3, "num_threads": 1}
    spec = Spec.model_validate({
        "name": "chn-students", "task": "chnsenticorp",
        "data": {"path": str(_write_chnsenticorp(tmp_path / "chnsenticorp")), "max_seq_length": 16},
        "teacher": {"model": str(teacher), "finetuned": True},
        "supernet": {"enabled": False}, "search": {"enabled": False}, "export": {"enabled": False},
        "students": [{"name": "pkd2", "method": "pkd", "shape": {"layers": 2}, "init": "first", "seed": 3,
                      "train": optim}],
        "resources": {"num_workers": 1, "storage_path": str(tmp_path / "runs")},
    })  # fmt: skip
    assert check_rules(spec) == []
    lines: list[str] = []
    run_pipeline(spec, echo=lines.append)
    layout = RunLayout(tmp_path / "runs" / "chn-students")
    row = read_points(layout).set_index("label").loc["student pkd2"]
    assert row["method"] == "pkd" and 0 <= row["dev_metric"] <= 1 and 0 <= row["search_metric"] <= 1
    record = json.loads(layout.students_file.read_text())["pkd2"]
    assert record["steps"] == 5 and 0 < record["train_time_s"] < record["wall_time_s"]
    (cache,) = layout.teacher_outputs_dir.glob("*.pt")  # 40 teacher forwards > 36 examples: cached
    assert torch.load(cache, weights_only=True)["logits"].shape == (36, 2)
    from transformers import AutoTokenizer

    student_tokenizer = AutoTokenizer.from_pretrained(layout.student_model("pkd2"))
    assert student_tokenizer.tokenize("房间干净") == ["房", "间", "干", "净"]  # characters, no [UNK]
    again: list[str] = []
    run_pipeline(spec, echo=again.append)
    assert again[0] == "plan: teacher, students, report cached", again
