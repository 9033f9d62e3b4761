"""`load_report_inputs` reads the points table, the trial table (when the run searched) and the spec's name and
task; missing or malformed files name themselves and the command that writes them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from raydistill.errors import RunError
from raydistill.layout import RunLayout
from raydistill.report.inputs import ReportInputs, load_report_inputs
from raydistill.results.points import write_points
from tests.unit.report.conftest import (
    FIXED_RATIO,
    TEACHER,
    make_run_points,
    make_trials,
    point,
    teacher_point,
    write_spec,
)
from tests.unit.results.conftest import BUDGETS


def test_loads_the_points_and_the_trials(run_dir: Path) -> None:
    inputs = load_report_inputs(run_dir)
    assert (inputs.name, inputs.task, inputs.metric_name, inputs.sampler_label) == (
        "demo-run",
        "sst2",
        "accuracy",
        "nsga2",  # from the trial table
    )
    assert inputs.budgets == tuple(BUDGETS)  # the pick rows' budgets
    assert inputs.fixed_ratio == pytest.approx(FIXED_RATIO)  # (teacher flops - encoder flops) / flops
    teacher = inputs.teacher
    assert (teacher["metric"], teacher["flops"], teacher["params"]) == tuple(TEACHER.values())
    pd.testing.assert_frame_equal(inputs.trials, make_trials())
    pd.testing.assert_frame_equal(inputs.points, make_run_points())
    assert inputs.has_search


def test_a_run_without_a_search_has_no_trials_and_no_budgets(tmp_path: Path) -> None:
    run = tmp_path / "r"
    write_spec(run, "r")
    write_points(RunLayout(run), [teacher_point()])
    inputs = load_report_inputs(run)
    assert inputs.trials is None and not inputs.has_search and inputs.budgets == ()
    assert inputs.sampler_label == "-" and inputs.name == "r"


def test_csv_fallback_for_points(run_dir: Path) -> None:
    RunLayout(run_dir).points_parquet.unlink()
    pd.testing.assert_frame_equal(load_report_inputs(run_dir).points, make_run_points())


def test_csv_fallback_for_trials(run_dir: Path) -> None:
    RunLayout(run_dir).trials_parquet.unlink()
    pd.testing.assert_frame_equal(load_report_inputs(run_dir).trials, make_trials())


def test_missing_points_names_file_and_command(run_dir: Path) -> None:
    layout = RunLayout(run_dir)
    layout.points_parquet.unlink()
    layout.points_csv.unlink()
    with pytest.raises(RunError, match=r"points\.parquet not found; run `raydistill run SPEC`"):
        load_report_inputs(run_dir)


def test_points_without_a_teacher_name_the_file(run_dir: Path) -> None:
    points = make_run_points()
    write_points(RunLayout(run_dir), points[points["kind"] != "teacher"])
    with pytest.raises(RunError, match=r"points\.parquet: no `teacher` row; the teacher stage writes it"):
        load_report_inputs(run_dir)


def test_a_broken_points_file_names_itself(run_dir: Path) -> None:
    layout = RunLayout(run_dir)
    layout.points_parquet.unlink()
    layout.points_csv.write_text("label,kind\nteacher,teacher\n")
    with pytest.raises(RunError, match=r"points\.csv: not a valid points table: .*missing column"):
        load_report_inputs(run_dir)


def test_missing_or_broken_spec(run_dir: Path) -> None:
    spec = RunLayout(run_dir).spec_json
    spec.write_text("{not json")
    with pytest.raises(RunError, match=r"spec\.json: not valid JSON"):
        load_report_inputs(run_dir)
    spec.write_text(json.dumps({"name": "demo-run"}))
    with pytest.raises(RunError, match=r"spec\.json: expected a JSON object with text `name` and `task`"):
        load_report_inputs(run_dir)
    spec.unlink()
    with pytest.raises(RunError, match=r"spec\.json not found; `raydistill run SPEC` writes it"):
        load_report_inputs(run_dir)


def test_missing_run_dir(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="run directory .*nope does not exist"):
        load_report_inputs(tmp_path / "nope")


def test_trials_scored_with_another_metric_are_refused(run_dir: Path) -> None:
    points = make_run_points().assign(metric_name="f1")
    write_points(RunLayout(run_dir), points)
    with pytest.raises(RunError, match=r"trials were scored with \['accuracy'\] but .* metric is 'f1'"):
        load_report_inputs(run_dir)


def test_report_inputs_checks_fields() -> None:
    base = dict(name="r", task="sst2", points=make_run_points(), trials=make_trials())
    two = pd.concat([make_run_points(), make_run_points().head(1).assign(label="teacher 2")])
    with pytest.raises(RunError, match=r"hold 2 `teacher` rows; give exactly one"):
        ReportInputs(**base | {"points": two})
    with pytest.raises(RunError, match=r"report points: .*column 'kind'"):
        ReportInputs(**base | {"points": make_run_points().assign(kind="nope")})
    with pytest.raises(RunError, match="report trials: .*missing column"):
        ReportInputs(**base | {"trials": make_trials().drop(columns="status")})
    student = point(
        "student s", "student", "s", "kd", config_json="{}", flops=100_000, flops_ratio=0.05, params=1
    )
    mixed = [*make_run_points().to_dict("records"), student | {"metric_name": "f1"}]
    with pytest.raises(RunError, match=r"scored with \['accuracy', 'f1'\]"):
        ReportInputs(**base | {"points": mixed})
    assert ReportInputs(**base).sampler_label == "nsga2"
    assert ReportInputs(**base, sampler="tpe").sampler_label == "tpe"
