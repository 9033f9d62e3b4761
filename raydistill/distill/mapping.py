"""Student-to-teacher layer maps for layer-wise distillation (TinyBERT, Patient-KD, DynaBERT supernet).

Indexing convention (one for every map here):
- **Hidden-state maps** (`tinybert_hidden_map`, `pkd_skip_map`, `pkd_last_map`, `kept_layer_map`) return indices
  into the teacher's HF-style `hidden_states` tuple: `hidden_states[0]` is the embedding output and
  `hidden_states[l]` is the output of layer `l`. An index is therefore also the 1-based layer number, so
  "teacher layers 2,4,6,8,10" (PKD paper) is literally `[2, 4, 6, 8, 10]`. Indices are never negative.
- **Attention maps** (`tinybert_attention_map`) return 0-based indices into the per-layer `attentions` /
  attention-score tuple (one entry per layer, no embedding entry).
- Position `i` of a returned list belongs to the i-th tensor of the student sequence that the docstring names
  (e.g. `student_hidden_states[1:]` for `kept_layer_map`); `losses.hidden_mse` pairs them by that position.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from raydistill.errors import ArchError

__all__ = ["kept_layer_map", "pkd_last_map", "pkd_skip_map", "tinybert_attention_map", "tinybert_hidden_map"]


def _check_counts(n_teacher: int, n_student: int) -> None:
    """Raise ArchError unless 1 <= n_student <= n_teacher."""
    if n_student < 1 or n_teacher < 1 or n_student > n_teacher:
        raise ArchError(
            f"layer counts teacher={n_teacher}, student={n_student} are invalid; need "
            "1 <= student layers <= teacher layers"
        )


def _layer_ratio(n_teacher: int, n_student: int, method: str) -> int:
    """k = n_teacher / n_student, which must be an integer (TinyBERT sec. 3.1, PKD-skip)."""
    _check_counts(n_teacher, n_student)
    if n_teacher % n_student:
        divisors = [d for d in range(1, n_teacher + 1) if n_teacher % d == 0]
        raise ArchError(
            f"{method} needs the teacher layer count to be a multiple of the student's: teacher={n_teacher}, "
            f"student={n_student}; use a student with one of {divisors} layers"
        )
    return n_teacher // n_student


def tinybert_attention_map(n_teacher: int, n_student: int) -> list[int]:
    """TinyBERT attention map: student attention layer m <-> teacher attention layer m*k + k - 1 (0-indexed).

    TinyBERT sec. 3.1, uniform strategy g(m) = m * k with k = N / M, written 0-based: the student's m-th
    layer (0-based) learns from the last teacher layer of its block of k.

    Example:
        >>> tinybert_attention_map(12, 4)  # student att layer 0 <- teacher 2, 1 <- 5, 2 <- 8, 3 <- 11
        [2, 5, 8, 11]

    Raises:
        ArchError: when n_teacher is not a multiple of n_student.
    """
    k = _layer_ratio(n_teacher, n_student, "tinybert_attention_map")
    return [m * k + k - 1 for m in range(n_student)]


def tinybert_hidden_map(n_teacher: int, n_student: int) -> list[int]:
    """TinyBERT hidden-state map: student hidden_states[i] <-> teacher hidden_states[i*k], i = 0..n_student.

    TinyBERT sec. 3.1 (0 = embeddings, g(0) = 0 and g(M + 1) = N + 1 for the prediction layer, which is
    distilled separately by eq. 10). Use with the FULL student `hidden_states` tuple (n_student + 1 tensors):
    entry 0 pairs the embeddings (eq. 9). To give the embeddings their own projection W_e, pass `[1:]` of the
    map and of the student tuple to `hidden_mse` and the embeddings to `embedding_mse`.

    Example:
        >>> tinybert_hidden_map(12, 4)  # student emb <- teacher emb, student layer 1 <- teacher layer 3, ...
        [0, 3, 6, 9, 12]

    Raises:
        ArchError: when n_teacher is not a multiple of n_student.
    """
    k = _layer_ratio(n_teacher, n_student, "tinybert_hidden_map")
    return [i * k for i in range(n_student + 1)]


def pkd_skip_map(n_teacher: int, n_student: int) -> list[int]:
    """PKD-skip: student layer j <-> teacher layer j*k for the student's intermediate layers j = 1..M-1.

    Patient-KD sec. 3 ("PKD-Skip", every k-th teacher layer). The student's last layer is not in the map: it is
    distilled through the logits. Use with `student_hidden_states[1:-1]` (layers 1..M-1, [CLS] taken by the
    caller); the returned ints are teacher `hidden_states` indices (= 1-based layer numbers).

    Example:
        >>> pkd_skip_map(12, 6)  # student layers 1..5 <- teacher layers 2, 4, 6, 8, 10
        [2, 4, 6, 8, 10]
        >>> pkd_skip_map(12, 3)
        [4, 8]

    Raises:
        ArchError: when n_teacher is not a multiple of n_student.
    """
    k = _layer_ratio(n_teacher, n_student, "pkd_skip_map")
    return [j * k for j in range(1, n_student)]


def pkd_last_map(n_teacher: int, n_student: int) -> list[int]:
    """PKD-last: student layer j <-> teacher layer N - M + j for the student's intermediate layers j = 1..M-1.

    Patient-KD sec. 3 ("PKD-Last", the last M-1 teacher layers before the top one). Same usage and indexing as
    `pkd_skip_map`. Unlike the PaddleNLP reference (negative Python indices into the layer list), every index
    is a non-negative `hidden_states` index, so it can never silently wrap around.

    Example:
        >>> pkd_last_map(12, 6)  # student layers 1..5 <- teacher layers 7..11
        [7, 8, 9, 10, 11]
        >>> pkd_last_map(12, 3)
        [10, 11]
    """
    _check_counts(n_teacher, n_student)
    return [n_teacher - n_student + j for j in range(1, n_student)]


def kept_layer_map(kept_layers: Sequence[int], n_teacher: int | None = None) -> list[int]:
    """Supernet depth map: student layer j (teacher layer kept_layers[j]) <-> teacher hidden_states[kept + 1].

    DynaBERT eq. 3: a depth-reduced sub-network keeps some of the teacher's layers (0-based layer ids, in
    order); each kept layer is distilled from the output of the teacher layer it was taken from. Use with
    `student_hidden_states[1:]` (one tensor per kept layer; `hidden_states[0]` is the embedding output).

    Example:
        >>> kept_layer_map([0, 2, 4, 6, 8, 10])  # student layer 0 <- teacher hidden_states[1], ...
        [1, 3, 5, 7, 9, 11]

    Args:
        kept_layers: strictly increasing 0-based teacher layer ids.
        n_teacher: the teacher's layer count; when given, every id must be < n_teacher.

    Raises:
        ArchError: when the ids are empty, negative, not strictly increasing or out of range.
    """
    kept = list(kept_layers)
    increasing = all(a < b for a, b in pairwise(kept))
    in_range = n_teacher is None or all(layer < n_teacher for layer in kept)
    if not kept or kept[0] < 0 or not increasing or not in_range:
        limit = f" and < {n_teacher}" if n_teacher is not None else ""
        raise ArchError(
            f"kept_layers={kept} is invalid; give a non-empty, strictly increasing list of 0-based teacher "
            f"layer ids >= 0{limit}, e.g. [0, 2, 4]"
        )
    return [layer + 1 for layer in kept]
