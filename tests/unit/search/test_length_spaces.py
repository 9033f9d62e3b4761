"""Length spaces (`length`, `joint`): keep-ratio encoding, monotone tokens, FLOPs pricing, grid points."""

from __future__ import annotations

import math

import optuna
import pytest

from raydistill.errors import SpecError
from raydistill.models.arch import Arch
from raydistill.models.flops import count_flops
from raydistill.search.length_spaces import joint, keep_range, keep_values, length, tokens_from_keeps
from raydistill.search.spaces import LENGTH_SPACES, SPACES, DefineByRun, get_space, grid_points, layerwise
from tests.unit.search.conftest import make_ctx

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _keeps(*values: float) -> dict[str, float]:
    return {f"keep_{i}": v for i, v in enumerate(values)}


def _random_archs(space: str, n: int = 150, **ctx_args: float) -> list[Arch]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    define_by_run = DefineByRun(space, make_ctx(**{"length_ratio": 0.2, **ctx_args}))
    archs = []
    for _ in range(n):
        trial = study.ask()
        archs.append(define_by_run.candidate(trial).arch)
        study.tell(trial, 0.0)
    return archs


def test_keep_ratios_span_one_minus_r_to_one_in_fixed_steps() -> None:
    assert keep_range(0.2) == (0.8, 1.0, 0.05)
    assert keep_values(0.2) == (0.8, 0.85, 0.9, 0.95, 1.0)
    for ratio in (0.2, 0.22, 0.3, 1 / 3):
        low, high, step = keep_range(ratio)
        distribution = optuna.distributions.FloatDistribution(low, high, step=step)
        assert distribution.high == 1.0  # Optuna keeps the top (it lowers `high` when the range misfits)
        assert low == pytest.approx(1 - ratio, abs=1e-9) and len(keep_values(ratio)) == 5
        assert all(distribution._contains(v) for v in keep_values(ratio))
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(SpecError, match="length_drop_ratio_bound"):
            keep_range(bad)


def test_tokens_are_the_running_product_of_keep_ratios() -> None:
    assert tokens_from_keeps([0.8, 1.0, 0.9, 0.95]) == (0.8, 0.8, 0.72, 0.684)
    assert tokens_from_keeps([0.85, 0.85]) == (0.85, 0.7225)
    assert tokens_from_keeps([0.8] * 4) == (0.8, 0.64, 0.512, 0.4096)  # LAT's smallest at r = 0.2
    assert tokens_from_keeps([1.0, 1.0]) is None  # every token kept: the Arch of the plain spaces


def test_length_space_keeps_the_full_model_and_sets_tokens_per_layer() -> None:
    ctx = make_ctx(length_ratio=0.2)
    arch = length(optuna.trial.FixedTrial(_keeps(0.8, 1.0, 0.9, 0.95)), ctx)
    assert arch == Arch((0, 1, 2, 3), (4,) * 4, (64,) * 4, (0.8, 0.8, 0.72, 0.684))
    full = length(optuna.trial.FixedTrial(_keeps(1.0, 1.0, 1.0, 1.0)), ctx)
    assert full == Arch.for_config(ctx.config) and full.id == "L4-H4x4-F64x4"


def test_joint_uses_the_genes_of_the_kept_layers_only() -> None:
    ctx = make_ctx(length_ratio=0.2)
    shape = {"heads_1": 2, "ffn_1": 64, "heads_3": 4, "ffn_3": 16, "heads_0": 1, "ffn_0": 16, "heads_2": 3}
    genes = {**shape, "ffn_2": 48, **_keeps(0.8, 0.9, 0.85, 0.95)}
    shallow = joint(optuna.trial.FixedTrial({"depth": 0.5, **genes}), ctx)
    assert shallow == Arch((1, 3), (2, 4), (64, 16), (0.9, 0.855))  # layers 1, 3: keep_1, then keep_3
    deep = joint(optuna.trial.FixedTrial({"depth": 1.0, **genes}), ctx)
    assert deep.tokens == (0.8, 0.72, 0.612, 0.5814)
    no_drop = joint(optuna.trial.FixedTrial({"depth": 0.5, **genes, **_keeps(0.8, 1.0, 0.8, 1.0)}), ctx)
    assert no_drop == layerwise(optuna.trial.FixedTrial({"depth": 0.5, **genes}), ctx)  # same id, no tokens


@pytest.mark.parametrize("space", ["length", "joint"])
def test_every_sample_is_monotone_within_the_trained_range(space: str) -> None:
    archs = _random_archs(space)
    dropped = [a for a in archs if a.tokens is not None]
    assert len(dropped) > len(archs) // 2
    for arch in dropped:
        assert arch.tokens is not None
        steps = [b / a for a, b in zip((1.0, *arch.tokens), arch.tokens, strict=False)]
        assert all(0.8 - 1e-3 <= s <= 1.0 for s in steps), arch.id  # LengthDrop's n_i >= (1 - r) n_{i-1}
    if space == "joint":
        assert {a.num_layers for a in archs} == {2, 3, 4}
        assert any(len(set(a.heads)) > 1 for a in archs)


@pytest.mark.parametrize("space", ["length", "joint"])
def test_the_flops_filter_prices_the_kept_tokens(space: str) -> None:
    """Hand-computed: 2-layer tiny BERT, 16 tokens, r = .5, keeps (.5, 1) -> tokens (.5, .5) -> 8, 8 tokens.

    layer 0 (16 in, 8 out): QKV 3*16*32*32 = 49152, scores 16*16*32 = 8192, context 8192, out 16*32*32 = 16384,
    FFN 2*8*32*64 = 32768 -> 114688; layer 1 (8 in, 8 out): 24576 + 2048 + 2048 + 8192 + 32768 = 69632;
    + pooler 1024 + classifier 64 = 185408 MACs (the full model: 296000, `test_spaces`).
    """
    ctx = make_ctx(num_layers=2, length_ratio=0.5, max_budget=0.63)
    shape = {"depth": 1.0, "heads_0": 4, "heads_1": 4, "ffn_0": 64, "ffn_1": 64} if space == "joint" else {}
    define_by_run = DefineByRun(space, ctx)
    candidate = define_by_run.candidate(optuna.trial.FixedTrial({**shape, **_keeps(0.5, 1.0)}))
    assert candidate.arch.token_counts(16) == (8, 8)
    assert candidate.macs == 185408 and candidate.flops_ratio == pytest.approx(185408 / 296000)
    assert candidate.feasible  # encoder 184320 / 294912 = 0.625 <= 0.63
    assert not make_ctx(num_layers=2, length_ratio=0.5, max_budget=0.62).price(candidate.arch).feasible


def test_feasibility_of_length_samples_follows_the_largest_budget() -> None:
    ctx = make_ctx(length_ratio=0.2, max_budget=0.5)
    full = count_flops(Arch.full(4, 4, 64), ctx.config, 16).encoder_macs
    define_by_run, study = DefineByRun("joint", ctx), optuna.create_study()
    feasible = set()
    for _ in range(100):
        trial = study.ask()
        candidate = define_by_run.candidate(trial)
        study.tell(trial, 0.0)
        encoder = count_flops(candidate.arch, ctx.config, 16).encoder_macs
        assert candidate.feasible == (encoder <= 0.5 * full)
        feasible.add(candidate.feasible)
    assert feasible == {True, False}


def test_length_spaces_need_a_length_adaptive_supernet() -> None:
    with pytest.raises(SpecError, match="supernet.length.enabled: true"):
        DefineByRun("length", make_ctx())
    with pytest.raises(SpecError, match="supernet.length.enabled: true"):
        DefineByRun("joint", make_ctx())
    DefineByRun("layerwise", make_ctx())  # the other spaces need no length ratio


def test_grid_points_add_lats_smallest_length() -> None:
    ctx = make_ctx(length_ratio=0.2)
    smallest = Arch((0, 1, 2, 3), (4,) * 4, (64,) * 4, (0.8, 0.64, 0.512, 0.4096))
    archs = [length(optuna.trial.FixedTrial(p), ctx) for p in grid_points("length", ctx)]
    assert archs == [Arch.full(4, 4, 64), smallest]  # the same full model at every width: listed once
    joint_archs = [joint(optuna.trial.FixedTrial(p), ctx) for p in grid_points("joint", ctx)]
    uniform = [
        Arch.for_config(ctx.config, width=w, depth=d)
        for w, d in sorted((w, d) for w in ctx.widths for d in ctx.depths)
    ]
    assert joint_archs == [*uniform, smallest]


def test_registry_and_spec_rules_name_the_same_spaces() -> None:
    from raydistill.spec import rules

    assert SPACES["length"] is length and SPACES["joint"] is joint and get_space("joint") is joint
    assert set(rules.SEARCH_SPACES) == set(SPACES)  # validating a spec never imports the registry
    assert set(rules.LENGTH_SPACES) == LENGTH_SPACES


def test_replayed_keep_genes_offer_exactly_the_grid() -> None:
    from raydistill.search.proposals import ReplayTrial

    offered: list[list[float]] = []
    trial = ReplayTrial(lambda name, choices: offered.append(choices) or choices[0])
    arch = length(trial, make_ctx(length_ratio=0.2))
    assert offered == [list(keep_values(0.2))] * 4
    assert arch.tokens is not None and math.isclose(arch.tokens[-1], 0.4096)
