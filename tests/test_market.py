"""Market data: clocks, bar loading and iteration, random-walk and replay feeds."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import math
import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

import oms_kit.market as market
from oms_kit import black76
from oms_kit.errors import ConfigError, DataError, InvalidOrderError
from oms_kit.instrument_master import Instruments
from oms_kit.market import (
    Bar,
    Clock,
    Feed,
    LiveClock,
    RandomWalkFeed,
    ReplayFeed,
    SimulatedClock,
    bars_to_frame,
    iter_bars,
    load_bars,
    run_feed,
)
from oms_kit.market import bars as bars_module
from oms_kit.market.fno import expiry_moment
from oms_kit.market.smile import DEFAULT_SMILES, Smile
from oms_kit.parsing import MAX_PRICE
from oms_kit.tradable import Instrument

T0 = datetime(2026, 1, 5, 3, 45, tzinfo=UTC)  # 09:15 IST, the NSE open


def minute_bars(symbol: str | None = "RELIANCE", count: int = 3, start: datetime = T0, price: float = 100.0):
    """A bar table of ``count`` one-minute bars; without ``symbol`` the frame has no symbol column."""
    frame = pd.DataFrame(
        {
            "timestamp": [start + timedelta(minutes=i) for i in range(count)],
            "open": [price + i for i in range(count)],
            "high": [price + i + 1 for i in range(count)],
            "low": [price + i - 1 for i in range(count)],
            "close": [price + i + 0.5 for i in range(count)],
            "volume": [1000 * (i + 1) for i in range(count)],
        }
    )
    if symbol is not None:
        frame.insert(1, "symbol", symbol)
    return frame


class FakeTime:
    """A fake sleep and monotonic clock: sleeping records the delay and moves the time on, instantly."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay
        await asyncio.sleep(0)


async def sleep_forever(delay: float) -> None:
    await asyncio.Event().wait()


async def collect(feed) -> list[Bar]:
    return [bar async for bar in feed.stream()]


# --- package ---------------------------------------------------------------------------------------------------


def test_market_all_lists_the_real_exports():
    assert sorted(market.__all__) == sorted(
        [
            "BAR_COLUMNS",
            "Bar",
            "Clock",
            "Feed",
            "LiveClock",
            "QUOTE_COLUMNS",
            "Quote",
            "RandomWalkFeed",
            "ReplayFeed",
            "SimulatedClock",
            "as_utc",
            "bars_to_frame",
            "iter_bars",
            "load_bars",
            "load_quotes",
            "run_feed",
        ]
    )
    for name in market.__all__:
        assert hasattr(market, name)


def test_replay_with_progress_bar_does_not_import_ipywidgets():
    code = (
        "import sys, asyncio\n"
        "import oms_kit.market as m\n"
        "feed = m.ReplayFeed(m.bars_to_frame([m.Bar(m.as_utc(__import__('datetime').datetime(2026,1,5)),"
        " 'X', 1.0, 1.0, 1.0, 1.0)]), speed=None, progress=True)\n"
        "asyncio.run(m.run_feed(feed, print))\n"
        "assert 'ipywidgets' not in sys.modules, 'ipywidgets imported'\n"
        "assert 'IPython' not in sys.modules, 'IPython imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# --- clock -----------------------------------------------------------------------------------------------------


def test_live_clock_now_is_timezone_aware_utc():
    now = LiveClock().now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert abs(now - datetime.now(UTC)) < timedelta(minutes=1)


def test_clocks_satisfy_the_clock_protocol():
    assert isinstance(LiveClock(), Clock)
    assert isinstance(SimulatedClock(T0), Clock)


def test_simulated_clock_starts_at_start_and_takes_naive_as_utc():
    assert SimulatedClock(T0).now() == T0
    assert SimulatedClock(datetime(2026, 1, 5, 3, 45)).now() == T0


def test_simulated_clock_converts_an_aware_start_to_utc():
    ist = timezone(timedelta(hours=5, minutes=30))
    now = SimulatedClock(datetime(2026, 1, 5, 9, 15, tzinfo=ist)).now()
    assert now == T0 and now.utcoffset() == timedelta(0)


def test_simulated_clock_set_moves_forward_and_allows_the_same_time():
    clock = SimulatedClock(T0)
    assert clock.set(T0 + timedelta(minutes=1)) == T0 + timedelta(minutes=1)
    clock.set(T0 + timedelta(minutes=1))
    assert clock.now() == T0 + timedelta(minutes=1)


def test_simulated_clock_set_backwards_raises_naming_both_times_and_stays():
    clock = SimulatedClock(T0 + timedelta(minutes=5))
    with pytest.raises(ValueError, match="backwards") as caught:
        clock.set(T0)
    assert (T0 + timedelta(minutes=5)).isoformat() in str(caught.value)
    assert T0.isoformat() in str(caught.value)
    assert clock.now() == T0 + timedelta(minutes=5)


def test_simulated_clock_advance_adds_seconds():
    clock = SimulatedClock(T0)
    assert clock.advance(90) == T0 + timedelta(seconds=90)
    assert clock.advance(0) == T0 + timedelta(seconds=90)


@pytest.mark.parametrize("seconds", [-1, math.nan, math.inf])
def test_simulated_clock_advance_refuses_negative_or_non_finite_seconds(seconds):
    clock = SimulatedClock(T0)
    with pytest.raises(ValueError, match="seconds"):
        clock.advance(seconds)
    assert clock.now() == T0


def test_simulated_clock_set_refuses_a_non_datetime():
    with pytest.raises(TypeError, match="datetime"):
        SimulatedClock(T0).set("2026-01-05")  # type: ignore[arg-type]


# --- Bar -------------------------------------------------------------------------------------------------------


def test_bar_is_frozen_slotted_and_compares_by_value():
    bar = Bar(T0, "TCS", 1.0, 2.0, 0.5, 1.5, 10.0)
    assert bar == Bar(T0, "TCS", 1.0, 2.0, 0.5, 1.5, 10.0)
    assert hash(bar) == hash(Bar(T0, "TCS", 1.0, 2.0, 0.5, 1.5, 10.0))
    assert not hasattr(bar, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        bar.close = 3.0  # type: ignore[misc]
    assert [f.name for f in dataclasses.fields(Bar)] == list(market.BAR_COLUMNS)


def test_bar_takes_keywords_and_volume_defaults_to_nan():
    bar = Bar(timestamp=T0, symbol="TCS", open=1.0, high=2.0, low=0.5, close=1.5)
    assert math.isnan(bar.volume)
    assert dataclasses.replace(bar, close=1.75).close == 1.75


# --- load_bars -------------------------------------------------------------------------------------------------


def test_load_bars_from_frame_without_symbol_column_uses_symbol_argument():
    frame = load_bars(minute_bars(symbol=None), symbol="TCS")
    assert list(frame.columns) == list(market.BAR_COLUMNS)
    assert frame["symbol"].tolist() == ["TCS"] * 3
    assert str(frame["timestamp"].dtype.tz) == "UTC"
    assert frame["close"].tolist() == [100.5, 101.5, 102.5]
    assert frame["volume"].dtype == "float64"
    assert list(frame.index) == [0, 1, 2]


def test_load_bars_does_not_modify_the_callers_frame():
    original = minute_bars(symbol=None)
    before = original.copy()
    load_bars(original, symbol="TCS")
    pd.testing.assert_frame_equal(original, before)


def test_load_bars_from_parquet(tmp_path):
    path = tmp_path / "bars.parquet"
    minute_bars().to_parquet(path)
    frame = load_bars(path)
    pd.testing.assert_frame_equal(frame, load_bars(minute_bars()))


def test_load_bars_from_csv_with_naive_timestamps_takes_them_as_utc(tmp_path):
    path = tmp_path / "bars.csv"
    source = minute_bars()
    source["timestamp"] = [t.strftime("%Y-%m-%d %H:%M:%S") for t in source["timestamp"]]
    source.to_csv(path, index=False)
    frame = load_bars(str(path))
    assert frame["timestamp"].tolist() == [T0 + timedelta(minutes=i) for i in range(3)]
    assert frame["open"].tolist() == [100.0, 101.0, 102.0]
    assert frame["volume"].tolist() == [1000.0, 2000.0, 3000.0]


def test_load_bars_from_csv_converts_offsets_to_utc(tmp_path):
    path = tmp_path / "bars.csv"
    path.write_text(
        "timestamp,symbol,open,high,low,close,volume\n2026-01-05 09:15:00+05:30,INFY,1500,1501,1499,1500.5,10\n"
    )
    assert load_bars(path)["timestamp"].tolist() == [T0]


def test_load_bars_from_duckdb_query(tmp_path):
    path = tmp_path / "bars.parquet"
    pd.concat([minute_bars("TCS"), minute_bars("INFY")]).to_parquet(path)
    frame = load_bars(f"SELECT * FROM read_parquet('{path}') WHERE symbol = 'TCS' AND open > 100")
    assert frame["symbol"].tolist() == ["TCS", "TCS"]
    assert frame["open"].tolist() == [101.0, 102.0]


def test_load_bars_query_can_name_a_dataframe_of_the_caller():
    local_bars = minute_bars("SBIN")  # noqa: F841  # found by DuckDB's replacement scan
    frame = load_bars("select * from local_bars where close > 101")
    assert frame["close"].tolist() == [101.5, 102.5]


@pytest.mark.parametrize("column", ["timestamp", "open", "high", "low", "close"])
def test_load_bars_missing_column_error_names_it(column):
    with pytest.raises(DataError, match=f"missing: {column}") as caught:
        load_bars(minute_bars().drop(columns=column))
    assert isinstance(caught.value, ValueError)  # code that catches ValueError keeps working
    assert not isinstance(caught.value, InvalidOrderError)  # bad data is not a bad order
    assert caught.value.missing == [column]


def test_load_bars_missing_symbol_error_says_to_pass_symbol():
    with pytest.raises(DataError, match="missing: symbol") as caught:
        load_bars(minute_bars(symbol=None))
    assert "symbol=" in str(caught.value)


def test_load_bars_missing_volume_becomes_nan():
    frame = load_bars(minute_bars().drop(columns="volume"))
    assert frame["volume"].isna().all()


def test_load_bars_keeps_extra_columns_after_the_bar_columns():
    source = minute_bars()
    source["signal"] = [1, 0, -1]
    frame = load_bars(source)
    assert list(frame.columns) == [*market.BAR_COLUMNS, "signal"]
    assert frame["signal"].tolist() == [1, 0, -1]


def test_load_bars_matches_column_names_ignoring_case_and_accepts_a_datetime_index():
    source = minute_bars(symbol=None).set_index("timestamp")
    source.index.name = "Date"
    source.columns = [c.capitalize() for c in source.columns]
    frame = load_bars(source, symbol="ITC")
    assert frame["timestamp"].tolist() == [T0 + timedelta(minutes=i) for i in range(3)]
    assert frame["high"].tolist() == [101.0, 102.0, 103.0]


def test_load_bars_merges_several_symbols_by_time_then_symbol():
    source = pd.concat([minute_bars("TCS", count=2), minute_bars("INFY", count=2), minute_bars("AXISBANK", count=1)])
    frame = load_bars(source)
    assert list(zip(frame["timestamp"], frame["symbol"], strict=True)) == [
        (T0, "AXISBANK"),
        (T0, "INFY"),
        (T0, "TCS"),
        (T0 + timedelta(minutes=1), "INFY"),
        (T0 + timedelta(minutes=1), "TCS"),
    ]


def test_load_bars_refuses_two_bars_of_one_symbol_at_one_time_naming_both_rows():
    source = pd.concat([minute_bars("TCS", count=3), minute_bars("INFY", count=3), minute_bars("TCS", count=2)])
    with pytest.raises(DataError, match="timestamp/symbol") as caught:
        load_bars(source)
    error = caught.value
    assert error.value == (pd.Timestamp(T0), "TCS")
    assert error.allowed == "one bar per symbol and timestamp"
    assert (error.row, error.count) == (6, 2)  # rows 6 and 7 repeat rows 0 and 1
    assert "row 6 repeats row 0" in error.hint and "2 bad rows" in error.detail


def test_load_bars_allows_one_time_for_several_symbols_and_one_symbol_at_several_times():
    frame = load_bars(pd.concat([minute_bars("TCS", count=3), minute_bars("INFY", count=3)]))
    assert len(frame) == 6


def test_load_bars_symbol_argument_selects_from_a_multi_symbol_frame():
    frame = load_bars(pd.concat([minute_bars("TCS"), minute_bars("INFY")]), symbol="INFY")
    assert set(frame["symbol"]) == {"INFY"} and len(frame) == 3


def test_load_bars_symbol_argument_not_in_data_raises():
    with pytest.raises(ConfigError, match="symbol") as caught:
        load_bars(minute_bars("TCS"), symbol="INFY")
    assert caught.value.value == "INFY"


@pytest.mark.parametrize("symbol", ["", 5])
def test_load_bars_without_a_symbol_column_needs_a_symbol_argument(symbol):
    with pytest.raises(ConfigError, match="symbol") as caught:
        load_bars(minute_bars(symbol=None), symbol=symbol)
    assert caught.value.value == symbol


def test_load_bars_unsupported_file_type_raises(tmp_path):
    path = tmp_path / "bars.xlsx"
    path.write_text("x")
    with pytest.raises(DataError, match=r"\.parquet or \.csv") as caught:
        load_bars(path)
    assert caught.value.field == "data"


def test_load_bars_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.parquet"):
        load_bars(tmp_path / "nope.parquet")


def test_load_bars_bad_query_raises_with_duckdb_message():
    with pytest.raises(DataError, match="DuckDB said") as caught:
        load_bars("SELECT * FROM no_such_table_anywhere")
    assert "no_such_table_anywhere" in str(caught.value)
    assert caught.value.field == "query" and not isinstance(caught.value, InvalidOrderError)


def test_load_bars_refuses_other_data_types():
    with pytest.raises(DataError, match="DataFrame"):
        load_bars([1, 2, 3])


def test_load_bars_refuses_non_finite_prices_naming_the_column():
    source = minute_bars()
    source.loc[1, "close"] = float("nan")
    with pytest.raises(DataError, match="close") as caught:
        load_bars(source)
    assert "row 1" in str(caught.value)
    assert (caught.value.field, caught.value.row, caught.value.count) == ("close", 1, 1)


@pytest.mark.parametrize("bad", [0.0, -100.0, math.inf, -math.inf, "abc", None, float(MAX_PRICE) * 1.5])
def test_load_bars_refuses_prices_that_are_not_finite_and_positive_naming_row_time_symbol_and_count(bad):
    source = pd.concat([minute_bars("TCS", count=4), minute_bars("INFY", count=4)], ignore_index=True)
    source["open"] = source["open"].astype(object)
    source.loc[[5, 7], "open"] = [bad, bad]
    with pytest.raises(DataError) as caught:
        load_bars(source)
    error = caught.value
    assert (error.field, error.row, error.count) == ("open", 5, 2)
    assert error.allowed == "a finite number > 0 and at most 1,000,000,000"
    assert error.value is bad or error.value == bad
    assert "INFY" in error.detail and str(pd.Timestamp(T0 + timedelta(minutes=1))) in error.detail


def test_load_bars_accepts_prices_up_to_the_largest_an_order_can_carry():
    # Above parsing.MAX_PRICE an order could not carry the price nor a position be marked at it.
    source = minute_bars(count=2)
    source[["open", "high", "low", "close"]] = float(MAX_PRICE)
    loaded = load_bars(source)
    assert (loaded["high"] == float(MAX_PRICE)).all()
    source.loc[1, "high"] = float(MAX_PRICE) + 0.01
    with pytest.raises(DataError, match="at most 1,000,000,000") as caught:
        load_bars(source)
    assert (caught.value.field, caught.value.row) == ("high", 1)


def test_load_bars_refuses_a_high_below_the_open_or_close_and_a_low_above_them():
    high_low_swapped = minute_bars()
    high_low_swapped.loc[2, ["high", "low"]] = [high_low_swapped.loc[2, "low"], high_low_swapped.loc[2, "high"]]
    with pytest.raises(DataError, match=r"invalid high: 101\.0") as caught:
        load_bars(high_low_swapped)
    assert caught.value.row == 2 and "close 102.5" in caught.value.hint

    low_above_close = minute_bars()
    low_above_close.loc[0, "low"] = 100.75  # open 100, close 100.5
    with pytest.raises(DataError, match=r"invalid low: 100\.75") as caught:
        load_bars(low_above_close)
    assert caught.value.row == 0


def test_load_bars_accepts_a_bar_where_every_price_is_the_same():
    flat = minute_bars(count=1)
    flat.loc[0, ["open", "high", "low", "close"]] = 100.0
    assert load_bars(flat)["high"].tolist() == [100.0]


@pytest.mark.parametrize("bad", [-1.0, math.inf, "lots"])
def test_load_bars_refuses_a_negative_infinite_or_unreadable_volume(bad):
    source = minute_bars()
    source["volume"] = source["volume"].astype(object)
    source.loc[1, "volume"] = bad
    with pytest.raises(DataError, match="volume") as caught:
        load_bars(source)
    assert caught.value.row == 1 and caught.value.value == bad


def test_load_bars_keeps_a_missing_volume_as_nan():
    source = minute_bars()
    source["volume"] = [1000.0, None, 0.0]
    assert load_bars(source)["volume"].tolist()[::2] == [1000.0, 0.0]
    assert math.isnan(load_bars(source)["volume"][1])


@pytest.mark.parametrize("bad", [None, ""])
def test_load_bars_refuses_a_row_without_a_symbol(bad):
    source = minute_bars()
    source["symbol"] = ["TCS", bad, "TCS"]
    with pytest.raises(DataError, match="symbol") as caught:
        load_bars(source)
    assert caught.value.row == 1


def test_load_bars_refuses_a_row_without_a_timestamp():
    source = minute_bars()
    source["timestamp"] = source["timestamp"].astype(object)
    source.loc[2, "timestamp"] = None
    with pytest.raises(DataError, match="timestamp") as caught:
        load_bars(source)
    assert (caught.value.row, caught.value.count) == (2, 1)


def test_load_bars_refuses_a_number_among_datetimes():
    source = minute_bars()
    source["timestamp"] = source["timestamp"].astype(object)
    source.loc[1, "timestamp"] = 1767584760
    with pytest.raises(DataError, match="timestamp") as caught:
        load_bars(source)
    assert (caught.value.row, caught.value.value) == (1, 1767584760)


def test_iter_bars_checks_the_values_of_a_frame_that_looks_loaded():
    frame = load_bars(minute_bars())
    frame.loc[1, "low"] = -5.0  # the dtypes and order still say "loaded"
    with pytest.raises(DataError, match="low") as caught:
        list(iter_bars(frame))
    assert caught.value.row == 1


def test_iter_bars_loads_a_frame_with_repeated_bars_and_refuses_it():
    frame = load_bars(minute_bars())
    repeated = pd.concat([frame, frame.iloc[[1]]]).sort_values("timestamp", kind="stable", ignore_index=True)
    with pytest.raises(DataError, match="one bar per symbol and timestamp"):
        list(iter_bars(repeated))


def test_load_bars_refuses_epoch_numbers_as_timestamps():
    source = minute_bars()
    source["timestamp"] = [1767584700, 1767584760, 1767584820]
    with pytest.raises(DataError, match="unit='s'"):
        load_bars(source)


@pytest.mark.parametrize("stamps", [["soon", "later", "never"], ["05-01-2026 09:15", "05-01-2026 09:16", "x"]])
def test_load_bars_refuses_timestamps_that_are_not_iso_8601(stamps):
    source = minute_bars()
    source["timestamp"] = stamps
    with pytest.raises(DataError, match="timestamp"):
        load_bars(source)


def test_load_bars_reads_iso_8601_text_with_mixed_offsets():
    source = minute_bars(count=2)
    source["timestamp"] = ["2026-01-05 09:15:00+05:30", "2026-01-05T03:46:00Z"]
    assert load_bars(source)["timestamp"].tolist() == [T0, T0 + timedelta(minutes=1)]


# --- iter_bars -------------------------------------------------------------------------------------------------


def test_iter_bars_yields_bars_with_python_values():
    bars = list(iter_bars(load_bars(minute_bars("TCS", count=2))))
    assert bars == [
        Bar(T0, "TCS", 100.0, 101.0, 99.0, 100.5, 1000.0),
        Bar(T0 + timedelta(minutes=1), "TCS", 101.0, 102.0, 100.0, 101.5, 2000.0),
    ]
    first = bars[0]
    assert type(first.timestamp) is datetime and first.timestamp.tzinfo is UTC
    assert type(first.symbol) is str and type(first.close) is float and type(first.volume) is float


def test_iter_bars_follows_the_merged_order_and_shares_equal_timestamps():
    frame = load_bars(pd.concat([minute_bars("TCS", count=2), minute_bars("INFY", count=2)]))
    bars = list(iter_bars(frame))
    assert [(b.timestamp, b.symbol) for b in bars] == list(zip(frame["timestamp"], frame["symbol"], strict=True))
    assert bars[0].timestamp == bars[1].timestamp == T0


def test_iter_bars_loads_a_raw_frame_first():
    bars = list(iter_bars(minute_bars("TCS", count=2).iloc[::-1]))
    assert [b.timestamp for b in bars] == [T0, T0 + timedelta(minutes=1)]


def test_iter_bars_is_the_same_across_chunk_boundaries(monkeypatch):
    frame = load_bars(pd.concat([minute_bars("TCS", count=7), minute_bars("INFY", count=7)]))
    expected = list(iter_bars(frame))
    monkeypatch.setattr(bars_module, "_CHUNK_ROWS", 3)
    assert list(iter_bars(frame)) == expected
    assert len(expected) == 14


def test_iter_bars_keeps_microseconds_and_nanosecond_frames_round():
    stamps = pd.Series(pd.to_datetime(["2026-01-05 03:45:00.123456", "2026-01-05 03:45:01.000001"], utc=True))
    for unit in ("s", "ms", "us", "ns"):
        frame = load_bars(minute_bars("TCS", count=2).assign(timestamp=stamps.dt.as_unit(unit)))
        got = [b.timestamp for b in iter_bars(frame)]
        assert got == frame["timestamp"].array.to_pydatetime().tolist()


def test_iter_bars_of_an_empty_table_yields_nothing():
    assert list(iter_bars(load_bars(minute_bars("TCS").iloc[:0]))) == []


def test_bars_to_frame_round_trips():
    bars = list(iter_bars(load_bars(pd.concat([minute_bars("TCS"), minute_bars("INFY")]))))
    assert list(iter_bars(bars_to_frame(reversed(bars)))) == bars
    assert bars_to_frame([]).empty


# --- RandomWalkFeed --------------------------------------------------------------------------------------------


async def test_random_walk_same_seed_gives_the_same_prices():
    first = await collect(RandomWalkFeed(["TCS", "INFY"], interval=0, seed=7, max_steps=20))
    second = await collect(RandomWalkFeed(["TCS", "INFY"], interval=0, seed=7, max_steps=20))
    assert [(b.symbol, b.close) for b in first] == [(b.symbol, b.close) for b in second]


async def test_random_walk_different_seed_gives_different_prices():
    first = await collect(RandomWalkFeed(["TCS"], interval=0, seed=1, max_steps=20))
    second = await collect(RandomWalkFeed(["TCS"], interval=0, seed=2, max_steps=20))
    assert [b.close for b in first] != [b.close for b in second]


async def test_random_walk_prices_stay_positive_even_when_volatile():
    bars = await collect(RandomWalkFeed({"PENNY": 1.0}, interval=0, volatility=20, max_steps=500))
    assert all(b.low > 0 and b.close > 0 for b in bars)
    assert all(b.low <= min(b.open, b.close) and b.high >= max(b.open, b.close) for b in bars)


async def test_random_walk_max_steps_stops_with_one_bar_per_symbol_per_step():
    feed = RandomWalkFeed(["A", "B", "C"], interval=0, max_steps=4)
    bars = await collect(feed)
    assert len(bars) == 12
    assert [b.symbol for b in bars[:3]] == ["A", "B", "C"]
    assert feed.status()["finished"] and not feed.status()["running"]
    assert await collect(feed) == []


async def test_random_walk_first_step_yields_the_start_prices_then_opens_at_the_last_close():
    bars = await collect(RandomWalkFeed({"TCS": 3500.0, "SBIN": 800.0}, interval=0, max_steps=2))
    assert [(b.symbol, b.open, b.close) for b in bars[:2]] == [("TCS", 3500.0, 3500.0), ("SBIN", 800.0, 800.0)]
    assert bars[2].open == bars[0].close and bars[3].open == bars[1].close


async def test_random_walk_prices_are_on_the_tick():
    bars = await collect(RandomWalkFeed(["TCS"], interval=0, max_steps=50, tick_size=0.05))
    assert all(abs(round(b.close / 0.05) * 0.05 - b.close) < 1e-9 for b in bars)


async def test_random_walk_stamps_bars_with_the_clock_and_sleeps_the_interval():
    clock = SimulatedClock(T0)
    fake = FakeTime()
    feed = RandomWalkFeed(["TCS"], interval=0.5, clock=clock, max_steps=3, sleep=fake.sleep)
    stamps = []
    async for bar in feed.stream():
        stamps.append(bar.timestamp)
        clock.advance(1)
    assert stamps == [T0, T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)]
    assert fake.sleeps == [0.5, 0.5]


async def test_random_walk_status_reports_progress():
    feed = RandomWalkFeed(["TCS", "INFY"], interval=0, max_steps=2, clock=SimulatedClock(T0))
    assert feed.status()["running"] is False and feed.status()["updates_sent"] == 0
    bars = await collect(feed)
    status = feed.status()
    assert status["updates_sent"] == 4 and status["steps"] == 2
    assert status["last_update_at"] == T0
    assert status["prices"] == {"TCS": bars[2].close, "INFY": bars[3].close}
    assert isinstance(feed, Feed)


def test_random_walk_defaults_to_the_default_instrument_symbols():
    assert "RELIANCE" in RandomWalkFeed().symbols


def test_random_walk_takes_one_symbol_as_a_string():
    assert RandomWalkFeed("TCS").symbols == ["TCS"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"symbols": []},
        {"symbols": {"TCS": -1.0}},
        {"interval": -1},
        {"volatility": math.nan},
        {"max_steps": -1},
        {"tick_size": 0},
    ],
)
def test_random_walk_refuses_bad_settings(kwargs):
    field = "start price of TCS" if kwargs == {"symbols": {"TCS": -1.0}} else next(iter(kwargs))
    with pytest.raises(ConfigError, match=f"invalid {field}"):
        RandomWalkFeed(**{"symbols": ["TCS"], **kwargs})


async def test_random_walk_cancel_stops_the_task_and_resumes_where_it_stopped():
    reference = await collect(RandomWalkFeed(["TCS", "INFY"], interval=0, max_steps=3))
    feed = RandomWalkFeed(["TCS", "INFY"], interval=60, max_steps=3)
    received: list[Bar] = []
    task = asyncio.create_task(run_feed(feed, received.append))
    while not received:
        await asyncio.sleep(0)
    await asyncio.sleep(0)  # the task is now waiting out the 60 s interval
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not feed.status()["running"]
    assert len(received) == 2
    feed.interval = 0
    received += await collect(feed)
    assert [b.close for b in received] == [b.close for b in reference]


async def test_a_second_concurrent_consumer_is_refused():
    feed = RandomWalkFeed(["TCS"], interval=0)
    first = feed.stream()
    await anext(first)
    with pytest.raises(RuntimeError, match="already streaming"):
        await anext(feed.stream())
    await first.aclose()
    assert not feed.status()["running"]


# --- RandomWalkFeed: futures and options from their underlying ----------------------------------------------

FNO_AT = datetime(2025, 11, 3, 4, 30, tzinfo=UTC)  # 10:00 IST on the sample instrument master's day


def sample_contracts() -> list:
    return [i for i in Instruments.sample() if i.expiry is not None]


def years_left(expiry, at: datetime) -> float:
    return max((expiry_moment(expiry) - at).total_seconds(), 0.0) / (365 * 86400)


def fno_feed(**kwargs) -> RandomWalkFeed:
    options = {"interval": 0, "seed": 4, "clock": SimulatedClock(FNO_AT), "instruments": Instruments.sample()}
    return RandomWalkFeed(**{"symbols": ["TCS", "INFY"], **options, **kwargs})


async def test_random_walk_with_contracts_walks_the_symbols_as_before_then_quotes_every_contract():
    plain = await collect(RandomWalkFeed(["TCS", "INFY"], interval=0, seed=4, max_steps=5))
    feed = fno_feed(max_steps=5)
    bars = await collect(feed)
    contracts = [i.symbol for i in sample_contracts()]
    assert feed.contracts == contracts and feed.symbols == ["TCS", "INFY", *contracts]
    per_step = 2 + len(contracts)
    assert len(bars) == 5 * per_step
    assert [b.symbol for b in bars[:per_step]] == feed.symbols
    # The symbols' walk is the one without contracts: same seed, same prices.
    assert [(b.symbol, b.close) for b in bars if b.symbol in ("TCS", "INFY")] == [(b.symbol, b.close) for b in plain]
    for bar in bars:
        ticks = bar.close / 0.05
        assert bar.close >= 0.05 and abs(ticks - round(ticks)) < 1e-6, bar
        assert bar.low == min(bar.open, bar.close) and bar.high == max(bar.open, bar.close)
    later = bars[per_step:]
    assert all(b.open == a.close for a, b in zip(bars, later, strict=False))
    assert set(feed.last_prices()) == {"TCS", "INFY", *contracts}


async def test_random_walk_prices_futures_at_the_carried_underlying_and_options_by_black76_on_the_smile():
    feed = fno_feed(max_steps=8, volatility=0.3)
    bars = await collect(feed)
    last = {b.symbol: b.close for b in bars[-len(feed.symbols):]}
    level = feed.underlying_prices()
    for item in sample_contracts():
        t = years_left(item.expiry, FNO_AT)
        forward = level[item.underlying] * math.exp((feed.rate - feed.dividend_yield) * t)
        assert feed.forward(item.underlying, item.expiry) == pytest.approx(forward, rel=1e-12)
        if item.is_future:
            expected = forward
        else:
            strike = float(item.strike)
            vol = feed.smile(item.underlying).vol_at(strike, forward)
            expected = black76.price(forward, strike, t, vol, feed.rate, item.instrument_type)
        assert abs(last[item.symbol] - max(expected, 0.05)) <= 0.025 + 1e-9, (item.symbol, expected)


def test_random_walk_starts_an_index_in_the_middle_of_its_strikes_or_where_told():
    assert fno_feed().underlying_prices() == {"NIFTY": 25750.0, "BANKNIFTY": 57750.0}
    feed = fno_feed(underlying_prices={"NIFTY": 24000.0})
    assert feed.underlying_prices() == {"NIFTY": 24000.0, "BANKNIFTY": 57750.0}
    assert feed.last_prices()["NIFTY25NOVFUT"] == pytest.approx(
        24000.0 * math.exp((feed.rate - feed.dividend_yield) * years_left(date(2025, 11, 25), FNO_AT)), abs=0.03)
    # Not sent: an index is not tradable.
    assert "NIFTY" not in feed.symbols and "NIFTY" not in feed.last_prices()


async def test_random_walk_prices_a_stock_future_from_the_stocks_own_walk():
    future = Instrument("RELIANCE25NOVFUT", "NFO", lot_size=500, instrument_type="FUT", underlying="RELIANCE",
                        expiry=date(2025, 11, 25))
    call = Instrument("RELIANCE25NOV1500CE", "NFO", lot_size=500, instrument_type="CE", underlying="RELIANCE",
                      expiry=date(2025, 11, 25), strike=Decimal(1500))
    feed = RandomWalkFeed({"RELIANCE": 1480.0}, interval=0, seed=2, volatility=0.5, clock=SimulatedClock(FNO_AT),
                          instruments=[future, call], max_steps=20)
    bars = await collect(feed)
    carry = math.exp((feed.rate - feed.dividend_yield) * years_left(date(2025, 11, 25), FNO_AT))
    stock = [b.close for b in bars if b.symbol == "RELIANCE"]
    futures = [b.close for b in bars if b.symbol == future.symbol]
    assert len(stock) == len(futures) == 20 and feed.symbols == ["RELIANCE", future.symbol, call.symbol]
    assert all(abs(f - s * carry) <= 0.025 * carry + 0.025 + 1e-9 for s, f in zip(stock, futures, strict=True))
    assert feed.smile("RELIANCE").base == 0.15  # a stock gets the default smile
    assert feed.underlying_prices()["RELIANCE"] == pytest.approx(stock[-1], abs=0.025)


async def test_random_walk_options_move_with_their_underlying():
    feed = fno_feed(max_steps=40, volatility=0.5)
    bars = await collect(feed)
    width = len(feed.symbols)
    steps = [{b.symbol: b.close for b in bars[i:i + width]} for i in range(0, len(bars), width)]
    call, put, future = "NIFTY25DEC25800CE", "NIFTY25DEC25800PE", "NIFTY25DECFUT"
    moved = 0
    for before, after in itertools.pairwise(steps):
        change = after[future] - before[future]
        if abs(change) >= 5:  # a move of many ticks: the options' moves are then many ticks too
            assert math.copysign(1, after[call] - before[call]) == math.copysign(1, change)
            assert math.copysign(1, after[put] - before[put]) == -math.copysign(1, change)
            moved += 1
    assert moved >= 10


async def test_random_walk_time_to_expiry_follows_the_clock_and_an_expired_option_is_worth_its_intrinsic_value():
    clock = SimulatedClock(FNO_AT)
    feed = fno_feed(clock=clock, volatility=0.0)
    first = {b.symbol: b.close for b in feed._step()}
    clock.set(datetime(2025, 11, 4, 10, 0, tzinfo=UTC))  # 15:30 IST on 4 November: the weekly expires
    expired = {b.symbol: b.close for b in feed._step()}
    level = feed.underlying_prices()["NIFTY"]
    assert level == 25750.0  # no volatility: only time moved
    assert expired["NIFTY25N0425600CE"] == pytest.approx(level - 25600, abs=0.025)
    assert expired["NIFTY25N0425600PE"] == 0.05  # worth nothing: one tick, the lowest price
    assert expired["NIFTY25N0425800PE"] == pytest.approx(25800 - level, abs=0.025)
    # A later expiry loses time value and its future carries less.
    assert expired["NIFTY25NOV25700CE"] < first["NIFTY25NOV25700CE"]
    assert expired["NIFTY25NOVFUT"] < first["NIFTY25NOVFUT"]


async def test_random_walk_with_contracts_is_the_same_for_the_same_seed():
    first = await collect(fno_feed(max_steps=6, seed=9))
    second = await collect(fno_feed(max_steps=6, seed=9))
    other = await collect(fno_feed(max_steps=6, seed=10))
    assert [(b.symbol, b.close) for b in first] == [(b.symbol, b.close) for b in second]
    assert [b.close for b in first] != [b.close for b in other]


def test_random_walk_status_shows_the_underlyings_and_contracts():
    feed = fno_feed()
    status = feed.status()
    assert status["underlyings"] == {"NIFTY": 25750.0, "BANKNIFTY": 57750.0}
    assert "NIFTY25NOVFUT" in status["prices"] and "36 futures and options" in repr(feed)
    assert RandomWalkFeed(["TCS"]).status()["underlyings"] == {}
    assert RandomWalkFeed(["TCS"], instruments=[]).contracts == []


def test_smile_is_skewed_and_curved_and_held_above_its_floor():
    nifty = DEFAULT_SMILES["NIFTY"]
    assert nifty.vol(0.0) == nifty.base == 0.12
    assert nifty.vol(math.log(0.95)) == pytest.approx(0.1663, abs=1e-4)  # a put 5% out of the money: dearer
    assert nifty.vol(math.log(1.05)) == pytest.approx(0.0857, abs=1e-4)  # a call 5% out of the money: cheaper
    assert nifty.vol_at(26000, 25000) == nifty.vol(math.log(26000 / 25000))
    k = np.linspace(-1.0, 1.0, 201)
    vols = nifty.vol(k)
    assert isinstance(vols, np.ndarray) and vols.min() >= nifty.floor
    assert np.all(np.diff(vols[k < 0.2]) <= 0) and np.all(np.diff(vols[k > 0.2]) >= 0)  # lowest at -skew/(2c)
    steep = Smile(base=0.1, skew=-3.0, curvature=0.0, floor=0.05)
    assert steep.vol(0.5) == 0.05


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"instruments": "NIFTY"}, "instruments"),
        ({"instruments": 5}, "instruments"),
        ({"instruments": [object()]}, "instruments"),
        ({"smiles": "steep"}, "smiles"),
        ({"smiles": {"NIFTY": 0.2}}, "smiles['NIFTY']"),
        ({"rate": math.nan}, "rate"),
        ({"rate": 2.0}, "rate"),
        ({"rate": True}, "rate"),
        ({"dividend_yield": "1%"}, "dividend_yield"),
        ({"underlying_prices": {"SENSEX": 80000.0}}, "underlying_prices"),
        ({"underlying_prices": {"NIFTY": -1.0}}, "start level of NIFTY"),
        ({"underlying_prices": {"NIFTY": 0}}, "start level of NIFTY"),
        ({"underlying_prices": [25000.0]}, "underlying_prices"),
        ({"symbols": ["TCS", "NIFTY25NOVFUT"]}, "symbols"),
    ],
)
def test_random_walk_refuses_bad_contract_settings(kwargs, field):
    with pytest.raises(ConfigError, match=f"invalid {re.escape(field)}"):
        fno_feed(**kwargs)


def test_random_walk_refuses_underlying_prices_without_contracts_and_bad_lookups():
    with pytest.raises(ConfigError, match="invalid underlying_prices"):
        RandomWalkFeed(["TCS"], underlying_prices={"NIFTY": 25000.0})
    feed = fno_feed()
    with pytest.raises(ConfigError, match=r"invalid underlying.*BANKNIFTY"):
        feed.smile("SENSEX")
    with pytest.raises(ConfigError, match="invalid underlying"):
        feed.forward("SENSEX", date(2025, 11, 25))
    with pytest.raises(ConfigError, match="invalid expiry"):
        feed.forward("NIFTY", "2025-11-25")
    with pytest.raises(ConfigError, match="no futures or options"):
        RandomWalkFeed(["TCS"]).smile("NIFTY")


@pytest.mark.parametrize(
    "kwargs",
    [{"base": 0}, {"base": math.inf}, {"skew": math.nan}, {"skew": 11}, {"curvature": -1}, {"floor": 0},
     {"floor": 0.5}, {"base": "0.2"}, {"skew": True}],
)
def test_smile_refuses_bad_parameters(kwargs):
    with pytest.raises(ConfigError, match=f"invalid {next(iter(kwargs))}"):
        Smile(**kwargs)



# --- ReplayFeed ------------------------------------------------------------------------------------------------


async def test_replay_without_speed_yields_every_bar_in_order():
    source = pd.concat([minute_bars("TCS", count=5), minute_bars("INFY", count=5)])
    feed = ReplayFeed(source, speed=None)
    bars = await collect(feed)
    assert bars == list(iter_bars(load_bars(source)))
    assert feed.status()["finished"] and feed.status()["updates_sent"] == 10
    assert feed.status()["position"] == feed.status()["total"] == 10


async def test_replay_without_speed_still_lets_other_tasks_run():
    fake = FakeTime()
    feed = ReplayFeed(minute_bars(count=25), speed=None, yield_every=10, sleep=fake.sleep)
    assert len(await collect(feed)) == 25
    assert fake.sleeps == [0, 0]


async def test_replay_speed_divides_the_gaps_between_bars():
    fake = FakeTime()
    feed = ReplayFeed(minute_bars(count=4), speed=60, sleep=fake.sleep, monotonic=fake.monotonic)
    assert len(await collect(feed)) == 4
    assert fake.sleeps == pytest.approx([1.0, 1.0, 1.0])


async def test_replay_speed_one_waits_real_time_gaps_and_bars_of_one_time_come_together():
    fake = FakeTime()
    source = pd.concat([minute_bars("TCS", count=2), minute_bars("INFY", count=2)])
    feed = ReplayFeed(source, speed=1, sleep=fake.sleep, monotonic=fake.monotonic)
    assert len(await collect(feed)) == 4
    assert fake.sleeps == pytest.approx([60.0])


async def test_replay_keeps_to_schedule_when_the_consumer_takes_time():
    fake = FakeTime()
    feed = ReplayFeed(minute_bars(count=3), speed=60, sleep=fake.sleep, monotonic=fake.monotonic)
    async for _ in feed.stream():
        fake.now += 0.25  # the consumer's own work counts against the wait
    assert fake.sleeps == pytest.approx([0.75, 0.75])


async def test_replay_max_wait_shortens_long_gaps():
    fake = FakeTime()
    source = pd.concat([minute_bars(count=2), minute_bars(count=2, start=T0 + timedelta(hours=18))])
    feed = ReplayFeed(source, speed=60, max_wait=2.0, sleep=fake.sleep, monotonic=fake.monotonic)
    assert len(await collect(feed)) == 4
    assert fake.sleeps == pytest.approx([1.0, 2.0, 1.0])


async def test_replay_moves_a_simulated_clock_to_each_bar():
    clock = SimulatedClock(T0 - timedelta(days=1))
    seen = []
    feed = ReplayFeed(minute_bars(count=3), speed=None, clock=clock)
    async for bar in feed.stream():
        seen.append(clock.now() == bar.timestamp)
    assert seen == [True, True, True]
    assert list(feed.timestamps) == [T0 + timedelta(minutes=i) for i in range(3)]
    assert (feed.start, feed.end, len(feed)) == (T0, T0 + timedelta(minutes=2), 3)


async def test_replay_cancel_during_a_wait_stops_cleanly_and_resumes_at_the_next_bar():
    feed = ReplayFeed(minute_bars(count=3), speed=1, sleep=sleep_forever)
    received: list[Bar] = []
    task = asyncio.create_task(run_feed(feed, received.append))
    while not received:
        await asyncio.sleep(0)
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(received) == 1
    assert feed.status()["running"] is False and feed.position == 1
    feed.speed = None
    rest = await collect(feed)
    assert [b.timestamp for b in rest] == [T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]


async def test_replay_cancel_while_the_consumer_is_busy_counts_the_bar_it_had():
    feed = ReplayFeed(minute_bars(count=3), speed=None)
    task = asyncio.create_task(run_feed(feed, lambda bar: sleep_forever(0)))
    while feed.position == 0:
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert feed.position == 1 and not feed.status()["running"]


async def test_replay_reset_starts_over_but_not_while_streaming():
    feed = ReplayFeed(minute_bars(count=2), speed=None)
    first = await collect(feed)
    assert await collect(feed) == []
    feed.reset()
    assert await collect(feed) == first
    feed.reset()
    stream = feed.stream()
    await anext(stream)
    with pytest.raises(RuntimeError, match="streaming"):
        feed.reset()
    await stream.aclose()


async def test_replay_progress_bar_writes_to_stderr(capsys):
    await collect(ReplayFeed(minute_bars(count=3), speed=None, progress=True, name="demo"))
    assert "demo" in capsys.readouterr().err


def test_replay_named_after_its_file(tmp_path):
    path = tmp_path / "nifty50.parquet"
    minute_bars().to_parquet(path)
    assert ReplayFeed(path).name == "nifty50.parquet"
    assert ReplayFeed(str(path)).status()["symbols"] == ["RELIANCE"]
    assert ReplayFeed(f"select * from '{path}'").name == "replay"


@pytest.mark.parametrize("kwargs", [{"speed": 0}, {"speed": -1}, {"max_wait": -1}, {"yield_every": 0}])
def test_replay_refuses_bad_settings(kwargs):
    with pytest.raises(ConfigError, match=f"invalid {next(iter(kwargs))}"):
        ReplayFeed(minute_bars(), **kwargs)


def test_replay_checks_the_data_at_once():
    with pytest.raises(DataError, match="missing: close"):
        ReplayFeed(minute_bars().drop(columns="close"))
    hostile = minute_bars()
    hostile.loc[1, "close"] = -1.0
    with pytest.raises(DataError, match="close") as caught:
        ReplayFeed(hostile)
    assert caught.value.row == 1


# --- run_feed --------------------------------------------------------------------------------------------------


async def test_run_feed_awaits_an_async_handler_and_counts_bars():
    seen = []

    async def on_bar(bar: Bar) -> None:
        await asyncio.sleep(0)
        seen.append(bar.symbol)

    count = await run_feed(RandomWalkFeed(["TCS", "INFY"], interval=0, max_steps=3), on_bar)
    assert count == 6 and seen == ["TCS", "INFY"] * 3


async def test_run_feed_closes_the_stream_when_the_handler_raises():
    feed = ReplayFeed(minute_bars(count=3), speed=None)

    def on_bar(bar: Bar) -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError):
        await run_feed(feed, on_bar)
    assert not feed.status()["running"] and feed.position == 1
