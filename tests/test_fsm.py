"""The order state machine: every row of the table, and every pair that is not in it."""

from __future__ import annotations

import copy
import itertools
from decimal import Decimal

import pytest

from oms_kit.errors import InvalidTransition
from oms_kit.fsm import TRANSITIONS, WORKING, OrderEventType, apply
from oms_kit.models import OrderStatus, OrderType
from tests.stubs import make_event, make_order

S, E = OrderStatus, OrderEventType


def _event_for(event_type: OrderEventType, remaining: int):
    if event_type is E.FILLED:
        return make_event(event_type, quantity=remaining, price=Decimal("2500"))
    if event_type is E.PARTIALLY_FILLED:
        return make_event(event_type, quantity=1, price=Decimal("2500"))
    if event_type is E.MODIFIED:
        return make_event(event_type, changes={"price": Decimal("2499.95")})
    return make_event(event_type)


@pytest.mark.parametrize(("status", "event_type"), sorted(TRANSITIONS), ids=lambda x: str(x))
def test_allowed_transition_moves_to_table_target(status, event_type):
    # A partly filled order where the status implies fills, so fills and returns to WORKING are realistic.
    order = make_order(status, filled_quantity=4 if status is S.PARTIALLY_FILLED else 0)
    target = TRANSITIONS[(status, event_type)]

    previous = apply(order, _event_for(event_type, order.remaining_quantity))

    assert previous is status
    expected = (S.PARTIALLY_FILLED if order.filled_quantity > 0 else S.OPEN) if target == WORKING else target
    assert order.status is expected
    assert order.sequence == 1


MISSING = [
    (status, event_type)
    for status, event_type in itertools.product(OrderStatus, OrderEventType)
    if (status, event_type) not in TRANSITIONS
]


@pytest.mark.parametrize(("status", "event_type"), MISSING, ids=lambda x: str(x))
def test_illegal_transition_raises_and_leaves_order_untouched(status, event_type):
    order = make_order(status, filled_quantity=4 if status is S.PARTIALLY_FILLED else 0)
    before = copy.deepcopy(order)

    with pytest.raises(InvalidTransition) as info:
        apply(order, _event_for(event_type, order.remaining_quantity))

    assert order == before
    assert info.value.status == status.value
    assert info.value.event == event_type.value
    assert "not allowed in status" in str(info.value)


def test_terminal_statuses_allow_no_event():
    for status in (S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED):
        assert not [e for (s, e) in TRANSITIONS if s is status]


def test_accept_of_stop_order_waits_for_trigger_then_opens():
    order = make_order(order_type=OrderType.SL_M, price=None, trigger_price=Decimal("2490"))

    apply(order, make_event(E.ACCEPTED))
    assert order.status is S.TRIGGER_PENDING
    apply(order, make_event(E.TRIGGERED))
    assert order.status is S.OPEN and order.triggered


def test_cancel_rejected_returns_stop_order_to_trigger_pending():
    order = make_order(order_type=OrderType.SL, trigger_price=Decimal("2490"))
    apply(order, make_event(E.ACCEPTED))
    apply(order, make_event(E.CANCEL_REQUESTED))

    apply(order, make_event(E.CANCEL_REJECTED))

    assert order.status is S.TRIGGER_PENDING


def test_fills_accumulate_quantity_and_exact_average_price():
    order = make_order(S.OPEN, quantity=3)

    apply(order, make_event(E.PARTIALLY_FILLED, quantity=1, price=Decimal("100.05")))
    apply(order, make_event(E.FILLED, quantity=2, price=Decimal("100.10")))

    assert order.status is S.FILLED
    assert order.filled_quantity == 3 and order.remaining_quantity == 0
    assert order.average_price == Decimal("100.08333333")


@pytest.mark.parametrize(
    ("event_type", "quantity"),
    [(E.FILLED, 3), (E.FILLED, 11), (E.PARTIALLY_FILLED, 10), (E.PARTIALLY_FILLED, 0), (E.PARTIALLY_FILLED, -1)],
)
def test_fill_of_wrong_size_raises_and_leaves_order_untouched(event_type, quantity):
    order = make_order(S.OPEN, quantity=10)
    before = copy.deepcopy(order)

    with pytest.raises(InvalidTransition, match=f"order {order.order_id}: event {event_type.value}"):
        apply(order, make_event(event_type, quantity=quantity, price=Decimal("1")))

    assert order == before


def test_modify_to_filled_quantity_or_less_raises():
    order = make_order(S.PENDING_MODIFY, quantity=10, filled_quantity=4)
    before = copy.deepcopy(order)

    with pytest.raises(InvalidTransition, match="quantity=4"):
        apply(order, make_event(E.MODIFIED, changes={"quantity": 4}))

    assert order == before


def test_modified_applies_changes_and_returns_partly_filled_order_to_partially_filled():
    order = make_order(S.PENDING_MODIFY, quantity=10, filled_quantity=4)

    apply(order, make_event(E.MODIFIED, changes={"quantity": 8, "price": Decimal("2400")}))

    assert (order.status, order.quantity, order.price) == (S.PARTIALLY_FILLED, 8, Decimal("2400"))
