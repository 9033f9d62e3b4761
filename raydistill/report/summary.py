"""The report's data: best Arch per budget, the Pareto front, hypervolume history and header facts.

Built once from `ReportInputs` (pure pandas, no drawing); the HTML and markdown writers only format these
tables, so both show the same numbers. Choices follow `results.pareto`: the Pareto front and the pick per
budget use the search-split metric (never dev: dev is only reported for the chosen Archs, ALGORITHMS.md "LAT").
Budgets price encoder FLOPs (`results.pareto` "Budgets"): a budget b admits total-FLOPs ratios up to
`budget_limit(b, inputs.fixed_ratio)`, which the budget table shows as `flops_limit` and `budget_note` states.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from raydistill.report.inputs import ReportInputs
from raydistill.results.pareto import (
    best_per_budget,
    budget_limit,
    hypervolume_history,
    pareto_front,
    reference_for,
)

__all__ = [
    "ReportData",
    "budget_note",
    "build_report_data",
    "display_budget_table",
    "display_front_table",
    "latency_note",
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
FRONT_COLUMNS = ["trial_id", "arch_id", "flops_ratio", "params", "search_metric", "dev_metric"]


@dataclass(frozen=True, eq=False)
class ReportData:
    """Tables a report shows (raw numbers, not text).

    Attributes:
        budgets: one row per budget (`BUDGET_COLUMNS`, plus `latency_ms` when latency was given, and
            `retrained_dev` / `retrained_minus_teacher` when the run re-trained its picks); a budget nothing
            fits has empty ids and NaN numbers.
        front: the Pareto-front rows of the trial table (all table columns), sorted by FLOPs ratio.
        picks: the trial rows chosen for some budget (all table columns, each trial once, by FLOPs ratio) with
            a `budgets` column: the budgets (fractions) each one is the pick of.
        history: `results.hypervolume_history` of the trial table.
        facts: (label, value text) pairs for the report header.
    """

    budgets: pd.DataFrame
    front: pd.DataFrame
    picks: pd.DataFrame
    history: pd.DataFrame
    facts: list[tuple[str, str]]


def _picks(inputs: ReportInputs) -> dict[float, pd.Series | None]:
    return best_per_budget(inputs.trials, inputs.budgets, fixed_ratio=inputs.fixed_ratio)


def _pick_rows(picks: dict[float, pd.Series | None], trials: pd.DataFrame) -> pd.DataFrame:
    """The chosen trial rows, once each (sorted by FLOPs ratio), with the budgets they are the pick of."""
    budgets: dict[Any, list[float]] = {}
    for budget, pick in picks.items():
        if pick is not None:
            budgets.setdefault(pick.name, []).append(budget)
    rows = trials.loc[list(budgets)].assign(budgets=list(budgets.values()))
    return rows.sort_values("flops_ratio", kind="stable")


def _budget_table(inputs: ReportInputs, picks: dict[float, pd.Series | None]) -> pd.DataFrame:
    rows = []
    teacher_metric = float(inputs.teacher["metric"])
    for budget, pick in picks.items():
        row: dict[str, Any] = {c: math.nan for c in BUDGET_COLUMNS} | {"budget": budget}
        row["flops_limit"] = budget_limit(budget, inputs.fixed_ratio)
        row |= {"trial_id": "", "arch_id": ""}
        if pick is not None:
            row |= {c: pick[c] for c in FRONT_COLUMNS}
            row["dev_minus_teacher"] = float(pick["dev_metric"]) - teacher_metric
        if inputs.latency is not None:
            row["latency_ms"] = float(inputs.latency.get(row["arch_id"], {}).get("latency_ms", math.nan))
        if inputs.retrained is not None:
            after = float(inputs.retrained.get(row["arch_id"], {}).get("dev_after", math.nan))
            row |= {"retrained_dev": after, "retrained_minus_teacher": after - teacher_metric}
        rows.append(row)
    return pd.DataFrame(rows)


def _facts(inputs: ReportInputs, history: pd.DataFrame) -> list[tuple[str, str]]:
    t = inputs.trials
    shown = [s for s in ("ok", "infeasible", "failed", "error") if s != "failed" or (t["status"] == s).any()]
    counts = ", ".join(f"{(t['status'] == s).sum()} {s}" for s in shown)
    teacher = inputs.teacher
    hv = history["hypervolume"].iloc[-1] if len(history) else 0.0
    reference = reference_for(inputs.metric_name)
    return [
        ("run", inputs.name),
        ("task", inputs.task),
        (f"teacher dev {inputs.metric_name}", _metric(teacher["metric"])),
        ("teacher size", f"{_gflops(teacher['flops'])} GFLOPs, {_millions(teacher['params'])} params"),
        ("sampler", inputs.sampler_label),
        ("trials", f"{len(t)} ({counts}); {int(t['on_front'].sum())} on the Pareto front"),
        ("budgets", ", ".join(_percent(b) for b in inputs.budgets) + " of the teacher's encoder FLOPs"),
        ("hypervolume", f"{hv:.4f} (reference: {inputs.metric_name} {reference[0]:g}, FLOPs 100%)"),
    ]


def build_report_data(inputs: ReportInputs) -> ReportData:
    """Compute every table of the report from `inputs`."""
    history = hypervolume_history(inputs.trials, reference=reference_for(inputs.metric_name))
    picks = _picks(inputs)
    return ReportData(
        budgets=_budget_table(inputs, picks),
        front=pareto_front(inputs.trials),
        picks=_pick_rows(picks, inputs.trials),
        history=history,
        facts=_facts(inputs, history),
    )


def budget_note(inputs: ReportInputs) -> str:
    """The budget rule in words, with this run's numbers (shown next to the budget table)."""
    fixed = 100 * inputs.fixed_ratio
    b = inputs.budgets[0]
    return (
        f"A budget b admits a sub-network whose encoder FLOPs (the transformer layers, which width, depth and "
        f"token dropping shrink) are at most b x the teacher's. The pooler and task head ({fixed:.2f}% of the "
        f"teacher's FLOPs) are a fixed cost every sub-network pays, so a budget admits up to b + (1 - b) x "
        f"{fixed:.2f}% of the teacher's total FLOPs (the FLOPs limit column): budget {_percent(b)} admits "
        f"{_percent2(budget_limit(b, inputs.fixed_ratio))}."
    )


def latency_note(inputs: ReportInputs) -> str | None:
    """How latency was measured (batch size, sequence length, device, runtime), from the latency entries."""
    if not inputs.latency:
        return None
    keys = ("batch_size", "seq_len", "device", "runtime")
    setups = sorted({", ".join(f"{k} {e[k]}" for k in keys if k in e) for e in inputs.latency.values()})
    setups = [s for s in setups if s]
    where = "; ".join(setups) if setups else "setup not recorded"
    return f"Latency: median milliseconds of the exported sub-network ({where})."


def retrain_note(inputs: ReportInputs) -> str | None:
    """What the re-trained columns mean, when the run re-trained its picks."""
    if inputs.retrained is None:
        return None
    return (
        "Re-trained: each chosen Arch was cut out of the supernet and trained further on its own by distillation "
        "from the teacher (`search.retrain`); the exported model holds the re-trained weights."
    )


# ------------------------------------------------------------------ formatting shared by html and markdown
def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def _metric(value: Any) -> str:
    return "n/a" if _missing(value) else f"{float(value):.4f}"


def _signed(value: Any) -> str:
    return "n/a" if _missing(value) else f"{float(value):+.4f}"


def _percent(value: Any) -> str:
    return "n/a" if _missing(value) else f"{100 * float(value):.1f}%"


def _percent2(value: Any) -> str:
    return "n/a" if _missing(value) else f"{100 * float(value):.2f}%"


def _millions(value: Any) -> str:
    return "n/a" if _missing(value) else f"{float(value) / 1e6:.2f}M"


def _gflops(value: Any) -> str:
    return "n/a" if _missing(value) else f"{float(value) / 1e9:.3g}"


def _ms(value: Any) -> str:
    return "n/a" if _missing(value) else f"{float(value):.2f}"


def _text(value: Any) -> str:
    return "-" if _missing(value) else str(value)


def _display(df: pd.DataFrame, columns: list[tuple[str, str, Callable[[Any], str]]]) -> pd.DataFrame:
    """Strings for display: (source column, label, formatter) for each column present in `df`."""
    return pd.DataFrame({label: [fmt(v) for v in df[col]] for col, label, fmt in columns if col in df})


def display_budget_table(data: ReportData, metric_name: str) -> pd.DataFrame:
    """The best-per-budget table as display text (column labels included)."""
    table = data.budgets.copy()
    table["arch_id"] = [a if a else "nothing fits" for a in table["arch_id"]]
    return _display(
        table,
        [
            ("budget", "budget (encoder FLOPs)", _percent),
            ("flops_limit", "FLOPs limit (% teacher)", _percent2),
            ("arch_id", "Arch", _text),
            ("dev_metric", f"dev {metric_name}", _metric),
            ("dev_minus_teacher", "dev vs teacher", _signed),
            ("retrained_dev", f"dev {metric_name} re-trained", _metric),
            ("retrained_minus_teacher", "re-trained vs teacher", _signed),
            ("search_metric", f"search {metric_name}", _metric),
            ("flops_ratio", "FLOPs (% teacher)", _percent2),
            ("params", "params", _millions),
            ("latency_ms", "latency (ms)", _ms),
            ("trial_id", "trial", _text),
        ],
    )


def display_front_table(data: ReportData, metric_name: str) -> pd.DataFrame:
    """The Pareto front as display text, by increasing FLOPs."""
    return _display(
        data.front,
        [
            ("arch_id", "Arch", _text),
            ("flops_ratio", "FLOPs (% teacher)", _percent),
            ("search_metric", f"search {metric_name}", _metric),
            ("dev_metric", f"dev {metric_name}", _metric),
            ("params", "params", _millions),
            ("trial_id", "trial", _text),
        ],
    )
