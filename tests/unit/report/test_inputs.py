"""`load_report_inputs` reads the documented run-directory files; missing or malformed files name themselves."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from raydistill.errors import RunError
from raydistill.report.inputs import ReportInputs, load_report_inputs
from tests.unit.report.conftest import FIXED_RATIO, LATENCY, TEACHER, make_grid, make_trials
from tests.unit.results.conftest import BUDGETS


def test_loads_every_file(run_dir: Path) -> None:
    inputs = load_report_inputs(run_dir)
    assert (inputs.name, inputs.task, inputs.metric_name, inputs.sampler) == (
        "demo-run",
        "sst2",
        "accuracy",
        "nsga2",
    )
    assert dict(inputs.teacher) == TEACHER and inputs.budgets == tuple(BUDGETS)
    assert inputs.fixed_ratio == FIXED_RATIO
    pd.testing.assert_frame_equal(inputs.trials, make_trials())
    pd.testing.assert_frame_equal(inputs.grid, make_grid())  # extra grid columns dropped
    assert inputs.latency == LATENCY


def test_optional_files_may_be_absent(run_dir: Path) -> None:
    shutil.rmtree(run_dir / "supernet")
    shutil.rmtree(run_dir / "export")
    inputs = load_report_inputs(run_dir)
    assert inputs.grid is None and inputs.latency is None


def test_csv_fallback_for_trials(run_dir: Path) -> None:
    (run_dir / "search" / "trials.parquet").unlink()
    pd.testing.assert_frame_equal(load_report_inputs(run_dir).trials, make_trials())


def test_missing_trials_names_file_and_command(run_dir: Path) -> None:
    (run_dir / "search" / "trials.parquet").unlink()
    (run_dir / "search" / "trials.csv").unlink()
    with pytest.raises(RunError, match=r"search/trials\.parquet not found; .*raydistill run SPEC"):
        load_report_inputs(run_dir)


def test_missing_run_dir(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="run directory .*nope does not exist"):
        load_report_inputs(tmp_path / "nope")


def test_missing_or_broken_meta(run_dir: Path) -> None:
    meta_path = run_dir / "search" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text("{not json")
    with pytest.raises(RunError, match=r"meta\.json: not valid JSON"):
        load_report_inputs(run_dir)
    del meta["budgets"], meta["teacher"]["flops"]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(RunError, match=r"missing key\(s\) \['budgets', 'teacher.flops'\]"):
        load_report_inputs(run_dir)
    meta_path.unlink()
    with pytest.raises(RunError, match=r"search/meta\.json not found"):
        load_report_inputs(run_dir)


def test_meta_without_the_budget_rule_says_how_to_redo_the_search(run_dir: Path) -> None:
    meta_path = run_dir / "search" / "meta.json"
    meta = json.loads(meta_path.read_text())
    del meta["fixed_ratio"]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(RunError, match=r"meta\.json: no fixed_ratio .*delete .*search and rerun"):
        load_report_inputs(run_dir)
    meta_path.write_text(json.dumps(meta | {"fixed_ratio": 1.5}))
    with pytest.raises(RunError, match=r"fixed_ratio 1\.5 must be a number in \[0, 1\)"):
        load_report_inputs(run_dir)


def test_bad_grid_and_latency_name_the_file(run_dir: Path) -> None:
    grid_path = run_dir / "supernet" / "supernet_eval.csv"
    make_grid().drop(columns="dev_metric").to_csv(grid_path, index=False)
    with pytest.raises(RunError, match=r"supernet_eval\.csv: missing column\(s\) \['dev_metric'\]"):
        load_report_inputs(run_dir)
    make_grid().assign(arch_id="w0.5-d0.5").to_csv(grid_path, index=False)
    with pytest.raises(RunError, match=r"supernet_eval\.csv: .*arch id 'w0.5-d0.5'"):
        load_report_inputs(run_dir)
    make_grid().to_csv(grid_path, index=False)
    (run_dir / "export" / "latency.json").write_text(json.dumps({"L1-H1-F1": {"ms": 3}}))
    with pytest.raises(RunError, match=r"latency\.json: entry for 'L1-H1-F1'.*latency_ms"):
        load_report_inputs(run_dir)


def test_report_inputs_checks_fields() -> None:
    base = dict(
        name="r", task="sst2", metric_name="accuracy", teacher=TEACHER, trials=make_trials(), budgets=[0.5]
    )
    with pytest.raises(RunError, match=r"lacks \['params'\]"):
        ReportInputs(**base | {"teacher": {"metric": 0.9, "flops": 10}})
    with pytest.raises(RunError, match=r"budgets \[1.5\] must be fractions in \(0, 1\]"):
        ReportInputs(**base | {"budgets": [1.5]})
    with pytest.raises(RunError, match=r"scored with \['accuracy'\] but the report's metric is 'f1'"):
        ReportInputs(**base | {"metric_name": "f1"})
    with pytest.raises(RunError, match="report trials: .*missing column"):
        ReportInputs(**base | {"trials": make_trials().drop(columns="status")})
    assert ReportInputs(**base | {"budgets": [0.75, 0.25]}).budgets == (0.25, 0.75)
    assert ReportInputs(**base).sampler_label == "nsga2"


def test_retrain_file_is_read_and_checked(run_dir: Path) -> None:
    (run_dir / "retrain").mkdir()
    entry = {"L3@1,3,5-H6x3-F1536x3": {"dev_after": 0.9, "dev_before": 0.84}}
    (run_dir / "retrain" / "retrain.json").write_text(json.dumps(entry))
    assert load_report_inputs(run_dir).retrained == entry
    (run_dir / "retrain" / "retrain.json").write_text(json.dumps({"L1-H1-F1": {"dev": 0.9}}))
    with pytest.raises(RunError, match=r"retrain\.json: entry for 'L1-H1-F1'.*dev_after"):
        load_report_inputs(run_dir)


@pytest.mark.parametrize(
    ("file", "text", "message"),
    [
        ("retrain/retrain.json", "[1]", r"retrain\.json: expected a JSON object keyed by arch id, got list"),
        ("export/latency.json", "[]", r"latency\.json: expected a JSON object keyed by arch id, got list"),
        ("supernet/supernet_eval.csv", "", r"supernet_eval\.csv: not a readable CSV"),
    ],
)
def test_malformed_side_files_name_themselves(run_dir: Path, file: str, text: str, message: str) -> None:
    (run_dir / file).parent.mkdir(exist_ok=True)
    (run_dir / file).write_text(text)
    with pytest.raises(RunError, match=message):
        load_report_inputs(run_dir)


def test_malformed_teacher_metrics_names_the_file(run_dir: Path) -> None:
    meta_path = run_dir / "search" / "meta.json"
    meta = json.loads(meta_path.read_text())
    del meta["teacher"]["metric"]  # then the report reads the teacher stage's metrics.json
    meta_path.write_text(json.dumps(meta))
    (run_dir / "teacher").mkdir()
    (run_dir / "teacher" / "metrics.json").write_text("[0.9]")
    with pytest.raises(RunError, match=r"teacher/metrics\.json: expected a JSON object"):
        load_report_inputs(run_dir)
    (run_dir / "teacher" / "metrics.json").write_text(json.dumps({"main_value": 0.9}))
    assert load_report_inputs(run_dir).teacher["metric"] == 0.9


def test_outputs_of_stages_the_latest_spec_turned_off_are_not_read(run_dir: Path) -> None:
    (run_dir / "retrain").mkdir()
    (run_dir / "retrain" / "retrain.json").write_text(json.dumps({"L1-H1-F1": {"dev_after": 0.9}}))
    spec = {"search": {"retrain": {"epochs": 1}}, "export": {"enabled": True}}
    (run_dir / "spec.json").write_text(json.dumps(spec))
    inputs = load_report_inputs(run_dir)
    assert inputs.retrained is not None and inputs.latency == LATENCY
    (run_dir / "spec.json").write_text(
        json.dumps({"search": {"retrain": None}, "export": {"enabled": False}})
    )
    inputs = load_report_inputs(run_dir)
    assert inputs.retrained is None and inputs.latency is None  # left from earlier runs: stale


def test_a_missing_teacher_metric_names_the_teacher_file(run_dir: Path) -> None:
    meta_path = run_dir / "search" / "meta.json"
    meta = json.loads(meta_path.read_text())
    del meta["teacher"]["metric"]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(RunError, match=r"teacher/metrics\.json not found .*rerun `raydistill run SPEC`"):
        load_report_inputs(run_dir)
