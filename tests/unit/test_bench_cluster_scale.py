"""Pure helpers of `benchmarks/cluster_scale.py`: throughput, placement and per-trial overhead from Tune's
trial results, and the on-paper figures, checked against hand-computed values."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import cluster_scale as bench


def _result(node: str, end: float, seconds: float, status: str = "ok") -> dict[str, Any]:
    return {"node_id": node, "evaluated_at": end, "wall_time_s": seconds, "status": status}


def test_measure_reads_throughput_placement_and_the_gaps_between_trials_on_each_slot() -> None:
    # head: [0, 3] then [3.5, 6.5] then an infeasible trial [7.5, 7.5]; second: [1, 4] then [5, 8]
    results = [
        _result("H", 3.0, 3.0), _result("H", 6.5, 3.0), _result("H", 7.5, 0.0, "infeasible"),
        _result("S", 4.0, 3.0), _result("S", 8.0, 3.0),
    ]  # fmt: skip
    out = bench.measure(results, {"H": "head", "S": "second"})
    assert out["trials"] == 5 and out["evaluated"] == 4
    assert out["span_s"] == 8.0  # first start 0, last end 8
    assert out["evaluations_per_min"] == 30.0  # 4 evaluations in 8 s
    assert out["trials_per_node"] == {"head": 3, "second": 2}
    assert out["evaluation_s_median"] == 3.0  # of the evaluated trials only
    assert out["overhead_s_median"] == 1.0  # gaps: head 0.5, 1.0; second 1.0
    assert out["overhead_s_max"] == 1.0


def test_measure_on_one_slot_never_pairs_trials_of_different_nodes() -> None:
    # the second node's trial starts 0.1 s after the head's ends: not a gap of either slot
    out = bench.measure([_result("H", 2.0, 2.0), _result("S", 4.1, 2.0)], {"H": "head", "S": "second"})
    assert out["overhead_s_median"] is None and out["trials_per_node"] == {"head": 1, "second": 1}


def test_on_paper_applies_the_overhead_to_each_evaluation_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "ON_PAPER_EVAL_S", {"x, CPU": 9.5, "y, GPU": 0.5})
    cpu, gpu = bench.on_paper(0.5)
    assert cpu["driver_slots_at_least"] == 20 and gpu["driver_slots_at_least"] == 2  # (t + o) / o
    assert cpu["evaluations_per_min_per_slot"] == 6.0 and gpu["evaluations_per_min_per_slot"] == 60.0
    hours = f"node_hours_{bench.PAPER_EVALUATIONS}_evaluations"
    assert cpu[hours] == round(bench.PAPER_EVALUATIONS * 10 / bench.CPU_NODE_SLOTS / 3600, 3)
    assert gpu[hours] == round(bench.PAPER_EVALUATIONS * 1.0 / 3600, 3)
