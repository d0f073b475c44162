"""MockBroker on quotes: market orders walk the book, limits fill when the opposite side crosses them, depth taken
by one order is gone for the next, the participation cap is a share of each level."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_kit.market.quote import Quote
from oms_kit.models import OrderType, Side, Validity
from tests.stubs import T0
from tests.test_broker import INSTRUMENT, RecordingSink, bar, make_broker, order

D = Decimal
ASKS = [(100.05, 3), (100.10, 4), (100.20, 10)]
BIDS = [(99.95, 5), (99.90, 2), (99.80, 20)]


def book(broker: Any, last: float = 100.0, bids: Any = BIDS, asks: Any = ASKS, *, seconds: float = 0,
         volume: float = 0.0) -> None:
    broker.on_bar(Quote(T0 + timedelta(seconds=seconds), "RELIANCE", last, volume, bids, asks))


def average(fills: list[tuple[int, Decimal]]) -> Decimal:
    return sum(q * p for q, p in fills) / sum(q for q, _ in fills)


# -- market orders ----------------------------------------------------------------------------------------------


def test_a_market_buy_larger_than_the_best_ask_walks_the_levels_one_fill_each():
    broker, sink = make_broker()
    book(broker)
    placed = order(quantity=10)
    broker.submit(placed, INSTRUMENT, T0)

    fills = sink.fills(placed.order_id)
    assert fills == [(3, D("100.05")), (4, D("100.10")), (3, D("100.20"))]
    assert average(fills) > D("100.05")  # worse than the touch: the size moved the price
    assert sink.kinds(placed.order_id) == ["accepted", "fill", "fill", "fill"]
    assert broker.status()["resting_orders"] == 0


def test_a_market_order_pays_the_spread_buying_at_the_ask_and_selling_at_the_bid():
    broker, sink = make_broker()
    book(broker, last=100.0)
    buy, sell = order(side=Side.BUY, quantity=2), order(side=Side.SELL, quantity=2)
    broker.submit(buy, INSTRUMENT, T0)
    broker.submit(sell, INSTRUMENT, T0)

    assert sink.fills(buy.order_id) == [(2, D("100.05"))]
    assert sink.fills(sell.order_id) == [(2, D("99.95"))]  # the traded price, 100.00, is neither


def test_slippage_and_the_bar_spread_model_do_not_apply_on_a_quote():
    broker, sink = make_broker(slippage_bps=50, spread_ticks=10)
    book(broker)
    broker.submit(order(quantity=5), INSTRUMENT, T0)
    assert sink.fills() == [(3, D("100.05")), (2, D("100.10"))]


def test_depth_one_order_takes_is_gone_for_the_next_on_the_same_quote():
    broker, sink = make_broker()
    book(broker)
    first, second = order(quantity=5), order(quantity=6)
    broker.submit(first, INSTRUMENT, T0)
    broker.submit(second, INSTRUMENT, T0)

    assert sink.fills(first.order_id) == [(3, D("100.05")), (2, D("100.10"))]
    # The best level is empty and 2 are left at 100.10: the second order starts there.
    assert sink.fills(second.order_id) == [(2, D("100.10")), (4, D("100.20"))]


def test_a_market_order_larger_than_the_book_waits_for_the_next_quote_for_the_rest():
    broker, sink = make_broker()
    book(broker)
    placed = order(quantity=20)
    broker.submit(placed, INSTRUMENT, T0)
    assert sum(q for q, _ in sink.fills()) == 17
    assert broker.status()["resting_orders"] == 1

    book(broker, asks=[(100.30, 1), (100.35, 50)], seconds=1)  # a fresh book
    assert sink.fills(placed.order_id)[3:] == [(1, D("100.30")), (2, D("100.35"))]
    assert broker.status()["resting_orders"] == 0


def test_an_ioc_market_order_on_thin_depth_fills_what_there_is_and_the_rest_expires():
    broker, sink = make_broker()
    book(broker, asks=[(100.05, 2), (100.10, 1)])
    placed = order(quantity=10, validity=Validity.IOC)
    broker.submit(placed, INSTRUMENT, T0)

    assert sink.kinds(placed.order_id) == ["accepted", "fill", "fill", "expired"]
    assert sink.fills() == [(2, D("100.05")), (1, D("100.10"))]
    book(broker, seconds=1)
    assert len(sink.fills()) == 2


def test_a_backtest_style_market_order_waits_for_the_next_quote_and_fills_on_its_book():
    broker, sink = make_broker(immediate_market_fills=False)
    book(broker)
    placed = order(side=Side.SELL, quantity=6)
    broker.submit(placed, INSTRUMENT, T0)
    assert sink.fills() == []

    book(broker, last=101.0, bids=[(100.95, 4), (100.90, 9)], asks=[(101.05, 9)], seconds=60)
    assert sink.fills() == [(4, D("100.95")), (2, D("100.90"))]


def test_a_market_order_with_no_one_on_the_other_side_waits():
    broker, sink = make_broker()
    book(broker, asks=[])
    placed = order(quantity=3)
    broker.submit(placed, INSTRUMENT, T0)
    assert sink.kinds(placed.order_id) == ["accepted"]
    book(broker, seconds=1)
    assert sink.fills() == [(3, D("100.05"))]


def test_market_protection_stops_the_walk_at_its_price_and_rests_the_rest_there():
    broker, sink = make_broker(market_protection_pct=0.1)
    book(broker, last=100.0, asks=[(100.05, 3), (100.10, 3), (100.50, 10)])
    placed = order(quantity=10)
    broker.submit(placed, INSTRUMENT, T0)  # cap: 100.00 * 1.001 = 100.10

    assert sink.fills() == [(3, D("100.05")), (3, D("100.10"))]
    assert broker.status()["resting_orders"] == 1
    book(broker, last=100.40, asks=[(100.15, 50)], seconds=1)  # beyond the cap: nothing
    assert len(sink.fills()) == 2
    book(broker, last=100.0, asks=[(100.10, 50)], seconds=2)
    assert sink.fills()[2:] == [(4, D("100.10"))]


def test_a_bar_after_quotes_is_matched_on_its_range_not_on_the_old_book():
    broker, sink = make_broker(immediate_market_fills=False)
    book(broker)
    placed = order(quantity=50)
    broker.submit(placed, INSTRUMENT, T0)
    bar(broker, 101.0, 102.0, 100.5, 101.5, seconds=60)
    assert sink.fills() == [(50, D("101.00"))]


def test_fees_are_charged_per_fill_on_the_levels_walked():
    broker, sink = make_broker(fees="india_equity")
    book(broker)
    broker.submit(order(quantity=10), INSTRUMENT, T0)
    fees = [r[4] for r in sink.reports if r[0] == "fill"]
    assert len(fees) == 3 and all(f > 0 for f in fees)


def test_a_report_that_takes_the_order_off_the_book_stops_the_walk():
    class CancellingSink(RecordingSink):
        def on_fill(self, order_id: str, quantity: int, price: Decimal, fees: Decimal, ts: Any) -> None:
            super().on_fill(order_id, quantity, price, fees, ts)
            broker.cancel(placed, "cancelled on its first fill", ts)

    broker, _ = make_broker()
    sink = CancellingSink()
    broker.attach(sink)
    book(broker)
    placed = order(quantity=10)
    broker.submit(placed, INSTRUMENT, T0)
    assert sink.fills() == [(3, D("100.05"))]
    assert sink.kinds(placed.order_id)[-1] == "cancelled"


# -- limit and stop orders --------------------------------------------------------------------------------------


def test_a_buy_limit_fills_only_once_the_ask_crosses_it_walking_the_levels_at_or_under_it():
    broker, sink = make_broker()
    placed = order(OrderType.LIMIT, quantity=10, price="100.00")
    broker.submit(placed, INSTRUMENT, T0)

    book(broker, last=99.90, bids=[(99.85, 10)], asks=[(100.05, 50)], seconds=1)  # traded under; ask above
    assert sink.fills() == []
    book(broker, last=100.0, bids=[(99.90, 10)], asks=[(99.95, 4), (100.00, 3), (100.05, 50)], seconds=2)
    assert sink.fills() == [(4, D("99.95")), (3, D("100.00"))]  # never the level above the limit
    assert broker.status()["resting_orders"] == 1
    book(broker, last=100.0, bids=[(99.90, 10)], asks=[(100.00, 8)], seconds=3)
    assert sink.fills()[2:] == [(3, D("100.00"))]
    assert broker.status()["resting_orders"] == 0


def test_a_sell_limit_fills_when_the_bid_reaches_it():
    broker, sink = make_broker()
    placed = order(OrderType.LIMIT, side=Side.SELL, quantity=5, price="100.00")
    broker.submit(placed, INSTRUMENT, T0)
    book(broker, last=100.05, bids=[(99.95, 9)], asks=[(100.05, 9)], seconds=1)
    assert sink.fills() == []
    book(broker, last=100.05, bids=[(100.10, 2), (100.00, 9)], asks=[(100.15, 9)], seconds=2)
    assert sink.fills() == [(2, D("100.10")), (3, D("100.00"))]


def test_stops_trigger_on_the_last_traded_price_and_a_stop_market_then_takes_the_bids():
    broker, sink = make_broker()
    stop = order(OrderType.SL_M, side=Side.SELL, quantity=6, trigger="99.00")
    broker.submit(stop, INSTRUMENT, T0)

    book(broker, last=99.10, bids=[(98.90, 10)], asks=[(99.20, 10)], seconds=1)  # the bid is under; last is not
    assert sink.kinds(stop.order_id) == ["accepted"]
    book(broker, last=98.95, bids=[(98.90, 4), (98.85, 10)], asks=[(99.00, 10)], seconds=2)
    assert sink.kinds(stop.order_id) == ["accepted", "triggered", "fill", "fill"]
    assert sink.fills() == [(4, D("98.90")), (2, D("98.85"))]


def test_a_triggered_stop_limit_walks_only_to_its_price():
    broker, sink = make_broker()
    stop = order(OrderType.SL, side=Side.BUY, quantity=10, price="101.00", trigger="100.50")
    broker.submit(stop, INSTRUMENT, T0)
    book(broker, last=100.60, bids=[(100.55, 5)], asks=[(100.90, 4), (101.00, 2), (101.10, 20)], seconds=1)
    assert sink.fills() == [(4, D("100.90")), (2, D("101.00"))]
    assert broker.status()["resting_orders"] == 1


# -- participation ----------------------------------------------------------------------------------------------


def test_the_participation_cap_makes_a_share_of_each_level_available():
    broker, sink = make_broker(participation=0.5)
    book(broker, asks=[(100.05, 5), (100.10, 9), (100.20, 1)], volume=1_000_000)  # volume does not count
    placed = order(quantity=10)
    broker.submit(placed, INSTRUMENT, T0)
    # Half of 5 is 2 (rounded down), half of 9 is 4, half of 1 is 0: 6 of 10, the rest waits.
    assert sink.fills() == [(2, D("100.05")), (4, D("100.10"))]
    second = order(quantity=3)
    broker.submit(second, INSTRUMENT, T0)
    assert sink.fills(second.order_id) == []  # the share of this quote is taken
    book(broker, asks=[(100.05, 20)], seconds=1)
    assert sink.fills(placed.order_id)[2:] == [(4, D("100.05"))]
    assert sink.fills(second.order_id) == [(3, D("100.05"))]
    assert broker.status()["resting_orders"] == 0


# -- properties -------------------------------------------------------------------------------------------------


@st.composite
def books(draw: Any) -> tuple[float, list[tuple[float, int]], list[tuple[float, int]]]:
    middle = draw(st.integers(200, 4000))  # in ticks of 0.05
    ask_gaps = draw(st.lists(st.integers(1, 5), min_size=0, max_size=5))
    bid_gaps = draw(st.lists(st.integers(1, 5), min_size=0, max_size=5))
    asks, bids, price = [], [], middle
    for gap in ask_gaps:
        price += gap
        asks.append((round(price * 0.05, 2), draw(st.integers(0, 40))))
    price = middle
    for gap in bid_gaps:
        price -= gap
        bids.append((round(price * 0.05, 2), draw(st.integers(0, 40))))
    last = round((middle + draw(st.integers(-6, 6))) * 0.05, 2)
    return last, bids, asks


@settings(max_examples=150, deadline=None)
@given(
    quote=books(),
    orders=st.lists(st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.integers(1, 60),
                              st.sampled_from([OrderType.MARKET, OrderType.LIMIT]), st.integers(-8, 8),
                              st.sampled_from([Validity.DAY, Validity.IOC])), min_size=1, max_size=6),
    participation=st.one_of(st.none(), st.floats(0.05, 1.0)),
)
def test_any_orders_on_any_book_fill_within_the_book_and_their_limits(quote, orders, participation):
    last, bids, asks = quote
    broker, sink = make_broker(participation=participation)
    book(broker, last, bids, asks)
    placed = []
    for side, quantity, kind, offset, validity in orders:
        limit = f"{last + offset * 0.05:.2f}" if kind is OrderType.LIMIT else None
        if limit is not None and D(limit) <= 0:
            continue
        o = order(kind, side=side, quantity=quantity, price=limit, validity=validity)
        broker.submit(o, INSTRUMENT, T0)
        placed.append(o)

    taken: dict[tuple[Side, Decimal], int] = {}
    for o in placed:
        fills = sink.fills(o.order_id)
        assert sum(q for q, _ in fills) <= o.quantity
        prices = [p for _, p in fills]
        levels = asks if o.side is Side.BUY else bids
        assert all(p in {INSTRUMENT.round_price(lp) for lp, _ in levels} for p in prices)
        # Each order walks from the best price outwards, and a limit never fills beyond its price.
        assert prices == sorted(prices, reverse=o.side is Side.SELL)
        if o.price is not None:
            assert all(p <= o.price if o.side is Side.BUY else p >= o.price for p in prices)
        for q, p in fills:
            taken[(o.side, p)] = taken.get((o.side, p), 0) + q
        if o.validity is Validity.IOC:
            assert sink.kinds(o.order_id)[-1] in {"fill", "expired"}
    # Together the orders never take more than a level shows (its share, with a participation cap).
    for side, levels in ((Side.BUY, asks), (Side.SELL, bids)):
        for lp, size in levels:
            allowed = size if participation is None else int(size * participation)
            assert taken.get((side, INSTRUMENT.round_price(lp)), 0) <= allowed


@pytest.mark.parametrize("participation", [None, 0.3])
def test_a_market_order_fills_the_whole_book_it_can_reach_before_waiting(participation):
    broker, sink = make_broker(participation=participation)
    book(broker)
    broker.submit(order(side=Side.SELL, quantity=1000), INSTRUMENT, T0)
    share = [size if participation is None else int(size * participation) for _, size in BIDS]
    assert [q for q, _ in sink.fills()] == [s for s in share if s > 0]
