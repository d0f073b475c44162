"""MockBroker matching, driven directly with a recording sink: what it reports, at what price and when."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest

from oms_kit.broker.charges import charges
from oms_kit.broker.fees import IndiaEquityFees
from oms_kit.broker.mock import MockBroker
from oms_kit.errors import ConfigError
from oms_kit.market.bars import Bar
from oms_kit.models import Order, OrderId, OrderType, Product, Side, Validity
from oms_kit.tradable import Instrument
from tests.stubs import T0, make_order

D = Decimal
ZERO = Decimal(0)
INSTRUMENT = Instrument("RELIANCE")  # tick 0.05, lot 1
_ids = itertools.count(1)


class RecordingSink:
    """The broker's reports as tuples, in the order they arrived; it keeps no order state of its own."""

    def __init__(self) -> None:
        self.reports: list[tuple[Any, ...]] = []

    def on_accepted(self, order_id: str, ts: datetime) -> None:
        self.reports.append(("accepted", order_id, ts))

    def on_rejected(self, order_id: str, reason: str, ts: datetime) -> None:
        self.reports.append(("rejected", order_id, reason, ts))

    def on_triggered(self, order_id: str, ts: datetime) -> None:
        self.reports.append(("triggered", order_id, ts))

    def on_fill(self, order_id: str, quantity: int, price: Decimal, fees: Decimal, ts: datetime) -> None:
        self.reports.append(("fill", order_id, quantity, price, fees, ts))

    def on_modified(self, order_id: str, changes: dict[str, Any], ts: datetime) -> None:
        self.reports.append(("modified", order_id, changes, ts))

    def on_cancelled(self, order_id: str, reason: str, ts: datetime) -> None:
        self.reports.append(("cancelled", order_id, reason, ts))

    def on_expired(self, order_id: str, reason: str, ts: datetime) -> None:
        self.reports.append(("expired", order_id, reason, ts))

    def kinds(self, order_id: str | None = None) -> list[str]:
        return [r[0] for r in self.reports if order_id is None or r[1] == order_id]

    def fills(self, order_id: str | None = None) -> list[tuple[int, Decimal]]:
        return [(r[2], r[3]) for r in self.reports if r[0] == "fill" and (order_id is None or r[1] == order_id)]

    def fill_times(self) -> list[datetime]:
        return [r[5] for r in self.reports if r[0] == "fill"]


def make_broker(**options: Any) -> tuple[MockBroker, RecordingSink]:
    options.setdefault("fees", None)
    broker = MockBroker(**options)
    sink = RecordingSink()
    broker.attach(sink)
    return broker, sink


def order(order_type: OrderType = OrderType.MARKET, side: Side = Side.BUY, quantity: int = 10, *,
          price: str | None = None, trigger: str | None = None, validity: Validity = Validity.DAY,
          product: Product = Product.MIS) -> Order:
    return make_order(
        order_id=OrderId(f"O-{next(_ids)}"), side=side, quantity=quantity, order_type=order_type,
        price=D(price) if price is not None else None, trigger_price=D(trigger) if trigger is not None else None,
        validity=validity, product=product,
    )


def bar(broker: MockBroker, open: float, high: float, low: float, close: float, *, seconds: float = 60,
        volume: float | None = None) -> datetime:
    ts = T0 + timedelta(seconds=seconds)
    broker.on_bar(Bar(ts, "RELIANCE", open, high, low, close, math.nan if volume is None else volume))
    return ts


def quote(broker: MockBroker, price: float, *, seconds: float = 0) -> datetime:
    ts = T0 + timedelta(seconds=seconds)
    broker.on_bar(Bar(ts, "RELIANCE", price, price, price, price))
    return ts


# -- market orders ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("side", "expected"), [(Side.BUY, D("2502.50")), (Side.SELL, D("2497.50"))])
def test_market_order_fills_at_once_at_the_last_price_moved_against_the_trader_by_slippage(side, expected):
    broker, sink = make_broker(slippage_bps=10)
    quote(broker, 2500.0)
    placed = order(side=side)

    broker.submit(placed, INSTRUMENT, T0)

    assert sink.kinds() == ["accepted", "fill"]
    assert sink.fills() == [(10, expected)]
    assert broker.status()["resting_orders"] == 0


def test_market_order_without_slippage_fills_at_the_last_price_on_tick():
    broker, sink = make_broker()
    quote(broker, 2500.02)  # market data off tick: the fill is on the nearest tick

    broker.submit(order(), INSTRUMENT, T0)

    assert sink.fills() == [(10, D("2500.00"))]


def test_market_order_before_any_price_waits_and_fills_at_the_first_price():
    broker, sink = make_broker()
    placed = order()

    broker.submit(placed, INSTRUMENT, T0)
    assert sink.kinds() == ["accepted"]
    bar(broker, 2510.0, 2520.0, 2505.0, 2515.0)

    assert sink.fills() == [(10, D("2510.00"))]


def test_market_order_in_backtest_mode_waits_for_the_next_bar_open_plus_slippage():
    broker, sink = make_broker(slippage_bps=20, immediate_market_fills=False)
    quote(broker, 2500.0)  # the bar the order was placed on: no look-ahead into its close
    placed = order(side=Side.SELL)

    broker.submit(placed, INSTRUMENT, T0)
    assert sink.kinds() == ["accepted"]
    bar(broker, 2490.0, 2495.0, 2480.0, 2485.0)

    assert sink.fills() == [(10, D("2485.00"))]  # 2490 * (1 - 0.002) = 2485.02 -> tick 2485.00


# -- limit orders -----------------------------------------------------------------------------------------------


def test_limit_buy_below_the_market_rests_until_a_bar_low_reaches_it():
    broker, sink = make_broker()
    quote(broker, 2510.0)
    placed = order(OrderType.LIMIT, price="2500")

    broker.submit(placed, INSTRUMENT, T0)
    bar(broker, 2510.0, 2515.0, 2500.05, 2505.0, seconds=60)  # one tick short
    assert sink.kinds() == ["accepted"]
    assert broker.status()["resting_orders"] == 1

    bar(broker, 2505.0, 2506.0, 2499.0, 2501.0, seconds=120)

    assert sink.fills() == [(10, D("2500"))]  # opened above the limit: fills at the limit
    assert broker.status()["resting_orders"] == 0


def test_limit_buy_fills_at_the_open_when_the_bar_gaps_through_the_limit():
    broker, sink = make_broker()
    quote(broker, 2510.0)
    broker.submit(order(OrderType.LIMIT, price="2500"), INSTRUMENT, T0)

    bar(broker, 2480.0, 2490.0, 2470.0, 2485.0)

    assert sink.fills() == [(10, D("2480.00"))]


def test_limit_sell_fills_at_the_open_when_the_bar_gaps_up_through_the_limit():
    broker, sink = make_broker()
    quote(broker, 2490.0)
    broker.submit(order(OrderType.LIMIT, Side.SELL, price="2500"), INSTRUMENT, T0)

    bar(broker, 2498.0, 2499.95, 2490.0, 2495.0, seconds=60)  # high one tick short: rests
    bar(broker, 2520.0, 2530.0, 2515.0, 2525.0, seconds=120)

    assert sink.fills() == [(10, D("2520.00"))]


def test_marketable_limit_fills_at_once_at_the_better_of_last_price_and_limit():
    broker, sink = make_broker()
    quote(broker, 2495.0)

    broker.submit(order(OrderType.LIMIT, price="2500"), INSTRUMENT, T0)

    assert sink.fills() == [(10, D("2495.00"))]


# -- stop orders ------------------------------------------------------------------------------------------------


def test_sl_m_buy_waits_for_the_trigger_then_fills_at_the_trigger():
    broker, sink = make_broker()
    quote(broker, 2500.0)
    placed = order(OrderType.SL_M, trigger="2520")

    broker.submit(placed, INSTRUMENT, T0)
    bar(broker, 2500.0, 2519.95, 2495.0, 2510.0, seconds=60)
    assert sink.kinds() == ["accepted"]

    bar(broker, 2510.0, 2530.0, 2505.0, 2525.0, seconds=120)

    assert sink.kinds() == ["accepted", "triggered", "fill"]
    assert sink.fills() == [(10, D("2520"))]


def test_sl_m_sell_gapping_through_the_trigger_fills_at_the_open_with_slippage():
    broker, sink = make_broker(slippage_bps=10)
    quote(broker, 2500.0)
    broker.submit(order(OrderType.SL_M, Side.SELL, trigger="2480"), INSTRUMENT, T0)

    bar(broker, 2450.0, 2460.0, 2440.0, 2455.0)

    assert sink.kinds() == ["accepted", "triggered", "fill"]
    assert sink.fills() == [(10, D("2447.55"))]  # 2450 * 0.999


def test_sl_buy_triggers_then_acts_as_a_limit_at_its_price():
    broker, sink = make_broker()
    quote(broker, 2500.0)
    broker.submit(order(OrderType.SL, price="2525", trigger="2520"), INSTRUMENT, T0)

    bar(broker, 2505.0, 2530.0, 2500.0, 2528.0)

    assert sink.kinds() == ["accepted", "triggered", "fill"]
    assert sink.fills() == [(10, D("2520"))]  # from the trigger, within the limit


def test_sl_sell_that_gaps_below_its_limit_triggers_and_rests_until_the_limit_is_reached():
    broker, sink = make_broker()
    quote(broker, 2500.0)
    placed = order(OrderType.SL, Side.SELL, price="2475", trigger="2480")
    broker.submit(placed, INSTRUMENT, T0)

    bar(broker, 2450.0, 2460.0, 2440.0, 2455.0, seconds=60)
    assert sink.kinds() == ["accepted", "triggered"]
    assert broker.status()["resting_orders"] == 1

    bar(broker, 2470.0, 2490.0, 2465.0, 2485.0, seconds=120)

    assert sink.kinds() == ["accepted", "triggered", "fill"]
    assert sink.fills() == [(10, D("2475"))]


def test_triggered_stop_is_not_triggered_again_on_later_bars():
    broker, sink = make_broker(participation=0.1)
    quote(broker, 2500.0)
    broker.submit(order(OrderType.SL_M, trigger="2520"), INSTRUMENT, T0)

    bar(broker, 2510.0, 2525.0, 2505.0, 2522.0, seconds=60, volume=50)
    bar(broker, 2522.0, 2530.0, 2515.0, 2528.0, seconds=120, volume=50)

    assert sink.kinds() == ["accepted", "triggered", "fill", "fill"]
    assert sink.fills() == [(5, D("2520")), (5, D("2522.00"))]  # the second bar fills from its open


# -- validity ---------------------------------------------------------------------------------------------------


def test_ioc_limit_that_cannot_match_expires_at_once():
    broker, sink = make_broker()
    quote(broker, 2510.0)
    placed = order(OrderType.LIMIT, price="2500", validity=Validity.IOC)

    broker.submit(placed, INSTRUMENT, T0)
    bar(broker, 2490.0, 2495.0, 2480.0, 2490.0)

    assert sink.kinds() == ["accepted", "expired"]
    assert broker.status()["resting_orders"] == 0


def test_ioc_remainder_expires_after_a_partial_fill():
    broker, sink = make_broker(participation=0.1, immediate_market_fills=False)
    placed = order(quantity=25, validity=Validity.IOC)

    broker.submit(placed, INSTRUMENT, T0)
    bar(broker, 2500.0, 2505.0, 2495.0, 2502.0, seconds=60, volume=100)
    bar(broker, 2502.0, 2505.0, 2495.0, 2502.0, seconds=120, volume=100)

    assert sink.kinds() == ["accepted", "fill", "expired"]
    assert sink.fills() == [(10, D("2500.00"))]


def test_ioc_market_order_in_backtest_mode_gets_its_chance_at_the_next_bar_open():
    broker, sink = make_broker(immediate_market_fills=False)
    quote(broker, 2500.0)

    broker.submit(order(validity=Validity.IOC), INSTRUMENT, T0)
    assert sink.kinds() == ["accepted"]
    bar(broker, 2505.0, 2510.0, 2500.0, 2508.0)

    assert sink.kinds() == ["accepted", "fill"]
    assert sink.fills() == [(10, D("2505.00"))]


def test_ioc_with_latency_gets_its_chance_at_the_first_price_after_the_latency():
    broker, sink = make_broker(latency=2.0)
    quote(broker, 2500.0)

    broker.submit(order(OrderType.LIMIT, price="2500", validity=Validity.IOC), INSTRUMENT, T0)
    quote(broker, 2499.0, seconds=1)
    assert sink.kinds() == ["accepted"]
    quote(broker, 2498.0, seconds=2)

    assert sink.kinds() == ["accepted", "fill"]
    assert sink.fills() == [(10, D("2498.00"))]


def test_day_orders_expire_at_end_session_resting_and_trigger_pending_alike():
    broker, sink = make_broker()
    quote(broker, 2500.0)
    limit = order(OrderType.LIMIT, price="2400")
    stop = order(OrderType.SL_M, Side.SELL, trigger="2300")
    broker.submit(limit, INSTRUMENT, T0)
    broker.submit(stop, INSTRUMENT, T0)
    close = T0 + timedelta(hours=6)

    broker.end_session(close)
    quote(broker, 2200.0, seconds=6 * 3600 + 60)  # would have filled both

    assert [r for r in sink.reports if r[0] == "expired"] == [
        ("expired", limit.order_id, "DAY order expired at the end of the session", close),
        ("expired", stop.order_id, "DAY order expired at the end of the session", close),
    ]
    assert sink.fills() == []
    assert broker.status()["resting_orders"] == 0


def test_ioc_that_has_had_no_price_yet_expires_at_end_session():
    broker, sink = make_broker(immediate_market_fills=False)
    placed = order(validity=Validity.IOC)
    broker.submit(placed, INSTRUMENT, T0)
    close = T0 + timedelta(hours=6)

    broker.end_session(close)

    assert sink.reports[-1] == ("expired", placed.order_id, "IOC order expired at the end of the session", close)
    assert broker.status()["resting_orders"] == 0


# -- participation, latency -------------------------------------------------------------------------------------


def test_participation_caps_each_bar_and_the_rest_fills_on_later_bars():
    broker, sink = make_broker(participation=0.1, immediate_market_fills=False)
    placed = order(quantity=25)

    broker.submit(placed, INSTRUMENT, T0)
    bar(broker, 2500.0, 2505.0, 2495.0, 2502.0, seconds=60, volume=100)
    bar(broker, 2502.0, 2506.0, 2500.0, 2504.0, seconds=120, volume=5)  # 0.5 units: nothing this bar
    bar(broker, 2504.0, 2508.0, 2500.0, 2506.0, seconds=180, volume=100)
    bar(broker, 2506.0, 2510.0, 2500.0, 2508.0, seconds=240, volume=100)

    assert sink.fills() == [(10, D("2500.00")), (10, D("2504.00")), (5, D("2506.00"))]
    assert broker.status()["resting_orders"] == 0


def test_participation_is_ignored_when_the_bar_has_no_volume():
    broker, sink = make_broker(participation=0.1, immediate_market_fills=False)
    broker.submit(order(quantity=25), INSTRUMENT, T0)

    bar(broker, 2500.0, 2505.0, 2495.0, 2502.0, volume=float("nan"))

    assert sink.fills() == [(25, D("2500.00"))]


def test_latency_delays_the_first_match_until_placement_plus_latency():
    broker, sink = make_broker(latency=1.5)
    quote(broker, 2500.0)

    broker.submit(order(), INSTRUMENT, T0)
    quote(broker, 2501.0, seconds=1)
    assert sink.kinds() == ["accepted"]
    quote(broker, 2502.0, seconds=1.5)

    assert sink.fills() == [(10, D("2502.00"))]
    assert sink.fill_times() == [T0 + timedelta(seconds=1.5)]


# -- faults -----------------------------------------------------------------------------------------------------


def _outcomes(seed: int, **options: Any) -> tuple[list[str], list[str]]:
    broker, sink = make_broker(seed=seed, **options)
    quote(broker, 2500.0)
    placed = [order(OrderType.LIMIT, price="2400") for _ in range(40)]
    for p in placed:
        broker.submit(p, INSTRUMENT, T0)
    by_id = {p.order_id: i for i, p in enumerate(placed)}
    rejected = [f"#{by_id[r[1]]}" for r in sink.reports if r[0] == "rejected"]
    unacknowledged = [f"#{by_id[i]}" for i in broker.unacknowledged()]
    return rejected, unacknowledged


def test_reject_rate_is_deterministic_for_a_seed():
    first, _ = _outcomes(7, reject_rate=0.3)
    again, _ = _outcomes(7, reject_rate=0.3)
    other, _ = _outcomes(8, reject_rate=0.3)

    assert first == again
    assert 0 < len(first) < 40
    assert other != first


def test_rejected_order_is_not_booked_and_never_fills():
    broker, sink = make_broker(reject_rate=1.0)
    quote(broker, 2500.0)
    placed = order()

    broker.submit(placed, INSTRUMENT, T0)
    quote(broker, 2500.0, seconds=1)

    assert sink.reports == [("rejected", placed.order_id, "rejected by broker (simulated fault)", T0)]
    assert broker.status()["resting_orders"] == 0


def test_drop_ack_rate_is_deterministic_for_a_seed():
    _, first = _outcomes(11, drop_ack_rate=0.25)
    _, again = _outcomes(11, drop_ack_rate=0.25)
    _, other = _outcomes(12, drop_ack_rate=0.25)

    assert first == again
    assert 0 < len(first) < 40
    assert other != first


def test_dropped_acknowledgement_is_reported_and_booked_when_acknowledged():
    broker, sink = make_broker(drop_ack_rate=1.0)
    quote(broker, 2500.0)
    placed = order(OrderType.LIMIT, price="2490")
    broker.submit(placed, INSTRUMENT, T0)
    assert sink.reports == []
    assert broker.unacknowledged() == [placed.order_id]

    later = T0 + timedelta(seconds=5)
    assert broker.acknowledge(placed.order_id, later) is True
    assert broker.acknowledge(placed.order_id, later) is False
    quote(broker, 2490.0, seconds=10)

    assert sink.kinds() == ["accepted", "fill"]
    assert broker.unacknowledged() == []


# -- modify, cancel, fees ---------------------------------------------------------------------------------------


def test_modify_to_a_marketable_price_reports_the_change_and_fills_at_once():
    broker, sink = make_broker()
    quote(broker, 2510.0)
    placed = order(OrderType.LIMIT, price="2500")
    broker.submit(placed, INSTRUMENT, T0)

    broker.modify(placed, {"price": D("2510")}, T0 + timedelta(seconds=1))

    assert sink.kinds() == ["accepted", "modified", "fill"]
    assert sink.fills() == [(10, D("2510.00"))]


def test_modify_quantity_changes_what_remains_to_fill():
    broker, sink = make_broker()
    quote(broker, 2510.0)
    placed = order(OrderType.LIMIT, price="2500", quantity=10)
    broker.submit(placed, INSTRUMENT, T0)

    broker.modify(placed, {"quantity": 4}, T0 + timedelta(seconds=1))
    quote(broker, 2500.0, seconds=2)

    assert sink.fills() == [(4, D("2500"))]


def test_cancel_removes_the_order_from_the_book():
    broker, sink = make_broker()
    quote(broker, 2510.0)
    placed = order(OrderType.LIMIT, price="2500")
    broker.submit(placed, INSTRUMENT, T0)

    broker.cancel(placed, "user", T0 + timedelta(seconds=1))
    quote(broker, 2490.0, seconds=2)

    assert sink.kinds() == ["accepted", "cancelled"]
    assert broker.status()["resting_orders"] == 0


def test_fills_carry_fees_from_the_fee_model():
    broker, sink = make_broker(fees="india_equity")
    quote(broker, 2500.0)

    broker.submit(order(side=Side.SELL, quantity=10), INSTRUMENT, T0)

    expected = IndiaEquityFees().fees(Side.SELL, Product.MIS, 10, D("2500.00"))
    assert [r[4] for r in sink.reports if r[0] == "fill"] == [expected]
    assert expected > 0


def test_partial_fills_of_one_order_pay_the_brokerage_cap_once():
    # 0.03 % of each 25,000 fill is 7.50; the cap of 20 is per order, so the third fill pays only the 5.00 left.
    broker, sink = make_broker(fees="india_equity", participation=0.1, immediate_market_fills=False)
    broker.submit(order(quantity=30), INSTRUMENT, T0)
    for minute in (1, 2, 3):
        bar(broker, 2500.0, 2500.0, 2500.0, 2500.0, seconds=60 * minute, volume=100)

    model = IndiaEquityFees()
    price = D("2500.00")
    priors = [D("0"), D("25000.00"), D("50000.00")]
    assert [r[4] for r in sink.reports if r[0] == "fill"] == [
        model.fees(Side.BUY, Product.MIS, 10, price, prior_turnover=prior) for prior in priors
    ]
    brokerage = [model.breakdown(Side.BUY, Product.MIS, 10, price, prior_turnover=p)["brokerage"] for p in priors]
    assert brokerage == [D("7.50"), D("7.50"), D("5.00")]


# -- charges by trade date and segment (NseFees through the broker) -------------------------------------------

NIFTY_FUT = Instrument("NIFTY24DECFUT", exchange="NFO", lot_size=25, instrument_type="FUT", underlying="NIFTY",
                       expiry=date(2024, 12, 26), segment="NFO-FUT")
NIFTY_CALL = Instrument("NIFTY24DEC25000CE", exchange="NFO", lot_size=25, instrument_type="CE", underlying="NIFTY",
                        expiry=date(2024, 12, 26), strike=D("25000"), segment="NFO-OPT")
IST_NOON = time(6, 30)  # 12:00 in India, in UTC


def fill_on(broker: MockBroker, sink: RecordingSink, instrument: Instrument, price: float, ts: datetime, *,
            side: Side = Side.SELL, quantity: int = 25, product: Product = Product.NRML) -> Decimal:
    """One market order on ``instrument`` filled at ``price`` at ``ts``; the fees the broker reported for it."""
    broker.on_bar(Bar(ts, instrument.symbol, price, price, price, price))
    placed = make_order(order_id=OrderId(f"O-{next(_ids)}"), symbol=instrument.symbol, side=side, quantity=quantity,
                        order_type=OrderType.MARKET, price=None, product=product)
    broker.submit(placed, instrument, ts)
    (report,) = [r for r in sink.reports if r[0] == "fill" and r[1] == placed.order_id]
    return report[4]


@pytest.mark.parametrize("day", [date(2024, 9, 30), date(2024, 10, 1), date(2026, 4, 1)])
@pytest.mark.parametrize(("instrument", "price", "segment"), [(NIFTY_FUT, 25000.0, "futures"),
                                                              (NIFTY_CALL, 212.5, "options")])
def test_a_derivative_fill_pays_its_segments_rates_of_its_trade_date(day, instrument, price, segment):
    broker, sink = make_broker(fees="nse")

    fees = fill_on(broker, sink, instrument, price, datetime.combine(day, IST_NOON, tzinfo=UTC))

    # An option's charges are on its premium: 25 x 212.50; a future's on 25 x 25,000.
    expected = charges(segment, "SELL", 25, D(str(price)), day)
    assert fees == sum(expected.values())
    assert fees != sum(charges("equity_intraday", "SELL", 25, D(str(price)), day).values())


def test_fo_sells_cost_more_from_1_october_2024_at_the_new_stt_and_exchange_rates():
    broker, sink = make_broker(fees="nse")
    before = fill_on(broker, sink, NIFTY_CALL, 200.0, datetime(2024, 9, 30, 6, 30, tzinfo=UTC), quantity=5000)
    after = fill_on(broker, sink, NIFTY_CALL, 200.0, datetime(2024, 10, 1, 6, 30, tzinfo=UTC), quantity=5000)

    # Premium of 10 lakh: STT 0.0625 % -> 0.1 % (+375.00), exchange 0.0495 % -> 0.03503 % (-144.70): +230.30, the
    # Rs 2,303 per crore of the broker's announcement; GST falls with the exchange charge (-26.05).
    old = charges("options", "SELL", 5000, D("200"), date(2024, 9, 30))
    new = charges("options", "SELL", 5000, D("200"), date(2024, 10, 1))
    assert (old["stt"], new["stt"]) == (D("625.00"), D("1000.00"))
    assert (old["exchange_transaction_charge"], new["exchange_transaction_charge"]) == (D("495.00"), D("350.30"))
    assert after - before == sum(new.values()) - sum(old.values()) == D("204.25")


def test_the_trade_date_is_indias_a_fill_after_1830_utc_is_the_next_days():
    broker, sink = make_broker(fees="nse")
    # 30 Sep 2024 18:45 UTC is 1 Oct 00:15 in India: the new rates.
    fees = fill_on(broker, sink, NIFTY_FUT, 25000.0, datetime(2024, 9, 30, 18, 45, tzinfo=UTC))

    assert fees == sum(charges("futures", "SELL", 25, D("25000"), date(2024, 10, 1)).values())


@pytest.mark.parametrize(("product", "segment"), [(Product.CNC, "equity_delivery"), (Product.MIS, "equity_intraday"),
                                                  (Product.NRML, "equity_intraday")])
def test_an_equity_fill_is_delivery_under_cnc_and_intraday_under_mis_and_nrml(product, segment):
    broker, sink = make_broker(fees="nse")
    day = date(2025, 6, 2)

    fees = fill_on(broker, sink, INSTRUMENT, 2500.0, datetime.combine(day, IST_NOON, tzinfo=UTC), side=Side.BUY,
                   quantity=10, product=product)

    assert fees == sum(charges(segment, "BUY", 10, D("2500"), day).values())


def test_a_fill_the_fee_model_refuses_leaves_the_order_as_it_was():
    broker, sink = make_broker(fees="nse")
    ts = datetime(2023, 6, 1, 6, 30, tzinfo=UTC)  # before the rate table begins
    broker.on_bar(Bar(ts, "RELIANCE", 2500.0, 2500.0, 2500.0, 2500.0))
    placed = order(quantity=10)

    with pytest.raises(ConfigError, match="invalid trade_date"):
        broker.submit(placed, INSTRUMENT, ts)
    assert sink.kinds() == ["accepted"]
    assert (broker.fills, broker.status()["resting_orders"], broker._find(placed.order_id).remaining) == (0, 1, 10)


class OldStyleFees:
    """A fee model written before trade_date and instrument: it would fail on keywords it does not take."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def fees(self, side, product, quantity, price, *, prior_turnover=ZERO):
        self.calls.append((side, product, quantity, price, prior_turnover))
        return D("1.25")

    def breakdown(self, side, product, quantity, price, *, prior_turnover=ZERO):
        return {"flat": D("1.25")}


class ContextFees(OldStyleFees):
    """A model of the newer shape: it takes whatever context it is given."""

    def fees(self, side, product, quantity, price, *, prior_turnover=ZERO, **context):
        self.calls.append((side, product, quantity, price, prior_turnover, context))
        return D("2.50")


def test_a_fee_model_of_the_older_shape_is_called_as_before():
    model = OldStyleFees()
    broker, sink = make_broker(fees=model)

    fees = fill_on(broker, sink, NIFTY_FUT, 25000.0, T0)

    assert fees == D("1.25")
    assert model.calls == [(Side.SELL, Product.NRML, 25, D("25000.00"), ZERO)]


def test_a_fee_model_taking_keywords_gets_the_trade_date_and_the_instrument():
    model = ContextFees()
    broker, sink = make_broker(fees=model)

    fill_on(broker, sink, NIFTY_CALL, 100.0, datetime(2025, 6, 2, 20, 0, tzinfo=UTC))

    assert model.calls[0][5] == {"trade_date": date(2025, 6, 3), "instrument": NIFTY_CALL}


def test_which_keywords_a_fee_model_takes_is_read_once_not_per_fill(monkeypatch):
    import oms_kit.broker.fees as fees_module

    reads = []
    signature = fees_module.inspect.signature
    monkeypatch.setattr(fees_module.inspect, "signature", lambda f: reads.append(f) or signature(f))
    broker, sink = make_broker(fees="nse")
    for minute in range(3):
        fill_on(broker, sink, NIFTY_FUT, 25000.0, T0 + timedelta(minutes=minute))

    assert len(reads) == 1
    assert broker.fills == 3


def test_broker_without_a_sink_says_it_is_not_attached():
    broker = MockBroker()

    with pytest.raises(RuntimeError, match="not attached"):
        broker.submit(order(), INSTRUMENT, T0)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("slippage_bps", -1),
        ("slippage_bps", float("nan")),
        ("slippage_bps", "5"),
        ("latency", float("inf")),
        ("participation", 0),
        ("participation", 1.5),
        ("reject_rate", 2),
        ("drop_ack_rate", True),
        ("fees", "zerodha_pro"),
    ],
)
def test_a_bad_setting_is_refused_with_a_config_error_naming_it(setting, value):
    with pytest.raises(ConfigError) as caught:
        MockBroker(**{setting: value})
    assert caught.value.field == setting and caught.value.value is value
    assert isinstance(caught.value, ValueError)


def test_the_edges_of_each_setting_are_allowed():
    broker = MockBroker(slippage_bps=0, latency=0, participation=1, reject_rate=1.0, drop_ack_rate=0)
    assert broker.participation == 1 and broker.reject_rate == 1.0
