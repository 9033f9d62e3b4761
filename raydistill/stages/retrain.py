"""Stage `retrain`: re-train each picked Arch as a model of its own (`training.retrain`); one `retrained`
point per Arch. The Archs come from the points table's `pick` rows (stage `picks`)."""

from __future__ import annotations

import json
import math
from typing import Any

from raydistill.stages.base import Stage, StageRun
from raydistill.stages.registry import register_stage


def run(ctx: StageRun) -> dict[str, Any]:
    from raydistill.models.arch import Arch
    from raydistill.results.points import picks_by_arch, read_points, replace_points
    from raydistill.stages.pricing import Pricer
    from raydistill.training.retrain import retrain_best

    spec, layout = ctx.spec, ctx.layout
    points = read_points(layout)
    picks = points[points["kind"] == "pick"]
    dev_before = {str(a): float(d) for a, d in zip(picks["arch_id"], picks["dev_metric"], strict=True)}
    summary = retrain_best(spec, ctx.run_dir, picks_by_arch(points), dev_before, ctx.sub_key)
    records = json.loads(layout.retrain_file.read_text())
    pricer = Pricer.for_model(spec, layout.supernet_model)
    method = spec.search.retrain.method if spec.search.retrain is not None else ""
    rows = [
        pricer.columns(Arch.from_id(arch_id)) | {
            "label": f"retrained {arch_id}", "kind": "retrained", "method": method,
            "dev_metric": r.get("dev_after", math.nan), "metric_name": r["metric"],
            "model_dir": str(layout.retrain_model(arch_id)),
        }
        for arch_id, r in records.items()
    ]  # fmt: skip
    replace_points(layout, "retrain", rows)
    return summary


STAGE = register_stage(
    Stage(
        "retrain",
        run,
        needs=("teacher", "supernet", "picks"),
        sections=("task", "data", "seed", "search.retrain", "supernet.train", "supernet.temperature"),
        reads_data=True,
        prices=True,
        run_needs=(
            "teacher",
            "supernet",
        ),  # each run's key adds its Arch: the same pick retrains the same way
        enabled=lambda spec: spec.search.enabled and spec.search.retrain is not None,
    )
)
