"""What the live dashboard costs the kernel: refresh time with 100 positions and 500 working orders, and a burst
of 1,000 fills.

    python benchmarks/bench_widgets.py
    python benchmarks/bench_widgets.py --positions 100 --orders 500 --fills 1000 --rounds 20
    python benchmarks/bench_widgets.py --standing 100   # and 100 GTTs and 100 brackets (resting entries) on top

Runs outside a kernel; each widget message is still built and JSON-encoded as the kernel would before sending it
(a counting stand-in for the comm), so the figures include the state a refresh sends to the browser, not the
browser's own drawing. Refresh cost: every price moves, then one panel redraws (median of ``--rounds``). Burst: the
fills arrive one per loop turn, as from a feed, while the dashboard is live; it reports the refreshes made, the
longest the loop was kept from other work, and the burst's time with and without the dashboard. Prints tables;
asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

import comm

import oms_kit as ok
from oms_kit.widgets import Dashboard

SENT = {"messages": 0, "bytes": 0}


def counting_comm() -> None:
    """Make every widget message JSON-encoded and counted (with its binary buffers), as the kernel's comm would
    encode it to send."""

    def publish_msg(self: Any, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None,
                    **keys: Any) -> None:
        SENT["messages"] += 1
        SENT["bytes"] += len(json.dumps(data, default=str)) + sum(memoryview(b).nbytes for b in buffers or ())

    comm.DummyComm.publish_msg = publish_msg  # type: ignore[method-assign]


async def open_book(positions: int, orders: int, standing: int = 0) -> tuple[ok.OMS, list[str]]:
    symbols = [f"S{i:03d}" for i in range(positions)]
    limits = ok.RiskLimits(max_orders_per_second=None, duplicate_window_s=None, max_open_orders=None,
                           max_order_value=None, max_position_quantity=100_000, max_gross_exposure=10**12)
    oms = await ok.OMS.open("duckdb:///:memory:", feed=None, risk_interval=None, limits=limits, cash=10**10,
                            instruments=[ok.Instrument(s) for s in symbols])
    for i, symbol in enumerate(symbols):
        await oms.set_price(symbol, 1000.0 + i)
        await oms.place_order(symbol, "BUY", 10 + i)
    for k in range(orders):
        symbol = symbols[k % positions]
        price = oms.instrument(symbol).round_price(float(oms.last_price(symbol)) * 0.95 - k // positions)
        order = await oms.place_order(symbol, "BUY", 1 + k % 7, "LIMIT", price=price)
        assert order.status is ok.OrderStatus.OPEN, order
    for k in range(standing):  # standing orders that stay active: triggers and entries far from the prices
        symbol = symbols[k % positions]
        far = oms.instrument(symbol).round_price(float(oms.last_price(symbol)) * 0.92)  # inside the 10 % collar
        await oms.place_gtt(symbol, far, ok.OrderRequest(symbol, "SELL", 1))
        program = await oms.place_bracket(symbol, "BUY", 1, "LIMIT", far, target=10, stoploss=5, trail=2)
        assert program.status == "active", program
    await oms.flush()
    return oms, symbols


async def move_prices(oms: ok.OMS, symbols: list[str], step: int) -> None:
    for i, symbol in enumerate(symbols):
        await oms.set_price(symbol, 1000.0 + i + (step % 5) * 0.5)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


async def refresh_costs(args: argparse.Namespace) -> None:
    oms, symbols = await open_book(args.positions, args.orders, args.standing)
    SENT.update(messages=0, bytes=0)
    start = time.perf_counter()
    dashboard = Dashboard(oms)
    built = time.perf_counter() - start
    print(f"\nRefresh cost: {args.positions} positions, {args.orders} working orders "
          f"(orders panel shows {dashboard.orders.max_rows}), {args.standing} GTTs and {args.standing} brackets, "
          f"median of {args.rounds} rounds\n")
    print(f"first display (all panels built): {ms(built)} ms, {SENT['messages']:,} messages, "
          f"{SENT['bytes'] / 1e3:,.0f} kB\n")
    print(f"| {'panel':<14} | {'refresh ms':>10} | {'messages':>8} | {'kB sent':>8} |")
    print(f"|{'-' * 16}|{'-' * 12}:|{'-' * 9}:|{'-' * 9}:|")
    total = 0.0
    for panel in dashboard.panels:
        times, messages, sent = [], [], []
        for r in range(args.rounds):
            await move_prices(oms, symbols, r)
            SENT.update(messages=0, bytes=0)
            start = time.perf_counter()
            panel.refresh_now()
            times.append(time.perf_counter() - start)
            messages.append(SENT["messages"])
            sent.append(SENT["bytes"])
        cost = statistics.median(times)
        total += cost
        print(f"| {type(panel).__name__:<14} | {ms(cost):>10} | {statistics.median(messages):>8.0f} | "
              f"{statistics.median(sent) / 1e3:>8.1f} |")
        assert not panel.errors, panel.errors
    print(f"| {'all panels':<14} | {ms(total):>10} | {'':>8} | {'':>8} |")
    dashboard.close()
    await oms.close()


async def burst(args: argparse.Namespace, with_dashboard: bool) -> dict[str, Any]:
    oms, symbols = await open_book(args.positions, args.orders, args.standing)
    dashboard = Dashboard(oms) if with_dashboard else None
    await asyncio.sleep(0.5)
    if dashboard is not None:
        await dashboard.settle()
        before = sum(p.refreshes for p in dashboard.panels)
    stalls: list[float] = []
    running = True

    async def probe() -> None:  # how long the loop keeps a 1 ms timer waiting: what a click would wait
        while running:
            start = time.perf_counter()
            await asyncio.sleep(0.001)
            stalls.append(time.perf_counter() - start - 0.001)

    probing = asyncio.get_running_loop().create_task(probe())
    SENT.update(messages=0, bytes=0)
    start = time.perf_counter()
    for k in range(args.fills):
        symbol = symbols[k % len(symbols)]
        order = await oms.place_order(symbol, "SELL" if k % 2 else "BUY", 1)
        assert order.status is ok.OrderStatus.FILLED, order
        await asyncio.sleep(0)  # one fill per loop turn, as a feed delivers them
    elapsed = time.perf_counter() - start
    if dashboard is not None:
        await dashboard.settle()
    settled = time.perf_counter() - start
    running = False
    await probing
    result = {"burst_s": elapsed, "settled_s": settled, "max_stall_ms": max(stalls) * 1000,
              "messages": SENT["messages"], "kB": SENT["bytes"] / 1e3}
    if dashboard is not None:
        result["refreshes"] = sum(p.refreshes for p in dashboard.panels) - before
        result["per_panel"] = {type(p).__name__: p.refreshes for p in dashboard.panels}
        dashboard.close()
    await oms.close()
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=100)
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--fills", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--standing", type=int, default=0, help="GTTs and brackets (each) on the book besides")
    args = parser.parse_args()
    counting_comm()
    await refresh_costs(args)

    plain = await burst(args, with_dashboard=False)
    live = await burst(args, with_dashboard=True)
    print(f"\nBurst: {args.fills:,} MARKET orders filled one per loop turn, {args.positions} positions and "
          f"{args.orders} working orders on the book\n")
    print(f"| {'dashboard':<9} | {'burst s':>7} | {'fills/s':>7} | {'refreshes (all panels)':>22} | "
          f"{'longest loop stall ms':>21} | {'messages':>8} | {'kB sent':>7} |")
    print(f"|{'-' * 11}|{'-' * 8}:|{'-' * 8}:|{'-' * 23}:|{'-' * 22}:|{'-' * 9}:|{'-' * 8}:|")
    for label, r in (("off", plain), ("on", live)):
        print(f"| {label:<9} | {r['burst_s']:>7.2f} | {args.fills / r['burst_s']:>7,.0f} | "
              f"{r.get('refreshes', 0):>22} | {r['max_stall_ms']:>21.1f} | {r['messages']:>8,} | {r['kB']:>7,.0f} |")
    print(f"\nrefreshes per panel during the burst (counts since the dashboard opened): {live['per_panel']}")


if __name__ == "__main__":
    asyncio.run(main())
