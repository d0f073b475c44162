"""The order's fields and an account's money, parsed at the door: quantities, prices, texts and starting cash.

Every value a user, a client or a loader hands in is read here once, into the one form the order path keeps (an
``int`` quantity, an exact :class:`~decimal.Decimal` price with at most :data:`PRICE_PLACES` decimals, a printable
text), or refused with an :class:`~oms_kit.errors.InvalidOrderError` (a :class:`~oms_kit.errors.ConfigError` for
cash) naming the field, the value and what is allowed. The bounds are the store's: a value refused here is one that
could never have been stored. Whether a parsed order may trade (its tick, its lot, the risk limits) is for the
pre-trade checks (:mod:`oms_kit.checks`).
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Final

from oms_kit.errors import ConfigError, InvalidOrderError

# The largest quantity and price an order may carry. The store keeps quantities as BIGINT and prices and money as
# DECIMAL(28, 8) (below 10**20, eight decimals): with both bounds an order's value (at most 10**18) and its fees fit
# too, so a value refused here is one that could never have been stored. No listed instrument comes near either.
MAX_QUANTITY: Final = 10**9
MAX_PRICE: Final = Decimal(10**9)
MAX_CASH: Final = Decimal(10**15)  # an account's starting cash
PRICE_PLACES: Final = 8
_PLACES: Final = Decimal(1).scaleb(-PRICE_PLACES)
_QUANTITY_ALLOWED: Final = f"a whole number from 1 to {MAX_QUANTITY:,}"
_DISCLOSED_ALLOWED: Final = f"a whole number from 0 (all of the order shown) to {MAX_QUANTITY:,}"
_PRICE_ALLOWED: Final = f"a finite number above 0 and at most {MAX_PRICE:,}, with at most {PRICE_PLACES} decimal places"


def parse_quantity(value: object, field_name: str = "quantity") -> int:
    """A whole number of units from 1 to :data:`MAX_QUANTITY`; floats such as 10.0 are accepted, 10.5 or True are
    not."""
    quantity = _whole(value)
    if quantity is None or not 0 < quantity <= MAX_QUANTITY:
        raise InvalidOrderError(field_name, value, _QUANTITY_ALLOWED)
    return quantity


def parse_disclosed_quantity(value: object) -> int:
    """How much of an order the exchange shows at a time: a whole number from 0 (all of it shown, the default) to
    :data:`MAX_QUANTITY`, read as :func:`parse_quantity` reads a quantity. Its rule against the order's quantity,
    instrument and type is a pre-trade check (``DISCLOSED_QUANTITY``, :mod:`oms_kit.checks`)."""
    quantity = _whole(value)
    if quantity is None or not 0 <= quantity <= MAX_QUANTITY:
        raise InvalidOrderError("disclosed_quantity", value, _DISCLOSED_ALLOWED)
    return quantity


def _whole(value: object) -> int | None:
    # A whole number as an int (10, 10.0, Decimal("10")), or None when it is not one (True, 10.5, "10", NaN).
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    # A Decimal is bounded by its exponent first, without arithmetic: abs(Decimal("1e999999999")) overflows the
    # context and int() of it would build a billion-digit number. Below 10**10 it may be a whole number in range.
    if (isinstance(value, Decimal) and value.is_finite() and value.adjusted() < 10
            and value == value.to_integral_value()):
        return int(value)
    return None


def parse_price(value: object, field_name: str = "price") -> Decimal:
    """An exact price above 0 and at most :data:`MAX_PRICE`, as given: a user's price is never rounded (off-tick is
    a violation), so it may have at most :data:`PRICE_PLACES` decimals, what the store keeps."""
    price = _exact(value)
    if price is None or not 0 < price <= MAX_PRICE:
        raise InvalidOrderError(field_name, value, _PRICE_ALLOWED)
    return price


def _exact(value: object) -> Decimal | None:
    # A number as an exact Decimal with at most PRICE_PLACES decimals, or None when it is not one. The bounds of the
    # caller come before any arithmetic: Decimal("1e400") compares fine but fails to quantize or add later.
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        return None
    try:
        # str() of a float is its shortest round-trip form: 2500.05 stays 2500.05, not 2500.0499999...
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not number.is_finite() or abs(number) > MAX_CASH or number.quantize(_PLACES) != number:
        return None
    return number


def parse_text(value: object, field_name: str, max_length: int) -> str:
    """A non-empty text of at most ``max_length`` characters without control characters (symbols, ids, tags,
    reasons): the store keeps it as it is (PostgreSQL's text cannot hold a NUL) and a table shows it on one line."""
    if not isinstance(value, str) or not value.strip() or len(value) > max_length or not value.isprintable():
        raise InvalidOrderError(field_name, value if not isinstance(value, str) or len(value) <= 80 else
                                value[:80] + "…", f"a non-empty text of at most {max_length} printable characters")
    return value


def parse_cash(value: object, field_name: str = "cash") -> Decimal:
    """An account's starting cash: a finite amount from 0 to :data:`MAX_CASH` with at most
    :data:`PRICE_PLACES` decimals. Raises ConfigError."""
    cash = _exact(value)
    if cash is None or not 0 <= cash <= MAX_CASH:
        raise ConfigError(field_name, value,
                          f"a finite amount from 0 to {MAX_CASH:,} with at most {PRICE_PLACES} decimal places")
    return cash
