"""Snapshots of searcher state that pickle whatever locks the state holds.

Tune pickles a searcher into `tuner.pkl` when the Tuner is created and saves its state (`Searcher.save`)
while the search runs; a resumed search reads both back. An Optuna sampler may hold thread locks (Optuna 5.1's
GA samplers, NSGA-II among them, keep a `threading.Lock`), which `pickle` refuses. A lock guards no state of its
own, so `dumps` writes every lock as "a new lock" and loading gives a fresh, unlocked one (Conditions,
Events and Semaphores, built on locks, then pickle with their own state): the rest of the
state (sampler random generators, caches, the study's trials) is kept exactly, and Optuna's own storages
already recreate their locks the same way when unpickled. The bytes load with plain `pickle.loads`.
"""

from __future__ import annotations

import copyreg
import io
import pickle
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["dumps"]

_RLOCK = type(threading.RLock())


def _new_lock(lock: Any) -> tuple[Callable[[], Any], tuple[()]]:
    """Reduce a lock to "call `threading.Lock()`" (or `RLock()`): a new lock, unlocked."""
    return (threading.RLock if isinstance(lock, _RLOCK) else threading.Lock), ()


class _LockFreePickler(pickle.Pickler):
    """A pickler that writes each lock as a call that makes a new one."""

    dispatch_table = {**copyreg.dispatch_table, type(threading.Lock()): _new_lock, _RLOCK: _new_lock}


def dumps(obj: Any) -> bytes:
    """`pickle.dumps(obj)`, with every thread lock inside `obj` stored as a new unlocked lock."""
    buffer = io.BytesIO()
    _LockFreePickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buffer.getvalue()
