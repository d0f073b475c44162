"""After-market orders (``variety="amo"``): taken only while the market is closed (the session hours of RiskLimits,
in the exchange's time), held by the broker through the night and the day's roll, sent out by the first price
after the open; modified and cancelled while held; still held after a restart; and placed by the official
``kiteconnect`` client with ``variety="amo"``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time

import pytest
from kiteconnect import KiteConnect

import oms_kit as ok
from oms_kit.market.clock import SimulatedClock
from oms_kit.service import serve

S = ok.OrderStatus
HOURS = ok.RiskLimits(session_start=time(9, 15), session_end=time(15, 30), max_orders_per_second=None,
                      duplicate_window_s=None)
EVENING = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)  # 20:00 in Mumbai, a Monday: the market closed at 15:30
PAST_MIDNIGHT = datetime(2026, 1, 5, 19, 0, tzinfo=UTC)  # 00:30 on Tuesday in Mumbai: a new trading day
BEFORE_OPEN = datetime(2026, 1, 6, 3, 30, tzinfo=UTC)  # 09:00 on Tuesday
AFTER_OPEN = datetime(2026, 1, 6, 3, 50, tzinfo=UTC)  # 09:20 on Tuesday


async def open_oms(clock: SimulatedClock, url: str = "duckdb:///:memory:", **options) -> ok.OMS:
    options.setdefault("limits", HOURS)
    oms = await ok.OMS.open(url, feed=None, risk_interval=None, clock=clock, **options)
    return oms


def codes(order: ok.Order) -> list[str]:
    return [v.code for v in order.violations]


async def test_an_amo_waits_through_the_night_and_the_days_roll_and_fills_on_the_first_price_after_the_open():
    clock = SimulatedClock(EVENING)
    oms = await open_oms(clock)
    try:
        await oms.set_price("INFY", 1500)  # the day's last price, shown after hours
        regular = await oms.place_order("INFY", "BUY", 5, "LIMIT", 1490)
        amo = await oms.place_order("INFY", "BUY", 5, "LIMIT", 1490, variety="amo")
        market = await oms.place_order("INFY", "SELL", 2, variety="AMO", product="CNC")

        assert codes(regular) == ["MARKET_CLOSED"]
        assert amo.status is S.OPEN and amo.variety is ok.Variety.AMO and market.status is S.OPEN
        await oms.set_price("INFY", 1480)  # a late print below the limit: the exchange has no AMO yet
        clock.set(PAST_MIDNIGHT)
        await oms.check_risk()  # the monitor's turn: a new day begins, DAY orders that had prices expire
        clock.set(BEFORE_OPEN)
        await oms.set_price("INFY", 1470)
        assert (amo.status, market.status, amo.filled_quantity) == (S.OPEN, S.OPEN, 0)

        clock.set(AFTER_OPEN)
        await oms.set_price("INFY", 1485)

        assert (amo.status, amo.average_price) == (S.FILLED, 1485)
        assert (market.status, market.average_price) == (S.FILLED, 1485)
        frame = oms.orders()
        assert frame.set_index("order_id").loc[amo.order_id, "variety"] == "amo"
        assert frame.set_index("order_id").loc[regular.order_id, "variety"] == "regular"
    finally:
        await oms.close()


async def test_an_amo_is_refused_while_the_market_is_open_and_sent_with_the_next_price_without_hours():
    clock = SimulatedClock(AFTER_OPEN)
    oms = await open_oms(clock)
    try:
        await oms.set_price("INFY", 1500)
        during = await oms.place_order("INFY", "BUY", 5, variety="amo")
        regular = await oms.place_order("INFY", "BUY", 5)
        dry_run = oms.validate("INFY", "BUY", 5, variety="amo").set_index("name")

        assert codes(during) == ["AMO_MARKET_OPEN"] and during.status is S.REJECTED
        assert "09:20:00" in during.violations[0].message and "place a regular order" in during.violations[0].message
        assert regular.status is S.FILLED
        assert not dry_run.loc["market_hours", "passed"] and dry_run.loc["market_hours", "code"] == "AMO_MARKET_OPEN"
    finally:
        await oms.close()

    # Without market hours the market never closes: an AMO is taken and goes out with the next price.
    anytime = await open_oms(SimulatedClock(EVENING), limits=ok.RiskLimits())
    try:
        await anytime.set_price("INFY", 1500)
        order = await anytime.place_order("INFY", "BUY", 5, variety="amo")
        assert (order.status, order.filled_quantity) == (S.OPEN, 0)
        await anytime.set_price("INFY", 1501)
        assert (order.status, order.average_price) == (S.FILLED, 1501)
    finally:
        await anytime.close()

    with pytest.raises(ok.InvalidOrderError) as error:
        ok.OrderRequest("INFY", "BUY", 5, variety="co")
    assert error.value.field == "variety" and "regular" in str(error.value) and "amo" in str(error.value)


async def test_a_held_amo_can_be_modified_and_cancelled_before_the_open():
    clock = SimulatedClock(EVENING)
    oms = await open_oms(clock)
    try:
        await oms.set_price("INFY", 1500)
        kept = await oms.place_order("INFY", "BUY", 5, "LIMIT", 1490, variety="amo")
        dropped = await oms.place_order("INFY", "BUY", 3, "LIMIT", 1480, variety="amo")

        await oms.modify_order(kept.order_id, quantity=8, price=1495)
        await oms.cancel_order(dropped.order_id, "changed my mind")
        assert (kept.status, kept.quantity, kept.price) == (S.OPEN, 8, 1495)
        assert dropped.status is S.CANCELLED

        clock.set(AFTER_OPEN)
        await oms.set_price("INFY", 1492)
        assert (kept.status, kept.filled_quantity, kept.average_price) == (S.FILLED, 8, 1492)
        assert dropped.status is S.CANCELLED and oms.position("INFY") == 8
    finally:
        await oms.close()


async def test_an_amo_is_still_held_after_a_restart_before_the_open_and_fills_after_it(tmp_path):
    url = f"duckdb:///{tmp_path / 'amo.duckdb'}"
    clock = SimulatedClock(EVENING)
    oms = await open_oms(clock, url)
    await oms.set_price("INFY", 1500)
    placed = await oms.place_order("INFY", "BUY", 5, "LIMIT", 1490, variety="amo")
    await oms.close()

    clock.set(BEFORE_OPEN)  # the next day, before the open: a regular DAY order of yesterday would expire now
    reopened = await open_oms(clock, url)
    try:
        order = reopened.get_order(placed.order_id)
        await reopened.set_price("INFY", 1470)
        assert (order.status, order.variety, order.filled_quantity) == (S.OPEN, ok.Variety.AMO, 0)

        clock.set(AFTER_OPEN)
        await reopened.set_price("INFY", 1488)
        assert (order.status, order.average_price) == (S.FILLED, 1488)
    finally:
        await reopened.close()


async def test_the_kite_client_places_an_amo_that_waits_for_the_open():
    clock = SimulatedClock(EVENING)
    oms = await open_oms(clock)
    server = await serve(oms, port=0)
    try:
        await oms.set_price("INFY", 1500)
        kite = KiteConnect(api_key=oms.account, root=server.url)
        kite.set_access_token(server.token)
        form = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": 4,
                "product": "CNC", "order_type": "MARKET"}

        amo_id = await asyncio.to_thread(kite.place_order, variety="amo", **form)
        regular_id = await asyncio.to_thread(kite.place_order, variety="regular", **form)
        book = {o["order_id"]: o for o in await asyncio.to_thread(kite.orders)}

        assert (book[amo_id]["variety"], book[amo_id]["status"], book[amo_id]["pending_quantity"]) == ("amo", "OPEN", 4)
        assert book[regular_id]["status"] == "REJECTED" and "MARKET_CLOSED" in book[regular_id]["status_message"]
        await asyncio.to_thread(kite.modify_order, "amo", amo_id, quantity=6)
        clock.set(AFTER_OPEN)
        await oms.set_price("INFY", 1510)
        filled = next(o for o in await asyncio.to_thread(kite.orders) if o["order_id"] == amo_id)
        assert (filled["status"], filled["average_price"], filled["filled_quantity"]) == ("COMPLETE", 1510.0, 6)
    finally:
        await server.stop()
        await oms.close()
