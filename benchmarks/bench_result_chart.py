"""Chart cost: building ``result.chart()`` of a long run, and what ``ctx.plot`` adds to a backtest.

    python benchmarks/bench_result_chart.py                 # a million one-minute bars
    python benchmarks/bench_result_chart.py --bars 200000

Prints, for a backtest over ``--bars`` one-minute bars of one symbol: the run of a crossover strategy with and
without two ``ctx.plot`` calls per bar (best of ``--repeat``, CPU seconds, so other processes on the machine
count less), then the time to build its chart (data and HTML) at the data's own bars (a window of 5,000), at 5
minutes and at a day, with the HTML's size.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import oms_kit as ok  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_backtest", ROOT / "benchmarks" / "bench_backtest.py")
bench_backtest = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(bench_backtest)  # type: ignore[union-attr]


class Plotting(bench_backtest.Crossover):
    """The benchmark's crossover, plotting its two running sums on every bar."""

    def on_bar(self, ctx: ok.StrategyContext, bar: ok.Bar) -> None:
        super().on_bar(ctx, bar)
        ctx.plot("fast", self.fast_sum / self.fast)
        ctx.plot("slow", self.slow_sum / self.slow)


def best_of(repeat: int, run) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    best, value = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        started = time.process_time()
        value = run()
        best = min(best, time.process_time() - started)
    return best, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    bars = ok.load_bars(bench_backtest.make_bars(args.bars))
    print(f"{len(bars):,} one-minute bars of one symbol; Python {sys.version.split()[0]}")

    def backtest(strategy: ok.Strategy) -> ok.BacktestResult:
        return ok.backtest(strategy, bars, cash=bench_backtest.CASH, fees=None, progress=False)

    plain, _ = best_of(args.repeat, lambda: backtest(bench_backtest.Crossover()))
    plotted, result = best_of(args.repeat, lambda: backtest(Plotting()))
    per_plot = (plotted - plain) / (2 * len(bars)) * 1e9
    print(f"  crossover                {plain:7.2f} s  {len(bars) / plain:12,.0f} bars/s")
    print(f"  crossover + 2 ctx.plot   {plotted:7.2f} s  {len(bars) / plotted:12,.0f} bars/s  "
          f"({per_plot:,.0f} ns a plot)")
    for interval in (None, "5m", "1d"):
        seconds, chart = best_of(1, lambda i=interval: result.chart("RELIANCE", i))  # type: ignore[union-attr]
        html_s, page = best_of(1, chart.html)  # type: ignore[union-attr]
        data = chart.data  # type: ignore[union-attr]
        print(f"  chart {interval or 'bars':5} {len(data.candles):6,} of {data.total:9,} candles, "
              f"{len(data.markers):5,} fills: data {seconds:5.2f} s, HTML {html_s:5.2f} s, "
              f"{len(page) / 1e6:5.2f} MB")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
