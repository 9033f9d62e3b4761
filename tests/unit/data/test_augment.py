"""TinyBERT data augmentation on the tiny BERT: MLM candidates for one-piece words, GloVe neighbours for
multi-piece ones, p, seeds, batching, sentence pairs and the tokenizer's normal form."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import BertForMaskedLM

from raydistill.data.augment import (
    AugmentOptions,
    allowed_candidates,
    augment_examples,
    mlm_input,
    plan_sentence,
    read_augmented,
    split_words,
    write_augmented,
)
from raydistill.data.examples import Example
from raydistill.data.glove import Glove
from raydistill.data.splits import read_split
from raydistill.data.tasks import get_task
from tests.conftest import tiny_bert_config

# multi-piece words of the tiny vocabulary ("movie ##s", "love ##d"...) and a few GloVe-only words
GLOVE_WORDS = {
    "movies": [1.0, 0.1, 0.0], "films": [0.9, 0.2, 0.0], "plots": [0.7, 0.0, 0.3], "actors": [0.0, 1.0, 0.1],
    "rivers": [0.0, 0.1, 1.0], "boringly": [-1.0, 0.0, 0.2], "cities": [0.1, 0.0, 0.9], "u.s.": [1.0, 0.1, 0.01],
}  # fmt: skip
SENTENCES = [
    "the movies was great fun",
    "a boring plot , and bad acting",
    "i love this film , the actors were boringly good",
    "what city has rivers ? paris",
]


@pytest.fixture
def mlm() -> BertForMaskedLM:
    torch.manual_seed(0)
    return BertForMaskedLM(tiny_bert_config(attn_implementation="eager", initializer_range=0.5)).eval()


@pytest.fixture
def glove(tmp_path: Path) -> Glove:
    """A GloVe text file written here (3-d vectors), read back."""
    path = tmp_path / "glove.txt"
    path.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in GLOVE_WORDS.items()))
    return Glove.read(path)


def examples(pairs: bool = False) -> list[Example]:
    if pairs:
        return [Example(f"train-{i}", s, SENTENCES[-1 - i], i % 2) for i, s in enumerate(SENTENCES)]
    return [Example(f"train-{i}", s, None, i % 2) for i, s in enumerate(SENTENCES)]


def run(tokenizer, mlm, glove, exs, **options) -> list[tuple[Example, list[Example]]]:  # type: ignore[no-untyped-def]
    opts = AugmentOptions(**{"copies": 6, "p": 0.5, "top_k": 4, "seed": 1, **options})
    return list(augment_examples(exs, tokenizer, mlm, glove, opts))


def changed(original: str, copy: str, tokenizer) -> list[int]:  # type: ignore[no-untyped-def]
    a, b = split_words(original, tokenizer), copy.split(" ")
    assert len(a) == len(b)  # one word replaces one word
    return [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]


def test_glove_neighbours_are_cosine_nearest_without_the_word(glove: Glove) -> None:
    near = glove.neighbours(["movies", "rivers", "unknown"], 2)
    assert near == {"movies": ["u.s.", "films"], "rivers": ["cities", "plots"]}  # unknown words are left out
    vectors = np.array(list(GLOVE_WORDS.values()))
    cosine = vectors @ vectors[0] / np.linalg.norm(vectors, axis=1) / np.linalg.norm(vectors[0])
    assert [list(GLOVE_WORDS)[i] for i in np.argsort(-cosine)[1:3]] == near["movies"]


def test_words_are_in_the_tokenizers_normal_form(tiny_tokenizer, mlm, glove) -> None:
    text = "The MOVIES were Great, wasn't it?"
    assert split_words(text, tiny_tokenizer) == ["the", "movies", "were", "great", ",", "wasn", "'", "t", "it", "?"]
    out = run(tiny_tokenizer, mlm, glove, [Example("x", text, None, 1)], p=1.0)[0][1]
    assert out
    for ex in out:
        assert ex.text_a == ex.text_a.lower() and "  " not in ex.text_a
        assert split_words(ex.text_a, tiny_tokenizer) == ex.text_a.split(" ")  # already in normal form
        assert not any(w.startswith("##") for w in ex.text_a.split(" "))  # pieces never stand alone
        assert tiny_tokenizer.tokenize(ex.text_a) == [
            p for w in ex.text_a.split(" ") for p in tiny_tokenizer.tokenize(w)
        ]  # fmt: skip


def test_single_piece_words_take_the_mlms_top_k(tiny_tokenizer, mlm, glove) -> None:
    plan = plan_sentence("a boring plot , and bad acting", tiny_tokenizer)
    assert sorted(plan.mlm) == [1, 2, 5, 6] and plan.glove == []  # "a", "and": stopwords; ",": no letter
    flat = plan.flat
    allowed = allowed_candidates(tiny_tokenizer)
    for w, position in plan.mlm.items():
        ids, mask_at = mlm_input(flat, position, tiny_tokenizer, 128)
        types = [0] * (ids.index(tiny_tokenizer.sep_token_id) + 1)
        with torch.no_grad():
            logits = mlm(input_ids=torch.tensor([ids]), token_type_ids=torch.tensor([types + [1] * (len(ids) - len(types))])).logits[0, mask_at]  # fmt: skip
        logits[~allowed] = -torch.inf
        logits[flat[position]] = -torch.inf  # never the word itself
        expected = tiny_tokenizer.convert_ids_to_tokens(logits.topk(4).indices.tolist())
        assert ids[mask_at] == tiny_tokenizer.mask_token_id and ids[len(flat) + 2 + position] == flat[position]
        original = plan.words[w]
        for _, copies in run(tiny_tokenizer, mlm, glove, [Example("x", "a boring plot , and bad acting", None, 0)]):
            for ex in copies:
                word = ex.text_a.split(" ")[w]
                assert word == original or word in expected
        words = {ex.text_a.split(" ")[w] for _, cs in run(tiny_tokenizer, mlm, glove,
                 [Example("x", "a boring plot , and bad acting", None, 0)], copies=40, p=1.0) for ex in cs}  # fmt: skip
        assert words <= set(expected) and len(words) > 1, (original, words, expected)
        assert not any(t.startswith("##") or t.startswith("[") for t in expected)


def test_multi_piece_words_take_glove_neighbours_and_unknown_ones_stay(tiny_tokenizer, mlm, glove) -> None:
    text = "the movies , the plots and the riverss"  # "river ##s ##s": a multi-piece word GloVe does not know
    plan = plan_sentence(text, tiny_tokenizer)
    assert [plan.words[w] for w in plan.glove] == ["movies", "plots", "riverss"]
    near = {w: [n for n in found if n != "u.s."][:4] for w, found in glove.neighbours(["movies", "plots"], 8).items()}
    assert "u.s." in glove.neighbours(["movies"], 4)["movies"]  # 4 words in normal form: never a candidate
    seen: dict[str, set[str]] = {"movies": set(), "plots": set()}
    for _, copies in run(tiny_tokenizer, mlm, glove, [Example("x", text, None, 0)], p=1.0, copies=30):
        for ex in copies:
            words = ex.text_a.split(" ")
            seen["movies"].add(words[1])
            seen["plots"].add(words[4])
            assert words[7] == "riverss"
    assert seen["movies"] <= set(near["movies"]) and len(seen["movies"]) > 1
    assert seen["plots"] <= set(near["plots"]) and len(seen["plots"]) > 1


def test_p_zero_changes_nothing_and_p_one_changes_every_eligible_word(tiny_tokenizer, mlm, glove) -> None:
    assert all(copies == [] for _, copies in run(tiny_tokenizer, mlm, glove, examples(), p=0.0))
    for original, copies in run(tiny_tokenizer, mlm, glove, examples(), p=1.0):
        plan = plan_sentence(original.text_a, tiny_tokenizer)
        replaceable = sorted([*plan.mlm, *(w for w in plan.glove if plan.words[w] in GLOVE_WORDS)])
        assert copies
        for ex in copies:
            assert changed(original.text_a, ex.text_a, tiny_tokenizer) == replaceable


def test_deterministic_under_a_seed(tiny_tokenizer, mlm, glove) -> None:
    first = run(tiny_tokenizer, mlm, glove, examples())
    assert first == run(tiny_tokenizer, mlm, glove, examples())
    assert first != run(tiny_tokenizer, mlm, glove, examples(), seed=2)
    assert sum(len(c) for _, c in first) > len(first)  # several distinct copies per example
    guids = [ex.guid for _, c in first for ex in c]
    assert len(set(guids)) == len(guids) and all("-aug" in g for g in guids)


def test_batched_equals_one_by_one(tiny_tokenizer, mlm, glove) -> None:
    batched = run(tiny_tokenizer, mlm, glove, examples(), batch_size=64, chunk_examples=64)
    single = run(tiny_tokenizer, mlm, glove, examples(), batch_size=1, chunk_examples=1)
    assert batched == single
    reordered = run(tiny_tokenizer, mlm, glove, examples()[::-1], batch_size=3, chunk_examples=2)
    assert batched == reordered[::-1]  # an example's copies do not depend on its neighbours


def test_mlm_forwards_are_batched(tiny_tokenizer, mlm, glove) -> None:
    calls: list[int] = []
    mlm.bert.register_forward_hook(lambda module, args, kwargs_out: calls.append(1))
    run(tiny_tokenizer, mlm, glove, examples(), batch_size=64, chunk_examples=64)
    assert len(calls) == 1  # every masked word of the four examples in one forward
    masked_words = sum(len(plan_sentence(s, tiny_tokenizer).mlm) for s in SENTENCES)
    assert masked_words > 4


def test_a_pair_changes_one_sentence_per_copy(tiny_tokenizer, mlm, glove) -> None:
    for original, copies in run(tiny_tokenizer, mlm, glove, examples(pairs=True), p=1.0):
        assert copies
        for ex in copies:
            copy = int(ex.guid.rsplit("-aug", 1)[1])
            if copy % 2 == 0:  # even copies change text_a, odd ones text_b; the other is kept verbatim
                assert ex.text_b == original.text_b and ex.text_a != original.text_a
            else:
                assert ex.text_a == original.text_a and ex.text_b != original.text_b
            assert ex.label == original.label


def test_a_too_long_sentence_is_cut_around_the_mask(tiny_tokenizer) -> None:
    flat = list(range(100, 160))
    ids, at = mlm_input(flat, 50, tiny_tokenizer, 24)
    assert len(ids) <= 24 and ids[at] == tiny_tokenizer.mask_token_id
    window = ids[ids.index(tiny_tokenizer.sep_token_id) + 1 : -1]
    assert 150 in window and window == flat[window[0] - 100 : window[-1] - 99]


def test_the_augmented_file_reads_back(tmp_path: Path, tiny_tokenizer, mlm, glove) -> None:
    task = get_task("mrpc")
    rows = run(tiny_tokenizer, mlm, glove, examples(pairs=True))
    path = tmp_path / "augment" / "train.jsonl"
    counts = write_augmented(path, iter(rows), task)
    assert counts == {"examples": 4, "augmented": sum(len(c) for _, c in rows)}
    back = read_augmented(path, task)
    assert back == [ex for original, copies in rows for ex in (original, *copies)]
    plain = read_split(task, path, "train")  # the data readers read it as a JSONL train file
    assert [dataclasses.replace(ex, guid="") for ex in plain] == [dataclasses.replace(ex, guid="") for ex in back]
