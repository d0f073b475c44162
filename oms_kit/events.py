"""Events the OMS publishes, and the EventBus that carries them to callbacks and async iterators.

Events are immutable snapshots: an order event carries a copy of the order as it was, so a subscriber that reads it
later sees that moment, not the order's present.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, ClassVar, cast

from oms_kit.errors import ConfigError
from oms_kit.market.bar import Bar
from oms_kit.market.quote import Quote
from oms_kit.models import Fill, Order, Position, TradingState

log = logging.getLogger("oms_kit.events")


@dataclass(frozen=True, slots=True)
class Event:
    kind: ClassVar[str] = "event"
    ts: datetime


@dataclass(frozen=True, slots=True)
class OrderUpdated(Event):
    """An order changed status (placed, accepted, filled, modified, cancelled, rejected, expired)."""

    kind: ClassVar[str] = "order"
    order: Order
    event_type: str
    previous_status: str | None


@dataclass(frozen=True, slots=True)
class OrderFilled(Event):
    """A trade: part or all of an order executed."""

    kind: ClassVar[str] = "fill"
    fill: Fill


@dataclass(frozen=True, slots=True)
class PositionChanged(Event):
    kind: ClassVar[str] = "position"
    position: Position


@dataclass(frozen=True, slots=True)
class PriceUpdated(Event):
    """A new price of ``symbol``: ``price`` is what the OMS marks it at (the bar's close on the instrument's tick).

    ``bid`` and ``ask`` are the best prices of a quote (:class:`~oms_kit.market.quote.Quote`); None for a plain bar
    or ``set_price``, and for a quote's empty side. ``volume`` is what the bar or quote traded (a quote: since the
    symbol's previous one); None when unknown. The event stream (``oms_kit.service.ws``) sends them all.

    ``bar`` is the bar or quote itself, as the OMS applied it (its range, a quote's book), for a subscriber that
    replays the prices elsewhere (a shadow, :mod:`oms_kit.shadow`); None in an event rebuilt from elsewhere (the
    event stream does not send it). It is left out of equality and ``repr``.
    """

    kind: ClassVar[str] = "price"
    symbol: str
    price: Decimal
    bid: Decimal | None = None
    ask: Decimal | None = None
    volume: float | None = None
    bar: Bar | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, bar: Bar, price: Decimal) -> PriceUpdated:
        """The event of ``bar`` marked at ``price``: with the best bid and ask when it is a quote, and its volume
        when known. Built only when someone listens (``EventBus.wanted``), so the order path pays nothing else."""
        volume: float | None = bar.volume
        if volume != volume:  # NaN: unknown
            volume = None
        if isinstance(bar, Quote):
            bids, asks = bar.bids, bar.asks
            return cls(bar.timestamp, bar.symbol, price, _decimal(bids[0][0]) if bids else None,
                       _decimal(asks[0][0]) if asks else None, volume, bar)
        return cls(bar.timestamp, bar.symbol, price, None, None, volume, bar)


@lru_cache(maxsize=4096)
def _decimal(price: float) -> Decimal:
    # A quote's float price as the decimal it was written as (3899.9, not its binary expansion). A symbol's best
    # prices keep to a few ticks, so nearly every one is a cache hit, a tenth of converting it again.
    return Decimal(repr(price))


@dataclass(frozen=True, slots=True)
class RiskAlertRaised(Event):
    kind: ClassVar[str] = "risk_alert"
    alert: Any  # oms_kit.risk.RiskAlert


@dataclass(frozen=True, slots=True)
class TradingStateChanged(Event):
    kind: ClassVar[str] = "trading_state"
    previous: TradingState
    state: TradingState
    reason: str
    source: str


EVENT_TYPES: dict[str, type[Event]] = {cls.kind: cls for cls in (
    OrderUpdated, OrderFilled, PositionChanged, PriceUpdated, RiskAlertRaised, TradingStateChanged)}
"""Every kind of event the OMS publishes, by name: the one list that subscriptions, the event stream
(``oms_kit.service.ws``) and the client that reads it back (``oms_kit.client.decode``) go by."""
EVENT_KINDS = frozenset(EVENT_TYPES)

Callback = Callable[[Event], Any]


class EventBus:
    """Delivers each published event to the callbacks and iterators subscribed to its kind.

    Callbacks run synchronously, in subscription order; one that raises is logged and the others still run.
    Async iterators get events through a bounded queue each: a consumer that falls behind loses the oldest
    events (counted in ``dropped``) rather than growing memory without bound.
    """

    def __init__(self, queue_size: int = 10_000) -> None:
        self._callbacks: list[tuple[Callback, frozenset[str] | None]] = []
        self._queues: list[tuple[asyncio.Queue[Event], frozenset[str] | None]] = []
        self._queue_size = queue_size
        # The kinds someone listens to, recomputed on (un)subscribe: publishers test ``kind in bus.wanted`` before
        # building an event nobody reads, a set lookup on the order path rather than a method call.
        self.wanted: frozenset[str] = frozenset()
        self.published = 0
        self.dropped = 0
        self.errors = 0

    def wants(self, kind: str) -> bool:
        """Whether anyone listens to ``kind``: publishers skip building events nobody reads."""
        return kind in self.wanted

    def _subscriptions_changed(self) -> None:
        subscriptions = [k for _, k in self._callbacks] + [k for _, k in self._queues]
        self.wanted = EVENT_KINDS if None in subscriptions else frozenset[str]().union(
            *cast("list[frozenset[str]]", subscriptions))  # no None here

    def subscribe(self, callback: Callback, kinds: Iterable[str] | str | None = None) -> Callable[[], None]:
        """Call ``callback(event)`` for every event of ``kinds`` (all when None); returns the unsubscribe function.

        An unknown kind raises :class:`~oms_kit.errors.ConfigError` listing the known ones.
        """
        entry = (callback, _kinds(kinds))
        self._callbacks.append(entry)
        self._subscriptions_changed()

        def unsubscribe() -> None:
            if entry in self._callbacks:
                self._callbacks.remove(entry)
                self._subscriptions_changed()

        return unsubscribe

    def events(self, kinds: Iterable[str] | str | None = None) -> AsyncIterator[Event]:
        """Yield events of ``kinds`` as they are published, until the consumer stops iterating.

        The subscription starts here, not at the first ``__anext__``, so nothing published in between is lost.
        Close the iterator (``contextlib.aclosing``, or leave the ``async for`` normally) to unsubscribe. An unknown
        kind raises :class:`~oms_kit.errors.ConfigError`.
        """
        queue: asyncio.Queue[Event] = asyncio.Queue(self._queue_size)
        entry = (queue, _kinds(kinds))
        self._queues.append(entry)
        self._subscriptions_changed()

        async def iterate() -> AsyncIterator[Event]:
            try:
                while True:
                    yield await queue.get()
            finally:
                self._queues.remove(entry)
                self._subscriptions_changed()

        return iterate()

    def publish(self, event: Event) -> None:
        self.published += 1
        kind = event.kind
        for callback, kinds in tuple(self._callbacks):
            if kinds is None or kind in kinds:
                try:
                    callback(event)
                except Exception:
                    self.errors += 1
                    log.exception("event subscriber %r failed on %s event", callback, kind)
        for queue, kinds in self._queues:
            if kinds is None or kind in kinds:
                if queue.full():
                    queue.get_nowait()
                    self.dropped += 1
                queue.put_nowait(event)


def _kinds(kinds: Iterable[str] | str | None) -> frozenset[str] | None:
    if kinds is None:
        return None
    chosen = frozenset([kinds] if isinstance(kinds, str) else kinds)
    unknown = chosen - EVENT_KINDS
    if unknown:
        raise ConfigError("kinds", sorted(unknown), ", ".join(sorted(EVENT_KINDS)))
    return chosen
