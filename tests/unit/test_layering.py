"""House rule 1: the lower layers (models/, distill/, data/, spec/) never import ray or optuna."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "raydistill"
LOWER = ["models", "distill", "data", "spec"]
FORBIDDEN = {"ray", "optuna"}


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
