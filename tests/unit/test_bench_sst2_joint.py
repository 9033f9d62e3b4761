"""The sst2_joint benchmark's pure parts: pricing beyond dynamic padding, the dev-front hypervolume, the paired
comparison, and its specs (joint -> lengthdrop, width -> the supernet method); the shipped searches/sst2_joint.yaml."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.sst2_joint import FULL, SMOKE, spec_yaml
from benchmarks.sst2_joint_report import render_markdown
from benchmarks.sst2_joint_stats import (
    dev_front_hv,
    first_evaluated,
    paired,
    real_length_ratio,
    spread,
    suggest_stats,
)
from raydistill.models.arch import Arch
from raydistill.models.flops import count_flops
from raydistill.spec import load_spec
from tests.conftest import tiny_bert_config

REPO = Path(__file__).resolve().parents[2]


def test_token_dropping_is_priced_at_each_real_length() -> None:
    config = tiny_bert_config()  # 2 layers
    full = Arch.for_config(config)
    dropping = Arch(full.layers, full.heads, full.ffn, (0.5, 0.5))
    lengths = [3, 10]
    own = count_flops(dropping, config, 3).macs + count_flops(dropping, config, 10).macs
    ref = count_flops(full, config, 3).macs + count_flops(full, config, 10).macs
    assert real_length_ratio(dropping, config, lengths) == pytest.approx(own / ref)
    assert real_length_ratio(full, config, lengths) == 1.0
    # short examples round up (ceil(0.5 x 3) = 2 of 3 tokens): less saving than at a padded length of 64
    at_64 = count_flops(dropping, config, 64).macs / count_flops(full, config, 64).macs
    assert real_length_ratio(dropping, config, [3]) > at_64


def _table() -> pd.DataFrame:
    rows = [("a", 0.80, 0.5, "ok"), ("b", 0.70, 0.3, "ok"), ("c", 0.60, 0.6, "ok"), ("d", math.nan, 0.9, "infeasible")]
    return pd.DataFrame(rows, columns=["arch_id", "search_metric", "flops_ratio", "status"])


def test_dev_hv_of_the_search_split_front_by_hand() -> None:
    dev = {"a": 0.9, "b": 0.5}
    cost = {"a": 0.6, "b": 0.4}
    hv, front = dev_front_hv(_table(), dev.__getitem__, cost.__getitem__)
    assert [p["arch_id"] for p in front] == ["b", "a"]  # c is dominated on the search split: never scored on dev
    # dev points (0.5, 0.4) and (0.9, 0.6), reference (0, 1): 0.5 x 0.6 + (0.9 - 0.5) x 0.4
    assert hv == pytest.approx(0.5 * 0.6 + 0.4 * 0.4)


def test_first_evaluated_skips_unevaluated_rows() -> None:
    assert list(first_evaluated(_table(), 2)["arch_id"]) == ["a", "b"]


def test_paired_comparison() -> None:
    out = paired({1: 0.5, 2: 0.6, 3: 0.7}, {1: 0.4, 2: 0.6, 3: 0.5})
    assert out["mean_diff"] == pytest.approx(0.1) and out["wins"] == "2/3"
    assert 0 < out["t_test_p"] < 1 and 0 < out["wilcoxon_p"] <= 1
    assert math.isnan(paired({1: 0.5}, {1: 0.4})["t_test_p"])


def test_suggest_stats() -> None:
    s = suggest_stats([1.0, 1.0, 1.0, 5.0])
    assert s["mean_s"] == 2.0 and s["max_s"] == 5.0 and s["last_quarter_mean_s"] == 5.0 and s["calls"] == 4


@pytest.mark.parametrize("kind, method", [("joint", "lengthdrop"), ("width", "supernet")])
def test_benchmark_specs_validate_with_the_same_budget(
    tmp_path: Path, tiny_model_dir: Path, kind: str, method: str
) -> None:
    from raydistill.training.supernet import supernet_method
    from tests.unit.training.conftest import write_sst2

    path = tmp_path / f"{kind}.yaml"
    path.write_text(spec_yaml(FULL, kind, write_sst2(tmp_path / "data"), tiny_model_dir, tmp_path / "runs"))
    spec = load_spec(path)
    assert supernet_method(spec) == method
    assert spec.supernet.train.epochs == 3 and spec.data.max_train_examples == 8889 and spec.seed == 42
    assert SMOKE.trials < FULL.trials and len(SMOKE.seeds) == 1


@pytest.mark.skipif(
    not (REPO.parent / "shared" / "data" / "glue" / "SST-2").is_dir(), reason="needs ../shared (data and teacher)"
)
def test_the_shipped_joint_spec_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # its paths are relative to the repo root
    spec = load_spec(REPO / "searches" / "sst2_joint.yaml")
    assert spec.search.space == "joint" and spec.supernet.length.enabled
    assert spec.search.objective == "flops" and spec.seed == 42 and spec.data.search_split == 0.1
    assert spec.data.max_train_examples is None  # the teacher's own search split, untouched


def _results(samplers: dict) -> dict:
    """A benchmark result of two seeds (made-up HVs) in the shape `run_sst2_joint` writes."""
    hv = {"joint": {1: 0.80, 2: 0.82}, "width": {1: 0.79, 2: 0.80}}
    per_seed = {str(seed): {"equal_evaluations": 40} | {k: {"dev_hv_real_length": v[seed], "dev_hv_at_cost_length":
                v[seed] - 0.1, "front": []} for k, v in hv.items()} for seed in (1, 2)}  # fmt: skip
    b = {"per_seed": per_seed, "joint_minus_width": paired(hv["joint"], hv["width"]),
         "joint_minus_width_at_cost_length": paired(hv["joint"], hv["width"])}  # fmt: skip
    return {
        "benchmark": "sst2_joint", "settings": {**vars(FULL)}, "teacher": "t", "budgets": [0.5],
        "examples": {"train": 8000, "search": 889, "dev": 872}, "teacher_seen_search_examples": 3,
        "supernets": {"joint": {"method": "lengthdrop", "steps": 750, "train_time_s": 600.0, "stage_wall_s": 620.0}},
        "joint_vs_width": b, "samplers": samplers, "environment": {},
    }  # fmt: skip


def test_the_page_without_the_sampler_study_keeps_part_b() -> None:
    page = render_markdown(_results({"not_run": "--no-samplers"}))
    assert "joint - width (real length): mean +0.0150" in page and "joint higher on 2/2 seeds" in page
    assert "(c) samplers: not run (--no-samplers)." in page and "## (c)" not in page


def test_the_page_with_the_sampler_study() -> None:
    hv = {"random": {1: 0.70, 2: 0.71}, "tpe": {1: 0.72, 2: 0.74}}
    c = {
        "gp_trials": 30, "suggest_seconds": {"tpe": [suggest_stats([0.1, 0.3])]},
        "hv_equal_evaluations": {n: {**spread(list(v.values())), "vs_random": paired(v, hv["random"])} for n, v in hv.items()},
        "hv_at_gp_evaluations": {n: {**spread(list(v.values())), "vs_random": paired(v, hv["random"])} for n, v in hv.items()},
    }  # fmt: skip
    page = render_markdown(_results(c))
    assert "## (c) Samplers on the joint space" in page and "not run" not in page
    assert "| tpe | 0.7300 ± 0.0141 | +0.0250 | 2/2 |" in page
