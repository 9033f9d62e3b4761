"""One budget rule everywhere: a budget b admits sub-networks whose encoder FLOPs are at most b x the teacher's.

On the house tiny BERT (4 layers, hidden 32, 4 heads, FFN 64, 16 tokens) the uniform width-0.25 and width-0.5
networks keep exactly 1/4 and 1/2 of every encoder matmul, but the pooler and classifier do not shrink, so their
total-FLOPs ratios are a little above 0.25 and 0.5 (as DynaBERT's width-0.25 MiniLM is 25.02% of its teacher).
Each place that checks a budget must admit them: pricing (feasibility), the Optuna constraint, the picks of the
search (the picks stage, read by the retrain and export stages) and the report; a point just above the limit
must not fit anywhere.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from raydistill.models.arch import Arch
from raydistill.models.flops import count_flops
from raydistill.report.inputs import ReportInputs
from raydistill.report.summary import build_report_data
from raydistill.results.pareto import budget_limit
from raydistill.results.picks import best_arch_ids
from raydistill.results.points import make_points, read_points
from raydistill.results.table import make_table, with_dev_metrics, write_table
from raydistill.search.records import read_fixed_ratio, search_meta, write_meta
from raydistill.search.samplers import constraint_value
from raydistill.search.spaces import Candidate
from tests.unit.search.conftest import make_ctx

BUDGETS = [0.25, 0.5]
CTX = make_ctx(num_layers=4)
WIDTH = {b: Arch.for_config(CTX.config, width=b, depth=1.0) for b in BUDGETS}  # the uniform grid points


def _row(i: int, candidate: Candidate, metric: float, ratio: float | None = None) -> dict[str, Any]:
    ratio = candidate.flops_ratio if ratio is None else ratio
    return {"trial_id": f"t{i}", "arch_id": candidate.arch.id, "arch_json": candidate.arch.to_json(),
            "flops": candidate.flops, "flops_ratio": ratio, "macs": candidate.macs, "params": candidate.params,
            "search_metric": metric, "dev_metric": math.nan, "metric_name": "accuracy", "sampler": "random",
            "budget_feasible": True, "status": "ok", "wall_time_s": 0.1}  # fmt: skip


def _table() -> pd.DataFrame:
    """Every uniform width at depth 1 (metric 0.7 + width / 10), a small width-0.25 depth-0.5 network, and,
    for each budget, a network priced just above its limit that would beat that budget's grid point."""
    rows = [_row(0, CTX.price(Arch.for_config(CTX.config, width=0.25, depth=0.5)), 0.60)]
    for i, width in enumerate((0.25, 0.5, 0.75), start=1):
        rows.append(
            _row(i, CTX.price(Arch.for_config(CTX.config, width=width, depth=1.0)), 0.70 + 0.1 * width)
        )
    # just above 0.25's limit: better than width 0.25 (0.725), worse than width 0.5 (0.75); above 0.5's: best
    for i, (b, metric, depth) in enumerate(((0.25, 0.74, 0.5), (0.5, 0.99, 0.75)), start=4):
        over = CTX.price(Arch.for_config(CTX.config, width=0.75, depth=depth))
        rows.append(_row(i, over, metric, ratio=budget_limit(b, CTX.fixed_ratio) + 1e-6))
    return make_table(rows)


def test_the_grid_points_sit_just_above_b_in_total_flops_and_at_b_in_encoder_flops() -> None:
    teacher = count_flops(Arch.for_config(CTX.config), CTX.config, 16)
    assert CTX.fixed_ratio == pytest.approx(teacher.fixed_macs / teacher.macs) and CTX.fixed_ratio > 0
    for b, arch in WIDTH.items():
        flops = count_flops(arch, CTX.config, 16)
        assert flops.encoder_macs == b * teacher.encoder_macs
        assert b < CTX.price(arch).flops_ratio == pytest.approx(budget_limit(b, CTX.fixed_ratio))


@pytest.mark.parametrize("b", BUDGETS)
def test_feasibility_and_the_optuna_constraint_admit_the_grid_point(b: float) -> None:
    candidate = make_ctx(num_layers=4, max_budget=b).price(WIDTH[b])
    assert candidate.feasible
    assert constraint_value(candidate.flops_ratio, b, CTX.fixed_ratio) <= 0
    just_above = budget_limit(b, CTX.fixed_ratio) + 1e-6
    assert constraint_value(just_above, b, CTX.fixed_ratio) > 0
    assert not make_ctx(num_layers=4, max_budget=b * 0.99).price(WIDTH[b]).feasible


def test_search_picks_take_the_grid_points() -> None:
    table = _table()
    assert best_arch_ids(table, BUDGETS, CTX.fixed_ratio) == {b: WIDTH[b].id for b in BUDGETS}


def test_the_report_takes_the_grid_points() -> None:
    table = _table()
    # the report reads the picks (the points table's `pick` rows) and the rule (the teacher row) it is given
    flops, fixed = 2 * CTX.teacher_macs, 2 * CTX.teacher_flops.fixed_macs
    teacher = {"label": "teacher", "kind": "teacher", "stage": "teacher", "method": "finetune", "seq_length": 16,
               "flops": flops, "encoder_flops": flops - fixed, "flops_ratio": 1.0, "params": 1,
               "dev_metric": 0.9, "metric_name": "accuracy", "model_dir": "", "config_json": "{}",
               "arch_id": "", "arch_json": ""}  # fmt: skip
    picks = [
        {**teacher, "label": f"pick {b:g}", "kind": "pick", "stage": "picks", "budget": b, "config_json": "",
         "arch_id": arch_id, "arch_json": Arch.from_id(arch_id).to_json()}
        for b, arch_id in best_arch_ids(table, BUDGETS, CTX.fixed_ratio).items() if arch_id
    ]  # fmt: skip
    inputs = ReportInputs(name="r", task="sst2", points=make_points([teacher, *picks]), trials=table)
    assert inputs.fixed_ratio == pytest.approx(CTX.fixed_ratio)
    budgets = build_report_data(inputs).budgets
    assert budgets["arch_id"].tolist() == [WIDTH[b].id for b in BUDGETS]
    assert budgets["flops_limit"].tolist() == pytest.approx(
        [budget_limit(b, CTX.fixed_ratio) for b in BUDGETS]
    )


def test_the_picks_stage_reads_the_rule_from_the_search_meta(tmp_path: Path) -> None:
    """The picks stage writes one `pick` row per budget (what retrain and export read), metrics copied."""
    from raydistill.layout import RunLayout
    from raydistill.results.points import picks_by_arch, read_points
    from raydistill.spec.schema import SearchSpec, Spec, TeacherSpec
    from raydistill.stages import StageRun, picks

    search_dir = tmp_path / "run" / "search"
    write_table(with_dev_metrics(_table(), {WIDTH[b].id: 0.5 + b for b in BUDGETS}), search_dir)
    meta = search_meta(name="r", task="sst2", metric="accuracy", budgets=BUDGETS, sampler="random",
                       space="width_depth", num_trials=6, ctx=CTX)  # fmt: skip
    write_meta(meta, search_dir)
    assert json.loads((search_dir / "meta.json").read_text())["fixed_ratio"] == CTX.fixed_ratio
    assert read_fixed_ratio(search_dir) == CTX.fixed_ratio
    spec = Spec(
        name="r", task="sst2", teacher=TeacherSpec(model="unused"), search=SearchSpec(budgets=BUDGETS)
    )
    layout = RunLayout(tmp_path / "run")
    CTX.config.save_pretrained(layout.supernet_model)  # what the picks are priced from
    picks.run(StageRun(spec, layout, "key", "run key"))
    points = read_points(layout)
    assert picks_by_arch(points) == {WIDTH[b].id: [b] for b in BUDGETS}
    assert points["search_metric"].tolist() == pytest.approx([0.725, 0.75])  # copied from the trials
    assert set(points["kind"]) == {"pick"} and points["seq_length"].tolist() == [128, 128]  # cost length
    assert points["dev_metric"].tolist() == [0.75, 1.0]  # the search scored them: nothing loaded here


def test_a_pick_the_search_did_not_score_is_scored_on_dev_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Budgets below the largest do not shape the search's dev scoring, so the picks stage scores the rest."""
    from raydistill.layout import RunLayout
    from raydistill.search import final, tuner
    from raydistill.spec.schema import SearchSpec, Spec, TeacherSpec
    from raydistill.stages import StageRun, picks

    layout = RunLayout(tmp_path / "run")
    write_table(with_dev_metrics(_table(), {WIDTH[0.5].id: 0.8}), layout.search_dir)
    write_meta(search_meta(name="r", task="sst2", metric="accuracy", budgets=BUDGETS, sampler="random",
                           space="width_depth", num_trials=6, ctx=CTX), layout.search_dir)  # fmt: skip
    CTX.config.save_pretrained(layout.supernet_model)
    scored: list[list[str]] = []
    monkeypatch.setattr(
        tuner, "load_setup", lambda spec, directory: type("S", (), {"model": None, "data": None})
    )
    monkeypatch.setattr(
        final, "evaluate_on_dev", lambda model, archs, data, **kw: scored.append([a.id for a in archs]) or {}
    )
    monkeypatch.setattr(final, "main_dev_values", lambda results, data: {WIDTH[0.25].id: float("nan")})
    spec = Spec(
        name="r", task="sst2", teacher=TeacherSpec(model="unused"), search=SearchSpec(budgets=BUDGETS)
    )
    summary = picks.run(StageRun(spec, layout, "key", "run key"))
    assert scored == [[WIDTH[0.25].id]]  # only the unscored pick
    points = read_points(layout).set_index("label")
    assert points.loc["pick 0.5", "dev_metric"] == 0.8
    assert (
        math.isnan(points.loc["pick 0.25", "dev_metric"]) and points.loc["pick 0.25", "note"] == picks.FAILED
    )
    assert "dev failed: NaN or inf outputs" in summary["headline"]


def test_a_search_without_the_recorded_rule_is_a_clear_error(tmp_path: Path) -> None:
    from raydistill.errors import RunError

    (tmp_path / "meta.json").write_text(json.dumps({"name": "old"}))
    with pytest.raises(RunError, match=r"meta\.json: fixed_ratio is None.*rerun `raydistill run SPEC`"):
        read_fixed_ratio(tmp_path)
