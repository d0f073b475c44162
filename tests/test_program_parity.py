"""Order programs and GTTs from a strategy (ctx.bracket, ctx.cover, ctx.trail, ctx.iceberg, ctx.gtt): the same fills
in a backtest and in a paper replay of the same bars, each type on its own, with ok.compare all "same"."""

from __future__ import annotations

from decimal import Decimal

import pytest

import oms_kit as ok
from tests.test_paper import fill_rows, open_replay_oms, order_rows, sample


class EveryKind(ok.Strategy):
    """Every few bars, when flat and nothing of its own is working, one standing order of the chosen kind."""

    kind = "bracket"
    every = 40

    def on_start(self, ctx):
        self.programs = []
        self.gtts = []
        self.fills = []
        self.count = 0

    def on_bar(self, ctx, bar):
        self.count += 1
        if self.count % self.every or ctx.position(bar.symbol) or ctx.open_orders(bar.symbol):
            return
        if any(g.status == "active" and g.symbol == bar.symbol for g in self.gtts):
            return
        price = Decimal(str(bar.close))
        tick = ctx.round_price(bar.symbol, float(price) * 0.002) or Decimal("0.05")
        below = ctx.round_price(bar.symbol, bar.close - float(tick))
        if self.kind == "bracket":
            self.programs.append(ctx.bracket(bar.symbol, "BUY", 5, "LIMIT", below, target=tick * 2, stoploss=tick))
        elif self.kind == "bracket_trail":
            self.programs.append(ctx.bracket(bar.symbol, "BUY", 5, "MARKET", target=tick * 4, stoploss=tick,
                                             trail=tick))
        elif self.kind == "cover":
            self.programs.append(ctx.cover(bar.symbol, "SELL", 5, stoploss=tick, trail_percent=0.2))
        elif self.kind == "trail":
            ctx.buy(bar.symbol, 5)
            self.programs.append(ctx.trail(bar.symbol, "SELL", 5, points=tick * 2))
        elif self.kind == "iceberg":
            self.programs.append(ctx.iceberg(bar.symbol, "BUY", 20, "LIMIT", below, legs=4))
            ctx.sell(bar.symbol, 20, "LIMIT", ctx.round_price(bar.symbol, bar.close + float(tick)))
        elif self.kind == "gtt":
            ctx.buy(bar.symbol, 5)  # an exit for it, one cancelling the other
            exit_ = ok.OrderRequest(bar.symbol, "SELL", 5, "MARKET")
            stop, target = exit_, exit_
            self.gtts.append(ctx.gtt(bar.symbol, [below - tick, price + tick], [stop, target], kind="two-leg"))

    def on_fill(self, ctx, fill):
        self.fills.append(fill)


KINDS = ["bracket", "bracket_trail", "cover", "trail", "iceberg", "gtt"]


@pytest.mark.parametrize("kind", KINDS)
async def test_each_kind_fills_the_same_in_a_backtest_and_a_paper_replay(kind):
    data = sample(3_000)
    reference = EveryKind(kind=kind)
    result = ok.backtest(reference, data)

    oms = await open_replay_oms(data)
    try:
        live = EveryKind(kind=kind)
        trader = await ok.paper_trade(live, oms=oms, feed=ok.ReplayFeed(data, speed=None))
        await trader

        assert len(result.fills) >= 6, result.fills
        assert order_rows(trader.placed) == order_rows(result.placed)
        assert fill_rows(trader.fills) == fill_rows(result.fills)
        assert fill_rows(live.fills) == fill_rows(reference.fills)  # the legs' fills reach on_fill
        drift = ok.compare(result, trader)
        assert len(drift) == len(result.fills) and set(drift["status"]) == {"same"}
        if kind == "gtt":
            assert [g.status for g in live.gtts] == [g.status for g in reference.gtts]
            assert any(g.status == "triggered" for g in reference.gtts)
        else:
            assert [p.status for p in live.programs] == [p.status for p in reference.programs]
            assert "complete" in {p.status for p in reference.programs}
            assert oms.programs()["status"].tolist() == [p.status for p in reference.programs]
    finally:
        await oms.close()
