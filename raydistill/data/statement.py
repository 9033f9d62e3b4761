"""Which data every reported number was scored on: one line per split, stated beside the numbers.

With only the official SQuAD v1.1 dev file at hand, a run trains on some of its articles and reports on others
(`train_file: dev-v1.1.json[0:38]`, `dev_file: dev-v1.1.json[38:48]`); its numbers are then not SQuAD dev scores
and must say so. `split_statement` reads the splits exactly as the trainer does (`load_splits`: same files, caps,
seed and carving; nothing is tokenised) and names them, e.g.

    dev:    SQuAD v1.1 dev articles 38-47 (2,000 questions)
    search: SQuAD v1.1 dev articles 3, 9, 30 (carved by article from articles 0-37; 1,010 questions)

Article numbers are 0-based positions in the file. No Ray.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raydistill.data.builtin import resolve_data_path
from raydistill.data.readers import parse_article_slice
from raydistill.data.splits import load_splits, local_files, resolve_source
from raydistill.data.tasks import get_task

__all__ = ["SplitStatement", "split_statement"]

_SQUAD_FILE = re.compile(r"^(?P<split>train|dev)-v(?P<version>[\d.]+)\.json$")


@dataclass(frozen=True)
class SplitStatement:
    """One line per split: what `search_metric` and `dev_metric` were scored on, and what was trained on."""

    train: str
    search: str
    dev: str

    def lines(self) -> list[str]:
        """`["train: ...", "search: ...", "dev: ..."]`."""
        return [f"train: {self.train}", f"search: {self.search}", f"dev: {self.dev}"]


def split_statement(data: dict[str, Any], task_name: str, seed: int) -> SplitStatement:
    """Name the train, search and dev splits a run reads.

    Args:
        data: `prepare_task_data` keyword arguments (`training.config.data_kwargs`); tokenising ones are ignored.
        task_name: the task registry name.
        seed: the seed that carves the search split.

    Raises:
        DataError: as `load_splits` (the pipeline has checked the data before).
    """
    task = get_task(task_name)
    fmt = resolve_source(task, data.get("source", "auto"), data.get("path"))
    fraction = data.get("search_fraction", 0.1)
    if fmt == "hub":
        hub = data.get("hub_name") or task.hub_path
        return SplitStatement(
            f"{hub} train less the search split", f"{fraction:g} of {hub} train (seed {seed})",
            f"{hub} {task.main_dev}",
        )  # fmt: skip
    keys = ("source", "path", "train_file", "dev_file", "columns", "max_train_examples", "max_eval_examples")
    chosen: dict[str, Any] = {k: data[k] for k in keys if k in data}
    splits = load_splits(task, search_fraction=fraction, seed=seed, **chosen)
    root = Path(resolve_data_path(str(data["path"])) or ".").expanduser()
    train_path, dev_paths = local_files(task, fmt, root, data.get("train_file"), data.get("dev_file"))
    dev_path = dev_paths.get(task.main_dev, next(iter(dev_paths.values())))
    dev_name = task.main_dev if task.main_dev in splits.dev else next(iter(splits.dev))
    unit = "questions" if task.kind == "qa" else "examples"
    train_label, dev_label = _file_label(train_path), _file_label(dev_path)
    capped = f"first {data['max_train_examples']:,} {unit} of " if data.get("max_train_examples") else ""
    if task.kind == "qa" and fmt == "squad":
        search_articles = _article_numbers(train_path, [ex.title for ex in splits.search])
        search = f"{_label_stem(train_path)} articles {search_articles} (carved by article from {capped}{train_label}"
    else:
        search = f"{fraction:g} of {capped}{train_label} (carved by {'article' if task.kind == 'qa' else 'example'}"
    return SplitStatement(
        train=f"{capped}{train_label} less the search split ({len(splits.train):,} {unit})",
        search=f"{search}, seed {seed}; {len(splits.search):,} {unit})",
        dev=f"{dev_label} ({len(splits.dev[dev_name]):,} {unit})",
    )


def _label_stem(path: Path) -> str:
    """ "SQuAD v1.1 dev" for `.../dev-v1.1.json[38:48]`, else the file's folder and name."""
    name, _ = parse_article_slice(path.name)
    m = _SQUAD_FILE.match(name)
    return f"SQuAD v{m['version']} {m['split']}" if m else f"{path.parent.name}/{name}"


def _file_label(path: Path) -> str:
    """A file as a reader names it: "SQuAD v1.1 dev articles 38-47", "SST-2/dev.tsv"."""
    name, articles = parse_article_slice(path.name)
    if articles is None:
        return _label_stem(path)
    count = len(_titles(path.parent / name))
    chosen = range(count)[articles]
    span = f"{chosen[0]}-{chosen[-1]}" if len(chosen) else "none"
    return f"{_label_stem(path)} articles {span}"


def _titles(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig") as f:
        return [str(a.get("title", "")) for a in json.load(f)["data"]]


def _article_numbers(train_path: Path, titles: list[str]) -> str:
    """The file positions of the articles named `titles`, as "3, 9, 30" (a count when titles are not unique)."""
    name, _ = parse_article_slice(train_path.name)
    all_titles = _titles(train_path.parent / name)
    wanted = list(dict.fromkeys(titles))
    if len(set(all_titles)) != len(all_titles) or not all(wanted):
        return f"({len(wanted)} of them)"
    return ", ".join(str(i) for i in sorted(all_titles.index(t) for t in wanted))
