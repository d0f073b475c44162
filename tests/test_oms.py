"""The OMS order path end to end, on DuckDB in memory and on PostgreSQL: checks, fills, the audit trail, events,
idempotency, concurrency, the kill switch, square-off, cancel and modify — asserted on the OMS and on what it stored.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any

import pytest

from oms_kit import (
    OMS,
    Event,
    InvalidOrderError,
    MockBroker,
    OmsError,
    Order,
    OrderFilled,
    OrderModifyRejected,
    OrderStatus,
    OrderUpdated,
    PositionChanged,
    PriceUpdated,
    RiskLimits,
    SimulatedClock,
    TradingState,
    TradingStateChanged,
)
from oms_kit.checks import VIOLATION_CODES

D = Decimal
START = datetime(2026, 1, 5, 4, 0, tzinfo=UTC)  # a Monday, 09:30 in Mumbai
S = OrderStatus
# Every check off, so a test turns on the one it is about and sees only its violation.
NO_LIMITS = RiskLimits(max_order_quantity=None, max_order_value=None, max_open_orders=None,
                       max_orders_per_second=None, price_collar_pct=None, duplicate_window_s=None)


def limits(**fields: Any) -> RiskLimits:
    return RiskLimits(**{**NO_LIMITS.to_dict(), **fields})


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def oms_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "duckdb:///:memory:"
    if request.param == "file":
        return f"duckdb:///{request.getfixturevalue('tmp_path')}/oms.duckdb"
    return request.getfixturevalue("pg_url")


# For the tests of what waits for a commit, which only a durable store does: a DuckDB file as well.
on_every_store = pytest.mark.parametrize(
    "oms_url", ["memory", "file", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(START)


OpenOms = Callable[..., Awaitable[OMS]]


@pytest.fixture
async def open_oms(oms_url: str, clock: SimulatedClock) -> AsyncIterator[OpenOms]:
    """Open an OMS on the test's backend: no feed, no fees, the simulated clock; options override."""
    opened: list[OMS] = []

    async def open_(**options: Any) -> OMS:
        options.setdefault("feed", None)
        options.setdefault("fees", None)
        options.setdefault("clock", clock)
        options.setdefault("risk_interval", None)  # tests run the monitor by hand: check_risk()
        oms = await OMS.open(oms_url, **options)
        opened.append(oms)
        return oms

    yield open_
    for oms in opened:
        await oms.close()


@pytest.fixture
async def oms(open_oms: OpenOms) -> OMS:
    """Default limits, 1,000,000 cash, RELIANCE at 2500 and TCS at 3900."""
    oms = await open_oms()
    await oms.set_price("RELIANCE", 2500.0)
    await oms.set_price("TCS", 3900.0)
    return oms


def codes(order: Order) -> list[str]:
    return [v.code for v in order.violations]


async def rows(oms: OMS, sql: str, *params: Any) -> list[dict[str, Any]]:
    """What the store holds, once everything so far is committed."""
    await oms.flush()
    frame = await oms.store.fetch_df(sql, *params)
    return frame.to_dict("records")


async def stored_order(oms: OMS, order_id: str) -> dict[str, Any]:
    (row,) = await rows(oms, "SELECT * FROM orders WHERE order_id = $1", order_id)
    return row


async def stored_events(oms: OMS, order_id: str) -> list[tuple[int, str, str | None, str]]:
    found = await rows(oms, "SELECT sequence, event_type, from_status, to_status FROM order_events "
                            "WHERE order_id = $1 ORDER BY sequence", order_id)
    return [(int(r["sequence"]), r["event_type"], _none(r["from_status"]), r["to_status"]) for r in found]


async def count(oms: OMS, table: str) -> int:
    (row,) = await rows(oms, f"SELECT count(*) AS n FROM {table}")
    return int(row["n"])


def _none(value: Any) -> Any:
    return None if value is None or value != value else value  # NaN from an all-None pandas column


async def fill_at(oms: OMS, clock: SimulatedClock, symbol: str, quantity: int, price: float, side: str = "BUY",
                 product: str = "MIS") -> Order:
    """A market order filled at ``price``, a few seconds after the previous one."""
    clock.advance(5)
    await oms.set_price(symbol, price)
    order = await oms.place_order(symbol, side, quantity, product=product)
    assert order.status is S.FILLED, order.violations
    return order


async def set_reducing(oms: OMS) -> None:
    # No public switch to REDUCING yet (the risk monitor will set it on a breach): use the OMS's own setter.
    oms.monitor.set_state(TradingState.REDUCING, "test: reduce only", "test")
    await oms.flush()


# == malformed input ============================================================================================

MALFORMED = [
    pytest.param({"side": "HOLD"}, "side", id="unknown-side"),
    pytest.param({"order_type": "STOP"}, "order_type", id="unknown-order-type"),
    pytest.param({"product": "MTF"}, "product", id="unknown-product"),
    pytest.param({"validity": "GTC"}, "validity", id="unknown-validity"),
    pytest.param({"quantity": 0}, "quantity", id="zero-quantity"),
    pytest.param({"quantity": -10}, "quantity", id="negative-quantity"),
    pytest.param({"quantity": 10.5}, "quantity", id="fractional-quantity"),
    pytest.param({"quantity": "10"}, "quantity", id="text-quantity"),
    pytest.param({"quantity": True}, "quantity", id="boolean-quantity"),
    pytest.param({"quantity": float("nan")}, "quantity", id="nan-quantity"),
    pytest.param({"price": float("nan")}, "price", id="nan-price"),
    pytest.param({"price": float("inf")}, "price", id="infinite-price"),
    pytest.param({"price": 0}, "price", id="zero-price"),
    pytest.param({"price": -2500}, "price", id="negative-price"),
    pytest.param({"price": "abc"}, "price", id="text-price"),
    pytest.param({"price": None}, "price", id="limit-without-price"),
    pytest.param({"order_type": "MARKET"}, "price", id="market-with-price"),
    pytest.param({"order_type": "SL"}, "trigger_price", id="sl-without-trigger"),
    pytest.param({"order_type": "SL-M", "price": None}, "trigger_price", id="sl-m-without-trigger"),
    pytest.param({"order_type": "SL", "trigger_price": float("nan")}, "trigger_price", id="nan-trigger"),
    pytest.param({"order_type": "SL", "trigger_price": -1}, "trigger_price", id="negative-trigger"),
    pytest.param({"symbol": ""}, "symbol", id="empty-symbol"),
    pytest.param({"client_order_id": ""}, "client_order_id", id="empty-client-order-id"),
]


@pytest.mark.parametrize(("change", "field"), MALFORMED)
async def test_malformed_order_raises_invalid_order_error_naming_the_field_and_records_nothing(oms, change, field):
    arguments: dict[str, Any] = {"symbol": "RELIANCE", "side": "BUY", "quantity": 10, "order_type": "LIMIT",
                                 "price": 2500.0, **change}

    with pytest.raises(InvalidOrderError) as error:
        await oms.place_order(**arguments)

    assert isinstance(error.value, ValueError)
    assert error.value.field == field
    assert field in str(error.value) and "allowed" in str(error.value)
    assert oms.orders().empty
    assert oms.stats_today()["orders_placed"] == 0
    for table in ("orders", "order_events", "risk_decisions", "trades"):
        assert await count(oms, table) == 0, table


# == pre-trade checks end to end: what the OMS feeds them (each rule's cases are in tests/test_validator.py) =====


async def test_reducing_state_admits_only_orders_that_shrink_a_position_the_oms_holds(open_oms, clock):
    oms = await open_oms(limits=NO_LIMITS)
    await fill_at(oms, clock, "RELIANCE", 10, 2500.0)  # MIS
    await oms.set_price("TCS", 3900.0)
    await set_reducing(oms)

    flat = await oms.place_order("TCS", "BUY", 1)
    other_product = await oms.place_order("RELIANCE", "SELL", 4, product="CNC")
    grows = await oms.place_order("RELIANCE", "BUY", 1)
    flips = await oms.place_order("RELIANCE", "SELL", 11)
    shrinks = await oms.place_order("RELIANCE", "SELL", 4)
    closes = await oms.place_order("RELIANCE", "SELL", 6)

    assert codes(flat) == codes(other_product) == ["TRADING_STATE_REDUCING"]
    assert codes(grows) == codes(flips) == ["REDUCE_ONLY_WOULD_INCREASE_POSITION"]
    assert (shrinks.status, closes.status) == (S.FILLED, S.FILLED)
    assert oms.position("RELIANCE") == 0


async def test_working_orders_count_toward_the_limits_until_they_end(open_oms, clock):
    oms = await open_oms(limits=limits(max_position_quantity=100, max_open_orders=2))
    await fill_at(oms, clock, "RELIANCE", 60, 2500.0)
    working = await oms.place_order("RELIANCE", "BUY", 30, "LIMIT", 2400.0)  # counts as if filled

    too_long = await oms.place_order("RELIANCE", "BUY", 11, "LIMIT", 2400.0)  # 60 + 30 + 11
    await oms.place_order("TCS", "BUY", 10, "LIMIT", 3800.0)
    too_many = await oms.place_order("SBIN", "BUY", 10, "LIMIT", 800.0)  # a third working order
    await oms.cancel_order(working.order_id)
    accepted = await oms.place_order("RELIANCE", "BUY", 40, "LIMIT", 2400.0)  # 60 + 40, in the freed slot

    assert codes(too_long) == ["POSITION_LIMIT_EXCEEDED"]
    assert too_long.violations[0].value == 101
    assert codes(too_many) == ["MAX_OPEN_ORDERS"]
    assert accepted.status is S.OPEN


async def test_the_duplicate_window_remembers_accepted_orders_by_symbol_side_quantity_and_price(open_oms):
    oms = await open_oms(limits=limits(duplicate_window_s=1.0))

    refused = await oms.place_order("RELIANCE", "BUY", 10)  # no price yet
    await oms.set_price("RELIANCE", 2500.0)
    retried = await oms.place_order("RELIANCE", "BUY", 10)  # the refused one is no duplicate to retry
    repeated = await oms.place_order("RELIANCE", "BUY", 10)
    other_price = await oms.place_order("RELIANCE", "BUY", 10, "LIMIT", 2400.0)

    assert codes(refused) == ["NO_REFERENCE_PRICE"]
    assert retried.status is S.FILLED
    assert codes(repeated) == ["POSSIBLE_DUPLICATE"]
    assert other_price.status is S.OPEN


async def test_the_order_rate_counts_the_placements_of_the_last_second_on_the_oms_clock(open_oms, clock):
    oms = await open_oms(limits=limits(max_orders_per_second=3))

    first = [await oms.place_order("RELIANCE", "BUY", 10 + i, "LIMIT", 2400.0) for i in range(3)]
    refused = await oms.place_order("RELIANCE", "BUY", 20, "LIMIT", 2400.0)
    clock.advance(1)
    accepted = await oms.place_order("RELIANCE", "BUY", 21, "LIMIT", 2400.0)

    assert [o.status for o in first] == [S.OPEN] * 3
    assert codes(refused) == ["RATE_LIMIT_EXCEEDED"]
    assert accepted.status is S.OPEN


async def test_per_symbol_limits_override_the_account_limits(open_oms):
    oms = await open_oms(limits=limits(max_order_quantity=100, per_symbol={"SBIN": {"max_order_quantity": 500}}))

    refused = await oms.place_order("RELIANCE", "BUY", 300, "LIMIT", 2400.0)
    accepted = await oms.place_order("SBIN", "BUY", 300, "LIMIT", 800.0)

    assert codes(refused) == ["QUANTITY_EXCEEDS_MAXIMUM"]
    assert accepted.status is S.OPEN


async def test_rejected_order_is_stored_with_every_violation_and_a_rejected_event(open_oms):
    oms = await open_oms(limits=limits(max_order_quantity=5, max_order_value=1000))

    order = await oms.place_order("RELIANCE", "BUY", 10, "LIMIT", 2500.03)

    assert codes(order) == ["PRICE_NOT_ON_TICK", "QUANTITY_EXCEEDS_MAXIMUM", "NOTIONAL_EXCEEDS_MAXIMUM"]
    assert set(codes(order)) <= VIOLATION_CODES
    row = await stored_order(oms, order.order_id)
    assert row["status"] == "REJECTED"
    stored = json.loads(row["violations"])
    assert [v["code"] for v in stored] == codes(order)
    assert stored[1]["limit"] == 5 and stored[1]["value"] == 10
    assert all(v["message"] for v in stored)
    assert await stored_events(oms, order.order_id) == [(0, "CREATED", None, "NEW"), (1, "REJECTED", "NEW", "REJECTED")]
    assert await count(oms, "trades") == 0


# == fills of each order type and validity ======================================================================


@pytest.mark.parametrize("validity", ["DAY", "IOC"])
@pytest.mark.parametrize("side", ["BUY", "SELL"])
async def test_market_order_fills_at_once_at_the_last_price(oms, validity, side):
    price = D("2500.00")
    order = await oms.place_order("RELIANCE", side, 10, validity=validity)

    assert order.status is S.FILLED
    assert (order.filled_quantity, order.average_price) == (10, price)
    (trade,) = await rows(oms, "SELECT * FROM trades WHERE order_id = $1", order.order_id)
    assert (trade["side"], trade["quantity"], trade["price"]) == (side, 10, price)
    row = await stored_order(oms, order.order_id)
    assert (row["status"], row["filled_quantity"], row["average_price"]) == ("FILLED", 10, price)


async def test_limit_day_order_rests_then_fills_when_the_price_reaches_it(oms):
    order = await oms.place_order("RELIANCE", "BUY", 10, "LIMIT", 2490.0)
    assert order.status is S.OPEN
    assert list(oms.active_orders()["order_id"]) == [order.order_id]

    await oms.set_price("RELIANCE", 2495.0)
    assert order.status is S.OPEN
    await oms.set_price("RELIANCE", 2485.0)

    assert order.status is S.FILLED
    assert order.average_price == D("2485.00")  # a quote below the limit: the better price
    assert oms.active_orders().empty
    assert (await stored_order(oms, order.order_id))["status"] == "FILLED"


async def test_marketable_limit_ioc_order_fills_at_once_at_the_better_price(oms):
    order = await oms.place_order("RELIANCE", "SELL", 10, "LIMIT", 2490.0, validity="IOC")

    assert order.status is S.FILLED
    assert order.average_price == D("2500.00")


async def test_limit_ioc_order_that_cannot_match_expires_at_once(oms):
    order = await oms.place_order("RELIANCE", "BUY", 10, "LIMIT", 2490.0, validity="IOC")
    await oms.set_price("RELIANCE", 2480.0)

    assert order.status is S.EXPIRED
    assert order.filled_quantity == 0
    assert await count(oms, "trades") == 0
    assert (await stored_order(oms, order.order_id))["status"] == "EXPIRED"


async def test_sl_m_order_waits_for_its_trigger_then_fills_at_the_market(oms):
    order = await oms.place_order("RELIANCE", "SELL", 10, "SL-M", trigger_price=2450.0)
    assert order.status is S.TRIGGER_PENDING
    await oms.set_price("RELIANCE", 2460.0)
    assert order.status is S.TRIGGER_PENDING

    await oms.set_price("RELIANCE", 2440.0)

    assert order.status is S.FILLED
    assert order.triggered
    assert order.average_price == D("2440.00")
    assert [e[1] for e in await stored_events(oms, order.order_id)] == ["CREATED", "ACCEPTED", "TRIGGERED", "FILLED"]


async def test_sl_order_triggers_then_rests_as_a_limit_until_its_price_is_reached(oms):
    order = await oms.place_order("RELIANCE", "BUY", 10, "SL", 2520.0, trigger_price=2510.0)

    await oms.set_price("RELIANCE", 2530.0)  # triggered, but above the limit
    assert (order.status, order.triggered) == (S.OPEN, True)
    await oms.set_price("RELIANCE", 2515.0)

    assert order.status is S.FILLED
    assert order.average_price == D("2515.00")
    assert [e[3] for e in await stored_events(oms, order.order_id)] == [
        "NEW", "TRIGGER_PENDING", "OPEN", "FILLED"]


@pytest.mark.parametrize("order_type", ["SL", "SL-M"])
async def test_stop_ioc_order_not_triggered_at_once_expires(oms, order_type):
    order = await oms.place_order("RELIANCE", "BUY", 10, order_type, 2530.0 if order_type == "SL" else None,
                                  validity="IOC", trigger_price=2520.0)

    assert order.status is S.EXPIRED


@pytest.mark.parametrize("order_type", ["SL", "SL-M"])
async def test_stop_ioc_order_already_past_its_trigger_fills_at_once(oms, order_type):
    order = await oms.place_order("RELIANCE", "BUY", 10, order_type, 2505.0 if order_type == "SL" else None,
                                  validity="IOC", trigger_price=2495.0)

    assert order.status is S.FILLED
    assert order.average_price == D("2500.00")
    assert [e[1] for e in await stored_events(oms, order.order_id)] == ["CREATED", "ACCEPTED", "TRIGGERED", "FILLED"]


async def test_day_orders_expire_at_the_end_of_the_session(oms):
    limit = await oms.place_order("RELIANCE", "BUY", 10, "LIMIT", 2400.0)
    stop = await oms.place_order("TCS", "SELL", 5, "SL-M", trigger_price=3800.0)

    await oms.end_session()
    await oms.set_price("RELIANCE", 2300.0)

    assert (limit.status, stop.status) == (S.EXPIRED, S.EXPIRED)
    assert oms.active_orders().empty
    assert [r["status"] for r in await rows(oms, "SELECT status FROM orders ORDER BY order_id")] == ["EXPIRED"] * 2
    assert oms.stats_today()["orders_expired"] == 2


async def test_the_risk_monitor_begins_a_new_day_after_midnight_at_the_exchange(oms, clock):
    await oms.check_risk()  # notes the day: Monday 09:30 in Mumbai
    await fill_at(oms, clock, "RELIANCE", 10, 2500.0)
    await fill_at(oms, clock, "RELIANCE", 10, 2400.0)  # bought 20 at 2450 on average, marked at 2400: -1000
    day_order = await oms.place_order("TCS", "BUY", 5, "LIMIT", 3800.0)
    await oms.set_price("TCS", 3890.0)  # the DAY order has had a price to trade on
    assert day_order.status is S.OPEN
    assert oms.stats_today()["day_pnl"] == D("-1000.00")

    clock.set(datetime(2026, 1, 5, 18, 29, 59, tzinfo=UTC))  # 23:59:59 in Mumbai: still Monday
    await oms.check_risk()
    assert day_order.status is S.OPEN
    clock.set(datetime(2026, 1, 5, 18, 30, 1, tzinfo=UTC))  # Tuesday 00:00:01 in Mumbai
    await oms.check_risk()

    assert day_order.status is S.EXPIRED
    assert [e[1] for e in await stored_events(oms, day_order.order_id)][-1] == "EXPIRED"
    stats = oms.stats_today()
    assert (stats["orders_placed"], stats["orders_filled"], stats["orders_expired"], stats["trades"],
            stats["turnover"], stats["day_pnl"]) == (0, 0, 0, 0, D(0), D(0))
    assert stats["realized_pnl"] == D(0) and stats["unrealized_pnl"] == D("-1000.00")  # the position carries over
    await fill_at(oms, clock, "RELIANCE", 20, 2410.0, side="SELL")
    stats = oms.stats_today()
    assert (stats["orders_placed"], stats["orders_filled"], stats["trades"], stats["turnover"]) == (
        1, 1, 1, D("48200.00"))
    assert (stats["day_pnl"], stats["realized_pnl"], stats["win_rate"]) == (D("200.00"), D("-800.00"), 0.0)
    await oms.check_risk()  # the same day: nothing more ends
    assert oms.stats_today()["orders_placed"] == 1


async def test_participation_fills_a_day_order_in_parts_over_several_prices(open_oms):
    oms = await open_oms(limits=NO_LIMITS, broker=MockBroker(fees=None, participation=0.1))
    await oms.set_price("RELIANCE", 2500.0)
    day = await oms.place_order("RELIANCE", "BUY", 25, "LIMIT", 2490.0)

    await oms.set_price("RELIANCE", 2490.0, volume=100)
    assert (day.status, day.filled_quantity) == (S.PARTIALLY_FILLED, 10)
    await oms.set_price("RELIANCE", 2485.0, volume=100)
    await oms.set_price("RELIANCE", 2480.0, volume=100)

    assert (day.status, day.filled_quantity) == (S.FILLED, 25)
    fills = await rows(oms, "SELECT quantity, price FROM trades WHERE order_id = $1 ORDER BY ts, trade_id",
                       day.order_id)
    assert sorted((int(f["quantity"]), f["price"]) for f in fills) == [
        (5, D("2480.00")), (10, D("2485.00")), (10, D("2490"))]
    assert day.average_price == D("2486")  # (24,900 + 24,850 + 12,400) / 25


async def test_ioc_remainder_expires_after_a_partial_fill(open_oms):
    oms = await open_oms(limits=NO_LIMITS, broker=MockBroker(fees=None, participation=0.1,
                                                            immediate_market_fills=False))
    await oms.set_price("RELIANCE", 2500.0)
    order = await oms.place_order("RELIANCE", "BUY", 25, validity="IOC")

    await oms.set_price("RELIANCE", 2505.0, volume=100)

    assert (order.status, order.filled_quantity) == (S.EXPIRED, 10)
    assert [e[3] for e in await stored_events(oms, order.order_id)] == [
        "NEW", "OPEN", "PARTIALLY_FILLED", "EXPIRED"]
    assert oms.position("RELIANCE") == 10


@pytest.mark.parametrize("product", ["CNC", "MIS", "NRML"])
async def test_each_product_fills_into_a_position_of_its_own(oms, clock, product):
    await fill_at(oms, clock, "RELIANCE", 10, 2500.0, product="MIS" if product != "MIS" else "CNC")

    await fill_at(oms, clock, "RELIANCE", 4, 2500.0, product=product)

    stored = await rows(oms, "SELECT product, quantity FROM positions WHERE symbol = 'RELIANCE' ORDER BY product")
    assert {r["product"]: int(r["quantity"]) for r in stored}[product] == 4
    assert oms.position("RELIANCE") == 14


# == P&L and the trades table ===================================================================================


async def test_realized_and_unrealized_pnl_reconcile_exactly_with_the_trades_table(open_oms, clock):
    oms = await open_oms(fees="india_equity", limits=NO_LIMITS)
    await fill_at(oms, clock, "RELIANCE", 10, 2500.0)
    await fill_at(oms, clock, "RELIANCE", 10, 2510.0)
    await fill_at(oms, clock, "RELIANCE", 15, 2520.0, side="SELL")
    await fill_at(oms, clock, "RELIANCE", 5, 2490.0, side="SELL")  # flat again
    await fill_at(oms, clock, "TCS", 8, 3900.0, side="SELL")  # short
    await fill_at(oms, clock, "TCS", 3, 3880.0)
    await fill_at(oms, clock, "INFY", 7, 1500.0, product="CNC")
    await oms.set_price("TCS", 3870.0)
    await oms.set_price("INFY", 1512.5)

    trades = await rows(oms, "SELECT symbol, product, side, quantity, price, fees FROM trades ORDER BY ts, trade_id")
    assert len(trades) == 7
    # Replay the trades table with average-cost accounting, independently of the ledger.
    book: dict[tuple[str, str], list[Decimal]] = {}  # (symbol, product): [quantity, average, realized, fees]
    cash = D("1000000")
    for t in trades:
        quantity = int(t["quantity"]) * (1 if t["side"] == "BUY" else -1)
        held, average, realized, fees = book.setdefault((t["symbol"], t["product"]), [D(0), D(0), D(0), D(0)])
        if held == 0 or (held > 0) == (quantity > 0):
            average = (held * average + quantity * t["price"]) / (held + quantity)
        else:
            realized += (t["price"] - average) * -quantity
        book[(t["symbol"], t["product"])] = [held + quantity, average, realized, fees + t["fees"]]
        cash -= quantity * t["price"] + t["fees"]
    marks = {"RELIANCE": D("2490"), "TCS": D("3870"), "INFY": D("1512.5")}
    realized = sum(v[2] for v in book.values())
    unrealized = sum(v[0] * (marks[s] - v[1]) for (s, _), v in book.items())
    fees = sum(v[3] for v in book.values())

    assert realized == D("150") + D("60")  # RELIANCE 225 - 75; TCS 3 x 20
    assert unrealized == 5 * D("30") + 7 * D("12.5")
    assert fees > 0
    summary = oms.risk_summary()
    assert (summary["realized_pnl"], summary["unrealized_pnl"], oms.stats_today()["fees"]) == (
        realized, unrealized, fees)
    assert summary["cash"] == cash
    assert summary["day_pnl"] == realized + unrealized - fees
    assert summary["equity"] - D("1000000") == realized + unrealized - fees
    positions = await rows(oms, "SELECT symbol, product, quantity, average_price, realized_pnl, fees FROM positions")
    assert {(p["symbol"], p["product"]): (int(p["quantity"]), p["average_price"], p["realized_pnl"], p["fees"])
            for p in positions} == {key: (int(v[0]), v[1] if v[0] else D(0), v[2], v[3]) for key, v in book.items()}
    (account,) = await rows(oms, "SELECT cash FROM accounts")
    assert account["cash"] == cash


async def test_trades_table_matches_the_in_memory_trades(oms, clock):
    await fill_at(oms, clock, "RELIANCE", 10, 2500.0)
    await fill_at(oms, clock, "RELIANCE", 4, 2510.0, side="SELL")

    stored = await rows(oms, "SELECT trade_id, order_id, symbol, side, quantity, price, fees FROM trades "
                             "ORDER BY ts, trade_id")
    memory = oms.trades()

    assert [(r["trade_id"], r["order_id"], r["side"], int(r["quantity"]), r["price"]) for r in stored] == [
        (r.trade_id, r.order_id, r.side, r.quantity, r.price) for r in memory.itertuples()]


# == concurrency: one account's calls are serialised ============================================================


async def test_two_concurrent_orders_that_fit_only_one_at_a_time_exactly_one_is_accepted(open_oms):
    oms = await open_oms(limits=limits(max_position_quantity=100))
    await oms.set_price("RELIANCE", 2500.0)

    results = await asyncio.gather(oms.place_order("RELIANCE", "BUY", 60), oms.place_order("RELIANCE", "BUY", 70))

    statuses = sorted(o.status.value for o in results)
    assert statuses == ["FILLED", "REJECTED"]
    (refused,) = [o for o in results if o.status is S.REJECTED]
    assert codes(refused) == ["POSITION_LIMIT_EXCEEDED"]
    assert oms.position("RELIANCE") <= 100
    stored = await rows(oms, "SELECT status FROM orders ORDER BY status")
    assert [r["status"] for r in stored] == ["FILLED", "REJECTED"]


async def test_concurrent_orders_cannot_spend_the_same_cash_twice(open_oms):
    oms = await open_oms(limits=NO_LIMITS, cash=100_000)
    await oms.set_price("RELIANCE", 2500.0)
    await oms.set_price("TCS", 3900.0)

    results = await asyncio.gather(
        oms.place_order("RELIANCE", "BUY", 30, "LIMIT", 2400.0, product="CNC"),  # 72,000 blocked
        oms.place_order("TCS", "BUY", 10, "LIMIT", 3800.0, product="CNC"),  # 38,000 more: too much
    )

    assert [o.status for o in results] == [S.OPEN, S.REJECTED]
    assert codes(results[1]) == ["INSUFFICIENT_FUNDS"]


async def test_many_concurrent_orders_never_exceed_the_open_order_limit(open_oms):
    oms = await open_oms(limits=limits(max_open_orders=3))

    results = await asyncio.gather(*(oms.place_order("RELIANCE", "BUY", 10 + i, "LIMIT", 2400.0)
                                     for i in range(8)))

    assert sum(o.status is S.OPEN for o in results) == 3
    assert all(codes(o) == ["MAX_OPEN_ORDERS"] for o in results if o.status is S.REJECTED)
    assert len(oms.active_orders()) == 3
    assert await count(oms, "orders") == 8


# == client order ids ===========================================================================================


async def test_client_order_id_is_generated_when_absent_and_unique(oms):
    first = await oms.place_order("RELIANCE", "BUY", 10, "LIMIT", 2400.0)
    second = await oms.place_order("RELIANCE", "BUY", 11, "LIMIT", 2400.0)

    assert first.client_order_id and second.client_order_id
    assert first.client_order_id != second.client_order_id
    assert oms.find_order(first.client_order_id) is first
    assert (await stored_order(oms, first.order_id))["client_order_id"] == first.client_order_id


async def test_same_client_order_id_and_payload_returns_the_existing_order_and_records_nothing_new(oms):
    first = await oms.place_order("RELIANCE", "BUY", 10, "LIMIT", 2400.0, client_order_id="retry-me", tag="s1")
    events_before = await stored_events(oms, first.order_id)

    again = await oms.place_order("RELIANCE", "BUY", 10, "LIMIT", 2400.0, client_order_id="retry-me", tag="s1")

    assert again is first
    assert again.status is S.OPEN
    assert await count(oms, "orders") == 1
    assert await count(oms, "risk_decisions") == 1
    assert await stored_events(oms, first.order_id) == events_before
    assert oms.stats_today()["orders_placed"] == 1


async def test_same_client_order_id_with_another_payload_is_rejected_and_the_original_kept(oms):
    first = await oms.place_order("RELIANCE", "BUY", 10, "LIMIT", 2400.0, client_order_id="c-1")

    other = await oms.place_order("RELIANCE", "BUY", 10, "LIMIT", 2405.0, client_order_id="c-1")
    retry = await oms.place_order("RELIANCE", "BUY", 10, "LIMIT", 2400.0, client_order_id="c-1")

    assert other is not first
    assert other.status is S.REJECTED and codes(other) == ["DUPLICATE_CLIENT_ORDER_ID"]
    assert retry is first and first.status is S.OPEN
    assert oms.find_order("c-1") is first
    stored = await rows(oms, "SELECT order_id, status FROM orders WHERE client_order_id = 'c-1' ORDER BY status")
    assert [(r["order_id"], r["status"]) for r in stored] == [(first.order_id, "OPEN"), (other.order_id, "REJECTED")]


async def test_concurrent_retries_with_one_client_order_id_place_one_order(oms):
    results = await asyncio.gather(*(
        oms.place_order("RELIANCE", "BUY", 10, "LIMIT", 2400.0, client_order_id="burst") for _ in range(3)))

    assert results[0] is results[1] is results[2]
    assert await count(oms, "orders") == 1


@on_every_store
async def test_identical_retry_returns_only_once_the_original_order_is_committed(oms, monkeypatch):
    written: set[str] = set()
    write = oms.store.write

    async def recording_write(batch: Any) -> None:
        await write(batch)
        written.update(values[0] for table, values in batch if table == "orders")

    monkeypatch.setattr(oms.store, "write", recording_write)
    seen_by_retry: list[bool] = []

    async def retry() -> Order:
        order = await oms.place_order("RELIANCE", "BUY", 10, "LIMIT", 2400.0, client_order_id="durable")
        seen_by_retry.append(order.order_id in written)
        return order

    first, again = await asyncio.gather(
        oms.place_order("RELIANCE", "BUY", 10, "LIMIT", 2400.0, client_order_id="durable"), retry())

    assert again is first
    if oms.store.durable:
        assert seen_by_retry == [True]
    else:  # in memory the OMS writes behind: nothing waits for the commit, flush() does
        await oms.flush()
        assert oms.status()["writes"]["pending_rows"] == 0
        stored = await oms.store.fetch("SELECT order_id FROM orders WHERE client_order_id = 'durable'")
        assert stored == [{"order_id": first.order_id}]


# == the audit trail ============================================================================================


async def test_every_transition_of_an_order_is_stored_as_an_order_event(open_oms):
    oms = await open_oms(limits=NO_LIMITS, broker=MockBroker(fees=None, participation=0.5))
    await oms.set_price("RELIANCE", 2500.0)
    order = await oms.place_order("RELIANCE", "BUY", 10, "LIMIT", 2480.0)
    await oms.modify_order(order.order_id, price=2490.0)
    await oms.set_price("RELIANCE", 2490.0, volume=8)  # 4 of 10
    await oms.cancel_order(order.order_id)

    assert await stored_events(oms, order.order_id) == [
        (0, "CREATED", None, "NEW"),
        (1, "ACCEPTED", "NEW", "OPEN"),
        (2, "MODIFY_REQUESTED", "OPEN", "PENDING_MODIFY"),
        (3, "MODIFIED", "PENDING_MODIFY", "OPEN"),
        (4, "PARTIALLY_FILLED", "OPEN", "PARTIALLY_FILLED"),
        (5, "CANCEL_REQUESTED", "PARTIALLY_FILLED", "PENDING_CANCEL"),
        (6, "CANCELLED", "PENDING_CANCEL", "CANCELLED"),
    ]
    row = await stored_order(oms, order.order_id)
    assert (row["status"], row["filled_quantity"], row["price"], row["sequence"]) == ("CANCELLED", 4, D("2490"), 6)
    (fill_event,) = await rows(oms, "SELECT detail FROM order_events WHERE order_id = $1 AND sequence = 4",
                               order.order_id)
    detail = json.loads(fill_event["detail"])
    assert (detail["quantity"], D(detail["price"])) == (4, D("2490"))


async def test_stored_order_events_form_an_unbroken_chain_for_every_order(oms, clock):
    await fill_at(oms, clock, "RELIANCE", 10, 2500.0)
    resting = await oms.place_order("RELIANCE", "SELL", 10, "LIMIT", 2550.0)
    stop = await oms.place_order("TCS", "SELL", 5, "SL-M", trigger_price=3850.0)
    await oms.place_order("NOSUCH", "BUY", 1, "LIMIT", 10.0)
    await oms.set_price("RELIANCE", 2560.0)
    await oms.cancel_order(stop.order_id)
    await oms.place_order("TCS", "BUY", 1, "LIMIT", 3800.0, validity="IOC")

    orders = await rows(oms, "SELECT order_id, status, sequence FROM orders")
    events = await rows(oms, "SELECT order_id, sequence, from_status, to_status FROM order_events")
    assert len(orders) == 5 and resting.status is S.FILLED
    for order in orders:
        chain = sorted((int(e["sequence"]), _none(e["from_status"]), e["to_status"]) for e in events
                       if e["order_id"] == order["order_id"])
        assert [c[0] for c in chain] == list(range(int(order["sequence"]) + 1))
        assert chain[0][1:] == (None, "NEW")
        assert all(chain[i][1] == chain[i - 1][2] for i in range(1, len(chain)))
        assert chain[-1][2] == order["status"] == oms.get_order(order["order_id"]).status.value


# == events =====================================================================================================


async def test_subscriber_receives_order_fill_position_price_and_trading_state_events(oms):
    received: list[Event] = []
    oms.subscribe(received.append)

    await oms.set_price("RELIANCE", 2501.0)
    order = await oms.place_order("RELIANCE", "BUY", 10)
    await oms.kill_switch("test")

    kinds = [e.kind for e in received]
    assert kinds == ["price", "order", "order", "order", "fill", "position", "trading_state"]
    price, created, accepted, filled, fill, position, state = received
    assert isinstance(price, PriceUpdated) and (price.symbol, price.price) == ("RELIANCE", D("2501.00"))
    assert (created.event_type, created.previous_status, created.order.status) == ("CREATED", None, S.NEW)
    assert isinstance(accepted, OrderUpdated) and (accepted.event_type, accepted.previous_status) == ("ACCEPTED", "NEW")
    assert accepted.order.status is S.OPEN  # a snapshot of that moment, not the order as it is now
    assert isinstance(filled, OrderUpdated) and filled.order.status is S.FILLED
    assert isinstance(fill, OrderFilled) and (fill.fill.order_id, fill.fill.quantity) == (order.order_id, 10)
    assert isinstance(position, PositionChanged) and position.position.quantity == 10
    assert isinstance(state, TradingStateChanged)
    assert (state.previous, state.state, state.reason) == (TradingState.ACTIVE, TradingState.HALTED, "test")
    assert all(e.ts == START for e in received)


async def test_subscriber_with_kinds_receives_only_those_kinds_until_it_unsubscribes(oms, clock):
    fills: list[Event] = []
    unsubscribe = oms.subscribe(fills.append, kinds=["fill"])

    await fill_at(oms, clock, "RELIANCE", 10, 2500.0)
    await oms.place_order("RELIANCE", "BUY", 10, "LIMIT", 2400.0)
    unsubscribe()
    await fill_at(oms, clock, "RELIANCE", 5, 2500.0)

    assert [type(e) for e in fills] == [OrderFilled]


async def test_raising_subscriber_is_logged_and_the_others_and_the_order_still_go_through(oms, caplog):
    received: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("widget bug")

    oms.subscribe(broken)
    oms.subscribe(received.append, kinds="fill")

    with caplog.at_level(logging.ERROR, logger="oms_kit.events"):
        order = await oms.place_order("RELIANCE", "BUY", 10)

    assert order.status is S.FILLED
    assert len(received) == 1
    assert any("failed" in r.getMessage() and r.exc_info for r in caplog.records if r.name == "oms_kit.events")
    assert (await stored_order(oms, order.order_id))["status"] == "FILLED"


async def test_async_iteration_over_events_sees_the_order_path(oms):
    seen: list[Event] = []

    async def watch() -> None:
        async for event in oms.events(kinds=("order", "fill")):
            seen.append(event)
            if event.kind == "fill":
                return

    # gather starts the watcher first: it is subscribed before the order is placed.
    _, order = await asyncio.gather(watch(), oms.place_order("RELIANCE", "SELL", 10))

    assert [(e.kind, getattr(e, "event_type", None)) for e in seen] == [
        ("order", "CREATED"), ("order", "ACCEPTED"), ("order", "FILLED"), ("fill", None)]
    assert seen[-1].fill.order_id == order.order_id  # type: ignore[attr-defined]


# == stats, dry run, risk decisions =============================================================================


async def test_stats_today_counts_orders_trades_turnover_and_pnl(oms, clock):
    await fill_at(oms, clock, "RELIANCE", 10, 2500.0)
    await fill_at(oms, clock, "RELIANCE", 10, 2520.0, side="SELL")
    await oms.place_order("NOSUCH", "BUY", 1, "LIMIT", 10.0)
    resting = await oms.place_order("TCS", "BUY", 5, "LIMIT", 3800.0)
    await oms.cancel_order(resting.order_id)
    await oms.place_order("TCS", "BUY", 6, "LIMIT", 3800.0, validity="IOC")

    assert oms.stats_today() == {
        "orders_placed": 5,
        "orders_filled": 2,
        "orders_rejected": 1,
        "orders_cancelled": 1,
        "orders_expired": 1,
        "trades": 2,
        "turnover": D("50200.00"),
        "fees": D("0"),
        "realized_pnl": D("200.00"),
        "unrealized_pnl": D("0"),
        "day_pnl": D("200.00"),
        "win_rate": 1.0,
    }


async def test_validate_is_a_dry_run_reporting_every_check_and_records_nothing(open_oms):
    oms = await open_oms(limits=limits(max_order_quantity=100, duplicate_window_s=1.0, max_orders_per_second=1))
    await oms.set_price("RELIANCE", 2500.0)

    failing = oms.validate("RELIANCE", "BUY", 150)
    passing = oms.validate("RELIANCE", "BUY", 10)
    placed = await oms.place_order("RELIANCE", "BUY", 10)  # the dry runs did not count as orders

    checks = failing.set_index("name")
    assert not checks.loc["max_order_quantity", "passed"]
    assert checks.loc["max_order_quantity", "code"] == "QUANTITY_EXCEEDS_MAXIMUM"
    assert list(failing.loc[~failing["passed"], "code"]) == ["QUANTITY_EXCEEDS_MAXIMUM"]
    assert passing["passed"].all()
    assert passing.set_index("name").loc["max_order_quantity", "headroom"] == 90
    assert placed.status is S.FILLED
    assert await count(oms, "orders") == 1
    assert await count(oms, "risk_decisions") == 1
    assert oms.stats_today()["orders_placed"] == 1


async def test_validate_refuses_malformed_input_like_place_order(oms):
    with pytest.raises(InvalidOrderError) as error:
        oms.validate("RELIANCE", "BUY", -1)

    assert error.value.field == "quantity"


async def test_every_decision_of_a_real_order_is_stored_and_queryable_as_a_dataframe(open_oms):
    oms = await open_oms(limits=limits(max_order_quantity=100))
    await oms.set_price("RELIANCE", 2500.0)
    accepted = await oms.place_order("RELIANCE", "BUY", 10)
    refused = await oms.place_order("RELIANCE", "BUY", 101)
    oms.validate("RELIANCE", "BUY", 500)

    decisions = await oms.risk_decisions()

    assert list(decisions["order_id"]) == [accepted.order_id, refused.order_id]
    assert [bool(a) for a in decisions["accepted"]] == [True, False]
    assert json.loads(decisions["violations"].iloc[0]) == []
    (violation,) = json.loads(decisions["violations"].iloc[1])
    assert violation["code"] == "QUANTITY_EXCEEDS_MAXIMUM"
    assert (violation["limit"], violation["value"]) == (100, 101)
    assert set(decisions["account"]) == {"default"}


async def test_each_modify_decision_is_stored_with_its_violations(open_oms):
    oms = await open_oms(limits=limits(max_order_quantity=100))
    await oms.set_price("RELIANCE", 2500.0)
    order = await oms.place_order("RELIANCE", "BUY", 10, "LIMIT", 2490.0)
    await oms.modify_order(order.order_id, price=2495.0)
    with pytest.raises(OrderModifyRejected, match="QUANTITY_EXCEEDS_MAXIMUM"):
        await oms.modify_order(order.order_id, quantity=150)

    decisions = await oms.risk_decisions()

    assert list(decisions["order_id"]) == [order.order_id] * 3
    assert [bool(a) for a in decisions["accepted"]] == [True, True, False]
    assert [v["code"] for v in json.loads(decisions["violations"].iloc[2])] == ["QUANTITY_EXCEEDS_MAXIMUM"]


# == kill switch, square-off, cancel all ========================================================================


async def test_kill_switch_halts_cancels_working_orders_and_rejects_new_ones_until_reset(oms, clock):
    resting = await oms.place_order("RELIANCE", "BUY", 10, "LIMIT", 2400.0)
    stop = await oms.place_order("TCS", "SELL", 5, "SL-M", trigger_price=3800.0)

    await oms.kill_switch("runaway strategy")

    assert oms.trading_state is TradingState.HALTED
    assert oms.risk_summary()["trading_state"] == "HALTED"
    assert (resting.status, stop.status) == (S.CANCELLED, S.CANCELLED)
    assert oms.active_orders().empty
    refused = await oms.place_order("RELIANCE", "BUY", 1, "LIMIT", 2400.0)
    assert codes(refused) == ["TRADING_HALTED"]
    (state,) = await rows(oms, "SELECT state, reason FROM trading_state")
    assert (state["state"], state["reason"]) == ("HALTED", "runaway strategy")

    clock.advance(60)
    await oms.reset_kill_switch("checked the strategy")

    assert oms.trading_state is TradingState.ACTIVE
    assert (await oms.place_order("RELIANCE", "BUY", 1, "LIMIT", 2400.0)).status is S.OPEN
    (state,) = await rows(oms, "SELECT state, reason FROM trading_state")
    assert (state["state"], state["reason"]) == ("ACTIVE", "checked the strategy")
    changes = await rows(oms, "SELECT from_state, to_state FROM trading_state_changes ORDER BY ts")
    assert [(c["from_state"], c["to_state"]) for c in changes] == [("ACTIVE", "HALTED"), ("HALTED", "ACTIVE")]


@on_every_store
async def test_order_still_being_committed_when_the_kill_switch_trips_never_reaches_the_broker(oms):
    # gather starts the tasks in order: the order is registered and waits for its commit, then the switch trips.
    order, _ = await asyncio.gather(oms.place_order("RELIANCE", "BUY", 10), oms.kill_switch("halt"))

    if not oms.store.durable:  # in memory nothing waits for a commit: the order completes before the switch
        assert order.status is S.FILLED and oms.trading_state is TradingState.HALTED
        return
    assert order.status is S.REJECTED
    assert order.filled_quantity == 0
    assert oms.position("RELIANCE") == 0
    assert await count(oms, "trades") == 0


async def test_every_trading_state_change_is_stored_even_within_one_instant(oms):
    await oms.kill_switch("first")
    await oms.reset_kill_switch("first over")
    await oms.kill_switch("second")  # the simulated clock has not moved

    changes = await rows(oms, "SELECT from_state, to_state, reason FROM trading_state_changes")

    assert sorted((c["from_state"], c["to_state"], c["reason"]) for c in changes) == [
        ("ACTIVE", "HALTED", "first"), ("ACTIVE", "HALTED", "second"), ("HALTED", "ACTIVE", "first over")]


async def test_reset_kill_switch_needs_a_reason(oms):
    await oms.kill_switch("halt")

    with pytest.raises(InvalidOrderError) as error:
        await oms.reset_kill_switch("")

    assert error.value.field == "reason"
    assert oms.trading_state is TradingState.HALTED


async def test_kill_switch_with_flatten_squares_off_every_position(oms, clock):
    await fill_at(oms, clock, "RELIANCE", 10, 2500.0)
    await fill_at(oms, clock, "TCS", 4, 3900.0, side="SELL")

    orders = await oms.kill_switch("flatten all", flatten=True)

    assert sorted((o.symbol, o.side.value, o.quantity, o.status.value) for o in orders) == [
        ("RELIANCE", "SELL", 10, "FILLED"), ("TCS", "BUY", 4, "FILLED")]
    assert oms.position("RELIANCE") == oms.position("TCS") == 0
    assert oms.trading_state is TradingState.HALTED
    stored = await rows(oms, "SELECT symbol, quantity FROM positions ORDER BY symbol")
    assert [(r["symbol"], int(r["quantity"])) for r in stored] == [("RELIANCE", 0), ("TCS", 0)]


async def test_kill_switch_flatten_reports_a_position_it_could_not_close_yet(open_oms):
    oms = await open_oms(broker=MockBroker(fees=None, immediate_market_fills=False))  # market orders wait a quote
    await oms.set_price("SBIN", 800.0)
    await oms.place_order("SBIN", "BUY", 7, "MARKET")
    await oms.set_price("SBIN", 801.0)
    assert oms.position("SBIN") == 7
    alerts: list[Any] = []
    oms.subscribe(lambda event: alerts.append(event.alert), kinds="risk_alert")

    (closing,) = await oms.kill_switch("flatten", flatten=True)

    assert closing.status is S.OPEN and oms.position("SBIN") == 7
    (alert,) = alerts
    assert (alert.limit_name, alert.level, alert.symbol, alert.value) == ("kill_switch_residual", "BREACH", "SBIN", 7)
    assert alert.message == f"flatten left +7 SBIN MIS open; closing orders: {closing.order_id} OPEN"
    stored = await rows(oms, "SELECT limit_name, symbol FROM risk_alerts")
    assert stored == [{"limit_name": "kill_switch_residual", "symbol": "SBIN"}]
    await oms.set_price("SBIN", 799.0)  # the closing order goes through on the next quote
    assert oms.position("SBIN") == 0


async def test_square_off_flattens_positions_and_cancels_working_orders(oms, clock):
    await fill_at(oms, clock, "RELIANCE", 10, 2500.0)
    await fill_at(oms, clock, "RELIANCE", 3, 2500.0, product="CNC")
    await fill_at(oms, clock, "TCS", 4, 3900.0, side="SELL")
    resting = await oms.place_order("RELIANCE", "BUY", 5, "LIMIT", 2400.0)

    orders = await oms.square_off()

    assert resting.status is S.CANCELLED
    assert all(o.status is S.FILLED and o.tag == "square-off" for o in orders)
    assert sorted((o.symbol, o.product.value, o.side.value, o.quantity) for o in orders) == [
        ("RELIANCE", "CNC", "SELL", 3), ("RELIANCE", "MIS", "SELL", 10), ("TCS", "MIS", "BUY", 4)]
    positions = oms.positions()
    assert (positions["quantity"] == 0).all() and len(positions) == 3
    assert oms.trading_state is TradingState.ACTIVE


async def test_square_off_of_one_symbol_leaves_the_others(oms, clock):
    await fill_at(oms, clock, "RELIANCE", 10, 2500.0)
    await fill_at(oms, clock, "TCS", 4, 3900.0)
    tcs_resting = await oms.place_order("TCS", "BUY", 1, "LIMIT", 3800.0)

    orders = await oms.square_off("RELIANCE")

    assert [(o.symbol, o.quantity) for o in orders] == [("RELIANCE", 10)]
    assert (oms.position("RELIANCE"), oms.position("TCS")) == (0, 4)
    assert tcs_resting.status is S.OPEN


async def test_cancel_all_cancels_working_orders_of_a_symbol_or_of_every_symbol(oms):
    first = await oms.place_order("RELIANCE", "BUY", 10, "LIMIT", 2400.0)
    second = await oms.place_order("RELIANCE", "SELL", 10, "LIMIT", 2600.0)
    other = await oms.place_order("TCS", "BUY", 5, "SL", 3950.0, trigger_price=3940.0)

    by_symbol = await oms.cancel_all(symbol="RELIANCE")
    assert {o.order_id for o in by_symbol} == {first.order_id, second.order_id}
    assert other.status is S.TRIGGER_PENDING
    rest = await oms.cancel_all()

    assert [o.order_id for o in rest] == [other.order_id]
    assert {o.status for o in (first, second, other)} == {S.CANCELLED}
    assert oms.active_orders().empty
    assert {r["status"] for r in await rows(oms, "SELECT status FROM orders")} == {"CANCELLED"}
    assert await oms.cancel_all() == []


async def test_cancel_of_a_finished_order_raises_saying_its_status(oms):
    order = await oms.place_order("RELIANCE", "BUY", 10)

    with pytest.raises(OmsError, match="status is FILLED"):
        await oms.cancel_order(order.order_id)


# == modify =====================================================================================================


async def test_modify_to_a_marketable_price_fills_the_resting_limit(oms):
    order = await oms.place_order("RELIANCE", "BUY", 10, "LIMIT", 2490.0)

    await oms.modify_order(order.order_id, price=2500.0)

    assert order.status is S.FILLED
    assert order.price == D("2500")
    assert order.average_price == D("2500.00")
    row = await stored_order(oms, order.order_id)
    assert (row["status"], row["price"]) == ("FILLED", D("2500"))


async def test_modify_of_quantity_and_trigger_changes_the_working_order(oms):
    limit = await oms.place_order("RELIANCE", "BUY", 10, "LIMIT", 2490.0)
    stop = await oms.place_order("TCS", "SELL", 5, "SL-M", trigger_price=3850.0)

    await oms.modify_order(limit.order_id, quantity=6)
    await oms.modify_order(stop.order_id, trigger_price=3800.0)
    await oms.set_price("RELIANCE", 2480.0)
    await oms.set_price("TCS", 3820.0)  # would have triggered the old stop

    assert (limit.status, limit.filled_quantity) == (S.FILLED, 6)
    assert (stop.status, stop.trigger_price) == (S.TRIGGER_PENDING, D("3800"))
    row = await stored_order(oms, stop.order_id)
    assert (row["status"], row["trigger_price"]) == ("TRIGGER_PENDING", D("3800"))


async def test_modify_that_breaks_a_rule_raises_and_leaves_the_order_unchanged(open_oms):
    oms = await open_oms(limits=limits(max_order_quantity=100, price_collar_pct=5))
    await oms.set_price("RELIANCE", 2500.0)
    order = await oms.place_order("RELIANCE", "BUY", 50, "LIMIT", 2450.0)

    with pytest.raises(OrderModifyRejected) as too_big:
        await oms.modify_order(order.order_id, quantity=150)
    with pytest.raises(OrderModifyRejected) as too_far:
        await oms.modify_order(order.order_id, price=2300.0)

    assert [v.code for v in too_big.value.violations] == ["QUANTITY_EXCEEDS_MAXIMUM"]
    assert [v.code for v in too_far.value.violations] == ["PRICE_OUTSIDE_COLLAR"]
    assert "cannot modify order" in str(too_big.value)
    assert (order.status, order.quantity, order.price) == (S.OPEN, 50, D("2450"))
    row = await stored_order(oms, order.order_id)
    assert (row["status"], row["quantity"], row["price"]) == ("OPEN", 50, D("2450"))
    assert [e[1] for e in await stored_events(oms, order.order_id)][-2:] == ["MODIFY_REQUESTED", "MODIFY_REJECTED"]
    await oms.set_price("RELIANCE", 2450.0)  # the broker kept the old order too
    assert (order.status, order.filled_quantity) == (S.FILLED, 50)


async def test_modify_while_halted_is_rejected(oms):
    order = await oms.place_order("RELIANCE", "BUY", 10, "LIMIT", 2400.0)
    oms.monitor.set_state(TradingState.HALTED, "halt without cancelling", "test")

    with pytest.raises(OrderModifyRejected) as error:
        await oms.modify_order(order.order_id, price=2410.0)

    assert [v.code for v in error.value.violations] == ["TRADING_HALTED"]
    assert order.price == D("2400")


async def test_modify_of_a_filled_order_raises_saying_its_status(oms):
    order = await oms.place_order("RELIANCE", "BUY", 10)

    with pytest.raises(OmsError) as error:
        await oms.modify_order(order.order_id, quantity=20)

    assert not isinstance(error.value, OrderModifyRejected)
    assert f"cannot modify order {order.order_id}: status is FILLED" in str(error.value)
    assert order.quantity == 10


async def test_modify_without_a_change_or_with_a_malformed_one_raises_invalid_order_error(oms):
    order = await oms.place_order("RELIANCE", "BUY", 10, "LIMIT", 2400.0)

    with pytest.raises(InvalidOrderError, match=r"quantity/price/trigger_price.*at least one new value"):
        await oms.modify_order(order.order_id)
    with pytest.raises(InvalidOrderError) as error:
        await oms.modify_order(order.order_id, price=float("nan"))
    with pytest.raises(InvalidOrderError) as trigger:
        await oms.modify_order(order.order_id, trigger_price=2390.0)

    assert error.value.field == "price"
    assert trigger.value.field == "trigger_price"
    assert (order.status, order.price, order.sequence) == (S.OPEN, D("2400"), 1)


async def test_modify_of_an_unknown_order_raises(oms):
    with pytest.raises(OmsError, match="unknown order id"):
        await oms.modify_order("O-nope", price=2400.0)


# == the risk monitor ===========================================================================================


async def test_daily_loss_breach_trips_the_kill_switch_end_to_end(open_oms):
    oms = await open_oms(limits=RiskLimits(daily_loss_limit=500, max_open_orders=None))
    await oms.set_price("RELIANCE", 2500)
    await oms.place_order("RELIANCE", "BUY", 100, "MARKET")
    resting = await oms.place_order("RELIANCE", "BUY", 10, "LIMIT", 2400.0)
    await oms.set_price("RELIANCE", 2496)  # -400: 80 % of the limit

    warn = await oms.check_risk()
    assert [(a.level, a.limit_name) for a in warn] == [("WARN", "daily_loss_limit")]
    assert oms.trading_state is TradingState.ACTIVE

    await oms.set_price("RELIANCE", 2495)  # -500: the limit
    breach = await oms.check_risk()

    assert [(a.level, a.limit_name) for a in breach] == [("BREACH", "daily_loss_limit")]
    assert oms.trading_state is TradingState.HALTED
    assert oms.get_order(resting.order_id).status is S.CANCELLED
    refused = await oms.place_order("RELIANCE", "BUY", 1, "MARKET")
    assert sorted(v.code for v in refused.violations) == ["DAILY_LOSS_LIMIT", "TRADING_HALTED"]
    with pytest.raises(OmsError, match=r"daily loss 500.* still at or beyond the limit 500"):
        await oms.reset_kill_switch("try again")

    await oms.set_price("RELIANCE", 2500)  # recovered
    await oms.reset_kill_switch("prices recovered")
    assert oms.trading_state is TradingState.ACTIVE
    stored = await rows(oms, "SELECT level, limit_name FROM risk_alerts ORDER BY ts, level DESC")
    assert [(r["level"], r["limit_name"]) for r in stored] == [("WARN", "daily_loss_limit"),
                                                                ("BREACH", "daily_loss_limit")]
    sources = await rows(oms, "SELECT to_state, source FROM trading_state_changes ORDER BY to_state")
    assert {(r["to_state"], r["source"]) for r in sources} == {("HALTED", "daily loss"), ("ACTIVE", "user")}


async def test_daily_loss_breach_can_switch_to_reducing_instead_of_halting(open_oms):
    limits = RiskLimits(daily_loss_limit=500, auto_kill_on_daily_loss="REDUCING")
    oms = await open_oms(limits=limits)
    await oms.set_price("RELIANCE", 2500)
    await oms.place_order("RELIANCE", "BUY", 100, "MARKET")
    await oms.set_price("RELIANCE", 2490)

    await oms.check_risk()

    assert oms.trading_state is TradingState.REDUCING
    more = await oms.place_order("RELIANCE", "BUY", 1, "MARKET")
    less = await oms.place_order("RELIANCE", "SELL", 40, "MARKET")
    assert sorted(v.code for v in more.violations) == ["DAILY_LOSS_LIMIT", "REDUCE_ONLY_WOULD_INCREASE_POSITION"]
    assert less.status is S.FILLED


async def test_background_risk_monitor_raises_alerts_as_an_event(open_oms):
    oms = await open_oms(limits=RiskLimits(max_gross_exposure=100_000), risk_interval=0.01)
    raised: asyncio.Queue[Any] = asyncio.Queue()
    oms.subscribe(lambda event: raised.put_nowait(event.alert), kinds="risk_alert")
    await oms.set_price("SBIN", 800)
    await oms.place_order("SBIN", "BUY", 110, "MARKET")  # 88,000 of 100,000: WARN

    alert = await asyncio.wait_for(raised.get(), timeout=10)

    assert (alert.level, alert.limit_name, alert.value) == ("WARN", "max_gross_exposure", Decimal("88000.00"))
    assert oms.status()["tasks"]["oms-kit-risk-monitor"] is True


async def test_kill_switch_flatten_gets_out_whatever_the_rate_limit(open_oms):
    oms = await open_oms(limits=limits(max_orders_per_second=2))
    await oms.set_price("RELIANCE", 2500)
    await oms.place_order("RELIANCE", "BUY", 10, "MARKET")
    await oms.place_order("RELIANCE", "BUY", 5, "MARKET")

    orders = await oms.kill_switch("panic", flatten=True)

    assert [(o.side, o.quantity, o.status) for o in orders] == [("SELL", 15, S.FILLED)]
    assert oms.position("RELIANCE") == 0
    assert oms.trading_state is TradingState.HALTED


async def test_exchange_time_zone_is_checked_at_open_and_reaches_the_session_rules():
    from oms_kit import ConfigError

    with pytest.raises(ConfigError, match="invalid exchange_timezone") as error:
        await OMS.open(feed=None, exchange_timezone="Mars/Olympus")
    assert error.value.field == "exchange_timezone"

    clock = SimulatedClock(START)
    oms = await OMS.open(feed=None, risk_interval=None, exchange_timezone="America/New_York", clock=clock,
                         limits=RiskLimits(session_start=time(9, 30), session_end=time(16, 0)))
    try:
        closed = await oms.place_order("RELIANCE", "BUY", 10, "LIMIT", 2400.0)  # 23:00 in New York (09:30 in Mumbai)
        clock.set(datetime(2026, 1, 5, 15, 0, tzinfo=UTC))  # 10:00 in New York
        opened = await oms.place_order("RELIANCE", "BUY", 10, "LIMIT", 2400.0)

        assert str(oms.manager.session) == "America/New_York"
        assert codes(closed) == ["MARKET_CLOSED"]
        assert opened.status is S.OPEN
    finally:
        await oms.close()
