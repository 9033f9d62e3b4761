"""Benchmark `squad_length`: how far the length axis (and the joint width x depth x length space) cuts FLOPs on
SQuAD v1.1 while F1 stays within 1.0 of the full model, and what the cut is worth in measured CPU latency.

(a) The runs of `searches/squad_length.yaml` through the real pipeline (`raydistill run`, storage under
    `--work`; a rerun resumes every stage from the run cache, also across sessions): `length` = the spec as is,
    `joint`, `joint-long` and `joint-hidden` = the spec with the `--set` overrides of the header's commands of
    those names (`joint`: the length run's fine-tuned teacher reused; `joint-long`: the joint run's supernet
    trained one more epoch on all 38 articles; `joint-hidden`: the joint run with LengthDrop's hidden-state term).
(b) Per question of the report split (articles 38-47), EM and F1 of the full model (the supernet's full Arch,
    the reference) and of every search point the pipeline scored on dev (kinds pick / trial: the picks and the
    Pareto points), by the same sliced-supernet forward the pipeline scores dev with
    (`search.evaluator.question_scores_arch`); the mean of each point's per-question F1 must equal its points-table
    dev F1 to 1e-6 (a consistency check against the pipeline's own number).
    Beside them, hand-set full-width length configs (`PROBE_TOKENS`), never counted as the search's result.
(c) A paired bootstrap over questions (`squad_stats`, 10,000 resamples, seed 0): each point's F1 difference to
    the full model with a 95% percentile interval; the largest FLOPs reduction (teacher FLOPs / point FLOPs at
    the run's cost length) whose difference is >= -1.0 F1 (stricter: whose interval's lower end is); targets:
    joint >= 3x required, 5x stretch; length reported (LAT's r = 0.2 caps 6 layers near 1.9x).
(d) The chosen point of each run and the full model exported as HF directories (`models.export`), timed on CPU
    on real windows of the report split at max_seq_length (batch 1 and 32, `LatencySettings`: stated threads,
    warm-up, median); the speedup beside the FLOPs reduction and its ratio to it (goal >= 0.85). Where no point
    is within 1.0 F1, the best-F1 point at the required reduction (or, below it, the most reduced point) is timed
    instead, marked as such: the latency-to-FLOPs ratio is measured either way.

    python -m benchmarks.squad_length --data ../shared/data                  (all runs; about 4.5 h on 2 CPUs)
    python -m benchmarks.squad_length --data ../shared/data --runs length    (the length run and its analysis)
    python -m benchmarks.squad_length --data ../shared/data --smoke          (tiny caps; numbers mean nothing)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks.common import bench_parser, environment, guarded, write_results
from benchmarks.squad_report import render_markdown
from benchmarks.squad_stats import (
    largest_within,
    latency_speedup,
    paired_bootstrap,
    shape_text,
    target_verdict,
    timed_point,
    within,
)

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "searches" / "squad_length.yaml"
RUNS = {"length": "", "joint": "squad-joint", "joint-long": "squad-joint-long",
        "joint-hidden": "squad-joint-hidden"}  # fmt: skip  # kind: the header command's name
CONSISTENCY_TOL = 1e-6  # |mean per-question F1 - the points table's dev F1|
# Hand-set length configs (full width, cumulative kept-token fractions for 6 layers, every step >= 0.8 = 1 - r),
# scored beside the search's points but never counted as its result: where along the layers dropping costs F1.
PROBE_TOKENS = ("1,1,1,1,1,0.9", "1,1,1,1,0.9,0.81", "1,1,1,0.9,0.72,0.576", "1,1,0.9,0.81,0.729,0.6561",
                "0.95,0.9,0.855,0.81,0.77,0.73")  # fmt: skip
SMOKE_CAPS = (  # at least 2 articles of train (article 0 alone has 810 questions), a few steps, trials, questions
    "data.max_train_examples=1100", "data.max_eval_examples=24", "teacher.train.max_steps=3",
    "supernet.train.max_steps=3", "supernet.importance_examples=16", "search.num_trials=4",
    "search.population_size=2", "search.max_search_examples=16", "search.pareto_eval_cap=2", "export.formats=[hf]",
)  # fmt: skip


@dataclass(frozen=True)
class Settings:
    """One benchmark run: the spec caps (`caps`: overrides on top of the spec), bootstrap and latency settings."""

    smoke: bool = False
    caps: tuple[str, ...] = ()
    resamples: int = 10_000
    seed: int = 0
    threads: int = 1
    warmup: int = 3
    repeats: int = 10
    runs: tuple[str, ...] = tuple(RUNS)


FULL = Settings()
SMOKE = Settings(smoke=True, caps=SMOKE_CAPS, resamples=1000, warmup=1, repeats=3)


# ---------------------------------------------------------------- (a) the runs
def header_overrides(spec_path: Path = SPEC) -> dict[str, list[str]]:
    """The `--set key=value` overrides of each `raydistill run` command in the spec's header comment, by the run
    name the command sets (commands without `--set name=...` are left out)."""
    header = []
    for line in spec_path.read_text().splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    commands = {}
    for command in "\n".join(header).split("raydistill run")[1:]:
        sets = re.findall(r"--set\s+(\S+)", command)
        names = [s.partition("=")[2] for s in sets if s.startswith("name=")]
        if names:
            commands[names[0]] = sets
    return commands


def run_overrides(kind: str, data_root: Path, storage: Path, caps: tuple[str, ...] = ()) -> list[str]:
    """The overrides of run `kind`: data under `data_root`, storage under `storage`, for the header's runs their
    command's overrides, then the caps; a `teacher.model=runs/<run>/<teacher|supernet>/model` resolved to that
    run's model under `storage` (`RunLayout.teacher_model` / `supernet_model`)."""
    from raydistill.layout import RunLayout

    base = [f"data.path={data_root / 'squad_v1.1'}", f"resources.storage_path={storage}"]
    if kind not in RUNS:
        raise ValueError(f"run {kind!r}: choose one of {', '.join(RUNS)}")
    resolved = []
    for o in header_overrides()[RUNS[kind]] if RUNS[kind] else []:
        m = re.fullmatch(r"teacher\.model=runs/([^/]+)/(teacher|supernet)/model", o)
        if m:
            o = f"teacher.model={getattr(RunLayout.of(storage, m[1]), m[2] + '_model')}"
        resolved.append(o)
    return [*base, *resolved, *caps]  # the caps last: a smoke run caps every run, the header's included


def run_spec(kind: str, data_root: Path, storage: Path, caps: tuple[str, ...] = ()) -> tuple[Any, list[str]]:
    """(the validated `Spec` of run `kind`, its overrides)."""
    import raydistill.stages  # noqa: F401  the stages' spec checks join the rules, as in the CLI
    from raydistill.spec import load_spec

    overrides = run_overrides(kind, data_root, storage, caps)
    return load_spec(SPEC, overrides), overrides


def run_pipeline(overrides: list[str], storage: Path) -> float:
    """`raydistill run SPEC --set ...` (its report lands under `storage`); wall seconds."""
    args = [arg for o in overrides for arg in ("--set", o)]
    start = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "raydistill"), "run", str(SPEC), *args], check=True, cwd=storage)
    return time.perf_counter() - start


# ---------------------------------------------------------------- (b) per-question scores
class QuestionScores:
    """Per-question EM/F1 of Archs of one run's supernet on its report split, cached in `<cache>/<key>.json`."""

    def __init__(self, spec: Any, supernet_dir: Path, cache: Path) -> None:
        from raydistill.data import get_task
        from raydistill.search.tuner import load_setup

        self.spec, self.cache = spec, cache
        self.setup = load_setup(spec, supernet_dir)
        main = get_task(spec.task).main_dev
        self.dev = self.setup.data.dev.get(main) or next(iter(self.setup.data.dev.values()))
        self.qids = [ex.qid for ex in self.dev.examples]

    def __call__(self, arch: Any) -> dict[str, Any]:
        from raydistill.search.evaluator import question_scores_arch

        path = self.cache / f"{arch_key(arch.id)}.json"
        if path.is_file():
            saved = json.loads(path.read_text())
            if saved["arch_id"] == arch.id and saved["qid"] == self.qids:
                return saved
        batch = self.spec.supernet.train.eval_batch_size
        scores = question_scores_arch(self.setup.model, arch, self.dev, self.setup.data.collate, batch)
        saved = {"arch_id": arch.id, "qid": self.qids, **{k: v.tolist() for k, v in scores.items()}}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(saved))
        return saved


def arch_key(arch_id: str) -> str:
    """A file-name-safe key of an Arch id."""
    return hashlib.sha1(arch_id.encode()).hexdigest()[:16]


def scored_points(points: Any) -> Any:
    """The search points scored on dev (kinds pick / trial, finite dev F1), one row per Arch, with its labels."""
    import numpy as np

    rows = points[points["kind"].isin(["pick", "trial"]) & np.isfinite(points["dev_metric"])]
    labels = rows.groupby("arch_id", sort=False)["label"].agg(", ".join)
    first = rows.drop_duplicates("arch_id").set_index("arch_id")
    return first.assign(labels=labels).reset_index()


def analyse_run(kind: str, spec: Any, storage: Path, s: Settings) -> dict[str, Any]:
    """(b) + (c) + (d) of one finished run, and the hand-set probes (`PROBE_TOKENS`) scored beside."""

    from raydistill.layout import RunLayout
    from raydistill.models.arch import Arch
    from raydistill.results.points import read_points

    layout = RunLayout.of(storage, spec.name)
    points = read_points(layout)
    scores = QuestionScores(spec, layout.supernet_model, storage / "per_question" / spec.name)
    seq = spec.cost_seq_length
    full = Arch.for_config(scores.setup.model.config)
    ref = scores(full)
    reference = _reference(ref, full, points, seq)
    rows = []
    for r in scored_points(points).itertuples():
        row = _compared(Arch.from_json(r.arch_json), scores, ref, s, seq, 1.0 / float(r.flops_ratio))
        rows.append(row | {"labels": r.labels, "flops": int(r.flops), "table_f1": float(r.dev_metric),
                           "consistent": abs(row["f1"] - float(r.dev_metric)) <= CONSISTENCY_TOL})  # fmt: skip
    rows.sort(key=lambda row: -row["reduction"])
    probes = [_compared(_probe(full, t), scores, ref, s, seq) | {"labels": "probe T" + t} for t in PROBE_TOKENS]
    best = largest_within(rows)
    result = {
        "run": spec.name, "split": _statement(spec, points), "sizes": _sizes(spec, layout, scores), "reference": reference,
        "points": rows, "probes": probes, "best_within": best, "best_within_interval": largest_within(rows, "interval"),
        "verdict": target_verdict(kind, best["reduction"] if best else None),
    }  # fmt: skip
    point, why = timed_point(rows, kind)
    if point is not None:
        arch = Arch.from_id(point["arch_id"])
        result["latency"] = measure_latency(scores, full, arch, storage, s, point["reduction"]) | {
            "point": point["labels"], "reduction": point["reduction"], "f1_diff": point["diff"], "why": why}  # fmt: skip
    return result


def _compared(arch: Any, scores: QuestionScores, ref: dict[str, Any], s: Settings, seq: int,
              reduction: float | None = None) -> dict[str, Any]:  # fmt: skip
    """Arch's mean F1 / EM on the report split and its paired-bootstrap F1 difference to the reference `ref`;
    `reduction` (teacher FLOPs / its FLOPs) counted analytically at `seq` when not given."""
    import numpy as np

    from raydistill.models.flops import flops_ratio

    q = scores(arch)
    f1, em = float(np.mean(q["f1"])), float(np.mean(q["exact_match"]))
    ci = paired_bootstrap(q["f1"], ref["f1"], resamples=s.resamples, seed=s.seed)
    if reduction is None:
        reduction = 1.0 / flops_ratio(arch, None, scores.setup.model.config, seq, head="qa")
    return {"arch_id": arch.id, "shape": _shape(arch, seq), "reduction": reduction, "f1": f1, "exact_match": em,
            "em_diff": em - float(np.mean(ref["exact_match"])), **ci, "within": within(ci)}  # fmt: skip


def _probe(full: Any, tokens: str) -> Any:
    """The full-width Arch of `full` with the kept-token fractions `tokens` ('1,1,0.9,...', cumulative)."""
    from raydistill.models.arch import Arch

    return Arch.from_id(f"{full.id}-T{tokens}")


def _reference(ref: dict[str, Any], full: Any, points: Any, seq: int) -> dict[str, Any]:
    import numpy as np

    grid = points[(points["kind"] == "grid") & (points["arch_id"] == full.id)]
    teacher = points[points["kind"] == "teacher"]
    f1 = float(np.mean(ref["f1"]))
    return {
        "arch_id": full.id, "shape": _shape(full, seq), "f1": f1, "exact_match": float(np.mean(ref["exact_match"])),
        "questions": len(ref["f1"]),
        "grid_row_f1": float(grid["dev_metric"].iloc[0]) if len(grid) else None,  # the supernet stage's number
        "teacher_f1": float(teacher["dev_metric"].iloc[0]) if len(teacher) else None,  # the fine-tuned teacher
        "teacher_flops": int(teacher["flops"].iloc[0]) if len(teacher) else None,
    }  # fmt: skip


def _shape(arch: Any, seq: int) -> str:
    return shape_text(arch.num_layers, arch.heads, arch.ffn, arch.token_counts(seq), seq)


def _statement(spec: Any, points: Any) -> dict[str, Any]:
    """What each number was scored on (`data.statement`, as the pipeline states it), and the points table's own
    statement of its search and dev columns (they must agree)."""
    from raydistill.data.statement import split_statement
    from raydistill.report.scores import split_facts
    from raydistill.training.config import data_kwargs

    statement = split_statement(data_kwargs(spec.data), spec.task, spec.seed)
    return {"train": statement.train, "search": statement.search, "dev": statement.dev,
            "points_table": dict(split_facts(points))}  # fmt: skip


def _sizes(spec: Any, layout: Any, scores: QuestionScores) -> dict[str, Any]:
    """Data sizes, caps and the steps of each training stage."""
    data, search = spec.data, spec.search

    def stage(path: Path) -> dict[str, Any]:
        m = json.loads(path.read_text()) if path.is_file() else {}
        return {k: m.get(k) for k in ("steps", "train_time_s", "method")}

    return {
        "train_file": data.train_file, "dev_file": data.dev_file, "max_seq_length": data.max_seq_length,
        "doc_stride": data.doc_stride, "max_query_length": data.max_query_length,
        "max_train_examples": data.max_train_examples, "max_eval_examples": data.max_eval_examples,
        "search_split": data.search_split, "cost_seq_length": spec.cost_seq_length,
        "questions": {"search": len(scores.setup.data.search.examples), "report": len(scores.dev.examples)},
        "report_windows": len(scores.dev.dataset),
        "search": {"space": search.space, "sampler": search.sampler, "num_trials": search.num_trials,
                   "budgets": search.budgets, "max_search_examples": search.max_search_examples,
                   "pareto_eval_cap": search.pareto_eval_cap},
        "supernet": {"widths": spec.supernet.widths, "depths": spec.supernet.depths, "method": spec.supernet.method,
                     "length_drop_ratio_bound": spec.supernet.length.length_drop_ratio_bound,
                     "epochs": spec.supernet.train.epochs, "max_steps": spec.supernet.train.max_steps},
        "teacher": {"model": spec.teacher.model, "finetuned": spec.teacher.finetuned,
                    "epochs": spec.teacher.train.epochs, "max_steps": spec.teacher.train.max_steps},
        "stages": {"teacher": stage(layout.teacher_metrics), "supernet": stage(layout.supernet_metrics)},
    }  # fmt: skip


# ---------------------------------------------------------------- (d) latency of the exports
def real_windows(dataset: Any, batch: int, seq_len: int) -> tuple[dict[str, Any], int]:
    """`batch` report-split windows, the longest first (ties in dataset order; repeated when there are fewer),
    padded to `seq_len`: model inputs (batch, seq_len) each, and how many fill all `seq_len` tokens."""
    import torch

    items = [dataset[i] for i in range(len(dataset))]
    lengths = [int(item["attention_mask"].sum()) for item in items]
    order = sorted(range(len(items)), key=lambda i: -lengths[i])
    chosen = (order * (batch // len(order) + 1))[:batch]
    feeds = {}
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        out = torch.zeros(batch, seq_len, dtype=torch.long)  # (B, L)
        for row, i in enumerate(chosen):
            value = items[i][key][:seq_len]
            out[row, : len(value)] = value
        feeds[key] = out
    return feeds, sum(lengths[i] == seq_len for i in chosen)


def measure_latency(scores: QuestionScores, full: Any, arch: Any, storage: Path, s: Settings, reduction: float) -> dict[str, Any]:  # fmt: skip
    """Export the full model and `arch` (HF dirs), time both on real windows per batch size (module docstring)."""
    from raydistill.models.export import export_subnet, load_exported
    from raydistill.models.latency import time_torch_model
    from raydistill.search.latency_objective import LATENCY_BATCHES, LatencySettings

    spec, seq = scores.spec, scores.spec.data.max_seq_length
    settings = LatencySettings(seq_len=seq, threads=s.threads, warmup=s.warmup, repeats=s.repeats)
    exports = storage / "exports" / spec.name
    dirs = {}
    for name, a in (("full", full), ("point", arch)):
        dirs[name] = exports / ("full" if name == "full" else arch_key(a.id))
        export_subnet(scores.setup.model, a, dirs[name], formats=("hf",), seq_len=seq, task=spec.task)
    models = {name: load_exported(d).model for name, d in dirs.items()}
    ms: dict[str, dict[int, float]] = {"full": {}, "point": {}}
    filled = {}
    for b in LATENCY_BATCHES:
        feeds, filled[b] = real_windows(scores.dev.dataset, b, seq)
        for name, model in models.items():
            ms[name][b] = time_torch_model(
                model, batch_size=b, seq_len=seq, threads=settings.threads, warmup=settings.warmup,
                repeats=settings.repeats, inputs=feeds,
            ).median_ms  # fmt: skip
    return {
        "settings": asdict(settings), "batches": list(LATENCY_BATCHES), "full_windows": filled,
        "kinds": {name: type(m).__name__ for name, m in models.items()}, "export_dirs": {k: str(v) for k, v in dirs.items()},
        "per_batch": latency_speedup(ms["full"], ms["point"], reduction),
    }  # fmt: skip


# ---------------------------------------------------------------- the benchmark
def run_squad_length(data_root: Path, out_dir: Path, work_dir: Path, *, settings: Settings = FULL, fresh: bool = False) -> dict[str, Any]:  # fmt: skip
    s = settings
    storage = work_dir / ("squad_length_smoke" if s.smoke else "squad_length")
    if fresh:
        shutil.rmtree(storage, ignore_errors=True)
    storage.mkdir(parents=True, exist_ok=True)
    runs: dict[str, Any] = {
        kind: {"not_run": "not reached yet" if kind in s.runs else f"--runs {','.join(s.runs)}"} for kind in RUNS
    }
    results = _results(s, runs)
    for kind in (k for k in RUNS if k in s.runs):
        spec, overrides = run_spec(kind, data_root, storage, s.caps)
        wall = run_pipeline(overrides, storage)
        print(f"squad_length: {kind} run {spec.name} done ({wall / 60:.1f} min); scoring per question", flush=True)
        runs[kind] = analyse_run(kind, spec, storage, s) | {"overrides": overrides, "pipeline_wall_s": wall}
        results = _results(s, runs)
        write_results(out_dir, results["benchmark"], results, render_markdown(results))  # kept if a later run fails
    for line in results["consistency"]["failed"]:
        print(f"squad_length: consistency check failed: {line}", file=sys.stderr)
    return results


def _results(s: Settings, runs: dict[str, Any]) -> dict[str, Any]:
    """The benchmark's results over `runs` (kind: analysis or `not_run`), with the consistency verdict."""
    failed = [f"{k}: {p['labels']} mean {p['f1']:.6f} vs table {p['table_f1']:.6f}"
              for k, r in runs.items() for p in r.get("points", []) if not p["consistent"]]  # fmt: skip
    return {
        "benchmark": "squad_length_smoke" if s.smoke else "squad_length", "smoke": s.smoke, "settings": asdict(s),
        "spec": str(SPEC.relative_to(REPO)), "runs": runs,
        "consistency": {"tolerance": CONSISTENCY_TOL, "ok": not failed, "failed": failed},
        "environment": environment(),
    }  # fmt: skip


def _runs(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in RUNS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(f"{text!r}: give run names among {', '.join(RUNS)}, comma-separated")
    return kinds


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser("squad_length benchmark (or its --smoke version)", work_help="its runs (resumed on rerun)")
    parser.add_argument("--runs", default=",".join(RUNS), type=_runs,
                        help=f"the runs to do, comma-separated (default: all; {', '.join(RUNS)}; a later one "
                        "needs the earlier ones' models)")
    parser.add_argument("--smoke", action="store_true", help="tiny caps on the real data: proves the script runs")
    parser.add_argument("--fresh", action="store_true", help="delete the benchmark's runs first (default: resume)")
    args = parser.parse_args(argv)
    s = SMOKE if args.smoke else FULL
    s = replace(s, runs=args.runs)
    results = run_squad_length(args.data.resolve(), args.out, args.work.resolve(), settings=s, fresh=args.fresh)
    if not results["consistency"]["ok"]:
        print("error: per-question F1 means differ from the points table's dev F1: "
              + "; ".join(results["consistency"]["failed"]), file=sys.stderr)  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(guarded(main))
