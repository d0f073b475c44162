"""The SPAN-style portfolio margin: scenario netting, the hedges it rewards, the charges on top, the parameters and
the refusals of bad input.

Expected figures are worked from the parameters in the test (a price times a quantity times a percentage), not
copied from a run.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from importlib.resources import files

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_kit import black76, margin
from oms_kit.errors import ConfigError, DataError
from oms_kit.margin import (
    SCENARIOS,
    Leg,
    MarginParams,
    UnderlyingMargin,
    default_margin_params,
    margin_impact,
    portfolio_margin,
    read_margin_params,
)

AT = datetime(2026, 12, 7, 10, 0)  # a Monday, Asia/Kolkata time
NEAR = date(2026, 12, 29)
FAR = date(2027, 1, 26)
SPOT = 24000.0
LOT = 75
PRICES = {"NIFTY": SPOT, "RELIANCE": 1500.0}
NIFTY = default_margin_params()["NIFTY"]


def fut(quantity: int, expiry: date = NEAR, underlying: str = "NIFTY", lot: int = LOT) -> Leg:
    return Leg(underlying, "FUT", None, expiry, quantity, lot)


def opt(kind: str, strike: float, quantity: int, expiry: date = NEAR, **extra) -> Leg:
    return Leg("NIFTY", kind, strike, expiry, quantity, LOT, **extra)


def total(legs, **kwargs) -> float:
    return portfolio_margin(legs, PRICES, at=AT, **kwargs).total


STRADDLE = [opt("CE", 24000, -LOT), opt("PE", 24000, -LOT)]
IRON_CONDOR = [*STRADDLE, opt("CE", 25000, LOT), opt("PE", 23000, LOT)]


def test_all_lists_the_real_exports():
    for name in margin.__all__:
        assert hasattr(margin, name)
    assert {"Leg", "portfolio_margin", "margin_impact", "MarginParams", "read_margin_params"} <= set(margin.__all__)


def test_the_sixteen_scenarios():
    assert len(SCENARIOS) == 16
    full = [s for s in SCENARIOS if s[2] == 1.0]
    assert sorted((round(m, 6), v) for m, v, _ in full) == sorted(
        (round(m, 6), v) for m in (0, 1 / 3, -1 / 3, 2 / 3, -2 / 3, 1, -1) for v in (1, -1)
    )
    assert sorted(SCENARIOS[14:]) == [(-2.0, 0.0, 0.35), (2.0, 0.0, 0.35)]


def test_a_future_long_or_short_needs_the_price_scan_and_the_exposure():
    notional = LOT * SPOT
    for quantity in (LOT, -LOT):
        row = portfolio_margin([fut(quantity)], PRICES, at=AT).rows[0]
        # A full scan move (100%) beats the extreme move (2 x 35% = 70%).
        assert row.scan_risk == pytest.approx(notional * NIFTY.price_scan)
        assert row.worst_scenario == (13 if quantity > 0 else 11)
        assert row.exposure == pytest.approx(notional * NIFTY.exposure)
        assert row.total == pytest.approx(notional * (NIFTY.price_scan + NIFTY.exposure))
    assert total([fut(LOT)]) == total([fut(-LOT)])


def test_an_iron_condor_needs_less_than_the_short_straddle_inside_it():
    straddle = portfolio_margin(STRADDLE, PRICES, at=AT).rows[0]
    condor = portfolio_margin(IRON_CONDOR, PRICES, at=AT).rows[0]
    assert condor.scan_risk < straddle.scan_risk
    assert condor.span < straddle.span
    assert condor.total < straddle.total
    # The condor cannot lose more than a wing's width (1000 points) on either side; its scan risk stays below.
    assert condor.scan_risk < 1000 * LOT
    # The straddle's short option minimum counts max(short calls, short puts); the condor's wings cover both.
    assert straddle.short_option_minimum == pytest.approx(NIFTY.short_option_minimum * SPOT * LOT)
    assert condor.short_option_minimum == 0.0


def test_the_legs_of_a_hedge_need_more_alone_than_together():
    for hedge in (IRON_CONDOR, [fut(LOT), opt("PE", 23500, LOT)], [opt("CE", 24000, LOT), opt("CE", 24500, -LOT)]):
        alone = sum(total([leg]) for leg in hedge)
        assert total(hedge) < alone


def test_a_long_option_needs_no_margin_beyond_its_premium():
    for leg in (opt("CE", 24000, LOT), opt("PE", 22000, 2 * LOT), opt("CE", 30000, LOT, expiry=FAR)):
        row = portfolio_margin([leg], PRICES, at=AT).rows[0]
        assert row.scan_risk > 0  # it can lose value...
        assert row.scan_risk <= row.long_option_value  # ...but never more than it is worth
        assert (row.span, row.short_option_minimum, row.initial, row.exposure, row.total) == (0, 0, 0, 0, 0)
        impact = margin_impact([], [leg], PRICES, at=AT)
        assert impact.added == 0.0
        assert impact.premium == pytest.approx(row.long_option_value)


def test_a_future_hedged_by_a_long_put_needs_less():
    assert total([fut(LOT), opt("PE", 23500, LOT)]) < total([fut(LOT)])
    impact = margin_impact([fut(LOT)], [opt("PE", 23500, LOT)], PRICES, at=AT)
    assert impact.added < 0
    assert impact.benefit > 0
    assert impact.premium > 0


def test_margin_impact_of_a_hedge_and_of_a_close():
    wings = IRON_CONDOR[2:]
    impact = margin_impact(STRADDLE, wings, PRICES, at=AT)
    assert impact.before.total == pytest.approx(total(STRADDLE))
    assert impact.after.total == pytest.approx(total(IRON_CONDOR))
    assert impact.added == pytest.approx(impact.after.total - impact.before.total)
    assert impact.added < 0 < impact.benefit
    assert impact.benefit == pytest.approx(impact.alone.total - impact.added)
    # Buying back what is held closes it: nothing is left to margin.
    close = margin_impact([fut(-LOT)], [fut(LOT)], PRICES, at=AT)
    assert close.after.total == 0.0
    assert close.added == pytest.approx(-close.before.total)
    # An unrelated underlying neither helps nor hurts.
    other = margin_impact(STRADDLE, [fut(500, underlying="RELIANCE", lot=500)], PRICES, at=AT)
    assert other.benefit == pytest.approx(0.0, abs=1e-6)


def test_premium_takes_the_legs_price_when_given():
    impact = margin_impact([], [opt("CE", 24000, LOT, price=420.0), opt("PE", 24000, -LOT, price=380.0)], PRICES,
                           at=AT)
    assert impact.premium == pytest.approx(LOT * 420.0 - LOT * 380.0)


def test_a_long_and_a_short_of_one_contract_net_to_nothing():
    row = portfolio_margin([opt("CE", 24500, LOT), opt("CE", 24500, -LOT), fut(LOT)], PRICES, at=AT).rows[0]
    alone = portfolio_margin([fut(LOT)], PRICES, at=AT).rows[0]
    assert row == replace(alone, legs=1)


def test_a_calendar_spread_pays_the_spread_charge():
    spread = portfolio_margin([fut(LOT, NEAR), fut(-LOT, FAR)], PRICES, at=AT).rows[0]
    assert spread.scan_risk == pytest.approx(0.0, abs=1e-6)
    assert spread.calendar_spread == pytest.approx(LOT * SPOT * NIFTY.calendar_spread)
    assert spread.span == pytest.approx(spread.calendar_spread)
    assert spread.total < total([fut(LOT, NEAR)]) + total([fut(-LOT, FAR)])


def test_on_expiry_day_the_expiring_legs_get_no_spread_benefit():
    expiry_morning = datetime(2026, 12, 29, 10, 0)
    legs = [fut(LOT, NEAR), fut(-LOT, FAR)]
    spread = portfolio_margin(legs, PRICES, at=expiry_morning).rows[0]
    alone = sum(portfolio_margin([leg], PRICES, at=expiry_morning).total for leg in legs)
    assert spread.total == pytest.approx(alone)
    assert spread.calendar_spread == 0.0


def test_exposure_deep_out_of_the_money_and_on_expiry_day():
    notional = LOT * SPOT
    near_money = portfolio_margin([opt("CE", 25000, -LOT)], PRICES, at=AT).rows[0]
    assert near_money.exposure == pytest.approx(notional * NIFTY.exposure)
    deep = portfolio_margin([opt("CE", SPOT * (1 + NIFTY.deep_otm) + 100, -LOT)], PRICES, at=AT).rows[0]
    assert deep.exposure == pytest.approx(notional * NIFTY.deep_otm_exposure)
    expiring = portfolio_margin([opt("CE", 25000, -LOT)], PRICES, at=datetime(2026, 12, 29, 9, 30)).rows[0]
    assert expiring.exposure == pytest.approx(notional * (NIFTY.exposure + NIFTY.expiry_day_exposure))


def test_short_option_minimum_binds_far_out_of_the_money():
    row = portfolio_margin([opt("CE", 36000, -LOT)], PRICES, at=AT).rows[0]
    assert row.span < row.short_option_minimum
    assert row.initial == pytest.approx(NIFTY.short_option_minimum * SPOT * LOT)


def test_an_unknown_underlying_takes_the_default_row():
    stock = default_margin_params()["DEFAULT"]
    row = portfolio_margin([Leg("ZZTOP", "FUT", None, NEAR, 100)], {"ZZTOP": 250.0}, at=AT).rows[0]
    assert row.scan_risk == pytest.approx(100 * 250.0 * stock.price_scan)
    assert row.exposure == pytest.approx(100 * 250.0 * stock.exposure)


def test_parameters_given_by_the_caller_override_the_shipped_ones(tmp_path):
    narrow = replace(NIFTY, price_scan=0.05)
    row = portfolio_margin([fut(LOT)], PRICES, at=AT, params={"nifty": narrow}).rows[0]
    assert row.scan_risk == pytest.approx(LOT * SPOT * 0.05)
    shipped = (files("oms_kit") / "margin_params.csv").read_text()
    path = tmp_path / "params.csv"
    path.write_text(shipped.replace("NIFTY,index,9.3,", "NIFTY,index,6,"))
    assert portfolio_margin([fut(LOT)], PRICES, at=AT, params=path).rows[0].scan_risk == pytest.approx(
        LOT * SPOT * 0.06)


def test_the_shipped_parameters():
    table = default_margin_params()
    assert {"DEFAULT", "NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", "NIFTYNXT50"} <= set(table)
    assert table["NIFTY"].kind == "index" and table["DEFAULT"].kind == "stock"
    assert table["NIFTY"].price_scan == pytest.approx(0.093)
    assert table["DEFAULT"].exposure == pytest.approx(0.035)
    table["NIFTY"] = table["DEFAULT"]  # a copy: the next caller still gets the file's rows
    assert default_margin_params()["NIFTY"].kind == "index"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("underlying,kind\nDEFAULT,stock\n", "margin parameter columns"),
        (None, "price_scan_pct"),
        (None, "kind"),
        (None, "price_scan"),
        (None, "underlying"),
    ],
)
def test_a_bad_parameter_file_is_refused_by_line(tmp_path, text, field):
    shipped = (files("oms_kit") / "margin_params.csv").read_text()
    if text is None:
        text = {
            "price_scan_pct": shipped.replace("NIFTY,index,9.3,", "NIFTY,index,lots,"),
            "kind": shipped.replace("NIFTY,index,", "NIFTY,bond,"),
            "price_scan": shipped.replace("NIFTY,index,9.3,", "NIFTY,index,60,"),
            "underlying": "\n".join(line for line in shipped.splitlines() if not line.startswith("DEFAULT")),
        }[field]
    path = tmp_path / "params.csv"
    path.write_text(text)
    with pytest.raises(DataError) as caught:
        read_margin_params(path)
    assert caught.value.field.startswith(field)
    with pytest.raises(DataError):
        read_margin_params(tmp_path / "missing.csv")


def test_volatility_sources():
    base = portfolio_margin(STRADDLE, PRICES, at=AT).rows[0]
    assert base.scan_risk == portfolio_margin(STRADDLE, PRICES, at=AT, vols={"NIFTY": NIFTY.default_vol}
                                              ).rows[0].scan_risk
    calm = portfolio_margin(STRADDLE, PRICES, at=AT, vols={"NIFTY": 0.08}).rows[0]
    assert calm.net_option_value > base.net_option_value  # cheaper options sold: less value owed
    # A leg's price implies its volatility: priced at the model's value for 22%, it margins as with iv=0.22.
    years = (datetime(2026, 12, 29, 15, 30) - AT).total_seconds() / (365 * 86400)
    value = black76.price(SPOT, 24000.0, years, 0.22, 0.0, "CE")
    by_price = portfolio_margin([opt("CE", 24000, -LOT, price=value)], PRICES, at=AT).rows[0]
    by_iv = portfolio_margin([opt("CE", 24000, -LOT, iv=0.22)], PRICES, at=AT).rows[0]
    assert by_price.scan_risk == pytest.approx(by_iv.scan_risk, rel=1e-9)


def test_a_leg_price_outside_the_bounds_names_the_leg():
    with pytest.raises(DataError) as caught:
        portfolio_margin([fut(LOT), opt("CE", 20000, -LOT, price=100.0)], PRICES, at=AT)
    assert caught.value.field == "legs[1].price"
    assert "20000 CE" in str(caught.value)


def test_valuation_time_forms_agree():
    naive = total(STRADDLE)
    aware = portfolio_margin(STRADDLE, PRICES, at=(AT - timedelta(hours=5, minutes=30)).replace(tzinfo=UTC)).total
    assert aware == pytest.approx(naive, rel=1e-12)
    midnight = portfolio_margin(STRADDLE, PRICES, at=AT.date()).total
    assert midnight != naive  # ten hours more to expiry


def test_results_as_rows_and_frame():
    result = portfolio_margin([*STRADDLE, fut(500, underlying="RELIANCE", lot=500)], PRICES, at=AT)
    frame = result.to_frame()
    assert list(frame.index) == ["NIFTY", "RELIANCE"]
    assert list(frame.columns) == [f for f in UnderlyingMargin.__slots__ if f != "underlying"]
    assert frame["total"].sum() == pytest.approx(result.total)
    assert result.to_dicts()[1]["underlying"] == "RELIANCE"
    assert result.by_underlying["RELIANCE"].legs == 1
    assert result.total == pytest.approx(result.initial + result.exposure)
    empty = portfolio_margin([], PRICES, at=AT)
    assert (empty.total, empty.rows, len(empty.to_frame())) == (0.0, (), 0)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"underlying": ""}, "leg.underlying"),
        ({"underlying": 7}, "leg.underlying"),
        ({"kind": "OPT"}, "leg.kind"),
        ({"kind": None}, "leg.kind"),
        ({"kind": "FUT", "strike": 24000.0}, "leg.strike"),
        ({"strike": None}, "leg.strike"),
        ({"strike": -5.0}, "leg.strike"),
        ({"strike": math.nan}, "leg.strike"),
        ({"expiry": "2026-12-29"}, "leg.expiry"),
        ({"quantity": 0}, "leg.quantity"),
        ({"quantity": 10}, "leg.quantity"),
        ({"quantity": 75.0}, "leg.quantity"),
        ({"quantity": True}, "leg.quantity"),
        ({"lot_size": 0}, "leg.lot_size"),
        ({"price": -1.0}, "leg.price"),
        ({"price": math.inf}, "leg.price"),
        ({"iv": 0.0}, "leg.iv"),
        ({"iv": 50.0}, "leg.iv"),
    ],
)
def test_a_bad_leg_is_refused_by_field(fields, field):
    values = {"underlying": "NIFTY", "kind": "CE", "strike": 24000.0, "expiry": NEAR, "quantity": -LOT,
              "lot_size": LOT} | fields
    with pytest.raises((ConfigError, DataError)) as caught:
        Leg(**values)
    assert caught.value.field == field


def test_bad_arguments_are_refused_by_name():
    cases = [
        (lambda: portfolio_margin(STRADDLE, {}, at=AT), DataError, "prices"),
        (lambda: portfolio_margin(STRADDLE, {"NIFTY": -1.0}, at=AT), DataError, "prices['NIFTY']"),
        (lambda: portfolio_margin(STRADDLE, PRICES, at=AT, vols={"NIFTY": math.nan}), DataError, "vols['NIFTY']"),
        (lambda: portfolio_margin(STRADDLE, PRICES, at="today"), ConfigError, "at"),
        (lambda: portfolio_margin(STRADDLE, PRICES, at=AT, rate=2.0), ConfigError, "rate"),
        (lambda: portfolio_margin(STRADDLE, PRICES, at=AT, params={"NIFTY": 0.1}), ConfigError, "params"),
        (lambda: portfolio_margin([*STRADDLE, "NIFTY FUT"], PRICES, at=AT), ConfigError, "legs[2]"),
        (lambda: portfolio_margin(STRADDLE[0], PRICES, at=AT), ConfigError, "legs"),
        (lambda: portfolio_margin(STRADDLE, PRICES, at=date(2027, 1, 1)), ConfigError, "legs[0].expiry"),
        (lambda: margin_impact(STRADDLE, STRADDLE[0], PRICES, at=AT), ConfigError, "legs"),
        (lambda: MarginParams("index", 0.6, 0.04, 0.15, 0.02, 0.1, 0.03, 0.02, 0.03, 0.0175), ConfigError,
         "price_scan"),
    ]
    for call, error, field in cases:
        with pytest.raises(error) as caught:
            call()
        assert caught.value.field == field


# --- properties -----------------------------------------------------------------------------------------------------

expiries = st.sampled_from([NEAR, FAR, date(2027, 2, 23)])
legs = st.builds(
    lambda kind, offset, lots, expiry: Leg("NIFTY", kind, None if kind == "FUT" else SPOT + 250 * offset, expiry,
                                           lots * LOT, LOT),
    st.sampled_from(["FUT", "CE", "PE"]),
    st.integers(-16, 16),
    st.integers(-5, 5).filter(bool),
    expiries,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(legs, min_size=1, max_size=8))
def test_the_breakdown_adds_up(portfolio):
    row = portfolio_margin(portfolio, PRICES, at=AT).rows[0]
    assert row.span >= 0 and row.exposure >= 0 and row.short_option_minimum >= 0
    assert row.initial == pytest.approx(max(row.span, row.short_option_minimum))
    assert row.total == pytest.approx(row.initial + row.exposure)
    held: dict[tuple, int] = {}
    for leg in portfolio:
        key = (leg.kind, leg.strike, leg.expiry)
        held[key] = held.get(key, 0) + leg.quantity
    if any(quantity < 0 or (kind == "FUT" and quantity) for (kind, _, _), quantity in held.items()):
        assert row.span == pytest.approx(max(0.0, row.scan_risk + row.calendar_spread - row.long_option_value),
                                         abs=1e-6)
    else:
        assert row.span == 0.0


@settings(max_examples=60, deadline=None)
@given(st.lists(legs, min_size=1, max_size=6), legs)
def test_a_leg_and_its_opposite_change_nothing(portfolio, leg):
    opposite = replace(leg, quantity=-leg.quantity)
    assert total([*portfolio, leg, opposite]) == pytest.approx(total(portfolio), rel=1e-9, abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(st.lists(legs.filter(lambda leg: leg.kind != "FUT").map(lambda leg: replace(leg, quantity=abs(leg.quantity))),
                min_size=1, max_size=6))
def test_long_options_alone_need_nothing(portfolio):
    assert total(portfolio) == 0.0


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40), st.floats(100.0, 100_000.0), expiries)
def test_futures_long_and_short_are_symmetric(lots, price, expiry):
    prices = {"NIFTY": price}
    long = portfolio_margin([fut(lots * LOT, expiry)], prices, at=AT).total
    short = portfolio_margin([fut(-lots * LOT, expiry)], prices, at=AT).total
    assert long == pytest.approx(short, rel=1e-12)


hostile = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**20), 10**20),
    st.sampled_from([None, True, "", "NIFTY", b"x", [], {}, 1j, date(2020, 1, 1), datetime(2026, 12, 7),
                     date(9999, 12, 31), datetime(9999, 12, 31, 23, 59, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC),
                     date(2027, 1, 26), 1e12, 1e-300, 75]),
)


@settings(max_examples=200, deadline=None)
@given(hostile, hostile, hostile, hostile, hostile, hostile, hostile, hostile)
def test_hostile_legs_are_refused_by_field(underlying, kind, strike, expiry, quantity, lot, price, iv):
    try:
        leg = Leg(underlying, kind, strike, expiry, quantity, lot, price, iv)
    except (ConfigError, DataError) as exc:
        assert exc.field.startswith("leg.")
        return
    assert isinstance(leg.quantity, int) and leg.quantity % leg.lot_size == 0
    # A leg that passed is margined, or refused by name (expired, or its price outside the bounds).
    for at in (date(2020, 1, 1), AT):
        try:
            result = portfolio_margin([leg], {leg.underlying: 100.0}, at=at, rate=0.5)
        except (ConfigError, DataError) as exc:
            assert exc.field.startswith("legs[0]")
            continue
        assert math.isfinite(result.total) and result.total >= 0


@pytest.mark.parametrize("strike", [1e-300, 1e-9, 1e12])
@pytest.mark.parametrize("expiry", [NEAR, date(2120, 1, 1)])
def test_extreme_but_valid_legs_give_finite_margins(strike, expiry):
    for kind in ("CE", "PE"):
        legs = [Leg("NIFTY", kind, strike, expiry, -10**9), fut(LOT, expiry=expiry)]
        result = portfolio_margin(legs, {"NIFTY": 1e12}, at=AT, rate=1.0, vols={"NIFTY": black76.MAX_VOL})
        assert math.isfinite(result.total) and result.total >= 0
    with pytest.raises(ConfigError) as caught:
        portfolio_margin([fut(LOT, expiry=date(2130, 1, 1))], PRICES, at=AT)
    assert caught.value.field == "legs[0].expiry"


@settings(max_examples=200, deadline=None)
@given(hostile, hostile, hostile, hostile, st.sampled_from([None, {}, {"nifty": NIFTY}, {"NIFTY": None}, 5]))
def test_hostile_arguments_to_portfolio_margin(price, vol, at, rate, params):
    for call in (portfolio_margin, lambda *a, **k: margin_impact(STRADDLE[:1], *a, **k).after):
        try:
            result = call(IRON_CONDOR, {"NIFTY": price}, at=at, vols={"NIFTY": vol}, rate=rate, params=params)
        except (ConfigError, DataError) as exc:
            assert exc.field
            continue
        assert math.isfinite(result.total) and result.total >= 0


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_hostile_parameter_files(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("params") / "params.csv"
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    try:
        table = read_margin_params(path)
    except DataError as exc:
        assert exc.field
        return
    assert "DEFAULT" in table
