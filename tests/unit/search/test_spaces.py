"""Search spaces: samples stay on the supernet's lists, pricing matches hand-computed MACs, budgets apply."""

from __future__ import annotations

import optuna
import pytest

from raydistill.errors import SpecError
from raydistill.models.arch import Arch
from raydistill.models.flops import count_flops
from raydistill.search.spaces import SPACES, Candidate, DefineByRun, get_space, layerwise, width_depth
from tests.unit.search.conftest import make_ctx

optuna.logging.set_verbosity(optuna.logging.WARNING)

# Tiny BERT, 4 layers, 4 heads, FFN 64: DynaBERT rounding of widths 1, .75, .5, .25 (heads, ffn), by hand.
WIDTH_DIMS = {(4, 64), (3, 48), (2, 32), (1, 16)}
# kept_layers for depths 1, .75, .5 of 4 layers: ceil((i + 1) * 4 / n) - 1, by hand.
DEPTH_LAYERS = {(0, 1, 2, 3), (1, 2, 3), (1, 3)}


def _sample(space_name: str, n: int = 200, **ctx_args: float) -> list[tuple[Arch, Candidate]]:
    """n trials of an in-memory random-sampler study through the define-by-run callable."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    define_by_run = DefineByRun(space_name, make_ctx(**ctx_args))
    out = []
    for _ in range(n):
        trial = study.ask()
        candidate = define_by_run.candidate(trial)
        study.tell(trial, 0.0)
        out.append((candidate.arch, candidate))
    return out


def test_registry_has_every_space_and_unknown_names_list_them() -> None:
    assert SPACES["width_depth"] is width_depth and SPACES["layerwise"] is layerwise
    assert {"length", "joint"} <= set(SPACES)  # `test_length_spaces`
    with pytest.raises(SpecError, match="did you mean 'layerwise'.*joint, layerwise, length, width_depth"):
        get_space("layerwse")


def test_width_depth_samples_only_trained_widths_and_depths() -> None:
    archs = [a for a, _ in _sample("width_depth")]
    for arch in archs:
        assert arch.layers in DEPTH_LAYERS
        assert len(set(arch.heads)) == 1 and len(set(arch.ffn)) == 1  # uniform width
        assert (arch.heads[0], arch.ffn[0]) in WIDTH_DIMS
    combos = {(a.layers, a.heads[0]) for a in archs}
    assert len(combos) == 12  # all 4 widths x 3 depths were proposed


def test_layerwise_chooses_heads_and_ffn_per_layer_from_the_grid() -> None:
    archs = [a for a, _ in _sample("layerwise")]
    heads_grid, ffn_grid = {h for h, _ in WIDTH_DIMS}, {f for _, f in WIDTH_DIMS}
    for arch in archs:
        assert arch.layers in DEPTH_LAYERS
        assert set(arch.heads) <= heads_grid and set(arch.ffn) <= ffn_grid
    assert any(len(set(a.heads)) > 1 for a in archs)  # per-layer choices, not one width
    pairs = {(h, f) for a in archs for h, f in zip(a.heads, a.ffn, strict=True)}
    assert pairs - WIDTH_DIMS  # heads and FFN are chosen independently (e.g. 4 heads with 16 neurons)


def test_layerwise_parameters_are_named_by_teacher_layer() -> None:
    genes = {"heads_1": 2, "ffn_1": 64, "heads_3": 4, "ffn_3": 16}
    unused = {"heads_0": 1, "ffn_0": 16, "heads_2": 3, "ffn_2": 48}  # layers depth 0.5 drops
    arch = layerwise(optuna.trial.FixedTrial({"depth": 0.5, **genes, **unused}), make_ctx())
    assert arch == Arch((1, 3), (2, 4), (64, 16))
    deep = layerwise(optuna.trial.FixedTrial({"depth": 1.0, **genes, **unused}), make_ctx())
    assert deep == Arch((0, 1, 2, 3), (1, 2, 3, 4), (16, 64, 48, 16))


def test_layerwise_genome_has_the_same_parameters_at_every_depth() -> None:
    """NSGA-II recombines only the parameters every trial has; a fixed genome gives it all of them."""
    study = optuna.create_study(
        directions=["maximize", "minimize"], sampler=optuna.samplers.NSGAIISampler(population_size=4, seed=0)
    )
    define_by_run, depths = DefineByRun("layerwise", make_ctx()), set()
    for _ in range(12):
        trial = study.ask()
        candidate = define_by_run.candidate(trial)
        depths.add(candidate.arch.num_layers)
        study.tell(trial, [1.0 - candidate.flops_ratio, candidate.flops_ratio])
    assert depths == {2, 3, 4}  # trials of every depth
    genes = {"depth"} | {f"{kind}_{i}" for kind in ("heads", "ffn") for i in range(4)}
    assert {frozenset(t.params) for t in study.trials} == {frozenset(genes)}
    searched = study.sampler.infer_relative_search_space(study, study.trials[-1])
    assert set(searched) == genes  # every gene is recombined, none left to the random fallback


def test_price_matches_hand_computed_macs() -> None:
    """2-layer tiny BERT, 16 tokens, d=32, dh=8 (module docstring of models.flops), by hand:

    full layer: QKV 3*16*32*32=49152, scores 16*16*32=8192, context 8192, out 16*32*32=16384,
    FFN 2*16*32*64=65536 -> 147456; x2 layers + pooler 1024 + classifier 64 = 296000 MACs.
    width .5 / depth .5 (layer 1; 2 heads, 32 neurons): 24576 + 4096 + 4096 + 8192 + 32768 = 73728, + 1088.
    Budgets price encoder MACs: 73728 = 0.25 x 294912, so budget 0.25 admits it though its total ratio is .2528.
    """
    ctx = make_ctx(num_layers=2, max_budget=0.25)
    assert ctx.teacher_macs == 296000 and ctx.fixed_ratio == pytest.approx(1088 / 296000)
    small = ctx.price(Arch.from_multipliers(0.5, 0.5, 2, 4, 64))
    assert (small.macs, small.flops) == (74816, 2 * 74816)
    assert small.flops_ratio == pytest.approx(74816 / 296000)
    assert small.feasible  # encoder 0.25 of the teacher's
    assert not make_ctx(num_layers=2, max_budget=0.24).price(small.arch).feasible
    assert ctx.price(Arch.full(2, 4, 64)).flops_ratio == 1.0


@pytest.mark.parametrize("space", ["width_depth", "layerwise"])
def test_feasibility_follows_the_largest_budget(space: str) -> None:
    samples = _sample(space, max_budget=0.5)
    config = make_ctx().config
    full = count_flops(Arch.full(4, 4, 64), config, 16).macs
    full_encoder = count_flops(Arch.full(4, 4, 64), config, 16).encoder_macs
    for arch, candidate in samples:
        ratio = count_flops(arch, config, 16).macs / full
        assert candidate.flops_ratio == pytest.approx(ratio)
        assert candidate.feasible == (count_flops(arch, config, 16).encoder_macs <= 0.5 * full_encoder)
    assert {c.feasible for _, c in samples} == {True, False}


def test_candidate_round_trips_through_a_trial_config() -> None:
    candidate = make_ctx().price(Arch((1, 3), (2, 4), (64, 16)))
    config = {"depth": 0.5, **candidate.to_config()}
    assert Candidate.from_config(config) == candidate


@pytest.mark.parametrize("space", ["width_depth", "layerwise"])
def test_grid_points_make_the_space_propose_every_uniform_subnetwork(space: str) -> None:
    from raydistill.search.spaces import grid_points

    ctx = make_ctx()
    points = grid_points(space, ctx)
    archs = [get_space(space)(optuna.trial.FixedTrial(p), ctx) for p in points]
    expected = [
        Arch.for_config(ctx.config, width=w, depth=d)
        for w, d in sorted((w, d) for w in ctx.widths for d in ctx.depths)
    ]
    assert archs == expected and len(set(archs)) == 12  # 4 widths x 3 depths, smallest first
