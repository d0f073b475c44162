"""``python -m oms_kit demo``: a short paper-trading session in the terminal, on the embedded default database.

Random-walk prices, one order of each type, fills, a rejection with its reason, a cancel, then the orders, fills,
positions and P&L as tables. It is what a newcomer without a browser runs first, at any hour: the random walk keeps
a session of its own, open at any hour, instead of NSE's (its first lines say so).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pandas as pd
from tqdm import tqdm

from oms_kit.market.feeds import RandomWalkFeed
from oms_kit.oms import OMS
from oms_kit.risk import RiskLimits

SYMBOLS = {"RELIANCE": 2500.0, "TCS": 3900.0, "INFY": 1500.0}


async def run_demo(seconds: float = 3.0, seed: int = 7, url: str | None = "duckdb:///:memory:") -> OMS:
    """Run the demo session and print it; returns the (closed) OMS for inspection."""
    feed = RandomWalkFeed(SYMBOLS, interval=0.05, volatility=0.15, seed=seed)
    oms = await OMS.open(url, feed=feed, limits=RiskLimits(max_order_quantity=500))
    try:
        await _wait_for_prices(oms)
        say = tqdm.write
        last = oms.manager.prices
        status = oms.status()
        say(f"oms_kit demo: {status['backend']} ({'durable' if status['durable'] else 'in memory'}), "
            f"random-walk prices for {', '.join(SYMBOLS)}")
        # The walk keeps a session of its own, so the demo trades at any hour; the line says so.
        say(f"market hours: {status['market_hours']}")

        buy = await oms.place_order("RELIANCE", "BUY", 10, "MARKET", tag="demo")
        say(f"MARKET buy 10 RELIANCE: {buy.status} at {buy.average_price}")

        below = _tick(last["TCS"] * Decimal("0.999"))
        resting = await oms.place_order("TCS", "BUY", 5, "LIMIT", price=below, tag="demo")
        say(f"LIMIT buy 5 TCS at {below}, just below the market: {resting.status}")

        stop = _tick(last["RELIANCE"] * Decimal("0.995"))
        stop_loss = await oms.place_order("RELIANCE", "SELL", 10, "SL-M", trigger_price=stop, tag="demo")
        say(f"SL-M sell 10 RELIANCE, trigger {stop}: {stop_loss.status} (protects the long)")

        breakout = _tick(last["INFY"] * Decimal("1.001"))
        stop_limit = await oms.place_order("INFY", "BUY", 20, "SL", price=_tick(breakout * Decimal("1.002")),
                                           trigger_price=breakout, tag="demo")
        say(f"SL buy 20 INFY, trigger {breakout}: {stop_limit.status} (buys a breakout)")

        far = _tick(last["INFY"] * Decimal("0.98"))
        ioc = await oms.place_order("INFY", "BUY", 5, "LIMIT", price=far, validity="IOC", tag="demo")
        say(f"IOC buy 5 INFY at {far}, 2% below the market: {ioc.status} ({ioc.reason})")

        rejected = await oms.place_order("TCS", "BUY", 1000, "LIMIT", price=last["TCS"], tag="demo")
        say(f"LIMIT buy 1000 TCS: {rejected.status} — " + "; ".join(str(v) for v in rejected.violations))

        cheap = _tick(last["TCS"] * Decimal("0.97"))
        unwanted = await oms.place_order("TCS", "BUY", 5, "LIMIT", price=cheap, tag="demo")
        await oms.cancel_order(unwanted.order_id, "demo: no longer wanted")
        say(f"LIMIT buy 5 TCS at {cheap}, 3% below the market, then cancelled: {unwanted.status}")

        steps = max(1, int(seconds / 0.05))
        for _ in tqdm(range(steps), desc="paper trading", unit="tick", leave=False):
            await asyncio.sleep(0.05)

        await oms.square_off(reason="demo: end of session")
        await oms.flush()
        _print_tables(oms)
    finally:
        await oms.close()
    return oms


async def _wait_for_prices(oms: OMS) -> None:
    while not all(symbol in oms.manager.prices for symbol in SYMBOLS):
        await asyncio.sleep(0.01)


def _tick(value: Decimal) -> Decimal:
    return (value / Decimal("0.05")).to_integral_value() * Decimal("0.05")


def _print_tables(oms: OMS) -> None:
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 40):
        print("\nOrders")
        columns = ["order_id", "symbol", "side", "order_type", "validity", "quantity", "price", "trigger_price",
                   "filled_quantity", "average_price", "status", "reason"]
        print(oms.orders()[columns].to_string(index=False))
        print("\nFills")
        print(oms.trades().to_string(index=False))
        print("\nPositions")
        print(oms.positions()[["symbol", "product", "quantity", "average_price", "last_price", "realized_pnl",
                               "unrealized_pnl", "fees"]].to_string(index=False))
        stats = oms.stats_today()
        print("\nP&L")
        print(pd.Series({k: stats[k] for k in ("orders_placed", "orders_filled", "orders_rejected",
                                                "orders_cancelled", "trades", "turnover", "fees", "realized_pnl",
                                                "unrealized_pnl")}).to_string())
