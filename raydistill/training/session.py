"""Start or join Ray once per process, quietly (RAY_NOTES "Overheads and quiet output").

A local Ray gets no dashboard (its agent costs CPU that a 2-core training run feels), workers at normal priority
(Ray's default `nice 15` lets any other process on the machine slow training down; set `RAY_worker_niceness`
to keep Ray's behaviour) and warnings-only logging;
worker output stays forwarded to the driver by default because the training loop's progress lines are printed
there. Joining a cluster (`address`) keeps the cluster's own settings.
"""

from __future__ import annotations

import logging
import os

import ray

from raydistill.errors import RunError


def ensure_ray(address: str | None = None, num_cpus: int | None = None, *, log_to_driver: bool = True) -> bool:
    """`ray.init` unless this process is already connected.

    Args:
        address: an existing cluster (`auto`, `ray://host:10001`, ...); None starts a local one.
        num_cpus: CPUs of a local Ray (None: all cores). Ignored when joining a cluster.
        log_to_driver: forward worker stdout/stderr (the training progress lines) to this process.

    Returns:
        True when this call started or joined Ray, False when Ray was already initialised.
    """
    if ray.is_initialized():
        return False
    if address:
        try:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=log_to_driver)
        except ConnectionError as exc:
            raise RunError(
                f"resources.address={address!r}: no Ray cluster reachable there ({exc}); start one "
                "(`ray start --head`, or see cluster/README.md) or leave --address out to run locally"
            ) from None
    else:
        os.environ.setdefault("RAY_worker_niceness", "0")  # read by the raylet that ray.init starts
        ray.init(
            num_cpus=num_cpus,
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=log_to_driver,
        )
    return True
