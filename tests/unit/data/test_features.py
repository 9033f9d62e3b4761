"""Tokenisation, dynamic padding, hub-row conversion, and `prepare_task_data` end to end on tiny models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from raydistill.data import (
    Example,
    PadCollator,
    encode_examples,
    encode_squad,
    examples_from_records,
    get_task,
    load_hub_split,
    prepare_task_data,
    qa_examples_from_records,
)
from raydistill.errors import DataError


def test_encode_examples_single_and_pairs(tiny_tokenizer) -> None:
    ds = encode_examples([Example("a", "the movie was good", None, 1)], get_task("sst2"), tiny_tokenizer, 16)
    item = ds[0]
    assert tiny_tokenizer.convert_ids_to_tokens(item["input_ids"].tolist()) == [
        "[CLS]",
        "the",
        "movie",
        "was",
        "good",
        "[SEP]",
    ]
    assert item["labels"].dtype == torch.long and int(item["labels"]) == 1
    assert item["attention_mask"].tolist() == [1] * 6 and item["token_type_ids"].tolist() == [0] * 6
    pair = encode_examples(
        [Example("b", "one two", "three four five red blue", 2.5)], get_task("stsb"), tiny_tokenizer, 8
    )
    assert len(pair[0]["input_ids"]) == 8  # truncated longest-first
    assert pair[0]["token_type_ids"].tolist() == [
        0,
        0,
        0,
        0,
        1,
        1,
        1,
        1,
    ]  # [CLS] one two [SEP] three four five [SEP]
    assert pair[0]["labels"].dtype == torch.float and float(pair[0]["labels"]) == 2.5
    with pytest.raises(DataError, match="needs sentence pairs"):
        encode_examples([Example("c", "x", None, 0)], get_task("rte"), tiny_tokenizer)


def test_pad_collator() -> None:
    items = [
        {
            "input_ids": torch.tensor([2, 7, 3]),
            "attention_mask": torch.ones(3, dtype=torch.long),
            "labels": torch.tensor(1),
        },
        {
            "input_ids": torch.tensor([2, 3]),
            "attention_mask": torch.ones(2, dtype=torch.long),
            "labels": torch.tensor(0),
        },
    ]
    batch = PadCollator(pad_token_id=9)(items)
    assert batch["input_ids"].tolist() == [[2, 7, 3], [2, 3, 9]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].tolist() == [1, 0]
    assert PadCollator(0, pad_to_multiple_of=4)(items)["input_ids"].shape == (2, 4)


def test_hub_rows_convert_like_local_files() -> None:
    datasets = pytest.importorskip("datasets")
    features = datasets.Features(
        {
            "premise": datasets.Value("string"),
            "hypothesis": datasets.Value("string"),
            "label": datasets.ClassLabel(names=["entailment", "neutral", "contradiction"]),
        }
    )
    ds = datasets.Dataset.from_dict(
        {"premise": ["P."], "hypothesis": ["H."], "label": [2]}, features=features
    )
    assert examples_from_records(ds, get_task("mnli"), "dev_matched") == [
        Example("dev_matched-0", "P.", "H.", 2)
    ]
    words = datasets.Dataset.from_dict({"txt": ["good"], "y": ["positive"]})
    assert (
        examples_from_records(words, get_task("sst2"), "train", columns={"text_a": "txt", "label": "y"})[
            0
        ].label
        == 1
    )
    with pytest.raises(DataError, match="hub row 0: missing column 'sentence'"):
        examples_from_records(words, get_task("sst2"), "train")
    squad = datasets.Dataset.from_dict(
        {
            "id": ["q1"],
            "title": ["T"],
            "context": ["Paris is big."],
            "question": ["What?"],
            "answers": [{"text": ["Paris"], "answer_start": [0]}],
        }
    )
    [qa] = qa_examples_from_records(squad)
    assert (qa.qid, qa.title, qa.answers) == ("q1", "T", [{"text": "Paris", "answer_start": 0}])


def test_hub_name_and_config_and_offline_error(monkeypatch) -> None:
    from raydistill.data.hub import hub_name_and_config

    sst2 = get_task("sst2")
    assert hub_name_and_config(sst2) == ("nyu-mll/glue", "sst2")
    assert hub_name_and_config(sst2, "glue") == ("glue", "sst2")  # the task's own data set: keep its config
    assert hub_name_and_config(sst2, "me/reviews") == ("me/reviews", None)
    assert hub_name_and_config(sst2, "me/reviews:en") == ("me/reviews", "en")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match="'nobody/none'.*could not be loaded.*give data.path"):
        load_hub_split(sst2, "validation", "dev", hub_name="nobody/none")


def test_prepare_task_data_classification(sst2_dir, tiny_tokenizer, tiny_config) -> None:
    from transformers import BertForSequenceClassification

    data = prepare_task_data("sst2", tiny_tokenizer, path=sst2_dir, max_seq_length=16, search_fraction=0.2)
    assert len(data.train) == 16 and len(data.search.dataset) == len(data.search.examples) == 4
    assert list(data.dev) == ["dev"] and data.dev["dev"].name == "dev" and data.search.name == "search"
    batch = data.collate([data.train[i] for i in range(4)])
    model = BertForSequenceClassification(tiny_config).eval()
    with torch.no_grad():
        out = model(**batch)
    assert out.logits.shape == (4, 2) and out.loss is not None
    dev = data.dev["dev"]
    labels = np.array([ex.label for ex in dev.examples])
    perfect = np.eye(2)[labels]  # one-hot logits of the gold labels
    assert dev.compute(perfect) == {"accuracy": 1.0}
    assert dev.compute(torch.tensor(1 - perfect)) == {"accuracy": 0.0}


def test_prepare_task_data_regression(write, tiny_tokenizer) -> None:
    rows = "".join(f"one two {i}\tthree four\t{i / 2}\n" for i in range(10))
    root = write("STS-B/train.tsv", "sentence1\tsentence2\tscore\n" + rows).parent
    write("STS-B/dev.tsv", "sentence1\tsentence2\tscore\n" + rows)
    data = prepare_task_data("stsb", tiny_tokenizer, path=root, max_seq_length=16)
    assert data.train[0]["labels"].dtype == torch.float
    dev = data.dev["dev"]
    scores = np.array([ex.label for ex in dev.examples])[:, None]  # (N, 1)
    assert dev.compute(scores) == pytest.approx({"pearson": 1.0, "spearmanr": 1.0})


def test_prepare_task_data_squad(squad_dir, tiny_tokenizer, tiny_config) -> None:
    from transformers import BertForQuestionAnswering

    data = prepare_task_data(
        "squad",
        tiny_tokenizer,
        path=squad_dir,
        max_seq_length=24,
        doc_stride=4,
        max_query_length=8,
        search_fraction=0.25,
    )
    item = data.train[0]
    assert set(item) == {"input_ids", "attention_mask", "token_type_ids", "start_positions", "end_positions"}
    dev = data.dev["dev"]
    assert (
        all(torch.is_tensor(v) for v in dev.dataset[0].values()) and "start_positions" not in dev.dataset[0]
    )
    assert (
        len(dev.examples) == 2 and len(dev.qa_features) == len(dev.dataset) > 2
    )  # several windows per question
    batch = data.collate([data.train[i] for i in range(3)])
    model = BertForQuestionAnswering(tiny_config).eval()
    with torch.no_grad():
        loss = model(**batch).loss
        out = model(**data.collate([dev.dataset[i] for i in range(len(dev.dataset))]))
    assert loss is not None and out.start_logits.shape[0] == len(dev.dataset)
    scores = dev.compute((out.start_logits, out.end_logits))  # an untrained model: some answer, any score
    assert set(scores) == {"f1", "exact_match"} and 0 <= scores["exact_match"] <= scores["f1"] <= 100
    # gold spans from the train-mode windows of the same questions give 100 / 100
    gold, _ = encode_squad(
        dev.examples, tiny_tokenizer, train=True, max_seq_length=24, doc_stride=4, max_query_length=8
    )
    start = np.full((len(gold), 24), -1.0)
    end = np.full((len(gold), 24), -1.0)
    for i, it in enumerate(gold):
        s, e = int(it["start_positions"]), int(it["end_positions"])
        if s:
            start[i, s], end[i, e] = 5.0, 5.0
    assert dev.compute((start, end)) == {"f1": 100.0, "exact_match": 100.0}


def test_prepare_task_data_errors(sst2_dir, tiny_tokenizer) -> None:
    with pytest.raises(DataError, match="Did you mean 'sst2'"):
        prepare_task_data("sst-2", tiny_tokenizer, path=sst2_dir)

    class NoPad:
        pad_token_id = None

    with pytest.raises(DataError, match="no pad token"):
        prepare_task_data("sst2", NoPad(), path=sst2_dir)
