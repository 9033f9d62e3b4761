"""House rule 1: layers point downward. The lower layers (models/, distill/, data/, spec/) never import ray or
optuna, and no package imports one on a floor above it (training/ never imports search/, ...)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "raydistill"
LOWER = ["models", "distill", "data", "spec"]
FORBIDDEN = {"ray", "optuna"}
# raydistill packages each one must not import: the floors above it (spec -> data -> models -> distill ->
# training -> search -> results -> report, with pipeline/cli on top; results/ is pure, below its readers).
TOP = {"pipeline", "cli", "runs"}
ABOVE = {
    "models": {"distill", "training", "search", "report", *TOP},
    "data": {"models", "distill", "training", "search", "results", "report", *TOP},
    "distill": {"training", "search", "report", *TOP},
    "spec": {"models", "distill", "training", "search", "results", "report", *TOP},
    "results": {"distill", "training", "search", "report", *TOP},
    "training": {"search", "report", *TOP},
    "search": {"report", *TOP},
    "report": {"training", "search", *TOP},
}


def _raydistill_packages(path: Path) -> set[str]:
    """The raydistill sub-packages/modules `path` imports (absolute imports only; the package uses no others)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        found |= {n.split(".")[1] for n in names if n.startswith("raydistill.")}
    return found


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("layer", LOWER)
def test_lower_layers_do_not_import_ray_or_optuna(layer: str) -> None:
    files = sorted((PACKAGE / layer).rglob("*.py"))
    assert files, f"no modules found under raydistill/{layer}"
    offenders = {str(f.relative_to(PACKAGE)): _imported_roots(f) & FORBIDDEN for f in files}
    assert not {k: v for k, v in offenders.items() if v}


def test_detector_sees_imports(tmp_path: Path) -> None:
    """The check itself must be able to fail."""
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom ray import train\nimport optuna.samplers\n")
    assert _imported_roots(bad) & FORBIDDEN == {"ray", "optuna"}


@pytest.mark.parametrize("layer", sorted(ABOVE))
def test_no_import_runs_up_a_floor(layer: str) -> None:
    files = sorted((PACKAGE / layer).rglob("*.py"))
    assert files, f"no modules found under raydistill/{layer}"
    offenders = {str(f.relative_to(PACKAGE)): _raydistill_packages(f) & ABOVE[layer] for f in files}
    assert not {k: v for k, v in offenders.items() if v}


def test_floor_detector_sees_raydistill_imports(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from raydistill.search.final import x\nimport raydistill.report\nfrom raydistill import y\n")
    assert _raydistill_packages(bad) == {"search", "report"}
