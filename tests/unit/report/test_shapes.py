"""The report's per-pick shape picture: heads, FFN width and kept tokens per teacher layer, as data (hand-computed
on a token-dropping pick), as a figure in index.html and as a table in summary.md."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from raydistill.models.arch import Arch
from raydistill.report import build_report
from raydistill.report.inputs import ReportInputs
from raydistill.report.shapes import pick_shapes, shapes_figure, shapes_table
from raydistill.report.summary import build_report_data
from tests.unit.report.conftest import SEQ_LENGTH, make_run_points, make_trials, point

TEACHER = Arch.from_multipliers(1.0, 1.0, 6, 12, 3072)
# layers 1, 3, 5 of the teacher; keeps 90%, then 72%, then 50% of the input
DROPPING = Arch((1, 3, 5), (12, 6, 3), (3072, 1536, 768), (0.9, 0.72, 0.5))


def _picks() -> pd.DataFrame:
    return pd.DataFrame({"arch_json": [DROPPING.to_json()], "budgets": [[0.25, 0.5]]})


def test_shapes_per_teacher_layer_by_hand() -> None:
    shapes = pick_shapes(_picks(), TEACHER, seq_len=10)
    assert list(shapes["layer"]) == [0, 1, 2, 3, 4, 5]
    assert list(shapes["kept"]) == [False, True, False, True, False, True]
    kept = shapes[shapes["kept"]]
    assert list(kept["heads"]) == [12, 6, 3] and list(kept["ffn"]) == [3072, 1536, 768]
    assert list(kept["tokens"]) == [9, 8, 5]  # ceil(0.9 x 10), ceil(0.72 x 10), ceil(0.5 x 10)
    assert list(kept["heads_pct"]) == [100, 50, 25] and list(kept["tokens_pct"]) == [90, 80, 50]
    dropped = shapes[~shapes["kept"]]
    assert dropped[["heads", "ffn", "tokens"]].isna().all().all()
    assert set(shapes["pick"]) == {"pick 25%, 50%"} and set(shapes["arch_id"]) == {DROPPING.id}


def test_a_pick_without_token_dropping_keeps_every_token() -> None:
    full_length = Arch((0, 1), (12, 12), (3072, 3072))
    picks = pd.DataFrame({"arch_json": [full_length.to_json()], "budgets": [[0.75]]})
    shapes = pick_shapes(picks, TEACHER, seq_len=64)
    assert list(shapes.loc[shapes["kept"], "tokens"]) == [64, 64]


def test_figure_draws_three_heatmaps_with_the_values() -> None:
    shapes = pick_shapes(_picks(), TEACHER, seq_len=10)
    fig = shapes_figure(shapes, seq_len=10)
    assert [t.type for t in fig.data] == ["heatmap"] * 3
    tokens = fig.data[2]
    assert tokens.text[0] == ["-", "9", "-", "8", "-", "5"]
    assert tokens.z[0][1] == 90
    assert tokens.z[0][0] is None or math.isnan(tokens.z[0][0])  # a dropped layer: no colour
    assert "of 10" in fig.layout.annotations[2].text


def test_table_gives_one_cell_per_layer() -> None:
    table = shapes_table(pick_shapes(_picks(), TEACHER, seq_len=10))
    assert list(table.columns) == ["pick", "Arch", "L0", "L1", "L2", "L3", "L4", "L5"]
    assert table.iloc[0]["L1"] == "12h 3072f 9t" and table.iloc[0]["L0"] == "dropped"


def _inputs_with_dropping_pick() -> ReportInputs:
    points = make_run_points()
    pick = points[points["label"] == "pick 0.25"].iloc[0]
    replaced = point("pick 0.25", "pick", "picks", "supernet", arch=DROPPING, budget=0.25, flops=int(pick["flops"]),
                     flops_ratio=float(pick["flops_ratio"]), params=int(pick["params"]))  # fmt: skip
    rows = [r for r in points.to_dict("records") if r["label"] != "pick 0.25"] + [replaced]
    return ReportInputs(name="demo-run", task="sst2", points=pd.DataFrame(rows), trials=make_trials())


def test_the_report_shows_each_picks_shape(tmp_path: Path) -> None:
    inputs = _inputs_with_dropping_pick()
    data = build_report_data(inputs)
    assert set(data.shapes["arch_id"]) == set(inputs.rows("pick")["arch_id"])
    files = build_report(inputs, tmp_path / "report")
    html = files.index_html.read_text(encoding="utf-8")
    assert 'id="fig-shapes"' in html
    md = files.summary_md.read_text(encoding="utf-8")
    assert "## Shape of each pick per teacher layer" in md
    expected = math.ceil(0.9 * SEQ_LENGTH)
    assert f"12h 3072f {expected}t" in md  # the dropping pick's first kept layer at the cost length


def test_no_shape_picture_without_picks(tmp_path: Path) -> None:
    points = make_run_points()
    inputs = ReportInputs(name="r", task="sst2", points=points[points["kind"] != "pick"], trials=make_trials())
    files = build_report(inputs, tmp_path / "report")
    assert 'id="fig-shapes"' not in files.index_html.read_text(encoding="utf-8")
