"""result.report(): every figure against a hand-worked example, edge cases, hostile arguments, and the saved page in
headless Chromium (which also takes the README's screenshot, docs/tearsheet.png)."""

from __future__ import annotations

import math
import re
import statistics
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import oms_kit as ok
from oms_kit.errors import ConfigError, DataError
from oms_kit.models import Fill, Product, Side
from oms_kit.tearsheet import Tearsheet, build_report
from oms_kit.tearsheet_metrics import round_trips
from oms_kit.tearsheet_plots import FIGURE_TITLES

ROOT = Path(__file__).resolve().parents[1]

# The hand-worked run: RELIANCE on seven daily bars (open = high = low = close), stamped 04:00 UTC (09:30 IST) on
# trading days, Monday 5 to Tuesday 13 January 2026 (a weekend between bars 4 and 5). Cash 10,000, fees
# "india_equity" (intraday: MIS). A market order placed on bar i fills at the open of bar i + 1.
DAYS = ["2026-01-05", "2026-01-06", "2026-01-07", "2026-01-08", "2026-01-09", "2026-01-12", "2026-01-13"]
CLOSES = [100, 100, 110, 110, 120, 125, 125]
# bar 0: buy 10 -> fills bar 1 at 100; bar 2: sell 10 -> bar 3 at 110 (long closed);
# bar 3: sell 10 -> bar 4 at 120 (short opened); bar 4: buy 10 -> bar 5 at 125 (short closed).
ACTIONS = {0: "buy", 2: "sell", 3: "sell", 4: "buy"}

# Charges of each fill, IndiaEquityFees intraday, each rounded half up to the paisa:
#   buy 10 @ 100 (value 1000): brokerage min(20, 0.03 % = 0.30) = 0.30; STT 0 (buy); exchange 0.00297 % = 0.0297
#       -> 0.03; SEBI 0.0001 % = 0.001 -> 0.00; stamp 0.003 % = 0.03; GST 18 % of (0.30 + 0.03 + 0.00) = 0.0594
#       -> 0.06. Total 0.42.
#   sell 10 @ 110 (1100): brokerage 0.33; STT 0.025 % = 0.275 -> 0.28; exchange 0.03267 -> 0.03; SEBI 0.0011 -> 0;
#       stamp 0 (sell); GST 18 % of 0.36 = 0.0648 -> 0.06. Total 0.70.
#   sell 10 @ 120 (1200): brokerage 0.36; STT 0.30; exchange 0.03564 -> 0.04; SEBI 0.0012 -> 0; GST 18 % of 0.40
#       = 0.072 -> 0.07. Total 0.77.
#   buy 10 @ 125 (1250): brokerage 0.375 -> 0.38; STT 0; exchange 0.037125 -> 0.04; SEBI 0.00125 -> 0; stamp
#       0.0375 -> 0.04; GST 18 % of 0.42 = 0.0756 -> 0.08. Total 0.54.
# By kind: brokerage 0.30 + 0.33 + 0.36 + 0.38 = 1.37; STT 0.28 + 0.30 = 0.58; exchange 0.03 + 0.03 + 0.04 + 0.04
# = 0.14; stamp 0.03 + 0.04 = 0.07; GST 0.06 + 0.06 + 0.07 + 0.08 = 0.27; SEBI 0. Total 2.43.
CHARGES = {"Brokerage": 1.37, "STT": 0.58, "Exchange transaction charge": 0.14, "Stamp duty": 0.07, "GST": 0.27}
# Equity at each bar's close (cash + position at the close):
#   0: 10000; 1: 10000 - 1000 - 0.42 + 10 x 100 = 9999.58; 2: 8999.58 + 10 x 110 = 10099.58;
#   3: 8999.58 + 1100 - 0.70 = 10098.88 (flat); 4: 10098.88 + 1200 - 0.77 - 10 x 120 = 10098.11;
#   5: 11298.11 - 1250 - 0.54 = 10047.57 (flat); 6: 10047.57.
EQUITY = [10000.00, 9999.58, 10099.58, 10098.88, 10098.11, 10047.57, 10047.57]
SQRT_252 = math.sqrt(252)


def hand_bars() -> pd.DataFrame:
    stamps = pd.to_datetime(DAYS).tz_localize("UTC") + pd.Timedelta(hours=4)
    return pd.DataFrame({"timestamp": stamps, "symbol": "RELIANCE", "open": CLOSES, "high": CLOSES, "low": CLOSES,
                         "close": CLOSES, "volume": 1000.0})


class Script(ok.Strategy):
    """Places ``ACTIONS[i]`` (10 shares, market) on the i-th bar."""

    def on_start(self, ctx):
        self.count = 0

    def on_bar(self, ctx, bar):
        action = ACTIONS.get(self.count)
        self.count += 1
        if action:
            getattr(ctx, action)(bar.symbol, 10)


class Idle(ok.Strategy):
    def on_bar(self, ctx, bar):
        pass


@pytest.fixture(scope="module")
def result():
    return ok.backtest(Script(), hand_bars(), cash=10_000, fees="india_equity")


@pytest.fixture(scope="module")
def report(result):
    return result.report(benchmark="RELIANCE")


def test_the_equity_the_report_measures_is_the_hand_worked_one(result, report):
    assert report.equity.round(2).tolist() == EQUITY
    assert report.metrics.loc["bars", "strategy"] == 7
    assert report.metrics.loc["periods_per_year", "strategy"] == 252  # one bar a trading day


def test_return_and_risk_figures_against_the_hand_worked_example(report):
    s = report.stats
    # Bar returns r_i = E_i / E_(i-1) - 1, six of them; a year is 252 bars, so the run is 6/252 of a year.
    r = [b / a - 1 for a, b in pairwise(EQUITY)]
    # Total return 10047.57 / 10000 - 1 = 0.4757 %; CAGR 1.004757 ** (252 / 6) - 1 = 1.004757 ** 42 - 1 ~ 22.06 %.
    assert s["total_return"] == pytest.approx(0.004757)
    assert s["cagr"] == pytest.approx(1.004757 ** 42 - 1)
    assert s["cagr"] == pytest.approx(0.2206, abs=1e-4)
    # r ~ [-0.000042, +0.010000, -0.0000693, -0.0000762, -0.0050048, 0]: mean ~ 0.000800, sample sd ~ 0.004917;
    # volatility sd x sqrt(252) ~ 7.82 %; Sharpe mean / sd x sqrt(252) ~ 2.58.
    mean, sd = statistics.fmean(r), statistics.stdev(r)
    assert s["volatility"] == pytest.approx(sd * SQRT_252) and s["volatility"] == pytest.approx(0.0782, abs=1e-4)
    assert s["sharpe"] == pytest.approx(mean / sd * SQRT_252) and s["sharpe"] == pytest.approx(2.58, abs=0.01)
    # Downside deviation sqrt(sum of squared losing returns / 6) ~ 0.002041 (the 0.005005 loss dominates);
    # Sortino ~ 0.000800 / 0.002041 x sqrt(252) ~ 6.22.
    downside = math.sqrt(sum(min(x, 0) ** 2 for x in r) / len(r))
    assert s["sortino"] == pytest.approx(mean / downside * SQRT_252) and s["sortino"] == pytest.approx(6.22, abs=0.01)


def test_drawdown_figures_against_the_hand_worked_example(report):
    s = report.stats
    # The peak is 10099.58 (bar 2, 7 January); the low 10047.57 (bars 5 and 6): 10047.57 / 10099.58 - 1 = -0.515 %.
    # Never recovered: it lasts from bar 2 to the last bar, 4 bars, 7 to 13 January = 6 calendar days. The earlier
    # dip (bar 1, below the starting 10000) lasted 2 bars and 2 days, so the longest is the same one.
    assert s["max_drawdown"] == pytest.approx(10047.57 / 10099.58 - 1)
    assert (s["max_drawdown_bars"], s["max_drawdown_days"]) == (4, 6)
    assert (s["longest_drawdown_bars"], s["longest_drawdown_days"]) == (4, 6)
    # Calmar: CAGR / |max drawdown| ~ 0.2206 / 0.00515 ~ 42.8.
    assert s["calmar"] == pytest.approx((1.004757 ** 42 - 1) / (1 - 10047.57 / 10099.58))
    assert report.drawdown.min() == pytest.approx(s["max_drawdown"])


def test_trade_figures_against_the_hand_worked_example(report):
    s = report.stats
    # Round trips: long 10 from 100 to 110: +100 gross, fees 0.42 + 0.70 = 1.12, net 98.88; short 10 from 120 to
    # 125: -50 gross, fees 0.77 + 0.54 = 1.31, net -51.31.
    trades = report.trades
    assert trades["direction"].tolist() == ["long", "short"]
    assert trades["gross_pnl"].tolist() == pytest.approx([100, -50])
    assert trades["fees"].tolist() == pytest.approx([1.12, 1.31])
    assert trades["net_pnl"].tolist() == pytest.approx([98.88, -51.31])
    # Win rate 1 of 2; profit factor 98.88 / 51.31 ~ 1.927; expectancy (98.88 - 51.31) / 2 = 23.785.
    assert (s["trades"], s["open_trades"], s["win_rate"]) == (2, 0, 0.5)
    assert s["profit_factor"] == pytest.approx(98.88 / 51.31)
    assert s["expectancy"] == pytest.approx(23.785)
    assert (s["avg_win"], s["avg_loss"]) == pytest.approx((98.88, -51.31))
    # Exposure: a position is open at the closes of bars 1, 2 (long) and 4 (short): 3 of 7 bars.
    assert s["exposure"] == pytest.approx(3 / 7)
    # Turnover: traded 1000 + 1100 + 1200 + 1250 = 4550 over the mean equity 70391.29 / 7 = 10055.8986: 0.45247;
    # a year's worth: 0.45247 x 252 / 6 = 19.004.
    assert s["traded_value"] == pytest.approx(4550)
    assert s["turnover"] == pytest.approx(4550 / (sum(EQUITY) / 7)) and s["turnover"] == pytest.approx(0.45247, 1e-4)
    assert s["annual_turnover"] == pytest.approx(4550 / (sum(EQUITY) / 7) * 42)


def test_charges_and_their_drag_against_the_hand_worked_example(result, report):
    s = report.stats
    # Net P&L 10047.57 - 10000 = 47.57; gross 47.57 + 2.43 = 50.00 (= +100 - 50): the charges took 2.43 / 50 = 4.86 %.
    assert s["net_pnl"] == pytest.approx(47.57)
    assert s["charges"] == pytest.approx(2.43)
    assert s["gross_pnl"] == pytest.approx(50.00)
    assert s["charges_drag"] == pytest.approx(2.43 / 50)
    table = report.charges
    assert table.loc[list(CHARGES), "amount"].tolist() == pytest.approx(list(CHARGES.values()))
    assert table.loc["Total", "amount"] == pytest.approx(2.43)
    # Each kind's drag is its amount over 50: brokerage 2.74 %, STT 1.16 %, exchange 0.28 %, stamp 0.14 %, GST 0.54 %.
    assert table.loc[list(CHARGES), "drag"].tolist() == pytest.approx([v / 50 for v in CHARGES.values()])
    assert s["charges_drag_stt"] == pytest.approx(0.0116) and s["charges_drag_brokerage"] == pytest.approx(0.0274)
    assert "SEBI fee" not in table.index  # 0.0001 % of each fill rounds to 0.00
    # Basis points of the 4550 traded: STT 0.58 / 4550 x 10^4 ~ 1.2747.
    assert table.loc["STT", "bps_of_traded_value"] == pytest.approx(0.58 / 4550 * 10_000)
    # What the ledger booked agrees.
    assert float(result.manager.ledger.fees()) == pytest.approx(2.43)


def test_the_benchmark_is_the_symbols_buy_and_hold(report):
    m = report.metrics
    # RELIANCE from 100 to 125 is +25 %; scaled to the starting 10,000 it ends at 12,500.
    assert m.loc["total_return", "benchmark"] == pytest.approx(0.25)
    assert report.benchmark.tolist() == pytest.approx([100 * c for c in CLOSES])
    # It never fell: no drawdown; with no losing bar its Sortino is infinite.
    assert m.loc["max_drawdown", "benchmark"] == 0 and m.loc["sortino", "benchmark"] == math.inf
    # Beta = cov(r, b) / var(b); alpha = (mean r - beta x mean b) x 252; correlation.
    r = [y / x - 1 for x, y in pairwise(EQUITY)]
    b = [y / x - 1 for x, y in pairwise(CLOSES)]
    beta = statistics.covariance(r, b) / statistics.variance(b)
    assert m.loc["beta", "strategy"] == pytest.approx(beta)
    assert m.loc["alpha", "strategy"] == pytest.approx((statistics.fmean(r) - beta * statistics.fmean(b)) * 252)
    assert m.loc["correlation", "strategy"] == pytest.approx(statistics.correlation(r, b))


def test_a_benchmark_series_with_naive_times_is_taken_as_utc_and_aligned_to_the_bars(result):
    # Prices only on some days, naive: each bar takes the last price at or before it (before the first, the first).
    stamps = pd.to_datetime(["2026-01-06 04:00", "2026-01-09 04:00"])
    report = result.report(benchmark=pd.Series([200.0, 220.0], index=stamps, name="NIFTY"))
    assert report.benchmark_name == "NIFTY"
    assert report.benchmark.tolist() == pytest.approx([10_000] * 4 + [11_000] * 3)


def test_round_trips_split_a_reversing_fill_and_its_fees_by_quantity():
    t = datetime(2026, 1, 5, 4, tzinfo=UTC)
    fills = [Fill("T1", "O1", "X", Side.BUY, 10, Decimal(100), Decimal("1.00"), t, Product.MIS),
             # Sells 15: 10 close the long, 5 open a short; fees 1.50 split 1.00 / 0.50.
             Fill("T2", "O2", "X", Side.SELL, 15, Decimal(110), Decimal("1.50"), t, Product.MIS),
             Fill("T3", "O3", "X", Side.BUY, 5, Decimal(100), Decimal("0.25"), t, Product.MIS),
             Fill("T4", "O4", "X", Side.BUY, 3, Decimal(90), Decimal("0.10"), t, Product.CNC)]  # still open
    trades, still_open = round_trips(fills)
    # Long: +100 gross, fees 1.00 + 1.00, net 98.00. Short 5 from 110 to 100: +50, fees 0.50 + 0.25, net 49.25.
    assert trades[["direction", "quantity"]].values.tolist() == [["long", 10], ["short", 5]]
    assert trades["net_pnl"].tolist() == pytest.approx([98.00, 49.25])
    assert still_open == 1


def test_clean_numbers_through_build_report():
    # Daily equity 1000, 1100, 990, 990, 1188: returns +10 %, -10 %, 0, +20 %. Mean 5 %; deviations 5, -15, -5,
    # 15 (%) square to 0.05 in all, /3: sd = sqrt(1/60) = 0.129099. Volatility sqrt(252/60) = 2.04939; Sharpe
    # 0.05 x sqrt(60) x sqrt(252) = 0.05 x sqrt(15120) = 6.14817; downside sqrt(0.01 / 4) = 0.05, Sortino
    # 0.05 / 0.05 x sqrt(252) = 15.8745. Drawdown 990 / 1100 - 1 = -10 % from bar 1 to bar 4 (back above 1100):
    # 3 bars, 3 days. CAGR 1.188 ** 63 - 1 (4 returns of 252 a year). Exposure 2 of 5 bars.
    index = pd.date_range("2026-02-02 04:00", periods=5, freq="D", tz="UTC")
    equity = pd.DataFrame({"equity": [1000, 1100, 990, 990, 1188], "exposure": [0, 5, 5, 0, 0]}, index=index,
                          dtype=float)
    report = build_report(equity, [], instruments={}, fee_model=None)
    s = report.stats
    assert s["volatility"] == pytest.approx(math.sqrt(4.2))
    assert s["sharpe"] == pytest.approx(6.14817, abs=1e-5)
    assert s["sortino"] == pytest.approx(15.8745, abs=1e-4)
    assert s["max_drawdown"] == pytest.approx(-0.1)
    assert (s["max_drawdown_bars"], s["max_drawdown_days"]) == (3, 3)
    assert s["cagr"] == pytest.approx(1.188 ** 63 - 1)
    assert s["exposure"] == pytest.approx(0.4)
    # The one month holds the whole run: February 2026, 1188 / 1000 - 1.
    assert report.monthly_returns.loc[2026, 2] == pytest.approx(0.188)
    assert report.monthly_returns.loc[2026].drop(2).isna().all()


def test_minute_bars_annualise_by_bars_a_trading_day():
    # Two trading days of 375 one-minute bars: 252 x 375 = 94,500 bars a year.
    days = [pd.date_range(f"2026-01-0{d} 03:45", periods=375, freq="min", tz="UTC") for d in (5, 6)]
    index = days[0].append(days[1])
    equity = pd.DataFrame({"equity": 1000.0, "exposure": 0.0}, index=index)
    assert build_report(equity, [], instruments={}, fee_model=None).stats["periods_per_year"] == 94_500


# -- edge cases ---------------------------------------------------------------------------------------------------


def test_a_run_without_trades_reports_flat_figures_and_draws_every_figure(tmp_path):
    result = ok.backtest(Idle(), hand_bars(), cash=10_000)
    report = result.report()
    s = report.stats
    assert s["total_return"] == 0 and s["cagr"] == 0 and s["volatility"] == 0 and s["max_drawdown"] == 0
    assert math.isnan(s["sharpe"]) and math.isnan(s["sortino"]) and math.isnan(s["calmar"])
    assert s["trades"] == 0 and math.isnan(s["win_rate"]) and math.isnan(s["profit_factor"])
    assert math.isnan(s["expectancy"]) and s["exposure"] == 0 and s["turnover"] == 0 and s["charges"] == 0
    assert math.isnan(s["charges_drag"])  # nothing gained, nothing to take a share of
    assert report.charges.index.tolist() == ["Total"]
    assert set(report.figures) == set(FIGURE_TITLES)
    assert report.save(tmp_path / "flat.html").stat().st_size > 0


def test_a_single_bar_reports_what_one_bar_can_say(tmp_path):
    result = ok.backtest(Idle(), hand_bars().iloc[:1], cash=10_000)
    report = result.report(benchmark="RELIANCE")
    s = report.stats
    assert s["bars"] == 1 and s["total_return"] == 0 and s["max_drawdown"] == 0
    for key in ("cagr", "volatility", "sharpe", "sortino", "beta", "alpha"):
        assert math.isnan(s[key]), key
    page = report.save(tmp_path / "one.html").read_text()
    assert page.count("data:image/png;base64,") == len(FIGURE_TITLES)


def test_a_loss_leaves_the_drag_as_amounts_and_basis_points_only(tmp_path):
    # The same trades with the prices of the short reversed: both trades lose before charges.
    bars = hand_bars()
    bars[["open", "high", "low", "close"]] = [[c] * 4 for c in [100, 100, 95, 95, 120, 125, 125]]
    report = ok.backtest(Script(), bars, cash=10_000, fees="india_equity").report()
    assert report.stats["gross_pnl"] < 0 and math.isnan(report.stats["charges_drag"])
    assert report.charges["amount"].sum() > 0 and report.charges["bps_of_traded_value"].notna().all()


# -- hostile arguments --------------------------------------------------------------------------------------------

_junk = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8), st.binary(max_size=4),
                  st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
_bad_series = st.one_of(
    st.builds(lambda values: pd.Series(values, dtype=float), st.lists(st.floats(1, 100), min_size=1, max_size=4)),
    st.builds(lambda v: pd.Series([v, 100.0], index=pd.to_datetime(["2026-01-06 04:00", "2026-01-08 04:00"], utc=True)),
              st.one_of(st.floats(max_value=0), st.just(float("nan")), st.just(float("inf")))),
    st.just(pd.Series([100.0, 101.0], index=pd.to_datetime(["2025-01-01", "2025-01-02"], utc=True))),  # before the run
    st.just(pd.Series(["a", "b"], index=pd.to_datetime(["2026-01-06", "2026-01-07"], utc=True))),
    st.just(pd.Series([], dtype=float, index=pd.DatetimeIndex([], tz="UTC"))),
)


def _loads_as_zone(name: str) -> bool:
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(name)
    except Exception:  # whatever keeps it from loading makes it no zone, as report() sees it
        return False
    return True


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["benchmark", "periods_per_year", "risk_free", "timezone", "title", "progress"]),
       junk=_junk, series=_bad_series, pick_series=st.booleans())
def test_hostile_report_arguments_are_refused_naming_the_field(result, field, junk, series, pick_series):
    value = series if field == "benchmark" and pick_series else junk
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if field == "benchmark":
        assume(value is not None and not (isinstance(value, str) and value == "RELIANCE"))
    elif field == "periods_per_year":
        assume(value is not None and not (number and 0 < value <= 1e9))
    elif field == "risk_free":
        assume(not (number and -1 < value <= 1))
    elif field == "timezone":
        assume(not (isinstance(value, str) and value.strip() and _loads_as_zone(value)))
    elif field in ("title", "progress"):
        assume(value is not None and not isinstance(value, str if field == "title" else bool))
    with pytest.raises(ConfigError) as caught:
        result.report(**{field: value})
    assert caught.value.field == field


@pytest.mark.parametrize("path", [123, None, True, "/no/such/folder/x.html", ""])
def test_save_refuses_a_bad_path_naming_it(report, path):
    with pytest.raises(ConfigError) as caught:
        report.save(path)
    assert caught.value.field == "path"


async def test_a_paper_run_reports_what_its_backtest_reports():
    bars = hand_bars()
    feed = ok.ReplayFeed(bars, speed=None)
    oms = await ok.OMS.open(feed=None, clock=ok.SimulatedClock(feed.start), risk_interval=None, cash=10_000,
                            broker=ok.MockBroker(immediate_market_fills=False, fees="india_equity"))
    try:
        with pytest.raises(DataError) as caught:
            trader = ok.PaperTrader(Script(), oms, feed)
            trader.report()
        assert caught.value.field == "equity"
        trader = await ok.paper_trade(Script(), oms=oms, feed=feed)
        await trader
        paper = trader.report(benchmark="RELIANCE")
    finally:
        await oms.close()
    backtest = ok.backtest(Script(), bars, cash=10_000, fees="india_equity").report(benchmark="RELIANCE")
    assert paper.equity.round(2).tolist() == EQUITY
    pd.testing.assert_frame_equal(paper.metrics, backtest.metrics)
    pd.testing.assert_frame_equal(paper.charges, backtest.charges)


# -- the page in a browser ----------------------------------------------------------------------------------------


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


@pytest.mark.slow
def test_the_saved_page_is_self_contained_and_every_image_loads_in_chromium(tmp_path):
    from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, in_ci

    if not CHROMIUM.exists():
        if in_ci():
            pytest.fail(f"CI=true and no browser at {CHROMIUM}", pytrace=False)
        pytest.skip(f"{CHROMIUM} not found")
    from playwright.sync_api import sync_playwright

    result = ok.backtest(Crossover(fast=20, slow=60), ROOT / "data" / "nse_minute.parquet", cash=1_000_000,
                         fees="india_equity")
    report = result.report(benchmark="RELIANCE", title="Crossover(fast=20, slow=60) on data/nse_minute.parquet")
    assert isinstance(report, Tearsheet)
    page_path = report.save(tmp_path / "tearsheet.html")
    text = page_path.read_text()
    assert "http://" not in text.lower() and "https://" not in text.lower()
    # Nor any other address: with the inlined images taken out, no "//", url(...) or src other than those.
    rest = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", text)
    assert not re.search(r"//|url\(|@import", rest, re.IGNORECASE)
    assert not re.search(r"<(script|link|iframe)\b", text, re.IGNORECASE)
    assert re.findall(r'<img [^>]*src="([^"]{0,22})', text) == ["data:image/png;base64,"] * len(FIGURE_TITLES)
    assert report._repr_html_() in text
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_path.as_uri())
            page.wait_for_load_state("load")
            loaded = page.eval_on_selector_all(
                "img", "images => images.map(i => i.complete && i.naturalWidth > 0 && i.naturalHeight > 0)")
            assert loaded == [True] * len(FIGURE_TITLES)
            assert "Sharpe ratio" in page.inner_text(".oms-tearsheet")
            page.screenshot(path=str(ROOT / "docs" / "tearsheet.png"), full_page=True)
        finally:
            browser.close()
    # The file itself and its inlined images; nothing from elsewhere.
    assert all(url.startswith(("file://", "data:")) for url in requests), requests


def test_progress_true_shows_a_text_bar_for_the_charges_and_the_figures(result, capsys):
    report = result.report(progress=True)
    report.to_html()
    err = capsys.readouterr().err
    assert "report: charges" in err and "4/4" in err
    assert "report: figures" in err and f"{len(FIGURE_TITLES)}/{len(FIGURE_TITLES)}" in err
