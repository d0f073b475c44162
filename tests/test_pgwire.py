"""The wire format of a PostgreSQL write (storage/pgwire.py): any row the schema can hold reads back exactly, whatever
its texts hold (the separators, the NULL marker, quotes, braces), and the statement has one parameter per column."""

from __future__ import annotations

import asyncio
import itertools
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms_kit.storage import open_store
from oms_kit.storage.pgwire import CHANNEL, write_sql
from oms_kit.storage.schema import TABLES

ORDERS = TABLES["orders"]
keys = itertools.count(1)

# PostgreSQL text holds any character but NUL and lone surrogates; the separators and the NULL marker are the
# hostile ones here, alone, repeated or inside other text.
TEXT = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12),
    st.sampled_from(["", "\x1f", "\x1e", "\x1f\x1f", "a\x1fb\x1ec", "NULL", "{1,2}", "\"'\\", "\x1e\x1f"]),
)
BIGINT = st.integers(-(2**63), 2**63 - 1)
DECIMAL = st.decimals(min_value=Decimal("-99999999999999999999.99999999"),
                      max_value=Decimal("99999999999999999999.99999999"), places=8,
                      allow_nan=False, allow_infinity=False)
STAMP = st.builds(lambda moment, minutes: moment.astimezone(timezone(timedelta(minutes=minutes))),
                  st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)),
                  st.integers(-14 * 60, 14 * 60))
NULLABLE = {"price", "trigger_price", "average_price", "reason", "tag"}
KINDS = {"text": TEXT, "int": BIGINT, "decimal": DECIMAL, "bool": st.booleans(), "timestamp": STAMP}


@st.composite
def order_rows(draw: st.DrawFn) -> tuple[Any, ...]:
    values: list[Any] = []
    for name, kind in ORDERS.columns:
        if name == "order_id":
            values.append(f"O-{next(keys)}")
        elif name in NULLABLE:
            values.append(draw(st.one_of(st.none(), KINDS[kind])))
        else:
            values.append(draw(KINDS[kind]))
    return tuple(values)


async def _round_trip(url: str, rows: list[tuple[Any, ...]]) -> None:
    store = await open_store(url)
    try:
        await store.write([("orders", row) for row in rows])
        wanted = ", ".join(f"'{row[0]}'" for row in rows)
        stored = await store.fetch(f"SELECT * FROM orders WHERE order_id IN ({wanted})")
        by_key = {record["order_id"]: tuple(record[name] for name in ORDERS.column_names) for record in stored}
        assert [by_key.get(row[0]) for row in rows] == rows  # Decimals compare by value, datetimes by instant
    finally:
        await store.close()


@pytest.mark.postgres
def test_any_row_the_schema_holds_reads_back_exactly(pg_url: str) -> None:
    @settings(max_examples=60, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(rows=st.lists(order_rows(), min_size=1, max_size=5))
    def check(rows: list[tuple[Any, ...]]) -> None:
        asyncio.run(_round_trip(pg_url, rows))

    check()


@settings(max_examples=200, deadline=None)
@given(tables=st.lists(st.sampled_from(sorted(TABLES.values(), key=lambda t: t.name)), min_size=1, unique=True),
       skip_known=st.booleans())
def test_write_sql_has_one_parameter_per_column_and_skips_known_keys_only_when_asked(
    tables: list[Any], skip_known: bool,
) -> None:
    sql = write_sql(tuple(tables), skip_known=skip_known)

    numbers = sorted({int(n) for n in re.findall(r"\$(\d+)", sql)})
    assert numbers == list(range(1, 3 + sum(len(table.columns) for table in tables)))
    for table in tables:
        assert f"INSERT INTO {table.name} ({', '.join(table.column_names)})" in sql
    appends = [table for table in tables if table.mode == "append"]
    assert sql.count("DO NOTHING") == (len(appends) if skip_known else 0)
    assert sql.count("DO UPDATE") == len(tables) - len(appends)
    assert sql.endswith(f"SELECT pg_notify('{CHANNEL}', '')")
