"""Recorder: what happens to an account, turned into rows for its store.

The order manager writes what happens on the order path into the recorder's ``journal``, a plain list, as typed
values: an :class:`~oms_kit.models.Order` when one is created (with its pre-trade decision), each
:class:`~oms_kit.fsm.OrderEvent` that :func:`~oms_kit.fsm.apply` stamped, each :class:`~oms_kit.models.Fill`, and a
:class:`~oms_kit.orders.Decision` on a modify. The rare changes (a new trading day, the trading state, an alert,
marks to save) call the recorder's methods. When the OMS takes the rows (:meth:`Recorder.take`), the journal becomes
rows, in the order things happened; the domain never builds a row, and the layouts are
:mod:`oms_kit.storage.records`'.

Why a journal and not a method call per change, or the event bus: an append is one C call, where a method call
per transition cost about 1 % of the order path (four per market order); the bus hands subscribers copies (an order
changes after the event), and the recorder needs none, because an applied event carries its own outcome and the
current state of an order, a position and the account is read when the rows are taken: one row each per take,
since only the latest state is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal

from oms_kit.fsm import OrderEvent
from oms_kit.models import Fill, Order, Position, Product
from oms_kit.orders import AccountFigures, Decision
from oms_kit.risk import RiskAlert
from oms_kit.storage.base import Write
from oms_kit.storage.records import (
    account_row,
    alert_row,
    created_row,
    decision_row,
    event_row,
    order_row,
    position_row,
    state_change_row,
    trade_row,
    trading_state_row,
)


class Recorder:
    """The rows one account's changes leave for its store, until the OMS takes them.

    ``figures`` reads the account's current figures for its row (the order manager's ``account_figures``),
    ``orders`` finds an order by id (the manager's book: an order it forgot has no row) and ``position`` a position
    by symbol and product (the ledger's).
    """

    def __init__(self, account: str, figures: Callable[[], AccountFigures], orders: Mapping[str, Order],
                 position: Callable[[str, Product], Position | None]) -> None:
        self.account = account
        self.figures = figures
        self.orders = orders
        self.position = position
        self.journal: list[Order | OrderEvent | Fill | Decision] = []  # the order path's changes, in order
        self.rows: list[Write] = []  # rows of the rare changes (trading state, alerts)
        # Positions whose mark moved (save_marks), and the time of the last change of the account's figures.
        self._marked: dict[tuple[str, Product], tuple[Position, datetime]] = {}
        self._account_changed: datetime | None = None
        # The mark each position's row was last written with. Rows follow fills; marks move with every price, so
        # save_marks() writes the positions whose mark moved, on the risk monitor's beat: a restart and a read-only
        # watcher then value positions at prices seconds old, for a row per position every few seconds rather
        # than one per tick.
        self._saved_marks: dict[tuple[str, Product], Decimal | None] = {}

    # -- the rare changes -------------------------------------------------------------------------------------

    def account_changed(self, ts: datetime) -> None:
        """The account's figures changed (a new trading day): its row is written with the next take."""
        self._account_changed = ts

    def trading_state(self, ts: datetime, change_id: str, previous: str, state: str, reason: str,
                      source: str) -> None:
        """The trading state changed: the current state and one entry of its history."""
        self.rows.append(trading_state_row(self.account, state, reason, source, ts))
        self.rows.append(state_change_row(change_id, self.account, ts, previous, state, reason, source))

    def alert(self, alert: RiskAlert) -> None:
        self.rows.append(alert_row(alert))

    # -- marks ------------------------------------------------------------------------------------------------

    def save_marks(self, positions: Iterable[Position], ts: datetime) -> None:
        """Have the next :meth:`take` write each of ``positions`` (the open ones) whose mark moved since its row
        was written."""
        saved, unsaved = self._saved_marks, self._marked
        for position in positions:
            key = (position.symbol, position.product)
            if position.last_price != saved.get(key) and key not in unsaved:
                unsaved[key] = (position, ts)

    def marks_saved(self, positions: Iterable[Position]) -> None:
        """Take these positions' marks as written (restored from their rows)."""
        self._saved_marks = {(p.symbol, p.product): p.last_price for p in positions}

    # -- the rows ---------------------------------------------------------------------------------------------

    def has_rows(self) -> bool:
        """Whether :meth:`take` has anything to give."""
        return bool(self.journal or self.rows or self._marked or self._account_changed is not None)

    def take(self) -> list[Write]:
        """The rows since the last call: the journal's and the rare changes' audit rows, and the current state of
        every order and position that changed (one row each) and of the account when it changed."""
        account, journal = self.account, self.journal
        rows: list[Write] = []
        append = rows.append
        changed: dict[str, None] = {}  # order ids, in the order they first changed
        positions: dict[tuple[str, Product], datetime] = {}
        for entry in journal:
            kind = type(entry)
            if kind is OrderEvent:
                append(event_row(account, entry))  # type: ignore[arg-type]
                changed[entry.order_id] = None  # type: ignore[union-attr]
            elif kind is Fill:
                append(trade_row(entry))  # type: ignore[arg-type]
                positions[(entry.symbol, entry.product)] = entry.ts  # type: ignore[union-attr]
                self._account_changed = entry.ts  # type: ignore[union-attr]
            elif kind is Decision:
                append(decision_row(*entry))  # type: ignore[misc]
            else:  # an Order, created: its first event and the pre-trade decision on it
                append(created_row(entry))  # type: ignore[arg-type]
                append(decision_row(f"D-{entry.order_id}", entry, entry.created_at,  # type: ignore[union-attr, arg-type]
                                    entry.violations))  # type: ignore[union-attr]
                changed[entry.order_id] = None  # type: ignore[union-attr]
        journal.clear()
        if self.rows:
            rows.extend(self.rows)
            self.rows = []
        orders = self.orders
        for order_id in changed:
            order = orders.get(order_id)
            if order is not None:  # None: forgotten, its rows refused by the store
                append(order_row(order))
        marked, self._marked = self._marked, {}
        for key, ts in positions.items():
            position = self.position(*key)
            if position is not None:
                marked[key] = (position, ts)
        saved = self._saved_marks
        for key, (position, ts) in marked.items():
            saved[key] = position.last_price
            append(position_row(position, ts))
        if self._account_changed is not None:
            append(self.account_row(self._account_changed))
            self._account_changed = None
        return rows

    def account_row(self, ts: datetime) -> Write:
        """The account's row as of ``ts``."""
        cash, began, base, closing, winning = self.figures()
        return account_row(self.account, cash, ts, began, base, closing, winning)
