"""Black-76: European options on a futures price or a forward, their greeks and their implied volatility.

The model (Black, F. "The pricing of commodity contracts", Journal of Financial Economics 3, 1976; Hull, *Options,
Futures, and Other Derivatives*, the chapter on futures options) prices a European call and put on a forward ``F``
with strike ``K``, ``T`` years to expiry, volatility ``σ`` (a fraction a year: 0.2 is 20%) and a continuously
compounded rate ``r`` (a fraction a year) that discounts the payoff::

    d1 = (ln(F/K) + σ²T/2) / (σ√T)        d2 = d1 - σ√T        DF = exp(-rT)
    call = DF·(F·N(d1) - K·N(d2))          put = DF·(K·N(-d2) - F·N(-d1))

An NSE index option is European and cash settled on the index: with the index at ``S`` its forward is
``F = S·exp((r - q)T)``; a stock or index future's price is such a forward already.

Greeks are derivatives of the price, each per one unit of its variable, and all hold ``F`` fixed:

- ``delta`` = ∂V/∂F: ``DF·N(d1)`` for a call, ``-DF·N(-d1)`` for a put;
- ``gamma`` = ∂²V/∂F²: ``DF·n(d1) / (F·σ·√T)``;
- ``vega`` = ∂V/∂σ per 1.00 of volatility (divide by 100 for one volatility point): ``DF·F·n(d1)·√T``;
- ``theta`` = ∂V/∂t, the change as a year of calendar time passes (divide by 365 for a day):
  ``-DF·F·n(d1)·σ / (2√T) + r·V``;
- ``rho`` = ∂V/∂r: ``-T·V`` (the rate only discounts, since ``F`` is held fixed).

At ``T = 0`` or ``σ = 0`` the price is the discounted forward intrinsic value ``DF·max(F-K, 0)`` (a put
``DF·max(K-F, 0)``); delta is then a step (``DF`` in the money, 0 out of it, ``DF/2`` at the strike), gamma 0, and
vega the one-sided derivative (0 unless ``F = K`` and ``T > 0``).

``N`` is computed as ``erfc(-x/√2)/2`` with :func:`math.erfc`, which keeps its relative precision deep in both
tails (an out-of-the-money option worth 1e-10 of the forward still has a well-defined volatility). The arrays are
mapped through it value by value, about 80 ns a value: a 20-leg portfolio's 16 risk scenarios cost some 50 µs.
(SciPy, whose ``special.ndtr`` would do this in C, is not a dependency of the kit.)

Prices and volatilities are floats (market data). Functions take floats or NumPy arrays, broadcast together, and
return a float when every input is a single value. Bad input raises :class:`~oms_kit.errors.DataError` for market
data (``forward``, an option ``price``) and :class:`~oms_kit.errors.ConfigError` for the rest, naming the field, the
value and what is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from oms_kit.errors import ConfigError, DataError

__all__ = ["MAX_PRICE", "MAX_VOL", "MAX_YEARS", "Greeks", "Right", "greeks", "implied_vol", "price", "price_array"]

#: The highest forward or strike accepted: far above any listed contract, low enough that a price stays finite.
MAX_PRICE = 1e12
#: The highest volatility accepted or solved for: 10.0 is 1000% a year.
MAX_VOL = 10.0
#: The longest time to expiry accepted, in years.
MAX_YEARS = 100.0
# Rates are fractions a year; beyond ±100% a year the discount factor says nothing a trader could use.
_MAX_RATE = 1.0

Right = Literal["CE", "PE", "call", "put"]
_CALLS = frozenset({"CE", "CALL", "C"})
_PUTS = frozenset({"PE", "PUT", "P"})
_RIGHTS_ALLOWED = "'CE' or 'call' for a call, 'PE' or 'put' for a put (any case), or a sequence of those"

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)

Number = float | int | np.ndarray | Sequence[float]


@dataclass(frozen=True, slots=True)
class Greeks:
    """A Black-76 price with its greeks, floats or arrays alike (see the module docstring for the units)."""

    price: Any
    delta: Any
    gamma: Any
    vega: Any
    theta: Any
    rho: Any


# --- checks ------------------------------------------------------------------------------------------------------


def _array(name: str, value: object, error: type[ConfigError] | type[DataError], allowed: str) -> np.ndarray:
    """``value`` as a float array, refusing text, booleans, None and complex numbers."""
    if isinstance(value, bool | np.bool_):
        raise error(name, value, allowed)
    try:
        array = np.asarray(value)
        if array.dtype.kind == "O":
            if any(isinstance(item, bool | np.bool_) for item in array.flat):
                raise TypeError
            array = array.astype(float)
        elif array.dtype.kind not in "iuf":
            raise TypeError
        return array.astype(float, copy=False)
    except (TypeError, ValueError, ArithmeticError, OverflowError):
        raise error(name, value, allowed) from None


def _first_bad(name: str, array: np.ndarray, bad: np.ndarray, error: type[ConfigError] | type[DataError],
               allowed: str) -> None:
    if bad.any():
        index = int(np.flatnonzero(bad.ravel())[0])
        value = float(array.ravel()[index])
        detail = None if array.ndim == 0 else f"element {index} of {array.size}"
        raise error(name, value, allowed, detail=detail)


def _forward(value: object) -> np.ndarray:
    allowed = f"a number above 0 and at most {MAX_PRICE:g} (the futures or forward price)"
    array = _array("forward", value, DataError, allowed)
    _first_bad("forward", array, ~((array > 0) & (array <= MAX_PRICE)), DataError, allowed)
    return array


def _strike(value: object) -> np.ndarray:
    allowed = f"a number above 0 and at most {MAX_PRICE:g}"
    array = _array("strike", value, ConfigError, allowed)
    _first_bad("strike", array, ~((array > 0) & (array <= MAX_PRICE)), ConfigError, allowed)
    return array


def _years(value: object) -> np.ndarray:
    allowed = f"a time to expiry in years, from 0 to {MAX_YEARS:g}"
    array = _array("years", value, ConfigError, allowed)
    _first_bad("years", array, ~((array >= 0) & (array <= MAX_YEARS)), ConfigError, allowed)
    return array


def _vol(value: object) -> np.ndarray:
    allowed = f"a volatility a year as a fraction (0.2 is 20%), from 0 to {MAX_VOL:g}"
    array = _array("vol", value, ConfigError, allowed)
    _first_bad("vol", array, ~((array >= 0) & (array <= MAX_VOL)), ConfigError, allowed)
    return array


def _rate(value: object) -> np.ndarray:
    allowed = f"a rate a year as a fraction (0.065 is 6.5%), from {-_MAX_RATE:g} to {_MAX_RATE:g}"
    array = _array("rate", value, ConfigError, allowed)
    _first_bad("rate", array, ~((array >= -_MAX_RATE) & (array <= _MAX_RATE)), ConfigError, allowed)
    return array


def _is_call(right: object) -> np.ndarray:
    """True for a call, False for a put, from a right or a sequence of rights."""
    if isinstance(right, str):
        key: str | None = right.strip().upper()
        if key in _CALLS:
            return np.asarray(True)
        if key in _PUTS:
            return np.asarray(False)
        raise ConfigError("right", right, _RIGHTS_ALLOWED)
    if right is None or isinstance(right, bool | int | float | bytes):
        raise ConfigError("right", right, _RIGHTS_ALLOWED)
    try:
        items = np.asarray(right, dtype=object)
    except (TypeError, ValueError):
        raise ConfigError("right", right, _RIGHTS_ALLOWED) from None
    flags = np.empty(items.shape, dtype=bool)
    for index, item in enumerate(items.flat):
        key = item.strip().upper() if isinstance(item, str) else None
        if key in _CALLS:
            flags.flat[index] = True
        elif key in _PUTS:
            flags.flat[index] = False
        else:
            detail = None if items.ndim == 0 else f"element {index} of {items.size}"
            raise ConfigError("right", item, _RIGHTS_ALLOWED, detail=detail)
    return flags


def _broadcast(*arrays: np.ndarray) -> list[np.ndarray]:
    try:
        return list(np.broadcast_arrays(*arrays))
    except ValueError:
        shapes = ", ".join(str(a.shape) for a in arrays)
        raise ConfigError("shape", shapes, "arrays of shapes that broadcast together (NumPy's rules)") from None


def _result(value: np.ndarray, scalar: bool) -> Any:
    return float(value) if scalar else value


# --- the kernel (no checks: callers have checked, or built the arrays themselves) ---------------------------------


def _norm_cdf(x: np.ndarray) -> np.ndarray:
    """The standard normal distribution function of each value of ``x`` (an array), accurate in both tails."""
    flat = np.asarray(x, dtype=float).ravel()
    values = np.fromiter(map(math.erfc, (flat * -_INV_SQRT2).tolist()), dtype=float, count=flat.size)
    return (0.5 * values).reshape(np.shape(x))


def _d1_d2(forward: np.ndarray, strike: np.ndarray, years: np.ndarray, vol: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """d1, d2, σ√T and whether σ√T > 0. Without time or volatility d1 = d2 = ±inf (0 at the strike), so the same
    formulas give the intrinsic value and a step delta."""
    spread = vol * np.sqrt(years)
    live = spread > 0
    log_moneyness = np.log(forward / strike)
    d1_live = (log_moneyness + 0.5 * spread * spread) / np.where(live, spread, 1.0)
    step = np.where(log_moneyness > 0, np.inf, np.where(log_moneyness < 0, -np.inf, 0.0))
    d1 = np.where(live, d1_live, step)
    d2 = np.where(live, d1 - spread, step)
    return d1, d2, spread, live


def price_array(forward: np.ndarray, strike: np.ndarray, years: np.ndarray, vol: np.ndarray, rate: np.ndarray,
                is_call: np.ndarray) -> np.ndarray:
    """Black-76 prices of checked arrays (broadcast together): the fast path for callers that checked their inputs
    (the margin's scenario grid). ``is_call`` is a boolean array."""
    with np.errstate(all="ignore"):  # extremes give ±inf on the way, which N and the formulas take in their stride
        d1, d2, _, _ = _d1_d2(forward, strike, years, vol)
    sign = np.where(is_call, 1.0, -1.0)
    # One call of N for both d's: the mapping through math.erfc costs per call as well as per value.
    n = _norm_cdf(np.stack(np.broadcast_arrays(sign * d1, sign * d2)))
    discount = np.exp(-rate * years)
    with np.errstate(all="ignore"):
        value = sign * discount * (forward * n[0] - strike * n[1])
    # Rounding can leave a hair below zero far out of the money; a price is never negative.
    return np.maximum(value, 0.0)


def _greeks_array(forward: np.ndarray, strike: np.ndarray, years: np.ndarray, vol: np.ndarray, rate: np.ndarray,
                  is_call: np.ndarray) -> Greeks:
    with np.errstate(all="ignore"):  # as in price_array; a greek may overflow to inf at absurd inputs, never NaN
        return _greeks_unguarded(forward, strike, years, vol, rate, is_call)


def _greeks_unguarded(forward: np.ndarray, strike: np.ndarray, years: np.ndarray, vol: np.ndarray,
                      rate: np.ndarray, is_call: np.ndarray) -> Greeks:
    d1, d2, spread, live = _d1_d2(forward, strike, years, vol)
    sign = np.where(is_call, 1.0, -1.0)
    n = _norm_cdf(np.stack(np.broadcast_arrays(sign * d1, sign * d2)))
    discount = np.exp(-rate * years)
    value = np.maximum(sign * discount * (forward * n[0] - strike * n[1]), 0.0)
    density = np.where(np.isfinite(d1), _INV_SQRT2PI * np.exp(-0.5 * np.where(np.isfinite(d1), d1, 0.0) ** 2), 0.0)
    root_t = np.sqrt(years)
    delta = sign * discount * n[0]
    gamma = np.where(live, discount * density / (forward * np.where(live, spread, 1.0)), 0.0)
    vega = discount * forward * density * root_t
    with np.errstate(divide="ignore", invalid="ignore"):
        decay = np.where(years > 0, discount * forward * density * vol / (2.0 * np.where(years > 0, root_t, 1.0)), 0.0)
    theta = -decay + rate * value
    rho = -years * value
    return Greeks(value, delta, gamma, vega, theta, rho)


# --- the public functions -----------------------------------------------------------------------------------------


def _inputs(forward: object, strike: object, years: object, vol: object, rate: object, right: object
            ) -> tuple[list[np.ndarray], bool]:
    arrays = [_forward(forward), _strike(strike), _years(years), _vol(vol), _rate(rate), _is_call(right)]
    scalar = all(a.ndim == 0 for a in arrays)
    return _broadcast(*arrays), scalar


def price(forward: Number, strike: Number, years: Number, vol: Number, rate: Number = 0.0,
          right: Right | str | Sequence[str] | np.ndarray = "CE") -> Any:
    """The Black-76 price of a European call or put on a forward.

    Parameters
    ----------
    forward
        The futures or forward price, above 0.
    strike
        Above 0.
    years
        Time to expiry in years (0 to :data:`MAX_YEARS`); at 0 the price is the intrinsic value.
    vol
        Volatility a year as a fraction (0.2 is 20%), 0 to :data:`MAX_VOL`.
    rate
        Continuously compounded rate a year as a fraction, -1 to 1, which discounts the payoff.
    right
        ``"CE"``/``"call"`` or ``"PE"``/``"put"`` (any case), or a sequence of those (one per element).

    Returns
    -------
    float or numpy.ndarray
        A float when every input is a single value, else an array of the broadcast shape.

    Raises
    ------
    DataError
        ``forward`` is not a finite number above 0.
    ConfigError
        Any other input is out of range, or the arrays do not broadcast together.
    """
    (f, k, t, v, r, c), scalar = _inputs(forward, strike, years, vol, rate, right)
    return _result(price_array(f, k, t, v, r, c), scalar)


def greeks(forward: Number, strike: Number, years: Number, vol: Number, rate: Number = 0.0,
           right: Right | str | Sequence[str] | np.ndarray = "CE") -> Greeks:
    """The Black-76 price with delta, gamma, vega, theta and rho (units in the module docstring).

    Takes the arguments of :func:`price` and raises the same errors. Each field is a float when every input is a
    single value, else an array.
    """
    (f, k, t, v, r, c), scalar = _inputs(forward, strike, years, vol, rate, right)
    result = _greeks_array(f, k, t, v, r, c)
    if not scalar:
        return result
    return Greeks(*(float(getattr(result, name)) for name in Greeks.__slots__))


def _price_scalar(forward: float, strike: float, years: float, vol: float, rate: float, is_call: bool
                  ) -> tuple[float, float]:
    """Price and vega of one option, in plain floats (the implied volatility's inner loop)."""
    spread = vol * math.sqrt(years)
    discount = math.exp(-rate * years)
    if spread <= 0:
        intrinsic = forward - strike if is_call else strike - forward
        return discount * max(intrinsic, 0.0), 0.0
    d1 = (math.log(forward / strike) + 0.5 * spread * spread) / spread
    d2 = d1 - spread
    if is_call:
        value = discount * (forward * 0.5 * math.erfc(-d1 * _INV_SQRT2) - strike * 0.5 * math.erfc(-d2 * _INV_SQRT2))
    else:
        value = discount * (strike * 0.5 * math.erfc(d2 * _INV_SQRT2) - forward * 0.5 * math.erfc(d1 * _INV_SQRT2))
    vega = discount * forward * _INV_SQRT2PI * math.exp(-0.5 * d1 * d1) * math.sqrt(years)
    return max(value, 0.0), vega


def _single(name: str, array: np.ndarray, error: type[ConfigError] | type[DataError]) -> float:
    if array.ndim != 0:
        raise error(name, array.tolist() if array.size <= 10 else f"an array of shape {array.shape}",
                    "a single number (call implied_vol once per option)")
    return float(array)


def implied_vol(option_price: float, forward: float, strike: float, years: float, rate: float = 0.0,
                right: Right | str = "CE", *, tol: float = 1e-12, max_iter: int = 200) -> float:
    """The volatility at which the Black-76 price of one option equals ``option_price``.

    The solver works on the out-of-the-money side (an in-the-money option's price less its discounted intrinsic
    value is the price of the other right at that strike, by put-call parity), brackets the root between 0 and a
    volatility whose price is above the target (doubling up to :data:`MAX_VOL`), and takes Newton steps on vega that
    stay inside the bracket, bisecting when a step would leave it or vega vanishes. It converges for any price
    strictly inside the no-arbitrage bounds.

    Parameters
    ----------
    option_price
        The option's price, within the no-arbitrage bounds: a call from ``DF·max(F-K, 0)`` (its volatility is then
        0) to below ``DF·F``; a put from ``DF·max(K-F, 0)`` to below ``DF·K``.
    forward, strike, years, rate, right
        As for :func:`price`; single values only, and ``years`` above 0.
    tol
        Stop when the time value is matched within ``tol`` of itself, or the bracket is narrower than ``tol``
        times the volatility.
    max_iter
        At most this many steps (bisection alone would need about 60 to reach double precision).

    Returns
    -------
    float
        The volatility a year as a fraction (0.2 is 20%).

    Raises
    ------
    DataError
        ``option_price`` is not a finite number, or is outside the no-arbitrage bounds (below the discounted
        intrinsic value, or at or above the upper bound), or would need a volatility above :data:`MAX_VOL`;
        ``forward`` is bad.
    ConfigError
        The other inputs are out of range, arrays were given, or ``years`` is 0 (no time, no volatility).
    """
    price_allowed = "a finite number of at least 0 (the option's price)"
    target = _single("option_price", _array("option_price", option_price, DataError, price_allowed), DataError)
    if not (math.isfinite(target) and target >= 0):
        raise DataError("option_price", target, price_allowed)
    f = _single("forward", _forward(forward), DataError)
    k = _single("strike", _strike(strike), ConfigError)
    t = _single("years", _years(years), ConfigError)
    r = _single("rate", _rate(rate), ConfigError)
    if not isinstance(right, str):
        raise ConfigError("right", right, "'CE' or 'call', 'PE' or 'put' (one option at a time)")
    is_call = bool(_is_call(right))
    if t <= 0:
        raise ConfigError("years", t, "a time to expiry above 0 (an option at expiry has no volatility)")
    if not (isinstance(tol, int | float) and not isinstance(tol, bool) and 0 < tol < 1):
        raise ConfigError("tol", tol, "a number above 0 and below 1")
    if not (isinstance(max_iter, int) and not isinstance(max_iter, bool) and 1 <= max_iter <= 10_000):
        raise ConfigError("max_iter", max_iter, "a whole number from 1 to 10,000")

    discount = math.exp(-r * t)
    intrinsic = discount * max(f - k if is_call else k - f, 0.0)
    upper = discount * (f if is_call else k)
    # The rounding of the bounds themselves; none on an intrinsic value of exactly 0 (far out of the money, a price
    # of 1e-30 still has a volatility).
    slack = 4 * np.finfo(float).eps * intrinsic
    if target < intrinsic - slack:
        raise DataError("option_price", target, f"at least the discounted intrinsic value {intrinsic!r} "
                        f"(forward {f!r}, strike {k!r}, {t!r} years, rate {r!r})",
                        hint="a price below intrinsic value is an arbitrage: check the price, forward and right")
    if target >= upper * (1 - 4 * np.finfo(float).eps):
        raise DataError("option_price", target, f"below the upper bound {upper!r} "
                        f"({'the discounted forward' if is_call else 'the discounted strike'})",
                        hint="at or above this bound no finite volatility gives the price")
    if target <= intrinsic + slack:
        return 0.0
    # Work on the out-of-the-money right: its price is the time value, which keeps the solver well conditioned.
    time_value = target - intrinsic
    solve_call = is_call if intrinsic == 0.0 else not is_call

    def excess(vol: float) -> tuple[float, float]:
        value, vega = _price_scalar(f, k, t, vol, r, solve_call)
        return value - time_value, vega

    low, high = 0.0, 1.0
    while excess(high)[0] < 0:
        if high >= MAX_VOL:
            raise DataError("option_price", target, f"a price reached with a volatility of at most {MAX_VOL:g} "
                            f"({MAX_VOL:.0%} a year); this one needs more")
        low, high = high, min(2.0 * high, MAX_VOL)
    # Brenner and Subrahmanyam's at-the-money estimate, kept inside the bracket.
    vol = time_value / (discount * f) * math.sqrt(2.0 * math.pi / t)
    if not low < vol < high:
        vol = 0.5 * (low + high)
    for _ in range(max_iter):
        gap, vega = excess(vol)
        if abs(gap) <= tol * time_value or high - low <= tol * vol:
            return vol
        if gap > 0:
            high = vol
        else:
            low = vol
        step = vol - gap / vega if vega > 0 else math.nan
        vol = step if low < step < high else 0.5 * (low + high)
    return vol
