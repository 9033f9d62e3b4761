"""The CLI is wiring only: exit codes and messages for user mistakes, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from raydistill.cli import app

REPO = Path(__file__).resolve().parents[3]
runner = CliRunner()


def test_validate_shipped_specs_ok() -> None:
    specs = sorted(str(p) for p in (REPO / "searches").glob("*.yaml"))
    assert specs, "no shipped specs found"
    result = runner.invoke(app, ["validate", *specs])
    assert result.exit_code == 0, result.output
    for spec in specs:
        assert f"OK {spec}" in result.output


def test_validate_bad_spec_one_line_per_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: ok\ntask: sst2\nteacher:\n  model: minilm-l6\n  trian: {}\nseed: 1.5\n")
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 2
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert f"{bad}:5: teacher.trian: unknown key; did you mean 'train'?" in lines[0]
    assert any(ln.startswith(f"{bad}:6: seed:") for ln in lines)
    assert "Traceback" not in result.output


def test_run_bad_spec_exits_2_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntask: sst3\nteacher: {model: minilm-l6}\n")
    result = runner.invoke(app, ["run", str(bad)])
    assert result.exit_code == 2
    assert "sst3" in result.output and "sst2" in result.output  # unknown task + suggestion
    assert "Traceback" not in result.output


def test_train_unknown_stage_is_a_clean_error(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(
        f"name: x\ntask: sst2\nteacher: {{model: minilm-l6}}\nresources: {{storage_path: {tmp_path}}}\n"
    )
    result = runner.invoke(app, ["train", str(spec), "--stage", "teachr"])
    assert result.exit_code == 2
    assert "teachr" in result.output and "teacher" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("override", ["search.budgets=[0.9,0.5]", "nonsense", "seed=abc"])
def test_validate_bad_overrides(override: str) -> None:
    result = runner.invoke(app, ["validate", str(REPO / "searches" / "quickstart.yaml"), "--set", override])
    assert result.exit_code == 2
    assert "override 1" in result.output


def test_an_interrupted_run_exits_130_with_the_resume_hint(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from raydistill import pipeline
    from raydistill.errors import Interrupted

    def stopped(*args: object, **kwargs: object) -> None:
        raise Interrupted("training run q-teacher stopped; rerun the same command to resume")

    monkeypatch.setattr(pipeline, "run_pipeline", stopped)
    monkeypatch.chdir(tmp_path)  # the spec's runs/ (and its Ray log) go there
    result = runner.invoke(app, ["run", str(REPO / "searches" / "quickstart.yaml")])
    assert result.exit_code == 130
    assert "interrupted: training run q-teacher stopped" in result.output and "Traceback" not in result.output


def test_an_eof_error_is_never_a_bare_aborted(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Click answers an escaping EOFError (meant for a prompt at end of input) with only "Aborted." and exit 1;
    an empty file read by pickle raises it too (an empty Tune tuner.pkl did). It must stay visible."""
    from raydistill import pipeline

    def truncated(*args: object, **kwargs: object) -> None:
        raise EOFError("Ran out of input")

    monkeypatch.setattr(pipeline, "run_pipeline", truncated)
    result = runner.invoke(app, ["run", str(REPO / "searches" / "quickstart.yaml")])
    assert result.exit_code == 1 and "Aborted" not in result.output
    assert isinstance(result.exception, RuntimeError) and "Ran out of input" in str(result.exception)
    assert isinstance(result.exception.__cause__, EOFError)  # the traceback shows where it was read


def _data_spec(tmp_path: Path, data_path: Path, extra: str = "") -> Path:
    spec = tmp_path / "data.yaml"
    spec.write_text(
        f"name: d\ntask: sst2\ndata:\n  path: {data_path}\nteacher: {{model: minilm-l6}}\n"
        f"resources: {{storage_path: {tmp_path / 'runs'}{extra}}}\n"
    )
    return spec


def test_validate_missing_data_is_one_line_and_a_warning_on_a_cluster(tmp_path: Path) -> None:
    spec = _data_spec(tmp_path, tmp_path / "no-such-dir")
    result = runner.invoke(app, ["validate", str(spec)])
    assert result.exit_code == 2, result.output
    assert result.output.splitlines() == [
        f"{spec}:4: data.path: '{tmp_path / 'no-such-dir'}' does not exist (relative paths start at "
        f"'{Path.cwd()}'); give the dir or file holding the SST-2 data (glue format), or a built-in set such as "
        "builtin:quickstart_sentiment"
    ]
    result = runner.invoke(app, ["validate", str(spec), "--set", "resources.address=ray://somewhere:10001"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()  # stdout (OK) and stderr (the warning), in either order
    assert len(lines) == 2 and f"OK {spec}" in lines
    warning = next(line for line in lines if line != f"OK {spec}")
    assert warning.startswith(f"{spec}:4: data.path: warning: '{tmp_path / 'no-such-dir'}' does not exist")


def test_run_with_missing_data_fails_before_ray_starts(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import ray

    from raydistill.training import session

    ray.shutdown()  # an earlier test of the session may have left Ray running: start from none

    def no_ray(*args: object, **kwargs: object) -> None:
        raise AssertionError("Ray was started for a run whose data is missing")

    monkeypatch.setattr(ray, "init", no_ray)
    monkeypatch.setattr(session.ray, "init", no_ray)
    spec = _data_spec(tmp_path, tmp_path / "no-such-dir")
    for command in (["run"], ["train", "--stage", "teacher"], ["search"]):
        result = runner.invoke(app, [*command[:1], str(spec), *command[1:]])
        assert result.exit_code == 2, result.output
        assert result.output.startswith(f"{spec}:4: data.path: '{tmp_path / 'no-such-dir'}' does not exist")
        assert len(result.output.splitlines()) == 1 and "Traceback" not in result.output
    assert not ray.is_initialized() and not (tmp_path / "runs").exists()
