"""A real two-node Ray cluster for the session (`cluster/local_cluster.py`), the CLI against it, fault helpers.

These tests run with `make test-cluster` (RAYDISTILL_CLUSTER_TESTS=1); `make test` skips them. Every run is the
CLI (`python -m raydistill ... --address HEAD`), so the tests hold whatever the stages look like inside. One
uninterrupted reference run (`reference`) is shared by every test that compares against it.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from raydistill.checkpoint_files import complete_checkpoints
from raydistill.layout import RunLayout
from tests.conftest import TINY_VOCAB, tiny_bert_config
from tests.unit.training.conftest import write_sst2

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "cluster"))
import local_cluster  # noqa: E402

SPEC = REPO / "searches" / "quickstart.yaml"
NAME = "quickstart"
NUM_TRIALS = 10
# The data: 900 train rows, 92% of them held out as the search split (828 examples, scored 2 at a time): a
# trial evaluates for about a second, not milliseconds; the supernet still trains on the 72 rows it always had.
REPEATS, SEARCH_SPLIT, EVAL_BATCH = 90, 0.92, 2
# Tune saves the experiment state (the trials a rerun keeps) every TUNE_GLOBAL_CHECKPOINT_S seconds; Ray's
# default ("auto", at least 10 s) would save a search of these 10 trials only at its end, leaving the
# driver-kill test no saved mid-search state to kill at. Only how often the state is saved changes.
SAVE_EVERY_S = 2
ENABLED = os.environ.get("RAYDISTILL_CLUSTER_TESTS") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.cluster)
            if not ENABLED:
                item.add_marker(pytest.mark.skip(reason="multi-node tests: run `make test-cluster`"))


def _free_ports() -> int:
    """A port P with P, P+1, P+2 free (GCS, head and second node managers)."""
    for _ in range(50):
        port = random.randint(20000, 40000)
        try:
            for p in (port, port + 1, port + 2):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        return port
    raise RuntimeError("no free ports")


@dataclass
class Cluster:
    """The running cluster: its address, dir and node ids (from Ray's GCS)."""

    address: str
    dir: Path
    head_id: str
    second_id: str

    def actors(self) -> list[dict[str, Any]]:
        """Every actor Ray's GCS knows, dead ones included (`local_cluster.py actors`)."""
        out = _script("actors", "--dir", str(self.dir))
        return json.loads(out)

    def nodes(self) -> list[dict[str, Any]]:
        return json.loads(_script("info", "--dir", str(self.dir)))["nodes"]


def _script(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(REPO / "cluster" / "local_cluster.py"), *args],
        capture_output=True, text=True, timeout=120, check=True, env=_env(),
    )  # fmt: skip
    return done.stdout.strip().splitlines()[-1]


def _node_ids(directory: Path) -> tuple[str, str]:
    nodes = json.loads(_script("info", "--dir", str(directory)))["nodes"]
    alive = [n for n in nodes if n["alive"]]
    head = [n["node_id"] for n in alive if "head_node" in n["resources"]]
    second = [n["node_id"] for n in alive if "second_node" in n["resources"]]
    assert len(head) == 1 and len(second) == 1, nodes
    return head[0], second[0]


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """A head (1 CPU) and a second node (1 CPU) as separate `ray start` processes; stopped at the end."""
    directory = Path(local_cluster.start(None, _free_ports(), 1, 1)["dir"])
    try:
        head, second = _node_ids(directory)
        yield Cluster(local_cluster._state(directory)["address"], directory, head, second)
    finally:
        local_cluster.stop(directory)


@pytest.fixture(scope="session")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny BERT (tests/conftest.py's config and vocabulary) and tiny SST-2 data, once per session."""
    import torch
    from transformers import BertForSequenceClassification, BertTokenizerFast

    root = tmp_path_factory.mktemp("inputs")
    torch.manual_seed(0)
    model_dir = root / "tiny-bert"
    BertForSequenceClassification(tiny_bert_config()).save_pretrained(model_dir)
    BertTokenizerFast(vocab={w: i for i, w in enumerate(TINY_VOCAB)}, do_lower_case=True).save_pretrained(model_dir)
    return {"model": model_dir, "data": write_sst2(root / "data", repeats=REPEATS)}


def overrides(inputs: dict[str, Path], storage: Path, **changes: Any) -> list[str]:
    """The CLI `--set` arguments of the cluster runs: 2 Train workers (one per node), a seeded random search."""
    values: dict[str, Any] = {
        "teacher.model": inputs["model"],
        "teacher.finetuned": "true",  # the teacher is only evaluated: the supernet is the training under test
        "data.path": inputs["data"],
        "data.max_seq_length": 32,
        "data.search_split": SEARCH_SPLIT,
        "resources.storage_path": storage,
        "resources.num_workers": 2,
        "resources.cpus_per_worker": 1,
        "resources.max_concurrent_trials": 1,
        "supernet.train.epochs": 6,
        "supernet.train.batch_size": 8,
        "supernet.train.learning_rate": 2e-3,
        "supernet.train.checkpoint_every_steps": CHECKPOINT_EVERY,
        "supernet.train.eval_batch_size": EVAL_BATCH,
        "supernet.importance_examples": 16,
        "search.sampler": "random",
        "search.num_trials": NUM_TRIALS,
        **changes,
    }
    return [arg for k, v in values.items() for arg in ("--set", f"{k}={v}")]


def _env() -> dict[str, str]:
    return dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        RAY_AIR_NEW_OUTPUT="0",
        RAY_AUTH_MODE="disabled",
        RAY_TRAIN_HEALTH_CHECK_INTERVAL_S="0.3",
        TUNE_GLOBAL_CHECKPOINT_S=str(SAVE_EVERY_S),
        PYTHONPATH=str(REPO),
    )


def start_cli(command: str, cluster: Cluster, args: list[str], cwd: Path) -> subprocess.Popen[str]:
    """`python -m raydistill COMMAND quickstart.yaml ARGS --address HEAD` in the background (output to files)."""
    cwd.mkdir(parents=True, exist_ok=True)
    out = (cwd / "cli.out").open("a")
    return subprocess.Popen(
        [sys.executable, "-m", "raydistill", command, str(SPEC), *args, "--address", cluster.address],
        cwd=cwd, env=_env(), stdout=out, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip


def logs(cwd: Path, storage: Path) -> str:
    """What the CLI printed in `cwd` so far, then Ray's output it kept in the run's log (workers' lines)."""
    ray_log = RunLayout.of(storage, NAME).ray_log
    return (cwd / "cli.out").read_text() + (ray_log.read_text() if ray_log.is_file() else "")


def finish(proc: subprocess.Popen[str], cwd: Path, timeout: float = 300) -> tuple[int, str]:
    """Wait for the CLI; its exit code and everything it printed in `cwd` so far."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    return proc.returncode, (cwd / "cli.out").read_text()


def run_cli(command: str, cluster: Cluster, args: list[str], cwd: Path) -> str:
    """Run the CLI to the end; fail with its output unless it exits 0."""
    code, output = finish(start_cli(command, cluster, args, cwd), cwd)
    assert code == 0, output[-6000:]
    return output


def wait_for(condition: Callable[[], Any], proc: subprocess.Popen[str], what: str, timeout: float = 240) -> Any:
    """Poll `condition` every 50 ms until it is truthy; fail if the CLI ends first or time runs out."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        if proc.poll() is not None:
            raise AssertionError(f"the CLI ended (exit {proc.returncode}) before {what}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def kill_driver(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the driver (the CLI process) and wait for it; Ray ends the job's actors itself."""
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(2)  # the GCS notices the dead driver and ends its actors and placement groups


def supernet_run(storage: Path) -> Path:
    """The supernet stage's Ray Train run directory under `storage`."""
    found = sorted(RunLayout.of(storage, NAME).ray_dir.glob("*-supernet"))
    found = [p for p in found if p.is_dir()]
    return found[0] if found else RunLayout.of(storage, NAME).ray_dir / "missing-supernet"


def newest_checkpoint(storage: Path) -> Path | None:
    run = supernet_run(storage)
    found = complete_checkpoints(run) if run.is_dir() else []
    return found[-1] if found else None


def weights(model_dir: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(model_dir / "model.safetensors")


def assert_same_weights(a: Path, b: Path) -> None:
    import torch

    left, right = weights(a), weights(b)
    assert left.keys() == right.keys()
    for key in left:
        torch.testing.assert_close(left[key], right[key], atol=1e-5, rtol=1e-4, msg=f"{key} differs")


def trial_results(storage: Path) -> dict[str, list[dict[str, Any]]]:
    """trial id -> every result line Tune wrote for it (`result.json` in each trial dir)."""
    experiment = RunLayout.of(storage, NAME).search_experiment(NAME).path
    out: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(experiment.glob("trial_*/result.json")):
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if lines:
            out[lines[0]["trial_id"]] = lines
    return out


def saved_trials(storage: Path) -> dict[str, str] | None:
    """trial id -> status in the newest experiment state Tune saved under `storage` (what a rerun resumes
    from; Tune saves it every few seconds and at the end); None before the first save or while one is written."""
    experiment = RunLayout.of(storage, NAME).search_experiment(NAME).path
    newest = max(experiment.glob("experiment_state-*.json"), default=None)  # timestamped: newest sorts last
    if newest is None:
        return None
    try:
        states = [json.loads(trial[0]) for trial in json.loads(newest.read_text())["trial_data"]]
        return {state["trial_id"]: state["status"] for state in states}
    except (OSError, ValueError, KeyError, TypeError, IndexError):  # a save being written
        return None


def saved_finished(storage: Path) -> set[str]:
    """Ids of the trials the saved experiment state marks finished (TERMINATED): a rerun keeps them."""
    return {t for t, status in (saved_trials(storage) or {}).items() if status == "TERMINATED"}


CHECKPOINT_EVERY = 3  # supernet.train.checkpoint_every_steps of these runs: at most 2 steps are redone


def record(fault: str, **facts: Any) -> None:
    """Append what a passed fault test saw to $RAYDISTILL_RELIABILITY_OUT (benchmarks/cluster_scale.py)."""
    out = os.environ.get("RAYDISTILL_RELIABILITY_OUT")
    if out:
        with open(out, "a") as f:
            f.write(json.dumps({"fault": fault, "survived": True, **facts}) + "\n")


def resumed_steps(text: str) -> list[int]:
    """The steps the training loop logged it resumed at ("[run] resumed at step 6/30 ...")."""
    return [int(line.split("resumed at step ")[1].split("/")[0]) for line in text.splitlines() if "resumed at step" in line]


@dataclass
class Reference:
    """The uninterrupted run every fault run is compared with (read into memory once)."""

    storage: Path
    output: str
    supernet_model: Path
    supernet_state: dict[str, Any]
    table: pd.DataFrame
    front: list[tuple[str, float]]
    train_workers: list[dict[str, Any]] = field(default_factory=list)


def front(table: pd.DataFrame) -> list[tuple[str, float]]:
    """The Pareto front (search metric up, FLOPs down) of the evaluated trials, as (arch id, metric)."""
    ok = table[table["status"] == "ok"].sort_values(["flops", "search_metric"], ascending=[True, False])
    out: list[tuple[str, float]] = []
    best = -float("inf")
    for row in ok.itertuples():
        if row.search_metric > best:
            out.append((row.arch_id, round(float(row.search_metric), 6)))
            best = row.search_metric
    return out


@pytest.fixture(scope="session")
def reference(cluster: Cluster, inputs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """`raydistill search` uninterrupted on the cluster: teacher eval, supernet (2 workers), search."""
    work = tmp_path_factory.mktemp("reference")
    storage = work / "runs"
    output = run_cli("search", cluster, overrides(inputs, storage), work)
    layout = RunLayout.of(storage, NAME)
    kept = work / "supernet-model"
    shutil.copytree(layout.supernet_model, kept)  # later tests may rerun stages in `storage`
    final = newest_checkpoint(storage)
    assert final is not None
    state = json.loads((final / "trainer_state.json").read_text())
    table = pd.read_parquet(layout.trials_parquet)
    workers = [a for a in cluster.actors() if a["class_name"] == "RayTrainWorker"]
    return Reference(storage, output, kept, state, table, front(table), workers)
