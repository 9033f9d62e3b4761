"""Models layer: `Arch` sub-networks, the elastic BERT forward, importance reordering and analytic FLOPs.

Pure torch + transformers (never ray/optuna). Public names are re-exported here lazily (PEP 562), so importing
a light submodule such as `raydistill.models.arch` does not pull in torch/transformers.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "arch": ["Arch", "kept_layers", "teacher_hidden_map", "teacher_layer_map", "width_to_heads_ffn"],
    "bert": ["ElasticBert", "ElasticOutput", "elastic_forward", "task_loss", "unwrap_model"],
    "flops": ["FlopsBreakdown", "count_flops", "flops_ratio", "params", "teacher_flops"],
    "reorder": ["compute_importance", "reorder_"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'raydistill.models' has no attribute {name!r}")
    return getattr(importlib.import_module(f"raydistill.models.{_WHERE[name]}"), name)
