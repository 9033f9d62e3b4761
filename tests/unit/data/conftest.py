"""Tiny data files for the data-layer tests, written into tmp_path (no real data, no network)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

Writer = Callable[..., Path]


@pytest.fixture
def write(tmp_path: Path) -> Writer:
    """`write("SST-2/train.tsv", "a\\tb\\n", bom=False)` -> the written path (parents created)."""

    def _write(name: str, text: str, bom: bool = False) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(("\ufeff" if bom else "").encode() + text.encode("utf-8"))
        return path

    return _write


SENTIMENT = [
    ("the movie was great fun", 1),
    ("a boring plot", 0),
    ("i love this film", 1),
    ("bad acting and awful plot", 0),
    ("very good movie", 1),
    ("the actor was bad", 0),
    ("great film , great fun", 1),
    ("boring , boring , boring", 0),
    ("the plot was very good", 1),
    ("i hate this movie", 0),
]


@pytest.fixture
def sst2_dir(write: Writer) -> Path:
    """An SST-2-format dir: 20 train rows, 4 dev rows, header `sentence\\tlabel`."""
    train = "".join(f"{text} {i}\t{label}\n" for i in range(2) for text, label in SENTIMENT)
    write("SST-2/train.tsv", "sentence\tlabel\n" + train)
    return write(
        "SST-2/dev.tsv", "sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in SENTIMENT[:4])
    ).parent


CONTEXT = (
    "one two three four five red blue green yes no the movie was good . paris is the capital of france ."
)


def squad_json(articles: list[tuple[str, str, list[tuple[str, str, str]]]]) -> str:
    """SQuAD v1.1 JSON for [(title, context, [(qid, question, answer text)])]; answer_start = first match."""
    data = [
        {
            "title": title,
            "paragraphs": [
                {
                    "context": context,
                    "qas": [
                        {"id": qid, "question": q, "answers": [{"text": a, "answer_start": context.index(a)}]}
                        for qid, q, a in qas
                    ],
                }
            ],
        }
        for title, context, qas in articles
    ]
    return json.dumps({"version": "1.1", "data": data})


def squad_articles() -> tuple[list, list]:
    """(train, dev) SQuAD articles as `squad_json` takes them: 4 x 2 train questions, 1 x 2 dev questions."""
    train = [
        (
            f"art{k}",
            CONTEXT,
            [(f"t{k}a", "what is the capital ?", "paris"), (f"t{k}b", "what is red ?", "red")],
        )
        for k in range(4)
    ]
    dev = [
        (
            "dev0",
            CONTEXT,
            [("d0", "what is the capital of france ?", "paris"), ("d1", "what was good ?", "the movie")],
        )
    ]
    return train, dev


@pytest.fixture
def squad_dir(write: Writer) -> Path:
    """Train: 4 articles x 2 questions; dev: 1 article x 2 questions (all over the tiny vocabulary)."""
    train, dev = squad_articles()
    write("squad/train-v1.1.json", squad_json(train))
    return write("squad/dev-v1.1.json", squad_json(dev)).parent
