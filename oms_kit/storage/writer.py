"""The write path shared by both stores: group commit in front of ``Store.write`` (rows are grouped by table and
told apart when one cannot be stored in ``storage/rows.py``).

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
from oms_kit.storage.rows import RowError, misfit

TASK_NAME = "oms-kit-group-commit"
# Retry pause after the database could not be reached: doubles from the first value up to the second.
RETRY_SECONDS = (0.05, 2.0)

log = logging.getLogger("oms_kit.storage")


# One part of a transaction: the future of whoever waits for these rows, the rows, and whether they must be
# written all or none (a commit() caller's rows) or may be written row by row (the rows of write_behind()).
_Part = tuple[asyncio.Future[None], list[Write], bool]


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
    error. Rows taken by :meth:`write_behind` are split down to single rows: those that fit are stored and the
    transaction's future fails with a RowError naming the others. Any other error (the store is closed or
    read-only) drops that transaction's rows and is raised to its callers.

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
        # Per waiter, where its rows end in _rows (None for the write_behind future, whose rows are taken when the
        # transaction starts): a transaction that fails for a row's sake is split along these bounds.
        self._ends: list[int | None] = []
        self._held: list[_Part] = []  # the parts of a transaction that could not reach the database, for the retry
        self._held_rows = 0
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
        self._ends.append(len(self._rows))
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
            would cancel it for everyone (use :meth:`commit` to wait). It fails with a ``RowError`` naming the rows
            that could not be stored when some do not fit their table (the others are stored).

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
            self._ends.append(None)
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
        RowError
            One of ``rows`` does not fit its table: none of them is stored (the other callers' rows are).
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
        """Counters for ``OMS.status()``: transactions and rows committed, rows waiting or refused as not fitting
        their table, task alive, and whether the database is reachable (with the last error and for how long it
        has been down)."""
        loop_time = asyncio.get_running_loop().time() if self.unavailable_since is not None else None
        return {
            "transactions": self.transactions,
            "rows": self.rows,
            "pending_rows": len(self._rows) + self._held_rows,
            "rejected_rows": self.rejected_rows,
            "running": self._task is not None and not self._task.done(),
            "available": self.unavailable is None,
            "unavailable_for_s": None if loop_time is None else round(loop_time - self.unavailable_since, 3),
            "last_error": None if self.unavailable is None else str(self.unavailable),
            "retries": self.retries,
            "outages": self.outages,
            "overflowed": self.overflowed,
            "max_buffered_rows": self.max_buffered_rows,
        }

    def _check_overflow(self, in_flight: int = 0) -> None:
        if not self.overflowed and len(self._rows) + self._held_rows + in_flight > self.max_buffered_rows:
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
        waiters: list[asyncio.Future[None]] = []
        # Callers whose transaction committed, woken only once the next transaction is on its way: their Python
        # work (the next order, the fill) then runs while the server executes and commits it, instead of the
        # server waiting for all of them and then they for it.
        committed: list[asyncio.Future[None]] = []
        pause = RETRY_SECONDS[0]
        try:
            while self._waiters or self._rows or self._held or committed or not self._closing:
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
                held, offset = self._held, self._held_rows  # offset: where the commit() callers' rows will start
                self._held, self._held_rows = [], 0
                rows, self._rows = self._rows, []
                ends, self._ends = self._ends, []
                waiters, self._waiters = self._waiters, []
                self._batch = None
                taken: list[Write] = []
                if self._take is not None:
                    take, self._take = self._take, None
                    taken = take()
                    rows.extend(taken)
                    if self.unavailable is not None:
                        self._check_overflow(offset + len(rows))
                if held:  # kept from attempts that could not reach the database: ahead of newer rows
                    rows[:0] = [row for _, part, _ in held for row in part]
                # The transaction's first step (encoding, sending) runs before the callers woken here.
                write = asyncio.get_running_loop().create_task(self.store.write(rows)) if rows else None
                _settle(committed, None)
                committed = []
                try:
                    if write is not None:
                        await write
                except PersistenceUnavailable as exc:
                    self._unreachable(exc, _parts(held, waiters, ends, rows, offset, taken), waiters)
                except RowError as exc:
                    if await self._write_apart(_parts(held, waiters, ends, rows, offset, taken), exc):
                        pause = RETRY_SECONDS[0]
                except Exception as exc:
                    _settle(waiters, exc)
                else:
                    if rows:
                        self.transactions += 1
                        self.rows += len(rows)
                    self._reachable(len(rows))
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
            self._waiters, self._ends, self._rows, self._batch, self._take = [], [], [], None, None
            self._held, self._held_rows = [], 0

    def _unreachable(self, error: PersistenceUnavailable, parts: list[_Part],
                     waiters: list[asyncio.Future[None]]) -> None:
        # The rows stay, ahead of newer ones, for the retry; their callers learn of the outage now.
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
        if self._closing:  # one last attempt failed: give up rather than hang close()
            self.lost_rows = self._held_rows + len(self._rows)
            self._held, self._held_rows, self._rows, self._ends = [], 0, [], []
            _settle(self._waiters, error)
            self._waiters = []

    def _reachable(self, written: int) -> None:
        if self.unavailable is None or self.unavailable_since is None:
            return
        down = asyncio.get_running_loop().time() - self.unavailable_since
        # WARNING rather than INFO so that a notebook without logging set up shows it after the outage message.
        log.warning("%s is back after %.1f s unreachable: %d buffered rows written", self.store.url, down, written)
        self.unavailable = self.unavailable_since = None
        self.overflowed = False
        if self.on_available is not None:
            self.on_available()

    async def _write_apart(self, parts: list[_Part], error: RowError) -> bool:
        """Write a transaction that failed with ``error`` in halves, splitting each failing half again, in order.

        A ``commit`` call's rows are one unit (stored all or none); rows taken by ``write_behind`` are a unit each.
        Settles every part's future; returns False if the database became unreachable meanwhile (the rows not
        written yet are then held for the retry, as after any failed attempt).
        """
        rejected: dict[asyncio.Future[None], list[RowError]] = {}
        units: list[_Part] = []
        for owner, rows, whole in parts:
            for unit in [(owner, rows, whole)] if whole else [(owner, [row], whole) for row in rows]:
                # A value the schema cannot hold is refused without a round trip: only a failure the check does
                # not foresee (a constraint) costs the halving, where every bad row costs a transaction or more.
                found = misfit(self.store.url, unit[1])
                if found is None:
                    units.append(unit)
                else:
                    rejected.setdefault(owner, []).append(found)
                    self.rejected_rows += len(unit[1])
        written = 0
        stop: Exception | None = None
        remaining: list[_Part] = []
        # Popped from the end, first half first. The units left are tried once more as a whole, unless none was
        # taken out (then they fail as before).
        todo: list[tuple[list[_Part], RowError | None]] = [(units, None if rejected else error)]
        while todo:
            group, failure = todo.pop()
            if failure is None:
                rows = [row for _, unit_rows, _ in group for row in unit_rows]
                try:
                    if rows:
                        await self.store.write(rows)
                except RowError as exc:
                    failure = exc
                except Exception as exc:  # unreachable now, or a failure that no split can help
                    stop = exc
                    remaining = group + [unit for later, _ in reversed(todo) for unit in later]
                    break
                else:
                    if rows:
                        self.transactions += 1
                        self.rows += len(rows)
                        written += len(rows)
                    continue
            if len(group) == 1:
                rejected.setdefault(group[0][0], []).append(failure)
                self.rejected_rows += len(group[0][1])
                continue
            half = len(group) // 2
            todo += [(group[half:], None), (group[:half], None)]
        owners = list(dict.fromkeys(owner for owner, _, _ in parts))
        if isinstance(stop, PersistenceUnavailable):
            self._unreachable(stop, remaining, list(dict.fromkeys(owner for owner, _, _ in remaining)))
        elif stop is not None:
            _settle([owner for owner, _, _ in remaining], stop)
        else:
            self._reachable(written)
        wholes = {owner for owner, _, whole in parts if whole}
        for owner in owners:
            errors = rejected.get(owner)
            failed = None if errors is None else errors[0] if owner in wholes else _behind_error(errors)
            if owner.done():
                if failed is not None:  # its caller no longer waits (it stopped, or got an outage's error)
                    log.error("rows dropped, their table cannot hold them: %s", failed)
            elif failed is None:
                owner.set_result(None)
            else:
                owner.set_exception(failed)
        return not isinstance(stop, PersistenceUnavailable)


def _parts(held: list[_Part], waiters: list[asyncio.Future[None]], ends: list[int | None], rows: list[Write],
           offset: int, taken: list[Write]) -> list[_Part]:
    # A transaction's rows by who waits for them: the held parts, then each commit() caller's rows (from
    # ``offset``, bounded by ``ends``), then the write_behind rows (``taken``).
    parts = list(held)
    start = offset
    for waiter, end in zip(waiters, ends, strict=True):
        if end is None:
            parts.append((waiter, taken, False))
        else:
            parts.append((waiter, rows[start:offset + end], True))
            start = offset + end
    return parts


def _behind_error(errors: list[RowError]) -> RowError:
    first = errors[0]
    if len(errors) == 1:
        return RowError(f"a row written behind could not be stored (the others were): {first.message}",
                        table=first.table, column=first.column, value=first.value, detail=first.detail)
    more = f"\n… and {len(errors) - 10} more" if len(errors) > 10 else ""
    return RowError(
        f"{len(errors)} rows written behind could not be stored (the others were), the first: {first.message}",
        table=first.table, column=first.column, value=first.value,
        detail="\n".join(error.message for error in errors[:10]) + more,
    )


def _settle(waiters: list[asyncio.Future[None]], error: BaseException | None) -> None:
    # A caller may have stopped waiting (its task was cancelled): its future is then already done.
    for waiter in waiters:
        if not waiter.done():
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)
