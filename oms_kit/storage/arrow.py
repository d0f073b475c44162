"""Rows to Arrow: how a batch of one table's rows travels into DuckDB.

DuckDB inserts hundreds of thousands of rows a second from an Arrow table and about 2,000 one by one, so every
write, the group-commit transactions and the in-memory store's buffered rows alike, goes as one Arrow table per
table (``storage/duckdb.py``). A value its column cannot hold raises :class:`~oms_kit.storage.rows.RowError` naming
the table and column.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any

import pyarrow as pa

from oms_kit.storage.rows import RowError
from oms_kit.storage.schema import Table

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_ARROW_TYPES = {
    "text": pa.string(),
    "int": pa.int64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}

# Arrow types of the values as they travel; a decimal that Arrow cannot take exactly travels as text (see _decimals).
_DECIMAL = pa.decimal128(28, 8)
_TIMESTAMP = pa.timestamp("us", tz="UTC")
_DURATION = pa.duration("us")


def _column(kind: str, values: list[Any]) -> pa.Array:
    if not values:
        return pa.array([], _ARROW_TYPES.get(kind, _DECIMAL))
    first = values[0]
    # A column with one value throughout (the account, an empty tag, an order type) is sent once and repeated by
    # Arrow in C. Only text and None qualify: ``count`` compares with ==, and 1 == True == 1.0 would let a wrong
    # type through in other kinds, where a str equals only a str and None only None. The last value first: most
    # columns that are not constant differ there, and need no pass over every value to say so.
    if ((first is None or (kind == "text" and type(first) is str)) and values[-1] == first
            and values.count(first) == len(values)):
        arrow_type = _ARROW_TYPES.get(kind, _DECIMAL)
        size = len(values)
        return pa.nulls(size, arrow_type) if first is None else pa.repeat(pa.scalar(first, arrow_type), size)
    if kind == "decimal":
        return _decimals(values)
    if kind == "timestamp":
        return _timestamps(values)
    return pa.array(values, _ARROW_TYPES[kind])


def _decimals(values: list[Any]) -> pa.Array:
    # Arrow takes a Decimal with at most 8 places and 20 integer digits exactly (0.25 µs), and refuses the others
    # rather than round them. Those travel as text, which DuckDB's cast in the INSERT rounds half away from zero
    # as PostgreSQL's NUMERIC(28, 8) does, or refuses (NaN, too large), so both stores keep the same value.
    try:
        return pa.array(values, _DECIMAL)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([v if v is None else str(v) for v in values], pa.string())


def _timestamps(values: list[Any]) -> pa.Array:
    # Arrow converts an aware datetime in about 0.4 µs (it calls utcoffset()); the difference from the epoch, a
    # timedelta, it reads in C, and an aware datetime on the same tzinfo subtracts without utcoffset() either.
    # None (NotImplemented here) and naive datetimes (TypeError) take the slower loop.
    try:
        # typeshed's datetime has no __rsub__; CPython's has (its C type defines the reflected subtraction).
        return pa.array(list(map(_EPOCH.__rsub__, values)), _DURATION).view(_TIMESTAMP)  # type: ignore[attr-defined]
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return pa.array(_microseconds(values), _TIMESTAMP)


def _microseconds(values: list[Any]) -> list[int | None]:
    out: list[int | None] = []
    for value in values:
        if value is None:
            out.append(None)
        else:
            aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)  # naive means UTC
            out.append((aware - _EPOCH) // _MICROSECOND)
    return out


# Rows converted at a time. Each column is a pass over the rows; over a slice this size the second and later passes
# find the rows still in the CPU cache, where over 60,000 each pass fetches them from memory again (a third less
# time over a write-behind burst, 2-core machine).
_SLICE_ROWS = 4096


def to_arrow(table: Table, rows: list[tuple[Any, ...]]) -> pa.Table:
    """``rows`` of ``table`` (value tuples in column order, each of the table's width) as one Arrow table.

    Raises
    ------
    RowError
        A value its column cannot hold: the error names the table and the column.
    """
    if len(rows) <= _SLICE_ROWS:
        return _slice_to_arrow(table, rows)
    slices = [_slice_to_arrow(table, rows[start : start + _SLICE_ROWS]) for start in range(0, len(rows), _SLICE_ROWS)]
    schema = slices[0].schema
    if any(part.schema != schema for part in slices):
        # A slice whose decimals went as text (one to round): every slice sends them as text (exact), as one.
        types = [(name, _ARROW_TYPES.get(kind, pa.string())) for name, kind in table.columns]
        slices = [part.cast(pa.schema(types)) for part in slices]
    return pa.concat_tables(slices)


def _slice_to_arrow(table: Table, rows: list[tuple[Any, ...]]) -> pa.Table:
    arrays = []
    # Column by column through itemgetter: zip(*rows) over tens of thousands of rows costs ten times as much.
    for index, (name, kind) in enumerate(table.columns):
        try:
            arrays.append(_column(kind, list(map(itemgetter(index), rows))))
        # OverflowError: an int beyond int64; ValueError: a str that UTF-8 cannot encode (ArrowInvalid is one too).
        except (pa.ArrowException, TypeError, AttributeError, OverflowError, ValueError) as exc:
            raise RowError(f"cannot write {table.name}.{name} as {kind}", table=table.name, column=name,
                           detail=f"{type(exc).__name__}: {exc}") from exc
    return pa.Table.from_arrays(arrays, names=list(table.column_names))
