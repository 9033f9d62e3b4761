"""Per-question SQuAD scores (for paired tests over questions): their means are the scores the pipeline reports
(`squad_scores`, `evaluate_arch`), on hand-made answers and on a tiny model's forward with and without tokens
dropped."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from raydistill.data import squad_question_scores, squad_scores
from raydistill.models.arch import Arch
from raydistill.search.evaluator import evaluate_arch, question_scores_arch
from tests.unit.models.conftest import make_model

GOLDS = {"q1": ["the paris"], "q2": ["red", "blue"], "q3": ["one two three"], "q4": ["x"]}
ANSWERS = {"q1": "Paris", "q2": "blue green", "q3": "two three four"}  # q4 unanswered


def test_question_scores_by_hand_and_their_mean_is_squad_scores() -> None:
    got = squad_question_scores(ANSWERS, GOLDS)
    assert got["exact_match"].tolist() == [100.0, 0.0, 0.0, 0.0]
    # q2: best gold "blue" vs "blue green": P 1/2, R 1 -> 2/3; q3: 2 of 3 tokens each way -> 2/3
    assert got["f1"] == pytest.approx([100.0, 200 / 3, 200 / 3, 0.0])
    means = squad_scores(ANSWERS, GOLDS)
    assert {k: float(v.mean()) for k, v in got.items()} == pytest.approx(means, abs=1e-12)


@pytest.mark.parametrize("tokens", [None, (0.6, 0.4)])
def test_arch_question_scores_average_to_evaluate_arch(
    squad_data: Any, tokens: tuple[float, ...] | None
) -> None:
    model = make_model("qa", max_position_embeddings=64)
    full = Arch.for_config(model.config)
    arch = Arch(full.layers, full.heads, full.ffn, tokens)
    dev = squad_data.dev["dev"]
    per_question = question_scores_arch(model, arch, dev, squad_data.collate, batch_size=2)
    means = evaluate_arch(model, arch, dev, squad_data.collate, batch_size=2)
    assert set(per_question) == set(means) == {"f1", "exact_match"}
    for name, values in per_question.items():
        assert values.shape == (len(dev.examples),)
        assert float(values.mean()) == pytest.approx(means[name], abs=1e-9)


def test_question_scores_follow_the_examples_and_nan_for_non_finite_outputs(squad_data: Any) -> None:
    dev = squad_data.dev["dev"]
    n_windows, width = len(dev.dataset), 48
    start = torch.full((n_windows, width), -5.0)  # (N, L)
    end = torch.full((n_windows, width), -5.0)  # (N, L)
    # every window of the first question points at its first context token that starts "paris"
    for i, feature in enumerate(dev.qa_features or []):
        spans = [
            j
            for j, (a, _) in enumerate(feature.offsets)
            if a >= 0 and dev.examples[0].context[a:].startswith("paris")
        ]
        if feature.example_id == dev.examples[0].qid and spans:
            start[i, spans[0]] = end[i, spans[0]] = 5.0
    scores = dev.question_scores((start, end))
    assert scores["exact_match"][0] == 100.0 and dev.examples[0].answers[0]["text"] == "paris"
    assert float(scores["f1"].mean()) == pytest.approx(dev.compute((start, end))["f1"])
    start[0, 0] = float("nan")
    assert all(np.isnan(v).all() for v in dev.question_scores((start, end)).values())


def test_question_scores_refuse_a_classification_set(sst2_data: Any) -> None:
    with pytest.raises(ValueError, match="not a QA task"):
        sst2_data.dev["dev"].question_scores(torch.zeros(len(sst2_data.dev["dev"].examples), 2))
