"""How DuckDBStore turns rows into columns: each shortcut of the conversion stores what PostgreSQL stores.

The store contract (test_storage.py) covers one value of each kind; these tests mix, in one column of one batch,
values that take a shortcut (a decimal Arrow takes exactly, an aware UTC datetime, a column of one value) with
values that cannot (a decimal to round, another zone, a naive datetime, None), and check that every row is stored as
the contract says, on DuckDB and on PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from oms_kit.errors import StoreError
from oms_kit.storage import Store, open_store
from oms_kit.storage.rows import RowError
from oms_kit.storage.schema import TABLES

IST = timezone(timedelta(hours=5, minutes=30))
T0 = datetime(2026, 1, 5, 9, 15, 0, 123456, tzinfo=UTC)


@pytest.fixture(params=["duckdb-memory", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest) -> str:
    if request.param == "duckdb-memory":
        return "duckdb:///:memory:"
    pg_url: str = request.getfixturevalue("pg_url")
    return pg_url


@pytest.fixture
async def store(url: str) -> AsyncIterator[Store]:
    store = await open_store(url)
    yield store
    await store.close()


def trade(n: int, **changes: Any) -> tuple[str, tuple[Any, ...]]:
    values = {"trade_id": f"T-{n:05d}", "order_id": f"O-{n}", "account": "default", "symbol": "RELIANCE",
              "product": "MIS", "side": "BUY", "quantity": n, "price": Decimal("2500.05"), "fees": Decimal("0.42"),
              "ts": T0 + timedelta(microseconds=n)}  # fmt: skip
    values.update(changes)
    return ("trades", tuple(values[name] for name in TABLES["trades"].column_names))


def alert(n: int, **changes: Any) -> tuple[str, tuple[Any, ...]]:
    values = {"alert_id": f"A-{n}", "account": "default", "ts": T0, "level": "WARN", "limit_name": "daily_loss",
              "symbol": None, "value": None, "limit_value": Decimal("100"), "message": "", "cleared_at": None}
    values.update(changes)
    return ("risk_alerts", tuple(values[name] for name in TABLES["risk_alerts"].column_names))


async def column(store: Store, table: str, name: str, key: str) -> list[Any]:
    return [row[name] for row in await store.fetch(f"SELECT {name} FROM {table} ORDER BY {key}")]


async def test_write_when_one_decimal_in_a_column_needs_rounding_then_every_row_is_exact(store: Store) -> None:
    prices = [Decimal("2500.05"), Decimal("-1.123456785"), Decimal("7"), Decimal("1E+3"), Decimal("0.00000001")]
    rows = [trade(n, price=price) for n, price in enumerate(prices)] + [trade(9, price=Decimal(7501) / 3)]

    await store.write(rows)

    assert await column(store, "trades", "price", "trade_id") == [
        Decimal("2500.05"), Decimal("-1.12345679"), Decimal("7"), Decimal("1000"), Decimal("0.00000001"),
        Decimal("2500.33333333"),
    ]  # fmt: skip


async def test_write_when_timestamps_mix_zones_then_each_is_the_same_instant(store: Store) -> None:
    instants = [T0, T0.astimezone(IST), T0 + timedelta(days=1), datetime(1969, 12, 31, 23, 59, 59, 999999, UTC)]

    await store.write([trade(n, ts=ts) for n, ts in enumerate(instants)])

    assert await column(store, "trades", "ts", "trade_id") == instants


async def test_write_when_nullable_timestamp_column_mixes_none_and_values_then_reads_both(store: Store) -> None:
    await store.write([alert(1), alert(2, cleared_at=T0.astimezone(IST)), alert(3)])

    assert await column(store, "risk_alerts", "cleared_at", "alert_id") == [None, T0, None]


async def test_write_when_a_column_holds_one_value_or_none_throughout_then_every_row_has_it(store: Store) -> None:
    await store.write([alert(n) for n in range(50)])

    rows = await store.fetch("SELECT account, symbol, value, message FROM risk_alerts ORDER BY alert_id")

    assert rows == [{"account": "default", "symbol": None, "value": None, "message": ""}] * 50


async def test_write_when_a_column_holds_one_value_of_the_wrong_type_then_error_names_the_column() -> None:
    store = await open_store("duckdb:///:memory:")
    try:
        with pytest.raises(RowError, match=r"cannot write trades\.symbol = 7 to .*\(allowed: a str") as info:
            await store.write([trade(n, symbol=7) for n in range(3)])
        assert (info.value.table, info.value.column, info.value.value) == ("trades", "symbol", 7)
        assert await store.fetch("SELECT * FROM trades") == []
    finally:
        await store.close()


async def test_write_when_naive_datetime_then_it_is_read_as_utc() -> None:
    store = await open_store("duckdb:///:memory:")
    try:
        await store.write([trade(1, ts=T0.replace(tzinfo=None)), trade(2, ts=T0)])

        assert await column(store, "trades", "ts", "trade_id") == [T0, T0]
    finally:
        await store.close()


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("-Infinity"), Decimal("1E+21")])
async def test_write_when_a_decimal_cannot_be_stored_then_error_names_the_table_and_nothing_is_written(
    value: Any,
) -> None:
    store = await open_store("duckdb:///:memory:")
    try:
        with pytest.raises(StoreError, match="cannot write"):
            await store.write([("orders", _order()), trade(1), trade(2, fees=value)])

        assert await store.fetch("SELECT * FROM trades") == []
        assert await store.fetch("SELECT * FROM orders") == []
    finally:
        await store.close()


def _order() -> tuple[Any, ...]:
    values = {"order_id": "O-1", "client_order_id": "C-1", "account": "default", "symbol": "RELIANCE", "side": "BUY",
              "order_type": "LIMIT", "product": "MIS", "validity": "DAY", "quantity": 1, "price": Decimal("2500.05"),
              "trigger_price": None, "filled_quantity": 0, "average_price": None, "status": "OPEN",
              "triggered": False, "violations": "[]", "reason": None, "tag": None, "created_at": T0,
              "updated_at": T0, "sequence": 1, "variety": "regular", "disclosed_quantity": 0}  # fmt: skip
    return tuple(values[name] for name in TABLES["orders"].column_names)


async def test_write_when_batch_repeats_a_stored_trade_then_the_rest_is_written_once(store: Store) -> None:
    await store.write([("orders", _order()), trade(1)])
    filled = tuple("FILLED" if name == "status" else value
                   for name, value in zip(TABLES["orders"].column_names, _order(), strict=True))  # fmt: skip

    await store.write([("orders", filled), trade(1, quantity=999), trade(2)])

    assert await column(store, "orders", "status", "order_id") == ["FILLED"]
    assert await column(store, "trades", "quantity", "trade_id") == [1, 2]


async def test_write_when_a_decimal_to_round_is_in_one_slice_of_a_big_batch_then_every_row_is_exact(
    store: Store,
) -> None:
    # Big batches are converted a slice of rows at a time; the one price to round is in the second slice only.
    prices = [Decimal(n) / 100 for n in range(10_000)]
    prices[5_000] = Decimal("-1.123456785")

    await store.write([trade(n, price=price) for n, price in enumerate(prices)])

    expected = [Decimal(n) / 100 for n in range(10_000)]
    expected[5_000] = Decimal("-1.12345679")
    assert await column(store, "trades", "price", "trade_id") == expected
