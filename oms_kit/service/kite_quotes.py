"""Market quotes in Kite Connect's shapes (``/quote``, ``/quote/ohlc``, ``/quote/ltp``), from the prices the OMS
marks its positions with.

The OMS keeps each symbol's last price; the day's open, high and low and the previous day's close are kept here
(:class:`PriceBook`), from the OMS's price events, for as long as the server has been following them: the first
Kite request of a server starts the book, seeded with the last prices. The paper exchange has no order book, so
depth is five empty levels a side and volumes are 0. The circuit limits are the price collar of the account's
limits (``RiskLimits.price_collar_pct``) around the last price: the band a limit price must be within.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from oms_kit.events import Event, PriceUpdated
from oms_kit.service.kite_errors import INPUT, KiteError
from oms_kit.service.kite_models import EXCHANGE, IST, Universe, kite_time, num

MAX_QUOTE = 500  # instruments in one /quote request, Kite's limit
MAX_LTP = 1000  # in one /quote/ltp or /quote/ohlc request
_EMPTY_DEPTH = [{"price": 0.0, "quantity": 0, "orders": 0} for _ in range(5)]


@dataclass
class DayPrices:
    """One symbol's prices of the exchange day ``day``: open, high, low, last, and the previous day's close."""

    day: date
    open: Decimal
    high: Decimal
    low: Decimal
    last: Decimal
    at: datetime | None
    close: Decimal | None = None  # the last price of the previous day seen, None when none was

    def add(self, price: Decimal, at: datetime | None) -> None:
        day = _day_of(at)
        if day > self.day:
            self.day, self.close, self.open, self.high, self.low = day, self.last, price, price, price
        self.high, self.low = max(self.high, price), min(self.low, price)
        self.last, self.at = price, at


class PriceBook:
    """The day's prices of every symbol the OMS quotes, kept from its price events.

    It listens through a weak reference: once the app that made it is gone, the next price event unsubscribes it,
    so an OMS that outlives its server (a notebook's) is not left feeding it.
    """

    def __init__(self, subscribe: Callable[..., Callable[[], None]], prices: Mapping[str, Decimal],
                 now: datetime) -> None:
        self.symbols: dict[str, DayPrices] = {}
        today = _day_of(now)
        for symbol, price in prices.items():  # the last prices, of a time not known: no last trade time
            self.symbols[symbol] = DayPrices(today, price, price, price, price, None)
        ref = weakref.ref(self)
        unsubscribe: Callable[[], None] | None = None

        def on_price(event: Event) -> None:
            book = ref()
            if book is None:
                if unsubscribe is not None:
                    unsubscribe()
                return
            if isinstance(event, PriceUpdated):
                book.add(event.symbol, event.price, event.ts)

        unsubscribe = subscribe(on_price, "price")

    def add(self, symbol: str, price: Decimal, at: datetime | None) -> None:
        """A price of ``symbol`` at ``at``."""
        known = self.symbols.get(symbol)
        if known is None:
            self.symbols[symbol] = DayPrices(_day_of(at), price, price, price, price, at)
        else:
            known.add(price, at)

    def closes(self) -> dict[str, Decimal]:
        """The previous day's close of the symbols that have one."""
        return {s: p.close for s, p in self.symbols.items() if p.close is not None}


def _day_of(at: datetime | None) -> date:
    if at is None:
        return datetime.now(IST).date()
    return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).astimezone(IST).date()


def requested(keys: Iterable[str], world: Universe, most: int) -> list[tuple[str, str]]:
    """The ``i`` parameters of a quote request (``NSE:INFY`` or an instrument token) as (key, symbol) pairs, in the
    order asked; unknown instruments are left out, as Kite leaves them out. InputException (KiteError) for none or
    more than ``most``."""
    keys = list(keys)
    if not keys:
        raise KiteError(400, INPUT, "no instrument: send `i=NSE:INFY` (repeat `i` for more)")
    if len(keys) > most:
        raise KiteError(400, INPUT, f"too many instruments: {len(keys)} were sent, at most {most} are allowed")
    found = []
    for key in keys:
        exchange, colon, symbol = key.partition(":")
        if colon:
            if exchange == EXCHANGE and symbol in world.instruments:
                found.append((key, symbol))
        elif key.isascii() and key.isdigit() and len(key) <= 12 and int(key) in world.by_token:
            found.append((key, world.by_token[int(key)]))
    return found


def ltp_json(symbol: str, world: Universe, last: Decimal) -> dict[str, Any]:
    """Kite's last price of an instrument."""
    return {"instrument_token": world.token(symbol), "last_price": num(last)}


def ohlc_json(symbol: str, world: Universe, last: Decimal, book: PriceBook) -> dict[str, Any]:
    """Kite's last price and the day's open, high, low and previous close (the day's open when no previous close
    is known)."""
    prices = book.symbols.get(symbol)
    if prices is None:
        ohlc = dict.fromkeys(("open", "high", "low", "close"), num(last))
    else:
        close = prices.close if prices.close is not None else prices.open
        ohlc = {"open": num(prices.open), "high": num(max(prices.high, last)), "low": num(min(prices.low, last)),
                "close": num(close)}
    return {"instrument_token": world.token(symbol), "last_price": num(last), "ohlc": ohlc}


def quote_json(symbol: str, world: Universe, last: Decimal, book: PriceBook, collar_pct: Decimal | None,
               now: datetime) -> dict[str, Any]:
    """Kite's full quote of an instrument."""
    base = ohlc_json(symbol, world, last, book)
    prices = book.symbols.get(symbol)
    close = Decimal(str(base["ohlc"]["close"]))
    lower = upper = 0.0
    if collar_pct is not None:
        tick = world.instruments[symbol].tick_size
        band = last * collar_pct / 100
        lower, upper = num(_on_tick(last - band, tick, up=True)), num(_on_tick(last + band, tick, up=False))
    return {
        "instrument_token": base["instrument_token"], "timestamp": kite_time(now),
        "last_trade_time": kite_time(prices.at if prices is not None else None), "last_price": num(last),
        "last_quantity": 0, "buy_quantity": 0, "sell_quantity": 0, "volume": 0, "average_price": 0.0, "oi": 0,
        "oi_day_high": 0, "oi_day_low": 0, "net_change": num(last - close) if close else 0.0,
        "lower_circuit_limit": max(lower, 0.0), "upper_circuit_limit": upper, "ohlc": base["ohlc"],
        "depth": {"buy": [dict(level) for level in _EMPTY_DEPTH], "sell": [dict(level) for level in _EMPTY_DEPTH]},
    }


def _on_tick(price: Decimal, tick: Decimal, *, up: bool) -> Decimal:
    # The band's edges inward onto the tick: a price on the edge is inside the collar.
    ticks = price / tick
    whole = ticks.to_integral_value(rounding="ROUND_CEILING" if up else "ROUND_FLOOR")
    return whole * tick
