"""cluster/: the Ray cluster-launcher YAMLs pass Ray's own validation offline; the KubeRay RayJob is well formed.

`ray up` runs `prepare_config` (merge the provider's defaults.yaml, fold setup commands, fill node-type worker
counts) and then `validate_config` (Ray's JSON schema plus cross-field checks) before it talks to any cloud. The
tests call exactly those two functions, so a config that passes here fails `ray up` only on cloud-side problems
(credentials, quotas, images). No network, no credentials, about a second.
"""

from __future__ import annotations

import copy
import re
import shlex
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "cluster"
LAUNCHER_FILES = ["aws-gpu.yaml", "aws-cpu.yaml", "gcp-gpu.yaml", "local.yaml"]
GPU_FILES = ["aws-gpu.yaml", "gcp-gpu.yaml"]
RAYJOB_FILE = "kuberay-rayjob.yaml"
RAY_VERSION = "2.60.0"
IMAGE_RE = re.compile(rf"rayproject/ray:{re.escape(RAY_VERSION)}-py311-(cpu|gpu)")
COMMAND_KEYS = [
    "initialization_commands",
    "setup_commands",
    "head_setup_commands",
    "worker_setup_commands",
    "head_start_ray_commands",
    "worker_start_ray_commands",
]
SHARED_MOUNT = "--volume /mnt/shared:/mnt/shared"


def _raw(name: str) -> dict[str, Any]:
    return yaml.safe_load((CLUSTER / name).read_text())


def _prepared(config: dict[str, Any]) -> dict[str, Any]:
    """What `ray up` validates: the config merged with the provider defaults (offline, no cloud calls)."""
    from ray.autoscaler._private.util import prepare_config

    return prepare_config(copy.deepcopy(config))


def _validate(config: dict[str, Any]) -> None:
    from ray.autoscaler._private.util import validate_config

    validate_config(_prepared(config))


def _images(config: dict[str, Any]) -> dict[str, str]:
    docker = config["docker"]
    return {
        "head": docker.get("head_image", docker["image"]),
        "worker": docker.get("worker_image", docker["image"]),
    }


def _rayjob() -> tuple[dict[str, Any], dict[str, Any]]:
    """(the RayJob document, {kind: document} for all documents in the manifest)."""
    docs = [d for d in yaml.safe_load_all((CLUSTER / RAYJOB_FILE).read_text()) if d]
    by_kind = {d["kind"]: d for d in docs}
    assert "RayJob" in by_kind, f"no RayJob document among {sorted(by_kind)}"
    return by_kind["RayJob"], by_kind


KEY_LINE = re.compile(r"^\s*(?:-\s+)?[A-Za-z_\"][\w./\"-]*\s*:(?:\s|$)")
BLOCK_SCALAR = re.compile(r":\s*[|>][-+]?\s*$")


def _uncommented_keys(text: str) -> list[str]:
    """Key lines with neither an inline comment nor a comment line right above (block scalars are skipped)."""
    missing: list[str] = []
    previous = ""
    block_indent: int | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        indent = len(line) - len(line.lstrip())
        if block_indent is not None and indent > block_indent:
            continue  # inside a `|` or `>-` string: content, not keys
        block_indent = None
        if not stripped.startswith("#") and KEY_LINE.match(line):
            if " #" not in line and not previous.startswith("#"):
                missing.append(f"{number}: {stripped}")
            if BLOCK_SCALAR.search(line):
                block_indent = indent
        previous = "" if stripped == "---" else stripped
    return missing


@pytest.mark.parametrize("name", LAUNCHER_FILES)
def test_launcher_config_passes_ray_validation(name: str) -> None:
    _validate(_raw(name))


def test_validation_rejects_broken_configs() -> None:
    """The check above can fail: Ray's validator rejects a misspelt key and a node type without resources."""
    config = _raw("aws-gpu.yaml")
    misspelt = {**config, "max_worker": 3}
    with pytest.raises(jsonschema.ValidationError, match="max_worker"):
        _validate(misspelt)
    no_resources = copy.deepcopy(config)
    del no_resources["available_node_types"]["ray.worker.gpu"]["resources"]
    with pytest.raises(jsonschema.ValidationError, match="resources"):
        _validate(no_resources)
    too_many = copy.deepcopy(config)
    too_many["available_node_types"]["ray.worker.gpu"]["min_workers"] = config["max_workers"] + 1
    with pytest.raises(ValueError, match="max_workers"):
        _validate(too_many)


@pytest.mark.parametrize("name", LAUNCHER_FILES)
def test_no_provider_default_commands_leak_in(name: str) -> None:
    """Ray fills any missing top-level key from the provider's defaults.yaml, whose setup installs a Ray nightly
    wheel; every command list must therefore be given explicitly."""
    raw = _raw(name)
    assert [k for k in COMMAND_KEYS if k not in raw] == []
    prepared = _prepared(raw)
    commands = " ".join(c for k in COMMAND_KEYS for c in prepared[k])
    assert "ray-wheels" not in commands and "dev0" not in commands


@pytest.mark.parametrize("name", LAUNCHER_FILES)
def test_images_pinned_and_shared_dir_mounted(name: str) -> None:
    config = _raw(name)
    for role, image in _images(config).items():
        assert IMAGE_RE.fullmatch(image), (
            f"{name}: {role} image {image!r} is not rayproject/ray:{RAY_VERSION}-py311-*"
        )
    assert SHARED_MOUNT in config["docker"]["run_options"]


@pytest.mark.parametrize("name", LAUNCHER_FILES)
def test_every_node_installs_torch_then_raydistill_with_ray_pinned(name: str) -> None:
    prepared = _prepared(_raw(name))
    for key in ("head_setup_commands", "worker_setup_commands"):
        commands = prepared[key]
        torch = next(
            i for i, c in enumerate(commands) if shlex.split(c)[:2] == ["pip", "install"] and "torch" in c
        )
        package = next(i for i, c in enumerate(commands) if "raydistill[demo]" in shlex.split(c))
        assert torch < package, f"{name}: {key} installs raydistill before torch"
        assert f"ray[default,train,tune]=={RAY_VERSION}" in shlex.split(commands[package])


@pytest.mark.parametrize("name", GPU_FILES)
def test_gpu_clusters_put_gpus_on_autoscaling_workers(name: str) -> None:
    config = _raw(name)
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    workers = {k: v for k, v in types.items() if k != config["head_node_type"]}
    assert head["resources"].get("GPU", 0) == 0
    assert any(w["resources"].get("GPU", 0) >= 1 and w.get("min_workers", 0) == 0 for w in workers.values())
    assert _images(config) == {
        "head": f"rayproject/ray:{RAY_VERSION}-py311-cpu",
        "worker": f"rayproject/ray:{RAY_VERSION}-py311-gpu",
    }


def test_cpu_cluster_has_no_gpus() -> None:
    config = _raw("aws-cpu.yaml")
    assert all(t["resources"].get("GPU", 0) == 0 for t in config["available_node_types"].values())
    assert set(_images(config).values()) == {f"rayproject/ray:{RAY_VERSION}-py311-cpu"}


def test_local_config_lists_hosts() -> None:
    provider = _raw("local.yaml")["provider"]
    assert provider["type"] == "local"
    hosts = [provider["head_ip"], *provider["worker_ips"]]
    assert len(hosts) == len(set(hosts)) >= 2


@pytest.mark.parametrize("name", [*LAUNCHER_FILES, RAYJOB_FILE])
def test_every_key_is_commented(name: str) -> None:
    assert _uncommented_keys((CLUSTER / name).read_text()) == []


def test_comment_check_can_fail() -> None:
    text = "# about a\na: 1\nb: 2  # inline\n# about c\nc: |\n  d: inside a string\ne: 3\n- f: 4\n"
    assert _uncommented_keys(text) == ["7: e: 3", "8: - f: 4"]


def test_rayjob_manifest_runs_raydistill_on_ray_2_60() -> None:
    job, _ = _rayjob()
    assert job["apiVersion"] == "ray.io/v1"
    spec = job["spec"]
    argv = shlex.split(spec["entrypoint"])
    assert argv[:2] == ["raydistill", "run"]
    assert argv[argv.index("--address") + 1] == "auto"
    assert (ROOT / "searches" / Path(argv[2]).name).is_file(), f"entrypoint runs {argv[2]}, not in searches/"
    runtime_env = yaml.safe_load(spec["runtimeEnvYAML"])
    assert {"torch", "raydistill[demo]", f"ray[default,train,tune]=={RAY_VERSION}"} <= set(runtime_env["pip"])
    assert spec["rayClusterSpec"]["rayVersion"] == RAY_VERSION


def test_rayjob_cluster_has_cpu_head_and_gpu_worker_group() -> None:
    job, _ = _rayjob()
    cluster = job["spec"]["rayClusterSpec"]
    head = cluster["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert head["image"] == f"rayproject/ray:{RAY_VERSION}-py311-cpu"
    assert "nvidia.com/gpu" not in head["resources"].get("limits", {})
    gpu_groups = [
        g
        for g in cluster["workerGroupSpecs"]
        if int(g["template"]["spec"]["containers"][0]["resources"]["limits"].get("nvidia.com/gpu", 0)) >= 1
    ]
    assert gpu_groups, "no worker group requests nvidia.com/gpu"
    for group in gpu_groups:
        assert (
            group["template"]["spec"]["containers"][0]["image"] == f"rayproject/ray:{RAY_VERSION}-py311-gpu"
        )
        assert 0 <= group["minReplicas"] <= group["maxReplicas"]


def test_rayjob_pods_share_the_storage_path_volume() -> None:
    job, by_kind = _rayjob()
    claim = by_kind["PersistentVolumeClaim"]
    assert "ReadWriteMany" in claim["spec"]["accessModes"]
    argv = shlex.split(job["spec"]["entrypoint"])
    storage = next(a.split("=", 1)[1] for a in argv if a.startswith("resources.storage_path="))
    cluster = job["spec"]["rayClusterSpec"]
    pods = [cluster["headGroupSpec"]["template"]["spec"]] + [
        g["template"]["spec"] for g in cluster["workerGroupSpecs"]
    ]
    for pod in pods:
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = pod["containers"][0]["volumeMounts"]
        shared = [m for m in mounts if volumes[m["name"]].get("persistentVolumeClaim")]
        assert [volumes[m["name"]]["persistentVolumeClaim"]["claimName"] for m in shared] == [
            claim["metadata"]["name"]
        ]
        assert storage.startswith(shared[0]["mountPath"] + "/")


def test_readme_covers_every_file_and_the_lifecycle() -> None:
    readme = (CLUSTER / "README.md").read_text()
    for path in sorted(CLUSTER.glob("*.yaml")):
        assert f"cluster/{path.name}" in readme, f"README does not mention cluster/{path.name}"
    for command in ("ray up", "ray job submit", "ray rsync-down", "ray down", "kubectl apply"):
        assert command in readme


@pytest.mark.parametrize("name", LAUNCHER_FILES)
def test_header_commands_run_existing_specs(name: str) -> None:
    specs = re.findall(r"raydistill run (\S+\.yaml)", (CLUSTER / name).read_text())
    assert specs, f"{name}: header shows no `raydistill run` command"
    assert all((ROOT / s).is_file() for s in specs), specs
