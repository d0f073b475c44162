"""What the candlestick chart (:class:`~oms_kit.widgets.chart.CandleChart`) shows, from a live OMS or from a result.

A source gives the chart five things for a symbol and an interval: its candles (:class:`CandleArrays`), its fills
as markers (one per candle and side: the fills of that candle added up), its working orders as price lines, a
strategy's ``ctx.plot`` lines, and the symbols there are. :class:`LiveSource` reads an OMS and the
:class:`CandleBook` its panel feeds with the OMS's price events; :class:`TableSource` reads a table of bars, a list
of fills and a result's indicators (a backtest's: a million bars, resampled once per interval with numpy and then
cut into windows). Markers, price lines and indicator lines are made as ``result.chart`` makes them
(:mod:`oms_kit.chart_data`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import pandas as pd

from oms_kit.chart_data import IndicatorLine, indicator_lines
from oms_kit.chart_marks import FillTable, price_lines
from oms_kit.market.candles import INTERVALS, CandleArrays, CandleBook, resample
from oms_kit.models import Fill
from oms_kit.oms import OMS
from oms_kit.session import NSE_SESSION, ExchangeSession
from oms_kit.snapshot import OrderView, gtt_views, program_views, working_order_views


class Source(Protocol):
    """What a chart reads."""

    session: ExchangeSession

    def symbols(self) -> tuple[str, ...]: ...
    def candles(self, symbol: str, interval: str) -> CandleArrays: ...
    def markers(self, symbol: str, interval: str, start: int, stop: int | None) -> list[dict[str, Any]]: ...
    def lines(self, symbol: str) -> list[dict[str, Any]]: ...
    def indicators(self, symbol: str, interval: str) -> list[IndicatorLine]: ...
    def tail(self, symbol: str, interval: str, since: int | None, limit: int) -> list[list[float]] | None: ...


def _markers(fills: FillTable, interval: str, start: int, stop: int | None) -> list[dict[str, Any]]:
    """The markers of the candles of ``interval`` from ``start`` up to (not including) ``stop`` (None: to the end):
    one per candle and side, the fills added up (time, side, quantity, fills, price: the average)."""
    if not len(fills):
        return []
    frame = fills.markers(INTERVALS[interval], start, stop, combine=True)
    columns = list(frame.columns)  # plain values, row by row (a third of to_dict's time)
    return [dict(zip(columns, row, strict=True)) for row in zip(*(frame[c].tolist() for c in columns), strict=True)]


class LiveSource:
    """An OMS and the candles built from its prices (``book``): what the dashboard's chart shows."""

    def __init__(self, oms: OMS, book: CandleBook) -> None:
        self.oms = oms
        self.book = book
        self.session = book.session
        self._fills: tuple[str, int, FillTable] | None = None

    def symbols(self) -> tuple[str, ...]:
        # Symbols with a price: those with candles, and any the OMS priced before its chart opened.
        return tuple(sorted(set(self.book.symbols).union(self.oms.manager.prices)))

    def candles(self, symbol: str, interval: str) -> CandleArrays:
        return CandleArrays.of(self.book.candles(symbol, interval))

    def fills(self, symbol: str) -> FillTable:
        trades = self.oms.manager.trades
        cached = self._fills
        if cached is None or cached[0] != symbol or cached[1] != len(trades):
            cached = self._fills = (symbol, len(trades),
                                    FillTable((t for t in trades if t.symbol == symbol), self.session.zone))
        return cached[2]

    def markers(self, symbol: str, interval: str, start: int, stop: int | None) -> list[dict[str, Any]]:
        return _markers(self.fills(symbol), interval, start, stop)

    def indicators(self, symbol: str, interval: str) -> list[IndicatorLine]:
        return []  # a live OMS has no strategy's plots

    def tail(self, symbol: str, interval: str, since: int | None, limit: int) -> list[list[float]] | None:
        """The candles from ``since`` on (the last one sent and any newer), oldest first; None when there are more
        than ``limit`` of them, or candles but nothing sent yet (``since`` None): the window is to be sent again."""
        out: list[list[float]] = []
        for candle in reversed(self.book.candles(symbol, interval)):
            if since is None or len(out) >= limit:
                return None
            if candle.time < since:
                break
            out.append(candle.as_list())
        out.reverse()
        return out

    def lines(self, symbol: str) -> list[dict[str, Any]]:
        oms = self.oms
        return price_lines(symbol, working_order_views(oms), program_views(oms, "active"), gtt_views(oms, "active"))


class TableSource:
    """Bars (``load_bars``'s columns, any number of symbols) and fills: what a result's chart shows."""

    def __init__(self, bars: pd.DataFrame, fills: Sequence[Fill] = (), orders: Iterable[OrderView] = (),
                 session: ExchangeSession | str = NSE_SESSION, *, programs: Iterable[Any] = (),
                 indicators: pd.DataFrame | None = None) -> None:
        self.session = ExchangeSession.of(session)
        self._bars = bars
        self._symbols = tuple(sorted(str(s) for s in pd.unique(bars["symbol"]))) if len(bars) else ()
        self._fills = fills
        self._orders = tuple(orders)
        self._programs = tuple(programs)
        self._indicators = indicators
        self._candles: dict[tuple[str, str], CandleArrays] = {}
        self._fill_tables: dict[str, FillTable] = {}
        self._lines: dict[tuple[str, str], list[IndicatorLine]] = {}

    def symbols(self) -> tuple[str, ...]:
        return self._symbols

    def candles(self, symbol: str, interval: str) -> CandleArrays:
        key = (symbol, interval)
        arrays = self._candles.get(key)
        if arrays is None:
            bars = self._bars
            mine = bars[bars["symbol"] == symbol] if len(self._symbols) > 1 else bars
            arrays = self._candles[key] = resample(mine, interval, self.session)
        return arrays

    def markers(self, symbol: str, interval: str, start: int, stop: int | None) -> list[dict[str, Any]]:
        fills = self._fill_tables.get(symbol)
        if fills is None:
            fills = self._fill_tables[symbol] = FillTable((f for f in self._fills if f.symbol == symbol),
                                                          self.session.zone)
        return _markers(fills, interval, start, stop)

    def lines(self, symbol: str) -> list[dict[str, Any]]:
        return price_lines(symbol, self._orders, self._programs)

    def indicators(self, symbol: str, interval: str) -> list[IndicatorLine]:
        """The strategy's ``ctx.plot`` lines of ``symbol`` on the candles of ``interval`` (made once each)."""
        if self._indicators is None or not len(self._indicators):
            return []
        key = (symbol, interval)
        lines = self._lines.get(key)
        if lines is None:
            lines = self._lines[key] = indicator_lines(self._indicators, symbol, INTERVALS[interval],
                                                       self.session.zone)
        return lines

    def tail(self, symbol: str, interval: str, since: int | None, limit: int) -> list[list[float]] | None:
        return []  # a table does not grow
