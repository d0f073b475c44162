"""What a result's candlestick chart shows, as plain data: candles at an interval, volume, a marker per fill, the
orders' price lines, the levels of order programs' stops and targets, and the strategy's indicator lines.

:func:`chart_data` reads a run (its bars, fills, orders, order programs and ``ctx.plot`` values) and returns a
:class:`ChartData` for one symbol: the candles of a window (``max_bars``, ``start``, ``end``) and everything that
falls in it. :mod:`oms_kit.charts` draws it; this module knows nothing of HTML.

Times. A chart's time axis shows the exchange's wall clock: each time is the number of seconds from 1970-01-01
00:00 of the exchange's local time (09:15 in Mumbai is 09:15 on the axis, whatever the reader's time zone), as
the chart library reads a time as seconds in UTC. Candles are stamped with their start: ``"5m"`` candles start at
09:15, 09:20, …, and ``"1d"`` candles at the exchange's midnight.

Aggregation. A candle of an interval takes the first bar's open, the highest high, the lowest low, the last bar's
close and the sum of the volumes (NaN volumes count as 0; a symbol whose volume is unknown throughout has none) of
the symbol's bars that start in it (:func:`oms_kit.market.candles.aggregate`). ``interval=None`` keeps the data's own
bars.

Fills. Each fill becomes a marker on the candle it happened in (the last candle that starts at or before the fill's
time): below the candle for a buy, above it for a sell, with the text ``BUY 10 @ 2500.05`` (the exact price).

The chart widget (:class:`oms_kit.widgets.CandleChart`) draws from the same pieces: the marks of
:mod:`oms_kit.chart_marks` (``FillTable``, its markers one per candle and side; ``price_lines``) and
:func:`indicator_lines` with :func:`line_pane`.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from oms_kit.chart_marks import MAX_PRICE_LINES, FillTable, json_floats, price_lines, program_lines
from oms_kit.errors import ConfigError
from oms_kit.market.candles import CandleArrays, aggregate, wall_clock
from oms_kit.models import Fill, Order
from oms_kit.programs import Program

if TYPE_CHECKING:
    from oms_kit.strategy import PlotSeries

__all__ = ["DEFAULT_MAX_BARS", "INTERVALS", "MAX_BARS", "MAX_PRICE_LINES", "ChartData", "IndicatorLine", "chart_data",
           "indicator_lines", "indicators_frame", "line_pane"]

# Candle lengths in seconds, by the names result.chart(interval=...) takes.
INTERVALS: dict[str, int] = {"1m": 60, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "1d": 86400}
DEFAULT_MAX_BARS = 5_000
# The most candles one HTML chart carries (about 65 bytes each with volume, plus the library's 200 kB): beyond it
# the page grows heavy; the dashboard's chart widget (oms_kit.widgets.CandleChart) loads more as one scrolls.
MAX_BARS = 200_000
LINE_COLORS = ("#2962ff", "#ff6d00", "#8e24aa", "#00897b", "#c2185b", "#5d4037", "#546e7a", "#fbc02d")
_DATE_ONLY = re.compile(r"^\s*\d{4}-\d{2}-\d{2}\s*$")
_ALLOWED_TIME = "a date or time such as '2026-01-05' or '2026-01-05 09:15' (exchange time), or a datetime"


def indicators_frame(plots: Mapping[tuple[str, str], PlotSeries]) -> pd.DataFrame:
    """The values a strategy recorded with ``ctx.plot``, as a table: time (UTC), symbol, name, value (NaN where
    the strategy plotted None or NaN), one row per bar a value was plotted on, sorted by symbol, name and time."""
    frames = [pd.DataFrame({"time": _utc_index(series.times), "symbol": symbol, "name": name,
                            "value": np.asarray(series.values, dtype=float)})
              for (symbol, name), series in sorted(plots.items(), key=lambda item: item[0])]
    if not frames:
        return pd.DataFrame({"time": pd.DatetimeIndex([], tz="UTC"), "symbol": pd.Series([], dtype=str),
                             "name": pd.Series([], dtype=str), "value": pd.Series([], dtype=float)})
    return pd.concat(frames, ignore_index=True)


def _utc_index(times: list[datetime]) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(times).tz_convert("UTC") if times else pd.DatetimeIndex([], tz="UTC")


@dataclass(frozen=True, eq=False)
class ChartData:
    """One symbol's chart of a run, for a window of its candles.

    Attributes
    ----------
    symbol, interval : str
        ``interval`` is one of :data:`INTERVALS` or ``"bars"`` (the data's own).
    timezone : str
        The exchange's time zone, whose wall clock the times are in.
    candles : DataFrame
        The window's candles: time (chart seconds, see the module notes), open, high, low, close, volume.
    markers : DataFrame
        One row per fill in the window, in time order: time (its candle's), position, shape, color, text, side,
        quantity, price (exact, as text), trade_id, order_id, ts (the fill's own time, UTC).
    price_lines : list of dict
        Orders still working at the end of the run, as :func:`price_lines` draws them: price, kind, side, id,
        title, color, line_style.
    lines : list of dict
        Indicator lines (name, pane: 0 over the candles, 1 below them; color; time; value with None for gaps) and
        the levels of order programs' stops and targets (``stop``, ``target``: dashed, over the candles).
    total : int
        Candles of the whole run at this interval; ``candles`` holds the window's.
    first, last : Timestamp
        The run's first and last candle (exchange time).
    fills_total : int
        Fills of the symbol in the whole run; ``markers`` holds the window's.
    """

    symbol: str
    interval: str
    timezone: str
    candles: pd.DataFrame
    markers: pd.DataFrame
    price_lines: list[dict[str, Any]]
    lines: list[dict[str, Any]]
    total: int
    first: pd.Timestamp
    last: pd.Timestamp
    fills_total: int
    has_volume: bool = True

    @property
    def windowed(self) -> bool:
        """True when the window leaves some of the run's candles out."""
        return len(self.candles) < self.total

    def note(self) -> str:
        """One line on what the chart shows: candles and fills in the window, and how to see the rest."""
        shown = len(self.candles)
        fills = f"{len(self.markers):,} of {self.fills_total:,} fills" if self.windowed else \
            f"{self.fills_total:,} fills"
        if not shown:
            return f"{self.symbol}: no candles"
        text = (f"{self.symbol} · {self.interval} · {shown:,} of {self.total:,} candles "
                f"({_stamp(self.candles['time'].iloc[0])} to {_stamp(self.candles['time'].iloc[-1])}) · {fills}")
        if self.windowed:
            text += (f". The run spans {_stamp(_seconds(self.first))} to {_stamp(_seconds(self.last))}: pass "
                     f"start=/end=, a larger max_bars= (up to {MAX_BARS:,}) or a coarser interval= to see more, or "
                     "scroll through all of it in oms_kit.widgets.CandleChart.from_result(result, symbol)")
        return text

    def payload(self) -> dict[str, Any]:
        """Plain values for JSON: what the page's script draws."""
        candles = self.candles
        markers = self.markers
        return {
            "symbol": self.symbol,
            "interval": self.interval,
            "timezone": self.timezone,
            "intraday": self.interval != "1d",
            "candles": {c: candles[c].tolist() for c in ("time", "open", "high", "low", "close")},
            "volume": json_floats(candles["volume"]) if self.has_volume else None,
            "markers": [{"time": int(m.time), "position": m.position, "shape": m.shape, "color": m.color,
                         "text": m.text, "side": m.side, "quantity": int(m.quantity), "price": m.price,
                         "trade_id": m.trade_id} for m in cast(Iterable[Any], markers.itertuples(index=False))],
            "priceLines": self.price_lines,
            "lines": self.lines,
            "window": {"shown": len(candles), "total": self.total, "fillsShown": len(markers),
                       "fillsTotal": self.fills_total},
            "note": self.note(),
        }


def chart_data(bars: pd.DataFrame, fills: Iterable[Fill], symbol: Any, *, interval: Any = None,
               max_bars: Any = DEFAULT_MAX_BARS, start: Any = None, end: Any = None,
               orders: Iterable[Order] = (), programs: Iterable[Program] = (),
               plots: Mapping[tuple[str, str], PlotSeries] | None = None,
               timezone: str | tzinfo = "Asia/Kolkata") -> ChartData:
    """The chart of ``symbol`` in a run: candles at ``interval``, a marker per fill, the working orders' price
    lines, program stops and targets, and ``ctx.plot`` lines, for the window of candles asked for.

    Parameters
    ----------
    bars : DataFrame
        The run's bars, as :func:`~oms_kit.market.bars.load_bars` returns them (any symbols).
    fills : iterable of Fill
        The run's fills (any symbols; this symbol's are kept).
    symbol : str
        One of the symbols of ``bars``; None when there is only one.
    interval : str, optional
        ``"1m"``, ``"5m"``, ``"15m"``, ``"30m"``, ``"1h"`` or ``"1d"``, at least as long as the data's own bars;
        None keeps the bars as they are.
    max_bars : int
        At most this many candles (1 to :data:`MAX_BARS`): the last ones of the range ``start``–``end``.
    start, end : str, date or datetime, optional
        The range of candles (both ends included; a date alone as ``end`` includes that whole day). Naive times
        are the exchange's wall clock.
    orders : iterable of Order
        The run's orders: those still working at the end become price lines.
    programs : iterable of Program
        The run's order programs: the levels of their stops and targets (trailing stops left out: their level
        moved, and only the last is known) become dashed lines while they worked.
    plots : mapping, optional
        ``StrategyRunner.plots``: the ``ctx.plot`` values.
    timezone : str or tzinfo
        The exchange's time zone.

    Raises
    ------
    ConfigError
        A bad ``symbol``, ``interval``, ``max_bars``, ``start`` or ``end`` (or a range with no candle in it); the
        error names the field, the value and what is allowed.
    """
    zone = str(timezone)
    orders, programs = list(orders), list(programs)
    symbols = _symbols(bars)
    symbol = _check_symbol(symbol, symbols)
    step = _check_interval(interval)
    limit = _check_max_bars(max_bars)
    frame = bars[bars["symbol"].to_numpy() == symbol]
    local = wall_clock(frame["timestamp"], timezone)
    order = np.argsort(local, kind="stable")
    if not (order == np.arange(len(order))).all():
        frame, local = frame.iloc[order], local[order]
    if step:
        own = _own_step(local)
        if own and step < own:
            raise ConfigError("interval", interval, f"an interval at least as long as the data's own bars "
                              f"({_describe(own)}): " + ", ".join(k for k, v in INTERVALS.items() if v >= own))
        keys = local - local % step
    else:
        keys = local
    candles = _candle_frame(aggregate(frame, keys))
    times = candles["time"].to_numpy()
    total = len(candles)
    first_ts, last_ts = _timestamp(int(times[0])), _timestamp(int(times[-1]))
    lo, hi = _window(times, start, end, limit, timezone)
    window = candles.iloc[lo:hi].reset_index(drop=True)
    has_volume = bool(np.isfinite(frame["volume"].to_numpy(dtype=float)).any())

    fill_table = FillTable((f for f in fills if f.symbol == symbol), timezone)
    markers = fill_table.markers(times, int(times[lo]), int(times[hi]) if hi < total else None)
    shown = window["time"].to_numpy()
    lines = _indicator_lines(indicators_frame(plots or {}), symbol, shown, step, timezone, window)
    lines += program_lines(programs, orders, symbol, shown, step, timezone)
    working = [o for o in orders if o.symbol == symbol and not o.status.is_terminal]
    return ChartData(symbol=symbol, interval=interval or "bars", timezone=zone, candles=window, markers=markers,
                     price_lines=price_lines(symbol, working, programs), lines=lines, total=total,
                     first=first_ts, last=last_ts, fills_total=len(fill_table), has_volume=has_volume)


# -- arguments ---------------------------------------------------------------------------------------------------


def _symbols(bars: pd.DataFrame) -> list[str]:
    return sorted(pd.unique(bars["symbol"].to_numpy()).tolist()) if len(bars) else []


def _check_symbol(symbol: Any, symbols: list[str]) -> str:
    listed = ", ".join(symbols[:20]) + (f" … ({len(symbols)} in all)" if len(symbols) > 20 else "")
    if symbol is None:
        if len(symbols) == 1:
            return symbols[0]
        raise ConfigError("symbol", symbol, f"one of the run's symbols: {listed or 'none (the run has no bars)'}",
                          hint="the run traded several symbols: name the one to chart")
    if not isinstance(symbol, str) or symbol not in symbols:
        raise ConfigError("symbol", symbol, f"one of the run's symbols: {listed or 'none (the run has no bars)'}")
    return symbol


def _check_interval(interval: Any) -> int:
    if interval is None:
        return 0
    if not isinstance(interval, str) or interval not in INTERVALS:
        raise ConfigError("interval", interval, "None (the data's own bars) or one of " + ", ".join(INTERVALS))
    return INTERVALS[interval]


def _check_max_bars(max_bars: Any) -> int:
    try:
        if isinstance(max_bars, bool):
            raise TypeError
        limit = operator.index(max_bars)
    except TypeError:
        raise ConfigError("max_bars", max_bars, f"a whole number from 1 to {MAX_BARS:,}") from None
    if not 1 <= limit <= MAX_BARS:
        raise ConfigError("max_bars", max_bars, f"a whole number from 1 to {MAX_BARS:,}",
                          hint="beyond that, oms_kit.widgets.CandleChart.from_result(result, symbol) loads candles "
                               "as you scroll")
    return limit


def _parse_time(name: str, value: Any, timezone: str | tzinfo, end: bool) -> int | None:
    """``value`` as chart seconds (exchange wall clock); None when not given. ``end`` given as a date alone covers
    that whole day."""
    if value is None:
        return None
    whole_day = (isinstance(value, date) and not isinstance(value, datetime)) or \
        (isinstance(value, str) and bool(_DATE_ONLY.match(value)))
    if not isinstance(value, str | date | datetime | pd.Timestamp | np.datetime64) or isinstance(value, bool):
        raise ConfigError(name, value, _ALLOWED_TIME)
    try:
        stamp = pd.Timestamp(value)
        if stamp is pd.NaT or pd.isna(stamp):
            raise ValueError
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert(timezone).tz_localize(None)
        seconds = _seconds(stamp)
    except (ValueError, TypeError, OverflowError, pd.errors.OutOfBoundsDatetime):
        raise ConfigError(name, value, _ALLOWED_TIME) from None
    if end and whole_day:
        seconds += 86_400 - 1
    return seconds


def _window(times: np.ndarray, start: Any, end: Any, limit: int, timezone: str | tzinfo) -> tuple[int, int]:
    """The rows of the candles to show: those from ``start`` to ``end``, the last ``limit`` of them."""
    begin = _parse_time("start", start, timezone, end=False)
    finish = _parse_time("end", end, timezone, end=True)
    if begin is not None and finish is not None and finish < begin:
        raise ConfigError("end", end, f"a time at or after start ({start!r})")
    lo = 0 if begin is None else int(np.searchsorted(times, begin, side="left"))
    hi = len(times) if finish is None else int(np.searchsorted(times, finish, side="right"))
    if hi <= lo:
        span = f"the run's candles run from {_stamp(int(times[0]))} to {_stamp(int(times[-1]))}"
        name = "start" if begin is not None and (finish is None or lo >= len(times)) else "end"
        raise ConfigError(name, start if name == "start" else end, "a range holding at least one candle: " + span)
    return max(lo, hi - limit), hi


# -- candles -----------------------------------------------------------------------------------------------------


def _own_step(local: np.ndarray) -> int:
    """The data's bar length: the shortest gap between two of its bars (0 with fewer than two)."""
    gaps = np.diff(np.unique(local))
    return int(gaps.min()) if len(gaps) else 0


def _candle_frame(candles: CandleArrays) -> pd.DataFrame:
    return pd.DataFrame(dict(zip(("time", "open", "high", "low", "close", "volume"), candles.columns(), strict=True)))




# -- indicators --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class IndicatorLine:
    """One ``ctx.plot`` name of a symbol on candles of one interval: its last value in each candle it was plotted
    in (``time`` the candles' starts in chart seconds, ascending; ``value`` NaN for a gap)."""

    name: str
    color: str
    time: np.ndarray
    value: np.ndarray

    def span(self, start: int, stop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The points of the candles starting from ``start`` up to (not including) ``stop`` (None: to the end)."""
        lo = int(np.searchsorted(self.time, start, side="left"))
        hi = len(self.time) if stop is None else int(np.searchsorted(self.time, stop, side="left"))
        return self.time[lo:hi], self.value[lo:hi]

    def points(self, start: int, stop: int | None = None) -> dict[str, Any]:
        """:meth:`span` as plain values for JSON: name, color, time, value (None for a gap)."""
        time, value = self.span(start, stop)
        return {"name": self.name, "color": self.color, "time": time.tolist(), "value": json_floats(value)}


def indicator_lines(indicators: pd.DataFrame, symbol: str, step: int,
                    timezone: str | tzinfo) -> list[IndicatorLine]:
    """Each name ``symbol`` has values of in ``indicators`` (:func:`indicators_frame`'s table), by name, on candles
    of ``step`` seconds (0: each bar its own candle): the last value plotted in each candle."""
    own = indicators[indicators["symbol"].to_numpy() == symbol]
    lines = []
    for number, (name, frame) in enumerate(own.groupby("name", sort=True)):
        seconds = wall_clock(frame["time"], timezone)
        order = np.argsort(seconds, kind="stable")
        keys = seconds[order] - seconds[order] % step if step else seconds[order]
        values = frame["value"].to_numpy(dtype=float)[order]
        last = np.r_[keys[1:] != keys[:-1], True]  # the last value plotted in each candle
        lines.append(IndicatorLine(str(name), LINE_COLORS[number % len(LINE_COLORS)], keys[last], values[last]))
    return lines


def line_pane(values: np.ndarray, low: float, high: float) -> int:
    """Where a line is drawn beside candles ranging from ``low`` to ``high``: 0, over them, when all its finite
    ``values`` lie within that range widened by its size (at least 1% of ``high``) each way; 1, in a pane below
    them (an oscillator, a count), when any lies beyond."""
    span = max(high - low, abs(high) * 0.01)
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    return 0 if not len(finite) or (finite.min() >= low - span and finite.max() <= high + span) else 1


def _indicator_lines(indicators: pd.DataFrame, symbol: str, shown: np.ndarray, step: int,
                     timezone: str | tzinfo, window: pd.DataFrame) -> list[dict[str, Any]]:
    """Each ``ctx.plot`` name of ``symbol`` with values in the window, as a line placed by :func:`line_pane`."""
    if not len(shown) or not len(indicators):
        return []
    low, high = float(window["low"].min()), float(window["high"].max())
    lines = []
    for line in indicator_lines(indicators, symbol, step, timezone):
        points = line.points(int(shown[0]), int(shown[-1]) + 1)
        if points["time"]:
            lines.append({**points, "pane": line_pane(line.span(int(shown[0]), int(shown[-1]) + 1)[1], low, high),
                          "dashed": False})
    return lines


# -- formatting --------------------------------------------------------------------------------------------------




def _timestamp(seconds: int) -> pd.Timestamp:
    return pd.Timestamp(seconds, unit="s")


def _seconds(stamp: pd.Timestamp) -> int:
    """A naive timestamp as whole seconds since 1970 (``.value`` would be nanoseconds, and overflow past 2262)."""
    return int(stamp.as_unit("s").asm8.astype(np.int64))


def _stamp(seconds: Any) -> str:
    stamp = _timestamp(int(seconds))
    return stamp.strftime("%Y-%m-%d") if stamp.hour == stamp.minute == stamp.second == 0 else \
        stamp.strftime("%Y-%m-%d %H:%M")


def _describe(seconds: int) -> str:
    for name, length in INTERVALS.items():
        if length == seconds:
            return name
    return f"{seconds:,} s"
