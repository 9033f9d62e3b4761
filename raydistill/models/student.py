"""Student models for distillation: a smaller BERT of a given shape, or an existing checkpoint (no Ray).

A student is a plain `transformers` model (`BertForSequenceClassification` for classification and regression,
`BertForQuestionAnswering` for QA), so it trains in the ordinary loop, exports and loads with plain transformers.
It shares the teacher's tokenizer: vocabulary size, position embeddings and token types come from the teacher's
config, and the teacher's tokenizer is saved beside it (`save_student`).

Initialisation from the teacher (`init`; only when the widths match, since whole matrices are copied):
- "first": student layer j <- teacher layer j (0-based), the lower layers (Patient-KD sec. 4.1 initialises its
  students from the first k layers of BERT-base);
- "every_kth": student layer j <- teacher layer (j + 1) * k - 1 with k = N / M, the top layer of each block of k
  (the layers PKD-skip distils from: `distill.mapping.pkd_skip_map`, whose 1-based index j * k is this layer).
Both copy the embeddings, the pooler and the task head as well; `init=None` leaves the student randomly
initialised (seeded). A checkpoint student is loaded as it is (a new task head when it has none that fits).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raydistill.errors import ModelError, SpecError

if TYPE_CHECKING:
    from transformers import BertConfig, PreTrainedModel

    from raydistill.models.loading import TaskKind

INITS = ("first", "every_kth")
# What a student takes over from the teacher's config: the tokenizer's ranges and the layer recipe.
_COPIED = (
    "vocab_size",
    "max_position_embeddings",
    "type_vocab_size",
    "pad_token_id",
    "hidden_act",
    "layer_norm_eps",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "initializer_range",
    "classifier_dropout",
)


@dataclass(frozen=True)
class StudentShape:
    """The shape of a BERT student.

    Attributes:
        layers: transformer layers (M).
        hidden: hidden size d; a multiple of `heads`.
        heads: attention heads per layer.
        ffn: FFN (intermediate) size per layer.
    """

    layers: int
    hidden: int
    heads: int
    ffn: int

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SpecError(f"student {f.name}={value!r}; give a positive integer")
        if self.hidden % self.heads:
            raise SpecError(
                f"student hidden={self.hidden} is not a multiple of heads={self.heads}; each head gets "
                f"hidden / heads dimensions: pick heads dividing {self.hidden} or another hidden size"
            )

    @classmethod
    def of_config(cls, config: Any) -> StudentShape:
        """The shape of a BERT config (a teacher's, or a student's)."""
        return cls(
            int(config.num_hidden_layers),
            int(config.hidden_size),
            int(config.num_attention_heads),
            int(config.intermediate_size),
        )


def init_layers(init: str, n_teacher: int, n_student: int) -> list[int]:
    """The 0-based teacher layers copied into student layers 0..n_student-1 (module docstring).

    Example:
        >>> init_layers("first", 6, 2), init_layers("every_kth", 6, 2)
        ([0, 1], [2, 5])

    Raises:
        SpecError: an unknown `init`, more student layers than the teacher has, or (every_kth) a teacher layer
            count that is not a multiple of the student's.
    """
    if init not in INITS:
        raise SpecError(f"student init={init!r} is not one of {', '.join(INITS)} (or none: random init)")
    if not 1 <= n_student <= n_teacher:
        raise SpecError(
            f"student layers={n_student}: initialising from the teacher needs 1 <= layers <= {n_teacher} "
            "(the teacher's layer count)"
        )
    if init == "first":
        return list(range(n_student))
    if n_teacher % n_student:
        divisors = [d for d in range(1, n_teacher + 1) if n_teacher % d == 0]
        raise SpecError(
            f"student layers={n_student} with init 'every_kth' needs the teacher's {n_teacher} layers to be a "
            f"multiple of it; use layers in {divisors} or init 'first'"
        )
    k = n_teacher // n_student
    return [(j + 1) * k - 1 for j in range(n_student)]


def check_init_widths(shape: StudentShape, teacher: StudentShape) -> None:
    """Copying teacher layers needs the same widths; the first field that differs is named.

    Raises:
        SpecError: hidden, heads or ffn differ from the teacher's.
    """
    for name in ("hidden", "heads", "ffn"):
        mine, theirs = getattr(shape, name), getattr(teacher, name)
        if mine != theirs:
            raise SpecError(
                f"student {name}={mine} differs from the teacher's {theirs}; initialising from teacher layers "
                f"copies whole weight matrices, which needs equal widths: set {name}: {theirs}, or drop init "
                "(random initialisation)"
            )


def student_config(teacher_config: Any, shape: StudentShape, kind: TaskKind, num_labels: int) -> BertConfig:
    """A `BertConfig` of `shape` with the teacher's vocabulary, positions, token types and layer recipe."""
    from transformers import BertConfig

    copied = {k: getattr(teacher_config, k) for k in _COPIED if hasattr(teacher_config, k)}
    head: dict[str, Any] = {}
    if kind == "regression":
        head = {"num_labels": 1, "problem_type": "regression"}
    elif kind == "classification":
        head = {"num_labels": num_labels, "problem_type": "single_label_classification"}
        if int(getattr(teacher_config, "num_labels", 0)) == num_labels:
            head["id2label"] = dict(teacher_config.id2label)
            head["label2id"] = dict(teacher_config.label2id)
    return BertConfig(
        **copied,
        **head,
        num_hidden_layers=shape.layers,
        hidden_size=shape.hidden,
        num_attention_heads=shape.heads,
        intermediate_size=shape.ffn,
    )


def _task_class(kind: TaskKind) -> Any:
    from transformers import BertForQuestionAnswering, BertForSequenceClassification

    return BertForQuestionAnswering if kind == "qa" else BertForSequenceClassification


def copy_from_teacher(student: Any, teacher: Any, layers: list[int]) -> None:
    """Copy the embeddings, `layers` (teacher ids, one per student layer), the pooler and the task head.

    Raises:
        ModelError: the two models are not the same task class, or a tensor's shape differs.
    """
    if type(student) is not type(teacher):
        raise ModelError(
            f"cannot initialise a {type(student).__name__} student from a {type(teacher).__name__} teacher; "
            "load the teacher with the task's head (plain transformers BERT classes)"
        )
    pairs = [(student.bert.embeddings, teacher.bert.embeddings)]
    pairs += [(student.bert.encoder.layer[j], teacher.bert.encoder.layer[t]) for j, t in enumerate(layers)]
    if student.bert.pooler is not None and teacher.bert.pooler is not None:
        pairs.append((student.bert.pooler, teacher.bert.pooler))
    head = "qa_outputs" if hasattr(student, "qa_outputs") else "classifier"
    pairs.append((getattr(student, head), getattr(teacher, head)))
    for dst, src in pairs:
        try:
            dst.load_state_dict(src.state_dict())
        except RuntimeError as exc:
            raise ModelError(
                f"initialising the student from the teacher: {str(exc).splitlines()[0]}"
            ) from None


def build_student(
    teacher: str,
    kind: TaskKind,
    num_labels: int,
    *,
    shape: StudentShape | None = None,
    checkpoint: str | None = None,
    init: str | None = None,
    seed: int = 0,
) -> PreTrainedModel:
    """Build a student for `teacher` (a model name, see `models.loading.resolve_model_name`).

    Args:
        teacher: the teacher's model name or dir (its config gives vocabulary, positions, token types).
        kind: "classification", "regression" or "qa" (the task head).
        num_labels: classes (classification).
        shape: the student's shape (exclusive with `checkpoint`).
        checkpoint: an existing HF model dir or name to start from (exclusive with `shape` and `init`).
        init: None (random, seeded by `seed`), "first" or "every_kth" (module docstring).
        seed: torch seed of the random initialisation.

    Raises:
        SpecError: neither or both of shape/checkpoint, init with a checkpoint, an init the shapes do not allow.
        ModelError: a model cannot be loaded, or the checkpoint's vocabulary is not the teacher's.
    """
    import torch

    from raydistill.models.loading import load_task_model

    if (shape is None) == (checkpoint is None):
        raise SpecError("a student needs exactly one of a shape (layers, hidden, heads, ffn) or a checkpoint")
    teacher_model = load_task_model(teacher, kind, num_labels)
    if checkpoint is not None:
        if init is not None:
            raise SpecError(
                f"student init={init!r} applies to a student built from a shape; a checkpoint student "
                "starts from its own weights: drop init or give a shape instead of the checkpoint"
            )
        return _checkpoint_student(checkpoint, teacher_model.config, kind, num_labels)
    assert shape is not None
    teacher_shape = StudentShape.of_config(teacher_model.config)
    layers = init_layers(init, teacher_shape.layers, shape.layers) if init is not None else []
    if init is not None:
        check_init_widths(shape, teacher_shape)
    torch.manual_seed(seed)
    student = _task_class(kind)(student_config(teacher_model.config, shape, kind, num_labels))
    if init is not None:
        copy_from_teacher(student, teacher_model, layers)
    return student


def _checkpoint_student(checkpoint: str, teacher_config: Any, kind: TaskKind, num_labels: int) -> Any:
    """An existing model as the student; it must share the teacher's vocabulary (one tokenizer for both)."""
    from raydistill.models.loading import load_task_model

    student = load_task_model(checkpoint, kind, num_labels)
    if int(student.config.vocab_size) != int(teacher_config.vocab_size):
        raise ModelError(
            f"student checkpoint {checkpoint!r} has a vocabulary of {student.config.vocab_size} tokens and the "
            f"teacher {teacher_config.vocab_size}; student and teacher read the same token ids: pick a checkpoint "
            "with the teacher's tokenizer, or build the student from a shape"
        )
    return student


def save_student(student: Any, teacher: str, out_dir: Path) -> Path:
    """Save `student` with the teacher's tokenizer as a plain HF model dir; returns `out_dir`."""
    from raydistill.models.loading import load_tokenizer

    out_dir.mkdir(parents=True, exist_ok=True)
    student.save_pretrained(out_dir)
    load_tokenizer(teacher).save_pretrained(out_dir)
    return out_dir
