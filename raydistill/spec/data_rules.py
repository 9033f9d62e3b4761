"""Spec rules about the task and its data: does the source fit the task, are the files there and usable?

Each rule takes the validated `Spec` and the task's registry entry and yields `Problem`s; `spec/rules.py`
lists them. File checks use the data layer's own helpers (`local_files`, `peek_header`, `count_local`), so the
rules see files exactly as the readers in a Ray worker will: the path, the train and dev files, the train
file's header, and every line of each file (streamed, not tokenised: SST-2's 67k-line train file takes about
0.2 s), so an empty file or a label outside the task's labels fails at `validate`, not inside a worker. When
the run joins a Ray cluster these are warnings: the cluster's nodes read their own copy of the path.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from raydistill.errors import DataError
from raydistill.spec.problems import Problem
from raydistill.spec.schema import ColumnsSpec, Spec

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


def data_problems(spec: Spec) -> list[Problem]:
    """Every data rule of this module on `spec` (warnings included): what `validate` says about the data,
    for callers that hold a `Spec` rather than a file (the pipeline checks it before any stage starts Ray).

    Raises:
        DataError: `spec.task` is not a registered task.
    """
    from raydistill.data.tasks import get_task

    task = get_task(spec.task)
    rules = (source_fits_task, columns_fit_task, qa_windows_fit, local_files_fit_task)
    return [problem for rule in rules for problem in rule(spec, task)]


def local_files_fit_task(spec: Spec, task: Task) -> Iterator[Problem]:
    """The local data must be there and readable: the path, the train and dev files, the columns the task
    reads, at least one example per file, and only labels of the task (every line is read; nothing is kept).

    With `resources.address` on a cluster, whose nodes read their own copy of the path, problems found here
    are warnings (`on_cluster`).
    """
    fmt = effective_format(spec, task)
    if fmt == "hub" or not spec.data.path:
        return
    root, problem = _resolve(spec.data.path)
    if problem is not None:
        yield problem
        return
    assert root is not None  # _resolve gives a root or a problem
    if not root.exists():
        if fmt in ("csv", "jsonl"):
            yield from _pairs_mapped(spec, task)  # judge the mapping alone
        found: Iterator[Problem] = iter([_no_path(spec.data.path, task, fmt)])
    else:
        found = _check_files(spec, task, fmt, root)
    for problem in found:
        yield _judged_here(spec, problem) if on_cluster(spec) else problem


def on_cluster(spec: Spec) -> bool:
    """True when the run joins a Ray cluster (`resources.address` other than local): its nodes may hold
    `data.path` even when this machine does not."""
    return spec.resources.address not in (None, "", "local")


def _judged_here(spec: Spec, problem: Problem) -> Problem:
    """A local-file problem as a warning: the cluster's nodes may hold other files at that path."""
    return problem._replace(
        message=f"{problem.message} (checked on this machine only: the nodes of resources.address "
        f"{spec.resources.address!r} read their own copy)",
        warning=True,
    )


def _no_path(path: str, task: Task, fmt: str) -> Problem:
    return Problem(
        "data.path",
        f"{path!r} does not exist (relative paths start at {str(Path.cwd())!r}); give the dir or file "
        f"holding the {task.glue_dir or task.name} data ({fmt} format), or a built-in set such as "
        "builtin:quickstart_sentiment",
    )


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


def _check_files(spec: Spec, task: Task, fmt: str, root: Path) -> Iterator[Problem]:
    """Train file first (its header names the columns), then every dev file; each file is read whole, the dev
    files only when train had no problem (they repeat its layout, so they would repeat its problems)."""
    from raydistill.data.splits import local_files

    d = spec.data
    train, devs = local_files(task, fmt, root, d.train_file, d.dev_file)
    at_train = "data.train_file" if d.train_file else "data.path"
    at_dev = "data.dev_file" if d.dev_file else "data.path"
    train_problems = list(_check_train(spec, task, fmt, train, at_train))
    yield from train_problems
    for name, dev in devs.items():
        if not _file(dev).is_file():
            yield Problem(
                at_dev,
                f"no dev file {str(dev)!r} (eval set {name!r} of task {task.name!r}); {_listing(dev)}; "
                "set data.dev_file",
                ("data.path",),
            )
        elif not train_problems:
            yield from _read_whole(fmt, task, dev, name, d.columns, at_dev)


def _check_train(spec: Spec, task: Task, fmt: str, train: Path, at: str) -> Iterator[Problem]:
    """The train file: there, its header (the columns), then every line."""
    if not _file(train).is_file():
        yield Problem(
            at, f"no train file {str(train)!r}; {_listing(train)}; set data.train_file", ("data.path",)
        )
        return
    header = list(_check_header(spec, task, fmt, _file(train), at))
    yield from header or _read_whole(fmt, task, train, "train", spec.data.columns, at)


def _file(path: Path) -> Path:
    """The file itself: SQuAD names may end in an article slice ("dev-v1.1.json[0:38]")."""
    from raydistill.data.readers.squad import parse_article_slice

    return path.parent / parse_article_slice(path.name)[0]


def _listing(path: Path) -> str:
    """`files there: a, b, c` (first ten names of the folder the file was looked for in)."""
    names = sorted(p.name for p in path.parent.iterdir())[:10] if path.parent.is_dir() else []
    return f"files there: {', '.join(names) or 'none'}"


def _read_whole(
    fmt: str, task: Task, file: Path, split: str, columns: ColumnsSpec, at: str
) -> Iterator[Problem]:
    """Read the whole file as training will (no examples kept): empty files, bad rows and labels."""
    from raydistill.data.splits import count_local

    try:
        count_local(fmt, task, file, split, columns.model_dump())
    except DataError as exc:
        yield Problem(at, str(exc), ("data.path",))
    except (OSError, UnicodeDecodeError) as exc:
        yield Problem(at, f"{file}: cannot be read ({exc}); give a readable UTF-8 {fmt} file", ("data.path",))


def _check_header(spec: Spec, task: Task, fmt: str, train: Path, at: str) -> Iterator[Problem]:
    """The train file's first record must hold the columns the task reads (or the header-less field count)."""
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
