"""PostgresStore: the Store on PostgreSQL through an asyncpg pool.

A write is one transaction with one ``executemany`` per table; asyncpg pipelines the rows, about 127,000 a
second in batches of 1,000, against 3,400 with one commit per row (DESIGN.md, "Speed facts").
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import asyncpg
import pandas as pd

from oms_kit.errors import PersistenceUnavailable, StoreError
from oms_kit.storage import read_migrations
from oms_kit.storage.base import Write
from oms_kit.storage.schema import Table
from oms_kit.storage.url import parse_url
from oms_kit.storage.writer import group_rows

SCHEMA_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
)
# Key of the transaction-level advisory lock that serializes migrations across processes ("oms_kit" in ASCII).
MIGRATION_LOCK = 0x6F6D735F6B6974
CONNECT_TIMEOUT_SECONDS = 10.0
# Channel of the commit notifications that read-only watchers listen to.
CHANNEL = "oms_kit_commits"
NOTIFY = f"NOTIFY {CHANNEL}"

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

    def __init__(self, pool: asyncpg.Pool, url: str, *, read_only: bool) -> None:
        self.url = url
        self.read_only = read_only
        self._pool = pool
        self._lock_connection: asyncpg.Connection | None = None
        self._listen_connection: asyncpg.Connection | None = None
        self._listener: Callable[..., None] | None = None

    @classmethod
    async def open(cls, url: str, *, read_only: bool = False, migrate: bool = True) -> PostgresStore:
        """Connect to PostgreSQL (a pool of 1 to 4 connections) and apply pending migrations.

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
            pool = await asyncpg.create_pool(
                target.target, min_size=1, max_size=4, timeout=CONNECT_TIMEOUT_SECONDS, server_settings=settings
            )
        except (*_UNREACHABLE, asyncpg.PostgresError, ValueError) as exc:
            raise _connect_error(target.masked, exc) from exc
        store = cls(pool, target.masked, read_only=read_only)
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
        StoreError
            A row does not fit its table, or the store is read-only.
        """
        if self.read_only:
            raise StoreError(f"{self.url} was opened read-only", hint="open it without read_only=True to write")
        if not rows:
            return
        batches = group_rows(rows)
        try:
            async with self._pool.acquire() as connection, connection.transaction():
                for table, batch in batches.items():
                    # One statement per table with the rows as column arrays: a third faster than executemany.
                    await connection.execute(_insert(table), *(list(column) for column in zip(*batch, strict=True)))
                # Read-only watchers (OMS.open(url, read_only=True)) LISTEN on this channel; delivered on commit.
                await connection.execute(NOTIFY)
        except _UNREACHABLE as exc:
            raise PersistenceUnavailable(
                f"cannot write to {self.url}: the database is unreachable", detail=str(exc)
            ) from exc
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise StoreError(f"cannot write to {self.url}", detail=f"{type(exc).__name__}: {exc}") from exc

    async def fetch(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        """Run a query with ``$1``, ``$2``… parameters; return its rows as dicts (Decimal, aware datetime…)."""
        try:
            records = await self._pool.fetch(sql, *params)
        except (*_UNREACHABLE, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise _query_error(self.url, exc) from exc
        return [dict(record) for record in records]

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
        on a connection of its own kept until close()."""
        connection = await self._pool.acquire()
        try:
            await connection.add_listener(CHANNEL, callback)
        except BaseException:
            await self._pool.release(connection)
            raise
        self._listen_connection, self._listener = connection, callback

    @property
    def listening(self) -> bool:
        """True while a :meth:`listen` connection is open."""
        return self._listen_connection is not None and not self._listen_connection.is_closed()

    async def close(self) -> None:
        """Close every connection of the pool (releasing the account lock). Closing twice is harmless."""
        if self._listen_connection is not None:
            connection, self._listen_connection = self._listen_connection, None
            with contextlib.suppress(*_UNREACHABLE, asyncpg.InterfaceError):  # a dead connection listens no more
                await connection.remove_listener(CHANNEL, self._listener)
            await self._pool.release(connection)
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


@functools.cache
def _insert(table: Table) -> str:
    # Upsert tables replace every non-key column; append tables keep the stored row (a retry changes nothing).
    columns = ", ".join(table.column_names)
    arrays = ", ".join(f"${i}::{_ARRAY_TYPES[kind]}" for i, (_, kind) in enumerate(table.columns, start=1))
    key = ", ".join(table.key)
    if table.mode == "append":
        conflict = f"ON CONFLICT ({key}) DO NOTHING"
    else:
        updates = ", ".join(f"{col} = excluded.{col}" for col in table.column_names if col not in table.key)
        conflict = f"ON CONFLICT ({key}) DO UPDATE SET {updates}"
    return f"INSERT INTO {table.name} ({columns}) SELECT * FROM unnest({arrays}) {conflict}"


_ARRAY_TYPES = {"text": "text[]", "int": "bigint[]", "bool": "boolean[]", "decimal": "numeric[]",
                "timestamp": "timestamptz[]"}


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
