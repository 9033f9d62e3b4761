"""What a quickstart run must reproduce exactly: the golden facts of a small real run.

`quickstart_facts(run_dir)` reads the teacher's dev metric, the supernet's grid of sub-network dev metrics, every
search trial (in completion order: with `resources.max_concurrent_trials: 1` results reach the sampler in one
order) and the budget picks (the points table's `pick` rows, written once by the picks stage). `quickstart.json` beside this file holds the facts recorded on the code before the
run-contract redesign (issue 13); the quickstart integration test compares a fresh run against it, so a
restructuring that changes what the pipeline computes fails there. Re-record only for an intended change of
behaviour: `RAYDISTILL_RECORD_GOLDEN=1 pytest tests/integration/test_quickstart.py`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

GOLDEN_FILE = Path(__file__).with_name("quickstart.json")
TOLERANCE = 1e-6  # metrics are fractions of examples; a real change moves them by 1/n >> 1e-6
WEIGHTS_TOLERANCE = 1e-5  # relative: float re-association only; one training step more or less moves them more


def quickstart_facts(run_dir: Path, budgets: list[float]) -> dict[str, Any]:
    """The facts of the run at `run_dir` (see the module docstring)."""
    import pandas as pd

    from raydistill.layout import RunLayout
    from raydistill.results.points import read_points

    run = RunLayout(run_dir)
    teacher = json.loads(run.teacher_metrics.read_text())
    grid = pd.read_csv(run.supernet_eval_csv)
    trials = pd.read_parquet(run.trials_parquet)
    points = read_points(run)
    rows = points[points["kind"] == "pick"]
    picks = dict(zip(rows["budget"], rows["arch_id"], strict=True))
    assert sorted(picks) == sorted(budgets), picks  # every budget has a pick in the quickstart
    return {
        "weights": {"teacher": _weights(run.teacher_model), "supernet": _weights(run.supernet_model)},
        "teacher": {"metric": teacher["main_metric"], "dev": teacher["main_value"]},
        "grid": {f"w{r.width:g}-d{r.depth:g}": float(r.dev_metric) for r in grid.itertuples()},
        "trials": [[r.arch_id, _number(r.search_metric), int(r.flops)] for r in trials.itertuples()],
        "picks": {f"{b:g}": a for b, a in sorted(picks.items())},
    }


def _weights(model_dir: Path) -> list[float]:
    """Sum and sum of squares of every weight of a saved model (float64): the trained weights in two numbers,
    sensitive to any change of what was trained (a metric of a tiny task can stay the same)."""
    from safetensors.numpy import load_file

    tensors = load_file(str(model_dir / "model.safetensors"))
    values = [t.astype("float64") for t in tensors.values()]
    return [float(sum(v.sum() for v in values)), float(sum((v * v).sum() for v in values))]


def _number(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def assert_same_facts(got: dict[str, Any], want: dict[str, Any]) -> None:
    """Equal facts: the same keys, Archs, FLOPs and picks; metrics equal to `TOLERANCE`."""
    for model, sums in want["weights"].items():
        for got_sum, want_sum in zip(got["weights"][model], sums, strict=True):
            assert math.isclose(got_sum, want_sum, rel_tol=WEIGHTS_TOLERANCE), (model, got_sum, want_sum)
    assert got["teacher"]["metric"] == want["teacher"]["metric"]
    assert math.isclose(got["teacher"]["dev"], want["teacher"]["dev"], abs_tol=TOLERANCE), (got, want)
    assert got["grid"].keys() == want["grid"].keys()
    for key, value in want["grid"].items():
        assert math.isclose(got["grid"][key], value, abs_tol=TOLERANCE), (key, got["grid"][key], value)
    assert [t[0] for t in got["trials"]] == [t[0] for t in want["trials"]], "trials proposed in another order"
    for (arch, metric, flops), (_, want_metric, want_flops) in zip(got["trials"], want["trials"], strict=True):
        assert flops == want_flops, (arch, flops, want_flops)
        assert (metric is None) == (want_metric is None), (arch, metric, want_metric)
        if metric is not None:
            assert math.isclose(metric, want_metric, abs_tol=TOLERANCE), (arch, metric, want_metric)
    assert got["picks"] == want["picks"]
