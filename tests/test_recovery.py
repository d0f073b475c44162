"""Reopening an account on a durable store (DuckDB file, PostgreSQL): everything committed comes back."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from oms_kit import (
    OMS,
    MockBroker,
    OrderStatus,
    PersistenceUnavailable,
    RiskLimits,
    SimulatedClock,
    StoreError,
    TradingState,
)
from tests.stubs import T0

S = OrderStatus
LIMITS = RiskLimits(max_orders_per_second=None, duplicate_window_s=None)


@pytest.fixture(params=["file", pytest.param("postgres", marks=pytest.mark.postgres)])
def durable_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "file":
        return f"duckdb:///{tmp_path}/oms.duckdb"
    return request.getfixturevalue("pg_url")


async def _open(url: str, **options: Any) -> OMS:
    options.setdefault("clock", SimulatedClock(T0))
    return await OMS.open(url, feed=None, risk_interval=None, limits=LIMITS,
                          broker=MockBroker(fees="india_equity"), **options)


async def test_reopen_restores_working_orders_positions_cash_and_the_halted_state(durable_url):
    oms = await _open(durable_url, cash=1_000_000)
    await oms.set_price("RELIANCE", 2500)
    await oms.set_price("SBIN", 800)
    await oms.place_order("RELIANCE", "BUY", 10, "MARKET")
    await oms.place_order("SBIN", "SELL", 5, "MARKET")
    resting = await oms.place_order("RELIANCE", "BUY", 4, "LIMIT", 2450.0)
    stop = await oms.place_order("SBIN", "BUY", 5, "SL-M", trigger_price=820.0)
    before = (oms.manager.ledger.cash, oms.positions()[["symbol", "quantity", "average_price", "realized_pnl",
                                                         "fees"]].to_dict("records"), oms.stats_today())
    await oms.close()

    again = await _open(durable_url, cash=5)  # the stored cash wins over the argument

    assert again.manager.ledger.cash == before[0]
    assert again.positions()[["symbol", "quantity", "average_price", "realized_pnl", "fees"]].to_dict(
        "records") == before[1]
    assert {o for o in again.active_orders()["order_id"]} == {resting.order_id, stop.order_id}
    assert again.get_order(stop.order_id).status is S.TRIGGER_PENDING
    stats = again.stats_today()
    assert (stats["orders_placed"], stats["orders_filled"]) == (before[2]["orders_placed"],
                                                                before[2]["orders_filled"])
    # The broker's book came back too: the restored orders still fill.
    await again.set_price("RELIANCE", 2449)
    await again.set_price("SBIN", 821)
    assert again.get_order(resting.order_id).status is S.FILLED
    assert again.get_order(stop.order_id).status is S.FILLED
    assert again.position("RELIANCE") == 14 and again.position("SBIN") == 0
    await again.kill_switch("end of test")
    await again.close()

    halted = await _open(durable_url)
    assert halted.trading_state is TradingState.HALTED
    refused = await halted.place_order("RELIANCE", "BUY", 1, "MARKET")
    assert [v.code for v in refused.violations] == ["TRADING_HALTED"]
    await halted.close()


async def test_order_recorded_but_never_sent_is_rejected_on_reopen_not_doubled(durable_url):
    oms = await _open(durable_url)
    await oms.set_price("TCS", 3900)
    order, send = oms.manager.prepare("TCS", "BUY", 3, "MARKET")  # committed, but the process "dies" here
    assert send
    await oms.flush()
    await oms.close()

    again = await _open(durable_url)

    restored = again.get_order(order.order_id)
    assert restored.status is S.REJECTED
    assert restored.reason == "not acknowledged by the broker before the restart"
    assert again.position("TCS") == 0
    await again.flush()
    stored = await again.store.fetch("SELECT status FROM orders WHERE order_id = $1", order.order_id)
    assert stored == [{"status": "REJECTED"}]
    await again.close()


async def test_a_fill_after_reopen_keeps_the_exact_average_of_all_fills(durable_url):
    oms = await _open(durable_url)
    oms.manager.broker.participation = 0.5  # a bar of volume 12 fills at most 6
    await oms.set_price("INFY", 1501)
    order = await oms.place_order("INFY", "BUY", 9, "LIMIT", 1500.0)
    oms.manager.on_price("INFY", T0, 1499.95, 1499.95, 1499.95, 1499.95, 12)
    assert oms.get_order(order.order_id).filled_quantity == 6
    await oms.flush()
    await oms.close()

    again = await _open(durable_url)
    again.manager.on_price("INFY", T0, 1499.90, 1499.90, 1499.90, 1499.90, None)
    restored = again.get_order(order.order_id)

    assert restored.status is S.FILLED
    assert restored.average_price == ((Decimal("1499.95") * 6 + Decimal("1499.90") * 3) / 9).quantize(
        Decimal("0.00000001"))
    await again.close()


@pytest.mark.postgres
async def test_second_writer_of_an_account_on_postgresql_is_refused_until_the_first_closes(pg_url):
    first = await _open(pg_url)
    other_account = await _open(pg_url, account="other")

    with pytest.raises(StoreError, match=r"account 'default' .* already open for writing in another session"):
        await _open(pg_url)

    await first.close()
    second = await _open(pg_url)
    assert second.status()["account"] == "default"
    await second.close()
    await other_account.close()


async def test_second_writer_of_a_duckdb_file_is_refused(tmp_path):
    url = f"duckdb:///{tmp_path}/oms.duckdb"
    first = await _open(url)

    with pytest.raises(StoreError):
        await _open(url)

    await first.close()


@pytest.mark.postgres
async def test_database_down_refuses_new_orders_and_recovers_when_it_returns(pg_cluster_owned):
    oms = await _open(pg_cluster_owned.url)
    await oms.set_price("SBIN", 800)
    kept = await oms.place_order("SBIN", "BUY", 5, "MARKET")

    pg_cluster_owned.stop()
    with pytest.raises(PersistenceUnavailable, match="refused: the database is unavailable"):
        await oms.place_order("SBIN", "BUY", 3, "MARKET")
    refused = oms.orders(status="REJECTED")
    assert refused["reason"].str.startswith("PERSISTENCE_UNAVAILABLE").tolist() == [True]
    assert oms.position("SBIN") == 5  # fail closed: nothing reached the broker

    pg_cluster_owned.start()
    after = await oms.place_order("SBIN", "BUY", 2, "MARKET")
    assert after.status is S.FILLED and oms.position("SBIN") == 7
    stored = await oms.store.fetch("SELECT order_id, status FROM orders ORDER BY created_at")
    assert [r["order_id"] for r in stored] == [kept.order_id, after.order_id]
    await oms.close()
