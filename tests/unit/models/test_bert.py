"""Elastic forward: equals transformers at the full Arch, and slicing really changes (only) what it should."""

from __future__ import annotations

import copy
import itertools

import pytest
import torch
from torch import Tensor, nn
from transformers import BertForMaskedLM

from raydistill.errors import ArchError, ModelError
from raydistill.models.arch import Arch
from raydistill.models.bert import ElasticBert, base_bert, elastic_forward, head_kind
from raydistill.models.elastic import additive_mask, attention_block, slice_layer
from tests.conftest import tiny_bert_config
from tests.unit.models.conftest import make_batch, make_model

ATOL = 1e-5


def _logits(out_logits: Tensor | tuple[Tensor, Tensor]) -> Tensor:
    return torch.stack(out_logits) if isinstance(out_logits, tuple) else out_logits


def _hf_logits(model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
    out = model(**batch)
    return torch.stack((out.start_logits, out.end_logits)) if hasattr(out, "start_logits") else out.logits


def _reference(model: nn.Module, arch: Arch) -> nn.Module:
    """An independent HF model computing `arch`: pruned heads/neurons zeroed, dropped layers removed."""
    ref = copy.deepcopy(model)
    bert = base_bert(ref)
    dh = bert.config.hidden_size // bert.config.num_attention_heads
    with torch.no_grad():
        for idx, heads, ffn in zip(arch.layers, arch.heads, arch.ffn, strict=True):
            layer = bert.encoder.layer[idx]
            layer.attention.output.dense.weight[:, heads * dh :] = 0  # pruned heads contribute nothing
            layer.output.dense.weight[:, ffn:] = 0  # pruned neurons contribute nothing
    bert.encoder.layer = nn.ModuleList([bert.encoder.layer[i] for i in arch.layers])
    bert.config.num_hidden_layers = len(arch.layers)
    return ref


@pytest.mark.parametrize("kind", ["classification", "regression", "qa"])
@pytest.mark.parametrize("need_scores", [False, True])
def test_full_arch_matches_transformers(kind: str, need_scores: bool, batch: dict[str, Tensor]) -> None:
    model = make_model(kind)
    with torch.no_grad():
        expected = _hf_logits(model, batch)
        out = elastic_forward(
            model, Arch.for_config(model.config), **batch, output_attention_scores=need_scores
        )
    got = _logits(out.logits)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=ATOL, rtol=0)
    if kind == "qa":
        assert got.shape == (2, 3, 10)  # (start, end) x (B, L)


def test_bare_model_and_intermediates_match_transformers(batch: dict[str, Tensor]) -> None:
    model = make_model("base")
    with torch.no_grad():
        ref = model(**batch, output_hidden_states=True, output_attentions=True)
        full = Arch.for_config(model.config)
        out = elastic_forward(model, full, **batch, output_hidden_states=True, output_attention_scores=True)
    assert out.logits is None
    assert torch.allclose(out.last_hidden_state, ref.last_hidden_state, atol=ATOL)
    assert torch.allclose(out.pooled_output, ref.pooler_output, atol=ATOL)
    assert len(out.hidden_states) == 3 and out.hidden_states[0] is out.embeddings
    for mine, theirs in zip(out.hidden_states, ref.hidden_states, strict=True):
        assert torch.allclose(mine, theirs, atol=ATOL)
    for scores, probs in zip(out.attention_scores, ref.attentions, strict=True):
        assert scores.shape == (3, 4, 10, 10)
        assert torch.allclose(scores.softmax(-1), probs, atol=ATOL)
        assert (scores[2, :, :, 3:] < -1e30).all()  # padded keys carry the additive mask


def test_attention_block_matches_hand_computation() -> None:
    layer = make_model("base").encoder.layer[0]
    w = slice_layer(layer, heads=3, ffn=8)
    x = torch.randn(2, 5, 32, generator=torch.Generator().manual_seed(0))
    pad = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])
    got = attention_block(x, w, additive_mask(pad, x.dtype), need_probs=True)
    att = layer.attention.self
    contexts, all_scores = [], []
    for j in range(3):  # plain per-head loop over the first 3 heads of size 8
        rows = slice(8 * j, 8 * (j + 1))
        q = x @ att.query.weight[rows].T + att.query.bias[rows]  # (B, L, 8)
        k = x @ att.key.weight[rows].T + att.key.bias[rows]
        v = x @ att.value.weight[rows].T + att.value.bias[rows]
        scores = q @ k.transpose(1, 2) / 8**0.5  # (B, L, L)
        scores = scores.masked_fill(pad[:, None, :] == 0, torch.finfo(x.dtype).min)
        contexts.append(scores.softmax(-1) @ v)
        all_scores.append(scores)
    dense = layer.attention.output.dense
    out = torch.cat(contexts, -1) @ dense.weight[:, :24].T + dense.bias
    expected = layer.attention.output.LayerNorm(out + x)
    assert torch.allclose(got.hidden, expected, atol=ATOL)
    assert torch.allclose(got.scores[:, :, :, :2], torch.stack(all_scores, 1)[:, :, :, :2], atol=ATOL)


ARCHS_4L = [
    Arch.for_config(tiny_bert_config(num_hidden_layers=4), width=0.5),
    Arch.for_config(tiny_bert_config(num_hidden_layers=4), depth=0.5),
    Arch.for_config(tiny_bert_config(num_hidden_layers=4), width=0.25, depth=0.75),
    Arch((0, 2, 3), (4, 1, 3), (64, 7, 30)),
]


@pytest.mark.parametrize("kind", ["classification", "qa"])
@pytest.mark.parametrize("arch", ARCHS_4L, ids=lambda a: a.id)
def test_sliced_forward_equals_independent_reference(kind: str, arch: Arch, batch: dict[str, Tensor]) -> None:
    model = make_model(kind, num_hidden_layers=4)
    with torch.no_grad():
        got = _logits(elastic_forward(model, arch, **batch).logits)
        expected = _hf_logits(_reference(model, arch), batch)
        full = _hf_logits(model, batch)
    assert torch.allclose(got, expected, atol=ATOL, rtol=0)
    assert not torch.allclose(got, full, atol=1e-3)  # and it is not the full model


def test_every_width_gives_different_logits(batch: dict[str, Tensor]) -> None:
    model = make_model("classification")
    outs = {}
    with torch.no_grad():
        for width in (1.0, 0.75, 0.5, 0.25):
            arch = Arch.for_config(model.config, width=width)
            assert arch.heads[0] == int(4 * width)  # the width really is applied: 4, 3, 2, 1 heads
            outs[width] = elastic_forward(model, arch, **batch).logits
    for a, b in itertools.combinations(outs, 2):
        assert (outs[a] - outs[b]).abs().max() > 1e-3, (a, b)


def test_head_mask_zeroing_equals_slicing(batch: dict[str, Tensor]) -> None:
    model = make_model("classification")
    full = Arch.for_config(model.config)
    head_mask = torch.tensor([[1.0, 1.0, 0.0, 0.0]] * 2)  # (layers, heads): drop the last two heads
    with torch.no_grad():
        masked = elastic_forward(model, full, **batch, head_mask=head_mask).logits
        sliced = elastic_forward(model, Arch((0, 1), (2, 2), (64, 64)), **batch).logits
    assert torch.allclose(masked, sliced, atol=ATOL)


def test_gradients_reach_only_kept_slices(batch: dict[str, Tensor]) -> None:
    model = make_model("classification", num_hidden_layers=4)
    arch = Arch((1, 3), (2, 3), (16, 40))
    elastic_forward(model, arch, **batch).logits.pow(2).sum().backward()
    layers = model.bert.encoder.layer
    for idx, heads, ffn in zip(arch.layers, arch.heads, arch.ffn, strict=True):
        att, hd = layers[idx].attention, heads * 8
        for lin in (att.self.query, att.self.key, att.self.value):
            assert lin.weight.grad[:hd].abs().sum() > 0 and lin.weight.grad[hd:].abs().sum() == 0
            assert lin.bias.grad[hd:].abs().sum() == 0
        assert att.output.dense.weight.grad[:, hd:].abs().sum() == 0
        assert att.output.dense.weight.grad[:, :hd].abs().sum() > 0
        inter, out = layers[idx].intermediate.dense, layers[idx].output.dense
        assert inter.weight.grad[ffn:].abs().sum() == 0 and inter.weight.grad[:ffn].abs().sum() > 0
        assert inter.bias.grad[ffn:].abs().sum() == 0
        assert out.weight.grad[:, ffn:].abs().sum() == 0 and out.weight.grad[:, :ffn].abs().sum() > 0
    for idx in (0, 2):  # dropped layers get no gradient at all
        assert all(p.grad is None for p in layers[idx].parameters())
    assert model.bert.embeddings.word_embeddings.weight.grad is not None


def test_dropout_follows_train_mode_like_transformers(batch: dict[str, Tensor]) -> None:
    model = make_model("classification", hidden_dropout_prob=0.3, attention_probs_dropout_prob=0.3).train()
    full = Arch.for_config(model.config)
    torch.manual_seed(5)
    expected = model(**batch).logits
    torch.manual_seed(5)  # same random stream, same dropout sites in the same order as HF (eager attention)
    got = elastic_forward(model, full, **batch, output_attention_scores=True).logits
    assert torch.allclose(got, expected, atol=ATOL)
    fast = elastic_forward(model, full, **batch).logits  # fused SDPA path also drops out
    model.eval()
    a, b = (elastic_forward(model, full, **batch, output_attention_scores=s).logits for s in (False, True))
    assert torch.allclose(a, b, atol=ATOL) and not torch.allclose(a, fast, atol=1e-3)
    assert not torch.allclose(a, expected, atol=1e-3)


def test_elastic_bert_wrapper_and_unwrapping(batch: dict[str, Tensor]) -> None:
    model = make_model("qa")
    wrapper = ElasticBert(model)
    arch = Arch.for_config(model.config, width=0.5)
    assert wrapper.full_arch == Arch.full(2, 4, 64)
    assert set(wrapper.state_dict()) == {f"model.{k}" for k in model.state_dict()}
    labelled = {**batch, "start_positions": torch.zeros(3, dtype=torch.long)}
    with torch.no_grad():
        via_wrapper = wrapper(arch, **labelled).logits
        via_function = elastic_forward(wrapper, arch, **batch).logits
    assert torch.equal(torch.stack(via_wrapper), torch.stack(via_function))
    assert head_kind(wrapper) == "qa"
    with pytest.raises(ModelError, match="expected input_ids"):
        wrapper(arch, input_ids=batch["input_ids"], pixel_values=batch["input_ids"])


def test_ddp_wrapped_supernet_trains(tmp_path, batch: dict[str, Tensor]) -> None:  # type: ignore[no-untyped-def]
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/store", rank=0, world_size=1)
    try:
        model = make_model("classification", num_hidden_layers=4)
        ddp = DistributedDataParallel(ElasticBert(model), find_unused_parameters=True)
        arch = Arch.for_config(model.config, width=0.5, depth=0.5)
        out = ddp(arch, **batch)
        out.logits.sum().backward()
        assert model.bert.encoder.layer[1].attention.self.query.weight.grad is not None
        with torch.no_grad():
            assert torch.allclose(elastic_forward(ddp, arch, **batch).logits, out.logits, atol=ATOL)
        del ddp, out  # DDP's reducer holds the Gloo group: freed after the group is destroyed, its teardown can hang
    finally:
        dist.destroy_process_group()


def test_errors_are_clear(batch: dict[str, Tensor]) -> None:
    model = make_model("classification")
    with pytest.raises(ArchError, match="layer index 3 does not exist"):
        elastic_forward(model, Arch((3,), (1,), (8,)), **batch)
    with pytest.raises(ArchError, match="heads"):
        elastic_forward(model, Arch((0,), (5,), (8,)), **batch)
    with pytest.raises(
        ModelError, match="got token_counts and the length configuration .1.0, 0.5.*give one of them"
    ):
        counts = [None, torch.tensor([2, 2, 2])]
        elastic_forward(
            model, Arch((0, 1), (4, 4), (64, 64), tokens=(1.0, 0.5)), **batch, token_counts=counts
        )
    with pytest.raises(ModelError, match="supported: BertForSequenceClassification"):
        elastic_forward(BertForMaskedLM(tiny_bert_config()), Arch.full(2, 4, 64), **batch)


def test_default_mask_and_segments() -> None:
    model = make_model("classification")
    ids = make_batch()["input_ids"][:1]
    with torch.no_grad():
        got = elastic_forward(model, Arch.for_config(model.config), ids).logits
        expected = model(input_ids=ids).logits
    assert torch.allclose(got, expected, atol=ATOL)
