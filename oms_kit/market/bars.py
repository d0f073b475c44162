"""Bars: OHLCV rows of market data, as a table (load_bars) and one by one (iter_bars).

A bar table has the columns timestamp, symbol, open, high, low, close, volume; timestamps are timezone-aware UTC
and rows are sorted by (timestamp, symbol), so several symbols merge into one stream in time order. Market data is
float; :class:`~oms_kit.models.Instrument` turns a float into an exact price when an order needs one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from oms_kit.errors import InvalidOrderError

__all__ = ["BAR_COLUMNS", "Bar", "bars_to_frame", "iter_bars", "load_bars"]

BAR_COLUMNS: tuple[str, ...] = ("timestamp", "symbol", "open", "high", "low", "close", "volume")
_PRICE_COLUMNS = ("open", "high", "low", "close")
# Names other tools give the time column (yfinance "Date"/"Datetime", broker exports "time"); used only when there is
# no "timestamp" column.
_TIMESTAMP_ALIASES = ("datetime", "date", "time", "ts")
_ALLOWED_DATA = "a pandas DataFrame, a .parquet or .csv file path, or a DuckDB query (SELECT …)"
# iter_bars converts this many rows at a time: python objects for a whole large frame at once would cost memory
# and delay the first bar.
_CHUNK_ROWS = 65_536


@dataclass(frozen=True, slots=True, init=False)
class Bar:
    """One OHLCV bar of one symbol.

    Attributes
    ----------
    timestamp : datetime
        Timezone-aware UTC; by convention the bar's start time (as most vendors stamp bars).
    symbol : str
    open, high, low, close : float
    volume : float
        May be 0 or NaN when the source does not know it.
    """

    timestamp: datetime
    symbol: str
    open: float
    high: float
    low: float
    close: float
    volume: float

    # A frozen dataclass's generated __init__ calls object.__setattr__ once per field, which made Bar construction
    # the slowest step of a backtest (about 0.65 M bars/s). Setting the slots through their descriptors keeps the
    # class a frozen dataclass (no assignment after construction) at more than twice the speed.
    def __init__(
        self,
        timestamp: datetime,
        symbol: str,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float = math.nan,
    ) -> None:
        _set_timestamp(self, timestamp)
        _set_symbol(self, symbol)
        _set_open(self, open)
        _set_high(self, high)
        _set_low(self, low)
        _set_close(self, close)
        _set_volume(self, volume)


# The slot descriptors of the final class (slots=True builds a new class, so look them up after decoration).
_set_timestamp, _set_symbol, _set_open, _set_high, _set_low, _set_close, _set_volume = (
    Bar.__dict__[name].__set__ for name in BAR_COLUMNS
)


def _columns_error(missing: list[str], present: list[str], hint: str) -> InvalidOrderError:
    error = InvalidOrderError(
        f"bar columns (missing: {', '.join(missing)})",
        present,
        "timestamp, symbol, open, high, low, close and optionally volume",
        hint=hint,
    )
    error.missing = missing  # type: ignore[attr-defined]  # for code that wants the list, not the message
    return error


def _read(data: Any) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data.copy()  # never modify the caller's frame
    if isinstance(data, str | Path):
        # Imported here: oms_kit.storage is the one package that imports duckdb.
        from oms_kit.storage.files import read_table

        return read_table(data)
    if isinstance(data, pd.Series):
        raise InvalidOrderError("data", type(data).__name__, _ALLOWED_DATA, hint="pass series.to_frame() instead")
    raise InvalidOrderError("data", type(data).__name__, _ALLOWED_DATA)


def _normalise_timestamps(values: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values):
        # Epoch numbers are ambiguous (seconds? milliseconds?); guessing would silently shift every bar.
        raise InvalidOrderError(
            "timestamp",
            f"numbers of dtype {values.dtype}",
            "datetimes or date-time strings",
            hint="convert epoch numbers first, e.g. pd.to_datetime(frame['timestamp'], unit='s', utc=True)",
        )
    # Text must be ISO 8601: pandas would otherwise guess per element, and read the Indian 05-01-2026 as 1 May.
    text = pd.api.types.is_string_dtype(values) or values.dtype == object
    try:
        # utc=True converts aware values to UTC and takes naive ones as UTC (the kit's convention).
        stamps = pd.to_datetime(values, utc=True, format="ISO8601" if text else None)
    except (ValueError, TypeError) as error:
        raise InvalidOrderError(
            "timestamp", str(error), "datetimes or ISO 8601 strings such as 2026-01-05 09:15:00+05:30"
        ) from error
    if stamps.isna().any():
        first = int(np.flatnonzero(stamps.isna().to_numpy())[0])
        raise InvalidOrderError(
            "timestamp",
            values.iloc[first],
            "a date and time (row has none)",
            hint=f"row {first} has no timestamp; drop such rows first",
        )
    return stamps


def _normalise_prices(frame: pd.DataFrame, column: str) -> None:
    try:
        values = pd.to_numeric(frame[column]).astype("float64")
    except (ValueError, TypeError) as error:
        raise InvalidOrderError(column, str(error), "numbers") from error
    array = values.to_numpy()
    bad = ~np.isfinite(array)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise InvalidOrderError(
            column,
            frame[column].iloc[first],
            "finite numbers",
            hint=f"row {first} (and {int(bad.sum()) - 1} more) has no usable {column} price; drop or fill such rows",
        )
    frame[column] = values


def load_bars(data: Any, symbol: str | None = None) -> pd.DataFrame:
    """Load bars into a normalised DataFrame, sorted by (timestamp, symbol).

    Parameters
    ----------
    data
        A pandas DataFrame; a path (``str`` or :class:`~pathlib.Path`) to a ``.parquet`` or ``.csv`` file, globs
        allowed; or a DuckDB query string such as ``"SELECT * FROM 'data/bars.parquet' WHERE symbol = 'TCS'"``.
        Columns: timestamp, symbol, open, high, low, close, volume (names are matched case-insensitively; a
        DatetimeIndex or a ``date``/``datetime``/``time`` column stands in for a missing timestamp column).
    symbol
        For a frame without a symbol column: the symbol of every row. For a frame with one: keep only this
        symbol's rows.

    Returns
    -------
    pandas.DataFrame
        Columns timestamp (``datetime64[…, UTC]``; naive input is taken as UTC), symbol (str), open, high, low,
        close, volume (float64; NaN where volume was missing), then any extra columns of the input unchanged. Rows
        are sorted by (timestamp, symbol), stably, on a fresh RangeIndex.

    Raises
    ------
    InvalidOrderError
        A required column is missing (the message names it), a value cannot be read, the file type is not
        supported, or ``symbol`` selects no rows. It is a ``ValueError``.
    FileNotFoundError
        The path names no file.
    """
    frame = _read(data)
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if frame.columns.duplicated().any():
        duplicated = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise InvalidOrderError("bar columns", duplicated, "each column once (names ignore case)")
    if "timestamp" not in frame.columns:
        alias = next((a for a in _TIMESTAMP_ALIASES if a in frame.columns), None)
        if alias is not None:
            frame = frame.rename(columns={alias: "timestamp"})
        elif isinstance(frame.index, pd.DatetimeIndex):
            # pandas time series (resample output, yfinance) keep the time in the index.
            frame = frame.reset_index(names="timestamp")

    missing = [c for c in ("timestamp", *_PRICE_COLUMNS) if c not in frame.columns]
    if "symbol" not in frame.columns and symbol is None:
        missing.append("symbol")
    if missing:
        hint = "rename the columns to these names"
        if "symbol" in missing:
            hint += "; a single-symbol frame may leave out symbol and pass symbol='NAME'"
        raise _columns_error(sorted(missing, key=BAR_COLUMNS.index), list(frame.columns), hint)

    if "symbol" in frame.columns:
        frame["symbol"] = frame["symbol"].astype(str)
        if symbol is not None:
            frame = frame[frame["symbol"] == symbol]
            if frame.empty:
                raise InvalidOrderError("symbol", symbol, "a symbol found in the data")
    else:
        if not isinstance(symbol, str) or not symbol:
            raise InvalidOrderError("symbol", symbol, "a non-empty string")
        frame["symbol"] = symbol

    frame["timestamp"] = _normalise_timestamps(frame["timestamp"])
    for column in _PRICE_COLUMNS:
        _normalise_prices(frame, column)
    if "volume" in frame.columns:
        try:
            frame["volume"] = pd.to_numeric(frame["volume"]).astype("float64")
        except (ValueError, TypeError) as error:
            raise InvalidOrderError("volume", str(error), "numbers (or no volume column)") from error
    else:
        frame["volume"] = math.nan

    extra = [c for c in frame.columns if c not in BAR_COLUMNS]
    frame = frame[[*BAR_COLUMNS, *extra]]
    # Several sort keys make pandas use lexsort, which is stable: rows with equal (timestamp, symbol) keep their order.
    frame = frame.sort_values(["timestamp", "symbol"], kind="stable", ignore_index=True)
    return frame


def _is_normalised(frame: Any) -> bool:
    # Cheap checks (dtypes, time order) that a frame came from load_bars, so iter_bars need not load it again.
    if not isinstance(frame, pd.DataFrame) or any(c not in frame.columns for c in BAR_COLUMNS):
        return False
    dtype = frame["timestamp"].dtype
    if not (isinstance(dtype, pd.DatetimeTZDtype) and str(dtype.tz) == "UTC"):
        return False
    if any(frame[c].dtype != "float64" for c in BAR_COLUMNS[2:]):
        return False
    return bool(frame["timestamp"].is_monotonic_increasing)


_UNITS_PER_SECOND = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}


def _python_timestamps(stamps: pd.Series) -> list[datetime]:
    values = stamps.array
    ticks = np.asarray(values.asi8)
    if len(ticks) == 0:
        return []
    # Bars of several symbols share timestamps and the frame is sorted, so equal ones are adjacent: convert each
    # distinct time once and repeat the object (np.repeat on an object array copies references, in C).
    starts = np.flatnonzero(np.concatenate(([True], ticks[1:] != ticks[:-1])))
    # datetime.fromtimestamp(seconds, UTC) mapped in C is about 40 % faster than DatetimeArray.to_pydatetime.
    # A float64 holds seconds to within 0.25 microseconds until 2106, and fromtimestamp rounds to the nearest
    # microsecond, so the result is exact for microsecond data (nanoseconds, which datetime cannot hold, round).
    if ticks.min() < 0:
        # Windows' fromtimestamp refuses times before 1970; pandas' conversion has no such limit.
        unique = values[starts].to_pydatetime().tolist()
    else:
        seconds = (ticks[starts] / _UNITS_PER_SECOND[values.unit]).tolist()
        unique = list(map(datetime.fromtimestamp, seconds, repeat(UTC)))
    if len(starts) == len(ticks):
        return unique
    counts = np.diff(np.append(starts, len(ticks)))
    return np.repeat(np.array(unique, dtype=object), counts).tolist()


def iter_bars(frame: Any) -> Iterator[Bar]:
    """Yield the rows of a bar table as :class:`Bar` objects, in the table's order.

    This is the per-bar path of a backtest, so it converts whole columns to Python objects at once (in chunks of
    65,536 rows) and zips them, instead of building a row object per bar.

    Parameters
    ----------
    frame
        A frame returned by :func:`load_bars`. Anything else that :func:`load_bars` accepts is loaded (and
        sorted) first.

    Yields
    ------
    Bar
    """
    if not _is_normalised(frame):
        frame = load_bars(frame)
    timestamps = frame["timestamp"]
    columns = [frame[name] for name in BAR_COLUMNS[1:]]
    for start in range(0, len(frame), _CHUNK_ROWS):
        stop = start + _CHUNK_ROWS
        chunk = [column.iloc[start:stop].to_numpy().tolist() for column in columns]
        # map() over the class calls Bar in C without a Python-level loop body per bar.
        yield from map(Bar, _python_timestamps(timestamps.iloc[start:stop]), *chunk)


def bars_to_frame(bars: Iterable[Bar]) -> pd.DataFrame:
    """Collect bars (from a feed, say) into a bar table that :func:`load_bars` and a backtest accept.

    Parameters
    ----------
    bars
        Bars in any order.

    Returns
    -------
    pandas.DataFrame
        Normalised and sorted like the result of :func:`load_bars`.
    """
    rows = [(b.timestamp, b.symbol, b.open, b.high, b.low, b.close, b.volume) for b in bars]
    frame = pd.DataFrame(rows, columns=list(BAR_COLUMNS))
    if frame.empty:
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
        for column in BAR_COLUMNS[2:]:
            frame[column] = frame[column].astype("float64")
        frame["symbol"] = frame["symbol"].astype(str)
        return frame
    return load_bars(frame)
