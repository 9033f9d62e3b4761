"""Search spaces: Optuna define-by-run functions `(trial, ctx) -> Arch` over the sub-networks of a supernet.

A space only *proposes* an `Arch`; it never evaluates one. Every proposal is priced analytically right
after (`SpaceContext.price`, `models.flops`; `DefineByRun` does both), so candidates over the largest FLOPs
budget are never evaluated. Spaces draw every choice with `trial.suggest_categorical` over the lists the
supernet was trained on, so any sampler (Optuna's, or the evolutionary baseline replaying a parent's choices)
always yields an Arch the supernet knows.

Registered spaces (`SPACES`, add one with `register_space`):
    width_depth  DynaBERT's uniform sub-networks: one width multiplier (`supernet.widths`) and one depth
                 multiplier (`supernet.depths`) -> `Arch.from_multipliers` (|widths| x |depths| candidates).
    layerwise    depth from `supernet.depths`, then for every kept layer its own head count and its own FFN
                 width, each from the width grid (`width_to_heads_ffn` of every trained width), as in
                 HAT-style elastic spaces. The genome has a fixed length: a head count and an FFN width are
                 drawn for *every* teacher layer (`heads_7`, `ffn_7`, named by teacher layer index), and the
                 depth decides which of them the Arch uses. A gene thus means the same layer whatever the
                 depth, and every trial has the same parameters: Optuna's NSGA-II recombines only the
                 parameters all trials share (its intersection search space) and draws the others at
                 random, so a depth-conditional genome would leave half of a deep Arch's genes to chance.
    length, joint  tokens kept per layer (LAT), alone and with the layerwise genome: `search.length_spaces`
                 (fixed-range keep ratios, so every sampler models every length gene).
Each space also names its *grid points* (`grid_points`): the parameters that make it propose every uniform
(width, depth) sub-network of the supernet, the ones DynaBERT trains explicitly (length spaces add LAT's
smallest length). With `search.start_from_grid` the samplers evaluate these first, so the searched front is
never worse than DynaBERT's grid.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

from raydistill.errors import SpecError
from raydistill.models.arch import Arch, kept_layers, width_grid, width_to_heads_ffn
from raydistill.models.flops import FlopsBreakdown, count_flops, params

__all__ = [
    "COST_KEY",
    "SPACES",
    "Candidate",
    "DefineByRun",
    "SpaceContext",
    "SpaceFn",
    "get_space",
    "grid_points",
    "needs_length",
    "layerwise",
    "register_space",
    "width_depth",
]


class TrialLike(Protocol):
    """The part of `optuna.Trial` a space uses (Optuna trials, `FixedTrial`, the evolution replay).

    Spaces only draw from finite grids: categorical choices, or stepped floats (`step` always given).
    """

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None) -> float: ...


SpaceFn = Callable[[TrialLike, "SpaceContext"], Arch]
COST_KEY = "flops_ratio"  # the cost objective every sampler minimises (a trial config / result key)


@dataclass(frozen=True)
class Candidate:
    """One proposed sub-network with its analytic cost (batch 1, `SpaceContext.seq_len` tokens).

    Attributes:
        arch: the sub-network.
        macs: multiply-accumulates; flops = 2 x macs (`models.flops`).
        params: parameters of the materialised sub-network.
        flops_ratio: flops / teacher (full supernet) flops.
        feasible: flops_ratio fits the largest budget (`results.pareto.within_budget` with the context's
            `fixed_ratio`: budgets price encoder FLOPs, the pooler and task head are a fixed cost).
    """

    arch: Arch
    macs: int
    flops: int
    params: int
    flops_ratio: float
    feasible: bool

    def to_config(self) -> dict[str, Any]:
        """Plain values for a Tune trial config (what the trainable and the trial table read back)."""
        return {
            "arch_id": self.arch.id,
            "arch_json": self.arch.to_json(),
            "macs": self.macs,
            "flops": self.flops,
            "params": self.params,
            "flops_ratio": self.flops_ratio,
            "feasible": self.feasible,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Candidate:
        """Inverse of `to_config` (extra keys such as sampled parameters are ignored)."""
        return cls(
            arch=Arch.from_json(config["arch_json"]),
            macs=int(config["macs"]),
            flops=int(config["flops"]),
            params=int(config["params"]),
            flops_ratio=float(config["flops_ratio"]),
            feasible=bool(config["feasible"]),
        )


@dataclass(frozen=True)
class SpaceContext:
    """What spaces and the FLOPs filter need: the supernet's shape and lists, and how FLOPs are counted.

    Attributes:
        config: the supernet's `BertConfig` (layers, heads, FFN size, hidden size).
        widths: width multipliers the supernet was trained with (`supernet.widths`).
        depths: depth multipliers the supernet was trained with (`supernet.depths`).
        seq_len: sequence length FLOPs are counted at (`Spec.cost_seq_length`).
        num_labels: classifier outputs (FLOPs of the task head).
        head: "classification" or "qa" (`models.flops`).
        max_budget: the largest FLOPs budget (fraction of the teacher's encoder FLOPs, `results.pareto`
            "Budgets"); candidates above it are infeasible.
        length_ratio: LengthDrop's bound r (`supernet.length.length_drop_ratio_bound`) the supernet was trained
            with, or None when it was not trained for token dropping (length spaces then refuse to run).
    """

    config: Any
    widths: tuple[float, ...]
    depths: tuple[float, ...]
    seq_len: int
    num_labels: int = 2
    head: str = "classification"
    max_budget: float = 1.0
    length_ratio: float | None = None

    @property
    def num_layers(self) -> int:
        return int(self.config.num_hidden_layers)

    @property
    def num_heads(self) -> int:
        return int(self.config.num_attention_heads)

    @property
    def intermediate_size(self) -> int:
        return int(self.config.intermediate_size)

    @cached_property
    def head_grid(self) -> tuple[int, ...]:
        """Head counts of the trained widths (DynaBERT rounding), descending and distinct."""
        return width_grid(self.widths, self.num_heads, self.intermediate_size)[0]

    @cached_property
    def ffn_grid(self) -> tuple[int, ...]:
        """FFN widths of the trained widths (tied to the rounded head count), descending and distinct."""
        return width_grid(self.widths, self.num_heads, self.intermediate_size)[1]

    @cached_property
    def teacher_flops(self) -> FlopsBreakdown:
        """FLOPs breakdown of the full supernet at `seq_len`."""
        return self._breakdown(Arch.for_config(self.config))

    @property
    def teacher_macs(self) -> int:
        """MACs of the full supernet at `seq_len` (the denominator of every FLOPs ratio)."""
        return self.teacher_flops.macs

    @property
    def fixed_ratio(self) -> float:
        """Share of the teacher's FLOPs no sub-network can shrink (pooler, task head): the `fixed_ratio` every
        budget check of this run uses (`results.pareto.budget_limit`), recorded in `search/meta.json`."""
        return self.teacher_flops.fixed_macs / self.teacher_flops.macs

    def _breakdown(self, arch: Arch) -> FlopsBreakdown:
        head: Any = self.head  # "classification" | "qa", checked by count_flops
        return count_flops(arch, self.config, self.seq_len, self.num_labels, head)

    def price(self, arch: Arch) -> Candidate:
        """Analytic cost of `arch` and whether it fits the largest budget (no forward pass)."""
        from raydistill.results.pareto import within_budget

        macs = self._breakdown(arch).macs
        ratio = macs / self.teacher_macs
        return Candidate(
            arch=arch,
            macs=macs,
            flops=2 * macs,
            params=params(arch, self.config, self.num_labels, self.head),  # type: ignore[arg-type]
            flops_ratio=ratio,
            feasible=bool(within_budget(ratio, self.max_budget, self.fixed_ratio)),
        )


# ---------------------------------------------------------------------------------------------- registry
GridFn = Callable[[float, float, "SpaceContext"], list[dict[str, Any]]]
SPACES: dict[str, SpaceFn] = {}
GRID_PARAMS: dict[str, GridFn] = {}
LENGTH_SPACES: set[str] = set()  # spaces that search tokens kept per layer


def register_space(name: str, grid: GridFn, needs_length: bool = False) -> Callable[[SpaceFn], SpaceFn]:
    """Decorator: register a define-by-run space `fn(trial, ctx) -> Arch` under `name`.

    `grid(width, depth, ctx)` gives the space's parameters for the uniform sub-network (width, depth) (a list:
    a space may add points, e.g. the smallest length). `needs_length`: the space searches tokens kept per
    layer, so it needs a length-adaptive supernet (`SpaceContext.length_ratio`).
    """

    def add(fn: SpaceFn) -> SpaceFn:
        if name in SPACES and SPACES[name] is not fn:
            raise ValueError(f"search space {name!r} is already registered ({SPACES[name].__qualname__})")
        SPACES[name] = fn
        GRID_PARAMS[name] = grid
        if needs_length:
            LENGTH_SPACES.add(name)
        return fn

    return add


def needs_length(name: str) -> bool:
    """Whether space `name` searches tokens kept per layer (needs a length-adaptive supernet)."""
    return name in LENGTH_SPACES


def grid_points(name: str, ctx: SpaceContext) -> list[dict[str, Any]]:
    """Parameters of space `name` for every uniform (width, depth) sub-network of the supernet (and what the
    space adds to each), smallest (width, depth) first, each proposed Arch once (two depth multipliers may keep
    the same layers of a shallow model; a length space proposes the same Arch at every width)."""
    from raydistill.search.proposals import ReplayTrial

    space = get_space(name)  # a clear error for an unknown name
    points: dict[Arch, dict[str, Any]] = {}
    for w, d in sorted((w, d) for w in set(ctx.widths) for d in set(ctx.depths)):
        for point in GRID_PARAMS[name](w, d, ctx):
            points.setdefault(space(ReplayTrial(_given(point)), ctx), point)
    return list(points.values())


def _given(point: dict[str, Any]) -> Callable[[str, list[Any]], Any]:
    """A chooser that takes every gene from `point` (`proposals.ReplayTrial` checks it is offered)."""
    return lambda name, _choices: point[name]


def get_space(name: str) -> SpaceFn:
    """The registered space called `name`.

    Raises:
        SpecError: unknown name; the message lists the registered spaces.
    """
    if name in SPACES:
        return SPACES[name]
    close = difflib.get_close_matches(name, list(SPACES), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise SpecError(
        f"search.space: {name!r} is not a registered search space{hint}; choose one of: "
        f"{', '.join(sorted(SPACES))}."
    )


# ------------------------------------------------------------------------------------------------ spaces
def _width_depth_grid(width: float, depth: float, ctx: SpaceContext) -> list[dict[str, Any]]:
    return [{"width": width, "depth": depth}]


def _layerwise_grid(width: float, depth: float, ctx: SpaceContext) -> list[dict[str, Any]]:
    heads, ffn = width_to_heads_ffn(width, ctx.num_heads, ctx.intermediate_size)
    layers = range(ctx.num_layers)  # the whole genome; the depth picks the kept layers
    return [{"depth": depth, **{f"heads_{i}": heads for i in layers}, **{f"ffn_{i}": ffn for i in layers}}]


@register_space("width_depth", grid=_width_depth_grid)
def width_depth(trial: TrialLike, ctx: SpaceContext) -> Arch:
    """DynaBERT sub-network: width m_w from `ctx.widths`, depth m_d from `ctx.depths` (DynaBERT Sec. 3)."""
    width = trial.suggest_categorical("width", list(ctx.widths))
    depth = trial.suggest_categorical("depth", list(ctx.depths))
    return Arch.from_multipliers(width, depth, ctx.num_layers, ctx.num_heads, ctx.intermediate_size)


@register_space("layerwise", grid=_layerwise_grid)
def layerwise(trial: TrialLike, ctx: SpaceContext) -> Arch:
    """Depth from `ctx.depths`, then per kept layer its heads and FFN width from the trained width grid.

    Heads and FFN width are drawn independently for every teacher layer (`heads_<layer>`, `ffn_<layer>`: a
    fixed-length genome, see the module docstring); the Arch keeps the layers `kept_layers` picks for the
    depth (the rule the supernet was trained with) and ignores the other layers' genes.
    """
    depth = trial.suggest_categorical("depth", list(ctx.depths))
    heads = {i: trial.suggest_categorical(f"heads_{i}", list(ctx.head_grid)) for i in range(ctx.num_layers)}
    ffn = {i: trial.suggest_categorical(f"ffn_{i}", list(ctx.ffn_grid)) for i in range(ctx.num_layers)}
    layers = kept_layers(depth, ctx.num_layers)
    return Arch(layers, tuple(heads[i] for i in layers), tuple(ffn[i] for i in layers))


@dataclass(frozen=True)
class DefineByRun:
    """The define-by-run callable handed to `OptunaSearch` (and replayed by the evolution searcher).

    Runs the registered space `space` on the trial, prices the Arch before anything is evaluated, and returns
    the candidate's plain values; Tune merges them with the sampled parameters into the trial config.
    Picklable (a registry name and a context), so Tune can checkpoint and restore the searcher.
    """

    space: str
    ctx: SpaceContext

    def __post_init__(self) -> None:
        get_space(self.space)  # fail at build time on an unknown name
        if needs_length(self.space) and self.ctx.length_ratio is None:
            raise SpecError(
                f"search.space: {self.space!r} searches tokens kept per layer, which needs a length-adaptive "
                "supernet; set supernet.length.enabled: true, or use space width_depth or layerwise"
            )

    def candidate(self, trial: TrialLike) -> Candidate:
        """Sample an Arch with `trial` and price it."""
        arch = get_space(self.space)(trial, self.ctx).validate_for(self.ctx.config)
        return self.ctx.price(arch)

    def __call__(self, trial: TrialLike) -> dict[str, Any]:
        return self.candidate(trial).to_config()


# The length spaces register themselves on import (they build on `layerwise` and `register_space` above).
from raydistill.search import length_spaces as _length_spaces  # noqa: E402,F401
