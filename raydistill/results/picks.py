"""Budget picks of a finished search: the best Arch per budget, and the FLOPs share budgets leave out.

Pure functions over the trial table and the search's `meta.json` (no Ray, no Optuna), so the search, the
retrain and export stages and the report read the picks the same way.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from raydistill.errors import RunError
from raydistill.layout import META_FILE  # the search's record, in the run's search/ dir
from raydistill.results.pareto import best_per_budget

__all__ = ["META_FILE", "best_arch_ids", "read_fixed_ratio"]



def best_arch_ids(
    table: pd.DataFrame, budgets: Sequence[float], fixed_ratio: float
) -> dict[float, str | None]:
    """Budget -> arch id of the best `ok` trial on the search split within it (None if nothing fits).

    `fixed_ratio` is the run's unshrinkable share of the teacher's FLOPs (`SpaceContext.fixed_ratio`, recorded
    in `search/meta.json`): budgets price encoder FLOPs (`results.pareto` "Budgets").
    """
    picks = best_per_budget(table, budgets, "search_metric", "flops_ratio", fixed_ratio=fixed_ratio)
    return {b: (None if row is None else str(row["arch_id"])) for b, row in picks.items()}


def read_fixed_ratio(directory: Path) -> float:
    """`fixed_ratio` of the search whose `meta.json` is in `directory` (the run's `search/`).

    Raises:
        RunError: no such file, or one without a valid `fixed_ratio` (written before budgets priced encoder
            FLOPs); the message says how to redo the search.
    """
    path = Path(directory) / META_FILE
    redo = f"delete {Path(directory)} and rerun `raydistill run SPEC` to search again"
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("fixed_ratio")
    except (OSError, ValueError, AttributeError) as e:
        raise RunError(f"{path}: cannot read the search's meta.json ({e}); {redo}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise RunError(
            f"{path}: fixed_ratio is {value!r}, expected a number in [0, 1) (the pooler and task head's share "
            f"of the teacher's FLOPs, which FLOPs budgets need); the search predates it: {redo}"
        )
    return float(value)
