"""The account's book as a reader sees it: its orders and trades, whatever the day they belong to.

The trading day is in memory (:class:`~oms_kit.orders.OrderManager`); a reopened account's ended orders and earlier
trades of the day join it when first read (:class:`~oms_kit.recovery.DayBook`); anything older is read from the
store a page at a time (:class:`~oms_kit.history.History`). :class:`Book` puts the three together behind the OMS's
reads (``get_order``, ``find_order``, ``orders``, ``trades``), which delegate to it. It only reads: nothing here
changes the account.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from oms_kit.errors import ConfigError, InvalidOrderError
from oms_kit.history import History, parse_limit, parse_moment
from oms_kit.models import Order, OrderStatus, Side
from oms_kit.orders import OrderManager
from oms_kit.recovery import DayBook
from oms_kit.tables import orders_frame, trades_frame


class Book:
    """The orders and trades of one account, for reading.

    ``history`` is None when memory holds the account's whole history (a store that is not durable); ``day_book``
    is None unless the account was reopened with a day already under way. ``by_placement`` sorts the day's orders
    by when they were placed: a read-only watcher learns of orders as they change, not as they were placed.
    """

    def __init__(self, manager: OrderManager, history: History | None, day_book: DayBook | None, *,
                 by_placement: bool = False) -> None:
        self.manager = manager
        self.history = history
        self.day_book = day_book
        self.by_placement = by_placement

    def load_day_book(self) -> None:
        """Read the rest of a reopened account's trading day into memory, once (see ``OMS.load_day_book``)."""
        if self.day_book is not None and not self.day_book.loaded:
            self.day_book.load()

    def get_order(self, order_id: str) -> Order:
        """The order with this id, of any day; OmsError when the account has none (see ``OMS.get_order``)."""
        if not isinstance(order_id, str):
            raise InvalidOrderError("order_id", order_id, "an order id string, as in the order_id column of orders()")
        manager = self.manager
        order = manager.orders.get(order_id)
        if order is None:
            self.load_day_book()
            order = manager.orders.get(order_id)
        if order is None and self.history is not None:
            order = self.history.order(order_id)
        return order if order is not None else manager.get(order_id)

    def find_order(self, client_order_id: str) -> Order | None:
        """The order of the day placed with this client order id, or None."""
        self.load_day_book()
        return self.manager.find_by_client_id(client_order_id)

    def orders(self, symbol: Any = None, status: Any = None, side: Any = None, since: Any = None,
               until: Any = None, limit: Any = None) -> pd.DataFrame:
        """Orders in placement order, filtered (see ``OMS.orders``)."""
        symbol, status_value, side_value, since, until, limit = self.query(symbol, status, side, since, until, limit)
        self.load_day_book()
        chosen = [
            o for o in self.manager.orders.values()
            if (symbol is None or o.symbol == symbol) and (status_value is None or o.status is status_value)
            and (side_value is None or o.side is side_value)
            and (since is None or o.created_at >= since) and (until is None or o.created_at <= until)  # type: ignore[operator]
        ]
        if self.by_placement:
            chosen.sort(key=placed)
        if limit is not None:
            chosen = chosen[-limit:]
        if self.history is not None and self.history.reaches_back(since, until) and (limit is None or
                                                                                       len(chosen) < limit):
            older = self.history.orders(symbol=symbol, status=status_value, side=side_value, since=since,
                                        until=until, limit=None if limit is None else limit - len(chosen),
                                        skip=self.manager.orders)
            chosen = sorted(older + chosen, key=placed)
        return orders_frame(chosen)

    def trades(self, symbol: Any = None, since: Any = None, until: Any = None, limit: Any = None) -> pd.DataFrame:
        """Fills, oldest first, filtered (see ``OMS.trades``)."""
        symbol, _, _, since, until, limit = self.query(symbol, None, None, since, until, limit)
        self.load_day_book()
        chosen = [f for f in self.manager.trades
                  if (symbol is None or f.symbol == symbol) and (since is None or f.ts >= since)  # type: ignore[operator]
                  and (until is None or f.ts <= until)]  # type: ignore[operator]
        if limit is not None:
            chosen = chosen[-limit:]
        if self.history is not None and self.history.reaches_back(since, until) and (limit is None or
                                                                                       len(chosen) < limit):
            chosen = self.history.trades(symbol=symbol, since=since, until=until,
                                         limit=None if limit is None else limit - len(chosen)) + chosen
        return trades_frame(chosen)

    def query(self, symbol: Any, status: Any, side: Any, since: Any, until: Any,
              limit: Any) -> tuple[str | None, OrderStatus | None, Side | None, datetime | None, datetime | None,
                                   int | None]:
        """The filters of :meth:`orders` and :meth:`trades`, checked at the door like an order's fields: ConfigError
        (or InvalidOrderError for a status or side) naming the field. Naive times are exchange-local."""
        if symbol is not None and not isinstance(symbol, str):
            raise ConfigError("symbol", symbol, "a symbol string or None")
        zone = self.manager.session.zone
        return (symbol, OrderStatus.parse(status, "status") if status else None,
                Side.parse(side, "side") if side else None, parse_moment(since, "since", zone),
                parse_moment(until, "until", zone), parse_limit(limit))


def placed(order: Order) -> tuple[datetime, str, int]:
    """The key that sorts orders as they were placed: by creation time, then by the order's number within its
    session ("O-ab12cd-9" before "O-ab12cd-10")."""
    prefix, _, number = order.order_id.rpartition("-")
    return order.created_at, prefix, int(number) if number.isdigit() else 0  # type: ignore[return-value]
