"""Black-76 prices, greeks and implied volatility: a textbook value, identities, finite differences, round trips,
and hostile input refused by name."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from oms_kit import black76
from oms_kit.black76 import Greeks, greeks, implied_vol, price, price_array
from oms_kit.errors import ConfigError, DataError

forwards = st.floats(1.0, 1e5)
moneyness = st.floats(0.5, 2.0)
years = st.floats(0.01, 3.0)
vols = st.floats(0.02, 2.0)
rates = st.floats(-0.05, 0.2)
rights = st.sampled_from(["CE", "PE", "call", "put", "ce", "Put"])


def test_all_lists_the_real_exports():
    assert sorted(black76.__all__) == sorted(
        ["MAX_PRICE", "MAX_VOL", "MAX_YEARS", "Greeks", "Right", "greeks", "implied_vol", "price", "price_array"]
    )
    for name in black76.__all__:
        assert hasattr(black76, name)


def test_hull_futures_put_example():
    # Hull, Options, Futures, and Other Derivatives, the futures-options chapter: a European put on crude oil
    # futures, 4 months to expiry, futures and strike 20, rate 9%, volatility 25%; the book gives 1.12.
    value = price(20.0, 20.0, 4 / 12, 0.25, 0.09, "PE")
    assert round(value, 2) == 1.12
    # At the money the call is worth the same (put-call parity with F = K).
    assert price(20.0, 20.0, 4 / 12, 0.25, 0.09, "CE") == pytest.approx(value, rel=1e-12)


@given(forwards, st.floats(0.01, 3.0), years, rates)
def test_at_the_money_closed_form(f, vol, t, r):
    # At F = K, d1 = σ√T/2 = -d2, so call = DF·F·(2N(σ√T/2) - 1) = DF·F·erf(σ√T / (2√2)), computed here with
    # math.erf alone.
    expected = math.exp(-r * t) * f * math.erf(vol * math.sqrt(t) / (2 * math.sqrt(2)))
    assert price(f, f, t, vol, r, "CE") == pytest.approx(expected, rel=1e-10, abs=1e-12 * f)


def test_hand_computed_value():
    # F = 100, K = 95, T = 0.5, σ = 0.3, r = 0.05, worked by hand: σ√T = 0.212132, ln(F/K) = 0.051293,
    # d1 = (0.051293 + 0.0225) / 0.212132 = 0.347865, d2 = 0.135733; N(d1) = 0.636029, N(d2) = 0.553983
    # (normal tables); DF = exp(-0.025) = 0.975310; call = 0.975310 (100·0.636029 - 95·0.553983) = 10.702.
    assert price(100.0, 95.0, 0.5, 0.3, 0.05, "call") == pytest.approx(10.702, abs=2e-3)


@given(forwards, moneyness, years, vols, rates)
def test_put_call_parity(f, m, t, vol, r):
    k = f * m
    call = price(f, k, t, vol, r, "CE")
    put = price(f, k, t, vol, r, "PE")
    assert call - put == pytest.approx(math.exp(-r * t) * (f - k), abs=1e-9 * max(f, k))


@given(forwards, moneyness, years, vols, rates, rights)
def test_price_within_no_arbitrage_bounds(f, m, t, vol, r, right):
    k = f * m
    value = price(f, k, t, vol, r, right)
    discount = math.exp(-r * t)
    is_call = right.upper() in ("CE", "CALL")
    intrinsic = discount * max(f - k if is_call else k - f, 0.0)
    upper = discount * (f if is_call else k)
    assert intrinsic - 1e-9 * max(f, k) <= value <= upper


@settings(max_examples=60)
@given(st.floats(10.0, 1000.0), st.floats(0.7, 1.4), st.floats(0.05, 2.0), st.floats(0.1, 0.8), rates, rights)
def test_greeks_match_finite_differences(f, m, t, vol, r, right):
    k = f * m
    g = greeks(f, k, t, vol, r, right)
    assert g.price == price(f, k, t, vol, r, right)

    def at(**change):
        args = {"forward": f, "strike": k, "years": t, "vol": vol, "rate": r} | change
        return price(args["forward"], args["strike"], args["years"], args["vol"], args["rate"], right)

    # The central difference's own error grows with the step squared times the third derivative, which is large
    # near expiry (f=10, K=9.375, 20 days, vol 0.125: 1.5e-7 at a step of f * 1e-4): delta's step is ten times finer.
    d = f * 1e-5
    assert g.delta == pytest.approx((at(forward=f + d) - at(forward=f - d)) / (2 * d), rel=1e-5, abs=1e-7)
    h = f * 1e-4
    assert g.gamma == pytest.approx((at(forward=f + h) - 2 * g.price + at(forward=f - h)) / h**2, rel=1e-3,
                                    abs=1e-6 / f)
    dv = 1e-5
    assert g.vega == pytest.approx((at(vol=vol + dv) - at(vol=vol - dv)) / (2 * dv), rel=1e-5, abs=1e-7 * f)
    dt = 1e-5
    # Theta is the change as calendar time passes: minus the derivative in time to expiry.
    assert g.theta == pytest.approx(-(at(years=t + dt) - at(years=t - dt)) / (2 * dt), rel=1e-4, abs=1e-6 * f)
    dr = 1e-6
    assert g.rho == pytest.approx((at(rate=r + dr) - at(rate=r - dr)) / (2 * dr), rel=1e-5, abs=1e-7 * f)


@given(forwards, moneyness, years, st.floats(0.01, 3.0), rates, rights)
def test_implied_vol_round_trip(f, m, t, vol, r, right):
    k = f * m
    target = price(f, k, t, vol, r, right)
    g = greeks(f, k, t, vol, r, right)
    discount = math.exp(-r * t)
    is_call = right.upper() in ("CE", "CALL")
    time_value = target - discount * max(f - k if is_call else k - f, 0.0)
    # Where the time value is lost in the rounding of the price, no solver can recover the volatility.
    assume(time_value > 1e-9 * target and g.vega > 1e-8 * f)
    solved = implied_vol(target, f, k, t, r, right)
    assert solved == pytest.approx(vol, rel=1e-6, abs=1e-8)
    assert price(f, k, t, solved, r, right) == pytest.approx(target, rel=1e-9, abs=1e-12 * f)


def test_implied_vol_deep_out_of_the_money():
    # A call at twice the forward, at 20% volatility for a month, is worth about 1e-33; the solver still finds 20%,
    # since N keeps its precision in the tail.
    target = price(100.0, 200.0, 1 / 12, 0.2, 0.0, "CE")
    assert 0 < target < 1e-30
    assert implied_vol(target, 100.0, 200.0, 1 / 12, 0.0, "CE") == pytest.approx(0.2, rel=1e-8)


def test_implied_vol_at_intrinsic_is_zero():
    discount = math.exp(-0.05)
    assert implied_vol(discount * 10.0, 110.0, 100.0, 1.0, 0.05, "CE") == 0.0
    assert implied_vol(0.0, 100.0, 110.0, 1.0, 0.05, "CE") == 0.0


@pytest.mark.parametrize(
    ("option_price", "forward", "strike", "right", "allowed"),
    [
        (9.0, 110.0, 100.0, "CE", "at least the discounted intrinsic value"),
        (5.0, 100.0, 110.0, "PE", "at least the discounted intrinsic value"),
        (100.0, 100.0, 100.0, "CE", "below the upper bound"),
        (150.0, 100.0, 100.0, "CE", "below the upper bound"),
        (110.0, 100.0, 110.0, "PE", "below the upper bound"),
        (-1.0, 100.0, 100.0, "CE", "at least 0"),
        (math.nan, 100.0, 100.0, "CE", "finite"),
        (math.inf, 100.0, 100.0, "CE", "finite"),
    ],
)
def test_implied_vol_refuses_prices_outside_the_bounds(option_price, forward, strike, right, allowed):
    with pytest.raises(DataError) as caught:
        implied_vol(option_price, forward, strike, 1.0, 0.0, right)
    assert caught.value.field == "option_price"
    assert allowed in caught.value.allowed


def test_implied_vol_beyond_the_highest_volatility():
    # Just under the forward, a call needs a volatility far above 1000%.
    with pytest.raises(DataError, match="volatility of at most 10"):
        implied_vol(100.0 * (1 - 1e-9), 100.0, 100.0, 1.0, 0.0, "CE")


def test_implied_vol_refuses_no_time_and_arrays():
    with pytest.raises(ConfigError) as caught:
        implied_vol(1.0, 100.0, 100.0, 0.0)
    assert caught.value.field == "years"
    with pytest.raises(DataError) as caught:
        implied_vol([1.0, 2.0], 100.0, 100.0, 1.0)
    assert caught.value.field == "option_price"
    with pytest.raises(ConfigError) as caught:
        implied_vol(1.0, 100.0, [100.0, 90.0], 1.0)
    assert caught.value.field == "strike"
    with pytest.raises(ConfigError) as caught:
        implied_vol(1.0, 100.0, 100.0, 1.0, right=["CE"])
    assert caught.value.field == "right"


def test_arrays_broadcast_and_match_single_values():
    f = np.array([[100.0], [120.0]])
    k = np.array([80.0, 100.0, 130.0])
    rights = ["CE", "PE", "call"]
    values = price(f, k, 0.5, 0.25, 0.03, rights)
    assert values.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            assert values[i, j] == price(float(f[i, 0]), float(k[j]), 0.5, 0.25, 0.03, rights[j])
    g = greeks(f, k, 0.5, 0.25, 0.03, rights)
    assert g.delta.shape == (2, 3)
    assert g.delta[1, 1] == greeks(120.0, 100.0, 0.5, 0.25, 0.03, "PE").delta
    assert isinstance(price(100.0, 100.0, 1.0, 0.2), float)
    assert isinstance(greeks(100.0, 100.0, 1.0, 0.2).gamma, float)


@given(st.lists(st.tuples(forwards, moneyness, years, vols, st.booleans()), min_size=1, max_size=20), rates)
def test_price_array_is_price_without_the_checks(rows, r):
    f, m, t, v, c = (np.array(column) for column in zip(*rows, strict=True))
    checked = price(f, f * m, t, v, r, np.where(c, "CE", "PE"))
    assert np.array_equal(price_array(f, f * m, t, v, np.asarray(r), c), checked)


def test_no_time_or_no_volatility_is_intrinsic():
    assert price(110.0, 100.0, 0.0, 0.3, 0.05, "CE") == 10.0
    assert price(90.0, 100.0, 0.0, 0.3, 0.05, "PE") == 10.0
    assert price(90.0, 100.0, 0.0, 0.3, 0.05, "CE") == 0.0
    assert price(110.0, 100.0, 2.0, 0.0, 0.05, "CE") == pytest.approx(10.0 * math.exp(-0.1))
    g = greeks(110.0, 100.0, 0.0, 0.3, 0.0, "CE")
    assert (g.delta, g.gamma, g.vega, g.theta, g.rho) == (1.0, 0.0, 0.0, 0.0, -0.0)
    assert greeks(100.0, 100.0, 0.0, 0.3, 0.0, "PE").delta == -0.5
    assert greeks(90.0, 100.0, 0.0, 0.3, 0.0, "PE").delta == -1.0


@pytest.mark.parametrize(
    ("args", "error", "field"),
    [
        ((0.0, 100.0, 1.0, 0.2), DataError, "forward"),
        ((-5.0, 100.0, 1.0, 0.2), DataError, "forward"),
        ((math.nan, 100.0, 1.0, 0.2), DataError, "forward"),
        ((math.inf, 100.0, 1.0, 0.2), DataError, "forward"),
        (("100", 100.0, 1.0, 0.2), DataError, "forward"),
        ((True, 100.0, 1.0, 0.2), DataError, "forward"),
        ((100.0, 0.0, 1.0, 0.2), ConfigError, "strike"),
        ((100.0, None, 1.0, 0.2), ConfigError, "strike"),
        ((100.0, [100.0, -1.0], 1.0, 0.2), ConfigError, "strike"),
        ((100.0, 100.0, -0.1, 0.2), ConfigError, "years"),
        ((100.0, 100.0, math.nan, 0.2), ConfigError, "years"),
        ((100.0, 100.0, 1.0, -0.2), ConfigError, "vol"),
        ((100.0, 100.0, 1.0, 11.0), ConfigError, "vol"),
        ((100.0, 100.0, 1.0, 1j), ConfigError, "vol"),
        ((100.0, 100.0, 1.0, 0.2, math.nan), ConfigError, "rate"),
        ((100.0, 100.0, 1.0, 0.2, 0.0, "CALLS"), ConfigError, "right"),
        ((100.0, 100.0, 1.0, 0.2, 0.0, None), ConfigError, "right"),
        ((100.0, 100.0, 1.0, 0.2, 0.0, ["CE", 1]), ConfigError, "right"),
        (([100.0, 110.0], [100.0, 90.0, 80.0], 1.0, 0.2), ConfigError, "shape"),
    ],
)
def test_bad_input_names_the_field(args, error, field):
    for function in (price, greeks):
        with pytest.raises(error) as caught:
            function(*args)
        assert caught.value.field == field
        assert caught.value.allowed
        assert isinstance(caught.value, ValueError)


def test_an_array_error_says_which_element():
    with pytest.raises(DataError) as caught:
        price([100.0, 100.0, -3.0], 100.0, 1.0, 0.2)
    assert caught.value.value == -3.0
    assert "element 2 of 3" in str(caught.value)


hostile_numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**30), 10**30),
    st.sampled_from([0, -0.0, 5e-324, 1e-300, 1e12, 1e12 + 1, 1e300, True, None, "1", b"1", 1j, [], [1.0, "x"], {}]),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=4),
)
hostile_rights = st.one_of(
    st.sampled_from(["CE", "PE", "call", "put", "", "c e", "CE ", None, 1, ["CE", "PE"], ["CE", None], b"CE"]),
    st.text(max_size=5),
)


def _finite_or_inf(values: object) -> bool:
    return not np.isnan(np.asarray(values, dtype=float)).any()


@settings(max_examples=300)
@given(hostile_numbers, hostile_numbers, hostile_numbers, hostile_numbers, hostile_numbers, hostile_rights)
def test_hostile_input_gives_a_price_or_a_named_refusal(f, k, t, v, r, right):
    for function in (price, greeks):
        try:
            result = function(f, k, t, v, r, right)
        except (ConfigError, DataError) as exc:
            assert exc.field in ("forward", "strike", "years", "vol", "rate", "right", "shape")
            continue
        values = result.price if isinstance(result, Greeks) else result
        assert np.all(np.isfinite(values)) and np.all(np.asarray(values) >= 0)
        if isinstance(result, Greeks):
            assert all(_finite_or_inf(getattr(result, name)) for name in Greeks.__slots__)


@settings(max_examples=300)
@given(hostile_numbers, hostile_numbers, hostile_numbers, hostile_numbers, hostile_numbers, hostile_rights)
def test_hostile_input_to_implied_vol(p, f, k, t, r, right):
    try:
        vol = implied_vol(p, f, k, t, r, right)
    except (ConfigError, DataError) as exc:
        assert exc.field in ("option_price", "forward", "strike", "years", "rate", "right")
        return
    assert 0.0 <= vol <= black76.MAX_VOL


@given(st.one_of(st.floats(allow_nan=True), st.integers(), st.none(), st.booleans(), st.text(max_size=3)),
       st.one_of(st.floats(allow_nan=True), st.integers(), st.none(), st.booleans()))
def test_hostile_solver_settings(tol, max_iter):
    try:
        vol = implied_vol(10.0, 100.0, 100.0, 1.0, 0.0, "CE", tol=tol, max_iter=max_iter)
    except ConfigError as exc:
        assert exc.field in ("tol", "max_iter")
        return
    assert 0.0 < vol <= black76.MAX_VOL
