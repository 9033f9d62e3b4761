"""Distillation losses (KD, Patient-KD, TinyBERT, DynaBERT, LAT) and their registry.

Methods (`distill.methods`) look the losses they use up by name (`get_loss("logit_distill")`), so a method that
lets its losses be chosen by name and the ones it hard-codes read the same.

Conventions shared by every loss here:
- The teacher side is always detached: no gradient ever reaches the teacher.
- Logit losses SUM over the class (last) axis and take the MEAN over every leading axis (batch, and tokens for
  token-level logits). Representation losses are element-wise MSE means.
- Composite losses (`pkd_loss`, `dynabert_loss`) return `(total, parts)`; `parts` holds detached python floats
  of each term as it enters the formula before its weight, plus "total", for logging.
- Incompatible student/teacher tensors raise `ModelError`; bad scalar arguments raise `SpecError`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from raydistill.errors import ModelError, SpecError

_Fn = TypeVar("_Fn", bound=Callable[..., Any])

LOSSES: dict[str, Callable[..., Any]] = {}


def register_loss(name: str) -> Callable[[_Fn], _Fn]:
    """Decorator: register a loss function under `name` (adding a loss = a function + this line)."""

    def deco(fn: _Fn) -> _Fn:
        if name in LOSSES:
            raise ValueError(
                f"loss {name!r} is already registered by {LOSSES[name].__qualname__}; pick another name"
            )
        LOSSES[name] = fn
        return fn

    return deco


def get_loss(name: str) -> Callable[..., Any]:
    """The registered loss called `name`; an unknown name raises SpecError listing the valid ones."""
    if name not in LOSSES:
        raise SpecError(f"unknown loss {name!r}; valid losses are: {', '.join(sorted(LOSSES))}")
    return LOSSES[name]


def _check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise SpecError(f"temperature={temperature} must be > 0 (1.0 = no softening)")


def _check_same_shape(what: str, student: Tensor, teacher: Tensor) -> None:
    if student.shape != teacher.shape:
        raise ModelError(
            f"{what}: student shape {tuple(student.shape)} != teacher shape {tuple(teacher.shape)}; "
            "student and teacher must produce outputs of the same shape (same task head, same batch)"
        )


@register_loss("soft_cross_entropy")
def soft_cross_entropy(
    student_logits: Tensor, teacher_logits: Tensor, temperature: float = 1.0, scale_by_t2: bool = False
) -> Tensor:
    """Soft cross-entropy against the teacher's softened distribution (DynaBERT eq. 2, TinyBERT eq. 10).

    L = -1/B sum_b sum_c p_t^T[b, c] log p_s^T[b, c],  p^T = softmax(z / T); both logits are divided by T.
    The TinyBERT reference averaged over classes as well, which scales the loss by 1/C (their issue #176);
    we sum over classes.

    Args:
        student_logits: (..., C) student logits.
        teacher_logits: (..., C) teacher logits (detached here).
        temperature: T > 0.
        scale_by_t2: multiply by T^2 (Hinton et al.) so gradient magnitudes do not shrink as 1/T^2 (PKD).

    Returns:
        Scalar loss.
    """
    _check_temperature(temperature)
    _check_same_shape("soft_cross_entropy", student_logits, teacher_logits)
    log_p_s = F.log_softmax(student_logits / temperature, dim=-1)  # (..., C)
    p_t = F.softmax(teacher_logits.detach() / temperature, dim=-1)  # (..., C)
    loss = -(p_t * log_p_s).sum(dim=-1).mean()
    return loss * temperature**2 if scale_by_t2 else loss


@register_loss("kl_divergence")
def kl_divergence(
    student_logits: Tensor, teacher_logits: Tensor, temperature: float = 1.0, scale_by_t2: bool = False
) -> Tensor:
    """Forward KL(p_t^T || p_s^T) = sum_c p_t log(p_t / p_s), summed over classes, mean over the rest.

    Used for LengthDrop sub-models against the detached full model (LAT sec. 3.2, inplace distillation) and for
    the PKD soft term. Direction: we use KL(teacher || student), the standard KD direction whose gradient equals
    that of `soft_cross_entropy` (they differ by the teacher entropy, a constant). LAT's reference passes its
    arguments in the order that computes KL(p_sub || p_full), the mode-seeking reverse KL; we do not follow it so
    that every logit loss in raydistill has the same target and the same gradient.

    Args:
        student_logits: (..., C) sub-model / student logits.
        teacher_logits: (..., C) full-model / teacher logits (detached here).
        temperature: T > 0, applied to both.
        scale_by_t2: multiply by T^2 (Hinton et al.).

    Returns:
        Scalar loss (0 when the distributions are equal).
    """
    _check_temperature(temperature)
    _check_same_shape("kl_divergence", student_logits, teacher_logits)
    log_p_s = F.log_softmax(student_logits / temperature, dim=-1)  # (..., C)
    log_p_t = F.log_softmax(teacher_logits.detach() / temperature, dim=-1)  # (..., C)
    loss = (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim=-1).mean()
    return loss * temperature**2 if scale_by_t2 else loss


def _squeeze_last(x: Tensor) -> Tensor:
    """(B, 1) -> (B,), so that a (B, 1) head never broadcasts against (B,) targets into (B, B)."""
    return x.squeeze(-1) if x.dim() > 1 and x.shape[-1] == 1 else x


@register_loss("regression_mse")
def regression_mse(student: Tensor, teacher: Tensor) -> Tensor:
    """mean_b (y_s - y_t)^2 on (B,) or (B, 1) regression outputs, teacher detached (STS-B; TinyBERT sec. 3.1).

    DynaBERT and TinyBERT use this instead of soft CE for regression tasks.
    """
    s, t = _squeeze_last(student), _squeeze_last(teacher.detach())  # (B,)
    _check_same_shape("regression_mse", s, t)
    return F.mse_loss(s, t)


@register_loss("logit_distill")
def logit_distill_loss(
    student: Any, teacher: Any, kind: str, temperature: float = 1.0, scale_by_t2: bool = False
) -> Tensor:
    """Prediction-layer distillation per head kind: softCE(z_s, z_t; T) (DynaBERT eq. 2; with `scale_by_t2`,
    Hinton et al. 2015 eq. 2's T^2 softCE) on (B, C) logits; `regression_mse` (no temperature) for regression;
    the mean of the start and end soft CEs (each over the (B, L) sequence axis) for QA's (start, end) pairs."""
    if kind == "regression":
        return regression_mse(student, teacher)
    if kind == "qa":
        (s_start, s_end), (t_start, t_end) = student, teacher  # (B, L) each
        return (
            soft_cross_entropy(s_start, t_start, temperature, scale_by_t2)
            + soft_cross_entropy(s_end, t_end, temperature, scale_by_t2)
        ) / 2
    return soft_cross_entropy(student, teacher, temperature, scale_by_t2)  # (B, C)


def _projected_mse(student: Tensor, teacher: Tensor, projection: nn.Module | None, what: str) -> Tensor:
    """MSE(W s, t) over all elements, W = projection or identity (TinyBERT eq. 8/9)."""
    s = projection(student) if projection is not None else student  # (B, L, H_t)
    if s.shape != teacher.shape:
        raise ModelError(
            f"{what}: student {tuple(s.shape)} vs teacher {tuple(teacher.shape)} after projection; when the "
            "hidden sizes differ pass projection=nn.Linear(student_hidden, teacher_hidden) (TinyBERT W_h / W_e)"
        )
    return F.mse_loss(s, teacher.detach())


@register_loss("hidden_mse")
def hidden_mse(
    student_hiddens: Sequence[Tensor],
    teacher_hiddens: Sequence[Tensor],
    layer_map: Sequence[int],
    projection: nn.Module | None = None,
) -> Tensor:
    """Sum over mapped layers of MSE(h_s W_h, h_t) (TinyBERT eq. 8; DynaBERT eq. 3 hidden term).

    Args:
        student_hiddens: the student hidden states to distil, each (B, L, H_s).
        teacher_hiddens: the teacher's full `hidden_states` tuple, each (B, L, H_t); [0] = embeddings.
        layer_map: layer_map[i] = index into `teacher_hiddens` for `student_hiddens[i]` (see `mapping.py`).
        projection: learned W_h (one module shared by all layers) when H_s != H_t.

    Returns:
        Scalar: sum over i of the element-wise mean squared error.
    """
    if len(layer_map) != len(student_hiddens) or not layer_map:
        raise ModelError(
            f"hidden_mse: layer_map has {len(layer_map)} entries for {len(student_hiddens)} student hidden "
            "states; give one teacher index per student hidden state (at least one)"
        )
    bad = [t for t in layer_map if not 0 <= t < len(teacher_hiddens)]
    if bad:
        raise ModelError(
            f"hidden_mse: teacher indices {bad} are outside 0..{len(teacher_hiddens) - 1} "
            f"({len(teacher_hiddens)} teacher hidden states); build the map for this teacher's layer count"
        )
    terms = [
        _projected_mse(s, teacher_hiddens[t], projection, f"hidden_mse student[{i}] vs teacher[{t}]")
        for i, (s, t) in enumerate(zip(student_hiddens, layer_map, strict=True))
    ]
    return torch.stack(terms).sum()


@register_loss("embedding_mse")
def embedding_mse(student_emb: Tensor, teacher_emb: Tensor, projection: nn.Module | None = None) -> Tensor:
    """MSE(E_s W_e, E_t) on the embedding-layer outputs (TinyBERT eq. 9).

    Args:
        student_emb: (B, L, H_s) student embedding output (`hidden_states[0]`).
        teacher_emb: (B, L, H_t) teacher embedding output (detached here).
        projection: learned W_e when H_s != H_t.
    """
    return _projected_mse(student_emb, teacher_emb, projection, "embedding_mse")


@register_loss("attention_mse")
def attention_mse(
    student_scores: Tensor, teacher_scores: Tensor, attention_mask: Tensor | None = None
) -> Tensor:
    """MSE of UNNORMALISED attention scores of one layer pair, padding excluded (TinyBERT eq. 7).

    L = 1/(h * n_valid) sum_{valid (b, q, k)} sum_heads (A_s - A_t)^2, where A are the scores after the additive
    mask and before softmax, and (b, q, k) is valid when both the query and the key are real tokens. Masked
    entries (-1e4, finfo.min or -inf) are zeroed on both sides before the difference, so they neither blow up
    the loss nor receive gradient. Deviations from the TinyBERT reference: it zeroes by value (scores <= -100,
    which also hides genuine large negative scores) and divides by every entry including padding, so its loss
    shrinks with the batch's padding; we use the mask and divide by the valid entries only.

    Args:
        student_scores: (B, h, L, L) student scores.
        teacher_scores: (B, h, L, L) teacher scores (detached here); the same head count h is required.
        attention_mask: (B, L) with 1 for real tokens and 0 for padding; None = no padding.

    Returns:
        Scalar loss.
    """
    if student_scores.dim() != 4 or teacher_scores.dim() != 4:
        raise ModelError(
            f"attention_mse: got scores of shapes {tuple(student_scores.shape)} and {tuple(teacher_scores.shape)};"
            " pass one layer's scores shaped (batch, heads, query, key)"
        )
    if student_scores.shape[1] != teacher_scores.shape[1]:
        raise ModelError(
            f"attention_mse: the student has {student_scores.shape[1]} attention heads and the teacher "
            f"{teacher_scores.shape[1]}; TinyBERT's attention loss needs equal head counts: use a student with "
            f"{teacher_scores.shape[1]} heads or set the attention loss weight to 0"
        )
    _check_same_shape("attention_mse", student_scores, teacher_scores)
    b, h, lq, lk = student_scores.shape
    if attention_mask is None:
        attention_mask = torch.ones(b, lk, dtype=torch.bool, device=student_scores.device)
    if lq != lk or attention_mask.shape != (b, lk):
        raise ModelError(
            f"attention_mse: attention_mask {tuple(attention_mask.shape)} does not fit scores "
            f"{tuple(student_scores.shape)}; expected self-attention scores and a (batch, seq_len) mask"
        )
    keep = attention_mask.bool()  # (B, L)
    valid = keep[:, None, :, None] & keep[:, None, None, :]  # (B, 1, Lq, Lk)
    s = torch.where(valid, student_scores, 0.0)  # (B, h, L, L)
    t = torch.where(valid, teacher_scores.detach(), 0.0)  # (B, h, L, L)
    n_valid = (valid.sum() * h).clamp_min(1)
    return (s - t).pow(2).sum() / n_valid


@register_loss("patient_loss")
def patient_loss(student_cls: Sequence[Tensor], teacher_cls: Sequence[Tensor]) -> Tensor:
    """PKD patient term: sum_j || h_s_j/|h_s_j|_2 - h_t_j/|h_t_j|_2 ||_2^2 (Patient-KD eq. 5).

    Squared L2 distance of the L2-normalised [CLS] vectors, summed over the hidden dim, averaged over the batch,
    summed over the mapped layers j. (The PaddleNLP reference took the mean over the hidden dim instead of the
    squared norm, which is why it needed beta=700.) The value lies in [0, 4] per layer.

    Args:
        student_cls: one (B, H) [CLS] vector per mapped student layer (see `mapping.pkd_skip_map`).
        teacher_cls: the (B, H) teacher [CLS] vectors of the mapped teacher layers, same order (detached here).
    """
    if len(student_cls) != len(teacher_cls) or not student_cls:
        raise ModelError(
            f"patient_loss: {len(student_cls)} student vs {len(teacher_cls)} teacher [CLS] layers; give the "
            "same non-zero number of layers on both sides (build them with mapping.pkd_skip_map/pkd_last_map)"
        )
    terms = []
    for j, (s, t) in enumerate(zip(student_cls, teacher_cls, strict=True)):
        _check_same_shape(f"patient_loss layer {j}", s, t)
        s_unit = F.normalize(s, p=2.0, dim=-1)  # (B, H)
        t_unit = F.normalize(t.detach(), p=2.0, dim=-1)  # (B, H)
        terms.append((s_unit - t_unit).pow(2).sum(dim=-1).mean())
    return torch.stack(terms).sum()


@register_loss("pkd_loss")
def pkd_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    labels: Tensor,
    student_cls: Sequence[Tensor],
    teacher_cls: Sequence[Tensor],
    alpha: float,
    beta: float,
    temperature: float,
) -> tuple[Tensor, dict[str, float]]:
    """Patient-KD objective (Patient-KD eq. 4/5, classification tasks).

    L = (1 - a) CE(y, p_s) + a T^2 KL(p_t^T || p_s^T) + b * patient_loss. The hard CE uses T = 1; the soft term
    divides BOTH student and teacher logits by T (the PaddleNLP reference left the student unscaled) and is
    scaled by T^2. The soft term uses KL instead of the paper's soft CE: same gradient, 0 at a perfect match.

    Args:
        student_logits: (B, C); teacher_logits: (B, C) (detached); labels: (B,) class ids.
        student_cls, teacher_cls: per-layer (B, H) [CLS] vectors for `patient_loss`; may be empty when beta == 0.
        alpha: a in [0, 1]; beta: b >= 0; temperature: T > 0 (paper grids: T 5/10/20, a 0.2/0.5/0.7).

    Returns:
        (total, parts) with parts "ce", "kd" (= T^2 KL), "patient" (only when beta > 0) and "total".
    """
    if not 0.0 <= alpha <= 1.0 or beta < 0:
        raise SpecError(f"pkd_loss: alpha={alpha}, beta={beta}; need 0 <= alpha <= 1 and beta >= 0")
    ce = F.cross_entropy(student_logits, labels)
    kd = kl_divergence(student_logits, teacher_logits, temperature, scale_by_t2=True)
    total = (1.0 - alpha) * ce + alpha * kd
    parts = {"ce": ce.item(), "kd": kd.item()}
    if beta > 0:
        patient = patient_loss(student_cls, teacher_cls)
        total = total + beta * patient
        parts["patient"] = patient.item()
    parts["total"] = total.item()
    return total, parts


@register_loss("dynabert_loss")
def dynabert_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    student_hiddens: Sequence[Tensor] = (),
    teacher_hiddens: Sequence[Tensor] = (),
    layer_map: Sequence[int] = (),
    *,
    logits_weight: float = 1.0,
    hidden_weight: float = 1.0,
    embedding_weight: float = 0.0,
    temperature: float = 1.0,
    student_emb: Tensor | None = None,
    teacher_emb: Tensor | None = None,
    regression: bool = False,
) -> tuple[Tensor, dict[str, float]]:
    """DynaBERT objective: l1 * softCE(logits) + l2 * sum_l MSE(h_s_l, h_t_map(l)) [+ l3 * MSE(emb)].

    DynaBERT eq. 2/3 (OFA-BERT: l1 = 1, l2 = 0.1). A term whose weight is 0 is skipped (not computed, not in
    parts). For regression tasks (`regression=True`) the logit term is `regression_mse` instead of soft CE.

    Args:
        student_logits, teacher_logits: (B, C), or (B, 1) with `regression=True`.
        student_hiddens: the student layer outputs to distil (e.g. `hidden_states[1:]`), each (B, L, H).
        teacher_hiddens: the teacher's full `hidden_states` tuple ([0] = embeddings).
        layer_map: teacher index per student hidden (e.g. `mapping.kept_layer_map(kept_layers)`).
        logits_weight, hidden_weight, embedding_weight: l1, l2, l3 >= 0; temperature: T of the soft CE.
        student_emb, teacher_emb: (B, L, H) embedding outputs, required when embedding_weight > 0.

    Returns:
        (total, parts) with the unweighted "logits", "hidden", "embedding" terms that were computed and "total".
    """
    weights = {"logits": logits_weight, "hidden": hidden_weight, "embedding": embedding_weight}
    if any(w < 0 for w in weights.values()):
        raise SpecError(f"dynabert_loss: weights {weights} must all be >= 0")
    terms: dict[str, Tensor] = {}
    if logits_weight > 0:
        terms["logits"] = (
            regression_mse(student_logits, teacher_logits)
            if regression
            else soft_cross_entropy(student_logits, teacher_logits, temperature)
        )
    if hidden_weight > 0:
        terms["hidden"] = hidden_mse(student_hiddens, teacher_hiddens, layer_map)
    if embedding_weight > 0:
        if student_emb is None or teacher_emb is None:
            raise ModelError("dynabert_loss: embedding_weight > 0 needs student_emb and teacher_emb")
        terms["embedding"] = embedding_mse(student_emb, teacher_emb)
    total = sum((weights[k] * v for k, v in terms.items()), student_logits.new_zeros(()))
    parts = {k: v.item() for k, v in terms.items()}
    parts["total"] = total.item()
    return total, parts
