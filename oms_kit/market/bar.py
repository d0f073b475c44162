"""Bar: one OHLCV bar of one symbol, the unit of market data every feed sends and the broker matches on.

Its own module so that :mod:`oms_kit.market.quote` (a :class:`~oms_kit.market.quote.Quote` is a bar with a book)
and :mod:`oms_kit.market.bars` (tables of either) can both build on it; ``oms_kit.market.bars.Bar`` names it too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from datetime import datetime
from types import FunctionType
from typing import Any, Final

from mypy_extensions import mypyc_attr

__all__ = ["BAR_COLUMNS", "Bar"]

BAR_COLUMNS: Final[tuple[str, ...]] = ("timestamp", "symbol", "open", "high", "low", "close", "volume")


def _probe() -> None:
    pass


# Whether this module runs compiled (mypyc, oms_kit.compiled): Bar is then a native class that sets its fields
# directly.
_COMPILED: Final = not isinstance(_probe, FunctionType)


# A Quote (oms_kit.market.quote, Python) is a Bar: compiled, Bar must allow subclasses written in Python.
@mypyc_attr(allow_interpreted_subclasses=True)
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
    # the slowest step of a backtest (about 0.65 M bars/s). As Python, the slots are set through their descriptors
    # (the class stays a frozen dataclass, no assignment after construction) at more than twice the speed;
    # compiled, the fields are set directly.
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
        if _COMPILED:
            self.timestamp = timestamp  # type: ignore[misc]  # the constructor of a frozen class
            self.symbol = symbol  # type: ignore[misc]
            self.open = open  # type: ignore[misc]
            self.high = high  # type: ignore[misc]
            self.low = low  # type: ignore[misc]
            self.close = close  # type: ignore[misc]
            self.volume = volume  # type: ignore[misc]
            return
        _set_timestamp(self, timestamp)
        _set_symbol(self, symbol)
        _set_open(self, open)
        _set_high(self, high)
        _set_low(self, low)
        _set_close(self, close)
        _set_volume(self, volume)

    # Written out, not generated: compiled, a float field is a C double read as a new float object each time, so
    # a NaN volume (unknown) would be unequal to itself in the generated field-tuple comparison, and hash alike
    # never, where NaN hashes by identity. Here two bars whose fields are the same, unknown volumes included,
    # are equal and hash alike, compiled or not.
    def _key(self) -> tuple[Any, ...]:
        volume = self.volume
        return (self.timestamp, self.symbol, self.open, self.high, self.low, self.close,
                None if volume != volume else volume)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Bar)
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled (bars go to a sweep's workers) and copied through the constructor: compiled, a Bar has no
        # __dict__ to restore and refuses the assignments an unpickled state would make.
        return Bar, tuple(getattr(self, f.name) for f in fields(Bar))


# The slot descriptors of the final class (slots=True builds a new class, so look them up after decoration).
_set_timestamp, _set_symbol, _set_open, _set_high, _set_low, _set_close, _set_volume = (
    vars(Bar)[name].__set__ for name in BAR_COLUMNS
)
