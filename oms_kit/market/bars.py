"""Bars: OHLCV rows of market data, as a table (load_bars) and one by one (iter_bars).

A bar table has the columns timestamp, symbol, open, high, low, close, volume; timestamps are timezone-aware UTC
and rows are sorted by (timestamp, symbol), so several symbols merge into one stream in time order. Market data is
float; :class:`~oms_kit.tradable.Instrument` turns a float into an exact price when an order needs one.

A quote table (:mod:`oms_kit.market.quote`: timestamp, symbol, last, volume and the depth columns) loads the same
way, into a bar table whose open, high, low and close are the last price, followed by the depth columns, and
iterates as :class:`~oms_kit.market.quote.Quote` objects: a backtest or a replay of a quote recording matches on
the recorded book.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from oms_kit.errors import ConfigError, DataError
from oms_kit.market.bar import BAR_COLUMNS, Bar
from oms_kit.market.frame_checks import columns_error as _columns_error
from oms_kit.market.frame_checks import plain as _plain
from oms_kit.market.frame_checks import refuse as _refuse
from oms_kit.market.frame_checks import to_float as _to_float
from oms_kit.market.quote import DEPTH_COLUMNS, Quote, iter_quotes, quote_columns
from oms_kit.market.quote_table import DEPTH_NAME, check_quotes, is_quote_table, prepare_quote_columns
from oms_kit.parsing import MAX_PRICE

__all__ = ["BAR_COLUMNS", "Bar", "bars_to_frame", "iter_bars", "load_bars", "load_quotes"]

_PRICE_COLUMNS = ("open", "high", "low", "close")
# Names other tools give the time column (yfinance "Date"/"Datetime", broker exports "time"); used only when there is
# no "timestamp" column.
_TIMESTAMP_ALIASES = ("datetime", "date", "time", "ts")
_ALLOWED_DATA = "a pandas DataFrame, a .parquet or .csv file path, or a DuckDB query (SELECT …)"
_ALLOWED_TIMESTAMPS = "datetimes or ISO 8601 strings such as 2026-01-05 09:15:00+05:30"
_ALLOWED_PRICE = f"a finite number > 0 and at most {MAX_PRICE:,}"
# The largest price an order or the store can hold: a bar above it could be neither traded nor marked.
_MAX_PRICE = float(MAX_PRICE)
# What pandas.api.types.infer_dtype may say of an object column of timestamps; anything else holds other types.
_TIMESTAMP_KINDS = frozenset({"string", "datetime", "datetime64", "date", "empty"})
# iter_bars converts this many rows at a time: python objects for a whole large frame at once would cost memory
# and delay the first bar.
_CHUNK_ROWS = 65_536


def _read(data: Any) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data.copy()  # never modify the caller's frame
    if isinstance(data, str | Path):
        # Imported here: oms_kit.storage is the one package that imports duckdb.
        from oms_kit.storage.files import read_table

        return read_table(data)
    if isinstance(data, pd.Series):
        raise DataError("data", type(data).__name__, _ALLOWED_DATA, hint="pass series.to_frame() instead")
    raise DataError("data", type(data).__name__, _ALLOWED_DATA)


def _normalise_timestamps(frame: pd.DataFrame) -> pd.Series:
    values = frame["timestamp"]
    if pd.api.types.is_numeric_dtype(values):
        # Epoch numbers are ambiguous (seconds? milliseconds?); guessing would silently shift every bar.
        raise DataError(
            "timestamp",
            f"numbers of dtype {values.dtype}",
            "datetimes or date-time strings",
            hint="convert epoch numbers first, e.g. pd.to_datetime(frame['timestamp'], unit='s', utc=True)",
        )
    if values.dtype == object:
        kind = pd.api.types.infer_dtype(values, skipna=True)
        if kind not in _TIMESTAMP_KINDS:
            # Numbers among datetimes would be read as epoch nanoseconds (or, by pandas 4, refused late).
            unreadable = ~values.map(_timestamp_like).to_numpy(dtype=bool)
            if unreadable.any():
                raise _refuse(frame, unreadable, "timestamp", _ALLOWED_TIMESTAMPS,
                              "every timestamp must be a date-time or an ISO 8601 string")
    # Text must be ISO 8601: pandas would otherwise guess per element, and read the Indian 05-01-2026 as 1 May.
    text = pd.api.types.is_string_dtype(values) or values.dtype == object
    try:
        # utc=True converts aware values to UTC and takes naive ones as UTC (the kit's convention).
        stamps = pd.to_datetime(values, utc=True, format="ISO8601" if text else None)
    except (ValueError, TypeError, OverflowError) as error:
        raise DataError("timestamp", str(error), _ALLOWED_TIMESTAMPS) from error
    missing = stamps.isna().to_numpy()
    if missing.any():
        raise _refuse(frame, missing, "timestamp", "a date and time (row has none)",
                      "drop the rows without a timestamp first")
    return stamps


def _timestamp_like(value: Any) -> bool:
    # Missing values pass here: the check after parsing refuses them with its own message.
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return True
    return isinstance(value, str | datetime | date | np.datetime64)


def _check_values(frame: pd.DataFrame, originals: Mapping[str, pd.Series] | None = None) -> None:
    """Refuse a bar table whose prices or volumes are unusable; ``frame`` has float64 price and volume columns.

    ``originals`` holds the columns as given, so the error shows the value the user wrote ("abc", None). Each
    check is one reduction over a column; the per-row masks that find the offenders are built only on failure.
    """
    originals = originals or {}
    arrays = {c: frame[c].to_numpy() for c in (*_PRICE_COLUMNS, "volume")}
    for column in _PRICE_COLUMNS:
        values = arrays[column]
        # min() and max() propagate NaN, so NaN fails here too; inf and too large fail the second test, 0 and below
        # the first.
        if len(values) and not (values.min() > 0 and values.max() <= _MAX_PRICE):
            bad = ~((values > 0) & (values <= _MAX_PRICE))
            raise _refuse(frame, bad, column, _ALLOWED_PRICE,
                          f"drop the rows without a usable {column} price, or fill them", source=originals.get(column))
    opens, highs, lows, closes = (arrays[c] for c in _PRICE_COLUMNS)
    bad = highs < np.maximum(opens, closes)
    if bad.any():
        raise _refuse(frame, bad, "high", "a price >= the bar's open, close and low",
                      _bar_text(frame, bad) + "; high is the highest price of the bar")
    bad = lows > np.minimum(opens, closes)
    if bad.any():
        raise _refuse(frame, bad, "low", "a price <= the bar's open, close and high",
                      _bar_text(frame, bad) + "; low is the lowest price of the bar")
    volumes = arrays["volume"]
    given = originals.get("volume")
    # Text or objects that are not numbers became NaN; NaN itself (volume unknown) is allowed.
    unreadable = given is not None and not pd.api.types.is_float_dtype(given)
    # fmin/fmax skip NaN (and do not warn when every volume is NaN).
    if len(volumes) and (unreadable or np.fmin.reduce(volumes) < 0 or np.fmax.reduce(volumes) == math.inf):
        bad = (volumes < 0) | (volumes == math.inf)
        if unreadable and given is not None:  # unreadable: given is not None
            bad |= np.isnan(volumes) & given.notna().to_numpy()
        if bad.any():
            raise _refuse(frame, bad, "volume", "a finite number >= 0, or NaN/missing when unknown",
                          "drop or fix the rows, or leave out the volume column if the data has none", source=given)


def _bar_text(frame: pd.DataFrame, bad: np.ndarray) -> str:
    row = int(np.flatnonzero(bad)[0])
    return "the bar has " + ", ".join(f"{c} {_plain(frame[c].iloc[row])!r}" for c in _PRICE_COLUMNS)


def _in_order(frame: pd.DataFrame) -> bool:
    """Whether the rows are sorted by (timestamp, symbol) with no symbol twice at one time: as load_bars leaves them.

    Data from files and frames from load_bars mostly are, and this test (two vectorised comparisons) is far
    cheaper than the sort it saves.
    """
    ticks = frame["timestamp"].array.asi8
    if len(ticks) < 2:
        return True
    later = ticks[1:] > ticks[:-1]
    if later.all():
        return True
    same_time = ticks[1:] == ticks[:-1]
    if not (later | same_time).all():
        return False
    symbols = frame["symbol"].array
    return bool(np.asarray(symbols[1:] > symbols[:-1], dtype=bool)[same_time].all())


def _check_unique(frame: pd.DataFrame) -> None:
    """Refuse two bars of one symbol at one time; ``frame`` is sorted by (timestamp, symbol)."""
    ticks = frame["timestamp"].array.asi8
    same_time = ticks[1:] == ticks[:-1]
    if not same_time.any():
        return
    symbols = frame["symbol"].array
    repeated = np.zeros(len(frame), dtype=bool)
    repeated[1:] = same_time & np.asarray(symbols[1:] == symbols[:-1], dtype=bool)
    if repeated.any():
        first = int(np.flatnonzero(repeated)[0])
        raise _refuse(frame, repeated, "timestamp/symbol", "one bar per symbol and timestamp",
                      f"row {_plain(frame.index[first])} repeats row {_plain(frame.index[first - 1])}; drop the "
                      "duplicates (e.g. frame.drop_duplicates(['timestamp', 'symbol'])) or aggregate them",
                      value=(frame["timestamp"].iloc[first], symbols[first]))


def load_bars(data: Any, symbol: str | None = None) -> pd.DataFrame:
    """Load bars into a normalised DataFrame, sorted by (timestamp, symbol), and check them.

    Parameters
    ----------
    data
        A pandas DataFrame; a path (``str`` or :class:`~pathlib.Path`) to a ``.parquet`` or ``.csv`` file, globs
        allowed; or a DuckDB query string such as ``"SELECT * FROM 'data/bars.parquet' WHERE symbol = 'TCS'"``.
        Columns: timestamp, symbol, open, high, low, close, volume (names are matched case-insensitively; a
        DatetimeIndex or a ``date``/``datetime``/``time`` column stands in for a missing timestamp column). A
        table with depth columns (``bid_price_1`` …) is a quote table and is loaded as :func:`load_quotes` does.
    symbol
        For a frame without a symbol column: the symbol of every row. For a frame with one: keep only this
        symbol's rows.

    Returns
    -------
    pandas.DataFrame
        Columns timestamp (``datetime64[…, UTC]``; naive input is taken as UTC), symbol (str), open, high, low,
        close, volume (float64; NaN where volume was missing), then any extra columns of the input unchanged. Rows
        are sorted by (timestamp, symbol) on a fresh RangeIndex.

    Raises
    ------
    DataError
        A required column is missing (the message names it), a value cannot be read, or the bars are impossible:
        every row needs a timestamp and a symbol; prices must be finite, > 0 and at most
        :data:`~oms_kit.parsing.MAX_PRICE` (what an order and the store can hold), with high >= open, close and
        low, and low <= open and close; volume finite and >= 0 (NaN or no volume column when unknown); one bar
        per (symbol, timestamp). The error names the column, the first offending value, its row (the position
        in ``data``), time and symbol, and how many rows are bad. Also for a file type that is not supported.
        It is a ``ValueError``.
    ConfigError
        ``symbol`` is not a non-empty string where one is needed, or selects no rows.
    FileNotFoundError
        The path names no file.
    """
    return _load(data, symbol, quotes=False)  # quotes too, when the table has depth columns


def load_quotes(data: Any, symbol: str | None = None) -> pd.DataFrame:
    """Load a quote table (a quote recording's parquet parts, a DataFrame of the same columns) and check it.

    Parameters
    ----------
    data, symbol
        As in :func:`load_bars`. Columns: timestamp, symbol, last, volume and the depth columns of
        :data:`~oms_kit.market.quote.QUOTE_COLUMNS` (``bid_price_1`` … ``ask_qty_5``; levels not given are empty).
        A frame this function returned loads again as it is.

    Returns
    -------
    pandas.DataFrame
        The bar columns (open, high, low and close all the last price), then the twenty depth columns (float64,
        NaN where a level is empty), then any extra columns; sorted by (timestamp, symbol). :func:`iter_bars`
        yields its rows as :class:`~oms_kit.market.quote.Quote` objects, and ``ok.backtest`` and ``ReplayFeed``
        take it (or the recording's path) as they take bars.

    Raises
    ------
    DataError
        As :func:`load_bars`, and for a broken book (see :mod:`oms_kit.market.quote`): a price not above 0, a
        quantity that is not a whole number >= 0, a level with a price and no quantity, a gap between levels,
        bids not descending, asks not ascending, the best bid at or above the best ask, a level beyond the fifth.
        The error names the column, the first bad value and its row.
    """
    return _load(data, symbol, quotes=True)


def _load(data: Any, symbol: str | None, quotes: bool) -> pd.DataFrame:
    # quotes: the caller asked for a quote table; a bar loader takes one too, when the data has depth columns.
    frame = _read(data)
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if frame.columns.duplicated().any():
        duplicated = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise DataError("bar columns", duplicated, "each column once (names ignore case)")
    if "timestamp" not in frame.columns:
        alias = next((a for a in _TIMESTAMP_ALIASES if a in frame.columns), None)
        if alias is not None:
            frame = frame.rename(columns={alias: "timestamp"})
        elif isinstance(frame.index, pd.DatetimeIndex):
            # pandas time series (resample output, yfinance) keep the time in the index.
            frame = frame.reset_index(names="timestamp")
    # Errors name a row by its position in the data as given: labels survive the symbol filter and the sort.
    frame.index = pd.RangeIndex(len(frame))
    quote_table = quotes or any(DEPTH_NAME.match(c) for c in frame.columns)
    if quote_table:
        prepare_quote_columns(frame)

    missing = [c for c in ("timestamp", *_PRICE_COLUMNS) if c not in frame.columns]
    if "symbol" not in frame.columns and symbol is None:
        missing.append("symbol")
    if missing:
        hint = "rename the columns to these names"
        if "symbol" in missing:
            hint += "; a single-symbol frame may leave out symbol and pass symbol='NAME'"
        raise _columns_error(sorted(missing, key=BAR_COLUMNS.index), list(frame.columns), hint)

    if "symbol" in frame.columns:
        no_symbol = frame["symbol"].isna().to_numpy()
        if no_symbol.any():
            raise _refuse(frame, no_symbol, "symbol", "a symbol on every row", "drop or fill those rows")
        frame["symbol"] = frame["symbol"].astype(str)
        empty = (frame["symbol"] == "").to_numpy(dtype=bool)
        if empty.any():
            raise _refuse(frame, empty, "symbol", "a symbol on every row", "drop or fill those rows")
        if symbol is not None:
            frame = frame[frame["symbol"] == symbol]
            if frame.empty:
                raise ConfigError("symbol", symbol, "a symbol found in the data")
    else:
        if not isinstance(symbol, str) or not symbol:
            raise ConfigError("symbol", symbol, "a non-empty string")
        frame["symbol"] = symbol

    frame["timestamp"] = _normalise_timestamps(frame)
    originals = {c: frame[c] for c in (*_PRICE_COLUMNS, "volume") if c in frame.columns}
    for column in _PRICE_COLUMNS:
        frame[column] = _to_float(frame[column])
    frame["volume"] = _to_float(frame["volume"]) if "volume" in frame.columns else math.nan
    _check_values(frame, originals)
    if quote_table:
        check_quotes(frame)

    known = (*BAR_COLUMNS, *DEPTH_COLUMNS) if quote_table else BAR_COLUMNS
    extra = [c for c in frame.columns if c not in known]
    frame = frame[[*known, *extra]]
    if not _in_order(frame):
        frame = frame.sort_values(["timestamp", "symbol"], kind="stable")
        _check_unique(frame)  # after the sort, the two bars of a (timestamp, symbol) are neighbours
    frame.index = pd.RangeIndex(len(frame))
    return frame


def _is_normalised(frame: Any) -> bool:
    # Cheap checks (dtypes, order) that a frame came from load_bars, so iter_bars need not load it again.
    if not isinstance(frame, pd.DataFrame) or any(c not in frame.columns for c in BAR_COLUMNS):
        return False
    dtype = frame["timestamp"].dtype
    if not (isinstance(dtype, pd.DatetimeTZDtype) and str(dtype.tz) == "UTC") or frame["timestamp"].hasnans:
        return False
    if any(frame[c].dtype != "float64" for c in BAR_COLUMNS[2:]):
        return False
    symbols = frame["symbol"]
    if not pd.api.types.is_string_dtype(symbols) or symbols.hasnans or (symbols == "").any():
        return False
    if is_quote_table(frame) and any(c not in frame.columns or frame[c].dtype != "float64" for c in DEPTH_COLUMNS):
        return False
    return _in_order(frame)


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
    """Yield the rows of a bar table as :class:`Bar` objects, in the table's order; a quote table's as
    :class:`~oms_kit.market.quote.Quote` objects.

    This is the per-bar path of a backtest, so it converts whole columns to Python objects at once (in chunks of
    65,536 rows) and zips them, instead of building a row object per bar.

    Parameters
    ----------
    frame
        A frame returned by :func:`load_bars`. Anything else that :func:`load_bars` accepts is loaded (and
        sorted) first.

    Yields
    ------
    Bar or Quote
    """
    if _is_normalised(frame):
        _check_values(frame)  # dtypes and order say nothing of the values
        if is_quote_table(frame):
            check_quotes(frame, convert=False)
    else:
        frame = load_bars(frame)
    timestamps = frame["timestamp"]
    if "bid_price_1" in frame.columns:
        yield from _iter_quotes(frame)
        return
    columns = [frame[name] for name in BAR_COLUMNS[1:]]
    for start in range(0, len(frame), _CHUNK_ROWS):
        stop = start + _CHUNK_ROWS
        chunk = [column.iloc[start:stop].to_numpy().tolist() for column in columns]
        # map() over the class calls Bar in C without a Python-level loop body per bar.
        yield from map(Bar, _python_timestamps(timestamps.iloc[start:stop]), *chunk)


def _iter_quotes(frame: pd.DataFrame) -> Iterator[Quote]:
    timestamps = frame["timestamp"]
    for start in range(0, len(frame), _CHUNK_ROWS):
        stop = start + _CHUNK_ROWS
        symbols, lasts, volumes = (frame[c].iloc[start:stop].to_numpy().tolist() for c in ("symbol", "close", "volume"))
        depth = {c: frame[c].iloc[start:stop].to_numpy().tolist() for c in DEPTH_COLUMNS}
        yield from iter_quotes(_python_timestamps(timestamps.iloc[start:stop]), symbols, lasts, volumes, depth)


def bars_to_frame(bars: Iterable[Bar]) -> pd.DataFrame:
    """Collect bars (from a feed, say) into a bar table that :func:`load_bars` and a backtest accept; quotes into a
    quote table (as :func:`load_quotes` returns).

    Parameters
    ----------
    bars
        Bars in any order; or quotes, all of them.

    Returns
    -------
    pandas.DataFrame
        Normalised and sorted like the result of :func:`load_bars`.

    Raises
    ------
    DataError
        Quotes and bars mixed: a table holds one or the other.
    """
    bars = list(bars)
    quotes = [b for b in bars if isinstance(b, Quote)]
    if quotes:
        if len(quotes) != len(bars):
            raise DataError("bars", f"{len(quotes)} quotes among {len(bars)} bars", "bars only, or quotes only")
        return load_quotes(pd.DataFrame(quote_columns(quotes)))
    rows = [(b.timestamp, b.symbol, b.open, b.high, b.low, b.close, b.volume) for b in bars]
    frame = pd.DataFrame(rows, columns=list(BAR_COLUMNS))
    if frame.empty:
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
        for column in BAR_COLUMNS[2:]:
            frame[column] = frame[column].astype("float64")
        frame["symbol"] = frame["symbol"].astype(str)
        return frame
    return load_bars(frame)
