"""Bar: one OHLCV bar of one symbol, the unit of market data every feed sends and the broker matches on.

Its own module so that :mod:`oms_kit.market.quote` (a :class:`~oms_kit.market.quote.Quote` is a bar with a book)
and :mod:`oms_kit.market.bars` (tables of either) can both build on it; ``oms_kit.market.bars.Bar`` names it too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

__all__ = ["BAR_COLUMNS", "Bar"]

BAR_COLUMNS: tuple[str, ...] = ("timestamp", "symbol", "open", "high", "low", "close", "volume")


@dataclass(frozen=True, slots=True, init=False)
class Bar:
    """One OHLCV bar of one symbol.

    Attributes
    ----------
    timestamp : datetime
        Timezone-aware UTC; by convention the bar's start time (as most vendors stamp bars).
    symbol : str
    open, high, low, close : float
    volume : float
        May be 0 or NaN when the source does not know it.
    """

    timestamp: datetime
    symbol: str
    open: float
    high: float
    low: float
    close: float
    volume: float

    # A frozen dataclass's generated __init__ calls object.__setattr__ once per field, which made Bar construction
    # the slowest step of a backtest (about 0.65 M bars/s). Setting the slots through their descriptors keeps the
    # class a frozen dataclass (no assignment after construction) at more than twice the speed.
    def __init__(
        self,
        timestamp: datetime,
        symbol: str,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float = math.nan,
    ) -> None:
        _set_timestamp(self, timestamp)
        _set_symbol(self, symbol)
        _set_open(self, open)
        _set_high(self, high)
        _set_low(self, low)
        _set_close(self, close)
        _set_volume(self, volume)


# The slot descriptors of the final class (slots=True builds a new class, so look them up after decoration).
_set_timestamp, _set_symbol, _set_open, _set_high, _set_low, _set_close, _set_volume = (
    Bar.__dict__[name].__set__ for name in BAR_COLUMNS
)
