"""The report's data: best Arch per budget, the Pareto front, hypervolume history, the points and header facts.

Built once from `ReportInputs` (pure pandas, no drawing); the HTML and markdown writers only format these
tables, so both show the same numbers. Nothing here chooses a model: the per-budget picks are the points table's
`pick` rows (computed once, by the picks stage, with the search-split metric; dev is only reported for them,
ALGORITHMS.md "LAT"); the Pareto front and hypervolume are those of the trial table, when the run has one.
Budgets price encoder FLOPs (`results.pareto` "Budgets"): a budget b admits total-FLOPs ratios up to
`budget_limit(b, inputs.fixed_ratio)`, which the budget table shows as `flops_limit` and `budget_note` states.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from raydistill.models.arch import Arch
from raydistill.report.cells import (
    display_columns,
    fmt_gflops,
    fmt_metric,
    fmt_millions,
    fmt_ms,
    fmt_percent,
    fmt_percent2,
    fmt_signed,
    fmt_text,
    has_text,
)
from raydistill.report.inputs import ReportInputs
from raydistill.report.scores import other_scores, split_facts
from raydistill.report.shapes import SHAPE_COLUMNS, pick_shapes
from raydistill.results.pareto import budget_limit, hypervolume_history, pareto_front, reference_for
from raydistill.results.table import empty_table

__all__ = [
    "ReportData",
    "budget_note",
    "build_report_data",
    "display_budget_table",
    "display_front_table",
    "display_points_table",
    "latency_note",
    "model_text",
    "no_search_note",
    "objective_text",
    "retrain_note",
]

BUDGET_COLUMNS = [
    "budget",
    "flops_limit",
    "trial_id",
    "arch_id",
    "flops_ratio",
    "params",
    "search_metric",
    "dev_metric",
    "dev_minus_teacher",
]


@dataclass(frozen=True, eq=False)
class ReportData:
    """Tables a report shows (raw numbers, not text).

    Attributes:
        budgets: one row per `pick` row, by budget (`BUDGET_COLUMNS`, plus `latency_ms` when some point has a
            measured latency, and `retrained_dev` / `retrained_minus_teacher` when the run re-trained its picks);
            no rows when the run has no picks.
        front: the Pareto-front rows of the trial table (all table columns), sorted by FLOPs ratio; no rows
            without a search.
        picks: the `pick` rows, once per model (by FLOPs ratio), with a `budgets` column (the budgets, as
            fractions, each one is the pick of) and a `trial_id` column (a trial that evaluated its Arch, or "").
        history: `results.hypervolume_history` of the trial table (no rows without a search).
        points: the points table (every model of the run, in table order).
        facts: (label, value text) pairs for the report header.
        shapes: each pick's heads, FFN width and kept tokens per teacher layer (`report.shapes.pick_shapes`);
            no rows without picks.
    """

    budgets: pd.DataFrame
    front: pd.DataFrame
    picks: pd.DataFrame
    history: pd.DataFrame
    points: pd.DataFrame
    facts: list[tuple[str, str]]
    shapes: pd.DataFrame


def _shapes(inputs: ReportInputs, picks: pd.DataFrame) -> pd.DataFrame:
    """The picks' per-layer shapes, priced at the teacher row's cost length (none without a teacher Arch)."""
    teacher = inputs.teacher
    if not teacher["arch_json"] or not len(picks):
        return pd.DataFrame(columns=SHAPE_COLUMNS)
    return pick_shapes(picks, Arch.from_json(teacher["arch_json"]), int(teacher["seq_length"]))


def _trial_ids(trials: pd.DataFrame) -> dict[str, str]:
    """Arch id -> the first `ok` trial that evaluated it (a front row first), to name a pick's trial."""
    ok = trials[trials["status"] == "ok"]
    ranked = pd.concat([ok[ok["on_front"]], ok[~ok["on_front"]]])
    return dict(zip(ranked["arch_id"][::-1], ranked["trial_id"][::-1], strict=True))


def _model_key(row: pd.Series) -> str:
    return str(row["arch_id"]) or str(row["label"])


def _pick_rows(inputs: ReportInputs, trial_ids: dict[str, str]) -> pd.DataFrame:
    """The `pick` rows, once per model (sorted by FLOPs ratio), with the budgets they are the pick of."""
    picks = inputs.rows("pick").sort_values("budget", kind="stable")
    keys = [_model_key(row) for _, row in picks.iterrows()]
    budgets: dict[str, list[float]] = {}
    for key, budget in zip(keys, picks["budget"], strict=True):
        budgets.setdefault(key, []).append(float(budget))
    once = picks[~pd.Series(keys, index=picks.index).duplicated()]
    once = once.assign(
        budgets=list(budgets.values()), trial_id=[trial_ids.get(str(a), "") for a in once["arch_id"]]
    )
    return once.sort_values("flops_ratio", kind="stable")


def _by_arch(rows: pd.DataFrame, column: str) -> dict[str, float]:
    """Arch id -> `column` of the first row of that Arch where it is set."""
    out: dict[str, float] = {}
    for arch_id, value in zip(rows["arch_id"], rows[column], strict=True):
        if arch_id and not math.isnan(value):
            out.setdefault(str(arch_id), float(value))
    return out


def _budget_table(inputs: ReportInputs, trial_ids: dict[str, str]) -> pd.DataFrame:
    teacher_metric = float(inputs.teacher["metric"])
    retrained = _by_arch(inputs.rows("retrained"), "dev_metric") if len(inputs.rows("retrained")) else None
    with_latency = bool(inputs.points["latency_ms"].notna().any())
    # the export measures the model it exports: the pick, or its re-trained weights
    latency = _by_arch(inputs.points[inputs.points["kind"].isin(["pick", "retrained"])], "latency_ms")
    picks = {float(row["budget"]): row for _, row in inputs.rows("pick").iterrows()}
    rows = []
    for budget in inputs.budgets:
        row: dict[str, Any] = {c: math.nan for c in BUDGET_COLUMNS} | {
            "budget": budget,
            "trial_id": "",
            "arch_id": "",
        }
        row["flops_limit"] = budget_limit(budget, inputs.fixed_ratio)
        pick = picks.get(budget)
        if pick is None:  # nothing fits this budget: the table says so
            rows.append(row)
            continue
        arch_id = str(pick["arch_id"])
        row |= {
            "trial_id": trial_ids.get(arch_id, ""),
            "arch_id": arch_id or str(pick["label"]),
            **{c: pick[c] for c in ("flops_ratio", "params", "search_metric", "dev_metric")},
            "dev_other": other_scores(pick["dev_scores"], inputs.metric_name),
            "dev_minus_teacher": float(pick["dev_metric"]) - teacher_metric,
        }
        if with_latency:
            own = float(pick["latency_ms"])
            row["latency_ms"] = own if not math.isnan(own) else latency.get(arch_id, math.nan)
        if retrained is not None:
            after = retrained.get(arch_id, math.nan)
            row |= {"retrained_dev": after, "retrained_minus_teacher": after - teacher_metric}
        rows.append(row)
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=BUDGET_COLUMNS)


def _count_kinds(points: pd.DataFrame) -> str:
    counts = points["kind"].value_counts(sort=False)
    return f"{len(points)} (" + ", ".join(f"{n} {kind}" for kind, n in counts.items()) + ")"


def _search_facts(inputs: ReportInputs, trials: pd.DataFrame, history: pd.DataFrame) -> list[tuple[str, str]]:
    t = trials
    shown = [s for s in ("ok", "infeasible", "failed", "error") if s != "failed" or (t["status"] == s).any()]
    counts = ", ".join(f"{(t['status'] == s).sum()} {s}" for s in shown)
    hv = history["hypervolume"].iloc[-1] if len(history) else 0.0
    reference = reference_for(inputs.metric_name)
    budgets = ", ".join(fmt_percent(b) for b in inputs.budgets) + " of the teacher's encoder FLOPs"
    return [
        ("sampler", inputs.sampler_label),
        ("objectives", objective_text(inputs)),
        ("trials", f"{len(t)} ({counts}); {int(t['on_front'].sum())} on the Pareto front"),
        ("budgets", budgets if inputs.budgets else "no picks in the points table"),
        ("hypervolume", f"{hv:.4f} (reference: {inputs.metric_name} {reference[0]:g}, FLOPs 100%)"),
    ]


def objective_text(inputs: ReportInputs) -> str:
    """What the search optimised (`search.objective`, from `search/meta.json`), in words."""
    metric = f"search-split {inputs.metric_name} (max)"
    if inputs.objective != "latency":
        return f"{metric} vs FLOPs as a ratio of the teacher's (min, analytic)"
    return (
        f"{metric} vs latency ratio (min): {inputs.objective_how or 'measured CPU latency'}; budgets, the front, "
        "the hypervolume and the figures here are in FLOPs, the trial table holds the latencies"
    )


def _facts(inputs: ReportInputs, trials: pd.DataFrame, history: pd.DataFrame) -> list[tuple[str, str]]:
    teacher = inputs.teacher
    facts = [
        ("run", inputs.name),
        ("task", inputs.task),
        (f"teacher dev {inputs.metric_name}", _teacher_scores(inputs)),
        ("teacher size", f"{fmt_gflops(teacher['flops'])} GFLOPs, {fmt_millions(teacher['params'])} params"),
    ]
    search = _search_facts(inputs, trials, history) if inputs.has_search else [("search", "none")]
    return [*facts, *split_facts(inputs.points), *search, ("models", _count_kinds(inputs.points))]


def _teacher_scores(inputs: ReportInputs) -> str:
    row = inputs.rows("teacher").iloc[0]
    others = other_scores(row["dev_scores"], inputs.metric_name)
    return fmt_metric(row["dev_metric"]) + (f" ({others})" if others else "")


def build_report_data(inputs: ReportInputs) -> ReportData:
    """Compute every table of the report from `inputs` (reading the picks, never choosing them)."""
    trials = inputs.trials if inputs.trials is not None else empty_table()
    history = hypervolume_history(trials, reference=reference_for(inputs.metric_name))
    trial_ids = _trial_ids(trials)
    picks = _pick_rows(inputs, trial_ids)
    return ReportData(
        budgets=_budget_table(inputs, trial_ids),
        front=pareto_front(trials),
        picks=picks,
        history=history,
        points=inputs.points,
        facts=_facts(inputs, trials, history),
        shapes=_shapes(inputs, picks),
    )


def budget_note(inputs: ReportInputs) -> str:
    """The budget rule in words, with this run's numbers (shown next to the budget table; needs a budget)."""
    fixed = 100 * inputs.fixed_ratio
    b = inputs.budgets[0]
    return (
        f"A budget b admits a sub-network whose encoder FLOPs (the transformer layers, which width, depth and "
        f"token dropping shrink) are at most b x the teacher's. The pooler and task head ({fixed:.2f}% of the "
        f"teacher's FLOPs) are a fixed cost every sub-network pays, so a budget admits up to b + (1 - b) x "
        f"{fixed:.2f}% of the teacher's total FLOPs (the FLOPs limit column): budget {fmt_percent(b)} admits "
        f"{fmt_percent2(budget_limit(b, inputs.fixed_ratio))}."
    )


def latency_note(inputs: ReportInputs) -> str | None:
    """What the latency column holds, when some model's latency was measured."""
    if not inputs.points["latency_ms"].notna().any():
        return None
    return "Latency: median milliseconds of the exported model, as the export stage measured it."


def retrain_note(inputs: ReportInputs) -> str | None:
    """What the re-trained columns mean, when the run re-trained its picks."""
    if not len(inputs.rows("retrained")):
        return None
    return (
        "Re-trained: each chosen Arch was cut out of the supernet and trained further on its own by distillation "
        "from the teacher (`search.retrain`); the exported model holds the re-trained weights."
    )


def no_search_note(inputs: ReportInputs) -> str | None:
    """What the report leaves out when the run had no search (no trial table), else None."""
    if inputs.has_search:
        return None
    return (
        "No search ran in this run (it has no trial table): there is no Pareto front, no hypervolume and no "
        "per-budget pick; the report shows the models the run produced."
    )


def display_budget_table(data: ReportData, metric_name: str) -> pd.DataFrame:
    """The best-per-budget table as display text (column labels included)."""
    table = data.budgets.copy()
    table["arch_id"] = [a if a else "nothing fits" for a in table["arch_id"]]
    return display_columns(
        table,
        [
            ("budget", "budget (encoder FLOPs)", fmt_percent),
            ("flops_limit", "FLOPs limit (% teacher)", fmt_percent2),
            ("arch_id", "Arch", fmt_text),
            ("dev_metric", f"dev {metric_name}", fmt_metric),
            *([("dev_other", "dev (other metrics)", fmt_text)] if has_text(table, "dev_other") else []),
            ("dev_minus_teacher", "dev vs teacher", fmt_signed),
            ("retrained_dev", f"dev {metric_name} re-trained", fmt_metric),
            ("retrained_minus_teacher", "re-trained vs teacher", fmt_signed),
            ("search_metric", f"search {metric_name}", fmt_metric),
            ("flops_ratio", "FLOPs (% teacher)", fmt_percent2),
            ("params", "params", fmt_millions),
            ("latency_ms", "latency (ms)", fmt_ms),
            ("trial_id", "trial", fmt_text),
        ],
    )


def display_front_table(data: ReportData, metric_name: str) -> pd.DataFrame:
    """The Pareto front as display text, by increasing FLOPs."""
    return display_columns(
        data.front,
        [
            ("arch_id", "Arch", fmt_text),
            ("flops_ratio", "FLOPs (% teacher)", fmt_percent),
            ("search_metric", f"search {metric_name}", fmt_metric),
            ("dev_metric", f"dev {metric_name}", fmt_metric),
            ("params", "params", fmt_millions),
            ("trial_id", "trial", fmt_text),
        ],
    )


def model_text(arch_id: str, config_json: str) -> str:
    """A point's shape in one line: its Arch id, else its own config (`layers 4, hidden 256, ...`)."""
    if arch_id:
        return arch_id
    try:
        config = json.loads(config_json)
    except ValueError:
        return config_json
    if not isinstance(config, dict):
        return config_json
    return ", ".join(f"{k} {v}" for k, v in config.items())


def display_points_table(data: ReportData, metric_name: str) -> pd.DataFrame:
    """Every model of the run (the points table, in its order) as display text; `note` only when one is set."""
    table = data.points.assign(
        model=[
            model_text(a, c) for a, c in zip(data.points["arch_id"], data.points["config_json"], strict=True)
        ]
    )
    columns = [
        ("label", "model", fmt_text),
        ("kind", "kind", fmt_text),
        ("method", "method", fmt_text),
        ("model", "Arch / config", fmt_text),
        ("flops", "GFLOPs", fmt_gflops),
        ("flops_ratio", "FLOPs (% teacher)", fmt_percent2),
        ("params", "params", fmt_millions),
        ("search_metric", f"search {metric_name}", fmt_metric),
        ("dev_metric", f"dev {metric_name}", fmt_metric),
        ("latency_ms", "latency (ms)", fmt_ms),
    ]
    others = table["dev_scores"].map(lambda v: other_scores(v, metric_name))
    if (others != "").any():
        table = table.assign(dev_other=others)
        columns.insert(columns.index(("dev_metric", f"dev {metric_name}", fmt_metric)) + 1,
                       ("dev_other", "dev (other metrics)", fmt_text))  # fmt: skip
    if (table["note"] != "").any():
        columns.append(("note", "note", fmt_text))
    return display_columns(table, columns)
