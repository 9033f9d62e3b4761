"""`run_pipeline(spec)`: the stages in order, each cached by a content hash of its inputs and resumable.

A stage writes its outputs under `<storage_path>/<name>/<stage>/` and, once complete, a `stage.json` holding the
hash of the spec sections it depends on. Rerunning the same spec skips complete stages whose hash matches; an
interrupted stage resumes from the newest complete checkpoint of its Ray Train run. Changing a section re-runs the
stages that depend on it (and, through the hash chain, every later stage).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raydistill import console
from raydistill.errors import DataError, RunError
from raydistill.layout import RunLayout
from raydistill.spec import Spec, spec_hash


@dataclass(frozen=True)
class Stage:
    """One pipeline stage: which spec sections it reads, and the function that runs it."""

    name: str
    sections: tuple[str, ...]
    run: Callable[[Spec, Path], dict[str, Any]]
    enabled: Callable[[Spec], bool] = lambda spec: True
    exclude: tuple[str, ...] = ()  # dotted paths inside `sections` the stage does not read (a later stage does)
    outputs: Callable[[Spec], list[Path]] = lambda spec: []  # written outside the run dir; cached only if present


@dataclass
class StageOutcome:
    name: str
    status: str  # "ran" | "cached" | "skipped"
    seconds: float
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class PipelineResult:
    name: str
    run_dir: Path
    stages: list[StageOutcome]

    def summary(self) -> str:
        """A short block: a header, one line per enabled stage (status, seconds, headline), and last the report
        (or, without one, the run directory)."""
        shown = [s for s in self.stages if s.status != "skipped"]
        ran = sum(s.status == "ran" for s in shown)
        seconds = sum(s.seconds for s in shown)
        report = next((s.summary["index_html"] for s in shown if "index_html" in s.summary), None)
        header = f"{self.name}: {len(shown)} stages ({ran} ran, {len(shown) - ran} cached) in {seconds:.0f} s"
        lines = [header + (f"; run dir {_shown_path(self.run_dir)}" if report else "")]
        width = max((len(s.name) for s in shown), default=0)
        for s in shown:
            took = f"{s.seconds:4.0f} s" if s.status == "ran" else ""
            lines.append(f"  {s.name:<{width}}  {s.status:<6} {took:>6}  {s.summary.get('headline', '')}".rstrip())
        lines.append(f"report: {_shown_path(Path(report))}" if report else f"run dir: {_shown_path(self.run_dir)}")
        return "\n".join(lines)


def _shown_path(path: Path) -> str:
    """`path` relative to the working directory when it lies below it (shorter to read), else as it is."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def short_headline(summary: dict[str, Any], default: str = "done") -> str:
    """A stage headline's first ` | `-separated part: the progress line's short form (the summary block gives
    the whole headline)."""
    return str(summary.get("headline", default)).split(" | ", 1)[0]


def _teacher_stage(spec: Spec, run_dir: Path) -> dict[str, Any]:
    from raydistill.training.teacher import train_teacher

    result = train_teacher(spec, run_dir)
    main = result.metrics["main_metric"]
    value = result.metrics["main_value"]
    headline = f"dev {main}={_value_text(value)}"
    return {"headline": headline, "model_dir": str(result.model_dir), **result.metrics}


def _value_text(value: float) -> str:
    """A metric for a headline; NaN is a failed evaluation (the model's outputs held NaN or inf)."""
    return f"{value:.4f}" if math.isfinite(value) else f"{value} (failed: NaN or inf outputs)"


def _supernet_stage(spec: Spec, run_dir: Path) -> dict[str, Any]:
    from raydistill.training.supernet import train_supernet

    result = train_supernet(spec, run_dir, RunLayout(run_dir).teacher_model)
    grid = {(g["width"], g["depth"]): g["dev_metric"] for g in result.metrics["grid"]}
    smallest = min(grid)
    headline = (
        f"dev {result.metrics['main_metric']} full={_value_text(result.metrics['main_value'])} "
        f"w{smallest[0]:g}/d{smallest[1]:g}={_value_text(grid[smallest])} ({len(grid)} sub-networks)"
    )
    return {"headline": headline, "model_dir": str(result.model_dir), "eval_csv": str(result.eval_csv)}


def _search_stage(spec: Spec, run_dir: Path) -> dict[str, Any]:
    from raydistill.search import run_search

    result = run_search(spec, RunLayout(run_dir).supernet_model, run_dir)
    return {"headline": result.headline, "best": {f"{b:g}": a for b, a in result.best.items()}}


def _retrain_stage(spec: Spec, run_dir: Path) -> dict[str, Any]:
    from raydistill.training.retrain import retrain_best

    return retrain_best(spec, run_dir)


def _export_stage(spec: Spec, run_dir: Path) -> dict[str, Any]:
    from raydistill.runs import export_best

    return export_best(spec, run_dir)


def _report_stage(spec: Spec, run_dir: Path) -> dict[str, Any]:
    from raydistill.report import build_report, load_report_inputs

    files = build_report(load_report_inputs(run_dir), report_dir_for(spec))
    names = ", ".join(p.name for p in (files.index_html, files.summary_md, files.pareto_csv, files.trials_parquet))
    return {"headline": names, "index_html": str(files.index_html)}


STAGES: list[Stage] = [
    Stage("teacher", ("task", "data", "teacher", "seed"), _teacher_stage),
    Stage("supernet", ("supernet",), _supernet_stage, enabled=lambda spec: spec.supernet.enabled),
    Stage(
        "search",
        ("search",),
        _search_stage,
        enabled=lambda spec: spec.search.enabled,
        exclude=("search.retrain",),
    ),
    Stage(
        "retrain",
        ("search.retrain",),  # and, through the hash chain, everything the search read
        _retrain_stage,
        enabled=lambda spec: spec.search.enabled and spec.search.retrain is not None,
    ),
    # export runs before the report so the report can show each chosen Arch's measured latency
    Stage(
        "export",
        ("export",),
        _export_stage,
        enabled=lambda spec: spec.export.enabled,
        outputs=lambda spec: [Path(spec.export.dir) / spec.name],
    ),
    Stage(
        "report",
        (),
        _report_stage,
        enabled=lambda spec: spec.search.enabled,
        outputs=lambda spec: [report_dir_for(spec) / "index.html"],
    ),
]


def report_dir_for(spec: Spec) -> Path:
    """`reports/<name>/` (relative to the working directory, like `exports/`)."""
    return Path("reports") / spec.name


def run_dir_for(spec: Spec) -> Path:
    """`<storage_path>/<name>`, absolute (Ray needs absolute storage paths)."""
    root = spec.resources.storage_path
    if "://" in root:
        raise RunError(
            f"resources.storage_path={root!r}: stage outputs are written locally; give a local or mounted directory"
        )
    return RunLayout.of(root, spec.name).root


def log_file_for(spec: Spec) -> Path:
    """`<run dir>/logs/ray.log`: where a command run without `--verbose` sends Ray's output."""
    return RunLayout(run_dir_for(spec)).ray_log


def _absolute_data_path(spec: Spec) -> Spec:
    """A relative `data.path` made absolute: Ray workers do not run in this directory. `builtin:` paths stay
    as written (data loading resolves them wherever raydistill is installed, so they hash the same everywhere).
    """
    from raydistill.data.builtin import PREFIX

    path = spec.data.path
    if not path or path.startswith(PREFIX) or Path(path).expanduser().is_absolute():
        return spec
    absolute = str(Path(path).expanduser().resolve())
    return spec.model_copy(update={"data": spec.data.model_copy(update={"path": absolute})})


def _check_data(spec: Spec) -> None:
    """The data checks of `validate` (path, train and dev files, columns, examples, labels), so a data mistake
    fails here, before any stage starts Ray, even for a `Spec` not loaded from a file. Warnings (data checked
    here for a run on a cluster) are left to the spec loader, which prints them.

    Raises:
        DataError: one line `dotted.path: what is wrong; how to fix` per problem.
    """
    from raydistill.spec.data_rules import data_problems

    errors = [p for p in data_problems(spec) if not p.warning]
    if errors:
        raise DataError("\n".join(f"{p.path}: {p.message}" for p in errors))


def _stage_hash(spec: Spec, stage: Stage, upstream: str) -> str:
    """Hash of the stage's own spec sections chained with the previous stage's hash."""
    own = spec_hash(spec, *stage.sections, exclude=stage.exclude)
    return hashlib.sha256(f"{stage.name}:{own}:{upstream}".encode()).hexdigest()


def _cached(marker: Path, digest: str) -> dict[str, Any] | None:
    if not marker.is_file():
        return None
    try:
        record = json.loads(marker.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return record["summary"] if record.get("hash") == digest else None


def run_pipeline(
    spec: Spec, *, until: str | None = None, echo: Callable[[str], None] = print
) -> PipelineResult:
    """Run the enabled stages in order (up to and including `until`), skipping cached ones.

    Each stage is numbered among the enabled ones (`[2/5] supernet`); a running stage tells the active console
    (live progress), and `echo` gets one line as each stage ends (or is served from cache).
    """
    names = [s.name for s in STAGES]
    if until is not None and until not in names:
        raise RunError(f"--stage {until!r} is not a stage; choose one of: {', '.join(names)}")
    spec = _absolute_data_path(spec)
    _check_data(spec)
    run_dir = run_dir_for(spec)
    layout = RunLayout(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    layout.spec_json.write_text(spec.model_dump_json(indent=2))
    selected = STAGES[: names.index(until) + 1] if until else STAGES
    enabled = [stage for stage in selected if stage.enabled(spec)]
    outcomes: list[StageOutcome] = []
    upstream = ""
    for stage in selected:
        if stage not in enabled:
            outcomes.append(StageOutcome(stage.name, "skipped", 0.0))
            continue
        prefix = f"[{enabled.index(stage) + 1}/{len(enabled)}] {stage.name}"
        digest = _stage_hash(spec, stage, upstream)
        upstream = digest
        stage_dir, stage_file = layout.stage_dir(stage.name), layout.stage_file(stage.name)
        cached = _cached(stage_file, digest)
        if cached is not None and all(p.exists() for p in stage.outputs(spec)):
            echo(f"{prefix}: {short_headline(cached)} (cached)")
            outcomes.append(StageOutcome(stage.name, "cached", 0.0, cached))
            continue
        console.stage(prefix)
        stage_file.unlink(missing_ok=True)  # its outputs are about to change: never reuse them
        start = time.perf_counter()
        summary = stage.run(spec, run_dir)
        seconds = time.perf_counter() - start
        stage_dir.mkdir(parents=True, exist_ok=True)
        record = {"hash": digest, "seconds": seconds, "summary": summary}
        stage_file.write_text(json.dumps(record, indent=2, default=str))
        echo(f"{prefix}: {short_headline(summary)} (ran in {seconds:.0f} s)")
        outcomes.append(StageOutcome(stage.name, "ran", seconds, summary))
    return PipelineResult(spec.name, run_dir, outcomes)
