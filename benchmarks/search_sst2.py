"""Benchmark `search_sst2`: four samplers search the SST-2 supernet's `layerwise` space under FLOPs budgets.

Inputs: the supernet the `supernet_sst2` benchmark trained (MiniLM-L6, widths [1.0, 0.75, 0.5, 0.25] x depths
[1.0, 0.5]) and the teacher's dev accuracy from the `teacher/metrics.json` of the run that fine-tuned it. Each
sampler (nsga2, tpe, random, evolution) runs the same number of trials (`--trials`, default 100) in a fresh run
dir, budgets [0.25, 0.5, 0.75], the supernet benchmark's data settings (max_seq_length 64, max_train_examples
8,889 -> 889 search-split examples, 872 dev) and 2 concurrent trials, once per sampler seed (`--seeds`, default
42-46; the data split and the supernet never change); Ray is started once, before the first.
Reported per sampler (numbers in `search_stats`, page in `search_markdown`): hypervolume of the search-split front
(accuracy max, FLOPs ratio min, reference (0, 1.0)) and its history, the hypervolume after the same number of
*evaluated* sub-networks for all samplers (infeasible proposals are priced, never evaluated) per seed and its
mean, evaluations/min, and the dev accuracy of the best search-split Arch per budget as % of the teacher's; then
the primary seed's NSGA-II picks are re-trained by the `retrain` stage (`search_retrain`, `--retrain-epochs`).
Targets: TARGET_PCT at 50%/25% FLOPs (best over samplers, NSGA-II, NSGA-II re-trained), NSGA-II and TPE mean
hypervolume above random's and evolution's, >= 30 evaluations/min for every sampler and seed.

`python -m benchmarks.search_sst2 --data ../shared/data --smoke --trials 8` runs the same code on a tiny untrained
BERT and 223 SST-2 train / 64 dev examples: it proves the script works, its numbers mean nothing.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.common import bench_parser, environment, guarded, write_results
from benchmarks.search_markdown import render_markdown
from benchmarks.search_retrain import RETRAIN_EPOCHS, retrain_picks
from benchmarks.search_stats import (
    BASELINES,
    BUDGETS,
    CONCURRENT,
    SAMPLERS,
    SPACE,
    TARGET_EVALS_PER_MIN,
    TARGET_PCT,
    combine_seeds,
    equal_evaluation_hv,
    grid_reference,
    judge,
    judge_retrained,
    sampler_summary,
    tune_span_s,
)
from benchmarks.supernet_sst2 import DEPTHS, SEED, SEQ_LEN, TEACHER_RUN, WIDTHS
from benchmarks.supernet_sst2 import FULL as SUPERNET
from raydistill.layout import RunLayout

# Sampler seeds (`search.seed`): every sampler runs once per seed; the data, its search split and the supernet
# stay those of `SEED`. The first is the primary run (picks, report, retrain); HV is compared on the seeds' mean.
SAMPLER_SEEDS = tuple(range(SEED, SEED + 5))


@dataclass(frozen=True)
class Settings:
    """What one benchmark run searches with; `SMOKE` only proves the script runs end to end."""

    prefix: str = "bench-search"
    max_train: int = SUPERNET.max_train  # 8,889 -> 889 search examples, as in the supernet benchmark
    max_eval: int | None = None  # all 872 dev examples
    max_search_examples: int | None = None  # every search-split example is scored
    population_size: int | None = None  # the spec default (`samplers.population_for`)
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


# ---------------------------------------------------------------- inputs
def find_inputs(work_dir: Path) -> Inputs:
    """The supernet_sst2 benchmark's supernet and its teacher's metrics; exit with what to run when absent."""
    run = RunLayout(work_dir / "supernet_sst2" / SUPERNET.name)
    model = run.supernet_model
    if not (model / "config.json").is_file():
        sys.exit(
            f"search_sst2: no trained supernet at {model}; run `make bench` (or "
            f"`python -m benchmarks.run --data ../shared/data --only teacher_sst2 supernet_sst2 --work {work_dir}`) "
            "first, or pass --smoke for a tiny end-to-end check"
        )
    # The supernet run's own teacher stage, else the teacher_sst2 run it reused (benchmarks/supernet_sst2.py).
    candidates = [run, RunLayout(work_dir / TEACHER_RUN)]
    teacher = next((c for c in candidates if c.teacher_metrics.is_file()), None)
    if teacher is None:
        sys.exit(
            f"search_sst2: no teacher metrics at {candidates[0].teacher_metrics} or "
            f"{candidates[1].teacher_metrics}; rerun make bench"
        )
    grid = run.supernet_eval_csv
    return Inputs(model, teacher.teacher_metrics, grid if grid.is_file() else None, teacher.teacher_model)


def smoke_inputs(storage: Path, sst2_dir: Path, s: Settings) -> Inputs:
    """A tiny untrained BERT as the 'supernet' and its own full-model dev accuracy as the 'teacher'."""
    import torch
    from transformers import BertForSequenceClassification, BertTokenizerFast

    from raydistill.data import prepare_task_data
    from raydistill.models.arch import Arch
    from raydistill.search.final import evaluate_on_dev, main_dev_values
    from tests.conftest import TINY_VOCAB, tiny_bert_config

    root = RunLayout(storage / "tiny-supernet")
    shutil.rmtree(root.root, ignore_errors=True)
    model_dir = root.supernet_model
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
    metrics = root.teacher_metrics
    metrics.parent.mkdir(parents=True)
    metrics.write_text(json.dumps({"main_metric": "accuracy", "main_value": next(iter(acc.values()))}))
    return Inputs(model_dir, metrics, None, model_dir)  # the tiny model is its own teacher


# ---------------------------------------------------------------- the run
def run_name_for(prefix: str, sampler: str, seed: int) -> str:
    """`<prefix>-<sampler>` for the primary seed (`SEED`), `<prefix>-<sampler>-s<seed>` for the others."""
    return f"{prefix}-{sampler}" if seed == SEED else f"{prefix}-{sampler}-s{seed}"


def spec_yaml(
    name: str, sampler: str, seed: int, s: Settings, trials: int, sst2_dir: Path, inputs: Inputs, storage: Path
) -> str:
    max_eval = f", max_eval_examples: {s.max_eval}" if s.max_eval else ""
    cap = f", max_search_examples: {s.max_search_examples}" if s.max_search_examples else ""
    population = f"population_size: {s.population_size}, " if s.population_size else ""
    return f"""# A search_sst2 benchmark spec (written by benchmarks/search_sst2.py).
name: {name}
task: sst2
data: {{path: {sst2_dir}, max_seq_length: {SEQ_LEN}, max_train_examples: {s.max_train}{max_eval}}}
teacher: {{model: {inputs.supernet_dir}, finetuned: true}}
supernet: {{widths: {WIDTHS}, depths: {DEPTHS}}}
search: {{space: {SPACE}, sampler: {sampler}, seed: {seed}, num_trials: {trials}, budgets: {BUDGETS},
         {population}pareto_eval_cap: {s.pareto_eval_cap}{cap}}}
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

    layout = RunLayout(run_dir)
    layout.teacher_dir.mkdir(exist_ok=True)
    shutil.copy2(inputs.teacher_metrics, layout.teacher_metrics)
    if inputs.grid_csv is not None:
        layout.supernet_dir.mkdir(exist_ok=True)
        shutil.copy2(inputs.grid_csv, layout.supernet_eval_csv)
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
    from raydistill.search.samplers import population_for
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
            spec_path.write_text(spec_yaml(run_name, sampler, seed, s, trials, sst2_dir, inputs, storage))
            spec = load_spec(spec_path)
            result = run_search(spec, inputs.supernet_dir, storage / run_name)
            tables[sampler] = result.table
            span = tune_span_s(RunLayout(storage / run_name).search_experiment(run_name).path)
            fixed_ratio = float(result.meta["fixed_ratio"])
            per_seed[seed][sampler] = sampler_summary(
                result.table, teacher_acc, BUDGETS, result.wall_time_s, span, fixed_ratio=fixed_ratio
            )
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
        "torch_threads_per_trial": 1, "population_size": population_for(trials, s.population_size), "pareto_eval_cap": s.pareto_eval_cap,
        "max_seq_length": SEQ_LEN, "max_train_examples": s.max_train, "max_search_examples": s.max_search_examples,
        "examples": _split_sizes(spec, inputs.supernet_dir), "hypervolume_reference": "(accuracy 0, FLOPs ratio 1.0)",
        "seed": SEED, "sampler_seeds": list(seeds),
    }
    results = {
        "benchmark": name, "smoke": smoke, "setup": setup, "teacher_dev_accuracy": teacher_acc, "equal_evaluations": n_equal[seeds[0]],
        "equal_evaluations_by_seed": n_equal,
        "samplers": per, "nsga2_retrained": retrained, "nsga2_report_summary": str(summary_md),
        "uniform_grid_reference": None if grid is None else grid_reference(grid, BUDGETS, teacher_acc, fixed_ratio),
        "targets": {"dev_pct_of_teacher": {f"{b:g}": p for b, p in TARGET_PCT.items()}, "hv_above": BASELINES,
                    "evaluations_per_min": TARGET_EVALS_PER_MIN},
        "meets_targets": judge(per) | judge_retrained(retrained), "environment": environment(),
    }
    # fmt: on
    write_results(out_dir, name, results, render_markdown(results))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser("search_sst2 benchmark (or its --smoke version)", work_help="has supernet_sst2/")
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
    sys.exit(guarded(main))
