"""Recorder: what happens to an account, turned into rows for its store.

The order manager and the risk monitor tell the recorder what happened — an order created with its pre-trade
decision, a transition of the state machine (the typed :class:`~oms_kit.fsm.OrderEvent` with the status it left), a
fill with the position it made, a change of the trading state, an alert — and the recorder keeps the rows until the
OMS takes them (:meth:`take`) and commits them. The domain never builds a row; the layouts are
:mod:`oms_kit.storage.records`'.

In memory (:meth:`buffer_into`) the rows go instead straight into the store's per-table lists
(``storage/behind.py``), each a list append on the order path, and :meth:`stage` adds the current state rows when
the store writes them.

Audit rows (events, trades, decisions, trading states, alerts) are kept as they happen. The current state of an
order, a position and the account is one row per :meth:`take`, built when the rows are taken, since only the latest
state is kept: a market order that is accepted and filled in one call writes its order row once.

The recorder is called directly, not through the event bus: the bus hands subscribers copies (an order changes
after the event), and the recorder needs none, because it reads the current state when the rows are taken.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import cast

from oms_kit.fsm import OrderEvent
from oms_kit.gtt import Gtt
from oms_kit.models import Fill, Order, OrderStatus, Position, Product, Violation
from oms_kit.orders import AccountFigures
from oms_kit.programs import Program
from oms_kit.risk import RiskAlert
from oms_kit.storage.base import Write
from oms_kit.storage.records import (
    account_row,
    alert_row,
    created_row,
    decision_row,
    event_row,
    gtt_row,
    order_row,
    position_row,
    program_row,
    state_change_row,
    trade_row,
    trading_state_row,
)


class Recorder:
    """The rows one account's changes leave for its store, until the OMS takes them.

    ``figures`` reads the account's current figures for its row (the order manager's ``account_figures``).
    """

    def __init__(self, account: str, figures: Callable[[], AccountFigures]) -> None:
        self.account = account
        self.figures = figures
        self.rows: list[Write] = []  # audit rows, in the order things happened
        # Where each kind of audit row goes: rows above, or (in memory) its table's list of the store's buffers.
        # Bound list appends, so the order path pays one C call per row either way.
        self._event = self._decision = self._trade = self._state = self._change = self._gtt = self._program = \
            self._alert = self.rows.append
        # Orders and positions changed since the last take(), and the time of the last change of the account's
        # figures: their rows (latest state only) are built by take().
        self._orders: dict[str, Order] = {}
        self._positions: dict[tuple[str, Product], tuple[Position, datetime]] = {}
        self._account_changed: datetime | None = None
        # The mark each position's row was last written with. Rows follow fills; marks move with every price, so
        # save_marks() writes the positions whose mark moved, on the risk monitor's beat: a restart and a read-only
        # watcher then value positions at prices seconds old, for a row per position every few seconds rather
        # than one per tick.
        self._saved_marks: dict[tuple[str, Product], Decimal | None] = {}
        self._tables: dict[str, list[Write]] = {}  # the store's buffers, in memory (buffer_into)
        self.events = 0  # transitions recorded so far, an order's creation included: a count of order activity

    # -- what happened ----------------------------------------------------------------------------------------

    def created(self, order: Order, violations: Sequence[Violation]) -> None:
        """An order was placed: its first event and the pre-trade decision on it."""
        self._orders[order.order_id] = order
        self.events += 1
        self._event(created_row(order))
        # prepare stamped created_at when it registered the order.
        self._decision(decision_row(f"D-{order.order_id}", order, cast(datetime, order.created_at), violations))

    def decided(self, decision_id: str, order: Order, ts: datetime, violations: Sequence[Violation]) -> None:
        """A pre-trade decision on a modify of ``order``."""
        self._decision(decision_row(decision_id, order, ts, violations))

    def changed(self, order: Order, event: OrderEvent, previous: OrderStatus) -> None:
        """``event`` moved ``order`` on from ``previous`` (already applied)."""
        self._orders[order.order_id] = order
        self.events += 1
        self._event(event_row(order, event, previous))

    def filled(self, fill: Fill, position: Position) -> None:
        """An execution, and the position (and cash) it changed."""
        self._trade(trade_row(fill))
        self._positions[(position.symbol, position.product)] = (position, cast(datetime, fill.ts))  # fills are timed
        self._account_changed = fill.ts

    def account_changed(self, ts: datetime) -> None:
        """The account's figures changed (a new trading day): its row is written with the next take."""
        self._account_changed = ts

    def trading_state(self, ts: datetime, change_id: str, previous: str, state: str, reason: str,
                      source: str) -> None:
        """The trading state changed: the current state and one entry of its history."""
        self._state(trading_state_row(self.account, state, reason, source, ts))
        self._change(state_change_row(change_id, self.account, ts, previous, state, reason, source))

    def gtt(self, gtt: Gtt) -> None:
        """A GTT was made or changed: its current state."""
        self._gtt(gtt_row(gtt, self.account))

    def program(self, program: Program) -> None:
        """An order program was made or changed: its current state."""
        self._program(program_row(program, self.account))

    def alert(self, alert: RiskAlert) -> None:
        self._alert(alert_row(alert))

    def forget(self, order_id: str) -> None:
        """An order the store refused is forgotten: its state row is not written."""
        self._orders.pop(order_id, None)

    # -- marks ------------------------------------------------------------------------------------------------

    def save_marks(self, positions: Iterable[Position], ts: datetime) -> None:
        """Have the next :meth:`take` write each of ``positions`` (the open ones) whose mark moved since its row
        was written."""
        saved, unsaved = self._saved_marks, self._positions
        for position in positions:
            key = (position.symbol, position.product)
            if position.last_price != saved.get(key) and key not in unsaved:
                unsaved[key] = (position, ts)

    def marks_saved(self, positions: Iterable[Position]) -> None:
        """Take these positions' marks as written (restored from their rows)."""
        self._saved_marks = {(p.symbol, p.product): p.last_price for p in positions}

    # -- the rows ---------------------------------------------------------------------------------------------

    def has_rows(self) -> bool:
        """Whether :meth:`take` has anything to give (in memory, whether :meth:`stage` has state rows to add)."""
        return bool(self.rows or self._orders or self._positions or self._account_changed is not None)

    def take(self) -> list[Write]:
        """The rows since the last call: audit rows, and the current state of every order and position that
        changed (one row each) and of the account when it changed."""
        rows = self.rows.copy()
        self.rows.clear()  # the list stays: the audit rows' appends are bound to it
        self._take_state(rows)
        return rows

    def buffer_into(self, tables: dict[str, list[Write]]) -> None:
        """From now on keep audit rows in ``tables`` (per table name, the list its rows wait in: an in-memory
        store's ``behind.tables``) rather than for :meth:`take`; :meth:`stage` adds the current state rows there."""
        self._event, self._decision, self._trade = (tables["order_events"].append, tables["risk_decisions"].append,
                                                    tables["trades"].append)
        self._state, self._change = tables["trading_state"].append, tables["trading_state_changes"].append
        self._gtt, self._program, self._alert = (tables["gtts"].append, tables["programs"].append,
                                                 tables["risk_alerts"].append)
        self._tables = tables
        for row in self.take():  # anything recorded before: into its table, in order
            tables[row[0]].append(row)

    def stage(self) -> None:
        """In memory (after :meth:`buffer_into`): put the current state of every order, position and account that
        changed since the last call into the tables, one row each. The store calls this before each write."""
        if self._orders or self._positions or self._account_changed is not None:
            tables = self._tables
            rows: list[Write] = []
            self._take_state(rows)
            for row in rows:
                tables[row[0]].append(row)

    def _take_state(self, rows: list[Write]) -> None:
        # Appends the state rows (orders, positions, account) changed since the last call to ``rows``.
        if self._orders:
            rows.extend(map(order_row, self._orders.values()))
            self._orders = {}
        if self._positions:
            saved = self._saved_marks
            for position, ts in self._positions.values():
                saved[(position.symbol, position.product)] = position.last_price
                rows.append(position_row(position, ts))
            self._positions = {}
        if self._account_changed is not None:
            rows.append(self.account_row(self._account_changed))
            self._account_changed = None

    def account_row(self, ts: datetime) -> Write:
        """The account's row as of ``ts``."""
        cash, began, base, closing, winning = self.figures()
        return account_row(self.account, cash, ts, began, base, closing, winning)
