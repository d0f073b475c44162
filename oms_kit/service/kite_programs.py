"""Kite Connect's cover orders (variety ``co``) and iceberg orders (variety ``iceberg``) over the OMS's order programs
(:mod:`oms_kit.programs`): ``kite.place_order(variety="co", trigger_price=...)`` places ``oms.place_cover`` and
``kite.place_order(variety="iceberg", iceberg_legs=N, iceberg_quantity=Q)`` places ``oms.place_iceberg``.

Kite's fields, read here with Kite's rules:

* ``co``: the entry is MARKET or LIMIT, DAY, intraday (``product`` MIS, or Kite's ``CO``); ``trigger_price`` is the
  stop's absolute trigger, below the entry's price for a BUY and above it for a SELL. The OMS's cover takes the
  stop in points from the entry's first fill price: the points are the distance from the LIMIT price (the last
  price for a MARKET entry) to the trigger, so an entry filled at that price has its stop at the trigger.
* ``iceberg``: ``iceberg_legs`` from 2 to 50, ``iceberg_quantity`` the quantity of each leg, ``quantity`` divided by
  the legs (rounded up to a whole lot: the last legs take what is left), each leg at most the freeze quantity; DAY
  (an IOC leg could not wait for the one before).

The answer's ``order_id`` is the program's first order: the cover's entry, the iceberg's first leg. In
``kite.orders()`` the orders of a cover or iceberg program, whichever API placed it, show their variety, and a
cover's stop names the entry as its ``parent_order_id``. Modifying or cancelling them names their variety (or
``regular``) and acts on the order as for any other: the program reacts to what happens to its orders (a cancelled
entry or leg ends it). Malformed input raises :class:`~oms_kit.service.kite_errors.KiteError` (InputException),
or InvalidOrderError from the OMS, which the router words with Kite's names.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, NamedTuple

from oms_kit.models import Order, OrderType, Product, Side, Validity
from oms_kit.programs import COVER, ICEBERG, MAX_LEGS, MIN_LEGS, Program, leg_sizes, parse_legs
from oms_kit.request import OrderRequest
from oms_kit.service.kite_errors import INPUT, KiteError
from oms_kit.service.kite_forms import order_request, shown

if TYPE_CHECKING:  # the OMS may import this package to serve itself
    from oms_kit.oms import OMS

__all__ = ["PROGRAM_VARIETIES", "ProgramForm", "kite_varieties", "place_program", "program_form",
           "program_variety"]

PROGRAM_VARIETIES = {"co": COVER, "iceberg": ICEBERG}  # Kite's variety: the OMS's program kind
_VARIETY_OF = {kind: variety for variety, kind in PROGRAM_VARIETIES.items()}
# Read here, not as a regular order's fields: a cover's trigger is its stop's, not its entry's.
_OWN_FIELDS = {"co": ("variety", "trigger_price"), "iceberg": ("variety", "iceberg_legs", "iceberg_quantity")}
_COVER_PRODUCTS = ("MIS", "CO")  # Kite's clients send either for a cover order; both are intraday


class ProgramForm(NamedTuple):
    """A cover or iceberg order as a Kite client asks for it, parsed: the entry (or the whole iceberg) as a regular
    order, and the variety's own fields."""

    variety: str
    request: OrderRequest
    trigger: Decimal | None  # co: the stop's trigger price
    legs: int | None  # iceberg: the number of legs
    leg_quantity: int | None  # iceberg: the quantity of each leg


def _whole(form: Mapping[str, str], name: str) -> int:
    value = form.get(name, "").strip()
    if not value:
        raise KiteError(400, INPUT, f"missing or empty `{name}`")
    if not value.isascii() or not value.isdigit() or len(value) > 12:
        raise KiteError(400, INPUT, f"invalid `{name}`: '{shown(value)}'; a whole number is expected")
    return int(value)


def _trigger(form: Mapping[str, str]) -> Decimal:
    value = form.get("trigger_price", "").strip()
    if not value:
        raise KiteError(400, INPUT, "missing or empty `trigger_price`: a cover order's stop-loss trigger price")
    try:
        number = Decimal(value) if len(value) <= 64 else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or number <= 0:
        raise KiteError(400, INPUT, f"invalid `trigger_price`: '{shown(value)}'; a price above 0 such as 1495.5 is "
                        "expected")
    return number


def program_form(form: Mapping[str, str], variety: str) -> ProgramForm:
    """The cover (``co``) or iceberg order a place request asks for, every field checked that needs no price or
    instrument (:func:`place_program` checks the rest); the symbol is not looked up here."""
    given = form.get("variety")
    if given is not None and given != variety:
        raise KiteError(400, INPUT, f"invalid `variety`: '{shown(given)}' in the body, '{variety}' in the path")
    base = {name: value for name, value in form.items() if name not in _OWN_FIELDS[variety]}
    if variety == "co":
        product = form.get("product", "")
        if product.strip().upper() not in _COVER_PRODUCTS:
            raise KiteError(400, INPUT, f"invalid `product`: '{shown(product)}'; a cover order is intraday: MIS "
                            "(or CO)")
        base["product"] = Product.MIS.value
        order_type = form.get("order_type", "")
        if order_type.strip().upper() in (OrderType.SL.value, OrderType.SL_M.value):  # its trigger is the stop's
            raise KiteError(400, INPUT, f"invalid `order_type`: '{shown(order_type)}'; a cover order's entry is "
                            "MARKET or LIMIT")
    request = order_request(base, "regular")
    if variety == "co":
        if request.validity is not Validity.DAY:
            raise KiteError(400, INPUT, f"invalid `validity`: '{request.validity}'; a cover order is DAY")
        return ProgramForm(variety, request, _trigger(form), None, None)
    if request.validity is not Validity.DAY:
        raise KiteError(400, INPUT, f"invalid `validity`: '{request.validity}'; an iceberg order is DAY: each leg "
                        "waits for the one before")
    legs = _whole(form, "iceberg_legs")
    if not MIN_LEGS <= legs <= MAX_LEGS:
        raise KiteError(400, INPUT, f"invalid `iceberg_legs`: '{legs}'; from {MIN_LEGS} to {MAX_LEGS} legs")
    return ProgramForm(variety, request, None, legs, _whole(form, "iceberg_quantity"))


async def place_program(oms: OMS, asked: ProgramForm) -> Program:
    """Place the cover or iceberg order ``asked`` for (:func:`program_form`) as the OMS's program; InputException
    (KiteError) for a trigger on the wrong side of the price or an ``iceberg_quantity`` that is not the legs'
    size, InvalidOrderError from the OMS otherwise."""
    request = asked.request
    if asked.variety == "co":
        trigger = asked.trigger
        assert trigger is not None
        reference = request.price if request.order_type is OrderType.LIMIT else oms.last_price(request.symbol)
        if reference is None:
            raise KiteError(400, INPUT, f"a MARKET cover order needs a last price of {request.symbol} to set its "
                            "stop from: none yet (place a LIMIT cover order)")
        buy = request.side is Side.BUY
        if (trigger >= reference) if buy else (trigger <= reference):
            where, what = ("below", "BUY") if buy else ("above", "SELL")
            price = "price" if request.order_type is OrderType.LIMIT else "last price"
            raise KiteError(400, INPUT, f"invalid `trigger_price`: '{trigger}'; {where} the {price} {reference} "
                            f"for a {what} cover order")
        return await oms.place_cover(request.symbol, request.side, request.quantity, request.order_type,
                                     request.price, stoploss=abs(reference - trigger), product=request.product,
                                     tag=request.tag)
    legs = asked.legs
    instrument = oms.instrument(request.symbol)
    parse_legs(legs, request.quantity, instrument)  # whole lots within the freeze quantity: InvalidOrderError
    each = leg_sizes(request.quantity, legs, instrument.lot_size)[0]  # type: ignore[arg-type]
    if asked.leg_quantity != each:
        raise KiteError(400, INPUT, f"invalid `iceberg_quantity`: '{asked.leg_quantity}'; {each}, the quantity "
                        f"{request.quantity} divided by {legs} legs (in whole lots of {instrument.lot_size}, rounded "
                        "up: the last legs take what is left)")
    return await oms.place_iceberg(request.symbol, request.side, request.quantity, request.order_type,
                                   request.price, legs=legs, product=request.product,  # type: ignore[arg-type]
                                   validity=request.validity, tag=request.tag)


def kite_varieties(oms: OMS) -> dict[str, dict[str, Any]]:
    """Kite's ``variety`` (and ``parent_order_id``) of the orders of cover and iceberg programs, by order id: a
    cover's stop names its entry as the parent."""
    shown_as: dict[str, dict[str, Any]] = {}
    for program in oms.manager.programs.book.programs.values():
        variety = _VARIETY_OF.get(program.kind)
        if variety is None:
            continue
        for order_id in program.order_ids:
            parent = program.entry_id if program.kind == COVER and order_id != program.entry_id else None
            shown_as[order_id] = {"variety": variety, "parent_order_id": parent}
    return shown_as


def program_variety(oms: OMS, variety: str, order: Order) -> str | None:
    """The program variety (``co``, ``iceberg``) a modify or cancel of ``order`` names, when it names one: the
    order must belong to a program of that kind (InputException otherwise). None for the other varieties."""
    kind = PROGRAM_VARIETIES.get(variety)
    if kind is None:
        return None
    shown_as = kite_varieties(oms).get(order.order_id)
    if shown_as is None or shown_as["variety"] != variety:
        name = "cover" if kind == COVER else "iceberg"
        raise KiteError(400, INPUT, f"invalid `variety`: '{variety}'; order {order.order_id} is not part of a {name} "
                        "order")
    return variety
