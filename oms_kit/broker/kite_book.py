"""The orders a :class:`~oms_kit.broker.kite.KiteBroker` follows, and what Kite's books and the sender's reports do
to them.

The broker polls Kite's order book and trade book (or a push channel receives them) and hands them to
:meth:`KiteBook.apply`; the sender's outcomes come to :meth:`KiteBook.report`. Both run on the event loop and tell
the OMS through the broker's sink, one state-machine event at a time:

* **Statuses** (:mod:`oms_kit.broker.kite_status`): an order stays NEW until Kite has validated it (Kite may still
  reject it before that, and keeps its ``status_message`` as the reason); OPEN, TRIGGER PENDING or an after-market
  order held by the broker make it accepted; a stop order showing OPEN has triggered; CANCELLED ends it (an IOC
  order's remainder as expired). A trade is proof of acceptance and of a trigger.
* **Fills** come from the trade book, one per trade (each ``trade_id`` once), partial fills included, at the
  exchange's own timestamps; an order restored after a restart does not book again the quantity it had filled.
* **Fees**: Kite does not report charges per trade, so each fill is charged by the kit's fee model, as the simulated
  broker charges it; brokerage is capped per order, so each order's traded value so far is kept.
* **Cancels**: an order the OMS has ended that still works at Kite is cancelled there (once until the sender is
  done with it). What cannot be applied (a fill of an order the OMS has ended) is kept in ``mismatches``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from oms_kit.broker.base import BrokerSink
from oms_kit.broker.fees import FeeModel, fee_keywords
from oms_kit.broker.kite_config import ADOPTED_PREFIX, kite_tag
from oms_kit.broker.kite_sender import Command, Report
from oms_kit.broker.kite_status import (
    CANCEL_UNDER_WAY,
    Stage,
    broker_message,
    kite_time,
    plausible,
    stage,
    trade_price,
    triggered,
    whole_number,
)
from oms_kit.broker.rates import to_trade_date
from oms_kit.fsm import OrderEvent, OrderEventType
from oms_kit.models import Order, OrderStatus, OrderType, Validity
from oms_kit.parsing import MAX_PRICE
from oms_kit.tradable import Instrument

log = logging.getLogger("oms_kit")

_MODIFIABLE = frozenset({OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.TRIGGER_PENDING})
_STOPS = frozenset({OrderType.SL, OrderType.SL_M})

__all__ = ["KiteBook"]


class KiteBook:
    """The orders a KiteBroker follows, and the application of Kite's books and the sender's reports to them; see
    the module docstring.

    Parameters
    ----------
    fee_model : what each fill is charged (Kite reports no charges per trade).
    sink : gives the order manager the updates go to (raises OmsError while the broker is not attached).
    now : the OMS's "now", for updates that carry no time of their own.
    send : queues a command for the sender (the cancels this book decides on).
    """

    def __init__(self, fee_model: FeeModel, *, sink: Callable[[], BrokerSink], now: Callable[[], datetime],
                 send: Callable[[Command], None]) -> None:
        self.fee_model = fee_model
        self._fee_keywords = fee_keywords(fee_model)
        self._sink, self._now, self._send = sink, now, send
        self.orders: dict[str, Order] = {}  # followed: sent, or working, or ended here but not yet at the broker
        self.ids: dict[str, str] = {}  # OMS order id -> Kite order id (the sender writes it on a place)
        self.restored: set[str] = set()  # restored after a restart and not yet seen at the broker
        self.mismatches: list[dict[str, Any]] = []  # what the OMS could not apply (for reconciliation)
        self.fills = 0
        self._instruments: dict[str, Instrument] = {}
        self._tags: dict[str, str] = {}  # Kite tag -> OMS order id
        self._seen: set[str] = set()  # trade ids applied (or set aside)
        self._skip: dict[str, int] = {}  # restored orders: quantity filled before the restart, already booked
        self._turnover: dict[str, Decimal] = {}  # per order, traded value so far (brokerage is capped per order)
        self._cancel_reasons: dict[str, str] = {}
        self._cancelling: set[str] = set()  # a cancel is queued or being sent
        self._statuses: dict[str, str] = {}  # OMS order id -> Kite status last seen
        self._by_broker: dict[str, str] = {}  # Kite order id -> OMS order id, of orders adopted from the broker

    # -- which orders are followed ------------------------------------------------------------------------------

    def follow(self, order: Order, instrument: Instrument) -> None:
        """Follow ``order`` (known at Kite by its tag)."""
        self.orders[order.order_id] = order
        self._instruments[order.order_id] = instrument
        self._tags[kite_tag(order.account, order.order_id)] = order.order_id

    def unfollow(self, order_id: str) -> None:
        """Stop following an order: it has ended at the broker, or the broker never had it."""
        self.orders.pop(order_id, None)
        self._cancelling.discard(order_id)
        self._cancel_reasons.pop(order_id, None)
        self._skip.pop(order_id, None)

    def restore(self, order: Order, instrument: Instrument) -> None:
        """Follow a working order again after a restart: the quantity it had filled is booked already, so the first
        trades up to it are not applied again."""
        self.follow(order, instrument)
        self.restored.add(order.order_id)
        if order.order_id.startswith(ADOPTED_PREFIX):  # adopted from the broker: known there by Kite's id only
            self._adopted(order.order_id, order.order_id[len(ADOPTED_PREFIX):])
        self._skip[order.order_id] = order.filled_quantity
        if order.filled_quantity and order.average_price is not None:
            self._turnover[order.order_id] = order.filled_quantity * order.average_price

    def adopt(self, order: Order, instrument: Instrument, broker_id: str) -> None:
        """Follow an order known at Kite by its order id ``broker_id`` alone."""
        self.follow(order, instrument)
        self._adopted(order.order_id, broker_id)

    def release(self, order_id: str) -> None:
        """Stop following an order the broker does not have (restored or not)."""
        self.unfollow(order_id)
        self.restored.discard(order_id)

    def local_id(self, entry: dict[str, Any]) -> str | None:
        """The followed order a row of Kite's order book is (by its tag, or by Kite's id for an adopted one), or
        None."""
        tag = entry.get("tag")
        order_id = self._tags.get(tag) if isinstance(tag, str) else None
        if order_id is None:
            order_id = self._by_broker.get(str(entry.get("order_id")))
        if order_id is None or order_id not in self.orders:
            return None
        known = self.ids.get(order_id)
        return order_id if known is None or known == str(entry.get("order_id")) else None

    def cancel(self, order: Order, reason: str) -> None:
        """Queue the cancel of ``order``; ``reason`` is the one its CANCELLED event gives."""
        self._cancel_reasons[order.order_id] = reason
        self._queue_cancel(order)

    # -- applying what the broker says --------------------------------------------------------------------------

    def apply(self, orders: list[dict[str, Any]], trades: list[dict[str, Any]]) -> None:
        """Apply Kite's order book and trade book (as ``kite.orders()`` and ``kite.trades()`` give them) to the
        followed orders: acceptance, rejection, trigger, fills (each trade once), cancellation. On the loop."""
        by_order: dict[str, list[dict[str, Any]]] = {}
        for trade in trades:
            trade_id = str(trade.get("trade_id"))
            if trade_id not in self._seen:
                by_order.setdefault(str(trade.get("order_id")), []).append(trade)
        for entry in orders:
            order_id = self.local_id(entry)
            if order_id is None:
                continue  # not one this OMS follows (reconciliation lists those it does not know)
            broker_id = str(entry.get("order_id"))
            self.ids.setdefault(order_id, broker_id)
            fills = sorted(by_order.get(broker_id, []), key=lambda t: (_when(t), str(t.get("trade_id"))))
            try:
                self._apply_order(self.orders[order_id], entry, fills)
            except Exception:  # one order's trouble must not stop the others' updates
                log.exception("applying Kite's update of order %s failed", order_id)

    def report(self, report: Report) -> bool:
        """Apply what came of a command the sender sent; True when it is news (the next poll should come now)."""
        order = self.orders.get(report.order_id)
        if report.kind == "done":
            self._cancelling.discard(report.order_id)
        elif order is None:
            return False
        elif report.kind == "dropped":  # ended here before it was sent: the broker never had it
            self.unfollow(order.order_id)
        elif report.kind == "rejected":
            if order.status is OrderStatus.NEW:
                self._sink().on_rejected(order.order_id, f"refused by the broker: {report.reason}", self._now())
            self.unfollow(order.order_id)
        elif report.kind == "modify_refused":
            self._undo_modify(order, report)
        return True

    def _apply_order(self, order: Order, entry: dict[str, Any], fills: list[dict[str, Any]]) -> None:
        sink, now = self._sink(), self._now()
        self.restored.discard(order.order_id)
        status, kind = str(entry.get("status")), stage(entry.get("status"))
        self._statuses[order.order_id] = status
        when = plausible(kite_time(entry.get("exchange_timestamp") or entry.get("order_timestamp"), now), now)
        # A trade is proof of acceptance and of a trigger: the order book and the trade book are read one after the
        # other, and the order may have traded in between.
        if order.status is OrderStatus.NEW:
            if kind is Stage.PENDING and not fills:
                return
            if kind is Stage.REJECTED and not fills:
                sink.on_rejected(order.order_id, broker_message(entry, "rejected by the broker"), when)
                self.unfollow(order.order_id)
                return
            sink.on_accepted(order.order_id, when)
        if order.status is OrderStatus.TRIGGER_PENDING and order.order_type in _STOPS \
                and (fills or triggered(status, whole_number(entry.get("filled_quantity")))):
            sink.on_triggered(order.order_id, when)
        for trade in fills:
            self._seen.add(str(trade.get("trade_id")))
            self._fill(order, trade, now)
        if order.is_terminal:
            if order.status is not OrderStatus.FILLED and not kind.final and status not in CANCEL_UNDER_WAY:
                self._queue_cancel(order)  # ended here while its place was under way: it must not work at Kite
            elif kind.final:
                self.unfollow(order.order_id)
            return
        if kind is Stage.CANCELLED or kind is Stage.REJECTED:
            words = broker_message(entry, "cancelled at the broker")
            reason = self._cancel_reasons.pop(order.order_id, None)
            if order.validity is Validity.IOC and reason is None:
                sink.on_expired(order.order_id, words, when)
            else:
                sink.on_cancelled(order.order_id, reason or words, when)
            self.unfollow(order.order_id)
        elif kind is Stage.COMPLETE and order.status is OrderStatus.FILLED:
            self.unfollow(order.order_id)
        elif order.status is OrderStatus.PENDING_CANCEL and kind is Stage.WORKING \
                and status not in CANCEL_UNDER_WAY:
            self._queue_cancel(order)  # the cancel went through but the order still works: ask again

    def _fill(self, order: Order, trade: dict[str, Any], now: datetime) -> None:
        quantity, price = whole_number(trade.get("quantity")), trade_price(trade.get("average_price"))
        skip = self._skip.get(order.order_id, 0)
        if skip:  # booked before a restart
            self._skip[order.order_id] = max(skip - quantity, 0)
            if quantity <= skip:
                return
            quantity -= skip
        remaining = order.quantity - order.filled_quantity
        if order.is_terminal or order.status is OrderStatus.NEW or price is None or price > MAX_PRICE \
                or not 0 < quantity <= remaining:
            self._mismatch(order, "a fill the order cannot take", trade)
            return
        ts = plausible(kite_time(trade.get("fill_timestamp") or trade.get("exchange_timestamp"), now), now)
        try:
            fees = self._fees(order, quantity, price, ts)
            self._sink().on_fill(order.order_id, quantity, price, fees, ts)
        except Exception as exc:  # the trade is seen: it is set aside, never lost without a word
            self._mismatch(order, f"a fill that failed: {type(exc).__name__}: {exc}", trade)
            return
        self.fills += 1
        self._turnover[order.order_id] = self._turnover.get(order.order_id, Decimal(0)) + price * quantity

    def _fees(self, order: Order, quantity: int, price: Decimal, ts: datetime) -> Decimal:
        prior = self._turnover.get(order.order_id, Decimal(0))
        keywords: dict[str, Any] = {}
        if "trade_date" in self._fee_keywords:
            keywords["trade_date"] = to_trade_date(ts)
        if "instrument" in self._fee_keywords:
            keywords["instrument"] = self._instruments[order.order_id]
        return self.fee_model.fees(order.side, order.product, quantity, price, prior_turnover=prior, **keywords)

    def _undo_modify(self, order: Order, report: Report) -> None:
        log.warning("Kite refused the modify of order %s (%s): its earlier values are put back", order.order_id,
                    report.reason)
        transition = getattr(self._sink(), "transition", None)
        if transition is None or order.status not in _MODIFIABLE:
            self._mismatch(order, f"modify refused by the broker: {report.reason}", report.previous)
            return
        changes = {k: v for k, v in report.previous.items() if k != "quantity" or v > order.filled_quantity}
        now = self._now()
        transition(order, OrderEvent(OrderEventType.MODIFY_REQUESTED, now, changes=changes))
        transition(order, OrderEvent(OrderEventType.MODIFIED, now, changes=changes))

    # -- helpers ------------------------------------------------------------------------------------------------

    def _queue_cancel(self, order: Order) -> None:
        if order.order_id in self._cancelling:
            return
        self._cancelling.add(order.order_id)
        self._send(Command("cancel", order, {"variety": order.variety.value}))

    def _adopted(self, order_id: str, broker_id: str) -> None:
        self.ids[order_id] = broker_id
        self._by_broker[broker_id] = order_id

    def _mismatch(self, order: Order, what: str, data: dict[str, Any]) -> None:
        log.error("Kite order %s: %s (%s)", order.order_id, what, data)
        self.mismatches.append({"order_id": order.order_id, "status": order.status.value, "what": what,
                                "data": dict(data)})


def _when(trade: dict[str, Any]) -> datetime:
    return kite_time(trade.get("fill_timestamp") or trade.get("exchange_timestamp"), datetime.min.replace(tzinfo=UTC))
