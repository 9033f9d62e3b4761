"""The search builder's bookkeeping without Ray: resume-or-restart decisions and the one-line summary."""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from ray import cloudpickle

from raydistill.layout import RayDir, RunLayout
from raydistill.search.tuner import SearchResult, _reuse_or_replace

STATE = cloudpickle.dumps({"stand-in": "state"})  # loads as Tune's restore loads its pickles
TRIALS = json.dumps({"trial_data": [], "runner_data": {}})  # stands in for Tune's JSON of trial states


def _experiment(path: Path, checkpoint: bool = False) -> Path:
    """A saved experiment: `tuner.pkl` (what `Tuner.can_restore` looks for), and one checkpoint if asked."""
    path.mkdir(parents=True)
    (path / "tuner.pkl").write_bytes(STATE)
    if checkpoint:
        (path / "experiment_state-1.json").write_text(TRIALS)  # JSON; the searcher's files are pickles
        for name in ("search_gen_state-1.json", "searcher-state-1.pkl"):
            (path / name).write_bytes(STATE)
    return path


def _recorded(experiment: Path) -> str:
    """The key the experiment was started under (`ray/<name>-search.inputs.json`)."""
    return json.loads(RayDir(experiment).inputs.read_text())["key"]


def test_same_inputs_resume_and_changed_inputs_start_afresh(tmp_path: Path) -> None:
    out = tmp_path / "search"
    experiment = tmp_path / "ray" / "x-search"
    assert not _reuse_or_replace(experiment, RunLayout(tmp_path), "key-6")  # nothing yet: fresh
    assert _recorded(experiment) == "key-6"
    _experiment(experiment, checkpoint=True)
    (out / "trials.parquet").write_bytes(b"old")
    assert _reuse_or_replace(experiment, RunLayout(tmp_path), "key-6")  # same inputs: resume
    assert (out / "trials.parquet").exists()

    assert not _reuse_or_replace(experiment, RunLayout(tmp_path), "key-12")  # changed: old one kept aside
    assert not experiment.exists() and (experiment.parent / "x-search.prev" / "tuner.pkl").exists()
    assert not (out / "trials.parquet").exists()  # stale outputs dropped
    assert _recorded(experiment) == "key-12"


def test_a_start_without_saved_state_is_discarded(tmp_path: Path) -> None:
    experiment = tmp_path / "ray" / "x-search"
    (experiment / "trial_1").mkdir(parents=True)  # no tuner.pkl: Tune could not restore it
    assert not _reuse_or_replace(experiment, RunLayout(tmp_path), "k")
    assert not experiment.exists()


def _newer(experiment: Path, name: str, content: bytes) -> None:
    """A later session's checkpoint file (Tune restores the newest): `name` with timestamp 2."""
    (experiment / name.replace("1", "2")).write_bytes(content)


DAMAGE: dict[str, tuple[Callable[[Path], object], str]] = {
    "stopped before its first checkpoint": (
        lambda e: [p.unlink() for p in e.iterdir() if p.name != "tuner.pkl"],
        r"no experiment_state-\*.json: it stopped before saving any trial",
    ),
    "empty tuner.pkl": (lambda e: (e / "tuner.pkl").write_bytes(b""), "tuner.pkl is empty"),
    "garbage tuner.pkl": (
        lambda e: (e / "tuner.pkl").write_bytes(b"not a pickle"),
        r"tuner.pkl cannot be read \(UnpicklingError",
    ),
    "cut tuner.pkl": (lambda e: (e / "tuner.pkl").write_bytes(STATE[:-3]), "tuner.pkl cannot be read"),
    "no searcher state": (
        lambda e: (e / "searcher-state-1.pkl").unlink(),
        r"no searcher-state-\*.pkl beside experiment_state",
    ),
    "newest searcher state cut": (
        lambda e: _newer(e, "searcher-state-1.pkl", STATE[:7]),
        "searcher-state-2.pkl cannot be read",
    ),
    "newest trials empty": (
        lambda e: _newer(e, "experiment_state-1.json", b""),
        "experiment_state-2.json is empty",
    ),
    "newest trials cut": (
        lambda e: _newer(e, "experiment_state-1.json", TRIALS[:-4].encode()),
        r"experiment_state-2.json cannot be read \(JSONDecodeError",
    ),
    "garbage search_gen_state": (
        lambda e: (e / "search_gen_state-1.json").write_bytes(b"\x80\x05garbage"),
        "search_gen_state-1.json cannot be read",
    ),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_damaged_experiment_is_set_aside_with_one_line_and_the_search_starts_afresh(
    case: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What Tune's restore would trip on (a failed Tuner creation leaves an empty tuner.pkl; a run stopped before
    its first checkpoint leaves tuner.pkl alone, and Tune's restore then restarts it with a wrong trial count)."""
    out, key = tmp_path / "search", "key-6"
    assert not _reuse_or_replace(tmp_path / "ray" / "x-search", RunLayout(tmp_path), key)  # a first start records the key
    experiment = _experiment(tmp_path / "ray" / "x-search", checkpoint=True)
    assert _reuse_or_replace(experiment, RunLayout(tmp_path), key)  # intact, same inputs: resumed
    (out / "trials.parquet").write_bytes(b"old")
    damage, message = DAMAGE[case]
    damage(experiment)
    with caplog.at_level(logging.INFO, logger="raydistill.training"):
        assert not _reuse_or_replace(experiment, RunLayout(tmp_path), key)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "saved search cannot be resumed" in lines[0] and "starting afresh" in lines[0]
    assert re.search(message, lines[0]), lines[0]
    assert not experiment.exists() and (experiment.parent / "x-search.prev" / "tuner.pkl").exists()
    assert not (out / "trials.parquet").exists() and _recorded(tmp_path / "ray" / "x-search") == key


def test_headline_names_the_best_arch_on_the_search_split(tmp_path: Path) -> None:
    table = pd.DataFrame(
        {
            "arch_id": ["L1-H2-F32", "L2-H4x2-F64x2"],
            "search_metric": [0.8125, math.nan],
            "dev_metric": [0.75, math.nan],
            "status": ["ok", "infeasible"],
        }
    )
    result = SearchResult(table, tmp_path, {"metric_name": "accuracy"}, 2, 1.0)
    assert result.headline == "2 trials, 1 evaluated | best L1-H2-F32 accuracy 0.8125 (dev 0.7500)"


def test_sampler_seed_defaults_to_the_spec_seed_and_changes_the_default_key() -> None:
    from raydistill.search.tuner import default_key, sampler_seed
    from raydistill.spec.schema import Spec

    base = {"name": "s", "task": "sst2", "teacher": {"model": "bert-base-uncased"}, "seed": 7}
    spec = Spec(**base)
    reseeded = Spec(**base, search={"seed": 3})
    assert sampler_seed(spec) == 7 and sampler_seed(reseeded) == 3
    assert default_key(spec) != default_key(reseeded)  # another seed: a new search


def test_only_the_largest_budget_is_part_of_the_default_key() -> None:
    from raydistill.search.tuner import default_key
    from raydistill.spec.schema import Spec

    base = {"name": "s", "task": "sst2", "teacher": {"model": "bert-base-uncased"}}
    key = default_key(Spec(**base, search={"budgets": [0.25, 0.5, 0.75]}))
    assert key == default_key(Spec(**base, search={"budgets": [0.3, 0.75]}))  # the picks change: resume
    assert key != default_key(Spec(**base, search={"budgets": [0.25, 0.5, 0.9]}))  # feasibility changes


def test_a_search_stopped_after_its_space_ran_out_still_counts_as_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """5 distinct proposals were made (then the space ran out) but only 3 trials finished: not complete."""
    from types import SimpleNamespace

    from raydistill.search import tuner
    from raydistill.search.proposals import EXHAUSTED_FILE
    from raydistill.spec.schema import Spec
    from tests.unit.results.conftest import fixture_rows

    rows = fixture_rows()
    finished = 3

    def fake_tuner(spec: Spec, setup: object, supernet_dir: Path, run_dir: Path) -> object:
        (run_dir / "search" / EXHAUSTED_FILE).write_text(json.dumps({"proposals": 5}))
        return tuner._Outcome(rows=rows[:finished], ran_now=finished, errors=[])

    monkeypatch.setattr(tuner, "load_setup", lambda spec, d: SimpleNamespace(metric="accuracy", ctx=SimpleNamespace(fixed_ratio=0.0)))
    monkeypatch.setattr(tuner, "ensure_ray", lambda *a, **k: None)
    monkeypatch.setattr(tuner, "_run_tuner", fake_tuner)
    monkeypatch.setattr(tuner, "_final", lambda spec, setup, table, dev_file: table)
    monkeypatch.setattr(tuner, "search_meta", lambda **k: {"metric_name": "accuracy"})
    spec = Spec(name="s", task="sst2", teacher={"model": "bert-base-uncased"}, search={"num_trials": 20})
    run_dir = tmp_path / "run"
    (run_dir / "search").mkdir(parents=True)
    with pytest.raises(tuner.SearchInterrupted, match="after 3 of 20 trials"):
        tuner.run_search(spec, tmp_path, run_dir)
    finished = 5  # every proposal finished: the search ends early, complete
    assert len(tuner.run_search(spec, tmp_path, run_dir).table) == 5
