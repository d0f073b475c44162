"""ReplayFeed: historical bars replayed in time order at a chosen speed (see :mod:`oms_kit.market.feed`).

A quote recording (:mod:`oms_kit.market.quote`) replays as :class:`~oms_kit.market.quote.Quote` objects, quote for
quote, with their books: what ``load_bars`` and ``iter_bars`` make of it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from oms_kit.errors import ConfigError
from oms_kit.market.bars import Bar, iter_bars, load_bars
from oms_kit.market.calendar import NSECalendar
from oms_kit.market.feed import FeedState, SleepFunction, checked_calendar, next_close_time, positive_finite

__all__ = ["ReplayFeed"]


class ReplayFeed(FeedState):
    """Replays historical bars in time order, at a chosen speed.

    Parameters
    ----------
    data
        Anything :func:`~oms_kit.market.bars.load_bars` accepts: a DataFrame, a parquet/csv path or a DuckDB query.
        It is loaded (and checked) at once, so bad data raises :class:`~oms_kit.errors.DataError` here rather
        than in a background task; a bad setting raises :class:`~oms_kit.errors.ConfigError`.
    symbol
        As in :func:`~oms_kit.market.bars.load_bars`: the symbol of a frame without a symbol column, or the one
        symbol to keep.
    speed
        How many seconds of market time pass per second: 1 is real time, 60 plays a minute per second. The gap
        between two bar timestamps is waited for, divided by ``speed``; bars with the same timestamp come together.
        None: as fast as possible.
    progress
        Show a tqdm progress bar (text, on stderr).
    max_wait
        Longest single wait in seconds (None: no limit); with ``speed=60`` a night between two sessions would
        otherwise take 17 minutes.
    clock
        A simulated clock (anything with ``set(datetime)``) to move to each bar's timestamp before the bar is
        yielded. The OMS can instead set its own clock from ``bar.timestamp``.
    name
        Shown in status; the file name, or "replay".
    yield_every
        Without pacing (``speed=None``, or bars behind schedule), let other tasks run once per this many bars.
    sleep, monotonic
        The wait and the time source of the pacing; tests pass fakes to check the waits without waiting.
    calendar
        An :class:`~oms_kit.market.calendar.NSECalendar` whose sessions the pacing follows: only market time is
        waited for, so the first bar after a close (a night, a weekend, a holiday) comes at once and the schedule
        restarts there. The bars themselves are replayed as they are.
    """

    kind = "replay"

    def __init__(
        self,
        data: Any,
        symbol: str | None = None,
        speed: float | None = 1.0,
        *,
        progress: bool = False,
        max_wait: float | None = None,
        clock: Any = None,
        name: str | None = None,
        yield_every: int = 100,
        sleep: SleepFunction = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        calendar: NSECalendar | None = None,
    ) -> None:
        calendar = checked_calendar(calendar)
        if name is None:
            name = Path(data).name if isinstance(data, Path) else "replay"
            if isinstance(data, str):
                from oms_kit.storage.files import is_query

                name = "replay" if is_query(data) else Path(data).name
        super().__init__(name)
        if speed is not None:
            speed = positive_finite(speed, "speed", "a number > 0, or None for as fast as possible")
            if speed == 0:
                raise ConfigError("speed", speed, "a number > 0, or None for as fast as possible")
        if max_wait is not None:
            max_wait = positive_finite(max_wait, "max_wait", "seconds >= 0, or None")
        if isinstance(yield_every, bool) or not isinstance(yield_every, int) or yield_every < 1:
            raise ConfigError("yield_every", yield_every, "a whole number >= 1")
        if clock is not None and not callable(getattr(clock, "set", None)):
            raise ConfigError("clock", clock, "a clock with set(datetime), such as SimulatedClock")
        self.calendar = calendar
        self.speed = speed
        self.progress = progress
        self.max_wait = max_wait
        self.clock = clock
        self.yield_every = yield_every
        self._sleep = sleep
        self._monotonic = monotonic
        self._frame = load_bars(data, symbol)
        stamps = self._frame["timestamp"].array
        units = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}[stamps.unit]
        # Bar times in seconds, computed once: pacing needs only differences, per bar, in the hot loop.
        self._seconds: list[float] = (stamps.asi8 / units).tolist()
        self._symbols: list[str] = sorted(self._frame["symbol"].unique().tolist())
        self._position = 0

    @property
    def frame(self) -> pd.DataFrame:
        """The bars being replayed, as returned by :func:`~oms_kit.market.bars.load_bars`. Do not modify it."""
        return self._frame

    @property
    def timestamps(self) -> pd.Series:
        """Every bar's timestamp (UTC), in replay order: where a simulated clock will go."""
        return self._frame["timestamp"]

    @property
    def start(self) -> datetime | None:
        """The first bar's timestamp (None without bars)."""
        return self._frame["timestamp"].iloc[0].to_pydatetime() if len(self._frame) else None

    @property
    def end(self) -> datetime | None:
        """The last bar's timestamp (None without bars)."""
        return self._frame["timestamp"].iloc[-1].to_pydatetime() if len(self._frame) else None

    @property
    def position(self) -> int:
        """How many bars have been sent: the index of the next bar."""
        return self._position

    def __len__(self) -> int:
        return len(self._frame)

    def reset(self) -> None:
        """Rewind to the first bar (not while streaming).

        Raises
        ------
        RuntimeError
            The feed is streaming; cancel the consuming task first.
        """
        if self._running:
            raise RuntimeError(f"feed {self.name!r} is streaming; cancel the consuming task before reset()")
        self._position = 0
        self._finished = False

    async def stream(self) -> AsyncIterator[Bar]:
        """Yield the remaining bars in time order, paced by ``speed``.

        The first bar after a (re)start comes at once; each later one when its gap to that bar, divided by
        ``speed``, has passed. Bars late against that schedule (a slow consumer) come without waiting.

        Yields
        ------
        Bar
        """
        self._begin()
        bar_progress = None
        try:
            if self.progress:
                from tqdm import tqdm  # the text bar: tqdm.auto would import ipywidgets into the core

                bar_progress = tqdm(total=len(self._frame), initial=self._position, unit="bar", desc=self.name)
            speed, max_wait, sleep, monotonic = self.speed, self.max_wait, self._sleep, self._monotonic
            seconds = self._seconds
            anchor_wall = anchor_data = 0.0
            anchored = False
            calendar = self.calendar if speed is not None else None
            next_close = math.inf  # with a calendar: the first close after the schedule's anchor bar (seconds)
            since_yield = 0
            for bar in iter_bars(self._frame.iloc[self._position :]):
                index = self._position
                if speed is not None:
                    if calendar is not None and seconds[index] >= next_close:
                        anchored = False  # the market closed since the last bar: closed time is not waited for
                    if not anchored:
                        anchor_wall, anchor_data, anchored = monotonic(), seconds[index], True
                        if calendar is not None:
                            next_close = next_close_time(calendar, bar.timestamp)
                    else:
                        delay = anchor_wall + (seconds[index] - anchor_data) / speed - monotonic()
                        if max_wait is not None and delay > max_wait:
                            # Skip the rest of a long gap: the schedule restarts from this bar.
                            delay = max_wait
                            anchor_wall, anchor_data = monotonic() + max_wait, seconds[index]
                        if delay > 0:
                            await sleep(delay)
                            since_yield = 0
                if since_yield >= self.yield_every:
                    # A consumer that never awaits would otherwise hold the event loop for the whole replay.
                    await sleep(0)
                    since_yield = 0
                since_yield += 1
                if self.clock is not None:
                    self.clock.set(bar.timestamp)
                # Counted before the yield: a consumer cancelled while handling this bar has received it.
                self._position = index + 1
                self._updates_sent += 1
                self._last_update_at = bar.timestamp
                if bar_progress is not None:
                    bar_progress.update(1)
                yield bar
            self._finished = True
        finally:
            self._running = False
            if bar_progress is not None:
                bar_progress.close()

    def status(self) -> dict[str, Any]:
        """Return the replay's state: running, bars sent, market time reached, position, total, speed."""
        total = len(self._frame)
        return {
            **self._base_status(),
            "position": self._position,
            "total": total,
            "progress": self._position / total if total else 1.0,
            "speed": self.speed,
            "start": self.start,
            "end": self.end,
            "symbols": list(self._symbols),
            "calendar": None if self.calendar is None else repr(self.calendar),
        }

    def __repr__(self) -> str:
        return f"ReplayFeed({self.name!r}, {len(self._frame)} bars, speed={self.speed}, position={self._position})"
