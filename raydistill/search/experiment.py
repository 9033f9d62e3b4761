"""A saved Tune experiment: whether Tune can resume it, and setting it aside when it cannot.

Tune resumes an experiment from files in its directory: `tuner.pkl` (written when the Tuner is created) and,
from the first experiment checkpoint on, the newest `experiment_state-*.json` (the trials), `search_gen_state-*.json`
and `searcher-state-*.pkl` (the searcher). A run that failed or was killed at the wrong moment can leave them
empty, partial or missing: the failed Tuner creation of a searcher that does not pickle leaves an empty
`tuner.pkl`. Tune then fails on every rerun with a bare `EOFError`, or logs the failure and restarts the
experiment in a half-restored state (a searcher that no longer knows the finished trials, a wrong trial count). `damage` reads these files the way Tune's
restore does (the newest of each kind; JSON or cloudpickle) and names the first problem; the search stage then sets the
experiment aside (`set_aside`, to `<name>.prev`) and starts afresh.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from ray import cloudpickle

from raydistill.layout import RayDir

__all__ = ["READERS", "TUNER_FILE", "damage", "describe", "set_aside"]

TUNER_FILE = "tuner.pkl"
EXPERIMENT_STATE = "experiment_state-*.json"
# What Tune reads on resume once a checkpoint was saved, and how: the trials (JSON), then the searcher's
# wrapper (a cloudpickle despite its name) and the searcher's own state.
READERS: dict[str, Callable[[bytes], object]] = {
    EXPERIMENT_STATE: json.loads,
    "search_gen_state-*.json": cloudpickle.loads,
    "searcher-state-*.pkl": cloudpickle.loads,
}


def damage(experiment: Path) -> str | None:
    """What makes the saved experiment unusable for Tune's restore, or None when every file it reads loads.

    An experiment stopped before its first checkpoint (`tuner.pkl` alone) cannot be resumed either: Tune's
    restore fails on it, logs a traceback and restarts with the wrong trial count (1 of 3 trials, measured).
    """
    problem = _unreadable(experiment / TUNER_FILE, cloudpickle.loads)
    if problem is not None:
        return problem
    if not any(experiment.glob(EXPERIMENT_STATE)):
        return f"no {EXPERIMENT_STATE}: it stopped before saving any trial"
    for pattern, read in READERS.items():
        newest = max(experiment.glob(pattern), default=None)  # Tune restores the newest (timestamped names)
        if newest is None:
            return f"no {pattern} beside {EXPERIMENT_STATE}"
        problem = _unreadable(newest, read)
        if problem is not None:
            return problem
    return None


def _unreadable(path: Path, read: Callable[[bytes], object]) -> str | None:
    """Why `read` (Tune's way of loading `path`) fails on it, or None when it loads."""
    if not path.is_file():
        return f"{path.name} is missing"
    if path.stat().st_size == 0:
        return f"{path.name} is empty"
    try:
        read(path.read_bytes())
    except Exception as exc:  # any failure to load is damage: truncated, garbage, or from another version
        return f"{path.name} cannot be read ({describe(exc)})"
    return None


def describe(exc: BaseException) -> str:
    """`Type: first line of the message` (cut to 200 characters), for one-line reports."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:200]}" if lines else type(exc).__name__


def set_aside(experiment: Path) -> Path:
    """Move `experiment` to `<name>.prev` (replacing an older one) and return the new path."""
    backup = RayDir(experiment).prev
    shutil.rmtree(backup, ignore_errors=True)
    experiment.rename(backup)
    return backup
