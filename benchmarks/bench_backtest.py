"""Backtest speed: oms_kit next to other engines, on the same synthetic one-minute bars, in one run.

    python benchmarks/bench_backtest.py                  # every engine that is installed
    python benchmarks/bench_backtest.py --engines oms_kit --bars 200000 --profile

Three workloads, each as the engines' users would write it:

* crossover: a 10/30 moving-average crossover, long or short 100 shares, over ``--bars`` one-minute bars;
* nothing: a strategy that does nothing over the same bars (the engine's own cost per bar);
* every bar: a market order on every bar (buy when flat, sell when long) over ``--order-bars`` bars; every order
  fills at the next bar's open.

``seconds`` is the run; ``with_stats_s`` adds building the results' statistics (oms_kit builds its equity curve and
stats after the run, when first read; backtesting.py computes them inside ``run()``).

No fees, no slippage. oms_kit runs every order through the full pre-trade validator (its default limits), the
order state machine, the mock broker and the ledger. Other engines run when importable: backtesting.py and
backtrader (``pip install -e '.[bench]'``) and NautilusTrader (``nautilus_trader``; it wants pandas < 3, so it
usually lives in its own environment: pass ``--nautilus-python /path/to/python`` and this script runs that part
there, on the same bars, and prints its figures in the same table).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import oms_kit as ok  # noqa: E402
from oms_kit import compiled  # noqa: E402

FAST, SLOW, SIZE = 10, 30, 100
CASH = 10_000_000


def make_bars(count: int) -> pd.DataFrame:
    """``count`` one-minute bars of one NSE-like symbol, from data/make_nse_minute.py (seeded)."""
    spec = importlib.util.spec_from_file_location("make_nse_minute", ROOT / "data" / "make_nse_minute.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    days = -(-count // module.SESSION_MINUTES)
    frame = module.minute_bars({"RELIANCE": 2500.0}, days=days, seed=11)
    return frame.iloc[:count].reset_index(drop=True)


# -- oms_kit ---------------------------------------------------------------------------------------------------


class Crossover(ok.Strategy):
    """10/30 crossover with running sums: O(1) per bar, as an event-driven strategy would keep it."""

    fast = FAST
    slow = SLOW
    size = SIZE
    history = 0

    def on_start(self, ctx: ok.StrategyContext) -> None:
        self.window: deque[float] = deque()
        self.fast_sum = self.slow_sum = 0.0
        self.above: bool | None = None

    def on_bar(self, ctx: ok.StrategyContext, bar: ok.Bar) -> None:
        close = bar.close
        window = self.window
        window.append(close)
        self.fast_sum += close
        self.slow_sum += close
        if len(window) > self.fast:
            self.fast_sum -= window[-self.fast - 1]
        if len(window) > self.slow:
            self.slow_sum -= window.popleft()
        elif len(window) < self.slow:
            return
        above = self.fast_sum * self.slow > self.slow_sum * self.fast
        if above is not self.above:
            if self.above is not None:
                held = ctx.position(bar.symbol)
                target = self.size if above else -self.size
                ctx.order(bar.symbol, "BUY" if target > held else "SELL", abs(target - held))
            self.above = above


class Nothing(ok.Strategy):
    """Does nothing: what is left is the engine's cost per bar (recent bars kept, as by default)."""


class EveryBar(ok.Strategy):
    """A market order on every bar: buy when flat, sell when long."""

    history = 0

    def on_bar(self, ctx: ok.StrategyContext, bar: ok.Bar) -> None:
        ctx.order(bar.symbol, "SELL" if ctx.position(bar.symbol) > 0 else "BUY", 1)


def run_oms_kit(workload: str, bars: pd.DataFrame, profile: bool) -> dict[str, Any]:
    strategy = {"crossover": Crossover, "nothing": Nothing, "every_bar": EveryBar}[workload]()
    frame = ok.load_bars(bars)
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler()
        profiler.start()
    gc.collect()
    started = time.perf_counter()
    result = ok.backtest(strategy, frame, cash=CASH, fees=None, progress=False)
    ran = time.perf_counter() - started
    stats = result.stats
    total = time.perf_counter() - started
    if profiler is not None:
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False, show_all=False))
    filled = int((result.orders["status"] == "FILLED").sum()) if workload == "every_bar" else None
    return {"seconds": ran, "seconds_with_stats": total, "fills": int(stats["trades"]), "filled_orders": filled,
            "rejected": int(stats["rejected_orders"])}


# -- backtesting.py --------------------------------------------------------------------------------------------


def run_backtesting(workload: str, bars: pd.DataFrame) -> dict[str, Any]:
    from backtesting import Backtest, Strategy

    def sma(values: Any, n: int) -> Any:
        return pd.Series(values).rolling(n).mean()

    class BtCross(Strategy):
        def init(self) -> None:
            self.fast = self.I(sma, self.data.Close, FAST)
            self.slow = self.I(sma, self.data.Close, SLOW)

        def next(self) -> None:
            from backtesting.lib import crossover

            if crossover(self.fast, self.slow):
                self.position.close()
                self.buy(size=SIZE)
            elif crossover(self.slow, self.fast):
                self.position.close()
                self.sell(size=SIZE)

    class BtNothing(Strategy):
        def init(self) -> None:
            pass

        def next(self) -> None:
            pass

    class BtEvery(Strategy):
        def init(self) -> None:
            pass

        def next(self) -> None:
            if self.position.size > 0:
                self.sell(size=1)
            else:
                self.buy(size=1)

    frame = bars.set_index("timestamp")[["open", "high", "low", "close", "volume"]]
    frame.index = frame.index.tz_localize(None)
    frame.columns = ["Open", "High", "Low", "Close", "Volume"]
    strategy = {"crossover": BtCross, "nothing": BtNothing, "every_bar": BtEvery}[workload]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        test = Backtest(frame, strategy, cash=CASH, commission=0, finalize_trades=True)
        gc.collect()
        started = time.perf_counter()
        stats = test.run()
        ran = time.perf_counter() - started
    # A trade of backtesting.py is a round trip: an entry fill and an exit fill.
    fills = 2 * len(stats["_trades"])
    return {"seconds": ran, "seconds_with_stats": ran, "fills": fills,
            "filled_orders": fills if workload == "every_bar" else None, "rejected": 0}


# -- backtrader ------------------------------------------------------------------------------------------------


def run_backtrader(workload: str, bars: pd.DataFrame) -> dict[str, Any]:
    import backtrader as bt

    class BtCross(bt.Strategy):
        def __init__(self) -> None:
            self.cross = bt.ind.CrossOver(bt.ind.SMA(period=FAST), bt.ind.SMA(period=SLOW))

        def next(self) -> None:
            if self.cross > 0:
                self.order_target_size(target=SIZE)
            elif self.cross < 0:
                self.order_target_size(target=-SIZE)

    class BtNothing(bt.Strategy):
        def next(self) -> None:
            pass

    class BtEvery(bt.Strategy):
        def next(self) -> None:
            if self.position.size > 0:
                self.sell(size=1)
            else:
                self.buy(size=1)

    class Fills(bt.Analyzer):
        def start(self) -> None:
            self.fills = 0

        def notify_order(self, order: Any) -> None:
            if order.status == order.Completed:
                self.fills += 1

        def get_analysis(self) -> dict[str, int]:
            return {"fills": self.fills}

    frame = bars.set_index("timestamp")[["open", "high", "low", "close", "volume"]]
    frame.index = frame.index.tz_localize(None)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame))
    cerebro.addstrategy({"crossover": BtCross, "nothing": BtNothing, "every_bar": BtEvery}[workload])
    cerebro.addanalyzer(Fills, _name="fills")
    cerebro.broker.setcash(CASH)
    gc.collect()
    started = time.perf_counter()
    (strategy,) = cerebro.run()
    ran = time.perf_counter() - started
    fills = strategy.analyzers.fills.get_analysis()["fills"]
    return {"seconds": ran, "seconds_with_stats": ran, "fills": fills,
            "filled_orders": fills if workload == "every_bar" else None, "rejected": 0}


# -- NautilusTrader (possibly in another Python) ---------------------------------------------------------------

NAUTILUS = Path(__file__).with_name("bench_backtest_nautilus.py")


def run_nautilus(workload: str, bars: pd.DataFrame, python: str, timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bars.parquet"
        bars.to_parquet(path, index=False)
        try:
            done = subprocess.run([python, str(NAUTILUS), workload, str(path)], capture_output=True, text=True,
                                  check=False, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"not finished after {timeout:.0f} s") from None
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the table -------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=1_000_000, help="bars for crossover and nothing")
    parser.add_argument("--order-bars", type=int, default=100_000, help="bars for every_bar")
    parser.add_argument("--engines", default="oms_kit,backtesting,backtrader,nautilus")
    parser.add_argument("--workloads", default="crossover,nothing,every_bar")
    parser.add_argument("--nautilus-python", default=sys.executable,
                        help="a Python with nautilus_trader installed (default: this one)")
    parser.add_argument("--nautilus-timeout", type=float, default=900, help="seconds before a NautilusTrader run is "
                        "given up")
    parser.add_argument("--profile", action="store_true", help="print a pyinstrument profile of oms_kit's runs")
    args = parser.parse_args()

    bars = make_bars(max(args.bars, args.order_bars))
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    print(f"{len(bars):,} one-minute bars of one symbol; Python {sys.version.split()[0]}; oms_kit's order path "
          f"{compiled.describe()}")
    rows = []
    for workload in workloads:
        data = bars.iloc[:args.order_bars] if workload == "every_bar" else bars.iloc[:args.bars]
        for engine in engines:
            try:
                if engine == "oms_kit":
                    figures = run_oms_kit(workload, data, args.profile)
                elif engine == "backtesting":
                    figures = run_backtesting(workload, data)
                elif engine == "backtrader":
                    figures = run_backtrader(workload, data)
                elif engine == "nautilus":
                    figures = run_nautilus(workload, data, args.nautilus_python, args.nautilus_timeout)
                else:
                    raise SystemExit(f"unknown engine {engine!r}")
            except ImportError as error:
                print(f"  {engine}: not installed ({error.name}), skipped")
                continue
            except RuntimeError as error:
                print(f"  {engine}: {error}, skipped")
                continue
            seconds = figures["seconds"]
            rate = (figures["filled_orders"] or 0) / seconds if workload == "every_bar" else len(data) / seconds
            rows.append({"workload": workload, "engine": engine, "bars": len(data), "seconds": round(seconds, 2),
                         "with_stats_s": round(figures["seconds_with_stats"], 2),
                         "rate": round(rate), "unit": "filled orders/s" if workload == "every_bar" else "bars/s",
                         "fills": figures["fills"], "rejected": figures["rejected"]})
            print(f"  {workload:10} {engine:12} {seconds:8.2f} s  {rate:12,.0f} "
                  f"{rows[-1]['unit']}  fills {figures['fills']:,}", flush=True)
    table = pd.DataFrame(rows)
    print()
    print(table.to_string(index=False))
    if not table.empty and "oms_kit" in set(table["engine"]):
        print()
        for workload, group in table.groupby("workload", sort=False):
            ours = group[group["engine"] == "oms_kit"]["seconds"]
            if ours.empty:
                continue
            for row in group[group["engine"] != "oms_kit"].itertuples():
                print(f"{workload}: oms_kit is {row.seconds / ours.iloc[0]:.2f}x the speed of {row.engine}")


if __name__ == "__main__":
    main()
