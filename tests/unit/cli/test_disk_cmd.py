"""`raydistill disk RUN [--prune]`: the table, the prune line, and a bad RUN as one error line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from raydistill.cli import app
from raydistill.disk import human_size, measure
from raydistill.layout import RunLayout
from tests.unit.test_disk import NAME, fake_run

runner = CliRunner()


@pytest.fixture
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunLayout:
    monkeypatch.chdir(tmp_path)  # `disk NAME` looks under runs/
    return fake_run(tmp_path / "runs" / NAME)


def test_disk_prints_the_parts_the_total_and_what_prune_would_free(layout: RunLayout) -> None:
    use = measure(layout.root)
    for run in (NAME, str(layout.root)):  # a run name under runs/, or the run dir
        result = runner.invoke(app, ["disk", run])
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert lines[0].split() == ["part", "size", "superseded"]
        assert {line.split()[0] for line in lines[1:-2]} >= {"teacher/", f"ray/{NAME}-teacher.prev/", "logs/"}
        assert lines[-2].split()[0] == "total"
        assert lines[-1] == (
            f"--prune would free {human_size(use.superseded_size)} "
            "(2 .prev folders, 4 old or half-written checkpoints)"
        )
    assert measure(layout.root) == use  # only looked


def test_disk_prune_deletes_the_superseded_and_says_what_it_freed(layout: RunLayout) -> None:
    use = measure(layout.root)
    result = runner.invoke(app, ["disk", NAME, "--prune"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    removed = {line.removeprefix("removed ") for line in lines if line.startswith("removed ")}
    assert removed == {str(p.relative_to(layout.root)) for p in use.superseded}
    left = human_size(use.size - use.superseded_size)
    assert lines[-1] == (
        f"freed {human_size(use.superseded_size)} (2 .prev folders, 4 old or half-written checkpoints); "
        f"{left} left in {layout.root}"
    )
    assert measure(layout.root).superseded == ()
    again = runner.invoke(app, ["disk", NAME, "--prune"])
    assert again.exit_code == 0 and again.output.splitlines()[-1].startswith("freed 0 B (nothing)")


@pytest.mark.parametrize("run", ["nosuch", "runs"])
def test_a_bad_run_is_one_error_line_and_exit_2(layout: RunLayout, run: str) -> None:
    result = runner.invoke(app, ["disk", run, "--prune"])
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: no run at {run!r}")
    assert "Traceback" not in result.output
    assert measure(layout.root).superseded  # nothing pruned
