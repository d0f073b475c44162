"""Pre-trade checks: a pass, a fail and the boundary of every rule, all violations together, the dry run, laziness,
and properties on any order and account. The rules are specified here, against a context of plain fields;
tests/test_oms.py keeps one case per concern of the OMS that feeds them."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms_kit.check import CheckResult
from oms_kit.checks import (
    CHECKS,
    VIOLATION_CODES,
    check_contract_expired,
    check_daily_loss,
    check_gross_exposure,
    check_market_hours,
    check_open_orders,
    check_order_quantity,
    check_order_rate,
    check_order_value,
    check_position_quantity,
    check_position_value,
    check_possible_duplicate,
    check_price_collar,
    check_product,
    check_reduce_only,
)
from oms_kit.errors import ConfigError
from oms_kit.models import OrderType, Product, Side, TradingState, Violation
from oms_kit.parsing import MAX_PRICE, MAX_QUANTITY
from oms_kit.risk import RiskLimits
from oms_kit.session import NSE_SESSION, ExchangeSession
from oms_kit.tradable import Instrument
from oms_kit.validator import PreTradeValidator
from tests.stubs import T0, make_order

D = Decimal
NOW = T0  # 09:15 UTC on a Monday: 14:45 in Mumbai
VALIDATOR = PreTradeValidator()
LAST_PRICE, ZERO, FUNDS = D("2500.00"), D(0), D("10000000")
NO_LIMITS = RiskLimits(max_order_quantity=None, max_order_value=None, max_open_orders=None,
                       max_orders_per_second=None, price_collar_pct=None, duplicate_window_s=None)


@dataclass
class FakeContext:
    """The account as plain fields: the edge of the unit."""

    limits: RiskLimits = field(default_factory=RiskLimits)
    instrument: Instrument | None = field(default_factory=lambda: Instrument("RELIANCE"))
    trading_state: TradingState = TradingState.ACTIVE
    now: datetime = NOW
    session: ExchangeSession = NSE_SESSION
    last_price: Decimal | None = LAST_PRICE
    position_quantity: int = 0
    working_buy_quantity: int = 0
    working_sell_quantity: int = 0
    open_order_count: int = 0
    recent_order_times: Sequence[datetime] = ()
    similar_order_time: datetime | None = None
    client_order_ids: frozenset[str] = frozenset()
    gross_exposure: Decimal = ZERO
    day_pnl: Decimal = ZERO
    available_funds: Decimal = FUNDS
    product_positions: dict[Product, int] | None = None  # None: every product holds position_quantity

    def last_similar_order_time(self, symbol: str, side: str, quantity: int, price: Decimal | None) -> datetime | None:
        return self.similar_order_time

    def client_order_id_exists(self, client_order_id: str) -> bool:
        return client_order_id in self.client_order_ids

    def product_position_quantity(self, product: Product) -> int:
        if self.product_positions is None:
            return self.position_quantity
        return self.product_positions.get(product, 0)


def ctx(**overrides: Any) -> FakeContext:
    limits = overrides.pop("limits", {})
    return FakeContext(limits=RiskLimits(**limits), **overrides)


def codes(order: Any = None, context: Any = None) -> list[str]:
    return [v.code for v in VALIDATOR.validate(order or make_order(), context or ctx())]


def only(code: str, order: Any = None, context: Any = None) -> Violation:
    """The one violation with ``code``, failing the test when it is absent or doubled."""
    found = [v for v in VALIDATOR.validate(order or make_order(), context or ctx()) if v.code == code]
    assert len(found) == 1, found
    return found[0]


def test_order_within_every_default_limit_passes_with_no_violations():
    assert VALIDATOR.validate(make_order(), ctx()) == []


# --- trading state and reduce-only ---


def test_halted_trading_state_rejects_with_trading_halted():
    violation = only("TRADING_HALTED", context=ctx(trading_state=TradingState.HALTED))
    assert violation.value == "HALTED"


def test_active_and_reducing_states_do_not_report_trading_halted():
    assert codes(context=ctx(trading_state=TradingState.ACTIVE)) == []
    reducing = ctx(trading_state=TradingState.REDUCING, position_quantity=100)
    assert "TRADING_HALTED" not in codes(make_order(side=Side.BUY), reducing)


def test_reducing_state_admits_an_order_that_shrinks_the_position_or_closes_it_exactly():
    context = ctx(trading_state=TradingState.REDUCING, position_quantity=100)
    assert codes(make_order(side=Side.SELL, quantity=60), context) == []
    assert codes(make_order(side=Side.SELL, quantity=100), context) == []


def test_reducing_state_rejects_an_order_from_a_flat_position_with_trading_state_reducing():
    assert codes(context=ctx(trading_state=TradingState.REDUCING)) == ["TRADING_STATE_REDUCING"]


def test_reducing_state_rejects_an_order_that_adds_to_the_position_with_reduce_only_would_increase_position():
    context = ctx(trading_state=TradingState.REDUCING, position_quantity=100)
    violation = only("REDUCE_ONLY_WOULD_INCREASE_POSITION", make_order(side=Side.BUY, quantity=10), context)
    assert (violation.value, violation.limit) == (10, 0)


def test_reducing_state_rejects_an_order_that_would_flip_the_position_through_zero():
    context = ctx(trading_state=TradingState.REDUCING, position_quantity=-100)
    violation = only("REDUCE_ONLY_WOULD_INCREASE_POSITION", make_order(side=Side.BUY, quantity=150), context)
    assert (violation.value, violation.limit) == (150, 100)


def test_reducing_state_counts_working_orders_on_the_order_side_so_two_reducing_orders_cannot_flip():
    context = ctx(trading_state=TradingState.REDUCING, position_quantity=100, working_sell_quantity=60)
    assert codes(make_order(side=Side.SELL, quantity=40), context) == []
    assert codes(make_order(side=Side.SELL, quantity=60), context) == ["REDUCE_ONLY_WOULD_INCREASE_POSITION"]


def test_reducing_state_reads_the_position_of_the_order_product_only():
    # Brokers keep a position per product: a MIS position is not closed by a CNC order.
    context = ctx(trading_state=TradingState.REDUCING, position_quantity=100, product_positions={Product.MIS: 100})
    assert codes(make_order(side=Side.SELL, quantity=10, product=Product.MIS), context) == []
    assert codes(make_order(side=Side.SELL, quantity=10, product=Product.CNC), context) == ["TRADING_STATE_REDUCING"]


def test_reducing_state_ignores_working_orders_on_the_other_side():
    context = ctx(trading_state=TradingState.REDUCING, position_quantity=100, working_buy_quantity=500)
    assert codes(make_order(side=Side.SELL, quantity=100), context) == []


# --- instrument, market hours, tick, lot ---


def test_unknown_instrument_is_rejected_with_instrument_not_found_and_tick_and_lot_checks_are_skipped():
    order = make_order(price=D("2500.03"), quantity=7)
    assert codes(order, ctx(instrument=None)) == ["INSTRUMENT_NOT_FOUND"]


def test_known_instrument_passes_and_its_tick_and_lot_are_checked():
    order = make_order(price=D("2500.03"), quantity=7)
    assert codes(order, ctx(instrument=Instrument("NIFTY", lot_size=5))) == ["PRICE_NOT_ON_TICK",
                                                                             "QUANTITY_NOT_LOT_MULTIPLE"]


def test_order_inside_session_hours_passes():
    limits = {"session_start": time(9, 15), "session_end": time(15, 30)}
    assert codes(context=ctx(limits=limits)) == []  # 09:15 UTC is 14:45 in Mumbai


def test_order_after_session_end_in_exchange_time_is_rejected_with_market_closed():
    limits = {"session_start": time(9, 15), "session_end": time(15, 30)}
    violation = only("MARKET_CLOSED", context=ctx(limits=limits, now=NOW.replace(hour=10, minute=0)))
    assert violation.value == "15:30:00"  # 10:00 UTC; the end is exclusive
    assert violation.limit == "09:15:00-15:30:00"


def test_session_start_is_inclusive():
    limits = {"session_start": time(9, 15), "session_end": time(15, 30)}
    opening = datetime(2026, 1, 5, 3, 45, tzinfo=UTC)  # 09:15 in Mumbai
    assert codes(context=ctx(limits=limits, now=opening)) == []
    violation = only("MARKET_CLOSED", context=ctx(limits=limits, now=opening - timedelta(seconds=1)))
    assert violation.value == "09:14:59"


def test_market_hours_check_is_off_while_either_session_bound_is_none():
    late = NOW.replace(hour=12)
    assert codes(context=ctx(limits={"session_start": time(9, 15)}, now=late)) == []
    assert codes(context=ctx(limits={"session_end": time(15, 30)}, now=late)) == []


def test_naive_clock_time_is_taken_as_utc():
    limits = {"session_start": time(9, 15), "session_end": time(15, 30)}
    assert codes(context=ctx(limits=limits, now=NOW.replace(tzinfo=None))) == []
    assert codes(context=ctx(limits=limits, now=datetime(2026, 1, 5, 3, 0))) == ["MARKET_CLOSED"]  # 08:30 IST


def test_overnight_session_is_open_across_midnight():
    limits = {"session_start": time(18, 0), "session_end": time(2, 0)}
    assert codes(context=ctx(limits=limits, now=NOW.replace(hour=18))) == []  # 23:30 IST
    assert codes(context=ctx(limits=limits, now=NOW)) == ["MARKET_CLOSED"]  # 14:45 IST


def test_session_hours_are_local_times_of_the_accounts_exchange():
    new_york = ExchangeSession.of("America/New_York")
    context = ctx(limits={"session_start": time(9, 30), "session_end": time(16, 0)}, session=new_york)
    assert codes(context=context) == ["MARKET_CLOSED"]  # 04:15 in New York
    context.now = NOW.replace(hour=15)
    assert codes(context=context) == []


# --- futures and options: expiry and products -------------------------------------------------------------------

IST_ZONE = timezone(timedelta(hours=5, minutes=30))
FUTURE = Instrument("NIFTY26JANFUT", exchange="NFO", lot_size=65, freeze_quantity=1800, instrument_type="FUT",
                    underlying="NIFTY", expiry=date(2026, 1, 27), segment="NFO-FUT")
CALL = Instrument("NIFTY26JAN25800CE", exchange="NFO", lot_size=65, freeze_quantity=1800, instrument_type="CE",
                  underlying="NIFTY", expiry=date(2026, 1, 27), strike=D(25800), segment="NFO-OPT")
# The two rules alone: a contract's margin is another check's business, with a context of its own.
CONTRACT_RULES = PreTradeValidator([check_contract_expired, check_product])


def contract_codes(order: Any, context: Any) -> list[str]:
    return [v.code for v in CONTRACT_RULES.validate(order, context)]


def fno_order(instrument: Instrument, **overrides: Any) -> Any:
    return make_order(symbol=instrument.symbol, quantity=instrument.lot_size, price=D("120.05"), **overrides)


def test_an_order_for_a_contract_is_taken_until_1530_ist_on_its_expiry_day_and_refused_from_then():
    just_before = datetime(2026, 1, 27, 15, 29, 59, tzinfo=IST_ZONE)
    for instrument in (FUTURE, CALL):
        nrml = fno_order(instrument, product=Product.NRML)
        assert contract_codes(nrml, ctx(instrument=instrument, now=just_before)) == []
        [refused] = CONTRACT_RULES.validate(fno_order(instrument, product=Product.NRML, side=Side.SELL),
                                            ctx(instrument=instrument, now=just_before + timedelta(seconds=1)))
        assert refused.code == "CONTRACT_EXPIRED"
        assert refused.limit == "2026-01-27T15:30:00+05:30" and refused.value == "2026-01-27T15:30:00+05:30"
        assert "Tue 27 Jan 2026 15:30 IST" in refused.message
    # A naive clock time is UTC: 10:00 UTC is 15:30 IST.
    naive = ctx(instrument=FUTURE, now=datetime(2026, 1, 27, 10, 0))
    assert contract_codes(fno_order(FUTURE, product=Product.NRML), naive) == ["CONTRACT_EXPIRED"]
    naive.now = datetime(2026, 1, 27, 9, 59, 59)
    assert contract_codes(fno_order(FUTURE, product=Product.NRML), naive) == []


def test_cnc_is_refused_for_futures_and_options_with_product_not_allowed_and_equity_takes_every_product():
    for instrument in (FUTURE, CALL):
        [violation] = CONTRACT_RULES.validate(fno_order(instrument, product=Product.CNC), ctx(instrument=instrument))
        assert violation.code == "PRODUCT_NOT_ALLOWED"
        assert (violation.limit, violation.value) == ("MIS or NRML", "CNC") and instrument.symbol in violation.message
        for product in (Product.MIS, Product.NRML):
            assert contract_codes(fno_order(instrument, product=product), ctx(instrument=instrument)) == []
    for product in Product:
        assert contract_codes(make_order(product=product), ctx()) == []
        assert "PRODUCT_NOT_ALLOWED" not in codes(make_order(product=product))


def test_the_contract_checks_skip_cash_equity_and_unknown_instruments_in_the_dry_run():
    for context in (ctx(), ctx(instrument=None)):
        results = {r.name: r for r in VALIDATOR.explain(make_order(), context)}
        assert results["contract_expired"].skipped and results["product"].skipped
    results = {r.name: r for r in CONTRACT_RULES.explain(fno_order(CALL, product=Product.NRML), ctx(instrument=CALL))}
    assert results["contract_expired"].passed and not results["contract_expired"].skipped
    assert results["product"].message == "product NRML is allowed (MIS or NRML)"


def test_price_off_tick_is_rejected_with_price_not_on_tick_and_not_rounded():
    order = make_order(price=D("2500.03"))
    violation = only("PRICE_NOT_ON_TICK", order)
    assert (violation.value, violation.limit) == (D("2500.03"), D("0.05"))
    assert order.price == D("2500.03")


def test_trigger_price_off_tick_is_rejected_with_price_not_on_tick():
    order = make_order(order_type=OrderType.SL, price=D("2500.05"), trigger_price=D("2499.99"))
    assert only("PRICE_NOT_ON_TICK", order).message == "trigger price 2499.99 is not a multiple of the tick size 0.05"


def test_prices_on_tick_pass():
    assert codes(make_order(order_type=OrderType.SL, price=D("2500.05"), trigger_price=D("2499.95"))) == []


def test_quantity_not_a_lot_multiple_is_rejected_with_quantity_not_lot_multiple():
    violation = only("QUANTITY_NOT_LOT_MULTIPLE", make_order(quantity=70), ctx(instrument=Instrument("NIFTY",
                                                                                                     lot_size=75)))
    assert (violation.value, violation.limit) == (70, 75)


def test_quantity_a_lot_multiple_passes():
    assert codes(make_order(quantity=150), ctx(instrument=Instrument("NIFTY", lot_size=75))) == []


# --- order size ---


def test_quantity_at_the_maximum_passes():
    assert codes(make_order(quantity=100), ctx(limits={"max_order_quantity": 100})) == []


def test_quantity_above_the_maximum_is_rejected_with_quantity_exceeds_maximum():
    violation = only("QUANTITY_EXCEEDS_MAXIMUM", make_order(quantity=101), ctx(limits={"max_order_quantity": 100}))
    assert violation.message == "quantity 101 exceeds the maximum order quantity 100"
    assert (violation.value, violation.limit) == (101, 100)


def test_quantity_above_the_freeze_quantity_reports_the_smaller_limit_exceeded():
    context = ctx(limits={"max_order_quantity": 1000}, instrument=Instrument("RELIANCE", freeze_quantity=500))
    violation = only("QUANTITY_EXCEEDS_MAXIMUM", make_order(quantity=1200), context)
    assert violation.limit == 500
    assert "freeze quantity" in violation.message
    assert codes(make_order(quantity=500), context) == []


def test_order_value_above_maximum_is_rejected_with_notional_exceeds_maximum():
    order = make_order(quantity=50, price=D("2500.00"))
    violation = only("NOTIONAL_EXCEEDS_MAXIMUM", order, ctx(limits={"max_order_value": 100_000}))
    assert violation.message == "order value 125000.00 exceeds the maximum 100000.00"
    assert (violation.value, violation.limit) == (D("125000.00"), D(100_000))


def test_order_value_at_maximum_passes():
    assert codes(make_order(quantity=40, price=D("2500.00")), ctx(limits={"max_order_value": 100_000})) == []


@pytest.mark.parametrize(
    ("order_type", "price", "trigger_price", "value"),
    [
        (OrderType.LIMIT, D("2500.00"), None, D("125000.00")),
        (OrderType.SL, D("2600.00"), D("2550.00"), D("130000.00")),  # the limit price
        (OrderType.SL_M, None, D("2550.00"), D("127500.00")),  # the trigger
        (OrderType.MARKET, None, None, D("120000.00")),  # the last price, 2400
    ],
)
def test_order_value_uses_the_reference_price_of_the_order_type(order_type, price, trigger_price, value):
    order = make_order(order_type=order_type, price=price, trigger_price=trigger_price, quantity=50)
    context = ctx(limits={"max_order_value": 100_000, "price_collar_pct": None}, last_price=D("2400.00"))
    assert only("NOTIONAL_EXCEEDS_MAXIMUM", order, context).value == value


def test_limit_price_outside_collar_is_rejected_with_price_outside_collar():
    violation = only("PRICE_OUTSIDE_COLLAR", make_order(price=D("2800.00")))  # 12 % above 2500, collar 10 %
    assert (violation.value, violation.limit) == (D("300.00"), D("250.0000"))
    assert "12.00%" in violation.message


def test_trigger_price_outside_collar_is_rejected_with_price_outside_collar():
    order = make_order(order_type=OrderType.SL_M, price=None, trigger_price=D("2200.00"))
    assert "trigger price 2200.00" in only("PRICE_OUTSIDE_COLLAR", order).message


def test_limit_price_at_the_collar_edge_passes_and_a_tick_beyond_it_is_rejected():
    assert codes(make_order(price=D("2750.00"))) == []  # 10 % of 2500: 250.00
    assert codes(make_order(side=Side.SELL, price=D("2250.00"))) == []
    assert only("PRICE_OUTSIDE_COLLAR", make_order(price=D("2750.05"))).value == D("250.05")


def test_price_collar_is_skipped_without_a_last_price():
    assert codes(make_order(price=D("9000.00")), ctx(last_price=None)) == []


def test_market_order_without_a_last_price_is_rejected_with_no_reference_price():
    assert codes(make_order(order_type=OrderType.MARKET, price=None), ctx(last_price=None)) == ["NO_REFERENCE_PRICE"]


def test_market_order_with_a_last_price_passes():
    assert codes(make_order(order_type=OrderType.MARKET, price=None)) == []


# --- duplicates, rate, open orders ---


def test_client_order_id_of_another_order_is_rejected_with_duplicate_client_order_id():
    violation = only("DUPLICATE_CLIENT_ORDER_ID", context=ctx(client_order_ids=frozenset({"C-1"})))
    assert violation.value == "C-1"


def test_new_client_order_id_passes():
    assert codes(context=ctx(client_order_ids=frozenset({"C-0"}))) == []


def test_same_order_within_the_duplicate_window_is_rejected_with_possible_duplicate():
    violation = only("POSSIBLE_DUPLICATE", context=ctx(similar_order_time=NOW - timedelta(seconds=0.25)))
    assert (violation.value, violation.limit) == (0.25, 1.0)


def test_same_order_after_the_duplicate_window_passes():
    assert codes(context=ctx(similar_order_time=NOW - timedelta(seconds=1))) == []


def test_same_order_just_inside_the_duplicate_window_is_rejected():
    # Strictly inside: a strategy on 1-second bars may repeat an order every bar, but not sooner.
    context = ctx(limits={"duplicate_window_s": 2.0}, similar_order_time=NOW - timedelta(seconds=1.999))
    assert only("POSSIBLE_DUPLICATE", context=context).value == pytest.approx(1.999)


def test_order_above_the_rate_limit_is_rejected_with_rate_limit_exceeded():
    times = [NOW - timedelta(milliseconds=ms) for ms in (900, 500, 0)]
    violation = only("RATE_LIMIT_EXCEEDED", context=ctx(limits={"max_orders_per_second": 3}, recent_order_times=times))
    assert (violation.value, violation.limit) == (4, 3)


def test_orders_older_than_one_second_do_not_count_toward_the_rate_limit():
    times = [NOW - timedelta(seconds=s) for s in (5, 2, 1)] + [NOW - timedelta(milliseconds=10)] * 2
    assert codes(context=ctx(limits={"max_orders_per_second": 3}, recent_order_times=times)) == []


def test_order_above_max_open_orders_is_rejected_with_max_open_orders():
    violation = only("MAX_OPEN_ORDERS", context=ctx(limits={"max_open_orders": 5}, open_order_count=5))
    assert (violation.value, violation.limit) == (6, 5)


def test_order_reaching_max_open_orders_passes():
    assert codes(context=ctx(limits={"max_open_orders": 5}, open_order_count=4)) == []


# --- position, exposure, funds, daily loss ---


def test_position_above_maximum_quantity_with_working_orders_is_rejected_with_position_limit_exceeded():
    context = ctx(limits={"max_position_quantity": 100}, position_quantity=60, working_buy_quantity=30)
    violation = only("POSITION_LIMIT_EXCEEDED", make_order(quantity=20), context)
    assert (violation.value, violation.limit) == (110, 100)


def test_position_within_maximum_quantity_passes():
    assert codes(make_order(quantity=10), ctx(limits={"max_position_quantity": 100}, position_quantity=60,
                                              working_buy_quantity=30)) == []


def test_reducing_order_passes_the_position_limit_when_the_position_is_already_above_it():
    context = ctx(limits={"max_position_quantity": 50, "max_position_value": 1000}, position_quantity=200)
    assert codes(make_order(side=Side.SELL, quantity=100), context) == []


def test_short_position_above_maximum_quantity_is_rejected():
    context = ctx(limits={"max_position_quantity": 100}, position_quantity=-95)
    assert only("POSITION_LIMIT_EXCEEDED", make_order(side=Side.SELL, quantity=10), context).value == 105


def test_position_above_maximum_value_is_rejected_with_position_limit_exceeded():
    context = ctx(limits={"max_position_value": 200_000}, position_quantity=75)
    violation = only("POSITION_LIMIT_EXCEEDED", make_order(quantity=10, price=D("2500.00")), context)
    assert (violation.value, violation.limit) == (D("212500.00"), D(200_000))


def test_position_within_maximum_value_passes():
    context = ctx(limits={"max_position_value": 200_000}, position_quantity=70)
    assert codes(make_order(quantity=10, price=D("2500.00")), context) == []


def test_gross_exposure_above_maximum_is_rejected_with_gross_exposure_exceeded():
    context = ctx(limits={"max_gross_exposure": 1_000_000}, gross_exposure=D("990000"))
    violation = only("GROSS_EXPOSURE_EXCEEDED", make_order(quantity=10, price=D("2500.00")), context)
    assert (violation.value, violation.limit) == (D("1015000.00"), D(1_000_000))


def test_gross_exposure_within_maximum_passes_and_reducing_orders_are_not_counted():
    context = ctx(limits={"max_gross_exposure": 1_000_000}, gross_exposure=D("990000"), position_quantity=100)
    assert codes(make_order(quantity=4, price=D("2500.00")), context) == []
    assert codes(make_order(side=Side.SELL, quantity=100, price=D("2500.00")), context) == []


def test_cnc_order_beyond_available_funds_is_rejected_with_insufficient_funds():
    order = make_order(product=Product.CNC, quantity=10, price=D("2500.00"))
    violation = only("INSUFFICIENT_FUNDS", order, ctx(available_funds=D("20000")))
    assert (violation.value, violation.limit) == (D("25000.00"), D("20000"))


def test_cnc_order_needing_exactly_the_available_funds_passes():
    order = make_order(product=Product.CNC, quantity=10, price=D("2500.00"))
    assert codes(order, ctx(available_funds=D("25000"))) == []


def test_mis_order_needs_only_value_over_leverage():
    order = make_order(product=Product.MIS, quantity=10, price=D("2500.00"))
    assert codes(order, ctx(available_funds=D("5000"))) == []  # 25000 / 5
    assert only("INSUFFICIENT_FUNDS", order, ctx(available_funds=D("4999.99"))).value == D("5000")


def test_reducing_order_needs_no_funds_and_a_flip_needs_margin_only_beyond_zero():
    context = ctx(available_funds=D(0), position_quantity=100)
    assert codes(make_order(side=Side.SELL, quantity=100, price=D("2500.00")), context) == []
    flip = only("INSUFFICIENT_FUNDS", make_order(side=Side.SELL, quantity=120, price=D("2500.00")), context)
    assert flip.value == D("10000")  # 20 x 2500 / 5


def test_loss_at_the_daily_limit_rejects_an_opening_order_with_daily_loss_limit():
    context = ctx(limits={"daily_loss_limit": 50_000}, day_pnl=D("-50000"))
    violation = only("DAILY_LOSS_LIMIT", context=context)
    assert (violation.value, violation.limit) == (D(50_000), D(50_000))


def test_loss_at_the_daily_limit_admits_a_reducing_order():
    context = ctx(limits={"daily_loss_limit": 50_000}, day_pnl=D("-60000"), position_quantity=10)
    assert codes(make_order(side=Side.SELL, quantity=10), context) == []


def test_loss_below_the_daily_limit_passes():
    assert codes(context=ctx(limits={"daily_loss_limit": 50_000}, day_pnl=D("-49999.99"))) == []


# --- the validator as a whole ---


def test_order_breaking_three_rules_reports_all_three_violations():
    order = make_order(price=D("2500.03"), quantity=200)
    context = ctx(limits={"max_order_quantity": 100}, client_order_ids=frozenset({"C-1"}))
    assert codes(order, context) == ["PRICE_NOT_ON_TICK", "QUANTITY_EXCEEDS_MAXIMUM", "DUPLICATE_CLIENT_ORDER_ID"]


def test_every_violation_carries_a_code_a_message_with_numbers_a_limit_and_a_value():
    order = make_order(quantity=50, price=D("2800.00"))
    context = ctx(limits={"max_order_value": 100_000, "max_open_orders": 1}, open_order_count=1)
    violations = VALIDATOR.validate(order, context)
    assert {v.code for v in violations} == {"NOTIONAL_EXCEEDS_MAXIMUM", "PRICE_OUTSIDE_COLLAR", "MAX_OPEN_ORDERS"}
    for violation in violations:
        assert violation.code in VIOLATION_CODES
        assert violation.limit is not None and violation.value is not None
        assert str(violation.limit).rstrip("0").rstrip(".") in violation.message


def test_every_check_reports_a_stable_code_and_has_a_unique_name():
    assert {check.code for check in CHECKS} | {"TRADING_STATE_REDUCING", "AMO_MARKET_OPEN"} == VIOLATION_CODES
    assert len({check.name for check in CHECKS}) == len(CHECKS)


def test_a_check_called_alone_returns_a_violation_or_none():
    assert check_order_value(make_order(), ctx()) is None
    assert check_order_value(make_order(), ctx(limits={"max_order_value": 1000})).code == "NOTIONAL_EXCEEDS_MAXIMUM"


def test_explain_lists_every_check_with_pass_fail_and_headroom():
    order = make_order(quantity=50, price=D("2500.00"))
    results = VALIDATOR.explain(order, ctx(limits={"max_order_value": 100_000}))
    by_name = {result.name: result for result in results}

    assert [result.name for result in results] == [check.name for check in CHECKS]
    value = by_name["max_order_value"]
    assert (value.passed, value.code, value.value, value.limit) == (False, "NOTIONAL_EXCEEDS_MAXIMUM",
                                                                    D("125000.00"), D(100_000))
    assert value.headroom == D("-25000.00")
    quantity = by_name["max_order_quantity"]
    assert (quantity.passed, quantity.value, quantity.limit, quantity.headroom) == (True, 50, 100_000, 99_950)
    assert quantity.message == "quantity 50 is within the maximum 100000"
    assert by_name["tick_size"].headroom is None
    assert [r.name for r in results if not r.passed] == ["max_order_value"]


def test_explain_marks_checks_without_a_limit_as_skipped_and_passed():
    results = {r.name: r for r in VALIDATOR.explain(make_order(), ctx())}
    daily = results["daily_loss_limit"]
    assert (daily.passed, daily.skipped, daily.value, daily.headroom) == (True, True, None, None)
    assert daily.message == "skipped: no limit is set"


def test_explain_reports_the_code_of_the_failing_variant():
    results = {r.name: r for r in VALIDATOR.explain(make_order(), ctx(trading_state=TradingState.REDUCING))}
    assert (results["reduce_only"].passed, results["reduce_only"].code) == (False, "TRADING_STATE_REDUCING")


def test_explain_agrees_with_validate():
    order = make_order(price=D("2500.03"), quantity=200)
    context = ctx(limits={"max_order_quantity": 100}, client_order_ids=frozenset({"C-1"}))
    failed = [r.code for r in VALIDATOR.explain(order, context) if not r.passed]
    assert failed == codes(order, context)


def test_check_result_is_frozen_and_converts_to_plain_values():
    result = VALIDATOR.explain(make_order(), ctx())[CHECKS.index(check_order_value)]
    assert isinstance(result, CheckResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.passed = False  # type: ignore[misc]
    assert result.to_dict() == {
        "name": "max_order_value", "code": "NOTIONAL_EXCEEDS_MAXIMUM", "passed": True, "value": "25000.50",
        "limit": "5000000", "headroom": "4974999.50", "message": "order value 25000.50 is within the maximum "
        "5000000.00", "skipped": False,
    }  # fmt: skip


# --- laziness: a check whose limit is None never reads the context ---


class RaisingContext:
    """Plain attributes only; any other read (now, last_price, position...) fails the test."""

    def __init__(self, limits: RiskLimits) -> None:
        self.limits = limits
        self.instrument = Instrument("RELIANCE")
        self.trading_state = TradingState.ACTIVE

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the check read ctx.{name}")


class RecordingContext:
    """Forwards to a FakeContext and records what was read."""

    def __init__(self, inner: FakeContext) -> None:
        self.inner = inner
        self.read: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        self.read.add(name)
        return getattr(self.inner, name)


@pytest.mark.parametrize(
    "check",
    [check_reduce_only, check_market_hours, check_order_quantity, check_order_value, check_price_collar,
     check_possible_duplicate, check_order_rate, check_open_orders, check_position_quantity, check_position_value,
     check_gross_exposure, check_daily_loss],
    ids=lambda check: check.name,
)
def test_check_with_its_limit_none_never_reads_the_context(check):
    order = make_order(order_type=OrderType.MARKET, price=None)  # a MARKET order would need the last price
    assert check(order, RaisingContext(NO_LIMITS)) is None
    assert check.explain(order, RaisingContext(NO_LIMITS)).skipped


def test_validate_with_no_limits_reads_only_what_the_always_on_checks_need():
    context = RecordingContext(FakeContext(limits=NO_LIMITS))
    assert VALIDATOR.validate(make_order(), context) == []  # type: ignore[arg-type]
    lazy_reads = context.read - {"limits", "instrument", "trading_state"}
    assert lazy_reads == {"client_order_id_exists", "position_quantity", "working_buy_quantity", "available_funds"}


# --- properties: any order, any account -------------------------------------------------------------------------

TICKS = [D("0.01"), D("0.05"), D("0.10"), D("1")]
# Extreme but parsed values: the validator sees orders only after the door has parsed them.
quantities = st.integers(1, MAX_QUANTITY)
prices = st.decimals(D("0.01"), MAX_PRICE, places=2)
money = st.decimals(D("-1e15"), D("1e15"), places=2)
positions = st.integers(-(10**12), 10**12)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


limit_sets = st.fixed_dictionaries({
    "max_order_quantity": optional(quantities),
    "max_order_value": optional(st.decimals(D("0.01"), D("1e15"), places=2)),
    "max_position_quantity": optional(quantities),
    "max_position_value": optional(st.decimals(D("0.01"), D("1e15"), places=2)),
    "max_gross_exposure": optional(st.decimals(D("0.01"), D("1e15"), places=2)),
    "max_open_orders": optional(st.integers(1, 10**6)),
    "max_orders_per_second": optional(st.integers(1, 10**6)),
    "daily_loss_limit": optional(st.decimals(D("0.01"), D("1e15"), places=2)),
    "price_collar_pct": optional(st.decimals(D("0.01"), D("1000"), places=2)),
    "duplicate_window_s": optional(st.floats(1e-6, 1e6)),
    "mis_leverage": st.decimals(D("0.01"), D("100"), places=2),
    "session_start": optional(st.times()),
    "session_end": optional(st.times()),
})  # fmt: skip


@st.composite
def orders(draw: st.DrawFn) -> Any:
    order_type = draw(st.sampled_from(list(OrderType)))
    return make_order(
        side=draw(st.sampled_from(list(Side))), product=draw(st.sampled_from(list(Product))),
        quantity=draw(quantities), order_type=order_type,
        price=draw(prices) if order_type.needs_price else None,
        trigger_price=draw(prices) if order_type.needs_trigger else None,
        client_order_id=draw(st.sampled_from(["C-1", "C-2", ""])),
    )  # fmt: skip


@st.composite
def contexts(draw: st.DrawFn) -> FakeContext:
    naive = draw(st.booleans())
    now = draw(st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.none() if naive else
                            st.just(UTC)))
    ago = st.timedeltas(timedelta(0), timedelta(seconds=5))
    instrument = draw(st.none() | st.builds(Instrument, st.just("RELIANCE"), tick_size=st.sampled_from(TICKS),
                                            lot_size=st.integers(1, 1000), freeze_quantity=optional(quantities)))
    return FakeContext(
        limits=RiskLimits(**draw(limit_sets)), instrument=instrument,
        trading_state=draw(st.sampled_from(list(TradingState))), now=now, last_price=draw(optional(prices)),
        position_quantity=draw(positions), working_buy_quantity=draw(st.integers(0, 10**12)),
        working_sell_quantity=draw(st.integers(0, 10**12)), open_order_count=draw(st.integers(0, 10**6)),
        recent_order_times=sorted(now - d for d in draw(st.lists(ago, max_size=20))),
        similar_order_time=draw(optional(ago.map(lambda d: now - d))),
        client_order_ids=frozenset(draw(st.sets(st.sampled_from(["C-1", "C-2"])))),
        gross_exposure=draw(st.decimals(D(0), D("1e15"), places=2)), day_pnl=draw(money),
        available_funds=draw(money),
    )  # fmt: skip


@given(order=orders(), context=contexts())
def test_validate_reports_exactly_the_checks_the_dry_run_fails_for_any_order_and_account(order, context):
    violations = VALIDATOR.validate(order, context)
    results = VALIDATOR.explain(order, context)

    assert [r.name for r in results] == [check.name for check in CHECKS]
    assert [r.code for r in results if not r.passed] == [v.code for v in violations]
    assert [v for check in CHECKS if (v := check(order, context)) is not None] == violations
    for violation in violations:
        assert violation.code in VIOLATION_CODES and violation.message
    for result in results:
        assert result.passed or not result.skipped
        assert result.message


hostile_zones = (
    st.text(max_size=40) | st.sampled_from(["", ".", "..", "/", "../etc/passwd", "Asia/", "UTC\x00", "\ud800",
                                           "America/New_York/../../x", "Mars/Olympus", "posix/"])
    | st.sampled_from(["Asia/Kolkata", "America/New_York", "UTC", UTC])
    | st.none() | st.integers() | st.floats() | st.binary(max_size=10) | st.builds(object) | st.just(time(9, 15))
)  # fmt: skip


@given(zone=hostile_zones)
def test_an_exchange_time_zone_is_a_known_zone_or_a_config_error_naming_it(zone):
    try:
        session = ExchangeSession.of(zone)
    except ConfigError as error:
        assert error.field == "exchange_timezone" and error.value is zone and "IANA time zone" in str(error)
        return
    assert isinstance(session.zone, tzinfo)
    context = ctx(limits={"session_start": time(9, 15), "session_end": time(15, 30)}, session=session)
    assert set(codes(context=context)) <= {"MARKET_CLOSED"}


@given(order=orders(), context=contexts(), instrument=st.sampled_from([FUTURE, CALL]),
       offset=st.timedeltas(timedelta(days=-400), timedelta(days=400)))
def test_contract_checks_agree_with_the_dry_run_and_the_expiry_for_any_order_and_time(order, context, instrument,
                                                                                      offset):
    context.instrument = instrument
    context.now = datetime(2026, 1, 27, 10, 0, tzinfo=UTC) + offset
    violations = CONTRACT_RULES.validate(order, context)
    results = CONTRACT_RULES.explain(order, context)
    assert [r.code for r in results if not r.passed] == [v.code for v in violations]
    assert ("CONTRACT_EXPIRED" in [v.code for v in violations]) == (offset >= timedelta(0))
    assert ("PRODUCT_NOT_ALLOWED" in [v.code for v in violations]) == (order.product is Product.CNC)
