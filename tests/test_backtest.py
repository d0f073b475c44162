"""ok.backtest: fills by the no-look-ahead rule through the real order path, data sources, results and stats."""

from __future__ import annotations

import gc
import json
import math
import warnings
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

import oms_kit as ok
from oms_kit.errors import InvalidOrderError
from oms_kit.models import OrderStatus
from tests.stubs import T0, bar_frame

ROOT = Path(__file__).resolve().parents[1]


class Script(ok.Strategy):
    """Runs ``actions[i](ctx, bar)`` on the i-th bar (counted over all symbols) and records what it saw."""

    actions: dict | None = None

    def on_start(self, ctx):
        self.count = 0
        self.seen = []
        self.orders = {}

    def on_bar(self, ctx, bar):
        action = (self.actions or {}).get(self.count)
        self.count += 1
        if action is not None:
            result = action(ctx, bar)
            if result is not None:
                self.orders[self.count - 1] = result


FIVE_BARS = [
    (100.0, 101.0, 99.0, 100.5),
    (100.7, 102.0, 100.0, 101.0),
    (100.0, 100.5, 99.4, 100.0),
    (98.0, 99.0, 97.0, 98.5),
    (98.5, 99.5, 98.0, 99.0),
]


def run(actions, rows=FIVE_BARS, minutes=1, **options):
    options.setdefault("fees", None)
    strategy = Script(actions=actions)
    return strategy, ok.backtest(strategy, bar_frame(rows, minutes=minutes), **options)


def test_market_order_placed_on_a_bar_fills_at_the_next_bars_open():
    strategy, result = run({0: lambda ctx, bar: ctx.buy("RELIANCE", 10)})

    order = strategy.orders[0]
    assert order.status is OrderStatus.FILLED
    assert [(f.price, f.quantity, f.ts) for f in result.fills] == [(Decimal("100.70"), 10, T0 + timedelta(minutes=1))]
    assert result.manager.ledger.net_quantity("RELIANCE") == 10


def test_market_order_in_backtest_is_new_inside_the_hook_and_goes_to_the_broker_after_it():
    statuses = []

    def buy(ctx, bar):
        order = ctx.buy("RELIANCE", 1)
        statuses.append(order.status)
        return order

    _strategy, _ = run({0: buy})
    assert statuses == [OrderStatus.NEW]


def test_slippage_moves_market_fills_against_the_trader_onto_the_tick():
    _, result = run({0: lambda ctx, bar: ctx.buy("RELIANCE", 10), 2: lambda ctx, bar: ctx.sell("RELIANCE", 10)},
                    slippage_bps=10)
    # 100.70 * 1.001 = 100.8007 -> 100.80; then the sell at bar 3's open 98.00 * 0.999 = 97.902 -> 97.90.
    assert [f.price for f in result.fills] == [Decimal("100.80"), Decimal("97.90")]


def test_limit_buy_does_not_fill_on_its_own_bar_and_fills_when_a_later_low_crosses_it():
    # Bar 0's low (99) is below the limit, but the order was placed after that bar: no look-ahead.
    strategy, result = run({0: lambda ctx, bar: ctx.buy("RELIANCE", 5, "LIMIT", price=99.5)})

    assert [(f.price, f.ts) for f in result.fills] == [(Decimal("99.50"), T0 + timedelta(minutes=2))]
    assert strategy.orders[0].status is OrderStatus.FILLED


def test_limit_buy_filled_by_a_gap_down_gets_the_open():
    _, result = run({2: lambda ctx, bar: ctx.buy("RELIANCE", 5, "LIMIT", price=99.0)})
    assert [f.price for f in result.fills] == [Decimal("98.00")]  # bar 3 opened at 98, below the limit


def test_stop_market_sell_triggers_when_a_later_low_reaches_the_trigger():
    actions = {
        0: lambda ctx, bar: ctx.buy("RELIANCE", 10),
        1: lambda ctx, bar: ctx.sell("RELIANCE", 10, "SL-M", trigger_price=99.5),
    }
    _strategy, result = run(actions)
    # Bar 2 (low 99.4) reaches 99.5 after opening at 100: the stop fills at its trigger.
    assert [(f.side.value, f.price) for f in result.fills] == [("BUY", Decimal("100.70")), ("SELL", Decimal("99.50"))]
    assert result.manager.ledger.net_quantity("RELIANCE") == 0
    assert result.stats["realized_pnl"] == pytest.approx(-12.0)


def test_order_for_another_symbol_does_not_fill_on_that_symbols_bar_of_the_same_time():
    rows = [
        ("RELIANCE", 100.0, 101.0, 99.0, 100.0),
        ("+", "TCS", 3900.0, 3910.0, 3890.0, 3905.0),
        ("RELIANCE", 100.0, 101.0, 99.0, 100.0),  # the strategy buys TCS here...
        ("+", "TCS", 3910.0, 3930.0, 3905.0, 3925.0),  # ...but this bar began before the order: no fill on it
        ("RELIANCE", 100.0, 101.0, 99.0, 100.0),
        ("+", "TCS", 3920.0, 3930.0, 3915.0, 3925.0),
    ]
    strategy = Script(actions={2: lambda ctx, bar: ctx.buy("TCS", 1)})
    result = ok.backtest(strategy, bar_frame(rows), fees=None)

    assert [(f.symbol, f.price, f.ts) for f in result.fills] == [("TCS", Decimal("3920.00"), T0 + timedelta(minutes=2))]


def test_market_order_without_any_price_of_its_symbol_is_rejected():
    with pytest.warns(UserWarning, match=r"1 of 1 orders rejected \(NO_REFERENCE_PRICE 1\)"):
        strategy, _ = run({0: lambda ctx, bar: ctx.buy("TCS", 1)})
    assert [v.code for v in strategy.orders[0].violations] == ["NO_REFERENCE_PRICE"]


def test_every_pre_trade_check_runs_and_a_breach_is_rejected_with_its_violation():
    limits = ok.RiskLimits(max_order_quantity=50)
    with pytest.warns(UserWarning, match=r"QUANTITY_EXCEEDS_MAXIMUM 1"):
        strategy, result = run({0: lambda ctx, bar: ctx.buy("RELIANCE", 60)}, limits=limits)

    order = strategy.orders[0]
    assert order.status is OrderStatus.REJECTED
    assert [v.code for v in order.violations] == ["QUANTITY_EXCEEDS_MAXIMUM"]
    assert result.fills == []
    assert result.orders["violations"].tolist() == ["QUANTITY_EXCEEDS_MAXIMUM"]
    assert result.stats["rejected_orders"] == 1
    assert result.stats["rejections"] == {"QUANTITY_EXCEEDS_MAXIMUM": 1}


def test_a_run_whose_every_order_is_rejected_warns_with_the_codes_counts_and_an_example():
    every_bar = dict.fromkeys(range(len(FIVE_BARS)), lambda ctx, bar: ctx.buy("NOPE", 1))  # no such instrument
    with pytest.warns(UserWarning) as caught:
        strategy, result = run(every_bar)

    (warning,) = caught
    message = str(warning.message)
    assert "5 of 5 orders rejected (INSTRUMENT_NOT_FOUND 5, NO_REFERENCE_PRICE 5)" in message
    assert f"for example BUY 1 NOPE MARKET: {strategy.orders[0].reason}" in message
    assert warning.filename == __file__  # it points at the call of run(), not into the kit
    assert result.stats["rejections"] == {"INSTRUMENT_NOT_FOUND": 5, "NO_REFERENCE_PRICE": 5}
    assert result.stats["rejected_orders"] == 5 and result.fills == []


def test_an_order_breaking_several_rules_counts_once_per_code_and_the_codes_come_most_frequent_first():
    limits = ok.RiskLimits(max_order_quantity=50, max_order_value=4_000)
    actions = {0: lambda ctx, bar: ctx.buy("RELIANCE", 60), 1: lambda ctx, bar: ctx.buy("RELIANCE", 45),
               2: lambda ctx, bar: ctx.buy("RELIANCE", 1)}
    with pytest.warns(UserWarning, match=r"2 of 3 orders rejected \(NOTIONAL_EXCEEDS_MAXIMUM 2, "
                                         r"QUANTITY_EXCEEDS_MAXIMUM 1\)"):
        strategy, result = run(actions, limits=limits)

    codes = [[v.code for v in strategy.orders[i].violations] for i in range(3)]
    assert codes == [["QUANTITY_EXCEEDS_MAXIMUM", "NOTIONAL_EXCEEDS_MAXIMUM"], ["NOTIONAL_EXCEEDS_MAXIMUM"], []]
    assert list(result.stats["rejections"].items()) == [("NOTIONAL_EXCEEDS_MAXIMUM", 2),
                                                         ("QUANTITY_EXCEEDS_MAXIMUM", 1)]


def test_an_order_the_strategy_cancels_before_it_is_sent_is_not_reported_as_a_rejection():
    def place_and_withdraw(ctx, bar):
        order = ctx.buy("RELIANCE", 5, "LIMIT", price=95.0)
        ctx.cancel(order)
        return order

    strategy, result = run({0: place_and_withdraw})  # no warning: pytest turns warnings into errors
    assert strategy.orders[0].status is OrderStatus.REJECTED
    assert result.stats["rejected_orders"] == 1
    assert result.stats["rejections"] == {}
    assert result.runner.rejection_message() is None


def test_a_clean_run_does_not_warn_and_has_no_rejections():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, result = run({0: lambda ctx, bar: ctx.buy("RELIANCE", 10), 2: lambda ctx, bar: ctx.sell("RELIANCE", 10)})
    assert len(result.fills) == 2
    assert result.stats["rejections"] == {} and result.stats["rejected_orders"] == 0


def test_buying_power_is_checked_against_the_backtests_cash():
    with pytest.warns(UserWarning, match=r"INSUFFICIENT_FUNDS 1"):
        strategy, _ = run({0: lambda ctx, bar: ctx.buy("RELIANCE", 100, product="CNC")}, cash=5_000)
    assert [v.code for v in strategy.orders[0].violations] == ["INSUFFICIENT_FUNDS"]


def test_malformed_order_raises_and_records_nothing():
    with pytest.raises(InvalidOrderError, match="quantity"):
        run({0: lambda ctx, bar: ctx.buy("RELIANCE", 0)})


def test_cancelled_limit_order_goes_through_the_state_machine_to_cancelled():
    def cancel(ctx, bar):
        (order,) = ctx.open_orders("RELIANCE")
        ctx.cancel(order)

    strategy, result = run({0: lambda ctx, bar: ctx.buy("RELIANCE", 5, "LIMIT", price=95.0), 1: cancel})
    assert strategy.orders[0].status is OrderStatus.CANCELLED
    assert result.orders["status"].tolist() == ["CANCELLED"]
    assert result.fills == []


def test_orders_still_working_when_the_data_ends_stay_open():
    strategy, _result = run({4: lambda ctx, bar: ctx.buy("RELIANCE", 5, "LIMIT", price=95.0)})
    assert strategy.orders[4].status is OrderStatus.OPEN


def test_equity_read_in_a_hook_matches_the_equity_curve_at_that_bar():
    # ctx.equity reads the ledger (marks applied on demand); the curve is rebuilt from fills and closes.
    class Recorder(ok.Strategy):
        def on_start(self, ctx):
            self.equity = []
            self.count = 0

        def on_bar(self, ctx, bar):
            self.count += 1
            if self.count % 7 == 0:
                ctx.buy(bar.symbol, 3)
            elif self.count % 11 == 0:
                ctx.sell(bar.symbol, 5)
            self.equity.append((bar.timestamp, bar.symbol, ctx.equity))

    data = pd.read_parquet(ROOT / "data" / "nse_minute.parquet").iloc[:2_000]
    strategy = Recorder()
    result = ok.backtest(strategy, data)
    curve = result.equity["equity"]
    # After the last symbol of a time, every symbol is marked at that time's close.
    last_of_time = {}
    for ts, _, equity in strategy.equity:
        last_of_time[ts] = equity
    for ts, equity in last_of_time.items():
        assert float(equity) == pytest.approx(curve.loc[ts], abs=1e-6)
    assert float(result.manager.ledger.equity()) == pytest.approx(curve.iloc[-1], abs=1e-6)


def test_stats_of_a_known_path():
    rows = [
        (100.0, 100.0, 100.0, 100.0),
        (100.0, 100.0, 100.0, 100.0),  # buy 10 fills at 100
        (90.0, 90.0, 90.0, 90.0),  # equity 999,900: the drawdown
        (110.0, 110.0, 110.0, 110.0),
        (110.0, 110.0, 110.0, 110.0),  # sell 10 fills at 110: +100 realized
    ]
    _strategy, result = run({0: lambda ctx, bar: ctx.buy("RELIANCE", 10), 3: lambda ctx, bar: ctx.sell("RELIANCE", 10)},
                           rows=rows)
    stats = result.stats
    assert stats["final_equity"] == pytest.approx(1_000_100.0)
    assert stats["total_return"] == pytest.approx(0.0001)
    assert stats["max_drawdown"] == pytest.approx(999_900 / 1_000_000 - 1)
    assert stats["trades"] == 2
    assert stats["win_rate"] == 1.0
    assert stats["profit_factor"] == math.inf
    assert stats["exposure"] == pytest.approx(3 / 5)  # held after bars 1, 2 and 3
    assert result.equity["equity"].tolist() == pytest.approx([1e6, 1e6, 999_900, 1_000_100, 1_000_100])


def test_win_rate_and_profit_factor_count_each_closing_fill_by_what_it_realized():
    # Buy 10 at 100; sell 4 at 110 (+40); sell 10 at 95 (closes 6: -30, then opens a short of 4 at 95); buy 4 at
    # 90 (+20). Three closing fills: two won 60, one lost 30.
    rows = [(100.0,) * 4, (100.0,) * 4, (110.0,) * 4, (95.0,) * 4, (90.0,) * 4]
    hooks = {0: lambda ctx, bar: ctx.buy("RELIANCE", 10), 1: lambda ctx, bar: ctx.sell("RELIANCE", 4),
             2: lambda ctx, bar: ctx.sell("RELIANCE", 10), 3: lambda ctx, bar: ctx.buy("RELIANCE", 4)}
    _strategy, result = run(hooks, rows=rows)
    stats = result.stats
    assert stats["trades"] == 4
    assert stats["win_rate"] == pytest.approx(2 / 3)
    assert stats["profit_factor"] == pytest.approx(60 / 30)
    assert stats["realized_pnl"] == pytest.approx(30.0)


def test_fees_are_charged_per_fill_and_add_up_in_the_stats():
    _, result = run({0: lambda ctx, bar: ctx.buy("RELIANCE", 10), 2: lambda ctx, bar: ctx.sell("RELIANCE", 10)},
                    fees="india_equity")
    fees = [f.fees for f in result.fills]
    assert all(fee > 0 for fee in fees)
    assert result.stats["fees"] == pytest.approx(float(sum(fees)))
    assert result.trades["fees"].sum() == sum(fees)


def test_a_frame_a_parquet_file_a_csv_file_and_a_duckdb_query_give_the_same_run(tmp_path):
    frame = pd.read_parquet(ROOT / "data" / "nse_minute.parquet")
    frame = frame[frame["symbol"].isin(["TCS", "SBIN"])].iloc[:1_500]
    frame.to_csv(tmp_path / "bars.csv", index=False)
    frame.to_parquet(tmp_path / "bars.parquet", index=False)
    sources = [frame, str(tmp_path / "bars.csv"), tmp_path / "bars.parquet",
               f"SELECT * FROM '{tmp_path / 'bars.parquet'}'"]

    runs = [ok.backtest(Crossover(fast=3, slow=8), source) for source in sources]

    expected = [(f.symbol, f.side, f.quantity, f.price, f.ts) for f in runs[0].fills]
    assert len(expected) > 20
    for other in runs[1:]:
        assert [(f.symbol, f.side, f.quantity, f.price, f.ts) for f in other.fills] == expected


def test_single_symbol_frame_without_a_symbol_column_takes_symbol():
    frame = bar_frame(FIVE_BARS).drop(columns=["symbol"])
    strategy = Script(actions={0: lambda ctx, bar: ctx.buy(bar.symbol, 1)})
    result = ok.backtest(strategy, frame, symbol="SBIN", fees=None)
    assert [f.symbol for f in result.fills] == ["SBIN"]


def test_symbol_missing_from_the_instrument_list_gets_a_default_instrument_and_a_warning():
    strategy = Script(actions={0: lambda ctx, bar: ctx.buy("ACME", 1, "LIMIT", price=99.99)})
    with pytest.warns(UserWarning, match="ACME"):
        result = ok.backtest(strategy, bar_frame(FIVE_BARS, symbol="ACME"), fees=None)
    assert result.manager.instruments["ACME"].tick_size == Decimal("0.01")
    assert strategy.orders[0].status is OrderStatus.FILLED  # 99.99 is on the 0.01 tick


def test_missing_price_column_is_refused_naming_it():
    frame = bar_frame(FIVE_BARS).drop(columns=["low"])
    with pytest.raises(ok.DataError, match="low"):
        ok.backtest(Script(), frame)


def test_data_without_bars_is_refused():
    with pytest.raises(ok.DataError, match="at least one bar"):
        ok.backtest(Script(), bar_frame(FIVE_BARS).iloc[:0])


def test_strategy_class_instead_of_an_instance_is_refused():
    with pytest.raises(ok.ConfigError, match="instance"):
        ok.backtest(Script, bar_frame(FIVE_BARS))


def test_participation_splits_a_large_order_over_bars():
    _, result = run({0: lambda ctx, bar: ctx.buy("RELIANCE", 250)}, participation=0.1)  # 100 of 1,000 per bar
    assert [f.quantity for f in result.fills] == [100, 100, 50]
    assert result.orders["status"].tolist() == ["FILLED"]


def test_runs_are_deterministic():
    data = ROOT / "data" / "nse_minute.parquet"
    first = ok.backtest(Crossover(), data)
    second = ok.backtest(Crossover(), data)
    assert [(f.price, f.ts) for f in first.fills] == [(f.price, f.ts) for f in second.fills]
    assert first.stats.drop("elapsed_s").equals(second.stats.drop("elapsed_s"))


def test_tables_have_the_documented_columns():
    _, result = run({0: lambda ctx, bar: ctx.buy("RELIANCE", 10)})
    for column in ["order_id", "client_order_id", "symbol", "side", "order_type", "product", "validity", "quantity",
                   "price", "trigger_price", "filled_quantity", "average_price", "status", "violations", "tag",
                   "created_at", "updated_at"]:
        assert column in result.orders.columns
    assert {"trade_id", "order_id", "symbol", "side", "quantity", "price", "fees", "ts"} <= set(result.trades.columns)
    assert {"symbol", "product", "quantity", "average_price", "last_price", "realized_pnl", "unrealized_pnl",
            "fees"} <= set(result.positions.columns)
    assert result.positions["last_price"].tolist() == [Decimal("99.00")]  # marked to the last close
    assert list(result.equity.columns) == ["cash", "market_value", "equity", "drawdown", "exposure"]


def test_to_duckdb_gives_sql_over_the_run():
    _, result = run({0: lambda ctx, bar: ctx.buy("RELIANCE", 10), 2: lambda ctx, bar: ctx.sell("RELIANCE", 4)})
    con = result.to_duckdb()
    try:
        rows = con.sql("SELECT side, sum(quantity), sum(price * quantity) FROM trades GROUP BY side ORDER BY side")
        assert rows.fetchall() == [("BUY", 10, Decimal("1007.00")), ("SELL", 4, Decimal("392.00"))]
        types = dict(con.sql("SELECT column_name, data_type FROM information_schema.columns "
                             "WHERE table_name = 'trades'").fetchall())
        assert types["price"].startswith("DECIMAL")
        assert con.execute("SELECT count(*) FROM equity").fetchone() == (5,)
        assert con.execute("SELECT trades FROM stats").fetchone() == (2,)
    finally:
        con.close()


def test_to_duckdb_keeps_the_rejections_as_json_text():
    limits = ok.RiskLimits(max_order_quantity=50)
    with pytest.warns(UserWarning, match="QUANTITY_EXCEEDS_MAXIMUM"):
        _, rejected = run({0: lambda ctx, bar: ctx.buy("RELIANCE", 60)}, limits=limits)
    _, clean = run({0: lambda ctx, bar: ctx.buy("RELIANCE", 1)})
    for result in (rejected, clean):
        con = result.to_duckdb()
        try:
            (text,) = con.execute("SELECT rejections FROM stats").fetchone()
            assert json.loads(text) == result.stats["rejections"]
        finally:
            con.close()


def test_plot_draws_equity_and_drawdown():
    _, result = run({0: lambda ctx, bar: ctx.buy("RELIANCE", 10)})
    figure = result.plot()
    top, bottom = figure.axes
    assert top.get_ylabel() == "equity" and bottom.get_ylabel() == "drawdown %"
    assert len(top.lines[0].get_xdata()) == 5


def test_progress_bar_on_request(capsys):
    run({}, progress=True)
    assert "5/5" in capsys.readouterr().err


def test_real_daily_prices_run_end_to_end():
    aapl = ok.Instrument("AAPL", exchange="NASDAQ", tick_size=Decimal("0.01"))
    result = ok.backtest(Crossover(fast=10, slow=30, size=100), ROOT / "data" / "us_stocks_daily.parquet",
                         symbol="AAPL", instruments=[aapl], fees=None, cash=100_000)
    stats = result.stats
    assert stats["bars"] == 3270
    assert stats["start"] == pd.Timestamp("2000-03-01", tz="UTC")
    assert stats["trades"] > 50
    assert not math.isnan(stats["sharpe"]) and not math.isnan(stats["cagr"])


class Crossover(ok.Strategy):
    """10/30 moving-average crossover on closes, long and short ``size`` per symbol."""

    fast = 10
    slow = 30
    size = 10
    product = "MIS"

    def on_bar(self, ctx, bar):
        closes = ctx.closes(bar.symbol, self.slow)
        if len(closes) < self.slow:
            return
        fast = sum(closes[-self.fast:]) / self.fast
        slow = sum(closes) / self.slow
        held = ctx.position(bar.symbol)
        if fast > slow and held <= 0:
            ctx.buy(bar.symbol, self.size - held, product=self.product)
        elif fast < slow and held >= 0:
            ctx.sell(bar.symbol, self.size + held, product=self.product)


# -- days: DAY orders expire, the day's P&L starts again ---------------------------------------------------------

DAY = timedelta(days=1)


def two_days(first, second):
    """Minute bars on two trading days (09:15 UTC is 14:45 in Kolkata, the default exchange time zone)."""
    return pd.concat([bar_frame(first), bar_frame(second, start=T0 + DAY)], ignore_index=True)


def test_day_limit_order_expires_when_the_next_trading_day_begins():
    strategy = Script(actions={
        0: lambda ctx, bar: ctx.buy("RELIANCE", 5, "LIMIT", price=92.0),  # far below: rests all day
        2: lambda ctx, bar: ctx.buy("RELIANCE", 5, "LIMIT", price=99.0),  # on the day's last bar: no bar to trade on
    })
    result = ok.backtest(strategy, two_days(FIVE_BARS[:3], FIVE_BARS[3:]), fees=None)

    resting, late = strategy.orders[0], strategy.orders[2]
    assert resting.status is OrderStatus.EXPIRED
    assert resting.updated_at == T0 + timedelta(minutes=2)  # the end of its day: the day's last bar
    assert resting.reason == "DAY order expired at the end of its trading day"
    # Placed on the last bar of day one, the other order first trades on day two's first bar (low 97): filled there.
    assert late.status is OrderStatus.FILLED
    assert [(f.price, f.ts) for f in result.fills] == [(Decimal("98.00"), T0 + DAY)]


def test_on_daily_bars_a_limit_order_has_the_next_session_and_then_expires():
    rows = [(100.0, 101.0, 99.0, 100.5), (100.7, 102.0, 100.0, 101.0), (100.0, 100.5, 99.0, 100.0),
            (100.0, 100.5, 98.0, 99.0)]
    strategy = Script(actions={
        0: lambda ctx, bar: ctx.buy("RELIANCE", 5, "LIMIT", price=99.5),  # day 2's low is 100: not reached
        1: lambda ctx, bar: ctx.buy("RELIANCE", 5, "LIMIT", price=99.5),  # day 3's low 99 reaches it
    })
    result = ok.backtest(strategy, bar_frame(rows, minutes=24 * 60), fees=None)

    assert strategy.orders[0].status is OrderStatus.EXPIRED  # at day 3, before day 4's low of 98 could fill it
    assert strategy.orders[1].status is OrderStatus.FILLED
    assert [(f.price, f.ts) for f in result.fills] == [(Decimal("99.50"), T0 + 2 * DAY)]


def test_daily_loss_limit_measures_each_day_on_its_own():
    # Day one: bought 100 at 100.70, marked at 80.00: a loss of 2,070 against a limit of 1,000. Day two starts from
    # there, flat prices: no loss today, so the same opening order passes.
    first = [(100.0, 100.0, 100.0, 100.0), (100.7, 100.7, 100.7, 100.7), (80.0, 80.0, 80.0, 80.0),
             (80.0, 80.0, 80.0, 80.0)]
    second = [(80.0, 80.0, 80.0, 80.0), (80.0, 80.0, 80.0, 80.0)]
    strategy = Script(actions={
        0: lambda ctx, bar: ctx.buy("RELIANCE", 100),
        3: lambda ctx, bar: ctx.buy("RELIANCE", 1),
        4: lambda ctx, bar: ctx.buy("RELIANCE", 1),
    })
    limits = ok.RiskLimits(daily_loss_limit=1_000)
    with pytest.warns(UserWarning, match=r"1 of 3 orders rejected \(DAILY_LOSS_LIMIT 1\)"):
        result = ok.backtest(strategy, two_days(first, second), fees=None, limits=limits)

    assert [v.code for v in strategy.orders[3].violations] == ["DAILY_LOSS_LIMIT"]
    assert strategy.orders[4].status is OrderStatus.FILLED
    assert result.manager.ledger.net_quantity("RELIANCE") == 101
    # Bought at 80.00 and marked at 80.00 today: nothing, but for the position's average kept to eight places.
    assert abs(result.manager.ledger.day_pnl()) < Decimal("0.000001")


def test_the_day_is_reckoned_in_the_exchange_time_zone():
    # 17:45 to 18:45 UTC is one afternoon in New York but crosses midnight in Kolkata (18:30 UTC).
    evening = bar_frame(FIVE_BARS, start=T0.replace(hour=17, minute=45), minutes=15)

    def resting(zone):
        strategy = Script(actions={0: lambda ctx, bar: ctx.buy("RELIANCE", 5, "LIMIT", price=92.0)})
        ok.backtest(strategy, evening, fees=None, exchange_timezone=zone)
        return strategy.orders[0].status

    assert resting("Asia/Kolkata") is OrderStatus.EXPIRED
    assert resting("America/New_York") is OrderStatus.OPEN


def test_unknown_exchange_time_zone_is_refused_naming_it():
    with pytest.raises(ok.ConfigError, match="exchange_timezone") as caught:
        run({}, exchange_timezone="Mars/Olympus")
    assert "Mars/Olympus" in str(caught.value)


def test_cagr_of_a_run_shorter_than_a_day_is_nan_even_after_a_large_gain():
    # Ten times the price within minutes: annualising it used to overflow (OverflowError) inside stats.
    rows = [(100.0, 100.0, 100.0, 100.0), (100.0, 1000.0, 100.0, 1000.0), (1000.0, 1000.0, 1000.0, 1000.0)]
    _strategy, result = run({0: lambda ctx, bar: ctx.buy("RELIANCE", 9_000)}, rows=rows)
    stats = result.stats
    assert stats["total_return"] == pytest.approx(8.1)  # 9,000 shares gained 900 each on 1,000,000
    assert math.isnan(stats["cagr"])


def test_cagr_too_large_for_a_float_is_inf_and_a_days_run_is_annualised():
    rows = [(100.0, 100.0, 100.0, 100.0), (100.0, 1000.0, 100.0, 1000.0)]
    _strategy, result = run({0: lambda ctx, bar: ctx.buy("RELIANCE", 9_000)}, rows=rows, minutes=24 * 60)
    assert result.stats["cagr"] == math.inf  # 9.1 ** 365.25 overflows a float

    _strategy, result = run({0: lambda ctx, bar: ctx.buy("RELIANCE", 10)}, rows=rows, minutes=24 * 60)
    growth = result.stats["final_equity"] / 1_000_000
    assert growth == pytest.approx(1.009)
    assert result.stats["cagr"] == pytest.approx(growth ** 365.25 - 1)


def test_cash_must_be_a_positive_amount():
    for cash in (0, -5, "abc", math.nan):
        with pytest.raises(ok.ConfigError, match="cash") as caught:
            run({}, cash=cash)
        assert caught.value.field == "cash" and not isinstance(caught.value, InvalidOrderError)


def test_the_collectors_full_passes_wait_for_the_runs_end_and_its_settings_come_back():
    # During a run the young generations are collected as usual and the full passes are held off; after it, and
    # after a strategy that raises, the process's thresholds are what they were.
    before = gc.get_threshold()
    seen = []
    run({0: lambda ctx, bar: seen.append(gc.get_threshold())})

    assert seen[0][:2] == before[:2] and seen[0][2] > 10**6
    assert gc.get_threshold() == before

    def boom(ctx, bar):
        raise RuntimeError("the strategy failed")

    with pytest.raises(RuntimeError, match="the strategy failed"):
        run({1: boom})
    assert gc.get_threshold() == before


def test_backtests_that_overlap_in_threads_leave_the_collectors_settings_as_they_found_them():
    # A Dask worker may run backtests on several threads: the first to start and the last to end are not the same.
    import threading

    before = gc.get_threshold()
    first_running, second_running, first_done = threading.Event(), threading.Event(), threading.Event()

    def wait_for_the_second(ctx, bar):
        first_running.set()
        assert second_running.wait(30)

    def wait_for_the_first_to_end(ctx, bar):
        second_running.set()
        assert first_done.wait(30)

    first = threading.Thread(target=run, args=({0: wait_for_the_second},))
    second = threading.Thread(target=run, args=({0: wait_for_the_first_to_end},))
    first.start()
    assert first_running.wait(30)
    second.start()
    first.join(60)
    assert gc.get_threshold()[2] > 10**6  # the second run is still under way
    first_done.set()
    second.join(60)

    assert not first.is_alive() and not second.is_alive()
    assert gc.get_threshold() == before
