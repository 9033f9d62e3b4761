"""Methods `pkd` and `tinybert`: options and their validation, the losses of one step, attention scores."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from transformers import BertForSequenceClassification

from raydistill.distill.attention_scores import record_scores
from raydistill.distill.kd import kd_loss
from raydistill.distill.methods import get_method
from raydistill.distill.pkd import PkdOptions, PkdStep
from raydistill.distill.tinybert import PROJECTION, TinyBertOptions, TinyBertStep
from raydistill.errors import SpecError
from raydistill.models.arch import Arch
from raydistill.models.bert import elastic_forward
from raydistill.models.student import StudentShape
from tests.unit.distill.recording import RecordingBackward
from tests.unit.distill.students import SMALL, save_small_student, save_teacher
from tests.unit.models.conftest import make_batch, make_model

TEACHER2 = StudentShape(2, 32, 4, 64)
BASE = {"teacher": "t", "kind": "classification", "student": "s"}


def test_defaults_are_the_papers() -> None:
    pkd = PkdOptions.from_options(BASE)
    assert (pkd.strategy, pkd.alpha, pkd.beta, pkd.temperature) == ("skip", 0.7, 500.0, 10.0)
    tiny = TinyBertOptions.from_options(BASE)
    assert (tiny.stage, tiny.temperature) == ("intermediate", 1.0)
    assert (tiny.embedding_weight, tiny.hidden_weight, tiny.attention_weight) == (1.0, 1.0, 1.0)
    for name in ("pkd", "tinybert"):
        method = get_method(name)
        assert method.data == "task" and not method.subnetworks and method.evaluation == "task"


@pytest.mark.parametrize(
    ("cls", "changes", "message"),
    [
        (PkdOptions, {"temperature": 0.0}, "temperature=0.0; give a number > 0"),
        (PkdOptions, {"alpha": 1.5}, r"alpha=1.5; give a number in \[0, 1\]"),
        (PkdOptions, {"beta": -1}, "beta=-1; give a number >= 0"),
        (PkdOptions, {"strategy": "first"}, "strategy='first' is not one of skip, last"),
        (PkdOptions, {"kind": "ner"}, "kind='ner'"),
        (PkdOptions, {"gamma": 1}, r"unknown options \['gamma'\]"),
        (TinyBertOptions, {"temperature": -2}, "temperature=-2"),
        (TinyBertOptions, {"stage": "general"}, "stage='general' is not one of intermediate, prediction"),
        (TinyBertOptions, {"hidden_weight": -0.5}, "hidden_weight=-0.5"),
        (
            TinyBertOptions,
            {"embedding_weight": 0, "hidden_weight": 0, "attention_weight": 0},
            "has nothing to distil",
        ),
    ],
)
def test_bad_options_name_the_field(cls: type, changes: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        cls.from_options({**BASE, **changes})


def test_missing_student_is_named() -> None:
    with pytest.raises(SpecError, match=r"missing \['student'\]"):
        TinyBertOptions.from_options({"teacher": "t", "kind": "qa"})


@pytest.mark.parametrize(
    ("opts", "student", "teacher", "message"),
    [
        (
            {},
            StudentShape(5, 32, 4, 64),
            StudentShape(12, 32, 4, 64),
            r"layers: .* use a student with one of",
        ),
        ({}, StudentShape(1, 32, 4, 64), TEACHER2, "layers=1 has no intermediate layer"),
        (
            {},
            StudentShape(2, 16, 4, 32),
            StudentShape(4, 32, 4, 64),
            "hidden=16 differs from the teacher's 32",
        ),
    ],
)
def test_pkd_shape_checks(opts: dict, student: StudentShape, teacher: StudentShape, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        PkdOptions.from_options({**BASE, **opts}).check_shapes(student, teacher)


def test_pkd_last_takes_any_depth_and_beta_zero_takes_any_shape() -> None:
    PkdOptions.from_options({**BASE, "strategy": "last"}).check_shapes(
        StudentShape(5, 32, 4, 64), StudentShape(12, 32, 4, 64)
    )
    PkdOptions.from_options({**BASE, "beta": 0}).check_shapes(SMALL, TEACHER2)


def test_tinybert_shape_checks() -> None:
    opts = TinyBertOptions.from_options(BASE)
    opts.check_shapes(SMALL, TEACHER2)  # other width: a projection, no error
    with pytest.raises(SpecError, match=r"heads=2 differs from the teacher's 4; .* attention_weight 0"):
        opts.check_shapes(StudentShape(1, 16, 2, 32), TEACHER2)
    with pytest.raises(SpecError, match=r"student layers: .* teacher=6, student=4"):
        opts.check_shapes(StudentShape(4, 16, 4, 32), StudentShape(6, 32, 4, 64))
    TinyBertOptions.from_options({**BASE, "attention_weight": 0}).check_shapes(
        StudentShape(1, 16, 2, 32), TEACHER2
    )
    TinyBertOptions.from_options({**BASE, "stage": "prediction"}).check_shapes(
        StudentShape(4, 8, 2, 8), TEACHER2
    )
    assert opts.projection(SMALL, TEACHER2) is not None
    assert opts.projection(StudentShape(1, 32, 4, 64), TEACHER2) is None  # same width: no W
    assert TinyBertOptions.from_options({**BASE, "stage": "prediction"}).projection(SMALL, TEACHER2) is None


def test_recorded_scores_are_the_encoders_pre_softmax_scores_on_real_tokens() -> None:
    model, batch = make_model(), make_batch()
    with torch.no_grad(), record_scores(model) as recorder:
        model(**batch)
    hooked = recorder.scores()
    with torch.no_grad():
        reference = elastic_forward(
            model, Arch.for_config(model.config), **batch, output_attention_scores=True
        ).attention_scores
    assert reference is not None and len(hooked) == len(reference) == 2
    mask = batch["attention_mask"].bool()
    valid = (mask[:, None, :, None] & mask[:, None, None, :]).expand_as(hooked[0])  # (B, h, L, L)
    for ours, theirs in zip(hooked, reference, strict=True):
        torch.testing.assert_close(ours[valid], theirs[valid], atol=1e-5, rtol=1e-5)
    assert not any(m._forward_hooks for m in model.modules())  # hooks removed


@pytest.fixture
def small_pair(tmp_path: Path, tiny_tokenizer) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    teacher = save_teacher(tmp_path, tiny_tokenizer, layers=2)
    return teacher, save_small_student(tmp_path, teacher)


def _tinybert(teacher: Path, student: Path, **options: object):  # type: ignore[no-untyped-def]
    base = {"teacher": str(teacher), "kind": "classification", "student": str(student)}
    return get_method("tinybert").build({**base, **options}, torch.device("cpu"))


def test_tinybert_attention_loss_ignores_padded_positions(small_pair: tuple[Path, Path]) -> None:
    teacher, student_dir = small_pair
    built = _tinybert(teacher, student_dir)
    student = BertForSequenceClassification.from_pretrained(student_dir)
    batch = make_batch() | {"labels": torch.tensor([0, 1, 1])}
    other = dict(batch, input_ids=torch.where(batch["attention_mask"].bool(), batch["input_ids"], 7))
    with torch.no_grad(), record_scores(student) as a:
        student(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    with torch.no_grad(), record_scores(student) as b:
        student(input_ids=other["input_ids"], attention_mask=batch["attention_mask"])
    assert not torch.allclose(a.scores()[0], b.scores()[0])  # the padded scores did change
    first = built.step(student, batch, 0, RecordingBackward(student))["attention"]
    student.zero_grad()
    second = built.step(student, other, 0, RecordingBackward(student))["attention"]
    assert float(first) > 0 and float(second) == pytest.approx(float(first), rel=1e-6)


def test_tinybert_intermediate_step_projects_and_reaches_every_parameter(
    small_pair: tuple[Path, Path],
) -> None:
    teacher_dir, student_dir = small_pair
    built = _tinybert(teacher_dir, student_dir)
    step = built.step
    assert isinstance(step, TinyBertStep) and built.modules is not None
    assert step.hidden_map == [0, 2] and step.attention_map == [1]  # k = 2
    student = BertForSequenceClassification.from_pretrained(student_dir).train()
    batch = make_batch() | {"labels": torch.tensor([0, 1, 1])}
    backward = RecordingBackward(student)
    logs = step(student, batch, 0, backward)
    assert backward.calls == [True]

    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    w = built.modules[PROJECTION]
    with torch.no_grad():
        s = student(**inputs, output_hidden_states=True).hidden_states
        t = step.teacher(**inputs, output_hidden_states=True).hidden_states
        assert float(logs["embedding"]) == pytest.approx(float(F.mse_loss(w(s[0]), t[0])), rel=1e-5)
        assert float(logs["hidden"]) == pytest.approx(float(F.mse_loss(w(s[1]), t[2])), rel=1e-5)
    total = logs["embedding"] + logs["hidden"] + logs["attention"]
    assert float(logs["loss"]) == pytest.approx(float(total), rel=1e-6)
    assert all(p.grad is not None for p in student.parameters())  # the head too (a zero gradient), for DDP
    assert float(student.classifier.weight.grad.abs().sum()) == 0.0  # type: ignore[union-attr]
    assert w.weight.grad is not None and float(w.weight.grad.abs().sum()) > 0
    assert all(p.grad is None for p in step.teacher.parameters())


def test_tinybert_prediction_is_soft_ce_at_t_without_t2(small_pair: tuple[Path, Path]) -> None:
    teacher_dir, student_dir = small_pair
    built = _tinybert(teacher_dir, student_dir, stage="prediction", temperature=2.0)
    assert built.modules is None
    student = BertForSequenceClassification.from_pretrained(student_dir)
    batch = make_batch() | {"labels": torch.tensor([0, 1, 1])}
    logs = built.step(student, batch, 0, RecordingBackward(student))
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.no_grad():
        zs, zt = student(**inputs).logits / 2.0, built.step.teacher(**inputs).logits / 2.0  # type: ignore[attr-defined]
    expected = -(zt.softmax(-1) * zs.log_softmax(-1)).sum(-1).mean()
    assert float(logs["loss"]) == pytest.approx(float(expected), rel=1e-5)


def test_pkd_step_is_kd_plus_scaled_patient_term(tmp_path: Path, tiny_tokenizer) -> None:  # type: ignore[no-untyped-def]
    teacher_dir = save_teacher(tmp_path, tiny_tokenizer, layers=4)
    student_dir = save_small_student(tmp_path, teacher_dir, StudentShape(2, 32, 4, 64), init="first")
    options = {"teacher": str(teacher_dir), "kind": "classification", "student": str(student_dir)}
    for strategy, teacher_layer in (("skip", 2), ("last", 3)):  # 4 -> 2: skip [2], last [3]
        built = get_method("pkd").build({**options, "strategy": strategy}, torch.device("cpu"))
        step = built.step
        assert isinstance(step, PkdStep) and step.teacher_layers == [teacher_layer] and built.modules is None
        student = BertForSequenceClassification.from_pretrained(student_dir)
        batch = make_batch() | {"labels": torch.tensor([0, 1, 1])}
        logs = step(student, batch, 0, RecordingBackward(student))
        inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
        with torch.no_grad():
            s = student(**inputs, output_hidden_states=True)
            t = step.teacher(**inputs, output_hidden_states=True)
        unit = [F.normalize(h[:, 0], dim=-1) for h in (s.hidden_states[1], t.hidden_states[teacher_layer])]
        patient = (unit[0] - unit[1]).pow(2).sum(-1).mean()  # eq. 5, one intermediate layer
        kd = kd_loss(s.logits, t.logits, batch, step.kd)["loss"]  # 0.3 CE + 0.7 * 100 * softCE(T = 10)
        expected = kd + 500.0 / (1 * 32) * patient  # beta on the authors' scale: / (layers * hidden)
        assert float(logs["patient"]) == pytest.approx(float(patient), rel=1e-5)
        assert float(logs["loss"]) == pytest.approx(float(expected), rel=1e-5)
