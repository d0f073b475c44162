"""The write queue's lifecycle: its states, every move between them, and what a call is told in a state that does
not take it.

``WriteQueue`` holds one :class:`QueueState` and changes it only through :func:`advance`, so the moves below are
the whole story::

    IDLE ──send──▶ WRITING ──committed / failed──▶ IDLE
                   WRITING ──lost──▶ RETRYING ──send / failed / lost──▶ RETRYING ──committed──▶ IDLE
    IDLE / WRITING / RETRYING ──close──▶ CLOSING ──stop──▶ CLOSED

``send``: a transaction goes out. ``committed``: the database answered and the rows it could hold are stored.
``failed``: the transaction failed for another reason (its rows are dropped and its callers get the error).
``lost``: the database could not be reached (the rows are held for the retry). ``close``: ``close()`` was
called. ``stop``: the background task ended (after ``close()``, or cancelled: a cancelled task leaves an open
queue IDLE, or RETRYING during an outage, and the next commit starts it again).
"""

from __future__ import annotations

import enum
from typing import Literal

from oms_kit.errors import StoreError

Event = Literal["send", "committed", "failed", "lost", "close", "stop"]


class QueueState(enum.Enum):
    """Where a :class:`~oms_kit.storage.writer.WriteQueue` is in its life (``queue.state``,
    ``status()["state"]``).

    Attributes
    ----------
    IDLE
        Open, nothing in flight: the background task (once started) waits for rows.
    WRITING
        Open, one transaction in flight; rows that arrive meanwhile go out together in the next one.
    RETRYING
        The database could not be reached: the rows are held, in order, and sent again with a growing pause
        (an attempt may be in flight). Back to IDLE as soon as one succeeds.
    CLOSING
        ``close()`` was called: what is queued is written (once more attempted, if the database is down) and new
        rows are refused.
    CLOSED
        The background task has ended after ``close()``: nothing more can be queued.
    """

    IDLE = "idle"
    WRITING = "writing"
    RETRYING = "retrying"
    CLOSING = "closing"
    CLOSED = "closed"


_S = QueueState
# state -> {event: next state}. An event missing from its state's row cannot happen there: advance() says so.
TRANSITIONS: dict[QueueState, dict[Event, QueueState]] = {
    _S.IDLE: {"send": _S.WRITING, "close": _S.CLOSING, "stop": _S.IDLE},
    _S.WRITING: {"committed": _S.IDLE, "failed": _S.IDLE, "lost": _S.RETRYING, "close": _S.CLOSING,
                 "stop": _S.IDLE},
    # A failure that is not the database's absence (the store was closed) says nothing about its return.
    _S.RETRYING: {"send": _S.RETRYING, "committed": _S.IDLE, "failed": _S.RETRYING, "lost": _S.RETRYING,
                  "close": _S.CLOSING, "stop": _S.RETRYING},
    # Draining: whatever happens to the last transactions, the queue only goes on to CLOSED.
    _S.CLOSING: {"send": _S.CLOSING, "committed": _S.CLOSING, "failed": _S.CLOSING, "lost": _S.CLOSING,
                 "close": _S.CLOSING, "stop": _S.CLOSED},
    _S.CLOSED: {"close": _S.CLOSED, "stop": _S.CLOSED},  # closing twice is harmless
}

# What a call that queues rows is told in a state that refuses them.
_REFUSALS = {
    _S.CLOSING: ("the write queue is closing",
                 "close() was called: it writes what was queued before and stops; open a new store and queue to "
                 "write again"),
    _S.CLOSED: ("the write queue is closed", "open a new store and queue to write again"),
}


def advance(state: QueueState, event: Event) -> QueueState:
    """The state that ``event`` leads to from ``state``.

    Raises
    ------
    StoreError
        ``event`` cannot happen in ``state`` (a fault of the queue itself, not of its caller).
    """
    try:
        return TRANSITIONS[state][event]
    except KeyError:
        allowed = ", ".join(TRANSITIONS.get(state, {})) or "none"
        raise StoreError(f"write queue: no move from {state.name} on {event!r}",
                         detail=f"events allowed in {state.name}: {allowed}") from None


def refused(state: QueueState, operation: str) -> StoreError:
    """The error for a call that wants to ``operation`` (e.g. ``"commit rows"``) in ``state``, which refuses it:
    ``cannot commit rows: the write queue is closing`` (or ``closed``), with a hint on what to do."""
    message, hint = _REFUSALS.get(state, (f"the write queue is {state.value}", None))
    return StoreError(f"cannot {operation}: {message}", hint=hint)
