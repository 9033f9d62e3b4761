"""The frozen teacher's outputs on a training set, computed once and looked up by example (no Ray).

Vanilla KD needs only the teacher's logits of each example (Hinton et al. 2015, eq. 2) and Patient-KD, besides
them, the [CLS] vectors of some of its hidden states (Patient-KD eq. 5). The teacher is frozen (eval mode, no
dropout), so both are functions of the example alone: computed once per run for every student that trains on
the same data, they replace one teacher forward per example, epoch and student by one per example. TinyBERT's
intermediate stage needs every token's hidden states and attention scores (~15 GB for 8k examples at length
128) and recomputes them; QA's start/end logits span the sequence and are not cached either.

The file (`torch.save`, loaded memory-mapped so that workers share the pages):

    logits   (N, C) float32         the teacher's logits (C = num_labels; 1 for regression)
    cls      (N, L + 1, H) float32  `hidden_states[i][:, 0]` for i = 0 (embeddings) .. L
    lengths  (N,) int64             tokens of each example: every lookup checks them against the batch's
                                    attention mask (a cache of other data fails, not teaches wrong targets)
    key      str                    what it was computed from (the caller's cache key)

Size: N x (L + 1) x H x 4 bytes for the states, e.g. ~650 MB for SST-2's 60,614 training examples and MiniLM-L6
(7 x 384); the logits are negligible.

A batch finds its rows by `data.features.INDEX_KEY` (each example's position in the training set), which the
loop's training data carry: shuffling, length grouping and dynamic padding move and pad an example, its index
goes with it. The outputs are computed from length-sorted batches (little padding); they equal the outputs of
any other padding up to float rounding (masked positions get zero attention weight).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from raydistill.data.features import INDEX_KEY
from raydistill.distill.methods import Batch, model_inputs
from raydistill.errors import RaydistillError

__all__ = ["TeacherOutputs", "compute_teacher_outputs"]

Progress = Callable[[int, int], None]  # (examples done, total)


@dataclass(frozen=True)
class TeacherOutputs:
    """The teacher's logits and [CLS] states of every example of a training set (module docstring).

    Attributes:
        logits: (N, C) float32.
        cls: (N, L + 1, H) float32.
        lengths: (N,) int64 token counts.
        key: what the outputs were computed from ("" when not given).
        path: the file they were read from (None: computed here), for error messages.
    """

    logits: Tensor
    cls: Tensor
    lengths: Tensor
    key: str = ""
    path: Path | None = None

    def save(self, path: Path) -> Path:
        """Write the outputs to `path` (through a temporary file: a cut-off write never looks complete)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        state = {"logits": self.logits, "cls": self.cls, "lengths": self.lengths, "key": self.key}
        torch.save(state, partial)
        partial.replace(path)
        return path

    @classmethod
    def load(cls, path: Path | str) -> TeacherOutputs:
        """Read a file `save` wrote (memory-mapped: a lookup reads only the rows it needs).

        Raises:
            RaydistillError: the file is missing or unreadable.
        """
        try:
            state = torch.load(str(path), map_location="cpu", mmap=True, weights_only=True)
        except (OSError, RuntimeError) as err:
            raise RaydistillError(
                f"cached teacher outputs {path} cannot be read ({err}); delete the file and rerun: the students "
                "stage computes them again"
            ) from None
        return cls(state["logits"], state["cls"], state["lengths"], state["key"], Path(path))

    def _rows(self, batch: Batch) -> Tensor:
        """(B,) cpu indices of the batch's examples, checked against their token counts."""
        if INDEX_KEY not in batch:
            raise RaydistillError(
                f"a batch without {INDEX_KEY!r} cannot use cached teacher outputs; the loop's training data carry "
                "it (training.method_io): train through the loop, or drop the method's teacher_outputs option"
            )
        rows = batch[INDEX_KEY].cpu()  # (B,)
        n = self.lengths.size(0)
        if int(rows.max()) >= n:
            raise self._mismatch(f"example {int(rows.max())} is past its {n} examples")
        mask = batch.get("attention_mask")
        if mask is not None:
            tokens = mask.sum(dim=1).cpu()  # (B,)
            known = self.lengths[rows]  # (B,)
            if not torch.equal(tokens, known):
                i = int((tokens != known).nonzero()[0])
                row, here, there = int(rows[i]), int(tokens[i]), int(known[i])
                raise self._mismatch(f"example {row} has {there} tokens there and {here} here")
        return rows

    def _mismatch(self, what: str) -> RaydistillError:
        return RaydistillError(
            f"cached teacher outputs {self.path or '(in memory)'} belong to other training data: {what}; delete "
            "the file and rerun (the students stage computes them for the data it trains on)"
        )

    def logits_of(self, batch: Batch) -> Tensor:
        """(B, C) teacher logits of the batch's examples, on the batch's device."""
        device = batch["input_ids"].device
        return self.logits[self._rows(batch)].to(device)

    def cls_of(self, batch: Batch, layers: Sequence[int]) -> list[Tensor]:
        """The (B, H) [CLS] vector of each teacher `hidden_states[i]`, i in `layers`, on the batch's device."""
        device = batch["input_ids"].device
        picked = self.cls[self._rows(batch)][:, list(layers)].to(device)  # (B, len(layers), H)
        return list(picked.unbind(dim=1))


@torch.no_grad()
def compute_teacher_outputs(
    teacher: nn.Module,
    dataset: Dataset,
    collate: Callable,
    *,
    batch_size: int,
    device: torch.device,
    key: str = "",
    progress: Progress | None = None,
) -> TeacherOutputs:
    """Run the frozen teacher (eval mode) once over `dataset` in length-sorted batches; its outputs in dataset
    order (module docstring).

    Args:
        teacher: a HF sequence-classification model (`load_frozen_teacher`).
        dataset: map-style feature dicts (`input_ids`, `attention_mask`, ...), as the loop trains on.
        collate: the task's padding collator.
        progress: called after each batch with (examples done, total).
    """
    n = len(dataset)  # type: ignore[arg-type]
    lengths = torch.tensor([int(dataset[i]["input_ids"].numel()) for i in range(n)], dtype=torch.long)  # (N,)
    order = sorted(range(n), key=lambda i: -int(lengths[i]))
    logits: Tensor | None = None
    cls: Tensor | None = None
    teacher.eval()
    for start in range(0, n, batch_size):
        rows = order[start : start + batch_size]
        batch = {k: v.to(device) for k, v in collate([dataset[i] for i in rows]).items()}
        out = teacher(**model_inputs(batch), output_hidden_states=True)
        states = torch.stack([h[:, 0] for h in out.hidden_states], dim=1)  # (b, L + 1, H)
        if logits is None or cls is None:
            logits = torch.empty(n, out.logits.size(-1), dtype=torch.float32)  # (N, C)
            cls = torch.empty(n, states.size(1), states.size(2), dtype=torch.float32)  # (N, L + 1, H)
        index = torch.tensor(rows)
        logits[index] = out.logits.float().cpu()
        cls[index] = states.float().cpu()
        if progress is not None:
            progress(min(start + batch_size, n), n)
    if logits is None or cls is None:
        raise RaydistillError("no training examples to compute the teacher's outputs on; check data settings")
    return TeacherOutputs(logits, cls, lengths, key)
