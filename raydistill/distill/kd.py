"""Method `kd`: vanilla knowledge distillation of any student from a frozen teacher (Hinton et al. 2015).

Per batch: the teacher's forward without gradients, the student's forward through the (possibly DDP-wrapped)
model, one backward of

    L = alpha * T^2 * softCE(z_s / T, z_t / T) + (1 - alpha) * L_task(z_s, y)        (Hinton et al. 2015, eq. 2)

- classification: softCE as `losses.soft_cross_entropy` (sum over classes, mean over the batch), L_task = CE;
- regression (one output): the soft term is `losses.regression_mse` (no temperature, no T^2), L_task = MSE;
- QA: the mean of the start and end soft CEs (each over the sequence axis), L_task = mean of start/end CE
  (positions outside the sequence ignored, as HF does).

The task loss is computed here from the logits, never by passing `labels=` to the model: the exported
`raydistill_bert` sub-networks compute no loss, and this method re-trains them (the pipeline's `retrain` stage).
`alpha = 1` (default) is pure distillation, TinyBERT's prediction-layer distillation (TinyBERT eq. 10).
With `teacher_outputs` (classification, regression) the teacher's logits come from its cached outputs
(`distill.teacher_outputs`), looked up by each batch's example index, and the teacher is not loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from raydistill.distill.losses import get_loss
from raydistill.distill.methods import Backward, Batch, BuiltMethod, Method, check_option_keys, model_inputs
from raydistill.distill.students import load_frozen_teacher
from raydistill.distill.teacher_outputs import TeacherOutputs
from raydistill.errors import SpecError
from raydistill.models.bert import logits_task_loss

Logits = Tensor | tuple[Tensor, Tensor]  # (B, C), or QA's ((B, L) start, (B, L) end)
_KINDS = ("classification", "regression", "qa")


@dataclass(frozen=True)
class KdOptions:
    """The `kd` method's options (plain values).

    Attributes:
        teacher: HF model dir (or model name) of the fine-tuned teacher.
        kind: the task's head: "classification", "regression" or "qa".
        num_labels: classes of the teacher's head (classification); None reads it from the teacher's config.
        temperature: T > 0 of the soft term.
        alpha: weight in [0, 1] of the soft term; 1 - alpha weighs the task loss.
        teacher_outputs: a file of the teacher's cached outputs on the training data
            (`teacher_outputs.TeacherOutputs`; set by the students stage): the step looks the logits up by
            example instead of running the teacher. None: the teacher runs on every batch.
    """

    teacher: str
    kind: str
    num_labels: int | None = None
    temperature: float = 1.0
    alpha: float = 1.0
    teacher_outputs: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise SpecError(f"method 'kd': kind={self.kind!r} is not one of {', '.join(_KINDS)}")
        if self.teacher_outputs is not None and self.kind == "qa":
            raise SpecError("method 'kd': teacher_outputs hold classification logits; QA recomputes the teacher")
        if not self.temperature > 0 or not 0.0 <= self.alpha <= 1.0:
            raise SpecError(
                f"method 'kd': temperature={self.temperature}, alpha={self.alpha}; need temperature > 0 and "
                "0 <= alpha <= 1 (alpha=1: distillation only)"
            )

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> KdOptions:
        """Validate plain options; every problem raises `SpecError` naming the value and what is allowed."""
        check_option_keys(cls, "kd", options, ("teacher", "kind"))
        return cls(**options)

    @property
    def uses_gold_labels(self) -> bool:
        """Whether the loss has the task term (1 - alpha) L_task(z_s, y) (the students stage flags it on
        augmented copies, whose labels are the originals')."""
        return self.alpha < 1

    def check_shapes(self, student: Any, teacher: Any) -> None:
        """Any student shape fits: only the logits are compared (every student method's options have `check_shapes`, see `distill.students`)."""
        del student, teacher


def logits_of(output: Any) -> Logits:
    """(B, C) logits, or QA's (start, end) pair of (B, L) logits, from a HF model output."""
    start = getattr(output, "start_logits", None)
    return (start, output.end_logits) if start is not None else output.logits


def kd_loss(student: Logits, teacher: Logits | None, batch: Batch, opts: KdOptions) -> dict[str, Tensor]:
    """`{"loss": alpha * soft + (1 - alpha) * task, "kd": soft, "task": task}`; a term of weight 0 is skipped
    (the teacher's logits may be None when alpha == 0)."""
    parts: dict[str, Tensor] = {}
    if opts.alpha > 0:
        if teacher is None:
            raise ValueError(f"kd_loss: alpha={opts.alpha} > 0 needs the teacher's logits")
        parts["kd"] = get_loss("logit_distill")(
            student, teacher, opts.kind, opts.temperature, scale_by_t2=True
        )
    if opts.alpha < 1:
        parts["task"] = logits_task_loss(student, batch, opts.kind)
    weights = {"kd": opts.alpha, "task": 1.0 - opts.alpha}
    parts["loss"] = torch.stack([weights[k] * v for k, v in parts.items()]).sum()
    return parts


class KdStep:
    """The `kd` step function (see the module docstring); holds the frozen teacher, or its cached outputs."""

    def __init__(
        self, opts: KdOptions, teacher: nn.Module | None, cached: TeacherOutputs | None = None
    ) -> None:
        self.opts = opts
        self.teacher = teacher
        self.cached = cached

    def __call__(self, model: nn.Module, batch: Batch, step: int, backward: Backward) -> dict[str, Any]:
        """One forward of each model, one backward (`is_last=True`); logs the total and its terms (detached)."""
        del step  # the loss does not depend on the step
        inputs = model_inputs(batch)
        student = logits_of(model(**inputs))
        teacher: Logits | None = None  # alpha == 0: no soft term, no teacher forward
        if self.opts.alpha > 0 and self.cached is not None:
            teacher = self.cached.logits_of(batch)
        elif self.opts.alpha > 0 and self.teacher is not None:
            with torch.no_grad():
                teacher = logits_of(self.teacher(**inputs))
        parts = kd_loss(student, teacher, batch, self.opts)
        backward(parts["loss"], True)
        return {k: v.detach() for k, v in parts.items()}


def make_kd(options: Mapping[str, Any], device: torch.device) -> BuiltMethod:
    """Build the `kd` method: validate the options; read the teacher's cached outputs when given, else load the
    frozen teacher onto `device`."""
    opts = KdOptions.from_options(options)
    if opts.teacher_outputs is not None:
        return BuiltMethod(KdStep(opts, None, TeacherOutputs.load(opts.teacher_outputs)))
    return BuiltMethod(KdStep(opts, load_frozen_teacher(opts.teacher, opts.kind, opts.num_labels, device)))


METHOD = Method("kd", build=make_kd, evaluation="task")
OPTIONS = KdOptions  # what a `students:` entry's options are checked against (`spec.student_rules`)
