"""Keep library chatter out of the user's terminal: raydistill prints its own progress lines.

`quiet_env()` runs first thing in the CLI, before torch/transformers/ray are imported, and sets environment
variables (never overriding the user's own) that Ray workers started from this process inherit.
`quiet_loggers()` lowers the level of loggers that are already configured (call it inside Ray workers too).
`captured_output(log_file)` sends everything else a command's process writes (Ray's forwarded worker lines, its
loggers, C++ components' stderr) to a log file, keeping a stream to the terminal for raydistill's own lines.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

ENV_DEFAULTS = {
    "TRANSFORMERS_VERBOSITY": "error",  # weight-load reports ("classifier.bias MISSING" is expected for a new head)
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # "Loading weights" / "Writing model shards" bars
    "TOKENIZERS_PARALLELISM": "false",
    "RAY_AIR_NEW_OUTPUT": "0",
    "RAY_DEDUP_LOGS": "1",
    "RAY_AUTH_MODE": "disabled",  # local test clusters: no token file written under ~/.ray
}

NOISY_LOGGERS = ("ray.train", "ray.tune", "ray.data", "torch.onnx", "onnxscript", "datasets")


def quiet_env() -> None:
    """Set the environment defaults above, keeping any value the user already set."""
    for key, value in ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)


def quiet_loggers(level: int = logging.WARNING) -> None:
    """Lower already-known chatty loggers to `level` (progress stays on raydistill's own lines)."""
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(level)
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)


@dataclass
class CapturedOutput:
    """Where a `captured_output` block sent this process's output, and the stream that still reaches the user."""

    log_file: Path
    terminal: TextIO
    start_size: int = 0

    @property
    def wrote(self) -> bool:
        """True when something landed in the log file during the block."""
        try:
            return self.log_file.stat().st_size > self.start_size
        except OSError:
            return False


@contextlib.contextmanager
def captured_output(log_file: Path, header: str = "") -> Iterator[CapturedOutput]:
    """Send everything this process writes to stdout and stderr to `log_file` (appended) for the duration.

    File descriptors 1 and 2 are redirected (so `sys.stdout`/`sys.stderr`, which write to them, follow): the
    lines Ray forwards from its actors and workers, Ray's own loggers, and the C++ components' direct writes all
    land in the file. The
    yielded `terminal` stream still reaches the user (a duplicate of the original stdout). Ray, when the block
    started or joined it, is shut down before the block ends, so its shutdown chatter goes to the file too.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    terminal, owned = _terminal_stream()
    ray_was_up = _ray_is_up()
    with log_file.open("a", buffering=1, encoding="utf-8", errors="replace") as log:
        if header:
            log.write(header + "\n")
        captured = CapturedOutput(log_file, terminal, log_file.stat().st_size)
        saved = (os.dup(1), os.dup(2))
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield captured
        finally:
            if not ray_was_up and _ray_is_up():
                with contextlib.suppress(Exception):
                    sys.modules["ray"].shutdown()
            for stream in (sys.stdout, sys.stderr, log):
                with contextlib.suppress(OSError, ValueError):
                    stream.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            if owned:
                terminal.close()


def _terminal_stream() -> tuple[TextIO, bool]:
    """A stream to the user's stdout that survives the fd-1 redirection, and whether it must be closed."""
    try:
        if sys.stdout.fileno() == 1:
            return os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8", errors="replace"), True
    except (AttributeError, OSError, ValueError):  # a captured stream (click's CliRunner, pytest capsys)
        pass
    return sys.stdout, False


def _ray_is_up() -> bool:
    ray = sys.modules.get("ray")
    return ray is not None and bool(ray.is_initialized())
