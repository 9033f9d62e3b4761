"""Train / search / dev splits of a task, from local files or the HF hub.

The **search split** is carved out of train so that dev is never both the search objective and the reported
score (the LAT reference searched on dev; see ALGORITHMS.md). Carving is deterministic: every example (every
article, for QA, so windows of one context never straddle train and search) gets the key
`blake2b(f"{seed}:{guid or title}")`; the groups with the smallest keys go to search until it holds
`round(search_fraction * len(train))` examples. An example's key does not depend on the others, so the split
is stable under `seed` and under reordering the file.

`max_train_examples` keeps the first N train examples (file order) BEFORE carving, so search is a fraction of
the capped train set; `max_eval_examples` then keeps the first N examples of search and of every dev set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from raydistill.data.builtin import resolve_data_path
from raydistill.data.examples import Example, QAExample
from raydistill.data.hub import load_hub_split
from raydistill.data.readers import (
    DEFAULT_FILES,
    iter_csv,
    iter_jsonl,
    iter_tsv,
    parse_article_slice,
    read_csv,
    read_jsonl,
    read_squad,
    read_tsv,
)
from raydistill.data.tasks import Task
from raydistill.errors import DataError

SOURCES = ("auto", "hub", *DEFAULT_FILES)
# `read_split`: the format of one data file by its suffix (any other suffix: the task's own format)
_FORMAT_OF_SUFFIX = {".csv": "csv", ".jsonl": "jsonl", ".json": "squad"}

AnyExample = Example | QAExample


@dataclass
class Splits:
    """Raw examples: `train` (search removed), `search` (carved from train), `dev` by eval-set name."""

    train: list
    search: list
    dev: dict[str, list]


def load_splits(
    task: Task,
    *,
    source: str = "auto",
    path: str | Path | None = None,
    hub_name: str | None = None,
    train_file: str | None = None,
    dev_file: str | None = None,
    columns: Mapping[str, str | None] | None = None,
    max_train_examples: int | None = None,
    max_eval_examples: int | None = None,
    search_fraction: float = 0.1,
    seed: int = 42,
) -> Splits:
    """Load train and dev examples and carve the search split out of train (see the module docstring).

    Args:
        task: the task (see `get_task`).
        source: "auto" (local `path` in the task's own format, else the hub), "hub", or a local format:
            "glue", "chnsenticorp", "squad", "csv", "jsonl".
        path: local directory (or a train file; dev files are then looked up beside it); "builtin:NAME" names
            a data set shipped in the package.
        hub_name: hub dataset, "path" or "path:config" (default: the task's own).
        train_file, dev_file: file names inside `path` (or absolute). SQuAD names may end in an article slice,
            "dev-v1.1.json[0:38]". `dev_file` replaces all dev sets by one, named `task.main_dev`.
        columns: column mapping {"text_a", "text_b", "label"} -> column name; None values keep the default.
        max_train_examples, max_eval_examples, search_fraction, seed: see the module docstring.

    Raises:
        DataError: unknown source, missing files or columns, too few examples to carve a search split,
            or QA train and dev sharing questions.
    """
    fmt = resolve_source(task, source, path)
    if fmt == "hub":
        train: list = load_hub_split(task, "train", "train", hub_name, columns)
        dev: dict[str, list] = {
            name: load_hub_split(task, split, name, hub_name, columns)
            for name, split in task.dev_splits.items()
        }
    else:
        root = Path(resolve_data_path(str(path)) or ".").expanduser()
        train_path, dev_paths = local_files(task, fmt, root, train_file, dev_file)
        train = _read_local(fmt, task, train_path, "train", columns)
        dev = {name: _read_local(fmt, task, p, name, columns) for name, p in dev_paths.items()}
    if max_train_examples is not None:
        train = train[:max_train_examples]
    train, search = carve_search(train, search_fraction, seed)
    if max_eval_examples is not None:
        search = search[:max_eval_examples]
        dev = {name: examples[:max_eval_examples] for name, examples in dev.items()}
    if task.kind == "qa":
        _check_disjoint(train + search, dev)
    return Splits(train=train, search=search, dev=dev)


def resolve_source(task: Task, source: str, path: str | Path | None) -> str:
    """The concrete source ("hub" or a local format) for `source`, checked against the task kind."""
    if source not in SOURCES:
        raise DataError(f"data source {source!r} is unknown; allowed: {list(SOURCES)}")
    if source == "auto":
        source = "hub" if path is None else task.local_format
    if source == "hub" and path is not None:
        raise DataError(f"data source 'hub' reads from the HF hub but path {str(path)!r} was given; drop one")
    if source != "hub" and path is None:
        raise DataError(f"data source {source!r} reads local files; give data.path")
    if source != "hub" and (source == "squad") != (task.kind == "qa"):
        allowed = "squad" if task.kind == "qa" else "glue, chnsenticorp, csv, jsonl"
        raise DataError(
            f"data source {source!r} does not fit task {task.name} ({task.kind}); use {allowed} or hub"
        )
    return source


def local_files(
    task: Task, fmt: str, path: Path, train_file: str | None, dev_file: str | None
) -> tuple[Path, dict[str, Path]]:
    """Train file and dev files (by eval-set name) for a local source; relative names are inside `path`.

    A file `path` is the train file (dev files are looked up beside it). For GLUE, `path` may also be the GLUE
    root holding the task's folder (e.g. `glue/` containing `SST-2/`).
    """
    default_train, dev_pattern = DEFAULT_FILES[fmt]
    if path.is_file():
        path, default_train = path.parent, path.name
    train_name = train_file or default_train
    if task.glue_dir and not (path / train_name).exists() and (path / task.glue_dir / train_name).exists():
        path = path / task.glue_dir
    devs = {task.main_dev: dev_file} if dev_file else {n: dev_pattern.format(name=n) for n in task.dev_splits}
    return path / train_name, {name: path / f for name, f in devs.items()}


def carve_search(examples: Sequence[AnyExample], fraction: float, seed: int) -> tuple[list, list]:
    """Split `examples` into (train, search) by hashed group keys; both keep the input order.

    Groups are single examples (key: guid), or articles for `QAExample`s (key: title, else the context).

    Raises:
        DataError: `fraction` outside (0, 1), or fewer than two groups.
    """
    if not 0 < fraction < 1:
        raise DataError(f"search_split {fraction} must be in (0, 1), e.g. 0.1 (a tenth of train)")
    sizes: dict[str, int] = {}
    for ex in examples:
        sizes[_group(ex)] = sizes.get(_group(ex), 0) + 1
    if len(sizes) < 2:
        unit = "articles" if examples and isinstance(examples[0], QAExample) else "examples"
        raise DataError(
            f"train has {len(sizes)} {unit}; at least 2 are needed to carve a search split from it"
        )
    target, chosen, count = max(1, round(fraction * len(examples))), set(), 0
    for key in sorted(sizes, key=lambda g: _hash(seed, g))[: len(sizes) - 1]:  # leave at least one for train
        if count >= target:
            break
        chosen.add(key)
        count += sizes[key]
    train = [ex for ex in examples if _group(ex) not in chosen]
    return train, [ex for ex in examples if _group(ex) in chosen]


def _group(ex: AnyExample) -> str:
    return (ex.title or ex.context) if isinstance(ex, QAExample) else ex.guid


def _hash(seed: int, key: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest(), "big")


def _read_local(
    fmt: str, task: Task, file: Path, split: str, columns: Mapping[str, str | None] | None
) -> list:
    if fmt == "squad":
        if any(v is not None for v in (columns or {}).values()):
            raise DataError(f"columns {dict(columns or {})} do not apply to SQuAD JSON; drop data.columns")
        name, articles = parse_article_slice(str(file))
        return read_squad(name, articles)
    reader = read_csv if fmt == "csv" else read_jsonl if fmt == "jsonl" else read_tsv
    return reader(file, task, split, columns)


def count_local(
    fmt: str, task: Task, file: Path, split: str, columns: Mapping[str, str | None] | None = None
) -> int:
    """Read `file` as `load_splits` will, keeping nothing (one example at a time; no tokenising): how many
    examples (questions, for SQuAD) it holds. Checks a whole file before any training starts.

    Raises:
        DataError: as the readers (missing or empty file, no examples, missing column, unknown label...).
    """
    if fmt == "squad":
        return len(_read_local(fmt, task, file, split, columns))
    iterate = iter_csv if fmt == "csv" else iter_jsonl if fmt == "jsonl" else iter_tsv
    return sum(1 for _ in iterate(file, task, split, columns))


def _check_disjoint(train: list[QAExample], dev: dict[str, list[QAExample]]) -> None:
    seen = {ex.qid for ex in train}
    for name, examples in dev.items():
        shared = [ex.qid for ex in examples if ex.qid in seen]
        if shared:
            raise DataError(
                f"{name} shares {len(shared)} question ids with train (e.g. {shared[0]!r}); train and {name} "
                "must not overlap: use other files, or article slices such as dev-v1.1.json[0:38] / [38:48]"
            )


def read_split(
    task: Task, path: str | Path, split: str, columns: Mapping[str, str | None] | None = None
) -> list:
    """Every example of one split of a task from local files, as the pipeline reads them (no carving, no cap).

    Args:
        task: the task.
        path: a directory in the task's local format (`local_files` finds the split's file), one data file
            (read as `split`; .csv, .jsonl, .json = SQuAD, else the task's format; a SQuAD name may end in an
            article slice), or "builtin:NAME".
        split: "train" or one of the task's dev sets (`task.dev_splits`, e.g. "dev", "dev_matched").
        columns: column mapping, as `load_splits`.

    Raises:
        DataError: unknown split, missing path or file, or a file that does not fit the task.
    """
    allowed = ["train", *task.dev_splits]
    if split not in allowed:
        raise DataError(f"split {split!r} is not a split of task {task.name}; allowed: {', '.join(allowed)}")
    root = Path(resolve_data_path(str(path)) or ".").expanduser()
    if root.is_dir():
        fmt: str = task.local_format
        train_path, dev_paths = local_files(task, fmt, root, None, None)
        file = train_path if split == "train" else dev_paths[split]
    elif root.is_file() or (root.name.endswith("]") and "[" in root.name):  # a file, or a SQuAD article slice
        fmt, file = _FORMAT_OF_SUFFIX.get(root.suffix.split("[")[0].lower(), task.local_format), root
    else:
        raise DataError(
            f"data path {str(path)!r} does not exist; give a {task.local_format} directory of task {task.name}, "
            "one data file, or builtin:NAME"
        )
    return _read_local(resolve_source(task, fmt, root), task, file, split, columns)
