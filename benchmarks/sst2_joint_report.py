"""The `sst2_joint` benchmark's markdown page and, from a smoke run, its estimate of the full run's time."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from benchmarks.common import md_table

SEARCH_EXAMPLES_FULL = 889  # search split of the 8,889-example cap
DEV_EXAMPLES_FULL = 872
SAMPLER_NAMES = {"nsga2": "NSGA-II", "tpe": "TPE", "gp": "GP", "random": "random", "evolution": "evolution"}
FRONT_ARCHS = 20  # dev evaluations per front (about; fronts of 100 trials held 10-25 Archs on search_sst2)


def _steps(settings: Any) -> int:
    """Optimizer steps of one full supernet: epochs x ceil(8,000 / 32)."""
    from benchmarks.sst2_joint import EPOCHS

    return EPOCHS * math.ceil((settings.max_train - settings.max_train // 10) / 32)


def train_step_seconds(results: dict[str, Any], out_dir: Path) -> tuple[float, str]:
    """Seconds per full-size supernet step: supernet_sst2's measured train loop (same data, 32 per batch, 4 trained
    sub-networks + 1 no-grad forward per step here vs its 5 + 1) when its report exists, else the smoke's 3
    steps scaled to batch 32 (inflated: they include start-up)."""
    measured = out_dir / "supernet_sst2.json"
    if measured.is_file():
        train = json.loads(measured.read_text())["supernet_training"]
        return train["train_loop_seconds"] / train["steps"], f"supernet_sst2's {measured}"
    smoke = max(v["train_time_s"] / max(1, v["steps"]) for v in results["supernets"].values())
    return 2 * smoke, "the smoke's steps x 2 (batch 32 vs 16; includes start-up)"


def estimate_full_run(results: dict[str, Any], full: Any, evals: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Hours the full benchmark would take (a rough estimate): training from `train_step_seconds`, evaluations
    from the smoke's seconds per evaluated example (no cache hits: an upper bound), suggest time from each
    sampler's last quarter of smoke calls held flat (GP's grows with the trials it has seen: a lower bound)."""
    step_s, step_source = train_step_seconds(results, out_dir)
    train_s = 2 * _steps(full) * step_s  # two supernets
    ev_s = sum(e.eval_s for e in evals.values()) / max(1, sum(e.evaluated for e in evals.values()))
    searches = len(full.seeds) * (1 + len(results["samplers"]["suggest_seconds"]) + 1)  # width + joint samplers
    search_eval_s = searches * full.trials * SEARCH_EXAMPLES_FULL * ev_s  # upper bound: no cache hits
    dev_eval_s = len(full.seeds) * 2 * FRONT_ARCHS * DEV_EXAMPLES_FULL * ev_s
    suggest = results["samplers"]["suggest_seconds"]
    suggest_s = sum(
        len(full.seeds) * (full.gp_trials if name == "gp" else full.trials) * runs[0]["last_quarter_mean_s"]
        for name, runs in suggest.items()
    )
    total = train_s + search_eval_s + dev_eval_s + suggest_s
    return {
        "seconds_per_train_step": step_s, "train_step_source": step_source, "seconds_per_evaluated_example": ev_s, "train_h": train_s / 3600,
        "search_evaluations_h": search_eval_s / 3600, "dev_evaluations_h": dev_eval_s / 3600,
        "suggest_h": suggest_s / 3600, "total_h": total / 3600,
    }  # fmt: skip


def _p(value: float) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def _pm(summary: dict[str, float]) -> str:
    std = summary["std"]
    return f"{summary['mean']:.4f}" + ("" if math.isnan(std) else f" ± {std:.4f}")


def _section_b(b: dict[str, Any], sampler: str) -> list[str]:
    rows = [
        [seed, r["equal_evaluations"], r["joint"]["dev_hv_real_length"], r["width"]["dev_hv_real_length"],
         r["joint"]["dev_hv_at_cost_length"], r["width"]["dev_hv_at_cost_length"]]
        for seed, r in b["per_seed"].items()
    ]  # fmt: skip
    d, d64 = b["joint_minus_width"], b["joint_minus_width_at_cost_length"]
    return [
        f"## (b) Joint front vs width-only front on dev, equal evaluations ({SAMPLER_NAMES.get(sampler, sampler)})",
        "Fronts are chosen on the search split; their Archs are scored on dev. Cost (real length): mean per-example "
        "FLOPs at each dev example's real length / the full model's at the same lengths (the full model on "
        "dynamically padded batches), so token dropping is credited only beyond padding removal. Cost (length 64): "
        "the same fronts priced at the fixed cost length, for comparison.",
        md_table(["seed", "evaluations", "joint HV (real length)", "width HV (real length)", "joint HV (64)",
                  "width HV (64)"], rows),  # fmt: skip
        f"- joint - width (real length): mean {d['mean_diff']:+.4f}, std {_p(d['std_diff'])}, joint higher on "
        f"{d['wins']} seeds, paired t-test p = {_p(d['t_test_p'])}, Wilcoxon p = {_p(d['wilcoxon_p'])}\n"
        f"- joint - width (length 64): mean {d64['mean_diff']:+.4f}, joint higher on {d64['wins']} seeds",
    ]


def _section_c(c: dict[str, Any]) -> list[str]:
    rows = []
    for name, r in c["hv_equal_evaluations"].items():
        v, sug = r["vs_random"], c["suggest_seconds"].get(name)
        mean_s = "(b)'s runs" if sug is None else f"{sum(x['mean_s'] for x in sug) / len(sug):.3f}"
        last_s = "" if sug is None else f"{sum(x['last_quarter_mean_s'] for x in sug) / len(sug):.3f}"
        rows.append([name, _pm(r), f"{v['mean_diff']:+.4f}", v["wins"], _p(v["t_test_p"]), mean_s, last_s])
    at_gp = [[n, _pm(r), f"{r['vs_random']['mean_diff']:+.4f}", r["vs_random"]["wins"]]
             for n, r in c["hv_at_gp_evaluations"].items()]  # fmt: skip
    return [
        "## (c) Samplers on the joint space (search-split HV at equal evaluations)",
        md_table(["sampler", "HV mean ± std", "mean diff to random", "seeds above random", "paired t-test p",
                  "suggest s (mean)", "suggest s (last quarter)"], rows),  # fmt: skip
        f"All five at GP's evaluation count (GP ran at most {c['gp_trials']} trials):",
        md_table(["sampler", "HV mean ± std", "mean diff to random", "seeds above random"], at_gp),
    ]


def render_markdown(r: dict[str, Any]) -> str:
    s = r["settings"]
    head = (
        f"SST-2, teacher {r['teacher']} (fine-tuned MiniLM-L6). Train on the first {s['max_train']} train examples "
        f"({r['examples']['train']} train + {r['examples']['search']} search after the seed-42 10% split; "
        f"{r['teacher_seen_search_examples']} of those search examples were in the teacher's training data), "
        f"dev {r['examples']['dev']} examples, max_seq_length 64. Supernets (same budget): {s['train']}. "
        f"{s['trials']} trials per search, sampler seeds {s['seeds']}, budgets {r['budgets']}, 2 proposals in "
        f"flight, {s['threads']} torch thread(s) per evaluation, search-split evaluations cached by Arch id."
    )
    sup = [[k, v["method"], v["steps"], v["train_time_s"], v["stage_wall_s"]] for k, v in r["supernets"].items()]
    parts = [f"# {r['benchmark']}", head,
             md_table(["supernet", "method", "steps", "train loop s", "stage wall s"], sup),  # fmt: skip
             *_section_b(r["joint_vs_width"], s.get("front_sampler", "nsga2"))]  # fmt: skip
    c = r["samplers"]
    parts += [f"(c) samplers: not run ({c['not_run']})."] if "not_run" in c else _section_c(c)
    if "full_run_estimate" in r:
        e = r["full_run_estimate"]
        parts.append(
            f"Smoke run: numbers mean nothing. Estimated full run from it: {e['total_h']:.1f} h (supernets "
            f"{e['train_h']:.1f} h, search evaluations <= {e['search_evaluations_h']:.1f} h, dev "
            f"{e['dev_evaluations_h']:.1f} h, suggest >= {e['suggest_h']:.1f} h; training from "
            f"{e['train_step_source']}, {e['seconds_per_train_step']:.2f} s/step)."
        )
    parts.append(f"- environment: {r['environment']}")
    return "\n\n".join(parts)
