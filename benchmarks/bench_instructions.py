"""CPU instructions per order, counted by valgrind: a figure the machine's load does not move.

    python benchmarks/bench_instructions.py              # oms and backtest, 3,000 orders each
    python benchmarks/bench_instructions.py --orders 2000 --workloads oms
    python benchmarks/bench_instructions.py --workloads backtest,backtesting   # next to backtesting.py

Wall-clock figures on a shared 2-core machine move by a third between runs; an instruction count moves by well
under 1 %, so it shows whether a change to the order path made it cheaper. Each workload runs twice under
``valgrind --tool=callgrind`` (Debian package ``valgrind``), once without its orders, and the difference is divided
by the number of orders, so imports and start-up cancel out. Valgrind runs Python about 50x slower: a few minutes.

* ``oms``: ``OMS.place_order`` on DuckDB in memory, MARKET orders that fill at once (as bench_orders.py), and the
  write of their records (the write-behind, committed when the OMS closes).
* ``backtest``: ``ok.backtest`` with a market order on every bar (as bench_backtest.py's every_bar workload).
* ``backtesting``: the same workload on backtesting.py (``pip install -e '.[bench]'``), the engine the speed targets
  were set against: its count is the work the reference does per order, on any machine. Its baseline is a run of
  BASE_ORDERS bars, as importing it and its first run cost more than a few thousand orders.

Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKLOADS = ("oms", "backtest", "backtesting")
BASE_ORDERS = 300


def child(workload: str, orders: int) -> None:
    """The measured program: ``orders`` orders of ``workload`` (0: only the set-up)."""
    import asyncio

    sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
    import oms_kit as ok

    if workload in ("backtest", "backtesting"):
        import bench_backtest

        frame = bench_backtest.make_bars(max(orders, 1) + 1)
        if workload == "backtesting":  # imports and a run of BASE_ORDERS bars even for the baseline
            bench_backtest.run_backtesting("every_bar", frame)
        elif orders:
            bars = ok.load_bars(frame)
            ok.backtest(bench_backtest.EveryBar(), bars, cash=bench_backtest.CASH, fees=None, progress=False)
        return

    import bench_orders

    async def run() -> None:
        oms = await ok.OMS.open("duckdb:///:memory:", feed=None, limits=bench_orders.LIMITS, cash=10**12)
        for i, symbol in enumerate(bench_orders.SYMBOLS):
            await oms.set_price(symbol, 1000.0 + i * 100)
        for i in range(orders):
            side = "BUY" if i % 2 == 0 else "SELL"
            await oms.place_order(bench_orders.SYMBOLS[i % 5], side, 1 + i % 3 if side == "BUY" else 1 + (i - 1) % 3)
        await oms.close()

    asyncio.run(run())


def count(workload: str, orders: int) -> int:
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__,
               "--child", workload, "--orders", str(orders)]
    # A fixed hash seed: set and dict layouts, and so the instruction count, are the same from run to run. One BLAS
    # thread: numpy's OpenBLAS pool otherwise spins waiting for work, and under valgrind that spin added up to 2,500
    # instructions an order that came and went from run to run (callgrind's blas_thread_server).
    environment = {**os.environ, "PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                   "MKL_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=environment)
    match = re.search(r"Collected : (\d+)", done.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{done.stderr[-2000:]}")
    return int(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=3_000)
    parser.add_argument("--workloads", default="oms,backtest")
    parser.add_argument("--child", choices=WORKLOADS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.orders)
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian: apt-get install valgrind)")
        return 1
    from oms_kit import compiled

    print(f"order path: {compiled.describe()}")
    print(f"{'workload':<10} {'orders':>7} {'instructions/order':>19}")
    for workload in (name.strip() for name in args.workloads.split(",")):
        if workload not in WORKLOADS:
            parser.error(f"unknown workload {workload!r}: choose from {', '.join(WORKLOADS)}")
        base = BASE_ORDERS if workload == "backtesting" else 0
        per_order = (count(workload, args.orders) - count(workload, base)) / (args.orders - base)
        print(f"{workload:<10} {args.orders:>7} {per_order:>19,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
