"""Benchmark `budget_rule`: no budget pick is worse on the search split than a grid point inside that budget.

A budget b admits a sub-network whose encoder FLOPs are at most b x the teacher's; the pooler and task head are a
fixed cost (`results.pareto.budget_limit`). A user calls a uniform DynaBERT grid point "inside" budget b when it
keeps at most a fraction b of the encoder: width 0.25 (depth 1) is a 0.25 network although the classifier it
still pays makes it 25.02% of MiniLM-L6's total FLOPs. This benchmark runs the real pieces on SST-2:
    1. the supernet stage (`training.supernet.train_supernet`: importance reordering, then a short Ray Train run of
       the layerwise sandwich) from the fine-tuned MiniLM-L6 teacher in /work/shared/models/minilm-l6-sst2, on
       the first `max_train` SST-2 train examples (a 10% search split carved from them with seed 42);
    2. a search of the `layerwise` space by the real NSGA-II searcher (`search.samplers.make_searcher`, with
       `start_from_grid`: every uniform (width, depth) first), driven without Tune as `sampler_study` does,
       each proposal scored on the search split;
    3. per budget (0.25, 0.5, 0.75): the pick under the rule and under the plain total-ratio rule, each grid
       point with its total and encoder FLOPs ratio, whether the rule admits it, and its search accuracy.
Target: under the rule, every budget's pick scores at least as well on the search split as every grid point whose
encoder share is at most b. The picks are also scored once on dev (872 examples), for reference only.
The teacher was fine-tuned on all SST-2 train examples outside its own seed-42 10% split, so it has seen part of
this benchmark's search split (carved from a subset); both rules are compared on the same split.

    python -m benchmarks.run --data ../shared/data --only budget_rule          (~10 min on 2 cores)
    python -m benchmarks.budget_rule --data ../shared/data --smoke             (tiny model: proves it runs)
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.common import bench_parser, environment, guarded, md_table, write_results
from raydistill.layout import RunLayout

BUDGETS = [0.25, 0.5, 0.75]
WIDTHS = [1.0, 0.75, 0.5, 0.25]
DEPTHS = [1.0, 0.75, 0.5]
SEQ_LEN = 64
THREADS = 2
SEED = 42
TEACHER_DIR = Path("models") / "minilm-l6-sst2"  # beside the data folder: ../shared/{data,models}


def shared_teacher(data_root: Path) -> Path:
    """The fine-tuned MiniLM-L6 SST-2 teacher of ../shared/models (its README says how it was made)."""
    return data_root.resolve().parent / TEACHER_DIR
TOL = 1e-9


@dataclass(frozen=True)
class Settings:
    """What one run trains and searches; `SMOKE` (a tiny untrained model, no training) only proves it runs."""

    name: str = "bench-budget-rule"
    max_train: int = 6000  # before the 10% search split: 5,400 train, 600 search examples
    max_eval: int | None = None  # all 872 dev examples
    supernet_train: str = (
        "max_steps: 120, batch_size: 32, learning_rate: 5.0e-5, warmup_ratio: 0.1, group_by_length: true"
    )
    importance_examples: int = 1000
    trials: int = 36  # 12 grid points + 24 NSGA-II proposals
    population: int = 8
    train_supernet: bool = True


FULL = Settings()
SMOKE = Settings(
    name="bench-budget-rule-smoke", max_train=60, max_eval=16, supernet_train="max_steps: 2, batch_size: 8",
    importance_examples=8, trials=16, population=4, train_supernet=False,
)  # fmt: skip


def spec_yaml(s: Settings, sst2_dir: Path, storage: Path, teacher: str) -> str:
    """The benchmark's spec: supernet settings, and the search section `load_setup` prices Archs with."""
    max_eval = f"\n  max_eval_examples: {s.max_eval}" if s.max_eval else ""
    return f"""# The budget_rule benchmark's spec (written by benchmarks/budget_rule.py).
name: {s.name}
task: sst2
data:
  path: {sst2_dir}
  max_seq_length: {SEQ_LEN}
  search_split: 0.1
  max_train_examples: {s.max_train}{max_eval}
teacher:
  model: {teacher}
  finetuned: true
supernet:
  widths: {WIDTHS}
  depths: {DEPTHS}
  reorder: true
  importance_examples: {s.importance_examples}
  sampling: layerwise
  num_random: 2
  teacher_mode: full
  train: {{{s.supernet_train}, num_threads: {THREADS}}}
search: {{space: layerwise, sampler: nsga2, num_trials: {s.trials}, budgets: {BUDGETS}, start_from_grid: true}}
export: {{enabled: false}}
resources:
  num_workers: 1
  cpus_per_worker: {THREADS}
  storage_path: {storage}
seed: {SEED}
"""


# ---------------------------------------------------------------- pure analysis (tested on a tiny config)
def grid_table(ctx: Any, scores: dict[str, float]) -> pd.DataFrame:
    """Every uniform (width, depth) grid point of the supernet: total and encoder FLOPs ratio, search score."""
    from raydistill.models.arch import Arch
    from raydistill.models.flops import count_flops

    teacher = ctx.teacher_flops
    rows = []
    for w in ctx.widths:
        for d in ctx.depths:
            arch = Arch.for_config(ctx.config, width=w, depth=d)
            flops = count_flops(arch, ctx.config, ctx.seq_len, ctx.num_labels, ctx.head)
            rows.append({"arch_id": arch.id, "width": float(w), "depth": float(d),
                         "flops_ratio": flops.macs / teacher.macs,
                         "encoder_ratio": flops.encoder_macs / teacher.encoder_macs,
                         "search_metric": scores.get(arch.id, float("nan"))})  # fmt: skip
    return pd.DataFrame(rows).drop_duplicates("arch_id").reset_index(drop=True)


def _pick(row: pd.Series | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"arch_id": str(row["arch_id"]), "flops_ratio": float(row["flops_ratio"]),
            "search_metric": float(row["search_metric"])}  # fmt: skip


def judge_budgets(trials: pd.DataFrame, grid: pd.DataFrame, fixed_ratio: float) -> dict[str, dict[str, Any]]:
    """Per budget: the pick under the rule and under the plain ratio rule, and each grid point with whether
    the rule admits it and whether a user calls it inside (encoder share <= b); `meets` / `old_meets`: the
    pick scores at least the best grid point inside the budget."""
    from raydistill.results.pareto import best_per_budget, budget_limit, within_budget

    out: dict[str, dict[str, Any]] = {}
    for b in BUDGETS:
        new = _pick(best_per_budget(trials, [b], fixed_ratio=fixed_ratio)[b])
        old = _pick(best_per_budget(trials, [b], fixed_ratio=0.0)[b])
        points = grid.assign(
            admitted=[bool(within_budget(r, b, fixed_ratio)) for r in grid["flops_ratio"]],
            admitted_plain_ratio=[bool(within_budget(r, b, 0.0)) for r in grid["flops_ratio"]],
            inside=grid["encoder_ratio"] <= b + TOL,
        )
        inside = points[points["inside"]]
        best_inside = float(inside["search_metric"].max()) if len(inside) else float("nan")
        out[f"{b:g}"] = {
            "limit": budget_limit(b, fixed_ratio),
            "pick": new,
            "pick_plain_ratio": old,
            "best_grid_inside": best_inside,
            "meets": new is not None and new["search_metric"] >= best_inside - TOL,
            "old_meets": old is not None and old["search_metric"] >= best_inside - TOL,
            "rule_matches_user": bool((points["admitted"] == points["inside"]).all()),
            "grid": points.to_dict(orient="records"),
        }
    return out


# ---------------------------------------------------------------- the run
def _supernet(s: Settings, spec: Any, run_dir: Path, sst2_dir: Path) -> tuple[Path, float]:
    """(supernet dir, seconds): the supernet stage from the fine-tuned teacher, or (smoke) a tiny model."""
    start = time.perf_counter()
    if s.train_supernet:
        from raydistill.training.supernet import train_supernet

        return train_supernet(spec, run_dir, shared_teacher(sst2_dir.parents[1])).model_dir, time.perf_counter() - start
    import torch
    from transformers import BertForSequenceClassification, BertTokenizerFast

    from tests.conftest import TINY_VOCAB, tiny_bert_config

    model_dir = RunLayout(run_dir).supernet_model
    torch.manual_seed(SEED)
    BertForSequenceClassification(tiny_bert_config(num_hidden_layers=4)).save_pretrained(model_dir)
    BertTokenizerFast(vocab={w: i for i, w in enumerate(TINY_VOCAB)}).save_pretrained(model_dir)
    return model_dir, time.perf_counter() - start


def _search(setup: Any, s: Settings) -> tuple[pd.DataFrame, dict[str, float]]:
    """NSGA-II over the layerwise space, grid first, driven without Tune; (trial table, search score by id)."""
    from benchmarks.sampler_study import _scorer, drive
    from raydistill.models.arch import Arch
    from raydistill.search.samplers import SamplerOptions, make_searcher
    from raydistill.search.spaces import DefineByRun, grid_points

    options = SamplerOptions(
        define_by_run=DefineByRun("layerwise", setup.ctx), metric=setup.metric, seed=SEED,
        population_size=s.population, start_points=tuple(grid_points("layerwise", setup.ctx)),
    )  # fmt: skip
    scores: dict[str, float] = {}
    table = drive(make_searcher("nsga2", options), _scorer(setup, scores), s.trials)
    table["arch_json"] = [Arch.from_id(a).to_json() for a in table["arch_id"]]
    return table, scores


def _dev(setup: Any, judged: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Dev accuracy of every pick (either rule), each Arch once."""
    from raydistill.models.arch import Arch
    from raydistill.search.final import evaluate_on_dev, main_dev_values

    ids = {p["arch_id"] for j in judged.values() for p in (j["pick"], j["pick_plain_ratio"]) if p}
    dev = evaluate_on_dev(setup.model, [Arch.from_id(a) for a in sorted(ids)], setup.data, batch_size=64)
    return main_dev_values(dev, setup.data)


def run_budget_rule(data_root: Path, out_dir: Path, work_dir: Path, *, smoke: bool = False) -> dict[str, Any]:
    import torch

    from raydistill.search.tuner import load_setup
    from raydistill.spec import load_spec

    s = SMOKE if smoke else FULL
    torch.set_num_threads(THREADS)
    storage = work_dir / "budget_rule"
    shutil.rmtree(storage / s.name, ignore_errors=True)
    storage.mkdir(parents=True, exist_ok=True)
    sst2_dir = data_root / "glue" / "SST-2"
    teacher = shared_teacher(data_root)
    spec_path = storage / f"{s.name}.yaml"
    spec_path.write_text(spec_yaml(s, sst2_dir, storage, str(teacher) if s.train_supernet else "unused"))
    spec = load_spec(spec_path)
    supernet_dir, train_s = _supernet(s, spec, storage / s.name, sst2_dir)
    start = time.perf_counter()
    setup = load_setup(spec, supernet_dir)
    trials, scores = _search(setup, s)
    judged = judge_budgets(trials, grid_table(setup.ctx, scores), setup.ctx.fixed_ratio)
    dev = _dev(setup, judged)
    name = "budget_rule" + ("_smoke" if smoke else "")
    results = {
        "benchmark": name,
        "setup": {
            "teacher": str(teacher) if s.train_supernet else "tiny untrained BERT (smoke)",
            "train_examples": len(setup.data.train),
            "search_examples": len(setup.data.search.examples),
            "dev_examples": len(setup.data.dev["dev"].examples),
            "max_seq_length": SEQ_LEN,
            "widths": WIDTHS,
            "depths": DEPTHS,
            "supernet_train": s.supernet_train if s.train_supernet else "none",
            "space": "layerwise",
            "sampler": "nsga2",
            "trials": len(trials),
            "budgets": BUDGETS,
            "seed": SEED,
            "torch_threads": THREADS,
        },  # fmt: skip
        "fixed_ratio": setup.ctx.fixed_ratio,
        "budgets": judged,
        "dev_accuracy_of_picks": dev,
        "meets_targets": {f"pick_at_{b}_not_worse_than_grid_inside": j["meets"] for b, j in judged.items()},
        "plain_ratio_rule_would_meet": {b: j["old_meets"] for b, j in judged.items()},
        "seconds": {"supernet": train_s, "search_and_dev": time.perf_counter() - start},
        "environment": environment(),
    }
    write_results(out_dir, name, results, render_markdown(results))
    return results


def render_markdown(r: dict[str, Any]) -> str:
    def pick_text(p: dict[str, Any] | None) -> list[Any]:
        if p is None:
            return ["nothing fits", "", "", ""]
        dev = r["dev_accuracy_of_picks"][p["arch_id"]]
        return [p["arch_id"], f"{100 * p['flops_ratio']:.2f}%", p["search_metric"], dev]

    picks = []
    for b, j in r["budgets"].items():
        inside = j["best_grid_inside"]
        picks.append([b, f"{100 * j['limit']:.3f}%", "rule", *pick_text(j["pick"]), inside, j["meets"]])
        picks.append(
            [
                b,
                f"{100 * float(b):.3f}%",
                "plain ratio",
                *pick_text(j["pick_plain_ratio"]),
                inside,
                j["old_meets"],
            ]
        )
    per_budget = {b: {g["arch_id"]: g for g in j["grid"]} for b, j in r["budgets"].items()}
    grids = []
    for g in next(iter(r["budgets"].values()))["grid"]:
        marks = [
            ("yes" if per_budget[b][g["arch_id"]]["admitted"] else "no")
            + (" / yes" if per_budget[b][g["arch_id"]]["admitted_plain_ratio"] else " / no")
            for b in per_budget
        ]
        grids.append([g["arch_id"], g["width"], g["depth"], f"{100 * g['flops_ratio']:.3f}%",
                      f"{100 * g['encoder_ratio']:.2f}%", g["search_metric"], *marks])  # fmt: skip
    setup = r["setup"]
    intro = (
        "Does every budget pick score at least as well on the search split as each uniform grid point a user "
        "would call inside the budget (encoder share <= b)? Budgets price encoder FLOPs; the pooler and "
        f"classifier are a fixed {100 * r['fixed_ratio']:.4f}% of the teacher's FLOPs, so budget b admits total "
        f"ratios up to b + (1 - b) x that share. Supernet: {setup['supernet_train']} from {setup['teacher']} "
        f"({setup['train_examples']} train examples); search: NSGA-II over the layerwise space, "
        f"{setup['trials']} trials (the grid first), {setup['search_examples']} search-split examples; dev "
        f"({setup['dev_examples']} examples) only for reference."
    )
    pick_header = ["budget", "limit (total FLOPs)", "rule", "pick", "FLOPs", "search acc", "dev acc",
                   "best grid point inside (search acc)", "pick >= grid inside"]  # fmt: skip
    grid_header = ["grid point", "width", "depth", "total FLOPs", "encoder FLOPs", "search acc",
                   *[f"fits {b} (rule / plain ratio)" for b in per_budget]]  # fmt: skip
    return "\n\n".join(
        [
            f"# {r['benchmark']}",
            intro,
            "## Picks",
            md_table(pick_header, picks),
            "## Grid points (inside a budget = encoder FLOPs <= b; the rule admits exactly these)",
            md_table(grid_header, grids),
            f"- meets targets: {r['meets_targets']}",
            f"- the plain total-ratio rule would meet: {r['plain_ratio_rule_would_meet']}",
            f"- seconds: supernet {r['seconds']['supernet']:.0f}, search + dev {r['seconds']['search_and_dev']:.0f}",
            f"- environment: {r['environment']}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny untrained model: proves the script runs")
    args = parser.parse_args(argv)
    results = run_budget_rule(args.data.resolve(), args.out, args.work.resolve(), smoke=args.smoke)
    print(json.dumps(results["meets_targets"]))
    return 0


if __name__ == "__main__":
    sys.exit(guarded(main))
