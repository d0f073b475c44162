"""Every stored row's layout, both ways: domain objects to rows of the tables in :mod:`oms_kit.storage.schema`, and
rows read back to objects.

One place per layout: a column added by a migration changes ``schema.TABLES``, its writer here and its reader here,
and nothing else (``tests/test_records.py`` checks each writer's width against its table and reads each row back
through a real store). Rows hold plain values only — enum members as their ``str`` value (read through
``_value_``: ``.value`` is a property of the enum class, several times slower on the order path), so a row tuple
holds nothing the garbage collector tracks, which matters with thousands of rows waiting to commit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, overload

from oms_kit.fsm import OrderEvent, OrderEventType
from oms_kit.gtt import Gtt
from oms_kit.models import (
    ClientOrderId,
    Fill,
    Order,
    OrderId,
    OrderStatus,
    OrderType,
    Position,
    Product,
    Side,
    TradeId,
    Validity,
    Variety,
    Violation,
)
from oms_kit.programs import Program, program_from_stored
from oms_kit.request import OrderRequest
from oms_kit.risk import RiskAlert
from oms_kit.storage.base import Write

# -- objects to rows -------------------------------------------------------------------------------------------------

_MODIFY_REQUESTED: Final = OrderEventType.MODIFY_REQUESTED


def order_row(order: Order) -> Write:
    """The order's current state (``orders``, replaced by key)."""
    return ("orders", (
        order.order_id, order.client_order_id, order.account, order.symbol, order.side._value_,
        order.order_type._value_, order.product._value_, order.validity._value_, order.quantity, order.price,
        order.trigger_price, order.filled_quantity, order.average_price, order.status._value_, order.triggered,
        violations_json(order.violations) if order.violations else "[]", order.reason, order.tag,
        order.created_at, order.updated_at, order.sequence, order.variety._value_, order.disclosed_quantity,
    ))


def created_row(order: Order) -> Write:
    """The first row of an order's audit trail (``order_events``): created, NEW."""
    return ("order_events", (f"{order.order_id}:0", order.order_id, order.account, 0, order.created_at, "CREATED",
                             None, "NEW", "{}"))


def event_row(order: Order, event: OrderEvent, previous: OrderStatus) -> Write:
    """One transition of ``order`` (already applied) from ``previous`` (``order_events``).

    Its ``detail`` holds the fill (``quantity``, ``price``), the ``reason``, and for a modify the ``changes``; a
    MODIFY_REQUESTED row also keeps the values they replace (``previous``), which the order's row loses once the
    modify is done: with them the trail tells what the order was at each step (Kite's order history shows that).
    """
    return ("order_events", (
        f"{order.order_id}:{order.sequence}", order.order_id, order.account, order.sequence, event.ts,
        event.type._value_, previous._value_, order.status._value_,
        _event_detail(event, order) if event.quantity or event.price or event.reason or event.changes else "{}"))


def decision_row(decision_id: str, order: Order, ts: datetime, violations: Sequence[Violation]) -> Write:
    """A pre-trade decision on a real order or a modify (``risk_decisions``): accepted when no violation."""
    return ("risk_decisions", (decision_id, order.account, order.order_id, ts, not violations,
                               violations_json(violations)))


def trade_row(fill: Fill) -> Write:
    """One execution (``trades``)."""
    return ("trades", (fill.trade_id, fill.order_id, fill.account, fill.symbol, fill.product._value_,
                       fill.side._value_, fill.quantity, fill.price, fill.fees, fill.ts))


def position_row(position: Position, ts: datetime) -> Write:
    """A position as of ``ts`` (``positions``, replaced by account, symbol and product)."""
    return ("positions", (
        position.account, position.symbol, position.product._value_, position.quantity, position.average_price,
        position.realized_pnl, position.fees, position.last_price, position.bought_quantity,
        position.sold_quantity, ts,
    ))


def account_row(account: str, cash: Decimal, ts: datetime, day_began: datetime | None, day_base: Decimal | None,
                closing_fills: int | None, winning_fills: int | None) -> Write:
    """The account (``accounts``): cash, and the current trading day — when it began, the P&L base it began with,
    and today's closing fills and winning ones (None before the first day)."""
    return ("accounts", (account, cash, ts, day_began, day_base, closing_fills, winning_fills))


def trading_state_row(account: str, state: str, reason: str, source: str, ts: datetime) -> Write:
    """The account's current trading state (``trading_state``, replaced by account)."""
    return ("trading_state", (account, state, reason, source, ts))


def state_change_row(change_id: str, account: str, ts: datetime, previous: str, state: str, reason: str,
                     source: str) -> Write:
    """One change of the trading state, its history (``trading_state_changes``)."""
    return ("trading_state_changes", (change_id, account, ts, previous, state, reason, source))


def alert_row(alert: RiskAlert) -> Write:
    """A risk alert (``risk_alerts``; ``cleared_at`` is not kept yet)."""
    return ("risk_alerts", (alert.alert_id, alert.account, alert.ts, alert.level, alert.limit_name, alert.symbol,
                            alert.value, alert.limit_value, alert.message, None))


def gtt_row(gtt: Gtt, account: str) -> Write:
    """A GTT's current state (``gtts``, replaced by key): triggers, orders and placed order ids as JSON."""
    return ("gtts", (
        gtt.gtt_id, account, gtt.symbol, gtt.kind, gtt.status, json.dumps([str(t) for t in gtt.triggers]),
        json.dumps([o.to_dict() for o in gtt.orders]), gtt.last_price, gtt.created_at, gtt.updated_at,
        gtt.expires_at, gtt.fired_leg, json.dumps(gtt.order_ids), gtt.reason,
    ))


def program_row(program: Program, account: str) -> Write:
    """An order program's current state (``programs``, replaced by key): what was asked for and where it stands,
    as JSON."""
    return ("programs", (
        program.program_id, account, program.kind, program.symbol, program.status, json.dumps(program.spec()),
        json.dumps(program.state()), program.created_at, program.updated_at or program.created_at, program.reason,
    ))


def violations_json(violations: Sequence[Violation]) -> str:
    """Violations as the JSON text the ``violations`` columns hold."""
    return json.dumps([v.to_dict() for v in violations], default=str) if violations else "[]"


def _event_detail(event: OrderEvent, order: Order) -> str:
    # The event's details as JSON text: the fill, the reason, the changes (only those present).
    quantity, price, reason, changes = event.quantity, event.price, event.reason, event.changes
    if not reason and not changes:
        if not quantity and not price:
            return "{}"
        if quantity and price:  # a fill, the common case: the same text json.dumps gives, without building a dict
            return f'{{"quantity": {quantity}, "price": "{price}"}}'
    detail: dict[str, Any] = {k: v for k, v in (("quantity", quantity), ("price", price), ("reason", reason)) if v}
    if changes:
        detail["changes"] = changes
        if event.type is _MODIFY_REQUESTED:  # not applied yet: the order still has the values it replaces
            detail["previous"] = {name: getattr(order, name) for name in changes}
    return json.dumps(detail, default=str)


# -- rows to objects -------------------------------------------------------------------------------------------------

_CENT: Final = Decimal("0.01")


@overload
def stored_decimal(value: Decimal) -> Decimal: ...
@overload
def stored_decimal(value: None) -> None: ...
def stored_decimal(value: Decimal | None) -> Decimal | None:
    """A money or price value as read back: the database keeps 8 decimal places (``1480.00000000``); give it
    the two decimals of a price or an amount when that loses nothing, else its exact digits."""
    if value is None:
        return None
    cents = value.quantize(_CENT)
    return cents if cents == value else value.normalize()


def order_from_row(row: dict[str, Any], filled_value: Decimal) -> Order:
    """An Order from a row of ``orders``; ``filled_value`` (sum of price x quantity of its trades) is not stored in
    the row."""
    violations = tuple(Violation(v["code"], v["message"], v.get("limit"), v.get("value"))
                       for v in json.loads(row["violations"]))
    return Order(
        OrderId(row["order_id"]), ClientOrderId(row["client_order_id"]), row["symbol"], Side(row["side"]),
        int(row["quantity"]), OrderType(row["order_type"]), Product(row["product"]), Validity(row["validity"]),
        stored_decimal(row["price"]), stored_decimal(row["trigger_price"]), row["tag"], row["account"],
        OrderStatus(row["status"]), int(row["filled_quantity"]), stored_decimal(row["average_price"]),
        stored_decimal(filled_value), bool(row["triggered"]), violations,  # type: ignore[arg-type]
        row["reason"], row["created_at"], row["updated_at"], int(row["sequence"]),
        Variety(row["variety"] or Variety.REGULAR), int(row["disclosed_quantity"] or 0),
    )


def fill_from_row(row: dict[str, Any]) -> Fill:
    """A Fill from a row of ``trades``."""
    return Fill(TradeId(row["trade_id"]), OrderId(row["order_id"]), row["symbol"], Side(row["side"]),
                int(row["quantity"]), stored_decimal(row["price"]), stored_decimal(row["fees"]),  # type: ignore[arg-type]
                row["ts"], Product(row["product"]), row["account"])


def position_from_row(row: dict[str, Any]) -> Position:
    """A Position from a row of ``positions``."""
    d = stored_decimal
    return Position(
        row["symbol"], Product(row["product"]), row["account"], int(row["quantity"]), d(row["average_price"]),
        d(row["realized_pnl"]), d(row["fees"]), d(row["last_price"]), int(row["bought_quantity"]),
        int(row["sold_quantity"]), row["updated_at"],
    )


def alert_from_row(row: dict[str, Any]) -> RiskAlert:
    """A RiskAlert from a row of ``risk_alerts``."""
    return RiskAlert(row["alert_id"], row["account"], row["ts"], row["level"], row["limit_name"], row["symbol"],
                     row["value"], row["limit_value"], row["message"])


def program_from_row(row: dict[str, Any]) -> Program:
    """A Program from a row of ``programs``."""
    return program_from_stored(row["program_id"], row["kind"], row["symbol"], row["status"], json.loads(row["spec"]),
                               json.loads(row["state"]), row["created_at"], row["updated_at"], row["reason"])


def gtt_from_row(row: dict[str, Any]) -> Gtt:
    """A Gtt from a row of ``gtts``; its orders are parsed again as requests."""
    return Gtt(row["gtt_id"], row["symbol"], row["kind"], tuple(Decimal(t) for t in json.loads(row["triggers"])),
               tuple(OrderRequest(**o) for o in json.loads(row["orders"])), stored_decimal(row["last_price"]),
               row["created_at"], row["expires_at"], row["status"], row["updated_at"], row["fired_leg"],
               list(json.loads(row["order_ids"])), row["reason"])
