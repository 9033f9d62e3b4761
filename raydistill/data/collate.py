"""Dynamic padding: each batch is padded to its own longest sequence."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import Dataset

MEGABATCH = 50  # batches per length-sorted group (as transformers' `LengthGroupedSampler`)


def sequence_lengths(dataset: Dataset) -> list[int]:
    """Unpadded length (`input_ids` tokens) of every item of a map-style feature dataset."""
    return [int(dataset[i]["input_ids"].numel()) for i in range(len(dataset))]  # type: ignore[arg-type]


def group_by_length(indices: Sequence[int], lengths: Sequence[int], batch_size: int) -> list[int]:
    """Reorder a shuffled index list so consecutive batches hold examples of similar length.

    The list is cut into megabatches of `MEGABATCH * batch_size` indices, each sorted by length, longest
    first (stable), so batches stay random at the megabatch scale while a batch pads to little more than
    its own examples' lengths. On SST-2 (seq 64, batch 32) that is ~14 padded tokens per example instead of
    ~41. The result is a permutation of `indices` and a pure function of it (resuming replays it exactly).
    """
    size = MEGABATCH * batch_size
    out: list[int] = []
    for start in range(0, len(indices), size):
        chunk = list(indices[start : start + size])
        out.extend(sorted(chunk, key=lambda i: -lengths[i]))
    return out


class PadCollator:
    """Collate feature dicts into a batch, padding 1-D tensors to the longest in the batch.

    `input_ids` is padded with `pad_token_id`, every other sequence (attention_mask, token_type_ids) with 0;
    0-D tensors (labels, start/end positions) are stacked.

    Args:
        pad_token_id: the tokenizer's pad id.
        pad_to_multiple_of: round the padded length up to a multiple of this (e.g. 8 for tensor cores).
    """

    def __init__(self, pad_token_id: int, pad_to_multiple_of: int | None = None) -> None:
        self.pad_token_id = int(pad_token_id)
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, items: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        if not items:
            raise ValueError("PadCollator got an empty batch")
        batch: dict[str, torch.Tensor] = {}
        for key in items[0]:
            values = [item[key] for item in items]
            if values[0].dim() == 0:
                batch[key] = torch.stack(values)  # (B,)
            else:
                batch[key] = self._pad(values, self.pad_token_id if key == "input_ids" else 0)  # (B, L)
        return batch

    def _pad(self, values: list[torch.Tensor], pad_value: int) -> torch.Tensor:
        length = max(v.size(0) for v in values)
        if self.pad_to_multiple_of:
            length = -(-length // self.pad_to_multiple_of) * self.pad_to_multiple_of
        out = torch.full((len(values), length), pad_value, dtype=values[0].dtype)  # (B, L)
        for row, v in enumerate(values):
            out[row, : v.size(0)] = v
        return out
