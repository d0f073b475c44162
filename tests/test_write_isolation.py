"""The write path when something goes wrong: a row the store cannot hold costs only its own caller, on every
backend; a database outage is said once, not in a stream of driver tracebacks.

WriteQueue groups the rows of many callers into one transaction. These tests put one bad row (a quantity beyond
BIGINT) among good callers' rows in one such transaction and check, against the real stores, that the good rows
are stored and only the bad caller gets the error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_kit.errors import PersistenceUnavailable
from oms_kit.storage import RowError, Store, Write, WriteQueue, open_store
from oms_kit.storage.schema import TABLES

T0 = datetime(2026, 1, 5, 9, 15, tzinfo=UTC)
TOO_BIG = 2**63  # one past BIGINT's largest value


@pytest.fixture(params=["duckdb-memory", "duckdb-file", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "duckdb-memory":
        return "duckdb:///:memory:"
    if request.param == "duckdb-file":
        return f"duckdb:///{tmp_path}/oms.duckdb"
    pg_url: str = request.getfixturevalue("pg_url")
    return pg_url


@pytest.fixture
async def store(url: str) -> AsyncIterator[Store]:
    store = await open_store(url)
    yield store
    await store.close()


def order(order_id: str, *, quantity: Any = 10, status: str = "OPEN", price: Any = Decimal("2500.05")) -> Write:
    values = {"order_id": order_id, "client_order_id": f"C-{order_id}", "account": "default", "symbol": "RELIANCE",
              "side": "BUY", "order_type": "LIMIT", "product": "MIS", "validity": "DAY", "quantity": quantity,
              "price": price, "trigger_price": None, "filled_quantity": 0, "average_price": None, "status": status,
              "triggered": False, "violations": "[]", "reason": None, "tag": None, "created_at": T0,
              "updated_at": T0, "sequence": 1, "variety": "regular", "disclosed_quantity": 0}  # fmt: skip
    return ("orders", tuple(values[name] for name in TABLES["orders"].column_names))


def event(order_id: str, n: int = 1) -> Write:
    return ("order_events", (f"{order_id}:{n}", order_id, "default", n, T0 + timedelta(microseconds=n), "ACCEPTED",
                             "NEW", "OPEN", "{}"))  # fmt: skip


def placed(order_id: str, **changes: Any) -> list[Write]:
    """An order's rows as one caller commits them: the order and its event, in one transaction."""
    return [order(order_id, **changes), event(order_id)]


async def stored(store: Store, table: str, key: str) -> list[str]:
    return [row[key] for row in await store.fetch(f"SELECT {key} FROM {table} ORDER BY {key}")]


async def test_commit_when_one_of_21_callers_has_a_quantity_beyond_bigint_then_only_that_caller_fails(
    store: Store,
) -> None:
    good = [f"O-{n:02d}" for n in range(20)]
    async with WriteQueue(store) as queue:
        # Queued before the writer task first runs: all 21 callers' rows go out in one transaction.
        futures = [queue.commit_nowait(placed(order_id)) for order_id in good[:10]]
        bad = queue.commit_nowait(placed("O-bad", quantity=TOO_BIG))
        futures += [queue.commit_nowait(placed(order_id)) for order_id in good[10:]]

        results = await asyncio.gather(*futures, return_exceptions=True)
        with pytest.raises(RowError, match=rf"cannot write orders\.quantity = {TOO_BIG} to .*BIGINT") as info:
            await bad

        assert results == [None] * 20
        assert (info.value.table, info.value.column, info.value.value) == ("orders", "quantity", TOO_BIG)
        assert (queue.rejected_rows, queue.status()["rejected_rows"]) == (2, 2)
    # The bad caller's event row fits its table, but a caller's rows are stored all or none.
    assert await stored(store, "orders", "order_id") == good
    assert await stored(store, "order_events", "order_id") == good


async def test_commit_when_several_callers_have_bad_rows_then_each_gets_its_own_error_and_the_rest_is_stored(
    store: Store,
) -> None:
    bad_values = {"O-03": {"quantity": -TOO_BIG - 1}, "O-07": {"price": Decimal("1E+20")},
                  "O-08": {"status": 7}}  # fmt: skip
    ids = [f"O-{n:02d}" for n in range(12)]
    async with WriteQueue(store) as queue:
        futures = [queue.commit_nowait(placed(order_id, **bad_values.get(order_id, {}))) for order_id in ids]
        results = await asyncio.gather(*futures, return_exceptions=True)

    failed = {order_id: result for order_id, result in zip(ids, results, strict=True) if result is not None}
    assert {order_id: (type(e), e.column) for order_id, e in failed.items()} == {  # type: ignore[union-attr]
        "O-03": (RowError, "quantity"), "O-07": (RowError, "price"), "O-08": (RowError, "status")}
    assert "DECIMAL(28, 8)" in str(failed["O-07"])
    assert await stored(store, "orders", "order_id") == [i for i in ids if i not in bad_values]


async def test_commit_when_a_row_breaks_a_constraint_then_halving_finds_its_caller_and_stores_the_rest(
    store: Store,
) -> None:
    # A NULL quantity is a value of the column's type, so only the database's NOT NULL constraint refuses it: the
    # queue cannot tell the row beforehand and finds it by writing the transaction again in halves.
    ids = [f"O-{n:02d}" for n in range(21)]
    async with WriteQueue(store) as queue:
        futures = [queue.commit_nowait(placed(i, quantity=None if i == "O-13" else 10)) for i in ids]
        results = await asyncio.gather(*futures, return_exceptions=True)
        transactions = queue.transactions

    failed = [(i, r) for i, r in zip(ids, results, strict=True) if r is not None]
    assert [(i, type(r)) for i, r in failed] == [("O-13", RowError)]
    assert "a row does not fit its table" in str(failed[0][1]) and "quantity" in str(failed[0][1]).lower()
    assert await stored(store, "orders", "order_id") == [i for i in ids if i != "O-13"]
    assert 1 < transactions <= 10  # halves, not one transaction per caller


# A caller's order: fits; a value the schema cannot hold (found by the check); or a NULL that only the database's
# NOT NULL constraint refuses (found by halving).
KINDS = {"good": {}, "misfit": {"quantity": TOO_BIG}, "constraint": {"quantity": None}}


@settings(max_examples=40, deadline=None)
@given(kinds=st.lists(st.sampled_from(sorted(KINDS)), min_size=1, max_size=12))
def test_commit_whatever_callers_are_bad_then_exactly_the_good_ones_are_stored(kinds: list[str]) -> None:
    async def scenario() -> None:
        store = await open_store("duckdb:///:memory:")
        try:
            ids = [f"O-{n:02d}" for n in range(len(kinds))]
            async with WriteQueue(store) as queue:
                futures = [queue.commit_nowait(placed(i, **KINDS[kind])) for i, kind in zip(ids, kinds, strict=True)]
                results = await asyncio.gather(*futures, return_exceptions=True)

            assert [type(r).__name__ for r in results] == ["NoneType" if k == "good" else "RowError" for k in kinds]
            good = [i for i, kind in zip(ids, kinds, strict=True) if kind == "good"]
            assert await stored(store, "orders", "order_id") == good
            assert await stored(store, "order_events", "order_id") == good
        finally:
            await store.close()

    asyncio.run(scenario())


async def test_commit_when_a_transaction_is_split_then_later_states_of_an_order_still_win(store: Store) -> None:
    # Callers commit states of the same order in turn, with a bad caller between them: written apart, the
    # transaction keeps the callers' order, so the newest state is the one stored.
    async with WriteQueue(store) as queue:
        first = queue.commit_nowait([order("O-1", status="NEW")])
        bad = queue.commit_nowait(placed("O-2", quantity=TOO_BIG))
        last = queue.commit_nowait([order("O-1", status="FILLED")])
        results = await asyncio.gather(first, bad, last, return_exceptions=True)

    assert [type(r).__name__ for r in results] == ["NoneType", "RowError", "NoneType"]
    assert [r["status"] for r in await store.fetch("SELECT status FROM orders")] == ["FILLED"]


async def test_commit_when_rows_fail_after_an_outage_then_they_are_logged_once_and_the_rest_stored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A caller that already got the outage's error no longer waits: a bad row found in the retry is logged.
    class Flaky:
        """DuckDB in memory whose first write finds the database unreachable."""

        def __init__(self, inner: Store) -> None:
            self.inner, self.url, self.durable, self.backend = inner, inner.url, True, inner.backend
            self.down = True

        async def write(self, rows: list[Write]) -> None:
            if self.down:
                self.down = False
                raise PersistenceUnavailable("cannot write: the database is unreachable", detail="connection refused")
            await self.inner.write(rows)

    caplog.set_level(logging.ERROR, logger="oms_kit.storage")
    inner = await open_store("duckdb:///:memory:")
    try:
        flaky = Flaky(inner)
        async with WriteQueue(flaky) as queue:  # type: ignore[arg-type]
            refused = await asyncio.gather(queue.commit(placed("O-1")), queue.commit(placed("O-2", quantity=TOO_BIG)),
                                           return_exceptions=True)  # fmt: skip
            assert [type(r) for r in refused] == [PersistenceUnavailable, PersistenceUnavailable]
            await queue.commit(placed("O-3"))

        dropped = [r for r in caplog.records if "rows dropped" in r.getMessage()]
        assert len(dropped) == 1 and f"orders.quantity = {TOO_BIG}" in dropped[0].getMessage()
        assert await stored(inner, "orders", "order_id") == ["O-1", "O-3"]
    finally:
        await inner.close()


@pytest.mark.postgres
@pytest.mark.slow
async def test_postgres_outage_when_server_stops_and_returns_then_said_once_each_way_without_driver_tracebacks(
    pg_cluster_owned: Any, caplog: pytest.LogCaptureFixture,
) -> None:
    from oms_kit import OMS, MockBroker, RiskLimits, SimulatedClock

    caplog.set_level(logging.DEBUG)
    oms = await OMS.open(pg_cluster_owned.url, feed=None, risk_interval=None, clock=SimulatedClock(T0),
                         limits=RiskLimits(max_orders_per_second=None, duplicate_window_s=None), broker=MockBroker())
    try:
        await oms.set_price("SBIN", 800)
        resting = await oms.place_order("SBIN", "BUY", 5, "LIMIT", 795.0)

        pg_cluster_owned.stop()
        with pytest.raises(PersistenceUnavailable):
            await oms.place_order("SBIN", "BUY", 3, "MARKET")
        await oms.set_price("SBIN", 794)  # fills the resting order: its rows wait in the buffer
        # Long enough for asyncpg's pool to have retried its connection floor twice (after 1 s, then 2 s more).
        await asyncio.sleep(3.5)
        during = list(caplog.records)
        pg_cluster_owned.start()
        await oms.flush()
        await oms.tasks["oms-kit-relock"]
    finally:
        await oms.close()

    def said(records: list[logging.LogRecord], words: str) -> list[str]:
        return [r.getMessage() for r in records if r.name.startswith("oms_kit") and words in r.getMessage()]

    down = said(during, "is unreachable")
    assert len(down) == 1
    assert "refuses new orders and modifies" in down[0] and "fills, cancels and state changes" in down[0]
    assert [r.getMessage() for r in caplog.records if r.name.startswith("asyncpg") or r.exc_info] == []
    back = said(caplog.records, "is back after")
    assert len(back) == 1 and "buffered rows written" in back[0]
    assert said(caplog.records, "is unreachable") == down  # not said again after the restart
    assert oms.get_order(resting.order_id).status.value == "FILLED"
