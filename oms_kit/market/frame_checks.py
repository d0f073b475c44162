"""Reading a market-data table's columns as numbers and refusing bad rows with a DataError that names the first:
what the bar loader (:mod:`oms_kit.market.bars`) and the quote table's checks (:mod:`oms_kit.market.quote_table`)
share."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from oms_kit.errors import DataError

__all__ = ["columns_error", "plain", "refuse", "to_float"]


_BAR_COLUMNS_ALLOWED = "timestamp, symbol, open, high, low, close and optionally volume"


def columns_error(missing: list[str], present: list[str], hint: str, *, table: str = "bar",
                  allowed: str = _BAR_COLUMNS_ALLOWED) -> DataError:
    """A DataError for a table that lacks the columns ``missing``; its ``missing`` attribute holds the list."""
    error = DataError(f"{table} columns (missing: {', '.join(missing)})", present, allowed, hint=hint)
    error.missing = missing  # type: ignore[attr-defined]  # for code that wants the list, not the message
    return error


def plain(value: Any) -> Any:
    """``value`` as Python gives it, for a message: a numpy scalar becomes its Python number."""
    # np.float64(-1.0) would show as "np.float64(-1.0)" in the message; the user wrote -1.0.
    return value.item() if isinstance(value, np.generic) else value


def refuse(
    frame: pd.DataFrame, bad: np.ndarray, field: str, allowed: str, hint: str, *, source: pd.Series | None = None,
    value: Any = None,
) -> DataError:
    """A DataError for the rows marked ``bad``: the first one's row, time and symbol, and how many there are.

    The offending value is ``value``, else the first bad row's in ``source``, else in the column ``field``.
    """
    positions = np.flatnonzero(bad)
    first = int(positions[0])
    if value is None:
        value = (source if source is not None else frame[field]).iloc[first]
    row = plain(frame.index[first])
    place = [str(frame[c].iloc[first]) for c in ("timestamp", "symbol") if c in frame.columns and c != field]
    where = f"row {row}" + (f" ({', '.join(place)})" if place else "")
    count = len(positions)
    detail = f"{where}; {count} bad row{'s' if count != 1 else ''} in all"
    return DataError(field, plain(value), allowed, detail=detail, hint=hint, row=row, count=count)


def to_float(values: pd.Series) -> np.ndarray:
    """The column as float64, NaN where a value is not a number (the checks after this refuse those)."""
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_complex_dtype(values):
        return np.full(len(values), math.nan)
    try:
        numbers = pd.to_numeric(values, errors="coerce")
        if pd.api.types.is_complex_dtype(numbers):
            return np.full(len(values), math.nan)
        return numbers.to_numpy(dtype="float64", na_value=math.nan)
    except (ValueError, TypeError, OverflowError):
        # A value to_numeric cannot even coerce (an int beyond float range): one by one, on this rare path only.
        return np.array([float_or_nan(v) for v in values], dtype="float64")


def float_or_nan(value: Any) -> float:
    """``float(value)``, or NaN when it is not a number."""
    try:
        return float(value)
    except (ValueError, TypeError, OverflowError):
        return math.nan
