"""Training methods: what one optimizer step computes, and what a method brings to a run (no Ray).

The training loop (`raydistill.training.loop`) owns everything around a step: data, device, optimizer, schedule,
gradient clipping, DDP, checkpoints, evaluation. A method owns the losses of one batch and, optionally, trainable
modules of its own (e.g. TinyBERT's projection from the student's hidden size to the teacher's, TinyBERT eq. 8).

A method is one module + one registration line in `raydistill.methods_registry` (the line declares its name, its
data kind and whether it forwards sub-networks, readable without torch). The module defines

    METHOD = Method("name", build=factory, evaluation="task")

    factory(options: dict, device: torch.device) -> BuiltMethod(step, modules=None)
    step(model, batch, step, backward) -> dict[str, float | Tensor]

- `options` are plain values from the loop config (`method_options`); the factory runs once per worker, so it
  may load what it needs (a teacher model, a layer map) onto `device`.
- `modules` (optional) is an `nn.ModuleDict` of the method's own trainable modules. The loop puts them in the
  optimizer (with the model's parameters, same weight-decay rule), saves their state in every checkpoint
  (a file of its own: the model dir stays a plain HF dir), restores it on resume, and wraps them with the model
  in one `WithMethodModules` that DDP wraps, so their gradients are synchronised too. The step uses them through
  the reference it keeps (the loop moves them to the device in place). Under DDP every one of them must get a
  gradient in each step's synchronised backward, like every parameter of the model.
- `evaluation` names how the loop scores the model at each epoch end (`training.method_io.EVALUATIONS`):
  "task" = the task's dev sets (and the search split) on the HF model.
- `model` (in `step`) is the trainable model, possibly wrapped in `DistributedDataParallel`. Run forwards through
  it (not through `model.module`) so DDP sees every forward that leads to a backward. `unwrap(model)` gives the
  model inside the wrappers (the HF model, or the `ElasticBert` of a sub-network method).
- `batch` is a dict of tensors already on the device (`input_ids`, `attention_mask`, `token_type_ids`, labels).
- `step` is the global optimizer step about to be taken (0-based), for seeding per-step sampling so that every
  rank picks the same sub-network.
- `backward(loss, is_last)` must be called at least once, and exactly once with `is_last=True`, as the final
  backward of the step. Under DDP a backward all-reduces the gradients unless its FORWARD ran inside
  `no_sync()` (DDP decides at forward time), so every earlier pass wraps its forward and backward in
  `with backward.no_sync():` and calls `backward(loss, False)` there; the last pass runs outside it. Several
  backwards per batch (DynaBERT sub-networks) then cost one all-reduce:

      for arch in archs[:-1]:
          with backward.no_sync():
              backward(loss_of(model, batch, arch), False)   # gradients accumulate locally
      backward(loss_of(model, batch, archs[-1]), True)      # this one synchronises the sum

  The loop checks the pairing (`is_last=False` only inside `no_sync()`, `True` only outside), also without DDP,
  so a wrong method fails in single-process tests. DDP (no `find_unused_parameters`) needs every parameter
  to get a gradient in the synchronised pass, so run the largest sub-network (all layers) last. A method
  scales its losses itself (e.g. divides by the number of passes if it wants a mean).
- The returned dict is logged: values may be detached 0-dim tensors (preferred: the loop sums them on the device
  and converts them only when it logs, so no step waits on a `.item()`).

A method registered with `subnetworks=True` gets the model wrapped in `models.bert.ElasticBert` (inside DDP),
whose forward takes an `Arch` first; checkpoints and the loop's evaluation still use the plain HF model.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from raydistill.errors import RaydistillError, SpecError
from raydistill.methods_registry import MethodEntry, method_entry

Batch = dict[str, Tensor]


class Backward(Protocol):
    """What the loop hands a method's step to run backwards with (see the module docstring)."""

    def __call__(self, loss: Tensor, is_last: bool) -> None: ...

    def no_sync(self) -> AbstractContextManager[None]: ...


StepFn = Callable[[nn.Module, Batch, int, Backward], dict[str, "float | Tensor"]]


@dataclass(frozen=True)
class BuiltMethod:
    """A method built for one run: its step function and its own trainable modules (None: it has none)."""

    step: StepFn
    modules: nn.ModuleDict | None = None


MethodFactory = Callable[[Mapping[str, Any], torch.device], BuiltMethod]

# Keys the HF models accept: inputs, and the labels the HF heads turn into a task loss.
MODEL_INPUT_KEYS = ("input_ids", "attention_mask", "token_type_ids")
LABEL_KEYS = ("labels", "start_positions", "end_positions")


@dataclass(frozen=True)
class Method:
    """A training method (module docstring); its data kind and `subnetworks` flag are its registration line's.

    Attributes:
        name: the registered name (`raydistill.methods_registry`).
        build: `(options, device) -> BuiltMethod`, run once per worker.
        evaluation: how the loop scores the trained model ("task": the task's dev sets and search split).
    """

    name: str
    build: MethodFactory
    evaluation: str = "task"

    @property
    def entry(self) -> MethodEntry:
        """The registration line of this method."""
        return method_entry(self.name)

    @property
    def data(self) -> str:
        """What it trains on: "task" or "corpus"."""
        return self.entry.data

    @property
    def subnetworks(self) -> bool:
        """Whether it forwards sub-networks (the loop wraps the model in `ElasticBert`)."""
        return self.entry.subnetworks


def get_method(name: str) -> Method:
    """The `Method` registered as `name` (imports its module).

    Raises:
        RaydistillError: unknown name (the message lists the valid methods and the closest match), or a module
            that does not define `METHOD` as a `Method` of that name.
    """
    entry = method_entry(name)
    method = getattr(importlib.import_module(entry.module), "METHOD", None)
    if not isinstance(method, Method) or method.name != name:
        raise RaydistillError(
            f"training method {name!r} is registered to module {entry.module}, which must define "
            f"METHOD = Method({name!r}, build=...); found {method!r}"
        )
    return method


class WithMethodModules(nn.Module):
    """The trainable model and a method's own modules as one module, for DDP, the optimizer and clipping.

    `forward` is the model's: a step's forwards run through the DDP-wrapped whole as always. `unwrap` (and
    `models.bert.unwrap_model`) see through it, as through DDP (`.module`).

    Attributes:
        module: the trainable model (the HF model, or its `ElasticBert`).
        method: the method's `nn.ModuleDict` (`BuiltMethod.modules`).
    """

    def __init__(self, model: nn.Module, modules: nn.ModuleDict) -> None:
        super().__init__()
        self.module = model  # registered first: the model's parameters come first, as without a wrapper
        self.method = modules

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The wrapped model's forward."""
        return self.module(*args, **kwargs)


def check_option_keys(cls: type, method: str, options: Mapping[str, Any], required: tuple[str, ...]) -> None:
    """The keys of a method's plain `options` against its option dataclass `cls`.

    Raises:
        SpecError: unknown or missing keys; the message lists the valid ones.
    """
    valid = sorted(f.name for f in fields(cls))
    unknown, missing = sorted(set(options) - set(valid)), sorted(set(required) - set(options))
    if unknown or missing:
        raise SpecError(f"method {method!r}: unknown options {unknown}, missing {missing}; valid: {valid}")


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside `DistributedDataParallel` and `WithMethodModules` (`.module`) wrappers; else the model."""
    inner = model
    while isinstance(getattr(inner, "module", None), nn.Module):
        inner = inner.module  # type: ignore[assignment]
    return inner


def model_inputs(batch: Batch, *, with_labels: bool = False) -> Batch:
    """The entries of `batch` a HF BERT forward accepts (features may carry extra bookkeeping keys)."""
    keys = MODEL_INPUT_KEYS + (LABEL_KEYS if with_labels else ())
    return {k: batch[k] for k in keys if k in batch}
