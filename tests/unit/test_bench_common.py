"""`benchmarks/common.py`: a benchmark stopped by Ctrl-C or by a failed `raydistill` subprocess ends in one line."""

from __future__ import annotations

import subprocess

import pytest

from benchmarks.common import guarded


def _raise(exc: BaseException) -> int:
    raise exc


def test_ctrl_c_is_one_line_with_the_resume_hint_and_exit_130(capsys: pytest.CaptureFixture[str]) -> None:
    assert guarded(lambda: _raise(KeyboardInterrupt())) == 130
    err = capsys.readouterr().err
    assert "rerun the same command to resume" in err and "Traceback" not in err


def test_a_failed_subprocess_names_the_command_and_exits_with_its_code(capsys: pytest.CaptureFixture[str]) -> None:
    failed = subprocess.CalledProcessError(2, ["raydistill", "run", "spec.yaml"])
    assert guarded(lambda: _raise(failed)) == 2
    assert "error: `raydistill run spec.yaml` exited with 2" in capsys.readouterr().err
    assert guarded(lambda: _raise(subprocess.CalledProcessError(-9, "raydistill run x"))) == 1  # killed: 1
    assert guarded(lambda: 0) == 0


def test_other_errors_are_not_hidden() -> None:
    with pytest.raises(ValueError):
        guarded(lambda: _raise(ValueError("a bug")))
