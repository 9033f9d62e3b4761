"""Working with finished runs (`runs/<name>/`): locate them, parse Arch arguments, export sub-networks.

Used by `raydistill export RUN --arch ID|JSON` and by the pipeline's export stage. No Ray here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from raydistill.errors import ArchError, RunError

# Where a run keeps its models, best first: the trained supernet, else the fine-tuned teacher.
MODEL_DIRS = ("supernet/model", "teacher/model")


def find_run(run: str | Path, storage_path: str | Path = "runs") -> Path:
    """`run` is a run directory, or a run name under `storage_path`."""
    for candidate in (Path(run), Path(storage_path) / str(run)):
        if candidate.is_dir() and (candidate / "spec.json").is_file():
            return candidate.resolve()
    raise RunError(
        f"no run at {run!r} (looked for {Path(run)}/spec.json and {Path(storage_path) / str(run)}/spec.json); "
        "give a run directory such as runs/quickstart, created by `raydistill run SPEC`"
    )


def run_model_dir(run_dir: Path) -> Path:
    """The model a run's sub-networks are cut from: its supernet if trained, else its teacher."""
    for rel in MODEL_DIRS:
        if (run_dir / rel / "config.json").is_file():
            return run_dir / rel
    raise RunError(f"{run_dir} has no trained model yet ({' or '.join(MODEL_DIRS)}); run `raydistill run SPEC` first")


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
    from raydistill.models.export import export_subnet
    from raydistill.models.loading import load_tokenizer

    arch = parse_arch(arch_text)
    model_dir = run_model_dir(run_dir)
    model = _load_model(model_dir)
    arch.validate_for(model.config)
    target = out_dir or Path("exports") / run_dir.name / arch.id
    seq_len = json.loads((run_dir / "spec.json").read_text())["data"]["max_seq_length"]
    tokenizer = load_tokenizer(str(model_dir))
    return export_subnet(model, arch, target, tokenizer=tokenizer, formats=tuple(formats), seq_len=seq_len)


def _load_model(model_dir: Path):  # type: ignore[no-untyped-def]
    from transformers import AutoConfig, AutoModelForQuestionAnswering, AutoModelForSequenceClassification

    config = AutoConfig.from_pretrained(model_dir)
    qa = any("QuestionAnswering" in a for a in (config.architectures or []))
    cls = AutoModelForQuestionAnswering if qa else AutoModelForSequenceClassification
    return cls.from_pretrained(model_dir).eval()
