"""The store contract, run against DuckDB in memory, a DuckDB file and PostgreSQL; then what is backend-specific."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from itertools import cycle
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import oms_kit.storage as storage
from oms_kit.errors import PersistenceUnavailable, StoreError
from oms_kit.storage import Store, WriteQueue, mask_password, open_store, parse_url, resolve_url
from oms_kit.storage.duckdb import SCHEMA_MIGRATIONS
from oms_kit.storage.schema import TABLES

REPOSITORY = Path(__file__).resolve().parent.parent
IST = timezone(timedelta(hours=5, minutes=30))
T0 = datetime(2026, 1, 5, 9, 15, 0, 123456, tzinfo=UTC)
# Exact values that a float would spoil: cents, the smallest unit of DECIMAL(28, 8), a large amount, a loss.
DECIMALS = (Decimal("2500.05"), Decimal("0.00000001"), Decimal("12345678901234.5"), Decimal("-3.25"))

BACKENDS = [
    pytest.param("duckdb-memory"),
    pytest.param("duckdb-file"),
    pytest.param("postgresql", marks=pytest.mark.postgres),
]
DURABLE_BACKENDS = BACKENDS[1:]


def _url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "duckdb-memory":
        return "duckdb:///:memory:"
    if request.param == "duckdb-file":
        return f"duckdb:///{tmp_path / 'oms.duckdb'}"  # tmp_path is absolute: duckdb:////tmp/…
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return _url(request, tmp_path)


@pytest.fixture(params=DURABLE_BACKENDS)
def durable_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return _url(request, tmp_path)


@pytest.fixture
async def store(url: str) -> AsyncIterator[Store]:
    store = await open_store(url)
    yield store
    await store.close()


def sample_row(table: str, n: int = 1) -> tuple[Any, ...]:
    """A row of ``table`` with every column set; the key columns carry ``n``."""
    decimals = cycle(DECIMALS)
    values: list[Any] = []
    for name, kind in TABLES[table].columns:
        if kind == "text":
            values.append(f"{name}-{n}" if name in TABLES[table].key else f"{name} é ✓")
        elif kind == "int":
            values.append(10_000_000_000 + n)  # wider than 32 bits
        elif kind == "bool":
            values.append(True)
        elif kind == "decimal":
            values.append(next(decimals))
        else:
            values.append(T0.astimezone(IST) + timedelta(seconds=n))  # any zone in; the same instant out
    return tuple(values)


def replace(table: str, row: tuple[Any, ...], **changes: Any) -> tuple[Any, ...]:
    names = TABLES[table].column_names
    return tuple(changes.get(name, value) for name, value in zip(names, row, strict=True))


async def select_all(store: Store, table: str) -> list[tuple[Any, ...]]:
    key = ", ".join(TABLES[table].key)
    columns = ", ".join(TABLES[table].column_names)
    return [tuple(r.values()) for r in await store.fetch(f"SELECT {columns} FROM {table} ORDER BY {key}")]


# -- the contract --------------------------------------------------------------------------------------------


async def test_write_then_fetch_returns_every_table_row_exactly(store: Store) -> None:
    rows = [(table, sample_row(table, n)) for table in TABLES for n in (1, 2)]

    await store.write(rows)

    for table in TABLES:
        assert await select_all(store, table) == [sample_row(table, 1), sample_row(table, 2)], table


async def test_fetch_returns_decimals_and_aware_utc_timestamps(store: Store) -> None:
    await store.write([("trades", sample_row("trades"))])

    [row] = await store.fetch("SELECT price, fees, ts FROM trades WHERE trade_id = $1", "trade_id-1")

    assert [str(row["price"].normalize()), str(row["fees"].normalize())] == ["2500.05", "1E-8"]
    assert row["ts"] == T0 + timedelta(seconds=1)
    assert row["ts"].utcoffset() == timedelta(0)


async def test_write_when_nullable_columns_are_none_then_reads_none(store: Store) -> None:
    market_order = replace(
        "orders", sample_row("orders"), price=None, trigger_price=None, average_price=None, reason=None, tag=None
    )

    await store.write([("orders", market_order)])

    assert await select_all(store, "orders") == [market_order]


@pytest.mark.parametrize("text", ["", "\x1f", "a\x1fb", "\x1e", "tab\tnew line\nquote'\"", "{1,2}", "NULL"])
async def test_write_when_text_is_empty_or_holds_control_characters_then_reads_back_exactly(
    store: Store, text: str
) -> None:
    # PostgreSQL gets each column as one text split on a separator: no value may be mistaken for one, alone in
    # its column or beside others.
    alone = replace("orders", sample_row("orders", 1), tag=text, reason=None)
    beside = [replace("orders", sample_row("orders", n), tag=text if n == 2 else "plain", reason=text)
              for n in (2, 3)]

    await store.write([("orders", alone)])
    await store.write([("orders", row) for row in beside])

    assert await select_all(store, "orders") == [alone, *beside]


async def test_write_when_upsert_key_exists_then_replaces_row(store: Store) -> None:
    new = sample_row("orders")
    filled = replace("orders", new, status="FILLED", filled_quantity=10, average_price=Decimal("2500.1"))
    await store.write([("orders", new)])

    await store.write([("orders", filled)])

    assert await select_all(store, "orders") == [filled]


async def test_write_when_upsert_key_repeats_in_one_batch_then_last_row_wins(store: Store) -> None:
    position = sample_row("positions")
    versions = [replace("positions", position, quantity=q) for q in (1, 2, 3)]
    await store.write([("positions", versions[0])])

    await store.write([("positions", versions[1]), ("positions", versions[2])])

    assert await select_all(store, "positions") == [versions[2]]


async def test_write_when_batch_replaces_thousands_of_rows_then_each_key_once_with_new_values(store: Store) -> None:
    # Over the 1,000 keys that DuckDB deletes per statement, for a single and a composite key.
    orders = [sample_row("orders", n) for n in range(2500)]
    positions = [sample_row("positions", n) for n in range(1200)]
    await store.write([("orders", row) for row in orders] + [("positions", row) for row in positions])

    await store.write(
        [("orders", replace("orders", row, status="CANCELLED")) for row in orders]
        + [("positions", replace("positions", row, quantity=0)) for row in positions]
    )

    counts = await store.fetch(
        "SELECT (SELECT count(*) FROM orders WHERE status = 'CANCELLED') AS orders,"
        " (SELECT count(DISTINCT order_id) FROM orders) AS order_ids,"
        " (SELECT count(*) FROM positions WHERE quantity = 0) AS positions"
    )
    assert counts == [{"orders": 2500, "order_ids": 2500, "positions": 1200}]


async def test_write_when_append_key_exists_then_keeps_first_row(store: Store) -> None:
    trade = sample_row("trades")
    retry = replace("trades", trade, quantity=999, price=Decimal("1"))
    await store.write([("trades", trade)])

    await store.write([("trades", retry), ("trades", retry)])

    assert await select_all(store, "trades") == [trade]



async def test_write_when_a_retry_mixes_known_and_new_rows_then_writes_the_new_and_keeps_the_known(
    store: Store,
) -> None:
    # A transaction retried after it did commit, with rows queued since: nothing is doubled, nothing is lost.
    first = [("trades", sample_row("trades", 1)), ("order_events", sample_row("order_events", 1)),
             ("orders", sample_row("orders", 1))]
    await store.write(first)
    newer_order = replace("orders", sample_row("orders", 1), status="FILLED")

    await store.write([*first[:2], ("trades", sample_row("trades", 2)), ("orders", newer_order)])

    assert await select_all(store, "trades") == [sample_row("trades", 1), sample_row("trades", 2)]
    assert await select_all(store, "order_events") == [sample_row("order_events", 1)]
    assert await select_all(store, "orders") == [newer_order]

async def test_write_when_decimal_has_more_than_eight_places_then_rounds_half_away_from_zero(store: Store) -> None:
    account = sample_row("accounts")
    await store.write([("accounts", replace("accounts", account, cash=Decimal("-1.123456785")))])
    await store.write([("accounts", replace("accounts", sample_row("accounts", 2), cash=Decimal(7501) / 3))])

    cash = [row[1] for row in await select_all(store, "accounts")]

    assert cash == [Decimal("-1.12345679"), Decimal("2500.33333333")]


async def test_write_when_value_does_not_fit_column_then_raises_store_error(store: Store) -> None:
    too_large = replace("accounts", sample_row("accounts"), cash=Decimal("1E+21"))

    with pytest.raises(StoreError, match="cannot write"):
        await store.write([("accounts", too_large)])
    assert await store.fetch("SELECT * FROM accounts") == []


async def test_write_when_a_table_fails_then_whole_transaction_is_rolled_back(store: Store) -> None:
    not_null_broken = replace("trades", sample_row("trades"), symbol=None)

    with pytest.raises(StoreError, match="a row does not fit its table"):
        await store.write([("orders", sample_row("orders")), ("trades", not_null_broken)])

    assert await store.fetch("SELECT * FROM orders") == []


async def test_fetch_df_keeps_query_column_order_and_exact_decimals(store: Store) -> None:
    await store.write([("trades", sample_row("trades", n)) for n in (1, 2)])

    frame = await store.fetch_df("SELECT ts, price, trade_id, quantity FROM trades ORDER BY trade_id")

    assert list(frame.columns) == ["ts", "price", "trade_id", "quantity"]
    assert frame["price"].tolist() == [Decimal("2500.05"), Decimal("2500.05")]
    assert str(frame["ts"].dtype) == "datetime64[us, UTC]"
    assert frame["quantity"].dtype == "int64"
    assert frame["ts"].iloc[0] == pd.Timestamp(T0 + timedelta(seconds=1))


async def test_fetch_df_when_no_rows_then_has_the_columns(store: Store) -> None:
    frame = await store.fetch_df("SELECT trade_id, price FROM trades WHERE quantity > $1", 0)

    assert list(frame.columns) == ["trade_id", "price"] and frame.empty


async def test_fetch_when_sql_is_wrong_then_raises_store_error(store: Store) -> None:
    with pytest.raises(StoreError, match="query failed"):
        await store.fetch("SELECT no_such_column FROM orders")


async def test_migrate_when_run_twice_then_second_run_applies_nothing(url: str) -> None:
    store = await open_store(url, migrate=False)
    try:
        first = await store.migrate()
        second = await store.migrate()
        recorded = await store.fetch("SELECT version, name FROM schema_migrations")
    finally:
        await store.close()

    assert (first, second) == ([1, 2, 3, 4, 5, 6, 7], [])
    assert sorted(recorded, key=lambda r: r["version"]) == [{"version": 1, "name": "initial"},
                                                             {"version": 2, "name": "trading_day"},
                                                             {"version": 3, "name": "day_book"},
                                                             {"version": 4, "name": "variety"},
                                                             {"version": 5, "name": "gtt"},
                                                             {"version": 6, "name": "disclosed_quantity"},
                                                             {"version": 7, "name": "programs"}]


async def test_migrate_upgrades_a_database_of_the_first_schema_keeping_its_rows(url: str) -> None:
    store = await open_store(url, migrate=False)
    try:
        # The database as the first release left it: migration 1 only, and an account.
        initial = storage.read_migrations()[0]
        body = "\n".join(line for line in initial.sql.splitlines() if not line.startswith("--"))
        for statement in [SCHEMA_MIGRATIONS, *body.split(";")]:
            if statement.strip():
                await store.fetch(statement)
        await store.fetch("INSERT INTO schema_migrations VALUES (1, 'initial', now())")
        await store.fetch("INSERT INTO accounts VALUES ('old', 12.5, now())")
        applied = await store.migrate()
        rows = await store.fetch("SELECT account, cash, day_began, day_base FROM accounts")
    finally:
        await store.close()

    assert applied == [2, 3, 4, 5, 6, 7]
    assert rows == [{"account": "old", "cash": Decimal("12.50000000"), "day_began": None, "day_base": None}]


async def test_open_runs_migrations(store: Store) -> None:
    assert await store.migrate() == []
    assert await store.fetch("SELECT count(*) AS n FROM orders") == [{"n": 0}]


async def test_write_queue_when_50_writers_commit_at_once_then_each_row_once_in_fewer_transactions(
    store: Store,
) -> None:
    async def writer(queue: WriteQueue, n: int) -> None:
        order = sample_row("orders", n)
        await queue.commit([("orders", order), ("order_events", sample_row("order_events", n))])
        await queue.commit([("orders", replace("orders", order, status="OPEN"))])

    async with WriteQueue(store) as queue:
        await asyncio.gather(*(writer(queue, n) for n in range(50)))
        status = queue.status()

    counts = await store.fetch(
        "SELECT (SELECT count(*) FROM orders WHERE status = 'OPEN') AS open_orders,"
        " (SELECT count(DISTINCT order_id) FROM orders) AS orders,"
        " (SELECT count(*) FROM order_events) AS events"
    )
    assert counts == [{"open_orders": 50, "orders": 50, "events": 50}]
    assert status["rows"] == 150
    assert status["transactions"] < 50


async def test_write_after_close_then_raises_store_error(url: str) -> None:
    store = await open_store(url)
    await store.close()

    with pytest.raises(StoreError, match="is closed"):
        await store.write([("accounts", sample_row("accounts"))])
    with pytest.raises(StoreError, match="is closed"):
        await store.fetch("SELECT 1")


async def test_committed_rows_survive_close_and_reopen(durable_url: str) -> None:
    store = await open_store(durable_url)
    assert store.durable
    async with WriteQueue(store) as queue:
        await queue.commit([("trades", sample_row("trades"))])
    await store.close()

    reopened = await open_store(durable_url)
    try:
        assert await select_all(reopened, "trades") == [sample_row("trades")]
        assert await reopened.migrate() == []
    finally:
        await reopened.close()


async def test_open_read_only_then_reads_and_refuses_writes(durable_url: str) -> None:
    writer = await open_store(durable_url)
    await writer.write([("accounts", sample_row("accounts"))])
    await writer.close()  # DuckDB: a reader cannot open a file while a writer holds it

    reader = await open_store(durable_url, read_only=True)
    try:
        assert await select_all(reader, "accounts") == [sample_row("accounts")]
        with pytest.raises(StoreError, match="opened read-only"):
            await reader.write([("accounts", sample_row("accounts", 2))])
    finally:
        await reader.close()


async def test_open_read_only_when_not_migrated_then_raises_store_error(durable_url: str) -> None:
    empty = await open_store(durable_url, migrate=False)  # creates the DuckDB file
    await empty.close()

    with pytest.raises(StoreError, match="needs migrations") as info:
        await open_store(durable_url, read_only=True)
    assert "db migrate" in (info.value.hint or "")


def test_cli_db_migrate_when_run_twice_then_second_run_applies_nothing(durable_url: str) -> None:
    first = run_cli("db", "migrate", durable_url)
    second = run_cli("db", "migrate", durable_url)

    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().endswith(
        "applied 0001_initial, 0002_trading_day, 0003_day_book, 0004_variety, 0005_gtt, 0006_disclosed_quantity, "
        "0007_programs")
    assert second.returncode == 0, second.stderr
    assert "up to date, no migration applied" in second.stdout


# -- URLs --------------------------------------------------------------------------------------------------


def test_resolve_url_when_none_then_reads_environment_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMS_KIT_DATABASE_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert resolve_url(None) == "duckdb:///:memory:"
    monkeypatch.setenv("DATABASE_URL", "postgresql://b/db")
    assert resolve_url(None) == "postgresql://b/db"
    monkeypatch.setenv("OMS_KIT_DATABASE_URL", "duckdb:///a.duckdb")
    assert resolve_url(None) == "duckdb:///a.duckdb"
    assert resolve_url("memory") == "memory"


@pytest.mark.parametrize(
    ("url", "backend", "target"),
    [
        ("duckdb:///:memory:", "duckdb", ":memory:"),
        ("memory", "duckdb", ":memory:"),
        (":memory:", "duckdb", ":memory:"),
        ("duckdb:///data/x.duckdb", "duckdb", "data/x.duckdb"),
        ("duckdb:////abs/path/x.duckdb", "duckdb", "/abs/path/x.duckdb"),
        ("postgresql://u:p@h:5432/db", "postgresql", "postgresql://u:p@h:5432/db"),
        ("postgres://u@h/db", "postgresql", "postgres://u@h/db"),
    ],
)
def test_parse_url_accepted_forms(url: str, backend: str, target: str) -> None:
    parsed = parse_url(url)

    assert (parsed.backend, parsed.target) == (backend, target)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://trader:s3cr@t@db.example:5432/oms", "postgresql://trader:***@db.example:5432/oms"),
        ("postgresql://trader@db/oms?password=s3cret&sslmode=require", "postgresql://trader@db/oms?password=***&sslmode=require"),
        ("postgresql://trader@db/oms", "postgresql://trader@db/oms"),
        ("duckdb:///data/x.duckdb", "duckdb:///data/x.duckdb"),
    ],
)  # fmt: skip
def test_mask_password(url: str, masked: str) -> None:
    assert mask_password(url) == masked


@pytest.mark.parametrize("url", ["mysql://u:s3cret@h/db", "duckdb:///", "data/x.duckdb", ""])
async def test_open_store_when_url_unsupported_then_error_names_url_and_accepted_forms(url: str) -> None:
    with pytest.raises(StoreError, match="unsupported database URL") as info:
        await open_store(url)

    assert "s3cret" not in str(info.value)
    assert "duckdb:///relative/path.duckdb" in (info.value.hint or "")
    assert "postgresql://" in (info.value.hint or "")


def test_storage_exports() -> None:
    assert sorted(storage.__all__) == [
        "Migration",
        "QueueState",
        "RowError",
        "Store",
        "Write",
        "WriteQueue",
        "mask_password",
        "open_store",
        "parse_url",
        "read_migrations",
        "resolve_url",
    ]
    assert all(hasattr(storage, name) for name in storage.__all__)


def test_read_migrations_are_numbered_in_order() -> None:
    migrations = storage.read_migrations()

    assert [(m.version, m.name) for m in migrations][:1] == [(1, "initial")]
    assert [m.version for m in migrations] == sorted({m.version for m in migrations})


# -- DuckDB ------------------------------------------------------------------------------------------------


async def test_duckdb_memory_is_not_durable_and_cannot_open_read_only() -> None:
    store = await open_store("memory")
    await store.close()

    assert store.durable is False
    with pytest.raises(StoreError, match="cannot be opened read-only"):
        await open_store("memory", read_only=True)


async def test_duckdb_file_when_open_twice_in_one_process_then_second_writer_is_refused(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'oms.duckdb'}"
    first = await open_store(url)
    try:
        with pytest.raises(StoreError, match="already has it open for writing"):
            await open_store(url)
    finally:
        await first.close()

    second = await open_store(url)  # free again once closed
    await second.close()


async def test_duckdb_file_when_another_process_writes_then_error_says_so(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'oms.duckdb'}"
    store = await open_store(url)
    try:
        code = f"import asyncio; from oms_kit.storage import open_store; asyncio.run(open_store({url!r}))"
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    finally:
        await store.close()

    assert result.returncode != 0
    assert f"StoreError: cannot open DuckDB database {url}" in result.stderr
    assert "one writing process per file" in result.stderr


async def test_duckdb_file_when_directory_missing_then_raises_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open DuckDB database") as info:
        await open_store(f"duckdb:///{tmp_path / 'missing' / 'oms.duckdb'}")

    assert "directory exists" in (info.value.hint or "")


async def test_duckdb_relative_path_is_relative_to_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()

    store = await open_store("duckdb:///data/x.duckdb")
    await store.close()

    assert (tmp_path / "data" / "x.duckdb").exists()


# -- PostgreSQL --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_postgres_when_server_is_down_then_error_names_masked_url_and_what_to_check() -> None:
    url = f"postgresql://trader:s3cret@127.0.0.1:{free_port()}/oms"

    with pytest.raises(StoreError) as info:
        await open_store(url)

    message = str(info.value)
    assert info.value.message == f"cannot connect to PostgreSQL at {url.replace('s3cret', '***')}"
    assert "s3cret" not in message
    assert "server is running" in message and "host and port" in message and "database exists" in message


@pytest.mark.postgres
async def test_postgres_when_database_missing_then_hint_says_create_it(pg_url: str) -> None:
    with pytest.raises(StoreError, match="cannot connect") as info:
        await open_store(pg_url.rsplit("/", 1)[0] + "/no_such_database")

    assert "does not exist" in (info.value.hint or "")


@pytest.mark.postgres
async def test_postgres_when_three_connections_migrate_at_once_then_each_migration_applies_once(pg_url: str) -> None:
    stores = [await open_store(pg_url, migrate=False) for _ in range(3)]
    try:
        applied = await asyncio.gather(*(s.migrate() for s in stores))
    finally:
        for s in stores:
            await s.close()

    assert sorted(version for versions in applied for version in versions) == [1, 2, 3, 4, 5, 6, 7]


@pytest.mark.postgres
@pytest.mark.slow
async def test_postgres_when_server_goes_away_then_write_is_unavailable_until_it_returns(
    pg_cluster_owned: Any,
) -> None:
    store = await open_store(pg_cluster_owned.url)
    try:
        await store.write([("trades", sample_row("trades", 1))])
        pg_cluster_owned.stop()

        with pytest.raises(PersistenceUnavailable, match="unreachable"):
            await store.write([("trades", sample_row("trades", 2))])

        pg_cluster_owned.start()
        await store.write([("trades", sample_row("trades", 2))])
        assert len(await select_all(store, "trades")) == 2
    finally:
        await store.close()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("OMS_KIT_DATABASE_URL", "DATABASE_URL")}
    return subprocess.run(
        [sys.executable, "-m", "oms_kit", *args],
        capture_output=True,
        text=True,
        cwd=REPOSITORY,
        env=environment,
        timeout=120,
    )


def test_cli_when_url_unsupported_then_exit_status_1_and_message() -> None:
    result = run_cli("db", "migrate", "mysql://u:s3cret@h/db")

    assert result.returncode == 1
    assert "unsupported database URL: 'mysql://u:***@h/db'" in result.stderr


async def test_a_duckdb_file_has_its_indexes_and_memory_none_but_keys_hold_in_both(tmp_path: Path) -> None:
    # In memory an index would cost every insert and serve no query (duckdb.py), a primary key's too: the keys
    # still hold, through the anti-join of a direct write.
    for url, expected in ((f"duckdb:///{tmp_path / 'kept.duckdb'}", True), ("duckdb:///:memory:", False)):
        store = await open_store(url)
        try:
            indexes = {row["index_name"] for row in await store.fetch("SELECT index_name FROM duckdb_indexes()")}
            assert ("order_events_order" in indexes) is expected, (url, indexes)
            assert ("orders_account_created" in indexes) is expected, (url, indexes)
            keys = await store.fetch("SELECT table_name FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY'"
                                     " AND table_name <> 'schema_migrations'")
            assert ({"orders", "order_events", "trades", "positions"} <= {k["table_name"] for k in keys}) is expected
            row = ("order_events", ("E-1", "O-1", "acct", 0, datetime(2026, 1, 5, tzinfo=UTC), "CREATED", None,
                                    "NEW", "{}"))
            await store.write([row])
            await store.write([(row[0], (*row[1][:4], datetime(2026, 1, 6, tzinfo=UTC), *row[1][5:]))])
            stored = await store.fetch("SELECT ts FROM order_events WHERE event_id = 'E-1'")
            assert [r["ts"] for r in stored] == [datetime(2026, 1, 5, tzinfo=UTC)]  # the key kept the first row
        finally:
            await store.close()
