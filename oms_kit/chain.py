"""The option chain of one underlying and expiry as a table: each strike's call and put with their last price,
implied volatility, delta and the account's position (``oms.option_chain("NIFTY")``).

The chain reads what the OMS holds: its instruments (the options of that underlying and expiry), the last price of
each leg and the net position in it. Nothing is priced by a model except to read the market: each leg's implied
volatility is solved from its last price with Black-76 (:func:`oms_kit.black76.implied_vol`) and its delta is the
model's at that volatility, both on the expiry's forward:

- the last price of the future of the same underlying and expiry, when the OMS has one (a future is the forward);
- else put-call parity at the strike whose call and put are nearest in price (the one nearest the money):
  ``F = K + (C - P) / DF`` with ``DF = exp(-rate·T)``, which is what the listed options say the forward is;
- else none: the volatilities and deltas are NaN.

``T`` runs from the OMS's clock to 15:30 in Asia/Kolkata on the expiry day, in years of 365 days; ``rate`` is the
random-walk feed's (the rate its prices were made with), else :data:`~oms_kit.market.smile.DEFAULT_RATE`. A leg
without a price, a price the model cannot reach (below the discounted intrinsic value, at or above its upper
bound) and an expired chain give NaN. A leg's implied volatility is 0 when its price is its intrinsic value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

from oms_kit.black76 import greeks, implied_vol
from oms_kit.errors import ConfigError, DataError
from oms_kit.instrument_master import InstrumentLookupError
from oms_kit.market.fno import expiry_moment, years_to_expiry
from oms_kit.market.smile import DEFAULT_RATE
from oms_kit.tradable import Instrument

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CHAIN_COLUMNS", "ChainIndex", "option_chain"]

#: The columns of :func:`option_chain`, in order: the strike, then the call's and the put's symbol, last price,
#: implied volatility (a fraction a year: 0.12 is 12%), delta (per unit of the forward) and net position.
CHAIN_COLUMNS = ("strike",
                 "ce_symbol", "ce_last", "ce_iv", "ce_delta", "ce_position",
                 "pe_symbol", "pe_last", "pe_iv", "pe_delta", "pe_position")
_RIGHTS = ("CE", "PE")
_SHOWN = 60  # characters of a refused text shown in the error


@dataclass(slots=True)
class ChainIndex:
    """The options and futures of an instrument mapping by underlying and expiry, so a chain does not walk every
    instrument (a Kite dump holds tens of thousands). Built by :meth:`of`; instruments are only ever added to an
    OMS, so an index is fresh while the mapping's size is the one it was built at."""

    size: int
    # underlying -> expiry -> strike -> {"CE": option, "PE": option}
    options: dict[str, dict[date, dict[Decimal, dict[str, Instrument]]]] = field(default_factory=dict)
    futures: dict[tuple[str, date], Instrument] = field(default_factory=dict)

    @classmethod
    def of(cls, instruments: Mapping[str, Instrument], previous: ChainIndex | None = None) -> ChainIndex:
        """The index of ``instruments``: ``previous`` when it is still fresh, else a new one."""
        if previous is not None and previous.size == len(instruments):
            return previous
        index = cls(len(instruments))
        for item in instruments.values():
            if item.underlying is None or item.expiry is None:
                continue
            if item.instrument_type == "FUT":
                index.futures.setdefault((item.underlying, item.expiry), item)
            elif item.is_option and item.strike is not None:
                legs = index.options.setdefault(item.underlying, {}).setdefault(item.expiry, {})
                legs.setdefault(item.strike, {}).setdefault(item.instrument_type, item)
        return index


def _shown(value: object) -> object:
    # A hostile text (a megabyte, control characters) is named in the error by its start only.
    if isinstance(value, str) and len(value) > _SHOWN:
        return value[:_SHOWN] + "…"
    return value


def _underlying(index: ChainIndex, value: object) -> str:
    names = sorted(index.options)
    allowed = ("an underlying with options among the OMS's instruments: " + ", ".join(names)) if names else \
        "an underlying with options: the OMS has none (open it with instruments=ok.Instruments.sample(), or a " \
        "Kite instrument dump)"
    if isinstance(value, str):
        if value in index.options:
            return value
        upper = value.strip().upper()
        if upper in index.options:
            return upper
        raise InstrumentLookupError("underlying", _shown(value), allowed)
    raise ConfigError("underlying", _shown(value), allowed)


def _expiry(index: ChainIndex, underlying: str, value: object, now: datetime) -> date:
    expiries = sorted(index.options[underlying])
    listed = f"an expiry of {underlying}'s options: " + ", ".join(map(str, expiries))
    if value is None:
        for expiry in expiries:
            if expiry_moment(expiry) > now:
                return expiry
        raise InstrumentLookupError(
            "expiry", None, listed, detail=f"every expiry of {underlying}'s options has passed at {now.isoformat()}",
            hint="pass one of them as expiry= to see its chain at expiry, or open the OMS on a clock before it "
                 "(clock=ok.SimulatedClock(...))")
    day: date | None = None
    if type(value) is date:
        day = value
    elif isinstance(value, str):
        text = value.strip()
        if len(text) == 10 and text[4] == "-" and text[7] == "-":
            try:
                day = date.fromisoformat(text)
            except ValueError:
                day = None
        if day is None:
            raise ConfigError("expiry", _shown(value), "a datetime.date, a text YYYY-MM-DD or None (the nearest)")
    else:
        hint = "pass its .date()" if isinstance(value, datetime) else None
        raise ConfigError("expiry", _shown(value), "a datetime.date, a text YYYY-MM-DD or None (the nearest)",
                          hint=hint)
    if day not in index.options[underlying]:
        raise InstrumentLookupError("expiry", value, listed)
    return day


def _rate(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not -1.0 <= value <= 1.0:
        raise ConfigError("rate", value, "a rate a year as a fraction from -1 to 1 (0.06 is 6%), or None")
    return float(value)


def _forward(legs: dict[Decimal, dict[str, Instrument]], last: list[tuple[float, float]], future_price: float,
             discount: float) -> tuple[float, str]:
    if future_price == future_price:  # not NaN
        return future_price, "future"
    best: tuple[float, float] | None = None
    for strike, (call, put) in zip(legs, last, strict=True):
        if call == call and put == put and (best is None or abs(call - put) < abs(best[1])):
            best = (float(strike), call - put)
    if best is None:
        return math.nan, "none"
    return best[0] + best[1] / discount, "parity"


def _implied(price: float, forward: float, strike: float, years: float, rate: float, right: str) -> float:
    if not (price == price and forward == forward and years > 0):
        return math.nan
    try:
        return implied_vol(price, forward, strike, years, rate, right)
    except (DataError, ConfigError):  # outside the model's bounds: no volatility reproduces this price
        return math.nan


def option_chain(index: ChainIndex, prices: Mapping[str, Decimal], position: Callable[[str], int],
                 underlying: str, expiry: date | str | None = None, *, now: datetime,
                 rate: float | None = None) -> pd.DataFrame:
    """The option chain of ``underlying`` for ``expiry`` (the nearest that has not expired at ``now`` when None).

    Parameters
    ----------
    index
        The instruments, indexed (:meth:`ChainIndex.of`).
    prices
        The last price of each symbol (the OMS's marks).
    position
        The net quantity held in a symbol (negative when short).
    underlying
        The underlying's name, e.g. ``"NIFTY"`` (any case).
    expiry
        A ``datetime.date`` or ``"YYYY-MM-DD"``; None: the nearest expiry whose close (15:30 in Asia/Kolkata) is
        still ahead of ``now``.
    now
        The valuation time (timezone-aware): the OMS's clock.
    rate
        The rate a year that discounts payoffs, -1 to 1; None: :data:`~oms_kit.market.smile.DEFAULT_RATE`.

    Returns
    -------
    pandas.DataFrame
        One row per strike, lowest first, with :data:`CHAIN_COLUMNS`: ``strike`` and the prices, volatilities and
        deltas as floats (NaN where unknown: no price, no forward, a price the model cannot reach, expired),
        symbols as text (None where a strike lists one right only), positions as int64. ``attrs`` holds
        ``underlying``, ``expiry``, ``at``, ``years``, ``rate``, ``forward`` and ``forward_source`` (``"future"``,
        ``"parity"`` or ``"none"``).

    Raises
    ------
    InstrumentLookupError
        The OMS has no options of ``underlying``, none of that ``expiry``, or (``expiry=None``) every expiry has
        passed. A :class:`~oms_kit.errors.ConfigError` naming the field, the value and the listed ones.
    ConfigError
        ``underlying``, ``expiry`` or ``rate`` is malformed.
    """
    import pandas as pd  # on first use, as the other tables

    name = _underlying(index, underlying)
    day = _expiry(index, name, expiry, now)
    rate = DEFAULT_RATE if rate is None else _rate(rate)
    years = years_to_expiry(day, now)
    discount = math.exp(-rate * years)
    legs = index.options[name][day]
    strikes = sorted(legs)
    ordered = {strike: legs[strike] for strike in strikes}

    def last(item: Instrument | None) -> float:
        mark = None if item is None else prices.get(item.symbol)
        return math.nan if mark is None else float(mark)

    quoted = [(last(leg.get("CE")), last(leg.get("PE"))) for leg in ordered.values()]
    future = index.futures.get((name, day))
    forward, source = _forward(ordered, quoted, last(future), discount)
    columns: dict[str, Any] = {"strike": np.array([float(k) for k in strikes])}
    for side, right in enumerate(_RIGHTS):
        key = right.lower()
        items = [leg.get(right) for leg in ordered.values()]
        last_prices = np.array([q[side] for q in quoted])
        vols = np.array([_implied(p, forward, float(k), years, rate, right)
                         for p, k in zip(last_prices, strikes, strict=True)])
        deltas = np.full(len(strikes), math.nan)
        solved = np.isfinite(vols)
        if solved.any():
            deltas[solved] = greeks(forward, columns["strike"][solved], years, vols[solved], rate,
                                            right).delta
        columns[f"{key}_symbol"] = [None if item is None else item.symbol for item in items]
        columns[f"{key}_last"] = last_prices
        columns[f"{key}_iv"] = vols
        columns[f"{key}_delta"] = deltas
        columns[f"{key}_position"] = np.array([0 if item is None else position(item.symbol) for item in items],
                                              dtype=np.int64)
    frame = pd.DataFrame({column: columns[column] for column in CHAIN_COLUMNS})
    for column in ("ce_symbol", "pe_symbol"):
        frame[column] = frame[column].astype(object)
    frame.attrs.update(underlying=name, expiry=day, at=now, years=years, rate=rate,
                       forward=None if forward != forward else forward, forward_source=source)
    return frame
