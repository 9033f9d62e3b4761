"""Search throughput on a local Ray cluster of 1 vs 2 nodes (same CPUs per node), and the fault tests' record.

    python -m benchmarks.cluster_scale --out reports/benchmarks [--trials 40] [--faults]

For each cluster size (`cluster/local_cluster.py`, 1 CPU per node) it runs the CLI's `search` command on the tiny
2-layer BERT and tiny SST-2 data of the test suite (a random sampler; `max_concurrent_trials` = nodes) and reads
Tune's own trial results: evaluations/min over the span of the trials, the nodes they ran on (`node_id`), and the
per-trial overhead (wall time per trial minus the time spent evaluating). `--faults` also runs the multi-node
fault tests (`tests/cluster`) with RAYDISTILL_RELIABILITY_OUT set and collates what each test recorded (faults
injected, survived, trials lost, steps redone). Writes `cluster_scale.json` and `cluster_scale.md`.

Both nodes share one machine's cores: on a 2-core machine the 2-node figure measures contention as much as
scaling; the per-trial overhead is what bounds scaling on real nodes.
"""

from __future__ import annotations

import argparse
import json
import os
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

from tests.cluster.conftest import SPEC, _env, _free_ports, overrides, trial_results  # noqa: E402


def _inputs(root: Path) -> dict[str, Path]:
    import torch
    from transformers import BertForSequenceClassification, BertTokenizerFast

    from tests.conftest import TINY_VOCAB, tiny_bert_config
    from tests.unit.training.conftest import write_sst2

    torch.manual_seed(0)
    model = root / "tiny-bert"
    BertForSequenceClassification(tiny_bert_config()).save_pretrained(model)
    BertTokenizerFast(vocab={w: i for i, w in enumerate(TINY_VOCAB)}, do_lower_case=True).save_pretrained(model)
    return {"model": model, "data": write_sst2(root / "data", repeats=8)}


def _one(nodes: int, trials: int, inputs: dict[str, Path], work: Path) -> dict[str, Any]:
    """One cluster of `nodes` nodes: the search's throughput and where its trials ran."""
    state = local_cluster.start(None, _free_ports(), 1, 1, nodes=nodes)
    try:
        storage = work / f"runs-{nodes}"
        args = overrides(inputs, storage, **{
            "resources.num_workers": 1, "resources.max_concurrent_trials": nodes, "search.num_trials": trials,
            "search.start_from_grid": "false"})  # fmt: skip
        started = time.time()
        done = subprocess.run(
            [sys.executable, "-m", "raydistill", "search", str(SPEC), *args, "--address", state["address"]],
            cwd=work, env=_env(), capture_output=True, text=True, timeout=1200,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(done.stdout[-3000:] + done.stderr[-3000:])
        wall = time.time() - started
    finally:
        local_cluster.stop(Path(state["dir"]))
    results = [lines[-1] for lines in trial_results(storage).values()]
    times = sorted(r["evaluated_at"] for r in results)
    span = times[-1] - times[0]
    per_trial = span / max(len(times) - 1, 1) * nodes  # seconds one trial slot spends per trial
    evaluating = sum(r["wall_time_s"] for r in results) / len(results)
    return {
        "nodes": nodes,
        "trials": len(results),
        "evaluations_per_min": round((len(times) - 1) / span * 60, 1) if span > 0 else None,
        "trials_per_node": dict(Counter(r["node_id"][:8] for r in results)),
        "seconds_per_trial_per_slot": round(per_trial, 3),
        "evaluation_s_per_trial": round(evaluating, 4),
        "overhead_s_per_trial": round(per_trial - evaluating, 3),
        "command_wall_s": round(wall, 1),
    }


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
        f"Machine: {out['machine']}. " + out["note"],
        "",
        "| nodes | trials | evaluations/min | trials per node | s per trial per slot | of which evaluating | "
        "overhead s/trial |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['nodes']} | {r['trials']} | {r['evaluations_per_min']} | {r['trials_per_node']} | "
            f"{r['seconds_per_trial_per_slot']} | {r['evaluation_s_per_trial']} | {r['overhead_s_per_trial']} |"
        )
    if len(rows) == 2 and rows[0]["evaluations_per_min"] and rows[1]["evaluations_per_min"]:
        ratio = rows[1]["evaluations_per_min"] / rows[0]["evaluations_per_min"]
        lines += ["", f"2-node / 1-node throughput: **{ratio:.2f}x**."]
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
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--faults", action="store_true", help="also run tests/cluster and collate its record")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="rd-scale-") as tmp:
        work = Path(tmp)
        inputs = _inputs(work / "inputs")
        out: dict[str, Any] = {
            "machine": f"{os.cpu_count()} cores, shared with other jobs while measured",
            "note": "Both nodes run on the same cores: the 2-node figure measures contention as much as scaling. "
            "The per-trial overhead (Tune scheduling, result handling, actor reuse) is what bounds scaling on "
            "real nodes.",
            "scale": [_one(n, args.trials, inputs, work) for n in (1, 2)],
        }
        if args.faults:
            out["faults"] = _faults(work)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cluster_scale.json").write_text(json.dumps(out, indent=2))
    (args.out / "cluster_scale.md").write_text(_markdown(out))
    print(_markdown(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
