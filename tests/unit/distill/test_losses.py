"""Distillation losses against hand computations in numpy / plain math (never the torch code under test)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from raydistill.distill import losses as L
from raydistill.errors import ModelError, SpecError


def t(x: object, grad: bool = False) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64, requires_grad=grad)


def np_softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


S = [[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]]  # student logits (B=2, C=3)
T_ = [[3.0, 1.0, 0.0], [0.0, 0.0, 1.0]]  # teacher logits


# ---------------------------------------------------------------- registry


def test_registry_lookup_and_unknown_name_lists_valid_ones() -> None:
    assert L.get_loss("soft_cross_entropy") is L.soft_cross_entropy
    assert {"kl_divergence", "attention_mse", "pkd_loss", "dynabert_loss", "hidden_mse"} <= set(L.LOSSES)
    with pytest.raises(SpecError, match="unknown loss 'soft_ce'.*kl_divergence"):
        L.get_loss("soft_ce")
    with pytest.raises(ValueError, match="already registered"):
        L.register_loss("hidden_mse")(lambda: None)


# ---------------------------------------------------------------- logit losses


@pytest.mark.parametrize("temp", [1.0, 2.0])
def test_soft_ce_matches_hand_computation_sum_over_classes_mean_over_batch(temp: float) -> None:
    s, tt = np.array(S), np.array(T_)
    per_row = -(np_softmax(tt / temp) * np.log(np_softmax(s / temp))).sum(axis=1)  # both divided by T
    got = L.soft_cross_entropy(t(S), t(T_), temperature=temp)
    assert got.item() == pytest.approx(per_row.mean(), rel=1e-12)


def test_soft_ce_is_not_divided_by_class_count() -> None:
    # uniform teacher and student over C=4 classes: -sum_c 1/4 log 1/4 = log 4 (the 1/C bug would give log(4)/4)
    assert L.soft_cross_entropy(torch.zeros(3, 4), torch.zeros(3, 4)).item() == pytest.approx(math.log(4))


def test_soft_ce_of_identical_logits_is_the_entropy() -> None:
    z = [[0.0, math.log(3.0)]]  # p = [1/4, 3/4]
    entropy = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert L.soft_cross_entropy(t(z), t(z)).item() == pytest.approx(entropy, rel=1e-12)


def test_soft_ce_gradient_is_p_s_minus_p_t_over_batch_and_temperature() -> None:
    temp, s = 2.0, t(S, grad=True)
    L.soft_cross_entropy(s, t(T_), temperature=temp).backward()
    expected = (np_softmax(np.array(S) / temp) - np_softmax(np.array(T_) / temp)) / (2 * temp)
    np.testing.assert_allclose(s.grad.numpy(), expected, rtol=1e-10)


def test_kl_is_forward_teacher_to_student() -> None:
    teacher, student = [[0.0, 0.0]], [[0.0, math.log(3.0)]]  # p_t = [.5, .5], p_s = [.25, .75]
    forward = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)  # KL(p_t || p_s)
    reverse = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)  # KL(p_s || p_t), LAT's order
    got = L.kl_divergence(t(student), t(teacher)).item()
    assert got == pytest.approx(forward, rel=1e-12)
    assert abs(got - reverse) > 1e-3


def test_kl_hand_value_identical_is_zero_and_equals_soft_ce_minus_teacher_entropy() -> None:
    temp = 3.0
    p_t, p_s = np_softmax(np.array(T_) / temp), np_softmax(np.array(S) / temp)
    expected = (p_t * np.log(p_t / p_s)).sum(axis=1).mean()
    assert L.kl_divergence(t(S), t(T_), temp).item() == pytest.approx(expected, rel=1e-12)
    assert L.kl_divergence(t(S), t(S), temp).item() == pytest.approx(0.0, abs=1e-12)
    h_t = -(p_t * np.log(p_t)).sum(axis=1).mean()
    assert L.soft_cross_entropy(t(S), t(T_), temp).item() - h_t == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("fn", [L.soft_cross_entropy, L.kl_divergence])
def test_t2_scaling(fn: object) -> None:
    plain = fn(t(S), t(T_), 4.0)  # type: ignore[operator]
    scaled = fn(t(S), t(T_), 4.0, scale_by_t2=True)  # type: ignore[operator]
    assert scaled.item() == pytest.approx(16.0 * plain.item(), rel=1e-12)


def test_bad_temperature_and_shape_mismatch_raise() -> None:
    with pytest.raises(SpecError, match="temperature=0"):
        L.soft_cross_entropy(t(S), t(T_), temperature=0.0)
    with pytest.raises(ModelError, match=r"student shape \(2, 3\) != teacher shape \(2, 2\)"):
        L.kl_divergence(t(S), t([[1.0, 2.0], [3.0, 4.0]]))


def test_regression_mse_does_not_broadcast_b1_against_b() -> None:
    got = L.regression_mse(t([[1.0], [2.0], [3.0]]), t([1.5, 2.0, 5.0]))
    assert got.item() == pytest.approx((0.25 + 0.0 + 4.0) / 3)  # a (3, 3) broadcast would give another value
    with pytest.raises(ModelError):
        L.regression_mse(t([1.0, 2.0]), t([1.0, 2.0, 3.0]))


# ---------------------------------------------------------------- representation losses

RNG = np.random.default_rng(0)
SH = [RNG.normal(size=(2, 3, 4)) for _ in range(2)]  # student hiddens (B, L, H=4)
TH = [RNG.normal(size=(2, 3, 4)) for _ in range(3)]  # teacher hidden_states (emb, layer 1, layer 2)


def test_hidden_mse_sums_layer_means_over_the_map() -> None:
    expected = ((SH[0] - TH[0]) ** 2).mean() + ((SH[1] - TH[2]) ** 2).mean()
    got = L.hidden_mse([t(h) for h in SH], [t(h) for h in TH], [0, 2])
    assert got.item() == pytest.approx(expected, rel=1e-12)


def test_hidden_and_embedding_mse_with_projection() -> None:
    proj = nn.Linear(4, 5).double()
    w, b = RNG.normal(size=(5, 4)), RNG.normal(size=5)
    with torch.no_grad():
        proj.weight.copy_(torch.from_numpy(w))
        proj.bias.copy_(torch.from_numpy(b))
    th5 = [RNG.normal(size=(2, 3, 5)) for _ in range(2)]
    expected = ((SH[0] @ w.T + b - th5[1]) ** 2).mean()
    got = L.hidden_mse([t(SH[0])], [t(h) for h in th5], [1], projection=proj)
    assert got.item() == pytest.approx(expected, rel=1e-12)
    emb = L.embedding_mse(t(SH[1]), t(th5[0]), projection=proj)
    assert emb.item() == pytest.approx(((SH[1] @ w.T + b - th5[0]) ** 2).mean(), rel=1e-12)
    with pytest.raises(ModelError, match="projection=nn.Linear"):
        L.embedding_mse(t(SH[1]), t(th5[0]))


def test_hidden_mse_rejects_bad_maps() -> None:
    sh, th = [t(h) for h in SH], [t(h) for h in TH]
    with pytest.raises(ModelError, match="2 entries for 1 student"):
        L.hidden_mse(sh[:1], th, [0, 2])
    with pytest.raises(ModelError, match=r"\[3\] are outside 0..2"):
        L.hidden_mse(sh, th, [1, 3])


def _attn_inputs(masked: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    mask = np.array([[1, 1, 0], [1, 1, 1]])  # (B=2, L=3): sequence 0 has one padding token
    s, tt = rng.normal(size=(2, 2, 3, 3)), rng.normal(size=(2, 2, 3, 3))  # (B, h, Lq, Lk)
    s[0, :, :, 2] = tt[0, :, :, 2] = masked  # the additive key-padding mask
    return s, tt, mask


def test_attention_mse_hand_value_counts_only_valid_pairs() -> None:
    s, tt, mask = _attn_inputs(-1e4)
    sq = (s - tt) ** 2
    expected = (sq[0, :, :2, :2].sum() + sq[1].sum()) / (2 * (4 + 9))  # h=2 heads x valid (q, k) pairs
    got = L.attention_mse(t(s), t(tt), torch.tensor(mask))
    assert got.item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("masked", [-1e4, float("-inf"), float(np.finfo(np.float64).min), 123.0])
def test_attention_mse_masked_positions_do_not_contribute(masked: float) -> None:
    ref = L.attention_mse(*(t(x) for x in _attn_inputs(-1e4)[:2]), torch.tensor(_attn_inputs(0)[2])).item()
    s, tt, mask = _attn_inputs(masked)
    s[0, :, 2, :] += 7.0  # the padding query's row is excluded as well
    st = t(s, grad=True)
    got = L.attention_mse(st, t(tt), torch.tensor(mask))
    got.backward()
    assert math.isfinite(got.item()) and got.item() == pytest.approx(ref, rel=1e-12)
    assert torch.isfinite(st.grad).all()
    assert (st.grad[0, :, 2, :] == 0).all() and (st.grad[0, :, :, 2] == 0).all()


def test_attention_mse_without_mask_is_plain_mse_and_needs_equal_heads() -> None:
    s, tt, _ = _attn_inputs(0.5)
    assert L.attention_mse(t(s), t(tt)).item() == pytest.approx(((s - tt) ** 2).mean(), rel=1e-12)
    with pytest.raises(ModelError, match="2 attention heads and the teacher 4"):
        L.attention_mse(t(s), torch.zeros(2, 4, 3, 3, dtype=torch.float64))


@pytest.mark.parametrize(
    "call",
    [
        lambda s, tt: L.soft_cross_entropy(s, tt, 2.0),
        lambda s, tt: L.kl_divergence(s, tt, 2.0),
        lambda s, tt: L.regression_mse(s, tt),
        lambda s, tt: L.hidden_mse([s], [tt], [0]),
        lambda s, tt: L.embedding_mse(s, tt),
        lambda s, tt: L.patient_loss([s], [tt]),
        lambda s, tt: L.dynabert_loss(
            s, tt, [s], [tt], [0], embedding_weight=1.0, student_emb=s, teacher_emb=tt
        )[0],
    ],
)
def test_gradients_never_reach_the_teacher(call: object) -> None:
    s, tt = t(S, grad=True), t(T_, grad=True)
    call(s, tt).backward()  # type: ignore[operator]
    assert s.grad is not None and tt.grad is None


def test_attention_gradient_never_reaches_the_teacher() -> None:
    s, tt, mask = _attn_inputs(-1e4)
    st, tt_ = t(s, grad=True), t(tt, grad=True)
    L.attention_mse(st, tt_, torch.tensor(mask)).backward()
    assert st.grad is not None and tt_.grad is None


# ---------------------------------------------------------------- Patient-KD


def test_patient_loss_is_squared_l2_of_unit_vectors_mean_over_batch_sum_over_layers() -> None:
    # [3,4]/5 - [1,0] = [-.4, .8] -> .16 + .64 = .8 ; [0,2] vs [5,0]: orthogonal unit vectors -> 2
    layer1 = L.patient_loss([t([[3.0, 4.0], [0.0, 2.0]])], [t([[1.0, 0.0], [5.0, 0.0]])])
    assert layer1.item() == pytest.approx((0.8 + 2.0) / 2)
    same_direction = [t([[1.0, 1.0], [2.0, -1.0]])], [t([[10.0, 10.0], [0.2, -0.1]])]
    assert L.patient_loss(*same_direction).item() == pytest.approx(0.0, abs=1e-12)  # scale-invariant
    two = L.patient_loss([t([[3.0, 4.0]]), t([[0.0, 2.0]])], [t([[1.0, 0.0]]), t([[5.0, 0.0]])])
    assert two.item() == pytest.approx(0.8 + 2.0)
    with pytest.raises(ModelError, match="1 student vs 2 teacher"):
        L.patient_loss([t([[1.0]])], [t([[1.0]]), t([[1.0]])])


def test_pkd_loss_hand_value() -> None:
    a, b, temp, labels = 0.5, 10.0, 2.0, [2, 0]
    s, tt = np.array(S), np.array(T_)
    ce = -np.log(np_softmax(s)[[0, 1], labels]).mean()  # hard CE at T = 1
    p_t, p_s = np_softmax(tt / temp), np_softmax(s / temp)  # student logits divided by T too
    kd = temp**2 * (p_t * np.log(p_t / p_s)).sum(axis=1).mean()
    patient = (0.8 + 2.0) / 2
    total, parts = L.pkd_loss(
        t(S),
        t(T_),
        torch.tensor(labels),
        [t([[3.0, 4.0], [0.0, 2.0]])],
        [t([[1.0, 0.0], [5.0, 0.0]])],
        a,
        b,
        temp,
    )
    assert total.item() == pytest.approx((1 - a) * ce + a * kd + b * patient, rel=1e-12)
    assert parts == pytest.approx({"ce": ce, "kd": kd, "patient": patient, "total": total.item()})
    kd_only, parts = L.pkd_loss(t(S), t(T_), torch.tensor(labels), [], [], 1.0, 0.0, temp)
    assert kd_only.item() == pytest.approx(kd, rel=1e-12) and "patient" not in parts
    with pytest.raises(SpecError, match="alpha=1.5"):
        L.pkd_loss(t(S), t(T_), torch.tensor(labels), [], [], 1.5, 0.0, temp)


def test_six_to_two_student_losses_hand_values() -> None:
    """A 6-layer teacher and a 2-layer student (k = 3): TinyBERT attention over layers 2, 5 and hidden over
    hidden_states 0, 3, 6; PKD-skip on teacher layer 3, PKD-last on layer 5; numpy on the same arrays."""
    from raydistill.distill import mapping as M

    rng = np.random.default_rng(6)
    mask = np.array([[1, 1, 1, 0], [1, 1, 1, 1]])  # (B=2, L=4)
    t_att = [rng.normal(size=(2, 2, 4, 4)) for _ in range(6)]  # teacher scores per layer (B, h, L, L)
    s_att = [rng.normal(size=(2, 2, 4, 4)) for _ in range(2)]
    valid = (mask[:, None, :, None] * mask[:, None, None, :]).astype(bool)  # (B, 1, L, L)
    valid = np.broadcast_to(valid, (2, 2, 4, 4))
    expected_att = sum(((s_att[m] - t_att[j]) ** 2)[valid].mean() for m, j in enumerate([2, 5]))
    att_map = M.tinybert_attention_map(6, 2)
    got_att = sum(
        L.attention_mse(t(s_att[m]), t(t_att[j]), torch.tensor(mask)) for m, j in enumerate(att_map)
    )
    assert got_att.item() == pytest.approx(expected_att, rel=1e-12)  # type: ignore[union-attr]

    t_hid = [rng.normal(size=(2, 4, 3)) for _ in range(7)]  # emb + 6 layers (B, L, H)
    s_hid = [rng.normal(size=(2, 4, 3)) for _ in range(3)]  # emb + 2 layers
    expected_hid = sum(((s_hid[i] - t_hid[j]) ** 2).mean() for i, j in enumerate([0, 3, 6]))
    got_hid = L.hidden_mse([t(h) for h in s_hid], [t(h) for h in t_hid], M.tinybert_hidden_map(6, 2))
    assert got_hid.item() == pytest.approx(expected_hid, rel=1e-12)

    def unit(x: np.ndarray) -> np.ndarray:
        return x / np.linalg.norm(x, axis=-1, keepdims=True)

    s_cls = s_hid[1][:, 0]  # the student's one intermediate layer, (B, H)
    for fn, layer in ((M.pkd_skip_map, 3), (M.pkd_last_map, 5)):
        expected = ((unit(s_cls) - unit(t_hid[layer][:, 0])) ** 2).sum(axis=-1).mean()
        got = L.patient_loss([t(s_cls)], [t(t_hid[i][:, 0]) for i in fn(6, 2)])
        assert got.item() == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------- DynaBERT composition


def test_dynabert_loss_hand_value_and_parts() -> None:
    s, tt = np.array(S), np.array(T_)
    soft_ce = -(np_softmax(tt) * np.log(np_softmax(s))).sum(axis=1).mean()
    hidden = ((SH[0] - TH[1]) ** 2).mean() + ((SH[1] - TH[2]) ** 2).mean()
    emb = ((SH[0] - TH[0]) ** 2).mean()
    total, parts = L.dynabert_loss(
        t(S),
        t(T_),
        [t(h) for h in SH],
        [t(h) for h in TH],
        [1, 2],
        logits_weight=1.0,
        hidden_weight=0.1,
        embedding_weight=2.0,
        student_emb=t(SH[0]),
        teacher_emb=t(TH[0]),
    )
    assert total.item() == pytest.approx(soft_ce + 0.1 * hidden + 2.0 * emb, rel=1e-12)
    assert parts == pytest.approx(
        {"logits": soft_ce, "hidden": hidden, "embedding": emb, "total": total.item()}
    )
    assert all(isinstance(v, float) for v in parts.values())


def test_dynabert_loss_zero_weights_skip_terms_and_regression_uses_mse() -> None:
    total, parts = L.dynabert_loss(t([[1.0], [3.0]]), t([[2.0], [1.0]]), hidden_weight=0.0, regression=True)
    assert total.item() == pytest.approx((1.0 + 4.0) / 2) and set(parts) == {"logits", "total"}
    with pytest.raises(ModelError, match="student_emb and teacher_emb"):
        L.dynabert_loss(t(S), t(T_), hidden_weight=0.0, embedding_weight=1.0)
