"""Write pandas tables into a DuckDB database for SQL over them (a backtest's results, say).

Only ``oms_kit.storage`` imports duckdb; other modules hand their DataFrames here.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

__all__ = ["frames_to_duckdb"]

# Exact money: DuckDB would size a DECIMAL from a sample of the column and could overflow on a later row.
_MONEY_TYPE = "DECIMAL(38, 8)"


def frames_to_duckdb(frames: Mapping[str, pd.DataFrame], path: str | Path = ":memory:",
                     *, replace: bool = True) -> Any:
    """Store each DataFrame as a table of a DuckDB database and return the open connection.

    Parameters
    ----------
    frames
        Table name to DataFrame. Columns of ``Decimal`` values become ``DECIMAL(38, 8)`` (exact); the rest keep
        the types DuckDB gives pandas columns.
    path
        A DuckDB database file, or ``":memory:"``.
    replace
        Replace tables of the same names (else an existing table is an error).

    Returns
    -------
    duckdb.DuckDBPyConnection
        Open on ``path``; ``con.sql("SELECT …").df()`` queries it. Close it when done.
    """
    con = duckdb.connect(str(path))
    try:
        for name, frame in frames.items():
            data = frame.reset_index() if not isinstance(frame.index, pd.RangeIndex) else frame
            data = data.copy()
            casts = []
            for column in data.columns:
                series = data[column]
                if series.dtype == object:
                    sample = series.dropna()
                    if len(sample) and isinstance(sample.iloc[0], Decimal):
                        data[column] = series.map(lambda v: None if v is None else str(v))
                        casts.append(f'CAST("{column}" AS {_MONEY_TYPE}) AS "{column}"')
            view = f"_frame_{name}"
            con.register(view, data)
            select = f"SELECT * REPLACE ({', '.join(casts)}) FROM {view}" if casts else f"SELECT * FROM {view}"
            verb = "CREATE OR REPLACE TABLE" if replace else "CREATE TABLE"
            con.execute(f'{verb} "{name}" AS {select}')
            con.unregister(view)
    except BaseException:
        con.close()
        raise
    return con
