"""The console: live progress lines on a terminal, a few plain lines elsewhere; Ray's output captured to a file."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from raydistill import console
from raydistill.console import CLEAR_LINE, Console, active_console, format_seconds


def test_without_a_terminal_a_stage_prints_its_halfway_line_only() -> None:
    out = io.StringIO()
    shown = Console(out, live=False)
    shown.stage("[1/3] teacher")
    for step in range(1, 101):
        shown.progress(step, 100, f"loss {1 / step:.2f}" if step % 10 == 0 else "")
    shown.line("[1/3] teacher: dev accuracy=0.9000 (ran in 3 s)")
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert len(lines) == 2
    assert lines[0].startswith("[1/3] teacher: step 50/100 50%") and lines[0].endswith("| loss 0.02")
    assert lines[1] == "[1/3] teacher: dev accuracy=0.9000 (ran in 3 s)"


def test_without_a_terminal_each_run_of_a_stage_prints_its_halfway_line() -> None:
    out = io.StringIO()
    shown = Console(out, live=False)
    shown.stage("[2/4] students")
    for total, text in ((10, "kd3"), (6, "pkd3")):  # two Ray Train runs in one stage
        for step in range(1, total + 1):
            shown.progress(step, total, text if step == 1 else "")
    lines = out.getvalue().splitlines()
    assert [line.split(" ETA")[0] for line in lines] == [
        "[2/4] students: step 5/10 50%",
        "[2/4] students: step 3/6 50%",
    ]
    assert lines[0].endswith("| kd3") and lines[1].endswith("| pkd3")


def test_on_a_terminal_the_live_line_is_rewritten_then_replaced() -> None:
    out = io.StringIO()
    shown = Console(out, live=True)
    shown.stage("[3/5] search")
    shown.progress(1, 40, "best accuracy=0.8", unit="trial")
    shown.progress(2, 40, unit="trial")  # the latest metric stays on the line
    shown.line("[3/5] search: 40 trials (ran in 60 s)")
    frames = out.getvalue().split(CLEAR_LINE)
    assert frames[1] == "[3/5] search ..."
    assert frames[2] == "[3/5] search: trial 1/40 2% | best accuracy=0.8"
    assert frames[3].startswith("[3/5] search: trial 2/40 5% ETA ") and frames[3].endswith("| best accuracy=0.8")
    assert frames[4] == "[3/5] search: 40 trials (ran in 60 s)\n"


def test_a_live_line_left_by_a_failed_stage_is_ended() -> None:
    out = io.StringIO()
    with pytest.raises(RuntimeError), active_console(Console(out, live=True)) as shown:
        shown.stage("[1/5] teacher")
        raise RuntimeError("the stage failed")
    assert out.getvalue().endswith("[1/5] teacher ...\n")  # the error line starts on a line of its own


def test_progress_and_notes_go_to_the_active_console_only() -> None:
    assert console.note("nobody listens") is False
    console.progress(1, 2)  # no console: nothing happens
    out = io.StringIO()
    with active_console(Console(out, live=False)):
        assert console.note("resuming search q-search")
    assert out.getvalue() == "resuming search q-search\n"
    assert console.note("after") is False


def test_format_seconds() -> None:
    assert [format_seconds(s) for s in (4.6, 65, 3723)] == ["5 s", "1:05", "1:02:03"]


CAPTURE_SCRIPT = """
import os, subprocess, sys
from pathlib import Path
from raydistill.quiet import captured_output

with captured_output(Path(sys.argv[1]), "==== header") as captured:
    print("python stdout")
    print("python stderr", file=sys.stderr)
    os.write(2, b"fd 2 write (C++ components)\\n")
    subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('child stderr\\\\n')"], check=True)
    captured.terminal.write("raydistill's own line\\n")
print("after the block", captured.wrote)
"""


def test_captured_output_sends_every_write_to_the_log_file(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "ray.log"
    seen = subprocess.run(
        [sys.executable, "-c", CAPTURE_SCRIPT, str(log)], capture_output=True, text=True, timeout=60, check=True
    )
    text = log.read_text()
    for line in ("==== header", "python stdout", "python stderr", "fd 2 write", "child stderr"):
        assert line in text
        assert line not in seen.stdout + seen.stderr
    assert seen.stdout == "raydistill's own line\nafter the block True\n"
