"""A portfolio margin for futures and options in the style of SPAN, with NSE's parameters.

What it computes, per underlying
--------------------------------
1. **Scan risk**: the worst loss of the underlying's legs over SPAN's 16 risk scenarios. Each scenario moves the
   underlying price by a multiple of the price scan range (PSR) and the volatility by a multiple of the volatility
   scan range (VSR); options are valued again with Black-76 (:mod:`oms_kit.black76`) at the moved price and
   volatility, futures move with the price, and the loss is the value now less the value in the scenario:

   ====  ===========  ==========  ======
   no.   price move   vol move    weight
   ====  ===========  ==========  ======
   1-2   0            +1, -1      100%
   3-6   +1/3, -1/3   +1, -1      100%
   7-10  +2/3, -2/3   +1, -1      100%
   11-14 +1, -1       +1, -1      100%
   15-16 +2, -2       0           35%
   ====  ===========  ==========  ======

   (the table of NSE Clearing's SPAN as published by ICCL, https://www.icclindia.com/Static/Risk_Management/
   margin_derivatives.aspx, and the NISM/NSE derivatives curriculum, table "Worst Scenario Loss"; CME's SPAN has
   the same 14 scenarios with extreme moves of 3 x PSR). Losses net across the legs of an underlying scenario by
   scenario, so a spread, an iron condor or a future against an option needs less than its legs alone. The
   scenarios are valued at the valuation time itself (no look-ahead of a day, so no theta credit).
2. **Calendar spread charge**: the scan nets the months of an underlying fully, so a long near month against a
   short far month future would cost nothing; SPAN adds back a charge on the spread. Here: the legs' deltas
   (futures 1, options Black-76's) are summed by expiry, the spread is the smaller of the long and the short
   delta, and the charge is that many units at the underlying price times ``calendar_spread`` (NSE: 1.75% of the
   far month contract for index derivatives, 2.2% for stock derivatives, https://www.nseclearing.in/risk-management/
   equity-derivatives/span-risk-parameters; the underlying price stands in for the far month's).
   On an expiry day the legs that expire that day get no calendar spread treatment at all (SEBI circular
   SEBI/HO/MRD/TPD-1/P/CIR/2024/132 of 1 October 2024): they are scanned apart from the other months.
3. **SPAN requirement** ``span = max(0, scan risk + calendar spread - value of the long options)``. Long options
   are paid for in full (NSE options are premium style), and their value covers their own risk: a long option's
   loss in any scenario is at most its value, so buying options alone needs no margin beyond the premium (and a
   portfolio of long options only has a SPAN requirement of 0 even when their deltas in different months draw a
   calendar spread charge: SPAN's cap of long option risk at their value). The long options' value also stands
   against the risk of the other legs, as SPAN's net option value does.
4. **Short option minimum** ``short_option_minimum x price x max(net short calls, net short puts)`` in units,
   netting long against short options of the same right (any strike or month), and ``initial = max(span, short
   option minimum)``. NSE's rates (3% of the notional of short index options, 7.5% for stock options) are from
   NSE's former parameter page (https://www1.nseindia.com/content/nsccl/nsccl_fospanparameters.htm); the current
   page of NSE Clearing lists none, so treat them as an upper guess.
5. **Exposure margin** (extreme loss margin), on gross positions, not netted: futures ``exposure x |quantity| x
   futures price``; short options ``exposure x |quantity| x underlying price`` (``deep_otm_exposure`` when the
   strike is more than ``deep_otm`` out of the money), plus ``expiry_day_exposure`` on the day a short option
   expires; long options none. NSE: index derivatives 2% of notional, 3% for index options more than 10% out of
   the money; stock derivatives the higher of 3.5% and 1.5 standard deviations of the stock's daily log returns
   over six months, 5.25% for stock options more than 30% out of the money (as brokers publish them, e.g.
   https://tradingqna.com/t/80018; the form "higher of x% or 1.5 sigma" is SEBI's, circular CIR/DNPD/3/2010,
   when x was 5%). The 1.5 sigma alternative needs the stock's history: put the higher figure in the stock's row.
   The extra 2% on short index options on their expiry day is NSE Clearing's circular NCL/CMPT/64639 of
   21 October 2024, in force from 20 November 2024.
6. ``total = initial + exposure``.

Parameters (``margin_params.csv``, percentages): NSE Clearing's SPAN page says the PSR is 6 standard deviations
scaled by √2, subject to 9.3% of the underlying price for index derivatives (17.7% for index options with more than
nine months left) and 14.2% for stock derivatives; the VSR is 25% of the annualized EWMA volatility, at least
4 volatility points for indices and 10 for stocks (a change in volatility points: 4 means 15% becomes 19% or 11%).
The shipped rows take those floors, which bind in calm markets; the exchange publishes each day's figures in its
SPAN risk parameter files, and ``params=`` takes your own. ``default_vol_pct`` is only a stand-in volatility
(typical levels, not an exchange figure) for options given no price, no ``iv`` and no ``vols=`` entry. An
underlying not in the file takes the ``DEFAULT`` row, the stock derivatives' parameters.

Not modelled: inter-commodity spread credits, the exposure margin of one third on futures calendar spreads,
delivery margins near the expiry of stock derivatives, and the intraday peak-margin snapshots. Figures are floats
in the instrument's currency (rupees).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

import oms_kit.black76 as black76
from oms_kit.errors import ConfigError, DataError
from oms_kit.margin_params import (
    MarginParams,
    checked_fraction,
    default_margin_params,
    read_margin_params,
    resolve_margin_params,
)
from oms_kit.parsing import MAX_QUANTITY

__all__ = [
    "EXCHANGE_ZONE",
    "EXPIRY_TIME",
    "SCENARIOS",
    "Leg",
    "MarginImpact",
    "MarginParams",
    "MarginResult",
    "UnderlyingMargin",
    "default_margin_params",
    "margin_impact",
    "portfolio_margin",
    "read_margin_params",
]

#: NSE derivatives expire at the close, 15:30 in Asia/Kolkata; time to expiry runs to that moment (365-day years).
EXCHANGE_ZONE = ZoneInfo("Asia/Kolkata")
EXPIRY_TIME = time(15, 30)
_YEAR_SECONDS = 365.0 * 86400.0

#: The 16 risk scenarios: (price move in PSRs, volatility move in VSRs, fraction of the loss counted).
SCENARIOS: tuple[tuple[float, float, float], ...] = (
    *((move, vol, 1.0) for move in (0.0, 1 / 3, -1 / 3, 2 / 3, -2 / 3, 1.0, -1.0) for vol in (1.0, -1.0)),
    (2.0, 0.0, 0.35),
    (-2.0, 0.0, 0.35),
)
_PRICE_MOVES = np.array([0.0] + [s[0] for s in SCENARIOS])  # column 0: the value now
_VOL_MOVES = np.array([0.0] + [s[1] for s in SCENARIOS])
_WEIGHTS = np.array([s[2] for s in SCENARIOS])
# A volatility scanned down below this is held here: Black-76 needs a volatility, and this is near intrinsic value.
_VOL_FLOOR = 1e-4
_KINDS = {"FUT": "FUT", "FUTURE": "FUT", "CE": "CE", "CALL": "CE", "PE": "PE", "PUT": "PE"}


@dataclass(frozen=True, slots=True)
class Leg:
    """One position or order leg, neutral of any broker's symbols.

    ``underlying`` names the index or stock (``"NIFTY"``, upper case); ``kind`` is ``"FUT"``, ``"CE"`` or ``"PE"``
    (``"call"``/``"put"`` too); ``strike`` is None for a future; ``quantity`` is signed units (a short lot of 75 is
    -75), a non-zero multiple of ``lot_size``. ``price`` (a future's or an option's price) and ``iv`` (a volatility
    a year as a fraction) are optional: an option's volatility is ``iv``, else implied from ``price``, else the
    ``vols=`` of the underlying, else its parameters' ``default_vol``. Bad fields raise ConfigError naming them.
    """

    underlying: str
    kind: str
    strike: float | None
    expiry: date
    quantity: int
    lot_size: int = 1
    price: float | None = None
    iv: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.underlying, str) or not self.underlying.strip() or not self.underlying.isprintable():
            raise ConfigError("leg.underlying", self.underlying, "a name such as 'NIFTY'")
        object.__setattr__(self, "underlying", self.underlying.strip().upper())
        kind = _KINDS.get(self.kind.strip().upper()) if isinstance(self.kind, str) else None
        if kind is None:
            raise ConfigError("leg.kind", self.kind, "'FUT', 'CE' or 'PE' (also 'call' or 'put')")
        object.__setattr__(self, "kind", kind)
        if kind == "FUT":
            if self.strike is not None:
                raise ConfigError("leg.strike", self.strike, "None for a future")
        else:
            checked_fraction("leg.strike", self.strike, 1e-300, black76.MAX_PRICE,
                      f"a number above 0 and at most {black76.MAX_PRICE:g} for an option")
            object.__setattr__(self, "strike", float(self.strike))  # type: ignore[arg-type]
        if not isinstance(self.expiry, date):
            raise ConfigError("leg.expiry", self.expiry, "a datetime.date")
        if isinstance(self.expiry, datetime):
            object.__setattr__(self, "expiry", self.expiry.date())
        lot = self.lot_size
        if isinstance(lot, bool) or not isinstance(lot, int) or not 1 <= lot <= MAX_QUANTITY:
            raise ConfigError("leg.lot_size", self.lot_size, f"a whole number from 1 to {MAX_QUANTITY:,}")
        quantity = self.quantity
        if (isinstance(quantity, bool) or not isinstance(quantity, int) or quantity == 0
                or abs(quantity) > MAX_QUANTITY or quantity % self.lot_size):
            raise ConfigError("leg.quantity", quantity, f"a non-zero whole number of units, a multiple of the lot "
                              f"size {self.lot_size}, at most {MAX_QUANTITY:,} either way (negative is short)")
        if self.price is not None:
            checked_fraction("leg.price", self.price, 1e-300, black76.MAX_PRICE,
                      f"None or a number above 0 and at most {black76.MAX_PRICE:g}", DataError)
        if self.iv is not None:
            checked_fraction("leg.iv", self.iv, 1e-4, black76.MAX_VOL, "None or a volatility a year as a fraction "
                      f"(0.2 is 20%), from 0.0001 to {black76.MAX_VOL:g}")


@dataclass(frozen=True, slots=True)
class UnderlyingMargin:
    """The margin of one underlying's legs (rupees). See the module docstring for each figure."""

    underlying: str
    price: float
    legs: int  # contracts held after netting the legs of each contract
    scan_risk: float
    worst_scenario: int  # 1 to 16; 0 when no scenario loses
    calendar_spread: float
    long_option_value: float
    net_option_value: float  # long less short options, at their values now
    span: float
    short_option_minimum: float
    initial: float
    exposure: float
    total: float


@dataclass(frozen=True, slots=True)
class MarginResult:
    """A portfolio's margin: one row per underlying (in the order first seen) and the totals."""

    rows: tuple[UnderlyingMargin, ...]
    at: datetime
    by_underlying: dict[str, UnderlyingMargin] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_underlying", {row.underlying: row for row in self.rows})

    def _sum(self, name: str) -> float:
        return float(sum(getattr(row, name) for row in self.rows))

    @property
    def span(self) -> float:
        """The SPAN requirements, summed over underlyings."""
        return self._sum("span")

    @property
    def short_option_minimum(self) -> float:
        """The short option minimums, summed."""
        return self._sum("short_option_minimum")

    @property
    def initial(self) -> float:
        """The initial margins (the higher of SPAN and the short option minimum per underlying), summed."""
        return self._sum("initial")

    @property
    def exposure(self) -> float:
        """The exposure margins, summed."""
        return self._sum("exposure")

    @property
    def net_option_value(self) -> float:
        """Long less short options at their values now, summed."""
        return self._sum("net_option_value")

    @property
    def total(self) -> float:
        """Initial plus exposure margin of the whole portfolio."""
        return self._sum("total")

    def to_dicts(self) -> list[dict[str, Any]]:
        """The rows as plain dicts (for JSON or ``pandas.DataFrame(result.to_dicts())``)."""
        return [asdict(row) for row in self.rows]

    def to_frame(self) -> Any:
        """The rows as a pandas DataFrame indexed by underlying, with the columns of :class:`UnderlyingMargin`."""
        import pandas as pd  # only here: the margin itself needs no pandas

        columns = [f.name for f in fields(UnderlyingMargin)]
        return pd.DataFrame(self.to_dicts(), columns=columns).set_index("underlying")


@dataclass(frozen=True, slots=True)
class MarginImpact:
    """What new legs do to a portfolio's margin: the dry run of an order.

    ``added`` is ``after.total - before.total``; ``benefit`` is ``alone.total - added``, what netting with the
    portfolio saves against margining the new legs alone (above 0 for a hedge, 0 for an unrelated underlying);
    ``premium`` is the new options' value, ``sum(quantity x price)`` with the leg's price or else the model's
    (above 0 is paid for options bought, below 0 received for options sold).
    """

    before: MarginResult
    after: MarginResult
    alone: MarginResult
    added: float
    benefit: float
    premium: float


def _valuation_time(at: object) -> datetime:
    if isinstance(at, datetime):
        try:
            return at.replace(tzinfo=EXCHANGE_ZONE) if at.tzinfo is None else at.astimezone(EXCHANGE_ZONE)
        except (OverflowError, ValueError):  # the far ends of the calendar have no Asia/Kolkata time
            raise ConfigError("at", at, "a datetime that has a time in Asia/Kolkata") from None
    if isinstance(at, date):
        return datetime.combine(at, time(0), EXCHANGE_ZONE)
    raise ConfigError("at", at, "a datetime (naive is taken as Asia/Kolkata time) or a date (its midnight there)")


def _market(name: str, values: Mapping[str, float] | None, high: float) -> dict[str, float]:
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise ConfigError(name, values, "a mapping of underlying name to a number")
    out = {}
    for key, value in values.items():
        allowed = f"a finite number above 0 and at most {high:g}"
        if not isinstance(key, str):
            raise ConfigError(name, {key: value}, "underlying names (str) as keys")
        out[key.strip().upper()] = checked_fraction(f"{name}[{key!r}]", value, 1e-300, high, allowed, DataError)
    return out


def portfolio_margin(legs: Iterable[Leg], prices: Mapping[str, float], *, at: datetime | date,
                     vols: Mapping[str, float] | None = None,
                     params: Mapping[str, MarginParams] | str | Path | None = None,
                     rate: float = 0.0) -> MarginResult:
    """The SPAN-style margin of a portfolio of futures and options, per underlying and in total.

    Parameters
    ----------
    legs
        :class:`Leg` values; legs of one underlying net against each other, other underlyings do not.
    prices
        The underlying price of every underlying in ``legs`` (index or stock, above 0). A leg's forward is
        ``price x exp(rate x years)``; with ``rate=0`` the price is the forward of every expiry.
    at
        The valuation time: an aware datetime, a naive one (taken as Asia/Kolkata time) or a date (its midnight
        there). Legs expiring before its day are refused; on its day they are margined until 15:30.
    vols
        Optional volatility a year (fraction) by underlying, for options with neither ``iv`` nor ``price``.
    params
        Parameters by underlying, over the shipped ones (:func:`default_margin_params`), or a CSV path read with
        :func:`read_margin_params`; the ``DEFAULT`` entry serves underlyings not listed.
    rate
        Continuously compounded rate a year (fraction) for forwards and discounting.

    Raises
    ------
    ConfigError
        A leg is not a :class:`Leg` or has expired, or an argument is bad.
    DataError
        An underlying has no price, or a price, volatility or leg price is unusable (an option price outside its
        no-arbitrage bounds names the leg).
    """
    return _margin(legs, prices, at, vols, params, rate)[0]


def _margin(legs: Iterable[Leg], prices: Mapping[str, float], at: datetime | date, vols: Mapping[str, float] | None,
            params: Mapping[str, MarginParams] | str | Path | None, rate: float) -> tuple[MarginResult, np.ndarray]:
    """The margin, and each leg's value per unit now (an option's model value; a future's forward)."""
    when = _valuation_time(at)
    rate = checked_fraction("rate", rate, -1.0, 1.0, "a rate a year as a fraction, from -1 to 1")
    spot = _market("prices", prices, 1e12)
    given_vols = _market("vols", vols, black76.MAX_VOL)
    table = resolve_margin_params(params)
    if isinstance(legs, Leg | str | bytes) or not isinstance(legs, Iterable):
        raise ConfigError("legs", legs, "an iterable of Leg")
    legs = list(legs)
    today = when.date()
    horizon = timedelta(days=int(365 * black76.MAX_YEARS) - 1)
    latest = today + horizon if today <= date.max - horizon else date.max
    # Legs of one contract net into one position first: a long and a short of the same option is no position, and
    # neither its value nor its exposure may count twice.
    contracts: dict[tuple[str, str, float | None, date], int] = {}
    reps: list[Leg] = []
    held: list[int] = []
    first: list[int] = []  # the first leg of each contract, to name in an error
    leg_index = []
    for i, leg in enumerate(legs):
        if not isinstance(leg, Leg):
            raise ConfigError(f"legs[{i}]", leg, "a Leg")
        if not today <= leg.expiry <= latest:
            raise ConfigError(f"legs[{i}].expiry", leg.expiry, f"a date from the valuation day {today} to "
                              f"{latest}, {black76.MAX_YEARS:g} years later")
        if leg.underlying not in spot:
            raise DataError("prices", leg.underlying, "a price for every underlying of the legs",
                            detail=f"legs[{i}] is on {leg.underlying}, which prices= lacks")
        key = (leg.underlying, leg.kind, leg.strike, leg.expiry)
        if key not in contracts:
            contracts[key] = len(reps)
            reps.append(leg)
            held.append(0)
            first.append(i)
        leg_index.append(contracts[key])
        held[contracts[key]] += leg.quantity
    n = len(reps)
    if n == 0:
        return MarginResult((), when), np.empty(0)
    forward, strike, years, vol = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    quantity, underlying_price = np.array(held, dtype=float), np.empty(n)
    price_scan, vol_scan = np.empty(n), np.empty(n)
    is_call, is_future = np.zeros(n, bool), np.zeros(n, bool)
    groups: dict[tuple[str, bool], int] = {}
    group_of = np.empty(n, dtype=np.intp)
    years_to: dict[date, float] = {}
    for i, leg in enumerate(reps):
        p = table.get(leg.underlying) or table["DEFAULT"]
        if leg.expiry not in years_to:
            expiry_at = datetime.combine(leg.expiry, EXPIRY_TIME, EXCHANGE_ZONE)
            years_to[leg.expiry] = max((expiry_at - when).total_seconds(), 0.0) / _YEAR_SECONDS
        t = years_to[leg.expiry]
        s = spot[leg.underlying]
        f = s * math.exp(rate * t)
        forward[i], years[i], underlying_price[i] = f, t, s
        price_scan[i], vol_scan[i] = p.price_scan, p.volatility_scan
        is_future[i] = leg.kind == "FUT"
        is_call[i] = leg.kind == "CE"
        strike[i] = f if leg.strike is None else leg.strike
        vol[i] = _leg_vol(first[i], leg, f, t, rate, given_vols, p)
        group = groups.setdefault((leg.underlying, leg.expiry == today), len(groups))
        group_of[i] = group

    # The scenario grid: column 0 is now, columns 1-16 the scenarios; one Black-76 call values every option.
    grid_forward = forward[:, None] * (1.0 + price_scan[:, None] * _PRICE_MOVES[None, :])
    values = grid_forward.copy()
    options = ~is_future
    if options.any():
        grid_vol = np.maximum(vol[options, None] + vol_scan[options, None] * _VOL_MOVES[None, :], _VOL_FLOOR)
        values[options] = black76.price_array(grid_forward[options], strike[options, None], years[options, None],
                                              grid_vol, np.asarray(rate), is_call[options, None])
    now = values[:, 0]
    losses = quantity[:, None] * (now[:, None] - values[:, 1:])
    membership = np.zeros((len(groups), n))
    membership[group_of, np.arange(n)] = 1.0
    weighted = (membership @ losses) * _WEIGHTS[None, :]
    worst = weighted.argmax(axis=1)
    scan = np.maximum(weighted[np.arange(len(groups)), worst], 0.0)

    option_value = np.where(options, quantity * now, 0.0)
    long_value = membership @ np.maximum(option_value, 0.0)
    net_value = membership @ option_value
    spread = _calendar_spreads(reps, quantity, groups, group_of, forward, strike, years, vol, rate, is_call,
                               is_future)
    rows = []
    for (name, _), g in groups.items():
        p = table.get(name) or table["DEFAULT"]
        members = group_of == g
        calls = float(quantity[members & options & is_call].sum())
        puts = float(quantity[members & options & ~is_call].sum())
        # Long options alone cannot lose more than they are worth: their risk is capped at the premium paid, even
        # when their deltas across months would draw a calendar spread charge.
        long_options_only = not (members & ((quantity < 0) | (is_future & (quantity != 0)))).any()
        rows.append((name, g, spread[g] * spot[name] * p.calendar_spread,
                     p.short_option_minimum * spot[name] * max(-calls, -puts, 0.0), long_options_only))
    exposure = _exposures(reps, quantity, table, forward, underlying_price, today)
    result = MarginResult(_rows(rows, spot, scan, worst, long_value, net_value, exposure, group_of, quantity), when)
    return result, now[np.array(leg_index, dtype=np.intp)]


def _leg_vol(i: int, leg: Leg, forward: float, years: float, rate: float, given: dict[str, float],
             params: MarginParams) -> float:
    if leg.kind == "FUT":
        return 0.0
    if leg.iv is not None:
        return leg.iv
    if leg.price is not None and years > 0:
        try:
            return black76.implied_vol(leg.price, forward, leg.strike, years, rate,  # type: ignore[arg-type]
                                       leg.kind)
        except DataError as exc:
            raise DataError(f"legs[{i}].price", leg.price, exc.allowed, hint=exc.hint,
                            detail=f"{leg.underlying} {leg.strike:g} {leg.kind} {leg.expiry}: {exc.message}"
                            ) from None
    return given.get(leg.underlying, params.default_vol)


def _calendar_spreads(legs: list[Leg], quantity: np.ndarray, groups: dict[tuple[str, bool], int],
                      group_of: np.ndarray, forward: np.ndarray, strike: np.ndarray, years: np.ndarray,
                      vol: np.ndarray, rate: float, is_call: np.ndarray, is_future: np.ndarray) -> list[float]:
    """Per group, the units of delta long in one month against short in another."""
    by_group: list[dict[date, float]] = [{} for _ in groups]
    for i, leg in enumerate(legs):
        by_group[group_of[i]].setdefault(leg.expiry, 0.0)
    spreads = [0.0] * len(groups)
    if all(len(months) < 2 for months in by_group):
        return spreads
    delta = np.ones(len(legs))
    options = ~is_future
    if options.any():
        delta[options] = black76.greeks(forward[options], strike[options], years[options], vol[options], rate,
                                        np.where(is_call[options], "CE", "PE")).delta
    for i, leg in enumerate(legs):
        by_group[group_of[i]][leg.expiry] += float(quantity[i] * delta[i])
    for g, months in enumerate(by_group):
        long = sum(d for d in months.values() if d > 0)
        short = -sum(d for d in months.values() if d < 0)
        spreads[g] = min(long, short)
    return spreads


def _exposures(legs: list[Leg], quantity: np.ndarray, table: dict[str, MarginParams], forward: np.ndarray,
               underlying_price: np.ndarray, today: date) -> dict[str, float]:
    out: dict[str, float] = {}
    for i, leg in enumerate(legs):
        held = float(quantity[i])
        p = table.get(leg.underlying) or table["DEFAULT"]
        s = float(underlying_price[i])
        if leg.kind == "FUT":
            charge = p.exposure * abs(held) * float(forward[i])
        elif held < 0:
            strike = leg.strike or 0.0
            out_of_money = (strike - s) / s if leg.kind == "CE" else (s - strike) / s
            fraction = p.deep_otm_exposure if out_of_money > p.deep_otm else p.exposure
            if leg.expiry == today:
                fraction += p.expiry_day_exposure
            charge = fraction * abs(held) * s
        else:
            charge = 0.0
        out[leg.underlying] = out.get(leg.underlying, 0.0) + charge
    return out


def _rows(groups: list[tuple[str, int, float, float, bool]], spot: dict[str, float], scan: np.ndarray,
          worst: np.ndarray, long_value: np.ndarray, net_value: np.ndarray, exposure: dict[str, float],
          group_of: np.ndarray, quantity: np.ndarray) -> tuple[UnderlyingMargin, ...]:
    totals: dict[str, dict[str, Any]] = {}
    for name, g, calendar, minimum, capped in groups:
        span = 0.0 if capped else max(0.0, float(scan[g]) + calendar - float(long_value[g]))
        row = totals.setdefault(name, {"scan_risk": 0.0, "worst_scenario": 0, "worst": 0.0, "calendar_spread": 0.0,
                                       "long_option_value": 0.0, "net_option_value": 0.0, "span": 0.0,
                                       "short_option_minimum": 0.0, "initial": 0.0, "legs": 0})
        if scan[g] > row["worst"]:
            row["worst"], row["worst_scenario"] = float(scan[g]), int(worst[g]) + 1
        row["scan_risk"] += float(scan[g])
        row["calendar_spread"] += calendar
        row["long_option_value"] += float(long_value[g])
        row["net_option_value"] += float(net_value[g])
        row["span"] += span
        row["short_option_minimum"] += minimum
        row["initial"] += max(span, minimum)
        row["legs"] += int(((group_of == g) & (quantity != 0)).sum())
    out = []
    for name, row in totals.items():
        del row["worst"]
        out.append(UnderlyingMargin(underlying=name, price=spot[name], exposure=exposure[name],
                                    total=row["initial"] + exposure[name], **row))
    return tuple(out)


def margin_impact(portfolio: Iterable[Leg], new_legs: Iterable[Leg], prices: Mapping[str, float], *,
                  at: datetime | date, vols: Mapping[str, float] | None = None,
                  params: Mapping[str, MarginParams] | str | Path | None = None,
                  rate: float = 0.0) -> MarginImpact:
    """The margin ``new_legs`` would add to ``portfolio``, and what netting with it saves (a hedge's benefit).

    Takes the arguments of :func:`portfolio_margin` and raises its errors; see :class:`MarginImpact`.
    """
    if isinstance(portfolio, Leg) or isinstance(new_legs, Leg):
        raise ConfigError("legs", portfolio if isinstance(portfolio, Leg) else new_legs, "an iterable of Leg")
    portfolio, new_legs = list(portfolio), list(new_legs)
    before = _margin(portfolio, prices, at, vols, params, rate)[0]
    after = _margin(portfolio + new_legs, prices, at, vols, params, rate)[0]
    alone, values = _margin(new_legs, prices, at, vols, params, rate)
    added = after.total - before.total
    # Premium at the leg's own price where it has one (the order's limit), else at the model's value.
    premium = sum(leg.quantity * (leg.price if leg.price is not None else float(value))
                  for leg, value in zip(new_legs, values, strict=True) if leg.kind != "FUT")
    return MarginImpact(before, after, alone, added, alone.total - added, float(premium))
