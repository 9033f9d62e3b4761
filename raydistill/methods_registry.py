"""The registry of training methods: one line per method, readable without importing torch.

A training method is one module + one line here. The module (e.g. `raydistill.distill.kd`) defines `METHOD`, a
`raydistill.distill.methods.Method`: how a run builds the method's step function (and its own trainable
modules) and how the trained model is evaluated. The line below declares what must be known before anything
runs, so that `raydistill validate` and the spec can judge a method name without importing torch:

    register_method(name, module, data="task", subnetworks=False)

- `data`: what the method trains on: "task" (the task's labelled data) or "corpus" (an unlabeled text corpus, for
  general distillation). The kinds the loop can build are the data-kind registry
  `raydistill.training.method_io.DATA_KINDS`.
- `subnetworks`: the method forwards sub-networks (`model(arch, **inputs)`), so the loop wraps the model in
  `models.bert.ElasticBert` before DDP. The supernet stage needs such a method; the teacher and retrain stages
  need one that is not.

Register a method of your own with one line, anywhere that runs before the spec is read:
`register_method("mine", "my_package.my_method")`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from raydistill.errors import RaydistillError

DATA_KINDS = ("task", "corpus")  # the data a method may declare (see the module docstring)


@dataclass(frozen=True)
class MethodEntry:
    """One registration line.

    Attributes:
        name: the name specs use (`teacher.method`, `supernet.method`, `search.retrain.method`).
        module: the importable module that defines `METHOD` (a `distill.methods.Method` of the same name).
        data: "task" or "corpus" (`DATA_KINDS`).
        subnetworks: the method forwards sub-networks of an `ElasticBert` (the loop wraps the model in one).
    """

    name: str
    module: str
    data: str = "task"
    subnetworks: bool = False


METHODS: dict[str, MethodEntry] = {}


def register_method(name: str, module: str, *, data: str = "task", subnetworks: bool = False) -> MethodEntry:
    """Register (or replace) the method `name`, defined by `module`'s `METHOD`; returns its entry.

    Raises:
        ValueError: `data` is not one of `DATA_KINDS` (a programming error in the registration line).
    """
    if data not in DATA_KINDS:
        raise ValueError(f"method {name!r}: data={data!r} is not one of {', '.join(DATA_KINDS)}")
    entry = MethodEntry(name, module, data, subnetworks)
    METHODS[name] = entry
    return entry


def method_names(*, subnetworks: bool | None = None) -> list[str]:
    """The registered names, sorted; only those with this `subnetworks` flag when it is given."""
    return sorted(n for n, e in METHODS.items() if subnetworks is None or e.subnetworks == subnetworks)


def unknown_method(name: str, valid: list[str]) -> str:
    """`unknown training method 'x'; did you mean 'y'? valid methods: a, b` (no closest match: no hint)."""
    close = difflib.get_close_matches(name, valid, n=1)
    did = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown training method {name!r}; {did}valid methods: {', '.join(valid)}"


def method_entry(name: str) -> MethodEntry:
    """The registration of `name`.

    Raises:
        RaydistillError: unknown name; the message lists the valid names and the closest match.
    """
    if name not in METHODS:
        raise RaydistillError(unknown_method(name, method_names()))
    return METHODS[name]


# ---- the built-in methods: one line each
register_method("finetune", "raydistill.distill.finetune")
register_method("supernet", "raydistill.distill.supernet", subnetworks=True)
register_method("kd", "raydistill.distill.kd")
register_method("pkd", "raydistill.distill.pkd")
register_method("tinybert", "raydistill.distill.tinybert")
register_method("tinybert_general", "raydistill.distill.tinybert_general", data="corpus")
register_method("lengthdrop", "raydistill.distill.lengthdrop", subnetworks=True)
