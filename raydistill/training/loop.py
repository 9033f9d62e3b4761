"""`train_loop_per_worker`: the one training entry point, run by every Ray Train worker (or in-process).

Reads top to bottom: setup (the training method `cfg.method`, its data, the model with the method's own modules,
optimizer, schedule; restored from the latest checkpoint when there is one) -> loop (the method's steps, progress
lines, checkpoints every `checkpoint_every_steps`) -> report (the method's evaluation and a checkpoint at each epoch
end) -> return the final metrics (rank 0's become `Result.return_value`).

The same function runs unchanged with `ScalingConfig(num_workers=0)` (in this process, no DDP) and with N Ray
workers (DDP over gloo on CPU, NCCL on GPU, wrapped by `ray.train.torch.prepare_model`). Each rank trains on its
shard of an epoch permutation seeded by `seed + epoch`; rank 0 evaluates on the unwrapped model while the other
ranks wait in `ray.train.report` (a barrier), which every rank calls the same number of times.

Resume: rerunning `fit` with the same run name and storage path restores weights, the method's modules,
optimizer, scheduler, RNG and step from the newest complete checkpoint in the run directory (`checkpoint.resume_checkpoint_dir`: newer than
the one Ray's snapshot names when Ray had not recorded the last one yet) and skips the batches of the current
epoch already done. Resuming assumes the same number of workers and batch size.
"""

from __future__ import annotations

from typing import Any

import ray.train
import ray.train.torch
import torch
import torch.distributed as dist
from torch import nn

from raydistill.data import TaskData
from raydistill.data.collate import sequence_lengths
from raydistill.distill.methods import BuiltMethod, Method, StepFn, WithMethodModules, get_method, unwrap
from raydistill.models.bert import ElasticBert
from raydistill.models.loading import load_task_model, load_tokenizer
from raydistill.training.checkpoint import (
    TrainState,
    read_train_state,
    report_checkpoint,
    restore_method_modules,
    restore_rng,
    resume_checkpoint_dir,
)
from raydistill.training.config import LoopConfig
from raydistill.training.method_io import evaluation_of, training_data
from raydistill.training.optim import build_optimizer, build_scheduler, total_steps
from raydistill.training.progress import ProgressFile
from raydistill.training.runtime import (
    Backward,
    Meter,
    progress_logger,
    setup_worker,
    steps_per_epoch,
    train_loader,
)


def train_loop_per_worker(config: dict[str, Any]) -> dict[str, Any]:
    """Train a model with a registered training method; see the module docstring.

    Args:
        config: `LoopConfig.to_dict()` (plain values only).

    Returns:
        final metrics: step, start_step (where this call began: > 0 after a resume), total_steps, epochs, loss,
        train_samples_per_s, train_time_s, train_samples, dev (per eval set), search, stopped (True when
        `stop_after_steps` cut the run short), rank_weight_spread (several workers: 0.0 when in sync).
    """
    # ---- setup
    cfg = LoopConfig.from_dict(config)
    opt = cfg.optimizer
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    device = setup_worker(cfg.seed, cfg.num_threads, cfg.use_gpu)
    log = progress_logger()

    tokenizer = load_tokenizer(cfg.model)
    method = get_method(cfg.method)
    evaluate = evaluation_of(method)
    data = training_data(method, cfg, tokenizer)
    kind, num_labels = data.task.kind, data.task.num_labels
    resume_dir = resume_checkpoint_dir(cfg.run_dir, rank)
    hf_model = load_task_model(str(resume_dir or cfg.model), kind, num_labels)
    state, saved = read_train_state(resume_dir) if resume_dir else (TrainState(), None)
    per_epoch = steps_per_epoch(data.train, opt.batch_size, world)
    total = total_steps(per_epoch, opt.epochs, opt.max_steps)
    start_step = state.step
    if saved is not None and rank == 0:
        log.info(f"[{cfg.name}] resumed at step {state.step}/{total} (epoch {state.epoch})")
    if state.step >= total:  # already complete: nothing to train, return what the last checkpoint recorded
        hf_model.to(device)  # type: ignore[arg-type]  # transformers' stub types `to` oddly
        return _final(hf_model, state, start_step, total, per_epoch, world, stopped=False)
    built = method.build(cfg.method_options, device)
    if resume_dir is not None:
        restore_method_modules(resume_dir, built.modules)
    trainable = _trainable(hf_model, method, built)
    model = ray.train.torch.prepare_model(trainable, move_to_device=device)  # DDP-wrapped when world > 1
    optimizer = build_optimizer(model, opt.learning_rate, opt.weight_decay)  # the method's modules included
    scheduler = build_scheduler(optimizer, opt.warmup_ratio, total)
    if saved is not None:
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        restore_rng(saved["rng"])
    step_fn = built.step
    shown = ProgressFile(cfg.progress_file if rank == 0 else None, total)  # the driver's progress line
    backward = Backward(model)
    meter = Meter(device, world, state.train_time_s, state.train_samples)

    def checkpoint(metrics: dict[str, Any]) -> None:
        state.train_time_s, state.train_samples = meter.seconds, meter.samples
        report_checkpoint(
            metrics, rank=rank, local_run_dir=cfg.local_run_dir, model=hf_model, tokenizer=tokenizer,
            optimizer=optimizer, scheduler=scheduler, state=state, method_modules=built.modules,
        )  # fmt: skip

    # ---- loop: one pass per epoch (the first may resume mid-epoch)
    lengths = sequence_lengths(data.train) if opt.group_by_length else None
    model.train()
    while state.step < total:
        loader = train_loader(
            data.train, data.collate, opt.batch_size, seed=cfg.seed, epoch=state.epoch, rank=rank, world=world,
            skip_batches=state.batch_in_epoch, pin_memory=device.type == "cuda", lengths=lengths,
        )  # fmt: skip
        meter.start()
        for batch in loader:
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            logs = _train_step(
                step_fn, model, batch, state.step, backward, optimizer, scheduler, opt.max_grad_norm
            )
            meter.add(batch["input_ids"].size(0), logs)
            state.step += 1
            state.batch_in_epoch += 1
            shown.step(state.step)
            if state.step >= total or state.batch_in_epoch == per_epoch:
                break
            stop = state.step == cfg.stop_after_steps
            every = opt.checkpoint_every_steps
            if rank == 0 and state.step % cfg.log_every_steps == 0:
                shown.step(state.step, _log_progress(log, cfg.name, state, total, meter, scheduler))
            if stop or (every and state.step % every == 0):
                meter.pause()
                checkpoint({"step": state.step, "epoch": state.step / per_epoch})
                if stop:
                    return _final(model, state, start_step, total, per_epoch, world, stopped=True)
                meter.start()
        meter.pause()

        # ---- report: evaluate at each epoch end (and at the last step), checkpoint with the metrics
        if state.batch_in_epoch == per_epoch:
            state.epoch, state.batch_in_epoch = state.epoch + 1, 0
        if rank == 0:
            shown.step(state.step, _log_progress(log, cfg.name, state, total, meter, scheduler))
        evaluated = rank == 0  # rank 0 scores the unwrapped model; the others wait in `report`
        state.metrics = (
            evaluate(hf_model, data, opt.eval_batch_size, device, cfg.eval_search) if evaluated else {}
        )
        state.metrics.update(step=state.step, epoch=state.step / per_epoch, **_throughput(meter))
        checkpoint(state.metrics)
        if evaluated:
            log.info(f"[{cfg.name}] step {state.step}/{total} eval: {_headline(state.metrics, data)}")
            shown.step(state.step, _headline(state.metrics, data))
        if state.step == cfg.stop_after_steps and state.step < total:
            return _final(model, state, start_step, total, per_epoch, world, stopped=True)

    # ---- cleanup: nothing to release beyond what Ray tears down; hand back the final metrics
    return _final(model, state, start_step, total, per_epoch, world, stopped=False)


def _trainable(hf_model: nn.Module, method: Method, built: BuiltMethod) -> nn.Module:
    """The module DDP wraps: the HF model (in `ElasticBert` for a sub-network method, whose forward takes an
    `Arch`), with the method's own modules beside it (`WithMethodModules`) when it has any."""
    model = ElasticBert(hf_model) if method.subnetworks else hf_model
    return WithMethodModules(model, built.modules) if built.modules else model


def _train_step(
    step_fn: StepFn,
    model: nn.Module,
    batch: dict,
    step: int,
    backward: Backward,
    optimizer: Any,
    scheduler: Any,
    max_grad_norm: float,
) -> dict[str, Any]:
    """One optimizer step: the method's forwards/backwards, clipping (BERT: norm 1.0), AdamW, schedule."""
    backward.last_calls = 0
    logs = step_fn(model, batch, step, backward)
    if backward.last_calls != 1:
        raise RuntimeError(
            f"the training method called backward(loss, is_last=True) {backward.last_calls} times at step "
            f"{step}; it must call it exactly once, as the last backward of the step"
        )
    nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return logs


def _throughput(meter: Meter) -> dict[str, Any]:
    out = {
        "train_samples_per_s": meter.samples_per_s,
        "train_time_s": meter.seconds,
        "train_samples": meter.samples,
    }
    return out | meter.means("report")


def _log_progress(log: Any, name: str, state: TrainState, total: int, meter: Meter, scheduler: Any) -> str:
    """One progress line (the only place the loop syncs on logged values); returns the loss for the console."""
    means = meter.means("log")
    values = " ".join(f"{k} {v:.4f}" for k, v in means.items())
    lr = scheduler.get_last_lr()[0]
    log.info(
        f"[{name}] step {state.step}/{total} epoch {state.epoch} {values} lr {lr:.2e} "
        f"{meter.samples_per_s:.1f} samples/s"
    )
    return f"loss {means['loss']:.4f}" if "loss" in means else ""


def _headline(metrics: dict[str, Any], data: TaskData) -> str:
    main = data.task.main_metric
    dev = metrics.get("dev", {}).get(data.task.main_dev, {})
    search = metrics.get("search", {})
    parts = [f"{label} {main}={m[main]:.4f}" for label, m in (("dev", dev), ("search", search)) if main in m]
    return " ".join(parts)


def _final(
    model: nn.Module,
    state: TrainState,
    start_step: int,
    total: int,
    per_epoch: int,
    world: int,
    *,
    stopped: bool,
) -> dict[str, Any]:
    """The loop's return value; with several workers it also proves they hold the same weights."""
    out = dict(state.metrics)
    out.update(
        step=state.step,
        start_step=start_step,
        total_steps=total,
        epochs=state.step / per_epoch,
        stopped=stopped,
    )
    if state.train_time_s > 0 and "train_samples_per_s" not in out:
        out["train_samples_per_s"] = state.train_samples / state.train_time_s
    if world > 1:
        out["rank_weight_spread"] = _rank_weight_spread(model, world)
    return out


def _rank_weight_spread(model: nn.Module, world: int) -> float:
    """Largest difference, over parameters and ranks, between a rank's and rank 0's parameter sums.

    DDP keeps replicas identical; a non-zero value means the ranks drifted apart (a collective every rank joins).
    """
    params = list(unwrap(model).parameters())
    sums = torch.stack([p.detach().double().sum() for p in params])  # (P,)
    gathered = [torch.empty_like(sums) for _ in range(world)]
    dist.all_gather(gathered, sums)
    return float(torch.stack(gathered).sub(gathered[0]).abs().max())  # (world, P) -> ()
