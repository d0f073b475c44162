"""An account's history beyond what the OMS holds in memory, read from the store a page at a time.

A reopened OMS holds the current trading day (every order created since the day began, the working orders of any
day, every trade since the day began) and whatever happens while it runs. Orders and trades from before that are
in the store only: :class:`History` reads them when a query's window reaches back there, bounded by ``limit`` and
served by the ``(account, created_at)`` and ``(account, ts)`` indexes, so an account with a million stored orders
is never loaded whole. The reads block the caller (the OMS's table methods are plain functions); they are for a
person or a report looking back, not for the order path.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, tzinfo
from decimal import Decimal
from typing import Any

from oms_kit.errors import ConfigError
from oms_kit.models import Fill, Order, OrderStatus, Side
from oms_kit.storage.base import Store
from oms_kit.storage.records import fill_from_row, order_from_row

_MOMENTS = "a datetime, a date or an ISO 8601 time such as '2026-12-04T09:15'"


def parse_moment(value: Any, field: str, zone: tzinfo) -> datetime | None:
    """A query bound as an aware datetime: a datetime or pandas Timestamp (naive ones are exchange-local time),
    a date (its midnight at the exchange) or an ISO 8601 string; None stays None. Raises ConfigError."""
    if value is None:
        return None
    moment = value
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment.strip())
        except ValueError:
            raise ConfigError(field, value, _MOMENTS) from None
    elif isinstance(moment, date) and not isinstance(moment, datetime):
        moment = datetime.combine(moment, time(0))
    if not isinstance(moment, datetime):
        raise ConfigError(field, value, _MOMENTS)
    if moment != moment:  # pandas' NaT is a datetime that equals nothing
        raise ConfigError(field, value, "a datetime, a date or an ISO 8601 time, not NaT")
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=zone)
    return moment


def parse_limit(value: Any) -> int | None:
    """``limit`` of a history query: None or a whole number >= 1. Raises ConfigError."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError("limit", value, "None or a whole number >= 1")
    return value


class History:
    """The stored history of ``account`` from before ``held_since``, the instant from which the OMS holds every order
    created and every trade made in memory."""

    def __init__(self, store: Store, account: str, held_since: datetime) -> None:
        self.store = store
        self.account = account
        self.held_since = held_since

    def reaches_back(self, since: datetime | None, until: datetime | None) -> bool:
        """Whether a window bounded by ``since``/``until`` starts before what memory holds (None: no bound; a
        window with neither bound is the book in memory)."""
        return any(bound is not None and bound < self.held_since for bound in (since, until))

    def orders(self, *, symbol: str | None, status: OrderStatus | None, side: Side | None, since: datetime | None,
               until: datetime | None, limit: int | None, skip: Iterable[str]) -> list[Order]:
        """Stored orders created in the window and before ``held_since``, oldest first, at most the newest
        ``limit``, leaving out the ids in ``skip`` (orders memory holds already). Their ``filled_value`` is not
        read (a table needs only the stored average); :meth:`order` reads it."""
        skipped = set(skip)
        where, params = self._window("created_at", since, until)
        for column, value in (("symbol", symbol), ("status", status), ("side", side)):
            if value is not None:
                params.append(str(value))
                where.append(f"{column} = ${len(params)}")
        sql = f"SELECT * FROM orders WHERE {' AND '.join(where)} ORDER BY created_at DESC, order_id DESC"
        if limit is not None:
            sql += f" LIMIT {limit + len(skipped)}"  # the skipped ones may be among the newest
        rows = [r for r in self.store.fetch_blocking(sql, *params) if r["order_id"] not in skipped]
        return [order_from_row(r, Decimal(0)) for r in reversed(rows[:limit] if limit is not None else rows)]

    def trades(self, *, symbol: str | None, since: datetime | None, until: datetime | None,
               limit: int | None) -> list[Fill]:
        """Stored trades made in the window and before ``held_since``, oldest first, at most the newest ``limit``."""
        where, params = self._window("ts", since, until)
        if symbol is not None:
            params.append(symbol)
            where.append(f"symbol = ${len(params)}")
        sql = f"SELECT * FROM trades WHERE {' AND '.join(where)} ORDER BY ts DESC, trade_id DESC"
        if limit is not None:
            sql += f" LIMIT {limit}"
        return [fill_from_row(r) for r in reversed(self.store.fetch_blocking(sql, *params))]

    def order(self, order_id: str) -> Order | None:
        """The stored order with this id, whenever it was placed, or None."""
        rows = self.store.fetch_blocking("SELECT * FROM orders WHERE account = $1 AND order_id = $2",
                                         self.account, order_id)
        if not rows:
            return None
        (value,) = self.store.fetch_blocking(
            "SELECT SUM(price * quantity) AS value FROM trades WHERE account = $1 AND order_id = $2",
            self.account, order_id)
        return order_from_row(rows[0], value["value"] or Decimal(0))

    def _window(self, column: str, since: datetime | None, until: datetime | None) -> tuple[list[str], list[Any]]:
        where, params = ["account = $1", f"{column} < $2"], [self.account, self.held_since]
        for bound, operator in ((since, ">="), (until, "<=")):
            if bound is not None:
                params.append(bound)
                where.append(f"{column} {operator} ${len(params)}")
        return where, params
