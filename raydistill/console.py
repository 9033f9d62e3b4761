"""What a command shows on the terminal: raydistill's own stage and progress lines, nothing else.

The CLI makes one `Console` per command and activates it (`active_console`); the pipeline, the training watcher
(`training.progress`) and the search callback report to it through `progress` and `note`, which do nothing when
no console is active (library use, unit tests). No Ray, no torch here.

- On a terminal each running stage keeps one live line, rewritten in place:
  `[1/5] teacher: step 120/460 26% ETA 1:35 | loss 0.4123`; the stage's final line replaces it.
- Elsewhere (pipes, CI logs) there are no carriage returns: a stage prints one progress line when it passes half
  way, then its final line.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from collections.abc import Iterator
from typing import TextIO

__all__ = ["Console", "active_console", "format_seconds", "note", "progress", "stage"]

CLEAR_LINE = "\r\x1b[K"


def format_seconds(seconds: float) -> str:
    """`42 s`, `3:05`, `1:02:03`: short durations for ETAs."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Console:
    """Stage lines and one live progress line per stage on `stream` (thread-safe: watchers report from threads).

    Args:
        stream: where the lines go (the real terminal, also while Ray's output is redirected to a file).
        live: rewrite a live line in place; default: when `stream` is a terminal.
    """

    def __init__(self, stream: TextIO, *, live: bool | None = None) -> None:
        self.stream = stream
        self.live = _isatty(stream) if live is None else live
        self._lock = threading.Lock()
        self._prefix = ""
        self._shown = False  # a live line is on screen
        self._first: tuple[float, int] | None = None  # (time, done) of the run's first progress report
        self._last_done = 0
        self._halfway = False
        self._text = ""

    def stage(self, prefix: str) -> None:
        """A stage starts; its progress lines begin with `prefix` (e.g. `[1/5] teacher`)."""
        with self._lock:
            self._prefix, self._first, self._halfway, self._text, self._last_done = prefix, None, False, "", 0
            if self.live:
                self._draw(f"{prefix} ...")

    def progress(self, done: int, total: int, text: str = "", unit: str = "step") -> None:
        """`done` of `total` units so far, with the latest metric `text` (kept until a new one comes).

        A count that goes back is the stage's next run (students, retrained picks): its ETA, metric and halfway
        line start afresh, so a stage of many runs shows each one without a terminal too.
        """
        with self._lock:
            now = time.monotonic()
            if self._first is None or done < self._last_done:
                self._first, self._halfway, self._text = (now, done), False, ""
            self._last_done = done
            self._text = text or self._text
            line = f"{self._prefix}: {unit} {done}/{total}"
            if total > 0:
                line += f" {100 * done // total}%"
            eta = self._eta(now, done, total)
            if eta is not None and done < total:
                line += f" ETA {format_seconds(eta)}"
            if self._text:
                line += f" | {self._text}"
            if self.live:
                self._draw(line)
            elif not self._halfway and total > 0 and total <= 2 * done < 2 * total:
                self._halfway = True
                self._write(line)

    def line(self, text: str) -> None:
        """A whole line (a stage's final line, a note for the user); it replaces the live line."""
        with self._lock:
            self._write(text)

    def finish(self) -> None:
        """End a live line left on screen (a stage that failed or was interrupted), so errors start a new line."""
        with self._lock:
            if self._shown:
                self.stream.write("\n")
                self.stream.flush()
                self._shown = False

    def _eta(self, now: float, done: int, total: int) -> float | None:
        if self._first is None:
            return None
        started, done0 = self._first
        if done <= done0 or now <= started:
            return None
        return (total - done) * (now - started) / (done - done0)

    def _draw(self, text: str) -> None:
        width = shutil.get_terminal_size((100, 20)).columns - 1
        self.stream.write(CLEAR_LINE + text[:width])
        self.stream.flush()
        self._shown = True

    def _write(self, text: str) -> None:
        self.stream.write((CLEAR_LINE if self._shown else "") + text + "\n")
        self.stream.flush()
        self._shown = False


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


_active: Console | None = None


@contextlib.contextmanager
def active_console(console: Console) -> Iterator[Console]:
    """Make `console` the one `progress` and `note` report to, for the duration (then end its live line)."""
    global _active
    previous, _active = _active, console
    try:
        yield console
    finally:
        _active = previous
        console.finish()


def progress(done: int, total: int, text: str = "", unit: str = "step") -> None:
    """Report progress of the running stage to the active console (nothing without one)."""
    if _active is not None:
        _active.progress(done, total, text, unit)


def note(text: str) -> bool:
    """Show `text` as a line on the active console; False when there is none (the caller logs it instead)."""
    if _active is None:
        return False
    _active.line(text)
    return True


def stage(prefix: str) -> None:
    """A stage starts on the active console (nothing without one)."""
    if _active is not None:
        _active.stage(prefix)
