"""The real loop on a local 2-CPU Ray cluster: 2-worker DDP (gloo) with a resume, and worker errors surfacing.

Run with: `pytest -m integration tests/integration/test_ddp.py` (about a minute on 2 cores).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from raydistill.errors import DataError, RunError
from raydistill.training.config import LoopConfig
from raydistill.training.loop import train_loop_per_worker
from raydistill.training.trainer import fit
from tests.unit.training.conftest import write_sst2

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_leftover_placement_groups")]


@pytest.fixture
def config(tiny_model_dir: Path, tmp_path: Path) -> LoopConfig:
    data = write_sst2(tmp_path / "data")  # 36 train rows after the search split: no padding across 2 ranks
    return LoopConfig(
        model=str(tiny_model_dir),
        task="sst2",
        data={"path": str(data), "max_seq_length": 32},
        optim={"max_steps": 2, "batch_size": 8, "learning_rate": 1e-3, "warmup_ratio": 0.0},
        num_threads=1,
    )


def test_two_worker_ddp_with_resume_equals_one_process_with_double_batch(
    config: LoopConfig, tmp_path: Path
) -> None:
    """2 ranks x batch 8 average the gradients of the same 16 examples one process sees with batch 16.

    The run is stopped after step 1 and resumed through `ray.train.get_checkpoint()`, so this also checks that
    a Ray-persisted checkpoint restores the weights, optimizer and schedule.
    """
    storage = tmp_path / "ray"
    first = fit(
        train_loop_per_worker,
        config.with_updates(stop_after_steps=1).to_dict(),
        run_name="ddp",
        storage_path=storage,
        num_workers=2,
    )
    assert first.metrics["stopped"] and first.metrics["rank_weight_spread"] == 0.0
    result = fit(train_loop_per_worker, config.to_dict(), run_name="ddp", storage_path=storage, num_workers=2)
    assert result.metrics["start_step"] == 1 and result.metrics["step"] == 2
    assert result.metrics["rank_weight_spread"] == 0.0  # both workers hold the same weights
    assert result.metrics["train_samples"] == 2 * 2 * 8 and "accuracy" in result.metrics["dev"]["dev"]
    ddp_dir = Path(result.checkpoint.path)
    assert ddp_dir == storage.resolve() / "ddp" / "checkpoint_00000002"

    single_config = config.with_updates(optim={**config.optim, "batch_size": 16})
    single = fit(
        train_loop_per_worker, single_config.to_dict(), run_name="one", storage_path=storage, num_workers=0
    )
    a = load_file(ddp_dir / "model.safetensors")
    b = load_file(Path(single.checkpoint.path) / "model.safetensors")
    initial = load_file(Path(config.model) / "model.safetensors")
    assert any(not torch.allclose(a[k], initial[k]) for k in initial)
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-5, rtol=1e-4)


def test_a_worker_data_error_surfaces_as_itself(config: LoopConfig, tmp_path: Path) -> None:
    bad = config.with_updates(data={"path": str(tmp_path / "missing")})
    with pytest.raises(DataError, match="missing"):
        fit(train_loop_per_worker, bad.to_dict(), run_name="bad-data", storage_path=tmp_path, num_workers=1)


def test_other_worker_failures_become_a_short_run_error(config: LoopConfig, tmp_path: Path) -> None:
    bad = config.with_updates(optim={"batch_size": 0})  # rejected by OptimSpec inside the worker
    with pytest.raises(RunError, match="training run 'bad-optim' failed") as info:
        fit(train_loop_per_worker, bad.to_dict(), run_name="bad-optim", storage_path=tmp_path, num_workers=1)
    assert len(str(info.value).splitlines()) == 1
