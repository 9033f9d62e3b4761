"""The `search_sst2` benchmark's last step: re-train the NSGA-II picks with raydistill's `retrain` stage.

`search.retrain` cuts each budget's chosen Arch out of the supernet and trains it further on its own by
distillation from the fine-tuned teacher (method `kd`, Ray Train). The stage reads the teacher and the supernet
from `<run_dir>/teacher/model` and `<run_dir>/supernet/model`; the benchmark's search runs point their spec at
the supernet directly, so those two paths are linked to the benchmark's models here.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from raydistill.layout import RunLayout

RETRAIN_EPOCHS = 3.0
RETRAIN_LR = 3e-5
# The supernet benchmark's batches (its `supernet.train`), which the retrain stage reuses for batch size and threads.
RETRAIN_OVERRIDES = (
    "supernet.train.batch_size=32",
    "supernet.train.warmup_ratio=0.1",
    "supernet.train.group_by_length=true",
    "supernet.train.num_threads=2",
)


def _link(target: Path, link: Path) -> None:
    """`link` -> `target` (replacing an older link or copy at `link`)."""
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.exists():
        raise FileExistsError(f"{link} exists and is not a link; remove it to re-run the retrain step")
    link.symlink_to(target.resolve(), target_is_directory=True)


def retrain_picks(
    spec_path: Path,
    run_dir: Path,
    teacher_dir: Path,
    supernet_dir: Path,
    teacher_acc: float,
    *,
    epochs: float = RETRAIN_EPOCHS,
    learning_rate: float = RETRAIN_LR,
) -> dict[str, Any]:
    """Run the retrain stage on a finished search run; dev accuracy of each pick before and after, by budget.

    Returns:
        {"epochs", "learning_rate", "wall_time_s", "by_budget": {budget: {arch_id, dev_before, dev_after,
        dev_after_pct_of_teacher}}}; the stage's own `retrain/retrain.json` is left in `run_dir` (the report
        shows it).
    """
    from raydistill.spec import load_spec
    from raydistill.training.retrain import retrain_best

    layout = RunLayout(run_dir)
    _link(teacher_dir, layout.teacher_model)
    _link(supernet_dir, layout.supernet_model)
    overrides = [
        *RETRAIN_OVERRIDES,
        f"search.retrain.epochs={epochs}",
        f"search.retrain.learning_rate={learning_rate}",
    ]
    spec = load_spec(spec_path, overrides)
    start = time.perf_counter()
    summary = retrain_best(spec, run_dir)
    wall = time.perf_counter() - start
    records = json.loads(layout.retrain_file.read_text())
    by_budget: dict[str, dict[str, Any]] = {}
    for arch_id, r in records.items():
        for budget in r["budgets"]:
            by_budget[f"{budget:g}"] = {
                "arch_id": arch_id,
                "dev_before": r["dev_before"],
                "dev_after": r["dev_after"],
                "dev_after_pct_of_teacher": 100.0 * r["dev_after"] / teacher_acc,
            }
    return {
        "epochs": epochs,
        "learning_rate": learning_rate,
        "wall_time_s": wall,
        "headline": summary["headline"],
        "by_budget": dict(sorted(by_budget.items(), key=lambda kv: float(kv[0]))),
    }
