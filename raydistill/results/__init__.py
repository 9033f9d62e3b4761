"""Results layer: the trial table (fixed schema, parquet/CSV) and Pareto/hypervolume data (pure numpy/pandas).

No Ray, no Optuna, no plotting: `report/` draws what these functions compute.
"""

from __future__ import annotations

from raydistill.results.pareto import (
    BUDGET_TOL,
    DEFAULT_REFERENCE,
    best_per_budget,
    budget_limit,
    front_flags,
    hypervolume,
    hypervolume_history,
    pareto_front,
    pareto_mask,
    reference_for,
    within_budget,
    worst_value,
)
from raydistill.results.table import (
    COLUMNS,
    CSV_FILE,
    PARQUET_FILE,
    STATUSES,
    empty_table,
    make_table,
    read_table,
    validate_table,
    with_dev_metrics,
    write_table,
)

__all__ = [
    "BUDGET_TOL",
    "COLUMNS",
    "CSV_FILE",
    "DEFAULT_REFERENCE",
    "PARQUET_FILE",
    "STATUSES",
    "best_per_budget",
    "budget_limit",
    "empty_table",
    "front_flags",
    "hypervolume",
    "hypervolume_history",
    "make_table",
    "pareto_front",
    "pareto_mask",
    "read_table",
    "reference_for",
    "validate_table",
    "with_dev_metrics",
    "within_budget",
    "worst_value",
    "write_table",
]
