"""The registry of training strategies: what one optimizer step computes (no Ray).

The training loop (`raydistill.training.loop`) owns everything around a step: data, device, optimizer, schedule,
gradient clipping, DDP, checkpoints. A strategy owns only the losses of one batch.

Interface (small on purpose):

    factory(options: dict, device: torch.device) -> step_fn
    step_fn(model, batch, step, backward) -> dict[str, float | Tensor]

- `options` are plain values from the loop config (`strategy_options`); the factory runs once per worker, so it
  may load what it needs (a teacher model, a layer map) onto `device`.
- `model` is the trainable model, possibly wrapped in `DistributedDataParallel`. Run forwards through it (not
  through `model.module`) so DDP sees every forward that leads to a backward. `unwrap(model)` gives the HF model
  for reading its config.
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
  so a wrong strategy fails in single-process tests. DDP (no `find_unused_parameters`) needs every parameter
  to get a gradient in the synchronised pass, so run the largest sub-network (all layers) last. A strategy
  scales its losses itself (e.g. divides by the number of passes if it wants a mean).
- The returned dict is logged: values may be detached 0-dim tensors (preferred: the loop sums them on the device
  and converts them only when it logs, so no step waits on a `.item()`).

Adding a strategy = a module that calls `register_strategy("name")` on its factory + its module path in
`BUILTIN_MODULES` below. A strategy that runs sub-networks registers with `elastic=True`: the loop then hands it
the model wrapped in `models.bert.ElasticBert` (inside DDP), whose forward takes an `Arch` first; checkpoints
and the loop's evaluation still use the plain HF model.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from raydistill.errors import RaydistillError

Batch = dict[str, Tensor]


class Backward(Protocol):
    """What the loop hands a strategy to run backwards with (see the module docstring)."""

    def __call__(self, loss: Tensor, is_last: bool) -> None: ...

    def no_sync(self) -> AbstractContextManager[None]: ...


StepFn = Callable[[nn.Module, Batch, int, Backward], dict[str, "float | Tensor"]]
StrategyFactory = Callable[[Mapping[str, Any], torch.device], StepFn]

# Modules that register the built-in strategies when imported (one line per strategy).
BUILTIN_MODULES: tuple[str, ...] = (
    "raydistill.distill.finetune",
    "raydistill.distill.supernet",
    "raydistill.distill.kd",
)

# Keys the HF models accept: inputs, and the labels the HF heads turn into a task loss.
MODEL_INPUT_KEYS = ("input_ids", "attention_mask", "token_type_ids")
LABEL_KEYS = ("labels", "start_positions", "end_positions")

STRATEGIES: dict[str, StrategyFactory] = {}
ELASTIC_STRATEGIES: set[str] = set()  # strategies whose model is wrapped in `ElasticBert` by the loop


def register_strategy(name: str, *, elastic: bool = False) -> Callable[[StrategyFactory], StrategyFactory]:
    """Decorator: register `factory` under `name` (a later registration of the same name replaces it).

    Args:
        name: registry name.
        elastic: the strategy forwards sub-networks (`model(arch, **inputs)`), so the loop wraps the model in
            `ElasticBert` before DDP.
    """

    def decorate(factory: StrategyFactory) -> StrategyFactory:
        STRATEGIES[name] = factory
        ELASTIC_STRATEGIES.discard(name)
        if elastic:
            ELASTIC_STRATEGIES.add(name)
        return factory

    return decorate


def _load_builtins() -> None:
    for module in BUILTIN_MODULES:
        importlib.import_module(module)


def get_strategy(name: str) -> StrategyFactory:
    """Look a strategy factory up by name.

    Raises:
        RaydistillError: unknown name; the message lists the valid strategies and the closest match.
    """
    _load_builtins()
    if name not in STRATEGIES:
        close = difflib.get_close_matches(name, list(STRATEGIES), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        valid = ", ".join(sorted(STRATEGIES))
        raise RaydistillError(f"unknown training strategy {name!r}; valid strategies: {valid}.{hint}")
    return STRATEGIES[name]


def is_elastic(name: str) -> bool:
    """Whether the strategy `name` wants its model wrapped in `ElasticBert` (see `register_strategy`)."""
    get_strategy(name)
    return name in ELASTIC_STRATEGIES


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a `DistributedDataParallel` (or similar `.module`) wrapper; the model itself otherwise."""
    inner = getattr(model, "module", None)
    return inner if isinstance(inner, nn.Module) else model


def model_inputs(batch: Batch, *, with_labels: bool = False) -> Batch:
    """The entries of `batch` a HF BERT forward accepts (features may carry extra bookkeeping keys)."""
    keys = MODEL_INPUT_KEYS + (LABEL_KEYS if with_labels else ())
    return {k: batch[k] for k in keys if k in batch}
