"""Stage `search`: the Ray Tune search over the supernet's sub-networks (`search.tuner`); one `trial` point per
trial scored on dev (the Pareto-front candidates; every trial stays in the trial table).

Only the largest budget enters the key (it decides feasibility and the sampler's constraint); the others only
move the picks (stage `picks`), so changing them reuses the search. `search.pareto_eval_cap` is in the key but
not in the run key: changing it scores other Archs on dev and resumes the finished Tune experiment.
"""

from __future__ import annotations

import json
from typing import Any

from raydistill.spec import Spec
from raydistill.stages.base import Stage, StageRun
from raydistill.stages.registry import register_stage


def _derived(spec: Spec) -> dict[str, Any]:
    return {"max(search.budgets)": max(spec.search.budgets), "cost.seq_length": spec.cost_seq_length}


def run(ctx: StageRun) -> dict[str, Any]:
    from raydistill.data import get_task
    from raydistill.models.arch import Arch
    from raydistill.results.points import replace_points
    from raydistill.search import run_search
    from raydistill.search.final import main_dev_scores
    from raydistill.stages.pricing import Pricer

    spec, layout = ctx.spec, ctx.layout
    result = run_search(spec, layout.supernet_model, ctx.run_dir, key=ctx.run_key)
    scored = json.loads(layout.dev_metrics.read_text())  # {arch id: {dev set: {metric: value}}}
    main_dev = get_task(spec.task).main_dev
    pricer = Pricer.for_model(spec, layout.supernet_model)
    rows = [
        pricer.columns(Arch.from_json(r.arch_json)) | {
            "label": f"trial {r.trial_id}", "kind": "trial", "method": spec.supernet.method,
            "search_metric": r.search_metric, "dev_metric": r.dev_metric, "metric_name": r.metric_name,
            "model_dir": str(layout.supernet_model), "note": r.note,
            "dev_scores": json.dumps(main_dev_scores(scored[r.arch_id], main_dev)),
        }
        for r in result.table.itertuples() if r.arch_id in scored
    ]  # fmt: skip
    replace_points(layout, "search", rows)
    return {"headline": result.headline}


STAGE = register_stage(
    Stage(
        "search",
        run,
        needs=("supernet",),
        sections=("task", "data", "seed", "search"),
        exclude=("search.budgets", "search.retrain", "search.max_failures"),  # retries: how, not what
        derived=_derived,
        reads_data=True,
        run_exclude=("search.pareto_eval_cap",),
        enabled=lambda spec: spec.search.enabled,
    )
)
