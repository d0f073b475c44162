"""The risk monitor: the one owner of an account's trading state and what guards it.

:class:`RiskMonitor` changes the trading state (stored and published), pulls the kill switch (halt, cancel every
working order, optionally flatten) and lifts it, squares off, and runs the periodic risk check: limit uses measured
into WARN/BREACH alerts, the auto-trip on a daily-loss breach, the day's roll, the session's end, the broker's
intraday (MIS) square-off, sent orders whose acknowledgement never came, and the marks written for a restart. It
works on the order manager synchronously and leaves its rows there; the OMS commits them (``commit``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from oms_kit.contracts import slice_quantity
from oms_kit.errors import ConfigError, DataError, OmsError
from oms_kit.events import EventBus, RiskAlertRaised, TradingStateChanged
from oms_kit.market.clock import Clock
from oms_kit.models import Order, OrderStatus, Product, TradingState
from oms_kit.orders import OrderManager
from oms_kit.request import OrderRequest
from oms_kit.risk import AlertBook, LimitUse, RiskAlert, limit_uses
from oms_kit.settlement import Settlement, settle_expiries

log = logging.getLogger("oms_kit")

# Seconds (on the OMS clock) a sent order may wait for the broker's acknowledgement before the monitor asks.
ACK_TIMEOUT_S = 1.0
_state_changes = itertools.count(1)  # numbers trading state changes: two may share one instant (simulated clock)
_SESSION = secrets.token_hex(3)  # and two processes may number theirs alike


class RiskMonitor:
    """Trading state, kill switch, square-off, alerts and the periodic risk check of one account."""

    def __init__(self, manager: OrderManager, bus: EventBus, clock: Clock,
                 commit: Callable[[], Awaitable[None]]) -> None:
        self.manager = manager
        self.bus = bus
        self.clock = clock
        self.commit = commit
        self.account = manager.account
        self.alerts: list[RiskAlert] = []  # raised in this session (and, watching, by the writer)
        self.alert_book = AlertBook(self.account)
        self.failures = 0  # risk checks that raised
        self._awaiting_ack: dict[str, datetime] = {}  # order id -> when it was sent, until the broker answers
        self._mis_squared: dict[str, date] = {}  # symbol -> the exchange-local day its MIS was last squared off
        self._unsettled_alerted: set[str] = set()  # expired contracts reported as not settled (no price)

    # -- trading state ------------------------------------------------------------------------------------------

    def set_state(self, state: TradingState, reason: str, source: str) -> None:
        """Change the trading state now: stored (current state and its history) and published."""
        manager = self.manager
        previous = manager.trading_state
        manager.trading_state = state
        now = self.clock.now()
        if manager.recorder is not None:
            manager.recorder.trading_state(now, f"S-{_SESSION}-{now.timestamp():.6f}-{next(_state_changes)}",
                                           previous.value, state.value, reason, source)
        self.bus.publish(TradingStateChanged(now, previous, state, reason, source))

    async def kill_switch(self, reason: str, flatten: bool, source: str) -> list[Order]:
        """Halt, cancel every working order and, with ``flatten``, square off; see ``OMS.kill_switch``."""
        # A kill switch never fails for its wording: whatever the reason, it is kept as printable text.
        reason = "".join(c if c.isprintable() else " " for c in str(reason))[:1000] or "kill switch"
        self.set_state(TradingState.HALTED, reason, source)
        self.manager.cancel_all(reason=f"kill switch: {reason}")
        orders = await self.square_off(None, f"kill switch: {reason}") if flatten else []
        if flatten:
            self._report_residual(orders)
        await self.commit()
        return orders

    async def reset(self, reason: str, source: str) -> None:
        """Back to ACTIVE, unless the daily loss is still in breach (OmsError then)."""
        breach = daily_loss_breach(self.limit_uses())
        if breach is not None:
            raise OmsError(f"cannot reset the kill switch: the daily loss {breach.value} is still at or beyond the "
                           f"limit {breach.limit_value}", hint="close positions or wait for prices to recover, or "
                           "raise daily_loss_limit")
        self.set_state(TradingState.ACTIVE, reason, source)
        await self.commit()

    async def square_off(self, symbol: str | None, reason: str) -> list[Order]:
        """Cancel working orders and close open positions (of ``symbol``) with market orders; see
        ``OMS.square_off``."""
        self.manager.cancel_all(symbol, reason)
        orders = self._close(lambda sym, _product: symbol is None or sym == symbol, "square-off")
        await self.commit()
        return orders

    def _close(self, chosen: Callable[[str, Product], bool], tag: str, reduce_only: bool = True) -> list[Order]:
        # Market orders for the chosen positions, past the throttles (manager.squaring_off), in reduce-only mode;
        # without reduce_only in it only past a kill switch, so that working orders of another product on the same
        # side (a CNC buy beside an MIS short) do not hold the close back.
        manager = self.manager
        state = manager.trading_state
        if reduce_only or state is TradingState.HALTED:
            manager.trading_state = TradingState.REDUCING
        manager.squaring_off = True
        orders = []
        try:
            for sym, product, side, quantity in manager.ledger.square_off_orders():
                if not chosen(sym, product):
                    continue
                for size in self._slices(sym, quantity):
                    order = manager.place(OrderRequest(sym, side, size, product=product, tag=tag))
                    self.sent(order)
                    orders.append(order)
        finally:
            manager.trading_state = state
            manager.squaring_off = False
        return orders

    def mis_square_off(self, now: datetime) -> list[Order]:
        """The broker's intraday square-off: once a trading day, from ``RiskLimits.mis_square_off`` (exchange-local
        time, with a calendar) while the normal market is open, working MIS orders are cancelled and open MIS
        positions closed with market orders tagged ``auto-square-off``. Each symbol is squared off once a day, by
        its own limits; a position still open afterwards is reported as a BREACH alert ``mis_square_off_residual``.
        Run by :meth:`check`; returns the closing orders."""
        manager = self.manager
        if manager.limits.calendar is None and not manager.limits.per_symbol:
            return []  # no calendar anywhere: the cost of the check is this test
        symbols = {o.symbol for o in manager.live.values() if o.product is Product.MIS}
        symbols.update(p.symbol for p in manager.ledger.open_positions() if p.product is Product.MIS)
        local = (now if now.tzinfo is not None else now.replace(tzinfo=UTC)).astimezone(manager.session.zone)
        due = {symbol for symbol in symbols if self._mis_due(symbol, now, local)}
        if not due:
            return []
        for order in [o for o in manager.live.values() if o.symbol in due and o.product is Product.MIS]:
            manager.cancel(order.order_id, f"MIS square-off at {local.time().isoformat('minutes')}")
        orders = self._close(lambda sym, product: sym in due and product is Product.MIS, "auto-square-off",
                             reduce_only=False)
        for symbol in due:
            self._mis_squared[symbol] = local.date()
        log.info("account %s: MIS positions of %s squared off at %s", self.account, ", ".join(sorted(due)), now)
        for position in manager.ledger.open_positions():
            if position.symbol in due and position.product is Product.MIS:
                closing = [f"{o.order_id} {o.status}" + (f" ({o.violations[0].code})" if o.violations else "")
                           for o in orders if o.symbol == position.symbol]
                self._raise(RiskAlert(
                    f"A-{self.account}-mis-{len(self.alerts) + 1}", self.account, now, "BREACH",
                    "mis_square_off_residual", position.symbol, Decimal(abs(position.quantity)), Decimal(0),
                    f"the MIS square-off left {position.quantity:+d} {position.symbol} open; closing orders: "
                    + (", ".join(closing) or "none")), stored=True)
        return orders

    def settle_expiries(self, now: datetime, prices: Mapping[str, object] | None = None, *,
                        strict: bool = False) -> Settlement:
        """Settle the contracts expired at ``now`` (:func:`oms_kit.settlement.settle_expiries`): working orders in
        them cancelled, open positions closed at their settlement prices. Run by :meth:`check` from the earliest
        expiry close on; ``OMS.settle_expiries`` calls it with ``prices`` and ``strict``. A position left open for
        want of a price is a BREACH alert ``expiry_settlement``, once per contract, and is tried again later."""
        result = settle_expiries(self.manager, now, prices, strict=strict, retry=timedelta(0))  # each run
        if result.settled:
            log.info("account %s: %s settled at expiry", self.account,
                     ", ".join(f"{o.symbol} {o.quantity} at {o.average_price}" for o in result.settled))
        for unsettled in result.unsettled:
            if unsettled.symbol in self._unsettled_alerted:
                continue
            self._unsettled_alerted.add(unsettled.symbol)
            self._raise(RiskAlert(
                f"A-{self.account}-expiry-{len(self.alerts) + 1}", self.account, now, "BREACH", "expiry_settlement",
                unsettled.symbol, Decimal(abs(unsettled.quantity)), Decimal(0),
                f"{unsettled.quantity:+d} {unsettled.symbol} {unsettled.product} expired at "
                f"{unsettled.expired_at.isoformat()} and is not settled: {unsettled.reason}"), stored=True)
        return result

    def _mis_due(self, symbol: str, now: datetime, local: datetime) -> bool:
        limits = self.manager.limits_for(symbol)
        calendar, cutoff = limits.calendar, limits.mis_square_off
        if calendar is None or cutoff is None or local.time() < cutoff or self._mis_squared.get(symbol) == local.date():
            return False
        try:
            return calendar.phase(now) == "open"
        except (DataError, ConfigError):  # a year the calendar knows nothing of: no session to square off in
            return False

    def _slices(self, symbol: str, quantity: int) -> list[int]:
        # A position larger than the maximum order quantity (or the exchange's freeze quantity) closes in slices.
        instrument = self.manager.instruments.get(symbol)
        caps = [self.manager.limits_for(symbol).max_order_quantity, instrument.freeze_quantity if instrument else None]
        cap = min((c for c in caps if c is not None), default=None)
        return slice_quantity(quantity, cap, instrument.lot_size if instrument else 1)

    def _report_residual(self, orders: list[Order]) -> None:
        manager, now = self.manager, self.clock.now()
        for position in manager.ledger.open_positions():
            closing = [f"{o.order_id} {o.status}" + (f" ({o.violations[0].code})" if o.violations else "")
                       for o in orders if (o.symbol, o.product) == (position.symbol, position.product)]
            self._raise(RiskAlert(
                f"A-{self.account}-residual-{len(self.alerts) + 1}", self.account, now, "BREACH",
                "kill_switch_residual", position.symbol, Decimal(abs(position.quantity)), Decimal(0),
                f"flatten left {position.quantity:+d} {position.symbol} {position.product} open; closing orders: "
                + (", ".join(closing) or "none")), stored=True)

    # -- the periodic check -------------------------------------------------------------------------------------

    def limit_uses(self) -> list[LimitUse]:
        """Each account limit and how much of it is in use now."""
        return limit_uses(self.manager.limits, self.manager.ledger, len(self.manager.live))

    async def check(self) -> list[RiskAlert]:
        """One run of the risk monitor (``OMS.check_risk``); returns the new alerts."""
        manager = self.manager
        now = self.clock.now()
        self._reconcile(now)
        if now >= manager.settle_due:  # before the day rolls: a settlement's P&L is its expiry day's
            self.settle_expiries(now)
        if manager.roll_day(now):
            log.info("account %s: a new trading day began at %s", self.account, now)
        if manager.live and manager.limits.session_open(now, manager.session.zone) is False:
            manager.broker.end_session(now)
        self.mis_square_off(now)
        uses = self.limit_uses()
        alerts = self.alert_book.update(uses, now)
        for alert in alerts:
            self._raise(alert, stored=True)
        if manager.recorder is not None:  # positions at today's prices for a restart and for read-only watchers
            manager.recorder.save_marks(manager.ledger.open_positions(), now)
        action = manager.limits.auto_kill_on_daily_loss
        breach = daily_loss_breach(uses)
        if breach is not None and action is not None and manager.trading_state is TradingState.ACTIVE:
            reason = f"daily loss {breach.value} reached the limit {breach.limit_value}"
            if action is TradingState.HALTED:
                await self.kill_switch(reason, False, "daily loss")
            else:
                self.set_state(TradingState.REDUCING, reason, "daily loss")
        await self.commit()
        return alerts

    async def run(self, interval: float) -> None:
        """Run :meth:`check` every ``interval`` seconds. A failed run raises an alert and the loop goes on: the
        monitor never dies silently."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.check()
            except Exception as exc:
                self.failures += 1
                log.exception("risk monitor run failed")
                self._raise(RiskAlert(
                    f"A-{self.account}-monitor-{self.failures}", self.account, self.clock.now(), "BREACH",
                    "risk_monitor", None, Decimal(self.failures), Decimal(1),
                    f"risk monitor run failed: {type(exc).__name__}: {exc}"), stored=False)

    def sent(self, order: Order) -> None:
        """Note an order the broker took: still NEW, its acknowledgement has not come (a lost message, at a real
        broker); the next check asks the broker about it once ``ACK_TIMEOUT_S`` has passed."""
        if order.status is OrderStatus.NEW:
            self._awaiting_ack[order.order_id] = self.clock.now()

    def _reconcile(self, now: datetime) -> None:
        manager = self.manager
        for order_id, sent in list(self._awaiting_ack.items()):
            if manager.orders[order_id].status is not OrderStatus.NEW:
                del self._awaiting_ack[order_id]
            elif (now - sent).total_seconds() >= ACK_TIMEOUT_S:
                del self._awaiting_ack[order_id]
                known = getattr(manager.broker, "acknowledge", None)  # the broker's order status query, if it has one
                if known is None or not known(order_id, now):
                    manager.on_rejected(order_id, "no acknowledgement, and the broker does not know the order", now)

    def raise_alert(self, alert: RiskAlert) -> None:
        """Raise an alert found outside the periodic check (the reconciliation's): kept, stored and published."""
        self._raise(alert, stored=True)

    def _raise(self, alert: RiskAlert, *, stored: bool) -> None:
        self.alerts.append(alert)
        if stored and self.manager.recorder is not None:
            self.manager.recorder.alert(alert)
        self.bus.publish(RiskAlertRaised(alert.ts, alert))


def daily_loss_breach(uses: list[LimitUse]) -> LimitUse | None:
    """The daily loss limit's use when it is in breach."""
    return next((u for u in uses if u.limit_name == "daily_loss_limit" and u.level == "BREACH"), None)
