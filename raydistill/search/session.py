"""The search's Ray session: start or join Ray once, quietly (RAY_NOTES, "Overheads and quiet output")."""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterator

import optuna

from raydistill.training import session as training_session

__all__ = ["ensure_ray", "quiet_tune", "trial_resources"]


def ensure_ray(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Start a local Ray (or join `address`) unless connected; quiet Optuna; trial output not forwarded.

    Returns:
        True when this call started or joined Ray, False when Ray was already initialised.
    """
    _quiet_defaults()
    return training_session.ensure_ray(address, num_cpus, log_to_driver=False)


def _quiet_defaults() -> None:
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # Tune's legacy output, silent at verbose=0
    optuna.logging.set_verbosity(optuna.logging.WARNING)


@contextlib.contextmanager
def quiet_tune(level: int = logging.ERROR) -> Iterator[None]:
    """Quiet Tune and Optuna for the duration: `ray.tune` loggers at `level`, Optuna at WARNING.

    Tune's per-trial warnings (e.g. "failed to fetch metrics" of a trial cut short) are not for users; the
    search reports progress itself (`search.progress`).
    """
    _quiet_defaults()
    logger = logging.getLogger("ray.tune")
    previous = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(previous)


def trial_resources(
    max_concurrent: int, cpus_per_worker: float, use_gpu: bool, cluster: dict[str, float]
) -> dict[str, float]:
    """Resources of one search trial: a share of the cluster so `max_concurrent` trials fit at once.

    CPU = min(cpus_per_worker, cluster CPUs / max_concurrent) (fractional shares allowed, floored to 0.01 so
    the shares never add up to more than the cluster); GPU likewise when `use_gpu` and the cluster has GPUs.
    """

    def share(total: float, cap: float) -> float:
        return max(0.01, math.floor(min(cap, total / max_concurrent) * 100) / 100)

    resources = {"cpu": share(cluster.get("CPU", 1.0), cpus_per_worker)}
    if use_gpu and cluster.get("GPU", 0.0) > 0:
        resources["gpu"] = share(cluster["GPU"], 1.0)
    return resources
