"""Ray Train layer: the training loop every worker runs, the `TorchTrainer` builder, checkpoints and resume.

Modules: `config` (LoopConfig), `loop` (train_loop_per_worker), `trainer` (fit), `teacher` (the teacher stage),
`evaluate` (predict/evaluate on eval sets, reusable by every stage), `checkpoint`, `optim`, `runtime`.
"""

from __future__ import annotations

from raydistill.training.config import LoopConfig
from raydistill.training.loop import train_loop_per_worker
from raydistill.training.teacher import TeacherResult, train_teacher
from raydistill.training.trainer import FitResult, fit

__all__ = ["FitResult", "LoopConfig", "TeacherResult", "fit", "train_loop_per_worker", "train_teacher"]
