"""Stage `export`: each picked Arch and each student as an HF dir + ONNX with its measured latency
(`runs.export_best`, `runs.export_students`); sets `latency_ms` and `export_dir` on the pick (and retrained)
and student points. Reads only the points table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from raydistill.stages.base import Stage, StageRun
from raydistill.stages.registry import register_stage


def run(ctx: StageRun) -> dict[str, Any]:
    from raydistill.runs import export_best, export_students

    summary = export_best(ctx.spec, ctx.run_dir) if ctx.spec.search.enabled else {}
    if not ctx.spec.students:
        return summary
    students = export_students(ctx.spec, ctx.run_dir)
    headline = "; ".join(s["headline"] for s in (summary, students) if s)
    return summary | {"headline": headline, "students": students["exports"]}


STAGE = register_stage(
    Stage(
        "export",
        run,
        needs=("picks", "retrain", "students"),
        sections=("task", "export", "data.max_seq_length"),
        enabled=lambda spec: spec.export.enabled and (spec.search.enabled or bool(spec.students)),
        outputs=lambda spec: [Path(spec.export.dir) / spec.name],
    )
)
