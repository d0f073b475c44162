"""Clocks: where "now" comes from.

Pure logic never reads the wall clock; it is handed a :class:`Clock`. Paper trading runs on :class:`LiveClock`, a
backtest on a :class:`SimulatedClock` that follows the bars, and the same strategy code sees no difference.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "LiveClock", "SimulatedClock", "as_utc"]


@runtime_checkable
class Clock(Protocol):
    """Anything with a ``now()`` that returns a timezone-aware UTC datetime."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware, in UTC."""
        ...


def as_utc(ts: datetime, field_name: str = "timestamp") -> datetime:
    """Return ``ts`` as a timezone-aware UTC datetime; a naive datetime is taken to be UTC already.

    Parameters
    ----------
    ts
        The time to normalise.
    field_name
        Named in the error when ``ts`` is not a datetime.

    Raises
    ------
    TypeError
        ``ts`` is not a :class:`~datetime.datetime`.
    """
    if not isinstance(ts, datetime):
        raise TypeError(f"{field_name} must be a datetime; {ts!r} ({type(ts).__name__}) was given")
    # Naive means UTC across the kit (bars, clocks), so data without an offset is never shifted by the local zone.
    if ts.tzinfo is None:
        return ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC)


class LiveClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        """Return the current wall-clock time, timezone-aware, in UTC."""
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "LiveClock()"


class SimulatedClock:
    """A clock that moves only when told to, and never backwards.

    A backtest (or a replay) sets it from each bar's timestamp, so every order, fill and event is stamped with
    market time instead of the time the computer happened to run the code.

    Parameters
    ----------
    start
        The initial time; a naive datetime is taken as UTC.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> clock = SimulatedClock(datetime(2026, 1, 5, 3, 45, tzinfo=UTC))
    >>> clock.advance(60).isoformat()
    '2026-01-05T03:46:00+00:00'
    """

    __slots__ = ("_now",)

    def __init__(self, start: datetime) -> None:
        self._now = as_utc(start, "start")

    def now(self) -> datetime:
        """Return the simulated time, timezone-aware, in UTC."""
        return self._now

    def set(self, ts: datetime) -> datetime:
        """Move the clock to ``ts`` (equal to now is allowed) and return the new time.

        Raises
        ------
        ValueError
            ``ts`` is earlier than the clock's current time; the clock is left unchanged.
        """
        # Fast path for the per-bar loop of a backtest: bars already carry UTC datetimes in time order.
        if type(ts) is datetime and ts.tzinfo is UTC and ts >= self._now:
            self._now = ts
            return ts
        new = as_utc(ts)
        if new < self._now:
            # Time running backwards would let a fill precede its order; out-of-order data must be sorted first.
            raise ValueError(
                f"simulated clock cannot go backwards: it is at {self._now.isoformat()}, "
                f"{new.isoformat()} was given (sort the bars by timestamp)"
            )
        self._now = new
        return new

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward by ``seconds`` (zero or more) and return the new time.

        Raises
        ------
        ValueError
            ``seconds`` is negative or not finite.
        """
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"seconds to advance must be a finite number >= 0; {seconds!r} was given")
        self._now += timedelta(seconds=seconds)
        return self._now

    def __repr__(self) -> str:
        return f"SimulatedClock({self._now.isoformat()})"
