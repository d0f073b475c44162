"""The trading day: an account's current exchange-local day and its figures so far.

A day begins at midnight in the exchange's time zone. :class:`TradingDay` knows when the current one began and when
it ends, and what the account's running counters (orders placed, filled, rejected, cancelled, expired; trades;
closing and winning fills) stood at when it began, so today's figures are the difference. The order manager ends a
day (``OrderManager.roll_day``: DAY orders expire, the day's P&L starts again) and calls :meth:`TradingDay.begin`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any, Final

from oms_kit.ledger import Ledger
from oms_kit.models import Fill

_NO_DAY: Final = datetime.min.replace(tzinfo=UTC)  # before the first day is noted
_COUNTERS: Final = ("placed", "filled", "rejected", "cancelled", "expired")


class TradingDay:
    """The current day of one account: when it began and ends, and its counters' values when it began."""

    __slots__ = ("began", "end", "first_trade", "start_closing", "start_counts", "zone")

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone
        self.began: datetime | None = None  # midnight at the exchange (UTC) that began it; None before the first
        self.end = _NO_DAY  # the next midnight: a time at or after it is a new day
        self.start_counts: dict[str, int] = dict.fromkeys(_COUNTERS, 0)
        self.first_trade = 0  # index of the day's first trade in the account's trades
        self.start_closing = (0, 0)  # closing and winning fills before the day

    @property
    def noted(self) -> bool:
        """Whether a day has been noted (a first day only notes; a later one ends the day before)."""
        return self.end is not _NO_DAY

    def note(self, ts: datetime) -> None:
        """Make the exchange-local day of ``ts`` the current one."""
        day = ts.astimezone(self.zone).date()
        self.began = datetime.combine(day, time(0), tzinfo=self.zone).astimezone(UTC)
        self.end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.zone).astimezone(UTC)

    def begin(self, counts: Mapping[str, int], trades: int, closing_fills: int, winning_fills: int) -> None:
        """Start today's figures from the running counters as they stand (the day before has just ended)."""
        self.start_counts = dict(counts)
        self.first_trade = trades
        self.start_closing = (closing_fills, winning_fills)

    def closing_today(self, closing_fills: int, winning_fills: int) -> tuple[int, int]:
        """Today's closing fills and winning ones, from the running counts."""
        return closing_fills - self.start_closing[0], winning_fills - self.start_closing[1]

    def stats(self, counts: Mapping[str, int], trades: Sequence[Fill], closing_fills: int, winning_fills: int,
              ledger: Ledger) -> dict[str, Any]:
        """Today's figures (``OMS.stats_today``): orders by how they ended, trades, turnover and fees, the
        account's P&L, and the win rate of today's closing fills (None before one)."""
        start, today = self.start_counts, trades[self.first_trade:]
        closing, winning = self.closing_today(closing_fills, winning_fills)
        return {
            **{f"orders_{name}": counts[name] - start[name] for name in _COUNTERS},
            "trades": len(today),
            "turnover": sum((f.price * f.quantity for f in today), Decimal(0)),
            "fees": sum((f.fees for f in today), Decimal(0)),
            "realized_pnl": ledger.realized_pnl(),
            "unrealized_pnl": ledger.unrealized_pnl(),
            "day_pnl": ledger.day_pnl(),
            "win_rate": winning / closing if closing else None,
        }
