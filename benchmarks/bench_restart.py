"""Time to reopen an account that has 100,000 stored orders, on a DuckDB file and on PostgreSQL.

    python benchmarks/bench_restart.py                    # DuckDB file, and PostgreSQL when a URL is known
    python benchmarks/bench_restart.py --pg auto          # start a throwaway PostgreSQL cluster (tests/pgcluster.py)
    python benchmarks/bench_restart.py --orders 100000 --working 500 --pg postgresql://postgres@127.0.0.1/postgres

The history is made by the OMS's own OrderManager (no store attached, so no per-order commit) and its rows are
written through ``Store.write`` in batches of a few thousand orders: the rows are exactly those the OMS writes,
without 100,000 ``place_order`` round trips. About 99 % of the orders end (filled, cancelled, expired, rejected)
over some twenty days; the last ``--working`` stay working today (resting limits, pending stops, part-filled
limits). Then ``OMS.open`` is timed: connect, migration check, account lock, and recovery (cash, positions, working
orders and the broker's book, trading state, today's counts); then, apart, the first read of the day's book
(``load_day_book``: the day's ended orders and trades, which a reopen leaves for that moment). On PostgreSQL a
scratch database is created on the server and dropped at the end. Prints a table; asserts only that the reopened
account is the one written.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import oms_kit as ok
from oms_kit.events import EventBus
from oms_kit.instruments import resolve_instruments
from oms_kit.ledger import Ledger
from oms_kit.market.bars import Bar
from oms_kit.orders import OrderManager
from oms_kit.request import OrderRequest
from oms_kit.storage import Store, open_store
from oms_kit.storage.recorder import Recorder

START = datetime(2026, 1, 5, 3, 45, tzinfo=UTC)  # 09:15 in Mumbai
SECONDS_PER_ORDER = 17.0  # 100,000 orders span about twenty days
BATCH_ORDERS = 5_000
CASH = Decimal(10**12)
# Every check on but the throttles and caps a bulk history would trip by design.
LIMITS = ok.RiskLimits(max_orders_per_second=None, duplicate_window_s=None, max_open_orders=None,
                       max_order_value=None, price_collar_pct=None)


class History:
    """Generates an account's orders through a real OrderManager and hands over the rows it leaves."""

    def __init__(self, account: str) -> None:
        self.clock = ok.SimulatedClock(START)
        self.broker = ok.MockBroker(fees="india_equity")
        self.manager = OrderManager(account=account, broker=self.broker, ledger=Ledger(CASH, account),
                                    instruments=resolve_instruments(None), limits=LIMITS, bus=EventBus(),
                                    now=self.clock.now)
        self.recorder = self.manager.recorder = Recorder(account, self.manager.account_figures)
        self.symbols = sorted(self.manager.instruments)
        self.prices = {symbol: Decimal(500 + 250 * i) for i, symbol in enumerate(self.symbols)}
        for symbol, price in self.prices.items():
            self.manager.on_bar(Bar(self.clock.now(), symbol, *(float(price),) * 4))

    def ended(self, i: int) -> None:
        """One order that ends: 7 in 10 filled, then cancelled, expired (IOC), rejected (off the tick)."""
        manager, symbol = self.manager, self.symbols[i % len(self.symbols)]
        price, side, kind = self.prices[symbol], ("BUY", "SELL")[i // len(self.symbols) % 2], i % 10
        product = ("MIS", "NRML", "CNC")[i % 3] if side == "BUY" else "MIS"
        self.clock.advance(SECONDS_PER_ORDER)
        if kind < 7:
            manager.place(OrderRequest(symbol, side, 1 + i % 5, "MARKET", product=product))
        elif kind == 7:
            order = manager.place(OrderRequest(symbol, side, 3, "LIMIT", _away(price, side), product=product))
            manager.cancel(order.order_id)
        elif kind == 8:
            manager.place(OrderRequest(symbol, side, 3, "LIMIT", _away(price, side), product=product, validity="IOC"))
            manager.on_bar(Bar(self.clock.now(), symbol, *(float(price),) * 4))  # its one chance: the remainder expires
        else:
            manager.place(OrderRequest(symbol, side, 3, "LIMIT", price + Decimal("0.01"), product=product))

    def working(self, i: int) -> None:
        """One order left working: a resting limit, a pending stop or a part-filled limit."""
        manager, symbol = self.manager, self.symbols[i % len(self.symbols)]
        price = self.prices[symbol]
        self.clock.advance(1.0)
        if i % 10 < 6:
            manager.place(OrderRequest(symbol, "BUY", 5, "LIMIT", _away(price, "BUY")))
        elif i % 10 < 9:
            manager.place(symbol, "SELL", 5, "SL-M", trigger_price=_away(price, "BUY"))  # a stop below the market
        else:
            # Each part-filled limit a tick above the previous one of its symbol: the bar that part-fills it does
            # not reach the earlier ones.
            limit = (price * Decimal("0.95")).quantize(Decimal("0.05")) + Decimal("0.05") * (i // 10)
            order = manager.place(OrderRequest(symbol, "BUY", 10, "LIMIT", limit))
            self.broker.participation = 0.5
            manager.on_bar(Bar(self.clock.now(), symbol, *(float(limit),) * 4, 8))  # a bar of volume 8 fills 4 of 10
            self.broker.participation = None
            manager.on_bar(Bar(self.clock.now(), symbol, *(float(price),) * 4))
            assert order.status is ok.OrderStatus.PARTIALLY_FILLED, order


def _away(price: Decimal, side: str) -> Decimal:
    # A limit far enough from the market never to fill while the history is made (20 % below for a BUY).
    return (price * (Decimal("0.8") if side == "BUY" else Decimal("1.2"))).quantize(Decimal("0.05"))


async def fill(stores: list[Store], account: str, orders: int, working: int) -> tuple[History, float, list[float]]:
    """Write the account's history into every store; return the generator (its live state), the seconds taken in
    all and the seconds spent writing to each store."""
    history = History(account)
    started = time.perf_counter()
    ended = orders - working
    writing = [0.0] * len(stores)
    for first in range(0, orders, BATCH_ORDERS):
        for i in range(first, min(first + BATCH_ORDERS, orders)):
            if i < ended:
                history.ended(i)
            else:
                history.working(i - ended)
        rows = history.recorder.take()
        rows.append(history.recorder.account_row(history.clock.now()))
        for k, store in enumerate(stores):
            begun = time.perf_counter()
            await store.write(rows)
            writing[k] += time.perf_counter() - begun
    return history, time.perf_counter() - started, writing


async def reopen(url: str, account: str, now: datetime) -> tuple[float, ok.OMS]:
    started = time.perf_counter()
    oms = await ok.OMS.open(url, account=account, feed=None, risk_interval=None, limits=LIMITS,
                            clock=ok.SimulatedClock(now))
    return time.perf_counter() - started, oms


async def measure(url: str, history: History, account: str, runs: int) -> dict[str, object]:
    now = history.clock.now()
    times, empty, books = [], [], []
    for _ in range(runs):
        seconds, oms = await reopen(url, account, now)
        times.append(seconds)
        live = history.manager
        restored = oms.manager
        assert restored.ledger.cash == live.ledger.cash, (restored.ledger.cash, live.ledger.cash)
        assert set(restored.live) == set(live.live), "the working orders restored are not those written"
        assert len(restored.ledger.positions) == len(live.ledger.positions)
        working, placed_today = len(restored.live), restored.counts["placed"]
        began = time.perf_counter()
        oms.load_day_book()  # the rest of the day, read at the first look at the book
        books.append(time.perf_counter() - began)
        today = [o for o in live.orders.values() if o.created_at >= restored.day.began]
        assert len(restored.orders) == len(today) + sum(o.created_at < restored.day.began for o in live.live.values())
        await oms.close()
        seconds, oms = await reopen(url, f"{account}-empty", now)  # the fixed cost: a new, empty account
        empty.append(seconds)
        await oms.close()
    stored = await _count(url, account)
    return {"orders": stored, "working": working, "today": placed_today, "open_s": statistics.median(times),
            "min_s": min(times), "empty_s": statistics.median(empty), "book_s": statistics.median(books)}


async def _count(url: str, account: str) -> int:
    store = await open_store(url)
    try:
        return int((await store.fetch("SELECT count(*) AS n FROM orders WHERE account = $1", account))[0]["n"])
    finally:
        await store.close()


async def run(backends: list[tuple[str, str]], orders: int, working: int, runs: int) -> None:
    account = f"restart-{uuid.uuid4().hex[:8]}"
    stores = [await open_store(url) for _, url in backends]
    try:
        history, seconds, writing = await fill(stores, account, orders, working)
    finally:
        for store in stores:
            await store.close()
    trades = len(history.manager.trades)
    print(f"history: {orders:,} orders ({working} working), {trades:,} trades, "
          f"{len(history.manager.ledger.positions)} positions; made and written in {seconds:.1f} s (writing: "
          + ", ".join(f"{name} {w:.1f} s" for (name, _), w in zip(backends, writing, strict=True)) + ")")
    print(f"{'store':<22} {'orders':>8} {'working':>8} {'today':>7} {'reopen s':>9} {'min s':>7} {'empty s':>8} "
          f"{'day book s':>11}")
    for name, url in backends:
        r = await measure(url, history, account, runs)
        print(f"{name:<22} {r['orders']:>8,} {r['working']:>8} {r['today']:>7,} {r['open_s']:>9.3f} "
              f"{r['min_s']:>7.3f} {r['empty_s']:>8.3f} {r['book_s']:>11.3f}")


async def _scratch_database(server_url: str, drop: str | None = None) -> str:
    import asyncpg

    connection = await asyncpg.connect(server_url)
    try:
        if drop is not None:
            await connection.execute(f'DROP DATABASE IF EXISTS "{drop}" WITH (FORCE)')
            return drop
        name = f"oms_kit_bench_restart_{uuid.uuid4().hex[:8]}"
        await connection.execute(f'CREATE DATABASE "{name}"')
        return name
    finally:
        await connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--working", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3, help="reopens per store (the median is shown)")
    parser.add_argument("--pg", default=os.environ.get("OMS_KIT_DATABASE_URL") or
                        os.environ.get("OMS_KIT_TEST_DATABASE_URL"),
                        help="PostgreSQL server URL, or 'auto' to start a throwaway cluster (default: env URLs)")
    args = parser.parse_args()
    if not 0 < args.working < args.orders:
        parser.error("--working must be between 1 and --orders")

    tmp = tempfile.mkdtemp(prefix="oms_kit_bench_")
    backends = [("duckdb file", f"duckdb:///{tmp}/restart.duckdb")]
    cluster = database = None
    if args.pg == "auto":
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from pgcluster import PgCluster

        cluster = PgCluster()
        args.pg = cluster.start()
    try:
        if args.pg:
            database = asyncio.run(_scratch_database(args.pg))
            backends.append(("postgresql", urlunsplit(urlsplit(args.pg)._replace(path=f"/{database}"))))
        else:
            print("PostgreSQL: no URL (pass --pg URL or --pg auto); skipped")
        asyncio.run(run(backends, args.orders, args.working, args.runs))
    finally:
        Path(tmp, "restart.duckdb").unlink(missing_ok=True)
        Path(tmp, "restart.duckdb.wal").unlink(missing_ok=True)
        Path(tmp).rmdir()
        if database is not None:
            asyncio.run(_scratch_database(args.pg, drop=database))
        if cluster is not None:
            cluster.stop()
            cluster.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main())
