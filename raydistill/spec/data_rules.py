"""Spec rules about the task and its data: does the source fit the task, do the columns exist?

Each rule takes the validated `Spec` and the task's registry entry and yields `Problem`s; `spec/rules.py`
lists them. File checks are cheap on purpose: only the header (first record) of the train file is read, with
the data layer's own helpers (`local_files`, `peek_header`, `peek_keys`), so the rules see files exactly as the
readers will.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from raydistill.errors import DataError
from raydistill.spec.problems import Problem
from raydistill.spec.schema import Spec

if TYPE_CHECKING:
    from raydistill.data.tasks import LocalColumns, Task

TSV_FORMATS = ("glue", "chnsenticorp")
HEADER_FORMATS = (*TSV_FORMATS, "csv", "jsonl")  # formats whose columns can be checked from the first record
ROLES = ("text_a", "text_b", "label")


def effective_format(spec: Spec, task: Task) -> str:
    """What will actually be read: a local format, or "hub" (source auto without a path)."""
    source = spec.data.source
    if source == "auto":
        return task.local_format if spec.data.path else "hub"
    return source


def allowed_sources(task: Task) -> list[str]:
    """Sources that can feed `task`: the hub, its own local format, and generic files (not for QA)."""
    generic = [] if task.kind == "qa" else ["csv", "jsonl"]
    return ["auto", "hub", task.local_format, *generic]


def default_layout(task: Task, fmt: str) -> LocalColumns:
    """Columns read before `data.columns` renames them: the task's TSV layout, or its hub names for CSV/JSONL."""
    from raydistill.data.tasks import LocalColumns

    return task.columns if fmt in TSV_FORMATS else LocalColumns(task.text_a, task.text_b, "label")


def source_fits_task(spec: Spec, task: Task) -> Iterator[Problem]:
    """`data.source` must be able to hold the task (no SQuAD JSON for sentiment, no GLUE TSV for QA...)."""
    allowed = allowed_sources(task)
    if spec.data.source not in allowed:
        yield Problem(
            "data.source",
            f"{spec.data.source!r} files do not fit task {task.name!r} ({task.kind}, local format "
            f"{task.local_format}); allowed for this task: {', '.join(allowed)}",
        )


def columns_fit_task(spec: Spec, task: Task) -> Iterator[Problem]:
    """`data.columns` must make sense for the task and format (a file-independent check)."""
    fmt = effective_format(spec, task)
    cols = spec.data.columns
    if not any(getattr(cols, role) is not None for role in ROLES):
        return
    if fmt == "squad":
        yield Problem(
            "data.columns", "SQuAD JSON has fixed fields (question, context, answers); drop data.columns"
        )
    elif fmt in TSV_FORMATS and not default_layout(task, fmt).has_header:
        yield Problem(
            "data.columns",
            f"task {task.name!r} reads header-less TSV rows (fields by position), so columns cannot be renamed; "
            "drop data.columns, or convert the file to CSV/JSONL with named columns (source csv/jsonl)",
        )
    elif cols.text_b is not None and not task.pairs:
        yield Problem(
            "data.columns.text_b",
            f"task {task.name!r} takes single sentences; drop text_b (map only text_a and label)",
        )


def qa_windows_fit(spec: Spec, task: Task) -> Iterator[Problem]:
    """SQuAD windows: the overlap `doc_stride` must be smaller than the context part of a window."""
    if task.kind != "qa":
        return
    d = spec.data
    room = d.max_seq_length - d.max_query_length - 3  # [CLS] question [SEP] context [SEP]
    if room <= 0:
        yield Problem(
            "data.max_seq_length",
            f"{d.max_seq_length} leaves no room for context after max_query_length {d.max_query_length} "
            f"and 3 special tokens; give max_seq_length > {d.max_query_length + 3} (384 is usual)",
        )
    elif d.doc_stride >= room:
        yield Problem(
            "data.doc_stride",
            f"{d.doc_stride} is not smaller than the {room} context tokens of a window (max_seq_length - "
            f"max_query_length - 3); give doc_stride < {room}, e.g. {room // 2}",
        )


def local_files_fit_task(spec: Spec, task: Task) -> Iterator[Problem]:
    """The train file's header must hold the columns the task reads (checked when `data.path` exists here)."""
    fmt = effective_format(spec, task)
    if fmt == "hub" or not spec.data.path:
        return
    root, problem = _resolve(spec.data.path)
    if problem is not None:
        yield problem
    elif root is not None and root.exists():
        yield from _check_train_file(spec, task, fmt, root)
    elif fmt in ("csv", "jsonl") and (root is None or not root.exists()):
        yield from _pairs_mapped(spec, task)  # the file is not here: judge the mapping alone


def _pairs_mapped(spec: Spec, task: Task) -> Iterator[Problem]:
    """A pair task whose text_a was renamed but text_b was not: almost surely a single-sentence file."""
    cols = spec.data.columns
    if task.pairs and cols.text_a is not None and cols.text_b is None:
        yield Problem(
            "data.columns.text_b",
            f"task {task.name!r} needs sentence pairs ({task.text_a} + {task.text_b}) but only text_a is "
            "mapped; give data.columns.text_b (the second sentence's column), or use a single-sentence task",
            near=("data.columns",),
        )


def _resolve(path: str) -> tuple[Path | None, Problem | None]:
    """`builtin:NAME` -> the shipped folder; other paths as given (`~` expanded)."""
    from raydistill.data import builtin

    if not path.startswith(builtin.PREFIX):
        try:
            root = Path(path).expanduser()
            root.exists()
        except (OSError, ValueError, RuntimeError) as exc:  # NUL byte, name too long, unknown ~user
            return None, Problem(
                "data.path", f"{path!r} is not a usable path ({exc}); give a local dir or file"
            )
        return root, None
    name = path[len(builtin.PREFIX) :]
    try:
        names = builtin.available()
    except OSError:  # no assets folder in this install
        names = []
    if name not in names:
        return None, Problem(
            "data.path", f"no built-in data set {name!r}; available: {', '.join(names) or 'none'}"
        )
    return Path(builtin.resolve_data_path(path) or path), None


def _check_train_file(spec: Spec, task: Task, fmt: str, root: Path) -> Iterator[Problem]:
    from raydistill.data.readers.squad import parse_article_slice
    from raydistill.data.splits import local_files

    at = "data.train_file" if spec.data.train_file else "data.path"
    train = local_files(task, fmt, root, spec.data.train_file, None)[0]
    if fmt == "squad":  # "dev-v1.1.json[0:38]" reads articles 0-37 of that file
        train = train.parent / parse_article_slice(train.name)[0]
    if not train.is_file():
        listing = (
            ", ".join(sorted(p.name for p in train.parent.iterdir())[:10]) if train.parent.is_dir() else ""
        )
        yield Problem(
            at,
            f"no train file {str(train)!r}; files there: {listing or 'none'}; set data.train_file",
            ("data.path",),
        )
        return
    if fmt not in HEADER_FORMATS:
        return
    fields, why = _header(train, fmt)
    if why:
        yield Problem(at, f"{why}; give a {fmt} file whose first line names the columns")
        return
    layout = default_layout(task, fmt)
    if not layout.has_header:
        if layout.num_fields is not None and len(fields) != layout.num_fields:
            yield Problem(
                at,
                f"{str(train)!r} has {len(fields)} tab-separated fields; task {task.name!r} reads header-less "
                f"rows of exactly {layout.num_fields} fields (the official {task.glue_dir or task.name} layout)",
            )
        return
    yield from _missing_columns(spec, task, layout, train, fields, at)


def _header(train: Path, fmt: str) -> tuple[list[str], str]:
    """The column names of the first record, or why they cannot be read."""
    from raydistill.data.readers.delimited import peek_header
    from raydistill.data.readers.jsonl import peek_keys

    try:
        fields = peek_keys(train) if fmt == "jsonl" else peek_header(train, "," if fmt == "csv" else "\t")
    except DataError as exc:
        return [], str(exc)
    except (OSError, UnicodeDecodeError) as exc:
        return [], f"{train}: cannot read the first line ({exc})"
    return fields, "" if fields else f"{train}: no header line"


def _missing_columns(
    spec: Spec, task: Task, layout: LocalColumns, train: Path, fields: list[str], at: str
) -> Iterator[Problem]:
    """One problem per place to fix: each explicitly mapped column, and the task's defaults together."""
    wrong: dict[str, list[str]] = {}
    for role in ROLES if task.pairs else ("text_a", "label"):
        mapped = getattr(spec.data.columns, role)
        name = mapped if mapped is not None else getattr(layout, role)
        if name is not None and name not in fields:
            wrong.setdefault(f"data.columns.{role}" if mapped is not None else at, []).append(
                f"{name!r} ({role})"
            )
    have = ", ".join(repr(f) for f in fields[:12])
    pairs = " (a sentence-pair task)" if task.pairs else ""
    for where, needed in wrong.items():
        fix = f"point data.path at the {task.glue_dir or task.name} files, or map data.columns"
        if where.startswith("data.columns"):
            fix = "map a column that exists in the file"
        yield Problem(
            where,
            f"train file {str(train)!r} has columns {have} but task {task.name!r}{pairs} needs "
            f"{', '.join(needed)}; {fix}",
        )
