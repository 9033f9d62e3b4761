"""Search layer (Ray Tune + Optuna): sub-networks of a trained supernet, metric vs FLOPs under budgets.

- `spaces`: define-by-run search spaces (`width_depth`, `layerwise`; `length`, `joint` in `length_spaces`) and
  the analytic FLOPs pricing that runs before anything is evaluated.
- `evaluator`, `trainable`: one trial = one Arch scored on the search split (never dev).
- `samplers`, `evolution`: NSGA-II (default), multi-objective TPE, random, GP, `auto` (GP or NSGA-II by the
  trial budget) and LAT's evolutionary baseline, all as Tune searchers over the same space and trainable.
- `tuner`: `run_search(spec, supernet_dir, run_dir)`, the stage builder (the only spec reader here).
- `final`: the chosen Archs scored on dev, once each.

Public names are re-exported lazily (PEP 562): a Tune worker that imports `raydistill.search.trainable` does
not load the driver-side modules (Optuna, the tuner, pandas tables).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "evaluator": ["cap_evalset", "evaluate_arch", "worst_value"],
    "evolution": ["EvolutionSearcher"],
    "final": ["dev_candidates", "evaluate_on_dev", "main_dev_values"],
    "samplers": ["SAMPLERS", "ConstrainedOptunaSearch", "SamplerOptions", "make_searcher"],
    "spaces": [
        "COST_KEY",
        "SPACES",
        "Candidate",
        "DefineByRun",
        "SpaceContext",
        "get_space",
        "layerwise",
        "register_space",
        "width_depth",
    ],
    "trainable": ["TrialPayload", "run_trial", "search_trial"],
    "tuner": ["SearchInterrupted", "SearchResult", "run_search"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'raydistill.search' has no attribute {name!r}")
    return getattr(importlib.import_module(f"raydistill.search.{_WHERE[name]}"), name)
