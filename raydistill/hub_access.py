"""Can a Hugging Face hub name be used right now? Answered in a few seconds at most, before Ray starts.

Without a network, `from_pretrained` and `load_dataset` retry for about 30 s before they give up; with
`HF_HUB_OFFLINE=1` they fail at once but only deep inside a stage. `hub_unavailable()` says why the hub cannot be
used (offline mode, or its host does not answer), so a name that is not in the local cache fails at once with a
message naming it and the fix. A name that is cached is left to the loaders (they work offline).
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

__all__ = ["dataset_in_cache", "hub_unavailable", "model_in_cache"]

CONNECT_TIMEOUT_S = 3.0


def hub_unavailable(timeout_s: float = CONNECT_TIMEOUT_S) -> str | None:
    """None when the hub's host answers; else why the hub cannot be used (one clause)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set, so nothing is downloaded"
    url = urlparse(constants.ENDPOINT)
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
    failure: list[str] = [f"no answer within {timeout_s:g} s"]

    def connect() -> None:  # in a thread: name resolution ignores socket timeouts
        try:
            socket.create_connection((host, port), timeout=timeout_s).close()
            failure.clear()
        except OSError as exc:
            failure[:] = [exc.strerror or str(exc) or type(exc).__name__]

    thread = threading.Thread(target=connect, daemon=True, name="raydistill-hub-check")
    thread.start()
    thread.join(timeout_s)
    return f"{host}:{port} cannot be reached ({failure[0]})" if failure else None


def model_in_cache(name: str) -> bool:
    """True when the hub model `name` has its config.json in the local Hugging Face cache."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(name, "config.json")
    except Exception:  # an invalid repo id: not cached, and the loader will say what is wrong with it
        return False
    return isinstance(found, str)


def dataset_in_cache(path: str) -> bool:
    """True when the hub dataset `path` (e.g. `nyu-mll/glue`) has been downloaded or prepared before."""
    from huggingface_hub import constants

    hub_dir = Path(constants.HF_HUB_CACHE) / f"datasets--{path.replace('/', '--')}"
    prepared = Path(constants.HF_HOME) / "datasets" / path.replace("/", "___")
    try:
        import datasets

        prepared = Path(datasets.config.HF_DATASETS_CACHE) / path.replace("/", "___")
    except ImportError:
        pass
    return hub_dir.is_dir() or prepared.is_dir()
