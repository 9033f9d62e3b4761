"""Method `lengthdrop`: length sampling, LayerDrop, inplace distillation to the detached full model, pass order."""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from transformers import BertForQuestionAnswering, BertForSequenceClassification

from raydistill.distill.lengthdrop import (
    LengthDropOptions,
    LengthDropStep,
    held_positions,
    layer_drop,
    sample_length_counts,
    sample_subnets,
    smallest_length_counts,
)
from raydistill.distill.methods import get_method
from raydistill.errors import SpecError
from raydistill.models.arch import Arch, kept_layers, width_grid
from raydistill.models.bert import ElasticBert
from raydistill.models.token_rule import kept_token_count
from raydistill.training.runtime import Backward
from tests.conftest import tiny_bert_config
from tests.unit.distill.recording import RecordingBackward

N = 16  # the reference length of the tests' length configs


def _step(**options: Any) -> LengthDropStep:
    base = {"kind": "classification", "num_labels": 2, "seq_length": N}
    step = get_method("lengthdrop").build({**base, **options}, torch.device("cpu")).step
    assert isinstance(step, LengthDropStep)
    return step


@pytest.fixture
def model() -> ElasticBert:
    torch.manual_seed(1)
    return ElasticBert(BertForSequenceClassification(tiny_bert_config(num_hidden_layers=4)))


@pytest.fixture
def batch() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 60, (4, N), generator=g)  # (B, L)
    mask = torch.ones(4, N, dtype=torch.long)
    mask[1, 11:] = 0  # some padding
    mask[3, 6:] = 0
    return {"input_ids": ids * mask, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids),
            "labels": torch.tensor([0, 1, 1, 0])}  # fmt: skip


def _bounds_hold(counts: tuple[int, ...], n: int, r: float) -> bool:
    for c in counts:
        low = max(min(2, n), math.ceil(n * (1 - r) - 1e-9))
        if not low <= c <= n:
            return False
        n = c
    return True


@pytest.mark.parametrize(("r", "length"), [(0.2, 16), (0.2, 128), (0.5, 7), (0.9, 384)])
def test_sampled_lengths_are_monotone_and_within_the_bound(r: float, length: int) -> None:
    rng = random.Random(0)
    draws = [sample_length_counts(rng, 6, length, r) for _ in range(300)]
    assert all(_bounds_hold(c, length, r) for c in draws)
    assert all(list(c) == sorted(c, reverse=True) for c in draws)
    assert len(set(draws)) > 50  # really random
    smallest = smallest_length_counts(6, length, r)
    assert _bounds_hold(smallest, length, r)
    assert all(smallest[i] <= min(c[i] for c in draws) for i in range(6))  # the floor of every draw
    if (r, length) == (0.2, 16):
        assert smallest == (13, 11, 9, 8, 7, 6)  # ceil(16 .8) = 13, ceil(13 .8) = 11 (10.4), ...


def test_sub_networks_carry_the_counts_by_the_forward_rounding_rule() -> None:
    config = tiny_bert_config(num_hidden_layers=6)
    for r in (0.2, 0.4):
        opts = LengthDropOptions.from_options(
            {"kind": "classification", "num_labels": 2, "seq_length": N, "length_drop_ratio_bound": r,
             "layer_drop_prob": 0.0, "num_sandwich": 3}
        )  # fmt: skip
        for step in range(20):
            archs = sample_subnets(config, opts, step)
            assert len(archs) == 4 and all(a.layers == tuple(range(6)) for a in archs)
            for arch in archs:
                counts = tuple(kept_token_count(t, N) for t in arch.tokens or ())
                assert arch.token_counts(N) == counts and _bounds_hold(counts, N, r)
            assert archs[0].token_counts(N) == smallest_length_counts(6, N, r)


def test_every_rank_draws_the_same_sub_networks_for_a_step() -> None:
    """What another interpreter (another rank, another hash seed) draws for the same (seed, step)."""
    config = tiny_bert_config(num_hidden_layers=4)
    opts = LengthDropOptions.from_options(
        {
            "kind": "classification",
            "num_labels": 2,
            "seq_length": 64,
            "widths": [1.0, 0.5],
            "depths": [1.0, 0.5],
        }
    )
    code = (
        "from raydistill.distill.lengthdrop import LengthDropOptions, sample_subnets;"
        "from tests.conftest import tiny_bert_config;"
        f"o = LengthDropOptions.from_options({opts.__dict__!r});"
        "print([[a.id for a in sample_subnets(tiny_bert_config(num_hidden_layers=4), o, s)] for s in range(6)])"
    )
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    state = random.getstate()
    here = [[a.id for a in sample_subnets(config, opts, s)] for s in range(6)]
    assert random.getstate() == state  # the global RNG is never drawn from
    assert out.stdout.strip() == str(here)
    assert len({tuple(ids) for ids in here}) == 6  # a new draw each step


def test_layer_drop_rate_is_p_and_seeded() -> None:
    arch = replace_tokens(Arch.full(12, 4, 64), tuple(1 - i / 20 for i in range(12)))
    for p in (0.2, 0.5):
        rng = random.Random(3)
        dropped = [layer_drop(rng, arch, p) for _ in range(2000)]
        rate = 1 - sum(a.num_layers for a in dropped) / (12 * 2000)
        assert rate == pytest.approx(p, abs=0.02)
        again = random.Random(3)
        assert [layer_drop(again, arch, p) for _ in range(2000)] == dropped
        for a in dropped[:50]:  # a dropped layer takes its heads, FFN width and token fraction with it
            assert a.tokens == tuple(1 - i / 20 for i in a.layers)
    assert layer_drop(random.Random(0), arch, 0.0) == arch
    lonely = [layer_drop(random.Random(s), Arch.full(2, 4, 64), 0.99) for s in range(20)]
    assert all(a.layers == (1,) for a in lonely)  # never empty: the last kept layer stays


def replace_tokens(arch: Arch, tokens: tuple[float, ...]) -> Arch:
    return Arch(arch.layers, arch.heads, arch.ffn, tokens)


def test_joint_mode_draws_width_depth_and_length_together() -> None:
    config = tiny_bert_config(num_hidden_layers=4)  # 4 heads, FFN 64
    widths, depths = [1.0, 0.75, 0.5], [1.0, 0.5]
    opts = LengthDropOptions.from_options(
        {"kind": "classification", "num_labels": 2, "seq_length": N, "widths": widths, "depths": depths,
         "layer_drop_prob": 0.0}
    )  # fmt: skip
    assert opts.joint and not _step().opts.joint
    heads, ffn = width_grid(widths, 4, 64)
    narrow = shallow = short = 0
    for step in range(40):
        archs = sample_subnets(config, opts, step)
        assert archs[0].layers == kept_layers(0.5, 4) and archs[0].heads == (2, 2)  # the smallest grid point
        for arch in archs:
            assert arch.layers in {kept_layers(d, 4) for d in depths}
            assert set(arch.heads) <= set(heads) and set(arch.ffn) <= set(ffn)
            assert arch.tokens is not None and _bounds_hold(arch.token_counts(N) or (), N, 0.2)
        narrow += any(h < 4 for a in archs[1:] for h in a.heads)
        shallow += any(a.num_layers < 4 for a in archs[1:])
        short += any(min(a.tokens or (1,)) < 1 for a in archs[1:])
    assert narrow > 20 and shallow > 10 and short > 30


def test_pass_order_the_full_model_last(model: ElasticBert, batch: dict) -> None:
    seen: list[Arch] = []
    forward = model.forward
    model.forward = lambda arch, **kw: (seen.append(arch), forward(arch, **kw))[1]  # type: ignore[method-assign]
    backward = RecordingBackward(model)
    step = _step(num_sandwich=3)
    step(model, batch, 5, backward)
    assert backward.calls == [False] * 4 + [True]
    full = Arch.for_config(model.config)
    assert seen == [full, *sample_subnets(model.config, step.opts, 5), full]  # no-grad targets, subs, full


def test_sub_models_learn_kl_to_the_detached_full_output(model: ElasticBert, batch: dict) -> None:
    """The sub-models' loss is KL(p_full || p_sub) to the full model's logits of this very step (same dropout
    masks), and no gradient of it reaches the full model's output: a hook on the full pass's logits sees only
    the task loss's gradient."""
    torch.manual_seed(0)
    hf = BertForSequenceClassification(tiny_bert_config(num_hidden_layers=4, hidden_dropout_prob=0.2))
    model = ElasticBert(hf).train()
    outputs: list[Any] = []
    forward = model.forward

    def recording(arch: Arch, **kw: Any) -> Any:
        out = forward(arch, **kw)
        outputs.append(out)
        return out

    model.forward = recording  # type: ignore[method-assign]
    grads: list[torch.Tensor] = []
    step = _step(num_sandwich=2, layer_drop_prob=0.0)
    original = model.forward

    def hooked(arch: Arch, **kw: Any) -> Any:
        out = original(arch, **kw)
        if out.logits.requires_grad and arch == Arch.for_config(model.config) and len(outputs) == 5:
            out.logits.register_hook(lambda g: grads.append(g.clone()))
        return out

    model.forward = hooked  # type: ignore[method-assign]
    logs = step(model, batch, 0, Backward(model))
    targets, subs, full = outputs[0], outputs[1:4], outputs[4]
    assert not targets.logits.requires_grad  # the targets come from a pass without gradients
    torch.testing.assert_close(full.logits.detach(), targets.logits, rtol=0, atol=0)  # same dropout masks
    scale = 1 / 4
    p_full = F.softmax(targets.logits, dim=-1)
    kl = (
        (p_full * (F.log_softmax(targets.logits, -1) - F.log_softmax(subs[0].logits.detach(), -1)))
        .sum(-1)
        .mean()
    )
    torch.testing.assert_close(logs["loss_smallest"], scale * kl)
    assert logs["loss_smallest"] > 0
    # the gradient at the full output is the task loss's alone: softmax - onehot, scaled, over the batch
    assert len(grads) == 1
    expected = scale * (F.softmax(full.logits.detach(), -1) - F.one_hot(batch["labels"], 2)) / 4
    torch.testing.assert_close(grads[0], expected)


def test_gradients_sum_the_sub_model_kls_and_the_full_task_loss(model: ElasticBert, batch: dict) -> None:
    step = _step(num_sandwich=2, layer_drop_prob=0.3, widths=[1.0, 0.5], depths=[1.0, 0.5])
    step(model, batch, 4, Backward(model))
    got = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    assert len(got) == len(list(model.parameters()))  # the full model's pass reaches every parameter
    model.zero_grad(set_to_none=True)
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    full_arch = Arch.for_config(model.config)
    target = model(full_arch, **inputs).logits.detach()
    total = F.cross_entropy(model(full_arch, **inputs).logits, batch["labels"])
    for arch in sample_subnets(model.config, step.opts, 4):
        log_p_s = F.log_softmax(model(arch, **inputs).logits, -1)
        total = total + (F.softmax(target, -1) * (F.log_softmax(target, -1) - log_p_s)).sum(-1).mean()
    (total / 4).backward()
    for name, p in model.named_parameters():
        torch.testing.assert_close(got[name], p.grad, atol=1e-6, rtol=1e-4)


def test_held_positions() -> None:
    origin = torch.tensor([[0, 2, -1], [1, -1, -1]])  # (B, K) input positions, -1 = a padding slot
    assert held_positions(origin, 4).tolist() == [[True, False, True, False], [False, True, False, False]]


def _held_hidden_mse(model: ElasticBert, arch: Arch, inputs: dict, full_hidden: tuple) -> torch.Tensor:
    """The hidden term computed another way: the sub-model's UNRESTORED states (kept tokens only) against the
    full model's states gathered at the positions they came from."""
    out = model(arch, **inputs, output_hidden_states=True, restore_tokens=False)
    origins = out.kept_indices or (None,) * len(arch.layers)
    total = torch.zeros(())
    for i, (layer, origin) in enumerate(zip(arch.layers, origins, strict=True)):
        h = out.hidden_states[i + 1]  # (B, K, d)
        if origin is None:
            origin = torch.arange(h.size(1)).expand(h.size(0), -1).masked_fill(inputs["attention_mask"] == 0, -1)
        target = full_hidden[layer + 1].gather(1, origin.clamp(min=0)[..., None].expand(-1, -1, h.size(2)))
        err = ((h - target) ** 2).mean(-1)  # (B, K)
        total = total + torch.stack([err[b][origin[b] >= 0].mean() for b in range(h.size(0))]).mean()
    return total


def test_hidden_term_adds_dynabert_hidden_mse_on_the_tokens_each_layer_holds(model: ElasticBert, batch: dict) -> None:
    step = _step(num_sandwich=2, layer_drop_prob=0.3, widths=[1.0, 0.5], depths=[1.0, 0.5], hidden_weight=0.7)
    step(model, batch, 4, Backward(model))
    got = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    full_arch = Arch.for_config(model.config)
    with torch.no_grad():
        full = model(full_arch, **inputs, output_hidden_states=True)
    total = F.cross_entropy(model(full_arch, **inputs).logits, batch["labels"])
    archs = sample_subnets(model.config, step.opts, 4)
    assert any(a.tokens and min(a.tokens) < 1 for a in archs) and any(a.num_layers < 4 for a in archs)
    for arch in archs:
        log_p_s = F.log_softmax(model(arch, **inputs).logits, -1)
        total = total + (F.softmax(full.logits, -1) * (F.log_softmax(full.logits, -1) - log_p_s)).sum(-1).mean()
        total = total + 0.7 * _held_hidden_mse(model, arch, inputs, full.hidden_states)
    (total / 4).backward()
    for name, p in model.named_parameters():
        torch.testing.assert_close(got[name], p.grad, atol=1e-6, rtol=1e-4)
    model.zero_grad(set_to_none=True)
    _step(num_sandwich=2, layer_drop_prob=0.3, widths=[1.0, 0.5], depths=[1.0, 0.5])(model, batch, 4, Backward(model))
    assert any(not torch.allclose(got[n], p.grad) for n, p in model.named_parameters())  # the term counts


def test_qa_with_drop_and_restore_trains(batch: dict) -> None:
    torch.manual_seed(0)
    model = ElasticBert(BertForQuestionAnswering(tiny_bert_config(num_hidden_layers=2)))
    qa_batch = {k: v for k, v in batch.items() if k != "labels"}
    qa_batch |= {"start_positions": torch.tensor([1, 2, 3, 0]), "end_positions": torch.tensor([2, 4, 3, 0])}
    step = _step(kind="qa", num_labels=2, length_drop_ratio_bound=0.5, layer_drop_prob=0.0, hidden_weight=1.0)
    logs = step(model, qa_batch, 0, Backward(model))
    assert all(torch.isfinite(v) for v in logs.values()) and logs["loss_smallest"] > 0
    assert all(p.grad is not None for p in model.parameters())


def test_bad_options_are_refused() -> None:
    with pytest.raises(SpecError, match="missing \\['seq_length'\\]"):
        get_method("lengthdrop").build({"kind": "classification", "num_labels": 2}, torch.device("cpu"))
    with pytest.raises(SpecError, match="unknown options \\['teacher'\\]"):
        _step(teacher="x")
    with pytest.raises(SpecError, match="length_drop_ratio_bound=1.5"):
        _step(length_drop_ratio_bound=1.5)
    with pytest.raises(SpecError, match="widths"):
        _step(widths=[0.5])
    with pytest.raises(SpecError, match="hidden_weight=-1"):
        _step(hidden_weight=-1.0)
    assert get_method("lengthdrop").subnetworks
