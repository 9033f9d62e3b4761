"""One optimizer step: the method registry, the backward contract, AdamW groups and the schedule."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from raydistill.data import prepare_task_data
from raydistill.distill.finetune import finetune_step
from raydistill.distill.methods import get_method
from raydistill.errors import RaydistillError
from raydistill.models.loading import load_task_model, load_tokenizer
from raydistill.training.loop import _train_step
from raydistill.training.optim import build_optimizer, build_scheduler, parameter_groups, total_steps
from raydistill.training.runtime import Backward

QA_WINDOWS = {"max_seq_length": 20, "doc_stride": 4, "max_query_length": 8}


def _batch(model_dir: Path, data_dir: Path, task: str, size: int = 8) -> tuple[dict, object]:
    tokenizer = load_tokenizer(str(model_dir))
    windows = QA_WINDOWS if task == "squad" else {"max_seq_length": 32}
    data = prepare_task_data(task, tokenizer, path=str(data_dir), **windows)
    return data.collate([data.train[i] for i in range(size)]), data.task


def _one_step(model: nn.Module, batch: dict, lr: float = 1e-3) -> tuple[float, float]:
    """Loss on `batch` before and after one finetune step on that batch (dropout is 0 in the tiny model)."""
    optimizer = build_optimizer(model, lr, 0.01)
    scheduler = build_scheduler(optimizer, 0.0, 10)
    with torch.no_grad():
        before = float(model(**batch).loss)
    _train_step(finetune_step, model, batch, 0, Backward(model), optimizer, scheduler, 1.0)
    with torch.no_grad():
        after = float(model(**batch).loss)
    return before, after


def test_one_step_decreases_the_loss(tiny_model_dir: Path, sst2_dir: Path) -> None:
    batch, task = _batch(tiny_model_dir, sst2_dir, "sst2")
    before, after = _one_step(load_task_model(str(tiny_model_dir), task.kind, task.num_labels), batch)
    assert after < before - 1e-4


def test_regression_and_qa_heads_take_a_step(tiny_model_dir: Path, stsb_dir: Path, squad_dir: Path) -> None:
    for task_name, data_dir in (("stsb", stsb_dir), ("squad", squad_dir)):
        batch, task = _batch(tiny_model_dir, data_dir, task_name, size=4)
        model = load_task_model(str(tiny_model_dir), task.kind, task.num_labels)
        before, after = _one_step(model, batch, lr=3e-3)
        assert after < before, task_name


def test_registry_knows_finetune_and_names_the_valid_ones() -> None:
    built = get_method("finetune").build({}, torch.device("cpu"))
    assert built.step is finetune_step and built.modules is None
    with pytest.raises(RaydistillError, match=r"did you mean 'finetune'\? valid methods: .*finetune"):
        get_method("finetuen")


def test_backward_must_end_with_exactly_one_last_call(tiny_model_dir: Path, sst2_dir: Path) -> None:
    batch, task = _batch(tiny_model_dir, sst2_dir, "sst2", size=2)
    model = load_task_model(str(tiny_model_dir), task.kind, task.num_labels)

    def only_accumulates(model, batch, step, backward):  # type: ignore[no-untyped-def]
        with backward.no_sync():
            backward(model(**batch).loss, False)
        return {}

    optimizer = build_optimizer(model, 1e-3, 0.0)
    with pytest.raises(RuntimeError, match="exactly once"):
        _train_step(
            only_accumulates,
            model,
            batch,
            0,
            Backward(model),
            optimizer,
            build_scheduler(optimizer, 0, 1),
            1.0,
        )


def _count_allreduces(ddp: DistributedDataParallel) -> list[int]:
    """Install a comm hook that counts bucket all-reduces (it runs even with one process)."""
    calls: list[int] = []

    def hook(state, bucket):  # type: ignore[no-untyped-def]  # DDP rejects string annotations here
        calls.append(1)
        future: torch.futures.Future = torch.futures.Future()
        future.set_result(bucket.buffer())
        return future

    ddp.register_comm_hook(None, hook)
    return calls


def test_backward_all_reduces_once_per_step_under_ddp(tmp_path: Path) -> None:
    """Two passes under one-process DDP: the first inside `no_sync()` (no all-reduce), gradients still add up."""
    dist.init_process_group("gloo", store=dist.FileStore(str(tmp_path / "store"), 1), rank=0, world_size=1)
    try:
        torch.manual_seed(0)
        ddp = DistributedDataParallel(nn.Linear(3, 1))
        calls = _count_allreduces(ddp)
        x = torch.randn(4, 3)
        backward = Backward(ddp)
        with backward.no_sync():
            backward(ddp(x).sum(), False)
        assert calls == []
        backward(ddp(2 * x).sum(), True)
        assert len(calls) == 1 and backward.last_calls == 1
        torch.testing.assert_close(
            ddp.module.weight.grad, 3 * x.sum(0, keepdim=True)
        )  # d/dW sum(xW) + sum(2xW)
        del ddp, backward  # the reducer holds the Gloo group: freed after the group is destroyed, teardown can hang
    finally:
        dist.destroy_process_group()


def test_backward_rejects_passes_outside_their_sync_mode() -> None:
    model = nn.Linear(3, 1)
    backward = Backward(model)
    with pytest.raises(RuntimeError, match="outside backward.no_sync"):
        backward(model(torch.ones(1, 3)).sum(), False)
    with pytest.raises(RuntimeError, match="inside backward.no_sync"), backward.no_sync():
        backward(model(torch.ones(1, 3)).sum(), True)


def test_no_weight_decay_on_bias_and_layernorm(tiny_model_dir: Path) -> None:
    model = load_task_model(str(tiny_model_dir), "classification", 2)
    decay, no_decay = parameter_groups(model, 0.01)
    names = {id(p): n for n, p in model.named_parameters()}
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert all(names[id(p)].endswith("bias") or "LayerNorm" in names[id(p)] for p in no_decay["params"])
    assert all(not names[id(p)].endswith("bias") and "LayerNorm" not in names[id(p)] for p in decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_linear_warmup_then_decay() -> None:
    optimizer = torch.optim.AdamW([nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = build_scheduler(
        optimizer, warmup_ratio=0.2, total_steps=10
    )  # ceil(0.2 * 10) = 2 warmup steps
    lrs = []
    for _ in range(10):
        lrs.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert lrs == pytest.approx([0.0, 0.5, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125])
    assert total_steps(5, 2.0, None) == 10 and total_steps(5, 0.3, None) == 2 and total_steps(5, 2.0, 7) == 7
