"""Length-adaptive search spaces (LAT, Dynamic-TinyBERT): tokens kept per layer, alone and with width x depth.

Encoding. LAT's length configuration is a non-increasing token count per layer, and LengthDrop trains the
supernet on n_i in [ceil(n_{i-1} (1 - r)), n_{i-1}] (LAT Sec. 3.1, r = `supernet.length.length_drop_ratio_bound`).
The obvious define-by-run encoding, `suggest_int(f"n_{i}", low, high=n_{i-1})` (Dynamic-TinyBERT's Optuna path),
gives every trial its own range for n_i. NSGA-II, GPSampler and multivariate TPE model only the parameters whose
distribution is the same in every trial (`optuna.search_space.intersection_search_space`); the others are drawn by
their independent (random) fallback, so such a search is random search in disguise. Here every teacher layer has
a keep-ratio gene `keep_<layer>` with one fixed range [1 - r, 1] in every trial (`keep_range`: KEEP_STEPS + 1
evenly spaced values), and the fraction of the input kept after kept layer j is the product of the kept layers'
ratios up to j (`tokens_from_keeps`): tokens_j = tokens_{j-1} * keep_j, LAT's n_i = ceil(n_{i-1} keep_i) applied
to fractions of the input (`Arch.tokens`; the forward turns fractions into counts per example). Every genome
thus gives a monotone configuration whose every step lies in the range the supernet was trained on.

Registered spaces (`spaces.register_space`):
    length  the full-width, full-depth supernet with a keep ratio per layer (`keep_0` .. `keep_<L-1>`).
    joint   width x depth x length: the `layerwise` genome (depth, `heads_<layer>`, `ffn_<layer>`) plus a keep
            ratio per teacher layer. Like layerwise it is a fixed-length genome: every teacher layer has its
            genes and the depth decides which are used; tokens are the product over the *kept* layers only
            (a layer the depth drops passes its input length on, as LayerDrop does in LengthDrop training).
Grid points (`search.start_from_grid`): `length` starts from the full model and LAT's smallest configuration
(every keep ratio 1 - r); `joint` from every uniform (width, depth) sub-network at full length, then the full
model at the smallest length.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from raydistill.errors import SpecError
from raydistill.models.arch import Arch, width_to_heads_ffn
from raydistill.search.spaces import SpaceContext, TrialLike, layerwise, register_space

__all__ = [
    "KEEP_STEPS",
    "TOKEN_DECIMALS",
    "joint",
    "keep_range",
    "keep_values",
    "length",
    "tokens_from_keeps",
]

KEEP_STEPS = 4  # keep ratios 1 - r, 1 - 3r/4, ..., 1: r = 0.2 gives 0.8, 0.85, 0.9, 0.95, 1
TOKEN_DECIMALS = 4  # kept fractions are rounded to this many decimals (short Arch ids, no float noise)


def keep_range(ratio: float) -> tuple[float, float, float]:
    """(low, high, step) of a keep-ratio gene for LengthDrop bound r = `ratio`: [1 - r, 1] in KEEP_STEPS steps.

    The step is rounded to 10 decimals and low = 1 - KEEP_STEPS * step exactly (in decimal), so Optuna's
    stepped `FloatDistribution` keeps 1.0 as its high end (it would lower `high` otherwise).

    Raises:
        SpecError: `ratio` is not in (0, 1).
    """
    if not 0 < ratio < 1:
        raise SpecError(
            f"supernet.length.length_drop_ratio_bound: {ratio} is not in (0, 1); give LAT's 0.2 or a fraction like it"
        )
    step = round(ratio / KEEP_STEPS, 10)
    low = float(Decimal(1) - KEEP_STEPS * Decimal(str(step)))
    return low, 1.0, step


def keep_values(ratio: float) -> tuple[float, ...]:
    """Every value a keep-ratio gene takes, ascending (what `proposals.ReplayTrial` offers for it)."""
    low, _, step = keep_range(ratio)
    return tuple(round(low + k * step, 10) for k in range(KEEP_STEPS + 1))


def tokens_from_keeps(keeps: list[float] | tuple[float, ...]) -> tuple[float, ...] | None:
    """`Arch.tokens` of per-kept-layer keep ratios: tokens_j = tokens_{j-1} * keep_j (LAT eq. for n_i, on fractions).

    Fractions are rounded to TOKEN_DECIMALS (at least 10**-TOKEN_DECIMALS); rounding is monotone, so the result is
    non-increasing. All ratios 1 gives None: the Arch keeps every token and has the same id as without length.
    """
    tokens, kept = [], 1.0
    floor = 10.0**-TOKEN_DECIMALS
    for keep in keeps:
        kept *= float(keep)
        tokens.append(max(floor, round(kept, TOKEN_DECIMALS)))
    return None if all(t == 1.0 for t in tokens) else tuple(tokens)


def _ratio(ctx: SpaceContext) -> float:
    if ctx.length_ratio is None:
        raise SpecError(
            "search.space: this space searches tokens kept per layer, which needs a length-adaptive supernet; "
            "set supernet.length.enabled: true, or use space width_depth or layerwise"
        )
    return ctx.length_ratio


def _suggest_keeps(trial: TrialLike, ctx: SpaceContext) -> dict[int, float]:
    """A keep ratio for every teacher layer (`keep_<layer>`), each over the same fixed range."""
    low, high, step = keep_range(_ratio(ctx))
    return {
        i: round(float(trial.suggest_float(f"keep_{i}", low, high, step=step)), 10)
        for i in range(ctx.num_layers)
    }


def _with_length(arch: Arch, keeps: dict[int, float]) -> Arch:
    """`arch` with the tokens of its kept layers' keep ratios."""
    return Arch(arch.layers, arch.heads, arch.ffn, tokens_from_keeps([keeps[i] for i in arch.layers]))


def _length_grid(width: float, depth: float, ctx: SpaceContext) -> list[dict[str, Any]]:
    values = keep_values(_ratio(ctx))
    return [{f"keep_{i}": keep for i in range(ctx.num_layers)} for keep in (values[-1], values[0])]


def _joint_grid(width: float, depth: float, ctx: SpaceContext) -> list[dict[str, Any]]:
    heads, ffn = width_to_heads_ffn(width, ctx.num_heads, ctx.intermediate_size)
    layers = range(ctx.num_layers)
    shape = {"depth": depth, **{f"heads_{i}": heads for i in layers}, **{f"ffn_{i}": ffn for i in layers}}
    keeps = keep_values(_ratio(ctx))
    lengths = (keeps[-1], keeps[0]) if width == max(ctx.widths) and depth == max(ctx.depths) else (keeps[-1],)
    return [{**shape, **{f"keep_{i}": keep for i in layers}} for keep in lengths]


@register_space("length", grid=_length_grid, needs_length=True)
def length(trial: TrialLike, ctx: SpaceContext) -> Arch:
    """The full-width, full-depth supernet with a keep ratio in [1 - r, 1] per layer (LAT's length search)."""
    keeps = _suggest_keeps(trial, ctx)
    return _with_length(Arch.for_config(ctx.config), keeps)


@register_space("joint", grid=_joint_grid, needs_length=True)
def joint(trial: TrialLike, ctx: SpaceContext) -> Arch:
    """Width x depth x length: the `layerwise` genome, then a keep ratio for every teacher layer.

    The depth (`kept_layers`) picks which layers' heads, FFN widths and keep ratios the Arch uses; tokens are the
    running product of the kept layers' ratios.
    """
    shape = layerwise(trial, ctx)
    return _with_length(shape, _suggest_keeps(trial, ctx))
