"""Hostile values through the PostgreSQL write path (storage/pgwire.py): one commit of an order's records across
five tables (the order, its events, its decision, its trade, the position) is stored whole and reads back exactly,
or, when one value cannot be stored, fails with a RowError naming its table and column and leaves nothing of the
commit behind: no table holds half of it.

The values are the hostile ones: texts of thousands of characters, the wire's separators and NULL marker, NUL
characters (which PostgreSQL text cannot hold), decimals at and beyond DECIMAL(28, 8)'s bound, integers beyond
BIGINT, and timestamps from year 1 to 9999 in any UTC offset, naive (read as UTC) or on either side of 1970.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms_kit.storage import RowError, Write, open_store
from oms_kit.storage.postgres import PostgresStore
from oms_kit.storage.schema import TABLES

pytestmark = pytest.mark.postgres

ids = itertools.count(1)
GOOD_TEXT = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20),
    st.sampled_from(["", "\x1f", "\x1e", "\x1f\x1e", "NULL", "{a,b}", "\"'\\", "é" * 3000, "x" * 20_000]),
)
BAD_TEXT = st.sampled_from(["\x00", "a\x00b", "\x00" * 3, "x" * 5000 + "\x00"])
GOOD_DECIMAL = st.one_of(
    st.decimals(min_value=Decimal("-99999999999999999999.99999999"), max_value=Decimal("99999999999999999999.99999999"),
                places=8, allow_nan=False, allow_infinity=False),
    st.sampled_from([Decimal("99999999999999999999.99999999"), Decimal("-0E-8"), Decimal("1E+19"), Decimal(0)]),
)
BAD_DECIMAL = st.sampled_from([Decimal("1E+20"), Decimal("-1E+25"), Decimal("123456789012345678901234567890"),
                               Decimal("Infinity"), Decimal("-Infinity"), Decimal("NaN"), Decimal("-NaN"),
                               float("nan")])  # PostgreSQL's NUMERIC(28, 8) holds NaN; the kit's columns do not
BAD_INT = st.sampled_from([2**63, -(2**63) - 1, 10**30])
GOOD_STAMP = st.one_of(
    st.builds(lambda moment, minutes: moment.astimezone(timezone(timedelta(minutes=minutes))),
              st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)),
              st.integers(-14 * 60, 14 * 60)),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),  # naive: UTC
    st.sampled_from([datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC), datetime(1970, 1, 1, tzinfo=UTC),
                     datetime(1, 1, 2, 0, 0, 0, 1, tzinfo=UTC), datetime(9999, 12, 30, 23, 59, 59, 999_999)]),
)
BAD_STAMP = st.sampled_from(["2026-01-05", 1_767_600_000, Decimal(0)])  # not datetimes


def _instant(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@st.composite
def commits(draw: st.DrawFn) -> tuple[list[Write], tuple[str, str] | None]:
    """An order's records in five tables, and, when one value is made hostile beyond what a column holds, that
    value's (table, column)."""
    n = next(ids)
    order_id, account = f"O-{n}", f"acct-{n}"
    text, decimal, stamp = (lambda: draw(GOOD_TEXT)), (lambda: draw(GOOD_DECIMAL)), (lambda: draw(GOOD_STAMP))
    created, filled = stamp(), stamp()
    rows: list[Write] = [
        ("orders", (order_id, text(), account, text(), "BUY", "LIMIT", "MIS", "DAY", draw(st.integers(1, 10**9)),
                    decimal(), None, 1, decimal(), "FILLED", False, text(), text(), None, created, filled,
                    draw(st.integers(-(2**63), 2**63 - 1)), "regular", 0)),
        ("order_events", (f"{order_id}:0", order_id, account, 0, created, "CREATED", None, "NEW", text())),
        ("order_events", (f"{order_id}:1", order_id, account, 1, filled, "FILLED", "NEW", "FILLED", text())),
        ("risk_decisions", (f"D-{order_id}", account, order_id, created, True, text())),
        ("trades", (f"T-{order_id}", order_id, account, text(), "MIS", "BUY", 1, decimal(), decimal(), filled)),
        ("positions", (account, text(), "MIS", 1, decimal(), decimal(), decimal(), None, 1, 0, filled)),
    ]
    if not draw(st.booleans()):
        return rows, None
    # One value beyond its column: a NUL in a text, a decimal or integer out of range, a timestamp that is none.
    where = draw(st.sampled_from([(0, 1, BAD_TEXT), (1, 8, BAD_TEXT), (0, 9, BAD_DECIMAL), (4, 8, BAD_DECIMAL),
                                  (0, 20, BAD_INT), (2, 4, BAD_STAMP), (5, 10, BAD_STAMP), (3, 5, BAD_TEXT)]))
    index, column, bad = where
    table, values = rows[index]
    rows[index] = (table, (*values[:column], draw(bad), *values[column + 1:]))
    return rows, (table, TABLES[table].column_names[column])


async def _stored(store: PostgresStore, rows: list[Write]) -> dict[str, list[tuple[Any, ...]]]:
    found: dict[str, list[tuple[Any, ...]]] = {}
    for name in dict.fromkeys(table for table, _ in rows):
        table = TABLES[name]
        key = table.key[0] if name != "positions" else "account"
        wanted = [values[table.column_names.index(key)] for other, values in rows if other == name]
        records = await store.fetch(f"SELECT * FROM {name} WHERE {key} = ANY($1::text[]) ORDER BY 1", wanted)
        found[name] = [tuple(record[column] for column in table.column_names) for record in records]
    return found


async def _check(url: str, rows: list[Write], bad: tuple[str, str] | None) -> None:
    store = await open_store(url)
    assert isinstance(store, PostgresStore)
    try:
        if bad is None:
            await store.write(rows)
        else:
            with pytest.raises(RowError) as info:
                await store.write(rows)
            assert (info.value.table, info.value.column) == bad, info.value
            assert f"{bad[0]}.{bad[1]}" in info.value.message
        stored = await _stored(store, rows)
        if bad is not None:  # nothing of the commit in any table
            assert stored == {name: [] for name in stored}
            return
        for name, records in stored.items():
            table = TABLES[name]
            wanted = sorted((values for other, values in rows if other == name), key=lambda values: values[0])
            kinds = [kind for _, kind in table.columns]
            expected = [tuple(_instant(v) if kind == "timestamp" and v is not None else v
                              for v, kind in zip(values, kinds, strict=True)) for values in wanted]
            # Decimals compare by value (rounded to 8 places, which the strategies already are), datetimes by instant.
            assert records == expected, name
    finally:
        await store.close()


def test_a_commit_of_hostile_values_is_stored_whole_or_not_at_all(pg_url: str) -> None:
    @settings(max_examples=80, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                     HealthCheck.data_too_large])
    @given(commit=commits())
    def check(commit: tuple[list[Write], tuple[str, str] | None]) -> None:
        asyncio.run(_check(pg_url, *commit))

    check()


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("-NaN"), Decimal("sNaN"), float("nan"), float("inf")])
async def test_a_number_that_is_not_finite_is_refused_though_numeric_could_hold_nan(pg_url: str, value: Any) -> None:
    # PostgreSQL's NUMERIC(28, 8) stores NaN; the kit's columns hold finite numbers only, as DuckDB's DECIMAL does.
    store = await open_store(pg_url)
    try:
        n = next(ids)
        trade = ("trades", (f"T-nan-{n}", f"O-nan-{n}", "acct", "RELIANCE", "MIS", "BUY", 1, value, Decimal(0),
                            datetime(2026, 1, 5, tzinfo=UTC)))
        with pytest.raises(RowError) as info:
            await store.write([trade])
        assert (info.value.table, info.value.column) == ("trades", "price"), info.value
        assert await store.fetch("SELECT trade_id FROM trades WHERE trade_id = $1", f"T-nan-{n}") == []
    finally:
        await store.close()
