"""What the student-distillation methods (`pkd`, `tinybert`) share: option parsing, shapes, the frozen teacher.

Their options are plain frozen dataclasses whose `__post_init__` validates each value and names the field; the
checks that need both models' shapes (layer maps that must divide, equal widths or head counts) are the option
class's `check_shapes(student, teacher)`, which a spec validator can call with the shapes of a `students:` entry
and the teacher's config before anything trains, and which the method's build calls again on the real configs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from raydistill.distill.methods import check_option_keys
from raydistill.errors import SpecError
from raydistill.models.student import StudentShape

KINDS = ("classification", "regression", "qa")
_Opts = TypeVar("_Opts")


def parse_options(
    cls: type[_Opts], method: str, options: Mapping[str, Any], required: tuple[str, ...]
) -> _Opts:
    """`cls(**options)` after checking the keys; `cls.__post_init__` validates the values.

    Raises:
        SpecError: unknown or missing keys (the message lists the valid ones), or a bad value.
    """
    check_option_keys(cls, method, options, required)
    return cls(**options)


def check_common(method: str, kind: str, temperature: float) -> None:
    """The checks every student method makes: a known head kind and a positive temperature.

    Raises:
        SpecError: naming `kind` or `temperature`.
    """
    if kind not in KINDS:
        raise SpecError(f"method {method!r}: kind={kind!r} is not one of {', '.join(KINDS)}")
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not temperature > 0:
        raise SpecError(
            f"method {method!r}: temperature={temperature!r}; give a number > 0 (1 = no softening)"
        )


def check_weight(method: str, name: str, value: float) -> None:
    """A loss weight must be a number >= 0.

    Raises:
        SpecError: naming the field.
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise SpecError(f"method {method!r}: {name}={value!r}; give a number >= 0 (0 switches the term off)")


def shape_of(model: str) -> StudentShape:
    """The shape of a model (name or dir) read from its config alone."""
    from transformers import AutoConfig

    from raydistill.models.loading import resolve_model_name

    return StudentShape.of_config(AutoConfig.from_pretrained(resolve_model_name(model)))


def teacher_labels(teacher: str) -> int:
    """The number of labels of the teacher's head (its config's `num_labels`)."""
    from transformers import AutoConfig

    from raydistill.models.loading import resolve_model_name

    return int(AutoConfig.from_pretrained(resolve_model_name(teacher)).num_labels)


def load_frozen_teacher(teacher: str, kind: str, num_labels: int | None, device: torch.device) -> nn.Module:
    """The fine-tuned teacher on `device`, in eval mode, without gradients; once per worker (a method's build).

    Raises:
        ModelError: the teacher cannot be loaded or has no trained head for the task.
    """
    from raydistill.models.loading import load_task_model

    labels = num_labels if num_labels is not None else teacher_labels(teacher)
    model = load_task_model(teacher, kind, labels, require_head=True)  # type: ignore[arg-type]
    model.to(device)  # type: ignore[arg-type]  # transformers' stub types `to` oddly
    model.eval().requires_grad_(False)
    return model


def head_outputs_sum(output: Any) -> Tensor:
    """0 x the sum of every head output: added to a loss that does not use the head, so that the head's
    parameters still get a (zero) gradient in the synchronised backward, as DDP requires."""
    start = getattr(output, "start_logits", None)
    heads = (start, output.end_logits) if start is not None else (output.logits,)
    return torch.stack([h.sum() for h in heads]).sum() * 0.0
