"""Stage `students`: train each `students:` entry from the teacher (`training.students`); one `student` point each.

Each entry is a model of its own shape trained by its method (`kd`, `pkd`, `tinybert`: intermediate then
prediction, `finetune`: no teacher, the baseline) on Ray Train, priced at the run's cost length against the
teacher, scored on the search split and dev. Every Ray run of an entry is keyed by the stage's run key (task,
data, seed and the teacher's run key; the `students` list left out) and the entry itself (`entry_key`), so
changing one entry retrains only it: the stage reruns, the other entries' runs resume complete. `kd` and `pkd`
entries read the teacher's outputs from a file computed once per run where that is cheaper than recomputing them
(`stages.student_cache`).

An entry with `train_data: augmented` trains on the augment stage's examples, so the stage needs `augment`
(its key follows augment's); that entry's runs are keyed by the augmented file's content, so new augmented
data retrain only the entries that read them. The general-distillation corpus files enter the stage's key (and
so its run key: a changed corpus file retrains every entry, a rare event kept simple) by content. A method that learns from gold labels (finetune, kd or pkd with alpha < 1) on augmented
copies is flagged in its record and its point's note (`GOLD_ON_AUGMENTED`).

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
from raydistill.stages.student_checks import method_options, students_fit, uses_gold_labels

GOLD_ON_AUGMENTED = "gold labels on augmented copies"


def entry_key(ctx: StageRun, entry: StudentSpec, phase: str, data: str = "") -> str:
    """The run key of one phase of one entry: the stage's run key, the entry's values (its seed resolved: left
    out or the spec's, one key), the phase and the digest of the data files it reads besides the task's
    (`_data_digest`)."""
    seed = ctx.spec.seed if entry.seed is None else entry.seed
    values = json.dumps(entry.model_dump(mode="json") | {"seed": seed}, sort_keys=True, separators=(",", ":"))
    return ctx.sub_key(f"student:{entry.name}:{phase}:{values}" + (f":{data}" if data else ""))


def _data_digest(ctx: StageRun, entry: StudentSpec, phase: str) -> str:
    """The augmented examples' content for the task phases of an entry with `train_data: augmented`, else ""."""
    from raydistill.stages.keys import _file_digest

    augmented = entry.train_data == "augmented" and phase != "general"
    return _file_digest(ctx.layout.augmented_train) if augmented else ""


def _note(entry: StudentSpec, kind: str) -> str:
    """What a student's point says beside its numbers: its phases and its data."""
    parts = ["tinybert: " + ("general, " if entry.general else "") + "intermediate, then prediction"] * (
        entry.method == "tinybert"
    )
    if entry.train_data == "augmented":
        parts.append("trained on augmented data")
        if uses_gold_labels(entry, kind):
            parts.append(GOLD_ON_AUGMENTED)
    return "; ".join(parts)


def run(ctx: StageRun) -> dict[str, Any]:
    from raydistill import console
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
    for done, entry in enumerate(spec.students, start=1):

        def options(phase: Phase, entry: StudentSpec = entry) -> dict[str, Any]:
            base = {"teacher": teacher, "student": str(phase.start.resolve()), "num_labels": task.num_labels,
                    "teacher_outputs": cached.get(entry.name)}  # fmt: skip
            return method_options(entry, task.kind, base, phase.name or None)

        def key(phase: Phase, entry: StudentSpec = entry) -> str:
            return entry_key(ctx, entry, phase.name, _data_digest(ctx, entry, phase.name))

        record = train_student(spec, layout, entry, options, key)
        gold = entry.train_data == "augmented" and uses_gold_labels(entry, task.kind)
        record |= {"train_data": entry.train_data, "gold_labels_on_augmented": gold}
        records[entry.name] = record
        console.note(f"  student {entry.name} ({done}/{len(spec.students)}): dev {record['metric']}="
                     f"{record['dev_metric']:.4f}")  # fmt: skip
        priced = Pricer.for_model(spec, Path(record["model_dir"])).own_model_columns(teacher_pricer)
        rows.append(priced | {
            "label": f"student {entry.name}", "kind": "student", "method": entry.method,
            "search_metric": record["search_metric"], "dev_metric": record["dev_metric"],
            "metric_name": record["metric"], "model_dir": record["model_dir"],
            "note": _note(entry, task.kind),
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


def _corpora(spec: Spec) -> dict[str, Any]:
    """The general-distillation corpus files by content (a changed file reruns the stage)."""
    from raydistill.stages.keys import _file_digest

    paths = {f"students.{e.name}.general.corpus": e.general.corpus for e in spec.students if e.general}
    return {k: _file_digest(Path(v).expanduser()) for k, v in paths.items() if Path(v).expanduser().is_file()}


STAGE = register_stage(
    Stage(
        "students",
        run,
        needs=("teacher", "augment"),
        sections=("task", "data", "seed", "students"),
        derived=_corpora,
        reads_data=True,
        prices=True,
        run_exclude=("students",),  # each entry's runs add the entry itself (`entry_key`)
        run_needs=("teacher",),  # augmented examples and corpora enter the runs of the entries that read them
        enabled=_enabled,
    )
)
if students_fit not in RULES:
    RULES.append(students_fit)
