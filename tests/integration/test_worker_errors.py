"""A user mistake that only a Ray Train worker can see reaches the terminal as one `error: ...` line.

The command runs in a subprocess (its own local Ray, 1 worker), so the test sees everything the user would: the
worker's `DataError` must come back as itself, printed once by the CLI, with no traceback from the worker, the
Train controller or raydistill. About 25 s on 2 cores.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.training.conftest import write_sst2

pytestmark = pytest.mark.integration


def test_a_data_error_inside_a_worker_is_one_line(tiny_model_dir: Path, tmp_path: Path) -> None:
    data = write_sst2(tmp_path / "data")
    spec = tmp_path / "w.yaml"
    spec.write_text(
        "name: w\ntask: sst2\n"
        f"data: {{path: {data}, max_seq_length: 16, max_train_examples: 1}}\n"  # valid files; 1 example left
        f"teacher: {{model: {tiny_model_dir}, train: {{max_steps: 1, batch_size: 4}}}}\n"
        "supernet: {enabled: false}\nsearch: {enabled: false}\nexport: {enabled: false}\n"
        f"resources: {{num_workers: 1, cpus_per_worker: 1, storage_path: {tmp_path / 'runs'}}}\n"
    )
    env = {**os.environ, "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.3", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "raydistill"]
    checked = subprocess.run([*command, "validate", str(spec)], capture_output=True, text=True, env=env)
    assert checked.returncode == 0, checked.stderr  # the files are fine: only carving the search split fails

    ran = subprocess.run(
        [*command, "run", str(spec)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=180
    )
    output = ran.stdout + ran.stderr
    assert ran.returncode == 2, output
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert errors == ["error: train has 1 examples; at least 2 are needed to carve a search split from it"], (
        output
    )
    # nothing of the worker's traceback, from the worker or from the Train controller's report of it (Ray may
    # print unrelated lines of its own, e.g. when other Ray instances run on the machine)
    ours = [line for line in output.splitlines() if "raydistill/" in line or "DataError" in line]
    assert ours == [] and "Error Snippet" not in output and "Error in training function" not in output, output
