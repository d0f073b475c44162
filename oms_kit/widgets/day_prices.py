"""The day of each symbol as the watchlist sees it: first and last price, previous close, best bid and ask, volume.

Kept from the OMS's price events (:class:`~oms_kit.events.PriceUpdated`), one call per event inside the OMS's
publish, so each is a few assignments: the exchange-local day of an event is worked out once per day (an event
inside the day already known costs two comparisons). A later day makes the last price seen the previous session's
close and starts the volume again; a plain price (a bar, ``set_price``) has no bid or ask, so it clears them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal

_NEVER = datetime.min.replace(tzinfo=UTC)
_HUNDRED = Decimal(100)


class SymbolDay:
    """One symbol's day: ``first`` price seen on ``day``, ``last`` price, ``close`` of the previous session when
    known, the best ``bid`` and ``ask`` of the last quote (None after a plain price), ``volume`` summed over the
    day's bars and quotes (None while none has said)."""

    __slots__ = ("ask", "bid", "close", "day", "first", "last", "volume")

    def __init__(self, day: date | None = None, price: Decimal | None = None) -> None:
        self.day = day  # None until the first price: a close given before any price waits for it
        self.first = price
        self.last = price
        self.close: Decimal | None = None
        self.bid: Decimal | None = None
        self.ask: Decimal | None = None
        self.volume: float | None = None


@dataclass(frozen=True, slots=True)
class WatchRow:
    """One row of the watchlist as last shown.

    ``change`` is ``last`` less ``reference`` and ``change_pct`` that in per cent of ``reference``; ``basis`` says
    what ``reference`` is: ``"close"``, the previous session's close, or ``"first"``, the first price seen today
    (no close known). All None before the symbol's first price; ``bid``/``ask`` None without a quote, ``volume``
    None while unknown.
    """

    symbol: str
    last: Decimal | None
    change: Decimal | None
    change_pct: Decimal | None
    basis: str | None
    reference: Decimal | None
    bid: Decimal | None
    ask: Decimal | None
    volume: float | None

    @classmethod
    def of(cls, symbol: str, day: SymbolDay | None) -> WatchRow:
        """The row of ``symbol`` from its day (None: nothing seen yet)."""
        if day is None or day.last is None:
            return cls(symbol, None, None, None, None, None, None, None, None)
        basis, reference = ("close", day.close) if day.close is not None else ("first", day.first)
        change = pct = None
        if reference is not None:
            change = day.last - reference
            pct = change / reference * _HUNDRED if reference else None
        return cls(symbol, day.last, change, pct, basis, reference, day.bid, day.ask, day.volume)


class DayPrices:
    """Every symbol's :class:`SymbolDay`, by symbol, in the exchange's time zone ``zone``."""

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone
        self.symbols: dict[str, SymbolDay] = {}
        # The exchange day last met and its bounds in UTC: nearly every event falls inside it.
        self._day = date.min
        self._start = self._end = _NEVER

    def day_of(self, at: datetime) -> date:
        """The exchange-local day of ``at`` (a naive time is taken as UTC)."""
        try:
            if self._start <= at < self._end:
                return self._day
        except TypeError:  # naive
            at = at.replace(tzinfo=UTC)
        day = at.astimezone(self.zone).date()
        self._day = day
        self._start = datetime.combine(day, time(0), self.zone)
        self._end = datetime.combine(day + timedelta(days=1), time(0), self.zone)
        return day

    def add(self, symbol: str, price: Decimal, at: datetime, bid: Decimal | None = None, ask: Decimal | None = None,
            volume: float | None = None) -> None:
        """A price of ``symbol`` at ``at``, with a quote's best ``bid`` and ``ask`` and the ``volume`` traded."""
        day = self.day_of(at)
        known = self.symbols.get(symbol)
        if known is None:
            known = self.symbols[symbol] = SymbolDay(day, price)
        elif day != known.day:
            if known.day is not None:
                # A later day: the last price before it closed the previous session. An earlier one (a replay
                # started again from its beginning) leaves no close known.
                known.close = known.last if day > known.day else None
                known.volume = None
            known.day, known.first = day, price
        known.last, known.bid, known.ask = price, bid, ask
        if volume is not None:
            known.volume = volume if known.volume is None else known.volume + volume

    def set_close(self, symbol: str, price: Decimal) -> None:
        """The previous session's close of ``symbol``, known from elsewhere (yesterday's bars)."""
        known = self.symbols.get(symbol)
        if known is None:
            known = self.symbols[symbol] = SymbolDay()
        known.close = price

    def seed(self, prices: Mapping[str, Decimal], at: datetime) -> None:
        """The prices the OMS had before the events were followed, as the first prices seen at ``at``."""
        for symbol, price in prices.items():
            if symbol not in self.symbols:
                self.add(symbol, price, at)
