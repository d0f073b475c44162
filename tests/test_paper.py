"""ok.paper_trade: the same Strategy live against an OMS; parity with the backtest; ok.compare."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

import oms_kit as ok
from oms_kit.models import OrderStatus
from tests.stubs import bar_frame

ROOT = Path(__file__).resolve().parents[1]


class Busy(ok.Strategy):
    """Market, limit and stop orders, cancels and orders from on_fill: enough to catch any drift."""

    fast = 5
    slow = 15
    size = 5

    def on_start(self, ctx):
        self.fills = []
        self.updates = []
        self.stopped = 0

    def on_bar(self, ctx, bar):
        for order in ctx.open_orders(bar.symbol):
            if order.order_type is ok.OrderType.LIMIT and order.created_at < ctx.now:
                ctx.cancel(order)
        closes = ctx.closes(bar.symbol, self.slow)
        if len(closes) < self.slow:
            return
        fast, slow = sum(closes[-self.fast:]) / self.fast, sum(closes) / self.slow
        held = ctx.position(bar.symbol)
        if fast > slow and held <= 0:
            ctx.buy(bar.symbol, self.size - held)
        elif fast < slow and held >= 0:
            ctx.sell(bar.symbol, self.size + held, "LIMIT", price=ctx.round_price(bar.symbol, bar.close * 1.0005))

    def on_fill(self, ctx, fill):
        self.fills.append(fill)
        if fill.side is ok.Side.BUY:  # a protective stop under every buy
            stop = ctx.round_price(fill.symbol, float(fill.price) * 0.995)
            ctx.sell(fill.symbol, fill.quantity, "SL-M", trigger_price=stop, tag="stop")

    def on_order(self, ctx, order):
        self.updates.append((order.symbol, order.side.value, order.status.value))

    def on_stop(self, ctx):
        self.stopped += 1


def sample(rows: int = 2_400) -> pd.DataFrame:
    frame = pd.read_parquet(ROOT / "data" / "nse_minute.parquet")
    return frame[frame["symbol"].isin(["TCS", "SBIN", "INFY"])].iloc[:rows].reset_index(drop=True)


async def open_replay_oms(data: pd.DataFrame, **options) -> ok.OMS:
    start = data["timestamp"].iloc[0].to_pydatetime()
    broker = options.pop("broker", None) or ok.MockBroker(immediate_market_fills=False)
    return await ok.OMS.open(feed=None, clock=ok.SimulatedClock(start), risk_interval=None, broker=broker,
                             **options)


def fill_rows(fills):
    return [(f.symbol, f.side, f.quantity, f.price, f.fees, f.ts) for f in fills]


def order_rows(orders):
    return [(o.symbol, o.side, o.order_type, o.quantity, o.price, o.trigger_price, o.status, o.filled_quantity,
             o.average_price, o.created_at, o.tag, tuple(v.code for v in o.violations)) for o in orders]


async def test_paper_replay_at_full_speed_gives_the_backtests_orders_and_fills():
    data = sample()
    reference = Busy()
    result = ok.backtest(reference, data)

    oms = await open_replay_oms(data)
    try:
        live = Busy()
        trader = await ok.paper_trade(live, oms=oms, feed=ok.ReplayFeed(data, speed=None))
        await trader

        assert len(result.fills) > 100 and result.stats["rejected_orders"] == 0
        # The sample spans days: stops still resting when one ends expire, in both runs alike.
        assert {o.status for o in result.placed} >= {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED}
        assert order_rows(trader.placed) == order_rows(result.placed)
        assert fill_rows(trader.fills) == fill_rows(result.fills)
        assert fill_rows(live.fills) == fill_rows(reference.fills)
        assert live.updates == reference.updates
        assert oms.manager.ledger.equity() == result.manager.ledger.equity()
        drift = ok.compare(result, trader)
        assert len(drift) == len(result.fills)
        assert set(drift["status"]) == {"same"}
        assert set(ok.compare(result, oms)["status"]) == {"same"}  # the OMS holds only this strategy's orders
        assert live.stopped == 1
        filled = sum(o.status is OrderStatus.FILLED for o in result.placed)
        assert trader.stats == {"orders": len(result.placed), "filled": filled, "rejected": 0, "rejections": {},
                                "fills": len(result.fills)}
    finally:
        await oms.close()


async def test_a_backtest_and_a_paper_replay_pay_the_same_spread_fill_for_fill():
    data = sample(1_200)
    plain = ok.backtest(Busy(), data)
    result = ok.backtest(Busy(), data, spread_bps=5)

    oms = await open_replay_oms(data, broker=ok.MockBroker(immediate_market_fills=False, spread_bps=5))
    try:
        trader = await ok.paper_trade(Busy(), oms=oms, feed=ok.ReplayFeed(data, speed=None))
        await trader

        assert len(result.fills) > 20
        # The spread is paid: the fills are not those of the run without it, and the account ends poorer.
        assert fill_rows(result.fills) != fill_rows(plain.fills)
        assert result.manager.ledger.equity() < plain.manager.ledger.equity()
        assert fill_rows(trader.fills) == fill_rows(result.fills)
        drift = ok.compare(result, trader)
        assert len(drift) == len(result.fills) and set(drift["status"]) == {"same"}
    finally:
        await oms.close()


def unknown_symbols(data: pd.DataFrame) -> pd.DataFrame:
    """``data`` with its symbols renamed to ones missing from the default instrument list."""
    renamed = data.copy()
    renamed["symbol"] = "MY" + renamed["symbol"]
    return renamed


async def test_a_replay_of_the_users_own_symbols_trades_as_the_backtest_does_with_the_same_warning():
    data = unknown_symbols(sample(900))
    with pytest.warns(UserWarning) as from_backtest:
        result = ok.backtest(Busy(), data)

    feed = ok.ReplayFeed(data, speed=None)
    # Opened as the README shows it (the risk monitor running too).
    oms = await ok.OMS.open(feed=None, clock=ok.SimulatedClock(feed.start),
                            broker=ok.MockBroker(immediate_market_fills=False))
    try:
        with pytest.warns(UserWarning) as from_paper:
            trader = await ok.paper_trade(Busy(), oms=oms, feed=feed)
            await trader

        assert [str(w.message) for w in from_paper] == [str(w.message) for w in from_backtest]
        (message,) = {str(w.message) for w in from_paper}
        assert "no instrument definition for " in message and "tick 0.01, lot 1" in message
        assert sorted(message.split(": ")[0].removeprefix("no instrument definition for ").split(", ")) == sorted(
            data["symbol"].unique())
        assert from_paper[0].filename == __file__
        for symbol in data["symbol"].unique():
            assert oms.instrument(symbol) == result.manager.instruments[symbol]
        assert len(result.fills) > 50 and trader.stats["rejected"] == 0
        assert fill_rows(trader.fills) == fill_rows(result.fills)
        drift = ok.compare(result, trader)
        assert len(drift) == len(result.fills) and set(drift["status"]) == {"same"}
    finally:
        await oms.close()


async def test_a_replay_symbol_the_oms_defines_keeps_its_definition_without_a_warning():
    data = unknown_symbols(sample(300))
    mine = [ok.Instrument(symbol, tick_size="0.05") for symbol in data["symbol"].unique()]
    oms = await open_replay_oms(data, instruments=mine)
    try:
        trader = await ok.paper_trade(Busy(), oms=oms, feed=ok.ReplayFeed(data, speed=None))  # errors on a warning
        await trader
        assert [oms.instrument(i.symbol) for i in mine] == mine
        assert {f.price % Decimal("0.05") for f in trader.fills} == {0}
    finally:
        await oms.close()


async def test_define_instruments_adds_new_symbols_and_refuses_to_change_a_known_one():
    oms = await ok.OMS.open(feed=None, risk_interval=None)
    try:
        acme = ok.Instrument("ACME", tick_size="0.01", lot_size=10)
        oms.define_instruments([acme])
        oms.define_instruments([acme, oms.instrument("SBIN")])  # the same definitions again: nothing changes
        assert oms.instrument("ACME") == acme
        with pytest.raises(ok.ConfigError, match=r"invalid instruments \(symbol SBIN is already defined\)"):
            oms.define_instruments([ok.Instrument("SBIN", tick_size="0.01")])
        assert oms.instrument("SBIN").tick_size == Decimal("0.05")
        with pytest.raises(ok.ConfigError, match="invalid instruments: 'ACME'"):
            oms.define_instruments(["ACME"])  # type: ignore[list-item]
    finally:
        await oms.close()


class BuyEveryBar(ok.Strategy):
    symbol: str | None = None  # None: the bar's own symbol

    def on_start(self, ctx):
        self.orders = []

    def on_bar(self, ctx, bar):
        self.orders.append(ctx.buy(self.symbol or bar.symbol, 1))


async def test_a_paper_run_whose_every_order_is_rejected_warns_as_the_backtest_does_and_its_stats_say_why():
    data = bar_frame([(100.0, 101.0, 99.0, 100.0)] * 6)
    with pytest.warns(UserWarning) as from_backtest:
        result = ok.backtest(BuyEveryBar(symbol="NOPE"), data)  # a symbol neither in the data nor in the list
    oms = await open_replay_oms(data)
    try:
        with pytest.warns(UserWarning) as from_paper:
            trader = await ok.paper_trade(BuyEveryBar(symbol="NOPE"), oms=oms, feed=ok.ReplayFeed(data, speed=None))
            await trader

        (warning,) = from_paper
        assert [str(w.message) for w in from_backtest] == [str(warning.message)]
        assert "6 of 6 orders rejected (INSTRUMENT_NOT_FOUND 6, NO_REFERENCE_PRICE 6)" in str(warning.message)
        assert trader.placed[0].reason in str(warning.message)
        assert trader.stats == {"orders": 6, "filled": 0, "rejected": 6, "fills": 0,
                                "rejections": {"INSTRUMENT_NOT_FOUND": 6, "NO_REFERENCE_PRICE": 6}}
        assert trader.stats["rejections"] == result.stats["rejections"]
        assert trader.status()["rejected"] == 6
    finally:
        await oms.close()


async def test_orders_the_broker_refuses_after_the_checks_are_reported_too():
    data = bar_frame([(100.0, 101.0, 99.0, 100.0)] * 4)
    oms = await open_replay_oms(data, broker=ok.MockBroker(immediate_market_fills=False, reject_rate=1.0))
    try:
        await oms.place_order("RELIANCE", "BUY", 1, "LIMIT", 0.05)  # another order of the account, not counted
        with pytest.warns(UserWarning, match=r"4 of 4 orders rejected \(BROKER_REJECTED 4\); for example BUY 1 "
                                             r"RELIANCE MARKET: rejected by broker \(simulated fault\)"):
            trader = await ok.paper_trade(BuyEveryBar(), oms=oms, feed=ok.ReplayFeed(data, speed=None))
            await trader
        assert trader.stats["rejected"] == 4 and trader.stats["rejections"] == {"BROKER_REJECTED": 4}
        assert oms.manager.counts["rejected"] == 5
    finally:
        await oms.close()


async def test_paper_orders_are_stored_like_any_other_order():
    data = sample(600)
    oms = await open_replay_oms(data)
    try:
        trader = await ok.paper_trade(Busy(), oms=oms, feed=ok.ReplayFeed(data, speed=None))
        await trader
        await oms.flush()
        stored = await oms.store.fetch_df("SELECT order_id, status FROM orders ORDER BY order_id")
        assert len(stored) == len(trader.placed) > 0
        statuses = dict(zip(stored["order_id"], stored["status"], strict=True))
        assert all(statuses[o.order_id] == o.status.value for o in trader.placed)
        assert len(trader.trades()) == len(trader.fills) > 0
    finally:
        await oms.close()


async def test_compare_reports_where_a_live_style_broker_drifted_from_the_backtest():
    data = sample(900)
    result = ok.backtest(Busy(), data)
    # This broker fills market orders at once at the last price (the bar's close), not at the next bar's open.
    oms = await open_replay_oms(data, broker=ok.MockBroker(immediate_market_fills=True))
    try:
        trader = await ok.paper_trade(Busy(), oms=oms, feed=ok.ReplayFeed(data, speed=None))
        await trader
        drift = ok.compare(result, trader)
        assert {"price", "time"} & set(drift["status"])
        moved = drift[drift["status"] == "price"]
        assert (moved["price_difference"] != 0).all()
        # Each symbol's first buy (a market order) filled a bar earlier, at that bar's close.
        first_buys = drift[(drift["side"] == "BUY") & (drift["order_number"] == 0)]
        assert len(first_buys) == 3
        assert (first_buys["delay"] == pd.Timedelta(minutes=-1)).all()
    finally:
        await oms.close()


async def test_compare_reports_fills_missing_from_a_run_stopped_early():
    data = sample(900)
    result = ok.backtest(Busy(), data)
    oms = await open_replay_oms(data)
    try:
        trader = await ok.paper_trade(Busy(), oms=oms, feed=ok.ReplayFeed(data.iloc[:450], speed=None))
        await trader
        drift = ok.compare(result, trader)
        missing = drift[drift["status"] == "missing in paper"]
        assert len(missing) > 0
        assert (missing["ts_backtest"] >= data["timestamp"].iloc[440]).all()
        assert set(drift["status"]) == {"same", "missing in paper"}
    finally:
        await oms.close()


async def test_stop_ends_trading_and_runs_on_stop_once():
    data = bar_frame([(100.0, 101.0, 99.0, 100.0)] * 50)
    oms = await open_replay_oms(data)
    try:
        strategy = Busy()
        trader = await ok.paper_trade(strategy, oms=oms, feed=ok.ReplayFeed(data, speed=60))
        await asyncio.sleep(0.05)
        assert trader.status()["running"]
        await trader.stop()
        await trader.stop()
        assert trader.done and not trader.status()["running"]
        assert strategy.stopped == 1
        assert trader.runner.bars_seen < 50
    finally:
        await oms.close()


async def test_the_kill_switch_stops_a_paper_strategys_orders():
    data = bar_frame([(100.0, 101.0, 99.0, 100.0)] * 5)
    oms = await open_replay_oms(data)
    try:
        await oms.kill_switch("test")
        strategy = BuyEveryBar()
        with pytest.warns(UserWarning, match=r"5 of 5 orders rejected \(TRADING_HALTED 5\)"):
            trader = await ok.paper_trade(strategy, oms=oms, feed=ok.ReplayFeed(data, speed=None))
            await trader
        assert {o.status for o in strategy.orders} == {OrderStatus.REJECTED}
        assert strategy.orders[0].violations[0].code == "TRADING_HALTED"
        assert trader.stats["rejections"] == {"TRADING_HALTED": 5}
    finally:
        await oms.close()


async def test_without_a_feed_the_strategy_trades_on_the_omss_own_quotes():
    class BuyOnce(ok.Strategy):
        def on_start(self, ctx):
            self.seen = []
            self.orders = []

        def on_bar(self, ctx, bar):
            self.seen.append((bar.symbol, bar.close))
            if not self.orders:
                self.orders.append(ctx.buy(bar.symbol, 2))

    oms = await ok.OMS.open(feed=None, risk_interval=None)
    try:
        strategy = BuyOnce()
        trader = await ok.paper_trade(strategy, oms=oms)
        await oms.set_price("SBIN", 800.0)
        await oms.set_price("SBIN", 801.0)
        for _ in range(20):
            await asyncio.sleep(0)
        await trader.stop()
        assert strategy.seen == [("SBIN", 800.0), ("SBIN", 801.0)]
        # A live broker fills a market order at once, at the latest quote: both quotes were in before the
        # strategy saw the first.
        assert strategy.orders[0].status is OrderStatus.FILLED
        assert strategy.orders[0].average_price == Decimal("801.00")
        assert oms.position("SBIN") == 2
    finally:
        await oms.close()


async def test_an_exception_in_the_strategy_ends_the_run_and_is_raised_by_await():
    class Broken(ok.Strategy):
        def on_bar(self, ctx, bar):
            raise RuntimeError("bad idea")

    data = bar_frame([(100.0, 101.0, 99.0, 100.0)] * 3)
    oms = await open_replay_oms(data)
    try:
        trader = await ok.paper_trade(Broken(), oms=oms, feed=ok.ReplayFeed(data, speed=None))
        with pytest.raises(RuntimeError, match="bad idea"):
            await trader
    finally:
        await oms.close()


async def test_paper_trade_refuses_what_is_not_an_oms_a_feed_or_a_strategy():
    with pytest.raises(ok.ConfigError, match="invalid oms: 'object'"):
        await ok.paper_trade(Busy(), oms=object())  # type: ignore[arg-type]
    oms = await ok.OMS.open(feed=None, risk_interval=None)
    try:
        with pytest.raises(ok.ConfigError, match="invalid feed: 'DataFrame'"):
            await ok.paper_trade(Busy(), oms=oms, feed=sample(5))  # type: ignore[arg-type]
        with pytest.raises(ok.ConfigError, match="invalid strategy: 'type'") as caught:
            await ok.paper_trade(Busy, oms=oms)  # type: ignore[arg-type]
        assert caught.value.hint == "pass MyStrategy(), not MyStrategy"
    finally:
        await oms.close()


def test_compare_refuses_what_is_not_a_run():
    result = ok.backtest(Busy(), sample(50))
    with pytest.raises(ok.ConfigError, match="invalid paper: 'DataFrame'"):
        ok.compare(result, result.trades)
    with pytest.raises(ok.ConfigError, match="invalid backtest: 'str'"):
        ok.compare("result", result)


@pytest.mark.postgres
async def test_parity_holds_on_postgresql_where_every_order_is_committed_before_the_broker_sees_it(pg_url):
    data = sample(450)
    result = ok.backtest(Busy(), data)
    oms = await open_replay_oms(data, url=pg_url)
    try:
        trader = await ok.paper_trade(Busy(), oms=oms, feed=ok.ReplayFeed(data, speed=None))
        await trader
        assert len(result.fills) > 10
        assert fill_rows(trader.fills) == fill_rows(result.fills)
        assert set(ok.compare(result, trader)["status"]) == {"same"}
        stored = await oms.store.fetch_df("SELECT count(*) AS n FROM trades")
        assert int(stored["n"].iloc[0]) == len(result.fills)
    finally:
        await oms.close()
