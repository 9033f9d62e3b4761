"""Stage `teacher`: fine-tune the full model on the task with Ray Train (or only evaluate an already tuned one).

Outputs, under `run_dir/teacher` (`layout.RunLayout`):

    model/          Hugging Face dir (weights + tokenizer) of the final checkpoint: what every later stage loads
    metrics.json    dev metrics per eval set, the main metric and its value, train samples/s, wall time, steps

Ray Train keeps the run (checkpoints, resume state) at `<storage_path>/<spec.name>/ray/<spec.name>-teacher`;
rerunning an interrupted stage resumes there.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from raydistill.layout import RunLayout
from raydistill.models.loading import check_bert_config, resolve_model_name
from raydistill.spec.schema import Spec
from raydistill.training.config import LoopConfig, data_kwargs
from raydistill.training.loop import train_loop_per_worker
from raydistill.training.trainer import fit_stage


@dataclass(frozen=True)
class TeacherResult:
    """The fine-tuned teacher: its HF model directory and its metrics (as written to metrics.json)."""

    model_dir: Path
    metrics: dict[str, Any]


def teacher_loop_config(spec: Spec) -> LoopConfig:
    """The loop config of the teacher stage: method `teacher.method` (default `finetune`), no options."""
    train = spec.teacher.train
    return LoopConfig(
        model=resolve_model_name(spec.teacher.model),
        task=spec.task,
        data=data_kwargs(spec.data),
        optim=train.model_dump(),
        seed=spec.seed,
        method=spec.teacher.method,
        num_threads=train.num_threads,
        use_gpu=spec.resources.use_gpu,
        name=f"{spec.name}-teacher",
    )


def train_teacher(spec: Spec, run_dir: Path, key: str | None = None) -> TeacherResult:
    """Fine-tune (or, with `teacher.finetuned: true`, only evaluate) the teacher and write its outputs.
    `key`: the stage's run key (a Ray Train run is resumed only when started under the same key).

    Raises:
        RaydistillError: bad model or data (`ModelError`, `DataError`) or a failed run (`RunError`).
    """
    layout = RunLayout(Path(run_dir))
    model_dir = layout.teacher_model
    config = teacher_loop_config(spec)
    check_bert_config(spec.teacher.model, spec.data.max_seq_length)  # before Ray starts
    _check_hub_data(spec)
    start = time.perf_counter()
    if spec.teacher.finetuned:
        raw = _evaluate_only(config, model_dir)
    else:
        raw = fit_stage(
            spec, train_loop_per_worker, config.to_dict(), f"{spec.name}-teacher", model_dir, key=key
        ).metrics
    metrics = _summary(raw, spec, time.perf_counter() - start)
    layout.teacher_dir.mkdir(parents=True, exist_ok=True)
    layout.teacher_metrics.write_text(json.dumps(metrics, indent=2))
    return TeacherResult(model_dir=model_dir, metrics=metrics)


def _check_hub_data(spec: Spec) -> None:
    """A hub dataset that cannot be loaded fails here, before Ray starts (not after retries in a worker)."""
    from raydistill.data import get_task
    from raydistill.data.hub import require_hub_dataset
    from raydistill.spec.data_rules import effective_format

    task = get_task(spec.task)
    if effective_format(spec, task) == "hub":
        require_hub_dataset(task, spec.data.hub_name)


def _evaluate_only(config: LoopConfig, model_dir: Path) -> dict[str, Any]:
    """Evaluate an already fine-tuned model in this process and save it as the teacher model."""
    from raydistill.data import prepare_task_data
    from raydistill.models.loading import load_task_model, load_tokenizer
    from raydistill.training.evaluate import evaluate_task

    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    device = torch.device("cuda" if config.use_gpu and torch.cuda.is_available() else "cpu")
    tokenizer = load_tokenizer(config.model)
    data = prepare_task_data(config.task, tokenizer, seed=config.seed, **config.data)
    model = load_task_model(config.model, data.task.kind, data.task.num_labels, require_head=True)
    model.to(device)  # type: ignore[arg-type]  # transformers' stub types `to` oddly
    metrics = evaluate_task(model, data, config.optimizer.eval_batch_size, device=device)
    shutil.rmtree(model_dir, ignore_errors=True)
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    return metrics | {"step": 0, "epochs": 0.0}


def _summary(raw: dict[str, Any], spec: Spec, wall_time_s: float) -> dict[str, Any]:
    """metrics.json: per-set dev metrics, the main metric on the main dev set, throughput and timing."""
    from raydistill.data import get_task

    task = get_task(spec.task)
    dev = raw.get("dev", {})
    main_dev = task.main_dev if task.main_dev in dev else next(iter(dev), task.main_dev)
    return {
        "task": task.name,
        "main_metric": task.main_metric,
        "main_dev": main_dev,
        "main_value": dev.get(main_dev, {}).get(task.main_metric, float("nan")),
        "dev": dev,
        "search": raw.get("search", {}),
        "finetuned_before": spec.teacher.finetuned,
        "train_samples_per_s": raw.get("train_samples_per_s", 0.0),
        "train_time_s": raw.get("train_time_s", 0.0),
        "wall_time_s": wall_time_s,
        "steps": raw.get("step", 0),
        "epochs": raw.get("epochs", 0.0),
        "num_workers": spec.resources.num_workers,
    }
