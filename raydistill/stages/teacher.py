"""Stage `teacher`: fine-tune (or only evaluate) the full model (`training.teacher`); one `teacher` point."""

from __future__ import annotations

import json
import math
from typing import Any

from raydistill.stages.base import Stage, StageRun
from raydistill.stages.registry import register_stage


def value_text(value: float) -> str:
    """A metric for a headline; NaN is a failed evaluation (the model's outputs held NaN or inf)."""
    return f"{value:.4f}" if math.isfinite(value) else f"{value} (failed: NaN or inf outputs)"


def run(ctx: StageRun) -> dict[str, Any]:
    from raydistill.results.points import replace_points
    from raydistill.stages.pricing import Pricer
    from raydistill.training.teacher import train_teacher

    result = train_teacher(ctx.spec, ctx.run_dir, key=ctx.run_key)
    metrics = result.metrics
    main, value = metrics["main_metric"], metrics["main_value"]
    pricer = Pricer.for_model(ctx.spec, result.model_dir)
    row = pricer.columns(pricer.full_arch) | {
        "label": "teacher", "kind": "teacher", "method": ctx.spec.teacher.method,
        "dev_metric": value, "search_metric": (metrics.get("search") or {}).get(main, math.nan),
        "metric_name": main, "model_dir": str(result.model_dir),
        "dev_scores": json.dumps((metrics.get("dev") or {}).get(metrics.get("main_dev"), {})),
    }  # fmt: skip
    replace_points(ctx.layout, "teacher", [row])
    return {"headline": f"dev {main}={value_text(value)}", "model_dir": str(result.model_dir), **metrics}


STAGE = register_stage(
    Stage(
        "teacher",
        run,
        sections=("task", "data", "teacher", "seed"),
        reads_data=True,
        prices=True,
    )
)
