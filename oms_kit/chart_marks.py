"""What a candlestick chart marks on its candles: the fills (a marker each, or one per candle and side) and the
price lines of working orders, order programs' stops and targets, and GTT triggers.

Both charts draw from here: the result's HTML chart (:mod:`oms_kit.chart_data`, :mod:`oms_kit.charts`) and the
dashboard's chart widget (:class:`oms_kit.widgets.CandleChart`). Times are chart seconds, the exchange's wall clock
(see :mod:`oms_kit.chart_data`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import tzinfo
from typing import Any

import numpy as np
import pandas as pd

from oms_kit.market.candles import wall_clock
from oms_kit.models import Fill, Order, OrderType, Side
from oms_kit.programs import Program

__all__ = ["BUY_COLOR", "MAX_PRICE_LINES", "SELL_COLOR", "FillTable", "bucket", "json_floats", "price_lines",
           "program_lines"]

MAX_PRICE_LINES = 50  # price lines per chart: beyond that a chart is a barcode
BUY_COLOR, SELL_COLOR = "#26a69a", "#ef5350"
STOP_COLOR, TARGET_COLOR = "#e53935", "#43a047"
SOLID, DASHED = 0, 2  # the chart library's line styles


def bucket(seconds: np.ndarray, times: np.ndarray) -> np.ndarray:
    """The row of the last candle starting at or before each of ``seconds`` (the first candle for earlier ones)."""
    return np.clip(np.searchsorted(times, seconds, side="right") - 1, 0, None)


def json_floats(values: Any) -> list[float | None]:
    """Floats for JSON: NaN and infinities (which JSON cannot hold) as None."""
    array = np.asarray(values, dtype=float)
    return [None if not math.isfinite(v) else v for v in array.tolist()]


# -- fills -------------------------------------------------------------------------------------------------------


class FillTable:
    """One symbol's fills (those with a time) in time order, as columns: what both charts put on their candles.

    ``time`` holds each fill's time in chart seconds (exchange wall clock); :meth:`markers` puts them on candles.
    """

    def __init__(self, fills: Iterable[Fill], timezone: str | tzinfo) -> None:
        kept = [f for f in fills if f.ts is not None]
        seconds = wall_clock([f.ts for f in kept], timezone) if kept else np.empty(0, dtype=np.int64)
        order = np.argsort(seconds, kind="stable")  # fills come in time order; a stable sort keeps ties so
        self.fills = [kept[i] for i in order]
        self.time = seconds[order]
        self.buy = np.array([f.side is Side.BUY for f in self.fills], dtype=bool)
        self.quantity = np.array([f.quantity for f in self.fills], dtype=np.int64)
        self.price = np.array([float(f.price) for f in self.fills], dtype=np.float64)

    def __len__(self) -> int:
        return len(self.fills)

    def markers(self, candles: np.ndarray | int, start: int | None = None, stop: int | None = None, *,
                combine: bool = False) -> pd.DataFrame:
        """The markers of the fills on the candles starting from ``start`` up to (not including) ``stop`` (chart
        seconds; None: no bound), in time order.

        ``candles`` places the fills: the candles' start times (each fill on the last candle starting at or before
        it, so every marker sits on a candle), or an interval in seconds (each fill on the start of its interval,
        whether or not a candle is there yet: a live chart's candle may be made after the fill).

        ``combine=False`` (``result.chart``): one row per fill: time (its candle's), position, shape, color, text
        (``BUY 10 @ 2500.05``), side, quantity, price (exact, as text), trade_id, order_id, ts (UTC).
        ``combine=True`` (the chart widget, where a million bars may hold a fill every minute): one row per candle
        and side, the fills added up: time, side, quantity, fills (how many), price (their average).
        """
        if isinstance(candles, int):
            candle = self.time - self.time % candles if candles else self.time
        else:
            times = np.asarray(candles, dtype=np.int64)
            candle = times[bucket(self.time, times)] if len(times) else np.empty(0, dtype=np.int64)
        inside = np.ones(len(candle), dtype=bool)
        if start is not None:
            inside &= candle >= start
        if stop is not None:
            inside &= candle < stop
        keep = np.flatnonzero(inside)
        candle = candle[keep]
        buy, quantity = self.buy[keep], self.quantity[keep]
        if combine:
            keys, first, index = np.unique(candle * 2 + buy, return_index=True, return_inverse=True)
            total = np.bincount(index, weights=quantity, minlength=len(keys))
            value = np.bincount(index, weights=quantity * self.price[keep], minlength=len(keys))
            with np.errstate(invalid="ignore", divide="ignore"):
                average = np.where(total > 0, np.round(value / np.where(total > 0, total, 1), 4), 0.0)
            return pd.DataFrame({"time": candle[first], "side": np.where(buy[first], "BUY", "SELL"),
                                 "quantity": total.astype(np.int64),
                                 "fills": np.bincount(index, minlength=len(keys)).astype(np.int64),
                                 "price": average})
        chosen = [self.fills[i] for i in keep]
        return pd.DataFrame({
            "time": candle,
            "position": np.where(buy, "belowBar", "aboveBar"),
            "shape": np.where(buy, "arrowUp", "arrowDown"),
            "color": np.where(buy, BUY_COLOR, SELL_COLOR),
            "text": [f"{f.side} {f.quantity} @ {f.price}" for f in chosen],
            "side": [str(f.side) for f in chosen],
            "quantity": quantity,
            "price": [str(f.price) for f in chosen],
            "trade_id": [f.trade_id for f in chosen],
            "order_id": [f.order_id for f in chosen],
            "ts": pd.DatetimeIndex([f.ts for f in chosen]) if chosen else pd.DatetimeIndex([], tz="UTC"),
        })


# -- working orders, programs ------------------------------------------------------------------------------------


def price_lines(symbol: str, orders: Iterable[Any], programs: Iterable[Any] = (), gtts: Iterable[Any] = (), *,
                most: int = MAX_PRICE_LINES) -> list[dict[str, Any]]:
    """The price lines of ``symbol``'s working ``orders`` (Order or OrderView; the caller passes working ones): a
    stop's trigger and a limit's price each a line (a stop-limit order has both), a leg of an order program (Program
    or ProgramView) named by its role; and each trigger of an active GTT (GttView). At most ``most`` lines.

    Each line: price, kind (limit, trigger, target, stop, gtt), side, id (the order's or GTT's), title
    (``target SELL 10 SL-M trigger (P3)``), color (by side) and line_style (dashed for a trigger).
    """
    roles: dict[str, tuple[str, str]] = {}
    for program in programs:
        if program.symbol == symbol:
            for role, order_id in (("target", program.target_id), ("stop", program.stop_id)):
                if order_id:
                    roles[order_id] = (role, program.program_id)
    lines: list[dict[str, Any]] = []
    for order in orders:
        if order.symbol != symbol:
            continue
        role, program_id = roles.get(order.order_id, ("", ""))
        head = f"{role} " if role else ""
        tail = f" ({program_id})" if program_id else ""
        name = f"{head}{order.side} {order.quantity - order.filled_quantity} {order.order_type}"
        if order.trigger_price is not None:
            lines.append(_line(order.trigger_price, role or "trigger", str(order.side), order.order_id,
                               f"{name} trigger{tail}", dashed=True))
        if order.price is not None:
            lines.append(_line(order.price, role or "limit", str(order.side), order.order_id, f"{name}{tail}",
                               dashed=False))
    for gtt in gtts:
        if gtt.symbol == symbol and gtt.status == "active":
            for leg in gtt.legs:
                lines.append(_line(leg.trigger, "gtt", str(leg.side), gtt.gtt_id, f"GTT {leg.side} {leg.quantity}",
                                   dashed=True))
    return lines[:most]


def _line(price: Any, kind: str, side: str, owner: str, title: str, *, dashed: bool) -> dict[str, Any]:
    return {"price": float(price), "kind": kind, "side": side, "id": owner, "title": title,
            "color": BUY_COLOR if side == "BUY" else SELL_COLOR, "line_style": DASHED if dashed else SOLID}


def _level(order: Order) -> float | None:
    """Where an order waits: a limit's price, a stop's trigger (None for a market order)."""
    if order.order_type in (OrderType.SL, OrderType.SL_M) and order.trigger_price is not None:
        return float(order.trigger_price)
    return float(order.price) if order.price is not None else None


def program_lines(programs: Iterable[Program], orders: Iterable[Order], symbol: str, shown: np.ndarray,
                   step: int, timezone: str | tzinfo) -> list[dict[str, Any]]:
    """The stop and target of order programs as two dashed lines, at each leg's level from the candle it was placed
    in to the candle it ended in (or the end of the run while it works). A later leg wins where two overlap."""
    if not len(shown):
        return []
    by_id: dict[str, Order] = {o.order_id: o for o in orders}
    legs: dict[str, list[Order]] = {"stop": [], "target": []}
    for program in programs:
        if program.symbol != symbol or program.trails:
            continue
        for role, order_id in (("stop", program.stop_id), ("target", program.target_id)):
            order = by_id.get(order_id) if order_id else None
            if order is not None and order.created_at is not None and _level(order) is not None:
                legs[role].append(order)
    lines = []
    for role, found in legs.items():
        if not found:
            continue
        values = np.full(len(shown), np.nan)
        placed = wall_clock([o.created_at for o in found], timezone)
        ended = wall_clock([o.updated_at if o.updated_at is not None else o.created_at for o in found], timezone)
        for order, begin, finish in zip(found, placed, ended, strict=True):
            lo = int(np.searchsorted(shown, begin - begin % step if step else begin, side="left"))
            hi = int(np.searchsorted(shown, finish, side="right")) if order.status.is_terminal else len(shown)
            values[lo:hi] = _level(order)
        if np.isfinite(values).any():
            lines.append({"name": role, "pane": 0, "color": STOP_COLOR if role == "stop" else TARGET_COLOR,
                          "dashed": True, "time": shown.tolist(), "value": json_floats(values)})
    return lines


