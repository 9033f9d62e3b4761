"""Each pick's shape, layer by layer: heads, FFN width and kept tokens per teacher layer (data, then a picture).

`pick_shapes` builds the data (pure pandas): one row per (pick, teacher layer), with the pick's heads, FFN
neurons and the tokens it keeps after that layer (`Arch.token_counts` at the run's cost length: the forward's
rounding rule, `models.token_rule`), each also as % of the teacher's; a layer the pick's depth drops has
`kept` False and NaN values. `shapes_figure` draws it as three small heatmaps side by side (rows = picks, columns
= teacher layers, colour = % of the teacher, the number in each cell), so a reader sees at a glance where a pick
thinned heads, the FFN, the sequence, or dropped a layer. `shapes_table` is the same data as display text (one
cell per layer, `12h 1536f 64t`), for summary.md.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from raydistill.models.arch import Arch

__all__ = ["SHAPE_COLUMNS", "pick_shapes", "shapes_figure", "shapes_table"]

SHAPE_COLUMNS = ["pick", "arch_id", "layer", "kept", "heads", "ffn", "tokens", "heads_pct", "ffn_pct", "tokens_pct"]
_PANELS = (("heads", "heads"), ("ffn", "FFN neurons"), ("tokens", "tokens kept"))


def _pick_label(budgets: list[float]) -> str:
    return "pick " + ", ".join(f"{100 * b:g}%" for b in budgets)


def pick_shapes(picks: pd.DataFrame, teacher: Arch, seq_len: int) -> pd.DataFrame:
    """Per-layer shape of every pick (columns `SHAPE_COLUMNS`), picks in the order given.

    Args:
        picks: `ReportData.picks` (the pick rows once per model: `arch_json`, `budgets`).
        teacher: the teacher's full Arch (its heads and FFN width per layer are the 100%).
        seq_len: the cost length kept tokens are counted at (an input of `seq_len` real tokens).
    """
    rows = []
    for _, pick in picks.iterrows():
        if not pick["arch_json"]:
            continue
        arch = Arch.from_json(pick["arch_json"])
        counts = arch.token_counts(seq_len) or (seq_len,) * arch.num_layers
        own = {layer: i for i, layer in enumerate(arch.layers)}
        for layer in teacher.layers:
            i = own.get(layer)
            heads, ffn, tokens = (math.nan,) * 3 if i is None else (arch.heads[i], arch.ffn[i], counts[i])
            rows.append({
                "pick": _pick_label(list(pick["budgets"])), "arch_id": arch.id, "layer": layer, "kept": i is not None,
                "heads": heads, "ffn": ffn, "tokens": tokens, "heads_pct": 100 * heads / teacher.heads[layer],
                "ffn_pct": 100 * ffn / teacher.ffn[layer], "tokens_pct": 100 * tokens / seq_len,
            })  # fmt: skip
    return pd.DataFrame(rows, columns=SHAPE_COLUMNS)


def _cell(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:g}"


def shapes_figure(shapes: pd.DataFrame, seq_len: int) -> go.Figure:
    """Three heatmaps (heads, FFN, tokens kept of `seq_len`): a row per pick, a column per teacher layer,
    colour = % of the teacher, text = the value; a dropped layer is a blank cell marked `-`."""
    picks = list(dict.fromkeys(shapes["pick"]))
    layers = sorted(set(shapes["layer"]))
    titles = [f"{title} (of {seq_len})" if key == "tokens" else title for key, title in _PANELS]
    fig = make_subplots(rows=1, cols=3, shared_yaxes=True, subplot_titles=titles, horizontal_spacing=0.04)
    for col, (key, title) in enumerate(_PANELS, start=1):
        grid = shapes.pivot(index="pick", columns="layer", values=f"{key}_pct").reindex(index=picks, columns=layers)
        text = shapes.pivot(index="pick", columns="layer", values=key).reindex(index=picks, columns=layers)
        fig.add_trace(
            go.Heatmap(
                z=grid.values.tolist(), x=[f"L{layer}" for layer in layers], y=picks,
                text=[[_cell(v) for v in row] for row in text.values.tolist()], texttemplate="%{text}",
                zmin=0, zmax=100, colorscale="Blues", showscale=col == 3, name=title,
                colorbar={"title": "% teacher"},
                hovertemplate="%{y}<br>layer %{x}<br>" + title + ": %{text} (%{z:.0f}% of the teacher)<extra></extra>",
            ),  # fmt: skip
            row=1,
            col=col,
        )
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(
        title="Shape of each pick per teacher layer (blank: layer dropped)",
        template="plotly_white",
        height=160 + 40 * len(picks),
    )
    return fig


def shapes_table(shapes: pd.DataFrame) -> pd.DataFrame:
    """One row per pick, one column per teacher layer: `<heads>h <ffn>f <tokens>t`, or `dropped`."""
    if shapes.empty:
        return pd.DataFrame(columns=["pick", "Arch"])
    out: dict[str, dict[str, str]] = {}
    for row in shapes.itertuples(index=False):
        cells = out.setdefault(row.pick, {"pick": row.pick, "Arch": row.arch_id})
        cells[f"L{row.layer}"] = (
            f"{row.heads:g}h {row.ffn:g}f {row.tokens:g}t" if row.kept else "dropped"
        )
    return pd.DataFrame(list(out.values()))
