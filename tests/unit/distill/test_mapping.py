"""Layer-map tables, written out by hand from the TinyBERT and Patient-KD papers."""

from __future__ import annotations

import pytest
import torch

from raydistill.distill import mapping as M
from raydistill.distill.losses import hidden_mse, patient_loss
from raydistill.errors import ArchError


@pytest.mark.parametrize(
    ("n_t", "n_s", "attention", "hidden"),
    [
        (12, 4, [2, 5, 8, 11], [0, 3, 6, 9, 12]),  # TinyBERT-4: k = 3
        (12, 6, [1, 3, 5, 7, 9, 11], [0, 2, 4, 6, 8, 10, 12]),
        (12, 3, [3, 7, 11], [0, 4, 8, 12]),
        (6, 3, [1, 3, 5], [0, 2, 4, 6]),
        (6, 2, [2, 5], [0, 3, 6]),  # MiniLM-L6 -> 2 layers: k = 3
        (4, 4, [0, 1, 2, 3], [0, 1, 2, 3, 4]),  # same depth: identity
        (4, 1, [3], [0, 4]),
    ],
)
def test_tinybert_maps(n_t: int, n_s: int, attention: list[int], hidden: list[int]) -> None:
    assert M.tinybert_attention_map(n_t, n_s) == attention
    assert M.tinybert_hidden_map(n_t, n_s) == hidden
    assert attention[-1] == n_t - 1 and hidden[-1] == n_t  # the top student layer learns from the top teacher


@pytest.mark.parametrize(
    ("n_t", "n_s", "skip", "last"),
    [
        (12, 6, [2, 4, 6, 8, 10], [7, 8, 9, 10, 11]),  # the paper's BERT6 tables (1-based layer numbers)
        (12, 3, [4, 8], [10, 11]),
        (6, 3, [2, 4], [4, 5]),
        (6, 2, [3], [5]),  # one intermediate student layer: the middle (skip) or the one below the top (last)
        (6, 6, [1, 2, 3, 4, 5], [1, 2, 3, 4, 5]),
        (12, 1, [], []),  # a one-layer student has no intermediate layer: logits only
    ],
)
def test_pkd_maps(n_t: int, n_s: int, skip: list[int], last: list[int]) -> None:
    assert M.pkd_skip_map(n_t, n_s) == skip
    assert M.pkd_last_map(n_t, n_s) == last
    assert all(0 < i < n_t for i in skip + last)  # no negative indices, never the embeddings or the top layer


def test_pkd_last_does_not_need_divisible_counts() -> None:
    assert M.pkd_last_map(12, 5) == [8, 9, 10, 11]
    with pytest.raises(ArchError, match="multiple"):
        M.pkd_skip_map(12, 5)


@pytest.mark.parametrize("fn", [M.tinybert_attention_map, M.tinybert_hidden_map, M.pkd_skip_map])
def test_not_divisible_lists_valid_student_depths(fn: object) -> None:
    with pytest.raises(
        ArchError, match=r"teacher=12, student=5; use a student with one of \[1, 2, 3, 4, 6, 12\]"
    ):
        fn(12, 5)  # type: ignore[operator]


@pytest.mark.parametrize(
    "fn", [M.tinybert_attention_map, M.tinybert_hidden_map, M.pkd_skip_map, M.pkd_last_map]
)
@pytest.mark.parametrize(("n_t", "n_s"), [(6, 12), (12, 0), (0, 0)])
def test_invalid_layer_counts(fn: object, n_t: int, n_s: int) -> None:
    with pytest.raises(ArchError, match="1 <= student layers <= teacher layers"):
        fn(n_t, n_s)  # type: ignore[operator]


def test_kept_layer_map() -> None:
    assert M.kept_layer_map([0, 2, 4, 6, 8, 10]) == [1, 3, 5, 7, 9, 11]
    assert M.kept_layer_map([0, 1, 2], n_teacher=3) == [1, 2, 3]
    assert M.kept_layer_map((5,)) == [6]
    for bad in ([], [-1, 2], [2, 1], [1, 1]):
        with pytest.raises(ArchError, match="strictly increasing"):
            M.kept_layer_map(bad)
    with pytest.raises(ArchError, match="< 3"):
        M.kept_layer_map([0, 3], n_teacher=3)


def test_maps_index_hf_hidden_states_as_documented() -> None:
    # teacher hidden_states[i] filled with the value i: the map must pick the teacher layer it names
    teacher = [torch.full((1, 2, 3), float(i)) for i in range(13)]  # emb + 12 layers
    for kept in ([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [1, 5, 11]):
        student = [torch.full((1, 2, 3), float(k + 1)) for k in kept]  # student hidden_states[1:]
        assert hidden_mse(student, teacher, M.kept_layer_map(kept)).item() == 0.0
    student_all = [
        torch.full((1, 2, 3), float(3 * i)) for i in range(5)
    ]  # TinyBERT-4 hidden_states incl. emb
    assert hidden_mse(student_all, teacher, M.tinybert_hidden_map(12, 4)).item() == 0.0
    skip = [torch.full((1, 2, 3), float(2 * j)) for j in range(1, 6)]  # PKD student layers 1..5
    assert hidden_mse(skip, teacher, M.pkd_skip_map(12, 6)).item() == 0.0


def test_six_to_two_maps_pick_the_named_teacher_layers() -> None:
    """6 -> 2 through the losses: a student equal to the teacher layer the map names has zero loss."""
    rng = torch.Generator().manual_seed(0)
    teacher = [torch.randn(2, 3, 4, generator=rng) for _ in range(7)]  # emb + 6 layers, (B, L, H) each
    student = [teacher[0], teacher[3], teacher[6]]  # TinyBERT: emb, layer 1 <- 3, layer 2 <- 6
    assert hidden_mse(student, teacher, M.tinybert_hidden_map(6, 2)).item() == 0.0
    assert hidden_mse(student, teacher, [0, 2, 6]).item() > 0
    for fn, layer in ((M.pkd_skip_map, 3), (M.pkd_last_map, 5)):
        cls = [teacher[layer][:, 0]]  # the student's one intermediate [CLS] vector (layer 1)
        mapped = [teacher[i][:, 0] for i in fn(6, 2)]
        assert patient_loss(cls, mapped).item() == pytest.approx(0.0, abs=1e-6)
        other = [teacher[4][:, 0]]
        assert patient_loss(other, mapped).item() > 0.01
