"""What a Kite Connect client sends: form-encoded fields (``application/x-www-form-urlencoded``), read here into an
:class:`~oms_kit.request.OrderRequest` or a modify's new values, with Kite's names and Kite's rules.

Every field arrives as text. A field may appear once; a required one must be non-empty. Kite's clients send
``price=0`` and ``trigger_price=0`` for orders that have none, so a zero there means "none"; ``disclosed_quantity=0``
shows all of the order. ``disclosed_quantity`` is taken (kept with the order, its rule checked as NSE's:
DISCLOSED_QUANTITY); ``market_protection``, which changes nothing on a simulated book, is checked and ignored; those
of varieties and validities a regular order does not take (``validity_ttl``, iceberg and auction fields,
``autoslice``) are refused (cover and iceberg orders are read by :mod:`~oms_kit.service.kite_programs`). Unknown
fields are ignored, as Kite ignores them. Malformed input raises
:class:`~oms_kit.service.kite_errors.KiteError` (InputException) naming the field, or InvalidOrderError from
OrderRequest, which the router words with Kite's names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import NamedTuple
from urllib.parse import parse_qsl

from oms_kit.errors import InvalidOrderError
from oms_kit.models import Order, OrderType, Validity, Variety
from oms_kit.request import OrderRequest
from oms_kit.service.kite_errors import INPUT, KiteError
from oms_kit.service.kite_models import EXCHANGE

MAX_FIELDS = 64  # fields in one form; an order has about fifteen
MAX_TAG = 20  # characters of a tag, Kite's limit
_WHOLE = re.compile(r"[0-9]{1,12}")
_SHOWN = 60  # characters of a value quoted in a message

# OrderRequest's field names as Kite's.
KITE_FIELDS = {"symbol": "tradingsymbol", "side": "transaction_type", "triggers": "trigger_values", "kind": "type",
               "legs": "iceberg_legs", "stoploss": "trigger_price"}


class ModifyValues(NamedTuple):
    """The new values of a modify (None: unchanged)."""

    quantity: int | None
    price: Decimal | None
    trigger_price: Decimal | None
    disclosed_quantity: int | None = None


def read_form(body: bytes) -> dict[str, str]:
    """The fields of a form-encoded body; InputException for a body that is not one, or a field given twice."""
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict", max_num_fields=MAX_FIELDS)
    except ValueError as exc:  # UnicodeDecodeError is one, and so is "too many fields"
        raise KiteError(400, INPUT, f"the body is not form fields (application/x-www-form-urlencoded): {exc}"
                        ) from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise KiteError(400, INPUT, f"`{shown(name)}` is given twice: give each field once")
        form[name] = value
    return form


def shown(value: str) -> str:
    """A value as quoted in a message: cut, control characters escaped."""
    text = value if len(value) <= _SHOWN else value[:_SHOWN] + "…"
    return text if text.isprintable() else text.encode("unicode_escape", "backslashreplace").decode("ascii")


_VARIETIES = {m.value: m for m in Variety}


def check_variety(variety: str, form: Mapping[str, str]) -> Variety:
    """``regular`` and ``amo`` (after-market) orders (``co`` and ``iceberg`` are order programs, placed by
    :mod:`~oms_kit.service.kite_programs`; ``auction`` is refused). A ``variety`` field in the body (the official
    client sends one) must agree with the path."""
    chosen = _VARIETIES.get(variety)
    if chosen is None:
        raise KiteError(400, INPUT, f"invalid `variety`: '{shown(variety)}'; this paper OMS takes 'regular', "
                        "'amo', 'co' and 'iceberg' orders (no auction orders)")
    given = form.get("variety")
    if given is not None and given != variety:
        raise KiteError(400, INPUT, f"invalid `variety`: '{shown(given)}' in the body, '{variety}' in the path")
    return chosen


def check_order_variety(variety: str, form: Mapping[str, str], order: Order, program: str | None = None) -> None:
    """A modify or cancel names the order's own variety, or ``regular`` (an after-market order sent out at the open
    is at the exchange like any other); ``amo`` for a regular order is an InputException. ``program``: the variety
    of the cover or iceberg order the order belongs to, which it may name too."""
    if program is not None and variety == program:
        given = form.get("variety")
        if given is not None and given != variety:
            raise KiteError(400, INPUT, f"invalid `variety`: '{shown(given)}' in the body, '{variety}' in the path")
        return
    if check_variety(variety, form) is Variety.AMO and order.variety is not Variety.AMO:
        raise KiteError(400, INPUT, f"invalid `variety`: 'amo'; order {order.order_id} is a regular order")


def _required(form: Mapping[str, str], name: str) -> str:
    value = form.get(name)
    if value is None or not value.strip():
        raise KiteError(400, INPUT, f"missing or empty `{name}`")
    return value


def _whole(form: Mapping[str, str], name: str, *, required: bool = False) -> int | None:
    value = _required(form, name) if required else form.get(name)
    if value is None or (not required and not value.strip()):
        return None
    if not _WHOLE.fullmatch(value.strip()):
        raise KiteError(400, INPUT, f"invalid `{name}`: '{shown(value)}'; a whole number is expected")
    return int(value.strip())


def _number(form: Mapping[str, str], name: str, *, zero_is_none: bool) -> Decimal | None:
    value = form.get(name)
    if value is None or not value.strip():
        return None
    try:
        number = Decimal(value.strip()) if len(value) <= 64 else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise KiteError(400, INPUT, f"invalid `{name}`: '{shown(value)}'; a number such as 2500.05 is expected")
    return None if zero_is_none and number == 0 else number


def _disclosed(form: Mapping[str, str], quantity: int | None) -> int | None:
    # Kite refuses one above the quantity as an InputException; the rest of NSE's rule (10%, cash equity, limit
    # orders) is the pre-trade check's, which rejects the order with DISCLOSED_QUANTITY.
    disclosed = _whole(form, "disclosed_quantity")
    if disclosed is not None and quantity is not None and disclosed > quantity:
        raise KiteError(400, INPUT, f"invalid `disclosed_quantity`: {disclosed} is more than the quantity {quantity}")
    return disclosed


def _ignored(form: Mapping[str, str]) -> None:
    # Checked like Kite checks it, then ignored: the simulated exchange fills at the price it quotes.
    protection = _number(form, "market_protection", zero_is_none=False)
    if protection is not None and protection != -1 and not 0 <= protection <= 100:
        raise KiteError(400, INPUT, f"invalid `market_protection`: {shown(form['market_protection'])}; -1 (automatic) "
                        "or a percentage from 0 to 100 is expected")


def _refused(form: Mapping[str, str]) -> None:
    for name in ("validity_ttl", "iceberg_legs", "iceberg_quantity", "auction_number"):
        if form.get(name, "").strip():
            raise KiteError(400, INPUT, f"`{name}` is not taken: this paper OMS offers regular DAY and IOC orders "
                            "(iceberg fields with variety 'iceberg')")
    if form.get("autoslice", "").strip().lower() not in ("", "false", "0"):
        raise KiteError(400, INPUT, "`autoslice` is not offered: place the slices as orders of their own")


def _order_type(value: str) -> OrderType:
    return OrderType.parse(value, "order_type")


def order_request(form: Mapping[str, str], variety: str) -> OrderRequest:
    """The order a place request asks for (``POST /orders/{variety}``), every field checked; InputException
    (KiteError) or InvalidOrderError otherwise. The symbol is not looked up here (the router does)."""
    chosen = check_variety(variety, form)
    exchange = _required(form, "exchange")
    if exchange != EXCHANGE:
        raise KiteError(400, INPUT, f"invalid `exchange`: '{shown(exchange)}'; this paper OMS trades NSE equities "
                        "only ('NSE')")
    symbol = _required(form, "tradingsymbol")
    side = _required(form, "transaction_type")
    quantity = _whole(form, "quantity", required=True)
    product = _required(form, "product")
    order_type = _order_type(_required(form, "order_type"))
    price = _number(form, "price", zero_is_none=not order_type.needs_price)
    trigger = _number(form, "trigger_price", zero_is_none=not order_type.needs_trigger)
    validity = form.get("validity") or Validity.DAY.value
    if validity.strip().upper() == "TTL":
        raise KiteError(400, INPUT, "invalid `validity`: 'TTL'; this paper OMS takes DAY and IOC orders")
    tag = form.get("tag") or None
    if tag is not None and len(tag) > MAX_TAG:
        raise KiteError(400, INPUT, f"invalid `tag`: '{shown(tag)}'; at most {MAX_TAG} characters")
    _refused(form)
    disclosed = _disclosed(form, quantity)
    _ignored(form)
    return OrderRequest(symbol, side, quantity, order_type, price, trigger, product, validity, None, tag, chosen,
                        disclosed or 0)


def modify_values(form: Mapping[str, str], variety: str, order: Order, program: str | None = None) -> ModifyValues:
    """The new values a modify request asks for (``PUT /orders/{variety}/{order_id}``). The order's type and
    validity cannot change here: given, they must be the order's own. ``program`` as for
    :func:`check_order_variety`."""
    check_order_variety(variety, form, order, program)
    given_id = form.get("order_id")
    if given_id is not None and given_id != order.order_id:
        raise KiteError(400, INPUT, f"invalid `order_id`: '{shown(given_id)}' in the body, '{order.order_id}' in "
                        "the path")
    given_type = form.get("order_type")
    if given_type and _order_type(given_type) is not order.order_type:
        raise KiteError(400, INPUT, f"invalid `order_type`: '{shown(given_type)}'; the order is {order.order_type} "
                        "and its type cannot change: cancel it and place a new one")
    given_validity = form.get("validity")
    if given_validity and Validity.parse(given_validity, "validity") is not order.validity:
        raise KiteError(400, INPUT, f"invalid `validity`: '{shown(given_validity)}'; the order is "
                        f"{order.validity} and its validity cannot change")
    quantity = _whole(form, "quantity")
    price = _number(form, "price", zero_is_none=not order.order_type.needs_price)
    trigger = _number(form, "trigger_price", zero_is_none=not order.order_type.needs_trigger)
    disclosed = _disclosed(form, quantity if quantity is not None else order.quantity)
    _ignored(form)
    if quantity is None and price is None and trigger is None and disclosed is None:
        raise KiteError(400, INPUT, "nothing to modify: send a new `quantity`, `price`, `trigger_price` or "
                        "`disclosed_quantity`")
    return ModifyValues(quantity, price, trigger, disclosed)


def kite_field(error: InvalidOrderError) -> str:
    """The Kite name of the field an InvalidOrderError names."""
    return KITE_FIELDS.get(error.field, error.field)
