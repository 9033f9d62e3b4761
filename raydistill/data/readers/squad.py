"""SQuAD v1.1 JSON reader (`{"data": [{"title", "paragraphs": [{"context", "qas": [...]}]}]}`).

A file name may end in an article slice, `dev-v1.1.json[0:38]`, to use only some articles of a file: with only
the official dev file at hand, `train_file: dev-v1.1.json[0:38]` and `dev_file: dev-v1.1.json[38:48]` give a
train/eval split that never shares an article.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from raydistill.data.examples import QAExample
from raydistill.data.readers._common import check_file
from raydistill.errors import DataError

_SLICE = re.compile(r"^(?P<name>.+)\[(?P<start>\d*):(?P<stop>\d*)\]$")


def parse_article_slice(name: str) -> tuple[str, slice | None]:
    """Split `"file.json[a:b]"` into `("file.json", slice(a, b))`; names without a slice give `None`."""
    m = _SLICE.match(name)
    if not m:
        return name, None
    to_int = lambda s: int(s) if s else None  # noqa: E731
    return m["name"], slice(to_int(m["start"]), to_int(m["stop"]))


def read_squad(path: str | Path, articles: slice | None = None) -> list[QAExample]:
    """Read every question of a SQuAD-format JSON file (optionally only the articles in `articles`).

    Raises:
        DataError: missing/empty file, bad JSON (with its line), or a missing key (with its JSON path).
    """
    p = check_file(path)
    try:
        with p.open(encoding="utf-8-sig") as f:
            root = json.load(f)
    except json.JSONDecodeError as exc:
        raise DataError(f"{p}:{exc.lineno}: bad JSON ({exc.msg}); expected a SQuAD v1.1 file") from None
    data = _get(root, "data", p, "$")
    if not isinstance(data, list):
        raise DataError(f"{p}: $.data must be a list of articles")
    chosen = range(len(data))[articles] if articles is not None else range(len(data))
    examples = [ex for i in chosen for ex in _article(data[i], p, f"$.data[{i}]")]
    if not examples:
        raise DataError(
            f"{p}: no questions{f' in articles {articles.start}:{articles.stop}' if articles else ''}"
        )
    return examples


def _article(article: Any, p: Path, where: str) -> list[QAExample]:
    title = str(article.get("title", "")) if isinstance(article, dict) else ""
    out: list[QAExample] = []
    for j, para in enumerate(_get(article, "paragraphs", p, where)):
        at = f"{where}.paragraphs[{j}]"
        context = _get(para, "context", p, at)
        for k, qa in enumerate(_get(para, "qas", p, at)):
            q_at = f"{at}.qas[{k}]"
            answers = [
                _answer(a, p, f"{q_at}.answers[{n}]") for n, a in enumerate(_get(qa, "answers", p, q_at))
            ]
            out.append(
                QAExample(
                    str(_get(qa, "id", p, q_at)), _get(qa, "question", p, q_at), context, answers, title
                )
            )
    return out


def _answer(answer: Any, p: Path, where: str) -> dict:
    start = _get(answer, "answer_start", p, where)
    if isinstance(start, bool) or not isinstance(start, int):
        raise DataError(f"{p}: {where}.answer_start is {start!r}; expected a character offset (int)")
    return {"text": str(_get(answer, "text", p, where)), "answer_start": start}


def _get(obj: Any, key: str, p: Path, where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise DataError(f"{p}: {where}: missing key {key!r}; expected SQuAD v1.1 layout")
    return obj[key]
