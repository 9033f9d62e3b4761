"""Benchmark `students_sst2`: the 3-layer SST-2 students of `searches/sst2_students.yaml` over 3 student seeds.

Every entry of the spec (FT, KD, PKD-skip, PKD-last, TinyBERT, and TinyBERT+DA when the spec has an entry with
`train_data: augmented`) is trained once per student seed (42, 43, 44: the entry's `seed`, which moves the
student's initialisation, dropout and data order; the search split is always the spec's seed-42 split) through the
real pipeline (`raydistill run` on a spec written here: the students stage on Ray Train, the teacher's outputs
cached for the KD / PKD entries), from the fine-tuned MiniLM-L6 teacher beside the data folder
(../shared/models/minilm-l6-sst2; its own 10% seed-42 split untouched). Caps: the spec's `max_steps` per entry (`--max-steps` overrides), the whole
train set unless `--max-train` caps it (that carves another search split, part of which the teacher has seen),
and the augmentation's N copies and augmented examples (`--copies`, `--augment-examples`). Reported per method:
mean and std over the seeds of SST-2 dev accuracy and of search-split accuracy, time per run, steps, FLOPs at the
run's cost length, params; then a comparison with the anchors (Patient-KD, 6-layer students, SST-2 dev:
teacher 92.58, FT 89.68, KD 90.77, PKD-skip 91.06, PKD-last 90.54; TinyBERT's ablation: removing DA or task
distillation costs the most), computed from the numbers; and, with `--supernet-run`, the best student against
the best supernet model of that run at no more FLOPs. A rerun resumes the benchmark's run (cached entries are
not retrained; `--fresh` starts over), so a grid longer than one sitting finishes over several.

    python -m benchmarks.run --data ../shared/data --only students_sst2                    (hours: see the estimate)
    python -m benchmarks.students_sst2 --data ../shared/data --smoke                       (a few steps, 1 seed)
    python -m benchmarks.students_sst2 --data ../shared/data --supernet-run runs/bench/...  (adds the comparison)
"""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import bench_parser, environment, guarded, md_table, write_results

SPEC = Path(__file__).resolve().parents[1] / "searches" / "sst2_students.yaml"
TEACHER_DIR = Path("models") / "minilm-l6-sst2"  # beside the data folder: ../shared/{data,models}


def shared_teacher(data_root: Path) -> Path:
    """The fine-tuned MiniLM-L6 SST-2 teacher of ../shared/models (its README says how it was made)."""
    return data_root.resolve().parent / TEACHER_DIR
SEEDS = (42, 43, 44)
THREADS = 2
FULL_TRAIN = 67349 - 6735  # SST-2 train less the seed-42 10% search split (the teacher's)
# Patient-KD (Sun et al. 2019) Table 1, BERT-6 students, SST-2 dev accuracy (%).
ANCHORS = {"teacher": 92.58, "FT": 89.68, "KD": 90.77, "PKD-skip": 91.06, "PKD-last": 90.54}
ANCHOR_ORDER = [("KD", "FT"), ("PKD-skip", "KD"), ("PKD-last", "FT"), ("PKD-skip", "PKD-last")]
METHODS = ("FT", "KD", "PKD-skip", "PKD-last", "TinyBERT", "TinyBERT+DA")


@dataclass(frozen=True)
class Settings:
    """What the benchmark runs; `SMOKE` only proves it runs (a few steps, 1 seed, a small train subset)."""

    name: str = "bench-students-sst2"
    seeds: tuple[int, ...] = SEEDS
    max_steps: int | None = None  # None: the spec's caps
    max_train: int | None = None  # None: the whole train set (the teacher's split)
    max_eval: int | None = None
    copies: int | None = 4  # N augmented copies per example (paper: 20 for SST-2)
    augment_examples: int | None = 8000  # augment only the first N training examples
    mlm_steps: int | None = None  # None: the spec's
    with_supernet: bool = False  # also the spec's (disabled) supernet + search in the same run
    smoke: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


FULL = Settings()
SMOKE = Settings(
    name="bench-students-sst2-smoke", seeds=(42,), max_steps=3, max_train=300, max_eval=64, copies=1,
    augment_examples=16, mlm_steps=2, smoke=True,
)  # fmt: skip


# ---------------------------------------------------------------- the spec
def method_label(entry: dict[str, Any]) -> str:
    """FT / KD / PKD-skip / PKD-last / TinyBERT / TinyBERT+DA of a `students:` entry (a dict of the YAML)."""
    method = entry.get("method", "kd")
    if method == "finetune":
        return "FT"
    if method == "pkd":
        return f"PKD-{(entry.get('options') or {}).get('strategy', 'skip')}"
    if method == "tinybert":
        return "TinyBERT+DA" if entry.get("train_data") == "augmented" else "TinyBERT"
    return method.upper()


def _cap(train: dict[str, Any], max_steps: int | None) -> dict[str, Any]:
    if max_steps is None:
        return train
    return {**train, "max_steps": min(max_steps, train.get("max_steps") or max_steps)}


def bench_spec(
    s: Settings, base: dict[str, Any], sst2_dir: Path, storage: Path, teacher: Path
) -> dict[str, Any]:
    """The spec the benchmark runs: `base` (the YAML) with every entry once per seed, the caps and paths."""
    spec = copy.deepcopy(base)
    spec["name"] = s.name
    spec["data"] = {**spec["data"], "path": str(sst2_dir)}
    for key, value in (("max_train_examples", s.max_train), ("max_eval_examples", s.max_eval)):
        if value is not None:
            spec["data"][key] = value
    spec["teacher"] = {**spec["teacher"], "model": str(teacher), "finetuned": True}
    spec["export"] = {"enabled": False}
    spec["resources"] = {
        **spec.get("resources", {}),
        "storage_path": str(storage),
        "cpus_per_worker": THREADS,
    }
    students = []
    for entry in base["students"]:
        for seed in s.seeds:
            one = {**copy.deepcopy(entry), "name": f"{entry['name']}-s{seed}", "seed": seed}
            one["train"] = _cap(one.get("train") or {}, s.max_steps)
            if one.get("prediction_train") is not None:
                one["prediction_train"] = _cap(one["prediction_train"], s.max_steps)
            students.append(one)
    spec["students"] = students
    if s.with_supernet:
        spec["supernet"] = {**spec["supernet"], "enabled": True}
        spec["search"] = {**spec["search"], "enabled": True}
    if "augment" in spec and spec["augment"].get("enabled"):
        aug = spec["augment"]
        for key, value in (
            ("copies", s.copies),
            ("max_examples", s.augment_examples),
            ("mlm_steps", s.mlm_steps),
        ):
            if value is not None:
                aug[key] = value
    return spec


# ---------------------------------------------------------------- pure analysis (tested on made-up runs)
def _mean_std(values: list[float]) -> tuple[float, float]:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per method (in `METHODS` order): seeds, mean/std of dev and search accuracy (%), mean seconds and steps
    per run, FLOPs, params, cost length. `runs`: one dict per trained entry (`collect_runs`)."""
    out: dict[str, dict[str, Any]] = {}
    for label in METHODS:
        mine = [r for r in runs if r["method"] == label]
        if not mine:
            continue
        dev, dev_std = _mean_std([100 * r["dev_metric"] for r in mine])
        search, search_std = _mean_std([100 * r["search_metric"] for r in mine])
        out[label] = {
            "seeds": [r["seed"] for r in mine], "runs": len(mine),
            "dev_mean": dev, "dev_std": dev_std, "search_mean": search, "search_std": search_std,
            "dev_per_seed": [100 * r["dev_metric"] for r in mine],
            "wall_s_per_run": statistics.fmean(r["wall_time_s"] for r in mine),
            "train_s_per_run": statistics.fmean(r["train_time_s"] for r in mine),
            "steps_per_run": statistics.fmean(r["steps"] for r in mine),
            "flops": mine[0]["flops"], "flops_ratio": mine[0]["flops_ratio"], "params": mine[0]["params"],
            "seq_length": mine[0]["seq_length"],
        }  # fmt: skip
    return out


def compare_with_anchors(summary: dict[str, dict[str, Any]], teacher_dev: float) -> dict[str, Any]:
    """Where this project agrees with the anchors: each anchor ordering (a > b) with both differences and
    whether ours is larger than the seeds' spread; each method's gap to its teacher against the anchor's; the
    TinyBERT ablation (what removing DA, or task distillation, costs here)."""
    pairs = []
    for a, b in ANCHOR_ORDER:
        if a not in summary or b not in summary:
            continue
        ours = summary[a]["dev_mean"] - summary[b]["dev_mean"]
        noise = math.hypot(summary[a]["dev_std"], summary[b]["dev_std"])
        pairs.append({
            "claim": f"{a} > {b}", "anchor_diff": ANCHORS[a] - ANCHORS[b], "our_diff": ours, "our_noise": noise,
            "agrees": ours > 0, "beyond_noise": abs(ours) > noise,
        })  # fmt: skip
    gaps = {
        m: {"anchor_gap": ANCHORS["teacher"] - ANCHORS[m], "our_gap": teacher_dev - s["dev_mean"]}
        for m, s in summary.items()
        if m in ANCHORS
    }
    return {"orderings": pairs, "gaps_to_teacher": gaps, "tinybert_ablation": _ablation(summary)}


def _ablation(summary: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """TinyBERT's ablation here: the full method is TinyBERT+DA (else TinyBERT); removing DA = TinyBERT; removing
    task distillation = FT of the same initial student (no general distillation in either)."""
    full = "TinyBERT+DA" if "TinyBERT+DA" in summary else "TinyBERT" if "TinyBERT" in summary else None
    if full is None:
        return {"given": False, "note": "no TinyBERT entry in the spec"}
    out: dict[str, Any] = {"given": True, "full": full, "full_dev": summary[full]["dev_mean"]}
    if full == "TinyBERT+DA":
        out["cost_of_removing_da"] = summary[full]["dev_mean"] - summary["TinyBERT"]["dev_mean"] if (
            "TinyBERT" in summary) else math.nan  # fmt: skip
    else:
        out["note"] = "no TinyBERT+DA entry in the spec: the cost of removing DA is not measured"
    if "FT" in summary:
        out["cost_of_removing_task_distillation"] = summary[full]["dev_mean"] - summary["FT"]["dev_mean"]
    return out


def supernet_comparison(summary: dict[str, dict[str, Any]], points: Any | None, teacher_flops: int) -> dict:
    """The best student against the best supernet model with at most its FLOPs, both chosen on the search split
    and then read on dev (choosing on dev would flatter whichever side has more candidates): the method with the
    highest search-split mean, and among the supernet run's models scored on dev (kinds pick / retrained /
    trial / grid: the budget picks and the Pareto points) the one with the highest search-split metric. Both at
    their own run's cost length (compared by FLOPs ratio when the lengths differ, and said)."""
    if points is None:
        return {"given": False}
    best_label = max(summary, key=lambda m: summary[m]["search_mean"])
    best = summary[best_label]
    rows = points[points["kind"].isin(["pick", "retrained", "trial", "grid"]) & points["dev_metric"].notna()]
    rows = rows[rows["search_metric"].notna()]
    same_length = bool((rows["seq_length"] == best["seq_length"]).all()) if len(rows) else True
    inside = (
        rows[rows["flops"] <= best["flops"]]
        if same_length
        else rows[rows["flops_ratio"] <= best["flops_ratio"]]
    )
    out: dict[str, Any] = {
        "given": True, "chosen_on": "search split", "student": best_label, "student_dev": best["dev_mean"],
        "student_search": best["search_mean"], "student_flops": best["flops"],
        "student_flops_ratio": best["flops_ratio"], "same_cost_length": same_length, "teacher_flops": teacher_flops,
    }  # fmt: skip
    if not len(inside):
        return out | {
            "supernet": None,
            "note": "no supernet model of that run scored on dev fits those FLOPs",
        }
    row = inside.loc[inside["search_metric"].idxmax()]
    return out | {
        "supernet": str(row["label"]), "supernet_kind": str(row["kind"]),
        "supernet_dev": 100 * float(row["dev_metric"]), "supernet_search": 100 * float(row["search_metric"]),
        "supernet_flops": int(row["flops"]), "supernet_flops_ratio": float(row["flops_ratio"]),
        "student_minus_supernet": best["dev_mean"] - 100 * float(row["dev_metric"]),
    }  # fmt: skip


def estimate_full_seconds(
    runs: list[dict[str, Any]], full_steps: dict[str, int], seeds: int, scaled: list[tuple[float, float]]
) -> float:
    """The full grid's rough run time from a smoke run: per entry, its step time (train seconds / steps) x the
    full steps, plus the smoke's per-run overhead (Ray, loading, evaluation on the capped sets), x seeds; plus
    each `(smoke seconds, scale)` of `scaled` (the teacher-output cache, the augmentation) scaled up.
    Evaluation on the full dev and search sets is not in the smoke's overhead: a floor, not a bound."""
    total = 0.0
    for run in runs:
        if run["entry"] not in full_steps:
            continue
        step_s = run["train_time_s"] / max(1, run["steps"])
        total += seeds * (
            full_steps[run["entry"]] * step_s + max(0.0, run["wall_time_s"] - run["train_time_s"])
        )
    return total + sum(seconds * scale for seconds, scale in scaled)


# ---------------------------------------------------------------- the run
def collect_runs(run_dir: Path, base: dict[str, Any]) -> list[dict[str, Any]]:
    """One dict per trained entry: its record (`students/students.json`) and its points-table row."""
    from raydistill.layout import RunLayout
    from raydistill.results.points import read_points

    layout = RunLayout(run_dir)
    records = json.loads(layout.students_file.read_text())
    points = read_points(layout).set_index("label")
    labels = {e["name"]: method_label(e) for e in base["students"]}
    runs = []
    for name, record in records.items():
        entry, _, seed = name.rpartition("-s")
        row = points.loc[f"student {name}"]
        runs.append(record | {
            "name": name, "entry": entry, "seed": int(seed), "method": labels[entry],
            "flops": int(row["flops"]), "flops_ratio": float(row["flops_ratio"]), "params": int(row["params"]),
            "seq_length": int(row["seq_length"]),
        })  # fmt: skip
    return runs


def _run_pipeline(spec: dict[str, Any], storage: Path) -> float:
    spec_path = storage / f"{spec['name']}.yaml"
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    start = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "raydistill"), "run", str(spec_path)], check=True)
    return time.perf_counter() - start


def run_students_sst2(
    data_root: Path,
    out_dir: Path,
    work_dir: Path,
    *,
    settings: Settings = FULL,
    supernet_run: Path | None = None,
    fresh: bool = False,
) -> dict[str, Any]:
    from raydistill.layout import RunLayout
    from raydistill.results.points import read_points

    s = settings
    base = yaml.safe_load(SPEC.read_text())
    storage = work_dir / "students_sst2"
    if fresh:
        shutil.rmtree(storage / s.name, ignore_errors=True)
    storage.mkdir(parents=True, exist_ok=True)
    teacher = shared_teacher(data_root)
    spec = bench_spec(s, base, data_root / "glue" / "SST-2", storage, teacher)
    load_before = os.getloadavg()[0]
    wall = _run_pipeline(spec, storage)
    layout = RunLayout(storage / s.name)
    runs = collect_runs(layout.root, base)
    summary = summarise(runs)
    points = read_points(layout).set_index("label")
    teacher_dev = 100 * float(points.loc["teacher", "dev_metric"])
    stage = json.loads(layout.stage_file("students").read_text())["summary"]
    sn_points = supernet_points(layout, supernet_run, s.with_supernet)
    name = "students_sst2" + ("_smoke" if s.smoke else "")
    results = {
        "benchmark": name,
        "setup": _setup(s, spec, runs, layout),
        "teacher_dev": teacher_dev,
        "methods": summary,
        "anchors": ANCHORS,
        "comparison": compare_with_anchors(summary, teacher_dev),
        "supernet": supernet_comparison(summary, sn_points, int(points.loc["teacher", "flops"])),
        "teacher_outputs": stage.get("teacher_outputs", []),
        "runs": runs,
        "seconds": {"pipeline_wall": wall, **_stage_seconds(layout)},
        "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
        "environment": environment(),
    }
    if s.smoke:
        results["full_grid_estimate_s"] = _estimate(results, base, s)
        print(f"estimated full grid: {results['full_grid_estimate_s'] / 3600:.1f} h "
              f"({len(base['students'])} entries x {len(SEEDS)} seeds, the spec's caps, the whole train set)")  # fmt: skip
    write_results(out_dir, name, results, render_markdown(results))
    return results


def supernet_points(layout: Any, supernet_run: Path | None, with_supernet: bool) -> Any | None:
    """The points the best student is compared with: another run's (`--supernet-run`), else this run's own
    supernet rows (`--with-supernet`: trained and searched in the same run, same data and cost length)."""
    from raydistill.layout import RunLayout
    from raydistill.results.points import read_points

    if supernet_run is not None:
        return read_points(RunLayout(supernet_run.resolve()))
    return read_points(layout) if with_supernet else None


def _setup(s: Settings, spec: dict[str, Any], runs: list[dict[str, Any]], layout: Any) -> dict[str, Any]:
    caps = {e["name"]: {"train_max_steps": (e.get("train") or {}).get("max_steps"),
                        "prediction_max_steps": (e.get("prediction_train") or {}).get("max_steps")}
            for e in spec["students"]}  # fmt: skip
    return {
        "teacher": spec["teacher"]["model"], "student_seeds": list(s.seeds), "split_seed": spec.get("seed", 42),
        "max_seq_length": spec["data"].get("max_seq_length"), "max_train_examples": s.max_train,
        "max_eval_examples": s.max_eval, "train_examples": _train_examples(layout),
        "augmented_rows": _augmented_rows(layout),
        "augment": spec.get("augment"), "caps": caps,
        "supernet": _supernet_setup(spec) if s.with_supernet else None,
        "split_note": "the teacher's own seed-42 10% split" if s.max_train is None else
        f"a 10% split of the first {s.max_train} train examples: the teacher has seen part of it",
    }  # fmt: skip


def _supernet_setup(spec: dict[str, Any]) -> dict[str, Any]:
    sn, search = spec["supernet"], spec["search"]
    keys = ("widths", "depths", "sampling", "train")
    return {**{k: sn.get(k) for k in keys}, "search": {k: search.get(k) for k in (
        "space", "sampler", "num_trials", "budgets", "max_search_examples")}}  # fmt: skip


def _augmented_rows(layout: Any) -> int | None:
    """Rows of the augmented training set (originals and their copies) that `train_data: augmented` reads."""
    path = layout.augmented_train
    return sum(1 for _ in path.open()) if path.is_file() else None


def _train_examples(layout: Any) -> int | None:
    """Training examples of the students (from the teacher-output cache when one was written)."""
    import torch

    files = sorted(layout.teacher_outputs_dir.glob("*.pt")) if layout.teacher_outputs_dir.is_dir() else []
    return int(torch.load(files[0], weights_only=True)["lengths"].numel()) if files else None


def _stage_seconds(layout: Any) -> dict[str, float]:
    out = {}
    for stage in ("augment", "teacher", "students", "supernet", "search", "report"):
        path = layout.stage_file(stage)
        if path.is_file():
            record = json.loads(path.read_text())
            if "seconds" in record:
                out[f"{stage}_stage"] = float(record["seconds"])
    return out


def _estimate(results: dict[str, Any], base: dict[str, Any], s: Settings) -> float:
    """`estimate_full_seconds` of this smoke run: the students stage's time outside the entries' runs (the
    teacher-output cache, data preparation, pricing) scaled by train examples, the augment stage's by examples
    augmented x copies."""
    full_steps = {e["name"]: (e.get("train") or {}).get("max_steps", 0)
                  + (e.get("prediction_train") or {}).get("max_steps", 0) for e in base["students"]}  # fmt: skip
    seconds = results["seconds"]
    outside = seconds.get("students_stage", 0.0) - sum(r["wall_time_s"] for r in results["runs"])
    n_smoke = results["setup"]["train_examples"] or s.max_train or 1
    aug = base.get("augment") or {}
    aug_scale = (FULL.augment_examples or FULL_TRAIN) * (FULL.copies or 1) / max(
        1, (s.augment_examples or 1) * (s.copies or 1))  # fmt: skip
    scaled = [(max(0.0, outside), FULL_TRAIN / n_smoke)]
    if aug.get("enabled"):
        scaled.append((seconds.get("augment_stage", 0.0), aug_scale))
    return estimate_full_seconds(results["runs"], full_steps, len(SEEDS), scaled)


def render_markdown(r: dict[str, Any]) -> str:
    rows = [[m, s["runs"], f"{s['dev_mean']:.2f} ± {s['dev_std']:.2f}",
             f"{s['search_mean']:.2f} ± {s['search_std']:.2f}", f"{ANCHORS[m]:.2f}" if m in ANCHORS else "", f"{s['wall_s_per_run']:.0f}", f"{s['steps_per_run']:.0f}",
             f"{s['flops'] / 1e9:.2f} G ({100 * s['flops_ratio']:.1f}%)", f"{s['params'] / 1e6:.1f} M"]
            for m, s in r["methods"].items()]  # fmt: skip
    header = ["method", "seeds", "dev acc % (mean ± std)", "search acc %", "anchor (PKD paper, 6L)",
              "s / run", "steps / run", "FLOPs (vs teacher)", "params"]  # fmt: skip
    comp = r["comparison"]
    order = [[p["claim"], f"{p['anchor_diff']:+.2f}", f"{p['our_diff']:+.2f}", f"{p['our_noise']:.2f}",
              _agrees(p), "yes" if p["beyond_noise"] else "no"] for p in comp["orderings"]]  # fmt: skip
    gaps = [[m, f"{g['anchor_gap']:.2f}", f"{g['our_gap']:.2f}"] for m, g in comp["gaps_to_teacher"].items()]
    setup = r["setup"]
    parts = [
        f"# {r['benchmark']}",
        f"3-layer students of `searches/sst2_students.yaml` from the fine-tuned MiniLM-L6 teacher "
        f"({setup['teacher']}, dev {r['teacher_dev']:.2f}%), student seeds {setup['student_seeds']} (split seed "
        f"{setup['split_seed']}: {setup['split_note']}); {setup['train_examples']} training examples, max_seq_length "
        f"{setup['max_seq_length']}. Caps per entry (optimizer steps): {_caps_text(setup['caps'])}. Augmentation: "
        f"{_augment_text(setup['augment'], setup.get('augmented_rows'))}.",
        md_table(header, rows),
        "s / run: wall seconds of one run (Ray start, training, evaluation) as the grid ran; other work on the "
        "machine at the time slows it, so read it as a rough cost, not a timing.",
        "## Against the anchors (Patient-KD Table 1 orderings; computed from the numbers above)",
        md_table(["claim", "anchor diff", "our diff", "our noise (std)", "agrees", "beyond noise"], order)
        if order
        else "no pair of anchored methods ran",
        md_table(["method", "anchor gap to teacher", "our gap to teacher"], gaps),
        f"- TinyBERT ablation: {_ablation_text(comp['tinybert_ablation'])}",
        f"- best student vs supernet: {_supernet_text(r['supernet'])}",
        *([f"- supernet of this run: {_supernet_setup_text(setup['supernet'])}"] if setup.get("supernet") else []),
        f"- teacher outputs: {'; '.join(r['teacher_outputs']) or 'none cached'}",
        f"- seconds: {', '.join(f'{k} {v:.0f}' for k, v in r['seconds'].items())} (1-min load average "
        f"{r['load_average_1min']['before']:.1f} before, {r['load_average_1min']['after']:.1f} after, on "
        f"{r['environment']['cpu_count']} cores)",
    ]
    if "full_grid_estimate_s" in r:
        parts.append(f"- smoke run: the numbers above prove the script runs, nothing more. Full grid estimated "
                     f"from its step times: {r['full_grid_estimate_s'] / 3600:.1f} h at this load")  # fmt: skip
    parts.append(f"- environment: {r['environment']}")
    return "\n\n".join(parts)


def _agrees(p: dict[str, Any]) -> str:
    return "tie" if p["our_diff"] == 0 else "yes" if p["agrees"] else "no"


def _caps_text(caps: dict[str, dict[str, Any]]) -> str:
    seen: dict[str, str] = {}
    for name, c in caps.items():
        entry = name.rpartition("-s")[0]
        text = f"{c['train_max_steps']}" + (
            f" + {c['prediction_max_steps']}" if c["prediction_max_steps"] else ""
        )
        seen.setdefault(entry, f"{entry} {text}")
    return ", ".join(seen.values())


def _augment_text(aug: dict[str, Any] | None, rows: int | None = None) -> str:
    if not aug or not aug.get("enabled"):
        return "off (no TinyBERT+DA entry)"
    first = f"the first {aug['max_examples']}" if aug.get("max_examples") else "all"
    text = f"N = {aug.get('copies')} copies of {first} training examples, p = {aug.get('p', 0.4)}"
    if rows is not None:
        text += (f"; TinyBERT+DA trains on those originals and their copies ({rows} rows), the other entries on "
                 f"every training example")  # fmt: skip
    return text


def _ablation_text(a: dict[str, Any]) -> str:
    if not a.get("given"):
        return a.get("note", "not run")
    parts = [f"full = {a['full']} ({a['full_dev']:.2f})"]
    if "cost_of_removing_da" in a:
        parts.append(f"removing DA: dev {-a['cost_of_removing_da']:+.2f} points")
    if "cost_of_removing_task_distillation" in a:
        parts.append(
            f"removing task distillation (FT instead): dev {-a['cost_of_removing_task_distillation']:+.2f} points"
        )
    if "note" in a:
        parts.append(a["note"])
    return "; ".join(parts)


def _supernet_setup_text(sn: dict[str, Any]) -> str:
    train, search = sn["train"] or {}, sn["search"]
    return (f"widths {sn['widths']}, depths {sn['depths']}, {sn['sampling']} sampling, {train.get('max_steps')} "
            f"steps of batch {train.get('batch_size')} (each step trains the sandwich's sub-networks); search "
            f"{search['space']} / {search['sampler']}, {search['num_trials']} trials, budgets {search['budgets']}, "
            f"{search['max_search_examples']} search-split examples per evaluation; picks scored on dev as sliced "
            f"(no re-training)")  # fmt: skip


def _supernet_text(c: dict[str, Any]) -> str:
    if not c.get("given"):
        return "no supernet run was given (`--with-supernet`, or `--supernet-run DIR`)"
    if c.get("supernet") is None:
        return c["note"]
    length = "" if c["same_cost_length"] else " (other cost lengths: compared by FLOPs ratio)"
    return (f"both chosen on the search split, read on dev: {c['student']} {c['student_dev']:.2f}% (search "
            f"{c['student_search']:.2f}%) at {100 * c['student_flops_ratio']:.1f}% FLOPs vs {c['supernet']} "
            f"({c['supernet_kind']}) {c['supernet_dev']:.2f}% (search {c['supernet_search']:.2f}%) at "
            f"{100 * c['supernet_flops_ratio']:.1f}%: student {c['student_minus_supernet']:+.2f} dev points"
            f"{length}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--smoke", action="store_true", help="a few steps, 1 seed, 300 train examples")
    parser.add_argument("--supernet-run", type=Path, help="a run dir with a points table (supernet + search)")
    parser.add_argument("--with-supernet", action="store_true",
                        help="also train and search the spec's supernet in the same run (its section's caps)")
    parser.add_argument("--max-steps", type=int, help="cap every entry's steps (default: the spec's caps)")
    parser.add_argument("--max-train", type=int, help="first N SST-2 train examples (carves another split)")
    parser.add_argument("--seeds", type=int, nargs="+", help=f"student seeds (default: {' '.join(map(str, SEEDS))})")
    parser.add_argument("--copies", type=int, help=f"augmented copies per example (default: {FULL.copies})")
    parser.add_argument("--augment-examples", type=int, help=f"augment the first N (default: {FULL.augment_examples})")
    parser.add_argument("--fresh", action="store_true", help="delete the benchmark's run first (default: resume it)")
    args = parser.parse_args(argv)
    settings = SMOKE if args.smoke else FULL
    given = (("max_steps", args.max_steps), ("max_train", args.max_train), ("copies", args.copies),
             ("augment_examples", args.augment_examples), ("seeds", tuple(args.seeds or ()) or None),
             ("with_supernet", args.with_supernet or None))  # fmt: skip
    settings = Settings(**{**settings.__dict__, **{k: v for k, v in given if v is not None}})
    run_students_sst2(args.data.resolve(), args.out, args.work.resolve(), settings=settings,
                      supernet_run=args.supernet_run, fresh=args.fresh)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(guarded(main))
