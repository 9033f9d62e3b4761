"""Method `tinybert_general`: TinyBERT general distillation on a plain-text corpus (Jiao et al. 2020, sec. 3.2).

The intermediate-layer objective of `tinybert` (TinyBERT eq. 7-9, 11: embedding MSE and hidden-state MSE through
the learned projection W when the widths differ, attention MSE on pre-softmax scores with padded pairs zeroed),
run on unlabeled text: the method trains on data kind "corpus" (`training.method_io.DATA_KINDS`: the lines of a
text file, no labels) and is not scored (evaluation "none"). A tinybert student with `general:` runs it first;
its task-distillation stages then start from the result, with a fresh W of their own (the paper's General
TinyBERT is a plain model; W is not part of it). W of this run is the method's own module: trained,
checkpointed and restored on resume like the task stage's.

The teacher is the run's fine-tuned teacher, used through its encoder only (hidden states and attention scores;
its head is never read). The paper distils from the pre-trained BERT on Wikipedia; with the run's teacher the
student's starting point already leans to the task, and any text serves as the corpus.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from raydistill.distill.methods import BuiltMethod, Method
from raydistill.distill.tinybert import TinyBertOptions, make_tinybert


def make_general(options: Mapping[str, Any], device: torch.device) -> BuiltMethod:
    """Build the intermediate-layer objective of `tinybert` (module docstring) from the same options."""
    return make_tinybert({**options, "stage": "intermediate"}, device)


METHOD = Method("tinybert_general", build=make_general, evaluation="none")
OPTIONS = TinyBertOptions
