"""Rank 0's progress file and the driver's watcher that shows it on the console (no Ray)."""

from __future__ import annotations

import io
from pathlib import Path

from raydistill.console import Console, active_console
from raydistill.training.progress import ProgressFile, watch_progress


def test_rank_0_progress_reaches_the_active_console(tmp_path: Path) -> None:
    path = tmp_path / "run.progress.jsonl"
    path.write_text('{"step": 99, "total": 100, "text": "from an older run"}\n')  # watching starts afresh
    out = io.StringIO()
    shown = Console(out, live=True)
    with active_console(shown), watch_progress(path, poll_s=0.01):
        shown.stage("[1/2] teacher")
        writer = ProgressFile(str(path), total=10, every_s=3600)
        writer.step(1)  # the first step-only line is written, later ones wait `every_s`
        writer.step(2)
        writer.step(5, "loss 0.5000")  # a metric is always written
    frames = out.getvalue().split("\r\x1b[K")
    assert "older run" not in out.getvalue()
    assert frames[-2] == "[1/2] teacher: step 1/10 10%"
    assert frames[-1].startswith("[1/2] teacher: step 5/10 50% ETA ") and frames[-1].endswith(
        "| loss 0.5000\n"
    )


def test_a_writer_without_a_path_or_a_writable_file_writes_nothing(tmp_path: Path) -> None:
    ProgressFile(None, total=3).step(1, "loss 1")  # other ranks
    blocked = ProgressFile(str(tmp_path / "missing" / "p.jsonl"), total=3)
    blocked.step(1, "loss 1")  # a node without the run dir: training goes on
    assert blocked.path is None
