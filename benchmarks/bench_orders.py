"""Orders per second through the whole order path: place -> validate -> fill -> ledger -> committed.

    python benchmarks/bench_orders.py                     # DuckDB in memory, and PostgreSQL when a URL is known
    python benchmarks/bench_orders.py --orders 50000 --pg postgresql://postgres@127.0.0.1:5432/postgres
    python benchmarks/bench_orders.py --pg auto           # start a throwaway PostgreSQL cluster (tests/pgcluster.py)
    python benchmarks/bench_orders.py --only memory,postgresql --pg auto   # some backends only
    python benchmarks/bench_orders.py --pairs 6           # in memory against backtesting.py, run for run

Each order is a MARKET order that fills at once (alternating BUY and SELL so positions stay small), with the
Indian equity fee model and every pre-trade check on except the throttles that would stop a benchmark by design
(orders per second, duplicate window, open orders). ``place_order`` returns once the order's records — the order,
its transitions, the decision, the trade, the position and cash — are committed, so the figure includes the
database. Sequential: one caller awaits each order. Concurrent: N callers at once (``--callers 100,1000``), which
group commit turns into few transactions. Each run uses an account of its own, so it starts empty even on a database
that earlier runs filled.

Columns: orders/s; p50/p99 latency of ``place_order``; commits (transactions) and rows per commit; commit p50, the
median time of one ``Store.write`` (encoding, server work and the commit's flush to disk); in memory, where the rows
wait in the store's buffers, commits and rows are the buffers' writes (``status()["writes"]``) and commit p50 is 0
(those writes do not go through ``Store.write``); client CPU per order, the
process's CPU time (all its threads) over the run divided by the orders, which on PostgreSQL is the Python side alone
(the server runs in its own processes); and on PostgreSQL on this machine, server CPU per order, the CPU time of
the server's processes (read from /proc, so the server's own writers count too; "-" when it is elsewhere). The two CPU
figures move less than the rate when other work shares the machine. Write %: the share of the run after the last
``place_order`` returned, waiting for the last records (in memory, the write of everything the burst recorded, as
the timer's second outlasts a burst; on a durable store nearly nothing, as each order waited for its own). Collector
%: the share of the run spent in the garbage collector's pauses, during which no order moves (a full collection
stalls every caller at once, which is where a durable store's p99 comes from). Prints a table; asserts nothing.

With PostgreSQL, the run also measures the database itself, in the two figures the order-path targets were set
against (on the machine they were set on, about 3,300 single-row autocommit inserts a second through asyncpg, and
about 100,000 rows a second in 200-row executemany transactions): the machine's speed moves from day to day on
shared hardware, and these two say how fast it is today. The in-memory figure is Python's speed alone, so when
backtesting.py is installed (``pip install -e '.[bench]'``) the run also times it on a market order every bar over
100,000 bars, bench_backtest.py's every_bar workload (about 47,000 filled orders/s where the targets were set; its
cost per bar grows with the bars, so the size matters). The last lines scale each target by these figures: what
it asks of this machine on this day.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import oms_kit as ok
from oms_kit import compiled

SYMBOLS = ["RELIANCE", "TCS", "INFY", "HDFCBANK", "SBIN"]
LIMITS = ok.RiskLimits(max_orders_per_second=None, duplicate_window_s=None, max_open_orders=None,
                       max_order_value=None)


async def run(url: str, orders: int, callers: int) -> dict[str, float]:
    oms = await ok.OMS.open(url, feed=None, limits=LIMITS, cash=10**12, account=f"bench-{uuid.uuid4().hex[:8]}")
    for i, symbol in enumerate(SYMBOLS):
        await oms.set_price(symbol, 1000.0 + i * 100)
    latencies: list[float] = []
    commit_seconds: list[float] = []
    per_caller = orders // callers
    write = oms.store.write

    async def timed_write(rows: Sequence[Any]) -> None:
        start = time.perf_counter()
        try:
            await write(rows)
        finally:
            commit_seconds.append(time.perf_counter() - start)

    async def caller(k: int) -> None:
        for i in range(per_caller):
            symbol = SYMBOLS[(k + i) % len(SYMBOLS)]
            side = "BUY" if i % 2 == 0 else "SELL"
            start = time.perf_counter()
            order = await oms.place_order(symbol, side, 1 + i % 3 if side == "BUY" else 1 + (i - 1) % 3)
            latencies.append(time.perf_counter() - start)
            if order.status is not ok.OrderStatus.FILLED:
                raise RuntimeError(f"benchmark order not filled: {order!r} {order.violations}")

    await oms.flush()
    server_cpu = _server_cpu(oms.store)
    oms.store.write = timed_write  # type: ignore[method-assign]  # the queue looks it up on each transaction
    transactions, rows = written(oms)
    server_start = server_cpu()
    cpu = time.process_time()
    start = time.perf_counter()
    with _CollectorClock() as collector:
        await asyncio.gather(*(caller(k) for k in range(callers)))
        placed = time.perf_counter()
        await oms.flush()  # in memory the OMS writes behind: the run ends when the last record is committed
        elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    server_end = server_cpu()
    after = written(oms)
    transactions, rows = after[0] - transactions, after[1] - rows
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
        "rows_per_commit": rows / max(transactions, 1),
        "commit_p50_ms": statistics.median(commit_seconds) * 1000 if commit_seconds else 0.0,
        "cpu_us_per_order": cpu / done * 1e6,
        "write_share": (start + elapsed - placed) / elapsed,
        "collector_share": collector.seconds / elapsed,
        "server_cpu_us_per_order": (float("nan") if server_start is None or server_end is None
                                    else (server_end - server_start) / done * 1e6),
    }


class _CollectorClock:
    """The garbage collector's pauses while the block runs, added up (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._began = 0.0

    def __enter__(self) -> _CollectorClock:
        gc.callbacks.append(self._tick)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._tick)

    def _tick(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._began


def _server_cpu(store: Any) -> Any:
    """For a PostgreSQL server on this machine: a function giving the CPU seconds (user and system) that its
    processes (every process named ``postgres``: the OMS's sessions and the server's own writers) have used so far,
    or None for another store or when no such process can be read."""
    if not getattr(store, "url", "").startswith("postgres"):
        return lambda: None
    ticks = os.sysconf("SC_CLK_TCK")

    def seconds() -> float | None:
        total, found = 0, False
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                name, rest = stat.read_text().split(" (", 1)[1].rsplit(")", 1)
            except (OSError, IndexError, ValueError):  # a process that ended meanwhile
                continue
            if name == "postgres":
                fields = rest.split()
                total += int(fields[11]) + int(fields[12])  # utime and stime
                found = True
        return total / ticks if found else None

    return seconds


def written(oms: ok.OMS) -> tuple[int, int]:
    """Transactions and rows committed so far: the write queue's, or in memory the store's buffers'."""
    writes = oms.status()["writes"]
    return writes["transactions"], writes["rows"]


async def scale(url: str, singles: int = 3_000, batched: int = 60_000) -> tuple[float, float]:
    """The database's own speed, on a plain table of five columns: single-row autocommit inserts a second, and
    rows a second in 200-row executemany transactions (both through asyncpg, as the OMS writes)."""
    import asyncpg

    connection = await asyncpg.connect(url)
    table = f"oms_kit_bench_scale_{uuid.uuid4().hex[:8]}"
    insert = f"INSERT INTO {table} VALUES ($1, $2, $3, $4, $5)"
    now = datetime.now(UTC)
    try:
        # An ordinary (logged) table: a temporary one skips the write-ahead log and would flatter the figures.
        await connection.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, symbol text, quantity integer, "
                                 "price numeric(18, 4), ts timestamptz)")
        start = time.perf_counter()
        for i in range(singles):
            await connection.execute(insert, i, "RELIANCE", 5, Decimal("2500.05"), now)
        single_rate = singles / (time.perf_counter() - start)
        start = time.perf_counter()
        for first in range(singles, singles + batched, 200):
            async with connection.transaction():
                await connection.executemany(
                    insert, [(first + k, "RELIANCE", 5, Decimal("2500.05"), now) for k in range(200)])
        return single_rate, batched / (time.perf_counter() - start)
    finally:
        await connection.execute(f"DROP TABLE IF EXISTS {table}")
        await connection.close()


def python_scale(bars: int = 100_000) -> float | None:
    """backtesting.py's filled orders a second with a market order every bar, or None when it is not installed."""
    try:
        import backtesting  # noqa: F401
    except ImportError:
        return None
    import contextlib
    import io

    import bench_backtest

    with contextlib.redirect_stderr(io.StringIO()):  # its progress bar
        figures = bench_backtest.run_backtesting("every_bar", bench_backtest.make_bars(bars))
    return figures["filled_orders"] / figures["seconds"]


def pairs(count: int, callers: int, orders: int) -> int:
    """Alternate backtesting.py's every-bar run and the in-memory OMS ``count`` times; print each pair's ratio and
    the median, next to the targets' ratio (20,000 / 47,000): the machine's drift moves both runs of a pair alike."""
    target = 20_000 / 47_000
    ratios: list[float] = []
    for k in range(1, count + 1):
        reference = python_scale()
        if reference is None:
            print("--pairs needs backtesting.py: pip install -e '.[bench]'")
            return 1
        if k == 1:
            print(f"{'pair':>4} {'backtesting.py orders/s':>24} {'oms_kit memory orders/s':>24} {'ratio':>7}")
        ours = asyncio.run(run("duckdb:///:memory:", orders, callers))["orders_per_s"]
        ratios.append(ours / reference)
        print(f"{k:>4} {reference:>24,.0f} {ours:>24,.0f} {ratios[-1]:>7.3f}", flush=True)
    print(f"median ratio {statistics.median(ratios):.3f}; the targets' ratio is 20,000 / 47,000 = {target:.3f}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--callers", default="1,100",
                        help="comma-separated numbers of concurrent callers, one run each (default: 1,100)")
    parser.add_argument("--pg", default=os.environ.get("OMS_KIT_DATABASE_URL") or
                        os.environ.get("OMS_KIT_TEST_DATABASE_URL"),
                        help="PostgreSQL URL, or 'auto' to start a throwaway cluster (default: env URLs)")
    parser.add_argument("--only", default="memory,file,postgresql",
                        help="comma-separated backends to run: memory, file, postgresql (default: all)")
    parser.add_argument("--pairs", type=int, default=0,
                        help="instead of the table: this many alternating runs of backtesting.py and the in-memory "
                             "OMS (with the last --callers count), and their ratios")
    args = parser.parse_args()
    only = {name.strip() for name in args.only.split(",")}
    try:
        caller_counts = [int(n) for n in args.callers.split(",")]
    except ValueError:
        caller_counts = []
    if not caller_counts or min(caller_counts) < 1:
        parser.error(f"--callers was {args.callers!r}: give comma-separated positive integers such as 1,100,1000")
    if args.pairs:
        return pairs(args.pairs, caller_counts[-1], args.orders)

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

    try:
        if args.pg:
            single_rate, batched_rate = asyncio.run(scale(args.pg))
            print(f"This PostgreSQL: {single_rate:,.0f} single-row autocommit inserts/s, {batched_rate:,.0f} rows/s in "
                  "200-row executemany transactions (where the targets were set: about 3,300 and 100,000)")
        python_rate = python_scale() if "memory" in only else None
        if python_rate is not None:
            print(f"This Python: backtesting.py fills {python_rate:,.0f} orders/s with a market order every bar "
                  "(where the targets were set: about 47,000)")
        print(f"oms_kit's order path: {compiled.describe()}")
        in_memory: dict[int, float] = {}  # callers -> orders/s, DuckDB in memory
        print(f"{'backend':<15} {'callers':>7} {'orders':>7} {'orders/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'commits':>8} {'rows/commit':>11} {'commit p50 ms':>13} {'CPU us/order':>12} "
              f"{'server CPU us/order':>19} {'write %':>7} {'collector %':>11}")
        for name, url in backends:
            for callers in caller_counts:
                orders = args.orders if callers > 1 else max(args.orders // 4, 1)
                r = asyncio.run(run(url, orders, callers))
                server_us = r["server_cpu_us_per_order"]
                server = "-" if server_us != server_us else f"{server_us:.0f}"  # NaN: not measured
                print(f"{name:<15} {callers:>7} {r['orders']:>7} {r['orders_per_s']:>10,.0f} {r['p50_ms']:>8.2f} "
                      f"{r['p99_ms']:>8.2f} {r['transactions']:>8} {r['rows_per_commit']:>11.1f} "
                      f"{r['commit_p50_ms']:>13.2f} {r['cpu_us_per_order']:>12.0f} {server:>19} "
                      f"{r['write_share']:>7.0%} {r['collector_share']:>11.0%}", flush=True)
                if url.endswith(":memory:"):
                    in_memory[callers] = r["orders_per_s"]
                if url.startswith("duckdb:///") and not url.endswith(":memory:"):
                    Path(url.removeprefix("duckdb:///")).unlink(missing_ok=True)
        if python_rate is not None:
            print(f"Target for DuckDB in memory, scaled to this Python: 20,000 x {python_rate:,.0f} / 47,000 = "
                  f"{20_000 * python_rate / 47_000:,.0f} orders/s")
            for callers, rate in in_memory.items():
                # The order path's target (issue "Order path speed"): at least backtesting.py's every-bar rate.
                print(f"DuckDB in memory, {callers} callers: {rate / python_rate:.2f}x backtesting.py's every-bar "
                      "rate (target: 1.0x)")
        if args.pg:
            print(f"Target for PostgreSQL, scaled to this server: 10,000 x {batched_rate:,.0f} / 100,000 = "
                  f"{10_000 * batched_rate / 100_000:,.0f} orders/s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if cluster is not None:
            cluster.stop()
            cluster.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main())
