"""Parameter sweeps: many backtests of one strategy class, in parallel processes, as one table of stats."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from typing import Any

import pandas as pd

from oms_kit.backtest import backtest
from oms_kit.errors import ConfigError
from oms_kit.market.bars import load_bars
from oms_kit.strategy import Strategy

__all__ = ["sweep"]

_worker_bars: pd.DataFrame | None = None  # the bars, sent once to each worker process of the default pool


def sweep(strategy_class: type[Strategy], grid: Mapping[str, Iterable[Any]] | Iterable[Mapping[str, Any]], *,
          data: Any, executor: Executor | None = None, max_workers: int | None = None,
          progress: bool = False, **backtest_options: Any) -> pd.DataFrame:
    """Backtest ``strategy_class`` once per parameter set and return one row of stats per set.

    Parameters
    ----------
    strategy_class : type
        A Strategy subclass (the class, not an instance); built as ``strategy_class(**params)`` per run.
    grid : mapping or iterable of mappings
        ``{"fast": [5, 10], "slow": [20, 30]}`` runs every combination (4 here); a list of dicts runs exactly
        those sets.
    data : DataFrame, str or Path
        The bars, as for :func:`~oms_kit.backtest.backtest`; loaded once here.
    executor : concurrent.futures.Executor, optional
        Where the backtests run. By default a process pool of ``max_workers`` (all cores), which receives the bars
        once per process. Any other Executor works — a Dask ``client.get_executor()`` spreads a large sweep over a
        cluster — and then each task carries the bars (pass a file path as ``data`` to keep tasks small: each
        worker loads it). The strategy class must be importable by the workers (defined in a module, not in a
        notebook cell, for process pools that do not fork).
    max_workers : int, optional
        Size of the default process pool.
    progress : bool
        Show a text progress bar (tqdm, on stderr) that ticks as each backtest finishes.
    **backtest_options
        Passed to every :func:`~oms_kit.backtest.backtest`: cash, limits, fees, slippage_bps, instruments, ...

    Returns
    -------
    pandas.DataFrame
        One row per parameter set, in grid order: the parameters, then the backtest's stats.

    Raises
    ------
    ConfigError
        The class is not a Strategy subclass, the grid is empty or names a parameter the class does not have.
    """
    if not (isinstance(strategy_class, type) and issubclass(strategy_class, Strategy)):
        raise ConfigError("strategy_class", strategy_class, "a Strategy subclass (the class itself)")
    sets = _parameter_sets(grid)
    allowed = strategy_class.parameters()
    for params in sets:
        unknown = [name for name in params if name not in allowed]
        if unknown:
            raise ConfigError("grid", unknown, ", ".join(allowed) or "no parameters",
                                    hint=f"parameters of {strategy_class.__name__} are its class attributes")
    options = {"progress": False, **backtest_options}
    if executor is None:
        bars = load_bars(data, options.pop("symbol", None))
        workers = max_workers or os.cpu_count() or 1
        with ProcessPoolExecutor(max_workers=min(workers, len(sets)), initializer=_receive_bars,
                                 initargs=(bars,)) as pool:
            futures = [pool.submit(_run_one, strategy_class, params, None, options) for params in sets]
            stats = _results(futures, progress)
    else:
        # A path goes as it is: each worker loads the file (with options["symbol"], if any).
        payload = data if isinstance(data, str | os.PathLike) else load_bars(data, options.pop("symbol", None))
        futures = [executor.submit(_run_one, strategy_class, params, payload, options) for params in sets]
        stats = _results(futures, progress)
    table = pd.DataFrame([{**params, **row} for params, row in zip(sets, stats, strict=True)])
    return table


def _results(futures: list[Future[dict[str, Any]]], progress: bool) -> list[dict[str, Any]]:
    if progress:
        from tqdm import tqdm  # the text bar: tqdm.auto would import ipywidgets into the core

        with tqdm(total=len(futures), unit="backtest", desc="sweep") as bar:
            for _ in as_completed(futures):
                bar.update(1)
    return [f.result() for f in futures]


def _parameter_sets(grid: Any) -> list[dict[str, Any]]:
    if isinstance(grid, Mapping):
        names = list(grid)
        values = []
        for name in names:
            choices = grid[name]
            if isinstance(choices, str) or not isinstance(choices, Iterable):
                choices = [choices]  # a single value
            values.append(list(choices))
        sets = [dict(zip(names, combination, strict=True)) for combination in itertools.product(*values)]
    elif isinstance(grid, Iterable) and not isinstance(grid, str):
        sets = [dict(params) for params in grid]
    else:
        raise ConfigError("grid", type(grid).__name__, "a dict of parameter lists or a list of dicts")
    if not sets:
        raise ConfigError("grid", grid, "at least one parameter set")
    return sets


def _receive_bars(bars: pd.DataFrame) -> None:
    global _worker_bars
    _worker_bars = bars


def _run_one(strategy_class: type[Strategy], params: dict[str, Any], data: Any,
             options: dict[str, Any]) -> dict[str, Any]:
    bars = data if data is not None else _worker_bars
    result = backtest(strategy_class(**params), bars, **options)
    stats = result.stats.to_dict()
    stats["bars_per_second"] = result.bars_per_second
    return stats
