"""Training progress from rank 0 to the driver's console: a small JSON-lines file beside the Ray Train run.

Worker output reaches the driver only as Ray's forwarded log lines, which a command sends to its log file; so
rank 0 also appends `{"step": 120, "total": 460, "text": "loss 0.4123"}` lines to `RayDir.progress` (at
most one a second, plus one per progress log line and evaluation), and `watch_progress` in the driver tails the
file and hands each line to the active console. The same works in-process (`num_workers=0`). A worker that
cannot write the file (a node without the run's directory) trains on without progress lines.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from raydistill import console

__all__ = ["ProgressFile", "watch_progress"]


class ProgressFile:
    """Rank 0's writer. `path=None` (other ranks, or no watcher) writes nothing.

    Args:
        path: the JSON-lines file to append to.
        total: total optimizer steps of the run.
        every_s: least time between two step-only lines.
    """

    def __init__(self, path: str | None, total: int, every_s: float = 1.0) -> None:
        self.path, self.total, self.every_s = path, total, every_s
        self._last = -float("inf")

    def step(self, step: int, text: str = "") -> None:
        """Record `step`; a line is written when `text` is given or `every_s` has passed since the last one."""
        now = time.monotonic()
        if self.path is None or (not text and now - self._last < self.every_s):
            return
        self._last = now
        try:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps({"step": step, "total": self.total, "text": text}) + "\n")
        except OSError:
            self.path = None  # progress is a nicety: never let it stop training


@contextlib.contextmanager
def watch_progress(path: Path, poll_s: float = 0.25) -> Iterator[None]:
    """Start `path` afresh and, for the duration, report each line rank 0 appends to the active console."""
    path.unlink(missing_ok=True)
    stop = threading.Event()
    thread = threading.Thread(target=_follow, args=(path, stop, poll_s), daemon=True, name="raydistill-progress")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def _follow(path: Path, stop: threading.Event, poll_s: float) -> None:
    offset = 0
    while True:
        finished = stop.is_set()  # read once more after the run ended, then stop
        offset = _read_new(path, offset)
        if finished:
            return
        stop.wait(poll_s)


def _read_new(path: Path, offset: int) -> int:
    """Report the complete lines after `offset`; return the offset after them."""
    try:
        with path.open("rb") as f:
            f.seek(offset)
            chunk = f.read()
    except OSError:
        return offset
    end = chunk.rfind(b"\n") + 1
    for raw in chunk[:end].splitlines():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            event = json.loads(raw)
            console.progress(int(event["step"]), int(event["total"]), str(event.get("text", "")))
    return offset + end
