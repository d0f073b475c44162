"""The day's book after a reopen: a durable account shows the whole trading day as it did before the restart, and
older history through the same methods, read from the store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd
import pytest

from oms_kit import OMS, ConfigError, InvalidOrderError, MockBroker, OmsError, OrderStatus, RiskLimits, SimulatedClock
from oms_kit.widgets import HistoryPanel
from tests.stubs import T0

S = OrderStatus
LIMITS = RiskLimits(max_orders_per_second=None, duplicate_window_s=None)


async def _open(url: str, clock: SimulatedClock) -> OMS:
    return await OMS.open(url, feed=None, risk_interval=None, limits=LIMITS, clock=clock,
                          broker=MockBroker(fees="india_equity", participation=0.5))


async def _mixed_day(oms: OMS, clock: SimulatedClock) -> dict[str, str]:
    """Orders in every status a day leaves: filled, part-filled, cancelled by hand and by the kill switch, rejected,
    modified, working (resting and waiting for a trigger), and their trades."""
    await oms.set_price("RELIANCE", 2500, volume=1_000)
    await oms.set_price("SBIN", 800, volume=1_000)
    ids = {}
    ids["filled"] = (await oms.place_order("RELIANCE", "BUY", 10, "MARKET")).order_id
    clock.advance(1)
    await oms.set_price("RELIANCE", 2510, volume=1_000)
    ids["sold"] = (await oms.place_order("RELIANCE", "SELL", 4, "MARKET", tag="trim")).order_id
    ids["rejected"] = (await oms.place_order("TCS", "BUY", 10, "LIMIT", price=3900.03)).order_id
    ids["by_hand"] = (await oms.place_order("SBIN", "BUY", 5, "LIMIT", price=780)).order_id
    await oms.cancel_order(ids["by_hand"])
    clock.advance(1)
    ids["by_kill"] = (await oms.place_order("SBIN", "BUY", 7, "LIMIT", price=785)).order_id
    await oms.kill_switch("test: stop everything")
    await oms.reset_kill_switch("test: trading again")
    clock.advance(1)
    ids["part"] = (await oms.place_order("SBIN", "BUY", 10, "LIMIT", price=790)).order_id
    await oms.set_price("SBIN", 789, volume=8)  # half of 8 fills: 4 of 10
    ids["modified"] = (await oms.place_order("RELIANCE", "BUY", 3, "LIMIT", price=2450)).order_id
    await oms.modify_order(ids["modified"], price=2455)
    ids["stop"] = (await oms.place_order("SBIN", "BUY", 5, "SL-M", trigger_price=850)).order_id
    await oms.flush()
    return ids


def _snapshot(oms: OMS, ids: dict[str, str]) -> dict[str, Any]:
    panel = HistoryPanel(oms)
    panel.refresh_now()
    try:
        return {
            "orders": oms.orders(),
            "trades": oms.trades(),
            "active": oms.active_orders(),
            "each": {name: _order_fields(oms.get_order(i)) for name, i in ids.items()},
            "stats": {k: v for k, v in oms.stats_today().items() if k != "unrealized_pnl"},
            "panel": (panel.orders_table.value, panel.trades_table.value),
        }
    finally:
        panel.close()


def _order_fields(order: Any) -> dict[str, Any]:
    return {**order.to_dict(), "filled_value": order.filled_value, "triggered": order.triggered,
            "sequence": order.sequence, "violations": [v.to_dict() for v in order.violations]}


async def test_reopen_shows_the_whole_day_as_before_the_restart(durable_url: str) -> None:
    clock = SimulatedClock(T0)
    oms = await _open(durable_url, clock)
    ids = await _mixed_day(oms, clock)
    before = _snapshot(oms, ids)
    await oms.close()
    statuses = {name: info["status"] for name, info in before["each"].items()}
    assert statuses == {"filled": "FILLED", "sold": "FILLED", "rejected": "REJECTED", "by_hand": "CANCELLED",
                        "by_kill": "CANCELLED", "part": "PARTIALLY_FILLED", "modified": "OPEN",
                        "stop": "TRIGGER_PENDING"}

    again = await _open(durable_url, clock)
    try:
        after = _snapshot(again, ids)
    finally:
        await again.close()

    pd.testing.assert_frame_equal(after["orders"], before["orders"])
    pd.testing.assert_frame_equal(after["trades"], before["trades"])
    pd.testing.assert_frame_equal(after["active"], before["active"])
    assert after["each"] == before["each"]
    assert after["stats"] == before["stats"]
    assert before["stats"]["orders_placed"] == 8 and before["stats"]["trades"] == 3
    assert before["stats"]["win_rate"] is not None  # the SELL closed part of the position
    assert after["panel"] == before["panel"]
    assert ids["by_kill"] in after["panel"][0] and ids["rejected"] in after["panel"][0]


async def test_an_earlier_day_is_read_from_the_store_through_the_same_methods(durable_url: str) -> None:
    clock = SimulatedClock(T0)
    oms = await _open(durable_url, clock)
    await oms.set_price("RELIANCE", 2500)
    day_one = []
    for quantity in (1, 2, 3):
        clock.advance(60)
        day_one.append((await oms.place_order("RELIANCE", "BUY", quantity, "MARKET")).order_id)
    day_one_trades = oms.trades()
    await oms.close()

    clock.advance(86_400)
    again = await _open(durable_url, clock)
    try:
        await again.set_price("RELIANCE", 2510)
        today = (await again.place_order("RELIANCE", "SELL", 6, "MARKET")).order_id

        assert list(again.orders()["order_id"]) == [today]  # the book in memory is today's
        assert len(again.trades()) == 1
        assert again.stats_today()["orders_placed"] == 1
        assert again.get_order(day_one[0]).status is S.FILLED  # any stored id
        assert again.get_order(day_one[1]).filled_value == 2 * 2500

        yesterday = T0 - timedelta(hours=1)
        assert list(again.orders(since=yesterday)["order_id"]) == [*day_one, today]
        assert list(again.orders(since=yesterday, status="FILLED", limit=2)["order_id"]) == [day_one[2], today]
        assert list(again.orders(until=T0 + timedelta(hours=1))["order_id"]) == day_one
        # Paging back: the newest page, then the one before it.
        page = again.orders(since=yesterday, limit=2)
        assert list(page["order_id"]) == [day_one[2], today]
        older = again.orders(since=yesterday, until=page["created_at"].iloc[0] - timedelta(microseconds=1),
                             limit=2)
        assert list(older["order_id"]) == day_one[:2]
        trades = again.trades(since=yesterday)
        assert len(trades) == 4
        pd.testing.assert_frame_equal(trades.iloc[:3].reset_index(drop=True), day_one_trades)
        assert list(again.trades(since=yesterday, limit=2)["order_id"]) == [day_one[2], today]
        # Naive times and ISO strings are exchange-local (Asia/Kolkata: T0 09:15 UTC is 14:45 there).
        assert list(again.orders(since="2026-01-05T14:00", until="2026-01-05T15:00")["order_id"]) == day_one
    finally:
        await again.close()


async def test_unknown_ids_and_bad_history_arguments_are_refused(durable_url: str) -> None:
    clock = SimulatedClock(T0)
    oms = await _open(durable_url, clock)
    try:
        with pytest.raises(OmsError, match="unknown order id 'O-nope-1'"):
            oms.get_order("O-nope-1")
        with pytest.raises(InvalidOrderError, match="invalid order_id"):
            oms.get_order(["O-1"])  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="invalid since: 'yesterday'"):
            oms.orders(since="yesterday")
        with pytest.raises(ConfigError, match="invalid limit: 0"):
            oms.trades(limit=0)
        with pytest.raises(ConfigError, match="invalid symbol"):
            oms.orders(symbol=7)  # type: ignore[arg-type]
    finally:
        await oms.close()


async def test_a_watcher_loads_the_day_and_reads_earlier_days_from_the_store(durable_url: str) -> None:
    clock = SimulatedClock(T0)
    oms = await _open(durable_url, clock)
    await oms.set_price("RELIANCE", 2500)
    earlier = (await oms.place_order("RELIANCE", "BUY", 1, "MARKET")).order_id
    resting = (await oms.place_order("RELIANCE", "BUY", 1, "LIMIT", price=2450)).order_id
    await oms.close()
    clock.advance(86_400)
    oms = await _open(durable_url, clock)
    await oms.set_price("RELIANCE", 2500)
    today = (await oms.place_order("RELIANCE", "SELL", 1, "MARKET")).order_id
    book = list(oms.orders()["order_id"])
    await oms.close()
    # The DAY order of the day before expired at the reopen: it ended today, so today's book shows it.
    assert book == [resting, today]

    watcher = await OMS.open(durable_url, read_only=True, clock=clock)
    try:
        assert list(watcher.orders()["order_id"]) == book
        assert watcher.get_order(resting).status is S.EXPIRED
        assert list(watcher.orders(since=T0 - timedelta(hours=1))["order_id"]) == [earlier, resting, today]
        assert watcher.get_order(earlier).status is S.FILLED
        assert watcher.stats_today()["orders_placed"] == 1
    finally:
        await watcher.close()


async def test_the_day_read_after_new_orders_comes_before_them_and_a_retried_client_id_is_known(
        durable_url: str) -> None:
    clock = SimulatedClock(T0)
    oms = await _open(durable_url, clock)
    await oms.set_price("RELIANCE", 2500)
    first = await oms.place_order("RELIANCE", "BUY", 2, "MARKET", client_order_id="bot-1")
    await oms.close()

    clock.advance(60)
    again = await _open(durable_url, clock)
    try:
        assert again.day_book is not None and not again.day_book.loaded  # the ended orders wait in the store
        await again.set_price("RELIANCE", 2500)
        retried = await again.place_order("RELIANCE", "BUY", 2, "MARKET", client_order_id="bot-1")
        assert retried.order_id == first.order_id and retried.status is S.FILLED  # the same order, not a second
        later = await again.place_order("RELIANCE", "SELL", 2, "MARKET")
        assert list(again.orders()["order_id"]) == [first.order_id, later.order_id]
        assert list(again.trades()["order_id"]) == [first.order_id, later.order_id]
        assert again.stats_today()["trades"] == 2
    finally:
        await again.close()
