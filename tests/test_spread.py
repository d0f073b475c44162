"""The spread model and market protection of MockBroker: buys pay the ask, sells get the bid, a market order capped
by its protection rests as a limit."""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_kit.errors import ConfigError
from oms_kit.models import OrderType, Side, Validity
from tests.stubs import T0
from tests.test_broker import INSTRUMENT, bar, make_broker, order, quote

D = Decimal
TICK = INSTRUMENT.tick_size


def on_tick(value: Decimal, rounding: str) -> Decimal:
    return (value / TICK).to_integral_value(rounding) * TICK


def ask_bid_bps(price: Decimal, bps: float) -> tuple[Decimal, Decimal]:
    half = price * D(str(bps)) / 20_000
    return on_tick(price + half, ROUND_CEILING), on_tick(price - half, ROUND_FLOOR)


# -- market orders ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ticks", [2, 4, 10])
def test_a_market_buy_pays_half_the_spread_in_ticks_and_a_sell_gets_half_below(ticks):
    broker, sink = make_broker(spread_ticks=ticks)
    quote(broker, 2500.0)
    buy, sell = order(side=Side.BUY), order(side=Side.SELL)

    broker.submit(buy, INSTRUMENT, T0)
    broker.submit(sell, INSTRUMENT, T0)

    half = TICK * ticks / 2
    assert sink.fills(buy.order_id) == [(10, D("2500.00") + half)]
    assert sink.fills(sell.order_id) == [(10, D("2500.00") - half)]


@pytest.mark.parametrize("bps", [1, 5, 7.5, 30])
def test_a_spread_in_bps_rounds_the_ask_up_and_the_bid_down_to_the_tick(bps):
    broker, sink = make_broker(spread_bps=bps)
    quote(broker, 2500.0)
    buy, sell = order(side=Side.BUY), order(side=Side.SELL)

    broker.submit(buy, INSTRUMENT, T0)
    broker.submit(sell, INSTRUMENT, T0)

    ask, bid = ask_bid_bps(D("2500.00"), bps)
    assert sink.fills(buy.order_id) == [(10, ask)]
    assert sink.fills(sell.order_id) == [(10, bid)]
    assert ask > D("2500.00") > bid
    assert ask - bid >= D("2500.00") * D(str(bps)) / 10_000  # never cheaper than the spread asked for


def test_an_odd_number_of_ticks_rounds_each_half_against_the_trader():
    broker, sink = make_broker(spread_ticks=1)
    quote(broker, 2500.0)
    buy, sell = order(side=Side.BUY), order(side=Side.SELL)
    broker.submit(buy, INSTRUMENT, T0)
    broker.submit(sell, INSTRUMENT, T0)

    assert sink.fills(buy.order_id) == [(10, D("2500.00") + TICK)]
    assert sink.fills(sell.order_id) == [(10, D("2500.00") - TICK)]


@pytest.mark.parametrize("ticks", [2, 6, 20])
def test_a_round_trip_at_one_price_costs_one_full_spread(ticks):
    broker, sink = make_broker(spread_ticks=ticks)
    quote(broker, 1234.5)
    broker.submit(order(side=Side.BUY, quantity=7), INSTRUMENT, T0)
    broker.submit(order(side=Side.SELL, quantity=7), INSTRUMENT, T0)

    (bought, paid), (sold, got) = sink.fills()
    assert bought == sold == 7
    assert (paid - got) * 7 == TICK * ticks * 7


def test_slippage_applies_after_the_spread_from_the_ask():
    broker, sink = make_broker(spread_ticks=4, slippage_bps=10)
    quote(broker, 2500.0)
    buy = order()
    broker.submit(buy, INSTRUMENT, T0)

    ask = D("2500.10")
    assert sink.fills() == [(10, INSTRUMENT.round_price(ask * D("1.001")))]


def test_a_backtest_style_market_order_pays_the_spread_on_the_next_open():
    broker, sink = make_broker(spread_ticks=2, immediate_market_fills=False)
    quote(broker, 2500.0)
    broker.submit(order(side=Side.SELL), INSTRUMENT, T0)
    assert sink.fills() == []

    bar(broker, 2510.0, 2520.0, 2490.0, 2500.0)

    assert sink.fills() == [(10, D("2510.00") - TICK)]


# -- limit and stop orders --------------------------------------------------------------------------------------


def test_a_buy_limit_fills_only_when_the_ask_reaches_it():
    broker, sink = make_broker(spread_ticks=4)  # half the spread: 0.10
    placed = order(OrderType.LIMIT, price="2500.00")
    broker.submit(placed, INSTRUMENT, T0)

    bar(broker, 2502.0, 2503.0, 2499.95, 2501.0, seconds=60)  # traded through the limit; the ask did not
    assert sink.fills() == []
    bar(broker, 2501.0, 2501.0, 2499.90, 2500.0, seconds=120)  # ask of the low: 2500.00

    assert sink.fills() == [(10, D("2500.00"))]


def test_a_sell_limit_fills_only_when_the_bid_reaches_it_and_a_gap_fills_at_the_bid_of_the_open():
    broker, sink = make_broker(spread_ticks=4)
    placed = order(OrderType.LIMIT, side=Side.SELL, price="2500.00")
    broker.submit(placed, INSTRUMENT, T0)

    bar(broker, 2498.0, 2500.05, 2497.0, 2499.0, seconds=60)
    assert sink.fills() == []
    bar(broker, 2510.0, 2512.0, 2508.0, 2511.0, seconds=120)  # gapped above: the bid of the open, better than 2500

    assert sink.fills() == [(10, D("2509.90"))]


def test_a_stop_triggers_on_the_traded_price_and_executes_at_the_bid():
    broker, sink = make_broker(spread_ticks=2)
    stop = order(OrderType.SL_M, side=Side.SELL, trigger="2490.00")
    broker.submit(stop, INSTRUMENT, T0)

    bar(broker, 2495.0, 2496.0, 2490.0, 2491.0)

    assert sink.kinds(stop.order_id) == ["accepted", "triggered", "fill"]
    assert sink.fills() == [(10, D("2490.00") - TICK)]


def test_zero_spread_fills_exactly_as_without_a_spread():
    sinks = []
    for options in ({}, {"spread_bps": 0, "spread_ticks": 0}, {"spread_bps": 0.0}):
        broker, sink = make_broker(immediate_market_fills=False, **options)
        for side, kind, price in [(Side.BUY, OrderType.MARKET, None), (Side.SELL, OrderType.LIMIT, "2512.35"),
                                  (Side.BUY, OrderType.LIMIT, "2490.05")]:
            broker.submit(order(kind, side=side, price=price), INSTRUMENT, T0)
        for step, (o, h, low, c) in enumerate([(2500.02, 2513.0, 2495.0, 2505.0), (2505.0, 2506.0, 2489.0, 2490.0)]):
            bar(broker, o, h, low, c, seconds=60 * (step + 1))
        sinks.append([r[2:] for r in sink.reports if r[0] == "fill"])
    assert len(sinks[0]) == 3
    assert sinks[0] == sinks[1] == sinks[2]


# -- market protection ------------------------------------------------------------------------------------------


def test_market_protection_rests_a_market_buy_beyond_its_cap_as_a_limit():
    broker, sink = make_broker(market_protection_pct=1, immediate_market_fills=False)
    quote(broker, 2500.0)
    placed = order()
    broker.submit(placed, INSTRUMENT, T0)

    bar(broker, 2600.0, 2610.0, 2590.0, 2600.0, seconds=60)  # opened 4 % above the last price
    assert sink.kinds(placed.order_id) == ["accepted"]
    assert broker.status()["resting_orders"] == 1
    bar(broker, 2530.0, 2540.0, 2520.0, 2525.0, seconds=120)  # reaches the cap, 2525.00

    assert sink.fills() == [(10, D("2525.00"))]


def test_market_protection_caps_spread_and_slippage_together_and_lets_a_fill_within_it_through():
    tight, tight_sink = make_broker(market_protection_pct=0.1, spread_ticks=4, slippage_bps=10)
    quote(tight, 2500.0)
    beyond = order(quantity=3)
    tight.submit(beyond, INSTRUMENT, T0)  # 2500.10 * 1.001 = 2502.60, beyond the cap 2502.50: it rests
    assert tight_sink.kinds(beyond.order_id) == ["accepted"]

    loose, loose_sink = make_broker(market_protection_pct=1, spread_ticks=4, slippage_bps=10)
    quote(loose, 2500.0)
    loose.submit(order(side=Side.SELL, quantity=4), INSTRUMENT, T0)
    assert loose_sink.fills() == [(4, INSTRUMENT.round_price(D("2499.90") * D("0.999")))]


def test_a_protected_ioc_market_order_beyond_its_cap_expires():
    broker, sink = make_broker(market_protection_pct=2, immediate_market_fills=False)
    quote(broker, 1000.0)
    placed = order(side=Side.SELL, validity=Validity.IOC)
    broker.submit(placed, INSTRUMENT, T0)

    bar(broker, 900.0, 905.0, 890.0, 900.0)

    assert sink.kinds(placed.order_id) == ["accepted", "expired"]


def test_a_protected_stop_market_that_gaps_past_its_trigger_rests_at_the_trigger_less_the_protection():
    broker, sink = make_broker(market_protection_pct=1)
    stop = order(OrderType.SL_M, side=Side.SELL, trigger="2490.00")
    broker.submit(stop, INSTRUMENT, T0)

    bar(broker, 2400.0, 2410.0, 2395.0, 2400.0, seconds=60)
    assert sink.kinds(stop.order_id) == ["accepted", "triggered"]
    bar(broker, 2450.0, 2470.0, 2440.0, 2460.0, seconds=120)  # the bid of the high must reach 2465.10

    assert sink.fills() == [(10, D("2465.10"))]


# -- settings ---------------------------------------------------------------------------------------------------


def test_both_spread_settings_at_once_are_refused_naming_one():
    with pytest.raises(ConfigError) as raised:
        make_broker(spread_bps=5, spread_ticks=2)
    assert raised.value.field == "spread_ticks"


_hostile = st.one_of(
    st.none(), st.booleans(), st.text(max_size=5), st.integers(-10**6, 10**6),
    st.floats(allow_nan=True, allow_infinity=True), st.just(D("1")), st.just([1]),
)


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(["spread_bps", "spread_ticks", "market_protection_pct"]), value=_hostile)
def test_hostile_settings_are_refused_naming_the_field_or_give_sane_fills(name, value):
    try:
        broker, sink = make_broker(**{name: value})
    except ConfigError as error:
        assert error.field == name
        return
    # Accepted: a number in range. Buys never fill below sells at one price, and both are prices.
    assert (value is None and name == "market_protection_pct") or (
        not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value))
    quote(broker, 812.4)
    broker.submit(order(side=Side.BUY), INSTRUMENT, T0)
    broker.submit(order(side=Side.SELL), INSTRUMENT, T0)
    fills = sink.fills()
    assert len(fills) == 2
    (_, paid), (_, got) = fills
    assert paid >= D("812.40") >= got > 0


@settings(max_examples=200, deadline=None)
@given(price=st.floats(0.05, 100_000), bps=st.floats(0, 10_000), side=st.sampled_from([Side.BUY, Side.SELL]))
def test_any_spread_fills_on_the_tick_on_the_traders_worse_side(price, bps, side):
    broker, sink = make_broker(spread_bps=bps)
    quote(broker, price)
    broker.submit(order(side=side), INSTRUMENT, T0)

    ((_, filled),) = sink.fills()
    reference = INSTRUMENT.round_price(price)
    assert filled % TICK == 0 and filled > 0
    assert filled >= reference if side is Side.BUY else filled <= reference
