"""raydistill: Ray-distributed search platform for BERT compression."""

from __future__ import annotations

__version__ = "0.1.0"
