"""`RunLayout`: the names of a run's files and folders (the on-disk contract existing runs are read by), and
that no other module spells them."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from raydistill import layout as layout_module
from raydistill.layout import STAGES, RayDir, RunLayout

REPO = Path(__file__).resolve().parents[2]


def test_every_run_path_keeps_its_name(tmp_path: Path) -> None:
    run = RunLayout(tmp_path)
    named = {
        run.spec_json: "spec.json",
        run.stage_file("supernet"): "supernet/stage.json",
        run.teacher_model: "teacher/model",
        run.teacher_metrics: "teacher/metrics.json",
        run.supernet_init: "supernet/init",
        run.supernet_reorder: "supernet/init/reorder.json",
        run.supernet_model: "supernet/model",
        run.supernet_eval_csv: "supernet/supernet_eval.csv",
        run.supernet_metrics: "supernet/metrics.json",
        run.trials_parquet: "search/trials.parquet",
        run.trials_csv: "search/trials.csv",
        run.search_meta: "search/meta.json",
        run.dev_metrics: "search/dev_metrics.json",
        run.exhausted: "search/exhausted.json",
        run.stage_file("picks"): "picks/stage.json",
        run.points_parquet: "points.parquet",
        run.retrain_init("L1-H2-F32"): "retrain/L1-H2-F32/init",
        run.retrain_model("L1-H2-F32"): "retrain/L1-H2-F32/model",
        run.retrain_file: "retrain/retrain.json",
        run.latency_json: "export/latency.json",
        run.exports_json: "export/exports.json",
        run.augmented_train: "augment/augmented.jsonl",
        run.mlm_head_weights: "augment/mlm_head/head.pt",
        run.mlm_head_meta: "augment/mlm_head/head.json",
        run.ray_log: "logs/ray.log",
        run.ray_dir: "ray",
    }
    assert {path.relative_to(tmp_path).as_posix(): rel for path, rel in named.items()} == {
        rel: rel for rel in named.values()
    }
    assert run.model_dirs == (run.supernet_model, run.teacher_model)  # the supernet first, else the teacher
    assert set(run.search_outputs) == {
        run.trials_parquet, run.trials_csv, run.search_meta, run.dev_metrics, run.exhausted
    }  # fmt: skip
    assert STAGES == (
        "augment", "teacher", "supernet", "search", "picks", "retrain", "students", "export", "report"
    )


def test_ray_folders_and_their_siblings(tmp_path: Path) -> None:
    run = RunLayout(tmp_path)
    train = run.train_run("demo-teacher")
    assert train.path == tmp_path / "ray" / "demo-teacher"
    assert [p.name for p in train.siblings] == [
        "demo-teacher", "demo-teacher.prev", "demo-teacher.inputs.json", "demo-teacher.progress.jsonl"
    ]  # fmt: skip
    experiment = run.search_experiment("demo")
    assert experiment == RayDir(tmp_path / "ray" / "demo-search")
    assert experiment.prev == tmp_path / "ray" / "demo-search.prev"


def test_of_is_absolute_and_the_layout_is_frozen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run = RunLayout.of("runs", "quickstart")
    assert run.root == tmp_path.resolve() / "runs" / "quickstart" and run.root.is_absolute()
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.root = tmp_path  # type: ignore[misc]


def test_the_layout_imports_no_heavy_library() -> None:
    code = "import sys, raydistill.layout; print(sorted(m for m in ('ray', 'optuna', 'torch', 'pandas') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --------------------------------------------------------------- no other module spells a run path
FOLDERS = {*STAGES, "logs", "ray", "model", "init"}  # `x / "<folder>"` joins belong to the layout
SCANNED = [REPO / "raydistill", REPO / "benchmarks"]
ALLOWED = {REPO / "raydistill" / "layout.py"}


def _run_file_names() -> set[str]:
    """The layout's file names and suffixes (its upper-case string constants that name a file)."""
    values = {v for k, v in vars(layout_module).items() if k.isupper() and isinstance(v, str)}
    return {v for v in values if "." in v}


def _docstrings(tree: ast.AST) -> set[int]:
    nodes = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, nodes) and node.body and isinstance(node.body[0], ast.Expr)
    }


def spelled_run_paths(source: str) -> list[str]:
    """`line: text` of each string literal (docstrings aside) that is a run file name, ends with `/<name>`,
    or is a folder joined with `/`, and of each `-search` experiment name."""
    tree = ast.parse(source)
    names, skip = _run_file_names(), _docstrings(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            right = node.right
            if isinstance(right, ast.Constant) and right.value in FOLDERS:
                found.append(f"{node.lineno}: / {right.value!r}")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            text = node.value
            if text in names or text == "-search" or any(text.endswith(("/" + n, n + "/")) for n in names):
                found.append(f"{node.lineno}: {text!r}")
    return found


def test_the_scan_finds_what_it_looks_for() -> None:
    source = 'p = run / "search" / "meta.json"\nq = f"{name}-search"\nr = "runs/x/export/latency.json"\n'
    assert len(spelled_run_paths(source)) == 4
    assert spelled_run_paths('"""docstring naming search/meta.json"""\nx = layout.search_meta\n') == []


def test_no_module_but_the_layout_spells_a_run_path() -> None:
    offenders = {
        str(path.relative_to(REPO)): hits
        for root in SCANNED
        for path in sorted(root.rglob("*.py"))
        if path not in ALLOWED and (hits := spelled_run_paths(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}, f"run paths spelled outside raydistill/layout.py (use RunLayout): {offenders}"
