"""Study `sampler_study`: which population size the search should default to (SST-2 supernet, layerwise space).

A population is a generation's worth of trials: with a fixed trial budget it trades diversity for generations
of selection. This study runs NSGA-II with populations 20, 10 and 6 (and 10 with a higher mutation rate), the
evolutionary baseline with populations 20 and 10, and TPE and random search for reference, on the `supernet_sst2` supernet with the `search_sst2` data settings, 100 trials
each, on sampler seeds 100-104: seeds the `search_sst2` benchmark never uses, so the setting it picks is not
tuned on the benchmark's own runs.

It drives the real searchers (`search.samplers.make_searcher`, with their unique-proposal and budget logic)
without Tune: two proposals in flight, like the benchmark's two concurrent trials, each evaluated on the
search split by `search.evaluator.evaluate_arch`. Evaluation is deterministic, so scores are cached by Arch id
across runs (`<work>/sampler_study/evaluations.json`); numbers are hypervolumes, not timings.
Reported: hypervolume per seed after the same number of evaluated sub-networks for every variant (reference
(accuracy 0, FLOPs ratio 1.0), as in `search_sst2`), mean +- std, and the mean paired difference to random.

    python -m benchmarks.run --data ../shared/data --only sampler_study      (after supernet_sst2)
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.common import environment, md_table, write_results
from benchmarks.search_sst2 import FULL, Inputs, find_inputs, spec_yaml
from benchmarks.search_stats import equal_evaluation_hv

SEEDS = (100, 101, 102, 103, 104)
TRIALS = 100
IN_FLIGHT = 2
# name -> (sampler, population, NSGA-II options)
VARIANTS: dict[str, tuple[str, int | None, dict[str, Any]]] = {
    "nsga2-pop20": ("nsga2", 20, {}),
    "nsga2-pop10": ("nsga2", 10, {}),
    "nsga2-pop6": ("nsga2", 6, {}),
    "nsga2-pop10-mutation0.2": ("nsga2", 10, {"mutation_prob": 0.2}),  # Optuna's default: 1 / genes = 1/13
    "evolution-pop20": ("evolution", 20, {}),
    "evolution-pop10": ("evolution", 10, {}),
    "tpe": ("tpe", None, {}),
    "random": ("random", None, {}),
}


def drive(searcher: Any, score: Callable[[dict[str, Any]], dict[str, Any]], trials: int) -> pd.DataFrame:
    """Ask `searcher` for `trials` proposals, `IN_FLIGHT` at a time, score each (oldest first), tell it back.

    Returns one row per trial in completion order: arch_id and the scored result (status, search_metric,
    flops_ratio), the columns `search_stats.equal_evaluation_hv` reads.
    """
    rows: list[dict[str, Any]] = []
    in_flight: list[tuple[str, dict[str, Any]]] = []
    asked = 0
    while asked < trials or in_flight:
        while asked < trials and len(in_flight) < IN_FLIGHT:
            config = searcher.suggest(f"t{asked}")
            if config is None or isinstance(config, str):  # waiting for results / space exhausted
                break
            in_flight.append((f"t{asked}", config))
            asked += 1
        if not in_flight:
            break
        trial_id, config = in_flight.pop(0)
        result = score(config)
        searcher.on_trial_complete(trial_id, result)
        rows.append({"arch_id": config["arch_id"], **result})
    return pd.DataFrame(rows)


def _scorer(setup: Any, cache: dict[str, float]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Score a trial config as the search trainable does: infeasible ones get 0 and are never evaluated.

    The searchers read the score under `setup.metric` (Tune's result key); the table reads `search_metric`.
    """
    from raydistill.search.evaluator import evaluate_arch, worst_value
    from raydistill.search.spaces import Candidate

    def score(config: dict[str, Any]) -> dict[str, Any]:
        candidate = Candidate.from_config(config)
        if not candidate.feasible:
            value, status = worst_value(setup.metric), "infeasible"
        else:
            if candidate.arch.id not in cache:
                metrics = evaluate_arch(
                    setup.model, candidate.arch, setup.data.search, setup.data.collate, 64
                )
                cache[candidate.arch.id] = float(metrics[setup.metric])
            value, status = cache[candidate.arch.id], "ok"
        return {
            setup.metric: value,
            "search_metric": value,
            "flops_ratio": candidate.flops_ratio,
            "status": status,
        }

    return score


def _searcher(setup: Any, sampler: str, population: int | None, seed: int, nsga2: dict[str, Any]) -> Any:
    """The registered sampler; an NSGA-II variant with extra options runs through the same Optuna searcher."""
    import optuna

    from raydistill.search.samplers import SamplerOptions, make_searcher, optuna_searcher, population_for
    from raydistill.search.spaces import DefineByRun, grid_points

    options = SamplerOptions(
        define_by_run=DefineByRun("layerwise", setup.ctx),
        metric=setup.metric,
        seed=seed,
        population_size=population_for(TRIALS, population),
        start_points=tuple(grid_points("layerwise", setup.ctx)),
    )
    if not nsga2:
        return make_searcher(sampler, options)
    nsga = optuna.samplers.NSGAIISampler(population_size=options.population_size, seed=seed, **nsga2)
    return optuna_searcher(options, nsga)


def _load(inputs: Inputs, data_root: Path, storage: Path) -> Any:
    """The search stage's setup (supernet, search split, pricing) for the search_sst2 data settings."""
    from raydistill.search.tuner import load_setup
    from raydistill.spec import load_spec

    spec_path = storage / "sampler-study.yaml"
    sst2 = data_root / "glue" / "SST-2"
    spec_path.write_text(spec_yaml("sampler-study", "nsga2", SEEDS[0], FULL, TRIALS, sst2, inputs, storage))
    return load_setup(load_spec(spec_path), inputs.supernet_dir)


def render_markdown(results: dict[str, Any]) -> str:
    seeds = results["seeds"]
    rows = []
    for name, r in results["variants"].items():
        hv = [r["hv_by_seed"][str(s)] for s in seeds]
        diff = r["mean_paired_diff_to_random"]
        rows.append(
            [name, *hv, f"{r['hv_mean']:.4f} ± {r['hv_std']:.4f}", f"{diff:+.4f}", r["wins_vs_random"]]
        )
    header = [
        "variant",
        *[f"HV seed {s}" for s in seeds],
        "mean ± std",
        "mean diff to random",
        "seeds above random",
    ]
    return "\n\n".join(
        [
            "# sampler_study",
            f"NSGA-II (populations 20, 10, 6; 10 with mutation 0.2), the evolutionary baseline (populations 20, "
            f"10), TPE and random search, "
            f"{results['trials']} trials each on the supernet_sst2 supernet's layerwise space (search_sst2's data "
            f"settings), sampler seeds {seeds} (not used by search_sst2). The real searchers, driven without Tune "
            f"({IN_FLIGHT} proposals in flight), evaluations cached by Arch id. HV: search-split front (accuracy "
            f"max, FLOPs ratio min, reference (0, 1.0)) after the same number of evaluated sub-networks per seed: "
            f"{results['equal_evaluations']}.",
            md_table(header, rows),
            f"- environment: {results['environment']}",
        ]
    )


def run_sampler_study(data_root: Path, out_dir: Path, work_dir: Path) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)  # one thread per evaluation, as in search_sst2's trials
    storage = work_dir / "sampler_study"
    storage.mkdir(parents=True, exist_ok=True)
    setup = _load(find_inputs(work_dir), data_root, storage)
    cache_file = storage / "evaluations.json"
    cache: dict[str, float] = json.loads(cache_file.read_text()) if cache_file.is_file() else {}
    score = _scorer(setup, cache)
    hv: dict[str, dict[int, float]] = {name: {} for name in VARIANTS}
    n_equal: dict[int, int] = {}
    for seed in SEEDS:
        tables = {}
        for name, (sampler, population, nsga2) in VARIANTS.items():
            tables[name] = drive(_searcher(setup, sampler, population, seed, nsga2), score, TRIALS)
            cache_file.write_text(json.dumps(cache))
            print(f"sampler_study {name} seed {seed}: {len(tables[name])} trials", flush=True)
        n_equal[seed], by_name = equal_evaluation_hv(tables)
        for name, value in by_name.items():
            hv[name][seed] = value
    variants = {}
    for name, by_seed in hv.items():
        values = [by_seed[s] for s in SEEDS]
        diffs = [by_seed[s] - hv["random"][s] for s in SEEDS]
        variants[name] = {
            "sampler": VARIANTS[name][0],
            "population": VARIANTS[name][1],
            "nsga2_options": VARIANTS[name][2],
            "hv_by_seed": {str(s): by_seed[s] for s in SEEDS},
            "hv_mean": statistics.mean(values),
            "hv_std": statistics.stdev(values),
            "mean_paired_diff_to_random": statistics.mean(diffs),
            "wins_vs_random": f"{sum(d > 0 for d in diffs)}/{len(diffs)}",
        }
    results = {
        "benchmark": "sampler_study",
        "seeds": list(SEEDS),
        "trials": TRIALS,
        "equal_evaluations": {str(s): n for s, n in n_equal.items()},
        "variants": variants,
        "environment": environment(),
    }
    write_results(out_dir, "sampler_study", results, render_markdown(results))
    return results
