"""Train / search / dev splits: deterministic, disjoint, capped, and from every kind of local source."""

from __future__ import annotations

import pytest

from raydistill.data import Example, QAExample, carve_search, get_task, load_splits
from raydistill.data.splits import resolve_source
from raydistill.errors import DataError

from .conftest import CONTEXT, squad_json


def _examples(n: int) -> list[Example]:
    return [Example(f"train-{i}", f"text {i}", None, i % 2) for i in range(n)]


def test_carve_is_deterministic_disjoint_and_sized() -> None:
    examples = _examples(200)
    train, search = carve_search(examples, 0.1, seed=42)
    assert len(search) == 20 and len(train) == 180
    assert {e.guid for e in train}.isdisjoint({e.guid for e in search})
    assert {e.guid for e in train} | {e.guid for e in search} == {e.guid for e in examples}
    assert carve_search(examples, 0.1, seed=42) == (train, search)  # same seed, same split
    assert carve_search(list(reversed(examples)), 0.1, seed=42)[1] == list(reversed(search))  # order-free
    assert carve_search(examples, 0.1, seed=7)[1] != search  # another seed, another split
    assert [int(e.guid.split("-")[1]) for e in search] == sorted(int(e.guid.split("-")[1]) for e in search)


def test_carve_keeps_articles_together() -> None:
    examples = [
        QAExample(f"{a}-{q}", "q?", f"context {a}", [], title=f"art{a}") for a in range(10) for q in range(3)
    ]
    train, search = carve_search(examples, 0.2, seed=1)
    assert len(search) == 6  # two whole articles
    assert {e.title for e in train}.isdisjoint({e.title for e in search})
    with pytest.raises(DataError, match="1 articles; at least 2"):
        carve_search(examples[:3], 0.2, seed=1)
    with pytest.raises(DataError, match=r"must be in \(0, 1\)"):
        carve_search(examples, 1.0, seed=1)


def test_load_local_glue_with_caps(sst2_dir) -> None:
    splits = load_splits(get_task("sst2"), path=sst2_dir, search_fraction=0.25)
    assert len(splits.train) == 15 and len(splits.search) == 5 and len(splits.dev["dev"]) == 4
    capped = load_splits(
        get_task("sst2"), path=sst2_dir, max_train_examples=8, max_eval_examples=1, search_fraction=0.25
    )
    assert (
        len(capped.train) == 6 and len(capped.search) == 1
    )  # 8 -> search round(0.25 * 8) = 2 -> capped to 1
    assert {e.guid for e in capped.train + capped.search} <= {
        f"train-{i}" for i in range(8)
    }  # first 8 (file order)
    assert list(capped.dev) == ["dev"] and len(capped.dev["dev"]) == 1


def test_glue_root_train_file_path_and_dev_file(sst2_dir, write) -> None:
    from_root = load_splits(get_task("sst2"), source="glue", path=sst2_dir.parent)  # the GLUE root
    assert len(from_root.train) + len(from_root.search) == 20
    from_file = load_splits(get_task("sst2"), path=sst2_dir / "train.tsv")  # dev.tsv found beside it
    assert len(from_file.dev["dev"]) == 4
    write("SST-2/other.tsv", "sentence\tlabel\nx\t1\n")
    assert len(load_splits(get_task("sst2"), path=sst2_dir, dev_file="other.tsv").dev["dev"]) == 1


def test_mnli_has_two_dev_sets(write) -> None:
    header = "index\tsentence1\tsentence2\tgold_label\n"
    rows = "".join(
        f"{i}\tp{i}\th{i}\t{['entailment', 'neutral', 'contradiction'][i % 3]}\n" for i in range(9)
    )
    for name in ("train", "dev_matched", "dev_mismatched"):
        root = write(f"MNLI/{name}.tsv", header + rows).parent
    splits = load_splits(get_task("mnli"), path=root)
    assert list(splits.dev) == ["dev_matched", "dev_mismatched"]
    assert splits.dev["dev_mismatched"][0].guid == "dev_mismatched-0"
    assert list(load_splits(get_task("mnli"), path=root, dev_file="dev_matched.tsv").dev) == ["dev_matched"]


def test_csv_and_jsonl_sources(write) -> None:
    csv_rows = "".join(f"t{i},{i % 2}\n" for i in range(10))
    root = write("c/train.csv", "review,y\n" + csv_rows).parent
    write("c/dev.csv", "review,y\nok,1\n")
    splits = load_splits(
        get_task("sst2"), source="csv", path=root, columns={"text_a": "review", "label": "y"}
    )
    assert len(splits.train) + len(splits.search) == 10 and splits.dev["dev"][0].text_a == "ok"
    write(
        "j/train.jsonl",
        "".join(f'{{"sentence1": "a{i}", "sentence2": "b", "label": {i}.5}}\n' for i in range(4)),
    )
    write("j/dev.jsonl", '{"sentence1": "a", "sentence2": "b", "label": 1}\n')
    stsb = load_splits(get_task("stsb"), source="jsonl", path=root.parent / "j", search_fraction=0.5)
    assert len(stsb.search) == 2 and stsb.dev["dev"][0].label == 1.0


def test_squad_source_split_by_article(squad_dir) -> None:
    splits = load_splits(get_task("squad"), path=squad_dir, search_fraction=0.25)
    assert (
        len(splits.search) == 2
        and len(splits.train) == 6
        and [e.qid for e in splits.dev["dev"]] == ["d0", "d1"]
    )
    assert len({e.title for e in splits.search}) == 1
    assert {e.title for e in splits.train}.isdisjoint({e.title for e in splits.search})


def test_squad_article_slices_of_one_file_and_overlap_error(write) -> None:
    articles = [(f"a{k}", CONTEXT, [(f"q{k}", "what is the capital ?", "paris")]) for k in range(6)]
    root = write("sq/dev-v1.1.json", squad_json(articles)).parent
    task = get_task("squad")
    splits = load_splits(task, path=root, train_file="dev-v1.1.json[0:4]", dev_file="dev-v1.1.json[4:]")
    assert [e.qid for e in splits.dev["dev"]] == ["q4", "q5"] and len(splits.train) + len(splits.search) == 4
    with pytest.raises(DataError, match="shares 2 question ids with train"):
        load_splits(task, path=root, train_file="dev-v1.1.json", dev_file="dev-v1.1.json[4:]")


def test_source_errors(sst2_dir, squad_dir) -> None:
    assert resolve_source(get_task("sst2"), "auto", None) == "hub"
    assert resolve_source(get_task("sst2"), "auto", "x") == "glue"
    assert resolve_source(get_task("chnsenticorp"), "auto", "x") == "chnsenticorp"
    with pytest.raises(DataError, match="unknown; allowed"):
        load_splits(get_task("sst2"), source="parquet", path=sst2_dir)
    with pytest.raises(DataError, match="does not fit task sst2"):
        load_splits(get_task("sst2"), source="squad", path=squad_dir)
    with pytest.raises(DataError, match="does not fit task squad"):
        load_splits(get_task("squad"), source="csv", path=squad_dir)
    with pytest.raises(DataError, match="give data.path"):
        load_splits(get_task("sst2"), source="glue")
    with pytest.raises(DataError, match="drop one"):
        load_splits(get_task("sst2"), source="hub", path=sst2_dir)
    with pytest.raises(DataError, match="train.tsv:1: missing column 'sentence1'"):
        load_splits(get_task("rte"), path=sst2_dir)  # an SST-2 folder given for RTE
    with pytest.raises(DataError, match="no such file"):
        load_splits(get_task("sst2"), path=sst2_dir, dev_file="nope.tsv")
