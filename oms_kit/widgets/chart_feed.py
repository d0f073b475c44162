"""What the candlestick chart (:class:`~oms_kit.widgets.chart.CandleChart`) shows, from a live OMS or from a result.

A source gives the chart four things for a symbol and an interval: its candles (:class:`CandleArrays`), its fills
as markers (one per candle and side: the fills of that candle added up), its working orders as price lines, and the
symbols there are. :class:`LiveSource` reads an OMS and the :class:`CandleBook` its panel feeds with the OMS's price
events; :class:`TableSource` reads a table of bars and a list of fills (a backtest's: a million bars, resampled once
per interval with numpy and then cut into windows).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, Protocol

import numpy as np
import pandas as pd

from oms_kit.market.candles import INTERVALS, CandleArrays, CandleBook, resample, wall_seconds
from oms_kit.models import Fill
from oms_kit.oms import OMS
from oms_kit.session import NSE_SESSION, ExchangeSession
from oms_kit.snapshot import GttView, OrderView, ProgramView, gtt_views, program_views, working_order_views

MAX_LINES = 50  # price lines per symbol: beyond that a chart is a barcode


class Source(Protocol):
    """What a chart reads."""

    session: ExchangeSession

    def symbols(self) -> tuple[str, ...]: ...
    def candles(self, symbol: str, interval: str) -> CandleArrays: ...
    def markers(self, symbol: str, interval: str, start: int, stop: int | None) -> list[dict[str, Any]]: ...
    def lines(self, symbol: str) -> list[dict[str, Any]]: ...
    def tail(self, symbol: str, interval: str, since: int | None, limit: int) -> list[list[float]] | None: ...


class FillTimes:
    """Fills of one symbol as columns: wall-clock seconds, side (+1 buy, -1 sell), quantity, price."""

    def __init__(self, fills: Iterable[Fill], session: ExchangeSession) -> None:
        rows = [(wall_seconds(f.ts, session), 1 if f.side.value == "BUY" else -1, f.quantity, float(f.price))
                for f in fills if f.ts is not None]
        rows.sort(key=lambda r: r[0])
        table = np.asarray(rows, dtype=np.float64).reshape(len(rows), 4)
        self.time = table[:, 0].astype(np.int64)
        self.side = table[:, 1].astype(np.int8)
        self.quantity = table[:, 2]
        self.price = table[:, 3]

    def markers(self, interval: str, start: int, stop: int | None) -> list[dict[str, Any]]:
        """One marker per candle of ``interval`` and side for the fills in candles ``start`` up to (not
        including) ``stop`` (None: to the end): time, side, quantity, fills and the average price."""
        step = INTERVALS[interval]
        bucket = self.time - self.time % step
        lo = int(np.searchsorted(bucket, start, "left"))
        hi = len(bucket) if stop is None else int(np.searchsorted(bucket, stop, "left"))
        out: dict[tuple[int, int], list[float]] = {}
        for t, s, q, p in zip(bucket[lo:hi].tolist(), self.side[lo:hi].tolist(), self.quantity[lo:hi].tolist(),
                              self.price[lo:hi].tolist(), strict=True):
            entry = out.setdefault((t, s), [0.0, 0.0, 0])
            entry[0] += q
            entry[1] += q * p
            entry[2] += 1
        return [{"time": t, "side": "BUY" if s > 0 else "SELL", "quantity": int(q), "fills": n,
                 "price": round(value / q, 4) if q else 0.0}
                for (t, s), (q, value, n) in sorted(out.items())]


def price_lines(symbol: str, orders: Iterable[OrderView], programs: Iterable[ProgramView] = (),
                gtts: Iterable[GttView] = ()) -> list[dict[str, Any]]:
    """The price lines of ``symbol``: each working order's limit price and stop trigger, an active order
    program's target and stop orders named so, and an active GTT's triggers; at most ``MAX_LINES``."""
    roles: dict[str, str] = {}
    for program in programs:
        if program.symbol == symbol:
            if program.target_id:
                roles[program.target_id] = "target"
            if program.stop_id:
                roles[program.stop_id] = "stop"
    lines: list[dict[str, Any]] = []
    for order in orders:
        if order.symbol != symbol:
            continue
        role = roles.get(order.order_id)
        head = f"{order.side} {order.quantity}"
        if order.trigger_price is not None:
            lines.append(_line(order.trigger_price, role or "trigger", order.side, order.order_id,
                               f"{role or head} {order.order_type} trigger"))
        if order.price is not None:
            lines.append(_line(order.price, role or "limit", order.side, order.order_id,
                               f"{role or head} {order.order_type}"))
    for gtt in gtts:
        if gtt.symbol == symbol and gtt.status == "active":
            for leg in gtt.legs:
                lines.append(_line(leg.trigger, "gtt", leg.side, gtt.gtt_id, f"GTT {leg.side} {leg.quantity}"))
    return lines[:MAX_LINES]


def _line(price: Decimal, kind: str, side: str, owner: str, title: str) -> dict[str, Any]:
    return {"price": float(price), "kind": kind, "side": side, "id": owner, "title": title}


class LiveSource:
    """An OMS and the candles built from its prices (``book``): what the dashboard's chart shows."""

    def __init__(self, oms: OMS, book: CandleBook) -> None:
        self.oms = oms
        self.book = book
        self.session = book.session
        self._fills: tuple[str, int, FillTimes] | None = None

    def symbols(self) -> tuple[str, ...]:
        # Symbols with a price: those with candles, and any the OMS priced before its chart opened.
        return tuple(sorted(set(self.book.symbols).union(self.oms.manager.prices)))

    def candles(self, symbol: str, interval: str) -> CandleArrays:
        return CandleArrays.of(self.book.candles(symbol, interval))

    def fills(self, symbol: str) -> FillTimes:
        trades = self.oms.manager.trades
        cached = self._fills
        if cached is None or cached[0] != symbol or cached[1] != len(trades):
            cached = self._fills = (symbol, len(trades),
                                    FillTimes((t for t in trades if t.symbol == symbol), self.session))
        return cached[2]

    def markers(self, symbol: str, interval: str, start: int, stop: int | None) -> list[dict[str, Any]]:
        return self.fills(symbol).markers(interval, start, stop)

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
                 session: ExchangeSession | str = NSE_SESSION) -> None:
        self.session = ExchangeSession.of(session)
        self._bars = bars
        self._symbols = tuple(sorted(str(s) for s in pd.unique(bars["symbol"]))) if len(bars) else ()
        self._fills = fills
        self._orders = tuple(orders)
        self._candles: dict[tuple[str, str], CandleArrays] = {}
        self._fill_times: dict[str, FillTimes] = {}

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
        times = self._fill_times.get(symbol)
        if times is None:
            times = self._fill_times[symbol] = FillTimes((f for f in self._fills if f.symbol == symbol),
                                                         self.session)
        return times.markers(interval, start, stop)

    def lines(self, symbol: str) -> list[dict[str, Any]]:
        return price_lines(symbol, self._orders)

    def tail(self, symbol: str, interval: str, since: int | None, limit: int) -> list[list[float]] | None:
        return []  # a table does not grow
