"""Candles: OHLCV bars at 1m, 5m, 15m and 1d, built incrementally from ticks and bars, or from a table at once.

A candle's time is the start of its bucket in the exchange's wall-clock time (IST for NSE), as seconds since
1970-01-01 00:00 of that wall clock: ``time`` is what a chart's time axis shows, and the buckets are the exchange's
(a 1d candle is the trading day, from midnight IST, not a UTC day). Charting libraries without time zones
(Lightweight Charts) take these seconds as they are.

:class:`CandleBook` keeps, per symbol and interval, the newest ``max_candles`` candles, updated in place by each
tick (:meth:`CandleBook.on_price`) or bar (:meth:`CandleBook.on_bar`; a bar's open, high, low, close and volume go
into the candle of its start time). A price older than the symbol's newest candle of an interval widens the candle
it belongs to (high, low, volume), leaving its open and close: a late tick cannot say where it fell in the order.

:func:`resample` turns a table of bars (a backtest's, a million rows) into candles of one interval with numpy, for a
chart that shows a window of them at a time; :func:`aggregate` is its step from bars and their candles' starts to
candles, which ``result.chart`` (:mod:`oms_kit.chart_data`) shares for its own intervals.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from oms_kit.errors import ConfigError, DataError
from oms_kit.market.bar import Bar
from oms_kit.parsing import MAX_PRICE
from oms_kit.session import NSE_SESSION, ExchangeSession

__all__ = ["INTERVALS", "Candle", "CandleArrays", "CandleBook", "aggregate", "bucket_time", "check_interval",
           "resample", "wall_clock", "wall_seconds"]

INTERVALS: dict[str, int] = {"1m": 60, "5m": 300, "15m": 900, "1d": 86_400}
"""The intervals by name, in seconds."""

_MAX_PRICE = float(MAX_PRICE)
MAX_CANDLES_LIMIT = 1_000_000  # per symbol and interval: a book is memory, not a store


def check_interval(interval: Any) -> str:
    """``interval`` if it is one of :data:`INTERVALS`; ConfigError naming the allowed ones otherwise."""
    if not isinstance(interval, str) or interval not in INTERVALS:
        raise ConfigError("interval", interval, "one of " + ", ".join(INTERVALS))
    return interval


def wall_seconds(ts: datetime, session: ExchangeSession = NSE_SESSION) -> int:
    """``ts`` (naive: UTC) as whole seconds since 1970-01-01 00:00 of the exchange's wall clock."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    offset = ts.astimezone(session.zone).utcoffset()
    return math.floor(ts.timestamp()) + (int(offset.total_seconds()) if offset is not None else 0)


def bucket_time(ts: datetime, interval: str, session: ExchangeSession = NSE_SESSION) -> int:
    """The start of the candle of ``interval`` that ``ts`` falls in (exchange wall-clock seconds)."""
    wall = wall_seconds(ts, session)
    step = INTERVALS[check_interval(interval)]
    return wall - wall % step


@dataclass(slots=True)
class Candle:
    """One candle: ``time`` is its start in exchange wall-clock seconds; ``volume`` 0 when the source had none."""

    time: int
    open: float
    high: float
    low: float
    close: float
    volume: float

    def as_list(self) -> list[float]:
        """``[time, open, high, low, close, volume]``: the compact form a chart is sent."""
        return [self.time, self.open, self.high, self.low, self.close, self.volume]

    @property
    def start(self) -> datetime:
        """The start as a naive datetime of the exchange's wall clock."""
        return datetime.fromtimestamp(self.time, UTC).replace(tzinfo=None)


class CandleBook:
    """Candles per symbol and interval, built as ticks and bars arrive; the newest ``max_candles`` of each kept.

    Parameters
    ----------
    session : the exchange whose wall clock buckets the candles (NSE's, IST, by default).
    max_candles : candles kept per symbol and interval (a positive whole number up to a million).
    intervals : which of :data:`INTERVALS` to build (all four by default).

    ``version(symbol)`` counts the updates of a symbol, so a reader can tell cheaply whether anything changed.
    """

    def __init__(self, session: ExchangeSession | str = NSE_SESSION, *, max_candles: int = 5_000,
                 intervals: Iterable[str] = tuple(INTERVALS)) -> None:
        if isinstance(max_candles, bool) or not isinstance(max_candles, int) \
                or not 0 < max_candles <= MAX_CANDLES_LIMIT:
            raise ConfigError("max_candles", max_candles, f"a whole number from 1 to {MAX_CANDLES_LIMIT:,}")
        if isinstance(intervals, str):
            intervals = (intervals,)
        chosen = tuple(dict.fromkeys(check_interval(i) for i in intervals))
        if not chosen:
            raise ConfigError("intervals", intervals, "one or more of " + ", ".join(INTERVALS))
        self.session = ExchangeSession.of(session)
        self.max_candles = max_candles
        self.intervals = chosen
        self._steps = tuple((i, INTERVALS[i]) for i in chosen)
        self._candles: dict[str, dict[str, deque[Candle]]] = {}
        self._versions: dict[str, int] = {}
        self.late = 0  # prices older than every kept candle of an interval: dropped

    # -- input ------------------------------------------------------------------------------------------------

    def on_price(self, ts: datetime, symbol: str, price: float | Decimal, volume: float | None = None) -> None:
        """A tick: ``price`` of ``symbol`` at ``ts`` (naive: UTC), with the ``volume`` traded (None: unknown).

        Raises DataError for a symbol that is not a non-empty text, a time that is not a datetime, a price that is
        not a number above 0 and at most ``MAX_PRICE``, or a volume that is not a finite number >= 0.
        """
        value = _price(price)
        self._add(ts, symbol, value, value, value, value, volume)

    def on_bar(self, bar: Bar) -> None:
        """A bar (or a tick as a bar whose four prices are one): its OHLCV go into the candle of its start time."""
        if not isinstance(bar, Bar):
            raise DataError("bar", bar, "an oms_kit Bar")
        self._add(bar.timestamp, bar.symbol, _price(bar.open), _price(bar.high), _price(bar.low), _price(bar.close),
                  bar.volume)

    def on_event(self, event: Any) -> None:
        """A ``PriceUpdated`` event of the OMS: its bar when the event carries one, else its price as a tick."""
        bar = getattr(event, "bar", None)  # an event carrying its bar gives the bar's range and volume
        if isinstance(bar, Bar):
            self.on_bar(bar)
        else:
            self.on_price(event.ts, event.symbol, event.price, getattr(event, "volume", None))

    def _add(self, ts: datetime, symbol: str, o: float, h: float, low: float, c: float, volume: Any) -> None:
        if not isinstance(symbol, str) or not symbol or len(symbol) > 100:
            raise DataError("symbol", symbol, "a non-empty text of at most 100 characters")
        if not isinstance(ts, datetime):
            raise DataError("timestamp", ts, "a datetime (naive: UTC)")
        if volume is None or (isinstance(volume, float) and math.isnan(volume)):
            v = 0.0
        elif isinstance(volume, bool) or not isinstance(volume, int | float | Decimal) \
                or not 0 <= float(volume) < math.inf:
            raise DataError("volume", volume, "a finite number >= 0, NaN or None (unknown)")
        else:
            v = float(volume)
        wall = wall_seconds(ts, self.session)
        books = self._candles.get(symbol)
        if books is None:
            books = self._candles[symbol] = {i: deque(maxlen=self.max_candles) for i in self.intervals}
        for interval, step in self._steps:
            start = wall - wall % step
            candles = books[interval]
            last = candles[-1] if candles else None
            if last is None or start > last.time:
                candles.append(Candle(start, o, h, low, c, v))
            elif start == last.time:
                if h > last.high:
                    last.high = h
                if low < last.low:
                    last.low = low
                last.close = c
                last.volume += v
            else:
                self._late(candles, start, h, low, v)
        self._versions[symbol] = self._versions.get(symbol, 0) + 1

    def _late(self, candles: deque[Candle], start: int, h: float, low: float, v: float) -> None:
        for candle in reversed(candles):
            if candle.time == start:
                candle.high = max(candle.high, h)
                candle.low = min(candle.low, low)
                candle.volume += v
                return
            if candle.time < start:  # a gap: no candle was made for that bucket, and none is put between others
                break
        self.late += 1

    # -- reads ------------------------------------------------------------------------------------------------

    @property
    def symbols(self) -> tuple[str, ...]:
        """The symbols with candles, sorted."""
        return tuple(sorted(self._candles))

    def version(self, symbol: str) -> int:
        """How many prices of ``symbol`` came in (0 for a symbol never seen)."""
        return self._versions.get(symbol, 0)

    def candles(self, symbol: str, interval: str) -> deque[Candle]:
        """The kept candles of ``symbol`` at ``interval``, oldest first (the book's own: read, do not change them).
        Empty for a symbol never seen; ConfigError for an unknown interval or one this book does not build."""
        check_interval(interval)
        if interval not in self.intervals:
            raise ConfigError("interval", interval, "one of this book's intervals: " + ", ".join(self.intervals))
        books = self._candles.get(symbol)
        return books[interval] if books is not None else deque()

    def last(self, symbol: str, interval: str) -> Candle | None:
        """The newest candle of ``symbol`` at ``interval``, or None."""
        candles = self.candles(symbol, interval)
        return candles[-1] if candles else None

    def __repr__(self) -> str:
        return f"<CandleBook symbols={len(self._candles)} intervals={','.join(self.intervals)}>"


def _price(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise DataError("price", value, f"a number above 0 and at most {MAX_PRICE:,}")
    number = float(value)
    if not 0 < number <= _MAX_PRICE:  # NaN fails too
        raise DataError("price", value, f"a number above 0 and at most {MAX_PRICE:,}")
    return number


@dataclass(frozen=True, slots=True)
class CandleArrays:
    """Candles of one symbol and interval as columns (numpy arrays of one length, ``time`` ascending)."""

    time: np.ndarray  # int64, exchange wall-clock seconds
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.time)

    def window(self, start: int, stop: int) -> CandleArrays:
        """Candles ``start`` to ``stop`` (positions, as a slice)."""
        return CandleArrays(*(column[start:stop] for column in self.columns()))

    def columns(self) -> tuple[np.ndarray, ...]:
        return self.time, self.open, self.high, self.low, self.close, self.volume

    @classmethod
    def of(cls, candles: Iterable[Candle]) -> CandleArrays:
        """Columns of ``candles`` (oldest first)."""
        rows = [c.as_list() for c in candles]
        table = np.asarray(rows, dtype=np.float64).reshape(len(rows), 6)
        return cls(table[:, 0].astype(np.int64), *(np.ascontiguousarray(table[:, k]) for k in range(1, 6)))


def wall_clock(stamps: Any, zone: Any) -> np.ndarray:
    """Timestamps (a column or index; naive ones are UTC) as int64 seconds of the wall clock of ``zone`` (a time
    zone name or tzinfo): :func:`wall_seconds` for a whole column at once."""
    index = pd.DatetimeIndex(stamps)
    if index.tz is None:
        index = index.tz_localize("UTC")
    return np.asarray(index.tz_convert(zone).tz_localize(None).as_unit("s").asi8, dtype=np.int64)


def aggregate(bars: pd.DataFrame, keys: np.ndarray) -> CandleArrays:
    """One candle per run of equal ``keys`` (each bar's candle start, ascending) of ``bars`` (``load_bars``'s
    columns, in the keys' order): open of the run's first bar, highest high, lowest low, close of its last bar,
    volume summed (NaN counted as 0)."""
    if len(keys) == 0:
        empty = np.empty(0)
        return CandleArrays(np.empty(0, dtype=np.int64), empty, empty, empty, empty, empty)
    first = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    last = np.r_[first[1:] - 1, len(keys) - 1]
    volume = np.nan_to_num(bars["volume"].to_numpy(dtype=np.float64), nan=0.0)
    return CandleArrays(
        np.asarray(keys, dtype=np.int64)[first],
        bars["open"].to_numpy(dtype=np.float64)[first],
        np.maximum.reduceat(bars["high"].to_numpy(dtype=np.float64), first),
        np.minimum.reduceat(bars["low"].to_numpy(dtype=np.float64), first),
        bars["close"].to_numpy(dtype=np.float64)[last],
        np.add.reduceat(volume, first),
    )


def resample(bars: pd.DataFrame, interval: str, session: ExchangeSession | str = NSE_SESSION) -> CandleArrays:
    """Candles of ``interval`` from ``bars`` of one symbol (``load_bars``'s columns, sorted by time), as
    :func:`aggregate` makes them."""
    check_interval(interval)
    step = INTERVALS[interval]
    zone = ExchangeSession.of(session).zone
    wall = wall_clock(bars["timestamp"], zone) if len(bars) else np.empty(0, dtype=np.int64)
    start = wall - wall % step
    if len(start) > 1 and (np.diff(start) < 0).any():
        raise DataError("timestamp", "unsorted", "bars sorted by time (load_bars sorts them)")
    return aggregate(bars, start)
