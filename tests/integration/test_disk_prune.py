"""`raydistill disk --prune` on a Ray-backed Train run: Ray's snapshot is kept consistent, so the run resumes.

Ray Train V2 refuses to resume a run whose checkpoint manager snapshot lists a checkpoint that is gone; prune
rewrites the snapshot before it deletes. Run with: `pytest -m integration tests/integration/test_disk_prune.py`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raydistill.checkpoint_files import checkpoint_name, complete_checkpoints
from raydistill.disk import SNAPSHOT_FILE, measure, prune
from raydistill.layout import RunLayout
from raydistill.training.config import LoopConfig
from raydistill.training.loop import train_loop_per_worker
from raydistill.training.trainer import fit
from tests.unit.training.conftest import write_sst2

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_leftover_placement_groups")]


def _listed(run_dir: Path) -> list[str]:
    return [
        r["checkpoint_dir_name"]
        for r in json.loads((run_dir / SNAPSHOT_FILE).read_text())["checkpoint_results"]
    ]


def test_a_pruned_ray_run_resumes_from_its_newest_checkpoint(tiny_model_dir: Path, tmp_path: Path) -> None:
    layout = RunLayout(tmp_path / "runs" / "demo")
    run = layout.train_run("demo-teacher")
    config = LoopConfig(
        model=str(tiny_model_dir),
        task="sst2",
        data={"path": str(write_sst2(tmp_path / "data")), "max_seq_length": 32},
        optim={"max_steps": 6, "batch_size": 8, "learning_rate": 1e-3, "checkpoint_every_steps": 2},
        num_threads=1,
    )

    def train(config: LoopConfig, num_workers: int = 1):  # type: ignore[no-untyped-def]
        return fit(train_loop_per_worker, config.to_dict(), run_name=run.path.name, storage_path=layout.ray_dir,
                   num_workers=num_workers)  # fmt: skip

    train(
        config.with_updates(optim={**config.optim, "learning_rate": 5e-4}, stop_after_steps=2), num_workers=0
    )
    stopped = train(config.with_updates(stop_after_steps=4))  # the first run is set aside: other inputs
    assert stopped.metrics["step"] == 4 and run.prev.is_dir()
    two, four = checkpoint_name(2), checkpoint_name(4)
    assert [p.name for p in complete_checkpoints(run.path)] == [two, four] and _listed(run.path) == [
        two,
        four,
    ]

    use = measure(layout.root)
    assert set(use.superseded) == {run.path / two, run.prev}
    prune(use)
    assert _listed(run.path) == [four] and not (run.path / two).exists() and not run.prev.exists()

    resumed = train(config)
    assert resumed.metrics["start_step"] == 4 and resumed.metrics["step"] == 6
    assert Path(resumed.checkpoint.path) == run.path / checkpoint_name(6)
    assert all((run.path / name).is_dir() for name in _listed(run.path))
