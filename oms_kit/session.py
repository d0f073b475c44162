"""ExchangeSession: where an account's exchange keeps its time.

An account trades on one exchange, and its day is that exchange's: DAY orders expire and the day's P&L starts again
at midnight there, and the session hours of :class:`~oms_kit.risk.RiskLimits` (``session_start``/``session_end``,
``mis_square_off``) are local times there. The session is a value of the account (``OrderManager.session``), read
by the trading day, the market-hours check, the risk monitor and the history's readers alike, so they cannot
disagree on the zone. Which days and hours the market is open is the limits' to say (their session times, or an
exchange calendar, ``RiskLimits.calendar``), so that a check that is off costs the order path nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, tzinfo
from zoneinfo import ZoneInfo

from oms_kit.errors import ConfigError

__all__ = ["NSE_SESSION", "ExchangeSession"]


@dataclass(frozen=True, slots=True)
class ExchangeSession:
    """An exchange's time zone (``zone``); ``ExchangeSession.of("America/New_York")`` for US data."""

    zone: tzinfo

    @classmethod
    def of(cls, value: str | tzinfo | ExchangeSession) -> ExchangeSession:
        """A session from an IANA time zone name (``"Asia/Kolkata"``), a tzinfo or a session; ConfigError naming
        ``exchange_timezone`` otherwise."""
        if isinstance(value, ExchangeSession):
            return value
        if isinstance(value, tzinfo):
            return cls(value)
        try:
            return cls(ZoneInfo(value))
        except (KeyError, ValueError, TypeError, OSError):  # ZoneInfoNotFoundError is a KeyError
            raise ConfigError("exchange_timezone", value, "an IANA time zone name such as 'Asia/Kolkata' or "
                              "'America/New_York', or a tzinfo") from None

    def local_time(self, now: datetime) -> time:
        """The exchange's wall-clock time at ``now`` (taken as UTC when naive)."""
        return (now if now.tzinfo is not None else now.replace(tzinfo=UTC)).astimezone(self.zone).time()

    def __str__(self) -> str:
        return str(self.zone)


NSE_SESSION = ExchangeSession(ZoneInfo("Asia/Kolkata"))
