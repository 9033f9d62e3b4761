"""Pareto mask/front, hypervolume and best-per-budget against hand-worked values and brute-force references."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from raydistill.results.pareto import (
    best_per_budget,
    budget_limit,
    hypervolume,
    hypervolume_history,
    pareto_front,
    pareto_mask,
    within_budget,
)
from tests.unit.results.conftest import BUDGETS, FRONT_HV


def brute_force_mask(points: np.ndarray, maximize: list[bool]) -> np.ndarray:
    """Independent O(n^2) loop: dominance by definition; first of identical points kept."""
    sign = np.where(maximize, 1.0, -1.0)  # larger is better after multiplying
    p = points * sign
    out = []
    for i, a in enumerate(p):
        dominated = any(np.all(b >= a) and np.any(b > a) for b in p)
        duplicate_of_earlier = any(np.array_equal(p[j], a) for j in range(i))
        out.append(not dominated and not duplicate_of_earlier)
    return np.array(out)


# ------------------------------------------------------------------ pareto_mask
def test_mask_dominated_point_is_dropped() -> None:
    # (metric, cost): (0.8, 0.5) is beaten by (0.9, 0.4) on both
    pts = [[0.9, 0.4], [0.8, 0.5], [0.95, 0.9]]
    assert pareto_mask(pts, [True, False]).tolist() == [True, False, True]


def test_mask_ties_in_one_objective() -> None:
    # same cost, better metric wins; same metric, lower cost wins
    pts = [[0.8, 1.0], [0.9, 1.0], [0.7, 0.5], [0.7, 0.6]]
    assert pareto_mask(pts, [True, False]).tolist() == [False, True, True, False]


def test_mask_duplicates_keep_first_only() -> None:
    pts = [[0.5, 0.5], [0.9, 0.9], [0.5, 0.5], [0.9, 0.9]]
    assert pareto_mask(pts, [True, False]).tolist() == [True, True, False, False]


def test_mask_single_point_and_empty() -> None:
    assert pareto_mask([[0.3, 0.7]], [True, False]).tolist() == [True]
    assert pareto_mask(np.zeros((0, 2)), [True, False]).tolist() == []


def test_mask_all_on_front() -> None:
    # strictly better metric always costs more: every point is a trade-off
    pts = [[0.1 * i, 0.1 * i] for i in range(1, 8)]
    assert pareto_mask(pts, [True, False]).all()


def test_mask_direction_flips_the_answer() -> None:
    pts = [[1.0, 1.0], [2.0, 2.0]]
    assert pareto_mask(pts, [True, True]).tolist() == [False, True]
    assert pareto_mask(pts, [False, False]).tolist() == [True, False]
    assert pareto_mask(pts, [True, False]).tolist() == [True, True]


def test_mask_nan_is_never_on_front_and_dominates_nothing() -> None:
    pts = [[np.nan, 0.0], [0.5, 0.5]]
    assert pareto_mask(pts, [True, False]).tolist() == [False, True]


@pytest.mark.parametrize("maximize", [[True, False], [False, False], [True, True, False]])
def test_mask_matches_brute_force_on_random_ties(maximize: list[bool]) -> None:
    rng = np.random.default_rng(0)
    pts = rng.integers(0, 5, size=(60, len(maximize))).astype(float)  # small range: many ties/duplicates
    np.testing.assert_array_equal(pareto_mask(pts, maximize), brute_force_mask(pts, maximize))


def test_mask_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="one direction per objective"):
        pareto_mask([[1.0, 2.0]], [True])


# ------------------------------------------------------------------ table front
def test_front_of_fixture_table(trials: pd.DataFrame) -> None:
    front = pareto_front(trials)
    assert front["trial_id"].tolist() == ["t0", "t1", "t3"]  # sorted by cost; t4 duplicate, t5 infeasible
    assert trials.loc[trials["on_front"], "trial_id"].tolist() == ["t0", "t1", "t3"]
    assert front["flops_ratio"].is_monotonic_increasing and front["search_metric"].is_monotonic_increasing


# ------------------------------------------------------------------ hypervolume
def test_hypervolume_staircase_by_hand() -> None:
    # minimise both, reference (4, 4): rectangles 3x1 + 2x1 + 1x1 = 6
    assert hypervolume([[1, 3], [2, 2], [3, 1]], (4, 4), (False, False)) == pytest.approx(6.0)
    # maximise both, reference (0, 0): the same staircase mirrored
    assert hypervolume([[3, 1], [2, 2], [1, 3]], (0, 0), (True, True)) == pytest.approx(6.0)
    # single point: one rectangle; a dominated extra point changes nothing
    assert hypervolume([[0.8, 0.2]], (0.0, 1.0), (True, False)) == pytest.approx(0.8 * 0.8)
    assert hypervolume([[0.8, 0.2], [0.7, 0.3]], (0.0, 1.0), (True, False)) == pytest.approx(0.64)


def test_hypervolume_ignores_points_beyond_reference() -> None:
    assert hypervolume([[0.9, 1.2], [-0.1, 0.5], [np.nan, 0.1]], (0.0, 1.0), (True, False)) == 0.0
    assert hypervolume(np.zeros((0, 2)), (0.0, 1.0), (True, False)) == 0.0


def test_hypervolume_matches_cell_count() -> None:
    """Independent check: count the unit cells of an integer grid dominated by some point."""
    rng = np.random.default_rng(1)
    pts = rng.integers(0, 10, size=(25, 2))
    ref = (10, 10)
    cells = sum(
        any(px <= x and py <= y for px, py in pts) for x, y in itertools.product(range(10), range(10))
    )  # cell [x, x+1] x [y, y+1] is dominated iff some point is <= its lower corner
    assert hypervolume(pts, ref, (False, False)) == pytest.approx(cells)


def test_hypervolume_of_fixture_and_history(trials: pd.DataFrame) -> None:
    hist = hypervolume_history(trials)
    expected = [0.64, 0.6675, 0.6675, FRONT_HV, FRONT_HV, FRONT_HV, FRONT_HV]
    np.testing.assert_allclose(hist["hypervolume"], expected)
    assert hist["n_trials"].tolist() == list(range(1, 8))
    assert hist["trial_id"].tolist() == trials["trial_id"].tolist()
    assert (np.diff(hist["hypervolume"]) >= 0).all()


def test_history_is_monotone_on_random_table() -> None:
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"search_metric": rng.random(40), "flops_ratio": rng.random(40)})
    hv = hypervolume_history(df)["hypervolume"].to_numpy()
    assert (np.diff(hv) >= -1e-15).all() and hv[-1] > 0
    assert hv[-1] == pytest.approx(hypervolume(df.to_numpy(), (0.0, 1.0), (True, False)))


def test_hypervolume_rejects_three_objectives() -> None:
    with pytest.raises(ValueError, match="2 objectives"):
        hypervolume([[1, 2, 3]], (0, 0, 0), (True, True, True))


# ------------------------------------------------------------------ budgets
def test_best_per_budget(trials: pd.DataFrame) -> None:
    picks = best_per_budget(trials, BUDGETS, fixed_ratio=0.0)
    assert list(picks) == BUDGETS
    assert {b: r["trial_id"] for b, r in picks.items()} == {0.25: "t0", 0.5: "t1", 0.75: "t3"}
    assert all(trials.loc[r.name, "on_front"] for r in picks.values())


def test_best_per_budget_nothing_fits(trials: pd.DataFrame) -> None:
    picks = best_per_budget(trials, [0.1, 1.0], fixed_ratio=0.0)
    assert picks[0.1] is None
    assert picks[1.0]["trial_id"] == "t3"  # t5 (0.95) is infeasible, so never picked


def test_best_per_budget_tie_prefers_lower_cost() -> None:
    df = pd.DataFrame({"search_metric": [0.9, 0.9, 0.9], "flops_ratio": [0.5, 0.3, 0.3]})
    assert best_per_budget(df, [0.5], fixed_ratio=0.0)[0.5].name == 1  # lower cost, then the earlier row


def test_within_budget_tolerates_round_off() -> None:
    assert within_budget(0.1 + 0.2, 0.3, 0.0)  # 0.30000000000000004
    assert not within_budget(0.3001, 0.3, 0.0)


def test_budget_limit_prices_encoder_flops_only() -> None:
    """Encoder E, fixed F (pooler, head): encoder <= b E  <=>  ratio <= b + (1 - b) F / (E + F)."""
    encoder, fixed = 900.0, 100.0  # fixed_ratio 0.1
    for b in (0.25, 0.5, 0.75, 1.0):
        assert budget_limit(b, fixed / (encoder + fixed)) == pytest.approx(
            (b * encoder + fixed) / (encoder + fixed)
        )
    assert budget_limit(0.25, 0.0) == 0.25 and budget_limit(1.0, 0.3) == 1.0
    with pytest.raises(ValueError, match="fixed_ratio"):
        budget_limit(0.5, 1.0)


def test_a_point_at_the_limit_fits_and_one_just_above_does_not() -> None:
    limit = budget_limit(0.25, 0.1)  # 0.325
    assert within_budget(limit, 0.25, 0.1) and within_budget(0.3, 0.25, 0.1)
    assert not within_budget(limit + 1e-6, 0.25, 0.1)
    df = pd.DataFrame({"search_metric": [0.7, 0.8, 0.9], "flops_ratio": [0.2, limit, limit + 1e-6]})
    assert best_per_budget(df, [0.25], fixed_ratio=0.1)[0.25].name == 1  # at the limit: picked
    assert best_per_budget(df, [0.25], fixed_ratio=0.0)[0.25].name == 0  # the plain ratio rule


def test_picks_below_the_budget_never_change() -> None:
    """The rule only admits more: where no candidate lies between b and the limit, every pick is the old one."""
    rng = np.random.default_rng(0)
    budgets, fixed = [0.25, 0.5, 0.75], 0.05
    for _ in range(50):
        ratio = rng.uniform(0.05, 1.0, 40)
        between = np.zeros(40, dtype=bool)
        for b in budgets:
            between |= (ratio > b) & (ratio <= budget_limit(b, fixed))
        df = pd.DataFrame({"search_metric": rng.uniform(0, 1, 40), "flops_ratio": ratio})[~between]
        old = best_per_budget(df, budgets, fixed_ratio=0.0)
        new = best_per_budget(df, budgets, fixed_ratio=fixed)
        assert {b: None if r is None else r.name for b, r in old.items()} == {
            b: None if r is None else r.name for b, r in new.items()
        }
        # and with the in-between points back, a pick changes only to one of them
        full = pd.DataFrame({"search_metric": rng.uniform(0, 1, 40), "flops_ratio": ratio})
        for b, row in best_per_budget(full, budgets, fixed_ratio=fixed).items():
            before = best_per_budget(full, [b], fixed_ratio=0.0)[b]
            assert row is not None
            assert (
                before is None or row.name == before.name or b < row["flops_ratio"] <= budget_limit(b, fixed)
            )


def test_correlation_metrics_count_from_their_worst_value() -> None:
    from raydistill.results.pareto import reference_for, worst_value

    assert reference_for("accuracy") == (0.0, 1.0) and worst_value("f1") == 0.0
    assert reference_for("mcc") == (-1.0, 1.0) and worst_value("pearson") == -1.0
    # one point (mcc -0.5, ratio 0.5): (-0.5 - -1) x (1 - 0.5) = 0.25; from metric 0 it adds nothing
    df = pd.DataFrame({"search_metric": [-0.5, 0.2], "flops_ratio": [0.5, 0.9]})
    hist = hypervolume_history(df, reference=reference_for("mcc"))["hypervolume"]
    np.testing.assert_allclose(hist, [0.25, 0.25 + (0.2 - -0.5) * (1 - 0.9)])
    assert hypervolume_history(df)["hypervolume"].iloc[0] == 0.0
