"""`benchmarks/budget_rule.py`: the per-budget judgement on a tiny config, and a smoke run end to end."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pandas as pd
import pytest

from benchmarks.budget_rule import BUDGETS, DEPTHS, WIDTHS, grid_table, judge_budgets, run_budget_rule
from tests.unit.search.conftest import make_ctx
from tests.unit.training.conftest import write_sst2

optuna.logging.set_verbosity(optuna.logging.WARNING)
CTX = make_ctx(num_layers=4, widths=tuple(WIDTHS), depths=tuple(DEPTHS))


def _scored_grid() -> pd.DataFrame:
    """The tiny 4-layer grid; accuracy rises with the encoder share kept (ties: the grid order)."""
    grid = grid_table(CTX, {})
    return grid.assign(search_metric=0.5 + 0.4 * grid["encoder_ratio"], status="ok")


def test_grid_points_keep_exact_encoder_shares() -> None:
    grid = grid_table(CTX, {})
    assert len(grid) == 12
    w25 = grid[(grid.width == 0.25) & (grid.depth == 1.0)].iloc[0]
    assert w25.encoder_ratio == 0.25 and w25.flops_ratio > 0.25  # the pooler and classifier do not shrink


def test_the_rule_picks_what_a_user_calls_inside_and_the_plain_ratio_does_not() -> None:
    grid = _scored_grid()
    judged = judge_budgets(grid, grid, CTX.fixed_ratio)
    for b in BUDGETS:
        j = judged[f"{b:g}"]
        assert j["rule_matches_user"] and j["meets"]
        assert j["pick"]["search_metric"] == pytest.approx(0.5 + 0.4 * b)  # a grid point keeping share b
        admitted = {g["arch_id"] for g in j["grid"] if g["admitted"]}
        assert admitted == {g["arch_id"] for g in j["grid"] if g["encoder_ratio"] <= b}
    # every share-b grid point costs a little more than b in total: the plain ratio rule drops them
    assert not any(judged[f"{b:g}"]["old_meets"] for b in BUDGETS)
    plain = judged["0.25"]["pick_plain_ratio"]  # the best within 25% total: width 0.25 at depth 0.75
    assert plain["search_metric"] == pytest.approx(0.5 + 0.4 * 0.1875)


def test_a_smoke_run_writes_json_and_markdown(tmp_path: Path) -> None:
    write_sst2(tmp_path / "data" / "glue", repeats=6)
    results = run_budget_rule(tmp_path / "data", tmp_path / "out", tmp_path / "work", smoke=True)
    saved = json.loads((tmp_path / "out" / "budget_rule_smoke.json").read_text())
    assert saved["meets_targets"] == results["meets_targets"] and all(results["meets_targets"].values())
    assert set(saved["budgets"]) == {"0.25", "0.5", "0.75"} and len(saved["budgets"]["0.25"]["grid"]) == 12
    md = (tmp_path / "out" / "budget_rule_smoke.md").read_text()
    assert "| grid point | width |" in md and "L4-H1x4-F16x4" in md and "fits 0.25 (rule / plain ratio)" in md
