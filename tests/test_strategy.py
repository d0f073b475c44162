"""ok.Strategy and its context: parameters, hooks and their order, orders, reads, recent bars."""

from __future__ import annotations

import warnings
from collections import Counter
from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import oms_kit as ok
from oms_kit.errors import ConfigError, InvalidOrderError, OmsError
from oms_kit.models import OrderStatus
from tests.stubs import T0, bar_frame

BARS = [
    (100.0, 101.0, 99.0, 100.5),
    (100.7, 102.0, 100.0, 101.0),
    (100.0, 100.5, 99.4, 100.0),
    (98.0, 99.0, 97.0, 98.5),
]


class Params(ok.Strategy):
    fast = 10
    slow = 30
    label = "x"

    def helper(self):  # a method is no parameter
        return 1


def test_parameters_are_the_public_class_attributes_with_their_defaults():
    assert Params.parameters() == {"history": 100, "fast": 10, "slow": 30, "label": "x"}
    strategy = Params(fast=5)
    assert (strategy.fast, strategy.slow) == (5, 30)
    assert Params.fast == 10  # the class keeps its default
    assert repr(strategy) == "Params(fast=5, slow=30, label='x')"


def test_unknown_parameter_is_refused_naming_the_allowed_ones():
    with pytest.raises(ConfigError, match=r"invalid Params parameter: 'fats'.*fast, slow, label") as error:
        Params(fats=5)
    assert error.value.field == "Params parameter" and not isinstance(error.value, InvalidOrderError)


def test_negative_history_is_refused():
    with pytest.raises(ConfigError, match="invalid history: -1") as error:
        Params(history=-1)
    assert error.value.field == "history"


class Logger(ok.Strategy):
    def on_start(self, ctx):
        self.log = [("start", ctx.now)]

    def on_bar(self, ctx, bar):
        self.log.append(("bar", bar.close))
        if len(self.log) == 2:
            ctx.buy(bar.symbol, 3)

    def on_fill(self, ctx, fill):
        self.log.append(("fill", fill.quantity, fill.price))

    def on_order(self, ctx, order):
        self.log.append(("order", order.status.value))

    def on_stop(self, ctx):
        self.log.append(("stop", ctx.position("RELIANCE")))


def test_hooks_run_in_order_and_fills_are_reported_before_the_next_on_bar():
    strategy = Logger()
    ok.backtest(strategy, bar_frame(BARS), fees=None)
    assert strategy.log == [
        ("start", T0),
        ("bar", 100.5),
        ("order", "OPEN"),  # reported once the order reached the broker, after the hook that placed it
        ("fill", 3, Decimal("100.70")),  # within one step, fills come before order changes
        ("order", "FILLED"),
        ("bar", 101.0),
        ("bar", 100.0),
        ("bar", 98.5),
        ("stop", 3),
    ]


def test_orders_placed_in_on_fill_are_sent_like_any_other():
    class Bracket(ok.Strategy):
        def on_start(self, ctx):
            self.stops = []

        def on_bar(self, ctx, bar):
            if ctx.position(bar.symbol) == 0 and not ctx.open_orders():
                ctx.buy(bar.symbol, 10)

        def on_fill(self, ctx, fill):
            if fill.side is ok.Side.BUY:
                self.stops.append(ctx.sell(fill.symbol, 10, "SL-M", trigger_price=99.5))

    strategy = Bracket()
    result = ok.backtest(strategy, bar_frame(BARS), fees=None)
    assert strategy.stops[0].status is OrderStatus.FILLED  # bar 2's low 99.4 reached the trigger
    assert [f.price for f in result.fills][:2] == [Decimal("100.70"), Decimal("99.50")]


def test_context_reads_cash_equity_positions_and_open_orders():
    seen = {}

    class Reader(ok.Strategy):
        def on_bar(self, ctx, bar):
            if bar.close == 100.5:
                ctx.buy(bar.symbol, 10)
                ctx.buy(bar.symbol, 5, "LIMIT", price=95)
            elif bar.close == 100.0:
                seen["cash"] = ctx.cash
                seen["equity"] = ctx.equity
                seen["positions"] = ctx.positions()
                seen["open"] = [(o.order_type.value, o.quantity) for o in ctx.open_orders()]
                seen["state"] = ctx.trading_state
                seen["last"] = ctx.last_price(bar.symbol)

    ok.backtest(Reader(), bar_frame(BARS), fees=None, cash=100_000)
    assert seen["cash"] == Decimal("100000") - Decimal("1007.00")
    assert seen["equity"] == seen["cash"] + 10 * Decimal("100.00")
    assert seen["positions"] == {"RELIANCE": 10}
    assert seen["open"] == [("LIMIT", 5)]
    assert seen["state"] is ok.TradingState.ACTIVE
    assert seen["last"] == 100.0


def test_recent_bars_are_kept_up_to_history_oldest_first():
    class Window(ok.Strategy):
        history = 2

        def on_start(self, ctx):
            self.windows = []

        def on_bar(self, ctx, bar):
            self.windows.append((ctx.closes(bar.symbol), [b.close for b in ctx.bars(bar.symbol, 1)]))

    strategy = Window()
    ok.backtest(strategy, bar_frame(BARS))
    assert strategy.windows == [
        ([100.5], [100.5]), ([100.5, 101.0], [101.0]), ([101.0, 100.0], [100.0]), ([100.0, 98.5], [98.5]),
    ]


def test_history_zero_keeps_no_bars():
    class NoHistory(ok.Strategy):
        history = 0

        seen = 0

        def on_bar(self, ctx, bar):
            assert ctx.bars(bar.symbol) == []
            self.seen += 1

    strategy = NoHistory()
    ok.backtest(strategy, bar_frame(BARS))
    assert strategy.seen == len(BARS)  # the hook ran, so its assert did


def test_an_order_cancelled_in_the_hook_that_placed_it_never_reaches_the_broker():
    class Regret(ok.Strategy):
        def on_bar(self, ctx, bar):
            if bar.close == 100.5:
                self.order = ctx.buy(bar.symbol, 1)
                ctx.cancel(self.order)

    strategy = Regret()
    result = ok.backtest(strategy, bar_frame(BARS), fees=None)
    assert strategy.order.status is OrderStatus.REJECTED
    assert strategy.order.reason == "cancelled by strategy"
    assert result.fills == []


def test_a_strategy_cannot_cancel_an_order_it_did_not_place():
    class Meddler(ok.Strategy):
        def on_bar(self, ctx, bar):
            ctx.cancel("O-someone-else-1")

    with pytest.raises(OmsError, match="not placed by this strategy"):
        ok.backtest(Meddler(), bar_frame(BARS))


def test_modify_moves_a_resting_limit_order():
    class Chaser(ok.Strategy):
        def on_bar(self, ctx, bar):
            if bar.close == 100.5:
                self.order = ctx.buy(bar.symbol, 2, "LIMIT", price=95)
            elif bar.close == 101.0:
                ctx.modify(self.order, price=ctx.round_price(bar.symbol, 99.52))

    strategy = Chaser()
    result = ok.backtest(strategy, bar_frame(BARS), fees=None)
    assert strategy.order.price == Decimal("99.50")
    assert [f.price for f in result.fills] == [Decimal("99.50")]


def test_round_price_puts_a_float_on_the_instruments_tick():
    class Rounder(ok.Strategy):
        def on_bar(self, ctx, bar):
            self.rounded = ctx.round_price("RELIANCE", 800 * 1.001)

    strategy = Rounder()
    ok.backtest(strategy, bar_frame(BARS))
    assert strategy.rounded == Decimal("800.80")


def test_runner_step_by_step_gives_what_the_backtests_loop_gives():
    # One bar at a time with the orders sent after each (paper trading's way) against the backtest's whole run.
    from pathlib import Path

    import pandas as pd

    from oms_kit.broker.mock import MockBroker
    from oms_kit.events import EventBus
    from oms_kit.instruments import resolve_instruments
    from oms_kit.ledger import Ledger
    from oms_kit.market.bars import iter_bars
    from oms_kit.orders import OrderManager
    from oms_kit.runner import StrategyRunner

    class Flipper(ok.Strategy):
        def on_start(self, ctx):
            self.count = 0

        def on_bar(self, ctx, bar):
            self.count += 1
            if self.count % 5 == 0:
                held = ctx.position(bar.symbol)
                ctx.order(bar.symbol, "SELL" if held > 0 else "BUY", 4)
            elif self.count % 7 == 0:
                ctx.buy(bar.symbol, 2, "LIMIT", price=ctx.round_price(bar.symbol, bar.close * 0.999))

    frame = ok.load_bars(pd.read_parquet(Path(__file__).resolve().parents[1] / "data" / "nse_minute.parquet")
                         .iloc[:3_000])
    result = ok.backtest(Flipper(), frame)

    clock = ok.SimulatedClock(frame["timestamp"].iloc[0].to_pydatetime())
    manager = OrderManager(account="backtest", broker=MockBroker(immediate_market_fills=False),
                           ledger=Ledger(1_000_000, "backtest"), instruments=resolve_instruments(None),
                           limits=ok.RiskLimits(), bus=EventBus(), now=clock.now)
    runner = StrategyRunner(Flipper(), manager, set_clock=clock.set, defer_marks=True, send_at_once=False)
    runner.start()
    for bar in iter_bars(frame):
        runner.run((bar,))  # one bar at a time, sending after each as paper trading does
        if runner.pending:
            runner.send()
    runner.stop()

    assert len(result.fills) > 100
    assert [(f.symbol, f.side, f.quantity, f.price, f.fees, f.ts) for f in manager.trades] == \
        [(f.symbol, f.side, f.quantity, f.price, f.fees, f.ts) for f in result.fills]
    assert manager.ledger.equity() == result.manager.ledger.equity()


# -- rejections: counted as they happen, reported once at the end ---------------------------------------------


def _buy(ctx, bar):
    ctx.buy("RELIANCE", 1)


def _too_big(ctx, bar):
    ctx.buy("RELIANCE", 60)  # over max_order_quantity=50 and over the cash (margin 1,200 of 1,000): two codes


def _unknown(ctx, bar):
    ctx.buy("NOPE", 1)


def _withdrawn(ctx, bar):
    ctx.cancel(ctx.buy("RELIANCE", 1, "LIMIT", price=ctx.round_price("RELIANCE", bar.close * 0.99)))


def _retried(ctx, bar):
    ctx.buy("NOPE", 2, client_order_id="again")  # after the first, the same rejected order comes back


class Mixed(ok.Strategy):
    steps: tuple = ()

    def on_bar(self, ctx, bar):
        self.steps[self.bars](ctx, bar)
        self.bars += 1

    def on_start(self, ctx):
        self.bars = 0


@settings(max_examples=40, deadline=None)
@given(steps=st.lists(st.sampled_from([_buy, _too_big, _unknown, _withdrawn, _retried]), min_size=1, max_size=12))
def test_rejection_counts_are_the_codes_of_the_rejected_orders_each_counted_once(steps):
    data = bar_frame([(100.0, 101.0, 99.0, 100.0)] * len(steps))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = ok.backtest(Mixed(steps=tuple(steps)), data, cash=1_000, fees=None,
                             limits=ok.RiskLimits(max_order_quantity=50))

    refused = [o for o in result.placed if o.violations]
    expected = Counter(v.code for o in refused for v in o.violations)
    assert result.runner.rejections() == dict(expected)
    assert list(result.stats["rejections"].values()) == sorted(expected.values(), reverse=True)
    assert result.runner.rejected_orders() == len(refused)
    withdrawn = sum(o.status is OrderStatus.REJECTED and not o.violations for o in result.placed)
    assert result.stats["rejected_orders"] == len(refused) + withdrawn
    reports = [str(w.message) for w in caught if "rejected" in str(w.message)]
    if refused:
        assert reports == [result.runner.rejection_message()]
        assert reports[0].startswith(f"{result.strategy!r}: {len(refused)} of {len(result.placed)} orders rejected")
    else:
        assert reports == []


def test_asking_for_more_bars_than_the_strategy_keeps_is_refused_naming_history():
    class Greedy(ok.Strategy):
        slow = 150

        def on_bar(self, ctx, bar):
            ctx.closes(bar.symbol, self.slow)

    data = pd.DataFrame({"timestamp": pd.date_range("2026-01-05 04:00", periods=3, freq="1min", tz="UTC"),
                         "symbol": "INFY", "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0})
    with pytest.raises(ConfigError) as error:
        ok.backtest(Greedy(), data)
    assert (error.value.field, error.value.value) == ("count", 150) and "history" in error.value.allowed
    assert "Greedy(history=150)" in error.value.hint
    result = ok.backtest(Greedy(history=150), data)  # keeping enough, it runs
    assert result.stats["orders"] == 0
