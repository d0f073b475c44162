"""Bookkeeping: the books of an account's order manager (its orders, the working ones, the trades, the counts and
today's figures) and what changes them other than the account's own requests: the broker's reports, each a
state-machine event, with the fills they book into the trades and the ledger; settlement at expiry; and orders
and trades read back from the store (a reopen, a watched account).

A part of :class:`~oms_kit.orders.OrderManager` (it inherits these methods), kept in a module of its own; placing,
modifying and cancelling, prices and the session, and the reads are the manager's. Both are compiled (a native
class may inherit from one other native class of the build, as here); whatever this class's methods read is set
in its ``__init__``, which the manager's calls first, so the compiled code reads every field without a check.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from oms_kit.day import TradingDay
from oms_kit.errors import OmsError
from oms_kit.events import EventBus, OrderFilled, OrderUpdated, PositionChanged
from oms_kit.exposure import Exposure
from oms_kit.fsm import OrderEvent, OrderEventType, apply
from oms_kit.ledger import Ledger
from oms_kit.models import TERMINAL_STATUSES, Fill, Order, OrderStatus, OrderType, Product, Side, Validity
from oms_kit.program_engine import ProgramEngine
from oms_kit.risk import RiskLimits
from oms_kit.session import NSE_SESSION, ExchangeSession

if TYPE_CHECKING:  # the recorder is the storage's, which reads oms_kit.orders' AccountFigures
    from oms_kit.storage.recorder import Recorder

E = OrderEventType
_ZERO: Final = Decimal(0)
_ACCEPTED: Final = E.ACCEPTED
_FILLED: Final = E.FILLED
_PARTIALLY_FILLED: Final = E.PARTIALLY_FILLED
_CENT: Final = Decimal("0.01")
SETTLEMENT_TAG: Final = "expiry-settlement"  # the tag of the order that books a contract's settlement at expiry
# Ends the trade id of a settlement's trade: the marker a trade carries (the trades table has no tag), by which a
# contract note leaves it out (the exchange settles, nothing is traded or charged).
SETTLEMENT_SUFFIX: Final = "-settlement"


class Bookkeeping:
    """The books of an order manager and what the broker, settlement and the store do to them (see the module
    docstring); :class:`~oms_kit.orders.OrderManager` is the class to use."""

    # session's default is the manager's: being no literal, it keeps a compiled build from writing this signature
    # into the class, where ``inspect.signature(OrderManager)`` would find it (the manager's own has none either).
    def __init__(self, *, account: str, ledger: Ledger, limits: RiskLimits, bus: EventBus,
                 session: ExchangeSession = NSE_SESSION) -> None:
        self.account = account
        self.ledger = ledger
        self.limits = limits
        self.bus = bus
        # Told of every change, for the store (set by the OMS); None: nothing is recorded (backtests, watchers).
        self.recorder: Recorder | None = None
        self.orders: dict[str, Order] = {}
        self.live: dict[str, Order] = {}  # not terminal: counts against open-order and position limits
        self.trades: list[Fill] = []
        self.prices: dict[str, Decimal] = {}
        self.exposure = Exposure()  # margin and quantity of working orders, recent placements, client ids
        self._token = secrets.token_hex(3)
        self._next_id = 0
        self._next_trade = 0
        self.counts = {"placed": 0, "rejected": 0, "filled": 0, "cancelled": 0, "expired": 0}
        # Fills that realized P&L (closing fills), those that realized a gain, and the gains and losses they
        # realized, gross of fees: since the manager began (a reopened account: since the day began).
        self.closing_fills = 0
        self.winning_fills = 0
        self.gross_won = _ZERO
        self.gross_lost = _ZERO
        # The current exchange-local day (roll_day): when it ends, and the counters, trades and closing fills as
        # they stood when it began, which today's figures start from.
        self.session = session  # the exchange's time zone: the day, the session hours
        self.day = TradingDay(session.zone)
        # Order programs (brackets, cover orders, trailing stops, icebergs), run over the manager (this object):
        # their map of the orders they watch is empty while none is active, so a report's hook costs one truth test.
        self.programs = ProgramEngine(self)
        self._watched = self.programs.book.watched

    # -- broker reports (BrokerSink) --------------------------------------------------------------------------

    def on_accepted(self, order_id: str, ts: datetime) -> None:
        self._transition(self.orders[order_id], OrderEvent(_ACCEPTED, ts))

    def on_rejected(self, order_id: str, reason: str, ts: datetime) -> None:
        self.counts["rejected"] += 1
        self._transition(self.orders[order_id], OrderEvent(E.REJECTED, ts, reason=reason))
        if self._watched:
            self.programs.ended(self.orders[order_id], ts)

    def on_triggered(self, order_id: str, ts: datetime) -> None:
        self._transition(self.orders[order_id], OrderEvent(E.TRIGGERED, ts))

    def on_modified(self, order_id: str, changes: dict[str, Any], ts: datetime) -> None:
        self._transition(self.orders[order_id], OrderEvent(E.MODIFIED, ts, changes=changes))

    def on_cancelled(self, order_id: str, reason: str, ts: datetime) -> None:
        order = self.orders[order_id]
        if order.status is not OrderStatus.PENDING_CANCEL:  # a broker-side cancel: record the request first
            self._transition(order, OrderEvent(E.CANCEL_REQUESTED, ts, reason=reason))
        self.counts["cancelled"] += 1
        self._transition(order, OrderEvent(E.CANCELLED, ts, reason=reason))
        if self._watched:
            self.programs.ended(order, ts)

    def on_expired(self, order_id: str, reason: str, ts: datetime) -> None:
        self.counts["expired"] += 1
        self._transition(self.orders[order_id], OrderEvent(E.EXPIRED, ts, reason=reason))
        if self._watched:
            self.programs.ended(self.orders[order_id], ts)

    def on_fill(self, order_id: str, quantity: int, price: Decimal, fees: Decimal, ts: datetime) -> None:
        order = self.orders[order_id]
        complete = quantity == order.quantity - order.filled_quantity
        self._transition(order, OrderEvent(_FILLED if complete else _PARTIALLY_FILLED, ts, quantity, price))
        if complete:
            self.counts["filled"] += 1
        self._book_fill(order, quantity, price, fees, ts)
        if self._watched and order_id in self._watched:
            self.programs.filled(order, quantity, price, ts)

    def _book_fill(self, order: Order, quantity: int, price: Decimal, fees: Decimal, ts: datetime,
                   suffix: str = "") -> None:
        # A fill of ``order`` into the trades, the ledger, the closing-fill counts, the rows and the events.
        self._next_trade += 1
        fill = Fill(f"T-{self._token}-{self._next_trade}{suffix}", order.order_id,  # type: ignore[arg-type]
                    order.symbol, order.side, quantity, price, fees, ts, order.product, self.account)
        self.trades.append(fill)
        before = self.ledger.position(order.symbol, order.product)
        realized_before = before.realized_pnl if before is not None else _ZERO
        position = self.ledger.apply_fill(fill)
        realized = position.realized_pnl - realized_before
        if realized:  # a closing fill: what it realized, for the win rate and the profit factor
            self.closing_fills += 1
            if realized > 0:
                self.winning_fills += 1
                self.gross_won += realized
            else:
                self.gross_lost -= realized
        if self.recorder is not None:
            self.recorder.filled(fill, position)
        bus = self.bus
        if "fill" in bus.wanted:
            bus.publish(OrderFilled(ts, fill))
        if "position" in bus.wanted:
            bus.publish(PositionChanged(ts, copy_of(position)))

    # -- settlement at expiry ---------------------------------------------------------------------------------

    def settle(self, symbol: str, product: Product, price: Decimal, ts: datetime, reason: str) -> Order:
        """Close the open ``symbol``/``product`` position at ``price``: a contract's settlement at expiry.

        The settlement is an order tagged :data:`SETTLEMENT_TAG` (MARKET, DAY, the position's product, the side
        that closes it), accepted and FILLED at once at ``price`` with ``reason`` on the order, without the broker
        or the pre-trade checks (the exchange settles; nothing is traded), and its trade, booked like any fill: the
        ledger realizes the P&L, the trade is in ``trades`` with no charges and a trade id ending in
        :data:`SETTLEMENT_SUFFIX`, the rows and events follow. ``price`` may be 0 (an option that expires
        worthless). :mod:`oms_kit.settlement` decides what settles and at which price. Raises OmsError when the
        position is flat.
        """
        position = self.ledger.position(symbol, product)
        held = position.quantity if position is not None else 0
        if not held:
            raise OmsError(f"no open {symbol} {product.value} position to settle")
        quantity = abs(held)
        self._next_id += 1
        order = Order(
            f"O-{self._token}-{self._next_id}",  # type: ignore[arg-type]
            f"C-{self._token}-{self._next_id}", symbol, Side.SELL if held > 0 else Side.BUY,  # type: ignore[arg-type]
            quantity, OrderType.MARKET, product, Validity.DAY, None, None, SETTLEMENT_TAG, self.account,
        )
        order.created_at = order.updated_at = ts
        self.orders[order.order_id] = order
        self.counts["placed"] += 1  # as a restart counts it, from the stored orders of the day
        if self.recorder is not None:
            self.recorder.created(order, ())
        if "order" in self.bus.wanted:
            self.bus.publish(OrderUpdated(ts, copy_of(order), "CREATED", None))
        self._transition(order, OrderEvent(_ACCEPTED, ts))
        # The state machine's FILLED is an execution at a positive price. A settlement is no execution and may be
        # at 0, so its one fill is applied here as apply() would: the whole quantity at one price.
        event = OrderEvent(_FILLED, ts, quantity, price, reason=reason)
        previous = order.status
        order.filled_quantity = quantity
        order.filled_value = price * quantity
        cents = price.quantize(_CENT)
        order.average_price = cents if cents == price else price  # shown as a price, as apply() shows one
        order.status = OrderStatus.FILLED
        order.reason = reason
        order.updated_at = ts
        order.sequence += 1
        if self.recorder is not None:
            self.recorder.changed(order, event, previous)
        if "order" in self.bus.wanted:
            self.bus.publish(OrderUpdated(ts, copy_of(order), event.type.value, previous.value))
        self.counts["filled"] += 1
        self._book_fill(order, quantity, price, _ZERO, ts, SETTLEMENT_SUFFIX)
        return order

    # -- the books from the store -----------------------------------------------------------------------------

    def adopt(self, order: Order, *, working: bool) -> None:
        """Take in an order read back from the store (a reopen, a watched account) as it stands: known by its id
        and client id, and when ``working`` counted against the limits (margin, working quantity, open orders)."""
        self.orders[order.order_id] = order
        self.exposure.client_ids[order.client_order_id] = order.order_id
        if working and not order.is_terminal:
            self.live[order.order_id] = order
        else:
            self.live.pop(order.order_id, None)
        self.exposure.hold(order, self.prices.get(order.symbol), self.limits.mis_leverage)

    def forget(self, order: Order) -> None:
        """Undo the placing of an order whose records the store refused (a value it cannot hold): it was never
        stored, so it leaves the book, the counts and the limits as if never placed. Its events were published."""
        order_id = order.order_id
        self.orders.pop(order_id, None)
        self.live.pop(order_id, None)
        if self.recorder is not None:
            self.recorder.forget(order_id)
        client_ids = self.exposure.client_ids
        if client_ids.get(order.client_order_id) == order_id:
            del client_ids[order.client_order_id]
        self.exposure.release(order)
        self.counts["placed"] -= 1
        if order.status is OrderStatus.REJECTED:
            self.counts["rejected"] -= 1

    def take_earlier(self, orders: Sequence[Order], fills: Sequence[Fill]) -> None:
        """Put orders and trades from before this manager began (read back from the store) before its own, as if it
        had seen them: the book and the trades stay in the order things happened. Orders and trades it holds
        already are left as they are; ``orders`` must not be working (the working ones were adopted at the start).
        """
        book: dict[str, Order] = {o.order_id: o for o in orders if o.order_id not in self.orders}
        # The first order's id wins.
        client_ids: dict[str, str] = {o.client_order_id: o.order_id for o in reversed(book.values())}
        client_ids.update((c, i) for c, i in self.exposure.client_ids.items() if c not in client_ids)
        self.exposure.client_ids = client_ids
        book.update(self.orders)
        self.orders = book
        known = {f.trade_id for f in self.trades}
        earlier = [f for f in fills if f.trade_id not in known]
        self.trades[:0] = earlier
        if self.day.first_trade:  # a day ended since: today's trades still begin at the same one
            self.day.first_trade += len(earlier)

    def transition(self, order: Order, event: OrderEvent) -> None:
        """Apply ``event`` to ``order`` through the state machine, with its rows and events (a reopen resolving
        what the restart interrupted)."""
        self._transition(order, event)

    # -- internals --------------------------------------------------------------------------------------------

    def _transition(self, order: Order, event: OrderEvent) -> None:
        previous = apply(order, event)
        # An acceptance changes neither the quantity nor the price the margin was held for.
        if event.type is not _ACCEPTED and order.order_id in self.exposure.held:
            self.exposure.hold(order, self.prices.get(order.symbol), self.limits.mis_leverage)
        if order.status in TERMINAL_STATUSES:
            self.live.pop(order.order_id, None)
        if self.recorder is not None:
            self.recorder.changed(order, event, previous)
        if "order" in self.bus.wanted:
            self.bus.publish(OrderUpdated(event.ts, copy_of(order), event.type.value, previous.value))


def copy_of(obj: Any) -> Any:
    """A copy of an order or a position, made through its constructor, as the events carry them (so a listener
    never holds the object the manager goes on changing); the manager's modify checks a copy too."""
    return dataclasses.replace(obj)
