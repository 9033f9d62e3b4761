"""Tiny teachers and students saved as HF dirs, shared by the student-method tests (models built in code)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import BertForSequenceClassification

from raydistill.models.student import StudentShape, build_student, save_student
from tests.conftest import tiny_bert_config

SMALL = StudentShape(1, 16, 4, 32)  # the 1-layer, hidden-16 student (4 heads, as the tiny teacher)


def save_teacher(
    root: Path, tokenizer: Any, layers: int = 2, cls: type = BertForSequenceClassification
) -> Path:
    """A tiny teacher (hidden 32, 4 heads, FFN 64) with `layers` layers, seeded, saved with the tokenizer.

    Its init range is 10x BERT's 0.02, so its logits and attention scores are O(1): a student has something to
    learn (from a near-uniform teacher the soft term would start at its minimum)."""
    torch.manual_seed(3)
    model = cls(tiny_bert_config(num_hidden_layers=layers, initializer_range=0.2))
    out = root / f"teacher{layers}-{cls.__name__}"
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def save_small_student(
    root: Path, teacher: Path, shape: StudentShape = SMALL, init: str | None = None, name: str = "student"
) -> Path:
    """A classification student of `shape` for `teacher`, saved as a plain HF dir with the teacher's tokenizer."""
    student = build_student(str(teacher), "classification", 2, shape=shape, init=init, seed=5)
    return save_student(student, str(teacher), root / name)
