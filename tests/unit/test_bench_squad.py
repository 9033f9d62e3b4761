"""The squad_length benchmark's pure parts: the paired bootstrap over questions, "largest FLOPs reduction within
1.0 F1", the latency ratio, the run specs it writes (the joint run = the spec's header overrides) and its
markdown on made-up results."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from benchmarks.squad_length import SMOKE_CAPS, header_overrides, real_windows, run_overrides, run_spec
from benchmarks.squad_stats import (
    largest_within,
    latency_speedup,
    paired_bootstrap,
    shape_text,
    target_verdict,
    timed_point,
    within,
)
from raydistill.layout import RunLayout
from raydistill.spec import Spec
from tests.unit.data.conftest import CONTEXT, squad_json


def test_bootstrap_interval_holds_the_true_difference_and_is_seeded() -> None:
    rng = np.random.default_rng(1)
    reference = rng.uniform(0, 100, size=2000)
    point = reference - 1.5 + rng.normal(0, 5, size=2000)  # true paired difference -1.5 (+ noise of mean ~0)
    ci = paired_bootstrap(point, reference, resamples=2000, seed=7)
    assert ci["diff"] == pytest.approx(float(np.mean(point - reference)))
    assert ci["low"] < -1.5 < ci["high"] and ci["high"] - ci["low"] < 1.0  # sd 5 / sqrt(2000): width ~0.44
    assert paired_bootstrap(point, reference, resamples=2000, seed=7) == ci
    assert paired_bootstrap(point, reference, resamples=2000, seed=8) != ci
    # pairing: a constant shift has no spread at all, whatever the questions' own spread
    shifted = paired_bootstrap(reference - 2.0, reference, resamples=500)
    assert shifted["low"] == pytest.approx(-2.0) and shifted["high"] == pytest.approx(-2.0)
    with pytest.raises(ValueError, match="equal non-empty"):
        paired_bootstrap([1.0, 2.0], [1.0])


def _row(name: str, reduction: float, diff: float, low: float) -> dict:
    ci = {"diff": diff, "low": low, "high": diff + 1}
    return {"labels": name, "reduction": reduction, **ci, "within": within(ci)}


def test_largest_reduction_within_one_point() -> None:
    rows = [_row("a", 1.5, -0.2, -0.8), _row("b", 2.5, -0.9, -1.6), _row("c", 4.0, -1.2, -2.0),
            _row("d", 2.5, -0.4, -1.1), _row("e", 1.2, 0.3, -0.1)]  # fmt: skip
    assert within({"diff": -1.0, "low": -1.0}) == {"point": True, "interval": True}  # the boundary counts
    assert largest_within(rows)["labels"] == "d"  # b and d tie at 2.5x: the better F1 wins; c is too far
    assert largest_within(rows, "interval")["labels"] == "a"
    assert largest_within([_row("c", 4.0, -1.2, -2.0)]) is None


def test_target_verdicts() -> None:
    assert target_verdict("joint", 3.2) == {"targets": {"required": 3.0, "stretch": 5.0}, "required_met": True,
                                            "stretch_met": False}  # fmt: skip
    assert target_verdict("joint", None)["required_met"] is False
    assert target_verdict("length", 1.8)["targets"] is None


def test_timed_point_falls_back_when_no_point_is_within() -> None:
    rows = [_row("a", 1.5, -0.2, -0.8), _row("b", 3.2, -9.0, -10.0), _row("c", 4.0, -12.0, -13.0),
            _row("d", 3.5, -6.0, -7.0), _row("e", 2.0, -3.0, -4.0)]  # fmt: skip
    assert timed_point(rows, "joint")[0]["labels"] == "a"  # within 1.0: the largest such reduction
    far = rows[1:]
    point, why = timed_point(far, "joint-long")
    assert point["labels"] == "d" and "best F1 at >= 3x" in why  # none within: the best F1 at >= 3x
    point, why = timed_point(far, "length")  # no target: the most reduced point
    assert point["labels"] == "c" and "most reduced" in why
    assert timed_point([rows[4]], "joint")[0]["labels"] == "e"  # none reaches 3x: the most reduced
    assert timed_point([], "joint") == (None, "")


def test_latency_speedup_and_its_ratio_to_the_flops_reduction() -> None:
    got = latency_speedup({1: 10.0, 32: 300.0}, {1: 5.0, 32: 120.0}, reduction=2.5)
    assert got[1]["speedup"] == 2.0 and got[1]["ratio_to_flops"] == pytest.approx(0.8) and not got[1]["goal_met"]
    assert got[32]["speedup"] == 2.5 and got[32]["ratio_to_flops"] == pytest.approx(1.0) and got[32]["goal_met"]


def test_shape_text() -> None:
    assert shape_text(2, (12, 6), (1536, 768), (200, 160), 256) == (
        "2 layers; heads 12,6; FFN 1536,768; tokens 256>200>160"
    )
    assert shape_text(1, (4,), (64,), None, 32).endswith("tokens all")


def test_run_specs_validate_and_joint_takes_the_header_overrides(tmp_path: Path, tiny_model_dir: Path) -> None:
    data = tmp_path / "data"
    (data / "squad_v1.1").mkdir(parents=True)
    articles = [(f"article {k}", CONTEXT, [(f"q{k}", "what is red ?", "red")]) for k in range(48)]
    (data / "squad_v1.1" / "dev-v1.1.json").write_text(squad_json(articles))  # the official file's 48 articles
    storage = tmp_path / "work"
    commands = header_overrides()
    assert set(commands) == {"squad-joint", "squad-joint-long", "squad-joint-hidden"}
    assert {"search.space=joint", "teacher.finetuned=true", "name=squad-joint"} <= set(commands["squad-joint"])
    length, _ = run_spec("length", data, storage)
    shutil.copytree(tiny_model_dir, RunLayout.of(storage, length.name).teacher_model)  # the length run's teacher
    joint, overrides = run_spec("joint", data, storage)
    for spec in (length, joint):
        assert Spec.model_validate(spec.model_dump()) == spec
        assert spec.data.path == str(data / "squad_v1.1") and spec.resources.storage_path == str(storage)
    assert (length.search.space, length.supernet.widths, length.supernet.depths) == ("length", [1.0], [1.0])
    assert (joint.name, joint.search.space, joint.supernet.widths, joint.supernet.depths) == (
        "squad-joint", "joint", [1.0, 0.75, 0.5, 0.25], [1.0, 0.5])
    assert joint.teacher.finetuned and joint.teacher.model == str(RunLayout.of(storage, length.name).teacher_model)
    assert sum(o.startswith("teacher.model=") for o in overrides) == 1
    shutil.copytree(tiny_model_dir, RunLayout.of(storage, "squad-joint").supernet_model)  # the joint supernet
    long, _ = run_spec("joint-long", data, storage)  # the joint run's supernet trained on, every train article
    assert (long.name, long.search.space, long.supernet.reorder, long.data.max_train_examples) == (
        "squad-joint-long", "joint", False, None)
    assert long.teacher.finetuned and long.teacher.model == str(RunLayout.of(storage, "squad-joint").supernet_model)
    assert long.supernet.widths == joint.supernet.widths and long.supernet.depths == joint.supernet.depths
    hidden, _ = run_spec("joint-hidden", data, storage)  # the joint run, with the hidden-state term
    assert hidden.supernet.length.hidden_weight == 1.0 and joint.supernet.length.hidden_weight == 0.0
    assert hidden.model_copy(update={"name": joint.name, "supernet": joint.supernet}) == joint
    assert run_spec("joint-long", data, storage, SMOKE_CAPS)[0].data.max_train_examples == 1100  # caps win
    smoke, _ = run_spec("joint", data, storage, SMOKE_CAPS)
    assert smoke.search.num_trials == 4 and smoke.data.max_eval_examples == 24 and smoke.search.space == "joint"
    with pytest.raises(ValueError, match="choose one of"):
        run_overrides("width", data, storage)


def test_real_windows_takes_the_longest_and_pads() -> None:
    import torch

    def item(n: int) -> dict:
        ids = torch.arange(1, n + 1)
        return {"input_ids": ids, "attention_mask": torch.ones(n, dtype=torch.long), "token_type_ids": ids * 0}

    dataset = [item(3), item(6), item(6), item(2)]
    feeds, full = real_windows(dataset, 3, 6)
    assert feeds["input_ids"].shape == (3, 6) and full == 2
    assert feeds["attention_mask"].sum(dim=1).tolist() == [6, 6, 3]
    feeds, _ = real_windows(dataset, 6, 6)  # more rows than windows: repeated
    assert feeds["attention_mask"].sum(dim=1).tolist() == [6, 6, 3, 2, 6, 6]


def test_markdown_states_the_split_and_the_verdicts() -> None:
    from benchmarks.squad_report import render_markdown

    point = _row("pick 0.55", 2.0, -0.5, -1.2) | {"shape": "6 layers", "f1": 80.0, "exact_match": 70.0,
                                                   "em_diff": -0.4}  # fmt: skip
    sizes = {"train_file": "t", "dev_file": "d", "max_seq_length": 256, "doc_stride": 96, "max_query_length": 64,
             "max_train_examples": 4000, "max_eval_examples": None, "cost_seq_length": 256,
             "questions": {"search": 300, "report": 1988}, "report_windows": 2500,
             "teacher": {"model": "minilm-l6", "finetuned": False}, "supernet": {"method": "lengthdrop",
             "widths": [1.0], "depths": [1.0], "length_drop_ratio_bound": 0.2},
             "search": {"space": "joint", "sampler": "nsga2", "num_trials": 48, "budgets": [0.2],
                        "max_search_examples": 300, "pareto_eval_cap": 8},
             "stages": {"teacher": {"steps": 10}, "supernet": {"steps": 5}}}  # fmt: skip
    probe = _row("probe T1,0.9", 1.1, 0.2, -0.3) | {"shape": "6 layers", "f1": 80.7, "exact_match": 70.5,
                                                   "em_diff": 0.1}  # fmt: skip
    run = {"run": "squad-joint", "sizes": sizes, "points": [point], "probes": [probe], "best_within": point,
           "best_within_interval": None, "verdict": target_verdict("joint", 2.0),
           "split": {"dev": "SQuAD v1.1 dev articles 38-47 (1,988 questions)", "search": "s", "train": "t"},
           "reference": {"shape": "6 layers", "f1": 80.5, "exact_match": 70.4, "questions": 1988},
           "latency": {"settings": {"seq_len": 256, "threads": 1, "warmup": 3, "repeats": 10}, "point": "pick 0.55",
                       "reduction": 2.0, "f1_diff": -0.5, "why": "the largest reduction within 1.0 F1",
                       "kinds": {"full": "BertForQuestionAnswering", "point": "SubnetBertForQuestionAnswering"},
                       "full_windows": {1: 1, 32: 20}, "per_batch": latency_speedup({1: 4.0, 32: 90.0},
                                                                                    {1: 2.5, 32: 50.0}, 2.0)}}
    results = {"smoke": True, "settings": {"resamples": 10_000, "seed": 0}, "spec": "searches/squad_length.yaml",
               "runs": {"length": {"not_run": "--runs joint"}, "joint": run},
               "consistency": {"tolerance": 1e-6, "ok": True, "failed": []}, "environment": {"python": "3"}}  # fmt: skip
    md = render_markdown(results)
    assert "numbers mean nothing" in md and "Not run (--runs joint)" in md
    assert "**every F1 / EM below scored on**: SQuAD v1.1 dev articles 38-47 (1,988 questions)" in md
    assert "| pick 0.55 | 6 layers | 2.00x | 80.00 | 70.00 | -0.50 [-1.20, +0.50] | -0.40 | yes / no |" in md
    assert "| probe T1,0.9 | 6 layers | 1.10x | 80.70 | 70.50 | +0.20 [-0.30, +1.20] | +0.10 | yes / yes |" in md
    assert "Timed point: pick 0.55 (2.00x, F1 diff -0.50; the largest reduction within 1.0 F1)." in md
    assert ">= 3x required: not met" in md and "| 32 | 90.0 | 50.0 | 1.80x | 2.00x | 0.90 | met | 20 |" in md
