"""A live price feed from the Kite Connect API: quotes polled at a set interval through the official ``kiteconnect``
client, sent as the kit's bars and quotes, so they drive marks, the risk monitor and strategies as any feed does.

``KiteFeed(["RELIANCE", "INFY"], api_key=..., access_token=...)`` asks ``kite.quote(...)`` for its instruments every
``interval`` seconds (at least 1: Kite's quote API allows one request a second) and sends, for each instrument
whose last trade changed (its ``last_trade_time`` or its price), one :class:`~oms_kit.market.quote.Quote` when the
answer has a book (the depth's levels with a price and a quantity), else a :class:`~oms_kit.market.bar.Bar` from the
previous price sent to the new one. The bar's time is the exchange's: the last trade time, else the quote's
timestamp (Kite writes both in IST), else the feed's clock. Its volume is what traded since the previous quote (the
day's volume less the day's volume then); unknown (NaN) on the first.

``root`` points the client at any Kite-compatible server, the kit's own included (``oms_kit.service.serve``): that
is how the feed is tested, against a second OMS on a free port. A failed poll (the server down, a timeout, a 5xx,
an answer that is not Kite's) does not end the stream: it is counted in :meth:`KiteFeed.status` with its error and
tried again after a backoff that doubles up to ``max_backoff``. A refused token or permission ends it with
:class:`KiteTokenError`, since no retry can fix it: log in again and make a new feed. The api key and the access
token are never shown: not in ``repr``, ``status()`` or any error message.

Not here: Kite's binary streaming ticker (``KiteTicker``, a WebSocket with packed binary ticks). The kit's served
API does not speak that protocol, so a ticker feed could not be tested against a real server; polling is what the
served API and Kite both answer.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from oms_kit.errors import ConfigError, DataError, OmsError
from oms_kit.market.bar import Bar
from oms_kit.market.clock import Clock, LiveClock
from oms_kit.market.feed import FeedState, SleepFunction
from oms_kit.market.quote import DEPTH, Quote
from oms_kit.tradable import Instrument

__all__ = ["DEFAULT_ROOT", "EXCHANGES", "MAX_INSTRUMENTS", "MIN_INTERVAL", "KiteFeed", "KiteTokenError"]

MIN_INTERVAL = 1.0  # seconds between quote requests: Kite's quote API allows one request a second
MAX_INSTRUMENTS = 500  # instruments in one quote request, Kite's limit
DEFAULT_ROOT = "https://api.kite.trade"
EXCHANGES = ("NSE", "BSE", "NFO", "BFO", "CDS", "BCD", "MCX")
IST = ZoneInfo("Asia/Kolkata")  # Kite writes times in IST without an offset
_MAX_ERROR = 300  # characters of an error kept for status()


class KiteTokenError(OmsError):
    """The Kite server refused the access token (expired, revoked, for another api key) or the permission to read
    quotes: polling again cannot fix it. Log in again for a new token and make a new feed."""


def _secret(field: str, value: object, env: str) -> str:
    if value is None:
        value = os.environ.get(env)
    allowed = f"a non-empty string without spaces: pass {field}= or set {env}"
    if not isinstance(value, str):
        # The value is a credential: say what it is, never what it says.
        raise ConfigError(field, None if value is None else f"<{type(value).__name__}, not shown>", allowed)
    if not value or len(value) > 512 or not value.isprintable() or any(c.isspace() for c in value):
        raise ConfigError(field, f"<a string of {len(value)} characters, not shown>", allowed)
    return value


def _number(value: object, field: str, low: float, high: float, allowed: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not low <= value <= high:
        raise ConfigError(field, value, allowed)
    return float(value)


def _root(root: object) -> str:
    allowed = f"None ({DEFAULT_ROOT}) or an http:// or https:// URL of a Kite-compatible server, without a login"
    if root is None:
        return DEFAULT_ROOT
    if not isinstance(root, str) or len(root) > 2000 or not root.isprintable() or any(c.isspace() for c in root):
        raise ConfigError("root", root, allowed)
    try:
        parts = urlsplit(root)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        raise ConfigError("root", root, allowed) from None
    # A user:password@ in the URL would be a credential shown in status() and repr().
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        raise ConfigError("root", root, allowed)
    return root


def _keys(symbols: object, exchange: str) -> dict[str, str]:
    """Kite's instrument key (``NSE:RELIANCE``) of each symbol, in order, with the kit's symbol (``RELIANCE``)."""
    allowed = (f"kit symbols ('RELIANCE', on {exchange}), Kite instrument keys ('NFO:NIFTY25DECFUT', exchange one "
               f"of {', '.join(EXCHANGES)}) or Instruments, at least one, each once")
    if isinstance(symbols, str | Instrument):
        symbols = [symbols]  # a bare string would otherwise be read letter by letter
    elif isinstance(symbols, Mapping):
        symbols = list(symbols.values())
    if not isinstance(symbols, Iterable):
        raise ConfigError("symbols", symbols, allowed)
    keys: dict[str, str] = {}
    named: set[str] = set()
    for item in symbols:
        key = item.key if isinstance(item, Instrument) else item
        if not isinstance(key, str):
            raise ConfigError("symbols", item, allowed)
        place, _, symbol = key.partition(":") if ":" in key else (exchange, ":", key)
        if place not in EXCHANGES or not symbol or len(symbol) > 64 or not symbol.isprintable() \
                or symbol != symbol.strip() or ":" in symbol:
            raise ConfigError("symbols", item, allowed)
        key = f"{place}:{symbol}"
        if key in keys or symbol in named:
            # Two exchanges' quotes of one kit symbol would mark one position with both.
            raise ConfigError("symbols", item, allowed, detail=f"{symbol!r} is asked for twice")
        keys[key] = symbol
        named.add(symbol)
    if not keys:
        raise ConfigError("symbols", symbols, allowed)
    return keys


def _kite_time(value: object) -> datetime | None:
    """A time of Kite's answer as UTC: the client parses ``"2026-12-07 09:15:00"`` into a naive datetime (IST)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return (value.replace(tzinfo=IST) if value.tzinfo is None else value).astimezone(UTC)


def _levels(side: object) -> list[tuple[float, int]]:
    # Kite pads the depth with levels of price 0 and quantity 0: they are no one's order.
    levels = []
    for level in side if isinstance(side, list) else ():
        if isinstance(level, dict):
            price, quantity = level.get("price"), level.get("quantity")
            if isinstance(price, int | float) and isinstance(quantity, int) and price > 0 and quantity > 0:
                levels.append((float(price), quantity))
    return levels[:DEPTH]


class KiteFeed(FeedState):
    """Live prices polled from Kite Connect's quote API (or any Kite-compatible server): see the module docstring.

    Parameters
    ----------
    symbols
        What to quote: kit symbols (``"RELIANCE"``, on ``exchange``), Kite instrument keys (``"NFO:NIFTY25DECFUT"``)
        or :class:`~oms_kit.tradable.Instrument` objects (their ``key``). Bars carry the kit's symbol, the part after
        the colon. More than 500 are asked for in several requests, a second apart.
    interval
        Seconds from one poll to the next, at least 1 (Kite's quote API allows one request a second).
    api_key, access_token
        Kite Connect credentials; None reads ``KITE_API_KEY`` and ``KITE_ACCESS_TOKEN`` from the environment.
    root
        The API's URL; None for Kite's own (``https://api.kite.trade``).
    exchange
        The exchange of symbols given without one.
    timeout
        Seconds a request may take before it counts as a failed poll.
    max_backoff
        The longest wait after failed polls, in seconds: the wait is ``interval`` doubled with each failure in a
        row, up to this.
    clock
        Stamps bars whose quote has no time; the wall clock by default.
    name
        Shown in status; ``"kite"`` by default.
    sleep
        The coroutine function that waits between polls; tests pass one that records the waits.

    Raises
    ------
    ConfigError
        A bad argument, naming it (a credential's value is never shown), or ``kiteconnect`` is not installed.
    """

    kind = "kite"

    def __init__(
        self,
        symbols: Iterable[str | Instrument] | Mapping[str, Instrument] | str,
        interval: float = MIN_INTERVAL,
        *,
        api_key: str | None = None,
        access_token: str | None = None,
        root: str | None = None,
        exchange: str = "NSE",
        timeout: float = 7.0,
        max_backoff: float = 30.0,
        clock: Clock | None = None,
        name: str = "kite",
        sleep: SleepFunction = asyncio.sleep,
    ) -> None:
        if not isinstance(name, str) or not name or len(name) > 100 or not name.isprintable():
            raise ConfigError("name", name, "a non-empty printable string of at most 100 characters")
        super().__init__(name)
        if exchange not in EXCHANGES:
            raise ConfigError("exchange", exchange, "one of " + ", ".join(EXCHANGES))
        self._symbols = _keys(symbols, exchange)  # Kite key -> kit symbol
        self.interval = _number(interval, "interval", MIN_INTERVAL, 86_400.0,
                                "seconds from 1 (Kite's quote API allows one request a second) to 86,400")
        self.timeout = _number(timeout, "timeout", 0.1, 600.0, "seconds from 0.1 to 600")
        self.max_backoff = _number(max_backoff, "max_backoff", self.interval, 3600.0,
                                   f"seconds from interval ({self.interval:g}) to 3,600")
        self.root = _root(root)
        if clock is not None and not isinstance(clock, Clock):
            raise ConfigError("clock", clock, "a Clock (oms_kit.LiveClock(), a SimulatedClock) or None")
        self.clock: Clock = clock if clock is not None else LiveClock()
        if not callable(sleep):
            raise ConfigError("sleep", sleep, "a coroutine function taking seconds, like asyncio.sleep")
        self._sleep = sleep
        api_key = _secret("api_key", api_key, "KITE_API_KEY")
        access_token = _secret("access_token", access_token, "KITE_ACCESS_TOKEN")
        self._secrets = (api_key, access_token)
        try:
            from kiteconnect import KiteConnect  # type: ignore[import-untyped]
        except ImportError:  # a development dependency of the kit, not one of its own
            raise ConfigError("kiteconnect", "not installed", "the official client: pip install kiteconnect") from None
        self._kite = KiteConnect(api_key=api_key, access_token=access_token, root=self.root, timeout=self.timeout)
        self._seen: dict[str, tuple[object, float]] = {}  # symbol -> (last trade time, price) last sent
        self._last: dict[str, float] = {}  # symbol -> price last sent: the next bar's open
        self._day_volume: dict[str, float] = {}
        self._missing: set[str] = set()
        self._polls = self._failed = self._in_row = self._requests = self._refused = 0
        self._last_error: str | None = None
        self._last_error_at: datetime | None = None
        self._last_poll_at: datetime | None = None
        self._next_poll = 0.0  # time.monotonic() of the next poll
        self._last_request = -math.inf
        self._stopped: KiteTokenError | None = None
        # The rest of a poll whose consumer was cancelled part-way: they count as sent already (_seen), so a later
        # stream sends them first.
        self._pending: list[Bar] = []

    @property
    def symbols(self) -> list[str]:
        """The kit's symbols, in the order asked."""
        return list(self._symbols.values())

    @property
    def keys(self) -> list[str]:
        """Kite's instrument keys (``NSE:RELIANCE``), in the order asked."""
        return list(self._symbols)

    async def stream(self) -> AsyncIterator[Bar]:
        """Poll until cancelled, yielding a bar or quote for each instrument whose last trade changed.

        Raises
        ------
        KiteTokenError
            The server refused the token or the permission (here, and again on a later ``stream``).
        """
        self._begin()
        try:
            while True:
                if not self._pending:
                    if self._stopped is not None:
                        raise self._stopped
                    await self._sleep(max(0.0, self._next_poll - time.monotonic()))
                    started = time.monotonic()
                    try:
                        answer = await self._poll()
                    except KiteTokenError:
                        raise
                    except Exception as error:  # down, timed out, 5xx, not Kite's JSON: all worth another try
                        self._failed_poll(error)
                        continue
                    self._polls += 1
                    self._in_row = 0
                    self._last_poll_at = self.clock.now()
                    self._next_poll = started + self.interval
                    self._pending = self._bars(answer)
                while self._pending:
                    bar = self._pending.pop(0)
                    self._updates_sent += 1
                    self._last_update_at = bar.timestamp
                    yield bar
        finally:
            self._running = False

    async def _poll(self) -> dict[str, Any]:
        from kiteconnect.exceptions import PermissionException, TokenException  # type: ignore[import-untyped]

        keys, answer = list(self._symbols), {}
        for start in range(0, len(keys), MAX_INSTRUMENTS):
            # One request a second across polls and batches: Kite's rate limit for quotes.
            await self._sleep(max(0.0, self._last_request + MIN_INTERVAL - time.monotonic()))
            self._last_request = time.monotonic()
            self._requests += 1
            try:
                part = await asyncio.to_thread(self._kite.quote, keys[start:start + MAX_INSTRUMENTS])
            except (TokenException, PermissionException) as error:
                self._failed_poll(error)
                self._stopped = KiteTokenError(
                    f"Kite feed {self.name!r} stopped: the server at {self.root} refused the "
                    f"{'access token' if isinstance(error, TokenException) else 'permission'}",
                    detail=self._last_error, hint="log in again for a new access token and make a new KiteFeed")
                raise self._stopped from None
            if not isinstance(part, dict):
                raise TypeError(f"the quote answer is a {type(part).__name__}, not Kite's mapping of instruments")
            answer.update(part)
        return answer

    def _failed_poll(self, error: BaseException) -> None:
        self._failed += 1
        self._in_row += 1
        text = f"{type(error).__name__}: {error}"[:_MAX_ERROR]
        for secret in self._secrets:
            text = text.replace(secret, "***")
        self._last_error, self._last_error_at = text, self.clock.now()
        self._next_poll = time.monotonic() + self._backoff()

    def _backoff(self) -> float:
        return min(self.interval * 2.0 ** min(self._in_row - 1, 30), self.max_backoff)

    def _bars(self, answer: dict[str, Any]) -> list[Bar]:
        bars: list[Bar] = []
        self._missing = {key for key in self._symbols if not isinstance(answer.get(key), dict)}
        for key, symbol in self._symbols.items():
            quote = answer.get(key)
            if isinstance(quote, dict):
                bar = self._bar(symbol, quote)
                if bar is not None:
                    bars.append(bar)
        return bars

    def _bar(self, symbol: str, quote: dict[str, Any]) -> Bar | None:
        price, traded_at = quote.get("last_price"), quote.get("last_trade_time")
        if isinstance(price, bool) or not isinstance(price, int | float) or not 0 < price < math.inf:
            self._refused += 1  # no trade yet (Kite sends 0) or not a price: nothing to mark with
            return None
        change = (traded_at, float(price))
        if self._seen.get(symbol) == change:
            return None
        at = _kite_time(traded_at) or _kite_time(quote.get("timestamp")) or self.clock.now()
        volume = self._volume(symbol, quote.get("volume"))
        depth = quote.get("depth")
        if not isinstance(depth, dict):
            depth = {}
        bids, asks = _levels(depth.get("buy")), _levels(depth.get("sell"))
        try:
            bar: Bar = Quote(at, symbol, price, volume, bids, asks)
        except DataError as error:
            if error.field in ("last", "volume", "symbol"):
                self._refused += 1
                return None
            bids = asks = []  # a book that breaks the rules (crossed, as in a pre-open): the price still counts
            bar = Quote(at, symbol, price, volume)
        if not bids and not asks:
            # No book: a bar from the last price sent, so a resting order matches on the move between polls.
            open_ = self._last.get(symbol, bar.close)
            bar = Bar(at, symbol, open_, max(open_, bar.close), min(open_, bar.close), bar.close, volume)
        self._seen[symbol], self._last[symbol] = change, bar.close
        return bar

    def _volume(self, symbol: str, day_volume: object) -> float:
        if isinstance(day_volume, bool) or not isinstance(day_volume, int | float) or not 0 <= day_volume < math.inf:
            return math.nan
        before = self._day_volume.get(symbol)
        self._day_volume[symbol] = float(day_volume)
        if before is None:
            return math.nan  # the day's volume so far, not what traded since a previous quote
        # Below the last: a new day began, and all of today's volume is since the last quote.
        return float(day_volume) - before if day_volume >= before else float(day_volume)

    def status(self) -> dict[str, Any]:
        """The feed's state: updates sent, polls made and failed (with the last error), instruments the server did
        not quote, and settings. Credentials are never part of it."""
        retry = max(0.0, self._next_poll - time.monotonic()) if self._in_row else None
        return {
            **self._base_status(),
            "root": self.root,
            "instruments": len(self._symbols),
            "interval": self.interval,
            "polls": self._polls,
            "requests": self._requests,
            "failed_polls": self._failed,
            "failures_in_a_row": self._in_row,
            "retry_in_s": retry,
            "last_error": self._last_error,
            "last_error_at": self._last_error_at,
            "last_poll_at": self._last_poll_at,
            "missing": sorted(self._missing),
            "quotes_without_price": self._refused,
            "stopped": None if self._stopped is None else self._stopped.message,
        }

    def __repr__(self) -> str:
        return (f"KiteFeed({len(self._symbols)} instruments, root={self.root!r}, interval={self.interval:g}, "
                f"polls={self._polls}, failed_polls={self._failed})")
