"""Reopening an account on a durable store (DuckDB file, PostgreSQL): everything committed comes back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from oms_kit import (
    OMS,
    Bar,
    MockBroker,
    OrderRequest,
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
    kept = ("orders_placed", "orders_filled", "trades", "turnover", "fees")
    assert [stats[k] for k in kept] == [before[2][k] for k in kept]
    assert stats["trades"] == 2 and stats["fees"] > 0
    # Read back with the decimals a price or an amount has, not the database's eight.
    assert [str(again.get_order(o).price) for o in (resting.order_id,)] == ["2450.00"]
    assert str(again.manager.ledger.position("RELIANCE", again.get_order(resting.order_id).product).average_price) \
        == "2500.00"
    # A stored last price is no quote: a market order waits for a fresh one.
    stale = await again.place_order("SBIN", "BUY", 1, "MARKET")
    assert [v.code for v in stale.violations] == ["NO_REFERENCE_PRICE"]
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
    refused = await halted.place_order("RELIANCE", "BUY", 1, "LIMIT", 2450.0)
    assert [v.code for v in refused.violations] == ["TRADING_HALTED"]
    await halted.close()


async def test_order_recorded_but_never_sent_is_rejected_on_reopen_not_doubled(durable_url):
    oms = await _open(durable_url)
    await oms.set_price("TCS", 3900)
    order, send = oms.manager.prepare(OrderRequest("TCS", "BUY", 3, "MARKET"))  # committed, but the process "dies" here
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
    oms.manager.on_bar(Bar(T0, "INFY", 1499.95, 1499.95, 1499.95, 1499.95, 12))
    assert oms.get_order(order.order_id).filled_quantity == 6
    await oms.flush()
    await oms.close()

    again = await _open(durable_url)
    again.manager.on_bar(Bar(T0, "INFY", 1499.90, 1499.90, 1499.90, 1499.90))
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

    with pytest.raises(StoreError, match="this process already has it open for writing"):
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
    writes = oms.status()["writes"]
    assert writes["available"] is False and "unreachable" in writes["last_error"] and writes["pending_rows"] > 0

    pg_cluster_owned.start()
    after = await oms.place_order("SBIN", "BUY", 2, "MARKET")
    assert after.status is S.FILLED and oms.position("SBIN") == 7
    assert oms.status()["writes"]["available"] is True
    # The refused order is on record too, as it ended: every state change is stored.
    stored = await oms.store.fetch("SELECT order_id, status FROM orders ORDER BY created_at, order_id")
    assert [(r["order_id"], r["status"]) for r in stored] == [
        (kept.order_id, "FILLED"), (refused["order_id"].iloc[0], "REJECTED"), (after.order_id, "FILLED")]
    await oms.close()


async def _count(oms: OMS, sql: str, *params: Any) -> int:
    return int((await oms.store.fetch(sql, *params))[0]["n"])


async def test_database_stopped_mid_run_buffers_fills_and_cancels_and_writes_them_exactly_once(pg_cluster_owned):
    oms = await _open(pg_cluster_owned.url)
    emitted: list[Any] = []
    oms.subscribe(emitted.append, kinds=["order", "fill"])
    await oms.set_price("SBIN", 800)
    resting = await oms.place_order("SBIN", "BUY", 5, "LIMIT", 795.0)
    other = await oms.place_order("SBIN", "BUY", 3, "LIMIT", 780.0)

    pg_cluster_owned.stop()
    await oms.set_price("SBIN", 794)  # fills `resting` while the database is down
    cancelled = await oms.cancel_order(other.order_id)  # a cancel passes
    assert (oms.get_order(resting.order_id).status, cancelled.status) == (S.FILLED, S.CANCELLED)
    writes = oms.status()["writes"]
    assert writes["available"] is False and writes["pending_rows"] > 0
    # modifies fail closed like new orders
    with pytest.raises(PersistenceUnavailable, match=f"modify of {other.order_id} refused: the database is"):
        await oms.modify_order(other.order_id, price=781.0)

    pg_cluster_owned.start()
    await oms.flush()
    await oms.tasks["oms-kit-relock"]  # the restart ended the session holding the writer lock: taken again

    assert await _count(oms, "SELECT COUNT(*) AS n FROM trades") == 1
    stored = {r["order_id"]: r["status"] for r in await oms.store.fetch("SELECT order_id, status FROM orders")}
    assert stored == {resting.order_id: "FILLED", other.order_id: "CANCELLED"}
    order_events = [e for e in emitted if e.kind == "order"]
    assert await _count(oms, "SELECT COUNT(*) AS n FROM order_events") == len(order_events)
    with pytest.raises(StoreError, match="already open for writing"):
        await _open(pg_cluster_owned.url)
    await oms.close()

    again = await _open(pg_cluster_owned.url)
    assert again.position("SBIN") == 5 and again.active_orders().empty
    await again.close()


async def test_write_buffer_overflow_halts_trading_and_loses_nothing(pg_cluster_owned):
    oms = await _open(pg_cluster_owned.url)
    oms.queue.max_buffered_rows = 10
    await oms.set_price("INFY", 1500)
    orders = [await oms.place_order("INFY", "BUY", 1, "LIMIT", 1500.0 - i) for i in range(1, 6)]

    pg_cluster_owned.stop()
    for i in range(1, 6):  # each price fills one more resting order: trade, position, cash and event rows pile up
        await oms.set_price("INFY", 1500.0 - i - 0.05)
    for _ in range(100):
        if oms.trading_state is TradingState.HALTED:
            break
        await asyncio.sleep(0.01)
    assert oms.trading_state is TradingState.HALTED
    assert oms.status()["writes"]["overflowed"] is True

    pg_cluster_owned.start()
    await oms.flush()
    # The halt cancelled what had not filled yet; every fill before it and every cancel is stored.
    fills = len(oms.manager.trades)
    assert 0 < fills < len(orders)
    assert await _count(oms, "SELECT COUNT(*) AS n FROM trades") == fills
    stored = {r["order_id"]: r["status"] for r in await oms.store.fetch("SELECT order_id, status FROM orders")}
    assert stored == {o.order_id: oms.get_order(o.order_id).status.value for o in orders}
    assert sorted(stored.values()) == ["CANCELLED"] * (len(orders) - fills) + ["FILLED"] * fills
    changes = await oms.store.fetch("SELECT to_state, source FROM trading_state_changes")
    assert changes == [{"to_state": "HALTED", "source": "persistence"}]
    await oms.close()


class _LostCommitAck:
    """A real store whose next write commits and then reports the connection lost, as when the server's answer
    to COMMIT never arrives: the writer cannot know the outcome and must retry without doubling anything."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.armed = False

    async def write(self, rows: Any) -> None:
        await self.store.write(rows)
        if self.armed:
            self.armed = False
            raise PersistenceUnavailable("connection lost during COMMIT")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


async def test_commit_with_unknown_outcome_is_retried_without_doubling_records(durable_url):
    oms = await _open(durable_url)
    emitted: list[Any] = []
    oms.subscribe(emitted.append, kinds=["order", "fill"])
    flaky = _LostCommitAck(oms.store)
    oms.queue.store = flaky
    await oms.set_price("TCS", 3900)
    order = await oms.place_order("TCS", "BUY", 2, "LIMIT", 3895.0)

    flaky.armed = True
    await oms.set_price("TCS", 3894)  # the fill's transaction commits, but the writer is told it may not have
    assert oms.status()["writes"]["available"] is False
    await oms.flush()  # retried: the same rows again

    assert oms.status()["writes"]["retries"] == 1
    assert await _count(oms, "SELECT COUNT(*) AS n FROM trades") == 1
    assert await _count(oms, "SELECT COUNT(*) AS n FROM order_events") == len(
        [e for e in emitted if e.kind == "order"])
    stored = await oms.store.fetch("SELECT status, filled_quantity FROM orders WHERE order_id = $1", order.order_id)
    assert stored == [{"status": "FILLED", "filled_quantity": 2}]
    await oms.close()


async def test_todays_counts_come_back_by_the_exchanges_day(durable_url):
    # 00:30 in Mumbai on 5 January is still 4 January in UTC: the exchange's day decides what "today" is.
    clock = SimulatedClock(datetime(2026, 1, 4, 18, 45, tzinfo=UTC))  # 5 January, 00:15 in Mumbai
    oms = await _open(durable_url, clock=clock)
    await oms.set_price("RELIANCE", 2500)
    await oms.place_order("RELIANCE", "BUY", 1)  # 4 January, 18:45 UTC: today at the exchange
    clock.set(datetime(2026, 1, 5, 4, 0, tzinfo=UTC))  # 09:30 in Mumbai, the same day
    await oms.place_order("RELIANCE", "SELL", 1)
    await oms.close()

    again = await _open(durable_url, clock=SimulatedClock(datetime(2026, 1, 5, 5, 0, tzinfo=UTC)))
    stats = again.stats_today()
    await again.close()
    tomorrow = await _open(durable_url, clock=SimulatedClock(datetime(2026, 1, 5, 18, 31, tzinfo=UTC)))
    next_day = tomorrow.stats_today()
    await tomorrow.close()

    assert (stats["orders_placed"], stats["orders_filled"]) == (2, 2)
    assert (next_day["orders_placed"], next_day["orders_filled"]) == (0, 0)  # 00:01 on 6 January in Mumbai


async def test_a_restart_on_the_same_day_keeps_the_days_pnl_and_a_later_day_ends_it(durable_url):
    clock = SimulatedClock(datetime(2026, 1, 5, 4, 0, tzinfo=UTC))  # Monday 09:30 in Mumbai
    oms = await _open(durable_url, clock=clock)
    await oms.set_price("RELIANCE", 2500)
    await oms.place_order("RELIANCE", "BUY", 10)
    await oms.check_risk()  # notes the day
    await oms.set_price("RELIANCE", 2400)
    day_order = await oms.place_order("RELIANCE", "BUY", 5, "LIMIT", 2300.0)
    before = oms.stats_today()["day_pnl"]
    await oms.close()

    clock.set(datetime(2026, 1, 5, 6, 0, tzinfo=UTC))  # Monday 11:30: the same day
    again = await _open(durable_url, clock=clock)
    await again.set_price("RELIANCE", 2400)  # marks are not stored on every tick: the same mark as before
    same_day = again.stats_today()["day_pnl"], again.get_order(day_order.order_id).status
    await again.close()
    clock.set(datetime(2026, 1, 6, 4, 0, tzinfo=UTC))  # Tuesday 09:30
    tuesday = await _open(durable_url, clock=clock)
    next_day = tuesday.stats_today()["day_pnl"], tuesday.get_order(day_order.order_id).status
    events = await tuesday.store.fetch("SELECT event_type, detail FROM order_events WHERE order_id = $1 "
                                       "ORDER BY sequence", day_order.order_id)
    await tuesday.close()

    assert before == Decimal("-1010.51")  # bought 10 at 2500 (fees 10.51), marked at 2400
    assert same_day == (before, S.OPEN)  # a restart does not reset the daily loss limit
    assert next_day == (Decimal(0), S.EXPIRED)
    assert events[-1]["event_type"] == "EXPIRED" and "earlier trading day" in events[-1]["detail"]


async def test_the_risk_monitor_stores_moved_marks_so_a_restart_values_positions_at_them(durable_url):
    oms = await _open(durable_url)
    await oms.set_price("RELIANCE", 2500)
    await oms.set_price("SBIN", 800)
    await oms.place_order("RELIANCE", "BUY", 10)
    await oms.place_order("SBIN", "SELL", 5)
    await oms.set_price("RELIANCE", 2450)  # moves after the fill: the position's row still says 2500
    before = await oms.store.fetch("SELECT symbol, last_price FROM positions WHERE account = $1 ORDER BY symbol",
                                   oms.account)
    await oms.check_risk()
    after = await oms.store.fetch("SELECT symbol, last_price FROM positions WHERE account = $1 ORDER BY symbol",
                                  oms.account)
    rows = oms.queue.rows
    await oms.check_risk()  # no mark moved since: nothing is written
    rows_unmoved = oms.queue.rows - rows
    unrealized = oms.positions().set_index("symbol")["unrealized_pnl"].to_dict()
    await oms.close()

    again = await _open(durable_url)
    restored = again.positions().set_index("symbol")["unrealized_pnl"].to_dict()
    await again.close()

    assert [(r["symbol"], r["last_price"]) for r in before] == [("RELIANCE", 2500), ("SBIN", 800)]
    assert [(r["symbol"], r["last_price"]) for r in after] == [("RELIANCE", 2450), ("SBIN", 800)]
    assert rows_unmoved == 0
    assert unrealized == {"RELIANCE": Decimal(-500), "SBIN": Decimal(0)}
    assert restored == unrealized  # without the monitor's write, RELIANCE would come back at 0
