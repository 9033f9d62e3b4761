"""results/ and report/ are pure pandas/numpy/plotly: they must not import ray or optuna."""

from __future__ import annotations

import pytest

from tests.unit.test_layering import FORBIDDEN, PACKAGE, _imported_roots


@pytest.mark.parametrize("layer", ["results", "report"])
def test_results_and_report_do_not_import_ray_or_optuna(layer: str) -> None:
    files = sorted((PACKAGE / layer).rglob("*.py"))
    assert len(files) > 2, f"no modules found under raydistill/{layer}"
    assert {
        str(f.relative_to(PACKAGE)): _imported_roots(f) & FORBIDDEN
        for f in files
        if _imported_roots(f) & FORBIDDEN
    } == {}
