"""The length axis end to end through the real CLI and local Ray: a joint (width x depth x length) LengthDrop
supernet, the `joint` search with the GP sampler, picks that drop tokens, their export (HF + ONNX selecting the
same tokens) and the report, on the tiny teacher and tiny data."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from raydistill.layout import RunLayout
from raydistill.models.arch import Arch
from raydistill.results.points import read_points
from tests.integration.test_quickstart import REPO, _cli, _overrides
from tests.unit.training.conftest import write_sst2

pytestmark = pytest.mark.integration


def test_a_joint_length_search_runs_end_to_end(tmp_path: Path, tiny_model_dir: Path) -> None:
    spec = str(REPO / "searches" / "quickstart.yaml")
    args = _overrides(tiny_model_dir, tmp_path / "runs", write_sst2(tmp_path / "data", repeats=4))
    length = ["supernet.length.enabled=true", "search.space=joint", "search.sampler=gp", "search.num_trials=14",
              "supernet.depths=[1.0]"]  # fmt: skip
    args += [arg for v in length for arg in ("--set", v)]
    done = _cli("run", spec, *args, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    run = RunLayout(tmp_path / "runs" / "quickstart")
    supernet = json.loads(run.supernet_metrics.read_text())
    assert supernet["method"] == "lengthdrop"
    trials = pd.read_parquet(run.trials_parquet)
    archs = [Arch.from_json(j) for j in trials["arch_json"]]
    assert any(a.tokens is not None for a in archs), trials["arch_id"].tolist()  # the search dropped tokens
    assert set(trials["sampler"]) == {"gp"}
    points = read_points(run)
    assert {"teacher", "grid", "pick"} <= set(points["kind"])
    grid = points[points["kind"] == "grid"]
    assert grid["label"].str.contains("-k").any(), grid[
        "label"
    ].tolist()  # length grid points, priced cheaper
    picks = points[points["kind"] == "pick"]
    assert (picks["export_dir"] != "").all()
    for export_dir in picks["export_dir"]:
        folder = Path(export_dir) if Path(export_dir).is_absolute() else tmp_path / export_dir
        assert (folder / "model.onnx").is_file() and (folder / "config.json").is_file()
    html = (tmp_path / "reports" / "quickstart" / "index.html").read_text(encoding="utf-8")
    assert "Plotly.newPlot" in html
