"""Futures and options: when a contract stops trading, how a large order is sliced, what a contract settles at.

Pure functions of an :class:`~oms_kit.tradable.Instrument` (no account, no clock), shared by the pre-trade checks
(``CONTRACT_EXPIRED``), ``OMS.place_order(autoslice=True)``, the risk monitor's square-off and the settlement at
expiry (:mod:`oms_kit.settlement`).

- A contract trades until the close of its expiry day, 15:30 IST (:func:`expiry_close`); from then on it is expired.
- An order above the exchange's freeze quantity is refused by the exchange; brokers slice it into child orders of
  at most the freeze quantity, each a whole number of lots (:func:`slice_quantity`).
- NSE's index futures and options are cash-settled at expiry: a future at the final settlement price (the
  underlying's closing price on the expiry day), an option in the money at its intrinsic value, one out of the
  money at 0 (:func:`settlement_price`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache

from oms_kit.errors import InvalidOrderError
from oms_kit.market.calendar import EXPIRY_CLOSE, IST
from oms_kit.request import MAX_TEXT, OrderRequest
from oms_kit.tradable import Instrument

__all__ = ["MAX_SLICES", "expiry_close", "intrinsic_value", "is_expired", "settlement_price", "slice_quantity",
           "slice_request"]

_ZERO = Decimal(0)
MAX_SLICES = 100  # child orders of one autosliced order at most (the kit's bound, not an exchange's)


@lru_cache(maxsize=256)
def _close_of(day: date) -> datetime:
    return datetime.combine(day, EXPIRY_CLOSE, tzinfo=IST).astimezone(UTC)


def expiry_close(instrument: Instrument) -> datetime | None:
    """When ``instrument`` stops trading, as an aware UTC datetime: 15:30 IST on its expiry day (10:00 UTC). None
    for an instrument without an expiry (cash equity)."""
    expiry = instrument.expiry
    return None if expiry is None else _close_of(expiry)


def is_expired(instrument: Instrument, now: datetime) -> bool:
    """Whether ``instrument`` has expired at ``now`` (a naive ``now`` is UTC): at or after :func:`expiry_close`."""
    close = expiry_close(instrument)
    if close is None:
        return False
    return (now if now.tzinfo is not None else now.replace(tzinfo=UTC)) >= close


def slice_quantity(quantity: int, cap: int | None, lot: int = 1) -> list[int]:
    """``quantity`` in slices of at most ``cap`` (the freeze quantity), each a whole number of lots where it can be.

    Every slice but the last is the largest multiple of ``lot`` not above ``cap`` (one lot when ``cap`` is below a
    lot); the last is what remains. A quantity within ``cap`` (or ``cap`` None) is one slice. The slices add up to
    ``quantity``; when ``quantity`` is a multiple of ``lot`` every slice is.

    >>> slice_quantity(3750, 1800, 75)
    [1800, 1800, 150]
    >>> slice_quantity(1820, 1800, 65)      # 1800 is not a multiple of 65: slices of 27 lots
    [1755, 65]
    """
    if cap is None or quantity <= cap:
        return [quantity]
    size = cap - cap % lot if cap >= lot else lot
    slices = [size] * (quantity // size)
    if quantity % size:
        slices.append(quantity % size)
    return slices


def slice_request(request: OrderRequest, instrument: Instrument | None) -> list[OrderRequest]:
    """The child orders of ``request`` placed with ``autoslice=True``: one per :func:`slice_quantity` slice of its
    quantity by the instrument's freeze quantity, each with the request's fields and its own client order id
    (the request's with ``-1``, ``-2``, … appended, so a retry of the whole finds each child again).

    ``[request]`` itself when there is nothing to slice: the quantity is within the freeze quantity, the
    instrument has none (cash equity) or is unknown, or the quantity is not a whole number of lots (that order is
    refused as it stands, QUANTITY_NOT_LOT_MULTIPLE, rather than sliced into orders of which one would be).

    Raises InvalidOrderError when the quantity would need more than :data:`MAX_SLICES` children, or the client
    order id leaves no room for their suffixes.
    """
    freeze = instrument.freeze_quantity if instrument is not None else None
    quantity = request.quantity
    if freeze is None or quantity <= freeze or quantity % instrument.lot_size:  # type: ignore[union-attr]
        return [request]
    lot = instrument.lot_size  # type: ignore[union-attr]
    size = freeze - freeze % lot if freeze >= lot else lot
    if -(-quantity // size) > MAX_SLICES:  # a fat finger must not become a million child orders
        raise InvalidOrderError("quantity", quantity, f"at most {MAX_SLICES * size} with autoslice ({MAX_SLICES} "
                                f"child orders of {size}, the freeze quantity {freeze} in lots of {lot})")
    sizes = slice_quantity(quantity, freeze, lot)
    base = request.client_order_id
    if base is None:
        return [request.replace(quantity=size) for size in sizes]
    room = MAX_TEXT - len(f"-{len(sizes)}")
    if len(base) > room:
        raise InvalidOrderError("client_order_id", base, f"at most {room} characters with autoslice: the {len(sizes)} "
                                f"child orders add -1 to -{len(sizes)}")
    return [request.replace(quantity=size, client_order_id=f"{base}-{i}") for i, size in enumerate(sizes, 1)]


def intrinsic_value(instrument: Instrument, underlying_price: Decimal) -> Decimal:
    """What an option is worth at expiry with the underlying at ``underlying_price``: a call ``price - strike``, a
    put ``strike - price``, and 0 when that is negative (out of the money). ``ValueError`` for a non-option."""
    strike = instrument.strike
    if strike is None or not instrument.is_option:
        raise ValueError(f"{instrument.symbol} is not an option")
    value = underlying_price - strike if instrument.instrument_type == "CE" else strike - underlying_price
    return value if value > 0 else _ZERO


def settlement_price(instrument: Instrument, underlying_price: Decimal) -> Decimal:
    """The price ``instrument`` settles at when the underlying's final settlement price is ``underlying_price``: a
    future at that price, an option at its :func:`intrinsic_value`. ``ValueError`` for an instrument without an
    expiry."""
    if instrument.is_future:
        return underlying_price
    if instrument.is_option:
        return intrinsic_value(instrument, underlying_price)
    raise ValueError(f"{instrument.symbol} is not a future or an option")
