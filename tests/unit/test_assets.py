"""The shipped quickstart sentiment set: found as package data, GLUE SST-2 format, balanced, no leaks.

Everything here reads the files through `importlib.resources`, the way an installed raydistill finds them.
"""

from __future__ import annotations

import re
from collections import Counter
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import pytest

from raydistill.data.builtin import available, resolve_data_path

NAME = "quickstart_sentiment"
HEADER = "sentence\tlabel"
COUNT_RANGE = {"train.tsv": (350, 450), "dev.tsv": (100, 150)}
WORDS_RANGE = (5, 25)


def _asset(filename: str) -> Traversable:
    return resources.files("raydistill") / "assets" / NAME / filename


def _lines(filename: str) -> list[str]:
    return _asset(filename).read_text(encoding="utf-8").split("\n")


def _rows(filename: str) -> list[tuple[str, int]]:
    """(text, label) pairs, parsed by hand so the test does not share code with the loader it guards."""
    lines = _lines(filename)
    assert lines[-1] == "", f"{filename} must end with a newline"
    rows = []
    for number, line in enumerate(lines[1:-1], start=2):
        fields = line.split("\t")
        assert len(fields) == 2, f"{filename}:{number}: {len(fields)} fields in {line!r}"
        text, label = fields
        assert label in {"0", "1"}, f"{filename}:{number}: label {label!r}"
        rows.append((text, int(label)))
    return rows


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


@pytest.mark.parametrize("filename", ["train.tsv", "dev.tsv", "README.md"])
def test_files_are_package_data(filename: str) -> None:
    assert _asset(filename).is_file()


def test_builtin_name_resolves_to_the_asset_folder() -> None:
    assert NAME in available()
    folder = Path(resolve_data_path(f"builtin:{NAME}") or "")
    assert folder.is_absolute()
    assert (folder / "train.tsv").read_bytes() == _asset("train.tsv").read_bytes()


@pytest.mark.parametrize("filename", ["train.tsv", "dev.tsv"])
def test_sst2_format(filename: str) -> None:
    assert _lines(filename)[0] == HEADER
    for text, _ in _rows(filename):
        assert text == text.strip() and text, f"{filename}: blank or padded text {text!r}"
        assert "\r" not in text
        words = len(text.split())
        assert WORDS_RANGE[0] <= words <= WORDS_RANGE[1], f"{filename}: {words} words in {text!r}"


@pytest.mark.parametrize("filename", ["train.tsv", "dev.tsv"])
def test_counts_in_range(filename: str) -> None:
    low, high = COUNT_RANGE[filename]
    assert low <= len(_rows(filename)) <= high


@pytest.mark.parametrize("filename", ["train.tsv", "dev.tsv"])
def test_labels_balanced(filename: str) -> None:
    labels = [label for _, label in _rows(filename)]
    share = sum(labels) / len(labels)
    assert 0.4 <= share <= 0.6, f"{filename}: {share:.2f} positive"


def test_no_duplicates_within_or_across_files() -> None:
    train = [_norm(t) for t, _ in _rows("train.tsv")]
    dev = [_norm(t) for t, _ in _rows("dev.tsv")]
    for name, texts in (("train.tsv", train), ("dev.tsv", dev)):
        repeated = [t for t, n in Counter(texts).items() if n > 1]
        assert not repeated, f"{name} repeats {repeated[:3]}"
    overlap = set(train) & set(dev)
    assert not overlap, f"train/dev share {sorted(overlap)[:3]}"


def test_readme_counts_match_files() -> None:
    """The README's count table (`| train.tsv | neg | pos | total |`) states the real numbers."""
    readme = _asset("README.md").read_text(encoding="utf-8")
    for filename in ("train.tsv", "dev.tsv"):
        match = re.search(rf"\|\s*{re.escape(filename)}\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|", readme)
        assert match, f"README has no count row for {filename}"
        labels = Counter(label for _, label in _rows(filename))
        assert tuple(map(int, match.groups())) == (labels[0], labels[1], labels[0] + labels[1])


def test_no_single_word_gives_the_label_away() -> None:
    """Best one-word rule ('label is y iff word w occurs') must stay near chance, so models have to read."""
    rows = _rows("train.tsv") + _rows("dev.tsv")
    bags = [(set(re.findall(r"[a-z']+", text.lower())), label) for text, label in rows]
    vocabulary = set().union(*(bag for bag, _ in bags))
    best = 0.0
    for word in vocabulary:
        agree = sum((word in bag) == (label == 1) for bag, label in bags)
        best = max(best, agree / len(bags), 1 - agree / len(bags))
    assert best < 0.6, f"one word predicts {best:.0%} of the labels"
