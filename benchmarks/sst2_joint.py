"""Benchmark `sst2_joint`: the joint width x depth x length space against width x depth alone, and the samplers
on the joint space (SST-2, the fine-tuned MiniLM-L6 teacher of ../shared/models).

(a) Two supernets from the same teacher with the same budget (through `raydistill.pipeline`, so a rerun reuses
    them from the run cache): `joint`, LengthDrop joint with width and depth (full + smallest + 2 random
    sub-models per step, each with its own length config and LayerDrop 0.2), and `width`, the layerwise
    width-depth sandwich (smallest + 2 random + largest per step): 4 trained sub-networks per step each. Both:
    widths [1, .75, .5, .25], depths [1, .5], train on the first 8,889 SST-2 train examples (8,000 after the
    seed-42 10% search split), max_seq_length 64, `EPOCHS` epochs (cap), batch 32, lr 5e-5.
(b) Joint-space front vs width-only front (`layerwise` space) on dev at equal trials, paired over `SEEDS`: NSGA-II
    (the default sampler; `--front-sampler` picks another) runs `trials` trials on each space per seed, driven
    without Tune (`sampler_study.drive`, 2 proposals in flight, search-split evaluations cached by Arch id); the
    first n evaluated trials of both (n = the fewer) give a search-split front, whose Archs are scored on dev and
    priced beyond dynamic padding (`sst2_joint_stats`); reported: dev HV per seed, the paired difference, t-test
    and Wilcoxon p-values. The same fronts priced at the fixed cost length (64) are reported beside, to show what
    padding removal alone would add.
(c) The samplers on the joint space: random, TPE, NSGA-II, GP and evolution over `SEEDS`, search-split HV at
    equal evaluations (`search_stats.equal_evaluation_hv`), mean, std, paired difference to random, and the
    wall time of every `suggest` call; GP runs at most `gp_trials` trials (its suggest time grows with the trials
    it has seen), and all five are then also compared at GP's evaluation count.
The teacher has seen every SST-2 train example outside the seed-42 10% split of the FULL train set; the 8,889
cap carves its own 10% (same seed), so some of its search examples could be ones the teacher trained on: the count
is reported (`teacher_seen_search_examples`; 0 in the run of record).

    python -m benchmarks.sst2_joint --data ../shared/data                 (the full benchmark; hours on 2 CPUs)
    python -m benchmarks.sst2_joint --data ../shared/data --smoke         (tiny caps; proves the script runs)
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.common import bench_parser, environment, guarded, write_results
from benchmarks.sampler_study import _scorer, drive
from benchmarks.search_stats import equal_evaluation_hv
from benchmarks.sst2_joint_report import estimate_full_run, render_markdown
from benchmarks.sst2_joint_stats import (
    dev_front_hv,
    first_evaluated,
    paired,
    real_length_ratio,
    spread,
    suggest_stats,
)

SEEDS = (100, 101, 102, 103, 104)  # sampler seeds no other benchmark uses; the data seed stays 42
SPACES = {"joint": "joint", "width": "layerwise"}  # supernet -> the space searched on it
SAMPLERS = ("random", "tpe", "nsga2", "gp", "evolution")
BUDGETS = [0.25, 0.5, 0.75]
EPOCHS = 3  # cap (LAT: 2-5 epochs of LengthDrop); both supernets get the same


@dataclass(frozen=True)
class Settings:
    """One benchmark run's caps; `SMOKE` only proves the script runs end to end (its numbers mean nothing)."""

    prefix: str = "bench-sst2-joint"
    max_train: int = 8889  # 8,000 train + 889 search examples
    max_eval: int | None = None  # all 872 dev examples
    train: str = f"epochs: {EPOCHS}, batch_size: 32, learning_rate: 5.0e-5, warmup_ratio: 0.1, group_by_length: true"
    importance_examples: int = 2000
    trials: int = 100
    # GP's cap: its suggest time grows with the trials it has seen (a GP fit is cubic in them). On this genome
    # (depth + heads, FFN and keep per layer: 19 genes) it averaged 0.9 s per call over 30 trials (run of record).
    gp_trials: int = 30
    seeds: tuple[int, ...] = SEEDS
    threads: int = 1  # torch threads per evaluation (scores do not depend on it; suggest and eval times do)
    samplers: bool = True  # part (c); without it only (a) and (b) run (a later run reuses every evaluation)
    front_sampler: str = "nsga2"  # the sampler of (b) on both spaces (another one writes sst2_joint_<sampler>)


FULL = Settings()
SMOKE = Settings("bench-sst2-joint-smoke", max_train=223, max_eval=48, train="max_steps: 3, batch_size: 16, learning_rate: 5.0e-5",
                 importance_examples=32, trials=12, gp_trials=12, seeds=(100,))  # fmt: skip


def spec_yaml(s: Settings, kind: str, sst2: Path, teacher: Path, storage: Path) -> str:
    """The spec of supernet `kind` (joint | width); its `search` section (disabled) names the space searched."""
    max_eval = f", max_eval_examples: {s.max_eval}" if s.max_eval else ""
    return f"""# sst2_joint benchmark spec (written by benchmarks/sst2_joint.py)
name: {s.prefix}-{kind}
task: sst2
data: {{path: {sst2}, max_seq_length: 64, max_train_examples: {s.max_train}{max_eval}}}
teacher: {{model: {teacher}, finetuned: true}}
supernet:
  widths: [1.0, 0.75, 0.5, 0.25]
  depths: [1.0, 0.5]
  importance_examples: {s.importance_examples}
  sampling: layerwise
  num_random: 2
  length: {{enabled: {str(kind == "joint").lower()}, num_sandwich: 2}}
  train: {{{s.train}, num_threads: 2}}
search: {{enabled: false, space: {SPACES[kind]}, budgets: {BUDGETS}}}
export: {{enabled: false}}
resources: {{num_workers: 1, cpus_per_worker: 2, storage_path: {storage}}}
seed: 42
"""


# ---------------------------------------------------------------- (a) the two supernets
def train_supernets(s: Settings, sst2: Path, teacher: Path, storage: Path) -> dict[str, dict[str, Any]]:
    """Train (or reuse from the run cache) both supernets; their spec, model dir and training metrics."""
    from raydistill.layout import RunLayout
    from raydistill.pipeline import run_pipeline
    from raydistill.spec import load_spec

    out = {}
    for kind in SPACES:
        path = storage / f"{s.prefix}-{kind}.yaml"
        path.write_text(spec_yaml(s, kind, sst2, teacher, storage))
        spec = load_spec(path)
        start = time.perf_counter()
        run_pipeline(spec, until="supernet")
        layout = RunLayout(storage / spec.name)
        metrics = json.loads(layout.supernet_metrics.read_text())
        out[kind] = {"spec": spec, "model": layout.supernet_model, "stage_wall_s": time.perf_counter() - start,
                     "metrics": metrics}  # fmt: skip
        print(f"sst2_joint supernet {kind}: {metrics.get('method')} {metrics.get('steps')} steps", flush=True)
    return out


# ---------------------------------------------------------------- driving searches
class Timed:
    """A searcher whose `suggest` calls are timed (wall seconds each), everything else passed through."""

    def __init__(self, searcher: Any) -> None:
        self.searcher, self.seconds = searcher, []

    def suggest(self, trial_id: str) -> Any:
        start = time.perf_counter()
        config = self.searcher.suggest(trial_id)
        self.seconds.append(time.perf_counter() - start)
        return config

    def on_trial_complete(self, trial_id: str, result: dict[str, Any]) -> None:
        self.searcher.on_trial_complete(trial_id, result)


def run_search(setup: Any, space: str, sampler: str, seed: int, trials: int, score: Any) -> tuple[pd.DataFrame, list[float]]:
    """One search driven without Tune; its trial rows and the seconds of each suggest call."""
    from raydistill.search.samplers import SamplerOptions, make_searcher, population_for
    from raydistill.search.spaces import DefineByRun, grid_points

    options = SamplerOptions(
        DefineByRun(space, setup.ctx), setup.metric, seed, population_for(trials),
        start_points=tuple(grid_points(space, setup.ctx)[:trials]), num_trials=trials,
    )  # fmt: skip
    timed = Timed(make_searcher(sampler, options))
    return drive(timed, score, trials), timed.seconds


class Evaluations:
    """Search-split and dev scores of one supernet, cached by Arch id in `<storage>/<name>-evaluations.json`."""

    def __init__(self, setup: Any, path: Path) -> None:
        self.setup, self.path = setup, path
        saved = json.loads(path.read_text()) if path.is_file() else {}
        self.search, self.dev = saved.get("search", {}), saved.get("dev", {})
        self._score = _scorer(setup, self.search)
        dev = setup.data.dev["dev"]
        self.dev_lengths = [int(item["attention_mask"].sum()) for item in dev.dataset]
        # seconds and examples of every evaluation this cache holds (kept with it, so a rerun can still estimate)
        self.eval_s, self.evaluated = saved.get("eval_s", 0.0), saved.get("evaluated_examples", 0)

    def score(self, config: dict[str, Any]) -> dict[str, Any]:
        """`sampler_study._scorer`'s result; a new evaluation's time is counted."""
        before, start = len(self.search), time.perf_counter()
        result = self._score(config)
        if len(self.search) > before:
            self.eval_s += time.perf_counter() - start
            self.evaluated += len(self.setup.data.search.examples)
        return result

    def dev_metric(self, arch_id: str) -> float:
        from raydistill.models.arch import Arch
        from raydistill.search.evaluator import evaluate_arch

        if arch_id not in self.dev:
            start = time.perf_counter()
            arch = Arch.from_id(arch_id)
            metrics = evaluate_arch(self.setup.model, arch, self.setup.data.dev["dev"], self.setup.data.collate, 64)
            self.dev[arch_id] = float(metrics[self.setup.metric])
            self.eval_s, self.evaluated = self.eval_s + time.perf_counter() - start, self.evaluated + len(self.dev_lengths)
        return self.dev[arch_id]

    def dev_cost(self, arch_id: str) -> float:
        from raydistill.models.arch import Arch

        return real_length_ratio(Arch.from_id(arch_id), self.setup.ctx.config, self.dev_lengths)

    def save(self) -> None:
        timing = {"eval_s": self.eval_s, "evaluated_examples": self.evaluated}
        self.path.write_text(json.dumps({"search": self.search, "dev": self.dev, **timing}))


def _setup(info: dict[str, Any]) -> Any:
    from raydistill.search.tuner import load_setup

    return load_setup(info["spec"], info["model"])


# ---------------------------------------------------------------- (b) and (c)
def joint_vs_width(s: Settings, evals: dict[str, Evaluations]) -> tuple[dict[str, Any], dict[int, pd.DataFrame]]:
    """(b): per seed, `s.front_sampler` on both spaces, dev HV of each search-split front at equal evaluations."""
    per_seed: dict[int, dict[str, Any]] = {}
    joint_tables: dict[int, pd.DataFrame] = {}
    for seed in s.seeds:
        tables = {}
        for kind, ev in evals.items():
            tables[kind], _ = run_search(ev.setup, SPACES[kind], s.front_sampler, seed, s.trials, ev.score)
            ev.save()
        joint_tables[seed] = tables["joint"]
        n = min(int((t["status"] == "ok").sum()) for t in tables.values())
        row: dict[str, Any] = {"equal_evaluations": n}
        for kind, ev in evals.items():
            shown = first_evaluated(tables[kind], n)
            hv, front = dev_front_hv(shown, ev.dev_metric, ev.dev_cost)
            hv64, _ = dev_front_hv(shown, ev.dev_metric, lambda a, t=shown: float(t.loc[t.arch_id == a, "flops_ratio"].iloc[0]))
            row[kind] = {"dev_hv_real_length": hv, "dev_hv_at_cost_length": hv64, "front": front}
            ev.save()
        per_seed[seed] = row
        print(f"sst2_joint (b) seed {seed}: joint {row['joint']['dev_hv_real_length']:.4f} "
              f"width {row['width']['dev_hv_real_length']:.4f} at {n} evaluations", flush=True)  # fmt: skip
    hv = {k: {seed: per_seed[seed][k]["dev_hv_real_length"] for seed in s.seeds} for k in SPACES}
    hv64 = {k: {seed: per_seed[seed][k]["dev_hv_at_cost_length"] for seed in s.seeds} for k in SPACES}
    result = {
        "per_seed": {str(k): v for k, v in per_seed.items()},
        "dev_hv_real_length": {k: spread(list(v.values())) for k, v in hv.items()},
        "dev_hv_at_cost_length": {k: spread(list(v.values())) for k, v in hv64.items()},
        "joint_minus_width": paired(hv["joint"], hv["width"]),
        "joint_minus_width_at_cost_length": paired(hv64["joint"], hv64["width"]),
    }
    return result, joint_tables


def sampler_study(s: Settings, ev: Evaluations, front: dict[int, pd.DataFrame]) -> dict[str, Any]:
    """(c): the samplers on the joint space (`s.front_sampler`'s runs are (b)'s), HV at equal evaluations, suggest
    times."""
    hv: dict[str, dict[int, float]] = {name: {} for name in SAMPLERS}
    hv_at_gp: dict[str, dict[int, float]] = {name: {} for name in SAMPLERS}
    suggest: dict[str, list[dict[str, float]]] = {name: [] for name in SAMPLERS}
    for seed in s.seeds:
        tables: dict[str, pd.DataFrame] = {s.front_sampler: front[seed]}
        for name in SAMPLERS:
            if name == s.front_sampler:
                continue
            trials = min(s.trials, s.gp_trials) if name == "gp" else s.trials
            tables[name], seconds = run_search(ev.setup, "joint", name, seed, trials, ev.score)
            suggest[name].append(suggest_stats(seconds))
            ev.save()
            print(f"sst2_joint (c) {name} seed {seed}: {len(tables[name])} trials, suggest mean "
                  f"{suggest[name][-1]['mean_s']:.3f} s", flush=True)  # fmt: skip
        _, equal = equal_evaluation_hv({k: v for k, v in tables.items() if k != "gp"} if s.gp_trials < s.trials else tables)
        _, at_gp = equal_evaluation_hv(tables)
        for name in SAMPLERS:
            if name in equal:
                hv[name][seed] = equal[name]
            hv_at_gp[name][seed] = at_gp[name]
    return {
        "gp_trials": min(s.trials, s.gp_trials),
        "hv_equal_evaluations": {n: {**spread(list(v.values())), "by_seed": {str(k): x for k, x in v.items()},
                                     "vs_random": paired(v, hv["random"])} for n, v in hv.items() if v},
        "hv_at_gp_evaluations": {n: {**spread(list(v.values())), "vs_random": paired(v, hv_at_gp["random"])}
                                 for n, v in hv_at_gp.items()},
        "suggest_seconds": {n: v for n, v in suggest.items() if v},
    }  # fmt: skip


def teacher_seen(s: Settings, spec: Any) -> int:
    """Search-split examples of the capped data that the teacher trained on (outside its own seed-42 split)."""
    from raydistill.data.splits import load_splits
    from raydistill.data.tasks import get_task

    task, path = get_task("sst2"), spec.data.path
    full = load_splits(task, path=path, seed=42)
    capped = load_splits(task, path=path, seed=42, max_train_examples=s.max_train)
    held_out = {ex.guid for ex in full.search}
    return sum(ex.guid not in held_out for ex in capped.search)


def run_sst2_joint(data_root: Path, out_dir: Path, work_dir: Path, *, smoke: bool = False, teacher: Path | None = None,
                   **changes: Any) -> dict[str, Any]:  # fmt: skip
    """The benchmark; `changes` replace `Settings` fields (None keeps the default)."""
    import torch

    s = replace(SMOKE if smoke else FULL, **{k: v for k, v in changes.items() if v is not None})
    teacher = teacher or data_root.parent / "models" / "minilm-l6-sst2"
    storage = work_dir / "sst2_joint"
    storage.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    supernets = train_supernets(s, data_root / "glue" / "SST-2", teacher.resolve(), storage)
    train_s = time.perf_counter() - started
    torch.set_num_threads(s.threads)
    evals = {k: Evaluations(_setup(v), storage / f"{s.prefix}-{k}-evaluations.json") for k, v in supernets.items()}
    search_start = time.perf_counter()
    b, front = joint_vs_width(s, evals)
    name = "sst2_joint" + ("" if s.front_sampler == "nsga2" else f"_{s.front_sampler}") + ("_smoke" if smoke else "")
    results = {
        "benchmark": name, "smoke": smoke, "settings": asdict(s), "teacher": str(teacher),
        "budgets": BUDGETS, "examples": {k: len(getattr(evals["joint"].setup.data, k)) for k in ("train",)}
        | {"search": len(evals["joint"].setup.data.search.examples), "dev": len(evals["joint"].dev_lengths)},
        "teacher_seen_search_examples": teacher_seen(s, supernets["joint"]["spec"]),
        "supernets": {k: {"method": v["metrics"].get("method"), "steps": v["metrics"].get("steps"),
                          "train_time_s": v["metrics"].get("train_time_s"), "stage_wall_s": v["stage_wall_s"]}
                      for k, v in supernets.items()},
        "joint_vs_width": b, "samplers": {"not_run": "(c) was still running" if s.samplers else "--no-samplers"},
        "wall_s": {"supernets": train_s, "searches": time.perf_counter() - search_start},
        "environment": environment(),
    }  # fmt: skip
    write_results(out_dir, name, results, render_markdown(results))  # (b) is kept if (c) is stopped
    if not s.samplers:
        return results
    results["samplers"] = sampler_study(s, evals["joint"], front)
    results["wall_s"]["searches"] = time.perf_counter() - search_start
    if smoke:
        results["full_run_estimate"] = estimate_full_run(results, FULL, evals, Path(__file__).resolve().parents[1] / "reports" / "benchmarks")
        print(f"sst2_joint smoke: estimated full run {results['full_run_estimate']['total_h']:.1f} h", flush=True)
    write_results(out_dir, name, results, render_markdown(results))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser("sst2_joint benchmark (or its --smoke version)")
    parser.add_argument("--teacher", type=Path, default=None, help="default: <data>/../models/minilm-l6-sst2")
    parser.add_argument("--smoke", action="store_true", help="a few steps, a few trials, one seed")
    parser.add_argument("--trials", type=int, default=None, help=f"trials per search (default {FULL.trials})")
    parser.add_argument("--gp-trials", type=int, default=None, help=f"cap on GP's trials (default {FULL.gp_trials})")
    parser.add_argument("--threads", type=int, default=None, help=f"torch threads per evaluation (default {FULL.threads})")
    parser.add_argument("--front-sampler", choices=SAMPLERS, default=None,
                        help="the sampler of (b) on both spaces (default nsga2; another writes sst2_joint_<sampler>)")
    parser.add_argument("--no-samplers", dest="samplers", action="store_false", default=None,
                        help="run (a) and (b) only; a later run without it reuses their supernets and evaluations")
    args = parser.parse_args(argv)
    run_sst2_joint(args.data.resolve(), args.out, args.work.resolve(), smoke=args.smoke, teacher=args.teacher,
                   trials=args.trials, gp_trials=args.gp_trials, threads=args.threads, samplers=args.samplers,
                   front_sampler=args.front_sampler)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(guarded(main))
