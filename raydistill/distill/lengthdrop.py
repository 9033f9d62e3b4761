"""Method `lengthdrop`: LengthDrop training of a length-adaptive supernet (LAT, Kim & Cho 2021, Alg. 1), alone
or jointly with the width/depth sandwich (one supernet for all three axes). No Ray.

Per batch, every loss divided by `num_sandwich + 2` (LAT's mean over the sandwich):
1. the full model once WITHOUT gradients (train mode, dropout on): its logits are the soft targets of the step
   (inplace distillation: the supernet distils itself, no external teacher);
2. the smallest sub-model (length config n_i = ceil(n_{i-1}(1 - r)) cascaded over the kept layers) and
   `num_sandwich` random ones (n_i ~ U[ceil(n_{i-1}(1 - r)), n_{i-1}], `sample_length_counts`), each with
   LayerDrop p (`layer_drop`), each trained by KL(p_full || p_sub) to the DETACHED full output (LAT eq. 3;
   `losses.kl_divergence` says why we use this direction and not the reference's reverse KL); their task loss
   is not trained (the smallest's is logged);
3. the full model again, WITH gradients, by the task loss, as the LAST backward (the step's one all-reduce; the
   full Arch reaches every parameter, so DDP sees a gradient for each). Its dropout masks replay those of pass 1
   (the RNG state is restored around it), so the detached targets are exactly this pass's output: pass 1 is
   pass 3's forward, detached, computed first because DDP decides at forward time whether a backward
   synchronises, and the sub-models' backwards must not.

Lengths are token counts at the reference length N (`seq_length`, the spec's `data.max_seq_length`), stored in
the Arch as cumulative fractions t_i = n_i / N (`Arch.tokens`); the forward's one rounding rule
(`token_rule.kept_token_count`) maps them back to exactly n_i at N and scales them to each example's real length.
The lower bound ceil(n(1 - r)) is that same rule (`kept_token_count(1 - r, n)`), floored at 2 tokens as in LAT
(a layer never keeps fewer than 2 unless its input has fewer).

LayerDrop (LAT sec. 3.2, after Fan et al. 2020) drops each kept layer of a sub-model (`Arch.layers`, after any
depth reduction) independently with probability p; its token fraction goes with it, so a dropped layer passes
its input length on and the next kept layer cuts to its own configured length. At least one layer stays (the
last kept one when every layer drew a drop). The full model never drops a layer (it is the synchronised pass).

Hidden-state term (`hidden_weight` > 0; 0 = LAT as published): each sub-model's loss also gets DynaBERT's
hidden-state distillation (Hou et al. 2020, eq. 3, its hidden term; TinyBERT eq. 8 without a projection, the
hidden size never changes), `hidden_weight * sum_l MSE(h_s_l, h_full_map(l))` against the DETACHED full
model's pass-1 hidden states, `map(l)` the full layer kept layer l came from (`teacher_hidden_map`), over the
tokens the sub-model still holds after layer l (real tokens only: a dropped token's restored state is stale by
design and is not compared), averaged per example and then over the batch (as the KL is, so DDP's gradient
average over ranks equals one process on the whole batch). Logits alone leave depth-halved QA sub-networks untrained (a measured SQuAD
finding, the squad_length benchmark); matching hidden states per layer is what DynaBERT trains depth with.

Joint mode (`widths` or `depths` list more than 1.0): the smallest sub-model is also the smallest (width, depth)
grid point and the random ones draw per-layer heads/FFN widths and a depth as the `supernet` method's layerwise
sampling does (`distill.supernet.sample_archs`, reused); each then gets a length config over its kept layers and
LayerDrop. All draws come from `random.Random` seeded by (seed, step): every rank trains the same sub-networks
and a resumed run replays them.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch
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
from raydistill.distill.supernet import SupernetOptions, sample_archs
from raydistill.errors import SpecError
from raydistill.models.arch import Arch, teacher_hidden_map
from raydistill.models.bert import ElasticBert, ElasticOutput, logits_task_loss, task_loss, unwrap_model
from raydistill.models.token_rule import kept_token_count

_KINDS = ("classification", "regression", "qa")
MIN_TOKENS = 2  # LAT: a sampled layer keeps at least 2 tokens (fewer only if its input has fewer)


@dataclass(frozen=True)
class LengthDropOptions:
    """The `lengthdrop` method's options (plain values; the stage fills them from `supernet` and its `length`).

    Attributes:
        kind, num_labels: the task's head ("classification", "regression", "qa") and label count.
        seq_length: N, the length the token counts are drawn at (`data.max_seq_length`).
        length_drop_ratio_bound: r, the largest share of its input a layer may drop (LAT: 0.2).
        num_sandwich: random sub-models per batch besides the smallest.
        layer_drop_prob: p of LayerDrop on every sub-model.
        widths, depths: the width/depth grid; anything besides (1.0,) trains width and depth too (joint mode).
        temperature: T of the KL (scaled by T^2 when T != 1, Hinton et al.).
        hidden_weight: weight of the hidden-state term (module docstring; 0 = LAT's logits-only KL).
        seed: with the global step, seeds every draw.
    """

    kind: str
    num_labels: int
    seq_length: int
    length_drop_ratio_bound: float = 0.2
    num_sandwich: int = 2
    layer_drop_prob: float = 0.2
    widths: tuple[float, ...] = (1.0,)
    depths: tuple[float, ...] = (1.0,)
    temperature: float = 1.0
    hidden_weight: float = 0.0
    seed: int = 42

    @property
    def joint(self) -> bool:
        """Whether the sub-models also draw width and depth."""
        return self.widths != (1.0,) or self.depths != (1.0,)

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> LengthDropOptions:
        """Validate plain options; every problem raises `SpecError` naming the value and what is allowed."""
        check_option_keys(cls, "lengthdrop", options, ("kind", "num_labels", "seq_length"))
        values = dict(options)
        for name in ("widths", "depths"):
            values[name] = tuple(sorted(set(values.get(name, getattr(cls, name))), reverse=True))
        opts = cls(**values)
        checks = {
            "kind": opts.kind in _KINDS,
            "seq_length": opts.seq_length >= 1,
            "length.length_drop_ratio_bound": 0 < opts.length_drop_ratio_bound < 1,
            "length.num_sandwich": opts.num_sandwich >= 0,
            "length.layer_drop_prob": 0 <= opts.layer_drop_prob < 1,
            "length.hidden_weight": opts.hidden_weight >= 0,
            "widths": 1.0 in opts.widths and all(0 < v <= 1 for v in opts.widths),
            "depths": 1.0 in opts.depths and all(0 < v <= 1 for v in opts.depths),
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise SpecError(
                f"method 'lengthdrop': bad {', '.join(f'{n}={_value(opts, n)!r}' for n in bad)}; allowed: kind in "
                f"{_KINDS}, seq_length >= 1, 0 < r < 1, num_sandwich >= 0, 0 <= p < 1, hidden_weight >= 0, widths/depths "
                "fractions in (0, 1] that include 1.0"
            )
        return opts


def _value(opts: LengthDropOptions, name: str) -> Any:
    return getattr(opts, name.rpartition(".")[2])


def _lower(n: int, ratio: float) -> int:
    """ceil(n (1 - r)) by the forward's rounding rule, floored at `MIN_TOKENS` (or n when n is smaller)."""
    return max(min(MIN_TOKENS, n), kept_token_count(1 - ratio, n))


def smallest_length_counts(layers: int, seq_length: int, ratio: float) -> tuple[int, ...]:
    """LAT's smallest length config: n_i = ceil(n_{i-1}(1 - r)), n_{-1} = N, for each of `layers` layers."""
    counts, n = [], seq_length
    for _ in range(layers):
        n = _lower(n, ratio)
        counts.append(n)
    return tuple(counts)


def sample_length_counts(rng: random.Random, layers: int, seq_length: int, ratio: float) -> tuple[int, ...]:
    """A random length config (LAT Alg. 1): n_i ~ U{ceil(n_{i-1}(1 - r)), ..., n_{i-1}}, n_{-1} = N."""
    counts, n = [], seq_length
    for _ in range(layers):
        n = rng.randint(_lower(n, ratio), n)
        counts.append(n)
    return tuple(counts)


def counts_to_tokens(counts: tuple[int, ...], seq_length: int) -> tuple[float, ...]:
    """`Arch.tokens` of token counts at N: t_i = n_i / N, which `kept_token_count(t_i, N)` maps back to n_i."""
    tokens = tuple(n / seq_length for n in counts)
    assert all(kept_token_count(t, seq_length) == n for t, n in zip(tokens, counts, strict=True))
    return tokens


def layer_drop(rng: random.Random, arch: Arch, prob: float) -> Arch:
    """LayerDrop: each kept layer of `arch` dropped with probability `prob`, with its heads, FFN width and token
    fraction (module docstring); the last kept layer stays when every layer drew a drop."""
    keep = [rng.random() >= prob for _ in arch.layers]
    if not any(keep):
        keep[-1] = True

    def kept(values: tuple[Any, ...] | None) -> Any:
        return None if values is None else tuple(v for v, k in zip(values, keep, strict=True) if k)

    return Arch(kept(arch.layers), kept(arch.heads), kept(arch.ffn), kept(arch.tokens))


def sample_subnets(config: Any, opts: LengthDropOptions, step: int) -> list[Arch]:
    """The step's sub-models (the full model excluded), smallest first (module docstring)."""
    rng = random.Random(f"lengthdrop:{opts.seed}:{step}")
    if opts.joint:  # width/depth as the supernet method's layerwise sandwich: [smallest, random..., full]
        grid = SupernetOptions(
            teacher="", kind=opts.kind, num_labels=opts.num_labels, widths=opts.widths, depths=opts.depths,
            sampling="layerwise", num_random=opts.num_sandwich, seed=opts.seed,
        )  # fmt: skip
        shapes = [arch for arch, _ in sample_archs(config, grid, step)[:-1]]
    else:
        shapes = [Arch.for_config(config)] * (1 + opts.num_sandwich)
    N, r = opts.seq_length, opts.length_drop_ratio_bound
    lengths = [smallest_length_counts(shapes[0].num_layers, N, r)]
    lengths += [sample_length_counts(rng, a.num_layers, N, r) for a in shapes[1:]]
    return [
        layer_drop(rng, replace(a, tokens=counts_to_tokens(c, N)), opts.layer_drop_prob)
        for a, c in zip(shapes, lengths, strict=True)
    ]


def inplace_distill_loss(student: Any, full: Any, kind: str, temperature: float) -> Tensor:
    """KL(p_full || p_sub) to the DETACHED full output (LAT eq. 3): over classes, or over positions for QA's
    start and end (mean of the two); MSE for regression, which has no distribution."""
    if kind == "regression":
        return get_loss("regression_mse")(student, full.detach())
    kl = get_loss("kl_divergence")
    scale = temperature != 1.0
    if kind == "qa":
        (s_start, s_end), (f_start, f_end) = student, full  # (B, L) each
        return (
            kl(s_start, f_start.detach(), temperature, scale) + kl(s_end, f_end.detach(), temperature, scale)
        ) / 2
    return kl(student, full.detach(), temperature, scale)  # (B, C)


def kept_hidden_mse(student: ElasticOutput, full_hidden: tuple[Tensor, ...], arch: Arch, attention_mask: Tensor) -> Tensor:  # fmt: skip
    """sum_l MSE(h_s_l, h_full_map(l)) over the tokens the sub-model holds after its kept layer l (module
    docstring; DynaBERT eq. 3 hidden term). `student`: a restored forward with hidden states; `full_hidden`:
    the full model's `hidden_states` (embeddings first), each (B, L, d); `attention_mask`: (B, L)."""
    assert student.hidden_states is not None
    layers = student.hidden_states[1:]  # (B, L, d) per kept layer, at the input positions
    origins = student.kept_indices or (None,) * len(layers)
    real = attention_mask.bool()  # (B, L)
    total = layers[0].new_zeros(())
    for h, source, origin in zip(layers, teacher_hidden_map(arch)[1:], origins, strict=True):
        held = (real if origin is None else held_positions(origin, h.size(1)) & real).to(h.dtype)  # (B, L)
        err = (h - full_hidden[source].detach()).pow(2).mean(dim=-1)  # (B, L)
        total = total + ((err * held).sum(dim=1) / held.sum(dim=1).clamp(min=1)).mean()  # per example, then batch
    return total


def sub_model_loss(out: ElasticOutput, full: ElasticOutput, arch: Arch, attention_mask: Tensor, opts: LengthDropOptions) -> Tensor:  # fmt: skip
    """One sub-model's loss (module docstring, step 2): KL to the detached full output, plus `hidden_weight` x the
    hidden-state term (`kept_hidden_mse`) when it is on. `full`: the full model's pass-1 output (with hidden states
    when the term is on); `attention_mask`: (B, L)."""
    loss = inplace_distill_loss(out.logits, _detached(full.logits), opts.kind, opts.temperature)
    if opts.hidden_weight > 0:
        assert full.hidden_states is not None
        loss = loss + opts.hidden_weight * kept_hidden_mse(out, full.hidden_states, arch, attention_mask)
    return loss


def held_positions(origin: Tensor, length: int) -> Tensor:
    """(B, length) bool: True at the input positions listed in `origin` (B, K) (`kept_indices`; -1 = none)."""
    index = origin.masked_fill(origin < 0, length)  # (B, K): padding slots to a spare column
    held = torch.zeros(origin.size(0), length + 1, dtype=torch.bool, device=origin.device)
    return held.scatter_(1, index, True)[:, :length]


def _detached(logits: Any) -> Any:
    return tuple(x.detach() for x in logits) if isinstance(logits, tuple) else logits.detach()


def _rng_state(device: torch.device) -> tuple[Tensor, Tensor | None]:
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return torch.get_rng_state(), cuda


def _set_rng_state(state: tuple[Tensor, Tensor | None], device: torch.device) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


class LengthDropStep:
    """The `lengthdrop` step function (module docstring)."""

    def __init__(self, opts: LengthDropOptions) -> None:
        self.opts = opts

    def __call__(self, model: nn.Module, batch: Batch, step: int, backward: Backward) -> dict[str, Any]:
        """One step's passes; logs the summed loss, the full model's task loss, the smallest's KL and task loss."""
        o = self.opts
        if not isinstance(unwrap(model), ElasticBert):
            raise TypeError(
                f"method 'lengthdrop' needs the model wrapped in ElasticBert (got {type(unwrap(model)).__name__});"
                " the training loop does this for methods registered with subnetworks=True"
            )
        hf = unwrap_model(model)
        full_arch, inputs = Arch.for_config(hf.config), model_inputs(batch)
        device = batch["input_ids"].device
        scale = 1.0 / (o.num_sandwich + 2)
        start = _rng_state(device)
        need_hidden = o.hidden_weight > 0
        with torch.no_grad():  # pass 1: the soft targets, outside DDP (no backward follows it)
            full_out = unwrap(model)(full_arch, **inputs, output_hidden_states=need_hidden)
        losses: list[Tensor] = []
        logs: dict[str, Any] = {}
        for i, arch in enumerate(sample_subnets(hf.config, o, step)):
            with backward.no_sync():
                out: ElasticOutput = model(arch, **inputs, output_hidden_states=need_hidden)
                mask = inputs.get("attention_mask", torch.ones_like(inputs["input_ids"]))  # (B, L)
                loss = scale * sub_model_loss(out, full_out, arch, mask, o)
                backward(loss, False)
            losses.append(loss.detach())
            if i == 0:  # the smallest: its task loss is logged, never trained (LAT)
                logs["loss_smallest"] = losses[0]
                logs["task_loss_smallest"] = logits_task_loss(_detached(out.logits), batch, o.kind)
        after = _rng_state(device)
        _set_rng_state(start, device)  # pass 3 replays pass 1's dropout: its output equals the targets
        full_loss = scale * task_loss(model, model(full_arch, **inputs), batch)
        backward(full_loss, True)
        _set_rng_state(after, device)
        return logs | {
            "loss": torch.stack([*losses, full_loss.detach()]).sum(),
            "loss_full": full_loss.detach(),
        }


def make_lengthdrop(options: Mapping[str, Any], device: torch.device) -> BuiltMethod:
    """Build the `lengthdrop` method: validate the options (it needs no teacher: the full model is one)."""
    del device
    return BuiltMethod(LengthDropStep(LengthDropOptions.from_options(options)))


METHOD = Method("lengthdrop", build=make_lengthdrop, evaluation="task")
