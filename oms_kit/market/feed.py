"""What every feed is and shares: the :class:`Feed` protocol, the bookkeeping of one consumer at a time
(:class:`FeedState`), the checks of their settings, and :func:`run_feed`, the loop that consumes one.

A feed is consumed by one task (the OMS's, or a paper trader's) with ``async for bar in feed.stream()``; the OMS
fans the bars out to everyone else through its event bus. Feeds sleep with ``asyncio`` between updates, so they
run as background tasks in a Jupyter kernel between cells, and ``task.cancel()`` stops them at once.

A feed keeps its place: cancelling the consuming task and calling ``stream`` again continues where it stopped (a
replay resumes at the next bar, a random walk from its last prices). ``ReplayFeed.reset`` starts over.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from inspect import isawaitable
from typing import Any, Protocol, runtime_checkable

from oms_kit.errors import ConfigError, DataError
from oms_kit.market.bars import Bar
from oms_kit.market.calendar import NSECalendar

__all__ = ["Feed", "FeedState", "SleepFunction", "checked_calendar", "next_close_time", "positive_finite",
           "run_feed"]

SleepFunction = Callable[[float], Awaitable[object]]


@runtime_checkable
class Feed(Protocol):
    """A source of price updates: an asynchronous stream of :class:`~oms_kit.market.bars.Bar`.

    Attributes
    ----------
    name : str
        Shown in ``oms.status()`` and used to name the consuming task.
    """

    name: str

    def stream(self) -> AsyncIterator[Bar]:
        """Return an async iterator of bars; it ends when the feed has no more (a replay at its last bar)."""
        ...

    def status(self) -> dict[str, Any]:
        """Return at least ``name``, ``kind``, ``running``, ``updates_sent`` and ``last_update_at``."""
        ...


class FeedState:
    """Bookkeeping shared by the feeds: one consumer at a time, counters for :meth:`status`. The feeds subclass
    it; its underscored members are theirs to use."""

    kind = "feed"

    def __init__(self, name: str) -> None:
        self.name = name
        self._running = False
        self._finished = False
        self._updates_sent = 0
        self._last_update_at: datetime | None = None

    def _begin(self) -> None:
        if self._running:
            # Two consumers would each get every other bar. The OMS republishes bars as events for other readers.
            raise RuntimeError(
                f"feed {self.name!r} is already streaming to another consumer; cancel that task first, or "
                "read the bars from the OMS's events (oms.subscribe / oms.events)"
            )
        self._running = True

    def _base_status(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "running": self._running,
            "finished": self._finished,
            "updates_sent": self._updates_sent,
            "last_update_at": self._last_update_at,
        }

    def __aiter__(self) -> AsyncIterator[Bar]:
        return self.stream()

    def stream(self) -> AsyncIterator[Bar]:  # pragma: no cover - overridden
        raise NotImplementedError


def positive_finite(value: float, field_name: str, allowed: str) -> float:
    """``value`` as a float when it is a finite number >= 0, else ConfigError naming ``field_name``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ConfigError(field_name, value, allowed)
    return float(value)


def checked_calendar(calendar: Any) -> NSECalendar | None:
    if calendar is not None and not isinstance(calendar, NSECalendar):
        raise ConfigError("calendar", calendar, "an NSECalendar (oms_kit.NSECalendar()) or None")
    return calendar


def next_close_time(calendar: NSECalendar, ts: datetime) -> float:
    """The next session close after ``ts`` as a POSIX time; infinity when the calendar has no data for it."""
    try:
        return calendar.next_close(ts).timestamp()
    except (DataError, ConfigError):  # no data for the year: no closes known, bars are paced as they come
        return math.inf


async def run_feed(feed: Feed, on_bar: Callable[[Bar], object]) -> int:
    """Send every bar of ``feed`` to ``on_bar`` until the feed ends or the task is cancelled.

    Meant to be the body of a named background task, e.g.
    ``asyncio.create_task(run_feed(feed, oms_on_bar), name=f"oms_kit.feed.{feed.name}")``. The stream is closed
    on the way out, whatever the reason, so the feed can be streamed again (and resumes where it stopped).

    Parameters
    ----------
    feed
        The feed to consume.
    on_bar
        Called with each bar; when it returns an awaitable, that is awaited before the next bar. An exception it
        raises ends the run and propagates.

    Returns
    -------
    int
        The number of bars handled (when the feed ends by itself).
    """
    count = 0
    bars = feed.stream()
    try:
        async for bar in bars:
            result = on_bar(bar)
            if isawaitable(result):
                await result
            count += 1
    finally:
        # An async generator left suspended would stay "running" until garbage collection; a plain async iterator
        # (a user's own feed) may have no aclose().
        aclose = getattr(bars, "aclose", None)
        if aclose is not None:
            await aclose()
    return count
