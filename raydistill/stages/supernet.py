"""Stage `supernet`: train the supernet and score its grid (`training.supernet`); one `grid` point per (width,
depth), and per length config of the length axis (`training.supernet.length_keeps`), priced at the cost length."""

from __future__ import annotations

from typing import Any

from raydistill.stages.base import Stage, StageRun
from raydistill.stages.registry import register_stage
from raydistill.stages.teacher import value_text


def run(ctx: StageRun) -> dict[str, Any]:
    from raydistill.models.arch import Arch
    from raydistill.results.points import replace_points
    from raydistill.stages.pricing import Pricer
    from raydistill.training.supernet import supernet_method, train_supernet

    spec, layout = ctx.spec, ctx.layout
    result = train_supernet(spec, ctx.run_dir, layout.teacher_model, key=ctx.run_key)
    pricer = Pricer.for_model(spec, result.model_dir)
    rows = []
    for g in result.metrics["grid"]:
        keep = f"-k{g['keep']:g}" if g["keep"] != 1.0 else ""
        rows.append(pricer.columns(Arch.from_id(g["arch_id"])) | {
            "label": f"grid w{g['width']:g}-d{g['depth']:g}{keep}", "kind": "grid", "method": supernet_method(spec),
            "dev_metric": g["dev_metric"], "metric_name": result.metrics["main_metric"],
            "model_dir": str(result.model_dir),
        })  # fmt: skip
    replace_points(layout, "supernet", rows)
    grid = {(g["width"], g["depth"], g["keep"]): g["dev_metric"] for g in result.metrics["grid"]}
    smallest = min(grid)
    headline = (
        f"dev {result.metrics['main_metric']} full={value_text(result.metrics['main_value'])} "
        f"w{smallest[0]:g}/d{smallest[1]:g}{'' if smallest[2] == 1 else f'/k{smallest[2]:g}'}"
        f"={value_text(grid[smallest])} ({len(grid)} sub-networks)"
    )
    return {"headline": headline, "model_dir": str(result.model_dir), "eval_csv": str(result.eval_csv)}


STAGE = register_stage(
    Stage(
        "supernet",
        run,
        needs=("teacher",),
        sections=("task", "data", "seed", "supernet"),
        reads_data=True,
        prices=True,
        enabled=lambda spec: spec.supernet.enabled,
    )
)
