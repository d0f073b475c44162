"""ok.walk_forward: windows cut by time, the test span never seen while choosing, the out-of-sample equity stitched
from the test backtests, a hand-worked example, Optuna searches reproducible by seed; and sweep's executor=.

The cluster run (a real distributed.LocalCluster of worker processes, with a strategy class defined in a notebook
cell) is notebooks/09_walk_forward.ipynb, run by nbval in its own kernel.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
import types
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from optuna.distributions import CategoricalDistribution, IntDistribution

import oms_kit as ok
from oms_kit.errors import ConfigError
from oms_kit.walkforward import OBJECTIVES

ROOT = Path(__file__).resolve().parents[1]
DAILY = ROOT / "data" / "us_stocks_daily.parquet"
ZIG = [ok.Instrument("ZIG", tick_size=Decimal("0.01"))]
US = [ok.Instrument(symbol, tick_size=Decimal("0.01")) for symbol in ("AAPL", "IBM", "MSFT", "GOOG", "FB")]


class Crossover(ok.Strategy):
    fast = 10
    slow = 30

    def on_bar(self, ctx, bar):
        closes = ctx.closes(bar.symbol, self.slow)
        if len(closes) < self.slow:
            return
        fast, slow = sum(closes[-self.fast:]) / self.fast, sum(closes) / self.slow
        held = ctx.position(bar.symbol)
        if fast > slow and held <= 0:
            ctx.buy(bar.symbol, 10 - held)
        elif fast < slow and held >= 0:
            ctx.sell(bar.symbol, 10 + held)


class Recorder(Crossover):
    """Crossover that appends what it saw (first bar, last bar, how many) to the file ``record`` when it stops:
    one line per backtest, from whichever process ran it."""

    record = ""

    def on_start(self, ctx):
        self.seen = []

    def on_bar(self, ctx, bar):
        self.seen.append(bar.timestamp)
        super().on_bar(ctx, bar)

    def on_stop(self, ctx):
        with open(self.record, "a") as out:  # one short append per run: whole lines, whatever the process
            out.write(f"{min(self.seen).isoformat()} {max(self.seen).isoformat()} {len(self.seen)}\n")


class Hold(ok.Strategy):
    """Goes long (direction 1) or short (-1) ``size`` shares on its first bar and holds."""

    direction = 1
    size = 10

    def on_bar(self, ctx, bar):
        if ctx.position(bar.symbol) == 0 and not ctx.open_orders():
            (ctx.buy if self.direction > 0 else ctx.sell)(bar.symbol, self.size)


def daily(symbols=("AAPL", "MSFT"), start="2004-01-01", end="2007-01-01") -> pd.DataFrame:
    frame = ok.load_bars(DAILY)
    frame = frame[frame["symbol"].isin(symbols) & (frame["timestamp"] >= start) & (frame["timestamp"] < end)]
    return frame.reset_index(drop=True)


def zigzag() -> pd.DataFrame:
    """40 daily bars of ZIG in four legs of ten: up 9 (100 -> 109), down 5 (108.5 -> 104), up 9 (105 -> 114),
    down 9 (113 -> 104). Open = high = low = close."""
    prices = np.r_[np.arange(100, 110), 109 - 0.5 * np.arange(1, 11), np.arange(105, 115), np.arange(113, 103, -1)]
    stamps = pd.date_range("2025-01-01", periods=40, freq="D", tz="UTC")
    return pd.DataFrame({"timestamp": stamps, "symbol": "ZIG", "open": prices, "high": prices, "low": prices,
                         "close": prices, "volume": 1_000.0})


def hand_windows(stamps: pd.Series, train: pd.Timedelta, test: pd.Timedelta, anchored: bool = False):
    """The windows as the README states them: test k is [t0 + train + k*test, t0 + train + (k+1)*test)."""
    first, last = stamps.iloc[0], stamps.iloc[-1]
    windows, k = [], 0
    while first + train + k * test <= last:
        test_start = first + train + k * test
        windows.append((first if anchored else test_start - train, test_start, test_start + test))
        k += 1
    return windows


@pytest.mark.parametrize("where", ["process pool", "threads"])
@pytest.mark.parametrize("anchored", [False, True])
def test_no_run_sees_past_its_window(tmp_path, where, anchored):
    bars = daily()
    record = tmp_path / "seen.txt"
    grid = {"fast": [5, 10], "slow": [20, 40], "record": [str(record)]}
    train, test = pd.Timedelta("365D"), pd.Timedelta("120D")
    executor = ThreadPoolExecutor(max_workers=2) if where == "threads" else None
    try:
        result = ok.walk_forward(Recorder, grid, bars, train="365D", test="120D", anchored=anchored,
                                 executor=executor, max_workers=2, fees=None, instruments=US)
    finally:
        if executor is not None:
            executor.shutdown()

    stamps = bars["timestamp"]

    def seen(start, end):
        inside = stamps[(stamps >= start) & (stamps < end)]
        return f"{inside.min().isoformat()} {inside.max().isoformat()} {len(inside)}"

    windows = hand_windows(stamps, train, test, anchored)
    assert len(windows) == 7
    assert result.windows[["train_start", "test_start", "test_end"]].values.tolist() == [list(w) for w in windows]
    # Every training run saw exactly its window's training bars (the last before the test's start), 4 sets each;
    # every test run exactly its test bars.
    expected = sorted([seen(start, test_start) for start, test_start, _ in windows] * 4
                      + [seen(test_start, test_end) for _, test_start, test_end in windows])
    lines = sorted(record.read_text().splitlines())
    assert lines == expected
    for start, test_start, _ in windows:
        last_seen = pd.Timestamp(seen(start, test_start).split()[1])
        assert last_seen < test_start


def test_the_out_of_sample_equity_is_the_test_backtests_one_after_another():
    bars = daily()
    result = ok.walk_forward(Crossover, {"fast": [5, 10], "slow": [20, 40]}, bars, train="365D", test="180D",
                             objective="total_return", max_workers=2, fees="india_equity", cash=500_000,
                             instruments=US)
    pieces, cash = [], 500_000
    for row in result.windows.itertuples():
        part = bars[(bars["timestamp"] >= row.test_start) & (bars["timestamp"] < row.test_end)]
        single = ok.backtest(Crossover(fast=row.fast, slow=row.slow), part, cash=cash, instruments=US)
        pieces.append(single.equity["equity"])
        assert row.final_equity == single.stats["final_equity"]
        assert row.out_of_sample == single.stats["total_return"]
        cash = round(single.stats["final_equity"], 2)
    by_hand = pd.concat(pieces)
    pd.testing.assert_series_equal(result.equity, by_hand, check_names=False)
    assert result.equity.index.is_monotonic_increasing and result.equity.index.is_unique
    assert result.stats["final_equity"] == by_hand.iloc[-1]
    assert result.stats["total_return"] == pytest.approx(by_hand.iloc[-1] / 500_000 - 1)
    # The chosen set is the training sweep's best by the objective, first in grid order on a tie.
    for row, table in zip(result.windows.itertuples(), result.sweeps, strict=True):
        best = table.loc[table["objective"].idxmax()]
        assert (row.fast, row.slow, row.in_sample) == (best["fast"], best["slow"], best["objective"])


@pytest.mark.parametrize(("anchored", "directions", "in_sample", "finals"), [
    # Rolling: window 0 trains on leg 1 (up: long earns 10 x (109 - 101) = 80), tests on leg 2 (long: bought at
    # 108, ends at 104: -40). Window 1 trains on leg 2 (short: sold at 108, ends at 104: +40), tests on leg 3
    # (short: sold at 106, ends at 114: -80). Window 2 trains on leg 3 (long: 106 -> 114, +80), tests on leg 4
    # (long: 112 -> 104, -80).
    (False, [1, -1, 1], [80 / 1e6, 40 / 1e6, 80 / 1e6], [999_960, 999_880, 999_800]),
    # Anchored: window 1 trains on legs 1-2 (long: 101 -> 104, +30), so stays long and earns leg 3 (106 -> 114,
    # +80); window 2 trains on legs 1-3 (long: 101 -> 114, +130).
    (True, [1, 1, 1], [80 / 1e6, 30 / 1e6, 130 / 1e6], [999_960, 1_000_040, 999_960]),
])
def test_a_hand_worked_walk(anchored, directions, in_sample, finals):
    result = ok.walk_forward(Hold, {"direction": [1, -1], "size": [5, 10]}, zigzag(), train="10D", test="10D",
                             objective="total_return", anchored=anchored, max_workers=2, fees=None,
                             instruments=ZIG)
    windows = result.windows
    assert windows["direction"].tolist() == directions
    assert windows["size"].tolist() == [10, 10, 10]  # twice the shares, twice the winning return
    assert windows["in_sample"].tolist() == pytest.approx(in_sample)
    assert windows["final_equity"].tolist() == pytest.approx(finals)
    starts = [1_000_000, *finals[:-1]]
    assert windows["out_of_sample"].tolist() == pytest.approx([f / s - 1 for f, s in zip(finals, starts, strict=True)])
    assert windows["test_start"].tolist() == list(pd.date_range("2025-01-11", periods=3, freq="10D", tz="UTC"))
    stability = result.stability.set_index(["parameter", "value"])
    assert stability.loc[("size", 10), "chosen"] == 3
    assert stability.loc[("direction", 1), "chosen"] == directions.count(1)
    assert stability.loc[("direction", 1), "share"] == pytest.approx(directions.count(1) / 3)
    assert result.equity.iloc[-1] == pytest.approx(finals[-1])
    assert len(result.equity) == 30  # the three test legs, ten bars each
    figure = result.plot()
    assert len(figure.axes) == 2


SPACE = {"fast": IntDistribution(2, 12), "slow": IntDistribution(15, 60, step=5),
         "record": CategoricalDistribution([""])}


def test_an_optuna_search_is_reproducible_by_its_seed():
    bars = daily(symbols=("AAPL",))
    search = ok.OptunaSearch({"fast": SPACE["fast"], "slow": SPACE["slow"]}, n_trials=6, seed=7, batch=3)

    def run(executor, seed=7):
        return ok.walk_forward(Crossover, None, bars, train="365D", test="180D", search={**vars(search),
                               "seed": seed}, executor=executor, max_workers=2, fees=None, instruments=US)

    first = run(None)
    with ThreadPoolExecutor(max_workers=3) as threads:
        again = run(threads)
    tried = [table[["fast", "slow"]].values.tolist() for table in first.sweeps]
    assert all(len(trials) == 6 for trials in tried)
    assert tried == [table[["fast", "slow"]].values.tolist() for table in again.sweeps]
    pd.testing.assert_frame_equal(first.windows, again.windows)
    pd.testing.assert_series_equal(first.equity, again.equity)
    other = run(None, seed=8)
    assert tried != [table[["fast", "slow"]].values.tolist() for table in other.sweeps]
    for row, table in zip(first.windows.itertuples(), first.sweeps, strict=True):
        best = table.loc[table["objective"].idxmax()]  # NaN ranks last, the first of a tie wins
        assert (row.fast, row.slow) == (best["fast"], best["slow"])
        assert 2 <= row.fast <= 12 and row.slow % 5 == 0


MADE_AT_RUN_TIME = """
import oms_kit as ok

LOOKBACK = 12  # a global of the module: travels with the class


class Breakout(ok.Strategy):
    fast = 3

    def on_bar(self, ctx, bar):
        closes = ctx.closes(bar.symbol, LOOKBACK)
        rising = len(closes) == LOOKBACK and closes[-1] > sum(closes) / LOOKBACK + self.fast
        if rising and ctx.position(bar.symbol) == 0:
            ctx.buy(bar.symbol, 5)
"""


def test_sweep_sends_a_class_workers_cannot_import_by_value(monkeypatch):
    # Fresh (spawned) worker processes cannot import either class: one is defined in a function (its __qualname__
    # has <locals>), the other in a module made at run time, registered in sys.modules as a kernel's namespace is
    # but with no file behind it. Both must travel by value, as a notebook cell's class does to a cluster.
    class Local(ok.Strategy):
        fast = 3

        def on_bar(self, ctx, bar):
            closes = ctx.closes(bar.symbol, 12)
            if len(closes) == 12 and ctx.position(bar.symbol) == 0 and closes[-1] > sum(closes) / 12 + self.fast:
                ctx.buy(bar.symbol, 5)

    made = types.ModuleType("made_at_run_time")
    monkeypatch.setitem(sys.modules, made.__name__, made)
    exec(compile(MADE_AT_RUN_TIME, "<made_at_run_time>", "exec"), made.__dict__)

    bars = daily(symbols=("IBM",))
    grid = {"fast": [0, 1, 2]}
    columns = ["fast", "final_equity", "trades", "sharpe", "total_return", "max_drawdown"]
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as spawned:
        for strategy_class in (Local, made.Breakout):
            here = pd.DataFrame([{"fast": f, **ok.backtest(strategy_class(fast=f), bars, fees=None,
                                                             instruments=US).stats.to_dict()} for f in grid["fast"]])
            there = ok.sweep(strategy_class, grid, data=bars, executor=spawned, fees=None, instruments=US)
            pd.testing.assert_frame_equal(there[columns], here[columns], check_dtype=False)
            assert here["trades"].sum() > 0


class Slow(Crossover):
    delay = 0.0

    def on_start(self, ctx):
        time.sleep(self.delay)


def test_sweep_returns_grid_order_whatever_order_results_arrive_in(capsys):
    bars = daily(symbols=("AAPL",), end="2005-01-01")
    # The first set finishes last, the last first.
    grid = [{"fast": 3, "delay": 0.6}, {"fast": 5, "delay": 0.3}, {"fast": 8, "delay": 0.0}]
    with ThreadPoolExecutor(max_workers=3) as threads:
        table = ok.sweep(Slow, grid, data=bars, executor=threads, progress=True, fees=None, instruments=US)
    assert table["fast"].tolist() == [3, 5, 8]
    for row in table.itertuples():
        single = ok.backtest(Crossover(fast=row.fast), bars, fees=None, instruments=US)
        assert row.final_equity == single.stats["final_equity"]
    assert "3/3" in capsys.readouterr().err


def test_an_error_in_a_worker_process_reaches_the_caller_whole():
    with pytest.raises(ConfigError) as caught:
        ok.sweep(Crossover, {"fast": [3]}, data=daily(symbols=("AAPL",)), max_workers=1, cash=-5)
    assert caught.value.field == "cash" and caught.value.value == -5


# Hostile arguments: each refused with a ConfigError naming its field, before any backtest runs (but objectives
# that only fail on the stats they are given).

class _SubmitNotCallable:
    submit = 5


class _SubmitReturnsJunk:
    def submit(self, fn, *args):
        return 42


class _SubmitRaises:
    def submit(self, fn, *args):
        raise RuntimeError("cannot schedule new futures after shutdown")


def _shut_down_pool():
    pool = ThreadPoolExecutor(max_workers=1)
    pool.shutdown()
    return pool


JUNK = st.sampled_from([None, True, False, 0, -1, 1.5, float("nan"), float("inf"), "", " ", "abc", "\x00", b"1D",
                        [], {}, (), object(), 2**70, -(2**70), 3j])
BAD_EXECUTORS = st.one_of(st.sampled_from([1, "pool", [], {}, object(), 2.5, True, ThreadPoolExecutor,
                                           _SubmitNotCallable(), _SubmitReturnsJunk(), _SubmitRaises()]),
                          st.builds(_shut_down_pool))
TINY = daily(symbols=("AAPL",), start="2004-01-01", end="2004-04-01")
VALID = {"grid": {"fast": [3, 5], "slow": [10]}, "data": TINY, "train": "30D", "test": "20D"}
_HOSTILE = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                          HealthCheck.function_scoped_fixture])


def _refused(field: str, **changes):
    arguments = {**VALID, **changes}
    grid, data = arguments.pop("grid"), arguments.pop("data")
    with ThreadPoolExecutor(max_workers=2) as threads:
        arguments.setdefault("executor", threads)
        with pytest.raises(ConfigError) as caught:
            ok.walk_forward(Crossover, grid, data, fees=None, instruments=US, **arguments)
    assert caught.value.field == field, caught.value
    assert field in str(caught.value)


def _not_a_length(text: str) -> bool:
    try:
        return not pd.Timedelta(text) > pd.Timedelta(0)
    except (ValueError, TypeError, OverflowError):
        return True


LENGTHS = st.one_of(JUNK, st.integers(), st.floats(), st.text(max_size=12).filter(_not_a_length),
                    st.sampled_from(["0D", "-5D", "NaT", "6M", "1Y", "10000000D", pd.Timedelta(0),
                                     pd.DateOffset(months=-1), pd.DateOffset(days=0), pd.offsets.MonthEnd(-2),
                                     pd.Timedelta("-1h"), np.timedelta64(0, "s")]))


@_HOSTILE
@given(value=LENGTHS | st.sampled_from(["400D", pd.DateOffset(years=300)]))  # longer than the data (90 days)
def test_hostile_train_lengths_are_refused(value):
    _refused("train", train=value)


@_HOSTILE
@given(value=LENGTHS | st.just("1ns"))  # cuts millions of windows
def test_hostile_test_lengths_are_refused(value):
    _refused("test", test=value)


@_HOSTILE
@given(value=st.one_of(JUNK, st.text(max_size=20).filter(lambda t: t not in OBJECTIVES),
                       st.sampled_from([int, ok.Strategy, lambda stats: "high", lambda stats: None,
                                        lambda stats: [1.0], lambda stats: True, lambda stats: 1j])))
def test_hostile_objectives_are_refused(value):
    _refused("objective", objective=value)


@_HOSTILE
@given(field=st.sampled_from(["anchored", "progress", "max_workers"]), value=JUNK)
def test_hostile_flags_are_refused(field, value):
    if (field == "max_workers" and value is None) or (field != "max_workers" and type(value) is bool):
        return  # the valid ones
    _refused(field, **{field: value})


@_HOSTILE
@given(value=BAD_EXECUTORS)
def test_hostile_executors_are_refused_by_walk_forward_and_sweep(value):
    _refused("executor", executor=value)
    with pytest.raises(ConfigError) as caught:
        ok.sweep(Crossover, {"fast": [3]}, data=TINY, executor=value)
    assert caught.value.field == "executor"


@_HOSTILE
@given(value=st.one_of(JUNK.filter(lambda v: not (isinstance(v, dict) and not v)),  # {}: one run of the defaults
                       st.sampled_from(["fast", 42, [{"nosuch": 1}], {"nosuch": [1]}, [1, 2], [], {"fast": []}])))
def test_hostile_grids_are_refused(value):
    _refused("grid", grid=value)


@_HOSTILE
@given(case=st.sampled_from([
    ("search", {"space": {"fast": IntDistribution(2, 5)}, "n_trial": 3}),
    ("search", 42), ("search", "tpe"), ("search", [SPACE]), ("search", {"n_trials": 3}),
    ("search.space", {"space": {}}), ("search.space", {"space": {"fast": [1, 2]}}),
    ("search.space", {"space": {"nosuch": IntDistribution(1, 2)}}), ("search.space", {"space": [1, 2]}),
    ("search.space", {"space": {3: IntDistribution(1, 2)}}),
]) | st.tuples(st.sampled_from(["n_trials", "seed", "batch"]), JUNK | st.integers(max_value=0)
               | st.integers(min_value=2**32)).map(
    lambda pair: (f"search.{pair[0]}", {"space": {"fast": IntDistribution(2, 5)}, pair[0]: pair[1]})))
def test_hostile_searches_are_refused(case):
    field, search = case
    if field == "search.seed" and search["seed"] == 0:
        return  # seed 0 is valid
    _refused(field, grid=None, search=search)


def test_a_grid_and_a_search_together_are_refused():
    _refused("search", search={"space": {"fast": IntDistribution(2, 5)}})


def test_a_sweep_refuses_a_class_given_as_a_strategy_class_and_no_data():
    with pytest.raises(ConfigError, match="strategy_class"):
        ok.walk_forward(Crossover(), {"fast": [3]}, TINY, train="30D", test="20D")  # type: ignore[arg-type]
    _refused("data", data=None)
