"""The option chain (oms.option_chain, oms_kit.chain) on the sample instrument master, priced by the random-walk
feed from its underlying on a volatility smile, or by hand with set_price."""

from __future__ import annotations

import asyncio
import math
from datetime import date, datetime
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import oms_kit as ok
from oms_kit import black76
from oms_kit.chain import CHAIN_COLUMNS
from oms_kit.errors import ConfigError, OmsError
from oms_kit.instrument_master import InstrumentLookupError
from oms_kit.market.fno import expiry_moment
from oms_kit.market.smile import DEFAULT_RATE, Smile

SAMPLE = ok.Instruments.sample()
IST = expiry_moment(date(2025, 11, 3)).tzinfo
AT = datetime(2025, 11, 3, 10, 0, tzinfo=IST)  # the sample's day, in the normal market
TICK = 0.05
LIMITS = ok.RiskLimits(max_orders_per_second=None, duplicate_window_s=None)


async def open_walk(seed: int = 11, steps: int = 25, at: datetime = AT, **feed_options) -> ok.OMS:
    """An OMS with the sample instruments and a seeded random walk of ``steps`` steps, run to its end."""
    clock = ok.SimulatedClock(at)
    feed = ok.RandomWalkFeed(["INFY"], interval=0, seed=seed, clock=clock, max_steps=steps, instruments=SAMPLE,
                             **feed_options)
    oms = await ok.OMS.open(instruments=SAMPLE, feed=feed, clock=clock, limits=LIMITS)
    while not feed.status()["finished"]:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0)  # the feed task applies its last bar
    return oms


async def open_by_hand(at: datetime = AT) -> ok.OMS:
    return await ok.OMS.open(instruments=SAMPLE, feed=None, clock=ok.SimulatedClock(at), limits=LIMITS)


def years(expiry: date, at: datetime) -> float:
    return (expiry_moment(expiry) - at).total_seconds() / (365 * 86400)


# --- the table -----------------------------------------------------------------------------------------------


async def test_the_chain_has_its_columns_in_order_one_row_per_listed_strike_lowest_first():
    oms = await open_walk()
    try:
        for underlying in SAMPLE.underlyings():
            for expiry in SAMPLE.expiries(underlying, "OPT"):
                chain = oms.option_chain(underlying, expiry)
                assert tuple(chain.columns) == CHAIN_COLUMNS
                assert chain["strike"].tolist() == [float(k) for k in SAMPLE.strikes(underlying, expiry)]
                assert chain["strike"].is_monotonic_increasing
                assert chain["ce_symbol"].tolist() == [SAMPLE.option(underlying, expiry, k, "CE").symbol
                                                       for k in SAMPLE.strikes(underlying, expiry)]
                assert chain["pe_symbol"].tolist() == [SAMPLE.option(underlying, expiry, k, "PE").symbol
                                                       for k in SAMPLE.strikes(underlying, expiry)]
                for column in ("strike", "ce_last", "ce_iv", "ce_delta", "pe_last", "pe_iv", "pe_delta"):
                    assert chain[column].dtype == np.float64, column
                assert chain["ce_position"].dtype == np.int64 and chain["pe_position"].dtype == np.int64
                # Every leg has the feed's last price, as the OMS marks it.
                for symbol, last in zip([*chain["ce_symbol"], *chain["pe_symbol"]],
                                        [*chain["ce_last"], *chain["pe_last"]], strict=True):
                    assert last == float(oms.last_price(symbol))
                assert chain.attrs["underlying"] == underlying and chain.attrs["expiry"] == expiry
                assert chain.attrs["rate"] == oms.feed.rate
    finally:
        await oms.close()


async def test_put_call_parity_holds_on_the_feeds_prices_within_a_tick():
    oms = await open_walk(seed=5)
    try:
        feed = oms.feed
        checked = 0
        for underlying in SAMPLE.underlyings():
            for expiry in SAMPLE.expiries(underlying, "OPT"):
                chain = oms.option_chain(underlying, expiry)
                forward = feed.forward(underlying, expiry)
                discount = math.exp(-feed.rate * years(expiry, AT))
                gap = chain["ce_last"] - chain["pe_last"] - discount * (forward - chain["strike"])
                # Each price is within half a tick of the model's, so C - P is within a tick of parity.
                assert (gap.abs() <= TICK + 1e-9).all(), (underlying, expiry, gap.tolist())
                checked += len(chain)
        assert checked == len([i for i in SAMPLE if i.instrument_type == "CE"])  # every strike of the sample
    finally:
        await oms.close()


async def test_the_forward_is_the_future_when_quoted_else_put_call_parity():
    oms = await open_walk(seed=3)
    try:
        monthly = oms.option_chain("NIFTY", "2025-11-25")
        assert monthly.attrs["forward_source"] == "future"
        assert monthly.attrs["forward"] == float(oms.last_price("NIFTY25NOVFUT"))
        weekly = oms.option_chain("NIFTY", "2025-11-11")  # no future expires that day
        assert weekly.attrs["forward_source"] == "parity"
        assert weekly.attrs["forward"] == pytest.approx(oms.feed.forward("NIFTY", date(2025, 11, 11)), abs=0.2)
    finally:
        await oms.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_implied_volatility_of_the_feeds_prices_is_the_smile_at_each_strike(seed):
    oms = await open_walk(seed=seed, volatility=0.2)
    try:
        feed = oms.feed
        for underlying in SAMPLE.underlyings():
            smile = feed.smile(underlying)
            for expiry in SAMPLE.expiries(underlying, "OPT"):
                chain = oms.option_chain(underlying, expiry)
                forward = feed.forward(underlying, expiry)
                strikes = chain["strike"].to_numpy()
                expected = smile.vol(np.log(strikes / forward))
                # Prices are on the tick: a leg's volatility is known to within what a price error of a tick or
                # two (its own rounding, the forward's) is worth in volatility, by vega: 1e-5 near the money,
                # some 1e-3 for an option worth a few ticks.
                vega = black76.greeks(forward, strikes, years(expiry, AT), expected, feed.rate, "CE").vega
                tolerance = 2 * TICK / vega + 1e-4
                for right in ("ce", "pe"):
                    error = np.abs(chain[f"{right}_iv"].to_numpy() - expected)
                    assert (error <= tolerance).all(), (underlying, expiry, right, error, tolerance)
    finally:
        await oms.close()


async def test_implied_volatility_follows_a_smile_given_to_the_feed():
    flat = Smile(base=0.3, skew=0.0, curvature=0.0)
    oms = await open_walk(smiles={"NIFTY": flat})
    try:
        chain = oms.option_chain("NIFTY", "2025-12-30")
        assert np.allclose(chain[["ce_iv", "pe_iv"]].to_numpy(), 0.3, atol=1e-3)
        other = oms.option_chain("BANKNIFTY", "2025-12-30")  # not named: the default BANKNIFTY smile
        assert other["ce_iv"].iloc[0] == pytest.approx(oms.feed.smile("BANKNIFTY").vol_at(
            58000, oms.feed.forward("BANKNIFTY", date(2025, 12, 30))), abs=1e-3)
    finally:
        await oms.close()


async def test_delta_is_black76s_at_the_implied_volatility():
    oms = await open_walk(seed=8)
    try:
        chain = oms.option_chain("NIFTY", "2025-11-25")
        forward, t = chain.attrs["forward"], chain.attrs["years"]
        for right in ("ce", "pe"):
            expected = black76.greeks(forward, chain["strike"].to_numpy(), t, chain[f"{right}_iv"].to_numpy(),
                                      chain.attrs["rate"], right.upper()).delta
            assert np.allclose(chain[f"{right}_delta"], expected)
        assert ((chain["ce_delta"] > 0) & (chain["ce_delta"] < 1)).all()
        assert ((chain["pe_delta"] < 0) & (chain["pe_delta"] > -1)).all()
        assert chain["ce_delta"].is_monotonic_decreasing
        # Same volatility on both legs of a strike: call delta - put delta is the discount factor.
        assert np.allclose(chain["ce_delta"] - chain["pe_delta"], math.exp(-chain.attrs["rate"] * t), atol=0.01)
    finally:
        await oms.close()


# --- positions ---------------------------------------------------------------------------------------------


async def test_the_accounts_open_position_is_shown_on_its_leg():
    oms = await open_walk()
    try:
        call = SAMPLE.option("NIFTY", "2025-11-25", 25700, "CE").symbol
        put = SAMPLE.option("NIFTY", "2025-11-25", 25800, "PE").symbol
        bought = await oms.place_order(call, "BUY", 75, product="NRML")
        sold = await oms.place_order(put, "SELL", 150, product="NRML")
        assert bought.status == ok.OrderStatus.FILLED and sold.status == ok.OrderStatus.FILLED, (
            bought.violations, sold.violations)
        chain = oms.option_chain("NIFTY", "2025-11-25").set_index("strike")
        assert chain.loc[25700.0, "ce_position"] == 75 and chain.loc[25800.0, "pe_position"] == -150
        held = chain[["ce_position", "pe_position"]].to_numpy()
        assert np.count_nonzero(held) == 2
        # Another expiry's chain holds nothing.
        assert not oms.option_chain("NIFTY", "2025-12-30")[["ce_position", "pe_position"]].to_numpy().any()
        await oms.place_order(call, "SELL", 75, product="NRML")
        assert oms.option_chain("NIFTY", "2025-11-25").set_index("strike").loc[25700.0, "ce_position"] == 0
    finally:
        await oms.close()


# --- prices by hand, and none ------------------------------------------------------------------------------


async def test_a_chain_priced_by_hand_solves_each_leg_and_leaves_nan_where_it_cannot():
    oms = await open_by_hand()
    try:
        expiry = date(2025, 11, 25)
        t = years(expiry, AT)
        forward = 25800.0
        await oms.set_price("NIFTY25NOVFUT", forward)
        vol = 0.15
        for strike in (25600, 25700):
            for right in ("CE", "PE"):
                value = black76.price(forward, strike, t, vol, DEFAULT_RATE, right)
                await oms.set_price(SAMPLE.option("NIFTY", expiry, strike, right).symbol, value)
        # 25800: no call price; a put above the discounted strike, which no volatility reaches.
        await oms.set_price("NIFTY25NOV25800PE", 30000)
        chain = oms.option_chain("NIFTY", expiry).set_index("strike")
        assert chain.attrs["forward_source"] == "future" and chain.attrs["rate"] == DEFAULT_RATE
        for strike in (25600.0, 25700.0):
            assert chain.loc[strike, "ce_iv"] == pytest.approx(vol, abs=2e-4)
            assert chain.loc[strike, "pe_iv"] == pytest.approx(vol, abs=2e-4)
        assert math.isnan(chain.loc[25800.0, "ce_last"]) and math.isnan(chain.loc[25800.0, "ce_iv"])
        assert math.isnan(chain.loc[25800.0, "ce_delta"])
        assert chain.loc[25800.0, "pe_last"] == 30000.0 and math.isnan(chain.loc[25800.0, "pe_iv"])
    finally:
        await oms.close()


async def test_a_chain_without_prices_has_no_forward_and_nan_volatilities():
    oms = await open_by_hand()
    try:
        chain = oms.option_chain("BANKNIFTY")
        assert chain.attrs["forward_source"] == "none" and chain.attrs["forward"] is None
        assert chain[["ce_last", "ce_iv", "ce_delta", "pe_last", "pe_iv", "pe_delta"]].isna().all().all()
        assert chain["ce_symbol"].notna().all()
    finally:
        await oms.close()


async def test_a_rate_given_is_the_one_the_volatilities_are_solved_with():
    oms = await open_by_hand()
    try:
        expiry, strike, t = date(2025, 12, 30), 25800, years(date(2025, 12, 30), AT)
        await oms.set_price("NIFTY25DECFUT", 26000)
        value = black76.price(26000.0, strike, t, 0.2, 0.1, "CE")
        await oms.set_price(SAMPLE.option("NIFTY", expiry, strike, "CE").symbol, value)
        at_ten = oms.option_chain("NIFTY", expiry, rate=0.1).set_index("strike").loc[25800.0, "ce_iv"]
        at_zero = oms.option_chain("NIFTY", expiry, rate=0.0).set_index("strike").loc[25800.0, "ce_iv"]
        assert at_ten == pytest.approx(0.2, abs=2e-4) and at_zero < at_ten
    finally:
        await oms.close()


# --- the expiry ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("at", "nearest"), [
    (AT, date(2025, 11, 4)),
    (datetime(2025, 11, 4, 15, 29, tzinfo=IST), date(2025, 11, 4)),  # a minute before its close
    (datetime(2025, 11, 4, 15, 30, tzinfo=IST), date(2025, 11, 11)),  # expired at 15:30
    (datetime(2025, 11, 26, 9, 15, tzinfo=IST), date(2025, 12, 30)),
    (datetime(2026, 3, 31, 9, 15, tzinfo=IST), date(2026, 3, 31)),
])
async def test_the_expiry_by_default_is_the_nearest_not_yet_expired(at, nearest):
    oms = await open_by_hand(at)
    try:
        assert oms.option_chain("NIFTY").attrs["expiry"] == nearest
        assert oms.option_chain("NIFTY", None).attrs["expiry"] == nearest
        assert oms.option_chain("NIFTY", nearest.isoformat()).attrs["expiry"] == nearest
    finally:
        await oms.close()


async def test_when_every_expiry_has_passed_the_default_says_so_and_an_expired_chain_is_at_intrinsic_value():
    at = datetime(2026, 4, 1, 10, 0, tzinfo=IST)
    oms = await open_walk(at=at, steps=3)
    try:
        with pytest.raises(InstrumentLookupError, match="every expiry of NIFTY's options has passed") as raised:
            oms.option_chain("NIFTY")
        assert raised.value.field == "expiry" and "2026-03-31" in raised.value.allowed
        chain = oms.option_chain("NIFTY", "2026-03-31")
        forward = oms.feed.underlying_prices()["NIFTY"]  # no time left to carry
        call, put = chain.iloc[0][["ce_last", "pe_last"]]
        assert call == pytest.approx(max(forward - 26000, TICK), abs=TICK)
        assert put == pytest.approx(max(26000 - forward, TICK), abs=TICK)
        assert chain.attrs["years"] == 0 and chain[["ce_iv", "pe_iv", "ce_delta", "pe_delta"]].isna().all().all()
    finally:
        await oms.close()


# --- refusals ------------------------------------------------------------------------------------------------


async def test_an_unknown_underlying_or_expiry_is_a_clear_error_listing_the_known_ones():
    oms = await open_by_hand()
    try:
        with pytest.raises(InstrumentLookupError, match="BANKNIFTY, NIFTY") as raised:
            oms.option_chain("SENSEX")
        assert raised.value.field == "underlying" and raised.value.value == "SENSEX"
        with pytest.raises(ConfigError, match="invalid underlying"):
            oms.option_chain("RELIANCE")  # an instrument, but without options
        with pytest.raises(InstrumentLookupError, match="2025-11-04, 2025-11-11") as raised:
            oms.option_chain("NIFTY", "2025-11-05")
        assert raised.value.field == "expiry"
        with pytest.raises(InstrumentLookupError, match="2025-11-25"):
            oms.option_chain("BANKNIFTY", date(2025, 11, 4))  # NIFTY's weekly, not BANKNIFTY's
        with pytest.raises(ConfigError, match=r"(?s)invalid expiry.*hint: pass its .date\(\)"):
            oms.option_chain("NIFTY", datetime(2025, 11, 25))
        assert oms.option_chain(" nifty ").attrs["underlying"] == "NIFTY"
    finally:
        await oms.close()


async def test_an_oms_without_options_says_how_to_get_some():
    oms = await ok.OMS.open(feed=None)
    try:
        with pytest.raises(InstrumentLookupError, match="the OMS has none"):
            oms.option_chain("NIFTY")
    finally:
        await oms.close()


HOSTILE = st.sampled_from([
    None, True, False, 0, -1, 2**64, math.nan, math.inf, -math.inf, 1e308, "", " ", "\x00", "NIFTY\x00", "A" * 10_000,
    "\n", b"NIFTY", [], {}, ("NIFTY",), object(), Decimal("NaN"), Decimal("0.06"), datetime(2025, 11, 4),
    date(2025, 11, 4), date(1, 1, 1), date(9999, 12, 31), "2025-11-04", "2025-11-4", "2025-13-01", "2025-11-04T00:00",
    "９９９９-１２-３１", pd.Timestamp("2025-11-04"), np.datetime64("2025-11-04"), np.float64(0.06), 2500j,
    "NIFTY", "nifty", "BANKNIFTY", 0.06, -1.0, 1.0, 1.0000001,
])


async def test_hostile_arguments_give_a_chain_or_a_config_error_naming_the_argument():
    oms = await open_walk(steps=2)
    try:
        @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(underlying=st.one_of(HOSTILE, st.text(max_size=12)),
               expiry=st.one_of(HOSTILE, st.dates().map(str), st.dates()),
               rate=st.one_of(st.none(), HOSTILE, st.floats()))
        def check(underlying, expiry, rate):
            try:
                chain = oms.option_chain(underlying, expiry, rate=rate)
            except ConfigError as error:
                assert isinstance(error, OmsError) and error.field in ("underlying", "expiry", "rate")
                text = str(error)
                assert text.startswith(f"invalid {error.field}: ") and "allowed: " in text
                assert len(text) < 1000  # a hostile value is named by its start
            else:
                assert tuple(chain.columns) == CHAIN_COLUMNS and len(chain) >= 1
                assert chain.attrs["underlying"] in ("NIFTY", "BANKNIFTY")

        check()
    finally:
        await oms.close()


async def test_the_sync_facade_has_the_chain():
    clock = ok.SimulatedClock(AT)

    def run() -> list[str]:
        oms = ok.open_sync(instruments=SAMPLE, feed=None, clock=clock)
        try:
            oms.set_price("NIFTY25NOVFUT", 25800)
            return list(oms.option_chain("NIFTY", "2025-11-25").columns)
        finally:
            oms.close()

    assert tuple(await asyncio.to_thread(run)) == CHAIN_COLUMNS


async def test_the_random_walk_of_oms_open_quotes_the_sample_chain():
    oms = await ok.OMS.open(instruments=SAMPLE, clock=ok.SimulatedClock(AT))
    try:
        symbols = [i.symbol for i in SAMPLE if i.expiry is not None]
        for _ in range(200):
            if all(oms.last_price(s) is not None for s in symbols):
                break
            await asyncio.sleep(0.01)
        chain = oms.option_chain("NIFTY")
        assert chain.attrs["expiry"] == date(2025, 11, 4)
        assert chain[["ce_last", "pe_last", "ce_iv", "pe_iv"]].notna().all().all()
        assert oms.feed.status()["underlyings"].keys() == {"NIFTY", "BANKNIFTY"}
        assert oms.last_price("RELIANCE") is not None  # the equities walk as before
    finally:
        await oms.close()
