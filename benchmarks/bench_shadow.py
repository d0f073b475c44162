"""What a shadow (ok.shadow) costs the live OMS's order path, and how fast it catches up.

    python benchmarks/bench_shadow.py                 # 20,000 orders, in memory
    python benchmarks/bench_shadow.py --orders 50000

The live OMS places MARKET orders that fill at once (BUY and SELL in turn, five symbols, a price between orders),
sequentially, three times: with no subscriber, with a callback that does nothing subscribed to order and price
events (what any listener, the dashboard's panels too, makes the OMS do: a copy of the order for every event), and
with a shadow. Figures: orders/s and the p50/p99 latency of ``place_order`` on the live OMS (the live path: the
shadow's subscription only queues events), then how long the shadow took to mirror the backlog after the last
order (``drain``) and its events/s over the whole run. An in-memory ``place_order`` never yields to the event
loop, so this loop leaves the mirroring for the end: the backlog is the whole run (its queue is set large enough
here). Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import oms_kit as ok
from oms_kit.shadow import MAX_QUEUE

SYMBOLS = ["RELIANCE", "TCS", "INFY", "HDFCBANK", "SBIN"]
LIMITS = ok.RiskLimits(max_orders_per_second=None, duplicate_window_s=None, max_open_orders=None,
                       max_order_value=None)


async def run(orders: int, mode: str) -> dict[str, float]:
    live = await ok.OMS.open("duckdb:///:memory:", feed=None, limits=LIMITS, cash=10**12, risk_interval=None)
    for i, symbol in enumerate(SYMBOLS):
        await live.set_price(symbol, 1000.0 + i * 100)
    shadow = await ok.shadow(live, queue_size=MAX_QUEUE) if mode == "shadow" else None
    if mode == "subscriber":
        live.subscribe(lambda event: None, ("order", "price"))
    latencies: list[float] = []
    start = time.perf_counter()
    for i in range(orders):
        symbol = SYMBOLS[i % len(SYMBOLS)]
        begin = time.perf_counter()
        await live.place_order(symbol, "BUY" if (i // len(SYMBOLS)) % 2 == 0 else "SELL", 1, "MARKET")
        latencies.append(time.perf_counter() - begin)
        if i % 10 == 0:
            await live.set_price(symbol, 1000.0 + (i % 7))
    elapsed = time.perf_counter() - start
    figures = {"orders/s": orders / elapsed, "p50 us": statistics.median(latencies) * 1e6,
               "p99 us": statistics.quantiles(latencies, n=100)[98] * 1e6, "catch-up s": 0.0, "events/s": 0.0}
    if shadow is not None:
        behind = shadow.status()["behind"]
        caught = time.perf_counter()
        await shadow.drain()
        figures["catch-up s"] = time.perf_counter() - caught
        mirrored = shadow.status()
        events = mirrored["orders"] + mirrored["prices"]
        figures["events/s"] = events / (elapsed + figures["catch-up s"])
        print(f"  (shadow: {behind:,} events behind at the last order; {mirrored['orders']:,} orders mirrored, "
              f"{mirrored['errors']} errors, {mirrored['dropped']} dropped)")
        await shadow.close()
    await live.close()
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000)
    args = parser.parse_args()
    rows = [(mode, await run(args.orders, mode)) for mode in ("none", "subscriber", "shadow")]
    print(f"{'listener':<10} {'orders/s':>10} {'p50 us':>8} {'p99 us':>8} {'catch-up s':>11} {'events/s':>10}")
    for name, f in rows:
        print(f"{name:<10} {f['orders/s']:>10,.0f} {f['p50 us']:>8.1f} {f['p99 us']:>8.1f} {f['catch-up s']:>11.2f} "
              f"{f['events/s']:>10,.0f}")


if __name__ == "__main__":
    asyncio.run(main())
