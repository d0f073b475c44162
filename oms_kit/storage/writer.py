"""The write path shared by both stores: group commit in front of ``Store.write`` (rows are grouped by table and
told apart when one cannot be stored in ``storage/rows.py``; the queue's states and their moves are in
``storage/lifecycle.py``; a transaction that failed for a row's sake is written again in halves by
``storage/split.py``).

Every record the OMS must not lose goes through :class:`WriteQueue`. A caller awaits its rows' commit; while one
transaction is in flight, everything that arrives waits and then goes out together in the next one, so a burst of
orders costs a few transactions, not one each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from oms_kit.errors import PersistenceUnavailable, StoreError
from oms_kit.storage.base import Store, Write
from oms_kit.storage.lifecycle import QueueState, advance, refused
from oms_kit.storage.rows import RowError
from oms_kit.storage.split import Part, settle_parts, write_apart

TASK_NAME = "oms-kit-group-commit"
# Retry pause after the database could not be reached: doubles from the first value up to the second.
RETRY_SECONDS = (0.05, 2.0)

log = logging.getLogger("oms_kit.storage")
# Module names for the states read on every call: a class attribute of an Enum costs several times more to look up.
_RETRYING, _CLOSING, _CLOSED = QueueState.RETRYING, QueueState.CLOSING, QueueState.CLOSED


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
    written exactly once when the database returns. The outage is logged once when it begins (logger
    ``oms_kit.storage``, ERROR) and once when the database is back (WARNING), not at every retry.

    When a transaction fails for a row's sake (:class:`RowError`: a value its column cannot hold), retrying it
    whole could never succeed, and one caller's bad row must not cost the others their records: the transaction
    is written again split in halves, and the failing halves split again, in order. The rows of one ``commit``
    call are never split (all of them are stored or none), so only the callers whose rows do not fit get the
    error. Any other error (the store is closed or read-only) drops that transaction's rows and is raised to its
    callers.

    Its lifecycle is one :class:`~oms_kit.storage.lifecycle.QueueState` (:attr:`state`): IDLE, WRITING while a
    transaction is in flight and back to IDLE when it ends, RETRYING from a failed attempt to reach the database
    until one succeeds (then IDLE), CLOSING once :meth:`close` is called (queued rows are still written, new ones
    refused with a ``StoreError`` saying so), CLOSED when the background task has ended.

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
        self.rejected_rows = 0  # rows refused because their table cannot hold them (RowError)
        self.unavailable: PersistenceUnavailable | None = None  # the last error while the database is unreachable
        self.unavailable_since: float | None = None  # loop time of the first failure of this outage
        self.retries = 0  # failed attempts, all outages
        self.outages = 0
        self.overflowed = False
        self.lost_rows = 0  # rows given up on close while the database was still unreachable
        self._rows: list[Write] = []
        self._waiters: list[asyncio.Future[None]] = []
        # Per waiter, where its rows end in _rows: a transaction that fails for a row's sake is split along these
        # bounds.
        self._ends: list[int] = []
        self._held: list[Part] = []  # the parts of a transaction that could not reach the database, for the retry
        self._held_rows = 0
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._state = QueueState.IDLE  # changed only through advance(): storage/lifecycle.py lists every move
        self._pause = RETRY_SECONDS[0]  # before the next retry while RETRYING

    @property
    def state(self) -> QueueState:
        """Where the queue is in its life: IDLE, WRITING, RETRYING, CLOSING or CLOSED (read-only)."""
        return self._state

    def commit_nowait(self, rows: Iterable[Write]) -> asyncio.Future[None]:
        """Queue ``rows`` and return a future that completes when the transaction carrying them commits.

        Parameters
        ----------
        rows : iterable of (table, values)
            Rows as :meth:`Store.write` takes them, written all in one transaction or not at all. An empty
            iterable gives a barrier: its future completes once everything queued before it is done.

        Returns
        -------
        asyncio.Future
            Done with None on commit; raises the store's error (``RowError`` when one of these rows does not fit
            its table, ``PersistenceUnavailable``, ``StoreError``) if they could not be committed.

        Raises
        ------
        StoreError
            The queue is closing or closed: ``cannot commit rows: the write queue is closing`` (or ``closed``).
        """
        loop = self._start()
        future: asyncio.Future[None] = loop.create_future()
        self._rows.extend(rows)
        if self._state is _RETRYING:
            self._check_overflow()
        # While the database is down this wakes an immediate retry: the caller learns within one attempt whether
        # it is back, instead of waiting out the retry pause.
        self._waiters.append(future)
        self._ends.append(len(self._rows))
        self._wakeup.set()
        return future

    def _start(self) -> asyncio.AbstractEventLoop:
        state = self._state
        if state is _CLOSING or state is _CLOSED:
            raise refused(state, "commit rows")
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():  # first commit, or the task was cancelled: (re)start it
            self._task = loop.create_task(self._run(), name=TASK_NAME)
        return loop

    async def commit(self, rows: Iterable[Write]) -> None:
        """Queue ``rows`` and return when the transaction carrying them is committed.

        Raises
        ------
        RowError
            One of ``rows`` does not fit its table: none of them is stored (the other callers' rows are).
        StoreError
            The transaction failed (``PersistenceUnavailable`` when the database could not be reached), or the
            queue is closing or closed (``cannot commit rows: the write queue is closing``, or ``closed``).
        """
        await self.commit_nowait(rows)

    async def close(self) -> None:
        """Commit everything queued, then stop the background task (CLOSING, then CLOSED). The store stays open.
        Closing twice is harmless.

        Raises
        ------
        PersistenceUnavailable
            The database was still unreachable: the rows that could not be written are counted in ``lost_rows``.
        """
        self._state = advance(self._state, "close")
        task = self._task
        try:
            if task is not None:
                self._wakeup.set()
                await task  # its last step moves the state on to CLOSED
        finally:
            if self._state is _CLOSING and (task is None or task.done()):  # no task, or it had already ended
                self._state = advance(self._state, "stop")
        if self.lost_rows:
            raise PersistenceUnavailable(
                f"{self.lost_rows} rows could not be written before closing: the database is unreachable",
                detail=str(self.unavailable), hint="these records are lost; the store holds the state before them")

    def status(self) -> dict[str, Any]:
        """Counters for ``OMS.status()``: the lifecycle state, transactions and rows committed, rows waiting or
        refused as not fitting their table, task alive, and whether the database is reachable (with the last
        error and for how long it has been down)."""
        loop_time = asyncio.get_running_loop().time() if self.unavailable_since is not None else None
        return {
            "state": self._state.value,
            "transactions": self.transactions,
            "rows": self.rows,
            "pending_rows": len(self._rows) + self._held_rows,
            "rejected_rows": self.rejected_rows,
            "running": self._task is not None and not self._task.done(),
            "available": self.unavailable is None,
            "unavailable_for_s": (None if loop_time is None or self.unavailable_since is None
                                  else round(loop_time - self.unavailable_since, 3)),
            "last_error": None if self.unavailable is None else str(self.unavailable),
            "retries": self.retries,
            "outages": self.outages,
            "overflowed": self.overflowed,
            "max_buffered_rows": self.max_buffered_rows,
        }

    def _check_overflow(self) -> None:
        if not self.overflowed and len(self._rows) + self._held_rows > self.max_buffered_rows:
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
        # Callers whose transaction committed, woken only once the next transaction is on its way: their Python
        # work (the next order, the fill) then runs while the server executes and commits it, instead of the
        # server waiting for all of them and then they for it.
        committed: list[asyncio.Future[None]] = []
        batch: _Batch | None = None
        try:
            while committed or self._waiters or self._rows or self._held or self._state is not _CLOSING:
                committed = await self._wait(committed)
                batch = self._take_batch()
                # The transaction's first step (encoding, sending) runs before the callers woken here.
                write = asyncio.get_running_loop().create_task(self.store.write(batch.rows)) if batch.rows else None
                _settle(committed, None)
                committed = await self._write(batch, write)
                batch = None
        finally:
            self._stop(committed, batch)

    async def _wait(self, committed: list[asyncio.Future[None]]) -> list[asyncio.Future[None]]:
        """Step 1, wait: for rows when IDLE, for the retry timer (or a new commit) when RETRYING, not at all when
        CLOSING or when callers of the last transaction are about to queue more. Returns the callers still to wake.
        """
        if committed and not self._waiters:
            # Nothing arrived during the last transaction (every caller was waiting on it): wake half of them and
            # send their rows as soon as they have queued them, while the other half runs. The callers then settle
            # into two groups that take turns, one on the server, one on the client.
            half = (len(committed) + 1) // 2
            _settle(committed[:half], None)
            committed = committed[half:]
            await asyncio.sleep(0)  # the woken callers run before this task resumes
        state = self._state
        if committed or state is _CLOSING:
            pass  # the woken half has queued (or not) its rows, or close() waits for the rest: go on
        elif state is _RETRYING:  # on a timer, whether or not anything new arrives
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._pause)
            self._pause = min(self._pause * 2, RETRY_SECONDS[1])
        else:
            await self._wakeup.wait()
        self._wakeup.clear()
        return committed

    def _take_batch(self) -> _Batch:
        """Step 2, take: everything queued becomes the next transaction (state WRITING, or still RETRYING or
        CLOSING), rows held from failed attempts first."""
        held, offset = self._held, self._held_rows  # offset: where the commit() callers' rows will start
        self._held, self._held_rows = [], 0
        rows, self._rows = self._rows, []
        ends, self._ends = self._ends, []
        waiters, self._waiters = self._waiters, []
        if held:  # kept from attempts that could not reach the database: ahead of newer rows
            rows[:0] = [row for _, part in held for row in part]
        self._state = advance(self._state, "send")
        return _Batch(held, offset, rows, ends, waiters)

    async def _write(self, batch: _Batch, write: asyncio.Task[None] | None) -> list[asyncio.Future[None]]:
        """Step 3, write: await the transaction and settle its outcome (committed, held for the retry when the
        database is lost, written apart when a row does not fit, dropped on any other error). Returns the callers
        whose rows committed, to be woken once the next transaction is on its way."""
        try:
            if write is not None:
                await write
        except PersistenceUnavailable as exc:
            self._unreachable(exc, batch.parts(), batch.waiters)
        except RowError as exc:
            await self._write_apart(batch.parts(), exc)
        except Exception as exc:
            _settle(batch.waiters, exc)
            self._state = advance(self._state, "failed")
        else:
            if batch.rows:
                self.transactions += 1
                self.rows += len(batch.rows)
            self._reachable(len(batch.rows))
            return batch.waiters
        return []

    def _stop(self, committed: list[asyncio.Future[None]], batch: _Batch | None) -> None:
        """Step 4, stop: the task ends, after close() (CLOSING to CLOSED) or cancelled. Wakes the callers whose rows
        committed and fails the others: whatever was in flight or still queued has an unknown or no outcome."""
        _settle(committed, None)
        stopped = StoreError(
            "the group-commit task stopped before these rows were known to be committed",
            hint="check the store and retry: writes are idempotent",
        )
        _settle((batch.waiters if batch is not None else []) + self._waiters, stopped)
        self._waiters, self._ends, self._rows = [], [], []
        self._held, self._held_rows = [], 0
        self._pause = RETRY_SECONDS[0]
        self._state = advance(self._state, "stop")

    def _unreachable(self, error: PersistenceUnavailable, parts: list[Part],
                     waiters: list[asyncio.Future[None]]) -> None:
        # The rows stay, ahead of newer ones, for the retry; their callers learn of the outage now.
        self._state = advance(self._state, "lost")
        self._held = [part for part in parts if part[1]]
        self._held_rows = sum(len(part[1]) for part in self._held)
        self.retries += 1
        if self.unavailable is None:
            self.outages += 1
            self.unavailable_since = asyncio.get_running_loop().time()
            # Said once per outage, not at each retry: the retries go on quietly until the database answers.
            log.error(
                "%s is unreachable: writes are buffered (%d rows so far) and retried until it answers. Meanwhile "
                "the OMS refuses new orders and modifies; fills, cancels and state changes are kept in the buffer "
                "and written when it returns. status()['writes'] shows the outage.\n  cause: %s",
                self.store.url, self._held_rows + len(self._rows), error.detail or error.message,
            )
        self.unavailable = error
        _settle(waiters, error)
        self._check_overflow()
        if self._state is _CLOSING:  # one last attempt failed: give up rather than hang close()
            self.lost_rows = self._held_rows + len(self._rows)
            self._held, self._held_rows, self._rows, self._ends = [], 0, [], []
            _settle(self._waiters, error)
            self._waiters = []

    def _reachable(self, written: int) -> None:
        self._state = advance(self._state, "committed")
        if self.unavailable is None or self.unavailable_since is None:
            return
        down = asyncio.get_running_loop().time() - self.unavailable_since
        # WARNING rather than INFO so that a notebook without logging set up shows it after the outage message.
        log.warning("%s is back after %.1f s unreachable: %d buffered rows written", self.store.url, down, written)
        self.unavailable = self.unavailable_since = None
        self.overflowed = False
        self._pause = RETRY_SECONDS[0]
        if self.on_available is not None:
            self.on_available()

    async def _write_apart(self, parts: list[Part], error: RowError) -> None:
        # A transaction that failed for a row's sake: written again in halves (storage/split.py), then settled as
        # any attempt is, by how it ended.
        split = await write_apart(self.store, parts, error)
        self.transactions += split.transactions
        self.rows += split.written
        self.rejected_rows += split.rejected_rows
        if isinstance(split.stop, PersistenceUnavailable):
            self._unreachable(split.stop, split.remaining, [owner for owner, _ in split.remaining])
        elif split.stop is not None:
            _settle([owner for owner, _ in split.remaining], split.stop)
            self._state = advance(self._state, "failed")
        else:
            self._reachable(split.written)
        settle_parts(parts, split.rejected)


class _Batch:
    """One transaction as taken from the queue."""

    # A plain class: built once per transaction, where a NamedTuple costs several times more.
    __slots__ = ("ends", "held", "offset", "rows", "waiters")

    def __init__(self, held: list[Part], offset: int, rows: list[Write], ends: list[int],
                 waiters: list[asyncio.Future[None]]) -> None:
        self.held = held  # parts kept from attempts that could not reach the database: the first ``offset`` rows
        self.offset = offset
        self.rows = rows  # every row of the transaction
        self.ends = ends  # per waiter, where its rows end after ``offset``
        self.waiters = waiters

    def parts(self) -> list[Part]:
        # The rows by who waits for them: the held parts, then each commit() caller's rows.
        parts = list(self.held)
        start = offset = self.offset
        for waiter, end in zip(self.waiters, self.ends, strict=True):
            parts.append((waiter, self.rows[start:offset + end]))
            start = offset + end
        return parts


def _settle(waiters: list[asyncio.Future[None]], error: BaseException | None) -> None:
    # A caller may have stopped waiting (its task was cancelled): its future is then already done.
    for waiter in waiters:
        if not waiter.done():
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)
