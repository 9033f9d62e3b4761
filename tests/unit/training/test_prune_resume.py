"""A run pruned by `raydistill disk --prune` (old checkpoints and a `.prev` run dropped) still resumes and finishes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from raydistill.checkpoint_files import checkpoint_name, complete_checkpoints
from raydistill.disk import measure, prune
from raydistill.layout import RunLayout
from raydistill.training.config import LoopConfig
from raydistill.training.loop import train_loop_per_worker
from raydistill.training.trainer import fit

TOTAL = 10  # 36 train rows (search split carved out) in batches of 8: 5 steps per epoch, 2 epochs


def test_a_pruned_run_resumes_from_its_newest_checkpoint_and_finishes(
    make_config: Callable[..., LoopConfig], tmp_path: Path
) -> None:
    layout = RunLayout(tmp_path / "runs" / "demo")
    run = layout.train_run("demo-teacher")

    def train(config: LoopConfig):  # type: ignore[no-untyped-def]
        return fit(train_loop_per_worker, config.to_dict(), run_name=run.path.name, storage_path=layout.ray_dir,
                   num_workers=0)  # fmt: skip

    config = make_config(optim={"checkpoint_every_steps": 3})
    train(
        make_config(optim={"checkpoint_every_steps": 3, "learning_rate": 5e-4}).with_updates(
            stop_after_steps=2
        )
    )
    stopped = train(config.with_updates(stop_after_steps=7))
    assert stopped.metrics["step"] == 7 and run.prev.is_dir()  # the first run, set aside: other inputs
    kept = [p.name for p in complete_checkpoints(run.path)]
    assert kept == [checkpoint_name(6), checkpoint_name(7)]

    use = measure(layout.root)
    assert set(use.superseded) == {run.path / checkpoint_name(6), run.prev}
    assert prune(use) == use.superseded_size > 0
    assert [p.name for p in complete_checkpoints(run.path)] == [checkpoint_name(7)] and not run.prev.exists()

    resumed = train(config)
    assert resumed.metrics["start_step"] == 7 and resumed.metrics["step"] == TOTAL
    assert Path(resumed.checkpoint.path) == run.path / checkpoint_name(TOTAL)
