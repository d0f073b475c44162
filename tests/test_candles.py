"""Candles (oms_kit.market.candles): hand-worked ticks into 1m and 5m candles, the trading day in IST, bars, late
ticks, the bounded history, the table path agreeing with the incremental one, and bad input refused."""

from __future__ import annotations

import calendar
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import oms_kit as ok
from oms_kit.errors import ConfigError, DataError
from oms_kit.market.bars import Bar
from oms_kit.market.candles import INTERVALS, CandleBook, bucket_time, resample, wall_seconds

IST = timedelta(hours=5, minutes=30)


def ist(*args: int) -> datetime:
    """An IST wall-clock time as the aware UTC datetime a feed would stamp."""
    return (datetime(*args) - IST).replace(tzinfo=UTC)  # type: ignore[arg-type]


def wall(*args: int) -> int:
    """An IST wall-clock time as a candle's time: seconds since 1970 of that wall clock."""
    return calendar.timegm(datetime(*args).timetuple())  # type: ignore[arg-type]


def rows(book: CandleBook, symbol: str, interval: str) -> list[list[float]]:
    return [c.as_list() for c in book.candles(symbol, interval)]


def test_hand_worked_ticks_make_1m_and_5m_candles() -> None:
    book = CandleBook()
    ticks = [((2026, 1, 5, 9, 15, 10), 100.0, None), ((2026, 1, 5, 9, 15, 40), 102.0, 3),
             ((2026, 1, 5, 9, 15, 50), 101.5, 1), ((2026, 1, 5, 9, 16, 5), 101.0, 2),
             ((2026, 1, 5, 9, 19, 59), 99.0, None), ((2026, 1, 5, 9, 20, 0), 103.0, 4)]
    for when, price, volume in ticks:
        book.on_price(ist(*when), "RELIANCE", price, volume)
    # By hand: 09:15 opens at 100, reaches 102, closes at 101.5 with 3 + 1 traded; 09:16 one tick; 09:17 and 09:18
    # had no tick, so no candle; 09:19 one tick; 09:20 opens the next 5-minute candle.
    assert rows(book, "RELIANCE", "1m") == [
        [wall(2026, 1, 5, 9, 15), 100.0, 102.0, 100.0, 101.5, 4.0],
        [wall(2026, 1, 5, 9, 16), 101.0, 101.0, 101.0, 101.0, 2.0],
        [wall(2026, 1, 5, 9, 19), 99.0, 99.0, 99.0, 99.0, 0.0],
        [wall(2026, 1, 5, 9, 20), 103.0, 103.0, 103.0, 103.0, 4.0],
    ]
    assert rows(book, "RELIANCE", "5m") == [
        [wall(2026, 1, 5, 9, 15), 100.0, 102.0, 99.0, 99.0, 6.0],
        [wall(2026, 1, 5, 9, 20), 103.0, 103.0, 103.0, 103.0, 4.0],
    ]
    assert rows(book, "RELIANCE", "15m") == [[wall(2026, 1, 5, 9, 15), 100.0, 103.0, 99.0, 103.0, 10.0]]
    assert book.last("RELIANCE", "1d").start == datetime(2026, 1, 5)  # type: ignore[union-attr]
    assert book.version("RELIANCE") == len(ticks) and book.symbols == ("RELIANCE",)


def test_the_day_is_the_trading_day_in_ist_not_the_utc_day() -> None:
    book = CandleBook()
    # 18:29 and 18:31 UTC on one UTC day are 23:59 and 00:01 IST: two trading days.
    book.on_price(datetime(2026, 1, 5, 18, 29, tzinfo=UTC), "TCS", 3900)
    book.on_price(datetime(2026, 1, 5, 18, 31, tzinfo=UTC), "TCS", 3950)
    # 03:45 UTC on the 6th is 09:15 IST on the 6th: the same trading day as the tick just after midnight.
    book.on_price(datetime(2026, 1, 6, 3, 45, tzinfo=UTC), "TCS", 3925)
    days = rows(book, "TCS", "1d")
    assert days == [[wall(2026, 1, 5), 3900.0, 3900.0, 3900.0, 3900.0, 0.0],
                    [wall(2026, 1, 6), 3950.0, 3950.0, 3925.0, 3925.0, 0.0]]
    assert bucket_time(datetime(2026, 1, 5, 18, 31, tzinfo=UTC), "1d") == wall(2026, 1, 6)
    # Another exchange's day is its own: New York's 5th still.
    assert bucket_time(datetime(2026, 1, 5, 18, 31, tzinfo=UTC), "1d", ok.ExchangeSession.of("America/New_York")) \
        == calendar.timegm(datetime(2026, 1, 5).timetuple())


def test_bars_keep_their_range_and_volume_and_late_ticks_widen_their_candle() -> None:
    book = CandleBook()
    book.on_bar(Bar(ist(2026, 1, 5, 9, 15), "INFY", 1500, 1510, 1495, 1505, 1000))
    book.on_bar(Bar(ist(2026, 1, 5, 9, 16), "INFY", 1505, 1520, 1504, 1518, 500))
    book.on_bar(Bar(ist(2026, 1, 5, 9, 17), "INFY", 1518, 1519, 1490, 1491, math.nan))  # volume unknown
    assert rows(book, "INFY", "5m") == [[wall(2026, 1, 5, 9, 15), 1500.0, 1520.0, 1490.0, 1491.0, 1500.0]]
    book.on_price(ist(2026, 1, 5, 9, 15, 30), "INFY", 1530, 7)  # late: the 09:15 candle is no longer the newest
    first = book.candles("INFY", "1m")[0]
    assert (first.high, first.close, first.volume) == (1530.0, 1505.0, 1007.0)
    book.on_price(ist(2026, 1, 5, 9, 10), "INFY", 1400)  # older than the 1m, 5m and 15m candles: dropped there
    assert book.late == 3 and len(book.candles("INFY", "1m")) == 3
    assert book.last("INFY", "1d").low == 1400.0  # type: ignore[union-attr]  # but in the day's candle


def test_history_is_bounded_per_symbol_and_interval() -> None:
    book = CandleBook(max_candles=3, intervals=("1m", "1d"))
    for minute in range(10):
        book.on_price(ist(2026, 1, 5, 10, minute), "SBIN", 800 + minute)
    assert [c.close for c in book.candles("SBIN", "1m")] == [807.0, 808.0, 809.0]
    assert len(book.candles("SBIN", "1d")) == 1
    with pytest.raises(ConfigError, match="interval"):
        book.candles("SBIN", "5m")  # not built by this book
    assert len(book.candles("NOPE", "1m")) == 0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3 * 86_400), st.floats(1, 10_000), st.floats(0, 1e6)), min_size=1,
                max_size=80))
def test_the_table_path_agrees_with_the_incremental_one(ticks: list[tuple[int, float, float]]) -> None:
    start = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)
    ticks = sorted(ticks, key=lambda x: x[0])
    times = [start + timedelta(seconds=s) for s, _, _ in ticks]
    frame = pd.DataFrame({"timestamp": pd.DatetimeIndex(times), "open": [p for _, p, _ in ticks],
                          "high": [p for _, p, _ in ticks], "low": [p for _, p, _ in ticks],
                          "close": [p for _, p, _ in ticks], "volume": [v for _, _, v in ticks]})
    for interval in INTERVALS:
        book = CandleBook(intervals=(interval,))
        for when, (_, price, volume) in zip(times, ticks, strict=True):
            book.on_price(when, "X", price, volume)
        table = resample(frame, interval)
        expected = np.asarray(rows(book, "X", interval))
        assert np.array_equal(table.time, expected[:, 0].astype(np.int64))
        for k, column in enumerate(table.columns()[1:], start=1):
            assert np.allclose(column, expected[:, k], rtol=1e-12), interval


async def test_the_oms_price_events_build_candles() -> None:
    clock = ok.SimulatedClock(ist(2026, 1, 5, 9, 15))
    oms = await ok.OMS.open(feed=None, risk_interval=None, clock=clock)
    book = CandleBook(oms.manager.session)
    unsubscribe = oms.subscribe(book.on_event, "price")
    try:
        for seconds, price in ((0, 2500.0), (20, 2510.0), (70, 2490.0)):
            clock.set(ist(2026, 1, 5, 9, 15) + timedelta(seconds=seconds))
            await oms.set_price("RELIANCE", price)
        assert rows(book, "RELIANCE", "1m") == [[wall(2026, 1, 5, 9, 15), 2500.0, 2510.0, 2500.0, 2510.0, 0.0],
                                                [wall(2026, 1, 5, 9, 16), 2490.0, 2490.0, 2490.0, 2490.0, 0.0]]
    finally:
        unsubscribe()
        await oms.close()


@pytest.mark.parametrize("price", [math.nan, -1.0, 0, math.inf, True, "100", None, 10**10, Decimal("NaN")])
def test_bad_prices_are_refused(price: object) -> None:
    book = CandleBook()
    with pytest.raises(DataError, match="price"):
        book.on_price(ist(2026, 1, 5, 9, 15), "X", price)  # type: ignore[arg-type]
    assert book.symbols == ()


@pytest.mark.parametrize(("field", "call"), [
    ("symbol", lambda b: b.on_price(ist(2026, 1, 5, 9, 15), "", 1.0)),
    ("symbol", lambda b: b.on_price(ist(2026, 1, 5, 9, 15), None, 1.0)),
    ("timestamp", lambda b: b.on_price("09:15", "X", 1.0)),
    ("volume", lambda b: b.on_price(ist(2026, 1, 5, 9, 15), "X", 1.0, -5)),
    ("volume", lambda b: b.on_price(ist(2026, 1, 5, 9, 15), "X", 1.0, math.inf)),
    ("bar", lambda b: b.on_bar((1, 2, 3))),
])
def test_bad_ticks_name_their_field(field: str, call: object) -> None:
    with pytest.raises(DataError) as raised:
        call(CandleBook())  # type: ignore[operator]
    assert raised.value.field == field


@pytest.mark.parametrize(("options", "field"), [({"max_candles": 0}, "max_candles"),
                                                ({"max_candles": True}, "max_candles"),
                                                ({"intervals": ("2m",)}, "interval"),
                                                ({"intervals": ()}, "intervals"),
                                                ({"session": "Mars/Olympus"}, "exchange_timezone")])
def test_bad_book_settings_are_refused(options: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as raised:
        CandleBook(**options)  # type: ignore[arg-type]
    assert raised.value.field == field


def test_wall_seconds_takes_a_naive_time_as_utc() -> None:
    assert wall_seconds(datetime(2026, 1, 5, 3, 45)) == wall(2026, 1, 5, 9, 15)
