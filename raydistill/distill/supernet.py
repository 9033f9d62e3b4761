"""Method `supernet`: DynaBERT / once-for-all width-depth supernet training (no Ray).

Per batch (DynaBERT Alg. 1, OFA's sandwich rule as an option):
1. the teacher's full forward, once, without gradients (`teacher_mode="same_width"`: one forward per width of
   the step, the teacher sliced to that width at full depth);
2. the step's sub-networks: every (width, depth) pair of the grid (`sampling="all"`), or a sandwich (the
   largest, the smallest and `num_random` random other pairs), or a layerwise sandwich (`"layerwise"`, the
   once-for-all rule: the `num_random` middle sub-networks draw each kept layer's heads and FFN width
   independently, `models.arch.sample_layerwise`, so the mixed-width sub-networks the `layerwise` search
   proposes are trained too), drawn from a `random.Random` seeded by (seed, global step) so that every rank
   trains the same sub-networks without talking to the others;
3. for each sub-network, the DynaBERT loss (eq. 2/3, see `subnet_loss`) and its backward; gradients are summed
   over sub-networks (no mean, as in DynaBERT), the loop then clips (1.0) and takes one optimizer step.

Every pass but the last runs (forward and backward) inside `backward.no_sync()`; the last pass is the full Arch
(width 1, depth 1), so the one all-reduce of the step sums every sub-network's gradient and DDP sees a gradient
for every parameter (depth-reduced passes leave whole layers without one). The model is the DDP-wrapped
`ElasticBert` (registered with `subnetworks=True`), so each sub-network forward goes through DDP.

The teacher is loaded from `options["teacher"]`. The stage builder passes the reordered initial model there:
it computes the same function as the fine-tuned teacher at full width, and its width slices hold the most
important heads/neurons, which is what `same_width` must slice.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from raydistill.distill.losses import get_loss
from raydistill.distill.methods import (
    Backward,
    Batch,
    BuiltMethod,
    Method,
    check_option_keys,
    model_inputs,
    unwrap,
)
from raydistill.errors import SpecError
from raydistill.models.arch import Arch, sample_layerwise, teacher_hidden_map
from raydistill.models.bert import ElasticBert, ElasticOutput, elastic_forward, task_loss, unwrap_model

Pair = tuple[float, float]  # (width multiplier, depth multiplier)
_KINDS = ("classification", "regression", "qa")
SAMPLINGS = ("all", "sandwich", "layerwise")


@dataclass(frozen=True)
class SupernetOptions:
    """The `supernet` method's options (plain values; the stage builder fills them from `SupernetSpec`).

    Attributes:
        teacher: HF model dir of the teacher (see the module docstring).
        kind, num_labels: the task's head ("classification", "regression", "qa") and label count.
        widths, depths: the grid's multipliers; both must contain 1.0 (the full Arch is the last pass).
        sampling: "all" pairs per batch, "sandwich" (largest + smallest + `num_random` random pairs), or
            "layerwise" (largest + smallest + `num_random` random per-layer-width sub-networks).
        teacher_mode: "full" teacher outputs, or "same_width" (teacher sliced to the sub-network's width).
        temperature: T of the soft cross-entropy.
        logits_weight, hidden_weight, embedding_weight, attention_weight, task_weight: loss weights.
        seed: with the global step, seeds the sandwich sampler.
    """

    teacher: str
    kind: str
    num_labels: int
    widths: tuple[float, ...] = (1.0, 0.75, 0.5, 0.25)
    depths: tuple[float, ...] = (1.0, 0.75, 0.5)
    sampling: str = "all"
    num_random: int = 2
    teacher_mode: str = "full"
    temperature: float = 1.0
    logits_weight: float = 1.0
    hidden_weight: float = 1.0
    embedding_weight: float = 0.0
    attention_weight: float = 0.0
    task_weight: float = 0.0
    seed: int = 42

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> SupernetOptions:
        """Validate plain options; every problem raises `SpecError` naming the value and what is allowed."""
        check_option_keys(cls, "supernet", options, ("teacher", "kind", "num_labels"))
        values = dict(options)
        for name in ("widths", "depths"):  # lists from JSON-able configs -> tuples (hashable, frozen)
            values[name] = tuple(values.get(name, getattr(cls, name)))
        opts = cls(**values)
        for name in ("widths", "depths"):
            given = getattr(opts, name)
            if 1.0 not in given or not all(0 < v <= 1 for v in given):
                raise SpecError(f"supernet.{name}={list(given)}: give fractions in (0, 1] that include 1.0")
        choices = {"kind": _KINDS, "sampling": SAMPLINGS, "teacher_mode": ("full", "same_width")}
        for name, allowed in choices.items():
            if getattr(opts, name) not in allowed:
                raise SpecError(f"supernet.{name}={getattr(opts, name)!r} is not one of {', '.join(allowed)}")
        if opts.sampling == "layerwise" and opts.teacher_mode == "same_width":
            raise SpecError(
                "supernet.teacher_mode=same_width needs one width per sub-network, but sampling=layerwise mixes "
                "widths across layers; use teacher_mode: full, or sampling: all / sandwich"
            )
        return opts


def sample_pairs(
    widths: Sequence[float], depths: Sequence[float], sampling: str, num_random: int, seed: int, step: int
) -> list[Pair]:
    """The (width, depth) sub-networks of one step, the largest (full) one LAST, the smallest first.

    "all": every pair, ascending. "sandwich" (OFA / BigNAS sandwich rule): smallest, `num_random` distinct
    other pairs drawn without replacement, largest. The draw uses `random.Random` seeded by (seed, step), never
    the global RNG: every rank gets the same list, and resuming at a step replays the same sub-networks.
    """
    grid = sorted((w, d) for w in set(widths) for d in set(depths))  # ascending; (max, max) last
    smallest, largest = grid[0], grid[-1]
    if sampling == "all":
        return grid
    others = [p for p in grid if p not in (smallest, largest)]
    rng = random.Random(f"supernet:{seed}:{step}")
    picks = sorted(rng.sample(others, min(num_random, len(others))))
    return list(dict.fromkeys([smallest, *picks, largest]))  # a 1-point grid: one pass


def sample_archs(config: Any, opts: SupernetOptions, step: int) -> list[tuple[Arch, float]]:
    """The step's sub-networks with the teacher width each distils from, the full Arch LAST.

    "all" / "sandwich": the `sample_pairs` grid points. "layerwise": the smallest grid point, `num_random`
    `sample_layerwise` draws from `random.Random` seeded by (seed, step), then the full Arch. The teacher width is
    the sub-network's width under `teacher_mode="same_width"`, else 1.0 (the full teacher).
    """

    def teacher_width(width: float) -> float:
        return width if opts.teacher_mode == "same_width" else 1.0

    if opts.sampling != "layerwise":
        pairs = sample_pairs(opts.widths, opts.depths, opts.sampling, opts.num_random, opts.seed, step)
        return [(Arch.for_config(config, width=w, depth=d), teacher_width(w)) for w, d in pairs]
    rng = random.Random(f"supernet:{opts.seed}:{step}")
    dims = (config.num_hidden_layers, config.num_attention_heads, config.intermediate_size)
    smallest = Arch.for_config(config, width=min(opts.widths), depth=min(opts.depths))
    middle = [sample_layerwise(rng, opts.widths, opts.depths, *dims) for _ in range(opts.num_random)]
    return [(arch, 1.0) for arch in (smallest, *middle, Arch.for_config(config))]


def subnet_loss(
    model: nn.Module,
    arch: Arch,
    student: ElasticOutput,
    teacher: ElasticOutput,
    batch: Batch,
    opts: SupernetOptions,
) -> Tensor:
    """DynaBERT loss of one sub-network (DynaBERT eq. 2/3, OFA-BERT with hidden_weight 0.1):

        L = w_logits softCE(z_s, z_t; T) + w_hidden sum_l MSE(h_s_l, h_t_map(l)) + w_emb MSE(e_s, e_t)
            + w_att sum_l MSE(A_s_l, A_t_map(l)[:h_l]) + w_task L_task(y)

    `map(l)` is the teacher layer that kept layer l came from (`teacher_hidden_map`), so depth-reduced
    sub-networks need no projection (the hidden size never changes). Attention scores (TinyBERT eq. 7, padding
    excluded) compare the h_l kept heads with the teacher's first h_l heads: after reordering these are the
    same heads. Same value as `losses.dynabert_loss` on the shared terms, without its per-term `.item()` syncs.
    """
    total = student.last_hidden_state.new_zeros(())
    if opts.logits_weight > 0:
        total = total + opts.logits_weight * get_loss("logit_distill")(
            student.logits, teacher.logits, opts.kind, opts.temperature
        )
    if opts.hidden_weight > 0:
        assert student.hidden_states is not None and teacher.hidden_states is not None
        layer_map = teacher_hidden_map(arch)[1:]  # one teacher hidden_states index per kept layer
        total = total + opts.hidden_weight * get_loss("hidden_mse")(
            student.hidden_states[1:], teacher.hidden_states, layer_map
        )
    if opts.embedding_weight > 0:
        total = total + opts.embedding_weight * get_loss("embedding_mse")(
            student.embeddings, teacher.embeddings
        )
    if opts.attention_weight > 0:
        assert student.attention_scores is not None and teacher.attention_scores is not None
        mask = batch.get("attention_mask")
        att = [
            get_loss("attention_mse")(
                s, teacher.attention_scores[layer][:, : s.size(1)], mask
            )  # (B, h_l, L, L)
            for s, layer in zip(student.attention_scores, arch.layers, strict=True)
        ]
        total = total + opts.attention_weight * torch.stack(att).sum()
    if opts.task_weight > 0:
        total = total + opts.task_weight * task_loss(model, student, batch)
    return total


class SupernetStep:
    """The `supernet` step function (see the module docstring); holds the frozen teacher."""

    def __init__(self, opts: SupernetOptions, teacher: nn.Module) -> None:
        self.opts = opts
        self.teacher = teacher
        self.need_hidden = opts.hidden_weight > 0
        self.need_scores = opts.attention_weight > 0

    @torch.no_grad()
    def teacher_output(self, inputs: Batch, width: float) -> ElasticOutput:
        """The teacher at `width` (1.0 = the full teacher), full depth, in eval mode."""
        arch = Arch.for_config(self.teacher.config, width=width)
        return elastic_forward(
            self.teacher, arch, inputs["input_ids"], inputs.get("attention_mask"), inputs.get("token_type_ids"),
            output_hidden_states=self.need_hidden, output_attention_scores=self.need_scores,
        )  # fmt: skip

    def forward(self, model: nn.Module, arch: Arch, inputs: Batch) -> ElasticOutput:
        """The sub-network's forward through the (DDP-wrapped) `ElasticBert`, so DDP sees it."""
        if not isinstance(unwrap(model), ElasticBert):
            raise TypeError(
                f"method 'supernet' needs the model wrapped in ElasticBert (got {type(unwrap(model)).__name__});"
                " the training loop does this for methods registered with subnetworks=True"
            )
        return model(
            arch, output_hidden_states=self.need_hidden, output_attention_scores=self.need_scores, **inputs
        )

    def __call__(self, model: nn.Module, batch: Batch, step: int, backward: Backward) -> dict[str, Any]:
        """One step's passes (module docstring); logs the summed loss and those of the largest and smallest."""
        o = self.opts
        archs = sample_archs(unwrap_model(model).config, o, step)
        inputs = model_inputs(batch)
        teachers: dict[float, ElasticOutput] = {}  # width -> teacher output, computed once per step
        losses: list[Tensor] = []
        for i, (arch, t_width) in enumerate(archs):
            last = i == len(archs) - 1
            if t_width not in teachers:
                teachers[t_width] = self.teacher_output(inputs, t_width)
            with contextlib.nullcontext() if last else backward.no_sync():
                loss = subnet_loss(
                    model, arch, self.forward(model, arch, inputs), teachers[t_width], batch, o
                )
                backward(loss, last)
            losses.append(loss.detach())
        return {"loss": torch.stack(losses).sum(), "loss_largest": losses[-1], "loss_smallest": losses[0]}


def make_supernet(options: Mapping[str, Any], device: torch.device) -> BuiltMethod:
    """Build the `supernet` method: validate the options and load the frozen teacher onto `device`."""
    from raydistill.models.loading import load_task_model

    opts = SupernetOptions.from_options(options)
    distributed = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
    if distributed and opts.logits_weight == 0 and opts.task_weight == 0:
        raise SpecError(
            "supernet.loss: logits and task weights are both 0, so the task head gets no gradient, which DDP "
            "(several workers) cannot synchronise; give loss.logits > 0 (or loss.task > 0), or use 1 worker"
        )
    teacher = load_task_model(opts.teacher, opts.kind, opts.num_labels, require_head=True)  # type: ignore[arg-type]
    teacher.to(device)  # type: ignore[arg-type]  # transformers' stub types `to` oddly
    teacher.eval().requires_grad_(False)
    return BuiltMethod(SupernetStep(opts, teacher))


METHOD = Method("supernet", build=make_supernet, evaluation="task")
