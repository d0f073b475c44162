"""Kite Connect's GTT (good till triggered) forms and shapes over the OMS's GTT book (:mod:`oms_kit.gtt`).

The official client sends a GTT as form fields: ``type`` (``single`` or ``two-leg``), ``condition`` (JSON:
``exchange``, ``tradingsymbol``, ``trigger_values``, ``last_price``) and ``orders`` (a JSON list, one order per leg:
``exchange``, ``tradingsymbol``, ``transaction_type``, ``quantity``, ``order_type``, ``product``, ``price``). Kite's
trigger ids are integers: the OMS numbers its GTTs ``G-1``, ``G-2``, ... (and goes on after the stored ones on a
reopen), so GTT ``G-7`` is Kite's trigger 7, stably. Malformed input raises
:class:`~oms_kit.service.kite_errors.KiteError` (InputException) naming the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, NamedTuple

from oms_kit.gtt import CANCELLED, Gtt
from oms_kit.models import OrderType
from oms_kit.request import OrderRequest
from oms_kit.service.kite_errors import INPUT, KiteError
from oms_kit.service.kite_forms import shown
from oms_kit.service.kite_models import EXCHANGE, kite_time, num

KINDS = ("single", "two-leg")
MAX_JSON = 4096  # characters of ``condition`` or ``orders``: a GTT's is a few hundred
_TRIGGER_ID = re.compile(r"[0-9]{1,12}")
_DELETED = "deleted by user"  # the reason OMS.delete_gtt gives: Kite calls such a GTT "deleted"


class GttForm(NamedTuple):
    """A GTT as a Kite client asks for it, parsed."""

    kind: str
    symbol: str
    triggers: list[Decimal]
    last_price: Decimal | None
    orders: tuple[OrderRequest, ...]


def _bad(field: str, value: object, allowed: str) -> KiteError:
    text = value if isinstance(value, str) else json.dumps(value, default=str)[:200]
    return KiteError(400, INPUT, f"invalid `{field}`: '{shown(text)}'; {allowed}")


def _json(form: Mapping[str, str], name: str) -> Any:
    text = form.get(name)
    if text is None or not text.strip():
        raise KiteError(400, INPUT, f"missing or empty `{name}`")
    if len(text) > MAX_JSON:
        raise KiteError(400, INPUT, f"invalid `{name}`: {len(text)} characters; at most {MAX_JSON}")
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise _bad(name, text, "JSON is expected") from None


def _no_constant(name: str) -> Any:
    raise ValueError(name)  # NaN and Infinity are no prices


def _price(value: Any, field: str, *, zero_is_none: bool = False) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | Decimal) or not Decimal(value).is_finite():
        raise _bad(field, value, "a number such as 1500.5 is expected")
    number = Decimal(value)
    if number < 0 or number > Decimal(10) ** 9:
        raise _bad(field, value, "a number from 0 to 1e9 is expected")
    return None if zero_is_none and number == 0 else number


def _text(obj: Mapping[str, Any], key: str, field: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _bad(field, value, "a non-empty text is expected")
    return value


def _exchange(obj: Mapping[str, Any], field: str) -> None:
    if _text(obj, "exchange", field) != EXCHANGE:
        raise _bad(field, obj["exchange"], "this paper OMS trades NSE equities only ('NSE')")


def _order(item: Any, symbol: str, index: int) -> OrderRequest:
    where = f"orders[{index}]"
    if not isinstance(item, dict):
        raise _bad("orders", item, "a list of order objects is expected")
    _exchange(item, f"{where}.exchange")
    if _text(item, "tradingsymbol", f"{where}.tradingsymbol") != symbol:
        raise _bad(f"{where}.tradingsymbol", item["tradingsymbol"], f"the condition's tradingsymbol {symbol!r}")
    side = _text(item, "transaction_type", f"{where}.transaction_type")
    quantity = item.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 0 < quantity < 10**9:
        raise _bad(f"{where}.quantity", quantity, "a whole number above 0 is expected")
    order_type = OrderType.parse(_text(item, "order_type", f"{where}.order_type"), "order_type")
    price = _price(item.get("price", 0), f"{where}.price", zero_is_none=not order_type.needs_price)
    product = _text(item, "product", f"{where}.product")
    # InvalidOrderError (a side, product or type not offered, a missing price) is worded by the router.
    return OrderRequest(symbol, side, quantity, order_type, price, None, product)


def gtt_form(form: Mapping[str, str]) -> GttForm:
    """The GTT a place or modify request asks for (``POST /gtt/triggers``, ``PUT /gtt/triggers/{id}``), every field
    checked; the symbol is not looked up here and the trigger values not yet checked against the price (the OMS
    does both)."""
    kind = form.get("type")
    if kind not in KINDS:
        raise _bad("type", kind or "", "'single' or 'two-leg' is expected")
    condition = _json(form, "condition")
    if not isinstance(condition, dict):
        raise _bad("condition", condition, "a JSON object with exchange, tradingsymbol, trigger_values, last_price")
    _exchange(condition, "condition.exchange")
    symbol = _text(condition, "tradingsymbol", "condition.tradingsymbol")
    values = condition.get("trigger_values")
    legs = 1 if kind == "single" else 2
    if not isinstance(values, list) or len(values) != legs:
        raise _bad("trigger_values", values, f"a list of {legs} trigger value(s) for a {kind} GTT")
    triggers = [_price(v, "trigger_values") for v in values]
    last = condition.get("last_price")
    last_price = None if last is None else _price(last, "last_price", zero_is_none=True)
    orders = _json(form, "orders")
    if not isinstance(orders, list) or len(orders) != legs:
        raise _bad("orders", orders, f"a list of {legs} order(s) for a {kind} GTT, one per leg")
    requests = tuple(_order(item, symbol, i) for i, item in enumerate(orders))
    return GttForm(kind, symbol, triggers, last_price, requests)  # type: ignore[arg-type]


def gtt_id_of(trigger_id: str) -> str:
    """The OMS's id of Kite's trigger id; InputException for one that is not a whole number."""
    if not _TRIGGER_ID.fullmatch(trigger_id):
        raise _bad("trigger_id", trigger_id, "a whole number is expected")
    return f"G-{int(trigger_id)}"


def trigger_id_of(gtt_id: str) -> int | None:
    """Kite's integer id of an OMS GTT id (``G-7`` is 7); None for an id not of that form."""
    number = gtt_id[2:]
    return int(number) if gtt_id.startswith("G-") and number.isdigit() else None


def gtt_status(gtt: Gtt) -> str:
    """Kite's status: active, triggered, cancelled, expired or rejected as the OMS has it; one the user deleted is
    ``deleted``."""
    return "deleted" if gtt.status == CANCELLED and gtt.reason == _DELETED else gtt.status


def gtt_json(gtt: Gtt, account: str, token: int, order_status: Mapping[str, str]) -> dict[str, Any]:
    """A GTT in Kite's shape. ``order_status`` maps the ids of the orders it placed to Kite's order status, for
    each fired leg's ``result``."""
    orders = []
    for leg, order in enumerate(gtt.orders):
        result = None
        if gtt.fired_leg == leg:
            order_id = gtt.order_ids[0] if gtt.order_ids else None
            failed = order_id is None or gtt.status == "rejected"
            result = {"account_id": account, "exchange": EXCHANGE, "tradingsymbol": gtt.symbol,
                      "validity": "DAY", "product": str(order.product), "order_type": str(order.order_type),
                      "transaction_type": str(order.side), "quantity": order.quantity, "price": num(order.price),
                      "meta": "", "timestamp": kite_time(gtt.updated_at), "triggered_at": num(gtt.triggers[leg]),
                      "order_result": {"order_id": order_id or "", "status": "failed" if failed else "success",
                                       "rejection_reason": gtt.reason if failed else "",
                                       "order_status": order_status.get(order_id or "")}}
        orders.append({"exchange": EXCHANGE, "tradingsymbol": gtt.symbol, "product": str(order.product),
                       "order_type": str(order.order_type), "transaction_type": str(order.side),
                       "quantity": order.quantity, "price": num(order.price), "result": result})
    return {
        "id": trigger_id_of(gtt.gtt_id), "user_id": account, "parent_trigger": None, "type": gtt.kind,
        "created_at": kite_time(gtt.created_at), "updated_at": kite_time(gtt.updated_at),
        "expires_at": kite_time(gtt.expires_at), "status": gtt_status(gtt),
        "condition": {"exchange": EXCHANGE, "tradingsymbol": gtt.symbol, "instrument_token": token,
                      "trigger_values": [num(t) for t in gtt.triggers], "last_price": num(gtt.last_price)},
        "orders": orders, "meta": {"reason": gtt.reason} if gtt.reason else None,
    }
