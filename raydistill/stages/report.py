"""Stage `report`: `reports/<name>/` (HTML, markdown, CSV) from the run's points and trial tables
(`report.build_report`). Runs whenever there is a teacher: a run without a search still gets a report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from raydistill.spec import Spec
from raydistill.stages.base import Stage, StageRun
from raydistill.stages.registry import register_stage


def report_dir_for(spec: Spec) -> Path:
    """`reports/<name>/` (relative to the working directory, like `exports/`)."""
    return Path("reports") / spec.name


def run(ctx: StageRun) -> dict[str, Any]:
    from raydistill.report import build_report, load_report_inputs

    files = build_report(load_report_inputs(ctx.run_dir), report_dir_for(ctx.spec))
    names = ", ".join(
        p.name for p in (files.index_html, files.summary_md, files.pareto_csv, files.trials_parquet)
    )
    return {"headline": names, "index_html": str(files.index_html)}


STAGE = register_stage(
    Stage(
        "report",
        run,
        after_all=True,  # renders every stage's points: a stage added later is a need too
        enabled=lambda spec: True,
        outputs=lambda spec: [report_dir_for(spec) / "index.html"],
    )
)
