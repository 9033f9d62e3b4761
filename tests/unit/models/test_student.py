"""Students: built from a shape or a checkpoint, initialised from exactly the chosen teacher layers, plain HF."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import (
    AutoModelForSequenceClassification,
    BertForQuestionAnswering,
    BertForSequenceClassification,
)

from raydistill.errors import ModelError, SpecError
from raydistill.models.student import StudentShape, build_student, init_layers, save_student
from tests.conftest import tiny_bert_config
from tests.unit.distill.students import save_teacher


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize(("init", "chosen"), [("first", [0, 1]), ("every_kth", [1, 3])])
def test_init_copies_exactly_the_chosen_teacher_layers(
    tmp_path: Path, tiny_tokenizer, init: str, chosen: list[int]
) -> None:  # type: ignore[no-untyped-def]
    teacher_dir = save_teacher(tmp_path, tiny_tokenizer, layers=4)
    teacher = BertForSequenceClassification.from_pretrained(teacher_dir)
    student = build_student(
        str(teacher_dir), "classification", 2, shape=StudentShape(2, 32, 4, 64), init=init
    )
    assert isinstance(student, BertForSequenceClassification) and student.config.num_hidden_layers == 2
    t_layers, s_layers = teacher.bert.encoder.layer, student.bert.encoder.layer
    for j, t in enumerate(chosen):
        assert _same(s_layers[j], t_layers[t])
        assert not any(_same(s_layers[j], t_layers[o]) for o in range(4) if o != t)
    for part in ("embeddings", "pooler"):
        assert _same(getattr(student.bert, part), getattr(teacher.bert, part))
    assert _same(student.classifier, teacher.classifier)


def test_init_maps_match_the_pkd_skip_layers() -> None:
    assert init_layers("first", 6, 2) == [0, 1]
    assert init_layers("every_kth", 6, 2) == [2, 5]  # 1-based 3 and 6 = pkd_skip_map(6, 2) + the top layer
    assert init_layers("every_kth", 12, 6) == [1, 3, 5, 7, 9, 11]


def test_random_student_takes_the_teachers_vocabulary_and_saves_as_plain_hf(
    tmp_path: Path, tiny_tokenizer
) -> None:  # type: ignore[no-untyped-def]
    teacher_dir = save_teacher(tmp_path, tiny_tokenizer, layers=2)
    student = build_student(str(teacher_dir), "classification", 2, shape=StudentShape(1, 16, 4, 32), seed=1)
    config = student.config
    assert (
        config.num_hidden_layers,
        config.hidden_size,
        config.num_attention_heads,
        config.intermediate_size,
    ) == (
        1,
        16,
        4,
        32,
    )
    teacher_config = tiny_bert_config()
    assert config.vocab_size == teacher_config.vocab_size
    assert config.max_position_embeddings == teacher_config.max_position_embeddings
    out = save_student(student, str(teacher_dir), tmp_path / "student")
    loaded = AutoModelForSequenceClassification.from_pretrained(out)  # plain transformers, no raydistill code
    assert type(loaded) is BertForSequenceClassification and _same(loaded, student)
    assert (out / "tokenizer.json").is_file() or (out / "vocab.txt").is_file()
    again = build_student(str(teacher_dir), "classification", 2, shape=StudentShape(1, 16, 4, 32), seed=1)
    assert _same(again, student)  # seeded


def test_qa_and_regression_heads(tmp_path: Path, tiny_tokenizer) -> None:  # type: ignore[no-untyped-def]
    qa_teacher = save_teacher(tmp_path, tiny_tokenizer, layers=2, cls=BertForQuestionAnswering)
    qa = build_student(str(qa_teacher), "qa", 0, shape=StudentShape(1, 32, 4, 64), init="first")
    assert isinstance(qa, BertForQuestionAnswering)
    assert _same(qa.qa_outputs, BertForQuestionAnswering.from_pretrained(qa_teacher).qa_outputs)
    teacher_dir = save_teacher(tmp_path, tiny_tokenizer, layers=2)
    reg = build_student(str(teacher_dir), "regression", 1, shape=StudentShape(1, 16, 2, 32))
    assert reg.config.num_labels == 1 and reg.config.problem_type == "regression"


@pytest.mark.parametrize(
    ("shape", "init", "message"),
    [
        (StudentShape(2, 16, 4, 64), "first", "student hidden=16 differs from the teacher's 32"),
        (StudentShape(2, 32, 2, 64), "first", "student heads=2 differs from the teacher's 4"),
        (StudentShape(2, 32, 4, 32), "every_kth", "student ffn=32 differs from the teacher's 64"),
        (StudentShape(3, 32, 4, 64), "every_kth", r"layers=3 .* multiple .* use layers in \[1, 2, 4\]"),
        (StudentShape(5, 32, 4, 64), "first", "layers=5: .* 1 <= layers <= 4"),
        (StudentShape(2, 32, 4, 64), "middle", "init='middle' is not one of first, every_kth"),
    ],
)
def test_init_errors_name_the_field(
    tmp_path: Path, tiny_tokenizer, shape: StudentShape, init: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    teacher_dir = save_teacher(tmp_path, tiny_tokenizer, layers=4)
    with pytest.raises(SpecError, match=message):
        build_student(str(teacher_dir), "classification", 2, shape=shape, init=init)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(layers=0, hidden=16, heads=4, ffn=32), "layers=0"),
        (dict(layers=1, hidden=18, heads=4, ffn=32), "hidden=18 is not a multiple of heads=4"),
    ],
)
def test_bad_shapes(kwargs: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        StudentShape(**kwargs)


def test_checkpoint_students(tmp_path: Path, tiny_tokenizer, tiny_model_dir: Path) -> None:  # type: ignore[no-untyped-def]
    teacher_dir = save_teacher(tmp_path, tiny_tokenizer, layers=4)
    student = build_student(str(teacher_dir), "classification", 2, checkpoint=str(tiny_model_dir))
    assert _same(student, BertForSequenceClassification.from_pretrained(tiny_model_dir))
    with pytest.raises(SpecError, match="init='first' applies to a student built from a shape"):
        build_student(str(teacher_dir), "classification", 2, checkpoint=str(tiny_model_dir), init="first")
    with pytest.raises(SpecError, match="exactly one of a shape"):
        build_student(str(teacher_dir), "classification", 2)
    other = tmp_path / "other-vocab"
    BertForSequenceClassification(tiny_bert_config(vocab_size=99)).save_pretrained(other)
    with pytest.raises(ModelError, match="vocabulary of 99 tokens"):
        build_student(str(teacher_dir), "classification", 2, checkpoint=str(other))
