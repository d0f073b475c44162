"""What a row must be to be stored: grouping rows by table and key for one statement, and telling a row its table
cannot hold from a database that cannot be reached.

Both stores batch through :func:`group_rows`; when a write fails for a value's sake they raise :class:`RowError`
(built by :func:`row_error`, which names the table, column and value), and the write queue then writes the other
callers' rows without it (``storage/writer.py``).
"""

from __future__ import annotations

import numbers
import reprlib
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any, cast

from oms_kit.errors import StoreError
from oms_kit.storage.base import Write
from oms_kit.storage.schema import TABLES, Table


class RowError(StoreError):
    """A row its table cannot hold: a value outside its column's type or range, a row of the wrong shape.

    Retrying the same row can never succeed, unlike a write that failed because the database could not be
    reached. :class:`WriteQueue` then writes the other callers' rows without it and raises this error only to the
    caller whose row it is.

    Attributes
    ----------
    table, column : str or None
        Where the value was to go, when known.
    value : object
        The value, when known (else None).
    """

    def __init__(self, message: str, *, table: str | None = None, column: str | None = None, value: object = None,
                 detail: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, detail=detail, hint=hint)
        self.table = table
        self.column = column
        self.value = value




# Per table: column count, key getter and append mode, built once because this runs for every row written.
_LAYOUT = {
    name: (len(table.columns), itemgetter(*table.key_indexes), table.mode == "append") for name, table in TABLES.items()
}


def group_rows(rows: Sequence[Write]) -> dict[Table, list[tuple[Any, ...]]]:
    """Group rows by table with one row per key, in first-seen key order.

    Both stores write a table's rows in one statement (DuckDB) or one batch (PostgreSQL). Given a key twice in
    one upsert statement, DuckDB silently keeps the *first* row; the last is the newest state of an order or
    position, so in upsert tables the last row wins. In append tables the first wins, as a retry that reaches
    the database later changes nothing.

    Raises
    ------
    RowError
        A row names an unknown table or has the wrong number of values.
    """
    by_name: dict[str, list[tuple[Any, ...]]] = {}
    for name, values in rows:  # the one loop over every row; the rest works a table at a time, in C
        batch = by_name.get(name)
        if batch is None:
            batch = by_name[name] = []
        batch.append(values)
    grouped = {}
    for name, batch in by_name.items():
        layout = _LAYOUT.get(name)
        if layout is None:
            raise RowError(f"unknown table {name!r}", table=name, hint="tables: " + ", ".join(TABLES))
        width, key, keep_first = layout
        widths = set(map(len, batch))
        if widths != {width}:
            wrong = next(w for w in widths if w != width)
            raise RowError(
                f"a row for {name} has {wrong} values; the table has {width} columns", table=name,
                hint="columns in order: " + ", ".join(TABLES[name].column_names),
            )
        if keep_first:
            # Every key once is the usual case; a set tells it faster than a dict would.
            if len(set(map(key, batch))) == len(batch):
                grouped[TABLES[name]] = batch
            else:
                first: dict[Any, tuple[Any, ...]] = {}
                for values in batch:
                    first.setdefault(key(values), values)
                grouped[TABLES[name]] = list(first.values())
            continue
        # A dict keeps each key where it was first seen and holds the value last given for it.
        latest = dict(zip(map(key, batch), batch, strict=True))
        grouped[TABLES[name]] = batch if len(latest) == len(batch) else list(latest.values())
    return grouped


# What the columns hold (see the migrations): BIGINT, and DECIMAL(28, 8) after rounding half away from zero to 8
# places, so a magnitude from 99999999999999999999.999999995 on rounds to 10**20, one digit too many.
_BIGINT = 2**63
_DECIMAL_BOUND = Decimal("99999999999999999999.999999995")
_ALLOWED = {
    "text": "a str that UTF-8 can encode, without NUL characters",
    "int": f"an integer from {-_BIGINT} to {_BIGINT - 1} (BIGINT)",
    "bool": "True or False",
    "decimal": "a finite number below 10**20 in magnitude (DECIMAL(28, 8), rounded to 8 decimal places)",
    "timestamp": "a datetime",
}
_SHORT = reprlib.Repr()  # a value in a message, cut short if long
_SHORT.maxstring = _SHORT.maxlong = _SHORT.maxother = 80


def fits(kind: str, value: object) -> bool:
    """Whether a column of ``kind`` (see ``schema.Kind``) can hold ``value``; None fits every column."""
    if value is None:
        return True
    if kind == "text":
        if not isinstance(value, str) or "\x00" in value:
            return False
        try:
            value.encode()
        except UnicodeEncodeError:  # a lone surrogate
            return False
        return True
    if kind == "int":
        return (isinstance(value, numbers.Integral) and not isinstance(value, bool)
                and -_BIGINT <= cast(int, value) < _BIGINT)
    if kind == "decimal":
        if isinstance(value, bool) or not isinstance(value, (Decimal, numbers.Integral, float)):
            return False
        number = value if isinstance(value, Decimal) else Decimal(str(value))  # as both stores read it
        return number.is_finite() and abs(number) < _DECIMAL_BOUND
    if kind == "bool":
        return isinstance(value, bool)
    return isinstance(value, datetime)


def misfit(url: str, rows: Sequence[Write]) -> RowError | None:
    """The error naming the first value of ``rows`` that its column cannot hold (table, column, value and what is
    allowed), checked against the schema; None when every value fits."""
    for name, values in rows:
        table = TABLES.get(name)
        if table is None or len(values) != len(table.columns):
            return RowError(f"cannot write a row of {name} to {url}: it does not fit the table", table=name)
        for (column, kind), value in zip(table.columns, values, strict=True):
            if not fits(kind, value):
                return RowError(
                    f"cannot write {name}.{column} = {_SHORT.repr(value)} to {url} (allowed: {_ALLOWED[kind]})",
                    table=name, column=column, value=value,
                )
    return None


def row_error(url: str, rows: Sequence[Write], cause: BaseException) -> RowError:
    """The error to raise when writing ``rows`` to ``url`` failed with ``cause`` because of a value in them.

    It names the value (see :func:`misfit`); checked only once a write has failed, so writes that succeed pay
    nothing for it. When every value fits the schema (a constraint the check does not know), the message says so
    and the detail carries ``cause``.
    """
    detail = cause.detail if isinstance(cause, RowError) else f"{type(cause).__name__}: {cause}"
    found = misfit(url, rows)
    if found is not None:
        found.detail = detail
        return found
    if isinstance(cause, RowError):  # raised while converting: it knows the column
        return RowError(f"{cause.message} to {url}", table=cause.table, column=cause.column, detail=detail)
    return RowError(f"cannot write to {url}: a row does not fit its table", detail=detail,
                    hint="the detail says which constraint or value the database refused")
