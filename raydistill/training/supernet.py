"""Stage `supernet`: DynaBERT / once-for-all width-depth supernet training (or LengthDrop, alone or jointly with
width and depth) with Ray Train, then a grid eval.

Steps (outputs under `run_dir/supernet`, `layout.RunLayout`):

    init/               (a) the fine-tuned teacher, importance-reordered when `supernet.reorder` (HF dir +
                        tokenizer + reorder.json); written in this (driver) process, reused when made under the
                        same stage run key
    (Ray Train run)     (b) method `supernet_method(spec)` (`supernet.method`, default `supernet`; `lengthdrop`
                        when `supernet.length.enabled`) from init/, at `<storage_path>/<name>/ray/<name>-supernet`;
                        rerunning an interrupted stage resumes there (same run name and storage)
    model/              (c) the trained supernet: a standard HF dir (weights + tokenizer) of the last checkpoint
    supernet_eval.csv   (d) one row per (width, depth) of the grid, then (length axis) one per per-layer keep ratio
                        of `length_keeps` at full width and depth: arch_id, width, depth, keep, flops,
                        flops_ratio, params, dev_metric, metric_name, macs (elastic forward on the main dev set)
    metrics.json        the main metric per grid point, training wall time and samples/s

Importance is scored on `supernet.importance_examples` TRAIN examples (a seeded sample of the train split),
never on dev: the DynaBERT reference scores it on the dev set, which leaks the evaluation data into the
architecture. `supernet.enabled: false` is the pipeline's business, not this module's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from raydistill.data import EvalSet, Task, TaskData, get_task, prepare_task_data
from raydistill.distill.lengthdrop import counts_to_tokens, smallest_length_counts
from raydistill.layout import REORDER_FILE, RunLayout
from raydistill.models.arch import Arch
from raydistill.models.bert import elastic_forward, head_kind, unwrap_model
from raydistill.models.flops import Head, count_flops, params
from raydistill.models.loading import load_task_model, load_tokenizer
from raydistill.models.reorder import compute_importance, reorder_
from raydistill.spec.schema import Spec
from raydistill.training.config import LoopConfig, data_kwargs
from raydistill.training.evaluate import evaluate
from raydistill.training.loop import train_loop_per_worker
from raydistill.training.trainer import fit_stage

__all__ = [
    "EVAL_COLUMNS",
    "SupernetResult",
    "evaluate_grid",
    "length_keeps",
    "prepare_supernet_init",
    "supernet_loop_config",
    "supernet_method",
    "train_supernet",
]

EVAL_COLUMNS = [
    "arch_id", "width", "depth", "keep", "flops", "flops_ratio", "params", "dev_metric", "metric_name", "macs"
]  # fmt: skip


@dataclass(frozen=True)
class SupernetResult:
    """The trained supernet: its HF model dir, the grid evaluation table and the stage metrics."""

    model_dir: Path
    eval_csv: Path
    metrics: dict[str, Any]


def supernet_run_name(spec: Spec) -> str:
    """The stable Ray Train run name of the stage (same name = resume)."""
    return f"{spec.name}-supernet"


def supernet_method(spec: Spec) -> str:
    """The method the stage trains with: `lengthdrop` when `supernet.length.enabled` and `supernet.method` is the
    default width/depth method `supernet`; else `supernet.method` as given."""
    sn = spec.supernet
    return "lengthdrop" if sn.length.enabled and sn.method == "supernet" else sn.method


def length_keeps(spec: Spec) -> list[float]:
    """The per-layer keep ratios the grid evaluation adds at the full width and depth (none without the length
    axis): 1 - r/2 and 1 - r (the smallest length config LengthDrop trains)."""
    length = spec.supernet.length
    r = length.length_drop_ratio_bound
    return [1 - r / 2, 1 - r] if length.enabled else []


def _method_options(spec: Spec, init_dir: Path) -> dict[str, Any]:
    """The options of the stage's method: LengthDrop's from `supernet.length` (+ the grid, the seed), else the
    supernet section's settings, whichever other sub-network method reads them."""
    sn, task = spec.supernet, get_task(spec.task)
    common = {"kind": task.kind, "num_labels": task.num_labels, "widths": list(sn.widths),
              "depths": list(sn.depths), "temperature": sn.temperature, "seed": spec.seed}  # fmt: skip
    if supernet_method(spec) == "lengthdrop":
        return common | {
            "seq_length": spec.data.max_seq_length,
            "length_drop_ratio_bound": sn.length.length_drop_ratio_bound,
            "num_sandwich": sn.length.num_sandwich,
            "layer_drop_prob": sn.length.layer_drop_prob,
            "hidden_weight": sn.length.hidden_weight,
        }
    return common | {
        "teacher": str(Path(init_dir).resolve()),
        "sampling": sn.sampling,
        "num_random": sn.num_random,
        "teacher_mode": sn.teacher_mode,
        "logits_weight": sn.loss.logits,
        "hidden_weight": sn.loss.hidden,
        "embedding_weight": sn.loss.embedding,
        "attention_weight": sn.loss.attention,
        "task_weight": sn.loss.task,
    }


def supernet_loop_config(spec: Spec, init_dir: Path) -> LoopConfig:
    """The loop config of the supernet stage: method `supernet_method(spec)` from `init_dir` (`_method_options`;
    the `supernet` method distils from `init_dir` too, `lengthdrop` from the full model itself)."""
    sn = spec.supernet
    return LoopConfig(
        model=str(Path(init_dir).resolve()),
        task=spec.task,
        data=data_kwargs(spec.data),
        optim=sn.train.model_dump(),
        seed=spec.seed,
        method=supernet_method(spec),
        method_options=_method_options(spec, init_dir),
        num_threads=sn.train.num_threads,
        use_gpu=spec.resources.use_gpu,
        name=supernet_run_name(spec),
    )


def _driver_device(spec: Spec) -> torch.device:
    """The device of this (driver) process for importance and the grid eval; sets torch threads if given."""
    if spec.supernet.train.num_threads is not None:
        torch.set_num_threads(spec.supernet.train.num_threads)
    return torch.device("cuda" if spec.resources.use_gpu and torch.cuda.is_available() else "cpu")


def prepare_supernet_init(
    spec: Spec,
    teacher_dir: Path,
    init_dir: Path,
    data: TaskData,
    device: torch.device | str = "cpu",
    key: str | None = None,
) -> Path:
    """(a) Save the fine-tuned teacher, reordered by DynaBERT importance when `supernet.reorder`, to `init_dir`.

    Importance (`models.reorder.compute_importance`) uses `min(importance_examples, len(train))` train examples
    drawn with `spec.seed`. An `init_dir` whose reorder.json records the same `key` (the stage's run key: the
    supernet settings and the teacher's run key) is reused as is, so a resumed stage distils from exactly the
    model it started from; without a key it is always written afresh.

    Returns:
        `init_dir` (HF model dir + tokenizer + reorder.json).
    """
    sn, task = spec.supernet, data.task
    n = min(sn.importance_examples, len(data.train))  # type: ignore[arg-type]
    marker = init_dir / REORDER_FILE
    reusable = key is not None and marker.is_file() and (init_dir / "config.json").is_file()
    if reusable and json.loads(marker.read_text()).get("key") == key:
        return init_dir
    model = load_task_model(str(teacher_dir), task.kind, task.num_labels, require_head=True)
    model.to(device)  # type: ignore[arg-type]  # transformers' stub types `to` oddly
    record: dict[str, Any] = {"key": key, "importance_examples": n if sn.reorder else 0}
    if sn.reorder:
        order = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(spec.seed))[:n]  # type: ignore[arg-type]
        loader = DataLoader(
            Subset(data.train, order.tolist()), batch_size=sn.train.batch_size, collate_fn=data.collate,
            generator=torch.Generator(),
        )  # fmt: skip
        heads, neurons = compute_importance(model, loader)  # (L, H), (L, f)
        head_order, _ = reorder_(model, heads, neurons)
        record["head_order"] = head_order.tolist()
    init_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(init_dir)
    load_tokenizer(str(teacher_dir)).save_pretrained(init_dir)
    marker.write_text(json.dumps(record, indent=2))
    return init_dir


def grid_archs(
    config: Any,
    widths: Sequence[float],
    depths: Sequence[float],
    keeps: Sequence[float] = (),
    token_length: int = 0,
) -> list[tuple[Arch, float, float, float]]:
    """(Arch, width, depth, keep) of every grid point: each (width, depth), widths then depths descending (the
    full Arch first), then the full Arch at each per-layer keep ratio k of `keeps`, its length config the cascade
    n_i = ceil(n_{i-1} k) at `token_length` tokens (`lengthdrop.smallest_length_counts` with r = 1 - k: k = 1 - r
    is the smallest config LengthDrop trains)."""
    points = [
        (Arch.for_config(config, width=w, depth=d), w, d, 1.0)
        for w in sorted(set(widths), reverse=True)
        for d in sorted(set(depths), reverse=True)
    ]
    full = Arch.for_config(config)
    for keep in keeps:
        counts = smallest_length_counts(full.num_layers, token_length, 1 - keep)
        points.append((replace(full, tokens=counts_to_tokens(counts, token_length)), 1.0, 1.0, keep))
    return points


def evaluate_grid(
    model: nn.Module,
    widths: Sequence[float],
    depths: Sequence[float],
    evalset: EvalSet,
    collate: Any,
    *,
    seq_len: int,
    batch_size: int = 64,
    device: torch.device | str | None = None,
    keeps: Sequence[float] = (),
    token_length: int = 0,
) -> pd.DataFrame:
    """Score every grid point (`grid_archs`) of `model` on `evalset` through the elastic forward.

    Args:
        model: a supported HF BERT (possibly wrapped); put in eval mode for the pass, then restored.
        widths, depths: the grid's multipliers (`Arch.from_multipliers`).
        evalset, collate: the eval set and the task's collate function.
        seq_len: sequence length of the analytic FLOPs (batch 1; the run's `Spec.cost_seq_length`).
        batch_size: examples per forward.
        device: where the model lives (default: its parameters' device).
        keeps, token_length: length configs at the full width and depth (`grid_archs`; none by default).

    Returns:
        One row per grid point in `grid_archs` order, columns `EVAL_COLUMNS`: FLOPs (= 2 x MACs, token dropping
        counted at `seq_len`) and params of the materialised sub-network, flops_ratio vs the full Arch, and the
        task's main metric (`metric_name`) as `dev_metric`.
    """
    hf = unwrap_model(model)
    config = hf.config
    head: Head = "qa" if head_kind(hf) == "qa" else "classification"
    num_labels = config.num_labels
    full_macs = count_flops(Arch.for_config(config), config, seq_len, num_labels, head).macs
    metric = evalset.task.main_metric
    device = device if device is not None else next(hf.parameters()).device
    was_training = hf.training
    hf.eval()
    rows = []
    try:
        for arch, width, depth, keep in grid_archs(config, widths, depths, keeps, token_length):

            def run(_arch: Arch = arch, **inputs: torch.Tensor) -> Any:
                ids, mask, types = (
                    inputs["input_ids"],
                    inputs.get("attention_mask"),
                    inputs.get("token_type_ids"),
                )
                return elastic_forward(hf, _arch, ids, mask, types)

            scores = evaluate(run, evalset, collate, batch_size, device=device)
            cost = count_flops(arch, config, seq_len, num_labels, head)
            rows.append([arch.id, width, depth, keep, cost.flops, cost.macs / full_macs,
                         params(arch, config, num_labels, head), scores[metric], metric, cost.macs])  # fmt: skip
    finally:
        hf.train(was_training)
    return pd.DataFrame(rows, columns=EVAL_COLUMNS)


def train_supernet(spec: Spec, run_dir: Path, teacher_dir: Path, key: str | None = None) -> SupernetResult:
    """Run the supernet stage (module docstring): init, Ray Train, copy the model, grid eval, metrics.
    `key`: the stage's run key (the init and the Ray Train run are reused only under the same key).

    Raises:
        RaydistillError: bad model or data (`ModelError`, `DataError`) or a failed run (`RunError`).
    """
    start = time.perf_counter()
    layout = RunLayout(Path(run_dir))
    device = _driver_device(spec)
    data = prepare_task_data(
        spec.task, load_tokenizer(str(teacher_dir)), seed=spec.seed, **data_kwargs(spec.data)
    )
    init_dir = prepare_supernet_init(spec, Path(teacher_dir), layout.supernet_init, data, device, key=key)
    model_dir = layout.supernet_model
    config = supernet_loop_config(spec, init_dir).to_dict()
    result = fit_stage(spec, train_loop_per_worker, config, supernet_run_name(spec), model_dir, key=key)
    task = data.task
    model = load_task_model(str(model_dir), task.kind, task.num_labels, require_head=True)
    model.to(device)  # type: ignore[arg-type]
    table = evaluate_grid(
        model, spec.supernet.widths, spec.supernet.depths, data.dev[task.main_dev], data.collate,
        seq_len=spec.cost_seq_length, batch_size=spec.supernet.train.eval_batch_size, device=device,
        keeps=length_keeps(spec), token_length=spec.data.max_seq_length,
    )  # fmt: skip
    eval_csv = layout.supernet_eval_csv
    table.to_csv(eval_csv, index=False)
    metrics = _summary(result.metrics, table, spec, task, time.perf_counter() - start)
    layout.supernet_metrics.write_text(json.dumps(metrics, indent=2))
    return SupernetResult(model_dir=model_dir, eval_csv=eval_csv, metrics=metrics)


def subnets_per_step(spec: Spec) -> int:
    """Sub-network passes per batch: the whole grid, or the sandwich (largest + smallest + random ones); LengthDrop:
    the full model, the smallest and `length.num_sandwich` random sub-models (plus the full model's no-grad pass)."""
    sn = spec.supernet
    grid = len(sn.widths) * len(sn.depths)
    if supernet_method(spec) == "lengthdrop":
        return 2 + sn.length.num_sandwich
    if sn.sampling == "layerwise":
        return 2 + sn.num_random
    return grid if sn.sampling == "all" else min(grid, 2 + sn.num_random)


def _summary(
    raw: dict[str, Any], table: pd.DataFrame, spec: Spec, task: Task, wall_time_s: float
) -> dict[str, Any]:
    """metrics.json: the main metric per grid point (by arch id and by width/depth), timing and throughput."""
    full = table.iloc[0]  # widths and depths descending: the full Arch first
    return {
        "task": task.name,
        "main_metric": task.main_metric,
        "main_dev": task.main_dev,
        "main_value": float(full["dev_metric"]),
        "grid": [
            {
                "arch_id": r.arch_id,
                "width": float(r.width),
                "depth": float(r.depth),
                "keep": float(r.keep),
                "dev_metric": float(r.dev_metric),
                "flops_ratio": float(r.flops_ratio),
            }
            for r in table.itertuples()
        ],  # fmt: skip
        "dev_full_arch": raw.get("dev", {}),
        "subnets_per_step": subnets_per_step(spec),
        "sampling": spec.supernet.sampling,
        "method": supernet_method(spec),
        "reordered": spec.supernet.reorder,
        "train_samples_per_s": raw.get("train_samples_per_s", 0.0),
        "train_time_s": raw.get("train_time_s", 0.0),
        "wall_time_s": wall_time_s,
        "steps": raw.get("step", 0),
        "epochs": raw.get("epochs", 0.0),
        "start_step": raw.get("start_step", 0),
        "num_workers": spec.resources.num_workers,
    }
