"""Builders for tests: orders and events with sensible defaults."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from oms_kit.fsm import OrderEvent, OrderEventType
from oms_kit.models import ClientOrderId, Order, OrderId, OrderStatus, OrderType, Side

T0 = datetime(2026, 1, 5, 9, 15, tzinfo=UTC)


def make_order(status: OrderStatus = OrderStatus.NEW, **overrides: Any) -> Order:
    values: dict[str, Any] = {
        "order_id": OrderId("O-1"),
        "client_order_id": ClientOrderId("C-1"),
        "symbol": "RELIANCE",
        "side": Side.BUY,
        "quantity": 10,
        "order_type": OrderType.LIMIT,
        "price": Decimal("2500.05"),
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(overrides)
    order = Order(**values)
    order.status = status
    return order


def make_event(event_type: OrderEventType, **overrides: Any) -> OrderEvent:
    values: dict[str, Any] = {"type": event_type, "ts": T0}
    values.update(overrides)
    return OrderEvent(**values)
