"""Working with finished runs (`runs/<name>/`): locate them, parse Arch arguments, export sub-networks.

Used by `raydistill export RUN --arch ID|JSON` and by the pipeline's export stage. No Ray here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from raydistill.errors import ArchError, RunError
from raydistill.layout import RunLayout


def find_run(run: str | Path, storage_path: str | Path = "runs") -> Path:
    """`run` is a run directory, or a run name under `storage_path`."""
    candidates = list(dict.fromkeys((Path(run), Path(storage_path) / str(run))))  # once each, in order
    for candidate in candidates:
        if candidate.is_dir() and RunLayout(candidate).spec_json.is_file():
            return candidate.resolve()
    looked = " and ".join(str(RunLayout(c).spec_json) for c in candidates)
    raise RunError(
        f"no run at {run!r} (looked for {looked}); "
        "give a run directory such as runs/quickstart, created by `raydistill run SPEC`"
    )


def run_model_dir(run_dir: Path) -> Path:
    """The model a run's sub-networks are cut from: its supernet if trained, else its teacher."""
    model_dirs = RunLayout(run_dir).model_dirs
    for model_dir in model_dirs:
        if (model_dir / "config.json").is_file():
            return model_dir
    wanted = " or ".join(str(d.relative_to(run_dir)) for d in model_dirs)
    raise RunError(f"{run_dir} has no trained model yet ({wanted}); run `raydistill run SPEC` first")


def parse_arch(text: str):  # type: ignore[no-untyped-def]  # -> Arch (import kept lazy: torch-free CLI start)
    """An Arch from its id (`L6-H6x6-F768x6`) or its JSON (`{"layers": [...], ...}`)."""
    from raydistill.models.arch import Arch

    text = text.strip()
    try:
        return Arch.from_json(text) if text.startswith("{") else Arch.from_id(text)
    except (ValueError, json.JSONDecodeError) as exc:
        raise ArchError(f"--arch {text!r} is neither an Arch id (e.g. L6-H6x6-F768x6) nor Arch JSON: {exc}") from exc


def export_from_run(run_dir: Path, arch_text: str, out_dir: Path | None, formats: Sequence[str]):  # type: ignore[no-untyped-def]
    """Cut `arch` out of the run's model and write it as an HF dir and/or ONNX file (see `models.export`)."""
    arch = parse_arch(arch_text)
    model_dir = run_model_dir(run_dir)
    model = _load_model(model_dir)
    target = out_dir or Path("exports") / run_dir.name / arch.id
    seq_len, task = _run_spec(run_dir)
    return _export(model, arch, target, _tokenizer(model_dir), formats, seq_len, task)


def _run_spec(run_dir: Path) -> tuple[int, str | None]:
    """`data.max_seq_length` and `task` of the run's spec (`spec.json`, written by `raydistill run`)."""
    path = RunLayout(run_dir).spec_json
    try:
        spec = json.loads(path.read_text())
        return int(spec["data"]["max_seq_length"]), spec.get("task")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RunError(
            f"{path}: cannot read data.max_seq_length ({type(exc).__name__}: {exc}); rerun `raydistill run SPEC` "
            "to rewrite it"
        ) from None


def _load_model(model_dir: Path):  # type: ignore[no-untyped-def]
    from transformers import AutoConfig, AutoModelForQuestionAnswering, AutoModelForSequenceClassification

    try:
        config = AutoConfig.from_pretrained(model_dir)
        qa = any("QuestionAnswering" in a for a in (config.architectures or []))
        cls = AutoModelForQuestionAnswering if qa else AutoModelForSequenceClassification
        return cls.from_pretrained(model_dir).eval()
    except (OSError, ValueError) as exc:  # a model dir with missing or damaged files
        raise RunError(
            f"{model_dir}: cannot load the model ({exc}); delete that stage's folder and rerun `raydistill run "
            "SPEC` to rebuild it"
        ) from None


def export_dir_name(budgets: Sequence[float], arch_id: str) -> str:
    """`budget25-<arch id>`, or `budget25+50-<arch id>` for an Arch that is the pick of several budgets."""
    return "budget" + "+".join(f"{round(b * 100):02d}" for b in sorted(budgets)) + f"-{arch_id}"


def export_best(spec, run_dir: Path) -> dict:  # type: ignore[no-untyped-def]  # spec: Spec
    """Export stage: the Arch of each `pick` row of the points table as HF dir + ONNX, with measured CPU latency.

    Reads only the points table (`results.points`): the picks (stage `picks`) and the `retrained` rows. An Arch
    that is the pick of several budgets is exported once (`export_dir_name`); every budget points at its
    directory in `<run_dir>/export/exports.json` (`{budget: dir}`), and the directory's `export.json` lists the
    budgets under `budgets`. An Arch with a `retrained` row whose model is present is exported from its
    re-trained model, whole; the others are sliced out of the supernet.
    Writes `exports/<name>/budget<NN>-<arch id>/` per Arch (under `export.dir`), `<run_dir>/export/latency.json`
    (`{arch_id: {latency_ms, batch_size, seq_len, runtime, threads, device}}`: median of repeats after warm-up,
    tokenizer excluded, batch 1 at `data.max_seq_length`; ONNX Runtime when exported, else torch), and sets
    `latency_ms` and `export_dir` on the pick (and retrained) rows of the points table.
    """
    from raydistill.results.points import picks_by_arch, read_points, update_points

    layout = RunLayout(run_dir)
    points = read_points(layout)
    by_arch = picks_by_arch(points)
    retrained_rows = points[points["kind"] == "retrained"]
    retrained_dirs = dict(zip(retrained_rows["arch_id"], retrained_rows["model_dir"], strict=True))
    model_dir = run_model_dir(run_dir)
    model, tokenizer = _load_model(model_dir), _tokenizer(model_dir)
    exported: dict[str, str] = {}
    latency: dict[str, dict] = {}
    retrained: list[str] = []
    updates: dict[str, dict] = {}
    for arch_id, budgets in by_arch.items():
        target = Path(spec.export.dir) / spec.name / export_dir_name(budgets, arch_id)
        source = retrained_dirs.get(arch_id)
        own = source if source and (Path(source) / "config.json").is_file() else None
        retrained += [arch_id] if own else []
        result, latency[arch_id] = _export_one(spec, model, tokenizer, arch_id, target, own)
        _add_budgets(result.out_dir, budgets)
        exported |= {f"{budget:g}": str(result.out_dir) for budget in budgets}
        labels = points.loc[(points["kind"] == "pick") & (points["arch_id"] == arch_id), "label"].tolist()
        labels += [f"retrained {arch_id}"] if arch_id in retrained else []
        updates |= {label: {"latency_ms": latency[arch_id]["latency_ms"], "export_dir": str(result.out_dir)}
                    for label in labels}  # fmt: skip
    layout.export_dir.mkdir(parents=True, exist_ok=True)
    layout.latency_json.write_text(json.dumps(latency, indent=2))
    layout.exports_json.write_text(json.dumps(exported, indent=2))
    update_points(layout, updates)
    note = f" ({len(retrained)} re-trained)" if retrained else ""
    return {"headline": f"{len(by_arch)} sub-networks exported to {Path(spec.export.dir) / spec.name}{note}",
            "exports": exported, "retrained": retrained}  # fmt: skip


def export_students(spec, run_dir: Path) -> dict:  # type: ignore[no-untyped-def]  # spec: Spec
    """Export stage, students: each `student` row's model, whole, as HF dir (stock `bert`) + ONNX into
    `exports/<name>/student-<student name>/`, timed like the sub-networks; adds them to
    `<run_dir>/export/latency.json` (keyed `student <name>`) and sets `latency_ms` and `export_dir` on the rows."""
    from raydistill.results.points import read_points, update_points

    layout = RunLayout(run_dir)
    rows = read_points(layout)
    rows = rows[rows["kind"] == "student"]
    latency = json.loads(layout.latency_json.read_text()) if layout.latency_json.is_file() else {}
    exported: dict[str, str] = {}
    updates: dict[str, dict] = {}
    for label, model_dir in zip(rows["label"], rows["model_dir"], strict=True):
        name = str(label).removeprefix("student ")
        target = Path(spec.export.dir) / spec.name / f"student-{name}"
        result, latency[label] = _export_one(spec, None, None, "", target, model_dir)
        exported[name] = str(result.out_dir)
        updates[label] = {"latency_ms": latency[label]["latency_ms"], "export_dir": str(result.out_dir)}
    layout.export_dir.mkdir(parents=True, exist_ok=True)
    layout.latency_json.write_text(json.dumps(latency, indent=2))
    update_points(layout, updates)
    return {"headline": f"{len(exported)} students exported to {Path(spec.export.dir) / spec.name}",
            "exports": exported}  # fmt: skip


def _export_one(spec, model, tokenizer, arch_id: str, target: Path, retrained_dir: str | None):  # type: ignore[no-untyped-def]
    """Export one Arch (from its re-trained model when `retrained_dir`, else sliced from `model`) and time it:
    (export result, latency record). A model of its own (re-trained, or a student) is exported whole."""
    from raydistill.models.export import own_arch
    from raydistill.models.latency import time_onnx, time_torch_model

    seq_len = spec.data.max_seq_length
    if retrained_dir is not None:
        model = _load_model(Path(retrained_dir))
        result = _export(model, own_arch(model.config), target, _tokenizer(Path(retrained_dir)),
                         spec.export.formats, seq_len, spec.task)  # fmt: skip
    else:
        result = _export(model, parse_arch(arch_id), target, tokenizer, spec.export.formats, seq_len, spec.task)
    if result.onnx_path is not None:
        stats = time_onnx(result.onnx_path, batch_size=1, seq_len=seq_len, vocab_size=model.config.vocab_size)
        runtime = "onnxruntime"
    else:
        stats = time_torch_model(_load_model(result.out_dir), batch_size=1, seq_len=seq_len)
        runtime = "torch"
    return result, {"latency_ms": stats.median_ms, "batch_size": 1, "seq_len": seq_len,
                    "runtime": runtime, "threads": stats.threads, "device": "cpu"}  # fmt: skip


def _add_budgets(out_dir: Path, budgets: Sequence[float]) -> None:
    """Record in the export's manifest (`export.json`) the budgets whose pick it is."""
    from raydistill.models.export import MANIFEST_FILE

    manifest = out_dir / MANIFEST_FILE
    record = json.loads(manifest.read_text())
    record["budgets"] = [float(b) for b in budgets]
    manifest.write_text(json.dumps(record, indent=2) + "\n")


def _tokenizer(model_dir: Path):  # type: ignore[no-untyped-def]
    from raydistill.models.loading import load_tokenizer

    return load_tokenizer(str(model_dir))


def _export(model, arch, target: Path, tokenizer, formats: Sequence[str], seq_len: int, task: str | None):  # type: ignore[no-untyped-def]
    from raydistill.models.export import export_subnet

    arch.validate_for(model.config)
    return export_subnet(
        model, arch, target, tokenizer=tokenizer, formats=tuple(formats), seq_len=seq_len, task=task
    )
