"""Sub-networks whose outputs are NaN / inf or constant: what a trial reports, what the study is told, what the
trial table and the dev evaluation say. Driven without Tune (suggest -> run_trial -> on_trial_complete)."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
import pytest
import torch
from torch import nn

from raydistill.data import CONSTANT, NON_FINITE
from raydistill.models.arch import Arch
from raydistill.results.table import make_table, with_dev_metrics
from raydistill.search.final import evaluate_on_dev, main_dev_values
from raydistill.search.records import trial_rows
from raydistill.search.samplers import SamplerOptions, make_searcher
from raydistill.search.spaces import DefineByRun
from raydistill.search.trainable import TrialPayload, run_trial, state_to_numpy
from tests.unit.search.conftest import make_ctx

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _nan_head(model: nn.Module) -> nn.Module:
    """The model with a NaN classifier bias: every logit of every sub-network is NaN."""
    with torch.no_grad():
        model.classifier.bias.fill_(math.nan)
    return model


def _constant_head(model: nn.Module) -> nn.Module:
    """The model with a classifier that ignores its input and always prefers class 1."""
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([0.0, 1.0]))
    return model


def _search(model: nn.Module, data: Any, key: str, n: int) -> tuple[Any, list[dict[str, Any]]]:
    """n trials of a real NSGA-II searcher over every candidate (budget 1: all feasible, all evaluated)."""
    ctx = make_ctx(num_layers=2, max_budget=1.0)
    searcher = make_searcher("nsga2", SamplerOptions(DefineByRun("layerwise", ctx), "accuracy", 3, 4))
    payload = TrialPayload(
        key, model.config.to_dict(), "classification", data.search, data.collate, 8, "accuracy"
    )
    state, tune_results = state_to_numpy(model), []
    for i in range(n):
        config = searcher.suggest(f"t{i}")
        result = run_trial(config, state, payload)  # the real evaluate_arch
        searcher.on_trial_complete(f"t{i}", result)
        tune_results.append(
            SimpleNamespace(config=config, metrics={**result, "trial_id": f"t{i}"}, error=None)
        )
    return searcher, tune_results


def test_nan_logits_fail_the_trial_in_the_table_and_in_the_study(
    tiny_model: nn.Module, sst2_data: Any
) -> None:
    searcher, results = _search(_nan_head(tiny_model), sst2_data, key="nan-head", n=4)
    assert all(r.metrics["status"] == "failed" and math.isnan(r.metrics["accuracy"]) for r in results)
    table = make_table(trial_rows(results, "accuracy", "nsga2"))
    assert list(table["status"]) == ["failed"] * 4 and table["search_metric"].isna().all()
    assert list(table["note"]) == [NON_FINITE] * 4 and not table["on_front"].any()
    study = searcher.study
    assert study.get_trials(states=[optuna.trial.TrialState.RUNNING]) == []  # none left hanging
    told = [t for t in study.trials if t.number not in _withdrawn(study, searcher)]
    assert len(told) == 4
    assert all(t.state == optuna.trial.TrialState.FAIL and t.values is None for t in told)


def _withdrawn(study: optuna.Study, searcher: Any) -> set[int]:
    """Numbers of the Optuna trials withdrawn as repeats (asked, told FAIL, never given to a Tune trial)."""
    kept = {t.number for t in searcher._ot_trials.values()}
    return {t.number for t in study.trials} - kept


def test_constant_predictions_are_noted_in_the_table(tiny_model: nn.Module, sst2_data: Any) -> None:
    searcher, results = _search(_constant_head(tiny_model), sst2_data, key="constant-head", n=2)
    table = make_table(trial_rows(results, "accuracy", "nsga2"))
    assert list(table["status"]) == ["ok", "ok"] and list(table["note"]) == [CONSTANT, CONSTANT]
    labels = [ex.label for ex in sst2_data.search.examples]
    assert table["search_metric"].tolist() == pytest.approx([labels.count(1) / len(labels)] * 2)
    complete = searcher.study.get_trials(states=[optuna.trial.TrialState.COMPLETE])
    assert len(complete) == 2  # a measured (if collapsed) result is told as usual


def test_dev_evaluation_of_a_nan_pick_gives_nan_and_says_it(
    tiny_model: nn.Module, sst2_data: Any, caplog: pytest.LogCaptureFixture
) -> None:
    arch = Arch((1,), (2,), (32,))
    with caplog.at_level(logging.WARNING, logger="raydistill.training"):
        dev = evaluate_on_dev(_nan_head(tiny_model), [arch], sst2_data, batch_size=4)
    assert math.isnan(dev[arch.id]["dev"]["accuracy"])
    assert "outputs hold NaN or inf, so every metric is NaN" in caplog.text
    assert math.isnan(main_dev_values(dev, sst2_data)[arch.id])


def test_teacher_and_qa_evaluations_of_nan_outputs_give_nan(squad_data: Any) -> None:
    """`evaluate_task` (teacher, supernet loop) on a QA model: NaN spans used to decode to "" answers."""
    from transformers import BertForQuestionAnswering

    from raydistill.training.evaluate import evaluate_task
    from tests.conftest import tiny_bert_config

    model = BertForQuestionAnswering(tiny_bert_config(max_position_embeddings=64)).eval()
    with torch.no_grad():
        model.qa_outputs.bias.fill_(math.inf)  # start and end logits: inf (+ finite) = inf
    metrics = evaluate_task(model, squad_data, batch_size=2)
    for per_set in [*metrics["dev"].values(), metrics["search"]]:
        assert set(per_set) == {"exact_match", "f1"} and all(math.isnan(v) for v in per_set.values())
        assert per_set.note == NON_FINITE


def test_search_headline_says_a_pick_failed_on_dev(tiny_model: nn.Module, sst2_data: Any) -> None:
    from raydistill.search.tuner import SearchResult

    _, results = _search(_constant_head(tiny_model), sst2_data, key="constant-head-2", n=1)
    table = make_table(trial_rows(results, "accuracy", "nsga2"))
    arch_id = table.loc[0, "arch_id"]
    table = with_dev_metrics(table, {arch_id: math.nan})
    result = SearchResult(table, Path("search"), {"metric_name": "accuracy"}, 1, 0.1)
    assert f"{arch_id} accuracy" in result.headline and "dev failed: NaN or inf outputs" in result.headline
