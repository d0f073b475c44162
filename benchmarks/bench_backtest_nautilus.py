"""The NautilusTrader side of bench_backtest.py: one workload over a parquet file of bars, figures as JSON.

    python benchmarks/bench_backtest_nautilus.py crossover /tmp/bars.parquet

Run by bench_backtest.py, with the Python given by ``--nautilus-python`` (NautilusTrader wants pandas < 3, so it
usually has an environment of its own). The strategies mirror bench_backtest.py's: a 10/30 simple moving average
crossover (long or short 100), nothing, a market order on every bar.
"""

from __future__ import annotations

import json
import sys
import time

import pandas as pd
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig, StrategyConfig
from nautilus_trader.indicators import SimpleMovingAverage
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide
from nautilus_trader.model.identifiers import InstrumentId, Symbol, TraderId, Venue
from nautilus_trader.model.instruments import Equity
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.persistence.wranglers import BarDataWrangler
from nautilus_trader.trading.strategy import Strategy

FAST, SLOW, SIZE = 10, 30, 100


class BenchConfig(StrategyConfig, frozen=True):
    instrument_id: InstrumentId
    bar_type: BarType
    workload: str


class Bench(Strategy):
    def __init__(self, config: BenchConfig) -> None:
        super().__init__(config)
        self.fast = SimpleMovingAverage(FAST)
        self.slow = SimpleMovingAverage(SLOW)
        self.above: bool | None = None
        self.workload = config.workload

    def on_start(self) -> None:
        if self.workload == "crossover":
            self.register_indicator_for_bars(self.config.bar_type, self.fast)
            self.register_indicator_for_bars(self.config.bar_type, self.slow)
        self.subscribe_bars(self.config.bar_type)

    def _market(self, side: OrderSide, quantity: int) -> None:
        order = self.order_factory.market(self.config.instrument_id, side, Quantity.from_int(quantity))
        self.submit_order(order)

    def on_bar(self, bar: Bar) -> None:
        if self.workload == "nothing":
            return
        instrument_id = self.config.instrument_id
        held = int(self.portfolio.net_position(instrument_id))
        if self.workload == "every_bar":
            self._market(OrderSide.SELL if held > 0 else OrderSide.BUY, 1)
            return
        if not self.slow.initialized:
            return
        above = self.fast.value > self.slow.value
        if above != self.above:
            if self.above is not None:
                target = SIZE if above else -SIZE
                self._market(OrderSide.BUY if target > held else OrderSide.SELL, abs(target - held))
            self.above = above


def main() -> None:
    workload, path = sys.argv[1], sys.argv[2]
    frame = pd.read_parquet(path).set_index("timestamp")[["open", "high", "low", "close", "volume"]]
    venue = Venue("XNSE")
    instrument = Equity(
        instrument_id=InstrumentId(Symbol("RELIANCE"), venue), raw_symbol=Symbol("RELIANCE"), currency=USD,
        price_precision=2, price_increment=Price.from_str("0.01"), lot_size=Quantity.from_int(1), ts_event=0,
        ts_init=0,
    )
    engine = BacktestEngine(BacktestEngineConfig(trader_id=TraderId("BENCH-001"),
                                                 logging=LoggingConfig(log_level="ERROR")))
    engine.add_venue(venue, oms_type=OmsType.NETTING, account_type=AccountType.MARGIN, base_currency=USD,
                     starting_balances=[Money(10_000_000, USD)])
    engine.add_instrument(instrument)
    bar_type = BarType.from_str(f"{instrument.id}-1-MINUTE-LAST-EXTERNAL")
    bars = BarDataWrangler(bar_type, instrument).process(frame)
    engine.add_data(bars)
    engine.add_strategy(Bench(BenchConfig(instrument_id=instrument.id, bar_type=bar_type, workload=workload)))
    started = time.perf_counter()
    engine.run()
    seconds = time.perf_counter() - started
    fills = engine.trader.generate_order_fills_report()
    filled = len(fills)
    print(json.dumps({"seconds": seconds, "seconds_with_stats": seconds, "fills": filled,
                      "filled_orders": filled if workload == "every_bar" else None, "rejected": 0}))


if __name__ == "__main__":
    main()
