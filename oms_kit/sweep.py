"""Parameter sweeps: many backtests of one strategy class, in parallel processes or on a cluster, as one table.

The backtests run in the default process pool, in any ``concurrent.futures.Executor`` or on a Dask cluster
(a ``distributed.Client``). The strategy class travels by value (cloudpickle) when the workers could not import it:
a class defined in a notebook cell works on a cluster's worker processes as in the notebook. The helpers below the
public function are shared with :mod:`oms_kit.walkforward`.
"""

from __future__ import annotations

import itertools
import os
import pickle
import queue
import sys
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from typing import Any, NamedTuple, cast

import pandas as pd

from oms_kit.backtest import backtest
from oms_kit.errors import ConfigError
from oms_kit.market.bars import load_bars
from oms_kit.strategy import Strategy

__all__ = ["sweep"]

_worker_bars: pd.DataFrame | None = None  # the bars, sent once to each worker process of the default pool
MAX_WORKERS = 1_024  # processes of the default pool; more is a typo, not a machine
EXECUTOR_ALLOWED = ("None (a process pool), a concurrent.futures.Executor or a distributed.Client: an instance "
                    "whose submit(fn, *args) returns futures")


class Bars(NamedTuple):
    """What a task receives instead of a frame: where the bars are, and the time span of them to keep.

    ``source`` is None (the frame each process of the default pool received once), a frame, a path, or a Dask
    future of a frame scattered to the cluster once; ``start``/``end`` (end excluded) cut it in the worker, before
    the backtest sees a bar."""

    source: Any
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None


def sweep(strategy_class: type[Strategy], grid: Mapping[str, Iterable[Any]] | Iterable[Mapping[str, Any]], *,
          data: Any, executor: Any = None, max_workers: int | None = None,
          progress: bool = False, **backtest_options: Any) -> pd.DataFrame:
    """Backtest ``strategy_class`` once per parameter set and return one row of stats per set.

    Parameters
    ----------
    strategy_class : type
        A Strategy subclass (the class, not an instance); built as ``strategy_class(**params)`` per run. It may be
        defined in a notebook cell: it is sent to the workers by value (cloudpickle) when they could not import it.
    grid : mapping or iterable of mappings
        ``{"fast": [5, 10], "slow": [20, 30]}`` runs every combination (4 here); a list of dicts runs exactly
        those sets.
    data : DataFrame, str or Path
        The bars, as for :func:`~oms_kit.backtest.backtest`; loaded once here.
    executor : concurrent.futures.Executor or distributed.Client, optional
        Where the backtests run. By default a process pool of ``max_workers`` (all cores), which receives the bars
        once per process. A ``distributed.Client`` runs them on its Dask cluster and scatters the bars to it once;
        any other object whose ``submit(fn, *args)`` returns futures (a ``concurrent.futures.Executor``,
        ``client.get_executor()``) gets the bars with each task (or, for a file path as ``data``, the path: each
        worker loads it). The executor is not shut down here.
    max_workers : int, optional
        Size of the default process pool.
    progress : bool
        Show a text progress bar (tqdm, on stderr) that ticks as each backtest finishes, in whatever order.
    **backtest_options
        Passed to every :func:`~oms_kit.backtest.backtest`: cash, limits, fees, slippage_bps, instruments, ...

    Returns
    -------
    pandas.DataFrame
        One row per parameter set, in grid order whatever the order they finished in: the parameters, then the
        backtest's stats. Every figure equals the local run's but ``elapsed_s`` and ``bars_per_second``.

    Raises
    ------
    ConfigError
        The class is not a Strategy subclass, the grid is empty or names a parameter the class does not have, the
        executor cannot run work (no ``submit``, a class instead of an instance, shut down), ``max_workers`` is not
        a whole number from 1 to 1,024.
    """
    check_strategy_class(strategy_class)
    sets = parameter_sets(strategy_class, grid)
    check_executor(executor)
    check_max_workers(max_workers)
    options = {"progress": False, **backtest_options}
    shipped = ship_class(strategy_class)
    if executor is None:
        bars = load_bars(data, options.pop("symbol", None))
        with local_pool(bars, max_workers, len(sets)) as pool:
            futures = submit_backtests(pool, shipped, sets, Bars(None), options)
            stats = gather(futures, progress)
    else:
        if isinstance(data, str | os.PathLike):
            payload = data  # as it is: each worker loads the file (with options["symbol"], if any)
        else:
            payload = share(executor, load_bars(data, options.pop("symbol", None)))
        futures = submit_backtests(executor, shipped, sets, Bars(payload), options)
        stats = gather(futures, progress)
    return pd.DataFrame([{**params, **row} for params, row in zip(sets, stats, strict=True)])


def check_strategy_class(strategy_class: Any) -> None:
    """Refuse anything but a Strategy subclass (the class itself), with a ConfigError naming ``strategy_class``."""
    if not (isinstance(strategy_class, type) and issubclass(strategy_class, Strategy)):
        raise ConfigError("strategy_class", strategy_class, "a Strategy subclass (the class itself)")


def check_executor(executor: Any) -> None:
    """Refuse an executor that cannot take work: no callable ``submit``, or a class instead of an instance."""
    if executor is None:
        return
    if isinstance(executor, type):
        raise ConfigError("executor", executor.__name__, EXECUTOR_ALLOWED, hint="pass an instance, not the class")
    if not callable(getattr(executor, "submit", None)):
        raise ConfigError("executor", type(executor).__name__, EXECUTOR_ALLOWED)


def check_max_workers(max_workers: Any) -> None:
    """Refuse a pool size that is not None or a whole number from 1 to :data:`MAX_WORKERS`."""
    if max_workers is not None and (type(max_workers) is not int or not 1 <= max_workers <= MAX_WORKERS):
        raise ConfigError("max_workers", max_workers, f"None (all cores) or a whole number from 1 to {MAX_WORKERS:,}")


def pool_size(max_workers: int | None) -> int:
    """Processes of the default pool: ``max_workers`` or every core."""
    return max_workers or os.cpu_count() or 1


def parameter_sets(strategy_class: type[Strategy], grid: Any) -> list[dict[str, Any]]:
    """The grid as a list of parameter dicts (every combination of a dict of lists), each name checked against
    the class's parameters."""
    if isinstance(grid, Mapping):
        names = list(grid)
        values = []
        for name in names:
            choices = grid[name]
            if isinstance(choices, str) or not isinstance(choices, Iterable):
                choices = [choices]  # a single value
            values.append(list(choices))
        sets = [dict(zip(names, combination, strict=True)) for combination in itertools.product(*values)]
    elif isinstance(grid, Iterable) and not isinstance(grid, str | bytes):
        sets = []
        for params in grid:
            if not isinstance(params, Mapping):
                raise ConfigError("grid", type(params).__name__, "a dict of parameter lists or a list of dicts")
            sets.append(dict(params))
    else:
        raise ConfigError("grid", type(grid).__name__, "a dict of parameter lists or a list of dicts")
    if not sets:
        raise ConfigError("grid", grid, "at least one parameter set")
    check_parameter_names(strategy_class, {name for params in sets for name in params}, "grid")
    return sets


def check_parameter_names(strategy_class: type[Strategy], names: Iterable[Any], field: str) -> None:
    """Refuse names that are not parameters of the class, listing the ones it has."""
    allowed = strategy_class.parameters()
    unknown = sorted(repr(name) for name in names if name not in allowed)
    if unknown:
        raise ConfigError(field, ", ".join(unknown), ", ".join(allowed) or "no parameters",
                          hint=f"parameters of {strategy_class.__name__} are its class attributes")


def ship_class(strategy_class: type[Strategy]) -> bytes:
    """The class as bytes the workers can load: by reference when it is importable (a module's class), by value
    when it is not — defined in a notebook cell (``__main__``), in a function, or in a module made at run time (no
    spec: nothing another process could import) — so worker processes that never ran the notebook rebuild it."""
    import cloudpickle  # a dependency of distributed; only sweeps need it

    module = sys.modules.get(strategy_class.__module__)
    if module is None or module.__name__ == "__main__" or getattr(module, "__spec__", None) is not None:
        return cloudpickle.dumps(strategy_class)  # cloudpickle sends __main__'s and local classes by value itself
    cloudpickle.register_pickle_by_value(module)
    try:
        return cloudpickle.dumps(strategy_class)
    finally:
        cloudpickle.unregister_pickle_by_value(module)


def share(executor: Any, bars: pd.DataFrame) -> Any:
    """The bars as the tasks should carry them: scattered to a Dask cluster once (a Client has ``scatter``), else
    the frame itself."""
    scatter = getattr(executor, "scatter", None)
    if callable(scatter):
        try:
            return scatter(bars, hash=False)
        except Exception as error:
            raise ConfigError("executor", type(executor).__name__, EXECUTOR_ALLOWED,
                              detail=f"scatter failed: {error!r}") from error
    return bars


def submit_backtests(executor: Any, shipped: bytes, sets: list[dict[str, Any]], bars: Bars,
                     options: dict[str, Any]) -> list[Any]:
    """One task per parameter set on ``executor``; returns the futures, in ``sets`` order."""
    futures: list[Any] = []
    for params in sets:
        try:
            # The source goes as an argument of its own: a Dask future is resolved to its data only there.
            future = executor.submit(_run_one, shipped, params, bars.source, bars.start, bars.end, options)
        except Exception as error:  # shut down, closed, or not an executor at all
            cancel(futures)
            raise ConfigError("executor", type(executor).__name__, EXECUTOR_ALLOWED,
                              detail=f"submit failed: {error!r}") from error
        if not callable(getattr(future, "result", None)):
            cancel(futures)
            raise ConfigError("executor", type(executor).__name__, EXECUTOR_ALLOWED,
                              detail=f"submit returned {type(future).__name__}, not a future")
        futures.append(future)
    return futures


def gather(futures: list[Any], progress: bool, *, desc: str = "sweep", bar: Any = None) -> list[Any]:
    """The futures' results in their order; with ``progress``, a text bar that ticks as each one finishes (or
    ``bar``, a tqdm bar of the caller's, ticks).

    Works with ``concurrent.futures`` and Dask futures alike (both call ``add_done_callback`` callbacks when a
    task ends, Dask's from a thread of its own). On an error, or an interrupt, the tasks not yet run are
    cancelled."""
    try:
        if bar is not None:
            _tick(futures, bar)
        elif progress:
            from tqdm import tqdm  # the text bar: tqdm.auto would import ipywidgets into the core

            with tqdm(total=len(futures), unit="backtest", desc=desc) as own:
                _tick(futures, own)
        return [future.result() for future in futures]
    except BaseException:
        cancel(futures)
        raise


def _tick(futures: list[Any], bar: Any) -> None:
    finished: queue.SimpleQueue[Any] = queue.SimpleQueue()
    for future in futures:
        future.add_done_callback(finished.put)
    for _ in futures:
        finished.get()
        bar.update(1)


def cancel(futures: Iterable[Any]) -> None:
    """Cancel what has not started (best effort: a future that cannot be cancelled is left to finish)."""
    for future in futures:
        try:
            future.cancel()
        except Exception:  # a future already gone has nothing left to cancel
            continue


def local_pool(bars: pd.DataFrame, max_workers: int | None, tasks: int) -> ProcessPoolExecutor:
    """The default pool: ``max_workers`` processes (all cores; no more than ``tasks``), each receiving ``bars``
    once; tasks then pass ``Bars(None, ...)``."""
    return ProcessPoolExecutor(max_workers=max(1, min(pool_size(max_workers), tasks)), initializer=_receive_bars,
                               initargs=(bars,))


def _receive_bars(bars: pd.DataFrame) -> None:
    global _worker_bars
    _worker_bars = bars


@lru_cache(maxsize=16)
def _load_class(shipped: bytes) -> type[Strategy]:
    # pickle.loads reads cloudpickle's output (cloudpickle itself is imported by it when the class came by value);
    # cached, so a worker rebuilds a class once, not once per task.
    return pickle.loads(shipped)  # bytes made by ship_class in the caller: trusted


def between(bars: pd.DataFrame, start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.DataFrame:
    """The bars with ``start <= timestamp < end`` (either bound None: open), on a fresh index. The bars are sorted
    by timestamp (as ``load_bars`` returns them)."""
    stamps = bars["timestamp"]
    first = 0 if start is None else position(stamps, start)
    last = len(bars) if end is None else position(stamps, end)
    return bars.iloc[first:last].reset_index(drop=True)


def position(stamps: pd.Series, when: pd.Timestamp) -> int:
    """How many of the sorted ``stamps`` come before ``when``. A time finer than the stamps' unit (a nanosecond on
    microsecond stamps) is rounded up to it first: no stamp lies between, and pandas refuses the lossy compare."""
    unit = stamps.dt.unit
    when = pd.Timestamp(when)
    if when.unit != unit:
        when = when.ceil(unit).as_unit(unit) if _finer(when.unit, unit) else when.as_unit(unit)
    return int(stamps.searchsorted(when, side="left"))


_UNITS = ("s", "ms", "us", "ns")


def _finer(unit: str, than: str) -> bool:
    return _UNITS.index(unit) > _UNITS.index(than)


def _run_one(shipped: bytes, params: dict[str, Any], source: Any, start: pd.Timestamp | None,
             end: pd.Timestamp | None, options: dict[str, Any]) -> dict[str, Any]:
    strategy_class = _load_class(shipped)
    if source is None:
        source = _worker_bars
    if start is not None or end is not None:
        # A frame came from load_bars already (sorted, checked); a path is loaded here, once per task.
        frame = source if isinstance(source, pd.DataFrame) else load_bars(source, options.get("symbol"))
        source = between(frame, start, end)
    result = backtest(strategy_class(**params), source, **options)
    stats = cast(dict[str, Any], result.stats.to_dict())  # indexed by metric names
    stats["bars_per_second"] = result.bars_per_second
    return stats
