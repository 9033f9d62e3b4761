"""Local file readers: GLUE/ChnSentiCorp TSV, SQuAD JSON, generic CSV and JSONL.

Every reader raises `DataError` naming the file and, where it applies, the line.
"""

from __future__ import annotations

from pathlib import Path

from raydistill.data.readers.delimited import iter_csv, iter_tsv, peek_header, read_csv, read_tsv
from raydistill.data.readers.jsonl import iter_jsonl, peek_keys, read_jsonl
from raydistill.data.readers.squad import parse_article_slice, read_squad

# format -> (default train file, default dev file; "{name}" = the eval-set name, e.g. dev_matched)
DEFAULT_FILES: dict[str, tuple[str, str]] = {
    "glue": ("train.tsv", "{name}.tsv"),
    "chnsenticorp": ("train.tsv", "{name}.tsv"),
    "squad": ("train-v1.1.json", "{name}-v1.1.json"),
    "csv": ("train.csv", "{name}.csv"),
    "jsonl": ("train.jsonl", "{name}.jsonl"),
}

LOCAL_FORMATS = tuple(DEFAULT_FILES)


def peek_columns(path: str | Path) -> list[str]:
    """Column names of a data file: the header of a .tsv/.csv, the keys of the first .jsonl object.

    Useful to check, before any training, that a file has the columns a task needs.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".jsonl":
        return peek_keys(path)
    return peek_header(path, delimiter="," if suffix == ".csv" else "\t")


__all__ = [
    "DEFAULT_FILES",
    "LOCAL_FORMATS",
    "iter_csv",
    "iter_jsonl",
    "iter_tsv",
    "parse_article_slice",
    "peek_columns",
    "read_csv",
    "read_jsonl",
    "read_squad",
    "read_tsv",
]
