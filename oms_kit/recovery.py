"""Reopening an account on a durable store: cash, positions, working orders (and the broker's book), the trading
state and the whole trading day (its orders in any status, its trades, its counts) come back as they were committed:
the first at once, the day's ended orders and trades when first read (:class:`DayBook`).

An order recorded but never acknowledged by the broker (NEW at the restart) is rejected with a reason rather than
sent again: the process that placed it is gone, so nobody is waiting for it, and a resend could double it. With a
live broker (``broker.live``) the broker's book outlived the process: such an order, and one whose cancel was under
way, may be working or filled there, so it is followed again as it stands and the reconciliation
(:mod:`oms_kit.reconcile`) looks it up at the broker by its tag, adopting what it finds (or rejecting it when the
broker never had it).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from oms_kit.fsm import OrderEvent, OrderEventType
from oms_kit.gtt import ACTIVE, GttBook
from oms_kit.models import Order, OrderStatus, TradingState, Validity, Variety
from oms_kit.orders import OrderManager
from oms_kit.programs import ACTIVE as PROGRAM_ACTIVE
from oms_kit.storage.base import Store
from oms_kit.storage.records import (
    fill_from_row,
    gtt_from_row,
    order_from_row,
    position_from_row,
    program_from_row,
    stored_decimal,
)

_TERMINAL = "(" + ", ".join(f"'{s.value}'" for s in OrderStatus if s.is_terminal) + ")"
_NOT_TERMINAL = "(" + ", ".join(f"'{s.value}'" for s in OrderStatus if not s.is_terminal) + ")"
_IDS_PER_QUERY = 1000


async def restore_account(store: Store, manager: OrderManager, now: datetime) -> bool:
    """Load the account's committed state into ``manager``; False when the store has never seen the account.

    What the OMS needs to go on comes back at once: cash, positions, the day's P&L base, the trading state, the
    working orders (with the broker's book) and today's counts. The rest of the day's book, the orders that ended
    and the trades made before the restart, is read when first needed (:class:`DayBook`).
    """
    account = manager.account
    stored = await store.fetch(
        "SELECT cash, day_began, day_base, day_closing_fills, day_winning_fills FROM accounts WHERE account = $1",
        account)
    if not stored:
        return False
    (row,) = stored
    positions = await store.fetch("SELECT * FROM positions WHERE account = $1", account)
    ledger = manager.ledger
    ledger.restore([position_from_row(p) for p in positions], stored_decimal(row["cash"]))
    if manager.recorder is not None:
        manager.recorder.marks_saved(ledger.positions)
    # Today is the exchange's day. Restarted on the day stored, the day goes on: its P&L counts from the stored
    # base, so a restart does not reset the daily loss limit. On a later day (or none stored) today begins now.
    manager.note_day(now)
    if row["day_began"] == manager.day.began and row["day_base"] is not None:
        ledger.day_base = stored_decimal(row["day_base"])  # type: ignore[assignment]
        manager.closing_fills = int(row["day_closing_fills"] or 0)
        manager.winning_fills = int(row["day_winning_fills"] or 0)
    else:
        ledger.start_day()
    # The stored last prices mark the positions, but they are not quotes: a price from before the restart may be
    # hours old, so market orders wait for a fresh one (NO_REFERENCE_PRICE until then) and the broker matches
    # nothing against it.

    state = await store.fetch("SELECT state FROM trading_state WHERE account = $1", account)
    if state:
        manager.trading_state = TradingState(state[0]["state"])

    # Both conditions on purpose: PostgreSQL answers the IN list from the (account, status) index, where NOT IN
    # alone scans every order (3 ms against 60 ms for 500 working orders among 100,000); DuckDB filters the NOT IN
    # inside its scan, where it would join every row with a long IN list (benchmarks/bench_restart.py).
    working = await store.fetch(
        f"SELECT * FROM orders WHERE account = $1 AND status IN {_NOT_TERMINAL} AND status NOT IN {_TERMINAL}",
        account)
    working.sort(key=lambda r: (r["created_at"], *_numbered(r["order_id"])))
    values = await _filled_values(store, account, [r["order_id"] for r in working if r["filled_quantity"]])
    for order_row in working:
        _restore_order(manager, order_from_row(order_row, values.get(order_row["order_id"], Decimal(0))), now)

    # Today's counts by the orders' stored status (the (account, created_at) index); what the restart resolved
    # just now (_restore_order) is counted there.
    for counted in await store.fetch(
            "SELECT status, COUNT(*) AS n FROM orders WHERE account = $1 AND created_at >= $2 GROUP BY status",
            account, manager.day.began):
        n = int(counted["n"])
        manager.counts["placed"] += n
        key = _COUNTED.get(OrderStatus(counted["status"]))
        if key:
            manager.counts[key] += n
    return True


class DayBook:
    """The part of a reopened account's trading day that :func:`restore_account` leaves in the store: the orders
    that ended and the trades made before the restart. Read once, when first needed, and put before what the OMS
    has seen since, so the day's book shows as it did before the restart.

    Reading it costs about as much as the rest of a reopen together (thousands of rows turned into objects), and a
    reopen is what a trader waits on after a crash; a read of the book can wait. Reads call :meth:`load` (blocking,
    through ``Store.fetch_blocking``); the order path awaits :meth:`load_async`, so a retried client order id of an
    order that ended before the restart is known before an order is placed.
    """

    def __init__(self, store: Store, manager: OrderManager, began: datetime) -> None:
        self.store = store
        self.manager = manager
        self.began = began
        self.loaded = False

    def load(self) -> None:
        """Read the rest of the day now, blocking, unless it was read already."""
        if not self.loaded:
            account = self.manager.account
            self._take(self.store.fetch_blocking(_DAY_ORDERS, account, self.began),
                       self.store.fetch_blocking(_DAY_TRADES, account, self.began))

    async def load_async(self) -> None:
        """:meth:`load` without blocking the event loop."""
        if not self.loaded:
            account = self.manager.account
            orders = await self.store.fetch(_DAY_ORDERS, account, self.began)
            trades = await self.store.fetch(_DAY_TRADES, account, self.began)
            if not self.loaded:  # a blocking load may have come first meanwhile
                self._take(orders, trades)

    def _take(self, order_rows: list[dict[str, Any]], trade_rows: list[dict[str, Any]]) -> None:
        manager = self.manager
        fills = sorted(map(fill_from_row, trade_rows), key=lambda f: (f.ts, *_numbered(f.trade_id)))
        values: dict[str, Decimal] = {}
        for fill in fills:
            values[fill.order_id] = values.get(fill.order_id, Decimal(0)) + fill.price * fill.quantity
        order_rows.sort(key=lambda r: (r["created_at"], *_numbered(r["order_id"])))
        # Orders the OMS holds (working at the restart, or placed since) are newer than the store's rows of them.
        ended = [order_from_row(r, values.get(r["order_id"], Decimal(0)))
                 for r in order_rows if r["order_id"] not in manager.orders]
        manager.take_earlier(ended, fills)
        self.loaded = True


_DAY_ORDERS = "SELECT * FROM orders WHERE account = $1 AND created_at >= $2"
_DAY_TRADES = "SELECT * FROM trades WHERE account = $1 AND ts >= $2"
_AT_THE_BROKER = frozenset({OrderStatus.NEW, OrderStatus.PENDING_SUBMIT, OrderStatus.PENDING_CANCEL})
_COUNTED = {OrderStatus.FILLED: "filled", OrderStatus.REJECTED: "rejected", OrderStatus.CANCELLED: "cancelled",
            OrderStatus.EXPIRED: "expired"}


def _numbered(identifier: str) -> tuple[str, int]:
    # Ids are "<kind>-<session token>-<number>": within one instant, a session's orders and trades in the order
    # they were numbered ("O-ab12cd-9" before "O-ab12cd-10"), which is how they happened.
    prefix, _, number = identifier.rpartition("-")
    return (prefix, int(number)) if number.isdigit() else (identifier, 0)


async def _filled_values(store: Store, account: str, order_ids: list[str]) -> dict[str, Decimal]:
    # The exact traded value of each part-filled working order (its stored average is rounded).
    # Only those orders' trades are read, not a join of every trade with the orders.
    values: dict[str, Decimal] = {}
    for start in range(0, len(order_ids), _IDS_PER_QUERY):
        chunk = order_ids[start:start + _IDS_PER_QUERY]
        marks = ", ".join(f"${i}" for i in range(2, len(chunk) + 2))
        for row in await store.fetch(
                f"SELECT order_id, SUM(price * quantity) AS value FROM trades WHERE account = $1 "
                f"AND order_id IN ({marks}) GROUP BY order_id", account, *chunk):
            values[row["order_id"]] = row["value"]
    return values


def _restore_order(manager: OrderManager, order: Order, now: datetime) -> None:
    manager.adopt(order, working=True)
    status = order.status
    if getattr(manager.broker, "live", False) is True and status in _AT_THE_BROKER:
        # The broker says what became of it (the module docstring), whatever its day: followed again as it is.
        instrument = manager.instruments.get(order.symbol)
        if instrument is not None:
            manager.broker.restore(order, instrument, now)  # type: ignore[attr-defined]
            return
    if status in (OrderStatus.NEW, OrderStatus.PENDING_SUBMIT):
        manager.counts["rejected"] += 1
        manager.transition(order, OrderEvent(OrderEventType.REJECTED, now,
                                             reason="not acknowledged by the broker before the restart"))
        return
    if status is OrderStatus.PENDING_CANCEL:  # the broker's book went with the process: the cancel is done
        manager.counts["cancelled"] += 1
        manager.transition(order, OrderEvent(OrderEventType.CANCELLED, now, reason="cancelled across the restart"))
        return
    if status is OrderStatus.PENDING_MODIFY:
        manager.transition(order, OrderEvent(OrderEventType.MODIFY_REJECTED, now,
                                             reason="modify not confirmed before the restart"))
    # An after-market order no session has opened on since it was placed still waits for the open: its day is
    # that session's, not the one it was placed on. With a calendar the open is its next one after the order
    # (a Friday evening's order waits through the weekend and a holiday), and it is of an earlier day only when
    # that session opened before today began.
    created, began = order.created_at, manager.day.began
    earlier = created < began  # type: ignore[operator]
    held = False
    if order.variety is Variety.AMO:
        limits, zone = manager.limits, manager.session.zone
        opened = limits.opened_since(created, now, zone)  # type: ignore[arg-type]
        held = opened is False
        if opened:
            earlier = bool(limits.opened_since(created, began, zone))  # type: ignore[arg-type]
    if held:
        manager.amo_waiting.add(order.order_id)
    elif order.validity is Validity.DAY and earlier:
        # An order of an earlier day: it counted in that day, and ends with it.
        manager.transition(order, OrderEvent(OrderEventType.EXPIRED, now,
                                             reason="DAY order of an earlier trading day, expired at the restart"))
        return
    instrument = manager.instruments.get(order.symbol)
    if instrument is None:
        manager.transition(order, OrderEvent(OrderEventType.CANCEL_REQUESTED, now))
        manager.transition(order, OrderEvent(OrderEventType.CANCELLED, now,
                                             reason=f"instrument {order.symbol} not known after the restart"))
        return
    manager.broker.restore(order, instrument, now, held=held)  # type: ignore[attr-defined]


async def restore_gtts(store: Store, account: str, book: GttBook) -> int:
    """Put the account's active GTTs back on ``book``'s price path (those past their expiry expire at the first
    price or listing); new GTT ids go on after every stored one. Returns how many were restored."""
    rows = await store.fetch("SELECT * FROM gtts WHERE account = $1 ORDER BY created_at, gtt_id", account)
    active = 0
    for row in rows:
        gtt = gtt_from_row(row)
        if gtt.status == ACTIVE:
            book.restore(gtt)
            active += 1
        else:
            book.reserve(gtt.gtt_id)
    return active


async def restore_programs(store: Store, account: str, manager: OrderManager) -> int:
    """Put the account's active order programs back on the manager, each watching its working orders again (the
    orders were restored before); new program ids go on after every stored one. Returns how many were active."""
    rows = await store.fetch("SELECT * FROM programs WHERE account = $1 ORDER BY created_at, program_id", account)
    book = manager.programs.book
    for row in rows:
        book.restore(program_from_row(row), manager.orders)
    return sum(1 for p in book.programs.values() if p.status == PROGRAM_ACTIVE)
