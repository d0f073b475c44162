"""OrderRequest: what a caller asks for, parsed once at the door.

Every way in — ``OMS.place_order`` and ``validate``, a strategy's ``ctx.order``, the order ticket, the HTTP API —
turns its input into one ``OrderRequest`` and passes that value on, so the rules for a well-formed order live here
and nowhere else. Constructing one checks every field and raises :class:`~oms_kit.errors.InvalidOrderError` naming
the field, the value and what is allowed; a request that exists is well formed. Whether it may trade now (limits,
funds, the kill switch) is the pre-trade checks' business, not this module's.
"""

from __future__ import annotations

import inspect
from decimal import Decimal
from typing import Any, Final, NamedTuple

from mypy_extensions import mypyc_attr

from oms_kit.errors import InvalidOrderError
from oms_kit.models import OrderType, Product, Side, Validity, Variety
from oms_kit.parsing import MAX_QUANTITY, parse_disclosed_quantity, parse_price, parse_quantity, parse_text

MAX_SYMBOL: Final = 64  # characters of a symbol; NSE's longest are about 30 (an option's full name)
MAX_TEXT: Final = 255  # of a client order id or a tag

# Spellings the order path sees most, to their members; a StrEnum member hashes and compares as its value, so the
# members themselves are found too.
_SIDES: Final[dict[Any, Side]] = {m.value: m for m in Side}
_ORDER_TYPES: Final[dict[Any, OrderType]] = {m.value: m for m in OrderType}
_PRODUCTS: Final[dict[Any, Product]] = {m.value: m for m in Product}
_VALIDITIES: Final[dict[Any, Validity]] = {m.value: m for m in Validity}
_VARIETIES: Final[dict[Any, Variety]] = {m.value: m for m in Variety}
_PRICED: Final = frozenset({OrderType.LIMIT, OrderType.SL})
_TRIGGERED: Final = frozenset({OrderType.SL, OrderType.SL_M})
# The defaults of the fields after the symbol, as the methods that take a request or the fields have them.
_DEFAULTS: Final = (None, None, OrderType.MARKET, None, None, Product.MIS, Validity.DAY, None, None, Variety.REGULAR, 0)
FIELDS: Final = ("symbol", "side", "quantity", "order_type", "price", "trigger_price", "product", "validity",
                 "client_order_id", "tag", "variety", "disclosed_quantity")


class _Fields(NamedTuple):
    symbol: str
    side: Side
    quantity: int
    order_type: OrderType
    price: Decimal | None
    trigger_price: Decimal | None
    product: Product
    validity: Validity
    client_order_id: str | None
    tag: str | None
    variety: Variety
    disclosed_quantity: int


@mypyc_attr(native_class=False)  # a tuple: compiled, the module keeps it a Python class
class OrderRequest(_Fields):
    """A well-formed order as asked for, before any check or order number.

    ``OrderRequest("RELIANCE", "BUY", 10, "LIMIT", 2500)`` accepts the spellings the methods accept (``"buy"``,
    ``Side.BUY``, ``10.0``, ``"2500.05"``) and holds the parsed values: members of the enums, an ``int`` quantity,
    ``Decimal`` prices. A price only for LIMIT and SL, a trigger only for SL and SL-M. ``disclosed_quantity``: how
    much of it the exchange shows at a time, 0 (the default) for all of it; a whole number here, its rule against
    the quantity (NSE's) is the pre-trade check DISCLOSED_QUANTITY. Immutable; ``replace()`` gives a changed copy,
    parsed again.
    """

    # A named tuple: built by one C call once the fields are parsed. A frozen dataclass sets each of its ten
    # fields through a descriptor call, which measured more than ten times the cost of the whole tuple, and every
    # order of a backtest and of the OMS passes here. The usual spellings are parsed by one dict lookup each and
    # one test for the quantity; anything else goes through the slower parse functions, which also word the error.
    __slots__ = ()

    def __new__(cls, *fields: Any, **named: Any) -> OrderRequest:
        return order_request(*fields, **named)

    @classmethod
    def of(cls, symbol: object, *fields: Any) -> OrderRequest:
        """``symbol`` itself when it is a request (and the other fields, in the constructor's order, are left at
        their defaults), else a request of the fields: how the methods that take either (``place_order``,
        ``validate``, ``ctx.order``) read their arguments."""
        if not isinstance(symbol, OrderRequest):
            return order_request(symbol, *fields)
        for name, value, default in zip(FIELDS[1:], fields, _DEFAULTS, strict=False):
            if value is not None and value != default:
                raise InvalidOrderError(name, value, "nothing beside an OrderRequest: its fields say it all")
        return symbol

    def same_payload(self, other: Any) -> bool:
        """Whether ``other`` (an order or a request) asks for the same trade: a retry, whatever its client id."""
        return (self.symbol == other.symbol and self.side is other.side and self.quantity == other.quantity
                and self.order_type is other.order_type and self.price == other.price
                and self.trigger_price == other.trigger_price and self.product is other.product
                and self.validity is other.validity and self.tag == other.tag and self.variety is other.variety
                and self.disclosed_quantity == other.disclosed_quantity)

    def replace(self, **changes: Any) -> OrderRequest:
        """A copy with ``changes`` (field names), parsed like a new request."""
        return OrderRequest(**{**self._asdict(), **changes})

    def _replace(self, **changes: Any) -> OrderRequest:  # the tuple's own would skip the parsing
        return self.replace(**changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON: enums as their text, prices as exact strings."""
        return {name: _plain(getattr(self, name)) for name in FIELDS}


def order_request(
    symbol: object,
    side: object,
    quantity: object,
    order_type: object = OrderType.MARKET,
    price: object = None,
    trigger_price: object = None,
    product: object = Product.MIS,
    validity: object = Validity.DAY,
    client_order_id: object = None,
    tag: object = None,
    variety: object = Variety.REGULAR,
    disclosed_quantity: object = 0,
) -> OrderRequest:
    """``OrderRequest(...)`` as a plain function: the order path (``place_order``, a strategy's orders) calls it,
    since calling a class whose ``__new__`` is written in Python costs an argument tuple and a C detour more.

    Each field takes what the methods accept (``symbol`` a str; ``side`` a str or a Side; ``quantity`` an int;
    prices a float, Decimal or str) and is typed ``object`` because it is checked here, by hand, with an error
    that names it (compiled, an annotation is checked first, with a bare TypeError)."""
    if not isinstance(symbol, str) or not symbol.isprintable() or len(symbol) > MAX_SYMBOL or not symbol.strip():
        raise InvalidOrderError("symbol", symbol, f"a symbol such as 'RELIANCE': at most {MAX_SYMBOL} printable "
                                "characters")
    try:
        parsed_side, parsed_type = _SIDES[side], _ORDER_TYPES[order_type]
        parsed_product, parsed_validity = _PRODUCTS[product], _VALIDITIES[validity]
        parsed_variety = _VARIETIES[variety]
    except (KeyError, TypeError):
        parsed_side = Side.parse(side, "side")
        parsed_type = OrderType.parse(order_type, "order_type")
        parsed_product = Product.parse(product, "product")
        parsed_validity = Validity.parse(validity, "validity")
        parsed_variety = Variety.parse(variety, "variety")
    if type(quantity) is not int or not 0 < quantity <= MAX_QUANTITY:
        quantity = parse_quantity(quantity)
    if parsed_type in _PRICED:
        if price is None:
            raise InvalidOrderError("price", None, f"a limit price: {parsed_type} orders need one")
        price = parse_price(price)
    elif price is not None:
        raise InvalidOrderError("price", price, f"no price for a {parsed_type} order (None)")
    if parsed_type in _TRIGGERED:
        if trigger_price is None:
            raise InvalidOrderError("trigger_price", None, f"a trigger price: {parsed_type} orders need one")
        trigger_price = parse_price(trigger_price, "trigger_price")
    elif trigger_price is not None:
        raise InvalidOrderError("trigger_price", trigger_price, f"no trigger for a {parsed_type} order (None)")
    if client_order_id is not None:
        parse_text(client_order_id, "client_order_id", MAX_TEXT)
    if tag is not None and (not isinstance(tag, str) or len(tag) > MAX_TEXT or not tag.isprintable()):
        raise InvalidOrderError("tag", tag, f"None or a text of at most {MAX_TEXT} printable characters")
    if type(disclosed_quantity) is not int or disclosed_quantity:  # 0, the default, is taken as it is
        disclosed_quantity = parse_disclosed_quantity(disclosed_quantity)
    return _new_tuple(OrderRequest, (symbol.strip(), parsed_side, quantity, parsed_type, price, trigger_price,
                                     parsed_product, parsed_validity, client_order_id, tag, parsed_variety,
                                     disclosed_quantity))


_new_tuple: Final = tuple.__new__


def _signature() -> inspect.Signature:
    # order_request's, written out: a compiled function has no signature inspect can read.
    field = inspect.Parameter.POSITIONAL_OR_KEYWORD
    required = [inspect.Parameter(name, field) for name in FIELDS[:3]]
    optional = [inspect.Parameter(name, field, default=default)
                for name, default in zip(FIELDS[3:], _DEFAULTS[2:], strict=True)]
    return inspect.Signature(required + optional, return_annotation=OrderRequest)


# help() and IDEs show the fields' signature. Through setattr: a compiled module may not assign a class attribute
# after the class statement.
setattr(OrderRequest, "__signature__", _signature())  # noqa: B010


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    return getattr(value, "value", value)
