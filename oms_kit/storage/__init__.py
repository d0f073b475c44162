"""Storage: the Store protocol, its DuckDB and PostgreSQL implementations and the shared migrations.

:func:`open_store` picks the implementation from the URL. The backends are imported only when opened, so a
DuckDB-only session never loads asyncpg.
"""

from __future__ import annotations

from oms_kit.storage.base import Store, Write
from oms_kit.storage.lifecycle import QueueState
from oms_kit.storage.migrate import Migration, read_migrations
from oms_kit.storage.rows import RowError
from oms_kit.storage.url import mask_password, parse_url, resolve_url
from oms_kit.storage.writer import WriteQueue

__all__ = [
    "Migration",
    "QueueState",
    "RowError",
    "Store",
    "Write",
    "WriteQueue",
    "mask_password",
    "open_store",
    "parse_url",
    "read_migrations",
    "resolve_url",
]

async def open_store(url: str | None = None, *, read_only: bool = False, migrate: bool = True) -> Store:
    """Open the database that ``url`` names and bring its schema up to date.

    Parameters
    ----------
    url : str, optional
        ``duckdb:///:memory:`` (also ``memory``), ``duckdb:///path/file.duckdb``, ``duckdb:////abs/file.duckdb``
        or ``postgresql://user:password@host:5432/database``. When None, ``OMS_KIT_DATABASE_URL`` then
        ``DATABASE_URL`` is used, and without either an in-memory DuckDB database.
    read_only : bool, default False
        Open to watch: writes are refused, and the schema must already be up to date.
    migrate : bool, default True
        Apply pending migrations on open (``Store.migrate()``).

    Returns
    -------
    Store
        A ``DuckDBStore`` or a ``PostgresStore``.

    Raises
    ------
    StoreError
        The URL is not understood, the database cannot be opened (server down, wrong password, file held by
        another process…) or cannot be migrated. The message shows the URL with its password masked.
    """
    url = resolve_url(url)
    if parse_url(url).backend == "duckdb":
        from oms_kit.storage.duckdb import DuckDBStore

        return await DuckDBStore.open(url, read_only=read_only, migrate=migrate)
    from oms_kit.storage.postgres import PostgresStore

    return await PostgresStore.open(url, read_only=read_only, migrate=migrate)
