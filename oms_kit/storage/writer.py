"""The write path shared by both stores: group commit in front of ``Store.write`` and batching of rows by table.

Every record the OMS must not lose goes through :class:`WriteQueue`. A caller awaits its rows' commit; while one
transaction is in flight, everything that arrives waits and then goes out together in the next one, so a burst of
orders costs a few transactions, not one each.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from types import TracebackType
from typing import Any

from oms_kit.errors import PersistenceUnavailable, StoreError
from oms_kit.storage.base import Store, Write
from oms_kit.storage.schema import TABLES, Table

TASK_NAME = "oms-kit-group-commit"
# Retry pause after the database could not be reached: doubles from the first value up to the second.
RETRY_SECONDS = (0.05, 2.0)


class WriteQueue:
    """Group commit in front of a :class:`~oms_kit.storage.base.Store`.

    One background task (named ``"oms-kit-group-commit"``, started on the first commit) writes, in one
    ``store.write`` call, every row queued while the previous transaction was in flight. When a transaction
    commits, the next one is started before its callers are woken, so their Python work overlaps the database's;
    when nothing was queued meanwhile, half of them are woken first and their rows sent while the other half
    runs. Callers thus settle into two groups taking turns, and a store on another core (PostgreSQL) works while
    Python does.

    When the database cannot be reached (:class:`~oms_kit.errors.PersistenceUnavailable`, which includes a commit
    whose outcome is unknown because the connection broke during COMMIT), the rows are kept, in order, and the
    transaction is retried with a growing pause until it succeeds; writes are idempotent (keyed by ids), so a retry
    of a transaction that did commit changes nothing. Callers waiting on a failed attempt get its error (a new
    commit during the outage triggers one attempt at once, so nobody hangs), but their rows stay queued: they are
    written exactly once when the database returns. Any other error (a row that does not fit) drops that
    transaction's rows and is raised to its callers, as retrying could never succeed.

    Parameters
    ----------
    store : Store
        Where the rows go.
    max_buffered_rows : int
        Rows kept while the database is unreachable before ``on_overflow`` is called (once per outage). The rows
        are still kept: dropping them would lose acknowledged records, so the caller must stop making more
        (the OMS halts trading).
    on_overflow : callable, optional
        Called with no arguments when the buffer passes ``max_buffered_rows``.
    on_available : callable, optional
        Called with no arguments when a transaction succeeds after an outage.

    Examples
    --------
    >>> queue = WriteQueue(store)
    >>> await queue.commit([("orders", order_row), ("order_events", event_row)])  # returns once committed
    >>> await queue.close()
    """

    def __init__(self, store: Store, *, max_buffered_rows: int = 100_000,
                 on_overflow: Callable[[], None] | None = None,
                 on_available: Callable[[], None] | None = None) -> None:
        self.store = store
        self.max_buffered_rows = max_buffered_rows
        self.on_overflow = on_overflow
        self.on_available = on_available
        self.transactions = 0  # committed store.write calls
        self.rows = 0  # rows in those transactions
        self.unavailable: PersistenceUnavailable | None = None  # the last error while the database is unreachable
        self.unavailable_since: float | None = None  # loop time of the first failure of this outage
        self.retries = 0  # failed attempts, all outages
        self.outages = 0
        self.overflowed = False
        self.lost_rows = 0  # rows given up on close while the database was still unreachable
        self._rows: list[Write] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._batch: asyncio.Future[None] | None = None  # shared by the write_behind calls of the next transaction
        self._take: Callable[[], list[Write]] | None = None  # where that transaction takes its rows from
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def commit_nowait(self, rows: Iterable[Write]) -> asyncio.Future[None]:
        """Queue ``rows`` and return a future that completes when the transaction carrying them commits.

        Parameters
        ----------
        rows : iterable of (table, values)
            Rows as :meth:`Store.write` takes them. An empty iterable gives a barrier: its future completes
            once everything queued before it is committed.

        Returns
        -------
        asyncio.Future
            Done with None on commit; raises the store's error (``StoreError``, ``PersistenceUnavailable``) if
            that transaction failed.

        Raises
        ------
        StoreError
            The queue is closed.
        """
        loop = self._start()
        future: asyncio.Future[None] = loop.create_future()
        self._rows.extend(rows)
        if self.unavailable is not None:
            self._check_overflow()
        # While the database is down this wakes an immediate retry: the caller learns within one attempt whether
        # it is back, instead of waiting out the retry pause.
        self._waiters.append(future)
        self._wakeup.set()
        return future

    def write_behind(self, take: Callable[[], list[Write]]) -> asyncio.Future[None]:
        """Have the next transaction take its rows from ``take()`` when it starts, without a future per call.

        For callers that do not wait for the commit (the in-memory store): every call until that transaction starts
        gets the same future and costs a few attribute reads, and rows are built once per transaction, not once per
        call (an order's row in its latest state, one row per changed position).

        Returns
        -------
        asyncio.Future
            The future of the transaction that will carry the rows, shared with the other ``write_behind`` calls
            it carries. Add a done callback to it; do not await it from a task that may be cancelled, as that
            would cancel it for everyone (use :meth:`commit` to wait).

        Raises
        ------
        StoreError
            The queue is closed.
        """
        batch = self._batch
        if batch is None:
            loop = self._start()
            batch = self._batch = loop.create_future()
            self._waiters.append(batch)
            self._wakeup.set()
        self._take = take
        return batch

    def _start(self) -> asyncio.AbstractEventLoop:
        if self._closing:
            raise StoreError("the write queue is closed", hint="open a new store and queue to write again")
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():  # first commit, or the task was cancelled: (re)start it
            self._task = loop.create_task(self._run(), name=TASK_NAME)
        return loop

    async def commit(self, rows: Iterable[Write]) -> None:
        """Queue ``rows`` and return when the transaction carrying them is committed.

        Raises
        ------
        StoreError
            The transaction failed (``PersistenceUnavailable`` when the database could not be reached), or the
            queue is closed.
        """
        await self.commit_nowait(rows)

    async def close(self) -> None:
        """Commit everything queued, then stop the background task. The store stays open.

        Raises
        ------
        PersistenceUnavailable
            The database was still unreachable: the rows that could not be written are counted in ``lost_rows``.
        """
        self._closing = True
        if self._task is not None:
            self._wakeup.set()
            await self._task
        if self.lost_rows:
            raise PersistenceUnavailable(
                f"{self.lost_rows} rows could not be written before closing: the database is unreachable",
                detail=str(self.unavailable), hint="these records are lost; the store holds the state before them")

    def status(self) -> dict[str, Any]:
        """Counters for ``OMS.status()``: transactions and rows committed, rows waiting, task alive, and whether
        the database is reachable (with the last error and how long it has been down)."""
        loop_time = asyncio.get_running_loop().time() if self.unavailable_since is not None else None
        return {
            "transactions": self.transactions,
            "rows": self.rows,
            "pending_rows": len(self._rows),
            "running": self._task is not None and not self._task.done(),
            "available": self.unavailable is None,
            "unavailable_for_s": None if loop_time is None else round(loop_time - self.unavailable_since, 3),
            "last_error": None if self.unavailable is None else str(self.unavailable),
            "retries": self.retries,
            "outages": self.outages,
            "overflowed": self.overflowed,
            "max_buffered_rows": self.max_buffered_rows,
        }

    def _check_overflow(self) -> None:
        if not self.overflowed and len(self._rows) > self.max_buffered_rows:
            self.overflowed = True
            if self.on_overflow is not None:
                self.on_overflow()

    async def __aenter__(self) -> WriteQueue:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        waiters: list[asyncio.Future[None]] = []
        # Callers whose transaction committed, woken only once the next transaction is on its way: their Python
        # work (the next order, the fill) then runs while the server executes and commits it, instead of the
        # server waiting for all of them and then they for it.
        committed: list[asyncio.Future[None]] = []
        pause = RETRY_SECONDS[0]
        try:
            while self._waiters or self._rows or committed or not self._closing:
                if committed and not self._waiters:
                    # Nothing arrived during the last transaction (every caller was waiting on it): wake half of
                    # them and send their rows as soon as they have queued them, while the other half runs. The
                    # callers then settle into two groups that take turns, one on the server, one on the client.
                    half = (len(committed) + 1) // 2
                    _settle(committed[:half], None)
                    committed = committed[half:]
                    await asyncio.sleep(0)  # the woken callers run before this task resumes
                if committed:
                    pass  # the woken half has queued (or not) its rows: go on without waiting
                elif self.unavailable is None:
                    if not self._closing:  # close() sets the event once; a pass above may have cleared it
                        await self._wakeup.wait()
                else:  # retry on a timer, whether or not anything new arrives
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wakeup.wait(), pause)
                    pause = min(pause * 2, RETRY_SECONDS[1])
                self._wakeup.clear()
                rows, self._rows = self._rows, []
                if self._take is not None:
                    take, self._take = self._take, None
                    rows.extend(take())
                    if self.unavailable is not None:
                        self._check_overflow()
                waiters, self._waiters = self._waiters, []
                self._batch = None
                # The transaction's first step (encoding, sending) runs before the callers woken here.
                write = loop.create_task(self.store.write(rows)) if rows else None
                _settle(committed, None)
                committed = []
                try:
                    if write is not None:
                        await write
                except PersistenceUnavailable as exc:
                    self._rows[:0] = rows  # kept ahead of newer rows, for the retry
                    self.retries += 1
                    if self.unavailable is None:
                        self.outages += 1
                        self.unavailable_since = loop.time()
                    self.unavailable = exc
                    _settle(waiters, exc)
                    self._check_overflow()
                    if self._closing:  # one last attempt failed: give up rather than hang close()
                        self.lost_rows, self._rows = len(self._rows), []
                        _settle(self._waiters, exc)
                        self._waiters = []
                except Exception as exc:
                    _settle(waiters, exc)
                else:
                    if rows:
                        self.transactions += 1
                        self.rows += len(rows)
                    if self.unavailable is not None:
                        self.unavailable = self.unavailable_since = None
                        self.overflowed = False
                        if self.on_available is not None:
                            self.on_available()
                    pause = RETRY_SECONDS[0]
                    committed = waiters
                waiters = []
        finally:
            _settle(committed, None)
            # Cancelled (or the loop is closing): whatever was in flight or still queued has an unknown or no
            # outcome; say so rather than leave its callers waiting forever.
            stopped = StoreError(
                "the group-commit task stopped before these rows were known to be committed",
                hint="check the store and retry: writes are idempotent",
            )
            _settle(waiters + self._waiters, stopped)
            self._waiters, self._rows, self._batch, self._take = [], [], None, None


def _settle(waiters: list[asyncio.Future[None]], error: BaseException | None) -> None:
    # A caller may have stopped waiting (its task was cancelled): its future is then already done.
    for waiter in waiters:
        if not waiter.done():
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)


# Per table: column count, key getter and append mode, built once because this runs for every row written.
_LAYOUT = {
    name: (len(table.columns), itemgetter(*table.key_indexes), table.mode == "append") for name, table in TABLES.items()
}


def group_rows(rows: Sequence[Write]) -> dict[Table, list[tuple[Any, ...]]]:
    """Group rows by table with one row per key, in first-seen key order.

    Both stores write a table's rows in one statement (DuckDB) or one batch (PostgreSQL). Given a key twice in
    one upsert statement, DuckDB silently keeps the *first* row; the last is the newest state of an order or
    position, so in upsert tables the last row wins. In append tables the first wins, as a retry that reaches
    the database later changes nothing.

    Raises
    ------
    StoreError
        A row names an unknown table or has the wrong number of values.
    """
    by_name: dict[str, list[tuple[Any, ...]]] = {}
    for name, values in rows:  # the one loop over every row; the rest works a table at a time, in C
        batch = by_name.get(name)
        if batch is None:
            batch = by_name[name] = []
        batch.append(values)
    grouped = {}
    for name, batch in by_name.items():
        layout = _LAYOUT.get(name)
        if layout is None:
            raise StoreError(f"unknown table {name!r}", hint="tables: " + ", ".join(TABLES))
        width, key, keep_first = layout
        widths = set(map(len, batch))
        if widths != {width}:
            wrong = next(w for w in widths if w != width)
            raise StoreError(
                f"a row for {name} has {wrong} values; the table has {width} columns",
                hint="columns in order: " + ", ".join(TABLES[name].column_names),
            )
        if keep_first:
            # Every key once is the usual case; a set tells it faster than a dict would.
            if len(set(map(key, batch))) == len(batch):
                grouped[TABLES[name]] = batch
            else:
                first: dict[Any, tuple[Any, ...]] = {}
                for values in batch:
                    first.setdefault(key(values), values)
                grouped[TABLES[name]] = list(first.values())
            continue
        # A dict keeps each key where it was first seen and holds the value last given for it.
        latest = dict(zip(map(key, batch), batch, strict=True))
        grouped[TABLES[name]] = batch if len(latest) == len(batch) else list(latest.values())
    return grouped
