"""The checks of :class:`~oms_kit.broker.mock.MockBroker`'s settings: each bad one is a ConfigError naming it."""

from __future__ import annotations

import math
from decimal import Decimal

from oms_kit.errors import ConfigError

__all__ = ["intrabar_setting", "participation_setting", "protection_setting", "setting", "spread_settings"]

_BPS = Decimal("0.0001")
_HALF = Decimal("0.5")
_PERCENT = Decimal("0.01")
INTRABAR_RULES = ("stop_first", "target_first")

_PARTICIPATION = "a fraction of a bar's volume above 0 and at most 1, or None for no cap"


def setting(name: str, value: object, most: float, allowed: str) -> float:
    """``value``, a number from 0 to ``most`` (not infinite, not a bool); else a ConfigError naming ``name``."""
    # A NaN or a string here would surface much later, as a broken fill or a TypeError in the middle of a run.
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= most or value == math.inf:
        raise ConfigError(name, value, allowed)
    return value


_SPREAD_BPS = "a finite number of basis points from 0 to 10000 (the full spread as a share of the price)"
_SPREAD_TICKS = "a whole number of ticks from 0 to 10000"
_PROTECTION = "a percentage above 0 and at most 100, or None (or 0) for no market protection"


def spread_settings(spread_bps: object, spread_ticks: object) -> tuple[Decimal, Decimal]:
    """The spread as (half of it as a share of the price, half of it in ticks); at most one is not 0."""
    # (half the spread as a share of the price, half the spread in ticks); at most one is not 0.
    bps = setting("spread_bps", spread_bps, 10_000, _SPREAD_BPS)
    if isinstance(spread_ticks, bool) or not isinstance(spread_ticks, int | float) or (
            isinstance(spread_ticks, float) and not spread_ticks.is_integer()):
        raise ConfigError("spread_ticks", spread_ticks, _SPREAD_TICKS)
    ticks = setting("spread_ticks", spread_ticks, 10_000, _SPREAD_TICKS)
    if bps and ticks:
        raise ConfigError("spread_ticks", spread_ticks, "0 when spread_bps is set: give the spread one way",
                          hint="pass spread_bps or spread_ticks, not both")
    return Decimal(str(bps)) * _BPS * _HALF, Decimal(int(ticks)) * _HALF


def protection_setting(value: object) -> Decimal | None:
    """Market protection as a fraction (1 % is 0.01); None when off (None or 0)."""
    if value is None:
        return None
    pct = setting("market_protection_pct", value, 100, _PROTECTION)
    return Decimal(str(pct)) * _PERCENT if pct else None


def participation_setting(value: object) -> float | None:
    """The share of a bar's volume (of a quote's levels) one bar (quote) may fill; None: no cap."""
    if value is not None and setting("participation", value, 1.0, _PARTICIPATION) == 0:
        raise ConfigError("participation", value, _PARTICIPATION)
    return value  # type: ignore[return-value]


def intrabar_setting(value: object) -> str:
    """Which of a bar's resting stops and limits match first: "stop_first" or "target_first"."""
    if not isinstance(value, str) or value not in INTRABAR_RULES:
        raise ConfigError("intrabar", value, "'stop_first' (the default) or 'target_first'",
                          hint="stop_first assumes the worse of a bar's two ends came first")
    return value
