"""One staleness rule for every stage: a changed section reruns exactly the stages that read it and those that
need them; the plan says why (fake stage records, no training)."""

from __future__ import annotations

from pathlib import Path

import pytest

from raydistill.errors import RunError
from raydistill.spec import Spec
from tests.unit.stages.conftest import make_spec, plan_of, record_plan
from tests.unit.training.conftest import write_sst2

ALL = ["teacher", "supernet", "search", "picks", "retrain", "export", "report"]


def _running(plan) -> list[str]:  # type: ignore[no-untyped-def]
    return [p.name for p in plan.stages if p.status == "run"]


def test_a_finished_run_is_all_cached_and_a_new_one_all_runs(tmp_path: Path, recorded: Spec) -> None:
    assert plan_of(recorded).text() == f"plan: {', '.join(ALL)} cached"
    fresh = make_spec(tmp_path, name="other")
    assert plan_of(fresh).text() == f"plan: {', '.join(ALL)} run (no record)"


@pytest.mark.parametrize(
    ("changes", "first", "reason"),
    [
        ({"teacher.train.epochs": 1}, "teacher", "teacher.train.epochs changed"),
        ({"seed": 7}, "teacher", "seed changed"),
        ({"supernet.temperature": 2.0}, "supernet", "supernet.temperature changed"),
        ({"search.num_trials": 7}, "search", "search.num_trials changed"),
        ({"search.budgets": [0.25, 0.5, 0.9]}, "search", "max(search.budgets) changed"),
        ({"search.budgets": [0.3, 0.75]}, "picks", "search.budgets changed"),
        ({"search.retrain": {"epochs": 2}}, "retrain", "search.retrain.epochs changed"),
        ({"export.formats": ["hf"]}, "export", "export.formats changed"),
    ],
)
def test_a_changed_section_reruns_its_stage_and_those_that_need_it(
    tmp_path: Path, recorded: Spec, changes: dict, first: str, reason: str
) -> None:
    plan = plan_of(make_spec(tmp_path, **changes))
    running = _running(plan)
    assert running == ALL[ALL.index(first) :]  # every later stage needs it, directly or not
    by_name = {p.name: p for p in plan.stages}
    assert by_name[first].reason == reason
    chained = [by_name[n].reason for n in running[1:] if by_name[n].reason.startswith("needs ")]
    assert all(r.removeprefix("needs ") in running for r in chained)


def test_the_plan_line_names_what_runs_and_why(tmp_path: Path, recorded: Spec) -> None:
    text = plan_of(make_spec(tmp_path, **{"search.num_trials": 7})).text()
    assert text == "plan: teacher, supernet cached; search runs (search.num_trials changed); " \
        "picks, retrain, export, report run (needs search)"  # fmt: skip


def test_budgets_below_the_largest_and_the_dev_cap_reuse_the_tune_search(
    tmp_path: Path, recorded: Spec
) -> None:
    before = {p.name: p for p in plan_of(recorded).stages}
    moved = plan_of(make_spec(tmp_path, **{"search.budgets": [0.3, 0.75]}))
    assert "search" not in _running(moved)  # only the picks move
    capped = {p.name: p for p in plan_of(make_spec(tmp_path, **{"search.pareto_eval_cap": 3})).stages}
    assert capped["search"].status == "run" and capped["search"].reason == "search.pareto_eval_cap changed"
    assert capped["search"].run_key == before["search"].run_key  # the Tune experiment resumes, complete


def test_a_new_cost_length_reprices_but_training_runs_resume(tmp_path: Path, recorded: Spec) -> None:
    before = {p.name: p for p in plan_of(recorded).stages}
    plan = {p.name: p for p in plan_of(make_spec(tmp_path, **{"cost.seq_length": 32})).stages}
    writers = ["teacher", "supernet", "search", "retrain"]  # the stages that write FLOPs
    assert all(plan[n].reason == "cost.seq_length changed" for n in writers)
    for name in ("teacher", "supernet", "retrain"):  # their Ray Train runs are kept: same run key
        assert plan[name].run_key == before[name].run_key
    assert plan["search"].run_key != before["search"].run_key  # feasibility is priced at the cost length
    same = make_spec(tmp_path, **{"cost.seq_length": 64})  # = data.max_seq_length: the same price
    assert plan_of(same).text() == f"plan: {', '.join(ALL)} cached"


def test_data_file_content_reruns_the_stages_that_read_the_data(tmp_path: Path) -> None:
    folder = write_sst2(tmp_path / "data")
    spec = make_spec(tmp_path, data_path=str(folder))
    record_plan(spec, plan_of(spec))
    assert not _running(plan_of(spec))
    dev = folder / "dev.tsv"
    dev.write_text(dev.read_text().replace("\t1\n", "\t0\n", 1))  # same size, other content
    plan = {p.name: p for p in plan_of(spec).stages}
    readers = ["teacher", "supernet", "search", "retrain"]
    assert [n for n in readers if plan[n].reason == "data files changed"] == readers
    assert plan["picks"].reason == plan["export"].reason == "needs search"  # the first reader they need


def test_a_missing_output_or_record_reruns_the_stage_and_those_after_it(
    tmp_path: Path, recorded: Spec
) -> None:
    (tmp_path / "exports" / "plan").rmdir()
    assert plan_of(recorded).text().endswith("export runs (output missing); report runs (needs export)")
    (Path(recorded.resources.storage_path) / "plan" / "picks" / "stage.json").unlink()
    assert "picks runs (no record); retrain, export, report run (needs picks)" in plan_of(recorded).text()


def test_until_plans_a_stage_and_what_it_needs(tmp_path: Path) -> None:
    plan = plan_of(make_spec(tmp_path), until="search")
    assert _running(plan) == ["teacher", "supernet", "search"]
    with pytest.raises(RunError, match="choose one of: augment, teacher, students, supernet, search, picks"):
        plan_of(make_spec(tmp_path), until="nope")


def test_a_turned_off_stage_is_skipped_and_its_dependents_say_so(tmp_path: Path, recorded: Spec) -> None:
    plan = plan_of(make_spec(tmp_path, **{"search.retrain": None}))
    by_name = {p.name: p for p in plan.stages}
    assert by_name["retrain"].status == "skipped"
    assert by_name["export"].reason == "retrain is off"
    assert plan.text().endswith("picks cached; export runs (retrain is off); report runs (needs export)")
