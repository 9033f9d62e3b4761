"""The `search_sst2` benchmark's markdown page, from its results dict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import md_table
from benchmarks.search_stats import CONCURRENT, SPACE
from benchmarks.supernet_sst2 import DEPTHS, SEQ_LEN, WIDTHS


def render_markdown(r: dict[str, Any]) -> str:
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
        f"1 torch thread each, population {setup['population_size']}, seed {setup['seed']}; every sampler starts "
        "from the supernet's uniform (width, depth) grid, `search.start_from_grid`, counted in the trials), budgets "
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
        "(accuracy max, FLOPs ratio min), reference (0, 1.0). No sampler proposes an Arch twice (a repeat is "
        "re-drawn, `search.proposals`), so every trial is a distinct sub-network. Infeasible proposals (over the largest budget) are "
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
        retrain_markdown(r["nsga2_retrained"]),
        "## Targets\n\n" + "\n".join(f"- {k}: {'met' if v else 'NOT met'}" for k, v in r["meets_targets"].items())
        + "\n\n\"best over samplers\" takes the highest dev accuracy among the samplers' search-split picks (a mild "
        f"selection on dev); the NSGA-II rows do not. NSGA-II report summary: {Path(r['nsga2_report_summary']).name}.",
        f"- environment: {r['environment']}",
    ])  # fmt: skip


def retrain_markdown(retrained: dict[str, Any] | None) -> str:
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
