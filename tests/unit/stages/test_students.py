"""The `students:` section: its checks name the bad field, each entry's Ray runs are keyed by the entry alone (a
changed entry retrains only itself), and a run of a teacher and a kd student (no search) puts the student in the
points table and the report, then exports it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import raydistill.stages  # noqa: F401  the students checks join the spec rules
from raydistill.layout import RunLayout
from raydistill.pipeline import run_pipeline
from raydistill.results.points import read_points
from raydistill.spec import Spec
from raydistill.spec.rules import check_rules
from raydistill.stages import StageRun
from raydistill.stages.students import entry_key
from tests.unit.stages.conftest import make_spec, plan_of, record_plan
from tests.unit.training.conftest import write_sst2

KD = {"name": "kd1", "method": "kd", "shape": {"layers": 1}, "train": {"epochs": 1}}
PKD = {"name": "pkd3", "method": "pkd", "shape": {"layers": 3}, "init": "every_kth"}


def _problems(tmp_path: Path, *students: dict[str, Any]) -> dict[str, str]:
    spec = make_spec(tmp_path, students=list(students))
    return {p.path: p.message for p in check_rules(spec)}


@pytest.mark.parametrize(
    ("entry", "path", "words"),
    [
        ({**KD, "options": {"temperature": 0}}, "students.0.options.temperature", "temperature=0"),
        ({**KD, "options": {"alpha": 2}}, "students.0.options.alpha", "alpha=2"),
        ({**KD, "options": {"beta": 1}}, "students.0.options.beta", "not an option"),
        ({**KD, "options": {"teacher": "x"}}, "students.0.options.teacher", "set by the stage"),
        ({**PKD, "options": {"strategy": "middle"}}, "students.0.options.strategy", "skip, last"),
        ({**PKD, "shape": {"layers": 4}, "init": None}, "students.0.shape.layers", "multiple"),
        ({**PKD, "shape": {"layers": 3, "hidden": 192, "heads": 6}, "init": None}, "students.0.shape.hidden",
         "differs from the teacher's 384"),
        ({**KD, "shape": {"layers": 4}, "init": "every_kth"}, "students.0.init", "multiple"),
        ({**KD, "shape": {"layers": 2, "ffn": 512}, "init": "first"}, "students.0.shape.ffn", "equal widths"),
        ({**KD, "method": "tinybert", "shape": {"layers": 3, "hidden": 192, "heads": 4}},
         "students.0.shape.heads", "attention_weight 0"),
        ({**KD, "method": "tinybert", "options": {"stage": "general"}}, "students.0.options.stage",
         "give the entry a `general:` section"),
        ({**KD, "method": "supernet"}, "students.0.method", "methods for it: finetune, kd, pkd, tinybert"),
        ({**KD, "method": "finetune", "options": {"alpha": 1}}, "students.0.options", "takes no options"),
    ],
)  # fmt: skip
def test_a_bad_student_field_is_named(tmp_path: Path, entry: dict, path: str, words: str) -> None:
    problems = _problems(tmp_path, entry)
    assert path in problems, problems
    assert words in problems[path]
    assert "\n" not in problems[path]


def test_good_students_pass_and_names_are_unique(tmp_path: Path) -> None:
    tiny = {"name": "tb", "method": "tinybert", "shape": {"layers": 3, "hidden": 192, "heads": 12, "ffn": 768}}
    assert _problems(tmp_path, KD, PKD, tiny, {**KD, "name": "ft", "method": "finetune"}) == {}
    assert "students.1.name" in _problems(tmp_path, KD, KD)


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"name": "a"}, "exactly one of shape"),
        ({"name": "a", "checkpoint": "x", "init": "first"}, "drop init"),
        ({**KD, "prediction_train": {"epochs": 1}}, "drop prediction_train"),
    ],
)
def test_schema_rules_of_an_entry(tmp_path: Path, entry: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        make_spec(tmp_path, students=[entry])


def _keys(spec: Spec) -> dict[str, str]:
    """Entry name -> the run key of its (first) Ray run, as the stage computes it."""
    planned = {p.name: p for p in plan_of(spec).stages}["students"]
    ctx = StageRun(spec, RunLayout.of(spec.resources.storage_path, spec.name), planned.key, planned.run_key)
    return {e.name: entry_key(ctx, e, "") for e in spec.students}


def test_a_changed_entry_retrains_only_itself(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, students=[KD, PKD])
    record_plan(spec, plan_of(spec))
    before = _keys(spec)
    changed = make_spec(tmp_path, students=[KD, {**PKD, "options": {"beta": 100}}])
    plan = {p.name: p for p in plan_of(changed).stages}
    assert [n for n, p in plan.items() if p.status == "run"] == ["students", "export", "report"]
    assert plan["students"].reason == "students changed"
    after = _keys(changed)
    assert after["kd1"] == before["kd1"]  # its Ray run resumes, complete
    assert after["pkd3"] != before["pkd3"]
    teacher = make_spec(tmp_path, students=[KD, PKD], **{"teacher.train.epochs": 1})
    assert _keys(teacher)["kd1"] != before["kd1"]  # a new teacher retrains every student


def test_students_off_leave_the_other_keys_alone(tmp_path: Path) -> None:
    plain = {p.name: p for p in plan_of(make_spec(tmp_path)).stages}
    with_students = {p.name: p for p in plan_of(make_spec(tmp_path, students=[KD])).stages}
    assert plain["students"].status == "skipped"
    for name in ("teacher", "supernet", "search", "picks", "retrain"):
        assert plain[name].key == with_students[name].key


def test_a_teacher_and_a_kd_student_reach_the_points_the_report_and_the_export(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    spec = Spec.model_validate({
        "name": "pupils", "task": "sst2",
        "data": {"path": str(write_sst2(tmp_path / "data")), "max_seq_length": 32},
        "teacher": {"model": str(tiny_model_dir),
                    "train": {"epochs": 1, "batch_size": 8, "learning_rate": 1e-3, "num_threads": 1}},
        "supernet": {"enabled": False}, "search": {"enabled": False},
        "students": [{"name": "kd1", "method": "kd", "shape": {"layers": 1, "ffn": 32}, "options": {"temperature": 2},
                      "train": {"epochs": 1, "batch_size": 8, "learning_rate": 1e-3, "num_threads": 1}}],
        "export": {"dir": str(tmp_path / "exports"), "formats": ["hf"]},
        "resources": {"num_workers": 0, "storage_path": str(tmp_path / "runs")},
    })  # fmt: skip
    assert check_rules(spec) == []
    lines: list[str] = []
    run_pipeline(spec, echo=lines.append)
    assert lines[0] == "plan: teacher, students, export, report run (no record)", lines
    layout = RunLayout(tmp_path / "runs" / "pupils")
    points = read_points(layout).set_index("label")
    row, teacher = points.loc["student kd1"], points.loc["teacher"]
    assert row["kind"] == "student" and row["method"] == "kd" and row["arch_id"] == ""
    assert json.loads(row["config_json"]) == {"layers": 1, "hidden": 32, "heads": 4, "ffn": 32}
    assert 0 < row["flops"] < teacher["flops"] and row["flops_ratio"] == row["flops"] / teacher["flops"]
    assert 0 <= row["dev_metric"] <= 1 and 0 <= row["search_metric"] <= 1
    assert row["model_dir"] == str(layout.student_model("kd1"))
    export = Path(row["export_dir"])
    assert export == tmp_path / "exports" / "pupils" / "student-kd1" and row["latency_ms"] > 0
    from transformers import AutoModelForSequenceClassification

    assert AutoModelForSequenceClassification.from_pretrained(export).config.num_hidden_layers == 1
    html = (tmp_path / "reports" / "pupils" / "index.html").read_text(encoding="utf-8")
    md = (tmp_path / "reports" / "pupils" / "summary.md").read_text(encoding="utf-8")
    for text in ("student kd1", "students (dev)"):
        assert text in html, text
    assert "student kd1" in md
    again: list[str] = []
    run_pipeline(spec, echo=again.append)
    assert again[0] == "plan: teacher, students, export, report cached", again
