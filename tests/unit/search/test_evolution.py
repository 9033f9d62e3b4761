"""LAT's evolutionary searcher: valid children, rounded-up-mean crossover, frontier parents, save/restore."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from raydistill.models.arch import Arch
from raydistill.search.evolution import (
    EvolutionSearcher,
    ReplayTrial,
    crossover_chooser,
    mutation_chooser,
    random_chooser,
)
from raydistill.search.spaces import DefineByRun, layerwise, width_depth
from tests.unit.search.conftest import WIDTHS, make_ctx


def _ok(metric: float, ratio: float) -> dict:
    return {"status": "ok", "accuracy": metric, "flops_ratio": ratio}


def test_mutation_keeps_every_child_valid_and_on_the_grid() -> None:
    ctx, rng = make_ctx(num_layers=4), np.random.default_rng(0)
    for _ in range(200):
        parent = ReplayTrial(random_chooser(rng))
        layerwise(parent, ctx)
        child = ReplayTrial(mutation_chooser(rng, parent.params, prob=0.5))
        arch = layerwise(child, ctx).validate_for(ctx.config)
        assert set(arch.heads) <= set(ctx.head_grid) and set(arch.ffn) <= set(ctx.ffn_grid)
        assert child.params["depth"] in ctx.depths


def test_mutation_probability_zero_copies_and_one_redraws() -> None:
    ctx, rng = make_ctx(num_layers=4), np.random.default_rng(1)
    parent = ReplayTrial(random_chooser(rng))
    layerwise(parent, ctx)
    copy = ReplayTrial(mutation_chooser(rng, parent.params, prob=0.0))
    layerwise(copy, ctx)
    assert copy.params == parent.params
    redrawn = [ReplayTrial(mutation_chooser(rng, parent.params, prob=1.0)) for _ in range(30)]
    for trial in redrawn:
        layerwise(trial, ctx)
    assert any(t.params != parent.params for t in redrawn)


def test_mutation_keeps_about_half_the_genes() -> None:
    """p = 0.5 re-draws a gene half the time; a re-draw keeps it with prob 1/4 (4 widths): P(keep) = 0.625."""
    rng, parent = np.random.default_rng(2), {"width": 0.5}
    kept = [mutation_chooser(rng, parent, 0.5)("width", list(WIDTHS)) == 0.5 for _ in range(4000)]
    assert np.mean(kept) == pytest.approx(0.625, abs=0.03)


def test_crossover_takes_the_rounded_up_mean_on_the_grid() -> None:
    ctx, rng = make_ctx(num_layers=4), np.random.default_rng(0)
    a, b = {"width": 1.0, "depth": 0.5}, {"width": 0.25, "depth": 1.0}
    child = ReplayTrial(crossover_chooser(rng, a, b))
    arch = width_depth(child, ctx)
    # width mean 0.625 -> 0.75 (smallest trained width >= mean); depth mean 0.75 -> 0.75
    assert child.params == {"width": 0.75, "depth": 0.75}
    assert arch == Arch.from_multipliers(0.75, 0.75, 4, 4, 64)
    # a gene only one parent has (layer 0 is kept at depth 1 only) is copied; none -> drawn from the grid
    a2 = {"depth": 1.0, "heads_0": 3, "ffn_0": 16, "heads_1": 1, "ffn_1": 16}
    b2 = {"depth": 1.0, "heads_1": 4, "ffn_1": 64}
    child2 = ReplayTrial(crossover_chooser(rng, a2, b2))
    arch2 = layerwise(child2, ctx)
    assert (arch2.heads[0], arch2.ffn[0]) == (3, 16)
    assert (arch2.heads[1], arch2.ffn[1]) == (3, 48)  # mean 2.5 -> 3 heads; mean 40 -> 48 neurons


def test_frontier_of_known_points() -> None:
    searcher = EvolutionSearcher(DefineByRun("width_depth", make_ctx()), "accuracy")
    searcher.on_trial_complete("a", _ok(0.90, 0.80))
    searcher.on_trial_complete("b", _ok(0.85, 0.50))
    searcher.on_trial_complete("c", _ok(0.80, 0.60))  # dominated by b
    searcher.on_trial_complete("d", _ok(0.70, 0.30))
    searcher.on_trial_complete("e", {"status": "infeasible", "accuracy": 0.0, "flops_ratio": 0.95})
    searcher.on_trial_complete("f", None, error=True)
    searcher.on_trial_complete("g", _ok(0.85, 0.50))  # duplicate of b: listed once
    searcher.on_trial_complete("h", _ok(0.70, 0.40))  # dominated by d (same metric, costlier)
    assert searcher.frontier() == ["a", "b", "d"]


def _searcher(**kwargs: float) -> EvolutionSearcher:
    define_by_run = DefineByRun("width_depth", make_ctx(num_layers=4, max_budget=0.9))
    return EvolutionSearcher(define_by_run, "accuracy", population_size=4, seed=0, **kwargs)


def test_children_come_from_frontier_parents() -> None:
    searcher = _searcher(mutation_prob=0.0, max_retries=0)  # a mutation then copies its parent exactly
    initial = [searcher.suggest(f"p{i}") for i in range(4)]
    assert all(c is not None for c in initial)
    assert searcher.suggest("early") is None  # waits until part of the population is evaluated
    searcher.on_trial_complete("p0", _ok(0.90, 0.40))
    searcher.on_trial_complete("p1", _ok(0.80, 0.60))  # dominated by p0
    searcher.on_trial_complete("p2", None, error=True)
    searcher.on_trial_complete("p3", _ok(0.50, 0.70))  # dominated by p0
    assert searcher.frontier() == ["p0"]
    for i in range(4):  # one parent: every child is a mutation of p0
        child = searcher.suggest(f"c{i}")
        assert child is not None and searcher.genes(f"c{i}") == searcher.genes("p0")


def test_save_and_restore_continue_identically(tmp_path: Path) -> None:
    first, second = _searcher(), _searcher()
    for i in range(4):
        first.suggest(f"p{i}")
        first.on_trial_complete(f"p{i}", _ok(0.5 + i / 10, 0.2 * (i + 1)))
    first.save(str(tmp_path / "state.pkl"))
    second.restore(str(tmp_path / "state.pkl"))
    assert second.frontier() == first.frontier()
    assert [second.suggest(f"n{i}") for i in range(3)] == [first.suggest(f"n{i}") for i in range(3)]


def _steps(arch: Arch) -> list[float]:
    """Tokens kept by each kept layer as a share of those entering it (all 1 without token dropping)."""
    tokens = arch.tokens or (1.0,) * arch.num_layers
    return [b / a for a, b in zip((1.0, *tokens), tokens, strict=False)]


def test_length_mutation_and_crossover_keep_tokens_monotone_within_the_trained_range() -> None:
    from raydistill.search.length_spaces import joint, keep_values

    ctx, rng = make_ctx(num_layers=4, length_ratio=0.2), np.random.default_rng(4)
    parents = []
    for _ in range(40):
        parent = ReplayTrial(random_chooser(rng))
        joint(parent, ctx)
        parents.append(parent.params)
    for i in range(200):
        a, b = parents[i % 40], parents[(7 * i + 3) % 40]
        chooser = mutation_chooser(rng, a, 0.5) if i % 2 else crossover_chooser(rng, a, b)
        child = ReplayTrial(chooser)
        arch = joint(child, ctx).validate_for(ctx.config)
        assert all(0.8 - 1e-3 <= s <= 1.0 for s in _steps(arch)), arch.id  # monotone, >= 1 - r per layer
        assert {child.params[f"keep_{k}"] for k in range(4)} <= set(keep_values(0.2))


def test_length_crossover_takes_the_rounded_up_mean_keep_ratio() -> None:
    from raydistill.search.length_spaces import length

    ctx, rng = make_ctx(num_layers=2, length_ratio=0.2), np.random.default_rng(0)
    child = ReplayTrial(
        crossover_chooser(rng, {"keep_0": 0.8, "keep_1": 0.9}, {"keep_0": 0.85, "keep_1": 1.0})
    )
    arch = length(child, ctx)
    assert child.params == {"keep_0": 0.85, "keep_1": 0.95}  # means .825 -> .85 (up to the grid), .95
    assert arch.tokens == (0.85, 0.8075)


def test_the_evolution_searcher_searches_the_joint_space() -> None:
    define_by_run = DefineByRun("joint", make_ctx(num_layers=4, max_budget=0.9, length_ratio=0.2))
    searcher = EvolutionSearcher(define_by_run, "accuracy", population_size=4, seed=0)
    archs = []
    for i in range(16):
        config = searcher.suggest(f"t{i}")
        assert isinstance(config, dict)
        arch = Arch.from_json(config["arch_json"])
        archs.append(arch)
        searcher.on_trial_complete(f"t{i}", _ok(sum(_steps(arch)) / 10, config["flops_ratio"]))
    assert len({a.id for a in archs}) == 16 and any(a.tokens for a in archs[4:])  # children drop tokens
    assert all(min(_steps(a)) >= 0.8 - 1e-3 for a in archs)
