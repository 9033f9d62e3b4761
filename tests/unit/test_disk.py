"""`disk`: a run's disk use by part, what is superseded, and a prune that touches nothing else."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from raydistill.checkpoint_files import checkpoint_name
from raydistill.disk import SNAPSHOT_FILE, human_size, measure, prune, size_of, superseded_checkpoints
from raydistill.layout import RunLayout
from tests.unit.training.conftest import fake_checkpoint

NAME = "demo"


def _write(path: Path, n: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * n)
    return path


def _entry(step: int) -> dict:
    return {"version": 0, "checkpoint_dir_name": checkpoint_name(step), "metrics": {"step": step}}


def _snapshot(run_dir: Path, steps: list[int], latest: int, pending: list[int] | None = None) -> dict:
    """A Ray Train V2 checkpoint manager snapshot (the fields Ray 2.60 writes) listing `steps`."""
    state = {
        "ray_version": "2.60.0",
        "checkpoint_results": [_entry(s) for s in steps],
        "checkpoint_report_indices": [i + 1 for i in range(len(steps))],
        "latest_checkpoint_result": _entry(latest),
        "pending_training_results": [_entry(s) for s in pending or []],
        "pending_validation_specs": [False for _ in pending or []],
        "current_report_index": len(steps) + 1,
        "validated_checkpoint_dir_names": [checkpoint_name(s) for s in steps],
        "timed_out_validation_checkpoint_dir_names": [],
        "failed_validation_checkpoint_dir_names": [],
    }
    (run_dir / SNAPSHOT_FILE).write_text(json.dumps(state))
    return state


def fake_run(root: Path) -> RunLayout:
    """A run tree with files of known sizes at RunLayout's paths: results, a Train run holding two complete and
    two half-written checkpoints, a `.prev` Train run, the Tune experiment and its `.prev`."""
    layout = RunLayout(root)
    _write(layout.spec_json, 120)
    _write(layout.points_parquet, 300)
    _write(layout.points_csv, 80)
    _write(layout.teacher_model / "model.safetensors", 5000)
    _write(layout.teacher_metrics, 40)
    _write(layout.stage_file("teacher"), 30)
    _write(layout.supernet_model / "model.safetensors", 6000)
    _write(layout.trials_parquet, 700)
    _write(layout.retrain_model("L1-H1-F8") / "model.safetensors", 900)
    _write(layout.exports_json, 60)
    _write(layout.ray_log, 250)
    teacher = layout.train_run(f"{NAME}-teacher")
    for step in (3, 6):
        fake_checkpoint(teacher.path, step)
    fake_checkpoint(teacher.path, 8, manifest=False)  # cut short before its manifest
    fake_checkpoint(teacher.path, 2, manifest=False)
    _write(teacher.path / f".{checkpoint_name(9)}.partial" / "model.safetensors", 400)  # an in-process write
    _write(teacher.inputs, 90)
    _write(teacher.progress, 70)
    fake_checkpoint(teacher.prev, 4)
    experiment = layout.search_experiment(NAME)
    _write(experiment.path / "trial_0" / "result.json", 110)
    _write(experiment.prev / "trial_0" / "result.json", 130)
    return layout


@pytest.fixture
def layout(tmp_path: Path) -> RunLayout:
    return fake_run(tmp_path / "runs" / NAME)


def _files(root: Path) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}


def test_the_parts_add_up_to_every_byte_of_the_run(layout: RunLayout) -> None:
    use = measure(layout.root)
    assert use.size == sum(p.stat().st_size for p in layout.root.rglob("*") if p.is_file())
    sizes = {part.label: part.size for part in use.parts}
    assert sizes["spec.json points.parquet points.csv"] == 120 + 300 + 80
    assert sizes["teacher/"] == 5000 + 40 + 30 and sizes["supernet/"] == 6000 and sizes["logs/"] == 250
    assert sizes["search/"] == 700 and sizes["retrain/"] == 900 and sizes["export/"] == 60
    teacher = layout.train_run(f"{NAME}-teacher")
    assert sizes[f"ray/{NAME}-teacher/"] == size_of(teacher.path) + 90 + 70  # with the files beside it
    assert sizes[f"ray/{NAME}-teacher.prev/"] == size_of(teacher.prev)
    assert sizes[f"ray/{NAME}-search/"] == 110 and sizes[f"ray/{NAME}-search.prev/"] == 130
    assert len(sizes) == len(use.parts)  # each part once


def test_superseded_is_exactly_the_prev_folders_and_the_old_or_half_written_checkpoints(
    layout: RunLayout,
) -> None:
    use = measure(layout.root)
    teacher = layout.train_run(f"{NAME}-teacher")
    expected = {
        teacher.path / checkpoint_name(3),  # older than the newest complete one (6)
        teacher.path / checkpoint_name(2),  # half-written, older
        teacher.path / checkpoint_name(8),  # half-written, newer
        teacher.path / f".{checkpoint_name(9)}.partial",
        teacher.prev,
        layout.search_experiment(NAME).prev,
    }
    assert set(use.superseded) == expected and len(use.superseded) == len(expected)
    assert use.superseded_size == sum(size_of(p) for p in expected)
    assert use.what() == "2 .prev folders, 4 old or half-written checkpoints"


def test_prune_deletes_exactly_the_superseded_and_leaves_every_other_file_byte_identical(
    layout: RunLayout,
) -> None:
    use = measure(layout.root)
    before = _files(layout.root)
    expected_freed = use.superseded_size
    assert prune(use) == expected_freed > 0
    after = _files(layout.root)
    gone = {p for p in before if any(p.is_relative_to(s) for s in use.superseded)}
    assert gone and set(after) == set(before) - gone
    assert all(after[p] == before[p] for p in after)  # results, newest checkpoint, experiment: untouched
    assert not any(p.exists() for p in use.superseded)
    again = measure(layout.root)
    assert again.superseded == () and again.size == use.size - expected_freed
    assert (layout.train_run(f"{NAME}-teacher").path / checkpoint_name(6)).is_dir()


def test_a_run_with_nothing_superseded_prunes_nothing(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path / NAME)
    _write(layout.spec_json, 10)
    fake_checkpoint(layout.train_run(f"{NAME}-teacher").path, 5)
    use = measure(layout.root)
    assert use.superseded == () and use.what() == "nothing" and prune(use) == 0
    assert (layout.train_run(f"{NAME}-teacher").path / checkpoint_name(5)).is_dir()


def test_prune_drops_deleted_checkpoints_from_rays_snapshot(layout: RunLayout) -> None:
    run = layout.train_run(f"{NAME}-teacher").path
    before = _snapshot(run, [3, 6], latest=6)
    prune(measure(layout.root))
    after = json.loads((run / SNAPSHOT_FILE).read_text())
    assert [r["checkpoint_dir_name"] for r in after["checkpoint_results"]] == [checkpoint_name(6)]
    assert after["checkpoint_report_indices"] == [2]  # checkpoint 6's own index
    assert after["validated_checkpoint_dir_names"] == [checkpoint_name(6)]
    untouched = {k for k in before if k not in ("checkpoint_results", "checkpoint_report_indices")}
    assert {k: after[k] for k in untouched} == {k: before[k] for k in untouched} | {
        "validated_checkpoint_dir_names": [checkpoint_name(6)]
    }
    for entry in after["checkpoint_results"]:  # Ray refuses to resume when one it lists is missing
        assert (run / entry["checkpoint_dir_name"]).is_dir()


def test_what_rays_snapshot_needs_on_resume_is_never_superseded(tmp_path: Path) -> None:
    """After a Ctrl-C between checkpoint 6's write and Ray's record, Ray's latest is still 3: both stay."""
    run = tmp_path / "r"
    for step in (1, 3, 6):
        fake_checkpoint(run, step)
    fake_checkpoint(run, 7, manifest=False)
    _snapshot(run, [1, 3], latest=3, pending=[7])
    assert [p.name for p in superseded_checkpoints(run)] == [checkpoint_name(1)]


@pytest.mark.parametrize("text", ["{not json", '{"checkpoint_results": "x"}', '{"checkpoint_results": [{}]}'])
def test_a_snapshot_of_unknown_shape_keeps_every_checkpoint(tmp_path: Path, text: str) -> None:
    run = tmp_path / "r"
    for step in (1, 3):
        fake_checkpoint(run, step)
    (run / SNAPSHOT_FILE).write_text(text)
    assert superseded_checkpoints(run) == []
    (run / SNAPSHOT_FILE).unlink()
    assert [p.name for p in superseded_checkpoints(run)] == [checkpoint_name(1)]  # the check can fail


def test_table_lists_each_part_and_the_total(layout: RunLayout) -> None:
    use = measure(layout.root)
    lines = use.table()
    assert lines[0].split() == ["part", "size", "superseded"]
    assert len(lines) == len(use.parts) + 2 and lines[-1].split()[0] == "total"
    assert lines[-1].split()[1:] == [*human_size(use.size).split(), *human_size(use.superseded_size).split()]
    row = next(line for line in lines if line.startswith("teacher/"))
    assert row.split() == ["teacher/", *human_size(5070).split(), "-"]


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0 B"), (999, "999 B"), (1000, "1.0 kB"), (1_534_000, "1.5 MB"), (2 * 10**12, "2.0 TB")],
)
def test_human_size(n: int, text: str) -> None:
    assert human_size(n) == text
