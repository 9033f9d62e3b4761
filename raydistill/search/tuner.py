"""Stage `search`: `run_search(spec, supernet_dir, run_dir)` builds and runs the Ray Tune search.

Flow: load the supernet and the task data once in the driver -> price every proposal analytically (spaces)
-> Tune trials evaluate feasible proposals on the search split (`search_trial`, weights shared once through
the object store, actors reused) -> trial table -> Archs of the Pareto front (at most `search.pareto_eval_cap`,
its best always) evaluated on dev, once each -> `search/trials.parquet`, `trials.csv`, `meta.json`,
`dev_metrics.json`. The budget picks are the picks stage's (`stages.picks`), made from the trial table.

Outputs under `run_dir`:

    search/trials.parquet, trials.csv   one row per trial (`results.table` schema)
    search/meta.json                    name, task, metric, budgets, sampler, space, teacher FLOPs/params,
                                        fixed_ratio (the FLOPs share budgets do not price, `results.pareto`)
    search/dev_metrics.json             every dev metric of each Arch scored on dev
    ray/<name>-search/                  the Tune experiment (stable name, no timestamps)
    ray/<name>-search.inputs.json       the key it was started under (the search stage's run key)

No Arch is proposed twice (`proposals`); when the space has fewer new sub-networks than `search.num_trials`,
the search ends early (`search/exhausted.json` records it) and the stage finishes normally.

Resume: when `ray/<name>-search` exists and was started under the same key, `Tuner.restore(...,
resume_errored=True)` continues it: finished trials are kept, not re-evaluated. Tune cannot change a saved
experiment (its trial count, sampler or space are part of its pickled state), so when the key differs the
old experiment is moved to `<name>-search.prev` and the search starts afresh (logged). A damaged experiment
(a file Tune's restore reads is empty, unreadable or missing: `experiment.damage`, or `Tuner.restore` fails)
is set aside the same way, with one line saying why.

Faults: a trial whose actor or node died is retried up to `search.max_failures` times (Tune's `FailureConfig`);
a trial whose evaluation raised is not retried (it reports status "error", `trainable.error_result`).
`max_failures` is not part of the search key: changing it resumes the same experiment (whose saved run config
keeps the count it was started with).
"""

from __future__ import annotations

import json
import math
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import ray
import torch
from ray import tune
from torch import nn

from raydistill.data import TaskData, prepare_task_data
from raydistill.errors import Interrupted, RunError
from raydistill.layout import RayDir, RunLayout
from raydistill.models.loading import load_task_model, load_tokenizer
from raydistill.results.table import make_table, with_dev_metrics, write_table
from raydistill.search.evaluator import cap_evalset
from raydistill.search.experiment import damage, describe, set_aside
from raydistill.search.final import dev_candidates, evaluate_on_dev, main_dev_values, summarize
from raydistill.search.latency_objective import LatencySettings, cost_key
from raydistill.search.progress import SearchProgress
from raydistill.search.proposals import read_exhausted
from raydistill.search.records import search_meta, trial_rows, write_meta
from raydistill.search.samplers import SamplerOptions, make_searcher, population_for
from raydistill.search.session import ensure_ray, quiet_tune, trial_resources
from raydistill.search.spaces import DefineByRun, SpaceContext, get_space, grid_points
from raydistill.search.trainable import TrialPayload, search_trial, state_to_numpy
from raydistill.spec import Spec, spec_hash
from raydistill.training.config import data_kwargs
from raydistill.training.runtime import note, progress_logger

__all__ = ["SearchInterrupted", "SearchResult", "SearchSetup", "load_setup", "run_search"]

_CLOSED = ("TERMINATED", "ERROR")  # Tune trial statuses of finished trials


class SearchInterrupted(Interrupted):
    """The search stopped before all its trials finished (Ctrl-C, SIGUSR1); rerunning resumes it."""


@dataclass
class SearchResult:
    """What a finished search hands back (everything is also on disk under `directory`).

    Attributes:
        table: the trial table (`results.table` schema), dev metrics filled for the chosen Archs.
        directory: `run_dir/search`.
        meta: the contents of `meta.json`.
        trials_run_now: trials that ran in this call (the others were restored from an interrupted call).
        wall_time_s: seconds this call took.
    """

    table: pd.DataFrame
    directory: Path
    meta: dict[str, Any]
    trials_run_now: int
    wall_time_s: float

    @property
    def headline(self) -> str:
        """One line: trials, evaluated, failed, and the best on the search split (and its dev metric)."""
        metric = self.meta["metric_name"]
        ok = int((self.table["status"] == "ok").sum())
        failed = int((self.table["status"] == "failed").sum())
        failures = f", {failed} failed (NaN or inf outputs)" if failed else ""
        scored = self.table[self.table["status"] == "ok"].sort_values("search_metric", ascending=False)
        if not len(scored):
            return f"{len(self.table)} trials, {ok} evaluated{failures}"
        best = scored.iloc[0]
        dev = best["dev_metric"]
        dev_text = (
            f"{dev:.4f}" if math.isfinite(dev) else "failed: NaN or inf outputs"
        )  # the best is always scored
        return (
            f"{len(self.table)} trials, {ok} evaluated{failures} | best {best['arch_id']} {metric} "
            f"{best['search_metric']:.4f} (dev {dev_text})"
        )


@dataclass
class SearchSetup:
    """What the driver loads once: the supernet, the task data, the pricing context and the main metric."""

    model: nn.Module
    data: TaskData
    ctx: SpaceContext
    metric: str
    head: str


def load_setup(spec: Spec, supernet_dir: Path) -> SearchSetup:
    """Load the supernet and the task data (with its search split) once, and the context that prices Archs."""
    tokenizer = load_tokenizer(str(supernet_dir))
    data = prepare_task_data(spec.task, tokenizer, seed=spec.seed, **data_kwargs(spec.data))
    task = data.task
    model = load_task_model(str(supernet_dir), task.kind, task.num_labels, require_head=True).eval()
    head = "qa" if task.kind == "qa" else "classification"
    ctx = SpaceContext(
        config=model.config,
        widths=tuple(spec.supernet.widths),
        depths=tuple(spec.supernet.depths),
        seq_len=spec.cost_seq_length,
        num_labels=task.num_labels,
        head=head,
        max_budget=max(spec.search.budgets),
        length_ratio=spec.supernet.length.length_drop_ratio_bound if spec.supernet.length.enabled else None,
    )
    return SearchSetup(model=model, data=data, ctx=ctx, metric=task.main_metric, head=head)


def default_key(spec: Spec) -> str:
    """The key of a search started without the stage's run key (`run_search(key=None)`): what the search
    stage's run key reads of the spec (only the largest budget; not the dev cap, nor the re-training)."""
    sections = ("task", "data", "seed", "search", "supernet", "cost")
    own = spec_hash(spec, *sections, exclude=("search.budgets", "search.retrain", "search.pareto_eval_cap"))
    return f"{own}:{max(spec.search.budgets)}"


def _reuse_or_replace(experiment: Path, layout: RunLayout, key: str) -> bool:
    """True when `experiment` can be resumed under `key`. Else start afresh: move an old experiment (another
    key, or damaged) to `.prev`, drop the run's stale search outputs, and record `key`."""
    record = RayDir(experiment).inputs
    if tune.Tuner.can_restore(str(experiment)):
        same = record.is_file() and record.read_text() == _key_text(key)
        problem = damage(experiment)
        if same and problem is None:
            return True
        reason = "search inputs changed" if not same else f"saved search cannot be resumed ({problem})"
        _replace(experiment, reason)
    elif experiment.exists():
        shutil.rmtree(experiment)  # a start that never saved any state
    _start_afresh(layout, experiment, key)
    return False


def _key_text(key: str) -> str:
    return json.dumps({"key": key})


def _replace(experiment: Path, reason: str) -> None:
    """Set the experiment aside (`.prev`) and say so in one line."""
    backup = set_aside(experiment)
    note(f"{reason}; previous search kept at {backup}; starting afresh")


def _start_afresh(layout: RunLayout, experiment: Path, key: str) -> None:
    """Drop the outputs of an older search in the run and record the key of the new one."""
    for stale in layout.search_outputs:
        stale.unlink(missing_ok=True)
    layout.search_dir.mkdir(parents=True, exist_ok=True)
    experiment.parent.mkdir(parents=True, exist_ok=True)
    RayDir(experiment).inputs.write_text(_key_text(key))


def _trainable(spec: Spec, setup: SearchSetup) -> Any:
    """`search_trial` with the weights and the search split in the object store, and its resource share."""
    resources = trial_resources(
        spec.resources.max_concurrent_trials,
        spec.resources.cpus_per_worker,
        spec.resources.use_gpu,
        ray.cluster_resources(),
    )
    payload = TrialPayload(
        key=uuid.uuid4().hex,
        model_config=setup.ctx.config.to_dict(),
        head=setup.head,
        evalset=cap_evalset(setup.data.search, spec.search.max_search_examples),
        collate=setup.data.collate,
        batch_size=spec.supernet.train.eval_batch_size,
        metric=setup.metric,
        num_threads=max(1, int(resources["cpu"])),
        use_gpu=spec.resources.use_gpu,
        latency=latency_settings(spec),
    )
    shared = tune.with_parameters(search_trial, model_state=state_to_numpy(setup.model), payload=payload)
    return tune.with_resources(shared, resources)


def latency_settings(spec: Spec) -> LatencySettings | None:
    """How trials are timed with `search.objective: latency` (at the run's cost length), else None."""
    if spec.search.objective != "latency":
        return None
    lat = spec.search.latency
    return LatencySettings(spec.cost_seq_length, threads=lat.threads, warmup=lat.warmup, repeats=lat.repeats)


def _trial_name(trial: Any) -> str:
    """Short trial names/dirs (Tune's default puts the whole config, e.g. the Arch JSON, in the dir name)."""
    return f"trial_{trial.trial_id}"


def sampler_seed(spec: Spec) -> int:
    """`search.seed`, else the top-level seed: a new sampler seed keeps the same data and search split."""
    return spec.search.seed if spec.search.seed is not None else spec.seed


def _new_tuner(spec: Spec, setup: SearchSetup, trainable: Any, layout: RunLayout) -> tune.Tuner:
    start = grid_points(spec.search.space, setup.ctx) if spec.search.start_from_grid else []
    options = SamplerOptions(
        define_by_run=DefineByRun(spec.search.space, setup.ctx),
        metric=setup.metric,
        seed=sampler_seed(spec),
        population_size=population_for(spec.search.num_trials, spec.search.population_size),
        start_points=tuple(start[: spec.search.num_trials]),
        exhausted_file=str(layout.exhausted),
        num_trials=spec.search.num_trials,
        cost_key=cost_key(spec.search.objective),
    )
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=make_searcher(spec.search.sampler, options),
            num_samples=spec.search.num_trials,
            reuse_actors=True,
            max_concurrent_trials=spec.resources.max_concurrent_trials,
            trial_name_creator=_trial_name,
            trial_dirname_creator=_trial_name,
        ),
        run_config=tune.RunConfig(
            name=layout.search_experiment(spec.name).path.name,
            storage_path=str(layout.ray_dir),
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=spec.search.max_failures),
            callbacks=[SearchProgress(spec.search.num_trials, setup.metric)],
        ),
    )


def _restore(experiment: Path, trainable: Any) -> tune.Tuner | None:
    """The saved experiment's Tuner, or None when Tune cannot restore it (then it is set aside)."""
    try:
        tuner = tune.Tuner.restore(str(experiment), trainable=trainable, resume_errored=True)
    except Exception as exc:  # damage `experiment.damage` did not see: resuming is impossible either way
        _replace(experiment, f"saved search cannot be restored ({describe(exc)})")
        return None
    note(f"resuming search {experiment.name} from {experiment}")
    return tuner


@dataclass
class _Outcome:
    """What the Tune run gave: table rows of finished trials, trials run in this call, error messages."""

    rows: list[dict[str, Any]]
    ran_now: int
    errors: list[str]


def _run_tuner(spec: Spec, setup: SearchSetup, key: str, run_dir: Path) -> _Outcome:
    """Run (or resume) the Tune experiment started under `key`."""
    started = time.time()
    layout = RunLayout(run_dir)
    experiment = layout.search_experiment(spec.name).path
    trainable = _trainable(spec, setup)
    tuner = None
    if _reuse_or_replace(experiment, layout, key):
        tuner = _restore(experiment, trainable)
        if tuner is None:
            _start_afresh(layout, experiment, key)
    if tuner is None:
        tuner = _new_tuner(spec, setup, trainable, layout)
    with quiet_tune():
        grid = tuner.fit()
        results = [grid[i] for i in range(len(grid))]
        closed = {
            t.trial_id for t in tune.ExperimentAnalysis(grid.experiment_path).trials if t.status in _CLOSED
        }
    return _Outcome(
        rows=trial_rows(results, setup.metric, spec.search.sampler, finished=closed),
        ran_now=sum(1 for r in results if (r.metrics or {}).get("evaluated_at", 0.0) >= started),
        errors=[str(r.error).strip().splitlines()[-1] for r in results if r.error is not None]
        + [str((r.metrics or {}).get("note")) for r in results if (r.metrics or {}).get("status") == "error"],
    )


def _final(spec: Spec, setup: SearchSetup, table: pd.DataFrame, dev_file: Path) -> pd.DataFrame:
    """Score the chosen Archs on dev once each, write `dev_metrics.json`, return the table with them."""
    archs = dev_candidates(table, spec.search.pareto_eval_cap)
    use_cuda = spec.resources.use_gpu and torch.cuda.is_available()
    model = setup.model.to("cuda") if use_cuda else setup.model
    dev = evaluate_on_dev(model, archs, setup.data, batch_size=spec.supernet.train.eval_batch_size)
    dev_file.write_text(json.dumps(summarize(dev), indent=2))
    return with_dev_metrics(table, main_dev_values(dev, setup.data))


def run_search(spec: Spec, supernet_dir: Path, run_dir: Path, key: str | None = None) -> SearchResult:
    """Search the supernet's sub-networks for the best metric per FLOPs budget (see the module docstring).

    Args:
        spec: the experiment (reads `search`, `supernet` lists, `data`, `task`, `resources`, `seed`).
        supernet_dir: Hugging Face dir of the trained supernet (weights + tokenizer).
        run_dir: the run's directory; outputs go to `run_dir/search`, the Tune experiment to `run_dir/ray`.
        key: the search stage's run key: a saved experiment is resumed only when started under it (None:
            `default_key(spec)`).

    Raises:
        SearchInterrupted: the search stopped early (the partial table is written); rerun to resume.
        RaydistillError: bad spec values, model or data (`SpecError`, `ModelError`, `DataError`).
    """
    start = time.time()
    get_space(spec.search.space)  # fail before loading anything
    run_dir, supernet_dir = Path(run_dir).resolve(), Path(supernet_dir).resolve()
    layout = RunLayout(run_dir)
    out = layout.search_dir
    setup = load_setup(spec, supernet_dir)
    ensure_ray(spec.resources.address)
    outcome = _run_tuner(spec, setup, key if key is not None else default_key(spec), run_dir)
    table = make_table(outcome.rows)
    if outcome.errors and len(outcome.errors) == len(table):
        raise RunError(
            f"all {len(table)} search trials failed; the first error: {outcome.errors[0]} "
            f"(trial logs under {layout.ray_dir})"
        )
    exhausted = read_exhausted(out)  # distinct proposals before the space ran out: one trial each
    expected = spec.search.num_trials if exhausted is None else min(spec.search.num_trials, exhausted)
    if len(table) < expected:
        write_table(table, out)
        raise SearchInterrupted(
            f"search {layout.search_experiment(spec.name).path.name} stopped after {len(table)} of {spec.search.num_trials} trials; "
            "its state is saved: rerun the same command to resume"
        )
    if exhausted is not None:
        note(
            f"search space {spec.search.space!r} has no new sub-network left after {exhausted} distinct "
            f"proposals: the search ends with {len(table)} of {spec.search.num_trials} trials"
        )
    table = _final(spec, setup, table, layout.dev_metrics)
    write_table(table, out)
    meta = search_meta(
        name=spec.name,
        task=spec.task,
        metric=setup.metric,
        budgets=spec.search.budgets,
        sampler=spec.search.sampler,
        space=spec.search.space,
        num_trials=spec.search.num_trials,
        ctx=setup.ctx,
        objective=spec.search.objective,
        latency=latency_settings(spec),
    )
    write_meta(meta, out)
    result = SearchResult(
        table=table,
        directory=out,
        meta=meta,
        trials_run_now=outcome.ran_now,
        wall_time_s=time.time() - start,
    )
    progress_logger().info(f"search done in {result.wall_time_s:.0f} s | {result.headline}")
    return result
