"""Task metrics, written here (no `evaluate` dependency) and tested against hand-computed values.

GLUE metrics are fractions in [0, 1] (accuracy, F1, Matthews correlation, Pearson, Spearman); SQuAD
exact match and F1 are percentages in [0, 100], as the official v1.1 script reports them.
Degenerate inputs (a constant prediction vector) give a correlation of 0.0 rather than NaN, so a search never
sees NaN objectives; sklearn/scipy would warn and return 0.0 (MCC) or NaN (Pearson).
"""

from __future__ import annotations

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
    """Pearson correlation r = cov(x, y) / (std x std y); 0.0 if either vector is constant."""
    x, y = pred.astype(np.float64) - pred.mean(), ref.astype(np.float64) - ref.mean()
    denom = np.sqrt((x @ x) * (y @ y))
    return float((x @ y) / denom) if denom > 0 else 0.0


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
    """Spearman correlation: Pearson of the average ranks (ties share ranks)."""
    return pearson(average_ranks(pred.astype(np.float64)), average_ranks(ref.astype(np.float64)))


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


def squad_scores(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """SQuAD v1.1 exact match and F1 in percent: per question the max over its gold answers, then the mean.

    Questions of `references` without a prediction score 0.
    """
    em = f1 = 0.0
    for qid, golds in references.items():
        pred = predictions.get(qid, "")
        em += max((squad_exact_match(pred, g) for g in golds), default=0.0)
        f1 += max((squad_f1(pred, g) for g in golds), default=0.0)
    n = max(len(references), 1)
    return {"exact_match": 100.0 * em / n, "f1": 100.0 * f1 / n}


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
