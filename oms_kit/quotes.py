"""What a person tells a running OMS about the market by hand, checked at the door like an order's fields: a quote
(``OMS.set_price``) and instruments defined on the way (``OMS.define_instruments``).

A feed's bars are checked where they are loaded (``market/bars.py``); these come one at a time from a notebook, a
test or the HTTP API, so each bad value raises an error naming its field before anything changes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from oms_kit.errors import ConfigError, DataError
from oms_kit.instruments import resolve_instruments
from oms_kit.market.bars import Bar
from oms_kit.parsing import MAX_PRICE
from oms_kit.tradable import Instrument

_PRICE_ALLOWED = f"a number above 0 and at most {MAX_PRICE:,}"


def quote_bar(symbol: Any, price: Any, volume: Any, instruments: Mapping[str, Instrument], now: datetime) -> Bar:
    """A quote of ``symbol`` as a one-price bar at ``now``, as a feed would send it: the broker rounds the price to
    the instrument's tick. Raises DataError for a symbol not in ``instruments``, a price that is not a number above
    0 and at most ``MAX_PRICE``, or a volume that is not a finite number >= 0 (None: unknown)."""
    if not isinstance(symbol, str) or symbol not in instruments:
        raise DataError("symbol", symbol, "an instrument of this OMS (oms.instrument(symbol) tells)",
                        hint="define it with OMS.open(instruments=[ok.Instrument(symbol, ...)])")
    # A quote is market data, rounded to the tick as a feed's is: any number above 0 and at most MAX_PRICE.
    if isinstance(price, bool) or not isinstance(price, int | float | Decimal | str):
        raise DataError("price", price, _PRICE_ALLOWED)
    try:
        value = float(price)
    except (ValueError, OverflowError):
        raise DataError("price", price, _PRICE_ALLOWED) from None
    if not 0 < value <= MAX_PRICE:
        raise DataError("price", price, _PRICE_ALLOWED)
    if volume is not None and (isinstance(volume, bool) or not isinstance(volume, int | float)
                               or not 0 <= volume < float("inf")):
        raise DataError("volume", volume, "a finite number >= 0, or None")
    return Bar(now, symbol, value, value, value, value, math.nan if volume is None else volume)


def add_instruments(known: dict[str, Instrument], instruments: Iterable[Instrument]) -> None:
    """Add ``instruments`` to ``known`` (by symbol), leaving a symbol already defined the same way as it is.

    Raises ConfigError, and adds none, when an item is not an Instrument, two items share a symbol but differ, or
    an item redefines a known symbol differently: tick and lot decide which orders are valid, so a definition does
    not change under orders.
    """
    given = resolve_instruments(instruments, replace=True)
    for symbol, instrument in given.items():
        current = known.get(symbol)
        if current is not None and current != instrument:
            raise ConfigError(f"instruments (symbol {symbol} is already defined)", instrument,
                              f"the definition in use, {current!r}, or a symbol not yet defined")
    known.update(given)
