"""Samplers: Tune searchers that propose sub-networks, all driven by the same space and the same trainable.

Registered (`SAMPLERS`, `make_searcher`), each two-objective (task metric max, FLOPs ratio min):
    nsga2      Optuna NSGA-II (Deb et al. 2002) with `population_size` (default).
    tpe        Optuna multi-objective TPE (MOTPE), as Dynamic-TinyBERT's search uses.
    random     Optuna random sampling (the baseline every sampler must beat).
    evolution  LAT's evolutionary search with Pareto-frontier parents (`search.evolution`).
    gp         Optuna's GPSampler: a Gaussian process per objective and per constraint, logCEHVI acquisition
               (multi-objective since Optuna 4.4, constrained since 4.5); `GP_STARTUP_TRIALS` random
               (or start-point) trials first. Needs torch and scipy (both installed with raydistill).
    auto       OptunaHub's AutoSampler rule, reimplemented (hubs are not reachable offline): a multi-objective
               search (every search here is) with fewer than `AUTO_GP_BELOW` trials uses gp, else nsga2.

The Optuna samplers run through `ConstrainedOptunaSearch`, Ray's `OptunaSearch` with multi-objective
`metric=[<main metric>, "flops_ratio"]`, `mode=["max", "min"]` (RAY_NOTES) and a define-by-run space
(`spaces.DefineByRun`). Every completed trial gets the constraint `flops_ratio - budget_limit(max_budget,
fixed_ratio)` (`constraint_value`; budgets price encoder FLOPs, `results.pareto` "Budgets") through Optuna
5's `Trial.set_constraint` (value > 0 = infeasible) before it is told, so NSGA-II's constrained domination,
c-TPE and the GP's constraint model steer away from over-budget regions (GPSampler's `constraints_func` is
deprecated since Optuna 5.0 in favour of `set_constraint`). We cost by the FLOPs *ratio* rather than raw FLOPs: it orders
candidates identically, and keeps both objectives O(1) for TPE's hypervolume-based split.
No sampler proposes an Arch twice (`proposals.Proposals`): evaluation is deterministic, so a repeat would
spend an evaluation on nothing new (TPE repeated ~30% of its proposals on the SST-2 benchmark before). An
Optuna proposal whose Arch was proposed before is withdrawn (told as FAIL, which every Optuna sampler
ignores) and the sampler asked again; after `max_redraws` repeats a random new Arch is enqueued instead.
GPSampler instead learns from its repeats (`tell_repeats`): a repeat of an Arch whose evaluation finished is
told COMPLETE with that evaluation's objectives and constraint (evaluation is deterministic, so that is what a
new evaluation would return); a withdrawn trial would teach it nothing and, its acquisition unchanged, it
proposed the same point again (154 repeats in 24 trials on the tiny layerwise space of the unit tests, each ask
refitting its GPs). A repeat of an Arch still being evaluated is withdrawn. Other samplers keep withdrawing:
NSGA-II's population and TPE's densities would count a duplicate twice.
No Tune scheduler is used: multi-objective search ignores intermediate results (RAY_NOTES).
"""

from __future__ import annotations

import difflib
import math
import pickle
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from raydistill.errors import SpecError
from raydistill.search.evolution import EvolutionSearcher
from raydistill.search.proposals import Proposals
from raydistill.search.snapshot import dumps
from raydistill.search.spaces import COST_KEY, DefineByRun

__all__ = [
    "COST_KEY",
    "AUTO_GP_BELOW",
    "SAMPLERS",
    "ConstrainedOptunaSearch",
    "SamplerOptions",
    "auto_sampler",
    "constraint_value",
    "make_searcher",
    "optuna_searcher",
    "population_for",
]

CONSTRAINT_NAME = "flops_budget"
GENERATIONS = 10  # the default population lets NSGA-II / evolution run about this many generations
MIN_POPULATION = 8
AUTO_GP_BELOW = 250  # `auto`: GP below this many trials, NSGA-II from it on (OptunaHub AutoSampler's rule)
GP_STARTUP_TRIALS = 10  # GPSampler's own default: trials sampled at random before the GP is fitted
GP_MAX_REDRAWS = 3  # a repeated GP proposal (told its known values) is asked again, then a random new Arch


def population_for(num_trials: int, population_size: int | None = None) -> int:
    """`population_size` if given, else `num_trials // GENERATIONS` (at least `MIN_POPULATION`).

    A population is a generation's worth of trials, so with a fixed trial budget it trades diversity for
    generations of selection; Optuna's own default (50) leaves a 100-trial search one generation of it. On the
    SST-2 supernet's layerwise space (100 trials, 5 sampler seeds the search_sst2 benchmark does not use;
    `benchmarks/sampler_study.py`), NSGA-II's mean hypervolume was 0.7572 with 20 per generation, 0.7590 with
    10 and 0.7590 with 6 (random search 0.7575); the evolutionary baseline's moved less (0.7585 -> 0.7586).
    On the benchmark's own 5 seeds, NSGA-II with 10 stayed level with random search (0.7576 vs 0.7579).
    """
    if population_size is not None:
        return population_size
    return max(MIN_POPULATION, num_trials // GENERATIONS)


def constraint_value(flops_ratio: float, max_budget: float, fixed_ratio: float) -> float:
    """Optuna constraint of a candidate: > 0 exactly when it breaks the largest budget (`within_budget`).

    Args:
        flops_ratio: the candidate's total FLOPs / the teacher's.
        max_budget: the largest budget (a fraction of the teacher's encoder FLOPs).
        fixed_ratio: the run's unshrinkable share of the teacher's FLOPs (`SpaceContext.fixed_ratio`).
    """
    from raydistill.results.pareto import BUDGET_TOL, budget_limit

    return float(flops_ratio) - (budget_limit(max_budget, fixed_ratio) + BUDGET_TOL)


class ConstrainedOptunaSearch(OptunaSearch):
    """`OptunaSearch` (metric vs FLOPs ratio) that sets each finished trial's FLOPs-budget constraint.

    Ray's `OptunaSearch` keeps the Optuna trial it asked for each Tune trial in `_ot_trials`; the constraint
    is set on it (`optuna.Trial.set_constraint`) just before the base class tells the study the result.

    Args:
        space: the define-by-run space (`spaces.DefineByRun`).
        metric: the task's main metric (maximised).
        sampler: the Optuna sampler.
        max_budget: the largest FLOPs budget (fraction of teacher FLOPs).
        start_points: space parameters to evaluate first (`spaces.grid_points`), then the sampler's own.
        seed: seed of the random fallback that replaces repeated proposals.
        max_redraws: times the sampler is asked again after proposing an Arch it proposed before.
        tell_repeats: tell a repeat of a finished Arch as COMPLETE with its known objectives (GP), instead of
            withdrawing it.
        exhausted_file: where to record that the space ran out of new Archs (`proposals.EXHAUSTED_FILE`).
        cost_key: the second objective (minimised): `flops_ratio`, or `latency_ratio` with `search.objective:
            latency`. The budget constraint is always priced on `flops_ratio`.
    """

    def __init__(
        self,
        space: DefineByRun,
        metric: str,
        *,
        sampler: optuna.samplers.BaseSampler,
        max_budget: float,
        start_points: Sequence[Mapping[str, Any]] = (),
        seed: int = 0,
        max_redraws: int = 10,
        tell_repeats: bool = False,
        exhausted_file: str | None = None,
        cost_key: str = COST_KEY,
    ):
        super().__init__(
            space=space,
            metric=[metric, cost_key],
            mode=["max", "min"],
            sampler=sampler,
            points_to_evaluate=[dict(p) for p in start_points] or None,  # enqueued as the first trials
        )
        self._max_budget = float(max_budget)
        self._define_by_run = space
        self._max_redraws = max_redraws
        self._rng = np.random.default_rng(seed)
        self._proposals = Proposals(exhausted_file)
        self.withdrawn = 0  # repeated proposals withdrawn (or told their known values) so far
        self._tell_repeats = tell_repeats
        self._arch_of: dict[str, str] = {}  # Tune trial id -> the Arch id it evaluates
        self._known: dict[str, tuple[list[float], float | None]] = {}  # Arch id -> (objectives, constraint)

    # Tune pickles the searcher into `tuner.pkl` and saves its state while the search runs; a resume loads
    # both. The state goes as one snapshot (`snapshot.dumps`), so the sampler pickles whatever locks it holds
    # (Optuna 5.1's NSGA-II) and its random state, the study's trials and `_proposals` come back exactly.
    def __getstate__(self) -> dict[str, bytes]:
        return {"snapshot": dumps(self.__dict__)}

    def __setstate__(self, state: dict[str, bytes]) -> None:
        self.__dict__.update(pickle.loads(state["snapshot"]))

    def save(self, checkpoint_path: str) -> None:
        Path(checkpoint_path).write_bytes(dumps(self.__dict__))

    def restore(self, checkpoint_path: str) -> None:
        self.__dict__.update(pickle.loads(Path(checkpoint_path).read_bytes()))

    @property
    def study(self) -> optuna.Study:
        """The underlying Optuna study (for inspection and tests)."""
        if self._ot_study is None:
            raise RuntimeError("the study is created with the space; this searcher has none")
        return self._ot_study

    def suggest(self, trial_id: str) -> dict | None:
        """The sampler's proposal if its Arch is new; else asked again, then a random new Arch is enqueued.

        Returns `Searcher.FINISHED` (and records it) when no new Arch is left to propose.
        """
        config = self._ask(trial_id)
        for _ in range(self._max_redraws):
            if self._proposals.is_new(config["arch_id"]):
                break
            self._withdraw(trial_id, config["arch_id"])
            config = self._ask(trial_id)
        if not self._proposals.is_new(config["arch_id"]):
            self._withdraw(trial_id, config["arch_id"])
            fresh = self._proposals.fresh_random(self._define_by_run, self._rng)
            if fresh is None:
                self._proposals.mark_exhausted()
                return Searcher.FINISHED  # type: ignore[return-value]  # Tune's end signal is a str
            self.study.enqueue_trial(fresh[0])
            config = self._ask(trial_id)
        self._proposals.add(config["arch_id"])
        self._arch_of[trial_id] = config["arch_id"]
        return config

    def _ask(self, trial_id: str) -> dict[str, Any]:
        """One proposal of the Optuna sampler (a define-by-run space always gives one)."""
        config = super().suggest(trial_id)
        if config is None:
            raise RuntimeError("OptunaSearch gave no proposal for a define-by-run space")
        return config

    def _withdraw(self, trial_id: str, arch_id: str) -> None:
        """Drop the Optuna trial asked for `trial_id` (its Arch was proposed before): told as FAIL, so no sampler
        learns from it; with `tell_repeats`, a finished Arch's repeat is told its known objectives instead."""
        ot_trial = self._ot_trials.pop(trial_id)
        known = self._known.get(arch_id) if self._tell_repeats else None
        if known is None:
            self.study.tell(ot_trial, state=optuna.trial.TrialState.FAIL)
        else:
            values, constraint = known
            if constraint is not None:
                ot_trial.set_constraint(CONSTRAINT_NAME, constraint)
            self.study.tell(ot_trial, values)
        self.withdrawn += 1

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """Set the trial's constraint and tell the study; a trial without finite objectives is told FAIL.

        Ray's `OptunaSearch` would tell NaN (or a missing objective) as COMPLETE, which Optuna refuses; Ray
        logs that and the Optuna trial stays RUNNING for ever. A FAIL trial carries no value and samplers
        ignore it.
        """
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is None or trial_id in self._completed_trials:
            return super().on_trial_complete(trial_id, result, error)
        objectives = [(result or {}).get(key) for key in self.metric]
        if result and not all(isinstance(v, (int, float)) and math.isfinite(v) for v in objectives):
            self.study.tell(ot_trial, state=optuna.trial.TrialState.FAIL)
            self._completed_trials.add(trial_id)
            return None
        value = None
        if result and COST_KEY in result:
            value = constraint_value(result[COST_KEY], self._max_budget, self._define_by_run.ctx.fixed_ratio)
            ot_trial.set_constraint(CONSTRAINT_NAME, value)
        if result and not error and trial_id in self._arch_of:
            self._known[self._arch_of[trial_id]] = ([float(v) for v in objectives], value)  # type: ignore[arg-type]
        return super().on_trial_complete(trial_id, result, error)


@dataclass(frozen=True)
class SamplerOptions:
    """What every sampler factory receives.

    Attributes:
        define_by_run: the space + pricing callable.
        metric: the task's main metric.
        seed: sampler seed (`search.seed`, default `spec.seed`).
        population_size: NSGA-II / evolution population (`population_for`).
        start_points: space parameters every sampler evaluates first (`search.start_from_grid`).
        exhausted_file: where a sampler records that the space ran out of new Archs (None: nowhere).
        num_trials: the search's trial budget (`search.num_trials`); `auto` chooses by it.
        cost_key: the cost objective the trainable reports (`latency_objective.cost_key` of `search.objective`).
    """

    define_by_run: DefineByRun
    metric: str
    seed: int
    population_size: int
    start_points: tuple[Mapping[str, Any], ...] = ()
    exhausted_file: str | None = None
    num_trials: int | None = None
    cost_key: str = COST_KEY

    @property
    def max_budget(self) -> float:
        return self.define_by_run.ctx.max_budget


def optuna_searcher(
    options: SamplerOptions,
    sampler: optuna.samplers.BaseSampler,
    max_redraws: int = 10,
    tell_repeats: bool = False,
) -> Searcher:
    """The Tune searcher every Optuna sampler runs through (`ConstrainedOptunaSearch` set from `options`)."""
    return ConstrainedOptunaSearch(
        options.define_by_run,
        options.metric,
        sampler=sampler,
        max_budget=options.max_budget,
        start_points=options.start_points,
        seed=options.seed,
        max_redraws=max_redraws,
        tell_repeats=tell_repeats,
        exhausted_file=options.exhausted_file,
        cost_key=options.cost_key,
    )


def _nsga2(options: SamplerOptions) -> Searcher:
    sampler = optuna.samplers.NSGAIISampler(population_size=options.population_size, seed=options.seed)
    return optuna_searcher(options, sampler)


def _tpe(options: SamplerOptions) -> Searcher:
    return optuna_searcher(options, optuna.samplers.TPESampler(seed=options.seed))


def _random(options: SamplerOptions) -> Searcher:
    return optuna_searcher(options, optuna.samplers.RandomSampler(seed=options.seed))


def _gp(options: SamplerOptions) -> Searcher:
    """GPSampler with the budget constraint each told trial carries (`Trial.set_constraint`).

    `deterministic_objective` stays False although one Arch always scores the same: genes of layers the depth
    drops change nothing, so the metric is not a smooth noise-free function of the genome.
    """
    sampler = optuna.samplers.GPSampler(seed=options.seed, n_startup_trials=GP_STARTUP_TRIALS)
    return optuna_searcher(options, sampler, max_redraws=GP_MAX_REDRAWS, tell_repeats=True)


def auto_sampler(num_trials: int) -> str:
    """The sampler `auto` runs for a multi-objective search of `num_trials` trials: gp below AUTO_GP_BELOW,
    else nsga2 (OptunaHub AutoSampler: a GP's cost grows with the cube of the trials it has seen)."""
    return "gp" if num_trials < AUTO_GP_BELOW else "nsga2"


def _auto(options: SamplerOptions) -> Searcher:
    if options.num_trials is None:
        raise ValueError("sampler 'auto' chooses by the number of trials; give SamplerOptions.num_trials")
    return SAMPLERS[auto_sampler(options.num_trials)](options)


def _evolution(options: SamplerOptions) -> Searcher:
    return EvolutionSearcher(
        options.define_by_run,
        options.metric,
        population_size=options.population_size,
        seed=options.seed,
        start_points=options.start_points,
        exhausted_file=options.exhausted_file,
        cost_key=options.cost_key,
    )


SAMPLERS: dict[str, Callable[[SamplerOptions], Searcher]] = {
    "nsga2": _nsga2,
    "tpe": _tpe,
    "random": _random,
    "evolution": _evolution,
    "gp": _gp,
    "auto": _auto,
}


def make_searcher(name: str, options: SamplerOptions) -> Searcher:
    """Build the registered sampler `name`.

    Raises:
        SpecError: unknown name; the message lists the registered samplers.
    """
    if name not in SAMPLERS:
        close = difflib.get_close_matches(name, list(SAMPLERS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise SpecError(
            f"search.sampler: {name!r} is not a sampler{hint}; choose one of: {', '.join(SAMPLERS)}"
        )
    return SAMPLERS[name](options)
