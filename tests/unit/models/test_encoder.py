"""One encoder stack: the supernet and the exported sub-network run `elastic.encoder_forward` and agree; the
per-layer, per-example token selection hook keeps exactly the tokens its rule names."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from raydistill.errors import ModelError
from raydistill.models.arch import Arch
from raydistill.models.bert import base_bert, elastic_forward
from raydistill.models.elastic import additive_mask, attention_block, select_tokens, slice_layer
from raydistill.models.export import materialise
from raydistill.models.hf_subnet import SubnetError
from raydistill.models.token_selection import significance as token_significance
from tests.unit.models.conftest import make_batch, make_model

ATOL = 1e-5
REDUCED = Arch((0, 2, 3), (3, 1, 2), (40, 7, 64))  # width and depth reduced, of a 4-layer model


def _counts(*rows: list[int] | None) -> list[Tensor | None]:
    return [torch.tensor(r) if r else None for r in rows]


def _close(a: Tensor | tuple[Tensor, ...], b: Tensor | tuple[Tensor, ...], atol: float = ATOL) -> bool:
    a, b = (torch.stack(t) if isinstance(t, tuple) else t for t in (a, b))
    return a.shape == b.shape and torch.allclose(a, b, atol=atol, rtol=0)


@pytest.mark.parametrize("restore", [True, False], ids=["restored", "kept_only"])
@pytest.mark.parametrize("kind", ["classification", "qa"])
@pytest.mark.parametrize("counts", [None, ([6, 4, 9], None, [2, 3, 1])], ids=["all_tokens", "selected"])
def test_supernet_and_exported_subnet_run_one_stack(kind: str, counts: tuple | None, restore: bool) -> None:
    model = make_model(kind, num_hidden_layers=4)
    small, batch = materialise(model, REDUCED), make_batch()
    token_counts = None if counts is None else _counts(*counts)
    with torch.no_grad():
        ref = elastic_forward(
            model, REDUCED, **batch, output_hidden_states=True, output_attention_scores=True,
            output_attention_probs=True, token_counts=token_counts, restore_tokens=restore,
        )  # fmt: skip
        got = small(
            **batch, output_hidden_states=True, output_attentions=True, output_attention_scores=True,
            token_counts=token_counts, restore_tokens=restore,
        )  # fmt: skip
    logits = got.logits if kind == "classification" else (got.start_logits, got.end_logits)
    assert ref.logits is not None and _close(logits, ref.logits)
    for name, theirs in [("hidden_states", got.hidden_states), ("attention_scores", got.attention_scores)]:
        mine = getattr(ref, name)
        assert len(mine) == len(theirs) == len(REDUCED.layers) + (name == "hidden_states")
        assert all(_close(a, b) for a, b in zip(mine, theirs, strict=True)), name
    assert all(_close(a, b) for a, b in zip(ref.attention_probs, got.attentions, strict=True))
    assert [p.shape[1] for p in got.attentions] == list(REDUCED.heads)
    if counts is None:
        assert ref.kept_indices is None and got.kept_indices is None
    else:
        assert [None if k is None else k.tolist() for k in ref.kept_indices] == [
            None if k is None else k.tolist() for k in got.kept_indices
        ]
        # K = the largest clamped count; restored: every input position
        assert [h.shape[1] for h in ref.hidden_states] == ([10] * 4 if restore else [10, 6, 6, 3])


@pytest.mark.parametrize("arch", [REDUCED, Arch.full(4, 4, 64)], ids=lambda a: a.id)
def test_fused_sdpa_path_equals_explicit_softmax_path(arch: Arch) -> None:
    model, batch = make_model("classification", num_hidden_layers=4), make_batch()
    small = materialise(model, arch)
    with torch.no_grad():
        fused = elastic_forward(model, arch, **batch, output_hidden_states=True)
        explicit = elastic_forward(
            model, arch, **batch, output_hidden_states=True, output_attention_probs=True
        )
        fused_small = small(**batch).logits
        explicit_small = small(**batch, output_attention_scores=True).logits
    assert explicit.attention_probs is not None and fused.attention_probs is None
    assert _close(fused.logits, explicit.logits) and _close(fused_small, explicit_small)
    assert all(_close(a, b) for a, b in zip(fused.hidden_states, explicit.hidden_states, strict=True))


@pytest.mark.parametrize("extra", [0, 50], ids=["real_lengths", "larger"])
def test_keeping_every_real_token_changes_nothing(extra: int) -> None:
    model, batch = make_model("classification"), make_batch()
    real = batch["attention_mask"].sum(-1)  # (B,) = 10, 6, 3: padding in the batch
    counts = [real + extra, real + extra]
    full = Arch.full(2, 4, 64)
    with torch.no_grad():  # the reference takes the same explicit softmax path (the fused one: ~1e-6 apart)
        ref = elastic_forward(model, full, **batch, output_hidden_states=True, output_attention_probs=True)
        fused = elastic_forward(model, full, **batch).logits
        got = elastic_forward(
            model, full, **batch, output_hidden_states=True, token_counts=counts, restore_tokens=False
        )
    assert torch.allclose(got.logits, ref.logits, atol=1e-6, rtol=0) and _close(got.logits, fused)
    for mine, theirs in zip(got.hidden_states, ref.hidden_states, strict=True):
        assert torch.allclose(mine, theirs, atol=1e-6, rtol=0)
    expected = torch.arange(10).expand(3, 10).masked_fill(batch["attention_mask"] == 0, -1)
    assert got.kept_indices is not None and all(torch.equal(k, expected) for k in got.kept_indices)
    assert torch.equal(got.attention_mask, batch["attention_mask"])


def _expected_kept(significance: list[float], valid: list[bool], count: int) -> list[int]:
    """The selection rule written out for one example: [CLS] + the most significant real tokens, by position."""
    real = [j for j, v in enumerate(valid) if v]
    count = max(1, min(count, len(real)))
    others = sorted((j for j in real if j != 0), key=lambda j: -significance[j])
    return sorted([0, *others[: count - 1]])


def test_select_tokens_hand_made_probabilities() -> None:
    """Significance chosen by hand: [CLS] the least significant, padded keys the most, per-example counts."""
    valid = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 0]]).bool()  # (B=3, L=6)
    weights = torch.tensor(
        [[0.1, 5.0, 2.0, 4.0, 1.0, 3.0], [0.1, 1.0, 3.0, 2.0, 9.0, 9.0], [0.1, 1.0, 2.0, 3.0, 4.0, 9.0]]
    )  # (B, L): significance of each key, up to a constant factor
    probs = weights[:, None, None, :].expand(3, 2, 6, 6).clone()  # (B, h=2, L, L)
    probs[1, :, 4:, 1] = 1e6  # padded QUERIES of example 1 do not count: they would favour key 1 over key 2
    ranks = token_significance(probs, valid)  # (B, L)
    kept, keep = select_tokens(ranks, valid, torch.tensor([3, 2, 9]))  # 9 clamps to the 5 real tokens
    assert [k[m].tolist() for k, m in zip(kept, keep, strict=True)] == [[0, 1, 3], [0, 2], [0, 1, 2, 3, 4]]
    assert keep.tolist() == [
        [True] * 3 + [False] * 2,
        [True] * 2 + [False] * 3,
        [True] * 5,
    ]  # kept slots first
    significance = (probs * valid[:, None, :, None]).sum((1, 2))  # (B, L)
    for b, count in enumerate((3, 2, 9)):
        want = _expected_kept(significance[b].tolist(), valid[b].tolist(), count)
        assert kept[b][keep[b]].tolist() == want
    kept, keep = select_tokens(ranks, valid, torch.tensor([0, 1, 1]))  # at least [CLS] stays
    assert kept.tolist() == [[0], [0], [0]] and keep.all()


def test_two_layer_selection_by_hand() -> None:
    """Kept positions follow the rule on the returned probabilities; the FFN (and the next layer) run on them."""
    model, batch = make_model("base"), make_batch()
    bert, valid = base_bert(model), batch["attention_mask"].bool()
    counts = _counts([4, 5, 9], [2, 3, 1])  # example 2: 3 real tokens, count 9 clamps to 3
    with torch.no_grad():
        out = elastic_forward(
            model, Arch.full(2, 4, 64), **batch, output_hidden_states=True, output_attention_probs=True,
            token_counts=counts, restore_tokens=False,
        )  # fmt: skip
        att = attention_block(
            out.embeddings, slice_layer(bert.encoder.layer[0], 4, 64), additive_mask(valid, torch.float32)
        )
    assert out.kept_indices is not None and out.attention_probs is not None
    first, second = out.kept_indices
    layer0_kept = []
    for b, count in enumerate((4, 5, 9)):
        significance = (out.attention_probs[0][b] * valid[b, None, :, None]).sum((0, 1))  # (L,)
        want = _expected_kept(significance.tolist(), valid[b].tolist(), count)
        assert first[b].tolist() == want + [-1] * (5 - len(want))  # K = 5, padding slots last
        layer0_kept.append(want)
        kept_hidden = att.hidden[b, want]  # (n_b, d): the attention output at the kept tokens
        ffn = bert.encoder.layer[0].output(bert.encoder.layer[0].intermediate(kept_hidden), kept_hidden)
        assert torch.allclose(out.hidden_states[1][b, : len(want)], ffn, atol=ATOL)
        # layer 1 sees only the kept tokens: HF's own layer on the example's kept tokens, no padding
        full_layer1 = bert.encoder.layer[1](out.hidden_states[1][b : b + 1, : len(want)])[0]  # (n_b, d)
        significance = (out.attention_probs[1][b, :, : len(want), : len(want)]).sum((0, 1))
        second_want = _expected_kept(significance.tolist(), [True] * len(want), (2, 3, 1)[b])
        assert second[b, : len(second_want)].tolist() == [want[j] for j in second_want]  # original positions
        assert torch.allclose(
            out.last_hidden_state[b, : len(second_want)], full_layer1[second_want], atol=ATOL
        )
    assert out.attention_mask.tolist() == [[1, 1, 0], [1, 1, 1], [1, 0, 0]]
    assert [len(k) for k in layer0_kept] == [4, 5, 3]


def test_batched_selection_equals_one_example_at_a_time() -> None:
    model, batch = make_model("classification"), make_batch()
    counts = [torch.tensor([5, 4, 2]), torch.tensor([3, 2, 2])]
    with torch.no_grad():
        together = elastic_forward(model, Arch.full(2, 4, 64), **batch, token_counts=counts).logits
        for b, n in enumerate(batch["attention_mask"].sum(-1).tolist()):
            alone = {k: v[b : b + 1, :n] for k, v in batch.items()}  # no padding at all
            one = [c[b : b + 1] for c in counts]
            logits = elastic_forward(model, Arch.full(2, 4, 64), **alone, token_counts=one).logits
            assert torch.allclose(together[b], logits[0], atol=ATOL)
        plain = elastic_forward(model, Arch.full(2, 4, 64), **batch).logits
    assert not torch.allclose(together, plain, atol=1e-3)  # the selection really changed the outputs


def test_hf_subnet_outputs_follow_hf_semantics() -> None:
    model = make_model("classification", num_hidden_layers=4)
    small, batch = materialise(model, REDUCED), make_batch()
    with torch.no_grad():
        ref = elastic_forward(model, REDUCED, **batch, output_hidden_states=True, output_attention_probs=True)
        plain = small(**batch)
        small.config.output_hidden_states = True  # HF: a flag left at None follows the config
        got = small(**batch, output_attentions=True)
        base = small.bert(**batch, output_hidden_states=False, output_attentions=True)
    assert plain.hidden_states is None and plain.attentions is None and plain.attention_scores is None
    assert [h.shape for h in got.hidden_states] == [(3, 10, 32)] * 4
    assert [a.shape for a in got.attentions] == [(3, h, 10, 10) for h in REDUCED.heads]
    assert all(_close(a, b) for a, b in zip(got.hidden_states, ref.hidden_states, strict=True))
    assert all(_close(a, b) for a, b in zip(got.attentions, ref.attention_probs, strict=True))
    assert torch.allclose(got.attentions[1].sum(-1), torch.ones(3, 1, 10), atol=1e-6)  # softmax rows
    assert (got.attentions[0][2, :, :, 3:] == 0).all()  # no probability on padded keys
    assert base.hidden_states is None  # an explicit flag beats the config
    assert _close(base.last_hidden_state, ref.last_hidden_state)


def test_token_count_errors_are_clear() -> None:
    model, batch = make_model("classification"), make_batch()
    small = materialise(model, Arch.full(2, 4, 64))
    with pytest.raises(ModelError, match="1 entries for 2 layers"):
        elastic_forward(model, Arch.full(2, 4, 64), **batch, token_counts=[None])
    with pytest.raises(ModelError, match=r"shape \(3,\)"):
        elastic_forward(model, Arch.full(2, 4, 64), **batch, token_counts=[torch.tensor([2, 2]), None])
    with pytest.raises(SubnetError, match="integer tensor"):
        small(**batch, token_counts=[torch.tensor([2.0, 2.0, 2.0]), None])


def test_onnx_wrapper_path_selects_nothing(batch: dict[str, Tensor]) -> None:
    """What the ONNX export traces: no flags, no counts -> fused attention, plain HF outputs."""
    small: nn.Module = materialise(make_model("qa"), Arch((1,), (2,), (16,)))
    with torch.no_grad():
        out = small(**batch)
    assert out.start_logits.shape == (3, 10) and out.kept_indices is None and out.attention_scores is None
