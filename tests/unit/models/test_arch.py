"""Arch: construction checks, serialisation round trips, ids, DynaBERT width rounding and the depth rule."""

from __future__ import annotations

import itertools
import random

import pytest

from raydistill.errors import ArchError, ModelError
from raydistill.models.arch import (
    Arch,
    kept_layers,
    teacher_hidden_map,
    teacher_layer_map,
    width_to_heads_ffn,
)

EXAMPLES = [
    Arch.full(12, 12, 3072),
    Arch.from_multipliers(0.5, 0.5, 12, 12, 3072),
    Arch((0, 1, 2, 3), (12, 12, 6, 6), (3072, 2304, 2304, 768)),
    Arch((3,), (1,), (1,)),
    Arch((0, 2, 5), (4, 4, 1), (10, 64, 10), tokens=(1.0, 0.1 + 0.2, 1e-5)),
    Arch((1, 2), (2, 2), (8, 8), tokens=(0.5, 0.5)),
]


def _random_arch(rng: random.Random) -> Arch:
    n_layers = rng.randint(1, 6)
    layers = tuple(sorted(rng.sample(range(8), n_layers)))
    tokens = None
    if rng.random() < 0.5:
        tokens = tuple(sorted((rng.choice([1.0, 0.75, 0.5, 0.3, 0.25]) for _ in layers), reverse=True))
    return Arch(
        layers,
        tuple(rng.randint(1, 3) for _ in layers),
        tuple(rng.choice([16, 32, 48]) for _ in layers),
        tokens,
    )


@pytest.mark.parametrize("arch", EXAMPLES, ids=lambda a: a.id)
def test_round_trips(arch: Arch) -> None:
    assert Arch.from_json(arch.to_json()) == arch
    assert Arch.from_dict(arch.to_dict()) == arch
    assert Arch.from_id(arch.id) == arch
    assert hash(Arch.from_id(arch.id)) == hash(arch)


def test_ids_are_readable_and_unique() -> None:
    assert Arch.from_multipliers(0.5, 1.0, 6, 12, 3072).id == "L6-H6x6-F1536x6"
    assert Arch.from_multipliers(1.0, 0.5, 6, 12, 3072).id == "L3@1,3,5-H12x3-F3072x3"
    assert EXAMPLES[2].id == "L4-H12x2,6x2-F3072,2304x2,768"
    assert EXAMPLES[5].id == "L2@1,2-H2x2-F8x2-T0.5x2"
    assert EXAMPLES[4].id == "L3@0,2,5-H4x2,1-F10,64,10-T1,0.30000000000000004,0.00001"
    rng = random.Random(0)
    archs = {_random_arch(rng) for _ in range(400)}
    ids = {a.id for a in archs}
    assert len(ids) == len(archs)  # unique per Arch
    assert all(Arch.from_id(a.id) == a for a in archs)


def test_arch_is_hashable_value() -> None:
    a = Arch([0, 1], [2, 2], [8, 8])  # lists are normalised to tuples
    b = Arch((0, 1), (2, 2), (8, 8))
    assert a == b and hash(a) == hash(b) and {a: 1}[b] == 1
    assert isinstance(a.layers, tuple)
    with pytest.raises(AttributeError):
        a.layers = (0,)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"layers": (), "heads": (), "ffn": ()}, "empty"),
        ({"layers": (2, 1), "heads": (1, 1), "ffn": (1, 1)}, "ascending"),
        ({"layers": (1, 1), "heads": (1, 1), "ffn": (1, 1)}, "distinct"),
        ({"layers": (-1, 1), "heads": (1, 1), "ffn": (1, 1)}, "non-negative"),
        ({"layers": (0, 1), "heads": (1,), "ffn": (1, 1)}, "heads has 1 entries but 2 layers"),
        ({"layers": (0, 1), "heads": (1, 1), "ffn": (1, 1, 1)}, "ffn has 3 entries"),
        ({"layers": (0, 1), "heads": (1, 0), "ffn": (1, 1)}, "heads (1, 0)"),
        ({"layers": (0,), "heads": (1,), "ffn": (0,)}, "ffn (0,)"),
        ({"layers": (0, 1), "heads": (1, 1), "ffn": (1, 1), "tokens": (0.5, 0.8)}, "non-increasing"),
        ({"layers": (0,), "heads": (1,), "ffn": (1,), "tokens": (1.5,)}, "(0, 1]"),
        ({"layers": (0,), "heads": (1,), "ffn": (1,), "tokens": (0.0,)}, "(0, 1]"),
        ({"layers": (0,), "heads": (1,), "ffn": (1,), "tokens": (1.0, 1.0)}, "tokens has 2 entries"),
    ],
)
def test_malformed_arch_raises(kwargs: dict, needle: str) -> None:
    with pytest.raises(ArchError) as info:
        Arch(**kwargs)
    assert needle in str(info.value)
    assert isinstance(info.value, ModelError)


def test_validate_against_model_sizes() -> None:
    arch = Arch((0, 3), (4, 2), (64, 32))
    assert arch.validate(4, 4, 64) is arch
    with pytest.raises(ArchError, match="layer index 3 does not exist in a 2-layer model; use indices 0..1"):
        arch.validate(2, 4, 64)
    with pytest.raises(ArchError, match=r"heads \(4, 2\) exceed the model's 3 per layer"):
        arch.validate(4, 3, 64)
    with pytest.raises(ArchError, match=r"ffn \(64, 32\) exceed the model's 48"):
        arch.validate(4, 4, 48)


@pytest.mark.parametrize(
    "bad",
    ["", "L2-H2x2", "X2-H2x2-F8x2", "L2-H2x2-F8x2-T1-Q", "L2-H2y2-F8x2", "L3-H2x3-F8x3-Tabc", "L2@0-H1-F1"],
)
def test_bad_ids_raise(bad: str) -> None:
    with pytest.raises(ArchError, match="arch id"):
        Arch.from_id(bad)


def test_bad_dict_and_json_raise() -> None:
    with pytest.raises(ArchError, match="expected layers, heads, ffn"):
        Arch.from_dict({"layers": [0], "heads": [1], "ffn": [1], "width": 1})
    with pytest.raises(ArchError, match="not valid JSON"):
        Arch.from_json("{layers")


@pytest.mark.parametrize(
    ("width", "heads", "ffn"), [(1.0, 12, 3072), (0.75, 9, 2304), (0.5, 6, 1536), (0.25, 3, 768)]
)
def test_width_rounding_table_bert_base(width: float, heads: int, ffn: int) -> None:
    assert width_to_heads_ffn(width, 12, 3072) == (heads, ffn)
    arch = Arch.from_multipliers(width, 1.0, 12, 12, 3072)
    assert arch.heads == (heads,) * 12 and arch.ffn == (ffn,) * 12


def test_width_rounding_edges() -> None:
    assert width_to_heads_ffn(0.75, 4, 64) == (3, 48)
    assert width_to_heads_ffn(0.1, 4, 64) == (1, 16)  # at least one head
    assert width_to_heads_ffn(0.625, 4, 64) == (3, 48)  # 2.5 rounds half up (not banker's 2)
    with pytest.raises(ArchError, match="width multiplier 0 is not in"):
        width_to_heads_ffn(0, 4, 64)


@pytest.mark.parametrize(
    ("depth", "num_layers", "expected"),
    [
        (1.0, 6, (0, 1, 2, 3, 4, 5)),
        (0.5, 6, (1, 3, 5)),
        (0.5, 4, (1, 3)),
        (0.5, 12, (1, 3, 5, 7, 9, 11)),
        (0.75, 12, (1, 2, 3, 5, 6, 7, 9, 10, 11)),
        (0.25, 12, (3, 7, 11)),
        (0.75, 4, (1, 2, 3)),
        (0.1, 4, (3,)),
    ],
)
def test_depth_rule(depth: float, num_layers: int, expected: tuple[int, ...]) -> None:
    assert kept_layers(depth, num_layers) == expected


def test_depth_rule_properties() -> None:
    for num_layers, depth in itertools.product(range(1, 25), [0.2, 0.25, 1 / 3, 0.5, 0.6, 0.75, 0.9, 1.0]):
        layers = kept_layers(depth, num_layers)
        assert len(layers) == max(1, int(depth * num_layers + 0.5 + 1e-9))
        assert layers[-1] == num_layers - 1  # the last layer is always kept
        gaps = [b - a for a, b in zip((-1, *layers), layers, strict=False)]
        assert min(gaps) >= 1 and max(gaps) - min(gaps) <= 1  # evenly spread
    with pytest.raises(ArchError, match="depth multiplier 1.5"):
        kept_layers(1.5, 4)


def test_layer_maps_and_token_counts() -> None:
    arch = Arch((1, 3, 5), (2, 2, 2), (8, 8, 8), tokens=(1.0, 0.5, 0.26))
    assert teacher_layer_map(arch) == [1, 3, 5]
    assert teacher_hidden_map(arch) == [0, 2, 4, 6]
    assert arch.token_counts(10) == (10, 5, 3)
    assert arch.token_counts(1) == (1, 1, 1)
    assert Arch.full(2, 4, 64).token_counts(10) is None
