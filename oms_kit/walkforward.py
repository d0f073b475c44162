"""Walk-forward analysis: choose parameters on a training window, trade them on the window after it, roll on.

Windows are cut by time, never by bar count, so every symbol's bars of a window share one span. With ``t0`` the
first bar's time, window k tests ``[t0 + train + k*test, t0 + train + (k+1)*test)`` and trains on the ``train``
before it (rolling) or on everything from ``t0`` (anchored). Both are half-open: a bar at a boundary belongs to the
later span. The training sweep gets the bars cut at the test's start: the cut happens before a backtest is built
(in the caller, or in the worker from the bars it received once), so no strategy of the sweep can see a test bar.

Each window's test is one backtest of the chosen parameters over its test bars alone: it starts flat, with no
history (a look-back fills inside the window), and with the previous window's final equity as cash (to the paisa),
so the out-of-sample equity is the test backtests' equity curves one after the other. Positions still open when a
window ends are valued at its last close; the next window starts flat.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from datetime import timedelta
from typing import Any, NamedTuple, cast

import numpy as np
import pandas as pd

from oms_kit.backtest import backtest
from oms_kit.errors import ConfigError, DataError
from oms_kit.market.bars import load_bars
from oms_kit.search import OptunaSearch
from oms_kit.strategy import Strategy
from oms_kit.sweep import (
    Bars,
    between,
    check_executor,
    check_max_workers,
    check_parameter_names,
    check_strategy_class,
    gather,
    local_pool,
    parameter_sets,
    position,
    share,
    ship_class,
    submit_backtests,
)
from oms_kit.walkforward_result import WalkForwardResult

__all__ = ["OBJECTIVES", "Window", "cut_windows", "walk_forward"]

# Stats a string objective may name; each is maximised (max_drawdown is negative: nearer 0 is better).
OBJECTIVES = ("sharpe", "total_return", "cagr", "max_drawdown", "win_rate", "profit_factor", "final_equity",
              "realized_pnl")
MAX_WINDOWS = 10_000
LENGTH_ALLOWED = ("a positive length of time: a Timedelta string such as '365D', '90D', '6h' or '30min', a "
                  "datetime.timedelta or pandas.Timedelta, or a pandas.DateOffset for calendar lengths "
                  "(pd.DateOffset(months=6))")


class Window(NamedTuple):
    """One walk-forward window: trains on ``[train_start, test_start)``, tests on ``[test_start, test_end)``."""

    train_start: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp


def walk_forward(strategy_class: type[Strategy], grid: Mapping[str, Iterable[Any]] | Iterable[Mapping[str, Any]]
                 | None = None, data: Any = None, *, train: Any, test: Any,
                 objective: str | Callable[[dict[str, Any]], float] = "sharpe", anchored: bool = False,
                 executor: Any = None, search: OptunaSearch | Mapping[str, Any] | None = None,
                 max_workers: int | None = None, progress: bool = False,
                 **backtest_options: Any) -> WalkForwardResult:
    """Walk ``strategy_class`` forward: per window, sweep the training part, backtest the best on the test part.

    Parameters
    ----------
    strategy_class : type
        A Strategy subclass (the class itself), as for :func:`~oms_kit.sweep.sweep`; a notebook cell's class works
        on a cluster too.
    grid : mapping or iterable of mappings, optional
        The parameter sets, as for :func:`~oms_kit.sweep.sweep`. Give either a grid or ``search``.
    data : DataFrame, str or Path
        The bars, as for :func:`~oms_kit.backtest.backtest`; loaded once here.
    train, test : str, timedelta, Timedelta or DateOffset
        Lengths of time (not bar counts): ``train="730D", test="180D"``, or ``pd.DateOffset(years=2)``. The test
        length is also the step from one window to the next.
    objective : str or callable
        What the sweep maximises: one of :data:`OBJECTIVES` (``"sharpe"``, ``"total_return"``...), or a function of
        a run's stats (a dict) returning a number. NaN ranks last; ties go to the first set in grid order (the
        first trial of a search); a window whose every set scores NaN takes the first.
    anchored : bool
        Train on everything from the first bar up to each test window (an expanding window) instead of the last
        ``train`` before it.
    executor : concurrent.futures.Executor or distributed.Client, optional
        Where the training backtests run, as for :func:`~oms_kit.sweep.sweep`: by default a process pool (one for
        the whole walk); a Client scatters the bars to its cluster once. The test backtests run here.
    search : OptunaSearch or dict, optional
        Instead of a grid: an Optuna search space searched per window (``n_trials`` backtests, seeded).
    max_workers : int, optional
        Size of the default process pool.
    progress : bool
        A text progress bar (tqdm) over every training backtest.
    **backtest_options
        Passed to every backtest (cash, fees, limits, slippage_bps, ...). ``symbol`` picks the symbol of the data.

    Returns
    -------
    WalkForwardResult
        ``equity`` (the stitched out-of-sample equity), ``windows`` (per window: its bounds, the chosen parameters,
        the in-sample and out-of-sample objective), ``stability``, ``sweeps``, ``tests``, ``stats``, ``plot()``.

    Raises
    ------
    ConfigError
        A bad argument; the error names it: ``strategy_class``, ``grid``, ``search`` (or ``search.n_trials``...),
        ``objective``, ``anchored``, ``train``, ``test`` (not a positive length, or no window fits the data),
        ``executor``, ``max_workers``, ``progress``, ``data``.
    DataError
        Bad bars (see :func:`~oms_kit.market.bars.load_bars`).

    Warns
    -----
    UserWarning
        A test window ended with equity at or below zero: the walk stops there.
    """
    check_strategy_class(strategy_class)
    if search is not None and grid is not None:
        raise ConfigError("search", "a search and a grid", "either a grid or a search, not both")
    sets: list[dict[str, Any]] | None
    if search is None:
        if grid is None:
            raise ConfigError("grid", None, "a dict of parameter lists or a list of dicts (or search=...)")
        sets = parameter_sets(strategy_class, grid)
        names = list(dict.fromkeys(name for params in sets for name in params))
    else:
        search = OptunaSearch.of(search)
        check_parameter_names(strategy_class, search.space, "search.space")
        sets, names = None, list(search.space)
    objective_name, score = objective_function(objective)
    for field, flag in (("anchored", anchored), ("progress", progress)):
        if type(flag) is not bool:
            raise ConfigError(field, flag, "True or False")
    check_executor(executor)
    check_max_workers(max_workers)
    train_length, test_length = parse_length(train, "train"), parse_length(test, "test")
    if data is None:
        raise ConfigError("data", None, "bars: a DataFrame, a parquet or csv path, or a DuckDB query")
    options = {"progress": False, **backtest_options}
    bars = load_bars(data, options.pop("symbol", None))
    if bars.empty:
        raise DataError("data", "no bars", "at least one bar")
    windows = cut_windows(bars["timestamp"], train_length, test_length, anchored)
    shipped = ship_class(strategy_class)
    tasks = len(windows) * (len(sets) if sets is not None else search.n_trials)  # type: ignore[union-attr]

    pool = local_pool(bars, max_workers, tasks) if executor is None else nullcontext(executor)
    with pool as runner:
        source = None if executor is None else share(executor, bars)
        cut_here = executor is not None and source is bars  # a plain executor: only the window's bars travel

        def training(window: Window) -> Bars:
            if cut_here:
                return Bars(between(bars, window.train_start, window.test_start))
            return Bars(source, window.train_start, window.test_start)

        bar = _progress_bar(tasks) if progress else None
        try:
            if sets is not None:
                futures = [submit_backtests(runner, shipped, sets, training(window), options) for window in windows]
                flat = iter(gather([f for per_window in futures for f in per_window], False, bar=bar))
                tried = [[(params, next(flat)) for params in sets] for _ in windows]
            else:
                def evaluate(requests: list[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
                    return gather([submit_backtests(runner, shipped, [params], training(windows[index]), options)[0]
                                   for index, params in requests], False, bar=bar)

                tried = search.run(len(windows), evaluate, score)  # type: ignore[union-attr]
        finally:
            if bar is not None:
                bar.close()

    defaults = strategy_class.parameters()
    sweeps, rows, tests, curves = [], [], [], []
    test_options = dict(options)
    cash = test_options.pop("cash", 1_000_000)
    for number, (window, trials) in enumerate(zip(windows, tried, strict=True)):
        table = pd.DataFrame([{**params, **stats} for params, stats in trials])
        table["objective"] = [score({**params, **stats}) for params, stats in trials]
        best = _best(table["objective"].to_numpy(dtype=float))
        params = trials[best][0]
        result = backtest(strategy_class(**params), between(bars, window.test_start, window.test_end), cash=cash,
                          **test_options)
        stats = cast(dict[str, Any], result.stats.to_dict())  # indexed by metric names
        sweeps.append(table)
        tests.append(result)
        curves.append(result.equity["equity"])
        rows.append({"window": number, "train_start": window.train_start, "train_end": window.test_start,
                     "test_start": window.test_start, "test_end": window.test_end,
                     **{name: params.get(name, defaults.get(name)) for name in names},
                     "in_sample": float(table["objective"].iloc[best]), "out_of_sample": score(stats),
                     "final_equity": stats["final_equity"]})
        if not stats["final_equity"] > 0:
            if number + 1 < len(windows):
                warnings.warn(f"walk-forward stopped after window {number} (test ending {window.test_end}): equity "
                              f"{stats['final_equity']:.2f} left nothing to trade", UserWarning, stacklevel=2)
            break
        cash = round(stats["final_equity"], 2)  # the next window starts with this window's end, to the paisa
    equity = pd.concat(curves).rename("equity")
    return WalkForwardResult(strategy_class=strategy_class, objective=objective_name, parameters=names,
                             windows=pd.DataFrame(rows), equity=equity, sweeps=sweeps, tests=tests,
                             anchored=anchored, train=train_length, test=test_length)


def parse_length(value: Any, field: str) -> pd.Timedelta | pd.offsets.BaseOffset:
    """A window length: a positive ``pandas.Timedelta`` (from a string, timedelta or Timedelta) or a pandas
    ``DateOffset`` as given. Raises ConfigError naming ``field`` for anything else (bar counts included)."""
    if isinstance(value, pd.offsets.BaseOffset):
        return value  # its sign is checked against the data's first time (cut_windows)
    hint = None
    if isinstance(value, numbers.Number):
        hint = "windows are cut by time, not bar counts: '90D', '6h', pd.DateOffset(months=6)"
    elif isinstance(value, str | timedelta | np.timedelta64):
        try:
            length = pd.Timedelta(value)
        except (ValueError, TypeError, OverflowError) as error:
            hint = "months and years vary in length: pd.DateOffset(months=6)" if isinstance(value, str) and \
                value.strip()[-1:] in ("M", "Y", "y") else None
            raise ConfigError(field, value, LENGTH_ALLOWED, hint=hint) from error
        if length is not pd.NaT and length > pd.Timedelta(0):
            return length
    raise ConfigError(field, value, LENGTH_ALLOWED, hint=hint)


def cut_windows(stamps: pd.Series, train: pd.Timedelta | pd.offsets.BaseOffset,
                test: pd.Timedelta | pd.offsets.BaseOffset, anchored: bool = False) -> list[Window]:
    """The walk-forward windows over bars at ``stamps`` (sorted): see the module's docstring. A window whose test
    span holds no bar is left out (nothing to trade); one whose training span holds none is refused.

    Raises ConfigError naming ``train`` or ``test`` when a length is not positive from the first bar, too long
    for a timestamp, leaves no test bar, or cuts more than 10,000 windows."""
    first, last = stamps.iloc[0], stamps.iloc[-1]
    start = _shift(first, train, 1, "train")
    if not start > first:
        raise ConfigError("train", train, LENGTH_ALLOWED)
    if _shift(first, test, 1, "test") <= first:
        raise ConfigError("test", test, LENGTH_ALLOWED)
    if start > last:
        raise ConfigError("train", train, f"a length shorter than the data's span ({last - first})",
                          hint="no bar is left to test on")
    too_many = ConfigError("test", test, f"a length that cuts at most {MAX_WINDOWS:,} windows from the data "
                                         f"({last - first} long)")
    if isinstance(test, pd.Timedelta) and (last - start) // test >= MAX_WINDOWS:
        raise too_many
    windows = []
    step = 0
    while (test_start := _shift(start, test, step, "test")) <= last:
        if step >= MAX_WINDOWS:
            raise too_many
        test_end = _shift(start, test, step + 1, "test")
        train_start = first if anchored else _shift(test_start, train, -1, "train")
        step += 1
        if position(stamps, test_start) == position(stamps, test_end):
            continue  # a gap in the data: no bar to trade here
        if position(stamps, train_start) == position(stamps, test_start):
            raise ConfigError("train", train, "a length that holds bars before every test window",
                              detail=f"no bar from {train_start} to {test_start}")
        windows.append(Window(train_start, test_start, test_end))
    return windows


def objective_function(objective: Any) -> tuple[str, Callable[[dict[str, Any]], float]]:
    """The objective's name and a function of a run's stats (a dict) to the float to maximise (NaN: unusable).

    Raises ConfigError naming ``objective`` for a name outside :data:`OBJECTIVES` or a value that is neither; a
    callable's result that is not a real number raises it when the stats are scored."""
    if isinstance(objective, str):
        if objective not in OBJECTIVES:
            raise ConfigError("objective", objective, _OBJECTIVE_ALLOWED)
        return objective, lambda stats: _number(stats[objective], objective)
    if callable(objective) and not isinstance(objective, type):
        name = getattr(objective, "__name__", type(objective).__name__)
        return name, lambda stats: _number(objective(stats), name)
    raise ConfigError("objective", type(objective).__name__, _OBJECTIVE_ALLOWED)


_OBJECTIVE_ALLOWED = (", ".join(OBJECTIVES) + ", or a function of a run's stats (a dict) returning a number "
                      "(higher is better)")


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError("objective", f"{name} gave {value!r}", _OBJECTIVE_ALLOWED)
    return float(value)


def _best(scores: np.ndarray) -> int:
    # The first of the highest; NaN ranks last, and with nothing but NaN the first set wins.
    if np.isnan(scores).all():
        return 0
    return int(np.nanargmax(scores))


def _shift(stamp: pd.Timestamp, length: pd.Timedelta | pd.offsets.BaseOffset, times: int, field: str) -> pd.Timestamp:
    try:
        return stamp + length * times
    except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime) as error:
        raise ConfigError(field, length, LENGTH_ALLOWED, detail=f"{stamp} + {times} x {length} is out of range of "
                          "a timestamp") from error


def _progress_bar(total: int) -> Any:
    from tqdm import tqdm  # the text bar: tqdm.auto would import ipywidgets into the core

    return tqdm(total=total, unit="backtest", desc="walk-forward")

