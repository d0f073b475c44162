"""Reading tables from files and queries through DuckDB.

Only ``oms_kit.storage`` imports duckdb; market data loading (:func:`oms_kit.market.bars.load_bars`) comes here for
parquet and csv files and for SQL queries, so DuckDB's readers (globs, compression, type detection) serve every caller.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from oms_kit.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FILE_SUFFIXES", "is_query", "read_table"]

# Suffix -> DuckDB table function. ``.csv.gz`` and friends are decompressed by read_csv itself.
FILE_SUFFIXES: dict[str, str] = {
    ".parquet": "read_parquet",
    ".pq": "read_parquet",
    ".csv": "read_csv",
    ".csv.gz": "read_csv",
    ".csv.zst": "read_csv",
}
_ALLOWED = "a .parquet or .csv file path (globs such as data/*.parquet work) or a DuckDB query (SELECT …)"
# A statement that returns rows. DuckDB also takes FROM-first queries ("FROM 'x.parquet'"), VALUES and TABLE.
_QUERY_START = re.compile(r"^\s*\(*\s*(select|with|from|values|table|pivot|unpivot|summarize|describe)\b", re.I)


def is_query(text: str) -> bool:
    """Return True when ``text`` reads as a SQL query rather than a file path."""
    return bool(_QUERY_START.match(text))


def _reader_for(path: str) -> str | None:
    lower = path.lower()
    for suffix, reader in FILE_SUFFIXES.items():
        if lower.endswith(suffix):
            return reader
    return None


def read_table(path_or_query: str | Path) -> pd.DataFrame:
    """Read a parquet or csv file, or run a DuckDB query, and return the result as a pandas DataFrame.

    Parameters
    ----------
    path_or_query
        A path ending in ``.parquet``/``.pq`` or ``.csv`` (``.csv.gz``), possibly a glob such as
        ``data/*.parquet``; or a query such as ``"SELECT * FROM 'bars.parquet' WHERE symbol = 'TCS'"``. A query may
        name a pandas DataFrame held in a variable of the calling code (DuckDB replacement scan).

    Returns
    -------
    pandas.DataFrame
        TIMESTAMP columns come back naive, TIMESTAMPTZ columns as UTC.

    Raises
    ------
    FileNotFoundError
        The path names no file (and is not a glob).
    DataError
        The file type is not supported, or DuckDB could not read the file or run the query; DuckDB's message is in
        the hint.
    """
    text = str(path_or_query)
    query = not isinstance(path_or_query, Path) and is_query(text)
    if not query:
        reader = _reader_for(text)
        if reader is None:
            raise DataError("data", text, _ALLOWED)
        if not any(ch in text for ch in "*?[") and not Path(text).exists():
            raise FileNotFoundError(f"no such bar file: {text!r} (relative paths start at {Path.cwd()})")
    # A private connection per call: the default connection is shared by the whole process (and by other threads).
    connection = duckdb.connect(":memory:")
    try:
        # TIMESTAMPTZ values come back in the session time zone; UTC keeps them independent of the machine.
        connection.execute("SET TimeZone = 'UTC'")
        if query:
            # Let "SELECT * FROM bars_df" find a DataFrame defined in the caller (a notebook), not only in this frame.
            connection.execute("SET python_scan_all_frames = true")
            return connection.sql(text).df()
        return connection.execute(f"SELECT * FROM {reader}(?)", [text]).df()
    except duckdb.Error as error:
        raise DataError("query" if query else "data", text, _ALLOWED, hint=f"DuckDB said: {error}") from error
    finally:
        connection.close()
