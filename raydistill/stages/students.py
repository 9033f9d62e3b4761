"""Stage `students`: train each `students:` entry from the teacher (`training.students`); one `student` point each.

Each entry is a model of its own shape trained by its method (`kd`, `pkd`, `tinybert`: intermediate then
prediction, `finetune`: no teacher, the baseline) on Ray Train, priced at the run's cost length against the
teacher, scored on the search split and dev. Every Ray run of an entry is keyed by the stage's run key (task,
data, seed and the teacher's run key; the `students` list left out) and the entry itself (`entry_key`), so
changing one entry retrains only it: the stage reruns, the other entries' runs resume complete. `kd` and `pkd`
entries read the teacher's outputs from a file computed once per run where that is cheaper than recomputing them
(`stages.student_cache`).

Importing this module also adds the section's spec checks (`stages.student_checks`) to the spec rules.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from raydistill.spec import Spec
from raydistill.spec.rules import RULES
from raydistill.spec.schema import StudentSpec
from raydistill.stages.base import Stage, StageRun
from raydistill.stages.registry import register_stage
from raydistill.stages.student_checks import method_options, students_fit


def entry_key(ctx: StageRun, entry: StudentSpec, phase: str) -> str:
    """The run key of one phase of one entry: the stage's run key, the entry's values (its seed resolved: left
    out or the spec's, one key) and the phase."""
    seed = ctx.spec.seed if entry.seed is None else entry.seed
    values = json.dumps(entry.model_dump(mode="json") | {"seed": seed}, sort_keys=True, separators=(",", ":"))
    return ctx.sub_key(f"student:{entry.name}:{phase}:{values}")


def run(ctx: StageRun) -> dict[str, Any]:
    from raydistill.data import get_task
    from raydistill.results.points import replace_points
    from raydistill.stages.pricing import Pricer
    from raydistill.stages.student_cache import teacher_output_files
    from raydistill.training.students import Phase, train_student

    spec, layout = ctx.spec, ctx.layout
    task = get_task(spec.task)
    teacher = str(layout.teacher_model.resolve())
    teacher_pricer = Pricer.for_model(spec, layout.teacher_model)
    layout.students_dir.mkdir(parents=True, exist_ok=True)
    cached, cache_plans = teacher_output_files(ctx, layout.teacher_model)
    records: dict[str, dict[str, Any]] = {}
    rows = []
    for entry in spec.students:

        def options(phase: Phase, entry: StudentSpec = entry) -> dict[str, Any]:
            base = {"teacher": teacher, "student": str(phase.start.resolve()), "num_labels": task.num_labels,
                    "teacher_outputs": cached.get(entry.name)}  # fmt: skip
            return method_options(entry, task.kind, base, phase.name or None)

        def key(phase: Phase, entry: StudentSpec = entry) -> str:
            return entry_key(ctx, entry, phase.name)

        record = train_student(spec, layout, entry, options, key)
        records[entry.name] = record
        priced = Pricer.for_model(spec, Path(record["model_dir"])).own_model_columns(teacher_pricer)
        rows.append(priced | {
            "label": f"student {entry.name}", "kind": "student", "method": entry.method,
            "search_metric": record["search_metric"], "dev_metric": record["dev_metric"],
            "metric_name": record["metric"], "model_dir": record["model_dir"],
            "note": "tinybert: intermediate, then prediction" if entry.method == "tinybert" else "",
        })  # fmt: skip
    layout.students_file.write_text(json.dumps(records, indent=2))
    replace_points(layout, "students", rows)
    return {"headline": _headline(records), "students": {n: r["model_dir"] for n, r in records.items()},
            "teacher_outputs": [p.line() for p in cache_plans]}  # fmt: skip


def _headline(records: dict[str, dict[str, Any]]) -> str:
    """`dev accuracy kd3=0.8100, pkd3=0.8200`."""
    if not records:
        return "no students"
    metric = next(iter(records.values()))["metric"]
    return f"dev {metric} " + ", ".join(f"{n}={r['dev_metric']:.4f}" for n, r in records.items())


def _enabled(spec: Spec) -> bool:
    return bool(spec.students)


STAGE = register_stage(
    Stage(
        "students",
        run,
        needs=("teacher",),
        sections=("task", "data", "seed", "students"),
        reads_data=True,
        prices=True,
        run_exclude=("students",),  # each entry's runs add the entry itself (`entry_key`)
        enabled=_enabled,
    )
)
if students_fit not in RULES:
    RULES.append(students_fit)
