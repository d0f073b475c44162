"""When the garbage collector's full passes run: held off while orders are made, run when the orders pause.

Every order and fill an OMS or a backtest makes lives for the day (the order book and the trades list keep them),
and the order path makes no cyclic garbage, so a full (generation 2) pass during a burst of orders frees nothing.
Each one walks every tracked object of the process (a notebook's too): 40-55 ms with 20,000 orders in memory, up to
110 ms in a 30,000-order backtest, stalling every caller at once. Two of them were 10-13 % of an in-memory OMS run
of 20,000 orders from 100 concurrent callers (held off, the collector's share of that run fell from 0.14 to 0.04);
one falling inside a 30,000-order backtest, 10-20 % of it.

So a backtest, and an OMS while it is open, :func:`hold` the full passes: the young generations are collected as
usual (a strategy's short-lived cycles are freed as before), but the oldest waits. Holders may overlap (backtests
in the threads of a Dask worker, several OMS instances): the first keeps the process's thresholds and the last to
release puts them back, whatever ends it.

An OMS runs the passes it held off itself, with :func:`collect_when_quiet`: when Python would have run one
(``gc.get_count()[2]`` has reached the kept threshold) and the orders pause for a beat, or, in a process that never
pauses, once ``longest`` seconds have gone by since the last. Passes are spaced so that at most ``duty`` of the time
goes to them (a 50 ms pass waits 5 s after the previous one at 1 %). The time and length of the last pass are the
process's, so several OMS instances in one process do not run their passes back to back.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from oms_kit.errors import ConfigError

_NEVER = 2**30  # collections of the middle generation before a full one: none while held
_LONGEST_BEAT = 3600.0  # a longer sleep is no beat (and a huge one overflows the event loop's timer)


class _Holding:
    holders = 0  # holds not yet released, in this process
    thresholds = gc.get_threshold()  # what the first of them found, put back by the last
    # Re-entrant: a collection can start inside the lock (an allocation), and a finalizer it runs may release a
    # hold (a collector task whose event loop is gone ends there, and releases the hold it was given).
    lock = threading.RLock()


class _Passes:
    # The full passes collect_when_quiet ran, process-wide. A lock of their own, so that a hold can be taken or
    # released on another thread while one runs.
    count = 0
    ended = time.monotonic()  # when the last one ended (at first: when this module was imported)
    took = 0.0  # how long it took, in seconds
    lock = threading.Lock()


def hold() -> Callable[[], None]:
    """Hold off the collector's full passes until the returned function is called.

    The young generations are collected as usual. Holds are counted across threads: the first saves
    ``gc.get_threshold()`` and the last release restores it.

    Returns
    -------
    Callable[[], None]
        Releases this hold; calling it again does nothing.
    """
    with _Holding.lock:
        if _Holding.holders == 0:
            _Holding.thresholds = gc.get_threshold()
            gc.set_threshold(_Holding.thresholds[0], _Holding.thresholds[1], _NEVER)
        _Holding.holders += 1
    released = False

    def release() -> None:
        nonlocal released
        with _Holding.lock:
            if released:
                return
            released = True
            _Holding.holders -= 1
            if _Holding.holders == 0:
                gc.set_threshold(*_Holding.thresholds)

    return release


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Full passes held off for the ``with`` block (:func:`hold`), released however the block ends."""
    release = hold()
    try:
        yield
    finally:
        release()


async def collect_when_quiet(activity: Callable[[], object], *, beat: float = 0.25, duty: float = 0.01,
                             longest: float = 60.0, release: Callable[[], None] | None = None) -> None:
    """Run the full passes that :func:`hold` keeps off, when the orders pause; until cancelled.

    Every ``beat`` seconds ``activity()`` is read; a full pass (``gc.collect()``) runs when it is due and either the
    value is the one of the previous beat (quiet) or ``longest`` seconds have passed since the last full pass. Due:
    the middle generation has been collected as often as Python's own threshold for a full pass asks (the one saved
    by the first hold), and at least the last pass's duration divided by ``duty`` has passed since it ended. With
    the collector disabled (``gc.disable()``) no pass runs.

    Parameters
    ----------
    activity : Callable[[], object]
        A cheap reading that changes when orders come (an OMS passes the count of order events it recorded).
    beat : float
        Seconds between two readings; above 0 and at most an hour.
    duty : float
        The largest share of the time spent in full passes; above 0 and at most 1.
    longest : float
        Seconds after which a due pass runs even though orders keep coming; above 0 (``inf``: only when quiet).
    release : Callable[[], None], optional
        Called when this ends, however it ends: the release of the :func:`hold` it runs for, so that the hold does
        not outlive it (an event loop closed with the task still running, as ``asyncio.run`` does, cancels it).

    Raises
    ------
    ConfigError
        ``activity`` or ``release`` is not callable, or ``beat``, ``duty`` or ``longest`` is out of its range (when
        awaited; a callable ``release`` is called all the same).
    """
    if release is not None and not callable(release):
        raise ConfigError("release", release, "a function of no arguments, or None")
    try:
        if not callable(activity):
            raise ConfigError("activity", activity, "a function of no arguments")
        _check(beat, "beat", lambda v: 0 < v <= _LONGEST_BEAT, f"seconds above 0, at most {_LONGEST_BEAT}")
        _check(duty, "duty", lambda v: 0 < v <= 1, "a number above 0 and at most 1")
        _check(longest, "longest", lambda v: v > 0, "seconds above 0, or inf")
        seen = activity()
        while True:
            await asyncio.sleep(beat)
            now = activity()
            quiet, seen = now == seen, now
            _collect_if_due(quiet, duty, longest)
    finally:
        if release is not None:
            release()


def figures() -> dict[str, Any]:
    """The process's figures: holds not released, full passes :func:`collect_when_quiet` ran, the last one's ms."""
    return {"holds": _Holding.holders, "full_passes": _Passes.count,
            "last_full_pass_ms": round(_Passes.took * 1000, 3) if _Passes.count else None}


def _collect_if_due(quiet: bool, duty: float, longest: float) -> None:
    with _Passes.lock:
        since = time.monotonic() - _Passes.ended
        threshold = _Holding.thresholds[2] if _Holding.holders else gc.get_threshold()[2]
        if (not gc.isenabled() or gc.get_count()[2] < threshold or since < _Passes.took / duty
                or not (quiet or since >= longest)):
            return
        started = time.perf_counter()
        gc.collect()
        _Passes.took = time.perf_counter() - started
        _Passes.ended = time.monotonic()
        _Passes.count += 1


def _check(value: object, field: str, within: Callable[[float], bool], allowed: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not within(value):  # NaN is never within
        raise ConfigError(field, value, allowed)
