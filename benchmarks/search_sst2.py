"""Benchmark `search_sst2`: four samplers search the SST-2 supernet's `layerwise` space under FLOPs budgets.

Inputs: the supernet the `supernet_sst2` benchmark trained (MiniLM-L6, widths [1.0, 0.75, 0.5, 0.25] x depths
[1.0, 0.5]) and the teacher's dev accuracy from the `teacher/metrics.json` of the run that fine-tuned it. Each
sampler (nsga2, tpe, random, evolution) runs the same number of trials (`--trials`, default 100) in a fresh run
dir, budgets [0.25, 0.5, 0.75], the supernet benchmark's data settings (max_seq_length 64, max_train_examples
8,889 -> 889 search-split examples, 872 dev) and 2 concurrent trials; Ray is started once, before the first.
Reported per sampler: hypervolume of the search-split front (accuracy max, FLOPs ratio min, reference (0, 1.0))
and its history, the hypervolume after the same number of *evaluated* sub-networks for all samplers (infeasible
proposals are priced, never evaluated), evaluations/min, and the dev accuracy of the best search-split Arch per
budget as % of the teacher's. Targets: TARGET_PCT at 50%/25% FLOPs (best over samplers, and NSGA-II), NSGA-II
and TPE hypervolume above random and evolution, >= 30 evaluations/min for every sampler.

`python -m benchmarks.search_sst2 --data ../shared/data --smoke --trials 8` runs the same code on a tiny untrained
BERT and 223 SST-2 train / 64 dev examples: it proves the script works, its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.common import environment, md_table, write_results
from benchmarks.search_retrain import RETRAIN_EPOCHS, retrain_picks
from benchmarks.supernet_sst2 import DEPTHS, SEED, SEQ_LEN, TEACHER_REUSE, WIDTHS
from benchmarks.supernet_sst2 import FULL as SUPERNET
from raydistill.results.pareto import best_per_budget, hypervolume_history

SAMPLERS = ["nsga2", "tpe", "random", "evolution"]
BASELINES = ["random", "evolution"]
BUDGETS = [0.25, 0.5, 0.75]
SPACE = "layerwise"
CONCURRENT = 2
TARGET_PCT = {0.5: 99.5, 0.25: 97.0}  # budget -> % of the teacher's dev accuracy
TARGET_EVALS_PER_MIN = 30.0
# Sampler seeds (`search.seed`): every sampler runs once per seed; the data, its search split and the supernet
# stay those of `SEED`. The first is the primary run (picks, report, retrain); HV is compared on the seeds' mean.
SAMPLER_SEEDS = (SEED, SEED + 1, SEED + 2)


@dataclass(frozen=True)
class Settings:
    """What one benchmark run searches with; `SMOKE` only proves the script runs end to end."""

    prefix: str = "bench-search"
    max_train: int = SUPERNET.max_train  # 8,889 -> 889 search examples, as in the supernet benchmark
    max_eval: int | None = None  # all 872 dev examples
    max_search_examples: int | None = None  # every search-split example is scored
    population_size: int = 20
    pareto_eval_cap: int = 20


FULL = Settings()
SMOKE = Settings("bench-search-smoke", max_train=223, max_eval=64, population_size=4, pareto_eval_cap=4)


@dataclass(frozen=True)
class Inputs:
    """The trained supernet and where the teacher's dev accuracy (and the uniform grid) were read from."""

    supernet_dir: Path
    teacher_metrics: Path
    grid_csv: Path | None
    teacher_dir: Path  # the fine-tuned teacher (HF dir): what `search.retrain` distils from


# ---------------------------------------------------------------- pure helpers (tests/unit/test_bench_search.py)
def checkpoints(num_trials: int) -> list[int]:
    """Trial counts at 25/50/75/100% of `num_trials` (rounded, at least 1, no repeats)."""
    return list(dict.fromkeys(max(1, round(num_trials * q)) for q in (0.25, 0.5, 0.75, 1.0)))


def hv_after(table: pd.DataFrame, n: int) -> float:
    """Hypervolume of the first `n` rows of `table` (completion order); NaN when it has fewer rows."""
    if n < 1 or len(table) < n:
        return math.nan
    return float(hypervolume_history(table.reset_index(drop=True)).hypervolume.iloc[n - 1])


def pick(row: pd.Series | None, teacher_acc: float) -> dict[str, Any] | None:
    """A `best_per_budget` row as plain values, with its dev accuracy as % of the teacher's."""
    if row is None:
        return None
    dev = float(row["dev_metric"])
    out = {"arch_id": str(row["arch_id"]), "flops_ratio": float(row["flops_ratio"]), "dev_accuracy": dev}
    if "search_metric" in row:
        out["search_accuracy"] = float(row["search_metric"])
    return out | {"dev_pct_of_teacher": 100.0 * dev / teacher_acc}


def tune_span_s(experiment: Path) -> float:
    """Seconds from the first trial's start to the last trial's end, from the Tune trials' `result.json` lines."""
    files = experiment.glob("trial_*/result.json")
    rows = [json.loads(line) for f in files for line in f.read_text().splitlines() if line.strip()]
    if not rows:
        return math.nan
    return max(r["evaluated_at"] for r in rows) - min(r["evaluated_at"] - r["wall_time_s"] for r in rows)


def sampler_summary(
    table: pd.DataFrame, teacher_acc: float, budgets: list[float], wall_s: float, span_s: float = math.nan
) -> dict[str, Any]:
    """One sampler's numbers: trial counts, hypervolume (+ history), evaluations/min, best Arch per budget.

    `wall_s` is the whole `run_search` call; `span_s` the Tune trials' span (`tune_span_s`).
    """
    n_ok = int((table["status"] == "ok").sum())
    ok_times = table.loc[table["status"] == "ok", "wall_time_s"]
    return {
        "trials": len(table),
        "evaluated_ok": n_ok,
        "infeasible_not_evaluated": int((table["status"] == "infeasible").sum()),
        "errors": int((table["status"] == "error").sum()),
        "hypervolume": hv_after(table, len(table)) if len(table) else 0.0,
        "hypervolume_history": {str(k): hv_after(table, k) for k in checkpoints(len(table))},
        "evaluations_per_min": 60.0 * n_ok / wall_s,
        "evaluations_per_min_tune_phase": 60.0 * n_ok / span_s,
        "tune_phase_s": span_s,
        "mean_evaluation_s": float(ok_times.mean()) if n_ok else math.nan,
        "wall_time_s": wall_s,
        "best": {f"{b:g}": pick(row, teacher_acc) for b, row in best_per_budget(table, budgets).items()},
    }


def equal_evaluation_hv(tables: dict[str, pd.DataFrame]) -> tuple[int, dict[str, float]]:
    """(n, {sampler: hypervolume of its first n evaluated trials}), n = the fewest evaluated by any sampler."""
    ok = {name: t[t["status"] == "ok"] for name, t in tables.items()}
    n = min(len(t) for t in ok.values())
    return n, {name: hv_after(t, n) if n else 0.0 for name, t in ok.items()}


def combine_seeds(per_seed: dict[int, dict[str, dict[str, Any]]], primary: int) -> dict[str, dict[str, Any]]:
    """Each sampler's primary-seed summary, with what the targets compare taken over every seed.

    `hv_equal_evaluations` becomes the mean over seeds (each seed's value at that seed's equal evaluation
    count), with its sample std and per-seed values; `evaluations_per_min` becomes the slowest seed's rate; and
    `dev_pct_by_seed` holds every seed's pick per budget as % of the teacher (NaN when nothing fits).
    """
    out: dict[str, dict[str, Any]] = {}
    for sampler, summary in per_seed[primary].items():
        runs = {seed: per_seed[seed][sampler] for seed in per_seed}
        hvs = [r["hv_equal_evaluations"] for r in runs.values()]
        out[sampler] = summary | {
            "hv_equal_evaluations": float(np.mean(hvs)),
            "hv_equal_evaluations_std": float(np.std(hvs, ddof=1)) if len(hvs) > 1 else 0.0,
            "hv_equal_evaluations_by_seed": {seed: r["hv_equal_evaluations"] for seed, r in runs.items()},
            "evaluations_per_min": min(r["evaluations_per_min"] for r in runs.values()),
            "evaluations_per_min_by_seed": {seed: r["evaluations_per_min"] for seed, r in runs.items()},
            "dev_pct_by_seed": {f"{b:g}": {seed: dev_pct(r, b) for seed, r in runs.items()} for b in BUDGETS},
        }
    return out


def dev_pct(summary: dict[str, Any], budget: float) -> float:
    """Dev accuracy of the best Arch within `budget`, as % of the teacher's (NaN when nothing fits)."""
    pick = summary["best"].get(f"{budget:g}")
    return math.nan if pick is None else float(pick["dev_pct_of_teacher"])


def judge(per: dict[str, dict[str, Any]]) -> dict[str, bool]:
    """Pass/fail of every target (NaN never passes); `per[s]["hv_equal_evaluations"]` must be set."""
    met: dict[str, bool] = {}
    for budget, pct in TARGET_PCT.items():
        best = max(
            (v for v in (dev_pct(s, budget) for s in per.values()) if not math.isnan(v)), default=math.nan
        )
        met[f"best_over_samplers_at_{budget:g}_ge_{pct:g}pct"] = bool(best >= pct)
        met[f"nsga2_at_{budget:g}_ge_{pct:g}pct"] = bool(dev_pct(per["nsga2"], budget) >= pct)
    baseline = max(per[b]["hv_equal_evaluations"] for b in BASELINES)
    for s in ("nsga2", "tpe"):
        met[f"{s}_hv_above_random_and_evolution"] = bool(per[s]["hv_equal_evaluations"] > baseline)
    rates = [s["evaluations_per_min"] for s in per.values()]
    met[f"evaluations_per_min_ge_{TARGET_EVALS_PER_MIN:g}"] = bool(min(rates) >= TARGET_EVALS_PER_MIN)
    return met


def grid_reference(grid: pd.DataFrame, budgets: list[float], teacher_acc: float) -> dict[str, Any]:
    """Best uniform (width, depth) sub-network per budget from the supernet's dev grid (picked on dev)."""
    picks = best_per_budget(grid.assign(status="ok"), budgets, "dev_metric", "flops_ratio")
    return {f"{b:g}": pick(row, teacher_acc) for b, row in picks.items()}


# ---------------------------------------------------------------- inputs
def find_inputs(work_dir: Path) -> Inputs:
    """The supernet_sst2 benchmark's supernet and its teacher's metrics; exit with what to run when absent."""
    run = work_dir / "supernet_sst2" / SUPERNET.name
    model = run / "supernet" / "model"
    if not (model / "config.json").is_file():
        sys.exit(
            f"search_sst2: no trained supernet at {model}; run `make bench` (or "
            f"`python -m benchmarks.run --data ../shared/data --only teacher_sst2 supernet_sst2 --work {work_dir}`) "
            "first, or pass --smoke for a tiny end-to-end check"
        )
    # The supernet run's own teacher stage, else the teacher_sst2 run it reused (benchmarks/supernet_sst2.py).
    candidates = [run / "teacher" / "metrics.json", (work_dir / TEACHER_REUSE).parent / "metrics.json"]
    metrics = next((p for p in candidates if p.is_file()), None)
    if metrics is None:
        sys.exit(
            f"search_sst2: no teacher metrics.json at {candidates[0]} or {candidates[1]}; rerun make bench"
        )
    grid = run / "supernet" / "supernet_eval.csv"
    return Inputs(model, metrics, grid if grid.is_file() else None, metrics.parent / "model")


def smoke_inputs(storage: Path, sst2_dir: Path, s: Settings) -> Inputs:
    """A tiny untrained BERT as the 'supernet' and its own full-model dev accuracy as the 'teacher'."""
    import torch
    from transformers import BertForSequenceClassification, BertTokenizerFast

    from raydistill.data import prepare_task_data
    from raydistill.models.arch import Arch
    from raydistill.search.final import evaluate_on_dev, main_dev_values
    from tests.conftest import TINY_VOCAB, tiny_bert_config

    root = storage / "tiny-supernet"
    shutil.rmtree(root, ignore_errors=True)
    model_dir = root / "supernet" / "model"
    torch.manual_seed(SEED)
    model = BertForSequenceClassification(tiny_bert_config()).eval()
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(TINY_VOCAB)}, do_lower_case=True)
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    data = prepare_task_data(
        "sst2", tokenizer, path=sst2_dir, max_seq_length=SEQ_LEN, max_train_examples=s.max_train,
        max_eval_examples=s.max_eval, seed=SEED,
    )  # fmt: skip
    acc = main_dev_values(evaluate_on_dev(model, [Arch.for_config(model.config)], data), data)
    metrics = root / "teacher" / "metrics.json"
    metrics.parent.mkdir(parents=True)
    metrics.write_text(json.dumps({"main_metric": "accuracy", "main_value": next(iter(acc.values()))}))
    return Inputs(model_dir, metrics, None, model_dir)  # the tiny model is its own teacher


# ---------------------------------------------------------------- the run
def run_name_for(prefix: str, sampler: str, seed: int) -> str:
    """`<prefix>-<sampler>` for the primary seed (`SEED`), `<prefix>-<sampler>-s<seed>` for the others."""
    return f"{prefix}-{sampler}" if seed == SEED else f"{prefix}-{sampler}-s{seed}"


def _spec_yaml(
    name: str, sampler: str, seed: int, s: Settings, trials: int, sst2_dir: Path, inputs: Inputs, storage: Path
) -> str:
    max_eval = f", max_eval_examples: {s.max_eval}" if s.max_eval else ""
    cap = f", max_search_examples: {s.max_search_examples}" if s.max_search_examples else ""
    return f"""# A search_sst2 benchmark spec (written by benchmarks/search_sst2.py).
name: {name}
task: sst2
data: {{path: {sst2_dir}, max_seq_length: {SEQ_LEN}, max_train_examples: {s.max_train}{max_eval}}}
teacher: {{model: {inputs.supernet_dir}, finetuned: true}}
supernet: {{widths: {WIDTHS}, depths: {DEPTHS}}}
search: {{space: {SPACE}, sampler: {sampler}, seed: {seed}, num_trials: {trials}, budgets: {BUDGETS},
         population_size: {s.population_size}, pareto_eval_cap: {s.pareto_eval_cap}{cap}}}
export: {{enabled: false}}
resources: {{num_workers: 1, cpus_per_worker: 1, max_concurrent_trials: {CONCURRENT}, storage_path: {storage}}}
seed: {SEED}
"""


def _split_sizes(spec: Any, supernet_dir: Path) -> dict[str, int]:
    """Examples in the train / search / dev splits the searches used (the same data settings for all)."""
    from raydistill.data import prepare_task_data
    from raydistill.models.loading import load_tokenizer
    from raydistill.training.config import data_kwargs

    data = prepare_task_data(
        "sst2", load_tokenizer(str(supernet_dir)), seed=spec.seed, **data_kwargs(spec.data)
    )
    return {"train": len(data.train), "search": len(data.search.examples), "dev": len(data.dev["dev"].examples)}  # fmt: skip


def _report(run_dir: Path, inputs: Inputs, out_dir: Path, name: str) -> Path:
    """The NSGA-II run's report (teacher metrics + uniform grid copied in); its summary.md copied next to us."""
    from raydistill.report import build_report

    (run_dir / "teacher").mkdir(exist_ok=True)
    shutil.copy2(inputs.teacher_metrics, run_dir / "teacher" / "metrics.json")
    if inputs.grid_csv is not None:
        (run_dir / "supernet").mkdir(exist_ok=True)
        shutil.copy2(inputs.grid_csv, run_dir / "supernet" / inputs.grid_csv.name)
    files = build_report(run_dir, out_dir / f"{name}_report")
    summary = out_dir / f"{name}_summary.md"
    shutil.copy2(files.summary_md, summary)
    return summary


def run_search_sst2(
    data_root: Path,
    out_dir: Path,
    work_dir: Path,
    *,
    smoke: bool = False,
    trials: int = 100,
    retrain_epochs: float = RETRAIN_EPOCHS,
    seeds: tuple[int, ...] = SAMPLER_SEEDS,
) -> dict[str, Any]:
    from raydistill.search.session import ensure_ray
    from raydistill.search.tuner import run_search
    from raydistill.spec import load_spec

    s, name = (SMOKE, "search_sst2_smoke") if smoke else (FULL, "search_sst2")
    sst2_dir, storage = data_root / "glue" / "SST-2", work_dir / "search_sst2"
    storage.mkdir(parents=True, exist_ok=True)
    inputs = smoke_inputs(storage, sst2_dir, s) if smoke else find_inputs(work_dir)
    teacher_acc = float(json.loads(inputs.teacher_metrics.read_text())["main_value"])
    ensure_ray()  # started once here, so the first sampler does not pay Ray's start-up
    per_seed: dict[int, dict[str, dict[str, Any]]] = {}
    n_equal: dict[int, int] = {}
    for seed in seeds:
        tables: dict[str, pd.DataFrame] = {}
        per_seed[seed] = {}
        for sampler in SAMPLERS:
            run_name = run_name_for(s.prefix, sampler, seed)
            shutil.rmtree(storage / run_name, ignore_errors=True)  # a fresh search, not a resumed one
            spec_path = storage / f"{run_name}.yaml"
            spec_path.write_text(_spec_yaml(run_name, sampler, seed, s, trials, sst2_dir, inputs, storage))
            spec = load_spec(spec_path)
            result = run_search(spec, inputs.supernet_dir, storage / run_name)
            tables[sampler] = result.table
            span = tune_span_s(storage / run_name / "ray" / f"{run_name}-search")
            per_seed[seed][sampler] = sampler_summary(result.table, teacher_acc, BUDGETS, result.wall_time_s, span)
            print(f"search_sst2 {sampler} seed {seed}: {result.headline} | wall {result.wall_time_s:.0f} s", flush=True)
        n_equal[seed], hv_equal = equal_evaluation_hv(tables)
        for sampler, hv in hv_equal.items():
            per_seed[seed][sampler]["hv_equal_evaluations"] = hv
    per = combine_seeds(per_seed, primary=seeds[0])
    nsga2_run = storage / run_name_for(s.prefix, "nsga2", seeds[0])
    retrained = None
    if retrain_epochs > 0:  # the NSGA-II picks, re-trained by the retrain stage (reported next to the sliced ones)
        retrained = retrain_picks(
            storage / f"{nsga2_run.name}.yaml", nsga2_run, inputs.teacher_dir, inputs.supernet_dir, teacher_acc,
            epochs=retrain_epochs,
        )  # fmt: skip
        print(f"search_sst2 retrain: {retrained['headline']} | wall {retrained['wall_time_s']:.0f} s", flush=True)
    summary_md = _report(nsga2_run, inputs, out_dir, name)
    grid = pd.read_csv(inputs.grid_csv) if inputs.grid_csv else None
    # fmt: off
    setup = {
        "supernet": str(inputs.supernet_dir), "teacher_metrics": str(inputs.teacher_metrics), "space": SPACE,
        "budgets": BUDGETS, "trials_per_sampler": trials, "samplers": SAMPLERS, "max_concurrent_trials": CONCURRENT,
        "torch_threads_per_trial": 1, "population_size": s.population_size, "pareto_eval_cap": s.pareto_eval_cap,
        "max_seq_length": SEQ_LEN, "max_train_examples": s.max_train, "max_search_examples": s.max_search_examples,
        "examples": _split_sizes(spec, inputs.supernet_dir), "hypervolume_reference": "(accuracy 0, FLOPs ratio 1.0)",
        "seed": SEED, "sampler_seeds": list(seeds),
    }
    results = {
        "benchmark": name, "smoke": smoke, "setup": setup, "teacher_dev_accuracy": teacher_acc, "equal_evaluations": n_equal[seeds[0]],
        "equal_evaluations_by_seed": n_equal,
        "samplers": per, "nsga2_retrained": retrained, "nsga2_report_summary": str(summary_md),
        "uniform_grid_reference": None if grid is None else grid_reference(grid, BUDGETS, teacher_acc),
        "targets": {"dev_pct_of_teacher": {f"{b:g}": p for b, p in TARGET_PCT.items()}, "hv_above": BASELINES,
                    "evaluations_per_min": TARGET_EVALS_PER_MIN},
        "meets_targets": judge(per) | judge_retrained(retrained), "environment": environment(),
    }
    # fmt: on
    write_results(out_dir, name, results, _markdown(results))
    return results


# ---------------------------------------------------------------- markdown
def _markdown(r: dict[str, Any]) -> str:
    setup, per, n_eq = r["setup"], r["samplers"], r["equal_evaluations"]
    seeds, primary = setup["sampler_seeds"], setup["sampler_seeds"][0]
    ks = list(next(iter(per.values()))["hypervolume_history"])
    search_rows = [
        [s, v["trials"], v["evaluated_ok"], v["infeasible_not_evaluated"], v["errors"], v["hypervolume"],
         v["hv_equal_evaluations_by_seed"][primary], *(v["hypervolume_history"][k] for k in ks),
         v["evaluations_per_min_by_seed"][primary], v["evaluations_per_min_tune_phase"], v["mean_evaluation_s"],
         v["wall_time_s"]]
        for s, v in per.items()
    ]  # fmt: skip
    seed_rows = [
        [s, *(v["hv_equal_evaluations_by_seed"][seed] for seed in seeds),
         f"{v['hv_equal_evaluations']:.4f} ± {v['hv_equal_evaluations_std']:.4f}",
         ", ".join(f"{v['evaluations_per_min_by_seed'][seed]:.1f}" for seed in seeds)]
        for s, v in per.items()
    ]  # fmt: skip
    seed_header = ["sampler", *(f"HV seed {seed}" for seed in seeds), "mean ± std", "evaluations/min per seed"]
    pct_rows = [
        [s, b, *(v["dev_pct_by_seed"][b][seed] for seed in seeds),
         float(np.nanmean(list(v["dev_pct_by_seed"][b].values())))]
        for s, v in per.items() for b in v["dev_pct_by_seed"]
    ]  # fmt: skip
    search_header = ["sampler", "trials", "evaluated (ok)", "infeasible (not evaluated)", "errors", "HV (all trials)",
                     f"HV after {n_eq} evaluated", *(f"HV @{k} trials" for k in ks), "evaluations/min",
                     "evaluations/min (Tune phase)", "mean s/evaluation", "wall s"]  # fmt: skip
    best_rows = []
    for s, v in per.items():
        for b, pick in v["best"].items():
            best_rows.append([s, b, "nothing fits", *"-" * 4] if pick is None else [
                s, b, pick["arch_id"], pick["flops_ratio"], pick["search_accuracy"], pick["dev_accuracy"],
                f"{pick['dev_pct_of_teacher']:.2f}%"])  # fmt: skip
    grid = r["uniform_grid_reference"]
    grid_text = "Uniform-grid reference: not available (no supernet_eval.csv)." if grid is None else (
        "Reference, uniform DynaBERT (width, depth) grid of the same supernet, best per budget picked on DEV "
        "(supernet benchmark's grid): " + "; ".join(
            f"<={b}x: {g['arch_id']} ratio {g['flops_ratio']:.3f} dev {g['dev_accuracy']:.4f} "
            f"({g['dev_pct_of_teacher']:.2f}%)" if g else f"<={b}x: nothing fits" for b, g in grid.items()))  # fmt: skip
    ex = setup["examples"]
    cap = setup["max_search_examples"] or f"none (all {ex['search']})"
    smoke = " SMOKE RUN: tiny untrained BERT, not the SST-2 supernet; numbers mean nothing." * r["smoke"]
    return "\n\n".join([
        f"# {r['benchmark']}",
        f"Search over the `{SPACE}` space of the SST-2 supernet at {setup['supernet']} (per kept layer its own head "
        f"count and FFN width from the trained widths {WIDTHS}, depth from {DEPTHS}). Each of the "
        f"{len(per)} samplers ran {setup['trials_per_sampler']} trials (fresh run, {CONCURRENT} concurrent trials, "
        f"1 torch thread each, population {setup['population_size']}, seed {setup['seed']}), budgets "
        f"{setup['budgets']} of the teacher's FLOPs (analytic, 2 x MACs, batch 1, {SEQ_LEN} tokens). Data: SST-2 "
        f"max_seq_length {SEQ_LEN}, {ex['train']} train / {ex['search']} search-split (held out of train) / "
        f"{ex['dev']} dev examples; search metric = accuracy on the search split (cap on examples per evaluation: "
        f"{cap}); dev accuracy is measured once, after the search, for the best Arch per budget and up to "
        f"{setup['pareto_eval_cap']} Pareto points. Teacher dev accuracy {r['teacher_dev_accuracy']:.4f} "
        f"(from {setup['teacher_metrics']}).{smoke}",
        f"## Hypervolume over {len(seeds)} sampler seeds\n\nEvery sampler ran once per sampler seed "
        f"(`search.seed` {seeds}; the data, the search split and the supernet are the same in every run). HV at "
        "equal evaluations per seed (each seed's fewest evaluated sub-networks over the samplers: "
        f"{r['equal_evaluations_by_seed']}); the HV targets compare the means.",
        md_table(seed_header, seed_rows),
        f"## Search split: hypervolume and throughput (primary seed {primary})\n\nHV = area dominated by the search-split front of "
        "(accuracy max, FLOPs ratio min), reference (0, 1.0). Infeasible proposals (over the largest budget) are "
        f"priced and not evaluated, so samplers evaluate different counts; \"HV after {n_eq} evaluated\" compares "
        "them at the same number of evaluated sub-networks (the fewest any sampler evaluated). Evaluations/min = "
        "ok trials / wall minutes of the whole `run_search` call (data + model load, Tune, dev evaluation); the Tune "
        "phase rate divides by the span from the first trial's start to the last trial's end.",
        md_table(search_header, search_rows),
        f"## Best Arch per budget (primary seed {primary}: picked on the search split, then scored on dev)",
        md_table(["sampler", "budget", "arch", "FLOPs ratio", "search acc", "dev acc", "dev % of teacher"], best_rows),
        "Every seed's pick, dev accuracy as % of the teacher's (NaN: nothing fits):\n\n" + md_table(
            ["sampler", "budget", *(f"seed {seed}" for seed in seeds), "mean"], pct_rows),
        grid_text,
        _retrain_markdown(r["nsga2_retrained"]),
        "## Targets\n\n" + "\n".join(f"- {k}: {'met' if v else 'NOT met'}" for k, v in r["meets_targets"].items())
        + "\n\n\"best over samplers\" takes the highest dev accuracy among the samplers' search-split picks (a mild "
        f"selection on dev); the NSGA-II rows do not. NSGA-II report summary: {Path(r['nsga2_report_summary']).name}.",
        f"- environment: {r['environment']}",
    ])  # fmt: skip


def _retrain_markdown(retrained: dict[str, Any] | None) -> str:
    if retrained is None:
        return "## NSGA-II picks after `search.retrain`\n\nNot run (--retrain-epochs 0)."
    rows = [[b, v["arch_id"], v["dev_before"], v["dev_after"], f"{v['dev_after_pct_of_teacher']:.2f}%"]
            for b, v in retrained["by_budget"].items()]  # fmt: skip
    return "\n\n".join([
        "## NSGA-II picks after `search.retrain`",
        f"raydistill's retrain stage cut each NSGA-II pick out of the supernet and trained it on its own for "
        f"{retrained['epochs']:g} epochs (vanilla KD from the fine-tuned teacher, T=1, lr {retrained['learning_rate']:g}, "
        f"batch 32, length-grouped batches, Ray Train, 1 worker); {retrained['wall_time_s']:.0f} s in all. The Archs "
        "are the search-split picks above (no new selection); dev is scored once after training.",
        md_table(["budget", "arch", "dev acc (sliced)", "dev acc (re-trained)", "re-trained % of teacher"], rows),
    ])  # fmt: skip


def judge_retrained(retrained: dict[str, Any] | None) -> dict[str, bool]:
    """The accuracy targets on the re-trained NSGA-II picks (none when the step did not run)."""
    if retrained is None:
        return {}
    met = {}
    for budget, pct in TARGET_PCT.items():
        pick = retrained["by_budget"].get(f"{budget:g}")
        met[f"nsga2_retrained_at_{budget:g}_ge_{pct:g}pct"] = bool(
            pick is not None and pick["dev_after_pct_of_teacher"] >= pct
        )
    return met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="search_sst2 benchmark (or its --smoke version)")
    parser.add_argument("--data", type=Path, required=True, help="folder with glue/SST-2 (../shared/data)")
    parser.add_argument("--out", type=Path, default=Path("reports/benchmarks"))
    parser.add_argument("--work", type=Path, default=Path("runs/bench"), help="has supernet_sst2/")
    parser.add_argument("--smoke", action="store_true", help="tiny untrained BERT, a few hundred examples")
    parser.add_argument("--trials", type=int, default=100, help="trials per sampler (default 100)")
    parser.add_argument(
        "--retrain-epochs", type=float, default=RETRAIN_EPOCHS,
        help=f"re-train the NSGA-II picks this many epochs (0: skip; default {RETRAIN_EPOCHS:g})",
    )  # fmt: skip
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=list(SAMPLER_SEEDS),
        help=f"sampler seeds, the first is the primary run (default {' '.join(map(str, SAMPLER_SEEDS))})",
    )  # fmt: skip
    args = parser.parse_args(argv)
    work = args.work.resolve()
    results = run_search_sst2(
        args.data.resolve(), args.out, work, smoke=args.smoke, trials=args.trials,
        retrain_epochs=args.retrain_epochs, seeds=tuple(args.seeds),
    )  # fmt: skip
    print(f"search_sst2: meets targets {results['meets_targets']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
