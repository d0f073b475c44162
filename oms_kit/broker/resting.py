"""The simulated book's record of a working order (:class:`RestingOrder`), kept apart from the OMS's
:class:`~oms_kit.models.Order`: the mock broker (``broker/mock.py``) matches and changes these, and reports to the
OMS only through its sink."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from oms_kit.models import Order, OrderType, Side, Validity
from oms_kit.tradable import Instrument

_ZERO: Final = Decimal(0)


@dataclass(slots=True, init=False)
class RestingOrder:
    """A working order as the simulated book holds it: what matching reads and changes (the remaining quantity,
    whether its trigger fired, the traded value its brokerage is capped by), apart from the OMS's ``Order``."""

    order_id: str
    symbol: str
    side: Side
    order_type: OrderType
    validity: Validity
    product: Any
    remaining: int
    price: Decimal | None
    trigger_price: Decimal | None
    triggered: bool
    instrument: Instrument
    eligible_at: datetime
    turnover: Decimal  # traded value of the order's earlier fills: brokerage is capped per order, not per fill
    offered: bool = False  # has had a price to trade on: a DAY order that has expires when its day ends
    protect_from: float | None = None  # market protection: the last price when a MARKET order arrived

    # Written out: compiled, this constructor is native code, where the dataclass's generated one runs as Python.
    def __init__(
        self,
        order_id: str,
        symbol: str,
        side: Side,
        order_type: OrderType,
        validity: Validity,
        product: Any,
        remaining: int,
        price: Decimal | None,
        trigger_price: Decimal | None,
        triggered: bool,
        instrument: Instrument,
        eligible_at: datetime,
        turnover: Decimal,
        offered: bool = False,
        protect_from: float | None = None,
    ) -> None:
        self.order_id = order_id
        self.symbol = symbol
        self.side = side
        self.order_type = order_type
        self.validity = validity
        self.product = product
        self.remaining = remaining
        self.price = price
        self.trigger_price = trigger_price
        self.triggered = triggered
        self.instrument = instrument
        self.eligible_at = eligible_at
        self.turnover = turnover
        self.offered = offered
        self.protect_from = protect_from


def resting_order(order: Order, instrument: Instrument, eligible_at: datetime) -> RestingOrder:
    """``order`` as the book holds it, matchable from ``eligible_at`` (its remaining quantity; a restored order
    partly filled brings the value already traded)."""
    filled = order.filled_quantity
    return RestingOrder(
        order.order_id, order.symbol, order.side, order.order_type, order.validity, order.product,
        order.quantity - filled, order.price, order.trigger_price, order.triggered, instrument, eligible_at,
        _traded(order) if filled else _ZERO,
    )


def _traded(order: Order) -> Decimal:
    # What the order has traded so far (nothing for a new order; a restored one may be partly filled).
    return order.filled_quantity * order.average_price if order.average_price is not None else _ZERO
