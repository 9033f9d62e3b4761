"""The supernet stage in this process: init (importance on train only), Ray Train, grid eval, resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer, BertForSequenceClassification

import raydistill.training.supernet as stage
from raydistill.data import prepare_task_data
from raydistill.models.arch import Arch
from raydistill.models.bert import elastic_forward
from raydistill.spec.schema import (
    DataSpec,
    LengthSpec,
    OptimSpec,
    ResourcesSpec,
    Spec,
    SupernetSpec,
    TeacherSpec,
)
from raydistill.training.config import data_kwargs
from raydistill.training.loop import train_loop_per_worker
from raydistill.training.trainer import fit, ray_storage

from .conftest import NEGATIVE, POSITIVE, manual_accuracy

COLUMNS = [
    "arch_id",
    "width",
    "depth",
    "keep",
    "flops",
    "flops_ratio",
    "params",
    "dev_metric",
    "metric_name",
    "macs",
]


def _spec(data: Path, storage: Path, **supernet: Any) -> Spec:
    train = OptimSpec(max_steps=4, batch_size=8, learning_rate=3e-3, warmup_ratio=0.0, num_threads=1)
    settings = {
        "widths": [1.0, 0.5],
        "depths": [1.0, 0.5],
        "importance_examples": 12,
        "train": train,
        **supernet,
    }
    return Spec(
        name="demo",
        task="sst2",
        data=DataSpec(path=str(data), max_seq_length=32),
        teacher=TeacherSpec(model="unused", finetuned=True),
        supernet=SupernetSpec(**settings),
        resources=ResourcesSpec(num_workers=0, storage_path=str(storage)),
    )


def test_stage_writes_model_eval_table_and_metrics(
    tiny_model_dir: Path, sst2_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _spec(sst2_dir, tmp_path / "runs")
    run_dir = tmp_path / "runs" / "demo"
    seen: list[dict] = []
    real = stage.compute_importance
    monkeypatch.setattr(stage, "compute_importance", lambda m, b: real(m, [seen.append(x) or x for x in b]))
    result = stage.train_supernet(spec, run_dir, tiny_model_dir)

    # (a) importance saw exactly 12 TRAIN examples (never dev), and the reordered init computes the same function
    data = prepare_task_data("sst2", AutoTokenizer.from_pretrained(tiny_model_dir), **data_kwargs(spec.data))
    train_rows = {tuple(x["input_ids"].tolist()) for x in data.train}
    rows = [
        tuple(r[m.bool()].tolist())
        for b in seen
        for r, m in zip(b["input_ids"], b["attention_mask"], strict=True)
    ]
    assert len(rows) == 12 and set(rows) <= train_rows
    init = run_dir / "supernet" / "init"
    head_order = json.loads((init / "reorder.json").read_text())["head_order"]
    assert [sorted(h) for h in head_order] == [[0, 1, 2, 3]] * 2
    assert manual_accuracy(init, sst2_dir / "dev.tsv") == manual_accuracy(
        tiny_model_dir, sst2_dir / "dev.tsv"
    )

    # (c) + (d) outputs
    assert (
        result.model_dir == run_dir / "supernet" / "model"
        and (result.model_dir / "model.safetensors").is_file()
    )
    table = pd.read_csv(result.eval_csv)
    assert result.eval_csv == run_dir / "supernet" / "supernet_eval.csv"
    assert list(table.columns) == COLUMNS and len(table) == 4
    assert list(zip(table.width, table.depth, strict=True)) == [
        (1.0, 1.0),
        (1.0, 0.5),
        (0.5, 1.0),
        (0.5, 0.5),
    ]
    # hand count, tiny BERT (d 32, f 64, 2 layers) at 32 tokens: 2 * (4nd^2 + 2n^2d + 2ndf) + pooler + classifier
    assert table.flops[0] == 2 * (2 * (4 * 32 * 32**2 + 2 * 32**2 * 32 + 2 * 32 * 32 * 64) + 32 * 32 + 32 * 2)
    assert table.flops_ratio[0] == 1.0
    assert (table.flops_ratio[1:] < 1).all() and set(table.metric_name) == {"accuracy"}
    assert table.dev_metric[0] == pytest.approx(manual_accuracy(result.model_dir, sst2_dir / "dev.tsv"))
    metrics = json.loads((run_dir / "supernet" / "metrics.json").read_text())
    assert metrics == result.metrics and metrics["steps"] == 4 and metrics["subnets_per_step"] == 4
    assert [g["dev_metric"] for g in metrics["grid"]] == pytest.approx(list(table.dev_metric))
    assert "accuracy" in metrics["dev_full_arch"]["dev"] and metrics["train_samples_per_s"] > 0
    assert (ray_storage(spec) / "demo-supernet" / "checkpoint_00000004").is_dir()

    # PaddleSlim #781: every width must really run at its width: the trained model's logits differ per width
    model = BertForSequenceClassification.from_pretrained(result.model_dir).eval()
    batch = data.collate([data.dev["dev"].dataset[i] for i in range(10)])
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.no_grad():
        logits = [elastic_forward(model, Arch.for_config(model.config, w, d), **inputs).logits
                  for w, d in zip(table.width, table.depth, strict=True)]  # fmt: skip
    for i in range(4):  # the tiny head's logits are small (~1e-2); an unapplied width gives identical bits
        for j in range(i + 1, 4):
            assert (logits[i] - logits[j]).abs().max() > 1e-6, (i, j)


def test_evaluate_grid_scores_each_width_by_its_own_forward(tiny_model_dir: Path, sst2_dir: Path) -> None:
    """Rows equal an accuracy computed by hand per sub-network, on a model whose widths disagree on purpose."""
    rows = [(t, 1) for t in POSITIVE + POSITIVE[:2]] + [(t, 0) for t in NEGATIVE[:3]]  # 7 vs 3: unbalanced
    (sst2_dir / "dev.tsv").write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
    data = prepare_task_data("sst2", AutoTokenizer.from_pretrained(tiny_model_dir), path=str(sst2_dir))
    model = BertForSequenceClassification.from_pretrained(tiny_model_dir).eval()
    ffn = model.bert.encoder.layer[1]
    with torch.no_grad():  # FFN neurons 32..63 (cut by width 0.5) push every token one way: the full model
        ffn.intermediate.dense.bias[32:] = 10.0  # predicts one constant class, the half-width one does not
        ffn.output.dense.weight[:, 32:] = torch.linspace(-1, 1, 32)[:, None]
    table = stage.evaluate_grid(model, [1.0, 0.5], [1.0, 0.5], data.dev["dev"], data.collate, seq_len=32)
    batch = data.collate([data.dev["dev"].dataset[i] for i in range(10)])
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    by_hand = []
    for w, d in zip(table.width, table.depth, strict=True):
        with torch.no_grad():
            predicted = elastic_forward(model, Arch.for_config(model.config, w, d), **inputs).logits.argmax(
                -1
            )
        by_hand.append(float((predicted == batch["labels"]).float().mean()))
    assert table.dev_metric.tolist() == pytest.approx(by_hand)
    assert by_hand[0] == pytest.approx(0.3) and by_hand[2] != by_hand[0]  # full: constant class 0; half: not
    assert table.arch_id[2] == Arch.for_config(model.config, width=0.5).id
    assert table.params[2] < table.params[0] and table.flops_ratio[2] < 1


def test_resumed_stage_continues_and_ends_with_the_straight_run_weights(
    tiny_model_dir: Path, sst2_dir: Path, tmp_path: Path
) -> None:
    settings = {"sampling": "sandwich", "num_random": 1, "widths": [1.0, 0.75, 0.5]}
    straight_spec = _spec(sst2_dir, tmp_path / "a", **settings)
    straight = stage.train_supernet(straight_spec, tmp_path / "a" / "demo", tiny_model_dir)

    spec = _spec(sst2_dir, tmp_path / "b", **settings)
    run_dir = tmp_path / "b" / "demo"
    data = prepare_task_data("sst2", AutoTokenizer.from_pretrained(tiny_model_dir), **data_kwargs(spec.data))
    init = stage.prepare_supernet_init(spec, tiny_model_dir, run_dir / "supernet" / "init", data)
    config = stage.supernet_loop_config(spec, init).with_updates(stop_after_steps=2)
    stopped = fit(train_loop_per_worker, config.to_dict(), run_name="demo-supernet",
                  storage_path=ray_storage(spec), num_workers=0)  # fmt: skip
    assert stopped.metrics["stopped"] and stopped.metrics["step"] == 2
    resumed = stage.train_supernet(spec, run_dir, tiny_model_dir)
    assert resumed.metrics["start_step"] == 2 and resumed.metrics["steps"] == 4
    a = load_file(straight.model_dir / "model.safetensors")
    b = load_file(resumed.model_dir / "model.safetensors")
    initial = load_file(tiny_model_dir / "model.safetensors")
    assert any(not torch.allclose(a[k], initial[k]) for k in initial)
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=1e-5)
    assert pd.read_csv(straight.eval_csv).equals(pd.read_csv(resumed.eval_csv))


def test_init_is_reused_only_under_the_key_it_was_made_with(
    tiny_model_dir: Path, sst2_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _spec(sst2_dir, tmp_path / "runs")
    data = prepare_task_data("sst2", AutoTokenizer.from_pretrained(tiny_model_dir), **data_kwargs(spec.data))
    init = tmp_path / "init"
    calls: list[int] = []
    real = stage.compute_importance
    monkeypatch.setattr(stage, "compute_importance", lambda m, b: (calls.append(1), real(m, b))[1])
    stage.prepare_supernet_init(spec, tiny_model_dir, init, data, key="k1")
    stage.prepare_supernet_init(spec, tiny_model_dir, init, data, key="k1")
    assert len(calls) == 1  # reused
    stage.prepare_supernet_init(spec.model_copy(update={"seed": 7}), tiny_model_dir, init, data, key="k2")
    assert len(calls) == 2  # another key (here: another importance sample)
    model = BertForSequenceClassification.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        model.classifier.bias.add_(1.0)
    model.save_pretrained(tiny_model_dir)  # a re-trained teacher: its stage key, and so this one, change
    stage.prepare_supernet_init(spec.model_copy(update={"seed": 7}), tiny_model_dir, init, data, key="k3")
    assert len(calls) == 3
    stage.prepare_supernet_init(spec, tiny_model_dir, init, data)
    assert len(calls) == 4  # no key: always made afresh
    torch.testing.assert_close(
        load_file(init / "model.safetensors")["classifier.bias"], model.classifier.bias.detach()
    )


def test_length_axis_trains_lengthdrop_and_adds_length_grid_rows(
    tiny_model_dir: Path, sst2_dir: Path, tmp_path: Path
) -> None:
    """`supernet.length.enabled` runs `lengthdrop` (joint: the grid lists widths and depths) and the grid gains
    the full Arch at keep ratios 1 - r/2 and 1 - r, priced with its tokens dropped at the cost length."""
    spec = _spec(sst2_dir, tmp_path / "runs", length=LengthSpec(enabled=True, length_drop_ratio_bound=0.4))
    assert (
        stage.supernet_method(spec) == "lengthdrop"
        and stage.supernet_method(_spec(sst2_dir, tmp_path)) == "supernet"
    )
    config = stage.supernet_loop_config(spec, tiny_model_dir)
    assert config.method == "lengthdrop" and config.method_options["seq_length"] == 32
    assert config.method_options["length_drop_ratio_bound"] == 0.4 and config.method_options["widths"] == [
        1.0,
        0.5,
    ]
    result = stage.train_supernet(spec, tmp_path / "runs" / "demo", tiny_model_dir)
    table = pd.read_csv(result.eval_csv)
    assert list(table.columns) == COLUMNS and len(table) == 6
    assert table.keep.tolist() == pytest.approx([1, 1, 1, 1, 0.8, 0.6])
    length_rows = table[table.keep < 1]
    archs = [Arch.from_id(a) for a in length_rows.arch_id]
    assert [a.token_counts(32) for a in archs] == [
        (26, 21),
        (20, 12),
    ]  # ceil(32 .8) = 26, ceil(26 .8) = 21, ...
    assert all(a.layers == (0, 1) and a.heads == (4, 4) for a in archs)
    assert (length_rows.flops < table.flops[0]).all() and length_rows.flops.is_monotonic_decreasing
    metrics = result.metrics
    assert metrics["method"] == "lengthdrop" and metrics["subnets_per_step"] == 4
    assert [g["keep"] for g in metrics["grid"]] == pytest.approx(table.keep.tolist())
