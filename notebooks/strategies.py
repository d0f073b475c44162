"""Strategies used by the tutorial notebooks.

They live in a module, not in a notebook cell, so that the worker processes of a parameter sweep can import them.
"""

from __future__ import annotations

from typing import Any

import oms_kit as ok


class SmaCrossover(ok.Strategy):
    """Long while the fast moving average of the closes is above the slow one; flat otherwise.

    Each position opens with about ``allocation`` of money (whole shares) by a market order, which fills at the
    next bar's open, and closes the same way when the fast average falls back under the slow one.
    """

    fast = 20
    slow = 100
    allocation = 100_000
    product = "MIS"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.history = max(self.history, self.slow)  # keep enough bars for the slow average

    def on_bar(self, ctx: ok.StrategyContext, bar: ok.Bar) -> None:
        closes = ctx.closes(bar.symbol, self.slow)
        if len(closes) < self.slow or ctx.open_orders(bar.symbol):
            return  # not enough history yet, or an order of this symbol is still on its way
        fast = sum(closes[-self.fast:]) / self.fast
        slow = sum(closes) / self.slow
        held = ctx.position(bar.symbol)
        if fast > slow and held == 0:
            quantity = int(self.allocation // bar.close)
            if quantity > 0:
                ctx.buy(bar.symbol, quantity, product=self.product)
        elif fast < slow and held > 0:
            ctx.sell(bar.symbol, held, product=self.product)
