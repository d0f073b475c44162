"""Orders per second through the whole order path: place -> validate -> fill -> ledger -> committed.

    python benchmarks/bench_orders.py                     # DuckDB in memory, and PostgreSQL when a URL is known
    python benchmarks/bench_orders.py --orders 50000 --pg postgresql://postgres@127.0.0.1:5432/postgres
    python benchmarks/bench_orders.py --pg auto           # start a throwaway PostgreSQL cluster (tests/pgcluster.py)
    python benchmarks/bench_orders.py --only memory,postgresql --pg auto   # some backends only

Each order is a MARKET order that fills at once (alternating BUY and SELL so positions stay small), with the
Indian equity fee model and every pre-trade check on except the throttles that would stop a benchmark by design
(orders per second, duplicate window, open orders). ``place_order`` returns once the order's records — the order,
its transitions, the decision, the trade, the position and cash — are committed, so the figure includes the
database. Sequential: one caller awaits each order. Concurrent: N callers at once, which group commit turns into
few transactions. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import oms_kit as ok

SYMBOLS = ["RELIANCE", "TCS", "INFY", "HDFCBANK", "SBIN"]
LIMITS = ok.RiskLimits(max_orders_per_second=None, duplicate_window_s=None, max_open_orders=None,
                       max_order_value=None)


async def run(url: str, orders: int, callers: int) -> dict[str, float]:
    oms = await ok.OMS.open(url, feed=None, limits=LIMITS, cash=10**12)
    for i, symbol in enumerate(SYMBOLS):
        await oms.set_price(symbol, 1000.0 + i * 100)
    latencies: list[float] = []
    per_caller = orders // callers

    async def caller(k: int) -> None:
        for i in range(per_caller):
            symbol = SYMBOLS[(k + i) % len(SYMBOLS)]
            side = "BUY" if i % 2 == 0 else "SELL"
            start = time.perf_counter()
            order = await oms.place_order(symbol, side, 1 + i % 3 if side == "BUY" else 1 + (i - 1) % 3)
            latencies.append(time.perf_counter() - start)
            if order.status is not ok.OrderStatus.FILLED:
                raise RuntimeError(f"benchmark order not filled: {order!r} {order.violations}")

    transactions = oms.queue.transactions
    start = time.perf_counter()
    await asyncio.gather(*(caller(k) for k in range(callers)))
    await oms.flush()  # in memory the OMS writes behind: the run ends when the last record is committed
    elapsed = time.perf_counter() - start
    transactions = oms.queue.transactions - transactions
    await oms.close()
    latencies.sort()
    done = per_caller * callers
    return {
        "orders": done,
        "seconds": elapsed,
        "orders_per_s": done / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "transactions": transactions,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--callers", type=int, default=100)
    parser.add_argument("--pg", default=os.environ.get("OMS_KIT_DATABASE_URL") or
                        os.environ.get("OMS_KIT_TEST_DATABASE_URL"),
                        help="PostgreSQL URL, or 'auto' to start a throwaway cluster (default: env URLs)")
    parser.add_argument("--only", default="memory,file,postgresql",
                        help="comma-separated backends to run: memory, file, postgresql (default: all)")
    args = parser.parse_args()
    only = {name.strip() for name in args.only.split(",")}

    backends: list[tuple[str, str]] = []
    if "memory" in only:
        backends.append(("duckdb memory", "duckdb:///:memory:"))
    cluster = None
    tmp = tempfile.mkdtemp(prefix="oms_kit_bench_")
    if "file" in only:
        backends.append(("duckdb file", f"duckdb:///{tmp}/bench.duckdb"))
    if "postgresql" not in only:
        args.pg = None
    elif args.pg == "auto":
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from pgcluster import PgCluster

        cluster = PgCluster()
        args.pg = cluster.start()
    if args.pg:
        backends.append(("postgresql", args.pg))
    elif "postgresql" in only:
        print("PostgreSQL: no URL (pass --pg URL or --pg auto); skipped")

    print(f"{'backend':<15} {'callers':>7} {'orders':>7} {'orders/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'commits':>8}")
    try:
        for name, url in backends:
            for callers in (1, args.callers):
                orders = args.orders if callers > 1 else max(args.orders // 4, 1)
                r = asyncio.run(run(url, orders, callers))
                print(f"{name:<15} {callers:>7} {r['orders']:>7} {r['orders_per_s']:>10,.0f} {r['p50_ms']:>8.2f} "
                      f"{r['p99_ms']:>8.2f} {r['transactions']:>8}")
                if url.startswith("duckdb:///") and not url.endswith(":memory:"):
                    Path(url.removeprefix("duckdb:///")).unlink(missing_ok=True)
    finally:
        if cluster is not None:
            cluster.stop()
            cluster.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main())
