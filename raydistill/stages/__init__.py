"""The run's stage graph: one module per stage, each registered with one line (`register_stage`).

A stage declares what it `needs`, the spec sections it reads and whether it reads the data files
(`stages.base.Stage`); `stages.plan` turns that into one cache key per stage and a plan saying what runs and
why; `pipeline.run_pipeline` runs the plan. Adding a stage = one module that calls `register_stage` + its import
line below. The graph (needs, arrows point from a stage to what it reads):

    teacher <- supernet <- search <- picks <- retrain (teacher, supernet, picks)
            <- students (teacher)            <- export (picks, retrain, students) <- report (every stage)
    augment (TinyBERT data augmentation of the training examples; off by default; needs no other stage)
"""

from __future__ import annotations

from raydistill.stages import (  # noqa: F401  registers
    augment,
    export,
    picks,
    report,
    retrain,
    search,
    students,
    supernet,
    teacher,
)
from raydistill.stages.base import Stage, StageRun
from raydistill.stages.plan import Plan, PlannedStage, plan_run
from raydistill.stages.registry import register_stage, stage_graph

__all__ = ["Plan", "PlannedStage", "Stage", "StageRun", "plan_run", "register_stage", "stage_graph"]
