"""Hostile bars: frames that are mostly valid with one or two bad values, rows or columns.

The loaders (load_bars, iter_bars, ReplayFeed) either load such a frame into bars that make sense or refuse it with
a DataError that names the field; nothing else escapes (no TypeError, KeyError or an order state error deep in a
run). A valid frame loads to exactly its rows, in (timestamp, symbol) order.
"""

from __future__ import annotations

import math
import warnings
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import oms_kit as ok
from oms_kit.errors import DataError
from oms_kit.market import BAR_COLUMNS, Bar, ReplayFeed, iter_bars, load_bars
from oms_kit.parsing import MAX_PRICE
from oms_kit.tradable import Instrument

T0 = datetime(2026, 1, 5, 3, 45, tzinfo=UTC)
PRICES = ("open", "high", "low", "close")
SYMBOLS = ("INFY", "RELIANCE", "TCS")

HOSTILE_NUMBERS: list[Any] = [
    math.nan, math.inf, -math.inf, -1.0, 0.0, -0.0, 1e300, -1e300, 1e-300, "abc", "", "12.5", None, True, [1], {},
    10**400, -5, b"7",
]
HOSTILE_TIMESTAMPS: list[Any] = [
    None, pd.NaT, math.nan, "garbage", "", 5, 1.5, "2026-13-45 09:15", "05-01-2026 09:15", datetime(2026, 1, 5),
    "2026-01-05T03:45:00Z", True,
]
HOSTILE_SYMBOLS: list[Any] = [None, "", math.nan, 5, "TCS", "tcs"]

# No deadline: a first example pays for imports and DuckDB, and the machine may be busy.
HOSTILE = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def valid_rows(draw: st.DrawFn, lowest: float = 0.01) -> dict[str, list[Any]]:
    """Columns of a valid bar table: every symbol at every one of a few minutes, rows in a drawn order."""
    symbols = draw(st.lists(st.sampled_from(SYMBOLS), min_size=1, max_size=3, unique=True))
    minutes = draw(st.integers(1, 6))
    price = st.floats(lowest, 1e6, allow_nan=False, allow_infinity=False)
    spread = st.floats(0.0, 0.5, allow_nan=False)
    rows = []
    for minute in range(minutes):
        for symbol in symbols:
            open_, close = draw(price), draw(price)
            high = max(open_, close) * (1 + draw(spread))
            low = min(open_, close) * (1 - draw(spread))
            volume = draw(st.one_of(st.just(math.nan), st.floats(0, 1e12, allow_nan=False)))
            rows.append((T0 + timedelta(minutes=minute), symbol, open_, high, low, close, volume))
    order = draw(st.permutations(range(len(rows))))
    return {name: [rows[i][k] for i in order] for k, name in enumerate(BAR_COLUMNS)}


@st.composite
def hostile_frames(draw: st.DrawFn, numbers: list[Any] = HOSTILE_NUMBERS, lowest: float = 0.01) -> pd.DataFrame:
    """A valid table with one or two hostile changes; ``numbers`` are the hostile prices and volumes."""
    columns = draw(valid_rows(lowest))
    count = len(columns["timestamp"])
    for _ in range(draw(st.integers(1, 2))):
        kind = draw(st.sampled_from(["number", "timestamp", "symbol", "swap", "duplicate", "drop", "empty", "squash"]))
        row = draw(st.integers(0, count - 1)) if count else 0
        if kind == "number" and count:
            column = draw(st.sampled_from([*PRICES, "volume"]))
            if column in columns:
                columns[column][row] = draw(st.sampled_from(numbers))
        elif kind == "timestamp" and count and "timestamp" in columns:
            columns["timestamp"][row] = draw(st.sampled_from(HOSTILE_TIMESTAMPS))
        elif kind == "symbol" and count and "symbol" in columns:
            columns["symbol"][row] = draw(st.sampled_from(HOSTILE_SYMBOLS))
        elif kind == "swap" and count and "high" in columns and "low" in columns:
            columns["high"][row], columns["low"][row] = columns["low"][row], columns["high"][row]
        elif kind == "duplicate" and count:
            for values in columns.values():
                values.append(values[row])
            count += 1
        elif kind == "drop" and len(columns) > 1:
            columns.pop(draw(st.sampled_from(sorted(columns))))
        elif kind == "empty":
            columns = {name: [] for name in columns}
            count = 0
        elif kind == "squash" and count and "high" in columns and isinstance(columns["high"][row], float):
            columns["high"][row] = draw(st.floats(0.001, 0.999)) * columns["high"][row]  # below open or close
    with warnings.catch_warnings():
        # Building the frame is the test's business, not the loader's: pandas warns of mixed types here.
        warnings.simplefilter("ignore")
        return pd.DataFrame(columns)


def assert_makes_sense(loaded: pd.DataFrame, given_rows: int) -> None:
    """What every loaded bar table must be, whatever it was loaded from."""
    assert list(loaded.columns[: len(BAR_COLUMNS)]) == list(BAR_COLUMNS)
    assert len(loaded) == given_rows  # nothing dropped quietly
    prices = loaded[list(PRICES)].to_numpy()
    assert np.isfinite(prices).all() and (prices > 0).all() and (prices <= float(MAX_PRICE)).all()
    assert (loaded["high"] >= loaded[["open", "close", "low"]].max(axis=1)).all()
    assert (loaded["low"] <= loaded[["open", "close"]].min(axis=1)).all()
    volume = loaded["volume"].to_numpy()
    assert (np.isnan(volume) | ((volume >= 0) & np.isfinite(volume))).all()
    assert loaded["timestamp"].notna().all() and loaded["symbol"].map(lambda s: isinstance(s, str) and s != "").all()
    keys = list(zip(loaded["timestamp"], loaded["symbol"], strict=True))
    assert keys == sorted(keys) and len(set(keys)) == len(keys)


def plain(bars: list[Bar]) -> list[tuple[Any, ...]]:
    """Bars as tuples that compare equal when both volumes are NaN (unknown)."""
    return [(b.timestamp, b.symbol, b.open, b.high, b.low, b.close, None if math.isnan(b.volume) else b.volume)
            for b in bars]


def outcome(load: Any) -> pd.DataFrame | DataError:
    """The loaded table, or the DataError; any other exception fails the test."""
    try:
        return load()
    except DataError as error:
        assert error.field and error.allowed
        assert f"invalid {error.field}" in str(error)
        return error


@settings(HOSTILE, max_examples=300)
@given(frame=hostile_frames())
def test_loaders_load_hostile_bars_into_sensible_bars_or_refuse_them_with_a_data_error(frame):
    loaded = outcome(lambda: load_bars(frame))
    replayed = outcome(lambda: ReplayFeed(frame, speed=None).frame)
    bars = outcome(lambda: list(iter_bars(frame)))
    if isinstance(loaded, DataError):
        assert isinstance(replayed, DataError) and isinstance(bars, DataError)
        assert (replayed.field, bars.field) == (loaded.field, loaded.field)
        if loaded.count is not None:
            assert 1 <= loaded.count <= len(frame) and f"row {loaded.row}" in loaded.detail
        return
    assert_makes_sense(loaded, len(frame))
    pd.testing.assert_frame_equal(replayed, loaded)
    assert plain(bars) == plain(list(iter_bars(loaded)))


@settings(HOSTILE, max_examples=150)
@given(columns=valid_rows(), data=st.data())
def test_a_frame_that_looks_loaded_is_still_checked_by_iter_bars(columns, data):
    loaded = load_bars(pd.DataFrame(columns))
    row = data.draw(st.integers(0, len(loaded) - 1))
    column = data.draw(st.sampled_from([*PRICES, "volume"]))
    # NaN and 0 are allowed volumes (unknown, none traded), not prices.
    bad = data.draw(st.sampled_from([math.inf, -math.inf, -1.0, *([] if column == "volume" else [math.nan, 0.0])]))
    loaded.loc[row, column] = bad  # dtypes and order still say "loaded"
    with pytest.raises(DataError) as caught:
        list(iter_bars(loaded))
    assert caught.value.field in (column, "high", "low")


@settings(HOSTILE, max_examples=150)
@given(columns=valid_rows())
def test_a_valid_frame_loads_to_exactly_its_rows_in_time_then_symbol_order(columns):
    frame = pd.DataFrame(columns)
    loaded = load_bars(frame)

    rows = sorted(zip(*(columns[name] for name in BAR_COLUMNS), strict=True), key=lambda r: (r[0], r[1]))
    assert plain(list(iter_bars(loaded))) == plain([Bar(*row) for row in rows])
    assert isinstance(loaded["timestamp"].dtype, pd.DatetimeTZDtype) and str(loaded["timestamp"].dt.tz) == "UTC"
    assert all(loaded[c].dtype == "float64" for c in (*PRICES, "volume"))
    assert loaded.index.equals(pd.RangeIndex(len(frame)))
    pd.testing.assert_frame_equal(load_bars(loaded), loaded)  # loading again changes nothing


@pytest.mark.parametrize(
    ("cell", "field"),
    [("-101.5", "close"), ("abc", "close"), ("inf", "close"), ("", "close")],
)
def test_a_hostile_csv_file_is_refused_naming_the_column(tmp_path, cell, field):
    path = tmp_path / "bars.csv"
    path.write_text(
        "timestamp,symbol,open,high,low,close,volume\n"
        "2026-01-05 03:45:00,TCS,100,101,99,100.5,10\n"
        f"2026-01-05 03:46:00,TCS,100,101,99,{cell},10\n"
    )
    with pytest.raises(DataError) as caught:
        load_bars(path)
    assert caught.value.field == field and caught.value.row == 1


class EveryBar(ok.Strategy):
    """A market order on every bar: the hostile bar, if loaded, meets the order book."""

    history = 0

    def on_bar(self, ctx: ok.StrategyContext, bar: ok.Bar) -> None:
        ctx.order(bar.symbol, "SELL" if ctx.position(bar.symbol) > 0 else "BUY", 1)


@settings(HOSTILE, max_examples=25)
@given(frame=st.one_of(
    hostile_frames(lowest=0.001),
    valid_rows(lowest=0.001).map(pd.DataFrame),  # most hostile frames are refused: some runs must go all the way
))
def test_a_backtest_over_hostile_bars_runs_or_refuses_them_with_a_data_error(frame):
    """The hostile bar meets an order book, which once ended negative prices in an InvalidTransition, and marked
    a price below half a tick as 0 (refused mid-run). Prices above parsing.MAX_PRICE are refused as data."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # symbols without instrument definitions
        result = outcome(lambda: ok.backtest(EveryBar(), frame, fees=None, progress=False))
    if not isinstance(result, DataError):
        assert len(result.bars) == len(frame)  # every bar ran
        stats = result.stats  # a run of minutes is too short to annualise: NaN, not an OverflowError
        assert math.isnan(stats["cagr"]) and math.isfinite(stats["total_return"])


TICKS = [Decimal("0.01"), Decimal("0.05"), Decimal("0.5"), Decimal("5")]


@settings(HOSTILE, max_examples=300)
@given(tick=st.sampled_from(TICKS),
       price=st.one_of(st.floats(min_value=0, max_value=float(MAX_PRICE), exclude_min=True),
                       st.decimals(min_value=0, max_value=MAX_PRICE, places=8).filter(lambda d: d > 0)))
def test_a_positive_market_price_rounds_to_the_nearest_tick_and_never_to_zero(tick, price):
    rounded = Instrument("X", tick_size=tick).round_price(price)
    assert rounded % tick == 0 and rounded >= tick  # a price an order may carry and a ledger may mark
    exact = Decimal(str(price))
    if exact >= tick / 2:
        assert abs(rounded - exact) <= tick / 2
    else:
        assert rounded == tick  # below half a tick: one tick, not 0


def test_a_penny_stock_below_half_a_tick_is_marked_at_one_tick():
    # 0.0156 on the 0.05 tick of RELIANCE used to be marked 0.00, which the ledger refused mid-backtest.
    frame = pd.DataFrame({
        "timestamp": [T0 + timedelta(minutes=m) for m in range(3)], "symbol": "RELIANCE",
        "open": 0.0156, "high": 0.0156, "low": 0.0156, "close": 0.0156, "volume": 10.0,
    })
    result = ok.backtest(EveryBar(), frame, fees=None, progress=False)
    assert [(fill.side.value, fill.price) for fill in result.fills] == [("BUY", Decimal("0.05")),
                                                                          ("SELL", Decimal("0.05"))]
    assert result.positions["last_price"].tolist() == [Decimal("0.05")]
