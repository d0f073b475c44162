"""A volatility smile for simulated option prices: the random-walk feed prices each strike at its own volatility.

Index options do not trade at one volatility. Out-of-the-money puts (strikes below the forward) are dearer than
out-of-the-money calls (the skew: traders pay for protection against a fall), and both wings rise again far from
the money (the curvature). :class:`Smile` draws that shape as a parabola in log-moneyness ``k = ln(K / F)``::

    vol(k) = base + skew·k + curvature·k²        (then held between floor and black76.MAX_VOL)

with ``base`` the at-the-money volatility a year as a fraction (0.12 is 12%), ``skew`` the change of volatility
per unit of log-moneyness (negative: lower strikes dearer) and ``curvature`` the wings' rise. With the defaults
for NIFTY (``Smile(0.12, -0.8, 2.0)``) a put 5% below the forward (k ≈ -0.051) trades at about 16.6% and a call
5% above it (k ≈ 0.049) at about 8.6%; the parabola's lowest point is at k = -skew/(2·curvature) = 0.2. The
figures are of the order of NSE's index option chains in 2025, not a fit to them: the smile only has to look and
behave like a market (parity holds, each strike's implied volatility is the smile's).

:data:`DEFAULT_SMILES` has one per index of the sample instrument master; any other underlying gets
:data:`DEFAULT_SMILE`. The feed's rate and carry are :data:`DEFAULT_RATE` and :data:`DEFAULT_DIVIDEND_YIELD`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from oms_kit.black76 import MAX_VOL
from oms_kit.errors import ConfigError

__all__ = ["DEFAULT_DIVIDEND_YIELD", "DEFAULT_RATE", "DEFAULT_SMILE", "DEFAULT_SMILES", "Smile", "smile_for"]

#: The continuously compounded rate a year that discounts option payoffs and carries futures: about India's
#: overnight rate in late 2025 (the RBI's repo rate was 5.5% from June 2025; treasury bills yielded a little more).
DEFAULT_RATE = 0.06
#: The index's dividend yield a year, which lowers the carry of its futures: F = S·exp((rate - yield)·T).
DEFAULT_DIVIDEND_YIELD = 0.012


def _number(value: object, field: str, allowed: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not low <= value <= high:
        raise ConfigError(field, value, allowed)
    return float(value)


@dataclass(frozen=True, slots=True)
class Smile:
    """A volatility smile: ``base + skew·k + curvature·k²`` in log-moneyness ``k = ln(strike / forward)``.

    Parameters
    ----------
    base
        The at-the-money volatility a year as a fraction (0.12 is 12%), above 0 and at most ``black76.MAX_VOL``.
    skew
        The slope in ``k``, from -10 to 10; negative makes lower strikes dearer (index options).
    curvature
        The wings' rise in ``k²``, from 0 to 100.
    floor
        The lowest volatility the smile gives, above 0 and at most ``base``: far from the money a parabola with a
        skew would otherwise dip towards zero on one side.

    Raises
    ------
    ConfigError
        A parameter is not a finite number in its range.
    """

    base: float = 0.15
    skew: float = -0.8
    curvature: float = 2.0
    floor: float = 0.02

    def __post_init__(self) -> None:
        base = _number(self.base, "base", f"a volatility above 0 and at most {MAX_VOL:g} (0.12 is 12%)", 0, MAX_VOL)
        if base == 0:
            raise ConfigError("base", self.base, f"a volatility above 0 and at most {MAX_VOL:g} (0.12 is 12%)")
        _number(self.skew, "skew", "a number from -10 to 10 (volatility per unit of log-moneyness)", -10, 10)
        _number(self.curvature, "curvature", "a number from 0 to 100", 0, 100)
        floor = _number(self.floor, "floor", f"a volatility above 0 and at most base ({base:g})", 0, base)
        if floor == 0:
            raise ConfigError("floor", self.floor, f"a volatility above 0 and at most base ({base:g})")

    def vol(self, log_moneyness: Any) -> Any:
        """The volatility at ``log_moneyness`` (``ln(strike / forward)``): a float, or an array for an array."""
        k = np.asarray(log_moneyness, dtype=float)
        value = np.clip(self.base + (self.skew + self.curvature * k) * k, self.floor, MAX_VOL)
        return float(value) if value.ndim == 0 else value

    def vol_at(self, strike: float, forward: float) -> float:
        """The volatility of ``strike`` when the forward is ``forward`` (both above 0)."""
        return self.vol(math.log(strike / forward))


#: The at-the-money level and shape per index of the sample instrument master.
DEFAULT_SMILES: Mapping[str, Smile] = {
    "NIFTY": Smile(base=0.12, skew=-0.8, curvature=2.0),
    "BANKNIFTY": Smile(base=0.14, skew=-0.7, curvature=2.0),
}
#: The smile of an underlying that :data:`DEFAULT_SMILES` does not name (a stock: more volatile than an index).
DEFAULT_SMILE = Smile()


def smile_for(underlying: str, smiles: Mapping[str, Smile] | Smile | None) -> Smile:
    """The smile of ``underlying``: ``smiles`` itself when it is one Smile, else its entry, else the default's."""
    if isinstance(smiles, Smile):
        return smiles
    if smiles is not None and underlying in smiles:
        return smiles[underlying]
    return DEFAULT_SMILES.get(underlying, DEFAULT_SMILE)
