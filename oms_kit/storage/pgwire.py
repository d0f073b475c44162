"""How PostgresStore sends a write: one statement, so one round trip and its own transaction.

Each table's rows are an ``INSERT … SELECT … FROM unnest(…)`` in a ``WITH`` clause (``ON CONFLICT … DO UPDATE`` for
upsert tables; append tables skip known keys only when a retry meets one), and each column travels as one text
value, its values joined by a separator and split again by the server (``string_to_array``), then cast to the
column's type. asyncpg encodes an array element in 0.3–2 µs (decimals and timestamps the dearest), and one long
text in nanoseconds per value, so the client's share of a commit shrinks several times; the server, on its own
core, does the parsing. A timestamp travels as its microseconds since 1970 (an integer), which the server turns
back into the same instant with integer arithmetic: half the bytes of its ISO text, a third of the client's work
to write it and half the server's to read it. The statement ends with ``pg_notify`` on :data:`CHANNEL`, which
read-only watchers listen to (``storage/postgres.py``).
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any

import asyncpg

from oms_kit.errors import StoreError
from oms_kit.storage.rows import RowError
from oms_kit.storage.schema import Table

# Channel of the commit notifications that read-only watchers listen to.
CHANNEL = "oms_kit_commits"

_SEPARATOR = "\x1f"  # ASCII unit separator: between the values of a column
_NULL = "\x1e"  # ASCII record separator: a value that is NULL
_BOOLEAN = {True: "t", False: "f"}
_Column = tuple[str, str, list[Any]]  # "table.column", its kind, its values as texts (None for NULL)
_CASTS = {"text": "", "int": "::bigint[]", "bool": "::boolean[]", "decimal": "::numeric[]",
          "timestamp": "::bigint[]"}  # a timestamp as microseconds since 1970, see _timestamps
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)  # a naive datetime means UTC
_MICROSECOND = timedelta(microseconds=1)
# Microseconds since 1970 back to a timestamptz, exactly over Python's whole range (years 1 to 9999): the seconds
# and the microseconds apart, since interval * number multiplies in double precision, which holds whole seconds
# times 10**6 exactly up to about 18,000 years but microseconds only up to 285 years from 1970. An interval without
# days or months adds to a timestamptz without consulting the session's time zone.
_FROM_MICROSECONDS = ("('epoch'::timestamptz + ({0} / 1000000) * interval '1 second' "
                      "+ ({0} % 1000000) * interval '1 microsecond')")


async def upsert(connection: asyncpg.Connection, batches: dict[Table, list[tuple[Any, ...]]]) -> None:
    """Write ``batches`` (rows grouped by table, as ``rows.group_rows`` gives them) over ``connection``: every
    table in one statement, so one round trip and its own transaction.

    Raises
    ------
    RowError
        A value cannot be put into its column's text (a text column given something that is no str, a bool column
        given something that is no bool, a timestamp that is no datetime): nothing is sent.
    asyncpg.PostgresError, OSError
        As the server or the connection raise them; ``PostgresStore.write`` tells them apart.
    """
    stamps: dict[int, str] = {}  # shared by every timestamp column of this write
    columns = [column for table, batch in batches.items() for column in _column_texts(table, batch, stamps)]
    separator, null, joined = _join(columns)
    tables = tuple(batches)
    try:
        await connection.execute(write_sql(tables, skip_known=False), separator, null, *joined)
    except asyncpg.UniqueViolationError:
        # A row of an append table is already stored: a retry of a transaction that did commit (the connection
        # broke during COMMIT). The statement was rolled back whole; this form skips the known keys.
        await connection.execute(write_sql(tables, skip_known=True), separator, null, *joined)


@functools.cache
def write_sql(tables: tuple[Table, ...], *, skip_known: bool) -> str:
    """The statement that writes ``tables``: ``$1`` is the separator and ``$2`` the NULL marker, then one text
    per column, table after table. Cached: a handful of table combinations recur.

    ``skip_known``: append tables get ON CONFLICT DO NOTHING.
    """
    # Without skip_known a row of an append table is a plain insert, which costs the server about a tenth less per
    # write than the conflict check on every row (measured on batches of a thousand orders), and fails on a known
    # key.
    parts = []
    number = 3
    for table in tables:
        arrays, values = [], []
        for index, (_, kind) in enumerate(table.columns):
            # Each text starts with a separator (see _joined): the first element is dropped.
            arrays.append(f"(string_to_array(${number}, $1, $2))[2:]{_CASTS[kind]}")
            values.append(_FROM_MICROSECONDS.format(f"c{index}") if kind == "timestamp" else f"c{index}")
            number += 1
        aliases = ", ".join(f"c{index}" for index in range(len(table.columns)))
        columns = ", ".join(table.column_names)
        key = ", ".join(table.key)
        if table.mode == "append":  # a retry changes nothing
            conflict = f"ON CONFLICT ({key}) DO NOTHING" if skip_known else ""
        else:  # the newest state replaces every non-key column
            updates = ", ".join(f"{col} = excluded.{col}" for col in table.column_names if col not in table.key)
            conflict = f"ON CONFLICT ({key}) DO UPDATE SET {updates}"
        parts.append(f"w_{table.name} AS (INSERT INTO {table.name} ({columns}) "
                     f"SELECT {', '.join(values)} FROM unnest({', '.join(arrays)}) AS d({aliases}) {conflict})")
    # Read-only watchers (OMS.open(url, read_only=True)) LISTEN on the channel; delivered on commit.
    return f"WITH {', '.join(parts)} SELECT pg_notify('{CHANNEL}', '')"


def _finite(texts: list[Any]) -> None:
    # PostgreSQL's NUMERIC holds NaN, which DuckDB's DECIMAL and the kit's columns do not (rows.fits): refused here,
    # so both stores refuse the same values. The text of a finite Decimal, int or float has no letter but E, so
    # one scan of the joined texts finds NaN, sNaN, Infinity, nan and inf.
    joined = "".join(filter(None, texts))
    if "n" in joined or "N" in joined:
        raise ValueError(f"not a finite number: {next(t for t in texts if t and ('n' in t or 'N' in t))}")


def _column_texts(table: Table, rows: list[tuple[Any, ...]], stamps: dict[int, str]) -> Iterator[_Column]:
    # Each column as a list of texts, None where the value is NULL; _join then joins them (and finds a value of
    # a text column that is no str).
    for index, (name, kind) in enumerate(table.columns):
        values = list(map(itemgetter(index), rows))
        try:
            if kind == "text":
                texts = values
            elif kind == "timestamp":
                texts = _timestamps(values, stamps)
            elif kind == "bool":
                texts = [None if v is None else _BOOLEAN[v] for v in values]
            else:  # int and decimal: their text is what PostgreSQL reads back exactly
                texts = [None if v is None else str(v) for v in values]
                if kind == "decimal":
                    _finite(texts)
        except (TypeError, KeyError, AttributeError, ValueError) as exc:
            raise RowError(f"cannot write {table.name}.{name} as {kind}", table=table.name, column=name,
                           detail=f"{type(exc).__name__}: {exc}") from exc
        yield f"{table.name}.{name}", kind, texts


def _timestamps(values: list[Any], texts: dict[int, str]) -> list[str | None]:
    # Each datetime as the text of its microseconds since 1970 (0.3 µs, where isoformat takes 1.1 and its text is
    # twice as long). Rows of one commit share a handful of datetime objects (an order's creation stamps its row,
    # its first event and its decision; a fill its trade, position and events): each is converted once per write.
    # The rows hold them alive, so an id is not reused meanwhile.
    out: list[str | None] = []
    for value in values:
        if value is None:
            out.append(None)
            continue
        text = texts.get(id(value))
        if text is None:
            if not isinstance(value, datetime):
                raise TypeError(f"{value!r} is not a datetime")
            since = value - (_EPOCH if value.tzinfo is not None else _NAIVE_EPOCH)
            text = texts[id(value)] = str(since // _MICROSECOND)
        out.append(text)
    return out


def _join(columns: list[_Column]) -> tuple[str, str, list[str]]:
    """Each column joined into one text: returns the separator, the NULL marker and the texts.

    A value that holds the separator or equals the marker is caught by counting; the batch is then joined again
    with markers no value holds."""
    separator, null = _SEPARATOR, _NULL
    for _ in range(3):
        joined = _joined(columns, separator, null)
        if joined is not None:
            return separator, null, joined
        token = secrets.token_hex(8)
        separator, null = f"\x1f{token}\x1f", f"\x1e{token}\x1e"
    raise StoreError("cannot find a separator that no value of the batch holds")


def _joined(columns: list[_Column], separator: str, null: str) -> list[str] | None:
    joined = []
    for name, kind, texts in columns:
        if null in texts:
            return None
        if None in texts:
            texts = [null if t is None else t for t in texts]
        try:
            # A leading separator, so that one empty text reads back as one element rather than an empty array.
            text = separator + separator.join(texts)  # type: ignore[arg-type]  # no None left
        except TypeError as exc:  # a value of a text column that is no str
            table, column = name.split(".")
            raise RowError(f"cannot write {name} as {kind}", table=table, column=column,
                           detail=f"TypeError: {exc}") from exc
        if text.count(separator) != len(texts):
            return None  # a value holds the separator
        joined.append(text)
    return joined
