"""Scoring one Arch: equals an independent forward + `EvalSet.compute`; the trainable's model cache."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from raydistill.models.arch import Arch
from raydistill.models.bert import elastic_forward
from raydistill.search import trainable
from raydistill.search.evaluator import cap_evalset, evaluate_arch, worst_value
from raydistill.search.trainable import TrialPayload, actor_model, model_from_state, state_to_numpy

SMALL = Arch((1,), (2,), (32,))  # width .5, depth .5 of the 2-layer tiny BERT


def _one_by_one_logits(model: nn.Module, arch: Arch, dataset: Any) -> torch.Tensor:
    """Unpadded single-example elastic forwards (no collator, no DataLoader), stacked: (N, C)."""
    rows = []
    with torch.no_grad():
        for item in dataset:
            inputs = {
                k: item[k][None] for k in ("input_ids", "attention_mask", "token_type_ids") if k in item
            }
            rows.append(elastic_forward(model, arch, **inputs).logits[0])
    return torch.stack(rows)


@pytest.mark.parametrize("arch", [Arch.full(2, 4, 64), SMALL], ids=["full", "small"])
def test_metric_equals_a_direct_compute_of_the_same_forward(
    tiny_model: nn.Module, sst2_data: Any, arch: Arch
) -> None:
    search = sst2_data.search
    got = evaluate_arch(tiny_model, arch, search, sst2_data.collate, batch_size=4)
    logits = _one_by_one_logits(tiny_model, arch, search.dataset)
    assert got == pytest.approx(search.compute(logits))
    labels = np.array([ex.label for ex in search.examples])
    assert got["accuracy"] == pytest.approx(float((logits.argmax(-1).numpy() == labels).mean()))


def test_the_arch_is_really_applied(tiny_model: nn.Module, sst2_data: Any) -> None:
    """PaddleSlim #781: every width scored the same because the width was never applied."""
    dataset = sst2_data.search.dataset
    full = _one_by_one_logits(tiny_model, Arch.full(2, 4, 64), dataset)
    small = _one_by_one_logits(tiny_model, SMALL, dataset)
    assert not torch.allclose(full, small)


def test_evaluation_restores_training_mode_and_keeps_no_graph(tiny_model: nn.Module, sst2_data: Any) -> None:
    tiny_model.train()
    evaluate_arch(tiny_model, SMALL, sst2_data.search, sst2_data.collate, batch_size=4)
    assert tiny_model.training
    assert all(p.grad is None for p in tiny_model.parameters())


def test_worst_values() -> None:
    assert worst_value("accuracy") == 0.0 and worst_value("f1") == 0.0
    assert worst_value("mcc") == -1.0 and worst_value("pearson") == -1.0


def test_cap_evalset_keeps_the_first_examples(sst2_data: Any) -> None:
    search = sst2_data.search
    capped = cap_evalset(search, 3)
    assert len(capped.dataset) == 3 and capped.examples == search.examples[:3]
    assert torch.equal(capped.dataset[2]["input_ids"], search.dataset[2]["input_ids"])
    assert cap_evalset(search, None) is search and cap_evalset(search, 10_000) is search


def test_model_from_numpy_state_gives_the_same_logits(tiny_model: nn.Module, sst2_data: Any) -> None:
    state = {k: v.copy() for k, v in state_to_numpy(tiny_model).items()}
    for v in state.values():
        v.flags.writeable = False  # as Ray's object store hands them out
    rebuilt = model_from_state(state, tiny_model.config.to_dict(), "classification")
    dataset = sst2_data.search.dataset
    torch.testing.assert_close(
        _one_by_one_logits(rebuilt, SMALL, dataset), _one_by_one_logits(tiny_model, SMALL, dataset)
    )


def test_actor_reuses_its_model_until_the_key_changes(
    tiny_model: nn.Module, sst2_data: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds: list[str] = []
    real = trainable.model_from_state

    def counting(*args: Any) -> nn.Module:
        builds.append("built")
        return real(*args)

    monkeypatch.setattr(trainable, "model_from_state", counting)
    monkeypatch.setattr(trainable, "_ACTOR_MODEL", {})
    state = state_to_numpy(tiny_model)

    def payload(key: str) -> TrialPayload:
        return TrialPayload(
            key,
            tiny_model.config.to_dict(),
            "classification",
            sst2_data.search,
            sst2_data.collate,
            4,
            "accuracy",
        )

    first = actor_model(state, payload("a"))
    assert actor_model(state, payload("a")) is first and len(builds) == 1
    assert actor_model(state, payload("b")) is not first and len(builds) == 2
    assert list(trainable._ACTOR_MODEL) == ["b"]  # one supernet per actor


def test_qa_full_arch_scores_like_the_hf_forward(squad_data: Any) -> None:
    """Span outputs go through the same path: at the full Arch the metrics equal the plain HF model's."""
    from transformers import BertForQuestionAnswering

    from raydistill.training.evaluate import evaluate
    from tests.conftest import tiny_bert_config

    torch.manual_seed(0)
    model = BertForQuestionAnswering(tiny_bert_config(max_position_embeddings=64)).eval()
    dev = squad_data.dev["dev"]
    got = evaluate_arch(model, Arch.full(2, 4, 64), dev, squad_data.collate, batch_size=2)
    assert set(got) == {"f1", "exact_match"}
    assert got == pytest.approx(evaluate(model, dev, squad_data.collate, 2))


def test_cap_evalset_keeps_every_window_of_the_kept_questions(squad_data: Any) -> None:
    dev = squad_data.dev["dev"]
    capped = cap_evalset(dev, 1)
    kept = dev.examples[0].qid
    assert capped.examples == dev.examples[:1]
    assert capped.qa_features and all(f.example_id == kept for f in capped.qa_features)
    assert (
        len(capped.dataset) == sum(f.example_id == kept for f in dev.qa_features) == len(capped.qa_features)
    )


def test_length_sorted_prediction_is_in_dataset_order(tiny_model: nn.Module, sst2_data: Any) -> None:
    """`predict` runs shortest-first (less padding) and puts every row back: == one-by-one unpadded forwards."""
    from raydistill.training.evaluate import length_order, predict

    dataset = sst2_data.search.dataset
    lengths = [int(dataset[i]["input_ids"].numel()) for i in range(len(dataset))]
    order = length_order(dataset)
    assert sorted(order) == list(range(len(dataset))) and len(set(lengths)) > 1
    assert [lengths[i] for i in order] == sorted(lengths) and order != list(range(len(dataset)))
    full = Arch.full(2, 4, 64)

    def forward(**inputs: Any) -> Any:
        return elastic_forward(tiny_model, full, **inputs).logits

    expected = _one_by_one_logits(tiny_model, full, dataset)
    torch.testing.assert_close(predict(forward, dataset, sst2_data.collate, 3), expected)
    torch.testing.assert_close(
        predict(forward, dataset, sst2_data.collate, 3, sort_by_length=False), expected
    )


def test_length_sorted_qa_spans_come_back_in_window_order(squad_data: Any) -> None:
    from transformers import BertForQuestionAnswering

    from raydistill.training.evaluate import predict
    from tests.conftest import tiny_bert_config

    torch.manual_seed(0)
    model = BertForQuestionAnswering(tiny_bert_config(max_position_embeddings=64)).eval()
    dataset = squad_data.dev["dev"].dataset
    start, end = predict(model, dataset, squad_data.collate, 2)
    ref_start, ref_end = predict(model, dataset, squad_data.collate, 2, sort_by_length=False)
    for i in range(len(dataset)):
        n = int(dataset[i]["input_ids"].numel())  # columns past a window's length are padding
        torch.testing.assert_close(start[i, :n], ref_start[i, :n])
        torch.testing.assert_close(end[i, :n], ref_end[i, :n])
