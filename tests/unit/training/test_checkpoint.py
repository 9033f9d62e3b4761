"""Which checkpoint a rerun resumes from: the newest complete one on disk, whatever Ray's snapshot recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from raydistill.checkpoint_files import (
    MANIFEST,
    METHOD_PT,
    STATE_PT,
    checkpoint_name,
    checkpoint_step,
    complete_checkpoints,
    is_complete,
    select_resume_checkpoint,
    write_manifest,
)

from .conftest import fake_checkpoint


def test_a_whole_checkpoint_is_complete(tmp_path: Path) -> None:
    assert is_complete(fake_checkpoint(tmp_path, 3))


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: (d / "model.safetensors").write_bytes(b"w" * 400),  # copy cut short
        lambda d: (d / STATE_PT).unlink(),  # not copied yet, or deleted by pruning
        lambda d: (d / MANIFEST).unlink(),
        lambda d: (d / MANIFEST).write_text('{"config.json": 2, "model.safe'),  # manifest itself cut short
        lambda d: (d / MANIFEST).write_text('{"config.json": 2}'),  # lists no training state
        lambda d: ((d / METHOD_PT).unlink(), write_manifest(d)),  # lists no state of the method's modules
    ],
    ids=[
        "truncated-file",
        "missing-file",
        "no-manifest",
        "truncated-manifest",
        "manifest-without-state",
        "manifest-without-method-state",
    ],  # fmt: skip
)
def test_a_damaged_checkpoint_is_incomplete(tmp_path: Path, damage) -> None:  # type: ignore[no-untyped-def]
    directory = fake_checkpoint(tmp_path, 3)
    damage(directory)
    assert not is_complete(directory)


def test_resume_takes_the_newest_complete_checkpoint_not_rays_older_record(tmp_path: Path) -> None:
    """Ctrl-C after checkpoint 46 was written but before Ray recorded it; 69 and 92 were being written."""
    run = tmp_path / "run"
    recorded = fake_checkpoint(run, 23)
    newest = fake_checkpoint(run, 46)
    half = fake_checkpoint(run, 69)
    (half / "model.safetensors").write_bytes(b"w" * 10)
    unlisted = fake_checkpoint(run, 92, manifest=False)
    (run / "checkpoint_manager_snapshot.json").write_text("{}")
    chosen, partial = select_resume_checkpoint(run, recorded)
    assert chosen == newest and partial == [half, unlisted]
    assert complete_checkpoints(run) == [recorded, newest]


def test_rays_record_counts_when_it_is_the_newest_even_without_a_manifest(tmp_path: Path) -> None:
    run = tmp_path / "run"
    fake_checkpoint(run, 5)
    recorded = fake_checkpoint(run, 10, manifest=False)  # written by a version that wrote no manifest
    assert select_resume_checkpoint(run, recorded) == (recorded, [])


def test_nothing_to_resume_from(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert select_resume_checkpoint(run, None) == (None, [])
    half = fake_checkpoint(run, 4, manifest=False)
    assert select_resume_checkpoint(run, None) == (None, [half])


def test_checkpoint_step_reads_the_name() -> None:
    assert checkpoint_step(Path("/r") / checkpoint_name(120)) == 120
    assert checkpoint_step(Path("/r/.checkpoint_00000007.partial")) is None
    assert checkpoint_step(Path("/r/checkpoint_2024-01-01_10-00")) is None
