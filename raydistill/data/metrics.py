"""Task metrics, written here (no `evaluate` dependency) and tested against hand-computed values.

GLUE metrics are fractions in [0, 1] (accuracy, F1, Matthews correlation, Pearson, Spearman); SQuAD
exact match and F1 are percentages in [0, 100], as the official v1.1 script reports them.
Correlations follow scipy (`scipy.stats.pearsonr` / `spearmanr`, default `nan_policy`) on every input but one:
a NaN anywhere gives NaN, an infinite value gives a NaN Pearson and ranks as the largest (smallest) value in
Spearman; a constant vector gives 0.0 here where scipy warns and gives NaN (MCC: 0.0 as in sklearn), because a
collapsed model predicting one value is a measured (bad) result, not a failed one. `output_note` says when the
outputs behind a metric were constant or not finite: the search marks the first in the trial table and treats
the second as a failed evaluation (`training.evaluate`, `search.trainable`).
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from raydistill.data.tasks import Task

MetricFn = Callable[[np.ndarray, np.ndarray], float]


def accuracy(pred: np.ndarray, ref: np.ndarray) -> float:
    """Fraction of predictions equal to the reference."""
    return float(np.mean(pred == ref))


def binary_f1(pred: np.ndarray, ref: np.ndarray) -> float:
    """F1 of the positive class (id 1): 2 TP / (2 TP + FP + FN); 0.0 when there is no positive at all."""
    tp = np.sum((pred == 1) & (ref == 1))
    fp = np.sum((pred == 1) & (ref != 1))
    fn = np.sum((pred != 1) & (ref == 1))
    denom = 2 * tp + fp + fn
    return float(2 * tp / denom) if denom else 0.0


def matthews_corr(pred: np.ndarray, ref: np.ndarray) -> float:
    """Matthews correlation, multi-class form (Gorodkin 2004; = (TP TN - FP FN) / sqrt(...) for 2 classes).

    MCC = (c s - sum_k p_k t_k) / sqrt((s^2 - sum_k p_k^2)(s^2 - sum_k t_k^2)), with c correct, s samples,
    p_k / t_k the times class k is predicted / true. 0.0 when a denominator factor is 0.
    """
    classes = np.union1d(pred, ref)
    p = np.array([np.sum(pred == k) for k in classes], dtype=np.float64)
    t = np.array([np.sum(ref == k) for k in classes], dtype=np.float64)
    s, c = float(len(ref)), float(np.sum(pred == ref))
    denom = np.sqrt((s * s - p @ p) * (s * s - t @ t))
    return float((c * s - p @ t) / denom) if denom > 0 else 0.0


def pearson(pred: np.ndarray, ref: np.ndarray) -> float:
    """Pearson correlation r = cov(x, y) / (std x std y), in [-1, 1].

    NaN when either vector holds a NaN or an infinite value (as scipy); 0.0 when either is constant (scipy:
    NaN). The centred vectors are scaled to unit length before their product, so huge finite values do not
    overflow.
    """
    x, y = pred.astype(np.float64), ref.astype(np.float64)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return math.nan
    if is_constant(x) or is_constant(y):
        return 0.0
    x, y = x - x.mean(), y - y.mean()
    x, y = x / np.abs(x).max(), y / np.abs(y).max()  # entries in [-1, 1]: the norms cannot overflow
    return float(np.clip((x / np.linalg.norm(x)) @ (y / np.linalg.norm(y)), -1.0, 1.0))


def is_constant(values: np.ndarray) -> bool:
    """True when every entry equals the first (or there is none): no correlation is defined."""
    return bool(np.all(values == values[:1]))


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks; tied values share the mean of the ranks they span (e.g. [5, 1, 5] -> [2.5, 1, 2.5])."""
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    ranks = np.empty(len(values), dtype=np.float64)
    start = 0
    while start < len(values):
        stop = start
        while stop + 1 < len(values) and sorted_values[stop + 1] == sorted_values[start]:
            stop += 1
        ranks[order[start : stop + 1]] = (start + stop) / 2 + 1
        start = stop + 1
    return ranks


def spearman(pred: np.ndarray, ref: np.ndarray) -> float:
    """Spearman correlation: Pearson of the average ranks (ties share ranks).

    NaN when either vector holds a NaN (as scipy); infinite values are ranked like any other (as scipy), and a
    constant vector gives 0.0 (scipy: NaN).
    """
    x, y = pred.astype(np.float64), ref.astype(np.float64)
    if np.isnan(x).any() or np.isnan(y).any():
        return math.nan
    return pearson(average_ranks(x), average_ranks(y))


METRICS: dict[str, MetricFn] = {
    "accuracy": accuracy,
    "f1": binary_f1,
    "mcc": matthews_corr,
    "pearson": pearson,
    "spearmanr": spearman,
}


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 normalisation: lowercase, drop punctuation and articles (a/an/the), collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


_PUNCT = frozenset(string.punctuation)


def squad_exact_match(prediction: str, gold: str) -> float:
    """1.0 if the normalised strings are equal, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def squad_f1(prediction: str, gold: str) -> float:
    """Token-overlap F1 of the normalised strings (bag of tokens, counts clipped)."""
    pred_tokens, gold_tokens = normalize_answer(prediction).split(), normalize_answer(gold).split()
    same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_question_scores(
    predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]
) -> dict[str, np.ndarray]:
    """SQuAD v1.1 exact match and F1 of every question, in percent (0 or 100 for EM), in `references` order.

    Per question the max over its gold answers, as the official `evaluate-v1.1.py`: a question without a
    prediction scores 0 on both (even when a gold answer normalises to "", which an empty prediction would
    match); a question without gold answers scores 0 (the official script fails on it). Their means are
    `squad_scores`.

    Returns:
        {"exact_match": (N,), "f1": (N,)} float64 arrays, N = len(references).
    """
    em = np.zeros(len(references))  # (N,)
    f1 = np.zeros(len(references))  # (N,)
    for i, (qid, golds) in enumerate(references.items()):
        if qid not in predictions:
            continue
        pred = predictions[qid]
        em[i] = max((squad_exact_match(pred, g) for g in golds), default=0.0)
        f1[i] = max((squad_f1(pred, g) for g in golds), default=0.0)
    return {"exact_match": 100.0 * em, "f1": 100.0 * f1}


def squad_scores(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """SQuAD v1.1 exact match and F1 in percent: the means over questions of `squad_question_scores` (every
    question of `references` counts, a missing prediction as 0); 0.0 for no question."""
    per_question = squad_question_scores(predictions, references)
    n = max(len(references), 1)
    return {name: float(values.sum()) / n for name, values in per_question.items()}


NON_FINITE = "non-finite outputs"  # the model's outputs hold NaN or inf: a failed evaluation, metrics NaN
CONSTANT = "constant predictions"  # one class / score for every example: correlations are 0.0 by convention


class Scores(dict[str, float]):
    """Metric name -> value (a plain dict to every reader), with `note`: "" or an `output_note` value."""

    def __init__(self, values: Mapping[str, float], note: str = "") -> None:
        super().__init__(values)
        self.note = note


def output_note(task: Task, outputs: Any) -> str:
    """What a reader of the metrics computed from `outputs` must know, or "".

    Args:
        task: decides how outputs are read.
        outputs: the raw model outputs `EvalSet.compute` takes: logits (N, C), scores (N,) / (N, 1), or for QA
            a `(start_logits, end_logits)` pair (tensors or arrays).

    Returns:
        `NON_FINITE` when any output is NaN or infinite; else `CONSTANT` when a classification or regression
        model gave every one of at least two examples the same class / score; else "".
    """
    parts = outputs if task.kind == "qa" else (outputs,)
    arrays = [np.asarray(p.detach().cpu() if hasattr(p, "detach") else p, dtype=np.float64) for p in parts]
    if not all(np.isfinite(a).all() for a in arrays):
        return NON_FINITE
    if task.kind == "qa" or len(arrays[0]) < 2:
        return ""
    pred = arrays[0]
    if task.kind == "regression":
        pred = pred.reshape(len(pred), -1)[:, 0]
    elif pred.ndim == 2:
        pred = pred.argmax(axis=-1)
    return CONSTANT if is_constant(pred) else ""


def compute_metrics(task: Task, predictions: Any, references: Any) -> dict[str, float]:
    """All of `task.metrics` for predictions against references.

    Args:
        task: decides how predictions are read.
        predictions: classification: logits (N, C) or class ids (N,); regression: scores (N,) or (N, 1);
            QA: {qid: answer text}.
        references: class ids / scores (N,); QA: a list of `QAExample` or {qid: [gold texts]}.

    Returns:
        metric name -> value (main metric included).
    """
    if task.kind == "qa":
        if not isinstance(references, Mapping):
            references = {ex.qid: [a["text"] for a in ex.answers] for ex in references}
        scores = squad_scores(predictions, references)
        return {name: scores[name] for name in task.metrics}
    pred = np.asarray(predictions)
    ref = np.asarray(references)
    if task.kind == "regression":
        pred = pred[:, 0] if pred.ndim == 2 and pred.shape[1] == 1 else pred
    elif pred.ndim == 2:
        pred = pred.argmax(axis=-1)
    if pred.shape != ref.shape:
        raise ValueError(
            f"{task.name}: predictions of shape {pred.shape} do not match references {ref.shape}"
        )
    return {name: METRICS[name](pred, ref) for name in task.metrics}
