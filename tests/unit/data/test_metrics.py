"""Metrics against values computed by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from raydistill.data import (
    METRICS,
    accuracy,
    average_ranks,
    binary_f1,
    compute_metrics,
    get_task,
    matthews_corr,
    normalize_answer,
    pearson,
    spearman,
    squad_exact_match,
    squad_f1,
    squad_scores,
)

PRED = np.array([1, 1, 0, 0, 1])
REF = np.array([1, 0, 0, 1, 1])  # TP=2 (0, 4), FP=1 (1), TN=1 (2), FN=1 (3)


def test_accuracy_and_binary_f1() -> None:
    assert accuracy(PRED, REF) == pytest.approx(3 / 5)
    assert binary_f1(PRED, REF) == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))  # 2TP / (2TP + FP + FN) = 2/3
    assert binary_f1(np.array([0, 0]), np.array([0, 0])) == 0.0


def test_matthews_binary_and_multiclass() -> None:
    # (TP TN - FP FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)) = (2 - 1) / sqrt(3 * 3 * 2 * 2) = 1/6
    assert matthews_corr(PRED, REF) == pytest.approx(1 / 6)
    # 3 classes: c=2 correct, s=4, p=(2,1,1), t=(1,2,1): (2*4 - 5) / sqrt((16-6)(16-6)) = 0.3
    assert matthews_corr(np.array([0, 1, 2, 0]), np.array([0, 1, 1, 2])) == pytest.approx(0.3)
    assert matthews_corr(REF, REF) == pytest.approx(1.0)
    assert matthews_corr(np.ones(4, int), np.array([0, 1, 0, 1])) == 0.0  # constant prediction


def test_pearson() -> None:
    # x=(1,2,3), y=(1,2,4): sum dx dy = 3, sum dx^2 = 2, sum dy^2 = 14/3 -> r = 3 / sqrt(28/3) = sqrt(27/28)
    assert pearson(np.array([1.0, 2, 3]), np.array([1.0, 2, 4])) == pytest.approx(math.sqrt(27 / 28))
    assert pearson(np.array([1.0, 2, 3]), np.array([3.0, 2, 1])) == pytest.approx(-1.0)
    assert pearson(np.array([2.0, 2, 2]), np.array([1.0, 2, 3])) == 0.0


def test_spearman_with_ties() -> None:
    assert average_ranks(np.array([5.0, 1, 5])).tolist() == [2.5, 1.0, 2.5]
    assert average_ranks(np.array([3.0, 3, 3, 0])).tolist() == [3.0, 3.0, 3.0, 1.0]
    # ranks x=(1, 2.5, 2.5, 4), y=(1, 3, 2, 4): sum dxdy = 4.5, sxx = 4.5, syy = 5 -> r = sqrt(0.9)
    x, y = np.array([1.0, 2, 2, 3]), np.array([1.0, 3, 2, 4])
    assert spearman(x, y) == pytest.approx(math.sqrt(0.9))
    assert spearman(np.array([1.0, 10, 100]), np.array([2.0, 3, 50])) == pytest.approx(1.0)  # monotone


def test_squad_normalisation_em_f1() -> None:
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert normalize_answer("  An apple, a day\tthe end. ") == "apple day end"
    assert normalize_answer("Theory") == "theory"  # articles only as whole words
    assert squad_exact_match("An apple.", "apple") == 1.0
    assert squad_exact_match("apples", "apple") == 0.0
    # pred (big, red, dog) vs gold (red, dog): P = 2/3, R = 1, F1 = 0.8
    assert squad_f1("the big red dog", "a red dog") == pytest.approx(0.8)
    assert squad_f1("cat", "dog") == 0.0
    assert squad_f1("red red red", "red") == pytest.approx(2 * (1 / 3) * 1 / (1 / 3 + 1))  # counts clipped


def test_squad_scores_max_over_golds_in_percent() -> None:
    preds = {"q1": "Denver Broncos", "q2": "the big red dog"}
    refs = {"q1": ["Carolina Panthers", "Denver Broncos"], "q2": ["a red dog"], "q3": ["missing"]}
    scores = squad_scores(preds, refs)
    assert scores["exact_match"] == pytest.approx(100 * 1 / 3)  # q1 exact, q2 not, q3 unanswered
    assert scores["f1"] == pytest.approx(100 * (1 + 0.8 + 0) / 3)


def test_compute_metrics_reads_logits_ids_and_scores() -> None:
    logits = np.array([[0.1, 0.9], [2.0, -1.0], [0.0, 1.0], [3.0, 0.0], [-1.0, 1.0]])  # argmax = PRED
    assert compute_metrics(get_task("mrpc"), logits, REF) == pytest.approx({"f1": 2 / 3, "accuracy": 3 / 5})
    assert compute_metrics(get_task("cola"), PRED, REF)["mcc"] == pytest.approx(1 / 6)
    scores = np.array([[1.0], [2.0], [3.0]])
    out = compute_metrics(get_task("stsb"), scores, [1.0, 2.0, 4.0])
    assert out == pytest.approx({"pearson": math.sqrt(27 / 28), "spearmanr": 1.0})
    squad = compute_metrics(get_task("squad"), {"a": "the paris"}, {"a": ["Paris"]})
    assert squad == {"f1": 100.0, "exact_match": 100.0}
    with pytest.raises(ValueError, match="do not match"):
        compute_metrics(get_task("sst2"), np.zeros((3, 2)), [0, 1])


def test_registry_names() -> None:
    assert set(METRICS) == {"accuracy", "f1", "mcc", "pearson", "spearmanr"}
