"""The Store protocol: what the OMS needs from a database, whichever it is."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

# One row to write: the table name and the row's values in that table's column order (see schema.TABLES).
Write = tuple[str, tuple[Any, ...]]


class Store(Protocol):
    """A database behind the OMS. Implementations: DuckDBStore (memory or file) and PostgresStore.

    Writes go through :meth:`write`, one transaction per call; the group-commit queue (``WriteQueue``) sits in
    front of it and hands it every row that arrived while the previous transaction was committing.
    """

    backend: str  # "duckdb" or "postgresql"
    url: str  # as given, password masked
    durable: bool  # False for DuckDB in memory: nothing survives close()

    async def write(self, rows: Sequence[Write]) -> None:
        """Write ``rows`` in one transaction: upsert tables replace by key, append tables ignore a known key."""
        ...

    async def fetch(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        """Run a query (parameters as ``$1``, ``$2``…, understood by both backends) and return its rows."""
        ...

    def fetch_blocking(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        """:meth:`fetch` that blocks the calling thread: for reads from plain (not async) methods."""
        ...

    async def fetch_df(self, sql: str, *params: Any) -> Any:
        """Run a query and return a pandas DataFrame."""
        ...

    async def migrate(self) -> list[int]:
        """Apply the migrations not applied yet, in order; return the versions applied now."""
        ...

    async def close(self) -> None:
        ...
