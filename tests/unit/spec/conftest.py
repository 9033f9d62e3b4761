"""Helpers for spec tests: write a small YAML into tmp_path and get its path back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

MINIMAL = "name: t\ntask: sst2\nteacher:\n  model: bert-base-uncased\n"  # 4 lines; extra lines start at 5


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., str]:
    """`write(text_or_bytes, name="spec.yaml") -> str path` inside tmp_path."""

    def _write(text: str | bytes, name: str = "spec.yaml") -> str:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
        return str(path)

    return _write
