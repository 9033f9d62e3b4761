"""Integration fixtures: one local 2-CPU Ray for the session, and placement-group clean-up around each test.

Modules that use Ray in-process mark themselves with
`pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_leftover_placement_groups")]`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def ray_2_cpus() -> Iterator[None]:
    """A local Ray with 2 CPUs, quick Train health checks, no dashboard, quiet; shut down at the end."""
    import ray

    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.3")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield
    ray.shutdown()


def _remove_placement_groups() -> None:
    from ray import PlacementGroupID
    from ray.util.placement_group import PlacementGroup, placement_group_table, remove_placement_group

    for pg_id, info in placement_group_table().items():
        if info.get("state") != "REMOVED":
            remove_placement_group(PlacementGroup(PlacementGroupID(bytes.fromhex(pg_id))))


@pytest.fixture
def no_leftover_placement_groups(ray_2_cpus: None) -> Iterator[None]:
    """A failed or interrupted run can leave its placement group reserved; on 2 CPUs the next run would hang."""
    _remove_placement_groups()
    yield
    _remove_placement_groups()
