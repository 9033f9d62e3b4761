"""A `Backward` that records each call's `is_last`, shared by the method tests."""

from __future__ import annotations

import torch

from raydistill.training.runtime import Backward


class RecordingBackward(Backward):
    """The loop's `Backward` (checks the no_sync pairing) that also records each call's `is_last`."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__(model)
        self.calls: list[bool] = []

    def __call__(self, loss: torch.Tensor, is_last: bool) -> None:
        super().__call__(loss, is_last)
        self.calls.append(is_last)
