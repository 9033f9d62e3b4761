"""SQuAD v1.1 features: sliding windows over long contexts, and n-best answer decoding.

Windows follow the HF fast-tokenizer convention: `doc_stride` is the number of context tokens two consecutive
windows of one context share (the original BERT `run_squad.py` used it as the step between windows instead).
Questions are cut to `max_query_length` tokens. Train features carry `start_positions` / `end_positions`
(the [CLS] index when the answer is not entirely inside the window, as in BERT, Devlin et al. 2019,
sec. 4.2); eval features carry only model inputs, and their `QAFeature` (example id + character offsets of
context tokens) is kept aside for `postprocess_qa`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from raydistill.data.examples import QAExample
from raydistill.data.features import FeatureDataset
from raydistill.errors import DataError


@dataclass
class QAFeature:
    """Bookkeeping for one eval window: which question it belongs to, and the character span of each token.

    Attributes:
        example_id: the `QAExample.qid`.
        offsets: (L, 2) int array of `[start, end)` character offsets into the context; -1 for tokens outside
            the context (question, special tokens), so they can never be chosen as answer ends.
    """

    example_id: str
    offsets: np.ndarray


def encode_squad(
    examples: Sequence[QAExample],
    tokenizer: Any,
    *,
    max_seq_length: int = 384,
    doc_stride: int = 128,
    max_query_length: int = 64,
    train: bool,
) -> tuple[FeatureDataset, list[QAFeature]]:
    """Tokenise questions + contexts into overlapping windows.

    Returns:
        (dataset, features): dataset items hold `input_ids`, `attention_mask`, `token_type_ids` (+ 0-D
        `start_positions`, `end_positions` when `train`); `features[i]` describes window `i` (eval only;
        empty when `train`).

    Raises:
        DataError: a slow tokenizer (no offsets), or `doc_stride` too large for the window.
    """
    _check_settings(tokenizer, max_seq_length, doc_stride, max_query_length)
    questions = _cut_questions([ex.question for ex in examples], tokenizer, max_query_length)
    enc = tokenizer(
        questions,
        [ex.context for ex in examples],
        truncation="only_second",
        max_length=max_seq_length,
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    items: list[dict[str, torch.Tensor]] = []
    features: list[QAFeature] = []
    input_keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
    for f, ex_index in enumerate(enc["overflow_to_sample_mapping"]):
        ex = examples[ex_index]
        item = {k: torch.tensor(enc[k][f], dtype=torch.long) for k in input_keys}
        offsets = _context_offsets(enc["offset_mapping"][f], enc.sequence_ids(f), ex)
        if train:
            cls = _cls_index(enc["input_ids"][f], tokenizer)
            start, end = answer_positions(offsets, ex, cls)
            item["start_positions"] = torch.tensor(start, dtype=torch.long)
            item["end_positions"] = torch.tensor(end, dtype=torch.long)
        else:
            features.append(QAFeature(example_id=ex.qid, offsets=offsets))
        items.append(item)
    return FeatureDataset(items), features


def answer_positions(offsets: np.ndarray, example: QAExample, cls_index: int) -> tuple[int, int]:
    """Token indices of the first gold answer in one window, or `(cls_index, cls_index)` if it is not inside.

    Args:
        offsets: (L, 2) context character spans, -1 outside the context (see `QAFeature`).
        example: the question; its first answer is the training target.
        cls_index: position of [CLS] in the window.
    """
    if not example.answers:
        return cls_index, cls_index
    answer = example.answers[0]
    start_char = answer["answer_start"]
    end_char = start_char + len(answer["text"])  # exclusive
    ctx = np.flatnonzero(offsets[:, 0] >= 0)  # token indices of the context, ascending
    if offsets[ctx[0], 0] > start_char or offsets[ctx[-1], 1] < end_char:
        return cls_index, cls_index
    start = ctx[offsets[ctx, 0] <= start_char][-1]  # last token starting at or before the answer
    end = ctx[offsets[ctx, 1] >= end_char][0]  # first token ending at or after it
    return int(start), int(end)


def postprocess_qa(
    examples: Sequence[QAExample],
    features: Sequence[QAFeature],
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    n_best: int = 20,
    max_answer_length: int = 30,
) -> dict[str, str]:
    """Best answer text per question: over every window of it, the `n_best` start x `n_best` end pairs with
    start <= end, both inside the context and at most `max_answer_length` tokens long, maximising
    `start_logit + end_logit` (BERT, Devlin et al. 2019, sec. 4.2).

    Args:
        examples: the questions.
        features: one `QAFeature` per window, in the order of the logits rows.
        start_logits, end_logits: (num_features, L); columns past a window's length are ignored.

    Returns:
        qid -> answer text ("" when no window yields a valid span).
    """
    start_logits, end_logits = np.asarray(start_logits), np.asarray(end_logits)
    if len(start_logits) != len(features) or len(end_logits) != len(features):
        raise ValueError(f"got {len(start_logits)}/{len(end_logits)} logit rows for {len(features)} features")
    windows: dict[str, list[int]] = defaultdict(list)
    for i, feature in enumerate(features):
        windows[feature.example_id].append(i)
    answers: dict[str, str] = {}
    for ex in examples:
        best_text, best_score = "", -np.inf
        for i in windows.get(ex.qid, []):
            span, score = _best_span(
                features[i].offsets, start_logits[i], end_logits[i], n_best, max_answer_length
            )
            if span is not None and score > best_score:
                best_text, best_score = ex.context[span[0] : span[1]], score
        answers[ex.qid] = best_text
    return answers


def _best_span(
    offsets: np.ndarray, start: np.ndarray, end: np.ndarray, n_best: int, max_len: int
) -> tuple[tuple[int, int] | None, float]:
    length = len(offsets)
    start, end = start[:length], end[:length]  # (L,)
    starts = np.argsort(-start, kind="stable")[:n_best]  # (n,)
    ends = np.argsort(-end, kind="stable")[:n_best]  # (n,)
    scores = start[starts][:, None] + end[ends][None, :]  # (n, n)
    width = ends[None, :] - starts[:, None]  # (n, n)
    valid = (width >= 0) & (width < max_len)
    valid &= (offsets[starts, 0] >= 0)[:, None] & (offsets[ends, 0] >= 0)[None, :]
    if not valid.any():
        return None, -np.inf
    s, e = np.unravel_index(np.argmax(np.where(valid, scores, -np.inf)), scores.shape)
    return (int(offsets[starts[s], 0]), int(offsets[ends[e], 1])), float(scores[s, e])


def _context_offsets(
    offset_mapping: list[tuple[int, int]], sequence_ids: list[int | None], ex: QAExample
) -> np.ndarray:
    offsets = np.array(offset_mapping, dtype=np.int64).reshape(-1, 2)  # (L, 2)
    outside = np.array([sid != 1 for sid in sequence_ids])
    offsets[outside] = -1
    if outside.all():
        raise DataError(f"question {ex.qid!r}: the window holds no context tokens (empty context?)")
    return offsets


def _cls_index(input_ids: list[int], tokenizer: Any) -> int:
    cls = tokenizer.cls_token_id
    return input_ids.index(cls) if cls in input_ids else 0


def _cut_questions(questions: list[str], tokenizer: Any, max_query_length: int) -> list[str]:
    """Questions without leading blanks, cut after their `max_query_length`-th token."""
    questions = [q.lstrip() for q in questions]
    enc = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
    return [
        q if len(offs) <= max_query_length else q[: offs[max_query_length - 1][1]]
        for q, offs in zip(questions, enc["offset_mapping"], strict=True)
    ]


def _check_settings(tokenizer: Any, max_seq_length: int, doc_stride: int, max_query_length: int) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise DataError(
            f"SQuAD needs a fast tokenizer (offset mappings); got {type(tokenizer).__name__}; "
            "load it with AutoTokenizer.from_pretrained(..., use_fast=True)"
        )
    room = max_seq_length - max_query_length - 3  # [CLS] question [SEP] context [SEP]
    if doc_stride >= room:
        raise DataError(
            f"doc_stride {doc_stride} must be < max_seq_length - max_query_length - 3 = {room} "
            f"(max_seq_length {max_seq_length}, max_query_length {max_query_length}); for SQuAD use "
            "max_seq_length 384 with doc_stride 128, or lower data.doc_stride"
        )
