"""Method `tinybert`: TinyBERT task-specific distillation, in its two stages (Jiao et al. 2020, sec. 3.1-3.2).

The `stage` option picks the stage; a student runs "intermediate" first, then "prediction" from its result.

- "intermediate" (TinyBERT eq. 7-9, 11): layer-to-layer distillation with the uniform map k = N / M
  (`mapping.tinybert_hidden_map`, `mapping.tinybert_attention_map`):

      L = w_e MSE(E_s W, E_t) + w_h sum_m MSE(H_s^m W, H_t^{g(m)}) + w_a sum_m MSE(A_s^m, A_t^{g'(m)})

  E = embedding output, H = layer outputs, A = pre-softmax attention scores with every pair whose query or key is
  padding zeroed (`losses.attention_mse`; scores from `attention_scores.record_scores`). W is a learned
  projection (H_s -> H_t), one shared by the embeddings and every layer as in TinyBERT v1 (v2 has one per layer),
  present only when the widths differ: a module of the method's own, so the loop trains, checkpoints and
  restores it on resume. The attention term needs equal head counts. The logits are not distilled in this
  stage; 0 x the head's outputs joins the loss so that the head's parameters get a (zero) gradient under DDP
  (they still see the optimizer's weight decay). The hidden-state MSE runs over every position, padding included,
  as the reference does.
- "prediction" (TinyBERT eq. 10): softCE(z_s / T, z_t / T) with T = 1 (the paper's), summed over classes, no T^2;
  MSE to the teacher for regression; the mean of start/end soft CEs for QA (`losses.logit_distill`). No gold
  labels: augmented examples learn from the teacher alone.

The paper's optimisation (intermediate: 20 epochs at 5e-5, constant; prediction: 3 epochs at 1e-5..3e-5, batch
32) belongs to the loop's optimizer settings, not to these options.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from raydistill.distill import mapping
from raydistill.distill.attention_scores import record_scores
from raydistill.distill.kd import logits_of
from raydistill.distill.losses import get_loss
from raydistill.distill.methods import Backward, Batch, BuiltMethod, Method, model_inputs
from raydistill.distill.students import (
    check_common,
    check_weight,
    head_outputs_sum,
    load_frozen_teacher,
    parse_options,
    shape_of,
)
from raydistill.errors import ArchError, SpecError
from raydistill.models.student import StudentShape

STAGES = ("intermediate", "prediction")
PROJECTION = "projection"  # the key of W in the method's modules (and in its checkpoint file)


@dataclass(frozen=True)
class TinyBertOptions:
    """The `tinybert` method's options (plain values; defaults: the paper's).

    Attributes:
        teacher: HF model dir (or name) of the fine-tuned teacher.
        kind: the task's head: "classification", "regression" or "qa".
        student: HF model dir (or name) the student starts from: its config gives the shape the maps and the
            projection need.
        num_labels: classes of the teacher's head; None reads it from the teacher's config.
        stage: "intermediate" or "prediction" (module docstring).
        temperature: T > 0 of the prediction stage (the paper: 1).
        embedding_weight, hidden_weight, attention_weight: >= 0 weights of the intermediate terms (the paper
            sums them: 1 each); 0 switches a term off.
    """

    teacher: str
    kind: str
    student: str
    num_labels: int | None = None
    stage: str = "intermediate"
    temperature: float = 1.0
    embedding_weight: float = 1.0
    hidden_weight: float = 1.0
    attention_weight: float = 1.0

    def __post_init__(self) -> None:
        check_common("tinybert", self.kind, self.temperature)
        if self.stage not in STAGES:
            raise SpecError(f"method 'tinybert': stage={self.stage!r} is not one of {', '.join(STAGES)}")
        for name in ("embedding_weight", "hidden_weight", "attention_weight"):
            check_weight("tinybert", name, getattr(self, name))
        if self.stage == "intermediate" and not self.uses_hidden and self.attention_weight == 0:
            raise SpecError(
                "method 'tinybert': stage 'intermediate' with embedding_weight, hidden_weight and "
                "attention_weight all 0 has nothing to distil; give one of them a weight > 0"
            )

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> TinyBertOptions:
        """Validate plain options (`SpecError` naming the key or value)."""
        return parse_options(cls, "tinybert", options, ("teacher", "kind", "student"))

    @property
    def uses_gold_labels(self) -> bool:
        """Never: both stages learn from the teacher alone (augmented copies need no labels)."""
        return False

    @property
    def uses_hidden(self) -> bool:
        """Whether the intermediate stage distils embeddings or hidden states (the terms W projects)."""
        return self.embedding_weight > 0 or self.hidden_weight > 0

    def check_shapes(self, student: StudentShape, teacher: StudentShape) -> None:
        """The intermediate stage needs a uniform layer map and, for the attention term, equal head counts.

        Raises:
            SpecError: naming the student's `layers` or `heads`.
        """
        if self.stage != "intermediate":
            return
        try:
            mapping.tinybert_hidden_map(teacher.layers, student.layers)
        except ArchError as err:
            raise SpecError(f"method 'tinybert': student layers: {err}") from None
        if self.attention_weight > 0 and student.heads != teacher.heads:
            raise SpecError(
                f"method 'tinybert': student heads={student.heads} differs from the teacher's {teacher.heads}; "
                f"the attention loss compares the scores head by head and has no projection: set heads "
                f"{teacher.heads}, or attention_weight 0"
            )

    def projection(self, student: StudentShape, teacher: StudentShape) -> nn.ModuleDict | None:
        """The method's own modules: W (H_s -> H_t) when the intermediate stage needs one, else None."""
        if self.stage != "intermediate" or not self.uses_hidden or student.hidden == teacher.hidden:
            return None
        return nn.ModuleDict({PROJECTION: nn.Linear(student.hidden, teacher.hidden)})


def _forward(model: nn.Module, inputs: Batch, scores: bool) -> tuple[Any, list[Tensor]]:
    """The model's output with hidden states, and its per-layer attention scores when asked (else [])."""
    if not scores:
        return model(**inputs, output_hidden_states=True), []
    with record_scores(model) as recorder:
        output = model(**inputs, output_hidden_states=True)
    return output, recorder.scores()


class TinyBertStep:
    """The `tinybert` step function of one stage (module docstring); holds the teacher, maps and W."""

    def __init__(
        self,
        opts: TinyBertOptions,
        teacher: nn.Module,
        student: StudentShape,
        teacher_shape: StudentShape,
        modules: nn.ModuleDict | None,
    ) -> None:
        self.opts, self.teacher, self.modules = opts, teacher, modules
        if opts.stage == "intermediate":
            self.hidden_map = mapping.tinybert_hidden_map(teacher_shape.layers, student.layers)
            self.attention_map = mapping.tinybert_attention_map(teacher_shape.layers, student.layers)

    def __call__(self, model: nn.Module, batch: Batch, step: int, backward: Backward) -> dict[str, Any]:
        """One forward of each model, one backward (`is_last=True`); logs the total and its terms (detached)."""
        del step  # the loss does not depend on the step
        parts = (
            self.intermediate(model, batch)
            if self.opts.stage == "intermediate"
            else self.prediction(model, batch)
        )
        backward(parts["loss"], True)
        return {k: v.detach() for k, v in parts.items()}

    def prediction(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        """TinyBERT eq. 10 (module docstring)."""
        inputs = model_inputs(batch)
        student = logits_of(model(**inputs))
        with torch.no_grad():
            teacher = logits_of(self.teacher(**inputs))
        loss = get_loss("logit_distill")(student, teacher, self.opts.kind, self.opts.temperature)
        return {"loss": loss, "prediction": loss}

    def intermediate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        """TinyBERT eq. 7-9, 11 (module docstring)."""
        opts, inputs = self.opts, model_inputs(batch)
        attention = opts.attention_weight > 0
        student, s_scores = _forward(model, inputs, attention)
        with torch.no_grad():
            teacher, t_scores = _forward(self.teacher, inputs, attention)
        s_hidden, t_hidden = student.hidden_states, teacher.hidden_states  # (M + 1), (N + 1) x (B, L, H)
        projection = self.modules[PROJECTION] if self.modules is not None else None
        terms: dict[str, tuple[float, Tensor]] = {}
        if opts.embedding_weight > 0:
            emb = get_loss("embedding_mse")(s_hidden[0], t_hidden[0], projection)
            terms["embedding"] = (opts.embedding_weight, emb)
        if opts.hidden_weight > 0:
            hid = get_loss("hidden_mse")(s_hidden[1:], t_hidden, self.hidden_map[1:], projection)
            terms["hidden"] = (opts.hidden_weight, hid)
        if attention:
            mask = inputs.get("attention_mask")
            att = [
                get_loss("attention_mse")(s_scores[m], t_scores[t], mask)
                for m, t in enumerate(self.attention_map)
            ]
            terms["attention"] = (opts.attention_weight, torch.stack(att).sum())
        loss = torch.stack([w * v for w, v in terms.values()]).sum() + head_outputs_sum(student)
        return {"loss": loss} | {k: v for k, (_, v) in terms.items()}


def make_tinybert(options: Mapping[str, Any], device: torch.device) -> BuiltMethod:
    """Build the `tinybert` method: validate the options against both shapes, load the frozen teacher, make W."""
    opts = TinyBertOptions.from_options(options)
    student, teacher_shape = shape_of(opts.student), shape_of(opts.teacher)
    opts.check_shapes(student, teacher_shape)
    teacher = load_frozen_teacher(opts.teacher, opts.kind, opts.num_labels, device)
    modules = opts.projection(student, teacher_shape)
    if modules is not None:
        modules.to(device)
    return BuiltMethod(TinyBertStep(opts, teacher, student, teacher_shape, modules), modules)


METHOD = Method("tinybert", build=make_tinybert, evaluation="task")
OPTIONS = TinyBertOptions  # what a `students:` entry's options are checked against (`spec.student_rules`)
