"""A real multi-node Ray cluster on one machine: a head and a second node as separate `ray start` processes.

    python cluster/local_cluster.py start [--dir D] [--port 6390] [--head-cpus 1] [--node-cpus 1] [--nodes 2]
    python cluster/local_cluster.py info --dir D        # JSON: address, nodes (id, alive, resources)
    python cluster/local_cluster.py actors --dir D      # JSON: every actor Ray's GCS knows (class, node, pid, state)
    python cluster/local_cluster.py kill-node --dir D   # SIGKILL the second node's raylet and its processes
    python cluster/local_cluster.py add-node --dir D    # start a (new) second node
    python cluster/local_cluster.py stop --dir D        # stop exactly this cluster, then delete D

Then `raydistill run SPEC --address 127.0.0.1:PORT`. The nodes share the loopback address, so they are told apart
by their resources (`head_node`, `second_node`, one unit each) and node ids. Everything of the cluster lives
under its own temp dir D (sessions, sockets, logs): `stop` ends only the processes whose command line names D,
never another Ray on the machine (a bare `ray stop` would end them all). Short health checks make Ray notice a
killed node within a few seconds. Only the standard library and the `ray` command are used here; `info` and
`actors` connect to the cluster with the `ray` package of the running interpreter.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

STATE_FILE = "cluster.json"
FAST_FAILURE_DETECTION = {
    "RAY_health_check_period_ms": "500",  # GCS pings each raylet twice a second ...
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "4",  # ... and marks it dead after 4 misses (~2-4 s, not ~30 s)
}


def _ray_cmd() -> str:
    return str(Path(sys.executable).with_name("ray"))


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "RAY_AUTH_MODE": "disabled",
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_worker_niceness": "0",
        **FAST_FAILURE_DETECTION,
    }


def _state(directory: Path) -> dict[str, Any]:
    return json.loads((directory / STATE_FILE).read_text())


def _start_node(state: dict[str, Any], head: bool) -> None:
    common = [
        "--num-cpus", str(state["head_cpus" if head else "node_cpus"]),
        "--object-store-memory", str(state["object_store_bytes"]),
        "--disable-usage-stats",
    ]  # fmt: skip
    if head:
        args = [
            "--head", "--port", str(state["port"]), "--node-ip-address", "127.0.0.1",
            "--temp-dir", state["dir"], "--include-dashboard", "false",
            "--node-manager-port", str(state["port"] + 1), "--resources", json.dumps({"head_node": 1}),
        ]  # fmt: skip
    else:
        args = [
            "--address", state["address"], "--node-ip-address", "127.0.0.1",
            "--node-manager-port", str(state["port"] + 2), "--resources", json.dumps({"second_node": 1}),
        ]  # fmt: skip
    subprocess.run(
        [_ray_cmd(), "start", *args, *common], env=_env(), check=True, capture_output=True, text=True, timeout=120
    )


def start(directory: Path | None, port: int, head_cpus: int, node_cpus: int, nodes: int = 2) -> dict[str, Any]:
    """Start the head and (nodes=2) the second node; write and return the cluster's state (`cluster.json`)."""
    directory = Path(directory or tempfile.mkdtemp(prefix="rdc-", dir="/tmp"))  # short: socket paths < 108 chars
    directory.mkdir(parents=True, exist_ok=True)
    state = {
        "dir": str(directory),
        "port": port,
        "address": f"127.0.0.1:{port}",
        "head_cpus": head_cpus,
        "node_cpus": node_cpus,
        "object_store_bytes": 300 * 2**20,
    }
    (directory / STATE_FILE).write_text(json.dumps(state))
    try:
        _start_node(state, head=True)
        if nodes > 1:
            _start_node(state, head=False)
    except subprocess.CalledProcessError as exc:
        stop(directory)
        raise SystemExit(f"ray start failed: {exc.stderr or exc.stdout}") from None
    return state


def add_node(directory: Path) -> None:
    """Start a second node again (after `kill_node`)."""
    _start_node(_state(directory), head=False)


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process."""
    found: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        found[int(entry.name)] = (ppid, cmdline)
    return found


def _tree(root: int, procs: dict[int, tuple[int, str]]) -> list[int]:
    """`root` and all its descendants."""
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(child for child, (ppid, _) in procs.items() if ppid == pid)
    return out


def _kill(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def kill_node(directory: Path) -> list[int]:
    """SIGKILL the second node: its raylet (found by its node-manager port) and every process under it."""
    state = _state(directory)
    procs = _processes()
    marker = f"--node_manager_port={state['port'] + 2}"
    raylets = [pid for pid, (_, cmd) in procs.items() if "raylet" in cmd.split(" ")[0] and marker in cmd]
    victims = [pid for raylet in raylets for pid in _tree(raylet, procs)]
    _kill(victims, signal.SIGKILL)
    return victims


def stop(directory: Path) -> None:
    """End every process whose command line names this cluster's dir (TERM, then KILL), then delete the dir."""
    directory = Path(directory).resolve()
    if not (directory / STATE_FILE).is_file():  # never match the command lines of processes that are not ours
        raise SystemExit(f"{directory} holds no {STATE_FILE}: not a cluster started by this script")
    for sig in (signal.SIGTERM, signal.SIGKILL):
        mine = [pid for pid, (_, cmd) in _processes().items() if str(directory) in cmd and pid != os.getpid()]
        _kill(mine, sig)
        deadline = time.time() + 10
        while mine and time.time() < deadline:
            mine = [pid for pid in mine if Path(f"/proc/{pid}").exists() and _alive(pid)]
            time.sleep(0.2)
    subprocess.run(["rm", "-rf", str(directory)], check=False)


def _alive(pid: int) -> bool:
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
    except (OSError, IndexError):
        return False


def _connect(directory: Path) -> Any:
    import logging

    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(address=_state(directory)["address"], logging_level=logging.ERROR, log_to_driver=False)
    return ray


def info(directory: Path) -> dict[str, Any]:
    """The cluster's address and its nodes as Ray's GCS lists them."""
    ray = _connect(directory)
    nodes = [
        {"node_id": n["NodeID"], "alive": n["Alive"], "resources": n["Resources"], "port": n["NodeManagerPort"]}
        for n in ray.nodes()
    ]
    return {"address": _state(directory)["address"], "nodes": nodes}


def actors(directory: Path) -> list[dict[str, Any]]:
    """Every actor the GCS knows (dead ones included): class name, node id, pid, state."""
    from ray._private import state as ray_state

    _connect(directory)
    return [
        {
            "class_name": a.get("ActorClassName", ""),
            "node_id": (a.get("Address") or {}).get("NodeID", ""),
            "pid": a.get("Pid", 0),
            "state": a.get("State", ""),
        }
        for a in ray_state.actors().values()
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["start", "info", "actors", "kill-node", "add-node", "stop"])
    parser.add_argument("--dir", type=Path, default=None, help="the cluster's temp dir (start: new if unset)")
    parser.add_argument("--port", type=int, default=6390, help="GCS port of the head (+1, +2: node managers)")
    parser.add_argument("--head-cpus", type=int, default=1)
    parser.add_argument("--node-cpus", type=int, default=1)
    parser.add_argument("--nodes", type=int, choices=[1, 2], default=2, help="start: the head alone, or two nodes")
    args = parser.parse_args(argv)
    if args.command != "start" and args.dir is None:
        parser.error(f"{args.command} needs --dir (the dir `start` printed)")
    if args.command == "start":
        print(json.dumps(start(args.dir, args.port, args.head_cpus, args.node_cpus, args.nodes)))
    elif args.command == "info":
        print(json.dumps(info(args.dir)))
    elif args.command == "actors":
        print(json.dumps(actors(args.dir)))
    elif args.command == "kill-node":
        print(json.dumps(kill_node(args.dir)))
    elif args.command == "add-node":
        add_node(args.dir)
    else:
        stop(args.dir)


if __name__ == "__main__":
    main()
