"""Committing what the account's :class:`~oms_kit.storage.recorder.Recorder` holds (through the
:class:`~oms_kit.storage.WriteQueue` on a durable store, the store's buffers in memory), and what the OMS does when
the store cannot take it.

On a durable store a commit returns once the rows are stored, or, while the database is unreachable, once they are
buffered by the queue (only new orders and modifies fail closed, and they do so in the OMS). In memory the rows are
written behind: nothing outlives the process there, so waiting would buy no safety. The recorder then keeps its
rows in the store's per-table buffers (``storage/behind.py``), which the store writes before each read, on a timer
and at close; the order path only sets that timer going. A row the store refuses after the fact (a fill, a
cancel), a buffer that overflows during an outage, or a writer lock that cannot be taken again after one halts
trading through the ``halt`` callback: the OMS's kill switch, which this module does not import. A row the
in-memory store refuses is counted and logged, and trading goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from oms_kit.errors import PersistenceUnavailable, StoreError
from oms_kit.storage import RowError, Store, WriteQueue
from oms_kit.storage.behind import Behind
from oms_kit.storage.recorder import Recorder

log = logging.getLogger("oms_kit")


class Committer:
    """Commits one account's recorded rows to ``store`` through ``queue``.

    ``start_task(name, coroutine)`` runs a coroutine as a named background task of the OMS; ``halt(reason)`` is the
    coroutine that trips the kill switch (source ``persistence``). The queue's overflow and availability callbacks
    are set to this committer's.

    Raises
    ------
    StoreError
        ``store`` is not durable and has no write buffers (``store.behind``, as the in-memory DuckDB store has).
    """

    def __init__(self, store: Store, queue: WriteQueue, recorder: Recorder, account: str, *,
                 start_task: Callable[[str, Coroutine[Any, Any, Any]], None],
                 halt: Callable[[str], Coroutine[Any, Any, Any]]) -> None:
        self.store = store
        self.queue = queue
        self.recorder = recorder
        self.account = account
        self.start_task = start_task
        self.halt = halt
        self.write_errors = 0  # failed write-behind transactions (in-memory store only)
        self._batch: asyncio.Future[None] | None = None  # the write-behind transaction last given a callback
        # In memory (DuckDB): the recorder's rows wait in the store's per-table lists (storage/behind.py).
        self.behind: Behind | None = None
        if not store.durable:
            behind = getattr(store, "behind", None)
            if not isinstance(behind, Behind):
                raise StoreError(f"{store.url} is not durable and keeps no write buffers (store.behind)",
                                 hint="a store that is not durable writes behind through storage/behind.py")
            self.behind = behind
            recorder.buffer_into(behind.tables)
            behind.add_source(recorder.stage)
        queue.on_overflow = self._on_overflow
        queue.on_available = self._on_available

    async def commit(self) -> None:
        """Commit the rows recorded since the last commit (see ``OMS.commit``)."""
        if not self.store.durable:
            # A quote that changed nothing stored schedules no write.
            if self.recorder.has_rows() or (self.behind is not None and self.behind.waiting()):
                self.write_behind()
            return
        rows = self.recorder.take()
        if rows:
            # Fills, cancels and state changes have already happened at the broker: while the database is down
            # their rows stay in the write queue's buffer and are written once it returns. Only new orders and
            # modifies fail closed (place_order, modify_order).
            try:
                await self.queue.commit(rows)
            except PersistenceUnavailable:
                pass
            except RowError as exc:
                # Something that happened (a fill, a cancel) could not be stored: memory and the store now differ,
                # so trading stops until a person looks.
                log.error("a record of account %s could not be stored: %s", self.account, exc)
                self.start_task("oms-kit-row-halt", self.halt(f"a record could not be stored: {exc.message}"))

    async def flush(self) -> None:
        """Wait until every row recorded so far is committed."""
        await self.commit()
        if self.behind is not None:
            await self.behind.flush()
        await self.queue.commit([])

    def write_behind(self) -> None:
        """In memory: have the rows waiting in the store's buffers written without waiting for them."""
        # The rows wait for the store's next write (a read, its timer, a flush, close): the order path keeps the
        # speed of Python; flush() waits.
        behind = self.behind
        if behind is None:  # a durable store: commit() writes its rows
            return
        batch = behind.write_behind()
        if batch is not self._batch:  # one callback per transaction, not per call
            self._batch = batch
            batch.add_done_callback(self._write_behind_done)

    def writing(self) -> bool:
        """In memory: whether a write of the buffered rows is under way on the store's worker thread."""
        return self.behind is not None and self.behind.writing()

    def status(self) -> dict[str, Any]:
        """The queue's figures (in memory, the buffers': writes, rows, rows waiting or refused, timer writes),
        whether rows are written behind, and how many write-behind transactions failed."""
        figures = self.queue.status()
        if self.behind is not None:
            figures.update(self.behind.status())
        return {**figures, "write_behind": not self.store.durable, "errors": self.write_errors}

    def _write_behind_done(self, future: asyncio.Future[None]) -> None:
        if not future.cancelled() and future.exception() is not None:
            self.write_errors += 1
            error = future.exception()
            if isinstance(error, RowError):  # its message names the rows: no traceback to read
                log.error("write-behind to %s: %s", self.store.url, error)
            else:
                log.error("write-behind to %s failed", self.store.url, exc_info=error)

    def _on_overflow(self) -> None:
        # The buffer of unwritten rows passed its bound: stop making more. The rows are kept, not dropped.
        log.error("write buffer overflow while %s is unreachable: halting trading", self.store.url)
        self.start_task("oms-kit-overflow-halt", self.halt(
            f"write buffer passed {self.queue.max_buffered_rows} rows while the database is unreachable"))

    def _on_available(self) -> None:
        # A PostgreSQL restart ends every session, the one holding this account's writer lock included.
        if getattr(self.store, "lock_account", None) is not None:
            self.start_task("oms-kit-relock", self._relock())

    async def _relock(self) -> None:
        try:
            await self.store.lock_account(self.account)  # type: ignore[attr-defined]
        except StoreError as exc:
            log.error("lost the writer lock of %s: %s", self.account, exc)
            await self.halt(f"lost the writer lock after a database outage: {exc.message}")
