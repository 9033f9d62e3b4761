"""The pipeline on a real two-node Ray cluster, with faults injected: a killed Train worker, a killed node, a
killed driver (mid-training and mid-search), a full disk. Each test says what must not be lost.

Run with `make test-cluster` (a few minutes on 2 cores). The node-kill test runs last: it takes a node away.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from raydistill.checkpoint_files import checkpoint_step, complete_checkpoints, is_complete
from raydistill.layout import RunLayout
from tests.cluster.conftest import (
    CHECKPOINT_EVERY,
    NAME,
    NUM_TRIALS,
    Cluster,
    Reference,
    assert_same_weights,
    finish,
    front,
    kill_driver,
    local_cluster,
    logs,
    newest_checkpoint,
    overrides,
    record,
    resumed_steps,
    run_cli,
    saved_finished,
    saved_trials,
    start_cli,
    supernet_run,
    trial_results,
    wait_for,
)
from tests.unit.training.conftest import write_sst2


def _worker_titles(cluster: Cluster) -> dict[int, tuple[int, str]]:
    """pid -> (node manager port, process title) of each Ray worker process of this cluster (from the process
    tree: a worker is a child of its node's raylet; Ray titles it `ray::<Actor class>[.<method running>]`)."""
    procs = local_cluster._processes()
    port = local_cluster._state(cluster.dir)["port"]
    raylets = {
        pid: p
        for pid, (_, cmd) in procs.items()
        for p in (port + 1, port + 2)
        if "raylet" in cmd.split(" ")[0] and f"--node_manager_port={p}" in cmd
    }
    return {pid: (raylets[ppid], cmd.split(" ")[0]) for pid, (ppid, cmd) in procs.items() if ppid in raylets}


def _train_workers(cluster: Cluster) -> dict[int, int]:
    """pid -> node manager port of each live Ray Train worker process."""
    return {pid: p for pid, (p, title) in _worker_titles(cluster).items() if title.startswith("ray::RayTrainWorker")}


def _trial_running_on_second(cluster: Cluster) -> bool:
    """A Tune trial is mid-evaluation on the second node: its trainable actor is inside `train` (Ray titles
    it `ray::ImplicitFunc.train` then, and `ray::ImplicitFunc` while idle between trials)."""
    port = local_cluster._state(cluster.dir)["port"] + 2
    return any(p == port and title.endswith(".train") for p, title in _worker_titles(cluster).values())


def test_supernet_workers_run_on_both_nodes(cluster: Cluster, reference: Reference) -> None:
    """Ray placed the 2 Train workers of the supernet one per node (Ray's actor table says where)."""
    nodes = {w["node_id"] for w in reference.train_workers}
    assert nodes == {cluster.head_id, cluster.second_id}, reference.train_workers
    assert len(reference.table) == NUM_TRIALS and reference.table["trial_id"].is_unique
    assert reference.front, reference.table


def test_killed_train_worker_restarts_from_the_latest_checkpoint(
    cluster: Cluster, reference: Reference, inputs: dict[str, Path], tmp_path: Path
) -> None:
    """SIGKILL one Train worker mid-epoch: the worker group restarts from the latest checkpoint, finishes at
    the exact step count, and (optimizer, scheduler, RNG, data order resumed) ends with the reference weights."""
    storage = tmp_path / "runs"
    proc = start_cli("train", cluster, ["--stage", "supernet", *overrides(inputs, storage, **{
        "resources.max_failures": 1})], tmp_path)  # fmt: skip
    first = wait_for(lambda: newest_checkpoint(storage), proc, "the first supernet checkpoint")
    workers = wait_for(lambda: _train_workers(cluster), proc, "a live Train worker")
    victim = next(pid for pid, port in workers.items() if port == max(workers.values()))
    os.kill(victim, signal.SIGKILL)
    code, output = finish(proc, tmp_path)
    assert code == 0, output[-6000:]
    resumed = [line for line in logs(tmp_path, storage).splitlines() if "resumed at step" in line]
    assert resumed, logs(tmp_path, storage)[-6000:]  # the restarted group resumed (not restarted from step 0)
    final = newest_checkpoint(storage)
    assert final is not None
    state = json.loads((final / "trainer_state.json").read_text())
    assert state["step"] == reference.supernet_state["step"]
    assert checkpoint_step(first) is not None and checkpoint_step(first) <= state["step"]
    assert_same_weights(RunLayout.of(storage, NAME).supernet_model, reference.supernet_model)
    step = resumed_steps(logs(tmp_path, storage))[-1]
    record("SIGKILL a Ray Train worker mid-epoch (2 workers, 2 nodes)", trials_lost=0,
           steps_redone=f"<= {CHECKPOINT_EVERY - 1}", note=f"restarted from step {step}, final weights equal")  # fmt: skip


def test_killed_driver_mid_training_and_mid_search_loses_nothing(
    cluster: Cluster, reference: Reference, inputs: dict[str, Path], tmp_path: Path
) -> None:
    """SIGKILL the driver while the supernet trains, rerun; SIGKILL it again mid-search, rerun: training resumed
    from its latest checkpoint, no finished trial ran again, and the front equals the uninterrupted run's.

    The second kill waits until the experiment state Tune saved (what a rerun resumes from) holds finished
    trials and the search is not done, so it lands mid-search whatever the machine's speed; the test then
    checks, from that saved state, that trials were still unfinished at the kill."""
    storage = tmp_path / "runs"
    args = overrides(inputs, storage)
    proc = start_cli("search", cluster, args, tmp_path)
    kept = wait_for(lambda: newest_checkpoint(storage), proc, "a supernet checkpoint")
    kill_driver(proc)
    kept_step = checkpoint_step(newest_checkpoint(storage) or kept)
    assert kept_step is not None and kept_step < reference.supernet_state["step"]

    def mid_search() -> bool:  # the saved state holds finished and unfinished trials, and their results
        finished = saved_finished(storage)
        return 0 < len(finished) < NUM_TRIALS and finished <= trial_results(storage).keys()

    proc = start_cli("search", cluster, args, tmp_path)
    wait_for(mid_search, proc, "a saved search state with finished and unfinished trials", timeout=300)
    killed_at = time.time()
    kill_driver(proc)
    output = logs(tmp_path, storage)
    assert f"resumed at step {kept_step}/" in output, output[-6000:]
    finished = saved_finished(storage)  # read again after the kill: what the rerun resumes from
    assert 0 < len(finished) < NUM_TRIALS, saved_trials(storage)  # the kill landed mid-search
    before = {t: lines for t, lines in trial_results(storage).items() if t in finished}
    assert before.keys() == finished

    output = run_cli("search", cluster, args, tmp_path)
    after = trial_results(storage)
    for trial_id, lines in before.items():
        assert after.get(trial_id) == lines, f"trial {trial_id} finished before the kill and ran again"
    ran_again = {t for t, lines in after.items() if lines[-1]["evaluated_at"] > killed_at}
    assert ran_again == set(after) - finished  # the rerun evaluated exactly the trials left unfinished
    table = pd.read_parquet(RunLayout.of(storage, NAME).trials_parquet)
    assert len(table) == NUM_TRIALS and set(table["trial_id"]) == set(after)
    assert_same_weights(RunLayout.of(storage, NAME).supernet_model, reference.supernet_model)
    assert front(table) == reference.front
    record("SIGKILL the driver mid-training, then mid-search; rerun", trials_lost=0,
           steps_redone=f"<= {CHECKPOINT_EVERY - 1}",
           note=f"training resumed at step {kept_step}; killed with {len(finished)} of {NUM_TRIALS} trials "
           f"finished (Tune's saved state): none re-run, the other {NUM_TRIALS - len(finished)} run by the "
           "rerun; front equal")  # fmt: skip


@pytest.fixture
def small_disk(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A 64 MiB tmpfs (CI runs as root) as the run's storage; unmounted at the end."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(mount: Path) -> Path:
    """Write zeros to `mount` until it is full."""
    filler = mount / "filler"
    block = b"\0" * 2**20
    with filler.open("wb") as f:
        try:
            while True:
                f.write(block)
                f.flush()
        except OSError:
            pass
    return filler


def test_full_disk_mid_training_fails_clearly_and_the_rerun_resumes(
    cluster: Cluster, reference: Reference, inputs: dict[str, Path], small_disk: Path, tmp_path: Path
) -> None:
    """The storage fills up mid-run: one clear error, the last good checkpoint intact and used by the rerun."""
    storage = small_disk / "runs"
    args = ["--stage", "supernet", *overrides(inputs, storage)]
    proc = start_cli("train", cluster, args, tmp_path)
    wait_for(lambda: newest_checkpoint(storage), proc, "a supernet checkpoint")
    filler = _fill(small_disk)
    code, output = finish(proc, tmp_path)
    assert code != 0, output[-6000:]
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "No space left" in errors[0] and str(small_disk) in errors[0], output[-6000:]
    assert "Traceback" not in output.split(errors[0])[-1]
    good = complete_checkpoints(supernet_run(storage))
    assert good and all(is_complete(c) for c in good)
    last_good = checkpoint_step(good[-1])
    assert last_good is not None and last_good < reference.supernet_state["step"]

    filler.unlink()
    run_cli("train", cluster, args, tmp_path)
    assert f"resumed at step {last_good}/" in logs(tmp_path, storage), logs(tmp_path, storage)[-6000:]
    assert_same_weights(RunLayout.of(storage, NAME).supernet_model, reference.supernet_model)
    record("storage full mid-training (tmpfs filled)", trials_lost=0, steps_redone=f"<= {CHECKPOINT_EVERY - 1}",
           note=f"one error line; rerun resumed at step {last_good}, final weights equal")  # fmt: skip


def test_killed_node_mid_search_retries_its_trials(
    cluster: Cluster, inputs: dict[str, Path], tmp_path: Path
) -> None:
    """Kill the second node while trials run on both nodes: its trials are retried elsewhere, the search
    finishes, and every trial id appears exactly once in the trial table. (Runs last: the node stays dead.)

    Trials here score 9000 search examples (~1-3 s each), so a second trial actor starts before the first trial
    ends (with cheap trials Tune reuses one actor for all of them). The kill waits until a trial has reported
    from the second node and the next one is inside its evaluation there (the actor's process title says so):
    killing right after a result could land between two trials, where no trial fails."""
    storage = tmp_path / "runs"
    data = write_sst2(tmp_path / "data", repeats=1000)
    trials = NUM_TRIALS
    args = overrides(dict(inputs, data=data), storage, **{
        "data.search_split": 0.9, "supernet.train.eval_batch_size": 64, "supernet.train.max_steps": 2,
        "search.num_trials": trials, "resources.max_concurrent_trials": 2, "search.max_failures": 2})  # fmt: skip

    def ran_on_second() -> bool:
        return any(r[-1].get("node_id") == cluster.second_id for r in trial_results(storage).values())

    experiment = RunLayout.of(storage, NAME).search_experiment(NAME).path
    proc = start_cli("search", cluster, args, tmp_path)
    wait_for(lambda: ran_on_second() and _trial_running_on_second(cluster), proc,
             "a trial mid-evaluation on the second node after one reported from there", timeout=400)
    local_cluster.kill_node(cluster.dir)
    code, output = finish(proc, tmp_path)
    assert code == 0, output[-6000:]
    table = pd.read_parquet(RunLayout.of(storage, NAME).trials_parquet)
    assert len(table) == trials and table["trial_id"].is_unique
    assert set(table["status"]) <= {"ok", "infeasible"}, table[["trial_id", "status", "note"]]
    nodes = {lines[-1]["node_id"] for lines in trial_results(storage).values()}
    assert nodes == {cluster.head_id, cluster.second_id}  # trials ran on both nodes (Tune's results say where)
    retried = list(experiment.glob("trial_*/error.txt"))
    assert retried, "no trial was running on the killed node"
    record("SIGKILL the second node mid-search (2 concurrent trials)", trials_lost=0, steps_redone="-",
           note=f"{len(retried)} trial(s) retried; {trials} trials, each id once")  # fmt: skip
