"""Register the exported sub-network model type with transformers' Auto classes, without importing torch early.

After `import raydistill`, `AutoModelForSequenceClassification.from_pretrained(export_dir)` (and AutoConfig,
AutoModel, AutoModelForQuestionAnswering) load `model_type="raydistill_bert"` directories. Registering needs
transformers and torch (about 4 s to import), which `import raydistill` must not pay: the CLI and the spec layer
stay light. So `register_on_transformers_import` registers at once when transformers is already imported, and
otherwise registers right after the first `import transformers` (a one-shot `sys.meta_path` finder that wraps the
module's `exec_module`). Without torch/transformers installed, nothing is registered and nothing fails.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType

__all__ = ["register_auto_classes", "register_on_transformers_import"]


def register_auto_classes() -> bool:
    """Make `AutoConfig`, `AutoModel`, `AutoModelForSequenceClassification` and `AutoModelForQuestionAnswering`
    resolve `model_type="raydistill_bert"` now (imports torch and transformers). Idempotent.

    Returns:
        False when torch/transformers are not installed (nothing registered), else True.
    """
    try:
        from transformers import (
            AutoConfig,
            AutoModel,
            AutoModelForQuestionAnswering,
            AutoModelForSequenceClassification,
        )

        from raydistill.models import hf_subnet as sub
    except ImportError:
        return False
    AutoConfig.register(sub.MODEL_TYPE, sub.SubnetBertConfig, exist_ok=True)
    AutoModel.register(sub.SubnetBertConfig, sub.SubnetBertModel, exist_ok=True)
    AutoModelForSequenceClassification.register(
        sub.SubnetBertConfig, sub.SubnetBertForSequenceClassification, exist_ok=True
    )
    AutoModelForQuestionAnswering.register(
        sub.SubnetBertConfig, sub.SubnetBertForQuestionAnswering, exist_ok=True
    )
    return True


class _AfterTransformersImport(importlib.abc.MetaPathFinder):
    """One-shot finder: lets the normal finders locate `transformers`, then registers after it has executed."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "transformers":
            return None
        sys.meta_path.remove(self)  # one shot; also keeps the lookup below from recursing into this finder
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run_module = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run_module(module)
            register_auto_classes()

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def register_on_transformers_import() -> None:
    """Register now if transformers is imported, else as soon as it is (see the module docstring)."""
    if "transformers" in sys.modules:
        register_auto_classes()
    elif not any(isinstance(finder, _AfterTransformersImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterTransformersImport())
