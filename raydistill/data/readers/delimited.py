"""TSV (GLUE, ChnSentiCorp) and CSV readers.

GLUE TSVs are read exactly as distributed: `csv.QUOTE_NONE` (the files hold stray `"` characters that are
text, not quoting), `utf-8-sig` (MRPC files start with a byte-order mark), and no header for CoLA train/dev
(the task's `LocalColumns` then gives field indices). Generic CSV uses standard quoting and a header row.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal

from raydistill.data.examples import Example
from raydistill.data.readers._common import apply_overrides, check_file, parse_label
from raydistill.data.tasks import LocalColumns, Task
from raydistill.errors import DataError

Quoting = Literal[0, 1, 2, 3]  # csv.QUOTE_*
Row = tuple[int, list[str]]  # (1-based line where the record starts, fields)


def read_tsv(
    path: str | Path, task: Task, split: str = "train", columns: Mapping[str, str | None] | None = None
) -> list[Example]:
    """Read a GLUE-style TSV file with the task's layout (`task.columns`), optionally renamed by `columns`.

    Raises:
        DataError: naming the file and line (missing file, empty file, missing column, wrong field count,
            unknown label, bad float).
    """
    return list(iter_tsv(path, task, split, columns))


def iter_tsv(
    path: str | Path, task: Task, split: str = "train", columns: Mapping[str, str | None] | None = None
) -> Iterator[Example]:
    """`read_tsv` one example at a time (nothing kept): checks a whole file cheaply, with the same errors."""
    p = check_file(path)
    layout = apply_overrides(task.columns, columns, p)
    return _examples(p, task, split, layout, delimiter="\t", quoting=csv.QUOTE_NONE)


def read_csv(
    path: str | Path, task: Task, split: str = "train", columns: Mapping[str, str | None] | None = None
) -> list[Example]:
    """Read a CSV file with a header; columns default to the task's hub names (`text_a`, `text_b`, "label").

    Raises:
        DataError: as `read_tsv`.
    """
    return list(iter_csv(path, task, split, columns))


def iter_csv(
    path: str | Path, task: Task, split: str = "train", columns: Mapping[str, str | None] | None = None
) -> Iterator[Example]:
    """`read_csv` one example at a time (nothing kept), with the same errors."""
    p = check_file(path)
    layout = apply_overrides(LocalColumns(task.text_a, task.text_b, "label"), columns, p)
    return _examples(p, task, split, layout, delimiter=",", quoting=csv.QUOTE_MINIMAL)


def peek_header(path: str | Path, delimiter: str = "\t") -> list[str]:
    """The first row of a delimited file (BOM stripped), e.g. to check it has the columns a task needs."""
    p = check_file(path)
    quoting: Quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    with p.open(encoding="utf-8-sig", newline="") as f:
        first = next(_numbered(csv.reader(f, delimiter=delimiter, quoting=quoting), p), None)
    return first[1] if first else []


def _examples(
    p: Path, task: Task, split: str, layout: LocalColumns, delimiter: str, quoting: Quoting
) -> Iterator[Example]:
    """The file's examples in order; `DataError` (file:line) on the first bad record, or when there is none."""
    with p.open(encoding="utf-8-sig", newline="") as f:
        rows = _numbered(csv.reader(f, delimiter=delimiter, quoting=quoting), p)
        if layout.has_header:
            first = next(rows, None)
            if first is None:
                raise DataError(f"{p}:1: empty file; expected a header and examples")
            index, n_fields = _header_index(first[1], layout, task, f"{p}:{first[0]}"), len(first[1])
        else:
            index = (int(layout.text_a), _opt_int(layout.text_b), int(layout.label))
            n_fields = layout.num_fields or max(i for i in index if i is not None) + 1
        count = 0
        for line, row in rows:
            if len(row) != n_fields:
                raise DataError(
                    f"{p}:{line}: {len(row)} fields, expected {n_fields}; "
                    "check for a stray delimiter or a cut line"
                )
            yield _example(row, index, task, f"{p}:{line}", layout.label, f"{split}-{count}")
            count += 1
    if not count:
        raise DataError(f"{p}: no examples (only a header or blank lines); expected one example per line")


def _numbered(reader: Iterator[list[str]], p: Path) -> Iterator[Row]:
    """Yield (start line, fields) for each non-blank record; decoding and csv errors become DataError."""
    last = 0
    try:
        for row in reader:
            start, last = last + 1, reader.line_num  # type: ignore[attr-defined]
            if row and any(field.strip() for field in row):
                yield start, row
    except UnicodeDecodeError as exc:
        raise DataError(f"{p}: not UTF-8 text ({exc.reason}); save the file as UTF-8") from None
    except csv.Error as exc:
        raise DataError(f"{p}:{last + 1}: unreadable row ({exc})") from None


def _header_index(
    header: list[str], layout: LocalColumns, task: Task, where: str
) -> tuple[int, int | None, int]:
    def find(name: str | int | None, role: str) -> int | None:
        if name is None:
            return None
        if name not in header:
            raise DataError(
                f"{where}: missing column {name!r} ({role} of task {task.name}); the header has {header}; "
                f"fix the file or map the column with data.columns.{role}"
            )
        return header.index(str(name))

    text_a, label = find(layout.text_a, "text_a"), find(layout.label, "label")
    if text_a is None or label is None:  # unreachable: both are always named
        raise DataError(f"{where}: task {task.name} names no text_a/label column")
    return text_a, find(layout.text_b, "text_b"), label


def _example(
    row: list[str],
    index: tuple[int, int | None, int],
    task: Task,
    where: str,
    label_col: str | int,
    guid: str,
) -> Example:
    a, b, y = index
    return Example(
        guid=guid,
        text_a=row[a],
        text_b=row[b] if b is not None else None,
        label=parse_label(row[y], task, where, label_col),
    )


def _opt_int(value: str | int | None) -> int | None:
    return None if value is None else int(value)
