"""A read-only OMS watching an account that another session writes (OMS.open(url, read_only=True))."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from oms_kit import (
    OMS,
    MockBroker,
    OmsError,
    OrderRequest,
    OrderStatus,
    RiskLimits,
    SimulatedClock,
    StoreError,
    TradingState,
)
from tests.stubs import T0

LIMITS = RiskLimits(max_orders_per_second=None, duplicate_window_s=None)


async def _open(url: str, **options: Any) -> OMS:
    options.setdefault("clock", SimulatedClock(T0))
    return await OMS.open(url, feed=None, risk_interval=None, limits=LIMITS, broker=MockBroker(fees="india_equity"),
                          **options)


async def _until(condition: Callable[[], bool], what: str, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the watcher did not see {what} within {seconds} s")


def _book(oms: OMS) -> tuple[Any, ...]:
    positions = oms.positions()[["symbol", "product", "quantity", "average_price", "realized_pnl", "fees"]]
    orders = oms.orders()[["order_id", "status", "filled_quantity", "average_price"]]
    return (positions.to_dict("records"), sorted(orders.to_dict("records"), key=lambda r: r["order_id"]),
            oms.manager.ledger.cash, oms.trading_state)


@pytest.mark.postgres
async def test_watcher_on_postgresql_follows_the_writer_live(pg_url):
    writer = await _open(pg_url)
    await writer.set_price("RELIANCE", 2500)
    first = await writer.place_order("RELIANCE", "BUY", 10, "MARKET")

    watcher = await _open(pg_url, read_only=True)
    assert watcher.read_only and watcher.status()["watch"]["live"] is True
    assert watcher.get_order(first.order_id).status is OrderStatus.FILLED
    assert watcher.position("RELIANCE") == 10
    seen: list[Any] = []
    watcher.subscribe(seen.append)

    resting = await writer.place_order("RELIANCE", "SELL", 4, "LIMIT", 2510.0)
    await _until(lambda: resting.order_id in set(watcher.active_orders()["order_id"]), "the resting order")
    await writer.set_price("RELIANCE", 2511)  # the writer's fill
    await _until(lambda: watcher.position("RELIANCE") == 6, "the fill")
    fills = [e for e in seen if e.kind == "fill"]
    assert [(f.fill.order_id, f.fill.quantity) for f in fills] == [(resting.order_id, 4)]
    assert any(e.kind == "position" for e in seen)

    await writer.kill_switch("watched halt")
    await _until(lambda: watcher.trading_state is TradingState.HALTED, "the halt")
    assert [e.reason for e in seen if e.kind == "trading_state"] == ["watched halt"]
    assert _book(watcher) == _book(writer)
    assert watcher.stats_today()["orders_placed"] == writer.stats_today()["orders_placed"] == 2

    with pytest.raises(OmsError, match="read-only"):
        await watcher.place_order("RELIANCE", "BUY", 1, "MARKET")
    with pytest.raises(OmsError, match="read-only"):
        await watcher.kill_switch("not mine")
    assert watcher.status()["watch"]["error"] is None
    await watcher.close()
    await writer.close()


@pytest.mark.postgres
async def test_watcher_values_positions_at_the_marks_the_writers_monitor_stores(pg_url):
    writer = await _open(pg_url)
    await writer.set_price("RELIANCE", 2500)
    await writer.place_order("RELIANCE", "BUY", 10, "MARKET")
    watcher = await _open(pg_url, read_only=True)

    def unrealized() -> Any:
        return watcher.positions().set_index("symbol")["unrealized_pnl"]["RELIANCE"]

    assert unrealized() == 0

    await writer.set_price("RELIANCE", 2530)  # a watcher has no feed: it sees prices through the stored marks
    await writer.check_risk()
    await _until(lambda: unrealized() == 300, "the moved mark")

    assert watcher.positions()["last_price"].tolist() == writer.positions()["last_price"].tolist()
    await watcher.close()
    await writer.close()


async def test_watcher_on_a_duckdb_file_loads_what_the_writer_left(tmp_path):
    url = f"duckdb:///{tmp_path}/oms.duckdb"
    writer = await _open(url)
    await writer.set_price("SBIN", 800)
    await writer.place_order("SBIN", "BUY", 5, "MARKET")
    await writer.place_order("SBIN", "BUY", 5, "LIMIT", 790.0)
    with pytest.raises(StoreError, match="cannot open DuckDB database"):  # the writer holds the file
        await _open(url, read_only=True)
    book = _book(writer)
    await writer.close()

    watcher = await _open(url, read_only=True)
    assert _book(watcher) == book
    assert watcher.status()["watch"]["live"] is False
    await watcher.refresh()
    assert _book(watcher) == book
    # A dry run on the watcher counts the resting buy like the writer's would: 5 held + 5 working + 20 more.
    limits = watcher.manager.limits
    watcher.manager.set_limits(dataclasses.replace(limits, max_position_quantity=25))
    checks = watcher.validate("SBIN", "BUY", 20, "LIMIT", 790.0).set_index("name")
    assert not checks.loc["max_position_quantity", "passed"]
    assert checks.loc["max_position_quantity", "value"] == 30
    await watcher.close()


async def test_read_only_in_memory_is_refused_with_a_reason():
    with pytest.raises(StoreError, match="read-only"):
        await _open("duckdb:///:memory:", read_only=True)


async def test_watcher_listens_again_after_a_postgresql_restart_and_catches_up(pg_cluster_owned):
    writer = await _open(pg_cluster_owned.url)
    await writer.set_price("SBIN", 800)
    watcher = await _open(pg_cluster_owned.url, read_only=True)

    pg_cluster_owned.stop()
    await _until(lambda: watcher.status()["watch"]["live"] is False, "the lost connection")
    pg_cluster_owned.start()
    order = await writer.place_order("SBIN", "BUY", 5, "MARKET")  # committed once the server is back

    await _until(lambda: watcher.position("SBIN") == 5, "the order placed after the restart")
    assert watcher.get_order(order.order_id).status is OrderStatus.FILLED
    await _until(lambda: watcher.status()["watch"]["live"] is True, "listening again")
    later = await writer.place_order("SBIN", "SELL", 2, "MARKET")
    await _until(lambda: later.order_id in set(watcher.orders()["order_id"]), "a notification after the restart")
    await watcher.close()
    await writer.close()


@pytest.mark.postgres
async def test_watcher_lists_the_writers_gtts_and_order_programs_and_follows_them(pg_url):
    writer = await _open(pg_url)
    await writer.set_price("RELIANCE", 2500)
    program = await writer.place_bracket("RELIANCE", "BUY", 10, "MARKET", target=20, stoploss=10)
    gtt = await writer.place_gtt("RELIANCE", 2600, OrderRequest("RELIANCE", "BUY", 1))

    watcher = await _open(pg_url, read_only=True)
    try:
        assert watcher.programs()["program_id"].tolist() == [program.program_id]
        assert watcher.get_program(program.program_id).stop_id == program.stop_id
        assert watcher.gtts()["gtt_id"].tolist() == [gtt.gtt_id]
        with pytest.raises(OmsError, match="read-only"):
            await watcher.cancel_program(program.program_id)

        await writer.set_price("RELIANCE", 2521)  # the target fills, the stop is cancelled
        await writer.delete_gtt(gtt.gtt_id)
        await _until(lambda: watcher.get_program(program.program_id).status == "complete", "the exit")
        await _until(lambda: watcher.gtts()["status"].tolist() == ["cancelled"], "the deleted GTT")
        assert watcher.get_order(program.stop_id).status is OrderStatus.CANCELLED
    finally:
        await watcher.close()
        await writer.close()
