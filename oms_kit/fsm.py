"""The order state machine: the one table of allowed transitions, and :func:`apply`, the only way status changes.

Pure: no I/O, no clock. Time comes in with the event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final, cast

from oms_kit.errors import InvalidTransition
from oms_kit.models import Order, OrderStatus, OrderType

S = OrderStatus
_EIGHT_PLACES: Final = Decimal("0.00000001")  # stored averages are DECIMAL(28, 8)
_CENT: Final = Decimal("0.01")


class OrderEventType(StrEnum):
    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    TRIGGERED = "TRIGGERED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    MODIFY_REQUESTED = "MODIFY_REQUESTED"
    MODIFIED = "MODIFIED"
    MODIFY_REJECTED = "MODIFY_REJECTED"
    CANCEL_REQUESTED = "CANCEL_REQUESTED"
    CANCELLED = "CANCELLED"
    CANCEL_REJECTED = "CANCEL_REJECTED"
    EXPIRED = "EXPIRED"


E = OrderEventType

# Target meaning "back to working": TRIGGER_PENDING for a stop order not yet triggered, else PARTIALLY_FILLED when
# something has filled, else OPEN. Used where an order returns from a pending request or is first accepted, so the
# table need not remember the status it came from.
WORKING: Final = "WORKING"

TRANSITIONS: Final[dict[tuple[OrderStatus, OrderEventType], OrderStatus | str]] = {
    (S.NEW, E.SUBMITTED): S.PENDING_SUBMIT,
    (S.NEW, E.ACCEPTED): WORKING,
    (S.NEW, E.REJECTED): S.REJECTED,
    (S.PENDING_SUBMIT, E.ACCEPTED): WORKING,
    (S.PENDING_SUBMIT, E.REJECTED): S.REJECTED,
    (S.TRIGGER_PENDING, E.TRIGGERED): S.OPEN,
    (S.TRIGGER_PENDING, E.MODIFY_REQUESTED): S.PENDING_MODIFY,
    (S.TRIGGER_PENDING, E.CANCEL_REQUESTED): S.PENDING_CANCEL,
    (S.TRIGGER_PENDING, E.EXPIRED): S.EXPIRED,
    (S.OPEN, E.PARTIALLY_FILLED): S.PARTIALLY_FILLED,
    (S.OPEN, E.FILLED): S.FILLED,
    (S.OPEN, E.MODIFY_REQUESTED): S.PENDING_MODIFY,
    (S.OPEN, E.CANCEL_REQUESTED): S.PENDING_CANCEL,
    (S.OPEN, E.EXPIRED): S.EXPIRED,  # DAY at session end; IOC remainder at once
    (S.PARTIALLY_FILLED, E.PARTIALLY_FILLED): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, E.FILLED): S.FILLED,
    # Brokers accept a price change on the unfilled remainder.
    (S.PARTIALLY_FILLED, E.MODIFY_REQUESTED): S.PENDING_MODIFY,
    (S.PARTIALLY_FILLED, E.CANCEL_REQUESTED): S.PENDING_CANCEL,
    (S.PARTIALLY_FILLED, E.EXPIRED): S.EXPIRED,
    (S.PENDING_MODIFY, E.MODIFIED): WORKING,
    (S.PENDING_MODIFY, E.MODIFY_REJECTED): WORKING,
    # A fill can race a pending modify or cancel: the exchange filled before it saw the request.
    (S.PENDING_MODIFY, E.PARTIALLY_FILLED): S.PENDING_MODIFY,
    (S.PENDING_MODIFY, E.FILLED): S.FILLED,
    (S.PENDING_CANCEL, E.CANCELLED): S.CANCELLED,
    (S.PENDING_CANCEL, E.CANCEL_REJECTED): WORKING,
    (S.PENDING_CANCEL, E.PARTIALLY_FILLED): S.PENDING_CANCEL,
    (S.PENDING_CANCEL, E.FILLED): S.FILLED,
}


# Not frozen: two of these are made for every order, and a frozen dataclass sets each field through
# object.__setattr__, twice as slow. Nothing keeps or changes them after apply().
@dataclass(slots=True, init=False)
class OrderEvent:
    """Something that happened to an order. ``quantity``/``price`` describe a fill; ``changes`` a modify."""

    type: OrderEventType
    ts: datetime
    quantity: int = 0
    price: Decimal | None = None
    reason: str | None = None
    changes: dict[str, Any] | None = None

    # Written out: compiled, this constructor is native code, where the dataclass's generated one runs as Python.
    def __init__(
        self,
        type: OrderEventType,
        ts: datetime,
        quantity: int = 0,
        price: Decimal | None = None,
        reason: str | None = None,
        changes: dict[str, Any] | None = None,
    ) -> None:
        self.type = type
        self.ts = ts
        self.quantity = quantity
        self.price = price
        self.reason = reason
        self.changes = changes


def allowed_events(status: OrderStatus) -> set[str]:
    return {event.value for (state, event) in TRANSITIONS if state is status}


_TRIGGER_TYPES: Final = frozenset({OrderType.SL, OrderType.SL_M})
_FILLS: Final = frozenset({E.PARTIALLY_FILLED, E.FILLED})
_ENDINGS_WITH_REASON: Final = frozenset({E.REJECTED, E.CANCELLED, E.EXPIRED})
# Members as globals: ``E.MODIFIED`` goes through the enum's metaclass, ten times slower, and apply() runs for every
# transition.
_FILLED: Final = E.FILLED
_MODIFIED: Final = E.MODIFIED
_TRIGGERED: Final = E.TRIGGERED
_OPEN: Final = S.OPEN
_PARTIALLY_FILLED: Final = S.PARTIALLY_FILLED
_TRIGGER_PENDING: Final = S.TRIGGER_PENDING


def next_status(order: Order, event: OrderEvent) -> OrderStatus:
    """The status ``event`` leads to from the order's current one; raises InvalidTransition when not allowed."""
    target = TRANSITIONS.get((order.status, event.type))
    if target is None:
        raise InvalidTransition(order.order_id, order.status.value, event.type.value, allowed_events(order.status))
    if target is not WORKING:
        return target  # type: ignore[return-value]
    if order.order_type in _TRIGGER_TYPES and not order.triggered:
        return _TRIGGER_PENDING
    return _PARTIALLY_FILLED if order.filled_quantity > 0 else _OPEN


def apply(order: Order, event: OrderEvent) -> OrderStatus:
    """Apply ``event`` to ``order`` and return the status it had before.

    Every check happens before the first change, so an event that is refused leaves the order untouched.
    """
    kind = event.type
    previous = order.status
    new_status = TRANSITIONS.get((previous, kind))
    if new_status is None or new_status is WORKING:
        new_status = next_status(order, event)
    if kind in _FILLS:
        _check_fill(order, event)
        # _check_fill refused a fill without a price.
        price, quantity = cast(Decimal, event.price), event.quantity
        filled = order.filled_quantity + quantity
        if filled == quantity:  # the first fill: its price is the average, no division needed
            order.filled_value = price * quantity
            average = price
        else:
            order.filled_value += price * quantity
            average = order.filled_value / filled
        # Shown as a price (2500.00) when it is one, with eight places (as stored) only when the fills make it
        # fractional.
        cents = average.quantize(_CENT)
        if cents != average:
            average = average.quantize(_EIGHT_PLACES)
        order.average_price = cents if cents == average else average
        order.filled_quantity = filled
    elif kind is _MODIFIED:
        changes = event.changes or {}
        if changes.get("quantity", order.quantity) <= order.filled_quantity:
            # A modify may not shrink an order to what has already filled: that is a cancel.
            raise InvalidTransition(
                order.order_id, order.status.value, f"MODIFIED(quantity={changes['quantity']})", {E.CANCEL_REQUESTED}
            )
        for name, value in changes.items():
            setattr(order, name, value)
    elif kind is _TRIGGERED:
        order.triggered = True
    elif event.reason is not None and kind in _ENDINGS_WITH_REASON:
        order.reason = event.reason
    # next_status replaced None and WORKING: an OrderStatus.
    order.status = cast(OrderStatus, new_status)
    order.updated_at = event.ts
    order.sequence += 1
    return previous


def _check_fill(order: Order, event: OrderEvent) -> None:
    remaining = order.quantity - order.filled_quantity
    complete = event.type is _FILLED
    fits = event.quantity == remaining if complete else 0 < event.quantity < remaining
    if not fits or event.price is None or event.price <= 0:
        raise InvalidTransition(
            order.order_id,
            order.status.value,
            f"{event.type.value}(quantity={event.quantity}, price={event.price}, remaining={remaining})",
            allowed_events(order.status),
        )
