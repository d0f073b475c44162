"""The in-memory store's buffered audit trail (``storage/behind.py``): rows wait per table and are written before
every read, on the timer and at close; upserts keep the latest row per key; a row no column can hold is refused
alone, naming its table, column and value.

Real parts throughout: an OMS and a DuckDB store in memory, read back with SQL.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms_kit import OMS, RiskLimits, SimulatedClock, StoreError
from oms_kit.storage import RowError, Write, open_store
from oms_kit.storage.behind import Behind
from oms_kit.storage.duckdb import DuckDBStore

NOW = datetime(2026, 1, 5, 4, 0, tzinfo=UTC)
SYMBOLS = ["RELIANCE", "TCS"]
LIMITS = RiskLimits(max_orders_per_second=None, duplicate_window_s=None, max_open_orders=None)


def event(order_id: str, sequence: int, status: str = "NEW") -> Write:
    return ("order_events", (f"{order_id}:{sequence}", order_id, "acct", sequence, NOW + timedelta(seconds=sequence),
                             "CREATED", None, status, "{}"))


def order(order_id: str, status: str, filled: int = 0) -> Write:
    return ("orders", (order_id, f"C-{order_id}", "acct", "RELIANCE", "BUY", "LIMIT", "MIS", "DAY", 10,
                       Decimal("2500.05"), None, filled, None, status, False, "[]", None, None, NOW, NOW, 1,
                       "regular", 0))


def position(symbol: str, quantity: int) -> Write:
    return ("positions", ("acct", symbol, "MIS", quantity, Decimal("2500"), Decimal(0), Decimal(0), None, quantity, 0,
                          NOW))


async def memory_store() -> DuckDBStore:
    store = await open_store("duckdb:///:memory:")
    assert isinstance(store, DuckDBStore) and isinstance(store.behind, Behind)
    return store


# == reads see every row, in order ===================================================================================

ACTIONS = st.lists(st.one_of(
    st.tuples(st.just("market"), st.sampled_from(SYMBOLS), st.sampled_from(["BUY", "SELL"]), st.integers(1, 5)),
    st.tuples(st.just("limit"), st.sampled_from(SYMBOLS), st.sampled_from(["BUY", "SELL"]), st.integers(1, 5),
              st.integers(-3, 3)),
    st.tuples(st.just("price"), st.sampled_from(SYMBOLS), st.integers(-4, 4)),
    st.tuples(st.just("cancel"), st.integers(0, 50)),
    st.tuples(st.just("halt"), st.booleans()),
    st.tuples(st.just("read"), st.sampled_from(["orders", "order_events", "trades", "positions", "accounts",
                                                "risk_decisions", "trading_state"]),
              st.sampled_from(["fetch", "fetch_df", "fetch_blocking"])),
), min_size=1, max_size=25)


async def read(oms: OMS, how: str, sql: str) -> list[dict[str, Any]]:
    store = oms.store
    if how == "fetch":
        return await store.fetch(sql)
    if how == "fetch_df":
        return list((await store.fetch_df(sql)).to_dict("records"))
    return store.fetch_blocking(sql)


async def check_table(oms: OMS, table: str, how: str) -> None:
    # What the store holds against what the OMS holds in memory, right after the OMS changed it.
    manager = oms.manager
    if table == "orders":
        rows = await read(oms, how, "SELECT order_id, status, filled_quantity, sequence FROM orders")
        assert {r["order_id"]: (r["status"], r["filled_quantity"], r["sequence"]) for r in rows} == {
            o.order_id: (o.status.value, o.filled_quantity, o.sequence) for o in manager.orders.values()}
        assert len(rows) == len(manager.orders)  # one row per order: the latest
    elif table == "order_events":
        rows = await read(oms, how, "SELECT order_id, sequence, to_status FROM order_events "
                                    "ORDER BY order_id, sequence")
        trail: dict[str, list[tuple[int, str]]] = {}
        for r in rows:
            trail.setdefault(r["order_id"], []).append((r["sequence"], r["to_status"]))
        assert set(trail) == set(manager.orders)
        for order_id, steps in trail.items():
            placed = manager.orders[order_id]
            assert [s for s, _ in steps] == list(range(placed.sequence + 1))  # every transition, none twice
            assert steps[-1][1] == placed.status.value
    elif table == "trades":
        rows = await read(oms, how, "SELECT trade_id, quantity FROM trades")
        assert sorted((r["trade_id"], r["quantity"]) for r in rows) == sorted(
            (f.trade_id, f.quantity) for f in manager.trades)
    elif table == "positions":
        rows = await read(oms, how, "SELECT symbol, quantity FROM positions")
        assert {r["symbol"]: r["quantity"] for r in rows} == {
            s: oms.position(s) for s in SYMBOLS if any(f.symbol == s for f in manager.trades)}
    elif table == "accounts":
        rows = await read(oms, how, "SELECT cash FROM accounts")
        if manager.trades:
            assert [Decimal(r["cash"]) for r in rows] == [manager.ledger.cash]
    elif table == "risk_decisions":
        rows = await read(oms, how, "SELECT order_id FROM risk_decisions")
        assert sorted(r["order_id"] for r in rows) == sorted(manager.orders)
    else:
        rows = await read(oms, how, "SELECT state FROM trading_state")
        assert [r["state"] for r in rows] in ([], [oms.trading_state.value])


async def play(actions: list[tuple[Any, ...]]) -> None:
    oms = await OMS.open("duckdb:///:memory:", feed=None, risk_interval=None, clock=SimulatedClock(NOW),
                         limits=LIMITS, cash=10**9)
    try:
        prices = {s: 1000 + 100 * i for i, s in enumerate(SYMBOLS)}
        for symbol, price in prices.items():
            await oms.set_price(symbol, price)
        for action in actions:
            kind = action[0]
            if kind == "market":
                await oms.place_order(action[1], action[2], action[3])
            elif kind == "limit":
                await oms.place_order(action[1], action[2], action[3], "LIMIT", prices[action[1]] + action[4])
            elif kind == "price":
                prices[action[1]] += action[2]
                await oms.set_price(action[1], prices[action[1]])  # may fill resting orders
            elif kind == "cancel":
                live = sorted(oms.manager.live)
                if live:
                    await oms.cancel_order(live[action[1] % len(live)])
            elif kind == "halt":
                if action[1] and oms.trading_state.value == "ACTIVE":
                    await oms.kill_switch("test")
                elif not action[1] and oms.trading_state.value == "HALTED":
                    await oms.reset_kill_switch("test")
            else:
                await check_table(oms, action[1], action[2])
        for table in ("orders", "order_events", "trades", "positions", "accounts", "risk_decisions"):
            await check_table(oms, table, "fetch")
        assert oms.status()["writes"]["errors"] == 0
    finally:
        await oms.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions=ACTIONS)
def test_every_read_sees_every_row_recorded_before_it_whatever_the_interleaving(actions: list[tuple[Any, ...]]
                                                                                ) -> None:
    asyncio.run(play(actions))


# == when rows are written ===========================================================================================

async def test_the_timer_writes_the_rows_when_nothing_reads_them() -> None:
    store = await memory_store()
    behind = store.behind
    assert behind is not None
    try:
        behind.interval = 0.05
        behind.keep([event("O-1", 0), order("O-1", "OPEN")])
        written = behind.write_behind()
        assert behind.status()["pending_rows"] == 2 and behind.status()["transactions"] == 0

        await asyncio.wait_for(asyncio.shield(written), 30)  # no read, no flush: the timer alone

        assert behind.status() == {"transactions": 1, "rows": 2, "pending_rows": 0, "rejected_rows": 0,
                                   "timer_writes": 1}
        assert await store.fetch("SELECT order_id, status FROM orders") == [{"order_id": "O-1", "status": "OPEN"}]
        assert behind.status()["transactions"] == 1  # the read found nothing waiting
    finally:
        await store.close()


async def test_writing_holds_from_the_moment_a_write_is_handed_to_the_worker_until_it_ends() -> None:
    # What an OMS's collector task reads so that no full pass stalls a write (oms.py, _activity).
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from oms_kit.storage.behind import Outcome

    gate = threading.Event()

    def write(batch: Any) -> Outcome:
        assert gate.wait(30)
        return Outcome(written=sum(len(rows) for _, rows in batch), transactions=1)

    with ThreadPoolExecutor(1) as worker:
        behind = Behind(write, worker, "duckdb:///:memory:")
        assert not behind.writing()
        behind.keep([event("O-1", 0)])
        assert not behind.writing()  # waiting is not writing
        behind.write_behind()
        behind.stage()
        assert behind.writing()
        gate.set()
        await behind.flush()
        assert not behind.writing() and behind.status()["rows"] == 1


async def test_a_read_writes_the_rows_waiting_first_in_each_kind_of_read() -> None:
    store = await memory_store()
    behind = store.behind
    assert behind is not None
    try:
        behind.interval = 3600  # the timer would not fire within the test
        behind.keep([event("O-1", 0)])
        assert [r["event_id"] for r in await store.fetch("SELECT event_id FROM order_events")] == ["O-1:0"]
        behind.keep([event("O-1", 1)])
        assert list((await store.fetch_df("SELECT event_id FROM order_events ORDER BY 1"))["event_id"]) == [
            "O-1:0", "O-1:1"]
        behind.keep([event("O-1", 2)])
        assert len(store.fetch_blocking("SELECT event_id FROM order_events")) == 3
        assert behind.status()["timer_writes"] == 0 and behind.status()["transactions"] == 3
    finally:
        await store.close()


async def test_upserts_keep_the_latest_row_per_key_and_appends_every_row_in_order() -> None:
    store = await memory_store()
    behind = store.behind
    assert behind is not None
    try:
        behind.keep([order("O-1", "NEW"), event("O-1", 0), order("O-2", "NEW"), order("O-1", "OPEN"),
                     position("TCS", 5), event("O-1", 1), order("O-1", "FILLED", 10), position("TCS", 7),
                     position("INFY", 1)])
        assert await store.fetch("SELECT order_id, status, filled_quantity FROM orders ORDER BY 1") == [
            {"order_id": "O-1", "status": "FILLED", "filled_quantity": 10},
            {"order_id": "O-2", "status": "NEW", "filled_quantity": 0}]
        assert await store.fetch("SELECT symbol, quantity FROM positions ORDER BY 1") == [
            {"symbol": "INFY", "quantity": 1}, {"symbol": "TCS", "quantity": 7}]
        # A later write replaces what an earlier write stored.
        behind.keep([order("O-2", "CANCELLED")])
        await behind.flush()
        assert await store.fetch("SELECT status FROM orders WHERE order_id = 'O-2'") == [{"status": "CANCELLED"}]
        assert [r["event_id"] for r in await store.fetch("SELECT event_id FROM order_events ORDER BY 1")] == [
            "O-1:0", "O-1:1"]
    finally:
        await store.close()


async def test_rows_waiting_go_before_rows_written_directly_so_the_newer_state_wins() -> None:
    store = await memory_store()
    behind = store.behind
    assert behind is not None
    try:
        behind.interval = 3600
        behind.keep([order("O-1", "OPEN")])
        await store.write([order("O-1", "FILLED", 10)])
        assert await store.fetch("SELECT status FROM orders") == [{"status": "FILLED"}]
    finally:
        await store.close()


async def test_close_writes_what_waits_and_then_refuses_more() -> None:
    store = await memory_store()
    behind = store.behind
    assert behind is not None
    behind.interval = 3600
    behind.keep([event(f"O-{n}", 0) for n in range(500)] + [order("O-1", "OPEN")])
    written = behind.write_behind()

    await behind.close()  # what the store's close() does first

    assert written.done() and written.result() is None
    assert behind.status()["rows"] == 501 and behind.status()["pending_rows"] == 0
    (count,) = await store.fetch("SELECT count(*) AS n FROM order_events")
    assert count["n"] == 500
    with pytest.raises(StoreError, match="closed"):
        behind.write_behind()
    await store.close()


async def test_closing_the_store_writes_the_rows_waiting_before_the_database_goes() -> None:
    store = await memory_store()
    behind = store.behind
    assert behind is not None
    behind.interval = 3600
    behind.keep([event("O-1", 0), event("O-1", 1), order("O-1", "OPEN")])
    written = behind.write_behind()

    await store.close()

    assert written.done() and written.exception() is None
    assert behind.status()["rows"] == 3 and behind.status()["transactions"] == 1


async def test_an_oms_closed_right_after_an_order_writes_its_rows() -> None:
    oms = await OMS.open("duckdb:///:memory:", feed=None, risk_interval=None, clock=SimulatedClock(NOW))
    behind = oms.store.behind  # type: ignore[attr-defined]
    await oms.set_price("RELIANCE", 2500)
    await oms.place_order("RELIANCE", "BUY", 10)
    waiting = behind.status()["pending_rows"]
    assert waiting >= 5  # the order's events, its decision and its trade, before any write

    await oms.close()

    # and the latest state rows the recorder adds when the rows are written: the order, the position, the cash
    assert behind.status()["pending_rows"] == 0 and behind.status()["rows"] >= waiting + 3
    assert oms.status()["writes"]["errors"] == 0


# == rows a column cannot hold =======================================================================================

@pytest.mark.parametrize(("bad", "column"), [
    (("trades", ("T-1", "O-1", "acct", "RELIANCE", "MIS", "BUY", 2**70, Decimal(1), Decimal(0), NOW)), "quantity"),
    (("trades", ("T-1", "O-1", "acct", "RELIANCE", "MIS", "BUY", 1, Decimal("1e30"), Decimal(0), NOW)), "price"),
    (("trades", ("T-1", "O-1", "acct", "RELI\ud800ANCE", "MIS", "BUY", 1, Decimal(1), Decimal(0), NOW)), "symbol"),
    (("trades", ("T-1", "O-1", "acct", "RELIANCE", "MIS", "BUY", 1, Decimal(1), Decimal(0), "yesterday")), "ts"),
])
async def test_a_row_no_column_can_hold_is_refused_alone_naming_table_column_and_value(bad: Write,
                                                                                       column: str) -> None:
    store = await memory_store()
    behind = store.behind
    assert behind is not None
    try:
        behind.interval = 3600
        behind.keep([event("O-1", 0), order("O-1", "OPEN"), bad, event("O-1", 1), position("TCS", 3)])
        written = behind.write_behind()
        await behind.flush()

        error = written.exception()
        assert isinstance(error, RowError)
        assert (error.table, error.column) == ("trades", column)
        assert error.value == dict(zip(("trade_id", "order_id", "account", "symbol", "product", "side", "quantity",
                                        "price", "fees", "ts"), bad[1], strict=True))[column]
        assert f"trades.{column}" in error.message and "the others were" in error.message
        # The other rows of that write are stored.
        assert [r["event_id"] for r in await store.fetch("SELECT event_id FROM order_events ORDER BY 1")] == [
            "O-1:0", "O-1:1"]
        assert await store.fetch("SELECT status FROM orders") == [{"status": "OPEN"}]
        assert await store.fetch("SELECT quantity FROM positions") == [{"quantity": 3}]
        assert await store.fetch("SELECT * FROM trades") == []
        assert behind.status()["rejected_rows"] == 1
    finally:
        await store.close()


async def test_several_bad_rows_are_named_in_one_error_and_a_row_of_the_wrong_width_too() -> None:
    store = await memory_store()
    behind = store.behind
    assert behind is not None
    try:
        behind.keep([event("O-1", 0), ("order_events", ("O-1:1", "O-1")), event("O-1", 2),
                     ("risk_decisions", ("D-1", "acct", "O-1", NOW, "yes", "[]"))])
        written = behind.write_behind()
        await behind.flush()

        error = written.exception()
        assert isinstance(error, RowError) and error.message.startswith("2 rows written behind could not be stored")
        assert "order_events" in error.message and "risk_decisions.accepted" in (error.detail or "")
        assert [r["event_id"] for r in await store.fetch("SELECT event_id FROM order_events ORDER BY 1")] == [
            "O-1:0", "O-1:2"]
        assert behind.status()["rejected_rows"] == 2
    finally:
        await store.close()


async def test_keeping_a_row_of_an_unknown_table_is_refused_at_once() -> None:
    store = await memory_store()
    behind = store.behind
    assert behind is not None
    try:
        with pytest.raises(RowError, match="unknown table 'ordres'") as caught:
            behind.keep([event("O-1", 0), ("ordres", ("O-1",))])
        assert caught.value.table == "ordres"
        assert [r["event_id"] for r in await store.fetch("SELECT event_id FROM order_events")] == ["O-1:0"]
    finally:
        await store.close()


async def test_a_durable_store_has_no_buffers(tmp_path: Any) -> None:
    store = await open_store(f"duckdb:///{tmp_path}/oms.duckdb")
    try:
        assert isinstance(store, DuckDBStore) and store.behind is None
    finally:
        await store.close()
