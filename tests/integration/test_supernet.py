"""The supernet method under 2-worker DDP (gloo) on a local 2-CPU Ray: ranks stay identical, and the summed
sub-network gradients are synchronised exactly once per step.

Run with: `pytest -m integration tests/integration/test_supernet.py` (about a minute on 2 cores).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from raydistill.training.config import LoopConfig
from raydistill.training.loop import train_loop_per_worker
from raydistill.training.trainer import fit

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_leftover_placement_groups")]

WORDS = ["good", "great", "fun", "love", "bad", "awful", "boring", "hate"]


def _write_equal_length_sst2(root: Path) -> Path:
    """40 train rows of exactly 4 words (no padding anywhere, so per-rank means equal the global mean)."""
    folder = root / "SST-2"
    folder.mkdir(parents=True)
    rows = []
    for i in range(40):
        words = [WORDS[(i + k * 3) % 8] for k in range(4)]
        rows.append((" ".join(words), int(sum(w in WORDS[:4] for w in words) >= 2)))
    (folder / "train.tsv").write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
    (folder / "dev.tsv").write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows[:8]))
    return folder


def test_two_worker_supernet_matches_one_process_with_double_batch(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """2 ranks x batch 8 (sandwich sub-networks, hidden + logits loss) == 1 process x batch 16.

    Equal only if both ranks train the same sub-networks at each step, every earlier pass accumulates locally
    (no_sync) and the last (full) pass all-reduces the sum: then DDP's mean over ranks is the 16-example mean.
    """
    data = _write_equal_length_sst2(tmp_path / "data")
    options = {
        "teacher": str(tiny_model_dir), "kind": "classification", "num_labels": 2,
        "widths": [1.0, 0.75, 0.5, 0.25], "depths": [1.0, 0.5], "sampling": "sandwich", "num_random": 2,
        "hidden_weight": 0.5, "temperature": 2.0, "seed": 3,
    }  # fmt: skip
    config = LoopConfig(
        model=str(tiny_model_dir),
        task="sst2",
        data={"path": str(data), "max_seq_length": 16},
        optim={"max_steps": 2, "batch_size": 8, "learning_rate": 1e-3, "warmup_ratio": 0.0},
        method="supernet",
        method_options=options,
        num_threads=1,
    )
    storage = tmp_path / "ray"
    ddp = fit(train_loop_per_worker, config.to_dict(), run_name="sn-ddp", storage_path=storage, num_workers=2)
    assert ddp.metrics["step"] == 2 and ddp.metrics["rank_weight_spread"] == 0.0  # both ranks: same weights
    assert "accuracy" in ddp.metrics["dev"]["dev"]  # the loop's full-Arch eval ran on the HF model

    single_config = config.with_updates(optim={**config.optim, "batch_size": 16})
    single = fit(train_loop_per_worker, single_config.to_dict(), run_name="sn-one", storage_path=storage,
                 num_workers=0)  # fmt: skip
    a = load_file(Path(ddp.checkpoint.path) / "model.safetensors")
    b = load_file(Path(single.checkpoint.path) / "model.safetensors")
    initial = load_file(tiny_model_dir / "model.safetensors")
    assert set(a) == set(initial)  # a plain HF checkpoint (no ElasticBert `model.` prefix)
    assert any(not torch.allclose(a[k], initial[k]) for k in initial)
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-5, rtol=1e-4)


def test_two_worker_lengthdrop_matches_one_process_with_double_batch(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """Joint LengthDrop (width, depth, length, LayerDrop, the hidden-state term) on 2 ranks x batch 8 == 1 process x batch 16: both
    ranks draw the same sub-networks per step, the sub-models accumulate under no_sync, and the full model's
    task-loss pass, last, reaches every parameter (DDP without find_unused_parameters would hang otherwise)."""
    data = _write_equal_length_sst2(tmp_path / "data")
    options = {
        "kind": "classification", "num_labels": 2, "seq_length": 16, "widths": [1.0, 0.5], "depths": [1.0, 0.5],
        "num_sandwich": 2, "layer_drop_prob": 0.3, "length_drop_ratio_bound": 0.4, "seed": 3, "hidden_weight": 0.5,
    }  # fmt: skip
    config = LoopConfig(
        model=str(tiny_model_dir),
        task="sst2",
        data={"path": str(data), "max_seq_length": 16},
        optim={"max_steps": 2, "batch_size": 8, "learning_rate": 1e-3, "warmup_ratio": 0.0},
        method="lengthdrop",
        method_options=options,
        num_threads=1,
    )
    storage = tmp_path / "ray"
    ddp = fit(train_loop_per_worker, config.to_dict(), run_name="ld-ddp", storage_path=storage, num_workers=2)
    assert ddp.metrics["step"] == 2 and ddp.metrics["rank_weight_spread"] == 0.0
    single_config = config.with_updates(optim={**config.optim, "batch_size": 16})
    single = fit(train_loop_per_worker, single_config.to_dict(), run_name="ld-one", storage_path=storage,
                 num_workers=0)  # fmt: skip
    a = load_file(Path(ddp.checkpoint.path) / "model.safetensors")
    b = load_file(Path(single.checkpoint.path) / "model.safetensors")
    initial = load_file(tiny_model_dir / "model.safetensors")
    assert any(not torch.allclose(a[k], initial[k]) for k in initial)
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-5, rtol=1e-4)
