"""Quote: a bar that carries the order book's best prices, with up to five levels of depth each side.

A :class:`Quote` is a :class:`~oms_kit.market.bar.Bar` whose open, high, low and close are its last traded price, so
feeds, the strategy runner, ``OMS.apply_bar``/``push_bar`` and the marks take it as they take any bar. The broker
sees the difference: it matches a quote on its book (:mod:`oms_kit.broker.depth`), a bar on its range.

``bids`` and ``asks`` are tuples of ``(price, quantity)`` levels, best first: bids descending, asks ascending, the
best bid below the best ask. A side may be empty (no buyers, or no sellers: a stock at its circuit limit). Every
price is a finite number above 0 and at most :data:`~oms_kit.parsing.MAX_PRICE`; every quantity a whole number from
0 to ``10**15``. A quote that breaks a rule is refused where it is made — :class:`Quote` itself, or
:func:`~oms_kit.market.bars.load_quotes` for a table — with a :class:`~oms_kit.errors.DataError` naming the field
as a quote table's column (``bid_price_2``, ``ask_qty_1``), the value and what is allowed.

A quote table (what :class:`~oms_kit.market.recorder.FeedRecorder` writes for quotes) has the columns
:data:`QUOTE_COLUMNS`: timestamp, symbol, last, volume, then ``bid_price_1`` … ``bid_price_5``, ``bid_qty_1`` …
``bid_qty_5``, ``ask_price_1`` … ``ask_price_5``, ``ask_qty_1`` … ``ask_qty_5``; a level a quote does not have is
empty (NaN / NULL) in both its columns.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import islice
from typing import Any

import numpy as np

from oms_kit.errors import DataError
from oms_kit.market.bar import Bar
from oms_kit.parsing import MAX_PRICE

__all__ = ["DEPTH", "DEPTH_COLUMNS", "QUOTE_COLUMNS", "Quote", "quote_columns"]

DEPTH = 5  # levels a side, as Kite's full-mode ticks and most Indian brokers' feeds give
MAX_DEPTH_QUANTITY = 10**15  # whole numbers a float holds exactly, far beyond any level's size
DEPTH_COLUMNS: tuple[str, ...] = tuple(
    f"{side}_{what}_{level}" for side in ("bid", "ask") for what in ("price", "qty") for level in range(1, DEPTH + 1)
)
QUOTE_COLUMNS: tuple[str, ...] = ("timestamp", "symbol", "last", "volume", *DEPTH_COLUMNS)

_MAX_PRICE = float(MAX_PRICE)
PRICE_ALLOWED = f"a finite number > 0 and at most {MAX_PRICE:,}"
QUANTITY_ALLOWED = f"a whole number from 0 to {MAX_DEPTH_QUANTITY:,}"
_LEVELS_ALLOWED = f"a sequence of at most {DEPTH} (price, quantity) pairs, best first"
_LEVEL_ALLOWED = "a (price, quantity) pair"


def _column(side: str, what: str, level: int) -> str:
    return f"{side}_{what}_{level}"


def order_allowed(side: str, level: int) -> str:
    """What a level's price must be against the level before it (level >= 2)."""
    before = _column(side, "price", level - 1)
    if side == "bid":
        return f"a price below {before} (bids best first: descending)"
    return f"a price above {before} (asks best first: ascending)"


CROSS_ALLOWED = "a price above bid_price_1 (the best bid is below the best ask)"



# Slots written out, not slots=True: that would declare Bar's fields again unless Bar has __slots__, which the
# compiled Bar (a native class) has not, and Quote's own slots would shadow the fields Bar's code reads.
@dataclass(frozen=True, init=False, repr=False, eq=False)  # equal as Bar says, its book included (_key)
class Quote(Bar):
    """A quote of one symbol: its last traded price and volume, and its order book's best levels.

    Parameters
    ----------
    timestamp : datetime
        Timezone-aware (feeds and tables give UTC).
    symbol : str
    last : float
        The last traded price: the bar's open, high, low and close, what the account marks and what stop orders
        trigger on.
    volume : float
        Traded since the symbol's previous quote; NaN when unknown. The broker does not match on it.
    bids, asks : sequences of (price, quantity)
        Up to :data:`DEPTH` levels each, best first. Stored as tuples of ``(float, int)``.

    Raises
    ------
    DataError
        A value breaks the rules of the module docstring; the error names the field (``bid_price_1``, ``ask_qty_3``,
        ``bids``, ``last``…), the value and what is allowed.
    """

    __slots__ = ("asks", "bids")

    bids: tuple[tuple[float, int], ...]
    asks: tuple[tuple[float, int], ...]

    def __init__(
        self,
        timestamp: datetime,
        symbol: str,
        last: float,
        volume: float = math.nan,
        bids: Iterable[Sequence[float]] = (),
        asks: Iterable[Sequence[float]] = (),
    ) -> None:
        if not isinstance(timestamp, datetime) or timestamp.tzinfo is None or timestamp.utcoffset() is None:
            raise DataError("timestamp", timestamp, "a timezone-aware datetime")
        if not isinstance(symbol, str) or not symbol:
            raise DataError("symbol", symbol, "a non-empty string")
        price = _price("last", last)
        traded = _volume(volume)
        bid_levels, ask_levels = _levels("bid", bids), _levels("ask", asks)
        if bid_levels and ask_levels and bid_levels[0][0] >= ask_levels[0][0]:
            raise DataError("ask_price_1", ask_levels[0][0], CROSS_ALLOWED,
                            detail=f"bid_price_1 is {bid_levels[0][0]!r}")
        _set_quote(self, timestamp, symbol, price, traded, bid_levels, ask_levels)

    @property
    def last(self) -> float:
        """The last traded price (the bar's close)."""
        return self.close

    @property
    def bid(self) -> float | None:
        """The best bid price; None when no one bids."""
        return self.bids[0][0] if self.bids else None

    @property
    def ask(self) -> float | None:
        """The best ask price; None when no one offers."""
        return self.asks[0][0] if self.asks else None

    @property
    def bid_size(self) -> int:
        """The quantity at the best bid (0 without bids)."""
        return self.bids[0][1] if self.bids else 0

    @property
    def ask_size(self) -> int:
        """The quantity at the best ask (0 without asks)."""
        return self.asks[0][1] if self.asks else 0

    def _key(self) -> tuple[Any, ...]:
        return (*Bar._key(self), self.bids, self.asks)

    def __reduce__(self) -> tuple[Any, ...]:
        # Bar's rebuilds a Bar: a quote is rebuilt as a loaded one is, its values already checked.
        return trusted_quote, (self.timestamp, self.symbol, self.close, self.volume, self.bids, self.asks)

    def __repr__(self) -> str:
        bid = f"{self.bid!r} x {self.bid_size}" if self.bids else "none"
        ask = f"{self.ask!r} x {self.ask_size}" if self.asks else "none"
        return (f"Quote({self.timestamp.isoformat()}, {self.symbol!r}, last={self.close!r}, volume={self.volume!r}, "
                f"bid={bid}, ask={ask}, levels={len(self.bids)}/{len(self.asks)})")


_SLOTS = [vars(Bar)[name].__set__ for name in ("timestamp", "symbol", "open", "high", "low", "close", "volume")]
_SLOTS += [vars(Quote)[name].__set__ for name in ("bids", "asks")]


def _set_quote(quote: Quote, timestamp: datetime, symbol: str, last: float, volume: float,
               bids: tuple[tuple[float, int], ...], asks: tuple[tuple[float, int], ...]) -> None:
    for setter, value in zip(_SLOTS, (timestamp, symbol, last, last, last, last, volume, bids, asks), strict=True):
        setter(quote, value)


def trusted_quote(timestamp: datetime, symbol: str, last: float, volume: float,
                  bids: tuple[tuple[float, int], ...], asks: tuple[tuple[float, int], ...]) -> Quote:
    """A Quote from values already checked (a loaded table's rows): no check runs again."""
    quote = Quote.__new__(Quote)
    _set_quote(quote, timestamp, symbol, last, volume, bids, asks)
    return quote


def _price(field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real | Decimal):
        raise DataError(field, value, PRICE_ALLOWED)
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise DataError(field, value, PRICE_ALLOWED) from None
    if not 0 < number <= _MAX_PRICE:
        raise DataError(field, value, PRICE_ALLOWED)
    return number


def _volume(value: Any) -> float:
    allowed = "a finite number >= 0, or NaN when unknown"
    if isinstance(value, bool) or not isinstance(value, numbers.Real | Decimal):
        raise DataError("volume", value, allowed)
    try:
        number = float(value)
    except (ValueError, OverflowError):  # a signalling NaN, an int beyond float range
        raise DataError("volume", value, allowed) from None
    if not (math.isnan(number) or 0 <= number < math.inf):
        raise DataError("volume", value, allowed)
    return number


def _quantity(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real | Decimal):
        raise DataError(field, value, QUANTITY_ALLOWED)
    if isinstance(value, numbers.Integral):
        whole = int(value)
    else:
        try:
            number = float(value)
        except (ValueError, OverflowError):
            raise DataError(field, value, QUANTITY_ALLOWED) from None
        if not math.isfinite(number) or not number.is_integer():
            raise DataError(field, value, QUANTITY_ALLOWED)
        whole = int(number)
    if not 0 <= whole <= MAX_DEPTH_QUANTITY:
        raise DataError(field, value, QUANTITY_ALLOWED)
    return whole


def _levels(side: str, given: Any) -> tuple[tuple[float, int], ...]:
    name = f"{side}s"
    if isinstance(given, str | bytes | Mapping) or not isinstance(given, Iterable):
        raise DataError(name, given, _LEVELS_ALLOWED)
    items = list(islice(given, DEPTH + 1))  # an endless iterator is refused, not read forever
    if len(items) > DEPTH:
        raise DataError(name, given if isinstance(given, Sequence) else f"more than {DEPTH} levels", _LEVELS_ALLOWED)
    levels: list[tuple[float, int]] = []
    for level, item in enumerate(items, start=1):
        if isinstance(item, str | bytes) or not isinstance(item, Sequence) or len(item) != 2:
            raise DataError(f"{name}[{level - 1}]", item, _LEVEL_ALLOWED)
        price = _price(_column(side, "price", level), item[0])
        quantity = _quantity(_column(side, "qty", level), item[1])
        if levels and not (price < levels[-1][0] if side == "bid" else price > levels[-1][0]):
            raise DataError(_column(side, "price", level), item[0], order_allowed(side, level),
                            detail=f"{_column(side, 'price', level - 1)} is {levels[-1][0]!r}")
        levels.append((price, quantity))
    return tuple(levels)


def quote_columns(quotes: Sequence[Quote]) -> dict[str, list[Any]]:
    """The columns of a quote table (:data:`QUOTE_COLUMNS`) holding ``quotes``, a list per column; a level a quote
    does not have is None in its price and quantity columns."""
    columns: dict[str, list[Any]] = {
        "timestamp": [q.timestamp for q in quotes],
        "symbol": [q.symbol for q in quotes],
        "last": [q.close for q in quotes],
        "volume": [q.volume for q in quotes],
    }
    for side, attribute in (("bid", "bids"), ("ask", "asks")):
        books = [getattr(q, attribute) for q in quotes]
        for what, index in (("price", 0), ("qty", 1)):
            for level in range(DEPTH):
                columns[_column(side, what, level + 1)] = [
                    book[level][index] if level < len(book) else None for book in books]
    return columns


def depth_problem(
    arrays: Mapping[str, np.ndarray], unreadable: Mapping[str, np.ndarray],
) -> tuple[str, np.ndarray, str] | None:
    """The first broken rule of a quote table's depth columns, as (column, bad rows, what is allowed); None when
    every row keeps the rules.

    ``arrays`` holds the :data:`DEPTH_COLUMNS` as float64 (NaN where a level is empty), ``unreadable`` per column
    the rows whose value was given but is not a number. One vectorised pass per rule; the loader turns the answer
    into a DataError naming the first bad row.
    """
    for side in ("bid", "ask"):
        present_before: np.ndarray | None = None
        prices_before: np.ndarray | None = None
        for level in range(1, DEPTH + 1):
            price_column, qty_column = _column(side, "price", level), _column(side, "qty", level)
            prices, quantities = arrays[price_column], arrays[qty_column]
            for column, allowed in ((price_column, PRICE_ALLOWED), (qty_column, QUANTITY_ALLOWED)):
                bad = unreadable.get(column)
                if bad is not None and bad.any():
                    return column, bad, allowed
            has_price, has_qty = ~np.isnan(prices), ~np.isnan(quantities)
            bad = has_price & ~((prices > 0) & (prices <= _MAX_PRICE))
            if bad.any():
                return price_column, bad, PRICE_ALLOWED
            bad = has_qty & ~((quantities >= 0) & (quantities <= MAX_DEPTH_QUANTITY)
                              & (quantities == np.floor(quantities)))
            if bad.any():
                return qty_column, bad, QUANTITY_ALLOWED
            if (has_price & ~has_qty).any():
                return qty_column, has_price & ~has_qty, f"a quantity where {price_column} is given (both or neither)"
            if (has_qty & ~has_price).any():
                return price_column, has_qty & ~has_price, f"a price where {qty_column} is given (both or neither)"
            if present_before is not None and prices_before is not None:
                bad = has_price & ~present_before
                if bad.any():
                    return price_column, bad, (f"empty while {_column(side, 'price', level - 1)} is: levels fill "
                                               "from 1 up, best first")
                worse = prices >= prices_before if side == "bid" else prices <= prices_before
                bad = has_price & worse
                if bad.any():
                    return price_column, bad, order_allowed(side, level)
            present_before, prices_before = has_price, prices
    bids, asks = arrays["bid_price_1"], arrays["ask_price_1"]
    bad = ~np.isnan(bids) & ~np.isnan(asks) & (bids >= asks)
    if bad.any():
        return "ask_price_1", bad, CROSS_ALLOWED
    return None


def iter_quotes(timestamps: list[datetime], symbols: list[str], lasts: list[float], volumes: list[float],
                depth: Mapping[str, list[float]]) -> Iterator[Quote]:
    """Quotes from the columns of a checked quote table (lists of Python values, NaN for an empty level)."""
    sides = []
    for side in ("bid", "ask"):
        prices = [depth[_column(side, "price", level)] for level in range(1, DEPTH + 1)]
        quantities = [depth[_column(side, "qty", level)] for level in range(1, DEPTH + 1)]
        # Per row: the levels up to the first empty one (a checked table has no gaps).
        sides.append([tuple((p, int(q)) for p, q in zip(row_prices, row_quantities, strict=True) if p == p)
                      for row_prices, row_quantities in zip(zip(*prices, strict=True), zip(*quantities, strict=True),
                                                            strict=True)])
    for row, (timestamp, symbol, last, volume) in enumerate(zip(timestamps, symbols, lasts, volumes, strict=True)):
        yield trusted_quote(timestamp, symbol, last, volume, sides[0][row], sides[1][row])
