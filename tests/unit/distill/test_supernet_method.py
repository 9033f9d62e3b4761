"""Method `supernet`: sampling, pass order, the loss against hand computations, gradient summation."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from transformers import BertForSequenceClassification

from raydistill.distill.losses import LOSSES, dynabert_loss
from raydistill.distill.methods import get_method
from raydistill.distill.supernet import SupernetStep, sample_pairs
from raydistill.errors import SpecError
from raydistill.models.arch import Arch
from raydistill.models.bert import ElasticBert, elastic_forward
from raydistill.training.runtime import Backward
from tests.conftest import tiny_bert_config
from tests.unit.distill.recording import RecordingBackward

WIDTHS, DEPTHS = [1.0, 0.75, 0.5, 0.25], [1.0, 0.5]


def _step(teacher_dir: Path, **options: Any) -> SupernetStep:
    base = {"teacher": str(teacher_dir), "kind": "classification", "num_labels": 2}
    step = get_method("supernet").build({**base, **options}, torch.device("cpu")).step
    assert isinstance(step, SupernetStep)
    return step


@pytest.fixture
def student() -> ElasticBert:
    """A student whose weights differ from the teacher's (seed 1 vs 0), so every loss term is non-zero."""
    torch.manual_seed(1)
    return ElasticBert(BertForSequenceClassification(tiny_bert_config()))


@pytest.fixture
def batch() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 60, (4, 7), generator=g)  # (B, L)
    mask = torch.ones(4, 7, dtype=torch.long)
    mask[1, 5:] = 0  # some padding
    mask[3, 3:] = 0
    return {"input_ids": ids * mask, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids),
            "labels": torch.tensor([0, 1, 1, 0])}  # fmt: skip


def _by_hand(
    student: ElasticBert, teacher: Any, arch: Arch, t_arch: Arch, batch: dict, w: dict
) -> torch.Tensor:
    """The DynaBERT loss of one sub-network written out from elastic_forward outputs (no raydistill losses)."""
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    s = elastic_forward(student.model, arch, **inputs, output_hidden_states=True)
    with torch.no_grad():
        t = elastic_forward(teacher, t_arch, **inputs, output_hidden_states=True)
    T = w["temperature"]
    p_t = torch.softmax(t.logits / T, dim=-1)  # (B, C)
    soft_ce = -(p_t * torch.log_softmax(s.logits / T, dim=-1)).sum(-1).mean()
    hidden = sum(((s.hidden_states[j + 1] - t.hidden_states[layer + 1]) ** 2).mean()
                 for j, layer in enumerate(arch.layers))  # fmt: skip
    emb = ((s.embeddings - t.embeddings) ** 2).mean()
    task = F.cross_entropy(s.logits, batch["labels"])
    return w["logits"] * soft_ce + w["hidden"] * hidden + w["embedding"] * emb + w["task"] * task


def test_registered_as_a_subnetwork_method() -> None:
    assert get_method("supernet").subnetworks and not get_method("finetune").subnetworks


def test_same_pairs_for_same_seed_and_step_and_different_across_steps() -> None:
    state = random.getstate()
    first = sample_pairs(WIDTHS, DEPTHS, "sandwich", 2, seed=7, step=3)
    assert sample_pairs(WIDTHS, DEPTHS, "sandwich", 2, seed=7, step=3) == first
    assert random.getstate() == state  # the global RNG is never drawn from
    per_step = {tuple(sample_pairs(WIDTHS, DEPTHS, "sandwich", 2, seed=7, step=s)) for s in range(20)}
    assert len(per_step) > 5


def test_another_process_samples_the_same_pairs() -> None:
    """What a second rank (another interpreter, another hash seed) draws for the same (seed, step)."""
    code = (
        "from raydistill.distill.supernet import sample_pairs;"
        f"print([sample_pairs({WIDTHS}, {DEPTHS}, 'sandwich', 2, 7, s) for s in range(5)])"
    )
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    here = [sample_pairs(WIDTHS, DEPTHS, "sandwich", 2, 7, s) for s in range(5)]
    assert out.stdout.strip() == str(here)


def test_sandwich_has_smallest_first_largest_last_and_distinct_random_pairs() -> None:
    for step in range(10):
        pairs = sample_pairs(WIDTHS, DEPTHS, "sandwich", 2, seed=0, step=step)
        assert pairs[0] == (0.25, 0.5) and pairs[-1] == (1.0, 1.0)
        assert len(pairs) == 4 == len(set(pairs)) and set(pairs) <= {(w, d) for w in WIDTHS for d in DEPTHS}
    everything = sample_pairs(WIDTHS, DEPTHS, "all", 2, seed=0, step=0)
    assert len(everything) == 8 and everything[-1] == (1.0, 1.0) and everything[0] == (0.25, 0.5)
    assert sorted(sample_pairs(WIDTHS, DEPTHS, "sandwich", 50, seed=0, step=0)) == everything
    assert sample_pairs([1.0], [1.0], "sandwich", 2, seed=0, step=0) == [(1.0, 1.0)]


def test_layerwise_sampling_mixes_trained_widths_per_layer(tiny_model_dir: Path) -> None:
    """OFA-style sandwich: smallest grid point, random per-layer widths from the trained grid, full Arch last."""
    from raydistill.distill.supernet import SupernetOptions, sample_archs
    from raydistill.models.arch import kept_layers, width_grid

    config = tiny_bert_config(num_hidden_layers=4)  # 4 heads, FFN 64
    opts = SupernetOptions.from_options(
        {"teacher": str(tiny_model_dir), "kind": "classification", "num_labels": 2, "widths": WIDTHS,
         "depths": DEPTHS, "sampling": "layerwise", "num_random": 3}
    )  # fmt: skip
    heads_grid, ffn_grid = width_grid(WIDTHS, 4, 64)
    assert heads_grid == (4, 3, 2, 1) and ffn_grid == (64, 48, 32, 16)
    state = random.getstate()
    draws = [sample_archs(config, opts, step) for step in range(30)]
    assert random.getstate() == state and draws[7] == sample_archs(config, opts, 7)
    mixed = 0
    for step_archs in draws:
        archs = [arch for arch, _ in step_archs]
        assert all(t_width == 1.0 for _, t_width in step_archs)  # the full teacher
        assert archs[0] == Arch.for_config(config, width=0.25, depth=0.5)
        assert archs[-1] == Arch.for_config(config) and len(archs) == 5
        for arch in archs[1:-1]:
            assert arch.layers in {kept_layers(d, 4) for d in DEPTHS}
            assert set(arch.heads) <= set(heads_grid) and set(arch.ffn) <= set(ffn_grid)
            mixed += len(set(arch.heads)) > 1 or len(set(arch.ffn)) > 1
    assert mixed > 60  # of 90 draws, most mix widths (uniform ones have probability ~1/64 per draw)
    with pytest.raises(SpecError, match="same_width"):
        SupernetOptions.from_options({**opts.__dict__, "teacher_mode": "same_width"})


def test_layerwise_step_trains_the_sampled_archs(
    tiny_model_dir: Path, student: ElasticBert, batch: dict
) -> None:
    from raydistill.distill.supernet import sample_archs

    seen: list[Arch] = []
    forward = student.forward
    student.forward = lambda arch, **kw: (seen.append(arch), forward(arch, **kw))[1]  # type: ignore[method-assign]
    backward = RecordingBackward(student)
    step = _step(tiny_model_dir, widths=WIDTHS, depths=DEPTHS, sampling="layerwise", num_random=2)
    logs = step(student, batch, 5, backward)
    assert backward.calls == [False, False, False, True]
    assert seen == [arch for arch, _ in sample_archs(student.config, step.opts, 5)]
    assert torch.isclose(logs["loss"], sum(_logs_of_each(tiny_model_dir, student, batch, seen)))


def test_full_arch_is_the_last_backward(tiny_model_dir: Path, student: ElasticBert, batch: dict) -> None:
    seen: list[Arch] = []
    forward = student.forward
    student.forward = lambda arch, **kw: (seen.append(arch), forward(arch, **kw))[1]  # type: ignore[method-assign]
    backward = RecordingBackward(student)
    logs = _step(tiny_model_dir, widths=WIDTHS, depths=DEPTHS)(student, batch, 0, backward)
    assert backward.calls == [False] * 7 + [True]  # no_sync pairing is enforced by the loop's Backward
    assert seen[-1] == Arch.for_config(student.config) and len(set(seen)) == 8
    assert torch.isclose(logs["loss"], sum(_logs_of_each(tiny_model_dir, student, batch, seen)))


def _logs_of_each(teacher_dir: Path, student: ElasticBert, batch: dict, archs: list[Arch]) -> list:
    teacher = BertForSequenceClassification.from_pretrained(teacher_dir).eval()
    w = {"temperature": 1.0, "logits": 1.0, "hidden": 1.0, "embedding": 0.0, "task": 0.0}
    return [_by_hand(student, teacher, a, Arch.for_config(teacher.config), batch, w).detach() for a in archs]


def test_loss_of_one_subnetwork_equals_a_hand_computation(
    tiny_model_dir: Path, student: ElasticBert, batch: dict
) -> None:
    w = {"temperature": 2.0, "logits": 1.0, "hidden": 0.7, "embedding": 0.5, "task": 0.3}
    step = _step(tiny_model_dir, widths=[1.0, 0.5], depths=[1.0, 0.5], sampling="sandwich", num_random=0,
                 temperature=2.0, hidden_weight=0.7, embedding_weight=0.5, task_weight=0.3)  # fmt: skip
    small = Arch.for_config(student.config, width=0.5, depth=0.5)
    assert small.layers == (1,) and small.heads == (2,)
    expected = _by_hand(student, step.teacher, small, Arch.for_config(student.config), batch, w)
    logs = step(student, batch, 0, Backward(student))
    torch.testing.assert_close(logs["loss_smallest"], expected.detach())
    # the logits + hidden part also equals the package's dynabert_loss on the same outputs
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    s = elastic_forward(student.model, small, **inputs, output_hidden_states=True)
    t = elastic_forward(step.teacher, Arch.for_config(student.config), **inputs, output_hidden_states=True)
    reference, _ = dynabert_loss(s.logits, t.logits, s.hidden_states[1:], t.hidden_states, [2],
                                 hidden_weight=0.7, temperature=2.0)  # fmt: skip
    by_hand_part = _by_hand(student, step.teacher, small, Arch.for_config(student.config), batch,
                            {**w, "embedding": 0.0, "task": 0.0})  # fmt: skip
    torch.testing.assert_close(reference, by_hand_part)


def test_same_width_teacher_mode_slices_the_teacher(
    tiny_model_dir: Path, student: ElasticBert, batch: dict
) -> None:
    w = {"temperature": 1.0, "logits": 1.0, "hidden": 1.0, "embedding": 0.0, "task": 0.0}
    step = _step(tiny_model_dir, widths=[1.0, 0.5], depths=[1.0], teacher_mode="same_width")
    half = Arch.for_config(student.config, width=0.5)
    logs = step(student, batch, 0, Backward(student))
    sliced = _by_hand(student, step.teacher, half, half, batch, w)
    full = _by_hand(student, step.teacher, half, Arch.for_config(student.config), batch, w)
    torch.testing.assert_close(logs["loss_smallest"], sliced.detach())
    assert not torch.isclose(sliced, full)


def test_gradients_are_summed_over_subnetworks(
    tiny_model_dir: Path, student: ElasticBert, batch: dict
) -> None:
    step = _step(tiny_model_dir, widths=[1.0, 0.5], depths=[1.0, 0.5], hidden_weight=0.5)
    step(student, batch, 0, Backward(student))
    got = {n: p.grad.clone() for n, p in student.named_parameters() if p.grad is not None}
    student.zero_grad(set_to_none=True)
    w = {"temperature": 1.0, "logits": 1.0, "hidden": 0.5, "embedding": 0.0, "task": 0.0}
    full = Arch.for_config(student.config)
    expected: dict[str, torch.Tensor] = {}
    for width in (1.0, 0.5):
        for depth in (1.0, 0.5):
            arch = Arch.for_config(student.config, width=width, depth=depth)
            grads = torch.autograd.grad(_by_hand(student, step.teacher, arch, full, batch, w),
                                        list(student.parameters()), allow_unused=True)  # fmt: skip
            for (name, _), g in zip(student.named_parameters(), grads, strict=True):
                if g is not None:
                    expected[name] = expected.get(name, 0) + g
    assert got.keys() == expected.keys()
    for name in got:
        torch.testing.assert_close(got[name], expected[name], atol=1e-6, rtol=1e-4)


def test_one_step_changes_weights_and_lowers_the_summed_loss(
    tiny_model_dir: Path, student: ElasticBert, batch: dict
) -> None:
    step = _step(tiny_model_dir, widths=WIDTHS, depths=DEPTHS)
    before = {n: p.detach().clone() for n, p in student.named_parameters()}
    optimizer = torch.optim.AdamW(student.parameters(), lr=1e-3)
    first = step(student, batch, 0, Backward(student))["loss"]
    torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    assert any(not torch.equal(before[n], p) for n, p in student.named_parameters())
    second = step(student, batch, 1, Backward(student))["loss"]
    assert second < first


def test_bad_options_and_plain_models_are_refused(tiny_model_dir: Path, batch: dict) -> None:
    with pytest.raises(SpecError, match="unknown options"):
        _step(tiny_model_dir, width=[1.0])
    with pytest.raises(SpecError, match="include 1.0"):
        _step(tiny_model_dir, widths=[0.5])
    with pytest.raises(SpecError, match="sampling"):
        _step(tiny_model_dir, sampling="random")
    plain = BertForSequenceClassification(tiny_bert_config())
    with pytest.raises(TypeError, match="ElasticBert"):
        _step(tiny_model_dir)(plain, batch, 0, Backward(plain))


@pytest.mark.parametrize("kind", ["regression", "qa"])
def test_regression_and_qa_logit_terms(kind: str, tmp_path: Path, batch: dict) -> None:
    from transformers import BertForQuestionAnswering

    def build(seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        if kind == "qa":
            return BertForQuestionAnswering(tiny_bert_config())
        return BertForSequenceClassification(tiny_bert_config(num_labels=1, problem_type="regression"))

    build(0).save_pretrained(tmp_path / "teacher")
    student = ElasticBert(build(1))
    step = _step(tmp_path / "teacher", kind=kind, num_labels=1, widths=[1.0], depths=[1.0], hidden_weight=0.0,
                 temperature=3.0)  # fmt: skip
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    full = Arch.for_config(student.config)
    s = elastic_forward(student.model, full, **inputs).logits
    t = elastic_forward(step.teacher, full, **inputs).logits
    if kind == "regression":
        expected = ((s.squeeze(-1) - t.squeeze(-1)) ** 2).mean()
    else:
        expected = sum(-(torch.softmax(b / 3, -1) * torch.log_softmax(a / 3, -1)).sum(-1).mean()
                       for a, b in zip(s, t, strict=True)) / 2  # fmt: skip
    logs = step(student, batch, 0, Backward(student))
    torch.testing.assert_close(logs["loss"], expected.detach())


def test_attention_term_compares_kept_heads_with_the_teachers_first_heads(
    tiny_model_dir: Path, student: ElasticBert, batch: dict
) -> None:
    step = _step(tiny_model_dir, widths=[1.0, 0.5], depths=[1.0], sampling="sandwich", num_random=0,
                 logits_weight=0.0, hidden_weight=0.0, attention_weight=1.0)  # fmt: skip
    half = Arch.for_config(student.config, width=0.5)
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    s = elastic_forward(student.model, half, **inputs, output_attention_scores=True).attention_scores
    t = elastic_forward(step.teacher, Arch.for_config(student.config), **inputs, output_attention_scores=True)
    keep = batch["attention_mask"].bool()
    valid = (keep[:, None, :, None] & keep[:, None, None, :]).expand(-1, 2, -1, -1)  # (B, h=2, L, L)
    expected = sum(
        ((a - b[:, :2]) ** 2)[valid].sum() / valid.sum() for a, b in zip(s, t.attention_scores, strict=True)
    )
    logs = step(student, batch, 0, Backward(student))
    torch.testing.assert_close(logs["loss_smallest"], expected.detach())


def test_the_step_takes_its_losses_from_the_loss_registry(
    tiny_model_dir: Path, student: ElasticBert, batch: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loss replaced in `LOSSES` is the one the step runs (the registry has callers)."""
    called: list[str] = []
    for name in ("logit_distill", "hidden_mse", "embedding_mse", "attention_mse"):
        real = LOSSES[name]
        monkeypatch.setitem(
            LOSSES, name, lambda *a, _f=real, _n=name, **k: (called.append(_n), _f(*a, **k))[1]
        )
    step = _step(tiny_model_dir, widths=[1.0], depths=[1.0], embedding_weight=0.5, attention_weight=0.5)
    step(student, batch, 0, RecordingBackward(student))
    assert called == ["logit_distill", "hidden_mse", "embedding_mse"] + ["attention_mse"] * 2  # 2 layers
