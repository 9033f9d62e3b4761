"""Stage `export`: each picked Arch as an HF dir + ONNX with its measured latency (`runs.export_best`); sets
`latency_ms` and `export_dir` on the pick (and retrained) points. Reads only the points table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from raydistill.stages.base import Stage, StageRun
from raydistill.stages.registry import register_stage


def run(ctx: StageRun) -> dict[str, Any]:
    from raydistill.runs import export_best

    return export_best(ctx.spec, ctx.run_dir)


STAGE = register_stage(
    Stage(
        "export",
        run,
        needs=("picks", "retrain"),
        sections=("task", "export", "data.max_seq_length"),
        enabled=lambda spec: spec.export.enabled and spec.search.enabled,
        outputs=lambda spec: [Path(spec.export.dir) / spec.name],
    )
)
