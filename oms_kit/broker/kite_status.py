"""Kite Connect's order statuses, read as what the OMS's state machine does with them, and Kite's times as UTC.

Kite shows an order's status as text (its order book, ``kite.orders()``). The final ones are ``COMPLETE``,
``CANCELLED`` and ``REJECTED``; ``OPEN`` and ``TRIGGER PENDING`` are working; and on the way the order passes
transient ones, which :func:`stage` sorts:

* before the broker's checks have passed (``PUT ORDER REQ RECEIVED``, ``VALIDATION PENDING``, ``OPEN PENDING``):
  :attr:`Stage.PENDING`. The order stays NEW in the OMS: Kite may still reject it, and the state machine has no
  rejection of an order it has accepted.
* accepted and held or working (``AMO REQ RECEIVED``, ``OPEN``, ``TRIGGER PENDING``, ``MODIFY VALIDATION
  PENDING``, ``MODIFY PENDING``, ``MODIFIED``, ``CANCEL PENDING``): :attr:`Stage.WORKING`. A pending modify or cancel
  changes nothing here; its outcome shows in a later status, and the fills in the trade book.
* a status this module does not know: :attr:`Stage.PENDING` too (nothing is concluded from it), logged once.

A partly filled order is ``OPEN`` with ``filled_quantity`` above 0 at Kite; an order that expired (a DAY order at
the close, an IOC order's remainder) is ``CANCELLED``. The fills themselves come from the trade book.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

log = logging.getLogger("oms_kit")

IST = ZoneInfo("Asia/Kolkata")  # Kite writes its times in India's time, without a zone


class Stage(Enum):
    """What a Kite status means for the OMS's copy of the order."""

    PENDING = "pending"  # the broker has the request; not accepted yet
    WORKING = "working"  # accepted: held (after-market), working at the exchange, or a modify or cancel pending
    COMPLETE = "complete"
    CANCELLED = "cancelled"
    REJECTED = "rejected"

    @property
    def final(self) -> bool:
        """Whether the order can change no more at the broker."""
        return self in _FINAL


_FINAL = frozenset({Stage.COMPLETE, Stage.CANCELLED, Stage.REJECTED})

KITE_STAGES: dict[str, Stage] = {
    "PUT ORDER REQ RECEIVED": Stage.PENDING,
    "VALIDATION PENDING": Stage.PENDING,
    "OPEN PENDING": Stage.PENDING,
    "AMO REQ RECEIVED": Stage.WORKING,  # accepted and held by the broker until the session opens
    "OPEN": Stage.WORKING,
    "TRIGGER PENDING": Stage.WORKING,
    "MODIFY VALIDATION PENDING": Stage.WORKING,
    "MODIFY PENDING": Stage.WORKING,
    "MODIFIED": Stage.WORKING,
    "CANCEL PENDING": Stage.WORKING,
    "COMPLETE": Stage.COMPLETE,
    "CANCELLED": Stage.CANCELLED,
    "CANCELLED AMO": Stage.CANCELLED,
    "REJECTED": Stage.REJECTED,
}
# Working statuses in which a cancel has been asked for already: sending another would only add to the load.
CANCEL_UNDER_WAY = frozenset({"CANCEL PENDING"})
_unknown_logged: set[str] = set()


def stage(status: object) -> Stage:
    """The :class:`Stage` of a Kite status; an unknown one is PENDING (nothing is concluded from it)."""
    text = status.strip().upper() if isinstance(status, str) else ""
    found = KITE_STAGES.get(text)
    if found is None:
        shown = text[:60] or repr(status)[:60]
        if shown not in _unknown_logged and len(_unknown_logged) < 100:
            _unknown_logged.add(shown)
            log.warning("Kite order status %r is not known to oms_kit: the order is left as it is", shown)
        return Stage.PENDING
    return found


def triggered(status: object, filled: int) -> bool:
    """Whether a stop order (SL, SL-M) has triggered at the broker: it shows OPEN (or COMPLETE) rather than
    TRIGGER PENDING, or has fills."""
    text = status.strip().upper() if isinstance(status, str) else ""
    return filled > 0 or text in ("OPEN", "COMPLETE")


def kite_time(value: object, fallback: datetime) -> datetime:
    """A time of Kite's as an aware UTC datetime: the client turns ``"YYYY-MM-DD HH:MM:SS"`` (India's time) into a
    naive datetime; an aware one is converted; text is parsed; anything else (missing, unreadable) is
    ``fallback``."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return fallback
    if not isinstance(value, datetime):
        return fallback
    try:
        return (value.replace(tzinfo=IST) if value.tzinfo is None else value).astimezone(UTC)
    except (OverflowError, ValueError):  # a time at the calendar's edge
        return fallback


def plausible(ts: datetime, now: datetime, days: float = 3) -> datetime:
    """``ts`` when it is within ``days`` of ``now``, else ``now``: a broker's time far off is a garbled one, and a
    day's orders and trades are from the last few days at most (a weekend's after-market orders)."""
    try:
        return ts if abs((ts - now).total_seconds()) <= days * 86400 else now
    except (OverflowError, TypeError):
        return now


def broker_message(order: Mapping[str, Any], default: str) -> str:
    """The broker's own words on an order (``status_message``, else ``status_message_raw``), else ``default``."""
    for key in ("status_message", "status_message_raw"):
        text = order.get(key)
        if isinstance(text, str) and text.strip():
            # Kept as the order's reason: printable text only, as the OMS keeps its own reasons.
            return "".join(c if c.isprintable() else " " for c in text.strip()[:1000]).strip() or default
    return default


def whole_number(value: object) -> int:
    """A quantity as Kite sends it (a number, or text of one); 0 for anything else."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        return 0


def trade_price(value: object) -> Decimal | None:
    """A trade's price as an exact Decimal; None for one that is no price (not a finite number above 0, or finer
    than the 8 decimal places the store keeps: a trade's price is on a tick)."""
    try:
        price = Decimal(str(value))
    except ArithmeticError:
        return None
    return price if price.is_finite() and price > 0 and int(price.as_tuple().exponent) >= -8 else None
