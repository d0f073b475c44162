"""The HTTP API's JSON back into the kit's own values: orders, fills, positions, alerts, events, and the tables the
OMS builds from them.

The API sends exact decimals as strings and times as ISO 8601 with their zone; here they become ``Decimal`` and
aware ``datetime`` again, and each table is built by the same code as in the OMS (``orders_frame``,
``trades_frame``, the ledger's layout), so a remote table equals the in-process one, dtypes included.

Where a value's type is not fixed (a violation's ``limit`` and ``value``), a string that reads as a decimal number
becomes a ``Decimal`` (the API sent one), anything else stays as JSON gave it: a trading state comes back as its
text, which equals the enum member. A dry run's table keeps its amounts as strings, as the OMS's does.

Malformed JSON (a field missing, a value of the wrong kind) raises ValueError, KeyError or TypeError; the caller
turns them into one error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import pandas as pd

from oms_kit.events import EVENT_TYPES, Event
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
    TradingState,
    Validity,
    Variety,
    Violation,
)
from oms_kit.risk import RiskAlert
from oms_kit.summary import LIMIT_COLUMNS
from oms_kit.tables import POSITION_COLUMNS, orders_frame, trades_frame

__all__ = ["alert_of", "alerts_frame", "checks_frame", "event_of", "figures", "fill_of", "moment", "money",
           "order_of", "orders_of", "orders_table", "plain", "position_of", "positions_frame", "risk_summary_of",
           "trades_of"]

# str() of a Decimal: digits, a point, an exponent (Decimal("1E+3")); nothing else reads as one here.
_DECIMAL = re.compile(r"-?\d+(\.\d+)?([Ee][+-]?\d+)?")
_TRIGGERED_STATUSES = frozenset({OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING_MODIFY,
                                 OrderStatus.PENDING_CANCEL, OrderStatus.FILLED})


def money(value: Any) -> Decimal | None:
    """An exact amount from the API (a decimal string, or a JSON number), or None for null."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TypeError(f"an amount was expected, not {value!r}")
    return Decimal(value if isinstance(value, str) else str(value))


def _amount(value: Any) -> Decimal:
    amount = money(value)
    if amount is None:
        raise ValueError("an amount is required")
    return amount


def moment(value: Any) -> datetime | None:
    """An aware datetime from ISO 8601 text, or None for null."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"an ISO 8601 time was expected, not {value!r}")
    return datetime.fromisoformat(value)


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"a whole number was expected, not {value!r}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"a text was expected, not {value!r}")
    return value


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def plain(value: Any) -> Any:
    """A value of no fixed type: a decimal string as a Decimal, anything else as it is."""
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        return Decimal(value)
    return value


# -- orders, fills, positions, alerts -----------------------------------------------------------------------------


def violation_of(record: Mapping[str, Any]) -> Violation:
    """A violation from ``{code, message, limit, value}``."""
    return Violation(_text(record["code"]), _text(record["message"]), plain(record.get("limit")),
                     plain(record.get("value")))


def order_of(record: Mapping[str, Any], account: str) -> Order:
    """An order from the API's order JSON (the columns of ``orders()``, violations in full).

    The API does not send an order's ``account`` (``account`` is used: the server's), nor ``filled_value``
    (average price times filled quantity here), ``triggered`` (read from the status: a stop order that is working or
    filled has triggered) or ``sequence`` (0).
    """
    order_type = OrderType(record["order_type"])
    status = OrderStatus(record["status"])
    filled = _whole(record["filled_quantity"])
    average = money(record["average_price"])
    return Order(
        order_id=OrderId(_text(record["order_id"])),
        client_order_id=ClientOrderId(_text(record["client_order_id"])),
        symbol=_text(record["symbol"]),
        side=Side(record["side"]),
        quantity=_whole(record["quantity"]),
        order_type=order_type,
        product=Product(record["product"]),
        validity=Validity(record["validity"]),
        price=money(record["price"]),
        trigger_price=money(record["trigger_price"]),
        tag=_optional_text(record["tag"]),
        account=account,
        status=status,
        filled_quantity=filled,
        average_price=average,
        filled_value=average * filled if average is not None else Decimal(0),
        triggered=order_type.needs_trigger and status in _TRIGGERED_STATUSES,
        violations=tuple(violation_of(v) for v in record["violations"]),
        reason=_optional_text(record["reason"]),
        created_at=moment(record["created_at"]),
        updated_at=moment(record["updated_at"]),
        variety=Variety(record.get("variety", Variety.REGULAR)),
        disclosed_quantity=_whole(record.get("disclosed_quantity", 0)),  # a server of before it sends none
    )


def orders_of(records: Any, account: str) -> list[Order]:
    """Orders from a JSON list of orders."""
    if not isinstance(records, list):
        raise TypeError("a list of orders was expected")
    return [order_of(record, account) for record in records]


def orders_table(records: Any, account: str) -> pd.DataFrame:
    """The table of ``OMS.orders()`` from a JSON list of orders."""
    return orders_frame(orders_of(records, account))


def fill_of(record: Mapping[str, Any], account: str) -> Fill:
    """A fill from the API's trade JSON (``account`` when the JSON has none)."""
    return Fill(TradeId(_text(record["trade_id"])), OrderId(_text(record["order_id"])), _text(record["symbol"]),
                Side(record["side"]), _whole(record["quantity"]), _amount(record["price"]), _amount(record["fees"]),
                moment(record["ts"]), Product(record["product"]), _text(record.get("account", account)))


def trades_of(records: Any, account: str) -> pd.DataFrame:
    """The table of ``OMS.trades()`` from a JSON list of trades."""
    if not isinstance(records, list):
        raise TypeError("a list of trades was expected")
    return trades_frame([fill_of(record, account) for record in records])


def position_of(record: Mapping[str, Any]) -> Position:
    """A position from the API's position JSON (the columns of ``positions()``)."""
    return Position(symbol=_text(record["symbol"]), product=Product(record["product"]),
                    account=_text(record["account"]), quantity=_whole(record["quantity"]),
                    average_price=_amount(record["average_price"]), realized_pnl=_amount(record["realized_pnl"]),
                    fees=_amount(record["fees"]), last_price=money(record["last_price"]),
                    bought_quantity=_whole(record["bought_quantity"]), sold_quantity=_whole(record["sold_quantity"]),
                    updated_at=moment(record["updated_at"]))


_POSITION_VALUES: dict[str, Callable[[Any], Any]] = {
    "symbol": _text, "product": lambda v: Product(v).value, "quantity": _whole, "average_price": _amount,
    "last_price": money, "realized_pnl": _amount, "unrealized_pnl": _amount, "fees": _amount, "pnl": _amount,
    "bought_quantity": _whole, "sold_quantity": _whole, "account": _text, "updated_at": moment,
}


def positions_frame(records: Any) -> pd.DataFrame:
    """The table of ``OMS.positions()`` from a JSON list of positions: built like the ledger builds it (a dict of
    columns, the quantities as int64), so that even an empty one has the same dtypes."""
    if not isinstance(records, list):
        raise TypeError("a list of positions was expected")
    columns: dict[str, list[Any]] = {name: [] for name in POSITION_COLUMNS}
    for record in records:
        for name in POSITION_COLUMNS:
            columns[name].append(_POSITION_VALUES[name](record[name]))
    frame = pd.DataFrame(columns, columns=list(POSITION_COLUMNS))
    for name in ("quantity", "bought_quantity", "sold_quantity"):
        frame[name] = frame[name].astype("int64")
    return frame


def alert_of(record: Mapping[str, Any]) -> RiskAlert:
    """A risk alert from the API's alert JSON."""
    ts = moment(record["ts"])
    if ts is None:
        raise ValueError("an alert has a time")
    return RiskAlert(alert_id=_text(record["alert_id"]), account=_text(record["account"]), ts=ts,
                     level=_text(record["level"]), limit_name=_text(record["limit_name"]),
                     symbol=_optional_text(record["symbol"]), value=_amount(record["value"]),
                     limit_value=_amount(record["limit_value"]), message=_text(record["message"]))


def alerts_frame(records: Any) -> pd.DataFrame:
    """The table of ``OMS.risk_alerts()`` from a JSON list of alerts."""
    if not isinstance(records, list):
        raise TypeError("a list of alerts was expected")
    return pd.DataFrame([alert_of(record).to_dict() for record in records])


def checks_frame(records: Any) -> pd.DataFrame:
    """The table of ``OMS.validate()`` from the dry run's JSON list of checks: as the OMS builds it from each
    check's ``to_dict()``, whose amounts are already strings."""
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise TypeError("a list of checks was expected")
    return pd.DataFrame(records)


def figures(record: Any) -> dict[str, Any]:
    """A dict of figures (``stats_today()``): its decimal strings as Decimals (every text in it is an amount)."""
    if not isinstance(record, dict):
        raise TypeError("an object was expected")
    return {key: plain(value) for key, value in record.items()}


def risk_summary_of(record: Any) -> dict[str, Any]:
    """``OMS.risk_summary()`` from its JSON: amounts as Decimals, ``limits`` as the table, ``alerts`` as
    RiskAlert values."""
    if not isinstance(record, dict):
        raise TypeError("an object was expected")
    summary = {key: plain(value) for key, value in record.items() if key not in ("limits", "alerts")}
    limits = [{"limit": _text(u["limit"]), "symbol": _optional_text(u["symbol"]), "value": _amount(u["value"]),
               "maximum": _amount(u["maximum"]), "use_pct": float(u["use_pct"]),
               "level": _optional_text(u["level"])} for u in record["limits"]]
    summary["limits"] = pd.DataFrame(limits, columns=LIMIT_COLUMNS)
    summary["alerts"] = [alert_of(a) for a in record["alerts"]]
    return summary


# -- events -----------------------------------------------------------------------------------------------------------


def _order_fields(data: Mapping[str, Any], account: str) -> dict[str, Any]:
    return {"order": order_of(data["order"], account), "event_type": _text(data["event"]),
            "previous_status": _optional_text(data["previous_status"])}


def _price_fields(data: Mapping[str, Any], account: str) -> dict[str, Any]:
    # bid, ask and volume since they were sent (a server of an earlier version sends symbol and price only)
    volume = data.get("volume")
    if volume is not None and (isinstance(volume, bool) or not isinstance(volume, int | float)):
        raise TypeError(f"a volume was expected, not {volume!r}")
    return {"symbol": _text(data["symbol"]), "price": _amount(data["price"]), "bid": money(data.get("bid")),
            "ask": money(data.get("ask")), "volume": None if volume is None else float(volume)}


def _state_fields(data: Mapping[str, Any], account: str) -> dict[str, Any]:
    return {"previous": TradingState(data["previous"]), "state": TradingState(data["state"]),
            "reason": _text(data["reason"]), "source": _text(data["source"])}


# The fields of each kind of event (``oms_kit.events.EVENT_TYPES``) from the data the stream sends
# (``oms_kit.service.ws``), all but its time.
_FIELDS: dict[str, Callable[[Mapping[str, Any], str], dict[str, Any]]] = {
    "order": _order_fields,
    "fill": lambda data, account: {"fill": fill_of(data, account)},
    "position": lambda data, account: {"position": position_of(data)},
    "price": _price_fields,
    "risk_alert": lambda data, account: {"alert": alert_of(data)},
    "trading_state": _state_fields,
}


def event_of(message: Mapping[str, Any], account: str) -> Event | None:
    """The kit's event of a stream message ``{"type", "ts", "data"}``; None for the stream's own messages
    (``subscribed``, ``heartbeat``, ``lagged``) and for a type this version does not know."""
    kind = message["type"]
    fields = _FIELDS.get(kind)
    if fields is None:
        return None
    ts = moment(message["ts"])
    if ts is None:
        raise ValueError("an event has a time")
    return EVENT_TYPES[kind](ts=ts, **fields(message["data"], account))
