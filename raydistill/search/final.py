"""Final evaluation: the chosen sub-networks, scored on dev exactly once each, after the search is over.

The search only ever sees the search split. Afterwards (up to `search.pareto_eval_cap`) Archs of the Pareto front,
its best one always, are evaluated on the dev set(s), once per distinct Arch,
and their dev metric fills the table's `dev_metric` column (every row of the same Arch gets the same value).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from raydistill.data import TaskData
from raydistill.models.arch import Arch
from raydistill.results.pareto import pareto_front
from raydistill.search.evaluator import evaluate_arch

__all__ = ["dev_candidates", "evaluate_on_dev", "main_dev_values"]

DevMetrics = dict[str, dict[str, dict[str, float]]]  # arch id -> dev set name -> metric -> value




def dev_candidates(table: pd.DataFrame, cap: int) -> list[Arch]:
    """The Archs to score on dev: the front's best (the best within the largest budget, as every `ok` trial fits
    it), then at most `cap` Pareto-front Archs, no Arch twice. No budget below the largest enters: moving those
    budgets reuses the search (the picks stage copies dev metrics from here; a pick off these has none).

    When the front (sorted by cost) is longer than `cap`, `cap` points evenly spread along it are taken (its
    cheapest and its best among them), so the dev curve spans the whole cost range.
    """
    front = pareto_front(table, "search_metric", "flops_ratio")["arch_id"].drop_duplicates().tolist()
    ids = front[-1:]  # the best on the search split: the front's most costly point
    if cap < len(front):
        spread = np.linspace(0, len(front) - 1, cap)  # cap evenly spaced positions (none when cap is 0)
        front = [front[i] for i in sorted({int(round(x)) for x in spread})]
    ids += front
    json_by_id = dict(zip(table["arch_id"], table["arch_json"], strict=True))
    return [Arch.from_json(json_by_id[i]) for i in dict.fromkeys(ids)]


def evaluate_on_dev(
    model: nn.Module,
    archs: Iterable[Arch],
    task_data: TaskData,
    *,
    batch_size: int = 64,
    device: torch.device | str | None = None,
) -> DevMetrics:
    """Score each distinct Arch once on every dev set of the task.

    Args:
        model: the trained supernet (a supported HF BERT).
        archs: the chosen sub-networks (duplicates are scored once).
        task_data: the task's data; only its dev sets (and collate) are used.
        batch_size: examples per forward.
        device: where the model lives (default: the device of its parameters).

    Returns:
        {arch id: {dev set name: every metric of the task}}. An Arch whose outputs on a dev set hold NaN or
        inf gets NaN for every metric of that set (a failed evaluation, logged by `training.evaluate`); its
        `dev_metric` in the table is then NaN and the search headline says it failed.
    """
    unique = {arch.id: arch for arch in archs}
    return {
        arch_id: {
            name: evaluate_arch(model, arch, evalset, task_data.collate, batch_size, device=device)
            for name, evalset in task_data.dev.items()
        }
        for arch_id, arch in unique.items()
    }


def main_dev_values(results: DevMetrics, task_data: TaskData) -> dict[str, float]:
    """Arch id -> the task's main metric on its main dev set (the value of the table's `dev_metric`)."""
    task = task_data.task
    return {a: main_dev_scores(per_set, task.main_dev)[task.main_metric] for a, per_set in results.items()}


def main_dev_scores(per_set: Mapping[str, Mapping[str, float]], main_dev: str) -> dict[str, float]:
    """Every metric of the main dev set (the first set when `main_dev` is not among them), as plain floats:
    the points table's `dev_scores` (e.g. SQuAD's exact_match beside its f1)."""
    if not per_set:
        return {}
    name = main_dev if main_dev in per_set else next(iter(per_set))
    return {metric: float(v) for metric, v in per_set[name].items()}


def summarize(results: DevMetrics) -> dict[str, Any]:
    """JSON-able copy of dev results (plain floats)."""
    return {
        a: {s: {m: float(v) for m, v in ms.items()} for s, ms in sets.items()} for a, sets in results.items()
    }
