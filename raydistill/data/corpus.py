"""A plain-text corpus for general distillation (TinyBERT sec. 3.2): one sentence or paragraph a line, no labels.

`read_corpus` keeps every non-blank line (stripped); `encode_corpus` tokenises each line as one sequence (cut
to `max_seq_length` tokens, unpadded, as `features.encode_examples` does), with no `labels` key: a method that
trains on a corpus learns from the teacher's hidden states and attention alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from raydistill.data.features import FeatureDataset
from raydistill.errors import DataError

__all__ = ["encode_corpus", "read_corpus"]

_CHUNK = 1024  # lines per tokenizer call


def read_corpus(path: str | Path) -> list[str]:
    """The non-blank lines of a UTF-8 text file, stripped.

    Raises:
        DataError: the file is missing, unreadable, not UTF-8, or holds no text.
    """
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(
            f"corpus {str(path)!r} cannot be read ({type(err).__name__}); give a UTF-8 text file, one sentence "
            "or paragraph a line"
        ) from None
    lines = [s.strip() for s in text.splitlines() if s.strip()]
    if not lines:
        raise DataError(
            f"corpus {str(path)!r} holds no text; give a file with one sentence or paragraph a line"
        )
    return lines


def encode_corpus(lines: Sequence[str], tokenizer: Any, max_seq_length: int) -> FeatureDataset:
    """One unpadded feature dict per line: `input_ids`, `attention_mask` (and `token_type_ids` when the
    tokenizer makes them) as 1-D long tensors; no labels."""
    items: list[dict[str, torch.Tensor]] = []
    for start in range(0, len(lines), _CHUNK):
        enc = tokenizer(list(lines[start : start + _CHUNK]), truncation=True, max_length=max_seq_length)
        keys = list(enc.keys())
        for i in range(len(enc["input_ids"])):
            items.append({k: torch.tensor(enc[k][i], dtype=torch.long) for k in keys})
    return FeatureDataset(items)
