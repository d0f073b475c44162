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


async def assert_store_matches(oms: Any) -> None:
    """Assert that the state rebuilt from ``oms``'s store equals its live state (``oms`` is an ``OMS``).

    Commits what is pending first (``oms.flush()``), then reads back the account's rows and compares: orders
    with ``manager.orders``, trades with ``manager.trades``, positions and cash with the ledger, one risk decision
    per order, the trading state, and each order's audit trail (a CREATED row, then one legal transition per
    ``order.sequence``, chained from status to status and ending at the order's status).
    """
    import json

    from oms_kit.fsm import TRANSITIONS

    await oms.flush()
    store, account, manager, ledger = oms.store, oms.account, oms.manager, oms.manager.ledger

    rows = await store.fetch("SELECT * FROM orders WHERE account = $1", account)
    stored_orders = {row["order_id"]: row for row in rows}
    assert len(stored_orders) == len(rows)
    assert set(stored_orders) == set(manager.orders), "orders table and live orders hold different order ids"
    for order_id, order in manager.orders.items():
        row = stored_orders[order_id]
        live = {
            "client_order_id": order.client_order_id, "symbol": order.symbol, "side": order.side.value,
            "order_type": order.order_type.value, "product": order.product.value, "validity": order.validity.value,
            "quantity": order.quantity, "disclosed_quantity": order.disclosed_quantity, "price": order.price,
            "trigger_price": order.trigger_price,
            "filled_quantity": order.filled_quantity, "average_price": order.average_price,
            "status": order.status.value, "triggered": order.triggered, "reason": order.reason, "tag": order.tag,
            "created_at": order.created_at, "updated_at": order.updated_at, "sequence": order.sequence,
            "violations": sorted(v.code for v in order.violations),
        }
        restored = {name: row[name] for name in live}
        restored["violations"] = sorted(v["code"] for v in json.loads(row["violations"]))
        assert restored == live, f"order {order_id}: stored row differs from the live order"

    rows = await store.fetch(
        "SELECT order_id, sequence, event_type, from_status, to_status FROM order_events WHERE account = $1", account
    )
    trails: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        trails.setdefault(row["order_id"], []).append(row)
    assert set(trails) == set(manager.orders), "order_events and live orders hold different order ids"
    for order_id, order in manager.orders.items():
        trail = sorted(trails[order_id], key=lambda row: row["sequence"])
        assert [row["sequence"] for row in trail] == list(range(order.sequence + 1)), f"order {order_id} events"
        first, *transitions = trail
        assert (first["event_type"], first["from_status"], first["to_status"]) == ("CREATED", None, "NEW")
        status = first["to_status"]
        for row in transitions:
            pair = (OrderStatus(row["from_status"]), OrderEventType(row["event_type"]))
            assert pair in TRANSITIONS, f"order {order_id}: illegal stored transition {pair}"
            assert row["from_status"] == status, f"order {order_id}: event {row['sequence']} does not chain"
            status = row["to_status"]
        assert status == order.status.value, f"order {order_id}: audit trail ends at {status}"

    rows = await store.fetch(
        "SELECT trade_id, order_id, symbol, product, side, quantity, price, fees, ts FROM trades WHERE account = $1",
        account,
    )
    stored_trades = {row["trade_id"]: row for row in rows}
    live_trades = {
        fill.trade_id: {
            "trade_id": fill.trade_id, "order_id": fill.order_id, "symbol": fill.symbol,
            "product": fill.product.value, "side": fill.side.value, "quantity": fill.quantity, "price": fill.price,
            "fees": fill.fees, "ts": fill.ts,
        }
        for fill in manager.trades
    }
    assert len(live_trades) == len(manager.trades), "a trade id was used twice"
    assert stored_trades == live_trades

    rows = await store.fetch(
        "SELECT symbol, product, quantity, average_price, realized_pnl, fees, bought_quantity, sold_quantity "
        "FROM positions WHERE account = $1",
        account,
    )
    stored_positions = {(row["symbol"], row["product"]): row for row in rows}
    live_positions = {
        (p.symbol, p.product.value): {
            "symbol": p.symbol, "product": p.product.value, "quantity": p.quantity,
            "average_price": p.average_price, "realized_pnl": p.realized_pnl, "fees": p.fees,
            "bought_quantity": p.bought_quantity, "sold_quantity": p.sold_quantity,
        }
        for p in ledger.positions
    }
    assert stored_positions == live_positions

    rows = await store.fetch("SELECT cash FROM accounts WHERE account = $1", account)
    assert [row["cash"] for row in rows] == [ledger.cash]

    # One decision per order (D-<order id>), and one per modify (D-<order id>-<sequence of its MODIFY_REQUESTED>),
    # refused when the next event is MODIFY_REJECTED.
    rows = await store.fetch("SELECT decision_id, order_id, accepted FROM risk_decisions WHERE account = $1", account)
    placed = [row for row in rows if row["decision_id"] == f"D-{row['order_id']}"]
    assert sorted((row["order_id"], row["accepted"]) for row in placed) == sorted(
        (order_id, not order.violations) for order_id, order in manager.orders.items()
    )
    events = {(row["order_id"], row["sequence"]): row["event_type"] for trail in trails.values() for row in trail}
    modifies = {
        f"D-{order_id}-{sequence}": events.get((order_id, sequence + 1)) != "MODIFY_REJECTED"
        for (order_id, sequence), event_type in events.items() if event_type == "MODIFY_REQUESTED"
    }
    placed_ids = {row["decision_id"] for row in placed}
    assert {row["decision_id"]: row["accepted"] for row in rows if row["decision_id"] not in placed_ids} == modifies

    rows = await store.fetch("SELECT state FROM trading_state WHERE account = $1", account)
    state = rows[0]["state"] if rows else "ACTIVE"  # no row: the state never changed
    assert state == manager.trading_state.value


def bar_frame(rows: list[tuple[Any, ...]], symbol: str = "RELIANCE", start: datetime = T0,
              minutes: int = 1) -> Any:
    """A bar table from ``(open, high, low, close)`` or ``(symbol, open, high, low, close)`` rows, one timestamp
    per row ``minutes`` apart (rows naming a symbol share the timestamp of the row before when marked ``"+"``).

    ``bar_frame([(100, 101, 99, 100.5), (100.5, 102, 100, 101)])`` is two RELIANCE bars from 09:15 UTC.
    """
    from datetime import timedelta

    import pandas as pd

    records = []
    ts = start
    for index, row in enumerate(rows):
        same_time = len(row) == 6 and row[0] == "+"
        if same_time:
            row = row[1:]
        elif index:
            ts = ts + timedelta(minutes=minutes)
        name, prices = (row[0], row[1:]) if len(row) == 5 else (symbol, row)
        records.append({"timestamp": ts, "symbol": name, "open": prices[0], "high": prices[1], "low": prices[2],
                        "close": prices[3], "volume": 1_000.0})
    return pd.DataFrame(records)
