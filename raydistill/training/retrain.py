"""Stage `retrain`: re-train each budget's chosen sub-network as a small model of its own, by distillation.

After the search, the best Arch per budget (the `pick` rows of the run's points table, written once by the picks
stage) holds weights shared with every other sub-network of the supernet. Here each distinct chosen Arch
is cut out of the supernet (`models.export.materialise`: a `raydistill_bert` model with only its weights) and
trained further on its own with Ray Train, method `search.retrain.method` (default `kd`: vanilla KD from the
fine-tuned teacher, alpha = 1: TinyBERT's prediction-layer distillation, at `supernet.temperature`), for
`search.retrain.epochs` epochs at `search.retrain.learning_rate`; batch size, warmup, decay and threads come
from `supernet.train` (its `max_steps` does not apply: the epochs do). Outputs, under `run_dir/retrain`
(`layout.RunLayout`):

    <arch id>/init/     the sub-network sliced from the supernet (HF dir + tokenizer): the run's starting point
    <arch id>/model/    the re-trained sub-network (HF dir + tokenizer); the export stage exports it
    retrain.json        {arch id: {budget, budgets, metric, dev_before, dev_after}}: the main dev metric of the
                        sliced sub-network (the search table's `dev_metric`) and of the re-trained one

Run `i` (0-based, in budget order) is the Ray Train run `<name>-retrain-<i>` under `<storage_path>/<name>/ray`;
rerunning an interrupted stage resumes it, unless run `i` now trains another Arch or from other inputs (the
stage hands `fit` a run key per Arch: `trainer.fit` restarts a run started under another key).
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from raydistill.data import TaskData, get_task, prepare_task_data
from raydistill.layout import RunLayout
from raydistill.models.arch import Arch
from raydistill.models.export import materialise
from raydistill.models.loading import load_task_model, load_tokenizer
from raydistill.spec.schema import Spec
from raydistill.training.config import LoopConfig, data_kwargs
from raydistill.training.evaluate import evaluate_task
from raydistill.training.loop import train_loop_per_worker
from raydistill.training.trainer import fit_stage

__all__ = ["retrain_best", "retrain_loop_config", "retrain_run_name"]


def retrain_run_name(spec: Spec, index: int) -> str:
    """The stable Ray Train run name of the `index`-th re-trained Arch (same name = resume)."""
    return f"{spec.name}-retrain-{index}"


def retrain_loop_config(spec: Spec, init_dir: Path, teacher_dir: Path, index: int) -> LoopConfig:
    """Method `search.retrain.method` (default `kd`) from `init_dir` (the sliced sub-network), distilling from
    `teacher_dir`."""
    if spec.search.retrain is None:
        raise ValueError("retrain_loop_config needs search.retrain to be set")
    task, train = get_task(spec.task), spec.supernet.train
    optim = train.model_dump() | {
        "epochs": spec.search.retrain.epochs,
        "learning_rate": spec.search.retrain.learning_rate,
        "max_steps": None,
    }
    options = {
        "teacher": str(Path(teacher_dir).resolve()),
        "kind": task.kind,
        "num_labels": task.num_labels,
        "temperature": spec.supernet.temperature,
        "alpha": 1.0,
    }
    return LoopConfig(
        model=str(Path(init_dir).resolve()),
        task=spec.task,
        data=data_kwargs(spec.data),
        optim=optim,
        seed=spec.seed,
        method=spec.search.retrain.method,
        method_options=options,
        num_threads=train.num_threads,
        use_gpu=spec.resources.use_gpu,
        name=retrain_run_name(spec, index),
    )


def _write_init(supernet: Any, arch: Arch, tokenizer: Any, init_dir: Path) -> Path:
    """The sub-network `arch` sliced out of the supernet, saved as an HF dir + tokenizer at `init_dir`."""
    shutil.rmtree(init_dir, ignore_errors=True)
    materialise(supernet, arch).save_pretrained(init_dir)
    tokenizer.save_pretrained(init_dir)
    return init_dir


def _main_dev(model: Any, data: TaskData, spec: Spec, device: torch.device) -> float:
    """The task's main metric on its main dev set (`evaluate_task`, dev sets only)."""
    metrics = evaluate_task(model, data, spec.supernet.train.eval_batch_size, device=device, search=False)
    return float(metrics["dev"][data.task.main_dev][data.task.main_metric])


def retrain_best(
    spec: Spec,
    run_dir: Path,
    chosen: Mapping[str, list[float]],
    dev_before: Mapping[str, float],
    run_key: Callable[[str], str],
) -> dict[str, Any]:
    """Run the retrain stage (module docstring) and return its summary (headline: dev before -> after).

    Args:
        chosen: Arch id -> the budgets it is the pick of (ascending), in budget order (`results.points`).
        dev_before: Arch id -> the main dev metric of the sliced sub-network (its pick row).
        run_key: Arch id -> the key of its Ray Train run (`StageRun.sub_key`).

    Raises:
        RaydistillError: bad model or data, or a failed run.
    """
    layout = RunLayout(Path(run_dir))
    supernet_dir = layout.supernet_model
    layout.retrain_dir.mkdir(parents=True, exist_ok=True)
    if not chosen:
        layout.retrain_file.write_text("{}")
        return {"headline": _headline({}), "retrained": {}}
    task = get_task(spec.task)
    device = torch.device("cuda" if spec.resources.use_gpu and torch.cuda.is_available() else "cpu")
    tokenizer = load_tokenizer(str(supernet_dir))
    data = prepare_task_data(spec.task, tokenizer, seed=spec.seed, **data_kwargs(spec.data))
    supernet = load_task_model(str(supernet_dir), task.kind, task.num_labels, require_head=True)
    records: dict[str, dict[str, Any]] = {}
    for i, (arch_id, budgets) in enumerate(chosen.items()):
        init_dir = _write_init(supernet, Arch.from_id(arch_id), tokenizer, layout.retrain_init(arch_id))
        config = retrain_loop_config(spec, init_dir, layout.teacher_model, i)
        model_dir = layout.retrain_model(arch_id)
        fit_stage(spec, train_loop_per_worker, config.to_dict(), config.name, model_dir, key=run_key(arch_id))
        model = load_task_model(str(model_dir), task.kind, task.num_labels, require_head=True)
        model.to(device)  # type: ignore[arg-type]  # transformers' stub types `to` oddly
        before = float(dev_before.get(arch_id, math.nan))
        records[arch_id] = {"budget": budgets[0], "budgets": budgets, "metric": task.main_metric,
                            "dev_before": before, "dev_after": _main_dev(model, data, spec, device)}  # fmt: skip
    layout.retrain_file.write_text(json.dumps(records, indent=2))
    return {"headline": _headline(records), "retrained": {a: str(layout.retrain_model(a)) for a in records}}


def _headline(records: dict[str, dict[str, Any]]) -> str:
    """`<=0.25x L1-H2-F32 accuracy 0.6000 -> 0.7000; ...`, one entry per budget."""
    if not records:
        return "no Arch fits any budget: nothing re-trained"
    parts = sorted(
        (b, f"<={b:g}x {arch_id} {r['metric']} {r['dev_before']:.4f} -> {r['dev_after']:.4f}")
        for arch_id, r in records.items()
        for b in r["budgets"]
    )
    return "dev " + "; ".join(text for _, text in parts)
