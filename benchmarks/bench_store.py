"""Rows per second through WriteQueue (group commit) with 100 concurrent writers.

Each writer places orders one after another as the OMS does: it commits an order, its first event and its
risk decision (3 rows) and waits for the commit before the next one. Prints figures; asserts nothing.

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

from oms_kit.storage import Write, WriteQueue, open_store

WRITERS = 100
ORDERS_PER_WRITER = 50


def order_rows(run: str, writer: int, n: int) -> list[Write]:
    now = datetime.now(UTC)
    order_id = f"bench-{run}-{writer}-{n}"
    return [
        ("orders", (order_id, order_id, "bench", "RELIANCE", "BUY", "LIMIT", "MIS", "DAY", 10, Decimal("2500.05"),
                    None, 0, None, "OPEN", False, "[]", None, None, now, now, n)),
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


async def main() -> None:
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
