"""Trial failures: a trial that raised reports an error row (never retried); Tune retries only dead actors/nodes
(`search.max_failures`), and the retry count is not part of the search key."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from raydistill.search import trainable
from raydistill.search import tuner as tuner_module
from raydistill.spec.schema import Spec


def _spec(**search: Any) -> Spec:
    return Spec.model_validate(
        {"name": "t", "task": "sst2", "teacher": {"model": "bert-base-uncased"}, "search": search}
    )


def test_a_trial_that_raised_reports_an_error_row_instead_of_raising(monkeypatch: pytest.MonkeyPatch) -> None:
    import ray
    from ray import tune

    reported: list[dict[str, Any]] = []
    monkeypatch.setattr(tune, "report", reported.append)
    monkeypatch.setattr(ray, "get_runtime_context", lambda: type("C", (), {"get_node_id": lambda self: "n1"})())

    def boom(config: dict[str, Any], model_state: Any, payload: Any) -> dict[str, Any]:
        raise ValueError("bad arch\nsecond line")

    monkeypatch.setattr(trainable, "run_trial", boom)
    config = {"arch": '{"layers":[1],"heads":[1],"ffn":[16],"tokens":null}', "flops": 10, "macs": 5,
              "params": 3, "flops_ratio": 0.1, "feasible": True}  # fmt: skip
    monkeypatch.setattr(trainable.Candidate, "from_config", classmethod(lambda cls, c: _Stub(c)))
    payload = type("P", (), {"metric": "accuracy"})()
    trainable.search_trial(config, model_state={}, payload=payload)  # type: ignore[arg-type]
    (result,) = reported
    assert result["status"] == "error" and result["note"] == "ValueError: bad arch"
    assert math.isnan(result["accuracy"]) and result["node_id"] == "n1" and not result["evaluated"]
    assert result["arch"] == config["arch"] and "feasible" not in result


class _Stub:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    def to_config(self) -> dict[str, Any]:
        return dict(self.config)


def test_the_search_retries_dead_trials_max_failures_times(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _spec().search.max_failures == 2
    captured: dict[str, Any] = {}

    class FakeTuner:
        def __init__(self, trainable: Any, tune_config: Any, run_config: Any) -> None:
            captured["failure"] = run_config.failure_config

    setup = type("S", (), {"metric": "accuracy", "ctx": None})()
    spec = _spec(max_failures=5, start_from_grid=False, sampler="random")
    monkeypatch.setattr(tuner_module.tune, "Tuner", FakeTuner)
    monkeypatch.setattr(tuner_module, "make_searcher", lambda name, options: None)
    tuner_module._new_tuner(spec, setup, object(), tuner_module.RunLayout(Path("/tmp/x")))  # type: ignore[arg-type]
    assert captured["failure"].max_failures == 5


def test_the_retry_count_is_not_part_of_the_search_key(tmp_path: Path) -> None:
    """`search.max_failures` says how to run the trials, not what they compute: the search stage's keys (its
    cache key and the key its Tune experiment resumes under) do not change with it."""
    from raydistill.layout import RunLayout
    from raydistill.stages import plan_run, stage_graph

    def search_keys(max_failures: int) -> tuple[str, str]:
        spec = _spec(max_failures=max_failures).model_copy(
            update={"resources": _spec().resources.model_copy(update={"storage_path": str(tmp_path)})}
        )
        plan = plan_run(spec, RunLayout(tmp_path / "t"), stage_graph(), None)
        search = next(p for p in plan.stages if p.name == "search")
        return search.key, search.run_key

    assert search_keys(0) == search_keys(4)
