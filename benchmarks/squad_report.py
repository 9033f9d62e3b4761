"""Markdown of the squad_length benchmark (`squad_length.run_squad_length`'s results)."""

from __future__ import annotations

from typing import Any

from benchmarks.common import md_table
from benchmarks.squad_stats import LATENCY_GOAL, TOLERANCE

SMOKE_NOTE = ("**Smoke run**: tiny caps (a few steps, trials and questions) on the real data path; it proves the "
              "script runs end to end and its numbers mean nothing.")  # fmt: skip


def render_markdown(results: dict[str, Any]) -> str:
    s = results["settings"]
    lines = ["# SQuAD v1.1: length and joint search, F1 within 1.0 of the full model", ""]
    if results["smoke"]:
        lines += [SMOKE_NOTE, ""]
    lines += [
        f"Spec `{results['spec']}` run through the pipeline (`length`: as is; the others with its header's `--set` "
        "overrides: `joint` on the length run's fine-tuned teacher, `joint-long` the joint run's supernet trained "
        "one more epoch on all 38 train articles, `joint-hidden` the joint run with LengthDrop's hidden-state term). "
        "The reference is each run's supernet's full Arch (all 6 layers, "
        "heads, FFN and tokens). F1 / EM in percent, per question on the report split; differences to the full "
        f"model with a paired bootstrap over questions ({s['resamples']:,} resamples, seed {s['seed']}, 95% "
        f"percentile interval). **Within {TOLERANCE:.1f}**: the mean difference >= -{TOLERANCE:.1f} F1 (stricter: the "
        "interval's lower end >= -1). FLOPs reduction = teacher FLOPs / point FLOPs at the run's cost length.",
        "",
    ]
    for kind, run in results["runs"].items():
        lines += _run_section(kind, run)
    c = results["consistency"]
    lines += ["## Consistency", "",
              f"Mean of each point's per-question F1 vs its points-table dev F1 (tolerance {c['tolerance']:g}): "
              + ("all equal." if c["ok"] else "**FAILED**: " + "; ".join(c["failed"])), ""]  # fmt: skip
    env = results["environment"]
    lines += ["## Environment", "", ", ".join(f"{k} {v}" for k, v in env.items()), ""]
    return "\n".join(lines)


def _run_section(kind: str, run: dict[str, Any]) -> list[str]:
    if "not_run" in run:
        return [f"## {kind}", "", f"Not run ({run['not_run']}).", ""]
    split, sizes, ref = run["split"], run["sizes"], run["reference"]
    lines = [f"## {kind} (run `{run['run']}`)", "",
             f"- **every F1 / EM below scored on**: {split['dev']}",
             f"- search split (the search's objective): {split['search']}",
             f"- trained on: {split['train']}", *_size_lines(sizes), ""]  # fmt: skip
    lines += [
        f"Full model (reference, {ref['shape']}): F1 {ref['f1']:.2f}, EM {ref['exact_match']:.2f} on "
        f"{ref['questions']:,} questions" + _context(ref) + ".", "",
    ]  # fmt: skip
    rows = _compared_rows(run["points"])
    lines += [md_table(HEADER, rows), ""] if rows else ["No search point was scored on dev.", ""]
    lines += _verdict_lines(kind, run)
    if run.get("probes"):
        lines += ["Hand-set length configs (full width; probes, not searched, never counted above): where along "
                  "the layers dropping tokens costs F1.", "", md_table(HEADER, _compared_rows(run["probes"])), ""]  # fmt: skip
    if "latency" in run:
        lines += _latency_lines(run["latency"])
    return lines


HEADER = ["points", "shape", "FLOPs red.", "F1", "EM", "F1 diff [95% CI]", "EM diff", "within 1.0 (mean / CI)"]


def _compared_rows(points: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [p["labels"], p["shape"], f"{p['reduction']:.2f}x", f"{p['f1']:.2f}", f"{p['exact_match']:.2f}",
         f"{p['diff']:+.2f} [{p['low']:+.2f}, {p['high']:+.2f}]", f"{p['em_diff']:+.2f}",
         f"{_yes(p['within']['point'])} / {_yes(p['within']['interval'])}"]
        for p in points
    ]  # fmt: skip


def _context(ref: dict[str, Any]) -> str:
    parts = []
    if ref.get("grid_row_f1") is not None:
        parts.append(f"the supernet stage's own dev F1 of it {ref['grid_row_f1']:.2f}")
    if ref.get("teacher_f1") is not None:
        parts.append(f"the teacher stage's model, where training started, {ref['teacher_f1']:.2f}")
    return f" ({'; '.join(parts)})" if parts else ""


def _size_lines(z: dict[str, Any]) -> list[str]:
    st = z["stages"]
    return [
        f"- sizes: train `{z['train_file']}`, report `{z['dev_file']}`; max_seq_length {z['max_seq_length']}, doc_stride "
        f"{z['doc_stride']}, max_query_length {z['max_query_length']}; caps: max_train_examples "
        f"{z['max_train_examples']}, max_eval_examples {z['max_eval_examples']}; {z['questions']['search']:,} search "
        f"and {z['questions']['report']:,} report questions ({z['report_windows']:,} report windows)",
        f"- teacher: {z['teacher']['model']} (finetuned given: {z['teacher']['finetuned']}), {st['teacher']['steps']} "
        f"steps; supernet {z['supernet']['method']} widths {z['supernet']['widths']} depths {z['supernet']['depths']} "
        f"r {z['supernet']['length_drop_ratio_bound']}, {st['supernet']['steps']} steps",
        f"- search: space {z['search']['space']}, {z['search']['sampler']}, {z['search']['num_trials']} trials, budgets "
        f"{z['search']['budgets']}, {z['search']['max_search_examples']} search questions per trial, pareto_eval_cap "
        f"{z['search']['pareto_eval_cap']}; FLOPs at {z['cost_seq_length']} tokens",
    ]  # fmt: skip


def _verdict_lines(kind: str, run: dict[str, Any]) -> list[str]:
    best, strict, verdict = run["best_within"], run["best_within_interval"], run["verdict"]
    got = f"**{best['reduction']:.2f}x** ({best['labels']}, F1 diff {best['diff']:+.2f})" if best else "**none**"
    lines = [f"Largest FLOPs reduction within {TOLERANCE:.1f} F1 (mean difference): {got}; by the interval's lower end: "
             + (f"{strict['reduction']:.2f}x ({strict['labels']})" if strict else "none") + "."]  # fmt: skip
    if verdict["targets"]:
        t = verdict["targets"]
        lines.append(f"Targets ({kind}): >= {t['required']:g}x required: {_met(verdict['required_met'])}; "
                     f">= {t['stretch']:g}x stretch: {_met(verdict['stretch_met'])}.")  # fmt: skip
    else:
        lines.append(f"Target ({kind}): {verdict['note']}.")
    return [*lines, ""]


def _latency_lines(lat: dict[str, Any]) -> list[str]:
    st, reduction = lat["settings"], lat["reduction"]
    rows = [
        [b, f"{v['full_ms']:.1f}", f"{v['point_ms']:.1f}", f"{v['speedup']:.2f}x", f"{reduction:.2f}x",
         f"{v['ratio_to_flops']:.2f}", _met(v["goal_met"]), lat["full_windows"][b]]
        for b, v in lat["per_batch"].items()
    ]  # fmt: skip
    return [
        f"Timed point: {lat['point']} ({reduction:.2f}x, F1 diff {lat['f1_diff']:+.2f}; {lat['why']}).", "",
        f"CPU latency of the exports (HF dirs: full {lat['kinds']['full']}, point {lat['kinds']['point']}), real "
        f"report-split windows padded to {st['seq_len']} tokens (the longest first), {st['threads']} torch thread(s), "
        f"{st['warmup']} warm-up calls, median of {st['repeats']}; goal: speedup >= {LATENCY_GOAL:g} x the FLOPs "
        "reduction.", "",
        md_table(["batch", "full ms", "point ms", "speedup", "FLOPs red.", "ratio", "goal", "full-length windows"], rows),
        "",
    ]  # fmt: skip


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _met(flag: bool) -> str:
    return "met" if flag else "not met"
