"""raydistill: Ray-distributed search platform for BERT compression."""

from __future__ import annotations

__version__ = "0.1.0"

try:  # `AutoModelFor*.from_pretrained(export_dir)` works after `import raydistill` (lazy: no torch import here)
    from raydistill.models.auto_classes import register_on_transformers_import

    register_on_transformers_import()
except ImportError:  # pragma: no cover - a broken install; the package still imports
    pass
