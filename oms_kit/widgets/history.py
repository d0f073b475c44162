"""Order and trade history with filters: symbol, status, side and a time range."""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from datetime import datetime, time
from typing import Any, TypeVar

import ipywidgets as w

from oms_kit.snapshot import OrderView, TradeView, order_history, symbols, trade_history
from oms_kit.widgets.base import DEFAULT_INTERVAL, OmsLike, Panel, classed, row_count
from oms_kit.widgets.format import cell, clock_time, money, table

ALL = "all"
STATUSES = ["NEW", "OPEN", "TRIGGER_PENDING", "PARTIALLY_FILLED", "FILLED", "CANCELLED", "REJECTED", "EXPIRED"]
ORDER_COLUMNS = [("time", "l"), ("order", "l"), ("side", "l"), ("qty", "r"), ("symbol", "l"), ("type", "l"),
                 ("price", "r"), ("status", "l"), ("filled", "r"), ("avg", "r"), ("reason", "l")]
TRADE_COLUMNS = [("time", "l"), ("trade", "l"), ("order", "l"), ("side", "l"), ("qty", "r"), ("symbol", "l"),
                 ("price", "r"), ("fees", "r")]
_CLOCK = re.compile(r"^\d{1,2}:\d{2}(:\d{2})?$")
Item = TypeVar("Item", OrderView, TradeView)


def parse_time(text: str, field_name: str) -> datetime | None:
    """``HH:MM[:SS]`` (today, local time) or an ISO date-time (naive is local time); empty is None."""
    text = text.strip()
    if not text:
        return None
    try:
        if _CLOCK.match(text):
            fields: Any = (int(p) for p in text.split(":"))  # hours, minutes and maybe seconds (_CLOCK)
            moment = datetime.combine(datetime.now().date(), time(*fields))
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{field_name}: {text!r} was given; HH:MM, HH:MM:SS or an ISO date-time is allowed") from None
    return moment.astimezone() if moment.tzinfo is None else moment


class HistoryPanel(Panel):
    """The session's orders and trades, newest first, filtered by symbol, status (orders), side and time.

    At most ``max_rows`` of each are shown; only the open tab is drawn. ``orders_shown`` and ``trades_shown`` are
    the rows last found for the filters (:class:`~oms_kit.snapshot.OrderView`, :class:`~oms_kit.snapshot.TradeView`).
    The rows are the day's book in memory, read like ``oms.orders()`` and ``oms.trades()`` (a reopened account's
    earlier orders and trades of the day included).
    """

    kinds = ("order", "fill")
    title_text = "History"
    css_class = "oms-history"

    def __init__(self, oms: OmsLike, *, max_rows: int = 100, interval: float = DEFAULT_INTERVAL,
                 every: float | None = None) -> None:
        self.max_rows = row_count("max_rows", max_rows)
        super().__init__(oms, interval=interval, every=every)

    def _build(self) -> list[w.Widget]:
        self._rows: dict[Hashable, list[str]] = {}
        self.orders_shown: tuple[OrderView, ...] = ()
        self.trades_shown: tuple[TradeView, ...] = ()
        known = symbols(self.oms)
        small = w.Layout(width="170px")
        self.symbol = classed(w.Dropdown(options=[ALL, *known], value=ALL, description="symbol", layout=small),
                              "oms-filter-symbol")
        self.status = classed(w.Dropdown(options=[ALL, *STATUSES], value=ALL, description="status",
                                         layout=w.Layout(width="210px")), "oms-filter-status")
        self.side = classed(w.Dropdown(options=[ALL, "BUY", "SELL"], value=ALL, description="side", layout=small),
                            "oms-filter-side")
        self.since = classed(w.Text(placeholder="HH:MM", description="from", layout=small), "oms-filter-since")
        self.until = classed(w.Text(placeholder="HH:MM", description="to", layout=small), "oms-filter-until")
        for field in (self.symbol, self.status, self.side, self.since, self.until):
            field.observe(self.handler("filter", self.refresh_now), names="value")
        self.orders_table = classed(w.HTML(), "oms-history-orders")
        self.trades_table = classed(w.HTML(), "oms-history-trades")
        self.tabs = w.Tab([self.orders_table, self.trades_table])
        self.tabs.set_title(0, "Orders")
        self.tabs.set_title(1, "Trades")
        self.tabs.observe(self.handler("tab", self.refresh_now), names="selected_index")
        filters = w.HBox([self.symbol, self.status, self.side, self.since, self.until],
                         layout=w.Layout(flex_flow="row wrap"))
        return [filters, self.tabs]

    def refresh(self) -> None:
        symbol = None if self.symbol.value == ALL else self.symbol.value
        side = None if self.side.value == ALL else self.side.value
        status = None if self.status.value == ALL else self.status.value
        try:
            since = parse_time(self.since.value, "from")
            until = parse_time(self.until.value, "to")
        except ValueError as exc:
            self.say(str(exc), "error")
            return
        self.say("")
        limit = self.max_rows
        orders = order_history(self.oms, symbol=symbol, status=status, side=side, since=since, until=until,
                               limit=limit)
        trades = trade_history(self.oms, symbol=symbol, side=side, since=since, until=until, limit=limit)
        self.orders_shown, self.trades_shown = orders, trades
        # Only the open tab is drawn: the other one's table would be sent to the browser for nothing.
        if self.tabs.selected_index == 1:
            rows = [self._cached(("trade", t.trade_id), _trade_row, t) for t in trades]
            self.trades_table.value = table(TRADE_COLUMNS, rows, empty="no trades match")
        else:
            rows = [self._cached(("order", o.order_id, o.status, o.filled_quantity, o.reason), _order_row, o)
                    for o in orders]
            self.orders_table.value = table(ORDER_COLUMNS, rows, empty="no orders match")
        self.tabs.set_title(0, f"Orders ({len(orders):,}{'+' if len(orders) >= limit else ''})")
        self.tabs.set_title(1, f"Trades ({len(trades):,}{'+' if len(trades) >= limit else ''})")

    def _cached(self, key: Hashable, render: Callable[[Item], list[str]], item: Item) -> list[str]:
        # A row is formatted once per state of its order (trades never change): a redraw during a burst of fills
        # formats the few new rows, not the hundred shown.
        row = self._rows.get(key)
        if row is None:
            if len(self._rows) > 4 * self.max_rows:
                self._rows.clear()
            row = self._rows[key] = render(item)
        return row


def _side(side: str) -> str:
    return f"<span class='{'oms-up' if side == 'BUY' else 'oms-down'}'>{cell(side)}</span>"


def _order_row(o: OrderView) -> list[str]:
    reason = ", ".join(o.violations) or o.reason
    return [clock_time(o.created_at), cell(o.order_id), _side(o.side), f"{o.quantity:,}", cell(o.symbol),
            cell(o.order_type), cell(o.price), cell(o.status), f"{o.filled_quantity:,}",
            cell(o.average_price), cell(reason)]


def _trade_row(t: TradeView) -> list[str]:
    return [clock_time(t.ts), cell(t.trade_id), cell(t.order_id), _side(t.side), f"{t.quantity:,}",
            cell(t.symbol), money(t.price), money(t.fees)]
