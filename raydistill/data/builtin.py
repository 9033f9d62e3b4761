"""Data sets shipped inside the package, addressed in specs as `builtin:NAME` (works from any install)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from raydistill.errors import DataError

PREFIX = "builtin:"


def available() -> list[str]:
    """Names of the shipped data sets (folders under `raydistill/assets/`)."""
    root = resources.files("raydistill") / "assets"
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))


def resolve_data_path(path: str | None) -> str | None:
    """`builtin:NAME` -> the absolute folder of that shipped data set; any other path is returned unchanged."""
    if path is None or not path.startswith(PREFIX):
        return path
    name = path[len(PREFIX) :]
    if name not in available():
        raise DataError(
            f"data.path={path!r}: no built-in data set {name!r}; available: {', '.join(available())}"
        )
    return str(Path(str(resources.files("raydistill") / "assets" / name)).resolve())
