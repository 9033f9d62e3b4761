"""Turn Tune results into trial-table rows (`results.table` schema) and the search's `meta.json`."""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

from raydistill.models.arch import Arch
from raydistill.models.flops import params as count_params
from raydistill.results.picks import META_FILE, read_fixed_ratio
from raydistill.search.latency_objective import LATENCY_KEY, LatencySettings, latency_columns
from raydistill.search.spaces import Candidate, SpaceContext

__all__ = ["META_FILE", "read_fixed_ratio", "search_meta", "trial_rows", "write_meta"]



def _row(result: Any, metric: str, sampler: str) -> tuple[float, dict[str, Any]] | None:
    """(completion time, row) of one Tune `Result`; None for a trial that has not finished (interrupted)."""
    reported = result.metrics or {}
    status = "error" if result.error is not None else reported.get("status")
    if status is None:
        return None
    candidate = Candidate.from_config(result.config)
    row = {
        "trial_id": str(reported["trial_id"]),
        "arch_id": candidate.arch.id,
        "arch_json": candidate.arch.to_json(),
        "flops": candidate.flops,
        "flops_ratio": candidate.flops_ratio,
        "macs": candidate.macs,
        "params": candidate.params,
        "search_metric": float(reported[metric]) if status == "ok" else math.nan,
        "dev_metric": math.nan,
        "metric_name": metric,
        "sampler": sampler,
        "budget_feasible": candidate.feasible,
        "status": status,
        "note": str(reported.get("note", "")),
        "wall_time_s": float(reported.get("wall_time_s", math.nan)),
        # the latency objective's measurements (NaN when the search did not time its trials)
        **{c: float(reported.get(c, math.nan)) for c in (*latency_columns().values(), LATENCY_KEY)},
    }
    return float(reported.get("evaluated_at", math.inf)), row


def trial_rows(
    results: Iterable[Any], metric: str, sampler: str, finished: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """One trial-table row per finished trial, in completion order (errored trials last).

    Args:
        results: Tune `Result`s (a `ResultGrid`); each config holds the priced candidate.
        metric: the task's main metric (the key the trainable reported it under).
        sampler: the sampler's registry name.
        finished: ids of the trials Tune marked finished (TERMINATED or ERROR); None = every trial that
            reported. A trial that reported but was cut off before Tune closed it is re-run on resume, so an
            interrupted search leaves it out.

    Rows: `search_metric` is the reported metric for `ok` trials and NaN for `infeasible` (never evaluated),
    `failed` (non-finite outputs or metric) and `error` trials; `note` is what the trial reported with it
    (e.g. "constant predictions"); `dev_metric` is NaN (filled later for the chosen Archs only).
    """
    found = [r for r in (_row(res, metric, sampler) for res in results) if r is not None]
    if finished is not None:
        found = [r for r in found if r[1]["trial_id"] in finished]
    return [row for _, row in sorted(found, key=lambda item: item[0])]


def search_meta(
    *,
    name: str,
    task: str,
    metric: str,
    budgets: Sequence[float],
    sampler: str,
    space: str,
    num_trials: int,
    ctx: SpaceContext,
    objective: str = "flops",
    latency: LatencySettings | None = None,
) -> dict[str, Any]:
    """`meta.json`: what the table means (task, metric, budgets, sampler) and the teacher cost behind ratios.

    Teacher FLOPs/params are those of the full supernet (the teacher's shape) at `ctx.seq_len` tokens,
    FLOPs = 2 x MACs. `fixed_ratio` (`SpaceContext.fixed_ratio`: pooler + task head FLOPs / teacher FLOPs) is
    what every later budget check of the run reads (`read_fixed_ratio`, `results.pareto.budget_limit`).
    `objective` is the second objective the samplers minimised (`search.objective`), `latency` how the latency
    objective timed each trial (None with `objective: flops`).
    """
    full = Arch.for_config(ctx.config)
    return {
        "name": name,
        "task": task,
        "metric_name": metric,
        "budgets": [float(b) for b in budgets],
        "sampler": sampler,
        "space": space,
        "num_trials": num_trials,
        "objective": objective,
        "latency": None if latency is None else {**latency.__dict__, "how": latency.describe()},
        "flops_seq_length": ctx.seq_len,
        "fixed_ratio": ctx.fixed_ratio,
        "teacher": {
            "flops": 2 * ctx.teacher_macs,
            "params": count_params(full, ctx.config, ctx.num_labels, ctx.head),  # type: ignore[arg-type]
        },
    }


def write_meta(meta: dict[str, Any], directory: Path) -> Path:
    """Write `meta.json` into `directory` (created if needed)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / META_FILE
    path.write_text(json.dumps(meta, indent=2))
    return path

