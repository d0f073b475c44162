"""Futures and options priced from their underlying: what the random-walk feed quotes for an F&O instrument master.

:class:`ContractPricer` holds a set of futures and options (:class:`~oms_kit.tradable.Instrument` with an
``underlying`` and an ``expiry``) as NumPy arrays, so one step of a feed prices all of them at once from the
underlyings' levels and the time:

- a future is the underlying carried to its expiry: ``F = S·exp((rate - dividend_yield)·T)``;
- an option is Black-76 on that forward (:func:`oms_kit.black76.price_array`, one call for every option of every
  underlying) at the volatility of its strike on the underlying's :class:`~oms_kit.market.smile.Smile`, in
  log-moneyness ``ln(K / F)``, discounted at ``rate``;
- ``T`` runs to the expiry day's close, 15:30 in Asia/Kolkata, in years of 365 days (as the margin counts it); a
  contract past it is worth its intrinsic value (``T = 0``);
- each price is rounded to its contract's tick, never below one tick (a price of 0 is no price).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import numpy as np

from oms_kit.black76 import MAX_VOL, price_array
from oms_kit.errors import ConfigError
from oms_kit.market.smile import DEFAULT_DIVIDEND_YIELD, DEFAULT_RATE, Smile, smile_for
from oms_kit.tradable import Instrument

__all__ = ["EXCHANGE_ZONE", "EXPIRY_TIME", "ContractPricer", "expiry_moment", "years_to_expiry"]

#: NSE derivatives expire at the close of their expiry day, 15:30 in Asia/Kolkata.
EXCHANGE_ZONE = ZoneInfo("Asia/Kolkata")
EXPIRY_TIME = time(15, 30)
_YEAR_SECONDS = 365.0 * 86400.0
_CONTRACT_TYPES = frozenset({"FUT", "CE", "PE"})


def expiry_moment(expiry: date) -> datetime:
    """The moment a contract expiring on ``expiry`` expires: 15:30 that day in Asia/Kolkata."""
    return datetime.combine(expiry, EXPIRY_TIME, EXCHANGE_ZONE)


def years_to_expiry(expiry: date, now: datetime | float) -> float:
    """Years of 365 days from ``now`` (a timezone-aware datetime, or seconds since the epoch) to ``expiry``'s
    close; 0 once it has passed."""
    at = now if isinstance(now, float | int) else now.timestamp()
    return max(expiry_moment(expiry).timestamp() - at, 0.0) / _YEAR_SECONDS


def _fraction(value: object, field: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not low <= value <= high:
        raise ConfigError(field, value, f"a fraction a year from {low:g} to {high:g} (0.06 is 6%)")
    return float(value)


class ContractPricer:
    """The futures and options of ``instruments`` as arrays, priced together from their underlyings' levels.

    Parameters
    ----------
    instruments
        Instruments of any kind; the futures and options among them (an ``underlying`` and an ``expiry``) are kept,
        in the order given. Equities are left out.
    smiles
        One :class:`~oms_kit.market.smile.Smile` for every underlying, or a mapping of underlying to Smile;
        those not named get :data:`~oms_kit.market.smile.DEFAULT_SMILES`' or the default smile.
    rate
        The rate a year that discounts option payoffs and carries futures, from -1 to 1.
    dividend_yield
        The underlying's yield a year, from -1 to 1: a future carries ``rate - dividend_yield``.

    Raises
    ------
    ConfigError
        A setting is out of range, an item is not an Instrument, or two contracts share a symbol.
    """

    __slots__ = ("_base", "_call", "_curvature", "_expiry_at", "_floor", "_option", "_options", "_skew",
                 "_strike", "_tick", "_underlying_index", "contracts", "dividend_yield", "rate", "smiles",
                 "underlyings")

    def __init__(self, instruments: Iterable[Instrument], smiles: Mapping[str, Smile] | Smile | None = None,
                 rate: float = DEFAULT_RATE, dividend_yield: float = DEFAULT_DIVIDEND_YIELD) -> None:
        if smiles is not None and not isinstance(smiles, Smile | Mapping):
            raise ConfigError("smiles", smiles, "a Smile, a mapping of underlying to Smile, or None")
        if isinstance(smiles, Mapping):
            for name, smile in smiles.items():
                if not isinstance(smile, Smile):
                    raise ConfigError(f"smiles[{name!r}]", smile, "a Smile (oms_kit.market.smile.Smile)")
        self.rate = _fraction(rate, "rate", -1.0, 1.0)
        self.dividend_yield = _fraction(dividend_yield, "dividend_yield", -1.0, 1.0)
        contracts: list[Instrument] = []
        seen: set[str] = set()
        for item in instruments:
            if not isinstance(item, Instrument):
                raise ConfigError("instruments", item, "Instrument objects")
            if item.instrument_type not in _CONTRACT_TYPES or item.underlying is None or item.expiry is None:
                continue
            if item.symbol in seen:
                # A feed's bars name a symbol only: the same symbol on two exchanges would get one price.
                raise ConfigError(f"instruments ({item.symbol} given twice)", item, "one contract per symbol")
            seen.add(item.symbol)
            contracts.append(item)
        #: The futures and options priced, in the order of :meth:`prices`.
        self.contracts: tuple[Instrument, ...] = tuple(contracts)
        #: The underlyings, in the order their first contract came.
        self.underlyings: tuple[str, ...] = tuple(dict.fromkeys(c.underlying for c in contracts))  # type: ignore
        self.smiles = {name: smile_for(name, smiles) for name in self.underlyings}
        position: dict[str | None, int] = {name: i for i, name in enumerate(self.underlyings)}
        self._underlying_index = np.array([position[c.underlying] for c in contracts], dtype=np.intp)
        self._expiry_at = np.array([expiry_moment(c.expiry).timestamp() for c in contracts])  # type: ignore[arg-type]
        self._tick = np.array([float(c.tick_size) for c in contracts])
        self._option = np.array([c.is_option for c in contracts], dtype=bool)
        self._options = np.flatnonzero(self._option)
        options = [contracts[i] for i in self._options]
        self._strike = np.array([float(c.strike) for c in options])  # type: ignore[arg-type]
        self._call = np.array([c.instrument_type == "CE" for c in options], dtype=bool)
        shapes = [self.smiles[c.underlying] for c in options]  # type: ignore[index]
        self._base = np.array([s.base for s in shapes])
        self._skew = np.array([s.skew for s in shapes])
        self._curvature = np.array([s.curvature for s in shapes])
        self._floor = np.array([s.floor for s in shapes])

    def __len__(self) -> int:
        return len(self.contracts)

    def middle_strike(self, underlying: str) -> float | None:
        """The median of ``underlying``'s distinct strikes (the middle of its chains), or None without options."""
        strikes = sorted({float(c.strike) for c in self.contracts  # type: ignore[arg-type]
                          if c.underlying == underlying and c.strike is not None})
        return float(np.median(strikes)) if strikes else None

    def forwards(self, levels: Sequence[float] | np.ndarray, now: float) -> np.ndarray:
        """Each contract's forward: its underlying's level (in :attr:`underlyings` order) carried to its expiry,
        at ``now`` (seconds since the epoch)."""
        years = np.maximum(self._expiry_at - now, 0.0) / _YEAR_SECONDS
        return np.asarray(levels, dtype=float)[self._underlying_index] * np.exp(
            (self.rate - self.dividend_yield) * years)

    def prices(self, levels: Sequence[float] | np.ndarray, now: float) -> np.ndarray:
        """Every contract's price, unrounded, from the underlyings' ``levels`` (in :attr:`underlyings` order) at
        ``now`` (seconds since the epoch): futures at their forward, options by Black-76 on the smile."""
        years = np.maximum(self._expiry_at - now, 0.0) / _YEAR_SECONDS
        forward = np.asarray(levels, dtype=float)[self._underlying_index] * np.exp(
            (self.rate - self.dividend_yield) * years)
        out = forward.copy()
        options = self._options
        if options.size:
            f, t = forward[options], years[options]
            k = np.log(self._strike / f)
            vol = np.clip(self._base + (self._skew + self._curvature * k) * k, self._floor, MAX_VOL)
            out[options] = price_array(f, self._strike, t, vol, np.asarray(self.rate), self._call)
        return out

    def rounded(self, prices: np.ndarray) -> list[float]:
        """``prices`` (from :meth:`prices`) on each contract's tick, at least one tick, as floats."""
        ticks = np.maximum(np.rint(prices / self._tick), 1.0)
        # np.round(…, 10) trims float noise such as 120.05000000000001 from the multiplication, as the feed does.
        return np.round(ticks * self._tick, 10).tolist()
