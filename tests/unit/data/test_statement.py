"""The split statement (`data.statement`): the data each reported number was scored on, named as the trainer
reads it, for the SQuAD dev file split by article (train + search from articles 0-8, report split 9-11)."""

from __future__ import annotations

from pathlib import Path

import pytest

from raydistill.data import get_task, load_splits
from raydistill.data.statement import split_statement

from .conftest import CONTEXT, Writer, squad_json

ARTICLES = 12


@pytest.fixture
def squad_file(write: Writer) -> Path:
    """One SQuAD-format file named like the official dev file: 12 articles x 3 questions."""
    questions = [
        ("what is the capital ?", "paris"),
        ("what is red ?", "red"),
        ("what was good ?", "the movie"),
    ]
    articles = [
        (f"article {k}", CONTEXT, [(f"q{k}-{j}", q, a) for j, (q, a) in enumerate(questions)])
        for k in range(ARTICLES)
    ]
    return write("squad_v1.1/dev-v1.1.json", squad_json(articles))


def _data(squad_file: Path, **changes: object) -> dict:
    return {"path": str(squad_file.parent), "train_file": "dev-v1.1.json[0:9]", "dev_file": "dev-v1.1.json[9:]",
            "search_fraction": 0.25} | changes  # fmt: skip


@pytest.mark.parametrize("seed", [0, 1, 42])
def test_no_article_is_in_two_splits(squad_file: Path, seed: int) -> None:
    data = _data(squad_file)
    keys = ("path", "train_file", "dev_file")
    splits = load_splits(get_task("squad"), search_fraction=0.25, seed=seed, **{k: data[k] for k in keys})
    train, search = {e.title for e in splits.train}, {e.title for e in splits.search}
    dev = {e.title for e in splits.dev["dev"]}
    assert train and search and dev
    assert not (train & search) and not (train & dev) and not (search & dev)
    assert train | search == {f"article {k}" for k in range(9)} and dev == {
        f"article {k}" for k in range(9, 12)
    }
    assert len(splits.search) % 3 == 0  # whole articles: every question of a search article is in search


def test_the_statement_names_the_articles_of_each_split(squad_file: Path) -> None:
    splits = load_splits(get_task("squad"), search_fraction=0.25, seed=42,
                         path=squad_file.parent, train_file="dev-v1.1.json[0:9]", dev_file="dev-v1.1.json[9:]")  # fmt: skip
    statement = split_statement(_data(squad_file), "squad", seed=42)
    assert statement.dev == "SQuAD v1.1 dev articles 9-11 (9 questions)"
    numbers = sorted(int(e.title.split()[1]) for e in splits.search[::3])
    assert statement.search == (
        f"SQuAD v1.1 dev articles {', '.join(map(str, numbers))} (carved by article from SQuAD v1.1 dev "
        f"articles 0-8, seed 42; {len(splits.search)} questions)"
    )
    assert (
        statement.train
        == f"SQuAD v1.1 dev articles 0-8 less the search split ({len(splits.train)} questions)"
    )


def test_the_statement_says_when_train_is_capped(squad_file: Path) -> None:
    statement = split_statement(_data(squad_file, max_train_examples=12), "squad", seed=42)
    assert "carved by article from first 12 questions of SQuAD v1.1 dev articles 0-8" in statement.search
    assert statement.train.startswith(
        "first 12 questions of SQuAD v1.1 dev articles 0-8 less the search split"
    )


def test_a_classification_statement_names_its_files(sst2_dir: Path) -> None:
    statement = split_statement({"path": str(sst2_dir), "search_fraction": 0.25}, "sst2", seed=42)
    assert statement.dev == "SST-2/dev.tsv (4 examples)"
    assert statement.search == "0.25 of SST-2/train.tsv (carved by example, seed 42; 5 examples)"
