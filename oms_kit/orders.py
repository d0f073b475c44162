"""OrderManager: places, modifies and cancels orders through the state machine, and turns broker reports into
order transitions, trades and positions.

The books it keeps (orders, trades, counts, the day) and what the broker's reports, settlement at expiry and the
store's orders do to them are its base class's, :class:`~oms_kit.bookkeeping.Bookkeeping`; here are the account's
own requests (placing, modifying, cancelling), prices and the session, the day's roll and the reads.

Everything here is synchronous and in memory, so a backtest runs at the speed of Python. Each change is told to
the account's recorder (``oms_kit.storage.recorder``: rows for the store, which the async OMS facade commits before
it answers); a backtest has none.

Placing is two steps so that a durable OMS can commit the order before the broker sees it: :meth:`prepare`
parses, validates and registers the order (it counts against limits from that moment), :meth:`submit` sends it.
Between the two nothing can slip in that the checks did not see, because the checks and the registration run
without an ``await`` between them: one account's calls are serialised by the event loop itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final, NamedTuple, cast

from oms_kit.bookkeeping import Bookkeeping, copy_of
from oms_kit.broker.base import Broker
from oms_kit.check import CheckResult
from oms_kit.contracts import expiry_close
from oms_kit.errors import InvalidOrderError, OmsError
from oms_kit.events import EventBus, OrderUpdated
from oms_kit.exposure import CheckContext
from oms_kit.fsm import OrderEvent, OrderEventType
from oms_kit.gtt import GttBook, fire
from oms_kit.ledger import Ledger
from oms_kit.market.bars import Bar
from oms_kit.models import (
    ClientOrderId,
    Order,
    OrderId,
    OrderStatus,
    Side,
    TradingState,
    Variety,
    Violation,
)
from oms_kit.parsing import parse_disclosed_quantity, parse_price, parse_quantity, parse_text
from oms_kit.request import OrderRequest
from oms_kit.risk import RiskLimits
from oms_kit.session import NSE_SESSION, ExchangeSession
from oms_kit.tradable import Instrument
from oms_kit.validator import PreTradeValidator

E = OrderEventType
# Enum members as module globals: ``OrderStatus.NEW`` goes through the enum metaclass on every use.
_NEW: Final = OrderStatus.NEW
_REGULAR: Final = Variety.REGULAR
_SECOND: Final = timedelta(seconds=1)
MAX_REASON: Final = 1000  # of a cancel's reason, shown in the order's history
_MODIFIABLE: Final = frozenset({OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.TRIGGER_PENDING})
# settle_due before anyone has looked: the account may hold contracts (restored) that nobody has timed yet.
UNKNOWN_SETTLEMENT: Final = datetime.min.replace(tzinfo=UTC)


class OrderModifyRejected(OmsError):
    """A modify broke a rule; the order is unchanged. ``violations`` says which."""

    def __init__(self, order_id: str, violations: Sequence[Violation]) -> None:
        super().__init__(
            f"cannot modify order {order_id}: " + "; ".join(str(v) for v in violations),
            hint="the order keeps its previous quantity and prices",
        )
        self.violations = tuple(violations)


class AccountFigures(NamedTuple):
    """What an account's stored row keeps: the cash, and the current trading day (None before the first day)
    with the P&L base it began with and today's closing and winning fills."""

    cash: Decimal
    day_began: datetime | None
    day_base: Decimal | None
    closing_fills: int | None
    winning_fills: int | None


class OrderManager(Bookkeeping):
    """The orders of one account, their lifecycle and what they do to positions and cash."""

    def __init__(
        self,
        *,
        account: str,
        broker: Broker,
        ledger: Ledger,
        instruments: dict[str, Instrument],
        limits: RiskLimits,
        bus: EventBus,
        now: Callable[[], datetime],
        validator: PreTradeValidator | None = None,
        session: ExchangeSession = NSE_SESSION,
    ) -> None:
        super().__init__(account=account, ledger=ledger, limits=limits, bus=bus, session=session)
        self.broker = broker
        self.instruments = instruments
        self.now = now
        self.validator = validator or PreTradeValidator()
        self.trading_state = TradingState.ACTIVE
        self.squaring_off = False  # square-off orders skip the rate and duplicate throttles
        # After-market orders the broker holds until the session opens (open_session); emptied then.
        self.amo_waiting: set[str] = set()
        self.limits_by_symbol: dict[str, RiskLimits] = {}
        # The earliest expiry close (oms_kit.contracts) of a contract the account holds or has working orders in:
        # from then on oms_kit.settlement has something to do. UNKNOWN_SETTLEMENT until it first looks (positions
        # and orders restored on a reopen were not timed); placing an order in a contract brings it forward.
        self.settle_due = UNKNOWN_SETTLEMENT
        # Told of each order a program or a GTT sends on its own (the OMS's risk monitor waits for its
        # acknowledgement); nothing in a backtest.
        self.sent: Callable[[Order], None] = _unheard
        # Order programs (brackets, cover orders, trailing stops, icebergs; Bookkeeping made the engine) and GTTs:
        # their maps of what they watch are empty while none is active, so the hooks below cost one truth test each.
        self._trailing = self.programs.book.trailing
        self.gtts = GttBook()
        self._gtt_watching = self.gtts.watching
        broker.attach(self)

    # -- placing ----------------------------------------------------------------------------------------------

    def prepare(self, request: OrderRequest) -> tuple[Order, bool]:
        """Check and register an order. Returns ``(order, send)``: ``send`` is False for a rejected order and for
        an identical retry of a known client order id (then ``order`` is the existing one)."""
        # One unpacking: each field read by name is a descriptor call on a tuple subclass, ten times the cost.
        (symbol, side, quantity, order_type, price, trigger_price, product, validity, client_order_id, tag,
         variety, disclosed) = request
        self._next_id += 1
        # Plain str: ids are str at run time, and calling a NewType costs a Python call per order.
        order = Order(
            f"O-{self._token}-{self._next_id}",  # type: ignore[arg-type]
            client_order_id or f"C-{self._token}-{self._next_id}",  # type: ignore[arg-type]  # (as above)
            symbol, side, quantity, order_type, product,
            validity, price, trigger_price, tag, self.account,
        )
        if variety is not _REGULAR:
            order.variety = variety
        if disclosed:
            order.disclosed_quantity = disclosed
        exposure = self.exposure
        if client_order_id is not None and client_order_id in exposure.client_ids:
            existing = self.orders[exposure.client_ids[client_order_id]]
            if request.same_payload(existing):
                return existing, False
        now = self.now()
        order.created_at = order.updated_at = now
        violations = self.validator.validate(order, CheckContext(self, order, now))
        recent = exposure.recent  # placements of the last second, for the order-rate check (inline: every order)
        recent.append(now)
        while now - recent[0] > _SECOND:
            recent.popleft()
        self.orders[order.order_id] = order
        exposure.client_ids.setdefault(order.client_order_id, order.order_id)
        self.counts["placed"] += 1
        if self.recorder is not None:
            self.recorder.created(order, violations)
        if "order" in self.bus.wanted:  # one event per stored order event, creation included
            self.bus.publish(OrderUpdated(now, copy_of(order), "CREATED", None))
        if violations:
            order.violations = tuple(violations)
            self.counts["rejected"] += 1
            self._transition(order, OrderEvent(E.REJECTED, now, reason="; ".join(str(v) for v in violations)))
            return order, False
        exposure.accepted(order, now)
        self.live[order.order_id] = order
        if variety is not _REGULAR:
            self.amo_waiting.add(order.order_id)
        exposure.hold(order, self.prices.get(order.symbol), self.limits.mis_leverage)
        return order, True

    def explain(self, request: OrderRequest) -> list[CheckResult]:
        """Dry run: every check on this order as if placed now; nothing is registered or recorded."""
        order = Order(OrderId("DRY-RUN"), ClientOrderId("DRY-RUN"), request.symbol, request.side, request.quantity,
                      request.order_type, request.product, request.validity, request.price, request.trigger_price,
                      request.tag, self.account, variety=request.variety,
                      disclosed_quantity=request.disclosed_quantity)
        return self.validator.explain(order, CheckContext(self, order, self.now()))

    def submit(self, order: Order) -> None:
        """Send a prepared order to the broker; its reports arrive through the ``on_*`` methods."""
        if order.status is not _NEW:
            return  # resolved meanwhile (e.g. rejected when the kill switch tripped while it was being committed)
        instrument = self.instruments[order.symbol]
        if instrument.expiry is not None:  # a contract: its expiry may be the next settlement
            close = expiry_close(instrument)
            if close < self.settle_due:  # type: ignore[operator]
                self.settle_due = close  # type: ignore[assignment]
        self.broker.submit(order, instrument, self.now())

    def place(self, request: OrderRequest) -> Order:
        """prepare() and submit() in one step, for callers that need not commit in between (backtests)."""
        order, send = self.prepare(request)
        if send:
            self.submit(order)
        return order

    def reject_unsent(self, order: Order, reason: str) -> None:
        """Refuse a prepared order that has not reached the broker (kill switch, lost database)."""
        if order.status is OrderStatus.NEW:
            self.counts["rejected"] += 1
            self._transition(order, OrderEvent(E.REJECTED, self.now(), reason=reason))
            if self._watched:
                # The REJECTED transition just stamped updated_at.
                self.programs.ended(order, cast(datetime, order.updated_at))

    # -- modify and cancel ------------------------------------------------------------------------------------

    def modify(
        self,
        order_id: object,
        quantity: object = None,
        price: object = None,
        trigger_price: object = None,
        disclosed_quantity: object = None,
    ) -> Order:
        """Change quantity, price, trigger or disclosed quantity of a working order. Raises OrderModifyRejected when
        a rule forbids it.

        The arguments come as the caller gave them (typed ``object``: a compiled build would refuse a wrong type
        with a bare TypeError before the parse below could name the field)."""
        order = self.get(order_id)
        if order.status not in _MODIFIABLE:
            raise OmsError(f"cannot modify order {order_id}: status is {order.status}",
                           hint="only open or trigger-pending orders can be modified")
        changes: dict[str, Any] = {}
        if quantity is not None:
            changes["quantity"] = parse_quantity(quantity)
            if changes["quantity"] <= order.filled_quantity:
                raise InvalidOrderError("quantity", quantity, f"more than the {order.filled_quantity} already filled",
                                        hint="to stop the rest, cancel the order")
        if price is not None:
            if not order.order_type.needs_price:
                raise InvalidOrderError("price", price, f"no price for a {order.order_type} order")
            changes["price"] = parse_price(price)
        if trigger_price is not None:
            if not order.order_type.needs_trigger:
                raise InvalidOrderError("trigger_price", trigger_price, f"no trigger for a {order.order_type} order")
            changes["trigger_price"] = parse_price(trigger_price, "trigger_price")
        if disclosed_quantity is not None:
            changes["disclosed_quantity"] = parse_disclosed_quantity(disclosed_quantity)
        if not changes:
            raise InvalidOrderError("quantity/price/trigger_price/disclosed_quantity", None, "at least one new value")
        now = self.now()
        candidate = copy_of(order)
        for name, value in changes.items():
            setattr(candidate, name, value)
        violations = self.validator.validate(candidate, CheckContext(self, candidate, now, modify_of=order))
        if self.recorder is not None:  # a modify is a pre-trade decision too; keyed by its MODIFY_REQUESTED event
            self.recorder.decided(f"D-{order.order_id}-{order.sequence + 1}", order, now, violations)
        self._transition(order, OrderEvent(E.MODIFY_REQUESTED, now, changes=changes))
        if violations:
            self._transition(order, OrderEvent(E.MODIFY_REJECTED, now, reason="; ".join(map(str, violations))))
            raise OrderModifyRejected(order.order_id, violations)
        self.broker.modify(order, changes, now)
        return order

    def cancel(self, order_id: object, reason: object = "cancelled by user") -> Order:
        """Cancel a working order (at the broker; an order not sent yet is rejected). Raises OmsError for an order
        that is not working, InvalidOrderError for a bad id or reason (both as given, as for :meth:`modify`)."""
        order = self.get(order_id)
        reason = parse_text(reason, "reason", MAX_REASON)
        if order.status is OrderStatus.PENDING_CANCEL:
            return order
        if order.status is OrderStatus.NEW:
            self.reject_unsent(order, reason)
            return order
        if order.status not in _MODIFIABLE:
            raise OmsError(f"cannot cancel order {order_id}: status is {order.status}",
                           hint="only working orders can be cancelled")
        now = self.now()
        self._transition(order, OrderEvent(E.CANCEL_REQUESTED, now, reason=reason))
        self.broker.cancel(order, reason, now)
        return order

    def cancel_all(self, symbol: object = None, reason: object = "cancel all") -> list[Order]:
        chosen = [o for o in self.live.values() if symbol is None or o.symbol == symbol]
        # An order's cancel may end others on the way (an order program cancels its other leg): those are done.
        return [self.cancel(o.order_id, reason) for o in chosen if o.order_id in self.live]

    # -- prices and the session -------------------------------------------------------------------------------

    def on_bar(self, bar: Bar) -> Decimal:
        """A bar of ``bar.symbol`` (or a tick: a bar whose four prices are one): the position is marked to its
        close, rounded to the tick, and the broker matches resting orders on it. Returns that mark."""
        symbol = bar.symbol
        instrument = self.instruments.get(symbol)
        price = instrument.round_price(bar.close) if instrument else Decimal(str(bar.close))
        self.prices[symbol] = price
        self.ledger.mark(symbol, price)
        if self.amo_waiting:
            self.open_session(bar.timestamp)
        self.broker.on_bar(bar)
        if self._trailing and symbol in self._trailing:
            self.programs.priced(symbol, bar.high, bar.low, bar.timestamp)
        if self._gtt_watching and symbol in self._gtt_watching:
            fire(self.gtts, self, symbol, bar, self.now())
        return price

    def open_session(self, ts: datetime) -> bool:
        """Send the after-market orders out when the session is open at ``ts`` (the market hours of
        :class:`~oms_kit.risk.RiskLimits`: its session times or its calendar, whose next open may be days away
        across a weekend or a holiday; without either the market never closes); True when it is. Each price calls
        this while one waits: an order can only trade on a price, so the first after the open is the moment."""
        if self.limits.session_open(ts, self.session.zone) is False:
            return False
        self.amo_waiting.clear()
        self.broker.open_session(ts)
        return True

    def roll_day(self, ts: datetime) -> bool:
        """Begin the exchange-local day of ``ts`` when it is later than the current one; True when a day ended.

        The day ends: DAY orders that have had a price to trade on expire (``broker.end_day``, at this manager's
        clock), the ledger starts the day's P&L again (so the daily loss limit measures each day on its own) and
        today's counts start from zero. The first call only notes the day. A backtest's runner calls this at each
        new day's first bar, the OMS's risk monitor on its clock; whichever comes first ends the day, once.
        """
        day = self.day
        if ts < day.end:
            return False
        ended = day.noted
        if ended:
            if self.live:
                self.broker.end_day(self.now())
            self.ledger.start_day()
            day.begin(self.counts, len(self.trades), self.closing_fills, self.winning_fills)
        self.note_day(ts)
        return ended

    def note_day(self, ts: datetime) -> None:
        """Make the exchange-local day of ``ts`` the current one, without ending the one before (see
        :meth:`roll_day`)."""
        self.day.note(ts)
        if self.recorder is not None:  # the account's row carries the day, so that a restart keeps it
            self.recorder.account_changed(ts)

    # -- reads ------------------------------------------------------------------------------------------------

    def get(self, order_id: object) -> Order:
        if not isinstance(order_id, str):
            raise InvalidOrderError("order_id", order_id, "an order id string, as in the order_id column of orders()")
        order = self.orders.get(order_id)
        if order is None:
            raise OmsError(f"unknown order id {order_id!r}", hint="order ids look like the order_id column of orders()")
        return order

    def find_by_client_id(self, client_order_id: str) -> Order | None:
        order_id = self.exposure.client_ids.get(client_order_id)
        return self.orders[order_id] if order_id else None

    def limits_for(self, symbol: str) -> RiskLimits:
        limits = self.limits_by_symbol.get(symbol)
        if limits is None:
            limits = self.limits_by_symbol[symbol] = self.limits.for_symbol(symbol)
        return limits

    def set_limits(self, limits: RiskLimits) -> None:
        self.limits = limits
        self.limits_by_symbol.clear()

    def account_figures(self) -> AccountFigures:
        """What the account's stored row keeps: cash, and the current day with the P&L base it began with and
        today's closing and winning fills (None before the first day)."""
        began = self.day.began
        if began is None:
            return AccountFigures(self.ledger.cash, None, None, None, None)
        closing, winning = self.day.closing_today(self.closing_fills, self.winning_fills)
        return AccountFigures(self.ledger.cash, began, self.ledger.day_base, closing, winning)

    def working_quantity(self, symbol: str, side: Side) -> int:
        """Remaining quantity of the working orders on one side of ``symbol``."""
        return self.exposure.working(symbol, side)


def _unheard(order: Order) -> None:
    pass
