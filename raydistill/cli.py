"""The `raydistill` command line: wiring only, no logic.

Every user mistake surfaces as one clear message and exit code 2 (never a traceback); an interrupted run says how
to resume (rerun the same command: every stage resumes from its latest checkpoint or cached outputs).
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from raydistill.console import Console, active_console
from raydistill.errors import Interrupted, RaydistillError, SpecError
from raydistill.quiet import CapturedOutput, captured_output, quiet_env, quiet_loggers

quiet_env()

app = typer.Typer(
    name="raydistill",
    help="Ray-distributed search platform for BERT compression.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])
USER_PATH_ERRORS = (FileExistsError, NotADirectoryError, IsADirectoryError, PermissionError)

SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="override a spec value, e.g. --set search.num_trials=20 (repeatable)"),
]
AddressOpt = Annotated[
    str | None, typer.Option("--address", help="Ray cluster to use (e.g. auto, ray://head:10001); default: local")
]
VerboseOpt = Annotated[
    bool,
    typer.Option("--verbose", "-v", help="show Ray's own output here (default: in runs/NAME/logs/ray.log)"),
]


def _user_errors(fn: F) -> F:
    """Turn raydistill errors and unusable output paths into `error: ...` + exit 2, and Ctrl-C (or an
    interrupted run) into a resume hint + exit 130."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        quiet_loggers()
        try:
            return fn(*args, **kwargs)
        except SpecError as exc:
            for line in exc.problems:
                typer.echo(line, err=True)
            raise typer.Exit(2) from None
        except Interrupted as exc:
            typer.echo(f"interrupted: {exc}", err=True)
            _log_hint()
            raise typer.Exit(130) from None
        except RaydistillError as exc:
            typer.echo(f"error: {exc}", err=True)
            _log_hint()
            raise typer.Exit(2) from None
        except USER_PATH_ERRORS as exc:  # an output path that is a file, not writable, ...
            typer.echo(f"error: {exc.filename}: {exc.strerror}; give a directory you can write to", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted; rerun the same command to resume from the last checkpoint", err=True)
            _log_hint()
            raise typer.Exit(130) from None
        except EOFError as exc:  # click would swallow it into a bare "Aborted." (its reply to EOF at a prompt)
            _log_hint()
            message = f"a read hit the end of a file early (EOFError: {exc}); the traceback above shows where"
            raise RuntimeError(message) from exc
        except Exception:
            _log_hint()
            raise

    return wrapper  # type: ignore[return-value]


_captured: list[CapturedOutput] = []  # the output of the command's stages, once it started them


def _log_hint() -> None:
    """After a failure: where Ray's output went, when some did."""
    if _captured and _captured[-1].wrote:
        typer.echo(f"Ray's output of this run: {_shown(_captured[-1].log_file)}", err=True)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _run_stages(
    spec_path: Path, overrides: list[str] | None, address: str | None, verbose: bool, until: str | None = None
) -> None:
    """Run the pipeline with raydistill's progress on the terminal and Ray's output in the run's log file
    (on the terminal too with `verbose`), then print the summary block."""
    from raydistill.pipeline import log_file_for, run_pipeline

    spec = _load(spec_path, overrides, address)
    if verbose:
        with active_console(Console(sys.stdout, live=False)) as shown:
            result = run_pipeline(spec, until=until, echo=shown.line)
    else:
        log_file = log_file_for(spec)
        header = f"==== {time.strftime('%Y-%m-%d %H:%M:%S')} raydistill {' '.join(sys.argv[1:])}"
        with captured_output(log_file, header) as captured:
            _captured.append(captured)
            shown = Console(captured.terminal)
            shown.line(f"Ray's output goes to {_shown(log_file)} (--verbose shows it here)")
            with active_console(shown):
                result = run_pipeline(spec, until=until, echo=shown.line)
    typer.echo(result.summary())


def _load(spec_path: Path, overrides: list[str] | None, address: str | None = None) -> Any:
    import raydistill.stages  # noqa: F401  the stages' spec checks (the students section) join the rules
    from raydistill.spec import load_spec

    extra = list(overrides or [])
    if address:
        extra.append(f"resources.address={address}")
    return load_spec(str(spec_path), extra)


@app.command()
@_user_errors
def validate(
    specs: Annotated[list[Path], typer.Argument(help="spec YAML files")],
    set_: SetOpt = None,
) -> None:
    """Check spec files; print every problem as `SPEC:LINE: path: what is wrong; what is allowed`."""
    import raydistill.stages  # noqa: F401  the stages' spec checks (the students section) join the rules
    from raydistill.spec.validate import validate_paths

    raise typer.Exit(validate_paths([str(s) for s in specs], list(set_ or [])))


@app.command()
@_user_errors
def run(
    spec: Annotated[Path, typer.Argument(help="spec YAML file")],
    set_: SetOpt = None,
    address: AddressOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Run every stage of the pipeline (cached stages are skipped; interrupted ones resume)."""
    _run_stages(spec, set_, address, verbose)


@app.command()
@_user_errors
def train(
    spec: Annotated[Path, typer.Argument(help="spec YAML file")],
    stage: Annotated[str, typer.Option("--stage", help="which training stage to run")] = "teacher",
    set_: SetOpt = None,
    address: AddressOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Run one training stage (and the stages it needs, from cache when possible)."""
    _run_stages(spec, set_, address, verbose, until=stage)


@app.command()
@_user_errors
def search(
    spec: Annotated[Path, typer.Argument(help="spec YAML file")],
    set_: SetOpt = None,
    address: AddressOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Run the search (and the stages before it, from cache when possible)."""
    _run_stages(spec, set_, address, verbose, until="search")


@app.command()
@_user_errors
def report(
    run: Annotated[str, typer.Argument(help="run directory (runs/NAME) or run name")],
    out: Annotated[Path | None, typer.Option("--out", help="output dir [reports/NAME]")] = None,
) -> None:
    """Rebuild a run's report (index.html, summary.md, pareto.csv, trials.parquet) from its files alone."""
    from raydistill.report import build_report
    from raydistill.runs import find_run

    run_dir = find_run(run)
    files = build_report(run_dir, out or Path("reports") / run_dir.name)
    typer.echo(f"report: {files.index_html}")


@app.command()
@_user_errors
def export(
    run: Annotated[str, typer.Argument(help="run directory (runs/NAME) or run name")],
    arch: Annotated[str, typer.Option("--arch", help="sub-network: Arch id (L6-H6x6-F768x6) or Arch JSON")],
    out: Annotated[Path | None, typer.Option("--out", help="output dir [exports/RUN/ARCH_ID]")] = None,
    formats: Annotated[list[str] | None, typer.Option("--format", help="hf and/or onnx (repeatable) [both]")] = None,
) -> None:
    """Materialise one sub-network of a run as a small HF model dir and an ONNX file."""
    from raydistill.runs import export_from_run, find_run, run_model_dir

    run_dir = find_run(run)
    result = export_from_run(run_dir, arch, out, formats or ["hf", "onnx"])
    sizes = ", ".join(
        f"{name} {size / 1e6:.1f} MB" for name, size in (("hf", result.hf_bytes), ("onnx", result.onnx_bytes)) if size
    )
    typer.echo(
        f"exported {result.arch_id} (cut from {run_model_dir(run_dir).relative_to(run_dir)}): "
        f"{result.params:,} params -> {result.out_dir} ({sizes})"
    )


@app.command()
@_user_errors
def disk(
    run: Annotated[str, typer.Argument(help="run directory (runs/NAME) or run name")],
    prune: Annotated[
        bool, typer.Option("--prune", help="delete what is superseded (.prev runs, old checkpoints); never a result")
    ] = False,
) -> None:
    """Show a run's disk use by part and what of it is superseded; --prune deletes that."""
    from raydistill.disk import human_size, measure
    from raydistill.disk import prune as prune_run
    from raydistill.runs import find_run

    use = measure(find_run(run))
    if not prune:
        for line in use.table():
            typer.echo(line)
        typer.echo(f"--prune would free {human_size(use.superseded_size)} ({use.what()})")
        return
    freed = prune_run(use)
    for path in use.superseded:
        typer.echo(f"removed {path.relative_to(use.root)}")
    typer.echo(f"freed {human_size(freed)} ({use.what()}); {human_size(use.size - freed)} left in {use.root}")


@app.command()
@_user_errors
def evaluate(
    export_dir: Annotated[Path, typer.Argument(help="export directory (written by `raydistill export` or a run)")],
    data: Annotated[str, typer.Option("--data", help="data dir in the task's format, one data file, or builtin:NAME")],
    task: Annotated[str | None, typer.Option("--task", help="task name [the one in export.json]")] = None,
    split: Annotated[str | None, typer.Option("--split", help="train or a dev set of the task [main dev]")] = None,
    max_seq_length: Annotated[
        int | None, typer.Option("--max-seq-length", min=8, help="tokenisation length [the export's]")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as one JSON object")] = False,
) -> None:
    """Score an exported sub-network (either kind) on one split of a task with the task's metrics."""
    import json

    from raydistill.training.evaluate_export import evaluate_export

    score = evaluate_export(export_dir, data, task=task, split=split, max_seq_length=max_seq_length)
    typer.echo(json.dumps(score.as_dict()) if as_json else score.summary())


@app.command()
@_user_errors
def corpus(
    out: Annotated[Path, typer.Argument(help="the corpus to write (.txt; its folder must exist)")],
    sources: Annotated[
        list[str], typer.Argument(help="GLUE task folders or .tsv files, SQuAD .json files, .txt files")
    ],
    task: Annotated[
        str | None, typer.Option("--task", help="task of a .tsv whose folder is no GLUE task folder")
    ] = None,
    questions: Annotated[bool, typer.Option("--questions", help="SQuAD: add the questions too")] = False,
    articles: Annotated[
        str | None, typer.Option("--articles", help="SQuAD: only articles A-B (inclusive, 0-based) [all]")
    ] = None,
    max_lines: Annotated[int | None, typer.Option("--max-lines", min=1, help="keep N lines at most")] = None,
    allow_eval_splits: Annotated[
        bool, typer.Option("--allow-eval-splits", help="read GLUE dev/test files too (refused by default)")
    ] = False,
) -> None:
    """Write a plain-text corpus for general distillation (students[].general.corpus): one line per sentence
    or paragraph, whitespace normalised, duplicates dropped."""
    from raydistill.data.corpus_sources import build_corpus

    result = build_corpus(
        out,
        sources,
        task=task,
        questions=questions,
        articles=articles,
        max_lines=max_lines,
        allow_eval_splits=allow_eval_splits,
    )
    for source in result.sources:
        if source.warning:
            typer.echo(f"note: {source.warning}")
    typer.echo(result.summary())


def main() -> None:
    """Entry point for `python -m raydistill`."""
    app(prog_name="raydistill")


if __name__ == "__main__":  # pragma: no cover
    main()
