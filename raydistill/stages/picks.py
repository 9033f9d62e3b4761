"""Stage `picks`: the best Arch per FLOPs budget on the search split, computed once, into `pick` points.

The rule is `results.picks.best_arch_ids` over the trial table (encoder FLOPs priced, `results.pareto`
"Budgets"); each `pick` row copies its trial's metrics and names its `budget`. The search scores on dev only what
does not depend on the budgets (its best and up to `search.pareto_eval_cap` front points), so a pick it did not
score is scored on dev here, once (a NaN after that is a failed evaluation: NaN or inf outputs). The retrain and
export stages and the report read these rows; nothing else computes picks.
"""

from __future__ import annotations

import json
import math
from typing import Any

from raydistill.stages.base import Stage, StageRun
from raydistill.stages.registry import register_stage

FAILED = "NaN or inf outputs"


def _dev_metrics(ctx: StageRun, table: Any, arch_ids: set[str]) -> dict[str, tuple[float, dict[str, float]]]:
    """Arch id -> (main dev metric, every metric of the main dev set) of each pick: the search's values, else
    scored here (the supernet and the dev sets loaded only when some pick was not scored)."""
    from raydistill.data import get_task
    from raydistill.models.arch import Arch
    from raydistill.search.final import evaluate_on_dev, main_dev_scores, main_dev_values
    from raydistill.search.tuner import load_setup

    rows = table.drop_duplicates("arch_id").set_index("arch_id").loc[sorted(arch_ids)]
    dev = {a: float(v) for a, v in rows["dev_metric"].items()}
    scored = json.loads(ctx.layout.dev_metrics.read_text()) if ctx.layout.dev_metrics.is_file() else {}
    missing = [Arch.from_json(rows.loc[a, "arch_json"]) for a, v in dev.items() if not math.isfinite(v)]
    if missing:
        setup = load_setup(ctx.spec, ctx.layout.supernet_model)
        batch = ctx.spec.supernet.train.eval_batch_size
        fresh = evaluate_on_dev(setup.model, missing, setup.data, batch_size=batch)
        dev |= main_dev_values(fresh, setup.data)
        scored |= fresh
    main_dev = get_task(ctx.spec.task).main_dev
    return {a: (v, main_dev_scores(scored.get(a, {}), main_dev)) for a, v in dev.items()}


def run(ctx: StageRun) -> dict[str, Any]:
    from raydistill.models.arch import Arch
    from raydistill.results import read_table
    from raydistill.results.picks import best_arch_ids, read_fixed_ratio
    from raydistill.results.points import replace_points
    from raydistill.stages.pricing import Pricer

    spec, layout = ctx.spec, ctx.layout
    table = read_table(layout.search_dir)
    picks = best_arch_ids(table, spec.search.budgets, read_fixed_ratio(layout.search_dir))
    pricer = Pricer.for_model(spec, layout.supernet_model)
    dev_of = _dev_metrics(ctx, table, {a for a in picks.values() if a is not None})
    rows, parts = [], []
    for budget, arch_id in sorted(picks.items()):
        if arch_id is None:
            parts.append(f"<={budget:g}x: nothing fits")
            continue
        trial = table[table["arch_id"] == arch_id].iloc[0]
        dev, dev_scores = dev_of[arch_id]
        rows.append(pricer.columns(Arch.from_json(trial["arch_json"])) | {
            "label": f"pick {budget:g}", "kind": "pick", "method": spec.supernet.method, "budget": budget,
            "search_metric": trial["search_metric"], "dev_metric": dev, "metric_name": trial["metric_name"],
            "model_dir": str(layout.supernet_model), "note": "" if math.isfinite(dev) else FAILED,
            "dev_scores": json.dumps(dev_scores),
        })  # fmt: skip
        dev_text = f"{dev:.4f}" if math.isfinite(dev) else f"failed: {FAILED}"
        parts.append(
            f"<={budget:g}x: {arch_id} {trial['metric_name']} {trial['search_metric']:.4f} (dev {dev_text})"
        )
    replace_points(layout, "picks", rows)
    return {"headline": f"{len({r['arch_id'] for r in rows})} sub-networks | " + " | ".join(parts)}


STAGE = register_stage(
    Stage(
        "picks",
        run,
        needs=("search",),
        sections=("search.budgets",),
        enabled=lambda spec: spec.search.enabled,
    )
)
