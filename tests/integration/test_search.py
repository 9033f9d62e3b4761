"""The search stage end to end on a local 2-CPU Ray: a tiny saved BERT, tiny SST-2 files, real Tune + Optuna.

Run with: `pytest -m integration tests/integration/test_search.py` (well under a minute on 2 cores).
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from ray import cloudpickle

from raydistill.data import prepare_task_data
from raydistill.layout import RayDir
from raydistill.models.arch import Arch
from raydistill.models.loading import load_task_model, load_tokenizer
from raydistill.results.pareto import budget_limit
from raydistill.results.table import COLUMNS, read_table
from raydistill.search import tuner as tuner_module
from raydistill.search.evaluator import evaluate_arch
from raydistill.search.progress import SearchProgress
from raydistill.search.proposals import read_exhausted
from raydistill.search.tuner import SearchInterrupted, default_key, run_search
from raydistill.spec.schema import Spec
from tests.unit.training.conftest import write_sst2

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_leftover_placement_groups")]


def make_spec(model_dir: Path, data_dir: Path, storage: Path, concurrent: int = 2, **search: Any) -> Spec:
    """Tiny search: 4 widths x 2 depths of the 2-layer tiny BERT; the largest budget 0.45 keeps 4 of the 8."""
    return Spec(
        name="tiny",
        task="sst2",
        data={"path": str(data_dir), "max_seq_length": 32, "search_split": 0.25},
        teacher={"model": str(model_dir), "finetuned": True},
        supernet={"widths": [1.0, 0.75, 0.5, 0.25], "depths": [1.0, 0.5]},
        search={
            "num_trials": 12,
            "budgets": [0.3, 0.45],
            "population_size": 4,
            "pareto_eval_cap": 3,
            **search,
        },
        resources={"max_concurrent_trials": concurrent, "storage_path": str(storage)},
        seed=0,
    )


@pytest.fixture
def setup(tiny_model_dir: Path, tmp_path: Path) -> dict[str, Path]:
    return {"model": tiny_model_dir, "data": write_sst2(tmp_path / "data"), "run": tmp_path / "run"}


def test_nsga2_search_end_to_end_writes_the_table(setup: dict[str, Path]) -> None:
    spec = make_spec(setup["model"], setup["data"], setup["run"].parent)
    result = run_search(spec, setup["model"], setup["run"])
    out = setup["run"] / "search"
    table = read_table(out)
    # 12 trials asked of a space of 8 Archs: each proposed once, then the search ends (not "interrupted")
    assert len(table) == table["arch_id"].nunique() == 8 and list(table.columns) == list(COLUMNS)
    assert read_exhausted(out) == 8
    assert (out / "trials.csv").is_file() and result.trials_run_now == 8
    assert set(table["sampler"]) == {"nsga2"} and set(table["metric_name"]) == {"accuracy"}
    assert set(table["status"]) <= {"ok", "infeasible"}
    # budgets price encoder FLOPs: 0.45 admits total ratios up to 0.45 + 0.55 x the fixed (pooler, head) share
    limit = budget_limit(0.45, json.loads((out / "meta.json").read_text())["fixed_ratio"])
    infeasible = table[table["status"] == "infeasible"]
    assert (infeasible["flops_ratio"] > limit).all() and infeasible["search_metric"].isna().all()
    ok = table[table["status"] == "ok"]
    assert len(ok) and (ok["flops_ratio"] <= limit).all() and ok["search_metric"].between(0, 1).all()

    # The reported search metric is the search split's, recomputed here in the driver for two Archs.
    tokenizer = load_tokenizer(str(setup["model"]))
    data = prepare_task_data(
        "sst2", tokenizer, path=setup["data"], max_seq_length=32, search_fraction=0.25, seed=0
    )
    model = load_task_model(str(setup["model"]), "classification", 2)
    for _, row in ok.head(2).iterrows():
        direct = evaluate_arch(model, Arch.from_json(row["arch_json"]), data.search, data.collate, 64)
        assert row["search_metric"] == pytest.approx(direct["accuracy"])

    # Dev: the Pareto front (its best first) got a dev metric, computed on dev.
    front = table[table["on_front"]]
    assert len(front) and front["dev_metric"].notna().all()
    best = front.sort_values(["search_metric", "flops_ratio"], ascending=[False, True]).iloc[0]
    direct = evaluate_arch(model, Arch.from_json(best["arch_json"]), data.dev["dev"], data.collate, 64)
    assert table.loc[table["arch_id"] == best["arch_id"], "dev_metric"].iloc[0] == pytest.approx(direct["accuracy"])
    assert table["dev_metric"].notna().sum() < len(table)  # only the chosen ones

    meta = json.loads((out / "meta.json").read_text())
    assert {"name", "task", "metric_name", "budgets", "sampler", "teacher"} <= set(meta)
    assert meta["budgets"] == [0.3, 0.45] and meta["teacher"]["flops"] > 0 and meta["teacher"]["params"] > 0


class InterruptOnce(SearchProgress):
    """Progress callback that stops the search (SIGUSR1, Tune's graceful stop) once `after` trials finished.

    A marker file makes it fire only once: Tune pickles callbacks into the experiment, so the resumed run
    carries this callback too.
    """

    def __init__(self, total: int, metric: str, after: int, marker: Path) -> None:
        super().__init__(total, metric)
        self.after, self.marker, self.seen = after, marker, 0

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        super().on_trial_complete(iteration, trials, trial, **info)
        self.seen += 1
        if self.seen >= self.after and not self.marker.exists():
            self.marker.touch()
            os.kill(os.getpid(), signal.SIGUSR1)


@pytest.mark.parametrize("sampler", ["evolution", "nsga2"])
def test_interrupted_search_resumes_without_re_evaluating(
    sampler: str, setup: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Stopped after 4 finished trials, then rerun: only the missing trials run. The searcher's state
    (evolution: population, frontier, RNG; NSGA-II: the Optuna study and a sampler that holds a lock) goes
    through `tuner.pkl` and Tune's searcher checkpoint and restore."""
    spec = make_spec(
        setup["model"],
        setup["data"],
        setup["run"].parent,
        1,
        num_trials=10,
        sampler=sampler,
        space="layerwise",
    )
    marker = tmp_path / "interrupted"
    monkeypatch.setattr(
        tuner_module, "SearchProgress", lambda total, metric: InterruptOnce(total, metric, 4, marker)
    )
    with pytest.raises(SearchInterrupted, match=r"stopped after \d+ of 10 trials.*rerun"):
        run_search(spec, setup["model"], setup["run"])
    first = read_table(setup["run"] / "search")
    assert 4 <= len(first) < 10

    result = run_search(spec, setup["model"], setup["run"])
    table = result.table
    assert len(table) == 10 and result.trials_run_now == 10 - len(first)
    assert set(table["sampler"]) == {sampler} and table["arch_id"].nunique() == 10
    merged = first.merge(table, on="trial_id", suffixes=("_first", ""))
    assert len(merged) == len(first)  # every finished trial kept, with the same result
    same = merged["search_metric_first"].fillna(-1) == merged["search_metric"].fillna(-1)
    assert same.all() and (merged["arch_id_first"] == merged["arch_id"]).all()


def test_random_sampler_runs(setup: dict[str, Path]) -> None:
    """(NSGA-II runs end to end above; evolution and NSGA-II in the resume test.)"""
    spec = make_spec(setup["model"], setup["data"], setup["run"].parent, 1, sampler="random", num_trials=6)
    result = run_search(spec, setup["model"], setup["run"])
    assert len(result.table) == 6 and set(result.table["sampler"]) == {"random"}
    assert not math.isnan(result.table["search_metric"].max())


@pytest.mark.parametrize(
    "tuner_pkl",
    [b"", b"garbage", cloudpickle.dumps(["not a tuner state"])],
    ids=["empty", "garbage", "restore-fails"],
)
def test_a_damaged_saved_search_is_set_aside_and_the_search_runs(
    tuner_pkl: bytes, setup: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """A failed Tuner creation leaves an empty tuner.pkl beside the same inputs; Tune's restore fails on it
    (before: every rerun ended in a bare "Aborted."). The third loads, but `Tuner.restore` refuses it."""
    spec = make_spec(setup["model"], setup["data"], setup["run"].parent, 1, sampler="random", num_trials=3)
    out, experiment = setup["run"] / "search", setup["run"] / "ray" / "tiny-search"
    out.mkdir(parents=True)
    experiment.mkdir(parents=True)
    RayDir(experiment).inputs.write_text(json.dumps({"key": default_key(spec)}))
    (experiment / "tuner.pkl").write_bytes(tuner_pkl)
    with caplog.at_level(logging.INFO, logger="raydistill.training"):
        result = run_search(spec, setup["model"], setup["run"])
    assert len(result.table) == 3 and result.trials_run_now == 3
    assert (experiment.parent / "tiny-search.prev" / "tuner.pkl").read_bytes() == tuner_pkl
    said = [r.getMessage() for r in caplog.records if "previous search kept at" in r.getMessage()]
    assert len(said) == 1 and "tiny-search.prev" in said[0] and "starting afresh" in said[0]


def test_a_search_stopped_before_its_first_checkpoint_starts_afresh(
    setup: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped between the Tuner's creation and its first checkpoint: only tuner.pkl is saved. Tune's own
    restore of it logs a traceback and restarts with a wrong trial count (it ran 1 of 3 trials)."""
    spec = make_spec(setup["model"], setup["data"], setup["run"].parent, 1, sampler="nsga2", num_trials=3)

    def stopped_at_once(self: Any) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(tuner_module.tune.Tuner, "fit", stopped_at_once)
        with pytest.raises(KeyboardInterrupt):
            run_search(spec, setup["model"], setup["run"])
    experiment = setup["run"] / "ray" / "tiny-search"
    assert (experiment / "tuner.pkl").stat().st_size > 0 and not list(experiment.glob("experiment_state-*"))
    result = run_search(spec, setup["model"], setup["run"])
    assert len(result.table) == 3 and result.trials_run_now == 3
    assert (experiment.parent / "tiny-search.prev" / "tuner.pkl").is_file()
