"""Optuna search spaces for walk-forward: a seeded study per window instead of a grid.

Optuna is imported only when a search is made (it is an optional dependency). A study asks ``batch`` trials at a
time, so the batch runs in parallel on the sweep's executor, and is told their scores; the sampler is seeded, and
the trials depend only on the seed, the batch and the scores, never on where or in what order the backtests ran.
The best trial is chosen by the caller, by the same rule as a grid's best row.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from oms_kit.errors import ConfigError

__all__ = ["OptunaSearch"]

MAX_TRIALS = 100_000
MAX_SEED = 2**32 - 1  # what numpy's generators (Optuna's samplers) accept
SPACE_ALLOWED = ("a non-empty dict of parameter name -> optuna distribution (optuna.distributions.IntDistribution, "
                 "FloatDistribution, CategoricalDistribution)")
_FIELDS = ("space", "n_trials", "seed", "batch")


@dataclass(frozen=True)
class OptunaSearch:
    """A search space for :func:`~oms_kit.walkforward.walk_forward`, searched with Optuna's TPE sampler.

    Parameters
    ----------
    space : mapping
        Parameter name -> ``optuna.distributions`` distribution, e.g.
        ``{"fast": IntDistribution(2, 20), "slow": IntDistribution(20, 80, step=10)}``.
    n_trials : int
        Backtests per window (from 1 to 100,000).
    seed : int
        The samplers' seed (0 to 2**32 - 1); window k's study is seeded with ``seed + k`` (so the windows do not all
        draw the same first trials). The same seed and batch give the same trials, locally or on a cluster.
    batch : int
        Trials asked at a time, run in parallel (1 to 1,000); part of what the trials depend on.

    Raises
    ------
    ConfigError
        Optuna is not installed, or a field is out of range (``search.space``, ``search.n_trials``...).
    """

    space: Mapping[str, Any]
    n_trials: int = 50
    seed: int = 0
    batch: int = 4

    def __post_init__(self) -> None:
        try:
            from optuna.distributions import BaseDistribution
        except ImportError as error:
            raise ConfigError("search", "OptunaSearch", "a search with optuna installed",
                              hint="pip install optuna, or pass a grid") from error
        space = self.space
        if not isinstance(space, Mapping) or not space:
            raise ConfigError("search.space", _short(space), SPACE_ALLOWED)
        for name, distribution in space.items():
            if not isinstance(name, str) or not isinstance(distribution, BaseDistribution):
                raise ConfigError("search.space", f"{name!r}: {_short(distribution)}", SPACE_ALLOWED)
        _whole(self.n_trials, "search.n_trials", 1, MAX_TRIALS)
        _whole(self.seed, "search.seed", 0, MAX_SEED)
        _whole(self.batch, "search.batch", 1, 1_000)
        object.__setattr__(self, "space", dict(space))  # a copy: the search is frozen

    @classmethod
    def of(cls, value: Any) -> OptunaSearch:
        """An OptunaSearch as given, or built from a dict with its fields (``{"space": ..., "n_trials": 40}``)."""
        if isinstance(value, cls):
            return value
        if isinstance(value, Mapping) and all(isinstance(key, str) for key in value):
            unknown = [key for key in value if key not in _FIELDS]
            if unknown or "space" not in value:
                raise ConfigError("search", ", ".join(unknown) or "no space", "an OptunaSearch, or a dict with "
                                  "space (required), n_trials, seed and batch")
            return cls(**value)
        raise ConfigError("search", type(value).__name__, "None, an OptunaSearch or a dict of its fields")

    def run(self, studies: int, evaluate: Callable[[list[tuple[int, dict[str, Any]]]], list[dict[str, Any]]],
            score: Callable[[dict[str, Any]], float]) -> list[list[tuple[dict[str, Any], dict[str, Any]]]]:
        """Run ``studies`` independent studies side by side, a batch of each per round.

        ``evaluate`` gets the round's (study, params) pairs and returns their stats in the same order; ``score``
        turns stats into the number maximised (NaN: the trial failed, and the sampler learns nothing from it).
        Returns each study's trials in order, as (params, stats)."""
        import optuna

        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # not a line per trial
        try:
            made = [optuna.create_study(direction="maximize",
                                        sampler=optuna.samplers.TPESampler(seed=(self.seed + index) % (MAX_SEED + 1)))
                    for index in range(studies)]
            done: list[list[tuple[dict[str, Any], dict[str, Any]]]] = [[] for _ in range(studies)]
            while len(done[0]) < self.n_trials:
                size = min(self.batch, self.n_trials - len(done[0]))
                space = cast(dict[str, Any], self.space)  # optuna's stubs ask for a dict; any mapping does
                asked = [(index, study.ask(space)) for index, study in enumerate(made) for _ in range(size)]
                stats = evaluate([(index, dict(trial.params)) for index, trial in asked])
                for (index, trial), row in zip(asked, stats, strict=True):
                    value = score(row)
                    if math.isnan(value):
                        made[index].tell(trial, state=optuna.trial.TrialState.FAIL)
                    else:
                        made[index].tell(trial, value)
                    done[index].append((dict(trial.params), row))
            return done
        finally:
            optuna.logging.set_verbosity(verbosity)


def _whole(value: Any, field: str, low: int, high: int) -> None:
    if type(value) is not int or not low <= value <= high:
        raise ConfigError(field, _short(value), f"a whole number from {low:,} to {high:,}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
