"""Sweeps and walk-forward: the default process pool against a Dask cluster, on the same work, in one run.

    python benchmarks/bench_walkforward.py                    # a LocalCluster of 2 worker processes
    python benchmarks/bench_walkforward.py --workers 4 --scheduler tcp://host:8786   # a cluster of your own

The work: a 10/30-style moving-average crossover over ``data/nse_minute.parquet`` (five symbols, 37,500 one-minute
bars), a grid of ``--sets`` parameter sets; then a walk-forward of the same grid (train 6 days, test 3 days, by
total return). Each runs on the local process pool (``max_workers=--workers``) and on the cluster
(``executor=client``), twice each: the first cluster run also starts and warms its workers (imports, the bars
scattered). The results are checked equal before the figures print. On one machine the cluster cannot beat the
pool (same cores, more messages); it pays off when its workers are other machines' cores.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import oms_kit as ok  # noqa: E402 - after the path above, so the checkout's package is measured

DATA = ROOT / "data" / "nse_minute.parquet"
TIMING = ["elapsed_s", "bars_per_second"]


class Crossover(ok.Strategy):
    fast = 10
    slow = 30

    def on_bar(self, ctx, bar):
        closes = ctx.closes(bar.symbol, self.slow)
        if len(closes) < self.slow:
            return
        fast, slow, held = sum(closes[-self.fast:]) / self.fast, sum(closes) / self.slow, ctx.position(bar.symbol)
        if fast > slow and held <= 0:
            ctx.buy(bar.symbol, 10 - held)
        elif fast < slow and held >= 0:
            ctx.sell(bar.symbol, 10 + held)


def grid_of(sets: int) -> list[dict[str, int]]:
    fasts = [3, 5, 8, 10, 13, 15, 20, 25]
    slows = [30, 40, 50, 60, 80]
    return [{"fast": f, "slow": s} for s in slows for f in fasts][:sets]


def timed(run) -> tuple[float, object]:
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="processes of the pool and of the LocalCluster")
    parser.add_argument("--sets", type=int, default=12, help="parameter sets in the grid (up to 40)")
    parser.add_argument("--scheduler", help="address of a running Dask scheduler instead of a LocalCluster")
    args = parser.parse_args()

    from distributed import Client, LocalCluster

    bars = ok.load_bars(DATA)
    grid = grid_of(args.sets)
    options = dict(fees=None)
    walk = dict(train="6D", test="3D", objective="total_return")
    rows = []
    started = time.perf_counter()
    cluster = None if args.scheduler else LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                                       processes=True, dashboard_address=None)
    client = Client(args.scheduler or cluster)
    startup = time.perf_counter() - started
    try:
        for attempt in (1, 2):
            local_s, local = timed(lambda: ok.sweep(Crossover, grid, data=bars, max_workers=args.workers, **options))
            remote_s, remote = timed(lambda: ok.sweep(Crossover, grid, data=bars, executor=client, **options))
            pd.testing.assert_frame_equal(local.drop(columns=TIMING), remote.drop(columns=TIMING))
            rows.append({"work": f"sweep, {len(grid)} sets x {len(bars):,} bars", "run": attempt,
                         "process pool s": local_s, "cluster s": remote_s})
            local_s, here = timed(lambda: ok.walk_forward(Crossover, grid, bars, max_workers=args.workers, **walk,
                                                          **options))
            remote_s, there = timed(lambda: ok.walk_forward(Crossover, grid, bars, executor=client, **walk,
                                                            **options))
            pd.testing.assert_frame_equal(here.windows, there.windows)
            pd.testing.assert_series_equal(here.equity, there.equity)
            rows.append({"work": f"walk-forward, {len(here.windows)} windows x {len(grid)} sets", "run": attempt,
                         "process pool s": local_s, "cluster s": remote_s})
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    print(f"cluster start: {startup:.2f} s ({args.workers} worker processes)" if cluster is not None
          else f"scheduler: {args.scheduler}")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    print("results equal: yes (every stat but elapsed_s and bars_per_second; the walk-forward's windows and equity)")


if __name__ == "__main__":
    main()
