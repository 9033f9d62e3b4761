"""Searcher state survives Tune's round trips: `tuner.pkl` (cloudpickle), `Searcher.save`/`restore` and
`save_to_dir`/`restore_from_dir` (Tune's periodic experiment checkpoint, read back on resume).

Every registered sampler is saved with a trial still running, restored, and must then continue exactly as the
searcher that was never saved: same proposals, same trials and constraints told to its Optuna study.
Optuna 5.1's NSGA-II sampler holds a `threading.Lock`, which plain pickling refuses.
"""

from __future__ import annotations

import pickle
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from ray import cloudpickle
from torch import nn

from raydistill.search.samplers import GP_STARTUP_TRIALS, SAMPLERS, ConstrainedOptunaSearch, make_searcher
from raydistill.search.snapshot import dumps
from raydistill.search.trainable import run_trial, state_to_numpy
from tests.unit.search.test_samplers import CountingEvaluator, _drive, _options, _payload


def _saved_and_restored(searcher: Any, tmp_path: Path, make: Callable[[], Any]) -> Any:
    tmp_path.mkdir()
    path = tmp_path / "searcher.pkl"
    searcher.save(str(path))
    restored = make()
    restored.restore(str(path))
    return restored


def _saved_to_dir(searcher: Any, tmp_path: Path, make: Callable[[], Any]) -> Any:
    folder = tmp_path / "experiment"
    folder.mkdir(parents=True)
    searcher.save_to_dir(str(folder), session_str="unit")
    restored = make()
    restored.restore_from_dir(str(folder))
    return restored


ROUND_TRIPS: dict[str, Callable[[Any, Path, Callable[[], Any]], Any]] = {
    "pickle": lambda s, _tmp, _make: pickle.loads(pickle.dumps(s)),
    "tuner.pkl": lambda s, _tmp, _make: cloudpickle.loads(cloudpickle.dumps(s)),
    "save/restore": _saved_and_restored,
    "save_to_dir/restore_from_dir": _saved_to_dir,
}


def _told(searcher: Any) -> list[tuple[Any, ...]]:
    """What the searcher's Optuna study was told (none for the evolution searcher)."""
    if not isinstance(searcher, ConstrainedOptunaSearch):
        return []
    return [
        (t.number, t.state, t.params, t.values, t.system_attrs.get("constraints"))
        for t in searcher.study.get_trials(deepcopy=False)
    ]


@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_a_restored_searcher_continues_as_one_never_saved(
    sampler: str, tiny_model: nn.Module, sst2_data: Any, tmp_path: Path
) -> None:
    options = _options("layerwise")  # 40 trials: `auto` runs the GP
    original = make_searcher(sampler, options)
    evaluator = CountingEvaluator()
    # past NSGA-II's first generation (population 4), and past the GP's start-up: its fitted GPs are saved too
    warm = GP_STARTUP_TRIALS + 2 if sampler in ("gp", "auto") else 6
    _drive(original, warm, tiny_model, sst2_data, evaluator)
    running = original.suggest("running")  # in flight while Tune saves the searcher
    assert isinstance(running, dict)
    copies = {
        name: trip(original, tmp_path / name.replace("/", "_"), lambda: make_searcher(sampler, options))
        for name, trip in ROUND_TRIPS.items()
    }
    result = run_trial(
        running, state_to_numpy(tiny_model), _payload(tiny_model, sst2_data), evaluate=evaluator
    )
    ahead = {}
    for name, searcher in {"never saved": original, **copies}.items():
        searcher.on_trial_complete("running", result)
        ahead[name] = [r["arch_id"] for r in _drive(searcher, 6, tiny_model, sst2_data, evaluator, first=100)]
    if sampler in ("gp", "auto"):
        assert original.study.sampler._gprs_cache_list is not None  # the restored ones continued a fitted GP
    for name, searcher in copies.items():
        assert ahead[name] == ahead["never saved"], name
        assert searcher._proposals.seen == original._proposals.seen, name
        assert _told(searcher) == _told(original), name


def test_a_snapshot_gives_each_lock_back_as_a_new_unlocked_lock() -> None:
    held = threading.Lock()
    held.acquire()
    event = threading.Event()
    event.set()
    state = {"lock": held, "rlock": threading.RLock(), "value": [1, 2], "event": event}
    back = pickle.loads(dumps(state))
    assert back["value"] == [1, 2]
    assert back["lock"].acquire(blocking=False) and back["rlock"].acquire(blocking=False)
    assert back["event"].is_set()  # primitives built on locks keep their own state


def test_the_nsga2_study_keeps_its_sampler_after_a_round_trip() -> None:
    """Regression: Optuna >= 5.1's GA samplers hold a lock, yet the searcher pickles with its sampler."""
    searcher = make_searcher("nsga2", _options())
    assert isinstance(searcher, ConstrainedOptunaSearch)
    back = pickle.loads(pickle.dumps(searcher))
    assert isinstance(back.study.sampler, optuna.samplers.NSGAIISampler)
    assert back.study.sampler is back._sampler  # one sampler, shared as before
