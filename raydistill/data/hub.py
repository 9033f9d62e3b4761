"""HF hub source: `datasets.load_dataset` -> the same `Example` / `QAExample` lists as the local readers.

Only `load_hub_split` touches the network; `examples_from_records` / `qa_examples_from_records` convert any
iterable of row dicts (a `datasets.Dataset` iterates as dicts) and are what the tests exercise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from raydistill.data.examples import Example, QAExample
from raydistill.data.readers._common import COLUMN_KEYS, parse_label
from raydistill.data.tasks import Task
from raydistill.errors import DataError


def hub_name_and_config(task: Task, hub_name: str | None = None) -> tuple[str, str | None]:
    """Resolve the dataset to load: `hub_name` may be "path" or "path:config" (default: the task's own).

    The task's config is kept when `hub_name` is the task's own dataset (or its short name, e.g. "glue").
    """
    if not hub_name:
        return task.hub_path, task.hub_config
    if ":" in hub_name:
        path, config = hub_name.split(":", 1)
        return path, config or None
    own = hub_name in (task.hub_path, task.hub_path.rsplit("/", 1)[-1])
    return hub_name, task.hub_config if own else None


def require_hub_dataset(task: Task, hub_name: str | None = None) -> None:
    """Fail at once when the task's hub dataset is not in the local cache and the hub cannot be used (offline
    mode, or no network), instead of after `load_dataset`'s retries inside a Ray worker.

    Raises:
        DataError: naming the dataset, why the hub cannot be used, and the ways to fix it.
    """
    from raydistill.hub_access import dataset_in_cache, hub_unavailable

    path, _ = hub_name_and_config(task, hub_name)
    if dataset_in_cache(path):
        return
    why = hub_unavailable()
    if why:
        raise DataError(
            f"data: the hub dataset {path!r} is not in the local cache and the hub cannot be used: {why}; "
            "give data.path to read local files (GLUE TSV dir, CSV, JSONL, SQuAD JSON), or download it once "
            "on a machine with network access"
        )


def load_hub_split(
    task: Task,
    split: str,
    name: str,
    hub_name: str | None = None,
    columns: Mapping[str, str | None] | None = None,
) -> list[Example] | list[QAExample]:
    """Load one hub split (e.g. "validation_matched") as examples whose guids start with `name`.

    Raises:
        DataError: the dataset cannot be loaded (offline, unknown name or split) or lacks a needed column.
    """
    import datasets  # heavy; imported only when the hub is used

    path, config = hub_name_and_config(task, hub_name)
    try:
        ds = datasets.load_dataset(path, config, split=split)
    except Exception as exc:  # any failure here is a data-source problem for the user
        raise DataError(
            f"hub dataset {path!r} (config {config!r}, split {split!r}) could not be loaded: {exc}; "
            "check data.hub_name, or give data.path to read local files (offline machines)"
        ) from None
    where = f"hub {path}:{config or ''}/{split}"
    if task.kind == "qa":
        return qa_examples_from_records(ds, where)
    return examples_from_records(ds, task, name, where, columns)


def examples_from_records(
    records: Iterable[Mapping[str, Any]],
    task: Task,
    split: str,
    where: str = "hub",
    columns: Mapping[str, str | None] | None = None,
) -> list[Example]:
    """Convert row dicts (hub columns `task.text_a`, `task.text_b`, "label", or `columns`) to examples.

    Integer labels (`ClassLabel`) are kept as class ids; string labels map through `task.labels`.

    Raises:
        DataError: a missing column (naming the row) or an unknown label.
    """
    names = _column_names(task, columns)
    out: list[Example] = []
    for i, row in enumerate(records):
        at = f"{where} row {i}"
        text_b = _field(row, names["text_b"], at)
        out.append(
            Example(
                guid=f"{split}-{i}",
                text_a=str(_field(row, names["text_a"], at)),
                text_b=None if text_b is None else str(text_b),
                label=parse_label(_field(row, names["label"], at), task, at, names["label"] or "label"),
            )
        )
    if not out:
        raise DataError(f"{where}: no rows")
    return out


def qa_examples_from_records(records: Iterable[Mapping[str, Any]], where: str = "hub") -> list[QAExample]:
    """Convert SQuAD-style hub rows (`answers = {"text": [...], "answer_start": [...]}`) to `QAExample`s."""
    out: list[QAExample] = []
    for i, row in enumerate(records):
        at = f"{where} row {i}"
        answers = _field(row, "answers", at)
        pairs = zip(answers["text"], answers["answer_start"], strict=True)
        out.append(
            QAExample(
                qid=str(_field(row, "id", at)),
                question=str(_field(row, "question", at)),
                context=str(_field(row, "context", at)),
                answers=[{"text": t, "answer_start": int(s)} for t, s in pairs],
                title=str(row.get("title", "")),
            )
        )
    if not out:
        raise DataError(f"{where}: no rows")
    return out


def _column_names(task: Task, columns: Mapping[str, str | None] | None) -> dict[str, str | None]:
    names: dict[str, str | None] = {"text_a": task.text_a, "text_b": task.text_b, "label": "label"}
    for key, value in (columns or {}).items():
        if key not in COLUMN_KEYS:
            raise DataError(f"columns: unknown key {key!r}; allowed keys: {list(COLUMN_KEYS)}")
        if value is not None:
            names[key] = value
    return names


def _field(row: Mapping[str, Any], name: str | None, where: str) -> Any:
    if name is None:
        return None
    if name not in row:
        raise DataError(
            f"{where}: missing column {name!r}; the row has {sorted(row)}; map it with data.columns"
        )
    return row[name]
