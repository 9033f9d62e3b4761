"""The one rounding rule of length-adaptive sub-networks: how many tokens a layer keeps.

`Arch.tokens` holds, per kept layer, the fraction of the *input* that survives that layer (LAT's length
configuration, Kim & Cho 2021, made relative). An example with n real (unpadded) tokens keeps, after a layer with
fraction t,

    count(t, n) = min(n, max(1, ceil(t * n - 1e-9)))

(the 1e-9 absorbs float noise such as 0.7 * 10 = 7.000000000000001). Padding never counts: n is each example's
own length, so a padded batch and the same examples one at a time keep the same tokens. The rule is monotone in
t and in n, so non-increasing fractions give non-increasing counts and the count at the padded length bounds
every example's count.

Every user of the rule calls `kept_token_count` (and checks configurations with `fractions_problem`): `Arch.token_counts` (and through it `models.flops`), the elastic
forward and the exported `raydistill_bert` model (`elastic.token_counts_for_lengths`, which tabulates this
function), so the FLOPs, the supernet and the export can never round differently.

Shipped verbatim with every `raydistill_bert` export (imported by `elastic.py`): standard library only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["fractions_problem", "kept_token_count"]


def kept_token_count(fraction: float, length: int) -> int:
    """Tokens kept out of `length` real tokens at cumulative fraction `fraction` (module docstring).

    Examples: (0.5, 10) -> 5; (0.25, 10) -> 3 (ceil 2.5); (0.7, 10) -> 7; (0.01, 10) -> 1; (1.0, 3) -> 3;
    (0.5, 0) -> 0 (an empty example keeps nothing).
    """
    return min(length, max(1, math.ceil(fraction * length - 1e-9)))


def fractions_problem(fractions: Sequence[float], layers: int) -> str | None:
    """What is wrong with a length configuration for `layers` layers (None: nothing), for the callers' errors.

    Valid: one fraction per layer, each in (0, 1], non-increasing (a layer never keeps more than the last).
    """
    if len(fractions) != layers:
        return f"has {len(fractions)} entries for {layers} layers; give one fraction per layer"
    if not all(0 < t <= 1 for t in fractions) or any(
        b > a for a, b in zip(fractions, fractions[1:], strict=False)
    ):
        return "must be non-increasing fractions in (0, 1], the share of the input kept after each layer"
    return None
