"""SQuAD windows: positions in the right window, CLS elsewhere, and decoding the gold back to its text."""

from __future__ import annotations

import numpy as np
import pytest

from raydistill.data import QAExample, encode_squad, postprocess_qa
from raydistill.errors import DataError

from .conftest import CONTEXT

# CONTEXT has 22 tokens: one two three four five red blue green yes no the movie was good . |
# paris(15) is the capital(18) of france(20) .   Question "what is the capital ?" = 5 tokens
# -> 20 - 5 - 3 = 12 context tokens per window, 4 shared: windows cover tokens 0-11, 8-19, 16-21.
SETTINGS = {"max_seq_length": 20, "doc_stride": 4, "max_query_length": 8}


def _example(answer: str, qid: str = "q") -> QAExample:
    return QAExample(
        qid, "what is the capital ?", CONTEXT, [{"text": answer, "answer_start": CONTEXT.index(answer)}]
    )


def test_windows_and_positions(tiny_tokenizer) -> None:
    ds, features = encode_squad([_example("paris")], tiny_tokenizer, train=True, **SETTINGS)
    assert len(ds) == 3 and features == []
    positions = [(int(it["start_positions"]), int(it["end_positions"])) for it in ds]
    assert positions[0] == (0, 0) and positions[2] == (0, 0)  # answer not inside -> [CLS]
    start, end = positions[1]
    assert tiny_tokenizer.decode(ds[1]["input_ids"][start : end + 1]) == "paris"
    assert set(ds[1]) == {"input_ids", "attention_mask", "token_type_ids", "start_positions", "end_positions"}
    assert all(len(it["input_ids"]) <= 20 for it in ds)


def test_multi_token_answer_only_in_last_window(tiny_tokenizer) -> None:
    ds, _ = encode_squad([_example("capital of france")], tiny_tokenizer, train=True, **SETTINGS)
    positions = [(int(it["start_positions"]), int(it["end_positions"])) for it in ds]
    assert positions[:2] == [(0, 0), (0, 0)]  # window 2 ends at 'capital': the answer does not fit whole
    start, end = positions[2]
    assert tiny_tokenizer.decode(ds[2]["input_ids"][start : end + 1]) == "capital of france"


def test_gold_positions_decode_to_answer_text(tiny_tokenizer) -> None:
    examples = [_example("paris", "p"), _example("capital of france", "c"), _example("red", "r")]
    train, _ = encode_squad(examples, tiny_tokenizer, train=True, **SETTINGS)
    evals, features = encode_squad(examples, tiny_tokenizer, train=False, **SETTINGS)
    assert len(features) == len(evals) == len(train)
    assert "start_positions" not in evals[0] and all(
        isinstance(v, type(evals[0]["input_ids"])) for v in evals[0].values()
    )
    width = 25  # wider than any window: the padding columns hold huge logits that must be ignored
    start, end = np.full((len(train), width), -5.0), np.full((len(train), width), -5.0)
    for i, item in enumerate(train):
        n = len(item["input_ids"])
        start[i, n:] = end[i, n:] = 100.0
        start[i, 1] = 50.0  # a question token: never an answer
        s, e = int(item["start_positions"]), int(item["end_positions"])
        if s != 0:
            start[i, s], end[i, e] = 10.0, 10.0
    answers = postprocess_qa(examples, features, start, end)
    assert answers == {"p": "paris", "c": "capital of france", "r": "red"}


def test_max_answer_length_and_order(tiny_tokenizer) -> None:
    ex = [_example("paris")]
    evals, features = encode_squad(ex, tiny_tokenizer, train=False, **SETTINGS)
    n = len(
        evals[0]["input_ids"]
    )  # window 0: [CLS] 5 question tokens [SEP] one(7) two three four five red(12) ...
    start, end = np.full((len(evals), n), -100.0), np.full((len(evals), n), -100.0)
    start[0, 7], end[0, 16] = 9.0, 9.0  # 'one' .. 'no': 10 tokens
    end[0, 9] = 5.0  # 'one two three': 3 tokens, score 14
    start[0, 12] = 20.0  # 'red' .. 'no' (5 tokens) scores 29; 'red' .. 'three' ends before it starts
    assert postprocess_qa(ex, features, start, end, max_answer_length=3) == {"q": "one two three"}
    assert postprocess_qa(ex, features, start, end, max_answer_length=30) == {"q": "red blue green yes no"}
    assert postprocess_qa(ex, features, start, end, n_best=1) == {"q": "red blue green yes no"}


def test_long_questions_are_cut(tiny_tokenizer) -> None:
    long_q = QAExample("q", "  what " + "red blue green " * 10 + "?", CONTEXT, [])
    ds, _ = encode_squad(
        [long_q], tiny_tokenizer, train=False, max_seq_length=20, doc_stride=4, max_query_length=5
    )
    question_tokens = int((ds[0]["token_type_ids"] == 0).sum()) - 2  # minus [CLS] and [SEP]
    assert question_tokens == 5


def test_settings_errors(tiny_tokenizer) -> None:
    with pytest.raises(DataError, match="doc_stride 128 must be < .* = 61"):
        encode_squad([_example("paris")], tiny_tokenizer, train=True, max_seq_length=128, doc_stride=128)

    class Slow:
        is_fast = False

    with pytest.raises(DataError, match="fast tokenizer"):
        encode_squad([_example("paris")], Slow(), train=True)
