"""Strategy `kd`: the loss against hand computations (classification, regression, QA), the frozen teacher."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from transformers import BertForSequenceClassification

from raydistill.distill.kd import KdOptions, KdStep, kd_loss
from raydistill.distill.losses import LOSSES
from raydistill.distill.methods import get_method
from raydistill.errors import SpecError
from raydistill.models.arch import Arch
from raydistill.models.export import materialise
from tests.conftest import tiny_bert_config
from tests.unit.distill.recording import RecordingBackward

S = [[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]  # student logits (B=2, C=3)
T_ = [[2.0, 0.0, 1.0], [1.0, 1.0, -2.0]]  # teacher logits
LABELS = [1, 2]


def _softmax(row: list[float], temperature: float = 1.0) -> list[float]:
    exps = [math.exp(x / temperature) for x in row]
    return [e / sum(exps) for e in exps]


def _soft_ce(s: list[list[float]], t: list[list[float]], temperature: float) -> float:
    """mean_b -sum_c softmax(t/T) log softmax(s/T), in plain python."""
    rows = [
        -sum(
            p * math.log(q) for p, q in zip(_softmax(tr, temperature), _softmax(sr, temperature), strict=True)
        )
        for sr, tr in zip(s, t, strict=True)
    ]
    return sum(rows) / len(rows)


def _ce(s: list[list[float]], labels: list[int]) -> float:
    rows = [-math.log(_softmax(sr)[y]) for sr, y in zip(s, labels, strict=True) if 0 <= y < len(sr)]
    return sum(rows) / len(rows)


def _opts(kind: str = "classification", **kw: float) -> KdOptions:
    return KdOptions.from_options({"teacher": "unused", "kind": kind, **kw})


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_classification_loss_is_hinton_kd(alpha: float) -> None:
    parts = kd_loss(
        torch.tensor(S),
        torch.tensor(T_),
        {"labels": torch.tensor(LABELS)},
        _opts(temperature=2.0, alpha=alpha),
    )
    kd = 4.0 * _soft_ce(S, T_, 2.0)  # T^2 = 4
    expected = alpha * kd + (1 - alpha) * _ce(S, LABELS)
    assert parts["loss"].item() == pytest.approx(expected, rel=1e-6)
    assert parts["kd"].item() == pytest.approx(kd, rel=1e-6)
    assert ("task" in parts) == (alpha < 1)  # a term of weight 0 is not computed


def test_regression_uses_mse_for_both_terms() -> None:
    s, t, y = [[0.5], [2.0]], [[1.0], [1.0]], [0.0, 3.0]
    parts = kd_loss(
        torch.tensor(s), torch.tensor(t), {"labels": torch.tensor(y)}, _opts("regression", alpha=0.5)
    )
    kd = ((0.5 - 1.0) ** 2 + (2.0 - 1.0) ** 2) / 2  # no temperature, no T^2 for regression
    task = ((0.5 - 0.0) ** 2 + (2.0 - 3.0) ** 2) / 2
    assert parts["kd"].item() == pytest.approx(kd)
    assert parts["task"].item() == pytest.approx(task)
    assert parts["loss"].item() == pytest.approx(0.5 * kd + 0.5 * task)


def test_qa_averages_start_and_end_and_ignores_out_of_range_positions() -> None:
    s_start, s_end = (
        [[0.1, 2.0, -1.0, 0.3], [1.0, 0.0, 0.5, 2.0]],
        [[0.0, 0.0, 3.0, 1.0], [2.0, -1.0, 0.0, 0.0]],
    )
    t_start, t_end = (
        [[1.0, 1.0, 0.0, 0.0], [0.0, 2.0, 1.0, 0.0]],
        [[0.5, 0.0, 1.0, 2.0], [1.0, 1.0, 1.0, 0.0]],
    )
    starts, ends = [1, 4], [2, 3]  # 4 = beyond the sequence (L=4): ignored, as HF does
    student = (torch.tensor(s_start), torch.tensor(s_end))
    teacher = (torch.tensor(t_start), torch.tensor(t_end))
    batch = {"start_positions": torch.tensor(starts), "end_positions": torch.tensor(ends)}
    parts = kd_loss(student, teacher, batch, _opts("qa", temperature=2.0, alpha=0.5))
    kd = 4.0 * (_soft_ce(s_start, t_start, 2.0) + _soft_ce(s_end, t_end, 2.0)) / 2
    task = (_ce(s_start[:1], starts[:1]) + _ce(s_end, ends)) / 2
    assert parts["kd"].item() == pytest.approx(kd, rel=1e-6)
    assert parts["task"].item() == pytest.approx(task, rel=1e-6)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"teacher": "t"}, "missing ['kind']"),
        ({"teacher": "t", "kind": "classification", "beta": 1.0}, "unknown options ['beta']"),
        ({"teacher": "t", "kind": "ner"}, "kind='ner'"),
        ({"teacher": "t", "kind": "qa", "alpha": 1.5}, "0 <= alpha <= 1"),
        ({"teacher": "t", "kind": "qa", "temperature": 0.0}, "temperature > 0"),
    ],
)
def test_bad_options_are_spec_errors(options: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message.replace("[", r"\[").replace("]", r"\]")):
        KdOptions.from_options(options)


def test_options_validate_when_built_directly() -> None:
    """A spec validator builds the dataclass itself: the values are checked there, not only in from_options."""
    with pytest.raises(SpecError, match="temperature > 0"):
        KdOptions("t", "classification", temperature=0.0)
    with pytest.raises(SpecError, match="kind='ner'"):
        KdOptions("t", "ner")
    KdOptions("t", "qa").check_shapes(object(), object())  # any student shape: only logits are compared


def _batch() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 60, (3, 6), generator=g)  # (B, L)
    mask = torch.ones(3, 6, dtype=torch.long)
    mask[2, 4:] = 0
    return {"input_ids": ids * mask, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids),
            "labels": torch.tensor([0, 1, 1])}  # fmt: skip


def test_step_distils_an_exported_subnetwork_and_leaves_the_teacher_alone(tiny_model_dir: Path) -> None:
    assert not get_method("kd").subnetworks
    built = get_method("kd").build(
        {"teacher": str(tiny_model_dir), "kind": "classification", "temperature": 2.0, "alpha": 0.5},
        torch.device("cpu"),
    )  # num_labels read from the teacher's config
    step = built.step
    assert isinstance(step, KdStep)
    torch.manual_seed(1)
    student = materialise(BertForSequenceClassification(tiny_bert_config()), Arch((1,), (2,), (32,))).train()
    batch, backward = _batch(), RecordingBackward(student)
    logs = step(student, batch, 0, backward)  # a raydistill_bert student: would refuse `labels=`

    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.no_grad():
        s, t = student(**inputs).logits, step.teacher(**inputs).logits  # (B, 2) each
    expected = 0.5 * 4.0 * _soft_ce(s.tolist(), t.tolist(), 2.0) + 0.5 * _ce(s.tolist(), [0, 1, 1])
    assert logs["loss"].item() == pytest.approx(expected, rel=1e-5)  # dropout is 0 in the tiny config
    assert backward.calls == [True]
    assert all(p.grad is None and not p.requires_grad for p in step.teacher.parameters())
    assert not step.teacher.training
    grads = [p.grad for p in student.parameters()]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)  # type: ignore[union-attr]


def test_pure_task_loss_never_runs_the_teacher() -> None:
    class Exploding(torch.nn.Module):
        def forward(self, **_: torch.Tensor) -> None:
            raise AssertionError("the teacher ran with alpha=0")

    torch.manual_seed(0)
    student = BertForSequenceClassification(tiny_bert_config())
    step = KdStep(_opts(alpha=0.0), Exploding())
    logs = step(student, _batch(), 0, RecordingBackward(student))
    assert set(logs) == {"loss", "task"}


def test_the_soft_term_is_the_registered_logit_loss(monkeypatch: pytest.MonkeyPatch) -> None:
    """`kd_loss` calls `LOSSES["logit_distill"]`: a loss replaced in the registry is the one it runs."""
    called: list[tuple] = []
    monkeypatch.setitem(
        LOSSES, "logit_distill", lambda *a, **k: (called.append(a[2:]), torch.tensor(0.25))[1]
    )
    s, t = torch.zeros(2, 3), torch.ones(2, 3)
    parts = kd_loss(s, t, {"labels": torch.tensor([0, 1])}, _opts(temperature=2.0, alpha=1.0))
    assert called == [("classification", 2.0)] and float(parts["kd"]) == 0.25
