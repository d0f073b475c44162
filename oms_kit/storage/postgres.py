"""PostgresStore: the Store on PostgreSQL through an asyncpg pool for reads and one connection of its own for writes.

This module holds the connections: opening them, failing closed when the server cannot be reached
(``PersistenceUnavailable``), migrations, the account's advisory lock and the commit notifications watchers listen
to. How a write travels (one statement, each column as one text) is in ``storage/pgwire.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any

import asyncpg
import pandas as pd

from oms_kit.errors import PersistenceUnavailable, StoreError
from oms_kit.storage.base import Write
from oms_kit.storage.migrate import read_migrations
from oms_kit.storage.pgwire import CHANNEL, upsert
from oms_kit.storage.rows import RowError, group_rows, row_error
from oms_kit.storage.url import parse_url

SCHEMA_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
)
# Key of the transaction-level advisory lock that serializes migrations across processes ("oms_kit" in ASCII).
MIGRATION_LOCK = 0x6F6D735F6B6974
CONNECT_TIMEOUT_SECONDS = 10.0
# Pause before listening again after the connection was lost: doubles from the first value up to the second.
LISTEN_RETRY_SECONDS = (0.2, 2.0)

# Errors that mean the server cannot be reached or dropped the connection, rather than that a statement was
# wrong: the OMS then fails closed (PersistenceUnavailable) and may retry the idempotent write later.
_UNREACHABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,  # connection lost or refused (SQLSTATE class 08)
    asyncpg.exceptions.OperatorInterventionError,  # server shutting down or starting (class 57)
)


class PostgresStore:
    """The Store on PostgreSQL; open it with :meth:`open` (or ``oms_kit.storage.open_store``).

    Attributes
    ----------
    backend : str
        ``"postgresql"``.
    url : str
        The URL it was opened with, password masked.
    durable : bool
        Always True.
    read_only : bool
        Opened to watch: every transaction is read-only.
    """

    backend = "postgresql"
    durable = True

    def __init__(self, pool: asyncpg.Pool, url: str, *, read_only: bool,
                 connect: Callable[[], Awaitable[asyncpg.Connection]] | None = None) -> None:
        self.url = url
        self.read_only = read_only
        self._pool = pool
        self._connect = connect
        self._lock_connection: asyncpg.Connection | None = None
        # Writes go through one connection of their own, outside the pool: a pool resets a connection each time
        # it takes it back (RESET ALL, UNLISTEN *, …), a second round trip and server work per transaction.
        self._write_connection: asyncpg.Connection | None = None
        self._listen_connection: asyncpg.Connection | None = None
        self._listener: Callable[..., None] = _ignore
        self._relisten: asyncio.Task[None] | None = None
        self._closing = False
        self._target = ""  # the connection string, password included (url is masked), for fetch_blocking

    @classmethod
    async def open(cls, url: str, *, read_only: bool = False, migrate: bool = True) -> PostgresStore:
        """Connect to PostgreSQL (a pool of up to 4 connections) and apply pending migrations.

        Parameters
        ----------
        url : str
            ``postgresql://user:password@host:5432/database`` (or ``postgres://…``; libpq parameters such as
            ``?sslmode=require`` are passed on).
        read_only : bool, default False
            Every transaction read-only; the schema must be up to date.
        migrate : bool, default True
            Run :meth:`migrate` once connected.

        Raises
        ------
        StoreError
            The server cannot be reached or refuses the login, the database does not exist, or a migration
            failed. The message names the URL with its password masked and says what to check.
        """
        target = parse_url(url)
        if target.backend != "postgresql":
            raise StoreError(f"{target.masked!r} is not a PostgreSQL URL", hint="open it with open_store(url)")
        settings = {"default_transaction_read_only": "on"} if read_only else None
        try:
            # One connection at once, so a wrong URL fails here; no floor to keep (min_size=0): with one, the pool
            # would try to restore it all through an outage, logging a warning with a traceback at each attempt,
            # while the write queue already says once that the database is unreachable and again when it is back.
            pool = await asyncpg.create_pool(target.target, init_size=1, min_size=0, max_size=4,
                                             timeout=CONNECT_TIMEOUT_SECONDS, server_settings=settings)
        except (*_UNREACHABLE, asyncpg.PostgresError, ValueError) as exc:
            raise _connect_error(target.masked, exc) from exc
        connect = functools.partial(asyncpg.connect, target.target, timeout=CONNECT_TIMEOUT_SECONDS)
        store = cls(pool, target.masked, read_only=read_only, connect=None if read_only else connect)
        store._target = target.target
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
        PersistenceUnavailable
            The server could not be reached or dropped the connection; nothing of this call was committed
            (unless the connection broke during COMMIT itself, which writes being idempotent makes safe to retry).
        RowError
            A value does not fit its column (out of range, wrong type) or breaks a constraint: the message names
            the table, the column and the value when it can. Nothing of this call was committed.
        StoreError
            The store is read-only or closed.
        """
        if self.read_only:
            raise StoreError(f"{self.url} was opened read-only", hint="open it without read_only=True to write")
        if not rows:
            return
        try:
            batches = group_rows(rows)
        except RowError as exc:
            raise row_error(self.url, rows, exc) from exc
        if self._closing or self._connect is None:
            raise StoreError(f"{self.url} is closed", hint="open the store again to write")
        try:
            connection = self._write_connection
            if connection is None or connection.is_closed():
                self._write_connection = None
                connection = self._write_connection = await self._connect()
            await upsert(connection, batches)
        except RowError as exc:  # a value that could not be put into text
            raise row_error(self.url, rows, exc) from exc
        except asyncio.CancelledError:
            self._drop_write_connection()  # mid-protocol, outcome unknown: never reused
            raise
        except _UNREACHABLE as exc:
            self._drop_write_connection()
            raise PersistenceUnavailable(
                f"cannot write to {self.url}: the database is unreachable", detail=str(exc)
            ) from exc
        except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
            # SQLSTATE classes 22 and 23: a value out of range or malformed, a broken constraint.
            raise row_error(self.url, rows, exc) from exc
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            if isinstance(exc, ValueError):  # asyncpg could not encode an argument (the driver's own DataError)
                raise row_error(self.url, rows, exc) from exc
            raise StoreError(f"cannot write to {self.url}", detail=f"{type(exc).__name__}: {exc}") from exc

    def _drop_write_connection(self) -> None:
        # A connection that failed mid-write is of no further use; the next write opens a fresh one.
        connection, self._write_connection = self._write_connection, None
        if connection is not None:
            connection.terminate()

    async def fetch(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        """Run a query with ``$1``, ``$2``… parameters; return its rows as dicts (Decimal, aware datetime…)."""
        try:
            records = await self._pool.fetch(sql, *params)
        except (*_UNREACHABLE, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise _query_error(self.url, exc) from exc
        return [dict(record) for record in records]

    def fetch_blocking(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        """:meth:`fetch` for a caller that cannot await (a history read from a plain method).

        The pool belongs to the event loop this thread may be running, which cannot be re-entered, so the query
        goes over a connection of its own, opened and closed on a short-lived loop in a worker thread; this thread
        waits for it (a history read, not the order path: a few milliseconds for the connection is fine).
        """
        if self._closing:
            raise StoreError(f"{self.url} is closed", hint="open the store again")

        async def once() -> list[dict[str, Any]]:
            connection = await asyncpg.connect(self._target, timeout=CONNECT_TIMEOUT_SECONDS,
                                               server_settings={"default_transaction_read_only": "on"})
            try:
                return [dict(record) for record in await connection.fetch(sql, *params)]
            finally:
                await connection.close()

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="oms-kit-pg-read") as worker:
            try:
                return worker.submit(asyncio.run, once()).result()
            except (*_UNREACHABLE, asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                raise _query_error(self.url, exc) from exc

    async def fetch_df(self, sql: str, *params: Any) -> pd.DataFrame:
        """Run a query and return a DataFrame: decimals as ``Decimal`` objects, timestamps in UTC."""
        try:
            async with self._pool.acquire() as connection:
                # Prepared, so the column names are known even when no row comes back.
                statement = await connection.prepare(sql)
                records = await statement.fetch(*params)
                names = [attribute.name for attribute in statement.get_attributes()]
        except (*_UNREACHABLE, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise _query_error(self.url, exc) from exc
        return pd.DataFrame.from_records([tuple(record) for record in records], columns=names)

    async def migrate(self) -> list[int]:
        """Apply pending migrations, each in its own transaction; return the versions applied now.

        Each transaction first takes an advisory lock, so processes migrating the same database at once apply
        every migration exactly once.

        Raises
        ------
        StoreError
            A migration failed (it is rolled back), or the store is read-only and migrations are pending.
        """
        try:
            async with self._pool.acquire() as connection:
                if self.read_only:
                    await self._check_migrated(connection)
                    return []
                done = []
                for migration in read_migrations():
                    async with connection.transaction():
                        await connection.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
                        await connection.execute(SCHEMA_MIGRATIONS)
                        applied = await connection.fetchval(
                            "SELECT count(*) FROM schema_migrations WHERE version = $1", migration.version
                        )
                        if applied:
                            continue
                        try:
                            await connection.execute(migration.sql)
                        except asyncpg.PostgresError as exc:
                            raise StoreError(
                                f"migration {migration.version:04d}_{migration.name} failed on {self.url}",
                                detail=str(exc),
                            ) from exc
                        await connection.execute(
                            "INSERT INTO schema_migrations VALUES ($1, $2, now())", migration.version, migration.name
                        )
                    done.append(migration.version)
                return done
        except (*_UNREACHABLE, asyncpg.PostgresError) as exc:
            raise StoreError(f"cannot migrate {self.url}", detail=str(exc)) from exc

    async def lock_account(self, account: str) -> None:
        """Become the one writer of ``account``: a session advisory lock held on a connection of its own until
        close(), so it goes with the process however the process ends.

        Called again after a database outage (a server restart ends the session that held the lock), it drops the
        dead connection and takes the lock anew.

        Raises
        ------
        StoreError
            Another session holds the account.
        """
        if self._lock_connection is not None:
            old, self._lock_connection = self._lock_connection, None
            # Its session is gone (or about to be, with the lock); the pool may already have taken it back.
            with contextlib.suppress(asyncpg.InterfaceError):
                old.terminate()
                await self._pool.release(old)
        connection = await self._pool.acquire()
        try:
            taken = await connection.fetchval("SELECT pg_try_advisory_lock(hashtext('oms_kit.account'), "
                                              "hashtext($1))", account)
        except BaseException:
            await self._pool.release(connection)
            raise
        if not taken:
            await self._pool.release(connection)
            raise StoreError(f"account {account!r} on {self.url} is already open for writing in another session",
                             hint="close that OMS first, or use another account")
        self._lock_connection = connection

    async def listen(self, callback: Callable[..., None]) -> None:
        """Call ``callback()`` after every commit any writer makes to this database (``NOTIFY oms_kit_commits``),
        on a connection of its own kept until close().

        If that connection is lost (a server restart), it is opened again as soon as the server answers, and
        ``callback()`` is called once then, for the commits made while nobody listened.
        """
        self._listener = callback
        await self._listen()

    async def _listen(self) -> None:
        connection = await self._pool.acquire()
        try:
            await connection.add_listener(CHANNEL, self._listener)
            connection.add_termination_listener(self._listen_lost)
        except BaseException:
            await self._release_listen(connection)
            raise
        self._listen_connection = connection

    def _listen_lost(self, _: object) -> None:
        if self._closing or (self._relisten is not None and not self._relisten.done()):
            return
        self._listen_connection = None  # the pool has taken the dead connection back
        self._relisten = asyncio.get_running_loop().create_task(self._listen_again(), name="oms-kit-listen")

    async def _listen_again(self) -> None:
        pause = LISTEN_RETRY_SECONDS[0]
        while True:
            await asyncio.sleep(pause)
            try:
                await self._listen()
            except (*_UNREACHABLE, asyncpg.PostgresError, asyncpg.InterfaceError):
                pause = min(pause * 2, LISTEN_RETRY_SECONDS[1])
                continue
            self._listener()  # catch up with what was committed while nobody listened
            return

    async def _release_listen(self, connection: asyncpg.Connection) -> None:
        # Listeners outlive a pool's reset: remove them, or the next user of the connection would get them.
        with contextlib.suppress(*_UNREACHABLE, asyncpg.InterfaceError):
            connection.remove_termination_listener(self._listen_lost)
            await connection.remove_listener(CHANNEL, self._listener)
        with contextlib.suppress(asyncpg.InterfaceError):  # already taken back if it died
            await self._pool.release(connection)

    @property
    def listening(self) -> bool:
        """True while a :meth:`listen` connection is open."""
        return self._listen_connection is not None and not self._listen_connection.is_closed()

    async def close(self) -> None:
        """Close every connection of the pool (releasing the account lock). Closing twice is harmless."""
        self._closing = True
        if self._relisten is not None:
            self._relisten.cancel()
            await asyncio.gather(self._relisten, return_exceptions=True)
        if self._listen_connection is not None:
            connection, self._listen_connection = self._listen_connection, None
            await self._release_listen(connection)
        if self._write_connection is not None:
            connection, self._write_connection = self._write_connection, None
            try:
                await connection.close(timeout=CONNECT_TIMEOUT_SECONDS)
            except (*_UNREACHABLE, asyncpg.PostgresError, asyncpg.InterfaceError):
                connection.terminate()
        if self._lock_connection is not None:
            connection, self._lock_connection = self._lock_connection, None
            await self._pool.release(connection)  # the pool resets it, which releases the advisory lock
        await self._pool.close()

    async def __aenter__(self) -> PostgresStore:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<PostgresStore {self.url}{' read-only' if self.read_only else ''}>"

    async def _check_migrated(self, connection: asyncpg.Connection) -> None:
        exists = await connection.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
        applied = (
            {r["version"] for r in await connection.fetch("SELECT version FROM schema_migrations")} if exists else set()
        )
        pending = [m.version for m in read_migrations() if m.version not in applied]
        if pending:
            raise StoreError(
                f"{self.url} needs migrations {pending} and was opened read-only",
                hint="open it once read-write, or run: python -m oms_kit db migrate URL",
            )


def _connect_error(masked: str, exc: BaseException) -> StoreError:
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        hint = "the database does not exist: create it (createdb NAME, or CREATE DATABASE) or fix its name"
    elif isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):
        hint = "check the user name and password (and pg_hba.conf on the server)"
    elif isinstance(exc, ValueError):
        hint = "check the URL: postgresql://user:password@host:5432/database"
    else:
        hint = (
            "check that the server is running and accepts TCP connections on that host and port, "
            "that the user and password are right and that the database exists"
        )
    return StoreError(f"cannot connect to PostgreSQL at {masked}", detail=f"{type(exc).__name__}: {exc}", hint=hint)


def _query_error(masked: str, exc: BaseException) -> StoreError:
    message = f"query failed on {masked}"
    if isinstance(exc, _UNREACHABLE):
        return PersistenceUnavailable(message + ": the database is unreachable", detail=str(exc))
    return StoreError(message, detail=f"{type(exc).__name__}: {exc}")


def _ignore(*_: object) -> None:
    pass
