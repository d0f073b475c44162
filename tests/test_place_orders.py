"""``OMS.place_orders``: several orders in turn with one commit, on DuckDB in memory, a DuckDB file and PostgreSQL.

Each order comes back as ``place_order`` would return it (filled, resting, REJECTED with its violations, the
earlier order for a repeated ``client_order_id``), the batch's records go to the store in one transaction before the
broker sees any order, a kill switch tripped while they are committed rejects them all unsent, and an unreachable
database refuses every new order of the batch (PersistenceUnavailable in its place) as it refuses one.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import oms_kit as ok
from oms_kit import OrderRequest, OrderStatus, PersistenceUnavailable, TradingState

S = OrderStatus
LIMITS = ok.RiskLimits(max_order_quantity=1000, max_orders_per_second=None, duplicate_window_s=None)


async def _open(url: str, **options: Any) -> ok.OMS:
    oms = await ok.OMS.open(url, feed=None, risk_interval=None, limits=LIMITS, **options)
    if "SBIN" not in oms.manager.prices:
        await oms.set_price("SBIN", 800)
    return oms


def _batch() -> list[OrderRequest]:
    return [OrderRequest("SBIN", "BUY", 5, "MARKET", client_order_id="b-1"),
            OrderRequest("SBIN", "BUY", 5000, "MARKET", client_order_id="b-2"),  # above max_order_quantity
            OrderRequest("SBIN", "BUY", 3, "LIMIT", 790, client_order_id="b-3"),  # rests below the market
            OrderRequest("SBIN", "BUY", 5, "MARKET", client_order_id="b-1"),  # a retry within the batch
            OrderRequest("SBIN", "SELL", 2, "MARKET")]


async def _stored(oms: ok.OMS) -> dict[str, str]:
    await oms.flush()
    rows = await oms.store.fetch("SELECT order_id, status FROM orders WHERE account = $1", oms.account)
    return {r["order_id"]: r["status"] for r in rows}


async def _transactions(oms: ok.OMS) -> int:
    return int(oms.status()["writes"]["transactions"])


@pytest.fixture(params=["memory", "file", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """DuckDB in memory (written behind), a DuckDB file, then a fresh PostgreSQL database."""
    if request.param == "memory":
        return "duckdb:///:memory:"
    if request.param == "file":
        return f"duckdb:///{tmp_path}/oms.duckdb"
    return str(request.getfixturevalue("pg_url"))


async def test_a_batch_places_each_order_as_place_order_does_and_stores_them(store_url):
    oms = await _open(store_url)
    alone = await _open("duckdb:///:memory:")  # the same orders one by one, for comparison
    try:
        results = await oms.place_orders(_batch())
        expected = [await alone.place_order(r) for r in _batch()]

        assert [(r.status, r.filled_quantity, [v.code for v in r.violations]) for r in results] == \
            [(e.status, e.filled_quantity, [v.code for v in e.violations]) for e in expected]
        assert [r.status for r in results] == [S.FILLED, S.REJECTED, S.OPEN, S.FILLED, S.FILLED]
        assert results[3] is results[0]  # the retry is the order placed first
        assert oms.position("SBIN") == 3 and len(oms.orders()) == 4
        assert await _stored(oms) == {r.order_id: r.status.value for r in results}

        again = await oms.place_orders(_batch()[:4])  # retries across batches: nothing new
        assert [a.order_id for a in again] == [r.order_id for r in results[:4]]
        assert len(oms.orders()) == 4 and oms.position("SBIN") == 3
    finally:
        await oms.close()
        await alone.close()


async def test_a_durable_batch_is_one_commit_before_the_broker_and_one_after(durable_url):
    oms = await _open(durable_url)
    try:
        before = await _transactions(oms)
        orders = await oms.place_orders([OrderRequest("SBIN", "BUY", 1 + i % 3, "MARKET") for i in range(20)])
        assert all(o.status is S.FILLED for o in orders)
        # place_order commits twice per order (before the broker, then its fills): 40 transactions for these.
        assert await _transactions(oms) - before <= 2
        assert set((await _stored(oms)).values()) == {"FILLED"}
    finally:
        await oms.close()


async def test_retries_after_a_reopen_return_the_orders_of_the_earlier_batch(durable_url):
    oms = await _open(durable_url)
    first = await oms.place_orders(_batch())
    await oms.close()

    oms = await _open(durable_url)
    try:
        again = await oms.place_orders(_batch()[:4])
        assert [a.order_id for a in again] == [f.order_id for f in first[:4]]
        assert [a.status for a in again] == [S.FILLED, S.REJECTED, S.OPEN, S.FILLED]
        assert len(oms.orders()) == 4
    finally:
        await oms.close()


async def test_a_kill_switch_while_the_batch_is_committed_rejects_all_of_it_unsent(durable_url):
    oms = await _open(durable_url)
    try:
        # gather starts place_orders first: it runs until its commit awaits the store, and the kill switch runs
        # then, before any order of the batch has reached the broker.
        orders, _ = await asyncio.gather(oms.place_orders([OrderRequest("SBIN", "BUY", 2, "MARKET")
                                                           for _ in range(5)]), oms.kill_switch("stop"))

        assert [o.status for o in orders] == [S.REJECTED] * 5
        assert all("kill switch: stop" in (o.reason or "") for o in orders)
        assert oms.position("SBIN") == 0 and oms.trades().empty
        assert set((await _stored(oms)).values()) == {"REJECTED"}
    finally:
        await oms.close()


async def test_a_batch_under_the_kill_switch_is_rejected_and_recorded_order_by_order():
    oms = await _open("duckdb:///:memory:")
    try:
        await oms.kill_switch("halt")
        orders = await oms.place_orders([OrderRequest("SBIN", "BUY", 1, "MARKET"),
                                         OrderRequest("SBIN", "SELL", 1, "LIMIT", 805)])
        assert oms.trading_state is TradingState.HALTED
        assert [[v.code for v in o.violations] for o in orders] == [["TRADING_HALTED"], ["TRADING_HALTED"]]
        assert await _stored(oms) == {o.order_id: "REJECTED" for o in orders}
    finally:
        await oms.close()


async def test_an_unwritable_file_refuses_every_new_order_of_the_batch_and_returns_committed_retries(tmp_path: Path):
    path = tmp_path / "oms.duckdb"
    wal = Path(f"{path}.wal")
    oms = await _open(f"duckdb:///{path}")
    try:
        kept = await oms.place_order("SBIN", "BUY", 5, "MARKET", client_order_id="kept")
        await oms.flush()
        await oms.store.fetch("CHECKPOINT")
        wal.mkdir()  # every COMMIT now fails, as on a full disk (see tests/test_durable_duckdb.py)

        results = await oms.place_orders([OrderRequest("SBIN", "BUY", 3, "MARKET"),
                                          OrderRequest("SBIN", "BUY", 5, "MARKET", client_order_id="kept"),
                                          OrderRequest("SBIN", "BUY", 5000, "MARKET")])
        assert isinstance(results[0], PersistenceUnavailable) and isinstance(results[2], PersistenceUnavailable)
        assert "refused: the database is unavailable" in results[0].message
        assert results[1] is kept
        assert oms.position("SBIN") == 5  # fail closed: nothing reached the broker
        refused = oms.orders(status="REJECTED")
        assert len(refused) == 2
        assert refused["reason"].str.startswith("PERSISTENCE_UNAVAILABLE").tolist() == [True, False]

        wal.rmdir()
        after = await oms.place_orders([OrderRequest("SBIN", "BUY", 2, "MARKET")])
        assert after[0].status is S.FILLED and oms.position("SBIN") == 7
        # The refused orders are on record too, as they ended.
        assert sorted((await _stored(oms)).values()) == ["FILLED", "FILLED", "REJECTED", "REJECTED"]
    finally:
        if wal.is_dir():
            wal.rmdir()
        await oms.close()


async def test_an_item_that_is_not_a_request_refuses_the_batch_before_anything_is_placed():
    oms = await _open("duckdb:///:memory:")
    try:
        with pytest.raises(ok.InvalidOrderError, match=r"requests\[1\]"):
            await oms.place_orders([OrderRequest("SBIN", "BUY", 1, "MARKET"), {"symbol": "SBIN"}])  # type: ignore[list-item]
        assert oms.orders().empty
        assert await oms.place_orders([]) == []
    finally:
        await oms.close()
    with pytest.raises(ok.OmsError, match="closed"):
        await oms.place_orders([OrderRequest("SBIN", "BUY", 1, "MARKET")])
