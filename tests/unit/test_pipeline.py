"""Pipeline orchestration: stage order, caching by stage key, `until`, plan and progress lines (fake stages, no
Ray)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from raydistill.errors import RunError
from raydistill.pipeline import run_pipeline
from raydistill.spec import load_spec
from raydistill.stages import Stage, StageRun, register_stage, registry


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(
        f"name: demo\ntask: sst2\ndata: {{path: builtin:quickstart_sentiment}}\nteacher: {{model: minilm-l6}}\n"
        f"resources: {{storage_path: {tmp_path / 'runs'}}}\n"
    )
    return path


@pytest.fixture
def fail() -> set[str]:
    """Names of the fake stages that raise when run."""
    return set()


@pytest.fixture
def graph(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty stage registry for the test (the real one is restored after it)."""
    monkeypatch.setattr(registry, "_REGISTRY", {})


@pytest.fixture
def calls(graph: None, fail: set[str]) -> list[str]:
    seen: list[str] = []

    def make(name: str):  # type: ignore[no-untyped-def]
        def run(ctx: StageRun) -> dict[str, Any]:
            seen.append(name)
            assert ctx.spec.data.path == "builtin:quickstart_sentiment"  # resolved where data is read, not hashed
            if name in fail:
                raise RuntimeError(f"{name} failed")
            return {"headline": f"{name} ok"}

        return run

    register_stage(Stage("a", make("a"), sections=("task", "teacher")))
    register_stage(Stage("b", make("b"), ("a",), ("supernet",), enabled=lambda s: s.supernet.enabled))
    register_stage(Stage("c", make("c"), ("b", "a"), ("search",), exclude=("search.retrain",)))
    register_stage(
        Stage("d", make("d"), ("c",), ("search.retrain",), enabled=lambda s: s.search.retrain is not None)
    )
    return seen


def test_runs_in_order_then_caches(spec_file: Path, calls: list[str]) -> None:
    lines: list[str] = []
    first = run_pipeline(load_spec(str(spec_file)), echo=lines.append)
    assert calls == ["a", "b", "c"]
    assert [s.status for s in first.stages] == ["ran", "ran", "ran", "skipped"]
    assert lines == [
        "plan: a, b, c run (no record)",
        "[1/3] a: a ok (ran in 0 s)", "[2/3] b: b ok (ran in 0 s)", "[3/3] c: c ok (ran in 0 s)",
    ]  # fmt: skip
    second = run_pipeline(load_spec(str(spec_file)), echo=lines.append)
    assert calls == ["a", "b", "c"]  # nothing re-ran
    assert [s.status for s in second.stages] == ["cached"] * 3 + ["skipped"]
    assert lines[4:] == [
        "plan: a, b, c cached", "[1/3] a: a ok (cached)", "[2/3] b: b ok (cached)", "[3/3] c: c ok (cached)"
    ]


def test_stages_are_numbered_among_the_enabled_ones(spec_file: Path, calls: list[str]) -> None:
    lines: list[str] = []
    off = ["supernet.enabled=false", "search.enabled=false", "export.enabled=false"]
    run_pipeline(load_spec(str(spec_file), off), echo=lines.append)
    assert lines == ["plan: a, c run (no record)", "[1/2] a: a ok (ran in 0 s)", "[2/2] c: c ok (ran in 0 s)"]


def test_summary_is_a_short_block_with_the_report_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from raydistill.pipeline import PipelineResult, StageOutcome

    monkeypatch.chdir(tmp_path)
    report = tmp_path / "reports" / "q" / "index.html"
    result = PipelineResult("q", tmp_path / "runs" / "q", [
        StageOutcome("teacher", "cached", 0.0, {"headline": "dev accuracy=0.8000"}),
        StageOutcome("search", "ran", 61.4, {"headline": "40 trials, 38 evaluated | <=0.25x: L1 accuracy 0.7"}),
        StageOutcome("retrain", "skipped", 0.0),
        StageOutcome("report", "ran", 0.2, {"headline": "index.html", "index_html": str(report)}),
    ])  # fmt: skip
    assert result.summary().splitlines() == [
        "q: 3 stages (2 ran, 1 cached) in 62 s; run dir runs/q",
        "  teacher  cached         dev accuracy=0.8000",
        "  search   ran      61 s  40 trials, 38 evaluated | <=0.25x: L1 accuracy 0.7",
        "  report   ran       0 s  index.html",
        "report: reports/q/index.html",
    ]
    without_report = PipelineResult("q", tmp_path / "runs" / "q", result.stages[:2])
    assert without_report.summary().splitlines()[-1] == "run dir: runs/q"


def test_changing_a_section_reruns_that_stage_and_those_that_need_it(spec_file: Path, calls: list[str]) -> None:
    run_pipeline(load_spec(str(spec_file)), echo=lambda _: None)
    calls.clear()
    lines: list[str] = []
    run_pipeline(load_spec(str(spec_file), ["supernet.temperature=2.0"]), echo=lines.append)
    assert calls == ["b", "c"]
    assert lines[0] == "plan: a cached; b runs (supernet.temperature changed); c runs (needs b)"
    calls.clear()
    run_pipeline(
        load_spec(str(spec_file), ["supernet.temperature=2.0", "teacher.train.epochs=1"]), echo=print
    )
    assert calls == ["a", "b", "c"]


def test_until_and_disabled_stages(spec_file: Path, calls: list[str]) -> None:
    result = run_pipeline(load_spec(str(spec_file)), until="a", echo=lambda _: None)
    assert calls == ["a"] and [s.name for s in result.stages if s.status != "skipped"] == ["a"]
    spec = load_spec(
        str(spec_file), ["supernet.enabled=false", "search.enabled=false", "export.enabled=false"]
    )
    lines: list[str] = []
    result = run_pipeline(spec, echo=lines.append)
    assert [s.status for s in result.stages] == ["cached", "skipped", "ran", "skipped"]
    assert lines[0] == "plan: a cached; c runs (no record)"  # only a ran before (until=a)


def test_an_excluded_path_reruns_only_the_stage_that_reads_it(spec_file: Path, calls: list[str]) -> None:
    run_pipeline(load_spec(str(spec_file)), echo=lambda _: None)
    calls.clear()
    run_pipeline(load_spec(str(spec_file), ["search.retrain.epochs=1"]), echo=lambda _: None)
    assert calls == ["d"]  # "c" excludes search.retrain, so it stays cached
    calls.clear()
    run_pipeline(load_spec(str(spec_file), ["search.retrain.epochs=2"]), echo=lambda _: None)
    assert calls == ["d"]
    calls.clear()
    run_pipeline(
        load_spec(str(spec_file), ["search.num_trials=7", "search.retrain.epochs=2"]), echo=lambda _: None
    )
    assert calls == ["c", "d"]  # the re-training needs the search


def test_a_stage_that_fails_is_not_reused_when_its_old_inputs_come_back(
    spec_file: Path, calls: list[str], fail: set[str]
) -> None:
    run_pipeline(load_spec(str(spec_file)), echo=lambda _: None)  # "c" completes with the default search
    fail.add("c")
    with pytest.raises(RuntimeError, match="c failed"):  # new inputs: "c" starts rewriting its outputs, fails
        run_pipeline(load_spec(str(spec_file), ["search.num_trials=7"]), echo=lambda _: None)
    fail.clear()
    calls.clear()
    result = run_pipeline(load_spec(str(spec_file)), echo=lambda _: None)  # the first inputs again
    assert calls == ["c"] and result.stages[2].status == "ran"


def test_unknown_stage_is_a_clean_error(spec_file: Path, calls: list[str]) -> None:
    with pytest.raises(RunError, match="choose one of: a, b, c"):
        run_pipeline(load_spec(str(spec_file)), until="z")


def test_a_relative_data_path_reaches_the_stages_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.unit.training.conftest import write_sst2

    monkeypatch.chdir(tmp_path)
    folder = write_sst2(tmp_path / "data")
    seen: list[str] = []
    monkeypatch.setattr(registry, "_REGISTRY", {})
    register_stage(Stage("a", lambda ctx: seen.append(ctx.spec.data.path) or {}, sections=("data",)))
    spec_file = tmp_path / "rel.yaml"
    spec_file.write_text(
        "name: rel\ntask: sst2\ndata: {path: data/SST-2}\nteacher: {model: minilm-l6}\n"
        f"resources: {{storage_path: {tmp_path / 'runs'}}}\n"
    )
    run_pipeline(load_spec(str(spec_file)), echo=lambda _: None)
    assert seen == [str(folder.resolve())]  # Ray workers run elsewhere: they get the absolute path


def test_a_stage_whose_outputs_outside_the_run_dir_are_gone_runs_again(
    spec_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "exports" / "demo"
    ran: list[str] = []

    def export(ctx: StageRun) -> dict[str, Any]:
        ran.append("export")
        target.mkdir(parents=True, exist_ok=True)
        return {}

    monkeypatch.setattr(registry, "_REGISTRY", {})
    register_stage(Stage("export", export, sections=("export",), outputs=lambda s: [target]))
    run_pipeline(load_spec(str(spec_file)), echo=lambda _: None)
    run_pipeline(load_spec(str(spec_file)), echo=lambda _: None)
    assert ran == ["export"]  # cached while its output is there
    target.rmdir()
    result = run_pipeline(load_spec(str(spec_file)), echo=lambda _: None)
    assert ran == ["export", "export"] and result.stages[0].status == "ran" and target.is_dir()


def test_a_nan_teacher_metric_is_a_failed_evaluation_in_the_headline() -> None:
    from raydistill.stages.teacher import value_text

    assert value_text(float("nan")) == "nan (failed: NaN or inf outputs)"
    assert value_text(0.8) == "0.8000"


def test_missing_data_fails_before_any_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from raydistill.errors import DataError
    from raydistill.spec import Spec

    seen: list[str] = []
    monkeypatch.setattr(registry, "_REGISTRY", {})
    register_stage(Stage("a", lambda ctx: seen.append(ctx.spec.data.path) or {}, sections=("data",)))
    raw = {
        "name": "nodata",
        "task": "sst2",
        "data": {"path": str(tmp_path / "gone")},
        "teacher": {"model": "minilm-l6"},
        "resources": {"storage_path": str(tmp_path / "runs")},
    }
    spec = Spec.model_validate(raw)  # built in code: the spec loader's rules never ran on it
    with pytest.raises(DataError, match=r"^data\.path: '.*/gone' does not exist \(relative paths start at"):
        run_pipeline(spec, echo=lambda _: None)
    assert seen == [] and not (tmp_path / "runs").exists()
    # on a cluster the nodes may hold the path: the stages run (the loader has warned)
    on_cluster = Spec.model_validate(
        {**raw, "resources": {**raw["resources"], "address": "ray://head:10001"}}
    )
    run_pipeline(on_cluster, echo=lambda _: None)
    assert seen == [str(tmp_path / "gone")]
