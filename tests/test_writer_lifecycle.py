"""The write queue's lifecycle (storage/lifecycle.py) on real stores: IDLE, WRITING, RETRYING while PostgreSQL is
down, CLOSING while close() drains, CLOSED after; and the exact error a call gets in a state that refuses it."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms_kit.errors import PersistenceUnavailable, StoreError
from oms_kit.storage import QueueState, RowError, Store, Write, WriteQueue, open_store
from oms_kit.storage.lifecycle import TRANSITIONS, advance, refused
from oms_kit.storage.rows import misfit

T0 = datetime(2026, 1, 5, 3, 45, tzinfo=UTC)
Q = QueueState
ids = itertools.count(1)
CLOSED_COMMIT = "cannot commit rows: the write queue is closed"
CLOSING_COMMIT = "cannot commit rows: the write queue is closing"


def trade(n: int | None = None, **changes: Any) -> Write:
    """A trades row with a key of its own (or ``T-n``); ``changes`` replace columns by name."""
    values = {"trade_id": f"T-{next(ids) if n is None else n}", "order_id": "O-1", "account": "default",
              "symbol": "SBIN", "product": "CNC", "side": "BUY", "quantity": 5, "price": Decimal("812.35"),
              "fees": Decimal("0.12"), "ts": T0}
    values.update(changes)
    return ("trades", tuple(values.values()))


async def stored_ids(store: Store) -> set[str]:
    return {row["trade_id"] for row in await store.fetch("SELECT trade_id FROM trades")}


@pytest.fixture
async def store(durable_url: str) -> AsyncIterator[Store]:
    store = await open_store(durable_url)
    yield store
    await store.close()


async def test_state_is_idle_then_writing_while_a_transaction_is_in_flight_then_idle(store: Store) -> None:
    queue = WriteQueue(store)
    assert queue.state is Q.IDLE and queue.status()["state"] == "idle"

    future = queue.commit_nowait([trade(1)])
    seen = set()
    while not future.done():
        seen.add(queue.state)
        await asyncio.sleep(0)

    assert Q.WRITING in seen and seen <= {Q.IDLE, Q.WRITING}
    assert future.result() is None
    assert queue.state is Q.IDLE and queue.status()["state"] == "idle"
    await queue.close()
    assert await stored_ids(store) == {"T-1"}


async def test_commit_after_close_raises_the_closed_error_and_closing_again_is_harmless(store: Store) -> None:
    queue = WriteQueue(store)
    await queue.commit([trade(1)])
    await queue.close()
    assert queue.state is Q.CLOSED and queue.status()["state"] == "closed"

    with pytest.raises(StoreError) as info:
        await queue.commit([trade(2)])
    assert (info.value.message, info.value.hint) == (CLOSED_COMMIT, "open a new store and queue to write again")
    with pytest.raises(StoreError) as info:
        queue.commit_nowait([])
    assert info.value.message == CLOSED_COMMIT

    await queue.close()
    assert queue.state is Q.CLOSED and await stored_ids(store) == {"T-1"}


async def test_close_before_any_commit_goes_straight_to_closed(store: Store) -> None:
    queue = WriteQueue(store)
    await queue.close()

    assert queue.state is Q.CLOSED and queue.status()["running"] is False
    with pytest.raises(StoreError) as info:
        await queue.commit([trade()])
    assert info.value.message == CLOSED_COMMIT


async def test_closing_drains_what_was_queued_and_refuses_new_rows_until_closed(store: Store) -> None:
    queue = WriteQueue(store)
    futures = [queue.commit_nowait([trade(1)])]
    while queue.state is not Q.WRITING:  # the first transaction is in flight: what follows waits for the next
        await asyncio.sleep(0)
    futures += [queue.commit_nowait([trade(n)]) for n in range(2, 6)]

    closing = asyncio.create_task(queue.close())
    await asyncio.sleep(0)
    assert queue.state is Q.CLOSING and queue.status()["state"] == "closing"
    with pytest.raises(StoreError) as info:
        queue.commit_nowait([trade(99)])
    assert info.value.message == CLOSING_COMMIT and "close() was called" in (info.value.hint or "")

    await closing
    assert queue.state is Q.CLOSED
    assert all(f.done() and f.exception() is None for f in futures)
    assert await stored_ids(store) == {f"T-{n}" for n in range(1, 6)}


async def test_a_failed_transaction_leaves_the_queue_idle_and_the_next_commit_goes_through(store: Store) -> None:
    queue = WriteQueue(store)
    with pytest.raises(RowError, match="quantity"):
        await queue.commit([trade(1, quantity=2**63)])
    assert queue.state is Q.IDLE

    await queue.commit([trade(2)])
    await queue.close()
    assert await stored_ids(store) == {"T-2"}


@pytest.mark.postgres
async def test_state_is_retrying_while_postgresql_is_down_and_idle_once_it_answers(pg_cluster_owned: Any) -> None:
    store = await open_store(pg_cluster_owned.url)
    try:
        queue = WriteQueue(store)
        await queue.commit([trade(1)])
        pg_cluster_owned.stop()

        with pytest.raises(PersistenceUnavailable, match="unreachable"):
            await queue.commit([trade(2)])
        assert queue.state is Q.RETRYING
        status = queue.status()
        assert (status["state"], status["available"], status["pending_rows"]) == ("retrying", False, 1)
        await asyncio.sleep(0.2)  # retries on the timer fail quietly: still RETRYING, the row still held
        assert queue.state is Q.RETRYING and queue.status()["retries"] >= 2

        pg_cluster_owned.start()
        await queue.commit([trade(3)])  # the held row first, then this one

        assert queue.state is Q.IDLE and queue.status()["state"] == "idle" and queue.unavailable is None
        await queue.close()
        assert queue.state is Q.CLOSED
        assert await stored_ids(store) == {"T-1", "T-2", "T-3"}
    finally:
        await store.close()


@pytest.mark.postgres
async def test_close_while_postgresql_is_down_gives_up_after_one_attempt_and_is_closed(pg_cluster_owned: Any) -> None:
    store = await open_store(pg_cluster_owned.url)
    try:
        queue = WriteQueue(store)
        await queue.commit([trade(1)])
        pg_cluster_owned.stop()
        with pytest.raises(PersistenceUnavailable):
            await queue.commit([trade(2), trade(3)])
        assert queue.state is Q.RETRYING

        with pytest.raises(PersistenceUnavailable) as lost:
            await asyncio.wait_for(queue.close(), 10)

        assert lost.value.message == "2 rows could not be written before closing: the database is unreachable"
        assert queue.state is Q.CLOSED and queue.lost_rows == 2
        with pytest.raises(StoreError) as info:
            await queue.commit([trade(4)])
        assert info.value.message == CLOSED_COMMIT
    finally:
        await store.close()


# -- the transition table -----------------------------------------------------------------------------------

EVENTS = ["send", "committed", "failed", "lost", "close", "stop"]


@settings(max_examples=300, deadline=None)
@given(state=st.sampled_from(QueueState),
       event=st.one_of(st.sampled_from(EVENTS), st.text(max_size=12), st.sampled_from(["", "SEND", " close", "\x00"])))
def test_advance_follows_the_table_and_names_a_move_that_cannot_happen(state: QueueState, event: str) -> None:
    moves = TRANSITIONS[state]
    if event in moves:
        assert advance(state, event) is moves[event]  # type: ignore[arg-type]
        return
    with pytest.raises(StoreError) as info:
        advance(state, event)  # type: ignore[arg-type]
    assert info.value.message == f"write queue: no move from {state.name} on {event!r}"
    assert all(name in (info.value.detail or "") for name in moves)


def test_the_table_lets_every_state_reach_closed_and_nothing_leave_it() -> None:
    for state in QueueState:
        assert advance(advance(state, "close"), "stop") is Q.CLOSED
    assert set(TRANSITIONS[Q.CLOSED].values()) == {Q.CLOSED}
    assert advance(Q.RETRYING, "committed") is Q.IDLE and advance(Q.WRITING, "lost") is Q.RETRYING


@settings(max_examples=100, deadline=None)
@given(state=st.sampled_from(QueueState), operation=st.text(min_size=1, max_size=30))
def test_refused_names_the_operation_and_the_state(state: QueueState, operation: str) -> None:
    error = refused(state, operation)
    assert isinstance(error, StoreError)
    assert error.message == f"cannot {operation}: the write queue is {state.value}"


# -- hostile sequences of calls on DuckDB in memory -----------------------------------------------------------

# Values a trades column cannot hold (out of range, wrong type, NUL, a lone surrogate, NULL where NOT NULL).
HOSTILE = st.one_of(
    st.tuples(st.just("quantity"), st.sampled_from([2**63, -(2**63) - 1, True, "5", 1.5, None])),
    st.tuples(st.just("price"), st.sampled_from([Decimal("NaN"), float("inf"), Decimal("1e30"), "812", None])),
    st.tuples(st.just("symbol"), st.sampled_from(["SB\x00IN", "\ud800", 5, b"SBIN", None])),
    st.tuples(st.just("ts"), st.sampled_from(["2026-01-05", 1767584700, None])),
)
ROWS = st.lists(st.one_of(st.none(), HOSTILE), min_size=0, max_size=4).map(
    lambda specs: [trade() if spec is None else trade(**{spec[0]: spec[1]}) for spec in specs])
CALLS = st.one_of(
    st.tuples(st.sampled_from(["commit", "nowait"]), ROWS),
    st.tuples(st.sampled_from(["close", "sleep"]), st.just([])),
)


def fits(rows: list[Write]) -> bool:
    # Every store holds these (DuckDB also takes some values PostgreSQL refuses, a NUL in a text, a str number).
    return misfit("memory", rows) is None and all(value is not None for _, values in rows for value in values)


def keys(rows: list[Write]) -> set[str]:
    return {values[0] for _, values in rows}


async def _scenario(calls: list[tuple[str, list[Write]]]) -> None:
    store = await open_store("duckdb:///:memory:")
    queue = WriteQueue(store)
    stored: set[str] = set()  # keys that must end up in the store
    absent: set[str] = set()  # keys that must not
    futures: list[tuple[asyncio.Future[None], list[Write]]] = []
    closing: asyncio.Task[None] | None = None
    try:
        for name, rows in calls:
            state = queue.state
            if name == "close":
                closing = closing or asyncio.create_task(queue.close())
                await asyncio.sleep(0)
                assert queue.state in (Q.CLOSING, Q.CLOSED)
                continue
            if name == "sleep":
                await asyncio.sleep(0)
                continue
            if state in (Q.CLOSING, Q.CLOSED):
                with pytest.raises(StoreError) as info:
                    if name == "commit":
                        await queue.commit(rows)
                    else:
                        queue.commit_nowait(rows)
                assert info.value.message == f"cannot commit rows: the write queue is {state.value}"
                absent |= keys(rows)
                continue
            if name == "commit":
                try:
                    await queue.commit(rows)
                except RowError:
                    assert not fits(rows)
                    absent |= keys(rows)  # all or none
                else:
                    stored |= keys(rows)
                assert queue.state in (Q.IDLE, Q.WRITING)  # DuckDB is always reachable: never RETRYING
            else:
                futures.append((queue.commit_nowait(rows), rows))
        await (closing or queue.close())
        assert queue.state is Q.CLOSED and queue.status()["state"] == "closed"
        for future, rows in futures:
            assert future.done()
            assert future.exception() is None or isinstance(future.exception(), RowError)
            (stored if future.exception() is None else absent).update(keys(rows))
            assert future.exception() is None or not fits(rows)
        on_disk = await stored_ids(store)
        assert stored <= on_disk and not (absent & on_disk)
    finally:
        if closing is not None and not closing.done():
            await closing
        await store.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls=st.lists(CALLS, min_size=1, max_size=14))
def test_hostile_calls_keep_the_lifecycle_and_lose_no_row_that_fits(calls: list[tuple[str, list[Write]]]) -> None:
    asyncio.run(_scenario(calls))
