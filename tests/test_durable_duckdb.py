"""The durable store's outage behaviours on a DuckDB file: what tests/test_recovery.py checks on PostgreSQL by
stopping the server.

A DuckDB file cannot go away like a server, but it can stop being writable (a full disk, a file removed or made
unwritable under the process). Here its write-ahead log's path is taken by a directory, after a checkpoint has
folded the log into the file: every COMMIT then fails to write, as on a full disk (a file-size limit gives the
same error), until the directory is removed. The OMS should then behave as on PostgreSQL while the server is down:
new orders and modifies refused (fail closed), fills and cancels buffered and written exactly once, trading halted
when the buffer overflows.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from oms_kit import (
    OMS,
    MockBroker,
    OrderStatus,
    PersistenceUnavailable,
    RiskLimits,
    SimulatedClock,
    TradingState,
)
from tests.stubs import T0

S = OrderStatus
LIMITS = RiskLimits(max_orders_per_second=None, duplicate_window_s=None)

async def _open(url: str, **options: Any) -> OMS:
    return await OMS.open(url, feed=None, risk_interval=None, limits=LIMITS, clock=SimulatedClock(T0),
                          broker=MockBroker(fees="india_equity"), **options)


def _file(tmp_path: Path) -> tuple[str, Path]:
    path = tmp_path / "oms.duckdb"
    return f"duckdb:///{path}", Path(f"{path}.wal")


async def _stop_writes(oms: OMS, wal: Path) -> None:
    """From now on the file cannot be written: the log is checkpointed away and its path taken."""
    await oms.flush()
    await oms.store.fetch("CHECKPOINT")
    assert not wal.exists()
    wal.mkdir()


async def _count(oms: OMS, sql: str) -> int:
    return int((await oms.store.fetch(sql))[0]["n"])


async def test_file_that_cannot_be_written_refuses_new_orders_and_recovers_when_it_can(tmp_path):
    url, wal = _file(tmp_path)
    oms = await _open(url)
    try:
        await oms.set_price("SBIN", 800)
        kept = await oms.place_order("SBIN", "BUY", 5, "MARKET")

        await _stop_writes(oms, wal)
        with pytest.raises(PersistenceUnavailable, match="refused: the database is unavailable"):
            await oms.place_order("SBIN", "BUY", 3, "MARKET")
        refused = oms.orders(status="REJECTED")
        assert refused["reason"].str.startswith("PERSISTENCE_UNAVAILABLE").tolist() == [True]
        assert oms.position("SBIN") == 5  # fail closed: nothing reached the broker
        writes = oms.status()["writes"]
        assert writes["available"] is False and writes["pending_rows"] > 0

        wal.rmdir()
        after = await oms.place_order("SBIN", "BUY", 2, "MARKET")
        assert after.status is S.FILLED and oms.position("SBIN") == 7
        assert oms.status()["writes"]["available"] is True
        # The refused order is on record too, as it ended: every state change is stored.
        stored = await oms.store.fetch("SELECT order_id, status FROM orders ORDER BY created_at, order_id")
        assert [(r["order_id"], r["status"]) for r in stored] == [
            (kept.order_id, "FILLED"), (refused["order_id"].iloc[0], "REJECTED"), (after.order_id, "FILLED")]
    finally:
        if wal.is_dir():
            wal.rmdir()
        await oms.close()


async def test_file_that_cannot_be_written_buffers_fills_and_cancels_refuses_modifies_and_writes_once(tmp_path):
    url, wal = _file(tmp_path)
    oms = await _open(url)
    try:
        emitted: list[Any] = []
        oms.subscribe(emitted.append, kinds=["order", "fill"])
        await oms.set_price("SBIN", 800)
        resting = await oms.place_order("SBIN", "BUY", 5, "LIMIT", 795.0)
        other = await oms.place_order("SBIN", "BUY", 3, "LIMIT", 780.0)

        await _stop_writes(oms, wal)
        await oms.set_price("SBIN", 794)  # fills `resting` while the file cannot be written
        cancelled = await oms.cancel_order(other.order_id)  # a cancel passes
        assert (oms.get_order(resting.order_id).status, cancelled.status) == (S.FILLED, S.CANCELLED)
        writes = oms.status()["writes"]
        assert writes["available"] is False and writes["pending_rows"] > 0
        # modifies fail closed like new orders
        with pytest.raises(PersistenceUnavailable, match=f"modify of {other.order_id} refused"):
            await oms.modify_order(other.order_id, price=781.0)

        wal.rmdir()
        await oms.flush()

        assert await _count(oms, "SELECT COUNT(*) AS n FROM trades") == 1
        stored = {r["order_id"]: r["status"] for r in await oms.store.fetch("SELECT order_id, status FROM orders")}
        assert stored == {resting.order_id: "FILLED", other.order_id: "CANCELLED"}
        order_events = [e for e in emitted if e.kind == "order"]
        assert await _count(oms, "SELECT COUNT(*) AS n FROM order_events") == len(order_events)
    finally:
        if wal.is_dir():
            wal.rmdir()
        await oms.close()

    again = await _open(url)
    assert again.position("SBIN") == 5 and again.active_orders().empty
    await again.close()


async def test_write_buffer_overflow_on_a_file_that_cannot_be_written_halts_trading_and_loses_nothing(tmp_path):
    url, wal = _file(tmp_path)
    oms = await _open(url)
    try:
        oms.queue.max_buffered_rows = 10
        await oms.set_price("INFY", 1500)
        orders = [await oms.place_order("INFY", "BUY", 1, "LIMIT", 1500.0 - i) for i in range(1, 6)]

        await _stop_writes(oms, wal)
        for i in range(1, 6):  # each price fills one more resting order: trade, position, cash and event rows pile up
            await oms.set_price("INFY", 1500.0 - i - 0.05)
        for _ in range(100):
            if oms.trading_state is TradingState.HALTED:
                break
            await asyncio.sleep(0.01)
        assert oms.trading_state is TradingState.HALTED
        assert oms.status()["writes"]["overflowed"] is True

        wal.rmdir()
        await oms.flush()
        # The halt cancelled what had not filled yet; every fill before it and every cancel is stored.
        fills = len(oms.manager.trades)
        assert 0 < fills < len(orders)
        assert await _count(oms, "SELECT COUNT(*) AS n FROM trades") == fills
        stored = {r["order_id"]: r["status"] for r in await oms.store.fetch("SELECT order_id, status FROM orders")}
        assert stored == {o.order_id: oms.get_order(o.order_id).status.value for o in orders}
        changes = await oms.store.fetch("SELECT to_state, source FROM trading_state_changes")
        assert changes == [{"to_state": "HALTED", "source": "persistence"}]
    finally:
        if wal.is_dir():
            wal.rmdir()
        await oms.close()
