"""The students stage on Ray Train (1 worker): a tiny TinyBERT student runs both task-distillation stages as two
Ray runs (the intermediate one with its projection) and lands in the points table.

Run with: `pytest -m integration tests/integration/test_students.py` (about a minute on 2 cores).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from raydistill.checkpoint_files import METHOD_PT, complete_checkpoints
from raydistill.layout import RunLayout
from raydistill.pipeline import run_pipeline
from raydistill.results.points import read_points
from raydistill.spec import Spec
from tests.unit.training.conftest import write_sst2

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_leftover_placement_groups")]


def test_a_tinybert_student_trains_both_stages_on_ray(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # reports/<name>/
    optim = {"max_steps": 2, "batch_size": 8, "learning_rate": 1e-3, "num_threads": 1}
    spec = Spec.model_validate({
        "name": "tiny-students", "task": "sst2",
        "data": {"path": str(write_sst2(tmp_path / "data")), "max_seq_length": 32},
        "teacher": {"model": str(tiny_model_dir), "finetuned": True},
        "supernet": {"enabled": False}, "search": {"enabled": False}, "export": {"enabled": False},
        "students": [{"name": "tb", "method": "tinybert", "shape": {"layers": 1, "hidden": 16, "ffn": 32},
                      "train": optim, "prediction_train": optim}],
        "resources": {"num_workers": 1, "storage_path": str(tmp_path / "runs")},
    })  # fmt: skip
    lines: list[str] = []
    run_pipeline(spec, echo=lines.append)
    layout = RunLayout(tmp_path / "runs" / "tiny-students")
    intermediate = complete_checkpoints(layout.train_run("tiny-students-student-tb-intermediate").path)
    prediction = complete_checkpoints(layout.train_run("tiny-students-student-tb-prediction").path)
    assert intermediate and prediction
    saved = torch.load(intermediate[-1] / METHOD_PT, weights_only=True)
    assert saved["projection.weight"].shape == (32, 16)  # the projection 16 -> 32, checkpointed
    assert torch.load(prediction[-1] / METHOD_PT, weights_only=True) == {}  # the prediction stage has none
    row = read_points(layout).set_index("label").loc["student tb"]
    assert row["method"] == "tinybert" and 0 <= row["dev_metric"] <= 1
    assert (layout.student_model("tb") / "config.json").is_file()
    again: list[str] = []
    run_pipeline(spec, echo=again.append)
    assert again[0] == "plan: teacher, students, report cached", again
