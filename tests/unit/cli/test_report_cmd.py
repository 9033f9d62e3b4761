"""`raydistill report RUN` rebuilds a report from the run's files alone: a run without a search too."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from raydistill.cli import app
from raydistill.layout import RunLayout
from raydistill.results.points import write_points
from tests.unit.report.conftest import point, teacher_point, write_spec

runner = CliRunner()


def _run(tmp_path: Path) -> Path:
    run = tmp_path / "runs" / "kd-run"
    write_spec(run, "kd-run")
    student = point(
        "student tiny", "student", "student", "kd", config_json='{"layers": 2}', flops=400_000,
        flops_ratio=0.2, params=2_000_000, dev_metric=0.86,
    )  # fmt: skip
    write_points(RunLayout(run), [teacher_point(), student])
    return run


def test_report_of_a_run_with_points_and_no_search(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["report", str(_run(tmp_path)), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"report: {out / 'index.html'}"
    assert "student tiny" in (out / "summary.md").read_text(encoding="utf-8")


def test_report_of_a_run_without_points_names_the_file(tmp_path: Path) -> None:
    run = _run(tmp_path)
    RunLayout(run).points_parquet.unlink()
    RunLayout(run).points_csv.unlink()
    result = runner.invoke(app, ["report", str(run), "--out", str(tmp_path / "out")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "points.parquet not found" in result.output and "raydistill run SPEC" in result.output
