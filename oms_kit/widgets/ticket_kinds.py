"""The order ticket's types: a regular order, the order programs (bracket, cover, trailing stop, iceberg) and GTTs
(single and two-leg). Which fields each shows, and what the ticket's values make of it: a :class:`Plan`, the OMS
call that Place makes, with the order the live dry run checks.

A plan reads the fields as the user typed them and checks them with the core's own parsers (those
``oms.place_bracket``, ``oms.place_gtt``… use), so an error names the field, the value and what is allowed while
the user types, and Place of a malformed ticket places nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from oms_kit.errors import InvalidOrderError
from oms_kit.gtt import parse_gtt
from oms_kit.models import OrderType, Validity
from oms_kit.parsing import parse_price
from oms_kit.programs import exit_prices, leg_sizes, parse_legs, parse_points, parse_trail, trailed
from oms_kit.request import OrderRequest
from oms_kit.tradable import Instrument
from oms_kit.widgets.format import money

if TYPE_CHECKING:
    from oms_kit.widgets.ticket import OrderTicket

REGULAR, BRACKET, COVER, TRAILING, ICEBERG = "regular", "bracket", "cover", "trailing", "iceberg"
GTT_SINGLE, GTT_TWO_LEG = "gtt-single", "gtt-two-leg"
ALL_TYPES = ("MARKET", "LIMIT", "SL", "SL-M")
ENTRY_TYPES = ("MARKET", "LIMIT")
POINTS, PERCENT = "points", "%"


@dataclass(frozen=True)
class TicketKind:
    """One choice of the ticket's type selector: its label, the fields it shows beside symbol, side and quantity
    (names of the ticket's attributes), the order types it offers and the name of what Place does."""

    label: str
    value: str
    fields: tuple[str, ...]
    order_types: tuple[str, ...]
    noun: str


KINDS = (
    TicketKind("Regular", REGULAR, ("order_type", "price", "trigger", "product", "validity"), ALL_TYPES, "order"),
    TicketKind("Bracket", BRACKET, ("order_type", "price", "target", "stoploss", "trail", "trail_unit", "product",
                                    "validity"), ENTRY_TYPES, "bracket"),
    TicketKind("Cover", COVER, ("order_type", "price", "stoploss", "trail", "trail_unit", "product"), ENTRY_TYPES,
               "cover order"),
    TicketKind("Trailing stop", TRAILING, ("trail", "trail_unit", "product"), ALL_TYPES, "trailing stop"),
    TicketKind("Iceberg", ICEBERG, ("order_type", "price", "legs", "product"), ENTRY_TYPES, "iceberg"),
    TicketKind("GTT single", GTT_SINGLE, ("gtt_trigger", "order_type", "price", "trigger", "product", "validity"),
               ALL_TYPES, "GTT"),
    TicketKind("GTT two-leg", GTT_TWO_LEG, ("stop_trigger", "stop_price", "target_trigger", "target_price",
                                            "order_type", "product", "validity"), ENTRY_TYPES, "GTT"),
)
BY_VALUE = {k.value: k for k in KINDS}
# Every field that some type hides: the ticket shows those of the chosen type.
OPTIONAL_FIELDS = tuple(dict.fromkeys(f for k in KINDS for f in k.fields))


@dataclass(frozen=True)
class Plan:
    """What Place would do with the ticket's values: ``what`` names it ("place bracket"), ``call`` makes the OMS
    call (``lambda oms: oms.place_bracket(...)``, on the async OMS or the blocking facade), ``checked`` is the order
    placed at once, which the dry run checks (None for a GTT: its order is checked when it fires), ``note`` what the
    feedback adds (where the exits go, where a GTT fires)."""

    what: str
    call: Callable[[Any], Any]
    checked: OrderRequest | None
    note: str = ""


def text(widget: Any) -> str | None:
    """A text field's value as typed, stripped; None when empty."""
    return widget.value.strip() or None


def plan(ticket: OrderTicket) -> Plan:
    """The :class:`Plan` of the ticket's values. Raises InvalidOrderError naming the field, the value and what is
    allowed when they do not make a well-formed order of the chosen type."""
    kind = ticket.kind.value
    what = f"place {BY_VALUE[kind].noun}"
    if kind == REGULAR:
        request = ticket.request()
        return Plan(what, lambda oms: oms.place_order(request), request)
    if kind in (BRACKET, COVER):
        return _bracket(ticket, what, kind == BRACKET)
    if kind == TRAILING:
        return _trailing(ticket, what)
    if kind == ICEBERG:
        return _iceberg(ticket, what)
    if kind == GTT_SINGLE:
        return _gtt_single(ticket, what)
    if kind == GTT_TWO_LEG:
        return _gtt_two_leg(ticket, what)
    raise InvalidOrderError("type", kind, ", ".join(k.value for k in KINDS))


def _entry(ticket: OrderTicket, *, validity: bool = True, order_type: str | None = None,
           price: object = None) -> OrderRequest:
    # The order of the ticket's symbol, side, quantity and product; a price only for a LIMIT.
    order_type = order_type or ticket.order_type.value
    return OrderRequest(ticket.symbol.value.strip().upper(), ticket.side.value, ticket.quantity.value, order_type,
                        price=price if order_type == "LIMIT" else None, product=ticket.product.value,
                        validity=ticket.validity.value if validity else "DAY")


def _instrument(ticket: OrderTicket, symbol: str) -> Instrument:
    try:
        return ticket.oms.instrument(symbol)
    except InvalidOrderError:  # its message lists every symbol: too long for a ticket's line
        raise InvalidOrderError("symbol", symbol, "the symbol of an instrument of this OMS") from None


def _trail(ticket: OrderTicket, required: bool) -> tuple[Decimal | None, Decimal | None]:
    value = text(ticket.trail)
    if ticket.trail_unit.value == PERCENT:
        return parse_trail(None, value, required)
    return parse_trail(value, None, required)


def _trail_note(trail: Decimal | None, percent: Decimal | None) -> str:
    if trail is None and percent is None:
        return ""
    return f", trailing {money(trail)} points" if trail is not None else f", trailing {percent}%"


def _bracket(ticket: OrderTicket, what: str, bracket: bool) -> Plan:
    entry = _entry(ticket, validity=bracket, price=text(ticket.price))
    target = parse_points(text(ticket.target), "target", True) if bracket else None
    stoploss = parse_points(text(ticket.stoploss), "stoploss", True)
    trail, percent = _trail(ticket, False)
    instrument = _instrument(ticket, entry.symbol)
    reference = entry.price if entry.price is not None else ticket.oms.last_price(entry.symbol)
    if reference is not None:  # a stop at or below 0 is refused before anything is placed, as the OMS does
        exit_prices(entry.side, reference, target, stoploss, instrument)
    exits = (f"target {money(target)} and " if target is not None else "") + f"stop {money(stoploss)} points"
    note = f"exits: {exits} from the entry's fill{_trail_note(trail, percent)}"
    if bracket:
        def call(oms: Any) -> Any:
            return oms.place_bracket(entry.symbol, entry.side, entry.quantity, entry.order_type, entry.price,
                                     target=target, stoploss=stoploss, trail=trail, trail_percent=percent,
                                     product=entry.product, validity=entry.validity)
    else:
        def call(oms: Any) -> Any:
            return oms.place_cover(entry.symbol, entry.side, entry.quantity, entry.order_type, entry.price,
                                   stoploss=stoploss, trail=trail, trail_percent=percent, product=entry.product)
    return Plan(what, call, entry, note)


def _trailing(ticket: OrderTicket, what: str) -> Plan:
    stop = _entry(ticket, validity=False, order_type="MARKET")
    trail, percent = _trail(ticket, True)
    instrument = _instrument(ticket, stop.symbol)
    last = ticket.oms.last_price(stop.symbol)
    if last is None:
        raise InvalidOrderError("last_price", None, f"a last price of {stop.symbol} to trail from",
                                hint="wait for a quote")
    trigger = trailed(stop.side, last, trail, percent, instrument.tick_size)
    checked = stop.replace(order_type=OrderType.SL_M, trigger_price=trigger)

    def call(oms: Any) -> Any:
        return oms.place_trailing_stop(stop.symbol, stop.side, stop.quantity, trail=trail, trail_percent=percent,
                                       product=stop.product)

    behind = f"{money(trail)} points" if trail is not None else f"{percent}%"
    return Plan(what, call, checked, f"SL-M triggered at {money(trigger)} now, then {behind} behind the best price")


def _iceberg(ticket: OrderTicket, what: str) -> Plan:
    order = _entry(ticket, validity=False, price=text(ticket.price))
    instrument = _instrument(ticket, order.symbol)
    legs = parse_legs(ticket.legs.value, order.quantity, instrument)
    sizes = leg_sizes(order.quantity, legs, instrument.lot_size)

    def call(oms: Any) -> Any:
        return oms.place_iceberg(order.symbol, order.side, order.quantity, order.order_type, order.price, legs=legs,
                                 product=order.product, validity=Validity.DAY)

    each = f"{sizes[0]:,}" if sizes[-1] == sizes[0] else f"{sizes[0]:,} and {sizes[-1]:,}"
    return Plan(what, call, order.replace(quantity=sizes[0]),
                f"{legs} legs of {each}, each placed when the one before has filled")


def _gtt_single(ticket: OrderTicket, what: str) -> Plan:
    order = ticket.request()
    trigger = parse_price(text(ticket.gtt_trigger), "gtt_trigger")
    symbol, last = order.symbol, ticket.oms.last_price(order.symbol)
    _, _, (value,), _ = parse_gtt(symbol, "single", trigger, order, last, _instrument(ticket, symbol))
    arrow = "▲" if last is not None and value > last else "▼"

    def call(oms: Any) -> Any:
        return oms.place_gtt(symbol, value, order, kind="single")

    return Plan(what, call, None, f"GTT: the order is placed when {symbol} reaches {arrow}{money(value)} (last "
                f"{money(last)}) and checked then")


def _gtt_two_leg(ticket: OrderTicket, what: str) -> Plan:
    stop_trigger = parse_price(text(ticket.stop_trigger), "stop_trigger")
    target_trigger = parse_price(text(ticket.target_trigger), "target_trigger")
    limit = ticket.order_type.value == "LIMIT"
    stop_price = parse_price(text(ticket.stop_price), "stop_price") if limit else None
    target_price = parse_price(text(ticket.target_price), "target_price") if limit else None
    stop, target = _entry(ticket, price=stop_price), _entry(ticket, price=target_price)
    symbol, last = stop.symbol, ticket.oms.last_price(stop.symbol)
    _, _, triggers, _ = parse_gtt(symbol, "two-leg", [stop_trigger, target_trigger], (stop, target), last,
                                  _instrument(ticket, symbol))

    def call(oms: Any) -> Any:
        return oms.place_gtt(symbol, list(triggers), [stop, target], kind="two-leg")

    return Plan(what, call, None, f"GTT: stop at ▼{money(triggers[0])}, target at ▲{money(triggers[1])} (last "
                f"{money(last)}); the leg reached first places its order, checked then, and cancels the other")
