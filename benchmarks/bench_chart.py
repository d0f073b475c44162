"""What the candlestick chart costs the kernel: a million one-minute bars shown a window at a time, and ticks into
a CandleBook.

    python benchmarks/bench_chart.py
    python benchmarks/bench_chart.py --bars 1000000 --fills 2000 --ticks 200000

Runs outside a kernel; each widget message is JSON-encoded and counted with its binary buffers, as the kernel's comm
would send it (the browser's drawing is not included). Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import comm
import numpy as np
import pandas as pd

from oms_kit.market.candles import CandleBook
from oms_kit.models import Fill, Side
from oms_kit.widgets.chart import CandleChart

SENT: list[int] = []


def counting_comm() -> None:
    def publish_msg(self: Any, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None,
                    **keys: Any) -> None:
        SENT.append(len(json.dumps(data, default=str)) + sum(memoryview(b).nbytes for b in buffers or ()))

    comm.DummyComm.publish_msg = publish_msg  # type: ignore[method-assign]


def bars(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    close = np.abs(1000 + np.cumsum(rng.normal(0, 0.5, n))) + 10
    return pd.DataFrame({"timestamp": pd.date_range("2022-01-03 03:45", periods=n, freq="1min", tz="UTC"),
                         "symbol": "X", "open": close, "high": close + 1, "low": close - 1, "close": close,
                         "volume": 100.0})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--fills", type=int, default=2_000)
    parser.add_argument("--ticks", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    counting_comm()
    table = bars(args.bars)
    stamps = pd.DatetimeIndex(table["timestamp"])
    step = max(1, args.bars // max(1, args.fills))
    fills = [Fill(f"T{k}", f"O{k}", "X", Side.BUY if k % 2 else Side.SELL, 1, Decimal(1000),
                  ts=stamps[i].to_pydatetime()) for k, i in enumerate(range(0, args.bars, step))]

    start = time.perf_counter()
    chart = CandleChart.from_bars(table, fills)
    built = time.perf_counter() - start
    first = max(SENT)
    rows = [("chart of the bars built (load_bars, 1m candles, first window)", f"{built:.2f} s"),
            ("largest message of the first display", f"{first / 1e3:,.0f} kB")]

    times, sizes = [], []
    before = int(chart.shown.time[0])
    for _ in range(args.requests):
        SENT.clear()
        start = time.perf_counter()
        chart._handle_msg({"content": {"data": {"method": "custom", "content": {
            "type": "more", "before": before, "revision": chart.revision}}}, "buffers": []})
        times.append(time.perf_counter() - start)
        sizes.append(SENT[-1])
        before = int(chart.older(before).time[0])
    rows.append((f"a request for the 2,000 candles before (median of {args.requests})",
                 f"{statistics.median(times) * 1000:.1f} ms, {statistics.median(sizes) / 1e3:,.0f} kB"))
    for interval in ("5m", "15m", "1d"):
        SENT.clear()
        start = time.perf_counter()
        chart.show(interval=interval)
        rows.append((f"switch to {interval} (resample once, then the window)",
                     f"{(time.perf_counter() - start) * 1000:.0f} ms, {sum(SENT) / 1e3:,.0f} kB"))
    chart.close()

    book = CandleBook()
    t0 = datetime(2026, 1, 5, 3, 45, tzinfo=UTC)
    ticks = [(t0 + timedelta(seconds=k * 0.25), 1000.0 + (k % 50)) for k in range(args.ticks)]
    start = time.perf_counter()
    for ts, price in ticks:
        book.on_price(ts, "X", price, 1.0)
    per_tick = (time.perf_counter() - start) / args.ticks
    rows.append(("CandleBook.on_price (four intervals)", f"{per_tick * 1e6:.1f} µs a tick"))

    print(f"\nCandlestick chart: {args.bars:,} one-minute bars, {len(fills):,} fills\n")
    print(f"| {'measure':<66} | {'figure':>18} |")
    print(f"|{'-' * 68}|{'-' * 19}:|")
    for name, value in rows:
        print(f"| {name:<66} | {value:>18} |")


if __name__ == "__main__":
    main()
