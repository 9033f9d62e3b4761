"""Evolutionary baseline (LAT Alg. 1, adapted to our Arch spaces) as a Ray Tune `Searcher`.

LAT's evolutionary search: start from a random population; repeatedly take the Pareto frontier (accuracy vs
cost) of everything evaluated so far as parents, make children by mutation (each gene re-drawn with
probability p = 0.5) and by crossover (each gene = the two parents' mean, rounded up), evaluate them.

Adaptation (documented differences from the reference):
- Genes are the choices a registered search space makes (`search.spaces`), so the same searcher works for any
  space. A child is built by *replaying* the space with a stand-in trial whose choices come from the parents
  (`ReplayTrial`); every value is drawn from the list the space offers at that point, so children are always
  valid Archs (conditional genes, e.g. per-layer heads of a layer kept only at some depths, are re-drawn at
  random when a parent lacks them). Crossover's rounded-up mean snaps to the smallest offered value >= the
  mean.
- Length genes (`length`, `joint` spaces; `search.length_spaces`) are per-layer keep ratios on the fixed grid
  [1 - r, 1], not LAT's token counts: a mutation re-draws a layer's ratio from the grid, a crossover takes the
  rounded-up mean of the parents' ratios (snapped up to the grid), and tokens are the running product of the
  ratios. Every child is therefore monotone, with each layer keeping at least 1 - r of the tokens entering it
  (the range LengthDrop trained), without LAT's sequential re-draw of n_i in [ceil(n_{i-1}(1 - r)), n_{i-1}]
  (which can spin for ever under a tight constraint). A mutated ratio shifts the tokens of every later layer
  by the same factor, where LAT's mutation would clamp them.
- Steady state instead of synchronous generations (Tune runs trials asynchronously): the first
  `population_size` suggestions are the `start_points` (e.g. the supernet's uniform grid), then random ones;
  each later suggestion alternates mutation / crossover of parents drawn from the frontier of the trials
  completed *so far*. While the initial population is still running and nothing is complete, `suggest` returns
  None (Tune asks again later).
- Parents are feasible trials only (within the largest FLOPs budget; infeasible ones are never evaluated), and
  the frontier is computed by `results.pareto.pareto_mask` on (metric max, FLOPs ratio min), fixing the
  reference's "frontier compares the wrong field" bug. Children already proposed are re-drawn (up to
  `max_retries`, then at random: `proposals.Proposals`); when no new Arch is left, the search ends.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from ray.tune.search import Searcher

from raydistill.search.proposals import Chooser, Proposals, ReplayTrial, fixed_chooser, random_chooser
from raydistill.search.spaces import COST_KEY, DefineByRun

__all__ = [
    "EvolutionSearcher",
    "ReplayTrial",
    "crossover_chooser",
    "fixed_chooser",
    "mutation_chooser",
    "random_chooser",
]


def mutation_chooser(rng: np.random.Generator, parent: Mapping[str, Any], prob: float) -> Chooser:
    """LAT mutation: keep each parent gene with probability 1 - `prob`, else re-draw it uniformly."""
    pick = random_chooser(rng)

    def choose(name: str, choices: list[Any]) -> Any:
        if name in parent and parent[name] in choices and rng.random() >= prob:
            return parent[name]
        return pick(name, choices)

    return choose


def _rounded_up_mean(a: Any, b: Any, choices: list[Any]) -> Any:
    """The smallest offered value >= (a + b) / 2 (LAT crossover: `ceil` of the mean, snapped to the grid)."""
    mean = (a + b) / 2
    return min((c for c in choices if c >= mean - 1e-12), default=max(a, b))


def crossover_chooser(rng: np.random.Generator, a: Mapping[str, Any], b: Mapping[str, Any]) -> Chooser:
    """LAT crossover: each gene is the parents' rounded-up mean; a gene only one parent has is copied."""
    pick = random_chooser(rng)

    def choose(name: str, choices: list[Any]) -> Any:
        values = [p[name] for p in (a, b) if name in p and p[name] in choices]
        if len(values) == 2:
            return _rounded_up_mean(values[0], values[1], choices)
        return values[0] if values else pick(name, choices)

    return choose


class EvolutionSearcher(Searcher):
    """LAT's evolutionary search (Alg. 1) with Pareto-frontier parents, as a Tune `Searcher`.

    Args:
        define_by_run: the space + pricing callable (`spaces.DefineByRun`), shared with the Optuna samplers.
        metric: the task metric reported by the trainable (maximised).
        cost_key: the cost reported by the trainable (minimised): `flops_ratio`, or `latency_ratio` with
            `search.objective: latency` (`latency_objective.cost_key`).
        population_size: random proposals before evolution starts (LAT's initial population).
        mutation_prob: probability of re-drawing each gene in a mutation (LAT: 0.5).
        seed: seed of the searcher's random generator.
        max_retries: re-draws of a child whose Arch was already proposed, then a random new one (0: repeats
            are kept).
        start_points: space parameters proposed first, as part of the initial population.
        exhausted_file: where to record that the space ran out of new Archs (`proposals.EXHAUSTED_FILE`).
    """

    def __init__(
        self,
        define_by_run: DefineByRun,
        metric: str,
        *,
        population_size: int = 20,
        mutation_prob: float = 0.5,
        seed: int = 0,
        max_retries: int = 20,
        start_points: Sequence[Mapping[str, Any]] = (),
        exhausted_file: str | None = None,
        cost_key: str = COST_KEY,
    ) -> None:
        super().__init__(metric=metric, mode="max")
        self._define_by_run = define_by_run
        self._cost_key = cost_key
        self._population_size = population_size
        self._mutation_prob = mutation_prob
        self._max_retries = max_retries
        self._rng = np.random.default_rng(seed)
        self._genes: dict[str, dict[str, Any]] = {}  # trial id -> genes, in suggestion order
        self._scores: dict[str, tuple[float, float]] = {}  # trial id -> (metric, cost) if ok
        self._done: set[str] = set()
        self._proposals = Proposals(exhausted_file)
        self._mutate_next = True
        self._start_points = [dict(p) for p in start_points]

    # ------------------------------------------------------------------ Tune Searcher API
    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        """The space is our own (define-by-run); Tune's `param_space` is not used."""
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        """A start point, a random proposal (initial population), or a mutated/crossed child of frontier parents.

        Returns None while waiting for the initial population, `Searcher.FINISHED` when no new Arch is left.
        """
        if len(self._genes) < len(self._start_points):
            point = self._start_points[len(self._genes)]
            proposal = self._propose(lambda: fixed_chooser(self._rng, point), retry=False)
        elif len(self._genes) < self._population_size:
            proposal = self._propose(lambda: random_chooser(self._rng))
        else:
            parents = self.frontier()
            if not parents and set(self._genes) - self._done:
                return None  # wait for the initial population
            proposal = self._propose(self._child_factory(parents))
        if proposal is None:
            self._proposals.mark_exhausted()
            return Searcher.FINISHED  # type: ignore[return-value]  # Tune's end signal is a str
        config, genes = proposal
        self._genes[trial_id] = genes
        self._proposals.add(config["arch_id"])
        return config

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """Record the trial; feasible evaluated ones become candidate parents."""
        self._done.add(trial_id)
        if error or not result or result.get("status") != "ok" or self.metric not in result:
            return
        self._scores[trial_id] = (float(result[self.metric]), float(result[self._cost_key]))

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.__dict__, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.__dict__.update(pickle.load(f))

    # ------------------------------------------------------------------ evolution
    def frontier(self) -> list[str]:
        """Trial ids on the Pareto front (metric max, cost min) of the feasible completed trials."""
        from raydistill.results.pareto import pareto_mask

        ids = list(self._scores)
        if not ids:
            return []
        mask = pareto_mask(np.array([self._scores[i] for i in ids]), (True, False))
        return [i for i, on in zip(ids, mask, strict=True) if on]

    def genes(self, trial_id: str) -> dict[str, Any]:
        """The choices that made a suggested trial's Arch."""
        return dict(self._genes[trial_id])

    def _child_factory(self, parents: list[str]) -> Callable[[], Chooser]:
        """Choosers for one child: mutation and crossover alternate; parents are re-drawn per attempt."""
        if not parents:
            return lambda: random_chooser(self._rng)
        crossover = not self._mutate_next and len(parents) >= 2
        self._mutate_next = not self._mutate_next

        def make() -> Chooser:
            if crossover:
                a, b = self._rng.choice(len(parents), size=2, replace=False)
                return crossover_chooser(self._rng, self._genes[parents[a]], self._genes[parents[b]])
            parent = parents[int(self._rng.integers(len(parents)))]
            return mutation_chooser(self._rng, self._genes[parent], self._mutation_prob)

        return make

    def _propose(
        self, make_chooser: Callable[[], Chooser], retry: bool = True
    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """(config, genes) of the chooser's proposal, re-drawn up to `max_retries` times while its Arch was
        proposed before, then a random new one; None when none is left (`Proposals.fresh_random`).

        With `retry=False` (start points) or `max_retries=0` the first proposal is kept even when its Arch was
        proposed before.
        """
        retry = retry and self._max_retries > 0
        trial = ReplayTrial(make_chooser())
        values = self._define_by_run(trial)
        for _ in range(self._max_retries if retry else 0):
            if self._proposals.is_new(values["arch_id"]):
                break
            trial = ReplayTrial(make_chooser())
            values = self._define_by_run(trial)
        if retry and not self._proposals.is_new(values["arch_id"]):
            fresh = self._proposals.fresh_random(self._define_by_run, self._rng)
            if fresh is None:
                return None
            genes, values = fresh
            return {**genes, **values}, genes
        return {**trial.params, **values}, trial.params
