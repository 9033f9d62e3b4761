"""The length axis: `Arch.tokens` drives per-example token selection by one rounding rule, dropped tokens are
restored for token-level outputs, and the analytic FLOPs follow the same counts as the forward."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.flop_counter import FlopCounterMode

from raydistill.errors import ModelError
from raydistill.models import elastic
from raydistill.models.arch import Arch
from raydistill.models.bert import elastic_forward
from raydistill.models.elastic import LayerWeights, encoder_forward, token_counts_for_lengths
from raydistill.models.flops import count_flops, flops_per_example
from raydistill.models.token_rule import kept_token_count
from raydistill.models.token_selection import restore_last, restore_tokens
from tests.conftest import tiny_bert_config
from tests.unit.models.conftest import make_batch, make_model

ATOL = 1e-5
TOKENS = Arch((0, 2, 3), (3, 1, 2), (40, 7, 64), tokens=(1.0, 0.6, 0.3))  # of a 4-layer model


def _stack(logits: Tensor | tuple[Tensor, Tensor]) -> Tensor:
    return torch.stack(logits) if isinstance(logits, tuple) else logits


def test_rounding_rule_by_hand() -> None:
    assert [kept_token_count(0.5, n) for n in (10, 9, 1, 0)] == [5, 5, 1, 0]  # ceil(4.5) = 5
    assert kept_token_count(0.7, 10) == 7  # 0.7 * 10 = 7.000000000000001 in floats: still 7
    assert kept_token_count(0.01, 10) == 1 and kept_token_count(1.0, 3) == 3
    assert Arch((0, 1), (4, 4), (64, 64), tokens=(0.6, 0.25)).token_counts(10) == (6, 3)
    counts = token_counts_for_lengths((1.0, 0.6, 0.25), torch.tensor([10, 6, 3, 1]), 512)
    assert counts[0] is None  # fraction 1: keeps every token, selects nothing (fused attention stays)
    assert [c.tolist() for c in counts[1:] if c is not None] == [[6, 4, 2, 1], [3, 2, 1, 1]]


@pytest.mark.parametrize("kind", ["classification", "qa"])
def test_tokens_all_one_give_todays_logits(kind: str) -> None:
    model, batch = make_model(kind, num_hidden_layers=4), make_batch()
    plain = Arch(TOKENS.layers, TOKENS.heads, TOKENS.ffn)
    ones = Arch(TOKENS.layers, TOKENS.heads, TOKENS.ffn, tokens=(1.0, 1.0, 1.0))
    with torch.no_grad():  # both on the explicit softmax path
        ref = elastic_forward(model, plain, **batch, output_attention_probs=True)
        got = elastic_forward(model, ones, **batch, output_attention_probs=True)
    assert torch.allclose(_stack(got.logits), _stack(ref.logits), atol=1e-6, rtol=0)


def test_counts_come_from_each_examples_real_length() -> None:
    """Padding never counts as kept: example b keeps ceil(t * n_b) tokens, n_b its own length, and a padded
    batch computes what each example computes alone, unpadded."""
    model, batch = make_model("classification", num_hidden_layers=4), make_batch()  # lengths 10, 6, 3
    with torch.no_grad():
        out = elastic_forward(model, TOKENS, **batch)
        assert out.kept_indices is not None and out.kept_indices[0] is None
        kept = [(k >= 0).sum(-1).tolist() for k in out.kept_indices[1:] if k is not None]
        assert kept == [
            [6, 4, 2],
            [3, 2, 1],
        ]  # 0.6 -> 6, ceil(3.6), ceil(1.8); 0.3 -> 3, ceil(1.8), ceil(0.9)
        for b, n in enumerate(batch["attention_mask"].sum(-1).tolist()):
            alone = {k: v[b : b + 1, :n] for k, v in batch.items()}
            assert torch.allclose(elastic_forward(model, TOKENS, **alone).logits[0], out.logits[b], atol=ATOL)
        plain = elastic_forward(model, Arch(TOKENS.layers, TOKENS.heads, TOKENS.ffn), **batch).logits
    assert not torch.allclose(out.logits, plain, atol=1e-3)  # the selection changed the outputs


def _hand_layer(shift: float) -> LayerWeights:
    """A layer (d=3, one head of 3, 1 FFN neuron) whose attention ranks keys by their first feature and whose
    output is LN(x) + shift (V and both output projections are zero, so only the LayerNorms act)."""
    zero = torch.zeros(3, 3)
    return LayerWeights(
        q_weight=zero, q_bias=torch.tensor([4.0, 0.0, 0.0]), k_weight=torch.eye(3), k_bias=torch.zeros(3),
        v_weight=zero, v_bias=torch.zeros(3), attn_out_weight=zero, attn_out_bias=torch.zeros(3),
        attn_ln_weight=torch.ones(3), attn_ln_bias=torch.zeros(3), ffn_in_weight=torch.zeros(1, 3),
        ffn_in_bias=torch.zeros(1), ffn_out_weight=torch.zeros(3, 1), ffn_out_bias=torch.zeros(3),
        ffn_ln_weight=torch.ones(3), ffn_ln_bias=torch.full((3,), shift), num_heads=1, head_dim=3,
        activation=F.gelu,
    )  # fmt: skip


def _normalised(first: float) -> list[float]:
    """A 3-vector with mean 0 and variance 1 (LayerNorm leaves it as is) whose first feature is `first`."""
    theta = math.acos(first / math.sqrt(2))
    return [math.sqrt(2) * math.cos(theta + k * 2 * math.pi / 3) for k in (0, 1, 2)]


def test_two_layer_selection_and_restore_by_hand() -> None:
    """Layer 0 outputs x + 10 on the tokens it keeps, layer 1 x + 20; significance ranks tokens by x[0].

    Example 0 (5 tokens, first features -1.2, 0.5, 1.3, -0.4, 0.9), tokens (0.6, 0.4): layer 0 keeps ceil(3.0)=3
    = [CLS] + positions 2, 4; layer 1 keeps ceil(2.0)=2 = [CLS] + 2. Restored: 0 and 2 hold layer 1's x + 20,
    4 holds layer 0's x + 10, 1 and 3 the embeddings x. Example 1 (3 real tokens; its padding has the largest
    first feature and is never chosen): ceil(1.8)=2 and ceil(1.2)=2 keep [CLS] + 2 at both layers; 1 holds x.
    """
    firsts = [[-1.2, 0.5, 1.3, -0.4, 0.9], [-1.2, -1.0, 0.2, 1.4, 1.4]]
    x = torch.tensor([[_normalised(f) for f in row] for row in firsts])  # (B=2, L=5, d=3)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    counts = token_counts_for_lengths((0.6, 0.4), mask.sum(-1), 512)
    out = encoder_forward(x, [_hand_layer(10.0), _hand_layer(20.0)], mask, token_counts=counts, restore=True)
    assert out.kept_indices is not None
    assert [k.tolist() for k in out.kept_indices if k is not None] == [
        [[0, 2, 4], [0, 2, -1]],
        [[0, 2], [0, 2]],
    ]
    source = [[20, 0, 20, 0, 10], [20, 0, 20, 0, 0]]  # what each restored position adds to its embedding
    want = x + torch.tensor(source, dtype=torch.float32)[..., None]  # (B, L, d)
    assert torch.allclose(out.last_hidden_state[0], want[0], atol=ATOL)
    assert torch.allclose(out.last_hidden_state[1, :3], want[1, :3], atol=ATOL)  # real tokens only
    assert torch.equal(out.attention_mask, mask)
    compact = encoder_forward(x, [_hand_layer(10.0), _hand_layer(20.0)], mask, token_counts=counts)
    assert compact.last_hidden_state.shape == (2, 2, 3)  # without restore: the kept tokens only


@pytest.mark.parametrize("kind", ["classification", "qa"])
def test_restored_outputs_put_kept_states_at_their_positions(kind: str) -> None:
    model, batch = make_model(kind, num_hidden_layers=4), make_batch()
    with torch.no_grad():
        full = elastic_forward(model, TOKENS, **batch, output_hidden_states=True)
        compact = elastic_forward(model, TOKENS, **batch, output_hidden_states=True, restore_tokens=False)
    assert (
        full.kept_indices is not None and compact.hidden_states is not None and full.hidden_states is not None
    )
    last = full.kept_indices[-1]  # (B, K): original positions of the last layer's tokens
    assert last is not None and full.last_hidden_state.shape == (3, 10, 32)
    for b in range(3):  # per example, for the check only
        slots = last[b] >= 0
        got = full.last_hidden_state[b, last[b][slots]]
        assert torch.allclose(got, compact.last_hidden_state[b, slots], atol=1e-6)
        real = range(int(batch["attention_mask"][b].sum()))
        dropped_by_1 = [j for j in real if j not in full.kept_indices[1][b]]
        # a token layer 1 (the first selecting layer) dropped keeps layer 0's output
        assert torch.allclose(full.last_hidden_state[b, dropped_by_1], full.hidden_states[1][b, dropped_by_1])
    if kind == "qa":
        start = _stack(full.logits)[0]  # (B, L): the span head on every restored position
        assert start.shape == (3, 10)
        assert torch.allclose(start, model.qa_outputs(full.last_hidden_state)[..., 0], atol=1e-6)
    else:
        assert torch.allclose(_stack(full.logits), _stack(compact.logits), atol=1e-6)  # [CLS] either way
    assert torch.equal(full.attention_mask, batch["attention_mask"])
    with torch.no_grad():  # without hidden states the last state is restored alone (`restore_last`): the same
        alone = elastic_forward(model, TOKENS, **batch)
    assert torch.equal(alone.last_hidden_state, full.last_hidden_state)


def test_restore_last_equals_the_last_of_every_layer_restored() -> None:
    """Selections from layer 1 on (layer 0 keeps all), padding slots (-1) never written."""
    states = [torch.randn(2, 5, 3), torch.randn(2, 5, 3), torch.randn(2, 3, 3), torch.randn(2, 2, 3)]
    kept = [None, torch.tensor([[0, 3, 4], [0, 1, -1]]), torch.tensor([[0, 4], [0, -1]])]
    every = restore_tokens(states, kept)
    assert torch.equal(restore_last(states, kept), every[-1])
    assert torch.equal(every[-1][1, 1], states[2][1, 1]) and torch.equal(every[-1][0, 3], states[2][0, 1])


@pytest.mark.parametrize("head", ["classification", "qa"])
@pytest.mark.parametrize(
    "arch",
    [TOKENS, Arch((0, 1, 2, 3), (4, 2, 4, 1), (64, 16, 64, 8), tokens=(0.75, 0.5, 0.5, 0.2))],
    ids=lambda a: a.id,
)
def test_token_dropping_flops_match_pytorch_flop_counter(arch: Arch, head: str) -> None:
    model = make_model("classification" if head == "classification" else "qa", num_hidden_layers=4)
    ids = torch.randint(5, 60, (1, 17))  # 17: the fractions round up (ceil(12.75), ceil(8.5), ceil(3.4))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        elastic_forward(model, arch, ids, output_attention_scores=True)  # explicit path (no SDPA formula)
    analytic = count_flops(arch, model.config, seq_len=17, num_labels=3, head=head)
    assert analytic.flops == counter.get_total_flops()
    full = count_flops(Arch(arch.layers, arch.heads, arch.ffn), model.config, 17, 3, head)
    assert analytic.flops < full.flops


def test_flops_per_example_price_each_real_length() -> None:
    model, batch = make_model("classification", num_hidden_layers=4), make_batch()  # lengths 10, 6, 3
    lengths = batch["attention_mask"].sum(-1).tolist()
    priced = flops_per_example(TOKENS, model.config, lengths, num_labels=3)
    assert [p.seq_len for p in priced] == [10, 6, 3]
    for b, (n, p) in enumerate(zip(lengths, priced, strict=True)):
        alone = {k: v[b : b + 1, :n] for k, v in batch.items()}
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            elastic_forward(model, TOKENS, **alone, output_attention_scores=True)
        assert p.flops == counter.get_total_flops()
    with pytest.raises(ModelError, match="length below 1"):
        flops_per_example(TOKENS, tiny_bert_config(num_hidden_layers=4), [3, 0])


def test_layers_that_select_nothing_keep_the_fused_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fraction-1 layers (and Archs without tokens) run SDPA; only selecting layers take the explicit softmax."""
    calls = []
    fused = F.scaled_dot_product_attention

    def counting(*args: object, **kwargs: object) -> Tensor:
        calls.append(1)
        return fused(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(F, "scaled_dot_product_attention", counting)
    model, batch = make_model("classification", num_hidden_layers=4), make_batch()
    with torch.no_grad():
        elastic_forward(model, TOKENS, **batch)  # tokens (1.0, 0.6, 0.3): layer 0 selects nothing
        assert len(calls) == 1
        elastic_forward(model, Arch(TOKENS.layers, TOKENS.heads, TOKENS.ffn, tokens=(1.0, 1.0, 1.0)), **batch)
        assert len(calls) == 1 + 3
        repeated = Arch(TOKENS.layers, TOKENS.heads, TOKENS.ffn, tokens=(0.6, 0.6, 0.3))  # layer 1 keeps what it gets
        elastic_forward(model, repeated, **batch)
        assert len(calls) == 1 + 3 + 1
    assert token_counts_for_lengths((1.0, 0.6, 0.6, 0.3), torch.tensor([7]), 16)[::2] == [None, None]


def test_chunked_ranking_equals_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without gradients the ranking attention runs a chunk of examples at a time (here one): the same
    span logits (over the restored states) and kept tokens as the one-pass explicit softmax run with gradients."""
    model, batch = make_model("qa", num_hidden_layers=4), make_batch()
    model.eval()
    one_pass = elastic_forward(model, TOKENS, **batch)
    monkeypatch.setattr(elastic, "CHUNK_ELEMENTS", 1)
    with torch.no_grad():
        chunked = elastic_forward(model, TOKENS, **batch)
    assert torch.allclose(_stack(one_pass.logits), _stack(chunked.logits), atol=1e-6)
    assert one_pass.kept_indices is not None and chunked.kept_indices is not None
    for a, b in zip(one_pass.kept_indices, chunked.kept_indices, strict=True):
        assert (a is None and b is None) or torch.equal(a, b)


def test_token_dropping_trains() -> None:
    """Training mode (dropout) backpropagates through selection and restore into the kept slices."""
    model = make_model("qa", num_hidden_layers=4).train()
    out = elastic_forward(model, TOKENS, **make_batch())
    (_stack(out.logits) ** 2).mean().backward()
    grads = [model.bert.encoder.layer[i].output.dense.weight.grad for i in TOKENS.layers]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    assert model.bert.encoder.layer[1].output.dense.weight.grad is None  # a dropped layer
