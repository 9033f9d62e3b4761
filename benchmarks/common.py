"""Shared helpers for benchmarks: environment capture and JSON + markdown writers."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def environment() -> dict[str, Any]:
    """What the numbers were measured on."""
    import ray
    import torch
    import transformers

    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "ray": ray.__version__,
        "git_commit": _git_commit(),
    }


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def bench_parser(description: str, *, work_help: str = "scratch dir for runs") -> argparse.ArgumentParser:
    """The arguments every benchmark takes: --data (../shared/data), --out (the reports), --work (its runs)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder with glue/SST-2 (../shared/data)")
    parser.add_argument("--out", type=Path, default=Path("reports/benchmarks"))
    parser.add_argument("--work", type=Path, default=Path("runs/bench"), help=work_help)
    return parser


def guarded(main: Callable[[], int]) -> int:
    """Run a benchmark's `main` with one line, not a traceback, for Ctrl-C (exit 130: rerunning the same command
    resumes, every run under --work is kept) and for a `raydistill` subprocess that failed (its own output,
    above, says why; exit with its code)."""
    try:
        return main()
    except KeyboardInterrupt:
        print("\ninterrupted: the runs under --work are kept; rerun the same command to resume", file=sys.stderr)
        return 130
    except subprocess.CalledProcessError as err:
        command = " ".join(str(part) for part in err.cmd) if isinstance(err.cmd, list) else str(err.cmd)
        print(f"error: `{command}` exited with {err.returncode} (its output above says why)", file=sys.stderr)
        return err.returncode if 0 < err.returncode < 256 else 1


def write_results(out_dir: Path, name: str, results: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """Write `<name>.json` and `<name>.md` under `out_dir` and return both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{name}.json"
    md_path = out_dir / f"{name}.md"
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    md_path.write_text(markdown.rstrip() + "\n")
    return json_path, md_path


def md_table(header: list[str], rows: list[list[Any]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 10 else f"{v:.1f}"
    return str(v)
