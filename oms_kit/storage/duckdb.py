"""DuckDBStore: the Store on DuckDB, in memory (the default) or in a file.

DuckDB's API is synchronous, so every call runs on one dedicated worker thread (as aiosqlite does for
SQLite): the event loop never waits on the database, and the connection is only ever used from that thread.
Rows are written through Arrow, never row by row: DuckDB inserts about 2,000 rows/s one by one (executemany
included) and hundreds of thousands per second from an Arrow table (see ``docs/ARCHITECTURE.md``, "Speed facts
behind the storage").

In memory the rows the OMS records wait in per-table lists (:class:`~oms_kit.storage.behind.Behind`, the
``behind`` attribute) and are written in batches before every read, on a timer and at close: see
``storage/behind.py``. Written rows go the same way either way.

Append tables keep a known key: in a file through ``INSERT … ON CONFLICT DO NOTHING``, which looks keys up in the
primary-key index. Upsert tables do not use ``ON CONFLICT DO UPDATE``: DuckDB 2.0 runs it as a MERGE that joins the
batch with the whole table, so its cost grows with the table (350 ms for 300 rows into 3 million, 2-core machine).
Instead the stored rows are deleted by an ``IN`` list of key parameters, which the index answers (23 ms there), and
the batch is inserted. In one transaction on the one connection both forms mean the same.

In memory the tables have no index at all, primary keys included (:func:`_in_memory`): a text key's index costs an
insert five times the insert itself, and an in-memory database is scanned in milliseconds. Keys stay unique all the
same: the rows written behind carry keys unique by construction (an order's events are numbered, a trade's id is
the broker's), and a direct :meth:`DuckDBStore.write`, which may repeat a key (a retry), skips the keys stored
already through an anti-join (:func:`_insert_sql`), keeping the first row as the index does in a file.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, TypeVar

import duckdb
import pandas as pd
import pyarrow as pa

from oms_kit.errors import PersistenceUnavailable, StoreError
from oms_kit.storage.arrow import to_arrow
from oms_kit.storage.base import Write
from oms_kit.storage.behind import Batch, Behind, Outcome, prepare, write_apart_now
from oms_kit.storage.migrate import read_migrations
from oms_kit.storage.rows import RowError, group_rows, row_error
from oms_kit.storage.schema import Table
from oms_kit.storage.url import DEFAULT_URL, StoreUrl, parse_url

T = TypeVar("T")

_SQL_DECIMAL = "DECIMAL(28, 8)"  # as in the migrations

SCHEMA_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
)

# Files this process has open for writing. DuckDB's file lock stops a second writing *process*, but within one
# process a second connect() silently shares the open database, so a second OMS in the same notebook kernel
# would write the same account unnoticed.
_writing: set[str] = set()
_writing_lock = threading.Lock()


class _CommitFailed(Exception):
    """A COMMIT that DuckDB could not write (its TransactionException), told apart from a statement's errors."""


class DuckDBStore:
    """The Store on DuckDB; open it with :meth:`open` (or ``oms_kit.storage.open_store``).

    Attributes
    ----------
    backend : str
        ``"duckdb"``.
    url : str
        The URL it was opened with.
    durable : bool
        False in memory: nothing survives :meth:`close`.
    read_only : bool
        Opened to watch; :meth:`write` and :meth:`migrate` with pending migrations are refused.
    behind : Behind or None
        In memory, the rows waiting to be written (``storage/behind.py``); None for a file.
    """

    backend = "duckdb"

    def __init__(
        self,
        connection: duckdb.DuckDBPyConnection,
        worker: ThreadPoolExecutor,
        target: StoreUrl,
        *,
        read_only: bool,
        claimed: str | None,
    ) -> None:
        self.url = target.masked
        self.durable = not target.in_memory
        self.read_only = read_only
        self._connection = connection
        self._worker = worker
        self._claimed = claimed
        self._closed = False
        self.behind = None if self.durable else Behind(self._write_behind, worker, self.url)

    @classmethod
    async def open(cls, url: str = DEFAULT_URL, *, read_only: bool = False, migrate: bool = True) -> DuckDBStore:
        """Open (or create) a DuckDB database and apply pending migrations.

        Parameters
        ----------
        url : str, default "duckdb:///:memory:"
            ``duckdb:///:memory:`` (also ``memory``), ``duckdb:///relative/file.duckdb`` or
            ``duckdb:////absolute/file.duckdb``.
        read_only : bool, default False
            Open an existing file to read; the schema must be up to date.
        migrate : bool, default True
            Run :meth:`migrate` once open.

        Raises
        ------
        StoreError
            The URL is not a DuckDB one; the file cannot be opened, is held by another writer (DuckDB allows one
            writing process per file) or cannot be migrated.
        """
        target = parse_url(url)
        if target.backend != "duckdb":
            raise StoreError(f"{target.masked!r} is not a DuckDB URL", hint="open it with open_store(url)")
        if read_only and target.in_memory:
            raise StoreError(
                "an in-memory DuckDB database cannot be opened read-only: it would be empty",
                hint="open a DuckDB file or a PostgreSQL database to watch another process's state",
            )
        claimed = None if read_only or target.in_memory else _claim(target)
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="oms-kit-duckdb")
        try:
            connection = await asyncio.get_running_loop().run_in_executor(worker, _connect, target, read_only)
        except BaseException:
            worker.shutdown(wait=False)
            _release(claimed)
            raise
        store = cls(connection, worker, target, read_only=read_only, claimed=claimed)
        if migrate:
            try:
                await store.migrate()
            except BaseException:
                await store.close()
                raise
        return store

    async def write(self, rows: Sequence[Write]) -> None:
        """Write ``rows`` in one transaction: upsert tables replace by key, append tables keep a known key.

        Raises
        ------
        RowError
            A value does not fit its column (out of range, wrong type) or breaks a constraint: the message names
            the table, the column and the value when it can. Nothing of this call was written.
        StoreError
            The store is read-only or closed.
        PersistenceUnavailable
            The database file could not be written (disk full, file gone).
        """
        if self.read_only:
            raise StoreError(f"{self.url} was opened read-only", hint="open it without read_only=True to write")
        if rows:
            if self.behind is not None:  # rows waiting were recorded earlier: they go first
                self.behind.stage()
            await self._call(self._write, rows)

    async def fetch(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        """Run a query with ``$1``, ``$2``… parameters; return its rows as dicts (Decimal, aware datetime…).

        In memory the rows waiting are written first: a read sees every row recorded before it."""
        if self.behind is not None and not self._closed:
            self.behind.stage()  # on the worker thread ahead of the query
        return await self._call(self._fetch, sql, params)

    async def fetch_df(self, sql: str, *params: Any) -> pd.DataFrame:
        """Run a query and return a DataFrame: decimals as ``Decimal`` objects, timestamps in UTC (after the rows
        waiting, as :meth:`fetch`)."""
        if self.behind is not None and not self._closed:
            self.behind.stage()
        return await self._call(self._fetch_df, sql, params)

    def fetch_blocking(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        """:meth:`fetch` for a caller that cannot await (a history read from a plain method): the query runs on
        the worker thread as always, after the rows waiting, and this thread waits for it."""
        if self._closed:
            raise StoreError(f"{self.url} is closed", hint="open the store again")
        if self.behind is not None:
            self.behind.stage()
        return self._worker.submit(self._fetch, sql, params).result()

    async def migrate(self) -> list[int]:
        """Apply pending migrations, each in its own transaction; return the versions applied now.

        Raises
        ------
        StoreError
            A migration failed (it is rolled back), or the store is read-only and migrations are pending.
        """
        return await self._call(self._migrate)

    async def close(self) -> None:
        """Close the database (a file is checkpointed) and stop the worker thread. Closing twice is harmless.

        In memory the rows waiting are written first (their errors go to the future of ``behind.write_behind()``).
        """
        if self._closed:
            return
        try:
            if self.behind is not None:
                await self.behind.close()
            await self._call(self._connection.close)
        finally:
            self._closed = True
            self._worker.shutdown(wait=False)
            _release(self._claimed)

    async def __aenter__(self) -> DuckDBStore:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<DuckDBStore {self.url}{' read-only' if self.read_only else ''}{' closed' if self._closed else ''}>"

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise StoreError(f"{self.url} is closed", hint="open the store again")
        return await asyncio.get_running_loop().run_in_executor(self._worker, function, *args)

    # Everything below runs on the worker thread.

    def _write(self, rows: Sequence[Write]) -> None:
        # Convert before BEGIN: a value that does not fit its column fails without touching the database.
        try:
            batches = [(table, batch, to_arrow(table, batch)) for table, batch in group_rows(rows).items()]
            # In memory no index catches a stored key (see _in_memory): a direct write skips them from the start.
            self._commit(batches, known=not self.durable)
        except (RowError, duckdb.DataError, duckdb.IntegrityError) as exc:  # out of range, a broken constraint
            raise row_error(self.url, rows, exc) from exc

    def _write_behind(self, batch: Batch) -> Outcome:
        # The rows waiting in memory, one Arrow table per table. Should a row not fit, the batch is written again
        # row by row apart from the ones that do not (write_apart_now): the others are stored all the same.
        try:
            prepared = [(table, rows, to_arrow(table, rows)) for table, rows in (prepare(t, w) for t, w in batch)]
            self._commit(prepared, known=False)
        except (RowError, duckdb.DataError, duckdb.IntegrityError):
            return write_apart_now(self._write, self.url, [row for _, writes in batch for row in writes])
        return Outcome(written=sum(len(writes) for _, writes in batch), transactions=1)

    def _commit(self, batches: list[tuple[Table, list[tuple[Any, ...]], pa.Table]], *, known: bool) -> None:
        # Raises DataError or IntegrityError (ConstraintException is one) for a row's sake, for the caller to name.
        # ``known``: skip the append tables' stored keys from the first try (in memory, where no index refuses one).
        try:
            try:
                # Append tables first with a plain INSERT, a fifth cheaper than ON CONFLICT DO NOTHING: a key is
                # stored already only when a transaction is retried, which is rare.
                self._transaction(batches, skip_known=known)
            except duckdb.ConstraintException:
                # A known key (or another broken constraint, which fails again): the transaction was rolled back;
                # once more, skipping the known keys.
                self._transaction(batches, skip_known=True)
        except (duckdb.IOException, duckdb.FatalException, _CommitFailed) as exc:
            raise PersistenceUnavailable(f"cannot write to {self.url}", detail=str(exc)) from exc
        except (duckdb.DataError, duckdb.IntegrityError):
            raise
        except duckdb.Error as exc:
            raise StoreError(f"cannot write to {self.url}", detail=str(exc)) from exc

    def _transaction(self, batches: list[tuple[Table, list[tuple[Any, ...]], pa.Table]], *, skip_known: bool) -> None:
        connection = self._connection
        connection.execute("BEGIN TRANSACTION")
        try:
            # The SQL reads ``oms_kit_batch``, the loop's variable: DuckDB finds a Python object that is not a
            # table by its name in the calling frame (a replacement scan), which costs no statement, where
            # register() and unregister() cost about 1 ms each per table.
            for table, batch, oms_kit_batch in batches:
                if table.mode == "upsert":
                    _delete_stored(connection, table, batch, oms_kit_batch, keyed=self.durable)
                connection.execute(_insert_sql(table, skip_known, keyed=self.durable))
            try:
                connection.execute("COMMIT")
            except duckdb.TransactionException as exc:
                # The rows fitted; the file could not take them (a full disk, a log that cannot be written): an
                # outage, kept and retried, not a bad row.
                raise _CommitFailed(str(exc)) from exc
        except BaseException:
            with contextlib.suppress(duckdb.Error):  # a failed COMMIT has already ended the transaction
                connection.execute("ROLLBACK")
            raise

    def _fetch(self, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        try:
            cursor = self._connection.execute(sql, params or None)
            names = [column[0] for column in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        except duckdb.Error as exc:
            raise StoreError(f"query failed on {self.url}", detail=str(exc)) from exc

    def _fetch_df(self, sql: str, params: tuple[Any, ...]) -> pd.DataFrame:
        # Through Arrow rather than .df(), which turns DECIMAL into float64 and would lose exactness.
        try:
            return self._connection.sql(sql, params=list(params) or None).to_arrow_table().to_pandas()
        except duckdb.Error as exc:
            raise StoreError(f"query failed on {self.url}", detail=str(exc)) from exc

    def _migrate(self) -> list[int]:
        connection = self._connection
        if self.read_only:
            pending = [m.version for m in read_migrations() if m.version not in self._applied()]
            if pending:
                raise StoreError(
                    f"{self.url} needs migrations {pending} and was opened read-only",
                    hint="open it once read-write, or run: python -m oms_kit db migrate URL",
                )
            return []
        connection.execute(SCHEMA_MIGRATIONS)
        applied = self._applied()
        done = []
        for migration in read_migrations():
            if migration.version in applied:
                continue
            try:
                connection.execute("BEGIN TRANSACTION")
                connection.execute(migration.sql if self.durable else _in_memory(migration.sql))
                connection.execute(
                    "INSERT INTO schema_migrations VALUES ($1, $2, now())", (migration.version, migration.name)
                )
                connection.execute("COMMIT")
            except duckdb.Error as exc:
                with contextlib.suppress(duckdb.Error):
                    connection.execute("ROLLBACK")
                raise StoreError(
                    f"migration {migration.version:04d}_{migration.name} failed on {self.url}", detail=str(exc)
                ) from exc
            done.append(migration.version)
        return done

    def _applied(self) -> set[int]:
        try:
            return {
                version for (version,) in self._connection.execute("SELECT version FROM schema_migrations").fetchall()
            }
        except duckdb.CatalogException:  # never migrated
            return set()


# In memory the indexes are left out, the primary keys' too: an in-memory database holds what one process recorded,
# which DuckDB scans in milliseconds, where a file kept for months needs them. Each costs every insert an ART index
# update: the secondary ones a tenth of the order path's instructions together (benchmarks/bench_instructions.py),
# and a text primary key five times the insert of its rows (60,000 order events: 8 ms inserted without it, 45 ms
# with it and 27 ms more at COMMIT), so the write behind a burst of orders took half its time in them. Keys stay
# unique without them (the module docstring says how).
_SECONDARY_INDEX = re.compile(r"CREATE INDEX [^;]*;")
_KEY = re.compile(r",\s*PRIMARY KEY \([^)]*\)| PRIMARY KEY\b")


def _in_memory(sql: str) -> str:
    """A migration's DDL for an in-memory database: without indexes and primary keys."""
    return _KEY.sub("", _SECONDARY_INDEX.sub("", sql))


def _connect(target: StoreUrl, read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        connection = duckdb.connect(target.target, read_only=read_only)
    except duckdb.Error as exc:
        raise _open_error(target, exc) from exc
    # Timestamps come back in UTC whatever the machine's zone, as from PostgreSQL.
    connection.execute("SET TimeZone = 'UTC'")
    return connection


def _open_error(target: StoreUrl, exc: duckdb.Error) -> StoreError:
    text = str(exc)
    if "lock" in text:
        hint = (
            "another process has this file open (DuckDB allows one writing process per file, and no reader "
            "beside it): close it there, or use PostgreSQL to share state between processes"
        )
    elif "different configuration" in text:
        hint = (
            "this process already has the file open in the other mode (read-only or not): use that store, or close it"
        )
    else:
        hint = "check that the directory exists and is writable, and that the file is a DuckDB database"
    return StoreError(f"cannot open DuckDB database {target.masked}", detail=text, hint=hint)


def _claim(target: StoreUrl) -> str:
    path = os.path.realpath(target.target)
    with _writing_lock:
        if path in _writing:
            raise StoreError(
                f"cannot open DuckDB database {target.masked}: this process already has it open for writing",
                hint="use the store (or OMS) already open on it, or close that one first",
            )
        _writing.add(path)
    return path


def _release(claimed: str | None) -> None:
    if claimed is not None:
        with _writing_lock:
            _writing.discard(claimed)


# Keys per DELETE: DuckDB answers an IN list of up to 2,048 constants from the index (index_scan_max_count).
_DELETE_CHUNK = 1000


def _delete_stored(
    connection: duckdb.DuckDBPyConnection, table: Table, batch: list[tuple[Any, ...]], oms_kit_batch: pa.Table, *,
    keyed: bool,
) -> None:
    # ``oms_kit_batch`` is the batch as Arrow, read by name in the joined DELETE (see _transaction). Up to
    # _DELETE_CHUNK keys: an IN list of parameters, which the index answers whatever the table's size (14 ms for
    # 300 keys in 3 million rows, where a join with the batch scans the table in 36 ms). Beyond, binding the
    # parameters costs more than the scan (20,000 keys: 580 ms in chunks, 60 ms as one join), so a big batch
    # (write-behind) deletes through a join in one statement. Without the index (in memory, ``keyed`` False) the
    # list is a scan for each key's sake, and the join always the cheaper (1 million rows: 3 ms against 33-62).
    if len(batch) > _DELETE_CHUNK or not keyed:
        connection.execute(_delete_joined_sql(table))
        return
    indexes = table.key_indexes
    keys = [row[i] for row in batch for i in indexes]
    connection.execute(_delete_sql(table, len(batch)), keys)


@functools.cache
def _delete_joined_sql(table: Table) -> str:
    key = ", ".join(table.key)
    return f"DELETE FROM {table.name} WHERE ({key}) IN (SELECT {key} FROM oms_kit_batch)"


def _delete_sql(table: Table, count: int) -> str:
    width = len(table.key)
    keys = ", ".join(f"({', '.join(f'${row * width + k + 1}' for k in range(width))})" for row in range(count))
    return f"DELETE FROM {table.name} WHERE ({', '.join(table.key)}) IN ({keys})"


@functools.cache
def _insert_sql(table: Table, skip_known: bool, *, keyed: bool) -> str:
    # ``keyed``: the table has its primary key (a file), which ON CONFLICT reads; in memory an anti-join skips the
    # stored keys instead (the batch's own repeats were dropped by group_rows).
    columns = ", ".join(table.column_names)
    # Decimals arrive as DECIMAL(28, 8) or, when Arrow could not take them exactly, as text (``storage/arrow.py``):
    # the cast is then the rounding.
    values = ", ".join(f"CAST({name} AS {_SQL_DECIMAL})" if kind == "decimal" else name for name, kind in table.columns)
    insert = f"INSERT INTO {table.name} ({columns}) SELECT {values} FROM oms_kit_batch"
    # Upsert tables: the rows this batch replaces were deleted just before.
    if not skip_known or table.mode != "append":
        return insert
    if keyed:
        return f"{insert} ON CONFLICT DO NOTHING"
    stored = " AND ".join(f"stored.{k} = oms_kit_batch.{k}" for k in table.key)
    return f"{insert} WHERE NOT EXISTS (SELECT 1 FROM {table.name} AS stored WHERE {stored})"
