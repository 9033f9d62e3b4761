"""Student methods under 2-worker DDP (gloo): TinyBERT's projection and an unused task head train in sync.

Run with: `pytest -m integration tests/integration/test_student_ddp.py` (one to two minutes on 2 cores).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from raydistill.checkpoint_files import METHOD_PT
from raydistill.training.config import LoopConfig
from raydistill.training.loop import train_loop_per_worker
from raydistill.training.trainer import fit
from tests.unit.distill.students import save_small_student, save_teacher
from tests.unit.training.conftest import write_sst2

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_leftover_placement_groups")]


def test_tinybert_intermediate_trains_its_projection_on_two_workers(tmp_path: Path, tiny_tokenizer) -> None:  # type: ignore[no-untyped-def]
    """DDP needs a gradient for every parameter in the synchronised backward: the projection (the method's own
    module) and the task head (unused by the intermediate stage, given a zero gradient) both get one."""
    teacher = save_teacher(tmp_path, tiny_tokenizer, layers=2)
    student = save_small_student(tmp_path, teacher)  # hidden 16 vs 32: a projection
    config = LoopConfig(
        model=str(student),
        task="sst2",
        data={"path": str(write_sst2(tmp_path / "data")), "max_seq_length": 32},
        optim={"max_steps": 2, "batch_size": 8, "learning_rate": 1e-3, "warmup_ratio": 0.0},
        num_threads=1,
        method="tinybert",
        method_options={"teacher": str(teacher), "kind": "classification", "student": str(student)},
    )
    result = fit(
        train_loop_per_worker, config.to_dict(), run_name="tb", storage_path=tmp_path / "ray", num_workers=2
    )
    assert result.metrics["step"] == 2 and result.metrics["rank_weight_spread"] == 0.0
    state = torch.load(Path(result.checkpoint.path) / METHOD_PT, weights_only=True)
    assert set(state) == {"projection.weight", "projection.bias"}
