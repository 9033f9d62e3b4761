"""`Arch`: the shared description of one BERT sub-network (kept layers, heads, FFN neurons, tokens).

An `Arch` is a small frozen, hashable value. Search proposes Archs, `models.bert` runs them, `models.flops`
prices them, export materialises them and reports print them (their `id`).

Conventions (all indices 0-based, all widths are *prefixes* after `models.reorder.reorder_`):
    layers: indices of the kept layers of the full model, strictly ascending.
    heads:  attention heads kept in each kept layer (the first `heads[i]` heads).
    ffn:    FFN (intermediate) neurons kept in each kept layer (the first `ffn[i]` neurons).
    tokens: fraction of the *input* length kept after each kept layer (LAT length configuration), non-increasing,
            in (0, 1]; `None` keeps every token. `Arch.token_counts` turns fractions into counts.

Id format (unique per Arch, parsed back by `Arch.from_id`), sections joined by `-`:
    `L6`            layers 0..5 (a prefix of the model);  `L3@1,3,5`  3 layers: 1, 3 and 5
    `H12x2,6x2`     heads per kept layer, run-length encoded (`vxk` = value v for k layers; `v` = once)
    `F768x6`        FFN neurons per kept layer, same encoding
    `T1x2,0.5x4`    optional: token fractions per kept layer, same encoding
Example: `L6-H6x6-F768x6`.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from raydistill.errors import ArchError
from raydistill.models.token_rule import fractions_problem, kept_token_count

__all__ = [
    "Arch",
    "kept_layers",
    "sample_layerwise",
    "teacher_hidden_map",
    "teacher_layer_map",
    "width_grid",
    "width_to_heads_ffn",
]


def _round_half_up(x: float) -> int:
    """Round to the nearest integer, halves up (Python's `round` is banker's: round(4.5) == 4)."""
    return math.floor(x + 0.5 + 1e-9)


def width_to_heads_ffn(width: float, num_heads: int, intermediate_size: int) -> tuple[int, int]:
    """DynaBERT width rounding: heads = round(H * w) (at least 1), ffn = d_ff * heads / H (rounded).

    Tying the FFN width to the *rounded* head count keeps both axes at the same effective width
    (DynaBERT Sec. 3.1: "width multiplier m_w ... N_H m_w heads and d_ff m_w neurons").

    Args:
        width: width multiplier in (0, 1].
        num_heads: heads per layer of the full model (H).
        intermediate_size: FFN neurons per layer of the full model (d_ff).

    Returns:
        (heads, ffn) kept per layer. Table for H=12, d_ff=3072: 1.0 -> (12, 3072), 0.75 -> (9, 2304),
        0.5 -> (6, 1536), 0.25 -> (3, 768).
    """
    if not 0 < width <= 1:
        raise ArchError(f"width multiplier {width} is not in (0, 1]; give a fraction such as 0.75")
    heads = max(1, _round_half_up(num_heads * width))
    ffn = max(1, _round_half_up(intermediate_size * heads / num_heads))
    return heads, ffn


def width_grid(
    widths: Sequence[float], num_heads: int, intermediate_size: int
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The distinct head counts and FFN widths of the width multipliers (`width_to_heads_ffn`), descending.

    These are the per-layer values a layerwise sub-network draws from: exactly the slices the supernet trains.
    """
    dims = [width_to_heads_ffn(w, num_heads, intermediate_size) for w in widths]
    heads = tuple(sorted({h for h, _ in dims}, reverse=True))
    ffn = tuple(sorted({f for _, f in dims}, reverse=True))
    return heads, ffn


def kept_layers(depth: float, num_layers: int) -> tuple[int, ...]:
    """The layers a depth multiplier keeps: evenly spread, always ending with the last layer.

    Rule: keep n = round(depth * L) layers (halves up, at least 1); the i-th kept layer (i = 0..n-1) is
    `ceil((i + 1) * L / n) - 1`. For d = 1/k this is layers k-1, 2k-1, ..., L-1, the same teacher layers the
    TinyBERT layer map (student m <-> teacher m*k + k - 1) distils from, so a depth-reduced sub-network keeps
    exactly the layers its hidden states are compared with. It differs from DynaBERT's `floor(i / m_d)`, which
    keeps layer 0 and always drops the last layer; we keep the last layer because the pooler and task head were
    fine-tuned on its output.

    Examples: L=6, d=0.5 -> (1, 3, 5); L=4, d=0.5 -> (1, 3); L=12, d=0.75 -> (1, 2, 3, 5, 6, 7, 9, 10, 11);
    d=1 -> all layers.
    """
    if not 0 < depth <= 1:
        raise ArchError(f"depth multiplier {depth} is not in (0, 1]; give a fraction such as 0.5")
    n = max(1, _round_half_up(depth * num_layers))
    return tuple(((i + 1) * num_layers + n - 1) // n - 1 for i in range(n))


def _fmt_num(v: float) -> str:
    """Shortest round-tripping positional text of a number (no exponent, which would clash with `-`)."""
    if isinstance(v, int):
        return str(v)
    text = format(Decimal(repr(float(v))), "f")
    return text[:-2] if text.endswith(".0") else text


def _encode_runs(values: Sequence[float]) -> str:
    runs: list[list[Any]] = []
    for v in values:
        if runs and runs[-1][0] == v:
            runs[-1][1] += 1
        else:
            runs.append([v, 1])
    return ",".join(_fmt_num(v) if k == 1 else f"{_fmt_num(v)}x{k}" for v, k in runs)


def _decode_runs(text: str, cast: type, what: str, arch_id: str) -> tuple[Any, ...]:
    out: list[Any] = []
    try:
        for item in text.split(","):
            value, _, count = item.partition("x")
            out.extend([cast(value)] * (int(count) if count else 1))
    except ValueError:
        raise ArchError(
            f"arch id {arch_id!r}: cannot read the {what} section {text!r}; expected values like '12x2,6x2'"
        ) from None
    return tuple(out)


@dataclass(frozen=True)
class Arch:
    """One sub-network of a BERT supernet (see the module docstring for the conventions).

    Structural consistency (lengths, positivity, ordering) is checked on construction; whether the Arch fits a
    particular model is checked by `validate`.
    """

    layers: tuple[int, ...]
    heads: tuple[int, ...]
    ffn: tuple[int, ...]
    tokens: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(int(x) for x in self.layers))
        object.__setattr__(self, "heads", tuple(int(x) for x in self.heads))
        object.__setattr__(self, "ffn", tuple(int(x) for x in self.ffn))
        if self.tokens is not None:
            object.__setattr__(self, "tokens", tuple(float(x) for x in self.tokens))
        self._check_structure()

    def _check_structure(self) -> None:
        n = len(self.layers)
        if n == 0:
            raise ArchError("Arch.layers is empty; keep at least one layer, e.g. layers=(0,)")
        if any(b <= a for a, b in zip(self.layers, self.layers[1:], strict=False)) or self.layers[0] < 0:
            raise ArchError(
                f"Arch.layers {self.layers} must be distinct, ascending, non-negative layer indices, e.g. (1, 3, 5)"
            )
        lengths = {"heads": len(self.heads), "ffn": len(self.ffn)}
        if self.tokens is not None:
            lengths["tokens"] = len(self.tokens)
        for name, length in lengths.items():
            if length != n:
                raise ArchError(
                    f"Arch.{name} has {length} entries but {n} layers are kept; give one per kept layer"
                )
        for name in ("heads", "ffn"):
            if min(getattr(self, name)) < 1:
                raise ArchError(
                    f"Arch.{name} {getattr(self, name)} has a value < 1; every kept layer needs >= 1"
                )
        problem = None if self.tokens is None else fractions_problem(self.tokens, n)
        if problem is not None:
            raise ArchError(
                f"Arch.tokens {self.tokens} {problem} (one per kept layer); use None to keep all tokens"
            )

    # ------------------------------------------------------------------ constructors
    @classmethod
    def full(cls, num_layers: int, num_heads: int, intermediate_size: int) -> Arch:
        """The whole model: every layer, head and FFN neuron, all tokens."""
        return cls(tuple(range(num_layers)), (num_heads,) * num_layers, (intermediate_size,) * num_layers)

    @classmethod
    def from_multipliers(
        cls, width: float, depth: float, num_layers: int, num_heads: int, intermediate_size: int
    ) -> Arch:
        """A uniform DynaBERT sub-network: `width_to_heads_ffn` per layer over the layers of `kept_layers`."""
        heads, ffn = width_to_heads_ffn(width, num_heads, intermediate_size)
        layers = kept_layers(depth, num_layers)
        return cls(layers, (heads,) * len(layers), (ffn,) * len(layers))

    @classmethod
    def for_config(cls, config: Any, width: float = 1.0, depth: float = 1.0) -> Arch:
        """`from_multipliers` reading L, H and d_ff from a `BertConfig` (any object with those attributes)."""
        dims = _config_dims(config)
        return cls.from_multipliers(width, depth, *dims)

    # ------------------------------------------------------------------ checks and maps
    def validate(self, num_layers: int, num_heads: int, intermediate_size: int) -> Arch:
        """Check that the Arch fits a model with these sizes; returns self so calls can chain.

        Raises:
            ArchError: naming the offending field, the given value and the allowed range.
        """
        if self.layers[-1] >= num_layers:
            raise ArchError(
                f"Arch {self.id}: layer index {self.layers[-1]} does not exist in a {num_layers}-layer model; "
                f"use indices 0..{num_layers - 1}"
            )
        for name, limit in (("heads", num_heads), ("ffn", intermediate_size)):
            values = getattr(self, name)
            if max(values) > limit:
                raise ArchError(
                    f"Arch {self.id}: {name} {values} exceed the model's {limit} per layer; use values in 1..{limit}"
                )
        return self

    def validate_for(self, config: Any) -> Arch:
        """`validate` against a `BertConfig`."""
        return self.validate(*_config_dims(config))

    def token_counts(self, seq_len: int) -> tuple[int, ...] | None:
        """Tokens kept after each kept layer by an example of `seq_len` real tokens: the one rounding rule
        `token_rule.kept_token_count` (ceil(fraction * seq_len), at least 1, at most seq_len), which the elastic
        forward and the exported models apply to each example's real length.

        Returns None when the Arch keeps all tokens.
        """
        if self.tokens is None:
            return None
        return tuple(kept_token_count(t, seq_len) for t in self.tokens)

    @property
    def num_layers(self) -> int:
        """Number of kept layers."""
        return len(self.layers)

    # ------------------------------------------------------------------ serialisation
    @property
    def id(self) -> str:
        """Short unique human id, e.g. `L6-H6x6-F768x6` (format in the module docstring)."""
        n = len(self.layers)
        layers = f"L{n}" if self.layers == tuple(range(n)) else f"L{n}@{','.join(map(str, self.layers))}"
        parts = [layers, f"H{_encode_runs(self.heads)}", f"F{_encode_runs(self.ffn)}"]
        if self.tokens is not None:
            parts.append(f"T{_encode_runs(self.tokens)}")
        return "-".join(parts)

    def __str__(self) -> str:
        return self.id

    @classmethod
    def from_id(cls, arch_id: str) -> Arch:
        """Parse an id made by `Arch.id` back into the Arch."""
        sections = arch_id.strip().split("-")
        keys = [s[:1] for s in sections]
        if keys not in (["L", "H", "F"], ["L", "H", "F", "T"]):
            raise ArchError(
                f"arch id {arch_id!r} is not of the form 'L<n>[@i,j,..]-H<runs>-F<runs>[-T<runs>]', "
                "e.g. 'L6-H6x6-F768x6'"
            )
        count_text, _, index_text = sections[0][1:].partition("@")
        try:
            count = int(count_text)
            layers = tuple(int(i) for i in index_text.split(",")) if index_text else tuple(range(count))
        except ValueError:
            raise ArchError(f"arch id {arch_id!r}: cannot read the layers section {sections[0]!r}") from None
        if len(layers) != count:
            raise ArchError(f"arch id {arch_id!r}: says {count} layers but lists {len(layers)}")
        heads = _decode_runs(sections[1][1:], int, "heads", arch_id)
        ffn = _decode_runs(sections[2][1:], int, "ffn", arch_id)
        tokens = _decode_runs(sections[3][1:], float, "tokens", arch_id) if len(sections) == 4 else None
        return cls(layers, heads, ffn, tokens)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (lists, not tuples)."""
        return {
            "layers": list(self.layers),
            "heads": list(self.heads),
            "ffn": list(self.ffn),
            "tokens": None if self.tokens is None else list(self.tokens),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Arch:
        """Inverse of `to_dict`; unknown or missing keys raise `ArchError`."""
        allowed = {"layers", "heads", "ffn", "tokens"}
        if not isinstance(data, dict) or set(data) - allowed or not {"layers", "heads", "ffn"} <= set(data):
            got = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise ArchError(f"Arch dict has keys {got}; expected layers, heads, ffn and optionally tokens")
        return cls(tuple(data["layers"]), tuple(data["heads"]), tuple(data["ffn"]), data.get("tokens"))

    def to_json(self) -> str:
        """Compact JSON text of `to_dict`."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Arch:
        """Inverse of `to_json`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ArchError(f"Arch JSON {text[:80]!r} is not valid JSON: {e}") from None
        return cls.from_dict(data)


def sample_layerwise(
    rng: random.Random,
    widths: Sequence[float],
    depths: Sequence[float],
    num_layers: int,
    num_heads: int,
    intermediate_size: int,
) -> Arch:
    """A random layerwise sub-network (once-for-all's elastic sampling, Cai et al. 2020, Sec. 3.2).

    Depth uniform over `depths` (layers by `kept_layers`), then for each kept layer, independently, a head
    count and an FFN width uniform over `width_grid(widths)`: the space the `layerwise` search explores.
    """
    heads_grid, ffn_grid = width_grid(widths, num_heads, intermediate_size)
    layers = kept_layers(rng.choice(list(depths)), num_layers)
    heads = tuple(rng.choice(heads_grid) for _ in layers)
    ffn = tuple(rng.choice(ffn_grid) for _ in layers)
    return Arch(layers, heads, ffn)


def teacher_layer_map(arch: Arch) -> list[int]:
    """The full-model (teacher) layer each kept layer came from: kept layer i <-> teacher layer `arch.layers[i]`.

    For hidden-state distillation (DynaBERT eq. 4: sum_l MSE(h_s_l, h_t_map(l))) compare student layer i with
    teacher layer `teacher_layer_map(arch)[i]`; see `teacher_hidden_map` for `hidden_states` tuple indices.
    """
    return list(arch.layers)


def teacher_hidden_map(arch: Arch) -> list[int]:
    """Index into the teacher's `hidden_states` tuple (embeddings first) for each student hidden state.

    Student `hidden_states[j]` (j=0 embeddings, j=i+1 after kept layer i) <-> teacher `hidden_states[map[j]]`.
    """
    return [0] + [layer + 1 for layer in arch.layers]


def _config_dims(config: Any) -> tuple[int, int, int]:
    return config.num_hidden_layers, config.num_attention_heads, config.intermediate_size
