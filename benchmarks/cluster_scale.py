"""Search throughput on a local Ray cluster of 1 vs 2 nodes (1 CPU each), where trials ran, the per-trial
overhead that bounds scaling, and the fault tests' record.

    python -m benchmarks.cluster_scale --out reports/benchmarks [--trials 24] [--faults]
    python -m benchmarks.cluster_scale --out /tmp/smoke --trials 4      # a smoke run: checks, measures nothing

For each cluster size (`cluster/local_cluster.py`: 1 CPU per node, so 1 node = 1 trial slot, 2 nodes = 2 slots)
it runs the CLI's `search` command (random sampler, `max_concurrent_trials` = nodes, 1 CPU and 1 torch thread
per trial) on the tiny 2-layer BERT of the test suite with a search split of SEARCH_EXAMPLES examples, so one
trial evaluates for seconds (the supernet trains SUPERNET_STEPS steps: its quality does not matter here). It
reads Tune's own trial results: each trial reports the node it ran on (`node_id`), its end (`evaluated_at`) and
the seconds spent in the trial function (`wall_time_s`: evaluating; on an actor's first trial also building the
model from the object store). From them:

- evaluations/min: evaluated trials / (last trial's end - first trial's start);
- trials per node (head / second, from Ray's node table);
- per-trial overhead: on each node (one slot), the gap between a trial's end and the next trial's start: the
  result reaching the driver, Tune's result handling (loggers, callbacks, the searcher told), the next
  suggestion, the reused actor reset. Median and largest gap, over all nodes.

With an evaluation of t seconds and an overhead of o seconds a slot runs one trial per t + o seconds; the
driver handles trials one at a time, so if all of o were driver work it would keep at least (t + o) / o slots
busy. The markdown's "On paper" section applies the measured o to the BERT-base evaluation times the README
derives (ON_PAPER_EVAL_S). Both nodes share this machine's cores (and the driver, the GCS and the raylets run
on them too): on 2 cores the 2-node figure measures contention as much as scaling.

`--faults` also runs the multi-node fault tests (`tests/cluster`) with RAYDISTILL_RELIABILITY_OUT set and
collates what each test recorded (faults injected, survived, trials lost, steps redone): about 7 more minutes.
Writes `cluster_scale.json` and `cluster_scale.md`. Without `--faults`, sized to take under 8 minutes on a
quiet 2-core machine with the default 24 trials.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "cluster"))
import local_cluster  # noqa: E402

from benchmarks.common import environment, guarded  # noqa: E402
from tests.cluster.conftest import SPEC, _free_ports, trial_results  # noqa: E402

SEARCH_EXAMPLES = 20000  # search-split examples each trial scores: seconds per trial on one core
SEARCH_SPLIT = 0.9
SUPERNET_STEPS = 2
# Seconds one evaluation of ~900 search examples takes for a sampled BERT-base sub-network, as the README's
# "Scale on paper" derives them: CPU, MiniLM-L6 sub-networks' 1.5-1.8 s on 1 thread (search_sst2.md) x 8 (2x the
# layers, 4x the width squared); GPU, 28 forwards of 32 x 128 tokens at ~20 ms (full model, fp32, H200:
# gpu_check.md), halved for sampled sub-networks.
ON_PAPER_EVAL_S = {"BERT-base, CPU (1 thread per trial)": 13.0, "BERT-base, GPU (H200, fp32)": 0.3}
PAPER_EVALUATIONS = 1000  # a paper-sized search
CPU_NODE_SLOTS = 32  # one 32-vCPU node: 32 one-thread trials


def _env() -> dict[str, str]:
    """The CLI's environment: offline, quiet, this checkout importable; Tune's own defaults (no overrides)."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", RAY_AIR_NEW_OUTPUT="0", RAY_AUTH_MODE="disabled",
               PYTHONPATH=str(REPO))  # fmt: skip
    env.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.5")  # as `make`: a shorter fixed cost of the supernet
    env.pop("TUNE_GLOBAL_CHECKPOINT_S", None)
    return env


def _inputs(root: Path) -> dict[str, Path]:
    """The tiny BERT (tests/conftest.py) and SST-2-format data whose search split has SEARCH_EXAMPLES rows."""
    import torch
    from transformers import BertForSequenceClassification, BertTokenizerFast

    from tests.conftest import TINY_VOCAB, tiny_bert_config
    from tests.unit.training.conftest import write_sst2

    torch.manual_seed(0)
    model = root / "tiny-bert"
    BertForSequenceClassification(tiny_bert_config()).save_pretrained(model)
    BertTokenizerFast(vocab={w: i for i, w in enumerate(TINY_VOCAB)}, do_lower_case=True).save_pretrained(
        model
    )
    repeats = round(SEARCH_EXAMPLES / SEARCH_SPLIT / 10)  # write_sst2 writes 10 rows per repeat
    return {"model": model, "data": write_sst2(root / "data", repeats=repeats)}


def _overrides(inputs: dict[str, Path], storage: Path, nodes: int, trials: int) -> list[str]:
    values: dict[str, Any] = {
        "teacher.model": inputs["model"],
        "teacher.finetuned": "true",
        "data.path": inputs["data"],
        "data.max_seq_length": 32,
        "data.search_split": SEARCH_SPLIT,
        "resources.storage_path": storage,
        "resources.num_workers": 1,
        "resources.cpus_per_worker": 1,
        "resources.max_concurrent_trials": nodes,
        "supernet.train.max_steps": SUPERNET_STEPS,
        "search.sampler": "random",
        "search.num_trials": trials,
        "search.start_from_grid": "false",
    }
    return [arg for k, v in values.items() for arg in ("--set", f"{k}={v}")]


def _node_labels(directory: Path) -> dict[str, str]:
    """node id -> "head" / "second" (from the custom resources local_cluster.py gives each node)."""
    done = subprocess.run([sys.executable, str(REPO / "cluster" / "local_cluster.py"), "info", "--dir", str(directory)],
                          capture_output=True, text=True, timeout=120, check=True, env=_env())  # fmt: skip
    nodes = json.loads(done.stdout.strip().splitlines()[-1])["nodes"]
    return {n["node_id"]: "head" if "head_node" in n["resources"] else "second" for n in nodes}


def measure(results: list[dict[str, Any]], labels: dict[str, str]) -> dict[str, Any]:
    """Throughput, placement and per-trial overhead from Tune's last result of each trial (see the module doc)."""
    trials = sorted(
        (
            {
                "node": labels.get(r["node_id"], r["node_id"][:8]),
                "start": r["evaluated_at"] - r["wall_time_s"],
                "end": r["evaluated_at"],
                "evaluated": r["status"] == "ok",
                "eval_s": r["wall_time_s"],
            }
            for r in results
        ),
        key=lambda t: t["start"],
    )
    span = max(t["end"] for t in trials) - min(t["start"] for t in trials)
    evaluated = [t for t in trials if t["evaluated"]]
    gaps = [
        gap for node in {t["node"] for t in trials} for gap in _gaps([t for t in trials if t["node"] == node])
    ]
    return {
        "trials": len(trials),
        "evaluated": len(evaluated),
        "span_s": round(span, 2),
        "evaluations_per_min": round(len(evaluated) / span * 60, 1) if span > 0 else None,
        "trials_per_node": dict(sorted(Counter(t["node"] for t in trials).items())),
        "evaluation_s_median": round(statistics.median(t["eval_s"] for t in evaluated), 3)
        if evaluated
        else None,
        "overhead_s_median": round(statistics.median(gaps), 3) if gaps else None,
        "overhead_s_max": round(max(gaps), 3) if gaps else None,
    }


def _gaps(slot: list[dict[str, Any]]) -> list[float]:
    """Seconds between each trial's end and the next trial's start on one slot (trials in start order)."""
    return [later["start"] - earlier["end"] for earlier, later in zip(slot, slot[1:], strict=False)]


def _one(nodes: int, trials: int, inputs: dict[str, Path], work: Path) -> dict[str, Any]:
    """One cluster of `nodes` nodes (1 CPU each): the search's throughput, placement and overhead."""
    state = local_cluster.start(None, _free_ports(), 1, 1, nodes=nodes)
    storage = work / f"runs-{nodes}"
    try:
        labels = _node_labels(Path(state["dir"]))
        started = time.time()
        done = subprocess.run(
            [sys.executable, "-m", "raydistill", "search", str(SPEC), *_overrides(inputs, storage, nodes, trials),
             "--address", state["address"]],
            cwd=work, env=_env(), capture_output=True, text=True, timeout=1200,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(done.stdout[-3000:] + done.stderr[-3000:])
        wall = time.time() - started
    finally:
        local_cluster.stop(Path(state["dir"]))
    results = [lines[-1] for lines in trial_results(storage).values()]
    return {"nodes": nodes, "slots": nodes, **measure(results, labels), "command_wall_s": round(wall, 1)}


def on_paper(overhead_s: float) -> list[dict[str, Any]]:
    """For each ON_PAPER_EVAL_S evaluation time t: slots one driver keeps busy at least ((t + o) / o), a slot's
    evaluations/min, and the node-hours of PAPER_EVALUATIONS evaluations (CPU: one CPU_NODE_SLOTS-slot node;
    GPU: one trial at a time on one GPU)."""
    rows = []
    for setting, t in ON_PAPER_EVAL_S.items():
        slots = CPU_NODE_SLOTS if "CPU" in setting else 1
        hours = PAPER_EVALUATIONS * (t + overhead_s) / slots / 3600
        rows.append({"setting": setting, "evaluation_s": t, "driver_slots_at_least": math.floor((t + overhead_s) / overhead_s),
                     "evaluations_per_min_per_slot": round(60 / (t + overhead_s), 1), "slots_per_node": slots,
                     f"node_hours_{PAPER_EVALUATIONS}_evaluations": round(hours, 3)})  # fmt: skip
    return rows


def _faults(work: Path) -> list[dict[str, Any]]:
    record = work / "reliability.jsonl"
    env = dict(_env(), RAYDISTILL_CLUSTER_TESTS="1", RAYDISTILL_RELIABILITY_OUT=str(record))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(REPO / "tests" / "cluster")],
                          env=env, cwd=REPO, timeout=1500, check=False, capture_output=True, text=True)  # fmt: skip
    print(done.stdout[-3000:])
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "(no output)"
    found = [json.loads(line) for line in record.read_text().splitlines()] if record.is_file() else []
    return [*found, {"fault": "pytest tests/cluster", "survived": done.returncode == 0, "note": summary}]


def _markdown(out: dict[str, Any]) -> str:
    rows = out["scale"]
    lines = [
        "# Search throughput on a local Ray cluster: 1 vs 2 nodes",
        "",
        f"Machine: {out['machine']}. {out['note']}",
        "",
        f"Workload: {out['workload']}",
        "",
        "| nodes (slots) | trials | evaluated | evaluations/min | trials per node | evaluation s (median) | "
        "overhead s/trial (median) | overhead s/trial (max) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['nodes']} ({r['slots']}) | {r['trials']} | {r['evaluated']} | {r['evaluations_per_min']} | "
            f"{r['trials_per_node']} | {r['evaluation_s_median']} | {r['overhead_s_median']} | {r['overhead_s_max']} |"
        )
    if out.get("ratio") is not None:
        lines += ["", f"2-node / 1-node throughput: **{out['ratio']:.2f}x** (2.00x = perfect scaling)."]
    if out.get("on_paper"):
        o = rows[0]["overhead_s_median"]
        lines += ["", f"## On paper (per-trial overhead o = {o} s, the 1-node median)", "",
                  "t = one evaluation's seconds (the README's \"Scale on paper\" derives them); a slot runs one "
                  "trial per t + o s; one driver keeps at least (t + o) / o slots busy (all of o counted as "
                  f"driver work); node-hours of {PAPER_EVALUATIONS} evaluations.", "",
                  "| setting | t s | slots one driver keeps busy (at least) | evaluations/min per slot | "
                  "slots per node | node-hours |", "|---|---|---|---|---|---|"]  # fmt: skip
        for p in out["on_paper"]:
            hours = p[f"node_hours_{PAPER_EVALUATIONS}_evaluations"]
            lines.append(f"| {p['setting']} | {p['evaluation_s']} | {p['driver_slots_at_least']} | "
                         f"{p['evaluations_per_min_per_slot']} | {p['slots_per_node']} | {hours} |")  # fmt: skip
    if out.get("faults"):
        lines += ["", "## Faults injected (tests/cluster)", "", "| fault | survived | trials lost | steps redone | note |",
                  "|---|---|---|---|---|"]  # fmt: skip
        for f in out["faults"]:
            lines.append(f"| {f['fault']} | {f['survived']} | {f.get('trials_lost', '')} | "
                         f"{f.get('steps_redone', '')} | {f.get('note', '')} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "benchmarks")
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--faults", action="store_true", help="also run tests/cluster and collate its record")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="rd-scale-") as tmp:
        work = Path(tmp)
        inputs = _inputs(work / "inputs")
        scale = [_one(n, args.trials, inputs, work) for n in (1, 2)]
        out: dict[str, Any] = {
            "machine": f"{os.cpu_count()} cores",
            "note": "Both nodes run on the same cores, with the driver, the GCS and the raylets: the 2-node figure "
            "measures contention as much as scaling. The per-trial overhead is what bounds scaling on real nodes.",
            "workload": f"tiny 2-layer BERT (hidden 32), {SEARCH_EXAMPLES} search examples of 32 tokens per trial "
            f"(batches of 64), random sampler, {args.trials} trials, 1 CPU and 1 torch thread per trial, "
            f"max_concurrent_trials = nodes; Tune's default experiment-state saving.",
            "environment": environment(),
            "scale": scale,
            "ratio": _ratio(scale),
        }
        if scale[0]["overhead_s_median"]:
            out["on_paper"] = on_paper(scale[0]["overhead_s_median"])
        if args.faults:
            out["faults"] = _faults(work)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cluster_scale.json").write_text(json.dumps(out, indent=2))
    (args.out / "cluster_scale.md").write_text(_markdown(out))
    print(_markdown(out))
    return 0


def _ratio(scale: list[dict[str, Any]]) -> float | None:
    one, two = (r["evaluations_per_min"] for r in scale)
    return round(two / one, 3) if one and two else None


if __name__ == "__main__":
    raise SystemExit(guarded(main))
