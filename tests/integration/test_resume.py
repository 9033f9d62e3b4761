"""Resume on a local Ray when Ray's run snapshot lags behind the checkpoints on disk (as a Ctrl-C leaves it).

Run with: `pytest -m integration tests/integration/test_resume.py` (about 30 s on 2 cores).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from raydistill.checkpoint_files import is_complete
from raydistill.training.config import LoopConfig
from raydistill.training.loop import train_loop_per_worker
from raydistill.training.trainer import fit
from tests.unit.training.conftest import write_sst2

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_leftover_placement_groups")]
SNAPSHOT = "checkpoint_manager_snapshot.json"  # Ray Train V2's record of the checkpoints it registered


def _forget_newest(run_dir: Path, keep: str) -> None:
    """Rewrite Ray's snapshot as if the controller had registered nothing after checkpoint `keep`."""
    snapshot = json.loads((run_dir / SNAPSHOT).read_text())
    names = [r["checkpoint_dir_name"] for r in snapshot["checkpoint_results"]]
    cut = names.index(keep) + 1
    snapshot["checkpoint_results"] = snapshot["checkpoint_results"][:cut]
    snapshot["checkpoint_report_indices"] = snapshot["checkpoint_report_indices"][:cut]
    snapshot["latest_checkpoint_result"] = snapshot["checkpoint_results"][-1]
    snapshot["current_report_index"] = snapshot["checkpoint_report_indices"][-1] + 1
    (run_dir / SNAPSHOT).write_text(json.dumps(snapshot))


def test_resume_uses_the_newest_complete_checkpoint_not_rays_older_record(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    data = write_sst2(tmp_path / "data")  # 36 train rows after the search split: 5 steps of 8 per epoch
    config = LoopConfig(
        model=str(tiny_model_dir),
        task="sst2",
        data={"path": str(data), "max_seq_length": 32},
        optim={"max_steps": 6, "batch_size": 8, "learning_rate": 1e-3, "checkpoint_every_steps": 2},
        num_threads=1,
    )
    storage = tmp_path / "ray"
    first = fit(
        train_loop_per_worker,
        config.with_updates(stop_after_steps=4).to_dict(),
        run_name="lag",
        storage_path=storage,
        num_workers=1,
    )
    run = first.path
    assert first.metrics["stopped"] and is_complete(run / "checkpoint_00000004")
    _forget_newest(run, keep="checkpoint_00000002")  # Ray recorded 2; 4 is complete on disk
    half = run / "checkpoint_00000005"  # and 5 was being copied when the run died
    shutil.copytree(run / "checkpoint_00000004", half)
    (half / "trainer_state.pt").write_bytes(b"")

    resumed = fit(
        train_loop_per_worker, config.to_dict(), run_name="lag", storage_path=storage, num_workers=1
    )
    assert resumed.metrics["start_step"] == 4 and resumed.metrics["step"] == 6
    assert Path(resumed.checkpoint.path) == run / "checkpoint_00000006"
    assert is_complete(run / "checkpoint_00000005")  # rewritten whole at the epoch end

    # the optimizer, schedule and data position came from checkpoint 4: same weights as one uninterrupted run
    straight = fit(
        train_loop_per_worker, config.to_dict(), run_name="straight", storage_path=storage, num_workers=0
    )
    a = load_file(run / "checkpoint_00000006" / "model.safetensors")
    b = load_file(Path(straight.checkpoint.path) / "model.safetensors")
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-5, rtol=1e-4)
