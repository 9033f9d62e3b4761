"""Helpers shared by the local readers: file checks, column overrides, label parsing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from raydistill.data.tasks import LocalColumns, Task
from raydistill.errors import DataError

COLUMN_KEYS = ("text_a", "text_b", "label")


def check_file(path: str | Path) -> Path:
    """Return `path` as a Path if it is a readable, non-empty file.

    Raises:
        DataError: the file is missing, a directory, or empty.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file; check data.path / data.train_file / data.dev_file")
    if not p.is_file():
        raise DataError(f"{p}: is a directory, expected a data file")
    if p.stat().st_size == 0:
        raise DataError(f"{p}:1: empty file; expected a header and examples")
    return p


def apply_overrides(base: LocalColumns, columns: Mapping[str, str | None] | None, path: Path) -> LocalColumns:
    """Replace the column names in `base` by the non-None entries of `columns` (keys text_a/text_b/label).

    Raises:
        DataError: an unknown key, or renaming columns of a header-less file.
    """
    given = {k: v for k, v in (columns or {}).items() if v is not None}
    unknown = sorted(set(given) - set(COLUMN_KEYS))
    if unknown:
        raise DataError(f"columns: unknown key(s) {unknown}; allowed keys: {list(COLUMN_KEYS)}")
    if given and not base.has_header:
        raise DataError(
            f"{path}: this file has no header, so columns {given} cannot be used; "
            "drop data.columns or convert the file to CSV/JSONL with named columns"
        )
    return replace(
        base,
        text_a=given.get("text_a", base.text_a),
        text_b=given.get("text_b", base.text_b),
        label=given.get("label", base.label),
    )


def parse_label(raw: object, task: Task, where: str, column: str | int) -> int | float:
    """Turn a raw label (word, integer id, or score) into a class id or a float.

    Word labels map to their index in `task.labels` (hub order); integer ids are kept if in range.

    Args:
        raw: the field value (str from TSV/CSV; str, int or float from JSON).
        task: gives the label names or says the task is a regression.
        where: "FILE:LINE" for error messages.
        column: the label column, for error messages.

    Raises:
        DataError: empty label, a score that is not a number, or an unknown class.
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise DataError(f"{where}: empty label in column {column!r}; every example needs a label")
    if task.kind == "regression":
        try:
            return float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise DataError(
                f"{where}: bad float {raw!r} in column {column!r}; "
                f"task {task.name} needs a number such as 3.8"
            ) from None
    labels = task.labels or ()
    text = str(raw).strip()
    if text in labels:
        return labels.index(text)
    class_id = _as_int(raw)
    if class_id is not None and 0 <= class_id < len(labels):
        return class_id
    raise DataError(
        f"{where}: unknown label {raw!r} in column {column!r} for task {task.name}; "
        f"allowed: {list(labels)} or ids 0..{len(labels) - 1}"
    )


def _as_int(raw: object) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        return int(raw) if raw.is_integer() else None
    text = str(raw).strip()
    return int(text) if text.lstrip("-").isdigit() else None
