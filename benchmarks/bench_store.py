"""Rows per second through WriteQueue (group commit) with 100 concurrent writers; the cost of a write-behind burst.

Each writer places orders one after another as the OMS does: it commits an order, its first event and its
risk decision (3 rows) and waits for the commit before the next one. Then, for DuckDB in memory, the one write
that carries a burst of 20,000 filled orders recorded behind (8 rows each, as the in-memory OMS makes them: the
order in its final state, three events, the decision, the trade, the position and the cash), both ways: through
the store's buffers (``storage/behind.py``: appended per table as recorded, then each table's values taken out
and its upserts reduced to the latest row per key, conversion to Arrow and DuckDB's own work), and as one
``Store.write`` of the same rows (grouping by table, conversion, DuckDB), the path a group-commit transaction takes.
Last, the in-memory OMS with orders arriving one at a time, 2 ms apart (as a service or a strategy sends them):
orders/s, the process's CPU time per order and the writes it took. Prints figures; asserts nothing.

    python benchmarks/bench_store.py [POSTGRESQL_URL]

The PostgreSQL URL may also come from OMS_KIT_DATABASE_URL; without one, PostgreSQL is skipped. Its tables are
written to (rows with ids starting "bench-"), so point it at a scratch database.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import oms_kit as ok
from oms_kit.storage import Write, WriteQueue, open_store
from oms_kit.storage.arrow import to_arrow
from oms_kit.storage.behind import prepare
from oms_kit.storage.duckdb import DuckDBStore
from oms_kit.storage.rows import group_rows
from oms_kit.storage.schema import TABLES

WRITERS = 100
ORDERS_PER_WRITER = 50
BURST_ORDERS = 20_000
SYMBOLS = ["RELIANCE", "TCS", "INFY", "HDFCBANK", "SBIN"]


def order_rows(run: str, writer: int, n: int) -> list[Write]:
    now = datetime.now(UTC)
    order_id = f"bench-{run}-{writer}-{n}"
    return [
        ("orders", (order_id, order_id, "bench", "RELIANCE", "BUY", "LIMIT", "MIS", "DAY", 10, Decimal("2500.05"),
                    None, 0, None, "OPEN", False, "[]", None, None, now, now, n, "regular", 0)),
        ("order_events", (f"{order_id}-1", order_id, "bench", 1, now, "ACCEPTED", "NEW", "OPEN", "{}")),
        ("risk_decisions", (order_id, "bench", order_id, now, True, "[]")),
    ]  # fmt: skip


async def measure(url: str) -> None:
    store = await open_store(url)
    run = uuid.uuid4().hex[:8]
    try:
        async with WriteQueue(store) as queue:

            async def writer(w: int) -> None:
                for n in range(ORDERS_PER_WRITER):
                    await queue.commit(order_rows(run, w, n))

            await queue.commit(order_rows(run, -1, 0))  # warm up: first statements, pool connection
            start = time.perf_counter()
            await asyncio.gather(*(writer(w) for w in range(WRITERS)))
            elapsed = time.perf_counter() - start
            status = queue.status()
    finally:
        await store.close()
    rows = status["rows"] - 3
    transactions = status["transactions"] - 1
    print(
        f"{store.url:60} {rows / elapsed:9,.0f} rows/s  {WRITERS * ORDERS_PER_WRITER / elapsed:8,.0f} orders/s  "
        f"{transactions:5} transactions, {rows / transactions:6.1f} rows each, {elapsed:6.2f} s"
    )


def burst_rows(orders: int) -> list[Write]:
    """The rows of ``orders`` market orders filled at once, in the order and shape the OMS queues them."""
    rows: list[Write] = []
    cash = Decimal(10**12)
    for n in range(orders):
        created, filled = datetime.now(UTC), datetime.now(UTC)
        order_id, symbol, price, fees = f"O-b-{n}", SYMBOLS[n % 5], Decimal(1000 + 100 * (n % 5)), Decimal("0.42")
        side, quantity = ("BUY", 1 + n % 3) if n % 2 == 0 else ("SELL", 1 + (n - 1) % 3)
        cash -= fees
        rows += [
            ("order_events", (f"{order_id}:0", order_id, "default", 0, created, "CREATED", None, "NEW", "{}")),
            ("risk_decisions", (f"D-{order_id}", "default", order_id, created, True, "[]")),
            ("order_events", (f"{order_id}:1", order_id, "default", 1, filled, "ACCEPTED", "NEW", "OPEN", "{}")),
            ("order_events", (f"{order_id}:2", order_id, "default", 2, filled, "FILLED", "OPEN", "FILLED",
                              f'{{"quantity": {quantity}, "price": "{price}"}}')),
            ("trades", (f"T-b-{n}", order_id, "default", symbol, "MIS", side, quantity, price, fees, filled)),
            ("orders", (order_id, f"C-b-{n}", "default", symbol, side, "MARKET", "MIS", "DAY", quantity, None, None,
                        quantity, price, "FILLED", False, "[]", None, None, created, filled, 2, "regular", 0)),
            ("positions", ("default", symbol, "MIS", n % 3, price, Decimal("12.5"), fees * n, price, n, n, filled)),
            ("accounts", ("default", cash, filled, None, None, None, None)),
        ]
    return rows


async def measure_burst() -> None:
    rows = burst_rows(BURST_ORDERS)
    per_order = 1e6 / BURST_ORDERS

    # Through the buffers, as the in-memory OMS writes: appended per table, then one write.
    tables: dict[str, list[Write]] = {name: [] for name in TABLES}
    start = time.perf_counter()
    for row in rows:
        tables[row[0]].append(row)
    appending = time.perf_counter() - start
    start = time.perf_counter()
    prepared = [prepare(TABLES[name], writes) for name, writes in tables.items() if writes]
    preparing = time.perf_counter() - start
    start = time.perf_counter()
    for table, values in prepared:
        to_arrow(table, values)
    conversion = time.perf_counter() - start
    store = await open_store("duckdb:///:memory:")
    assert isinstance(store, DuckDBStore) and store.behind is not None
    try:
        store.behind.keep(rows)
        start = time.perf_counter()
        await store.behind.flush()
        total = time.perf_counter() - start
        assert store.behind.status()["rows"] == len(rows)
    finally:
        await store.close()
    print(
        f"write-behind burst of {BURST_ORDERS:,} orders ({len(rows):,} rows), DuckDB in memory, through the buffers: "
        f"appended per table {appending * per_order:.1f} µs per order (a Python loop here; the recorder appends "
        f"each row as it makes it), then one write of {total:.2f} s, {total * per_order:.1f} µs per order = "
        f"taking values and latest rows {preparing * per_order:.1f} + Arrow conversion {conversion * per_order:.1f} "
        f"+ DuckDB {(total - preparing - conversion) * per_order:.1f}"
    )

    # The same rows as one Store.write, the group-commit path.
    start = time.perf_counter()
    grouped = group_rows(rows)
    grouping = time.perf_counter() - start
    start = time.perf_counter()
    for table, batch in grouped.items():
        to_arrow(table, batch)
    conversion = time.perf_counter() - start
    store = await open_store("duckdb:///:memory:")
    try:
        start = time.perf_counter()
        await store.write(rows)
        total = time.perf_counter() - start
    finally:
        await store.close()
    print(
        f"the same rows as one Store.write: {total:.2f} s, {total * per_order:.1f} µs per order = grouping "
        f"{grouping * per_order:.1f} + Arrow conversion {conversion * per_order:.1f} + DuckDB "
        f"{(total - grouping - conversion) * per_order:.1f}"
    )


async def measure_trickle(orders: int = 1_000, gap: float = 0.002) -> None:
    """The in-memory OMS placing ``orders`` market orders ``gap`` seconds apart: the write path's cost when orders
    do not come in bursts."""
    limits = ok.RiskLimits(max_orders_per_second=None, duplicate_window_s=None, max_open_orders=None,
                           max_order_value=None)
    oms = await ok.OMS.open("duckdb:///:memory:", feed=None, limits=limits, cash=10**12)
    try:
        for i, symbol in enumerate(SYMBOLS):
            await oms.set_price(symbol, 1000 + 100 * i)
        await oms.flush()
        before = oms.status()["writes"]["transactions"]
        cpu, start = time.process_time(), time.perf_counter()
        for n in range(orders):
            side = "BUY" if n % 2 == 0 else "SELL"
            await oms.place_order(SYMBOLS[n % 5], side, 1 + n % 3 if side == "BUY" else 1 + (n - 1) % 3)
            await asyncio.sleep(gap)
        await oms.flush()
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        writes = oms.status()["writes"]["transactions"] - before
    finally:
        await oms.close()
    print(f"in-memory OMS, {orders:,} orders {gap * 1000:g} ms apart: {orders / elapsed:,.0f} orders/s, "
          f"CPU {cpu / orders * 1e6:,.0f} µs per order (all threads), {writes} writes")


async def main() -> None:
    await measure_burst()
    await measure_trickle()
    print(f"{WRITERS} writers x {ORDERS_PER_WRITER} orders, 3 rows each, each commit awaited")
    await measure("duckdb:///:memory:")
    with tempfile.TemporaryDirectory() as directory:
        await measure(f"duckdb:///{directory}/bench.duckdb")
    postgres = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OMS_KIT_DATABASE_URL")
    if postgres:
        await measure(postgres)
    else:
        print("PostgreSQL skipped: pass its URL as the first argument or set OMS_KIT_DATABASE_URL")


if __name__ == "__main__":
    asyncio.run(main())
