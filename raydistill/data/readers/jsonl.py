"""JSON Lines reader: one JSON object per line, with a column mapping."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path

from raydistill.data.examples import Example
from raydistill.data.readers._common import apply_overrides, check_file, parse_label
from raydistill.data.tasks import LocalColumns, Task
from raydistill.errors import DataError


def read_jsonl(
    path: str | Path, task: Task, split: str = "train", columns: Mapping[str, str | None] | None = None
) -> list[Example]:
    """Read a JSONL file; keys default to the task's hub names (`text_a`, `text_b`, "label").

    Raises:
        DataError: naming the file and line (missing file, empty file, bad JSON, missing key, unknown label,
            bad float).
    """
    return list(iter_jsonl(path, task, split, columns))


def iter_jsonl(
    path: str | Path, task: Task, split: str = "train", columns: Mapping[str, str | None] | None = None
) -> Iterator[Example]:
    """`read_jsonl` one example at a time (nothing kept): checks a whole file cheaply, with the same errors."""
    p = check_file(path)
    layout = apply_overrides(LocalColumns(task.text_a, task.text_b, "label"), columns, p)
    return _examples(p, task, split, layout)


def _examples(p: Path, task: Task, split: str, layout: LocalColumns) -> Iterator[Example]:
    count = 0
    with p.open(encoding="utf-8-sig") as f:
        for line_no, line in enumerate(f, start=1):
            if line.strip():
                record = _load_line(line, f"{p}:{line_no}")
                yield _example(record, layout, task, f"{p}:{line_no}", f"{split}-{count}")
                count += 1
    if not count:
        raise DataError(f"{p}: no examples (blank file); expected one JSON object per line")


def peek_keys(path: str | Path) -> list[str]:
    """The keys of the first object of a JSONL file."""
    p = check_file(path)
    with p.open(encoding="utf-8-sig") as f:
        for line_no, line in enumerate(f, start=1):
            if line.strip():
                return list(_load_line(line, f"{p}:{line_no}"))
    return []


def _load_line(line: str, where: str) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{where}: bad JSON ({exc.msg} at column {exc.colno}); expected one object per line"
        ) from None
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}")
    return record


def _example(record: dict, layout: LocalColumns, task: Task, where: str, guid: str) -> Example:
    def get(key: str | int | None, role: str) -> object:
        if key is None:
            return None
        if key not in record:
            raise DataError(
                f"{where}: missing column {key!r} ({role} of task {task.name}); the object has keys "
                f"{sorted(record)}; map it with data.columns.{role}"
            )
        return record[key]

    text_b = get(layout.text_b, "text_b")
    return Example(
        guid=guid,
        text_a=str(get(layout.text_a, "text_a")),
        text_b=None if text_b is None else str(text_b),
        label=parse_label(get(layout.label, "label"), task, where, layout.label),
    )
