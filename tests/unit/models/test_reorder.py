"""DynaBERT importance (checked against HF's own backward) and in-place rewiring (function unchanged)."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from raydistill.errors import ModelError
from raydistill.models.arch import Arch
from raydistill.models.bert import elastic_forward
from raydistill.models.reorder import compute_importance, reorder_
from tests.unit.models.conftest import make_batch, make_model, with_labels


def _logits(model, batch):  # type: ignore[no-untyped-def]
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    out = elastic_forward(model, Arch.for_config(model.config), **inputs).logits
    return torch.stack(out) if isinstance(out, tuple) else out


def _hf_importance(model, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:  # type: ignore[no-untyped-def]
    """Independent computation from HF's forward + loss and `.backward()`.

    Head h's mask scales its context, which is the same as scaling its attention-output input columns, so
    dL/dm_h = sum(W_o[:, block_h] * dW_o[:, block_h]).
    """
    model.zero_grad()
    model(**batch).loss.backward()
    heads, neurons = [], []
    for layer in model.bert.encoder.layer:
        w_o = layer.attention.output.dense.weight  # (d, H*dh)
        heads.append((w_o * w_o.grad).view(32, 4, 8).sum((0, 2)).abs())  # (H,)
        w1, b1, w2 = layer.intermediate.dense.weight, layer.intermediate.dense.bias, layer.output.dense.weight
        neurons.append(((w1 * w1.grad).sum(1) + b1 * b1.grad).abs() + (w2 * w2.grad).sum(0).abs())
    model.zero_grad(set_to_none=True)
    return torch.stack(heads), torch.stack(neurons)


@pytest.mark.parametrize("kind", ["classification", "regression", "qa"])
def test_importance_matches_hf_backward(kind: str) -> None:
    model = make_model(kind)
    batch = with_labels(make_batch(), kind)
    head_imp, neuron_imp = compute_importance(model, [batch])
    assert head_imp.shape == (2, 4) and neuron_imp.shape == (2, 64)
    assert all(p.grad is None for p in model.parameters())  # .grad left untouched
    ref_heads, ref_neurons = _hf_importance(model, batch)
    assert torch.allclose(head_imp, ref_heads, rtol=1e-4, atol=1e-7)
    assert torch.allclose(neuron_imp, ref_neurons, rtol=1e-4, atol=1e-7)
    assert head_imp.min() >= 0 and head_imp.max() > 0


def test_importance_sums_per_batch_magnitudes_and_restores_mode() -> None:
    model = make_model("classification").train()
    b1, b2 = (with_labels(make_batch(seed=s), "classification", seed=s) for s in (1, 5))
    both = compute_importance(model, [b1, b2])
    assert model.training
    singles = [compute_importance(model, [b]) for b in (b1, b2)]
    for i in range(2):
        assert torch.allclose(both[i], singles[0][i] + singles[1][i], rtol=1e-5)
    with pytest.raises(ModelError, match="no batches"):
        compute_importance(model, [])


def test_custom_loss_fn_is_used() -> None:
    model = make_model("base")
    batch = make_batch()
    head_imp, _ = compute_importance(model, [batch], loss_fn=lambda out, b: out.last_hidden_state[:, 0].sum())
    assert head_imp.shape == (2, 4) and head_imp.sum() > 0


@pytest.mark.parametrize("kind", ["classification", "qa"])
def test_reorder_keeps_function_and_sorts_importance(kind: str) -> None:
    model = make_model(kind, num_hidden_layers=3)
    batch = with_labels(make_batch(), kind)
    head_imp, neuron_imp = compute_importance(model, [batch])
    with torch.no_grad():
        before = _logits(model, batch)
    params_before = {n: id(p) for n, p in model.named_parameters()}
    head_order, neuron_order = reorder_(model, head_imp, neuron_imp)
    assert {n: id(p) for n, p in model.named_parameters()} == params_before  # same Parameter objects
    assert not torch.equal(head_order, torch.arange(4).expand(3, 4))  # something really moved
    with torch.no_grad():
        after = _logits(model, batch)
    assert torch.allclose(before, after, atol=1e-5, rtol=0)

    new_head, new_neuron = compute_importance(model, [batch])
    assert (new_head[:, :-1] >= new_head[:, 1:] - 1e-6).all()  # non-increasing per layer
    assert (new_neuron[:, :-1] >= new_neuron[:, 1:] - 1e-6).all()
    assert torch.allclose(new_head, head_imp.gather(1, head_order), rtol=1e-4, atol=1e-7)


def test_after_reorder_prefix_keeps_most_important_heads() -> None:
    model = make_model("classification")
    batch = with_labels(make_batch(), "classification")
    head_imp, neuron_imp = compute_importance(model, [batch])
    top2 = head_imp.argsort(dim=1, descending=True)[:, :2]
    head_mask = torch.zeros(2, 4).scatter(1, top2, 1.0)  # keep the 2 most important heads per layer
    with torch.no_grad():
        expected = elastic_forward(
            model, Arch.for_config(model.config), **make_batch(), head_mask=head_mask
        ).logits
        reorder_(model, head_imp, neuron_imp)
        got = elastic_forward(model, Arch((0, 1), (2, 2), (64, 64)), **make_batch()).logits
    assert torch.allclose(got, expected, atol=1e-5)


def test_reorder_rejects_wrong_shapes() -> None:
    model = make_model("classification")
    with pytest.raises(ModelError, match=r"head importance has shape \(2, 3\); this model needs \(2, 4\)"):
        reorder_(model, torch.ones(2, 3), torch.ones(2, 64))
    with pytest.raises(ModelError, match="neuron importance"):
        reorder_(model, torch.ones(2, 4), torch.ones(2, 32))
