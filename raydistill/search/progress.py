"""Search progress: the console's live line per finished trial, and a log line per 5% of the trials: done /
total, best so far."""

from __future__ import annotations

import math
from typing import Any

from ray.tune import Callback

from raydistill import console
from raydistill.training.runtime import progress_logger

__all__ = ["SearchProgress"]

_FINISHED = ("TERMINATED", "ERROR")


class SearchProgress(Callback):
    """Tune callback: `search 7/12 trials | best accuracy=0.8120 at 0.41x teacher FLOPs | 1 error`.

    Counts every finished trial of the experiment, including those finished before a resume.

    Args:
        total: trials of the search (`search.num_trials`).
        metric: the task's main metric (maximised), as reported by the trainable.
    """

    def __init__(self, total: int, metric: str) -> None:
        self.total = total
        self.metric = metric

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._log(trials, trial)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._log(trials, trial)

    def _log(self, trials: list, current: Any) -> None:
        done = [t for t in trials if t is current or t.status in _FINISHED]
        every = max(1, math.ceil(self.total / 20))
        logged = len(done) % every == 0 or len(done) >= self.total
        ok = [t.last_result for t in done if t.last_result.get("status") == "ok"]
        errors = sum(
            1 for t in done if t.status == "ERROR" or (t is current and not t.last_result.get("status"))
        )
        line = f"search {len(done)}/{self.total} trials"
        if ok:
            best = max(ok, key=lambda r: (r[self.metric], -r["flops_ratio"]))
            line += (
                f" | best {self.metric}={best[self.metric]:.4f} at {best['flops_ratio']:.2f}x teacher FLOPs"
            )
        failed = sum(1 for t in done if t.last_result.get("status") == "failed")
        if failed:
            line += f" | {failed} failed (NaN or inf outputs)"
        if errors:
            line += f" | {errors} error{'s' if errors > 1 else ''}"
        console.progress(len(done), self.total, line.partition(" | ")[2], unit="trial")
        if logged:
            progress_logger().info(line)
