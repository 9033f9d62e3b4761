"""Make a general-distillation corpus (`data.corpus`) from the data at hand: GLUE-format TSVs, SQuAD JSON, text.

`build_corpus(out, sources)` writes one UTF-8 line per sentence or paragraph, in source order:

- a GLUE-format task folder (its `train.tsv`) or one `.tsv` file: the text columns of every row, as the task
  registry names them (`Task.columns`; a pair task gives both sentences, one line each). The task is the one whose
  GLUE folder name (`SST-2`) or registry name (`sst2`) the folder bears, else `task`;
- a SQuAD v1.1 `.json` file: every context paragraph once (and its questions with `questions`), of every article
  or of `articles` (also written `dev-v1.1.json[0:38]`, as in `data.train_file`);
- a `.txt` file: its lines.

Whitespace runs become one space, blank lines go, and a line equal to an earlier one is dropped (the first
occurrence keeps its place); `max_lines` cuts the result. General distillation must not see the text results are
reported on, so a GLUE `dev*.tsv` / `test*.tsv` is refused unless `allow_eval_splits`, and a SQuAD file read whole
is flagged (the project's QA runs on `dev-v1.1.json` report on articles 38-47). The file is written to a
temporary name beside `out` and renamed, so an interrupted run leaves no half-written corpus.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from raydistill.data.readers import DEFAULT_FILES, iter_tsv, parse_article_slice, read_squad
from raydistill.data.tasks import TASKS, Task, get_task
from raydistill.errors import DataError

__all__ = ["CorpusResult", "SourceReport", "build_corpus", "normalise", "parse_article_range"]

EVAL_PREFIXES = ("dev", "test")
_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


@dataclass(frozen=True)
class SourceReport:
    """What one source gave: `lines` before de-duplication; `detail` for the summary; `warning` or None."""

    name: str
    detail: str
    lines: int
    warning: str | None = None


@dataclass(frozen=True)
class CorpusResult:
    """The written corpus: `lines` and `bytes` in `out`, duplicates dropped, lines cut by `max_lines`."""

    out: Path
    lines: int
    bytes: int
    duplicates: int
    cut: int
    sources: tuple[SourceReport, ...]

    def summary(self) -> str:
        """One line: lines, bytes and file written, then each source with what it gave."""
        parts = [f"{s.name} ({s.detail}: {s.lines:,} lines)" for s in self.sources]
        text = (
            f"wrote {self.lines:,} lines ({self.bytes:,} bytes) to {self.out} from {len(self.sources)} "
            f"source{'s' if len(self.sources) != 1 else ''}: {', '.join(parts)}; "
            f"{self.duplicates:,} duplicate lines dropped"
        )
        return text + (f"; {self.cut:,} more lines left out by --max-lines" if self.cut else "")


def build_corpus(
    out: str | Path,
    sources: Sequence[str | Path],
    *,
    task: str | None = None,
    questions: bool = False,
    articles: str | None = None,
    max_lines: int | None = None,
    allow_eval_splits: bool = False,
) -> CorpusResult:
    """Write the corpus of `sources` to `out` (see the module docstring) and say what went in.

    Args:
        out: the `.txt` file to write (its folder must exist); replaced whole.
        sources: GLUE task folders or `.tsv` files, SQuAD `.json` files (optionally `file.json[a:b]`), `.txt`.
        task: the task of a TSV whose folder name is no task's.
        questions: SQuAD: add each question after its context.
        articles: SQuAD: an inclusive article range "A-B" (0-based, file order), or one article "A".
        max_lines: keep only the first N lines (after de-duplication).
        allow_eval_splits: read GLUE dev/test files too.

    Raises:
        DataError: a missing or unknown source, an eval split without `allow_eval_splits`, a bad range,
            an unusable output path, or no text at all.
    """
    target = _check_out(Path(out).expanduser(), sources)
    if max_lines is not None and max_lines < 1:
        raise DataError(f"--max-lines {max_lines}: give a positive number of lines")
    if not sources:
        raise DataError(
            "no sources given; name GLUE task folders or .tsv files, SQuAD .json files or .txt files"
        )
    chosen = parse_article_range(articles) if articles is not None else None
    kept: dict[str, None] = {}  # insertion-ordered set: first occurrence keeps its place
    reports, total = [], 0
    for source in sources:
        lines, report = _read_source(str(source), task, questions, chosen, allow_eval_splits)
        reports.append(report)
        for line in lines:
            total += 1
            kept.setdefault(line, None)
    text = list(kept)
    if not text:
        raise DataError(f"the sources {[str(s) for s in sources]} hold no text; nothing written to {target}")
    written = text[:max_lines] if max_lines is not None else text
    size = _write_atomic(target, written)
    return CorpusResult(
        target, len(written), size, total - len(text), len(text) - len(written), tuple(reports)
    )


def normalise(line: str) -> str:
    """`line` with every whitespace run (tabs, newlines, no-break spaces) one space, and no outer blanks."""
    return " ".join(line.split())


def parse_article_range(text: str) -> slice:
    """The slice of the articles in "A-B" (inclusive, 0-based) or "A".

    Raises:
        DataError: not of that form, or B < A.
    """
    m = _RANGE.match(text)
    if not m:
        raise DataError(
            f"--articles {text!r}: give an inclusive range of article numbers such as 0-37, or one"
        )
    start = int(m[1])
    stop = int(m[2]) if m[2] is not None else start
    if stop < start:
        raise DataError(f"--articles {text!r}: the range ends before it starts; give A-B with A <= B")
    return slice(start, stop + 1)


def _read_source(
    source: str, task: str | None, questions: bool, articles: slice | None, allow_eval: bool
) -> tuple[list[str], SourceReport]:
    name, bracket = parse_article_slice(source)
    path = Path(name).expanduser()
    if not path.exists():
        raise DataError(f"source {source!r}: no such file or folder")
    if path.is_dir():
        return _glue_folder(source, path, task, allow_eval)
    suffix = path.suffix.lower()
    if bracket is not None and suffix != ".json":
        raise DataError(f"source {source!r}: an article slice [a:b] only fits a SQuAD .json file")
    if suffix == ".tsv":
        return _glue_file(source, path, _task_of(path.parent, task, source), allow_eval)
    if suffix == ".json":
        if bracket is not None and articles is not None:
            raise DataError(f"source {source!r} has an article slice and --articles is given too; give one")
        return _squad(source, path, bracket or articles, questions)
    if suffix == ".txt":
        return _text(source, path)
    raise DataError(
        f"source {source!r}: unknown format {path.suffix or '(no suffix)'!r}; give a GLUE task folder or .tsv "
        "file, a SQuAD v1.1 .json file, or a plain-text .txt file"
    )


def _glue_folder(
    source: str, path: Path, task: str | None, allow_eval: bool
) -> tuple[list[str], SourceReport]:
    """The task's train file of the folder; with `allow_eval`, its dev files too."""
    found = _task_of(path, task, source)
    train_name, dev_pattern = DEFAULT_FILES[found.local_format]
    names = [train_name] + ([dev_pattern.format(name=n) for n in found.dev_splits] if allow_eval else [])
    files = [path / n for n in names if (path / n).is_file()]
    if not files:
        hint = (
            ""
            if allow_eval
            else "; give a folder with a train file, or add --allow-eval-splits to read its dev files"
        )
        raise DataError(f"source {source!r}: no {' / '.join(names)} in this {found.name} folder{hint}")
    lines: list[str] = []
    for file in files:
        lines += _tsv_lines(file, found)
    detail = f"{found.name} {' + '.join(f.name for f in files)}"
    return lines, SourceReport(source, detail, len(lines))


def _glue_file(source: str, path: Path, task: Task, allow_eval: bool) -> tuple[list[str], SourceReport]:
    if path.name.lower().startswith(EVAL_PREFIXES) and not allow_eval:
        raise DataError(
            f"source {source!r} is an evaluation split (dev/test): general-distillation text should not hold "
            f"the text results are reported on; give the train file ({path.with_name('train.tsv')}), or add "
            "--allow-eval-splits to read it anyway"
        )
    lines = _tsv_lines(path, task)
    return lines, SourceReport(source, f"{task.name} {path.name}", len(lines))


def _tsv_lines(path: Path, task: Task) -> list[str]:
    """Each row's texts (the first, then the second of a pair), read by the task's TSV reader."""
    texts: Iterator[str | None] = (text for ex in iter_tsv(path, task) for text in (ex.text_a, ex.text_b))
    return [line for text in texts if text is not None and (line := normalise(text))]


def _task_of(folder: Path, task: str | None, source: str) -> Task:
    """The task whose GLUE folder or name `folder` bears (case aside); `task` when it bears none."""
    by_folder = {
        key.lower(): t
        for t in TASKS.values()
        if t.local_format != "squad"
        for key in (t.name, t.glue_dir)
        if key
    }
    found = by_folder.get(folder.name.lower())
    if found is not None:
        return found
    if task is not None:
        chosen = get_task(task)
        if chosen.local_format == "squad":
            raise DataError(f"--task {task}: a TSV source needs a GLUE-format task; give a SQuAD .json file")
        return chosen
    folders = sorted(t.glue_dir or t.name for t in by_folder.values())
    raise DataError(
        f"source {source!r}: the folder name {folder.name!r} names no task, so its text columns are unknown; "
        f"put the files in a task folder ({', '.join(dict.fromkeys(folders))}) or give --task NAME"
    )


def _squad(
    source: str, path: Path, articles: slice | None, questions: bool
) -> tuple[list[str], SourceReport]:
    """Each context once (then its questions with `questions`), of the chosen articles."""
    what = f"squad {'contexts + questions' if questions else 'contexts'}"
    count = _article_count(path)
    if articles is None:
        warning = (
            f"{source}: every article (0-{(count or 1) - 1}) is in the corpus; if this file also gives a QA run's "
            "dev split (e.g. dev-v1.1.json[38:48], articles 38-47), leave it out with --articles 0-37"
        )
        lines = _squad_lines(path, None, questions)
        return lines, SourceReport(source, f"{what} of every article", len(lines), warning)
    chosen = range(count or 0)[articles]
    if count is not None and (not chosen or (articles.stop or 0) > count):
        raise DataError(
            f"source {source!r}: articles {_shown(articles)} are not all in the file (it has articles "
            f"0-{count - 1}); give a range inside it"
        )
    lines = _squad_lines(path, articles, questions)
    return lines, SourceReport(source, f"{what} of articles {chosen[0]}-{chosen[-1]}", len(lines))


def _squad_lines(path: Path, articles: slice | None, questions: bool) -> list[str]:
    lines: list[str] = []
    contexts: set[str] = set()
    for ex in read_squad(path, articles):
        texts = [ex.question] if questions else []
        if ex.context not in contexts:
            contexts.add(ex.context)
            texts.insert(0, ex.context)
        lines += [line for text in texts if (line := normalise(text))]
    return lines


def _shown(articles: slice) -> str:
    start = articles.start or 0
    return f"{start}-{articles.stop - 1}" if articles.stop is not None else f"{start}-"


def _article_count(path: Path) -> int | None:
    """Number of articles in a SQuAD file; None when it does not parse (`read_squad` then says why)."""
    try:
        with path.open(encoding="utf-8-sig") as f:
            data = json.load(f).get("data")
    except (OSError, ValueError, AttributeError):
        return None
    return len(data) if isinstance(data, list) else None


def _text(source: str, path: Path) -> tuple[list[str], SourceReport]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(
            f"source {source!r} cannot be read ({type(err).__name__}); give a UTF-8 text file"
        ) from None
    lines = [line for raw in text.splitlines() if (line := normalise(raw))]
    return lines, SourceReport(source, "text", len(lines))


def _check_out(out: Path, sources: Sequence[str | Path]) -> Path:
    if out.suffix.lower() != ".txt":
        raise DataError(
            f"output {str(out)!r}: the corpus is a plain-text file; give a name ending in .txt (OUT comes "
            "first, then the sources)"
        )
    if not out.parent.is_dir():
        raise DataError(f"output folder {str(out.parent)!r} does not exist; create it first (mkdir -p)")
    if out.is_dir():
        raise DataError(f"output {str(out)!r} is a folder; give a file name ending in .txt")
    given = {Path(parse_article_slice(str(s))[0]).expanduser().resolve() for s in sources}
    if out.resolve() in given:
        raise DataError(f"output {str(out)!r} is also a source; write the corpus to another file")
    return out


def _write_atomic(out: Path, lines: Sequence[str]) -> int:
    """Write `lines` to a hidden file beside `out`, then rename it to `out`; returns the bytes written."""
    partial = out.with_name(f".{out.name}.partial")
    try:
        with partial.open("w", encoding="utf-8", newline="\n") as f:
            for line in lines:
                f.write(line + "\n")
        partial.replace(out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return out.stat().st_size
