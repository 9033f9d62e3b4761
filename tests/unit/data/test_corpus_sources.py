"""Making a general-distillation corpus from GLUE TSVs, SQuAD JSON and text files (`data.corpus_sources`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from raydistill.data.corpus import encode_corpus, read_corpus
from raydistill.data.corpus_sources import build_corpus, parse_article_range
from raydistill.errors import DataError

from .conftest import SENTIMENT, Writer, squad_json

MRPC_HEADER = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")[:-1]  # every line ends with "\n"


@pytest.fixture
def squad_file(write: Writer) -> Path:
    """Three articles, one paragraph each with its own context and two questions."""
    articles = [
        (f"art{k}", f"context of article {k} .", [(f"q{k}a", f"what is {k} ?", "article"), (f"q{k}b", "who ?", "of")])
        for k in range(3)
    ]
    return write("squad/dev-v1.1.json", squad_json(articles))


# ------------------------------------------------------------------------------------------------ GLUE
def test_a_glue_folder_gives_its_train_sentences_in_order(sst2_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "corpus.txt"
    result = build_corpus(out, [sst2_dir])
    expected = [f"{text} {i}" for i in range(2) for text, _ in SENTIMENT]
    assert lines_of(out) == expected  # train.tsv only: dev.tsv (the report split) is not read
    assert (result.lines, result.bytes) == (20, out.stat().st_size)
    assert result.sources[0].detail == "sst2 train.tsv"


def test_a_pair_task_gives_both_sentences_of_each_row(write: Writer, tmp_path: Path) -> None:
    rows = "1\t11\t12\tthe movie was good .\tit was a good film .\n0\t13\t14\tred river\tblue  water\n"
    path = write("MRPC/train.tsv", MRPC_HEADER + rows, bom=True)
    build_corpus(tmp_path / "c.txt", [path])
    assert lines_of(tmp_path / "c.txt") == ["the movie was good .", "it was a good film .", "red river", "blue water"]


def test_a_headerless_cola_file_reads_its_sentence_column(write: Writer, tmp_path: Path) -> None:
    path = write("CoLA/train.tsv", "gj04\t1\t\tthe movie was good .\ngj04\t0\t*\tgood the was .\n")
    build_corpus(tmp_path / "c.txt", [path])
    assert lines_of(tmp_path / "c.txt") == ["the movie was good .", "good the was ."]


def test_a_folder_named_for_no_task_needs_the_task_option(write: Writer, tmp_path: Path) -> None:
    path = write("mydata/train.tsv", "sentence\tlabel\nvery good\t1\n")
    with pytest.raises(DataError, match=r"'mydata' names no task.*SST-2.*--task NAME"):
        build_corpus(tmp_path / "c.txt", [path])
    build_corpus(tmp_path / "c.txt", [path], task="sst2")
    assert lines_of(tmp_path / "c.txt") == ["very good"]


def test_an_eval_split_is_refused_unless_allowed(sst2_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.txt"
    with pytest.raises(DataError, match=r"dev.tsv' is an evaluation split.*train.tsv.*--allow-eval-splits"):
        build_corpus(out, [sst2_dir / "dev.tsv"])
    assert not out.exists()
    build_corpus(out, [sst2_dir / "dev.tsv"], allow_eval_splits=True)
    assert lines_of(out) == [text for text, _ in SENTIMENT[:4]]
    result = build_corpus(out, [sst2_dir], allow_eval_splits=True)  # a folder: train, then its dev files
    assert result.sources[0].detail == "sst2 train.tsv + dev.tsv" and result.lines == 24


def test_a_folder_without_a_train_file_says_how_to_read_its_dev_files(write: Writer, tmp_path: Path) -> None:
    folder = write("QNLI/dev.tsv", "index\tquestion\tsentence\tlabel\n0\twho ?\tit .\tentailment\n").parent
    with pytest.raises(DataError, match=r"no train.tsv in this qnli folder.*--allow-eval-splits"):
        build_corpus(tmp_path / "c.txt", [folder])
    build_corpus(tmp_path / "c.txt", [folder], allow_eval_splits=True)
    assert lines_of(tmp_path / "c.txt") == ["who ?", "it ."]


# ----------------------------------------------------------------------------------------------- SQuAD
def test_squad_gives_each_context_once_and_flags_every_article(squad_file: Path, tmp_path: Path) -> None:
    result = build_corpus(tmp_path / "c.txt", [squad_file])
    assert lines_of(tmp_path / "c.txt") == [f"context of article {k} ." for k in range(3)]
    (source,) = result.sources
    assert source.detail == "squad contexts of every article"
    assert source.warning is not None and "every article (0-2)" in source.warning
    assert "--articles 0-37" in source.warning


def test_squad_questions_follow_their_context(squad_file: Path, tmp_path: Path) -> None:
    build_corpus(tmp_path / "c.txt", [squad_file], questions=True, articles="0-1")
    assert lines_of(tmp_path / "c.txt") == [
        "context of article 0 .", "what is 0 ?", "who ?", "context of article 1 .", "what is 1 ?",
    ]  # the second "who ?" is a duplicate


@pytest.mark.parametrize(("articles", "slice_in_name"), [("1-2", ""), (None, "[1:3]"), ("2", "")])
def test_squad_article_ranges(squad_file: Path, tmp_path: Path, articles: str | None, slice_in_name: str) -> None:
    result = build_corpus(tmp_path / "c.txt", [f"{squad_file}{slice_in_name}"], articles=articles)
    first = 2 if articles == "2" else 1
    assert lines_of(tmp_path / "c.txt") == [f"context of article {k} ." for k in range(first, 3)]
    assert result.sources[0].warning is None
    assert result.sources[0].detail == f"squad contexts of articles {first}-2"


@pytest.mark.parametrize(
    ("articles", "source_suffix", "message"),
    [
        ("1-5", "", r"articles 1-5 are not all in the file \(it has articles 0-2\)"),
        ("3", "", r"articles 3-3 are not all in the file"),
        ("2-1", "", r"ends before it starts"),
        ("a-b", "", r"inclusive range of article numbers"),
        ("0-1", "[0:2]", r"article slice and --articles"),
    ],
)
def test_bad_article_ranges(
    squad_file: Path, tmp_path: Path, articles: str, source_suffix: str, message: str
) -> None:
    with pytest.raises(DataError, match=message):
        build_corpus(tmp_path / "c.txt", [f"{squad_file}{source_suffix}"], articles=articles)


def test_parse_article_range_is_inclusive() -> None:
    assert parse_article_range("0-37") == slice(0, 38)
    assert parse_article_range(" 5 ") == slice(5, 6)


# ------------------------------------------------------------------------------- text, order, length
def test_whitespace_is_normalised_and_the_first_duplicate_kept(
    write: Writer, sst2_dir: Path, tmp_path: Path
) -> None:
    text = write("extra.txt", "  plot \t twist \n\n\u00a0\nthe movie was great fun 1\nnew  line\nplot twist\n")
    result = build_corpus(tmp_path / "c.txt", [text, sst2_dir])
    lines = lines_of(tmp_path / "c.txt")
    assert lines[:3] == ["plot twist", "the movie was great fun 1", "new line"]
    assert lines[3:] == [f"{t} {i}" for i in range(2) for t, _ in SENTIMENT if f"{t} {i}" != lines[1]]
    assert result.duplicates == 2 and result.sources[0].lines == 4


def test_max_lines_cuts_after_deduplication(write: Writer, tmp_path: Path) -> None:
    text = write("t.txt", "a\na\nb\nc\nd\n")
    result = build_corpus(tmp_path / "c.txt", [text], max_lines=2)
    assert lines_of(tmp_path / "c.txt") == ["a", "b"]
    assert (result.lines, result.duplicates, result.cut) == (2, 1, 2)
    assert "2 more lines left out by --max-lines" in result.summary()


def test_the_written_file_feeds_general_distillation(
    sst2_dir: Path, squad_file: Path, tmp_path: Path, tiny_tokenizer
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "corpus.txt"
    result = build_corpus(out, [sst2_dir / "train.tsv", squad_file], articles="0-1")
    lines = read_corpus(out)
    assert lines == lines_of(out) and len(lines) == result.lines == 22
    data = encode_corpus(lines, tiny_tokenizer, max_seq_length=16)
    assert len(data) == 22 and "labels" not in data[0]
    assert data[21]["input_ids"].tolist() == tiny_tokenizer("context of article 1 .", max_length=16)["input_ids"]


# ------------------------------------------------------------------------------------- user mistakes
@pytest.mark.parametrize(
    ("out_name", "source_name", "message"),
    [
        ("c.txt", "missing.tsv", r"'.*missing.tsv': no such file or folder"),
        ("c.txt", "notes.md", r"unknown format '.md'.*\.txt file"),
        ("c.txt", "blank.txt", r"hold no text; nothing written"),
        ("nowhere/c.txt", "t.txt", r"output folder '.*nowhere' does not exist"),
        ("c.tsv", "t.txt", r"give a name ending in .txt \(OUT comes first"),
        ("t.txt", "t.txt", r"is also a source"),
        ("sub.txt", "t.txt", r"is a folder"),
        ("c.txt", "t.txt[0:2]", r"article slice \[a:b\] only fits a SQuAD .json"),
    ],
)
def test_user_mistakes_are_data_errors(
    write: Writer, tmp_path: Path, out_name: str, source_name: str, message: str
) -> None:
    write("notes.md", "text\n")
    write("blank.txt", "\n  \n\t\n")
    write("t.txt", "some text\n")
    (tmp_path / "sub.txt").mkdir()
    with pytest.raises(DataError, match=message):
        build_corpus(tmp_path / out_name, [tmp_path / source_name])
    assert not (tmp_path / "c.txt").exists()


def test_an_interrupted_write_leaves_the_old_file_and_no_partial_one(
    write: Writer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = write("corpus.txt", "old\n")
    source = write("t.txt", "new text\n")

    def interrupted(self: Path, target: Path) -> Path:
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_corpus(out, [source])
    assert out.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.txt", "t.txt"]
