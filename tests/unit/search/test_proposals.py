"""Unique proposals: random new Archs until the space runs out, and the record of running out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from raydistill.search.proposals import EXHAUSTED_FILE, Proposals, read_exhausted
from raydistill.search.spaces import DefineByRun
from tests.unit.search.conftest import make_ctx

# width_depth over the 4-layer tiny BERT: 4 widths x 3 depths (4, 3, 2 layers) = 12 distinct Archs
SPACE = DefineByRun("width_depth", make_ctx(num_layers=4))


def test_fresh_random_finds_every_arch_then_none(tmp_path: Path) -> None:
    proposals, rng = Proposals(str(tmp_path / EXHAUSTED_FILE)), np.random.default_rng(0)
    found = []
    while (fresh := proposals.fresh_random(SPACE, rng)) is not None:
        genes, values = fresh
        assert values["arch_id"] not in found and set(genes) == {"width", "depth"}
        found.append(values["arch_id"])
        proposals.add(values["arch_id"])
    assert len(found) == 12
    assert read_exhausted(tmp_path) is None  # only `mark_exhausted` records it
    proposals.mark_exhausted()
    assert read_exhausted(tmp_path) == 12


def test_without_a_file_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a relative default would land here
    proposals = Proposals()
    proposals.add("L1-H1-F16")
    proposals.mark_exhausted()
    assert not proposals.is_new("L1-H1-F16") and proposals.is_new("L2-H1x2-F16x2")
    assert list(tmp_path.iterdir()) == []
