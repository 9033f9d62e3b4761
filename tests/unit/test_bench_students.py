"""`benchmarks/students_sst2.py`: the spec it runs (every entry once per seed, caps, the teacher's split) and the
analysis of made-up runs (mean and std per method, the anchor orderings, TinyBERT's ablation, the supernet pick at
no more FLOPs, the grid estimate)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import raydistill.stages  # noqa: F401  the students checks join the spec rules
from benchmarks.students_sst2 import (
    SMOKE,
    SPEC,
    Settings,
    _ablation_text,
    _augment_text,
    bench_spec,
    compare_with_anchors,
    estimate_full_seconds,
    method_label,
    summarise,
    supernet_comparison,
)
from raydistill.spec import Spec


def _run(entry: str, method: str, seed: int, dev: float, flops: int = 100, **more: Any) -> dict[str, Any]:
    return {"entry": entry, "method": method, "seed": seed, "dev_metric": dev, "search_metric": dev + 0.01,
            "wall_time_s": 10.0, "train_time_s": 8.0, "steps": 4, "flops": flops, "flops_ratio": flops / 400,
            "params": 1000, "seq_length": 64, **more}  # fmt: skip


def test_every_entry_runs_once_per_seed_with_the_caps_on_the_teachers_split(tmp_path: Path) -> None:
    base = yaml.safe_load(SPEC.read_text())
    spec = bench_spec(
        Settings(seeds=(42, 43), max_steps=3), base, tmp_path / "SST-2", tmp_path, tmp_path / "t"
    )
    names = [e["name"] for e in spec["students"]]
    assert names[:2] == [f"{base['students'][0]['name']}-s42", f"{base['students'][0]['name']}-s43"]
    assert len(names) == 2 * len(base["students"])
    assert {e["seed"] for e in spec["students"]} == {42, 43} and spec["seed"] == base["seed"]
    assert all(e["train"]["max_steps"] == 3 for e in spec["students"])
    assert "max_train_examples" not in spec["data"]  # the whole train set: the teacher's own split
    assert spec["teacher"] == {**base["teacher"], "model": str(tmp_path / "t"), "finetuned": True}
    Spec.model_validate(spec)  # a valid spec
    labels = {method_label(e) for e in base["students"]}
    assert {"FT", "KD", "PKD-skip", "PKD-last", "TinyBERT"} <= labels
    assert method_label({"method": "tinybert", "train_data": "augmented"}) == "TinyBERT+DA"
    smoke = bench_spec(SMOKE, base, tmp_path / "SST-2", tmp_path, tmp_path / "t")
    assert smoke["data"]["max_train_examples"] == SMOKE.max_train and len(smoke["students"]) == len(
        base["students"]
    )


def test_means_stds_and_the_anchor_orderings_come_from_the_numbers() -> None:
    runs = [
        _run("ft", "FT", 1, 0.80), _run("ft", "FT", 2, 0.82),
        _run("kd", "KD", 1, 0.85), _run("kd", "KD", 2, 0.85),
        _run("ps", "PKD-skip", 1, 0.84), _run("ps", "PKD-skip", 2, 0.84),
        _run("pl", "PKD-last", 1, 0.86), _run("pl", "PKD-last", 2, 0.86),
    ]  # fmt: skip
    summary = summarise(runs)
    assert list(summary) == ["FT", "KD", "PKD-skip", "PKD-last"]
    assert summary["FT"]["dev_mean"] == pytest.approx(81.0) and summary["FT"]["dev_std"] == pytest.approx(
        1.4142, 1e-3
    )
    assert summary["KD"]["search_mean"] == pytest.approx(86.0) and summary["KD"]["wall_s_per_run"] == 10.0
    comp = compare_with_anchors(summary, teacher_dev=90.0)
    by_claim = {p["claim"]: p for p in comp["orderings"]}
    assert by_claim["KD > FT"]["agrees"] and by_claim["KD > FT"]["our_diff"] == pytest.approx(4.0)
    assert by_claim["KD > FT"]["beyond_noise"]  # 4 points against a spread of 1.41
    assert not by_claim["PKD-skip > KD"]["agrees"] and not by_claim["PKD-skip > PKD-last"]["agrees"]
    assert by_claim["PKD-skip > KD"]["anchor_diff"] == pytest.approx(91.06 - 90.77)
    assert comp["gaps_to_teacher"]["FT"] == {
        "anchor_gap": pytest.approx(92.58 - 89.68),
        "our_gap": pytest.approx(9.0),
    }
    assert comp["tinybert_ablation"] == {"given": False, "note": "no TinyBERT entry in the spec"}


def test_tinybert_ablation_costs_of_removing_da_and_task_distillation() -> None:
    runs = [_run("ft", "FT", 1, 0.80), _run("tb", "TinyBERT", 1, 0.83), _run("tbda", "TinyBERT+DA", 1, 0.86)]
    ablation = compare_with_anchors(summarise(runs), 90.0)["tinybert_ablation"]
    assert ablation["full"] == "TinyBERT+DA"
    assert ablation["cost_of_removing_da"] == pytest.approx(3.0)
    assert ablation["cost_of_removing_task_distillation"] == pytest.approx(6.0)
    without_da = compare_with_anchors(summarise(runs[:2]), 90.0)["tinybert_ablation"]
    assert without_da["full"] == "TinyBERT" and "cost_of_removing_da" not in without_da
    text = _ablation_text(ablation)  # what removing a part does to dev, signed as a change
    assert "removing DA: dev -3.00 points" in text and "(FT instead): dev -6.00 points" in text


def test_the_augmentation_line_says_what_tinybert_da_trains_on() -> None:
    aug = {"enabled": True, "copies": 4, "max_examples": 2000}
    assert "(8338 rows), the other entries on every training example" in _augment_text(aug, 8338)
    assert "rows" not in _augment_text(aug) and _augment_text(None).startswith("off")


def test_the_best_student_meets_the_best_supernet_model_at_no_more_flops_both_chosen_on_search() -> None:
    summary = summarise([_run("kd", "KD", 1, 0.85, flops=100), _run("ft", "FT", 1, 0.80, flops=100)])
    points = pd.DataFrame({
        "label": ["teacher", "pick 0.25", "pick 0.5", "retrained a", "pareto b", "trial c"],
        "kind": ["teacher", "pick", "pick", "retrained", "trial", "trial"],
        "search_metric": [0.95, 0.86, 0.90, 0.87, 0.80, 0.99], "dev_metric": [0.9, 0.83, 0.88, 0.84, 0.89, None],
        "flops": [400, 90, 200, 95, 99, 50], "flops_ratio": [1, 0.225, 0.5, 0.2375, 0.2475, 0.125],
        "seq_length": [64] * 6,
    })  # fmt: skip
    c = supernet_comparison(summary, points, 400)
    # pick 0.5 costs more than the student; "pareto b" is best on dev but not on the search split; "trial c"
    # has no dev score
    assert c["student"] == "KD" and c["supernet"] == "retrained a" and c["chosen_on"] == "search split"
    assert c["student_minus_supernet"] == pytest.approx(1.0)
    ft_best_on_search = summarise([_run("kd", "KD", 1, 0.85), _run("ft", "FT", 1, 0.80, search_metric=0.99)])
    assert supernet_comparison(ft_best_on_search, points, 400)["student"] == "FT"
    assert supernet_comparison(summary, None, 400) == {"given": False}


def test_with_supernet_turns_on_the_specs_supernet_and_search_and_compares_with_this_run(tmp_path: Path) -> None:
    base = yaml.safe_load(SPEC.read_text())
    assert base["supernet"]["enabled"] is False and base["search"]["enabled"] is False
    spec = bench_spec(Settings(seeds=(42,), with_supernet=True), base, tmp_path / "SST-2", tmp_path, tmp_path / "t")
    assert spec["supernet"] == {**base["supernet"], "enabled": True}
    assert spec["search"] == {**base["search"], "enabled": True}
    Spec.model_validate(spec)
    assert 0.5 in spec["search"]["budgets"] and 0.5 in spec["supernet"]["depths"]  # a 3-layer student's FLOPs


def test_the_grid_estimate_scales_step_times_and_the_cache() -> None:
    runs = [_run("kd", "KD", 1, 0.8)]  # 8 s for 4 steps: 2 s a step, 2 s overhead
    assert estimate_full_seconds(runs, {"kd": 100}, 3, [(5.0, 10.0)]) == pytest.approx(3 * (200 + 2) + 50)
