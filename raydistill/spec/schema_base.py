"""What every section of the spec shares: the frozen model base, names, seeds and the optimiser settings."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
MAX_SEED = 2**32 - 1  # numpy and torch seeds are unsigned 32-bit


def check_seed(v: object) -> object:
    """A seed must be a whole number in [0, 2**32 - 1] (None passes: "use the default")."""
    if v is None:
        return v
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"{v!r} is not an integer; give a whole number such as 42")
    if not 0 <= v <= MAX_SEED:
        raise ValueError(f"{v} is out of range; give a whole number from 0 to 2**32 - 1, such as 42")
    return v


Fraction = Annotated[float, Field(gt=0.0, le=1.0)]


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OptimSpec(Frozen):
    """Optimiser and schedule shared by every training stage (AdamW + linear warmup/decay)."""

    epochs: float = Field(3.0, gt=0, description="passes over the training data (fractions allowed)")
    max_steps: int | None = Field(None, gt=0, description="stop after this many optimizer steps (overrides epochs)")
    batch_size: int = Field(32, gt=0, description="per-worker train batch size")
    eval_batch_size: int = Field(64, gt=0)
    learning_rate: float = Field(2e-5, gt=0, lt=1)
    weight_decay: float = Field(0.01, ge=0, lt=1)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    max_grad_norm: float = Field(1.0, gt=0)
    checkpoint_every_steps: int | None = Field(
        None, gt=0, description="also checkpoint every N optimizer steps (always at each epoch end)"
    )
    num_threads: int | None = Field(None, gt=0, description="torch threads per worker (default: cpus_per_worker)")
    group_by_length: bool = Field(
        False, description="batch examples of similar length (far less padding on short-text tasks)"
    )
