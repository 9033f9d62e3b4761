"""Metrics on degenerate inputs, against references written here independently of `data.metrics`.

SQuAD: the logic of the official v1.1 `evaluate-v1.1.py` (per question the max over golds of EM / F1 on
normalised text; a question without a prediction scores 0 on both and still counts). Correlations: numpy's
`corrcoef` and pandas' average ranks, which agree with `scipy.stats.pearsonr` / `spearmanr` on NaN and inf
(NaN propagates; Pearson turns inf into NaN through the mean; Spearman ranks inf as the largest value). scipy
itself is not a dependency. The one deliberate difference: a constant vector gives 0.0 (scipy: NaN).
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import torch

from raydistill.data import (
    CONSTANT,
    NON_FINITE,
    EvalSet,
    get_task,
    output_note,
    pearson,
    spearman,
    squad_scores,
)

# ---------------------------------------------------------------- SQuAD v1.1 reference


def _ref_normalise(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _ref_f1(prediction: str, gold: str) -> float:
    p, g = _ref_normalise(prediction).split(), _ref_normalise(gold).split()
    common = sum((Counter(p) & Counter(g)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def _ref_squad(golds: dict[str, list[str]], predictions: dict[str, str]) -> dict[str, float]:
    em = f1 = 0.0
    for qid, answers in golds.items():
        if qid not in predictions:  # the official script: "Unanswered question ... will receive score 0."
            continue
        em += max(float(_ref_normalise(predictions[qid]) == _ref_normalise(a)) for a in answers)
        f1 += max(_ref_f1(predictions[qid], a) for a in answers)
    return {"exact_match": 100.0 * em / len(golds), "f1": 100.0 * f1 / len(golds)}


GOLDS = {
    "empty_gold_missing": ["The"],  # normalises to "": an absent prediction must still score 0
    "punct_gold_missing": ["..."],
    "missing": ["Denver Broncos"],
    "empty_pred_empty_gold": ["."],  # a given "" prediction matches "" exactly (EM 1), shares no token (F1 0)
    "article_pred": ["a", "Paris"],
    "exact": ["Denver Broncos"],
    "partial": ["a red dog", "blue"],
}
PREDICTIONS = {
    "empty_pred_empty_gold": "",
    "article_pred": "An",
    "exact": "the Denver Broncos!",
    "partial": "big red dog",
    "not_asked": "ignored",  # predictions for unknown questions do not count
}


def test_squad_scores_match_the_official_v11_logic_on_missing_and_empty_answers() -> None:
    expected = _ref_squad(GOLDS, PREDICTIONS)
    assert expected["exact_match"] == pytest.approx(100 * 3 / 7)  # the reference itself, by hand
    assert squad_scores(PREDICTIONS, GOLDS) == pytest.approx(expected)
    only_missing = {k: GOLDS[k] for k in ("empty_gold_missing", "punct_gold_missing")}
    assert squad_scores({}, only_missing) == {"exact_match": 0.0, "f1": 0.0}
    assert _ref_squad(only_missing, {}) == {"exact_match": 0.0, "f1": 0.0}


# ---------------------------------------------------------------- correlations vs numpy / pandas


def _ref_pearson(x: np.ndarray, y: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        return float(np.corrcoef(x, y)[0, 1])


def _ref_spearman(x: np.ndarray, y: np.ndarray) -> float:
    rx, ry = pd.Series(x).rank().to_numpy(), pd.Series(y).rank().to_numpy()  # average ranks; NaN stays NaN
    return _ref_pearson(rx, ry)


def _float32_overflow() -> np.ndarray:
    """Scores a float32 head overflowed: 3e38 x 10 is inf in float32."""
    with np.errstate(over="ignore"):
        return (np.array([1.0, 3e38, 2.0, 4.0, 5.0], dtype=np.float32) * np.float32(10)).astype(np.float64)


REF = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
NON_FINITE_PREDS = {
    "nan": np.array([0.1, np.nan, 0.3, 0.5, 0.2]),
    "inf": np.array([0.1, np.inf, 0.3, 0.5, 0.2]),
    "both infs": np.array([-np.inf, 0.4, np.inf, 0.5, 0.2]),
    "float32 overflow": _float32_overflow(),
}


@pytest.mark.parametrize("name", list(NON_FINITE_PREDS))
def test_correlations_on_nan_and_inf_outputs_match_the_reference(name: str) -> None:
    pred = NON_FINITE_PREDS[name]
    for ours, ref in ((pearson, _ref_pearson), (spearman, _ref_spearman)):
        got, want = ours(pred, REF), ref(pred, REF)
        assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want), (
            ours.__name__,
            got,
            want,
        )
    assert math.isnan(pearson(pred, REF)) and math.isnan(pearson(REF, pred))  # any non-finite value: NaN
    assert math.isnan(spearman(pred, REF)) == bool(np.isnan(pred).any())  # Spearman ranks inf


def test_pearson_of_huge_finite_values_does_not_overflow() -> None:
    pred = np.array([1.0, 2.5, 2.0, 4.0, 7.0])
    assert pearson(pred * 1e200, REF) == pytest.approx(_ref_pearson(pred, REF))
    assert pearson(pred * 1e-300, REF) == pytest.approx(_ref_pearson(pred, REF))


def test_constant_predictions_give_zero_correlation_and_are_noted() -> None:
    stsb, sst2, squad = get_task("stsb"), get_task("sst2"), get_task("squad")
    constant = np.full(5, 0.3)
    assert pearson(constant, REF) == 0.0 and spearman(constant, REF) == 0.0  # scipy: NaN + a warning
    assert math.isnan(_ref_pearson(constant, REF))  # (the reference does give NaN here)
    assert output_note(stsb, constant[:, None]) == CONSTANT
    assert output_note(stsb, REF[:, None]) == ""
    same_class = torch.tensor([[0.1, 0.9], [0.0, 2.0], [-1.0, 1.0]])  # argmax 1 everywhere
    assert output_note(sst2, same_class) == CONSTANT
    assert output_note(sst2, same_class.flip(-1)[:2].T) == ""  # argmax (1, 0): not constant
    assert output_note(sst2, torch.tensor([[0.0, math.nan]])) == NON_FINITE
    start, end = torch.zeros(2, 8), torch.zeros(2, 8)
    assert output_note(squad, (start, end)) == ""
    end[1, 3] = -math.inf
    assert output_note(squad, (start, end)) == NON_FINITE


def test_an_eval_set_scores_non_finite_outputs_as_nan_with_the_note() -> None:
    from raydistill.data import Example

    task = get_task("stsb")
    examples = [Example(guid=f"dev-{i}", text_a=f"s{i}", text_b=None, label=float(i)) for i in range(4)]
    evalset = EvalSet("dev", dataset=None, examples=examples, task=task)  # type: ignore[arg-type]
    scores = evalset.compute(torch.tensor([[0.5], [math.inf], [1.0], [2.0]]))
    assert scores.note == NON_FINITE and all(math.isnan(v) for v in scores.values())
    assert set(scores) == set(task.metrics)
    constant = evalset.compute(torch.full((4, 1), 2.0))
    assert constant.note == CONSTANT and dict(constant) == {"pearson": 0.0, "spearmanr": 0.0}
