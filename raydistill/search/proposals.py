"""Proposals shared by every sampler: replaying a space with chosen genes, and keeping proposals unique.

- `ReplayTrial` stands in for `optuna.Trial` in a space function; a *chooser* `(name, choices) -> value`
  makes each choice (`random_chooser`, `fixed_chooser`; the evolution searcher adds mutation and crossover).
- `Proposals` remembers the Arch ids a searcher has proposed, so no sampler spends an evaluation on a
  sub-network it already proposed (evaluation is deterministic: a repeat tells the sampler nothing new).
  Searchers re-draw a repeat; when even `RANDOM_TRIES` random draws find no new Arch, the space is taken as
  exhausted: the searcher ends the search (`Searcher.FINISHED`) and records it in `EXHAUSTED_FILE`, so the
  search stage can tell a finished-early search from an interrupted one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from raydistill.layout import EXHAUSTED_FILE  # written (in the search dir) when the space ran out

__all__ = [
    "EXHAUSTED_FILE",
    "RANDOM_TRIES",
    "Chooser",
    "Proposals",
    "ReplayTrial",
    "fixed_chooser",
    "random_chooser",
    "read_exhausted",
]

Chooser = Callable[[str, list[Any]], Any]
RANDOM_TRIES = 100  # random draws before a space counts as exhausted


class ReplayTrial:
    """Stands in for `optuna.Trial` in a space function: each choice comes from `choose(name, choices)`.

    Attributes:
        params: the choices made, by parameter name (the proposal's genes).
    """

    def __init__(self, choose: Chooser) -> None:
        self._choose = choose
        self.params: dict[str, Any] = {}

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        options = list(choices)
        value = self._choose(name, options)
        if value not in options:  # a chooser bug, never a user error
            raise ValueError(f"chooser gave {value!r} for {name!r}; allowed {options}")
        self.params[name] = value
        return value

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None) -> float:
        """A stepped float as a choice among its grid values low, low + step, ..., high (rounded to 10
        decimals, as `search.length_spaces.keep_values` lists them); spaces never ask for an unstepped float."""
        if step is None:
            raise ValueError(f"{name!r}: a replayed float needs a step (a finite grid); got [{low}, {high}]")
        count = round((high - low) / step)
        return float(self.suggest_categorical(name, [round(low + k * step, 10) for k in range(count + 1)]))


def random_chooser(rng: np.random.Generator) -> Chooser:
    """Every gene uniformly at random from the offered choices."""
    return lambda name, choices: choices[int(rng.integers(len(choices)))]


def fixed_chooser(rng: np.random.Generator, params: Mapping[str, Any]) -> Chooser:
    """The given parameters (a start point); a gene it lacks or that is not offered is drawn at random."""
    pick = random_chooser(rng)
    return lambda name, choices: params[name] if params.get(name) in choices else pick(name, choices)


@dataclass
class Proposals:
    """The Arch ids proposed so far by one searcher, and where to record that its space ran out.

    Attributes:
        exhausted_file: where `mark_exhausted` writes (None: nowhere); a plain path, so searchers pickle.
        seen: Arch ids proposed so far (evaluated, running, or over budget).
    """

    exhausted_file: str | None = None
    seen: set[str] = field(default_factory=set)

    def is_new(self, arch_id: str) -> bool:
        return arch_id not in self.seen

    def add(self, arch_id: str) -> None:
        self.seen.add(arch_id)

    def fresh_random(
        self, define_by_run: Callable[[ReplayTrial], dict[str, Any]], rng: np.random.Generator
    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """(genes, values) of a random proposal whose Arch is new; None when `RANDOM_TRIES` draws found none."""
        for _ in range(RANDOM_TRIES):
            trial = ReplayTrial(random_chooser(rng))
            values = define_by_run(trial)
            if self.is_new(values["arch_id"]):
                return trial.params, values
        return None

    def mark_exhausted(self) -> None:
        """Record that the space has no new sub-network left (read back by `read_exhausted`)."""
        if self.exhausted_file is not None:
            Path(self.exhausted_file).write_text(json.dumps({"proposals": len(self.seen)}))


def read_exhausted(directory: Path) -> int | None:
    """Distinct proposals made before the space ran out, or None when it did not (no `EXHAUSTED_FILE`)."""
    path = Path(directory) / EXHAUSTED_FILE
    return int(json.loads(path.read_text())["proposals"]) if path.is_file() else None
