"""The quickstart spec end to end through the real CLI and local Ray (tiny teacher, the shipped data):
teacher -> supernet -> search -> picks -> export -> report, then a rerun that is served from the stage cache."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from raydistill.layout import RunLayout
from raydistill.stages import stage_graph
from tests.integration.golden.facts import GOLDEN_FILE, assert_same_facts, quickstart_facts
from tests.unit.training.conftest import write_sst2

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", RAY_AIR_NEW_OUTPUT="0", RAY_TRAIN_HEALTH_CHECK_INTERVAL_S="0.2")
    return subprocess.run(
        [sys.executable, "-m", "raydistill", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )


def _overrides(model_dir: Path, runs: Path, data: Path) -> list[str]:
    values = [
        f"teacher.model={model_dir}",
        f"data.path={data}",  # words the tiny vocabulary knows (the shipped data would be all [UNK] to it)
        f"resources.storage_path={runs}",
        "resources.cpus_per_worker=1",
        "teacher.train.epochs=3",
        "teacher.train.learning_rate=5e-3",  # the tiny random model learns the task
        "teacher.train.batch_size=8",
        "supernet.train.epochs=1",
        "supernet.train.learning_rate=2e-3",
        "supernet.importance_examples=32",
        "search.num_trials=8",
        "search.population_size=4",
        "resources.max_concurrent_trials=1",  # results reach the sampler in one order: the golden facts hold
    ]
    return [arg for v in values for arg in ("--set", v)]


def test_quickstart_pipeline_end_to_end(tmp_path: Path, tiny_model_dir: Path) -> None:
    spec = str(REPO / "searches" / "quickstart.yaml")
    args = _overrides(tiny_model_dir, tmp_path / "runs", write_sst2(tmp_path / "data", repeats=8))
    first = _cli("run", spec, *args, cwd=tmp_path)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    lines = first.stdout.strip().splitlines()
    assert lines[-1] == "report: reports/quickstart/index.html", first.stdout
    assert "plan: teacher, supernet, search, picks, export, report run (no record)" in lines, first.stdout
    summary = "\n".join(lines[-8:])  # header, one line per stage, the report
    stages = ("teacher   ran", "supernet  ran", "search    ran", "picks     ran", "export    ran", "report    ran")
    for stage in (*stages, "dev accuracy="):
        assert stage in summary, summary
    # the CLI itself never prints a traceback (lines Ray forwards from its actors carry a "(Actor pid=...)" prefix)
    assert not [line for line in first.stderr.splitlines() if line.startswith("Traceback")], first.stderr[-4000:]

    run_dir = tmp_path / "runs" / "quickstart"
    teacher = json.loads((run_dir / "teacher" / "metrics.json").read_text())
    assert teacher["main_metric"] == "accuracy" and 0.0 <= teacher["main_value"] <= 1.0
    grid = (run_dir / "supernet" / "supernet_eval.csv").read_text().splitlines()
    assert len(grid) == 1 + 4 * 2  # header + 4 widths x 2 depths

    import pandas as pd

    trials = pd.read_parquet(run_dir / "search" / "trials.parquet")
    assert len(trials) == 8 and trials["flops_ratio"].between(0, 1).all()

    html = (tmp_path / "reports" / "quickstart" / "index.html").read_text()
    assert "Plotly.newPlot" in html and trials["arch_id"].iloc[0] in html
    assert not re.search(r"<script[^>]+src=", html)  # plotly.js inlined: the report works offline
    latency = json.loads((run_dir / "export" / "latency.json").read_text())
    assert latency and all(v["latency_ms"] > 0 for v in latency.values())
    exports = [p for p in (tmp_path / "exports" / "quickstart").iterdir() if (p / "model.onnx").is_file()]
    assert exports

    _check_golden(run_dir)

    again = _cli("run", spec, *args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("(cached)") == 6
    assert "plan: teacher, supernet, search, picks, export, report cached" in again.stdout
    assert_every_file_is_named(RunLayout(run_dir), "quickstart")


def _check_golden(run_dir: Path) -> None:
    """The run computes what the recorded run computed (`golden/facts.py`); re-record with the env variable."""
    budgets = [0.25, 0.5, 0.75]  # searches/quickstart.yaml
    facts = quickstart_facts(run_dir, budgets)
    if os.environ.get("RAYDISTILL_RECORD_GOLDEN") == "1":
        GOLDEN_FILE.write_text(json.dumps(facts, indent=1) + "\n")
    assert_same_facts(facts, json.loads(GOLDEN_FILE.read_text()))


def _named(run: RunLayout, name: str) -> tuple[set[Path], list[Path]]:
    """(files, trees) a run may hold: each file named by a `RunLayout` attribute, and the folders whose insides
    belong to their owner (HF model dirs; Ray's Train runs and Tune experiment, with the files beside them)."""
    files = {
        run.spec_json, run.points_parquet, run.points_csv, *(run.stage_file(s.name) for s in stage_graph()),
        run.teacher_metrics, run.supernet_reorder, run.supernet_eval_csv, run.supernet_metrics,
        *run.search_outputs, run.retrain_file, run.latency_json, run.exports_json, run.ray_log,
    }  # fmt: skip
    arch_ids = json.loads(run.retrain_file.read_text()) if run.retrain_file.is_file() else {}
    trees = [run.teacher_model, run.supernet_init, run.supernet_model]
    trees += [p for a in arch_ids for p in (run.retrain_init(a), run.retrain_model(a))]
    trees += [*run.search_experiment(name).siblings]
    for stage in ("teacher", "supernet"):  # the Ray Train runs of the stages (`<name>-<stage>`)
        trees += [*run.train_run(f"{name}-{stage}").siblings]
    return files, trees


def assert_every_file_is_named(run: RunLayout, name: str) -> None:
    """Every file under the run directory is a `RunLayout` file or lies in a folder one of its attributes names."""
    files, trees = _named(run, name)
    stray = [
        p.relative_to(run.root).as_posix()
        for p in sorted(run.root.rglob("*"))
        if p.is_file() and p not in files and not any(p == t or t in p.parents for t in trees)
    ]
    assert stray == [], f"files under {run.root} that RunLayout does not name: {stray}"
    for path in (run.teacher_model, run.supernet_model, run.search_experiment(name).path, run.ray_log):
        assert path.exists(), path  # the walk covered a real run
