"""WriteQueue (group commit) against a fake store, and the batching helpers of storage/writer.py."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from oms_kit.errors import PersistenceUnavailable, StoreError
from oms_kit.storage import Write, WriteQueue
from oms_kit.storage.rows import group_rows
from oms_kit.storage.schema import TABLES
from oms_kit.storage.writer import TASK_NAME


class FakeStore:
    """Records each write; a test may hold a write in flight (``gate``) or make the next ones fail."""

    backend = "fake"
    url = "fake://"
    durable = True

    def __init__(self) -> None:
        self.writes: list[list[Write]] = []
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()
        self.failures: list[Exception] = []

    async def write(self, rows: Sequence[Write]) -> None:
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.failures:
            raise self.failures.pop(0)
        self.writes.append(list(rows))

    async def fetch(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        return []

    async def fetch_df(self, sql: str, *params: Any) -> Any:
        return None

    async def migrate(self) -> list[int]:
        return []

    async def close(self) -> None:
        pass


def event(n: int) -> Write:
    return ("order_events", (f"E-{n}", "O-1", "default", n, None, "SUBMITTED", None, "OPEN", "{}"))


async def first_commit_held(store: FakeStore) -> tuple[WriteQueue, asyncio.Future[None]]:
    """A queue whose first transaction (event 1) is in flight and held there until ``store.gate`` is set."""
    store.gate = asyncio.Event()
    queue = WriteQueue(store)
    in_flight = queue.commit_nowait([event(1)])
    await store.entered.wait()
    return queue, in_flight


@pytest.fixture
async def store() -> FakeStore:
    return FakeStore()


async def test_commit_when_alone_then_writes_one_transaction(store: FakeStore) -> None:
    async with WriteQueue(store) as queue:
        await queue.commit([event(1), event(2)])

        assert store.writes == [[event(1), event(2)]]
        status = queue.status()
        assert {k: status[k] for k in ("transactions", "rows", "pending_rows", "running", "available")} == {
            "transactions": 1, "rows": 2, "pending_rows": 0, "running": True, "available": True}
    assert queue.status()["running"] is False


async def test_commits_queued_during_a_transaction_then_share_the_next_one(store: FakeStore) -> None:
    store.gate = asyncio.Event()
    async with WriteQueue(store) as queue:
        first = queue.commit_nowait([event(1)])
        await store.entered.wait()  # the first transaction is in flight
        later = [queue.commit_nowait([event(n)]) for n in range(2, 12)]
        await asyncio.sleep(0)

        assert not first.done() and not any(f.done() for f in later)
        store.gate.set()
        await asyncio.gather(first, *later)

        assert store.writes == [[event(1)], [event(n) for n in range(2, 12)]]
        assert queue.transactions == 2 and queue.rows == 11


async def test_commit_when_database_unreachable_then_callers_raise_and_rows_are_written_once_it_returns(
    store: FakeStore,
) -> None:
    store.failures.append(PersistenceUnavailable("database down"))
    async with WriteQueue(store) as queue:
        results = await asyncio.gather(queue.commit([event(1)]), queue.commit([event(2)]), return_exceptions=True)

        assert [type(r) for r in results] == [PersistenceUnavailable, PersistenceUnavailable]
        status = queue.status()
        assert (status["available"], status["pending_rows"], status["outages"]) == (False, 2, 1)
        assert "database down" in status["last_error"]
        await queue.commit([event(3)])  # the database is back: buffered rows first, in order, then the new one
        assert store.writes == [[event(1), event(2), event(3)]]
        assert queue.status()["available"] is True


async def test_retry_when_nobody_commits_then_buffered_rows_go_out_on_the_timer(store: FakeStore) -> None:
    store.failures.extend([PersistenceUnavailable("down"), PersistenceUnavailable("still down")])
    async with WriteQueue(store) as queue:
        with pytest.raises(PersistenceUnavailable, match=r"^down$"):
            await queue.commit([event(1)])
        for _ in range(200):  # retries pause 0.05 s, then 0.1 s
            if store.writes:
                break
            await asyncio.sleep(0.01)
        assert store.writes == [[event(1)]]
        assert queue.status()["retries"] == 2


async def test_commit_when_a_row_does_not_fit_then_that_transaction_is_dropped_not_retried(store: FakeStore) -> None:
    store.failures.append(StoreError("value too long"))
    async with WriteQueue(store) as queue:
        with pytest.raises(StoreError, match="value too long"):
            await queue.commit([event(1)])
        await queue.commit([event(2)])
        assert store.writes == [[event(2)]]


async def test_buffer_when_past_its_bound_then_on_overflow_is_called_once_and_rows_are_kept(
    store: FakeStore,
) -> None:
    store.failures.extend(PersistenceUnavailable("down") for _ in range(3))
    overflows = []
    async with WriteQueue(store, max_buffered_rows=3, on_overflow=lambda: overflows.append(1)) as queue:
        for n in range(1, 4):
            with pytest.raises(PersistenceUnavailable, match=r"^down$"):
                await queue.commit([event(2 * n - 1), event(2 * n)])
        assert overflows == [1] and queue.status()["overflowed"] is True
        await queue.commit([])
        assert store.writes == [[event(n) for n in range(1, 7)]]
        assert queue.status()["overflowed"] is False


async def test_close_when_database_still_unreachable_then_raises_with_the_count_of_rows_not_written(
    store: FakeStore,
) -> None:
    store.failures.extend(PersistenceUnavailable("down") for _ in range(2))
    queue = WriteQueue(store)
    with pytest.raises(PersistenceUnavailable, match=r"^down$"):
        await queue.commit([event(1), event(2)])
    with pytest.raises(PersistenceUnavailable, match="2 rows could not be written"):
        await queue.close()
    assert queue.status()["running"] is False


async def test_commit_with_no_rows_then_waits_for_earlier_rows_without_a_transaction(store: FakeStore) -> None:
    store.gate = asyncio.Event()
    async with WriteQueue(store) as queue:
        first = queue.commit_nowait([event(1)])
        await store.entered.wait()
        barrier = queue.commit_nowait([])
        store.gate.set()
        await barrier

        assert first.done()
        assert queue.transactions == 1


async def test_close_when_rows_are_queued_then_commits_them_first(store: FakeStore) -> None:
    queue = WriteQueue(store)
    futures = [queue.commit_nowait([event(n)]) for n in range(5)]

    await queue.close()

    assert all(f.done() and f.exception() is None for f in futures)
    assert store.writes == [[event(n) for n in range(5)]]


async def test_commit_after_close_then_raises_store_error(store: FakeStore) -> None:
    queue = WriteQueue(store)
    await queue.close()

    with pytest.raises(StoreError, match="closed"):
        await queue.commit([event(1)])


async def test_background_task_is_named(store: FakeStore) -> None:
    async with WriteQueue(store) as queue:
        queue.commit_nowait([event(1)])

        assert any(task.get_name() == TASK_NAME for task in asyncio.all_tasks())
        await queue.commit([])


async def test_commit_when_caller_is_cancelled_then_rows_are_still_written(store: FakeStore) -> None:
    store.gate = asyncio.Event()
    async with WriteQueue(store) as queue:
        caller = asyncio.create_task(queue.commit([event(1)]))
        await store.entered.wait()
        caller.cancel()
        store.gate.set()

        with pytest.raises(asyncio.CancelledError):
            await caller
        await queue.commit([event(2)])
        assert store.writes == [[event(1)], [event(2)]]


async def test_task_when_cancelled_then_waiters_get_a_store_error_and_next_commit_restarts_it(
    store: FakeStore,
) -> None:
    queue, in_flight = await first_commit_held(store)
    queued = queue.commit_nowait([event(2)])
    task = next(t for t in asyncio.all_tasks() if t.get_name() == TASK_NAME)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    for future in (in_flight, queued):
        with pytest.raises(StoreError, match="stopped"):
            await future
    store.gate.set()
    await queue.commit([event(3)])
    await queue.close()
    assert store.writes[-1] == [event(3)]


async def test_commit_when_every_caller_waited_on_one_transaction_then_half_go_next_while_the_rest_run(
    store: FakeStore,
) -> None:
    # Four callers commit twice. All four are in the first transaction and nothing arrives meanwhile: the writer
    # wakes the first two and sends their rows at once, and the other two queue theirs while that transaction is
    # in flight, so the server never waits for every caller's Python work.
    async def caller(queue: WriteQueue, n: int) -> None:
        await queue.commit([event(n)])
        await queue.commit([event(n + 4)])

    async with WriteQueue(store) as queue:
        await asyncio.gather(*(caller(queue, n) for n in range(1, 5)))

    assert store.writes == [[event(1), event(2), event(3), event(4)], [event(5), event(6)], [event(7), event(8)]]


async def test_close_when_a_barrier_waits_behind_a_transaction_in_flight_then_returns_once_both_are_done(
    store: FakeStore,
) -> None:
    queue, in_flight = await first_commit_held(store)
    barrier = queue.commit_nowait([])
    closing = asyncio.create_task(queue.close())
    await asyncio.sleep(0)

    store.gate.set()
    await asyncio.wait_for(closing, 2)

    assert in_flight.done() and barrier.done() and store.writes == [[event(1)]]

def test_group_rows_when_upsert_key_repeats_then_last_row_wins() -> None:
    order_v1 = order_row("O-1", "NEW")
    order_v2 = order_row("O-1", "OPEN")

    grouped = group_rows([("orders", order_v1), ("orders", order_row("O-2", "NEW")), ("orders", order_v2)])

    assert grouped == {TABLES["orders"]: [order_v2, order_row("O-2", "NEW")]}


def test_group_rows_when_append_key_repeats_then_first_row_wins() -> None:
    retry = ("order_events", (*event(1)[1][:-1], '{"retry": true}'))

    grouped = group_rows([event(1), retry, event(2)])

    assert grouped == {TABLES["order_events"]: [event(1)[1], event(2)[1]]}


def test_group_rows_when_composite_key_then_groups_by_all_key_columns() -> None:
    def position(symbol: str, product: str, quantity: int) -> Write:
        return ("positions", ("default", symbol, product, quantity, 0, 0, 0, None, 0, 0, None))

    grouped = group_rows([position("SBIN", "MIS", 1), position("SBIN", "CNC", 2), position("SBIN", "MIS", 3)])

    assert [row[3] for row in grouped[TABLES["positions"]]] == [3, 2]


def test_group_rows_when_table_unknown_then_raises_store_error() -> None:
    with pytest.raises(StoreError, match="unknown table 'fills'"):
        group_rows([("fills", ("F-1",))])


def test_group_rows_when_row_has_wrong_width_then_raises_store_error_naming_columns() -> None:
    with pytest.raises(StoreError, match="has 2 values; the table has 7 columns") as info:
        group_rows([("accounts", ("default", 1))])

    assert info.value.hint == ("columns in order: account, cash, updated_at, day_began, day_base, "
                                 "day_closing_fills, day_winning_fills")


def order_row(order_id: str, status: str) -> tuple[Any, ...]:
    values: list[Any] = [None] * len(TABLES["orders"].columns)
    values[0] = order_id
    values[TABLES["orders"].column_names.index("status")] = status
    return tuple(values)


async def test_split_when_the_database_goes_down_meanwhile_then_unwritten_rows_are_kept_for_the_retry(
    store: FakeStore,
) -> None:
    # The first transaction fails for a row's sake; while it is written again in halves the database goes away:
    # what was not written yet is kept, and written once it answers, as after any outage.
    from oms_kit.storage import RowError

    store.failures.extend([RowError("a row does not fit"), PersistenceUnavailable("down")])
    async with WriteQueue(store) as queue:
        results = await asyncio.gather(queue.commit([event(1)]), queue.commit([event(2), event(3)]),
                                       return_exceptions=True)  # fmt: skip

        assert [type(r) for r in results] == [PersistenceUnavailable, PersistenceUnavailable]
        assert (queue.status()["available"], queue.status()["pending_rows"]) == (False, 3)
        await queue.commit([event(4)])
        assert store.writes == [[event(n) for n in range(1, 5)]]


async def test_split_when_one_caller_is_refused_then_no_caller_has_its_rows_divided(store: FakeStore) -> None:
    # The store refuses any transaction holding event 5: the halving stops at whole callers.
    from oms_kit.storage import RowError

    refused = event(5)

    async def write(rows: Sequence[Write]) -> None:
        if refused in rows:
            raise RowError("event 5 does not fit")
        store.writes.append(list(rows))

    store.write = write  # type: ignore[method-assign]
    callers = [[event(1), event(2)], [event(3)], [event(4), refused, event(6)], [event(7), event(8)]]
    async with WriteQueue(store) as queue:
        futures = [queue.commit_nowait(rows) for rows in callers]
        results = await asyncio.gather(*futures, return_exceptions=True)

    assert [type(r).__name__ for r in results] == ["NoneType", "NoneType", "RowError", "NoneType"]
    written = [row for rows in store.writes for row in rows]
    assert written == [*callers[0], *callers[1], *callers[3]]

    def in_one_write(rows: list[Write]) -> bool:
        return any(write[i:i + len(rows)] == rows for write in store.writes for i in range(len(write)))

    assert all(in_one_write(rows) for rows in (callers[0], callers[1], callers[3]))
