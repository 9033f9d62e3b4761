"""The `students:` section of a spec: one distilled student per entry (stage `students`).

Split from `spec/schema.py` (which re-exports these classes); the same frozen pydantic models, `extra="forbid"`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from raydistill.spec.schema_base import NAME_RE, Frozen, OptimSpec, check_seed


class StudentShapeSpec(Frozen):
    """A student built from a shape; a width left out is the teacher's (read from its config at run time)."""

    layers: int = Field(gt=0, description="transformer layers M")
    hidden: int | None = Field(None, gt=0, description="hidden size (default: the teacher's)")
    heads: int | None = Field(None, gt=0, description="attention heads per layer (default: the teacher's)")
    ffn: int | None = Field(None, gt=0, description="FFN (intermediate) size (default: the teacher's)")


class GeneralDistillSpec(Frozen):
    """TinyBERT general distillation, a tinybert student's first run: intermediate-layer distillation from the
    teacher's encoder on a plain-text corpus (no labels); the task stages start from its result."""

    corpus: str = Field(description="plain-text file: one sentence or paragraph a line")
    train: OptimSpec = Field(description="its optimiser; max_steps is required (a corpus has no natural epoch)")
    max_seq_length: int | None = Field(None, ge=8, description="token cap per line (default data.max_seq_length)")


class StudentSpec(Frozen):
    """One distilled student (stage `students`): a model of its own shape trained from the teacher.

    `options` are the method's own (its option class validates them; the papers' defaults apply when left out):
    kd `temperature` [1], `alpha` [1]; pkd `strategy` [skip], `alpha` [0.7], `beta` [500], `temperature` [10];
    tinybert `temperature` [1], `embedding_weight`, `hidden_weight`, `attention_weight` [1 each]; finetune none.
    A tinybert entry runs both task-distillation stages in order: intermediate with `train`, then prediction
    with `prediction_train` (default: `train`), after general distillation on a corpus when `general` is given.
    `train_data: augmented` trains every task run on the augment stage's examples (which then must be on).
    """

    name: str = Field(description="the student's name (letters, digits, '_', '-', '.'), unique in the spec")
    method: str = Field("kd", description="kd | pkd | tinybert | finetune (a method of the registry)")
    shape: StudentShapeSpec | None = Field(None, description="build the student from a shape ...")
    checkpoint: str | None = Field(None, description="... or start from an existing HF model dir or hub name")
    init: Literal["first", "every_kth"] | None = Field(
        None, description="shape students: copy the teacher's first / every k-th layers (PKD); none: random"
    )
    train: OptimSpec = OptimSpec()
    prediction_train: OptimSpec | None = Field(
        None, description="tinybert: the prediction stage's optimiser (default: train)"
    )
    options: dict[str, Any] = Field(default_factory=dict, description="the method's options (see above)")
    seed: int | None = Field(
        None, description="seeds its initialisation, dropout and data order (default: the spec's seed; the search "
        "split is always carved with the spec's seed)"
    )

    _seed = field_validator("seed", mode="before")(check_seed)
    train_data: Literal["task", "augmented"] = Field(
        "task", description="augmented: train on the augment stage's examples (originals and copies)"
    )
    general: GeneralDistillSpec | None = Field(None, description="tinybert: general distillation first")

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if not NAME_RE.fullmatch(v):
            raise ValueError(
                f"{v!r} is not a safe name; use letters, digits, '_', '-', '.' (max 64), starting with a letter"
            )
        return v

    @model_validator(mode="after")
    def _one_source(self) -> StudentSpec:
        if (self.shape is None) == (self.checkpoint is None):
            raise ValueError(
                "give exactly one of shape (layers, hidden, heads, ffn) or checkpoint (an HF model dir or name)"
            )
        if self.checkpoint is not None and self.init is not None:
            raise ValueError(
                f"init {self.init!r} copies teacher layers into a student built from a shape; a checkpoint "
                "starts from its own weights: drop init, or give a shape instead of the checkpoint"
            )
        if self.prediction_train is not None and self.method != "tinybert":
            raise ValueError(
                f"prediction_train is the second stage of tinybert; method {self.method!r} trains once with "
                "train: drop prediction_train"
            )
        return self
