"""Method `pkd`: Patient Knowledge Distillation of a shallower student (Sun et al. 2019, "Patient-KD").

Per batch: the teacher's forward (no gradients) and the student's forward through the (possibly DDP-wrapped)
model, both with their hidden states, then one backward of

    L = (1 - a) L_task + a T^2 softCE(z_s / T, z_t / T) + b' * sum_j || h_s_j/|h_s_j| - h_t_I(j)/|h_t_I(j)| ||^2

(Patient-KD eq. 4/5, `kd.kd_loss` for the first two terms, `losses.patient_loss` for the last) on the [CLS]
vectors of the student's intermediate layers j = 1..M-1 and the teacher layers I(j) of the strategy:
"skip" (every k-th layer, `mapping.pkd_skip_map`) or "last" (the last M-1 below the top, `mapping.pkd_last_map`).
The student's top layer is distilled through the logits only.

b' = beta / ((M - 1) * H): `beta` is given on the scale of the authors' code, which averaged the squared
differences over layers and hidden units (`mse_loss` of the stacked unit vectors) where eq. 5 sums them, so the
paper's grid (beta in 10..1000) and its preset keep their meaning at any width and depth; at BERT-base (H 768, 5
layers) eq. 5 as printed with beta = 500 would weigh the term 3840 times more than the authors trained with.

Defaults are the authors' SST-2 preset (alpha 0.7, beta 500, T 10, PKD-skip; paper grids T {5, 10, 20}, alpha
{0.2, 0.5, 0.7}); they also used lr 1e-5, which is the loop's optimizer setting. Training data are shuffled
every epoch by the loop (the authors' code never shuffled). Soft and task terms per head kind as in `kd`
(soft CE at T with T^2; MSE for regression; start/end for QA). With `teacher_outputs` (classification,
regression) the teacher's logits and [CLS] vectors come from its cached outputs (`distill.teacher_outputs`),
looked up by each batch's example index, and the teacher is not loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from raydistill.distill import mapping
from raydistill.distill.kd import KdOptions, Logits, kd_loss, logits_of
from raydistill.distill.losses import get_loss
from raydistill.distill.methods import Backward, Batch, BuiltMethod, Method, model_inputs
from raydistill.distill.students import (
    check_common,
    check_weight,
    load_frozen_teacher,
    parse_options,
    shape_of,
)
from raydistill.distill.teacher_outputs import TeacherOutputs
from raydistill.errors import ArchError, SpecError
from raydistill.models.student import StudentShape

STRATEGIES = ("skip", "last")


@dataclass(frozen=True)
class PkdOptions:
    """The `pkd` method's options (plain values; defaults: the authors' SST-2 preset, module docstring).

    Attributes:
        teacher: HF model dir (or name) of the fine-tuned teacher.
        kind: the task's head: "classification", "regression" or "qa".
        student: HF model dir (or name) the student starts from: its config gives the shape the maps need.
        num_labels: classes of the teacher's head; None reads it from the teacher's config.
        strategy: "skip" (PKD-Skip) or "last" (PKD-Last).
        alpha: a in [0, 1], the weight of the soft term; 1 - a weighs the task loss.
        beta: b >= 0, the weight of the patient term on the authors' scale (module docstring).
        temperature: T > 0 of the soft term.
        teacher_outputs: a file of the teacher's cached outputs on the training data (logits and [CLS] states,
            `teacher_outputs.TeacherOutputs`; set by the students stage): looked up by example instead of
            running the teacher. None: the teacher runs on every batch.
    """

    teacher: str
    kind: str
    student: str
    num_labels: int | None = None
    strategy: str = "skip"
    alpha: float = 0.7
    beta: float = 500.0
    temperature: float = 10.0
    teacher_outputs: str | None = None

    def __post_init__(self) -> None:
        check_common("pkd", self.kind, self.temperature)
        if self.strategy not in STRATEGIES:
            raise SpecError(f"method 'pkd': strategy={self.strategy!r} is not one of {', '.join(STRATEGIES)}")
        if (
            isinstance(self.alpha, bool)
            or not isinstance(self.alpha, int | float)
            or not 0 <= self.alpha <= 1
        ):
            raise SpecError(f"method 'pkd': alpha={self.alpha!r}; give a number in [0, 1] (1: no task loss)")
        check_weight("pkd", "beta", self.beta)
        if self.teacher_outputs is not None and self.kind == "qa":
            raise SpecError("method 'pkd': teacher_outputs hold classification logits; QA recomputes the teacher")

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> PkdOptions:
        """Validate plain options (`SpecError` naming the key or value)."""
        return parse_options(cls, "pkd", options, ("teacher", "kind", "student"))

    @property
    def uses_gold_labels(self) -> bool:
        """Whether the loss has the task term (1 - alpha) L_CE(y) (flagged on augmented copies)."""
        return self.alpha < 1

    def layer_map(self, student: StudentShape, teacher: StudentShape) -> list[int]:
        """Teacher `hidden_states` indices for the student's layers 1..M-1 (`check_shapes` first)."""
        fn = mapping.pkd_skip_map if self.strategy == "skip" else mapping.pkd_last_map
        return fn(teacher.layers, student.layers)

    def check_shapes(self, student: StudentShape, teacher: StudentShape) -> None:
        """The patient term needs intermediate layers, a map that fits and [CLS] vectors of one width.

        Raises:
            SpecError: naming the student's `layers` or `hidden`.
        """
        if self.beta == 0:
            return
        if student.layers < 2:
            raise SpecError(
                f"method 'pkd': student layers={student.layers} has no intermediate layer for the patient term "
                "(PKD distils layers 1..M-1; the top layer learns through the logits); use layers >= 2, or "
                "beta 0 (plain KD)"
            )
        try:
            self.layer_map(student, teacher)
        except ArchError as err:
            raise SpecError(f"method 'pkd' (strategy {self.strategy}): student layers: {err}") from None
        if student.hidden != teacher.hidden:
            raise SpecError(
                f"method 'pkd': student hidden={student.hidden} differs from the teacher's {teacher.hidden}; the "
                f"patient term compares [CLS] vectors of one width: set hidden {teacher.hidden}, or beta 0"
            )

    def kd_options(self) -> KdOptions:
        """The soft and task terms' options (`kd.kd_loss`)."""
        return KdOptions(self.teacher, self.kind, self.num_labels, self.temperature, self.alpha)


def cls_vectors(hidden_states: tuple[Tensor, ...], indices: list[int]) -> list[Tensor]:
    """The (B, H) [CLS] vector of each `hidden_states[i]` (each (B, L, H))."""
    return [hidden_states[i][:, 0] for i in indices]


class PkdStep:
    """The `pkd` step function (module docstring); holds the frozen teacher and the layer map."""

    def __init__(
        self,
        opts: PkdOptions,
        teacher: nn.Module | None,
        student: StudentShape,
        teacher_shape: StudentShape,
        cached: TeacherOutputs | None = None,
    ):
        self.opts, self.teacher, self.cached = opts, teacher, cached
        self.kd = opts.kd_options()
        self.student_layers = list(range(1, student.layers))  # student hidden_states indices 1..M-1
        self.teacher_layers = opts.layer_map(student, teacher_shape) if opts.beta > 0 else []
        self.patient_weight = (
            opts.beta / (len(self.student_layers) * student.hidden) if opts.beta > 0 else 0.0
        )

    def __call__(self, model: nn.Module, batch: Batch, step: int, backward: Backward) -> dict[str, Any]:
        """One forward of each model, one backward (`is_last=True`); logs the total and its terms (detached)."""
        del step  # the loss does not depend on the step
        inputs = model_inputs(batch)
        hidden = self.opts.beta > 0
        student = model(**inputs, output_hidden_states=hidden)
        teacher_logits, teacher_cls = self._teacher(batch, hidden)
        parts = kd_loss(logits_of(student), teacher_logits, batch, self.kd)
        if hidden:
            parts["patient"] = get_loss("patient_loss")(
                cls_vectors(student.hidden_states, self.student_layers), teacher_cls
            )
            parts["loss"] = parts["loss"] + self.patient_weight * parts["patient"]
        backward(parts["loss"], True)
        return {k: v.detach() for k, v in parts.items()}

    def _teacher(self, batch: Batch, hidden: bool) -> tuple[Logits, list[Tensor]]:
        """The teacher's (B, C) logits and the (B, H) [CLS] vectors of its mapped layers (none without the
        patient term): looked up in the cached outputs, or from a forward."""
        layers = self.teacher_layers if hidden else []
        if self.cached is not None:
            return self.cached.logits_of(batch), self.cached.cls_of(batch, layers) if layers else []
        assert self.teacher is not None
        with torch.no_grad():
            out = self.teacher(**model_inputs(batch), output_hidden_states=hidden)
        return logits_of(out), cls_vectors(out.hidden_states, layers)


def make_pkd(options: Mapping[str, Any], device: torch.device) -> BuiltMethod:
    """Build the `pkd` method: validate the options against both shapes, load the frozen teacher."""
    opts = PkdOptions.from_options(options)
    student, teacher_shape = shape_of(opts.student), shape_of(opts.teacher)
    opts.check_shapes(student, teacher_shape)
    if opts.teacher_outputs is not None:
        cached = TeacherOutputs.load(opts.teacher_outputs)
        return BuiltMethod(PkdStep(opts, None, student, teacher_shape, cached))
    teacher = load_frozen_teacher(opts.teacher, opts.kind, opts.num_labels, device)
    return BuiltMethod(PkdStep(opts, teacher, student, teacher_shape))


METHOD = Method("pkd", build=make_pkd, evaluation="task")
OPTIONS = PkdOptions  # what a `students:` entry's options are checked against (`spec.student_rules`)
