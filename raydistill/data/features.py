"""Tokenisation of classification / regression examples into unpadded tensor features."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import Dataset

from raydistill.data.examples import Example
from raydistill.data.tasks import Task
from raydistill.errors import DataError

_CHUNK = 1024  # examples per tokenizer call (bounded memory on large train sets)


class FeatureDataset(Dataset):
    """A list of feature dicts (1-D `LongTensor` sequences + 0-D labels/positions) for a DataLoader."""

    def __init__(self, items: list[dict[str, torch.Tensor]]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.items[index]


# A training item's position in its training set (0-D long), to look up cached rows by.
INDEX_KEY = "example_index"


class IndexedDataset(Dataset):
    """A feature dataset whose items also carry their position in it (`INDEX_KEY`, a 0-D long tensor).

    Batches (shuffled, dynamically padded) then name their examples, e.g. to look up the teacher's cached outputs
    (`distill.teacher_outputs`); methods pass only the model's input keys to the model (`methods.model_inputs`).
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.dataset[index] | {INDEX_KEY: torch.tensor(index, dtype=torch.long)}


def encode_examples(
    examples: Sequence[Example], task: Task, tokenizer: Any, max_seq_length: int = 128
) -> FeatureDataset:
    """Tokenise examples (pairs truncated longest-first to `max_seq_length`) without padding.

    Each item holds `input_ids`, `attention_mask`, `token_type_ids` (when the tokenizer makes them) as 1-D
    `torch.long` tensors and `labels`: a 0-D long class id, or a 0-D float score for regression. Examples with
    no label get no `labels` key.

    Raises:
        DataError: a pair task given single sentences.
    """
    items: list[dict[str, torch.Tensor]] = []
    for start in range(0, len(examples), _CHUNK):
        chunk = examples[start : start + _CHUNK]
        enc = tokenizer(*_texts(chunk, task), truncation=True, max_length=max_seq_length)
        for i, ex in enumerate(chunk):
            item = {key: torch.tensor(values[i], dtype=torch.long) for key, values in enc.items()}
            if ex.label is not None:
                dtype = torch.float if task.kind == "regression" else torch.long
                item["labels"] = torch.tensor(ex.label, dtype=dtype)
            items.append(item)
    return FeatureDataset(items)


def _texts(chunk: Sequence[Example], task: Task) -> tuple[list[str]] | tuple[list[str], list[str]]:
    text_a = [ex.text_a for ex in chunk]
    if not task.pairs:
        return (text_a,)
    missing = next((ex.guid for ex in chunk if ex.text_b is None), None)
    if missing is not None:
        raise DataError(f"example {missing}: task {task.name} needs sentence pairs but text_b is missing")
    return text_a, [str(ex.text_b) for ex in chunk]
