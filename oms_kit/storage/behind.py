"""The in-memory store's audit trail: rows kept per table as they are recorded and written to DuckDB in batches.

An in-memory database outlives nothing, so making an order wait for its rows would buy no safety. The recorder
appends each row to its table's list (a list append, nothing grouped, checked or converted on the order path),
and :class:`Behind` writes everything waiting as one Arrow table per table, in one transaction on the store's
worker thread:

* before every read of the store (``fetch``, ``fetch_df``, ``fetch_blocking``, and so every table method, history
  read and watcher): the rows are handed to the worker thread ahead of the query, which runs after them;
* on a timer, :data:`INTERVAL` seconds after the first row that waits (``loop.call_later``: no order waits for it);
* on ``flush()`` and when the store closes.

Upsert tables (orders, positions, the account…) keep only the latest row per key; append tables keep every row,
in the order recorded. A row that a column cannot hold is refused alone: the others are stored and the future of
that flush (:meth:`Behind.write_behind`) fails with a :class:`~oms_kit.storage.rows.RowError` naming it.

Everything here runs on the event loop's thread, as the OMS does; only the write itself (the store's ``write``
function given to :class:`Behind`) runs on the worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from oms_kit.errors import StoreError
from oms_kit.storage.base import Write
from oms_kit.storage.rows import RowError, misfit
from oms_kit.storage.schema import TABLES, Table

log = logging.getLogger("oms_kit.storage")

INTERVAL = 1.0  # seconds from the first row waiting to the timer's write

# One write: each table with rows waiting and those rows (whole ``(table, values)`` pairs), in the order recorded.
Batch = list[tuple[Table, list[Write]]]


@dataclass
class Outcome:
    """What one write of buffered rows did: rows stored, transactions committed, and the rows refused."""

    written: int = 0
    transactions: int = 0
    rejected: list[RowError] = field(default_factory=list)


class Behind:
    """Rows waiting for an in-memory store, per table, until a read, the timer, a flush or close writes them.

    ``write(batch)`` stores a batch (on the worker thread, through ``executor``, one thread: writes and reads run
    in the order they were handed to it) and returns its :class:`Outcome`; ``url`` names the store in messages.

    Attributes
    ----------
    tables : dict of str to list
        Per table name, the rows waiting, as ``(table, values)`` pairs. The recorder appends to these lists
        (their identity never changes); :meth:`keep` appends rows given whole.
    """

    def __init__(self, write: Callable[[Batch], Outcome], executor: Executor, url: str, *,
                 interval: float = INTERVAL) -> None:
        self.tables: dict[str, list[Write]] = {name: [] for name in TABLES}
        self.url = url
        self.interval = interval
        self.transactions = 0  # committed writes
        self.rows = 0  # rows in them
        self.rejected_rows = 0  # rows refused, as their columns cannot hold them
        self.timer_writes = 0  # writes the timer started
        self._write = write
        self._executor = executor
        self._sources: list[Callable[[], object]] = []
        self._future: asyncio.Future[None] | None = None  # the outcome of the next write, shared by its callers
        self._timer: asyncio.TimerHandle | None = None
        self._last: Future[Outcome] | None = None  # the write handed to the worker last
        self._settled: asyncio.Future[None] | None = None  # done once the last write's outcome is settled
        self._closed = False

    def add_source(self, stage: Callable[[], object]) -> None:
        """Call ``stage()`` before each write: it appends rows built only then (the latest state of the orders and
        positions that changed) to :attr:`tables`."""
        self._sources.append(stage)

    def keep(self, rows: Iterable[Write]) -> None:
        """Append ``rows`` (``(table, values)`` pairs) to their tables' lists.

        Raises
        ------
        RowError
            A row names a table that does not exist (the rows before it are kept).
        """
        tables = self.tables
        for row in rows:
            waiting = tables.get(row[0])
            if waiting is None:
                raise RowError(f"unknown table {row[0]!r}", table=row[0], value=row[0],
                               hint="tables: " + ", ".join(TABLES))
            waiting.append(row)

    def waiting(self) -> bool:
        """Whether rows wait in :attr:`tables`."""
        return any(self.tables.values())

    def writing(self) -> bool:
        """Whether a write handed to the worker thread has not ended yet."""
        return self._last is not None and not self._last.done()

    def write_behind(self) -> asyncio.Future[None]:
        """The future of the write that will carry the rows waiting now, shared until that write starts; the first
        call after a write sets the timer. The order path's one step, a few attribute reads once the future exists.

        The future is done with None once the rows are stored, or fails with a ``RowError`` naming the rows that
        could not be (the others are stored). Add a done callback; do not await it from a task that may be
        cancelled, as that cancels it for everyone.

        Raises
        ------
        StoreError
            The store is closed.
        """
        future = self._future
        if future is None:
            if self._closed:
                raise StoreError(f"cannot write rows behind: {self.url} is closed", hint="open the store again")
            loop = asyncio.get_running_loop()
            future = self._future = loop.create_future()
            if self._timer is None:
                self._timer = loop.call_later(self.interval, self._on_timer)
        return future

    def stage(self) -> Future[Outcome] | None:
        """Hand every row waiting to the worker thread as one write, ahead of anything submitted after; return it
        (None when nothing waits). Called before each read, by the timer, by :meth:`flush` and on close."""
        for source in self._sources:
            source()
        batch: Batch = []
        for name, waiting in self.tables.items():
            if waiting:
                batch.append((TABLES[name], waiting.copy()))
                waiting.clear()  # the list itself stays: the recorder holds it
        future, self._future = self._future, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not batch:
            if future is not None:
                future.set_result(None)
            return None
        done = self._last = self._executor.submit(self._write, batch)
        loop: asyncio.AbstractEventLoop | None
        settled: asyncio.Future[None] | None = None
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:  # a blocking read from a thread without a loop: the future's loop hears of it
            loop = future.get_loop() if future is not None else None
        else:
            loop, settled = running, running.create_future()
        self._settled = settled
        done.add_done_callback(lambda _: self._count(done, future, settled, loop))
        return done

    async def flush(self) -> None:
        """Write every row waiting now and return once it is stored (its outcome settled: the future of
        :meth:`write_behind` is done and its callbacks have run before this returns)."""
        self.stage()
        settled, last = self._settled, self._last
        if last is not None and settled is not None and not settled.done():
            await asyncio.shield(settled)
        elif last is not None and not last.done():
            with contextlib.suppress(Exception):  # its error went to the future of write_behind(), or the log
                await asyncio.wrap_future(last)

    async def close(self) -> None:
        """Write what waits and refuse more (:meth:`write_behind` raises). Closing twice is harmless."""
        await self.flush()
        self._closed = True

    def status(self) -> dict[str, Any]:
        """Writes and rows committed, rows waiting, rows refused, and the writes the timer started."""
        return {
            "transactions": self.transactions,
            "rows": self.rows,
            "pending_rows": sum(map(len, self.tables.values())),
            "rejected_rows": self.rejected_rows,
            "timer_writes": self.timer_writes,
        }

    def _on_timer(self) -> None:
        self._timer = None
        if self.stage() is not None:
            self.timer_writes += 1

    def _count(self, done: Future[Outcome], future: asyncio.Future[None] | None,
               settled: asyncio.Future[None] | None, loop: asyncio.AbstractEventLoop | None) -> None:
        # On the worker thread, as the write ends: the counters, then the outcome settled on the loop.
        if not done.cancelled() and done.exception() is None:
            outcome = done.result()
            self.transactions += outcome.transactions
            self.rows += outcome.written
            self.rejected_rows += len(outcome.rejected)
        if loop is None:
            self._settle(done, future, settled)
            return
        try:
            loop.call_soon_threadsafe(self._settle, done, future, settled)
        except RuntimeError:  # the loop has closed: nobody is left to tell
            self._settle(done, None, None)

    def _settle(self, done: Future[Outcome], future: asyncio.Future[None] | None,
                settled: asyncio.Future[None] | None) -> None:
        error: BaseException | None
        if done.cancelled():
            error = StoreError(f"a write behind to {self.url} was cancelled")
        else:
            error = done.exception()
            if error is None:
                rejected = done.result().rejected
                error = refused(rejected) if rejected else None
        if future is not None and not future.done():
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)
        elif error is not None:  # rows staged by a read before any write_behind(): nobody waits for them
            log.error("rows written behind to %s were dropped: %s", self.url, error)
        if settled is not None and not settled.done():
            settled.set_result(None)


def refused(errors: list[RowError]) -> RowError:
    """One error for the rows of a write behind that could not be stored (the others were): the first one's
    table, column and value, and each row's message in the detail."""
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


_VALUES = itemgetter(1)
# Per table: its width and, for an upsert table, its key getter.
_SHAPE = {table: (len(table.columns), itemgetter(*table.key_indexes) if table.mode == "upsert" else None)
          for table in TABLES.values()}


def prepare(table: Table, writes: list[Write]) -> tuple[Table, list[tuple[Any, ...]]]:
    """The values of ``writes`` (rows of ``table``) to insert: every row of an append table in the order recorded,
    and of an upsert table the latest row per key (in the order each key was first recorded).

    Raises
    ------
    RowError
        A row has the wrong number of values.
    """
    rows: list[tuple[Any, ...]] = list(map(_VALUES, writes))
    width, key = _SHAPE[table]
    widths = set(map(len, rows))
    if widths != {width}:
        wrong = next(w for w in widths if w != width)
        raise RowError(f"a row for {table.name} has {wrong} values; the table has {width} columns", table=table.name,
                       value=wrong, hint="columns in order: " + ", ".join(table.column_names))
    if key is not None:
        latest = dict(zip(map(key, rows), rows, strict=True))  # a key keeps its first place and its last row
        if len(latest) != len(rows):
            rows = list(latest.values())
    return table, rows


def write_apart_now(write: Callable[[Sequence[Write]], None], url: str, rows: list[Write]) -> Outcome:
    """Write ``rows``, whose batch failed for a row's sake, leaving out the rows that cannot be stored: each row is
    checked against its columns (:func:`~oms_kit.storage.rows.misfit`), the rest written through ``write`` (a
    blocking write of one transaction, raising ``RowError`` for a row's sake), halved again and again while a
    part fails, in order. Any other error is raised: the batch is lost, as a store that is closed or broken loses
    it."""
    outcome = Outcome()
    fitting: list[Write] = []
    for row in rows:
        found = misfit(url, [row])
        if found is None:
            fitting.append(row)
        else:
            outcome.rejected.append(found)
    todo = [fitting] if fitting else []
    while todo:  # popped from the end, first half first
        group = todo.pop()
        try:
            write(group)
        except RowError as exc:
            if len(group) == 1:
                outcome.rejected.append(exc)
            else:
                half = len(group) // 2
                todo += [group[half:], group[:half]]
            continue
        outcome.written += len(group)
        outcome.transactions += 1
    return outcome
