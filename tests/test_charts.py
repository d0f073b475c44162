"""result.chart(symbol): candles at an interval, a marker per fill, price lines, ctx.plot lines, the window, and the
self-contained HTML; hostile arguments refused with ConfigError naming the field."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import oms_kit as ok
from oms_kit.chart_data import INTERVALS, MAX_BARS
from oms_kit.charts import ResultChart, library_source
from oms_kit.errors import ConfigError
from tests.stubs import bar_frame

ROOT = Path(__file__).resolve().parents[1]
IST = "Asia/Kolkata"
# 09:15 in Mumbai (UTC+5:30) is 03:45 UTC.
OPEN_UTC = datetime(2026, 1, 5, 3, 45, tzinfo=UTC)


def chart_seconds(local: str) -> int:
    """Chart time of an exchange wall-clock time: seconds as if that wall clock were UTC."""
    return int(pd.Timestamp(local).as_unit("s").asm8.astype(np.int64))


class Crossover(ok.Strategy):
    """Long 10 above the 5-bar mean, flat below; plots the mean and a counter."""

    window = 5
    history = 10

    def on_start(self, ctx):
        self.count = 0

    def on_bar(self, ctx, bar):
        self.count += 1
        ctx.plot("count", self.count * 1000 + 2000)  # far from the prices: drawn below them
        closes = ctx.closes(bar.symbol, self.window)
        if len(closes) < self.window:
            ctx.plot("mean", None)  # a gap until there is a mean
            return
        mean = sum(closes) / self.window
        ctx.plot("mean", mean)
        held = ctx.position(bar.symbol)
        if bar.close > mean and held <= 0:
            ctx.buy(bar.symbol, 10)
        elif bar.close < mean and held > 0:
            ctx.sell(bar.symbol, held)


def wave(count: int, start: datetime = OPEN_UTC, symbol: str = "RELIANCE", minutes: int = 1) -> pd.DataFrame:
    rows = []
    for i in range(count):
        close = 2500 + 20 * math.sin(i / 4) + (i % 3)
        open_ = 2500 + 20 * math.sin((i - 1) / 4)
        rows.append((start + timedelta(minutes=minutes * i), symbol, open_, max(open_, close) + 1.5,
                     min(open_, close) - 1.5, close, 100 + i))
    return pd.DataFrame(rows, columns=["timestamp", "symbol", "open", "high", "low", "close", "volume"])


@pytest.fixture(scope="module")
def result():
    return ok.backtest(Crossover(), wave(120), fees=None)


# -- candles -----------------------------------------------------------------------------------------------------


def test_five_minute_candles_of_one_minute_bars_worked_by_hand():
    # Ten one-minute bars from 09:15 IST: 09:15-09:19 make the first five-minute candle, 09:20-09:24 the second.
    rows = [(100, 101, 99, 100.5), (100.5, 103, 100, 102), (102, 102.5, 98, 99), (99, 100, 97.5, 98),
            (98, 99, 96, 96.5), (96.5, 97, 95, 96), (96, 99, 96, 98.5), (98.5, 104, 98, 103.5),
            (103.5, 104, 101, 101.5), (101.5, 102, 100, 100.25)]
    frame = bar_frame(rows, start=OPEN_UTC)
    frame["volume"] = [10, 20, 30, 40, 50, 1, 2, 3, 4, float("nan")]
    result = ok.backtest(ok.Strategy(), frame, fees=None)

    candles = result.chart("RELIANCE", "5m").data.candles
    assert candles["time"].tolist() == [chart_seconds("2026-01-05 09:15"), chart_seconds("2026-01-05 09:20")]
    assert candles["open"].tolist() == [100, 96.5]
    assert candles["high"].tolist() == [103, 104]
    assert candles["low"].tolist() == [96, 95]
    assert candles["close"].tolist() == [96.5, 100.25]
    assert candles["volume"].tolist() == [150, 10]  # NaN volume counts as 0

    fifteen = result.chart("RELIANCE", "15m").data.candles  # 09:15-09:29: one candle of all ten bars
    assert fifteen[["open", "high", "low", "close", "volume"]].values.tolist() == [[100, 104, 95, 100.25, 160]]
    own = result.chart("RELIANCE").data.candles  # the data's own bars, at their exchange times
    assert len(own) == 10 and own["time"].iloc[3] == chart_seconds("2026-01-05 09:18")
    assert own["close"].tolist() == [r[3] for r in rows]


def test_daily_candles_follow_the_exchanges_day_not_utcs():
    # 20:00 UTC on the 5th is 01:30 on the 6th in Mumbai: it belongs to the 6th's candle.
    stamps = [datetime(2026, 1, 5, 4, 0, tzinfo=UTC), datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
              datetime(2026, 1, 5, 20, 0, tzinfo=UTC), datetime(2026, 1, 6, 5, 0, tzinfo=UTC)]
    frame = pd.DataFrame({"timestamp": stamps, "symbol": "TCS", "open": [10.0, 11, 12, 13],
                          "high": [11.0, 15, 13, 14], "low": [9.0, 10, 8, 12], "close": [11.0, 12, 13, 12.5],
                          "volume": [1.0, 2, 3, 4]})
    result = ok.backtest(ok.Strategy(), frame, fees=None)
    data = result.chart("TCS", "1d").data
    assert data.candles["time"].tolist() == [chart_seconds("2026-01-05"), chart_seconds("2026-01-06")]
    assert data.candles[["open", "high", "low", "close", "volume"]].values.tolist() == [
        [10, 15, 9, 12, 3], [12, 14, 8, 12.5, 7]]
    assert data.payload()["intraday"] is False


def test_an_interval_shorter_than_the_data_is_refused():
    daily = wave(5, minutes=24 * 60)
    result = ok.backtest(ok.Strategy(), daily, fees=None)
    with pytest.raises(ConfigError) as error:
        result.chart("RELIANCE", "5m")
    assert error.value.field == "interval" and "1d" in error.value.allowed


# -- fills -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("interval", [None, "1m", "5m", "1h"])
def test_every_fill_is_a_marker_at_its_candle_with_its_side_quantity_and_price(result, interval):
    fills = result.fills
    assert len(fills) >= 8
    data = result.chart("RELIANCE", interval).data
    step = INTERVALS.get(interval or "", 0)
    expected = []
    for fill in fills:
        local = chart_seconds(pd.Timestamp(fill.ts).tz_convert(IST).tz_localize(None))
        expected.append((local - local % step if step else local, str(fill.side), fill.quantity, str(fill.price),
                         f"{fill.side} {fill.quantity} @ {fill.price}"))
    markers = data.markers
    assert list(zip(markers["time"], markers["side"], markers["quantity"], markers["price"], markers["text"],
                    strict=True)) == expected
    assert set(markers["time"]) <= set(data.candles["time"])  # each marker sits on a candle
    assert (markers["position"] == np.where(markers["side"] == "BUY", "belowBar", "aboveBar")).all()
    assert data.fills_total == len(fills)
    payload = data.payload()
    assert [(m["time"], m["side"], m["quantity"], m["price"]) for m in payload["markers"]] == [e[:4] for e in expected]


def test_markers_are_the_symbols_own_fills():
    frame = pd.concat([wave(60, symbol="TCS"), wave(60, symbol="INFY")]).sort_values("timestamp")
    result = ok.backtest(Crossover(), frame, fees=None)
    for symbol in ("TCS", "INFY"):
        markers = result.chart(symbol).markers
        own = [f for f in result.fills if f.symbol == symbol]
        assert len(own) > 0 and markers["trade_id"].tolist() == [f.trade_id for f in own]
    with pytest.raises(ConfigError) as error:
        result.chart()  # two symbols: which?
    assert error.value.field == "symbol" and "INFY" in error.value.allowed


def test_working_orders_at_the_end_are_price_lines_and_bracket_legs_are_dashed_levels():
    class Resting(ok.Strategy):
        def on_bar(self, ctx, bar):
            if ctx.now == OPEN_UTC:
                ctx.buy(bar.symbol, 5, "LIMIT", price=ctx.round_price(bar.symbol, 2300))  # never reached
                ctx.bracket(bar.symbol, "BUY", 10, "MARKET", target=200, stoploss=150)  # legs never reached

    result = ok.backtest(Resting(), wave(30), fees=None)
    data = result.chart("RELIANCE").data
    lines = {line["title"]: line for line in data.price_lines}
    working = [o for o in result.placed if not o.status.is_terminal]
    assert len(data.price_lines) == len(working) == 3
    assert lines["BUY 5 LIMIT"]["price"] == 2300
    target = next(t for t in lines if t.startswith("target SELL 10 LIMIT"))
    stop = next(t for t in lines if t.startswith("stop SELL 10 SL-M"))
    entry_price = float(result.fills[0].price)
    assert lines[target]["price"] == pytest.approx(entry_price + 200)
    assert lines[stop]["price"] == pytest.approx(entry_price - 150)
    levels = {line["name"]: line for line in data.lines if line["dashed"]}
    # The legs were placed on the entry's fill (the second bar) and still work: a level from there to the end.
    assert levels["stop"]["value"][0] is None
    assert levels["stop"]["value"][1:] == pytest.approx([entry_price - 150] * 29)
    assert levels["target"]["value"][1:] == pytest.approx([entry_price + 200] * 29)


def test_a_brackets_levels_span_the_candles_its_legs_worked_in():
    class Bracket(ok.Strategy):
        def on_bar(self, ctx, bar):
            if ctx.now == OPEN_UTC:
                ctx.bracket(bar.symbol, "BUY", 10, "MARKET", target=5, stoploss=100)

    result = ok.backtest(Bracket(), wave(30), fees=None)
    entry, exit_ = result.fills  # the target filled, and the stop was cancelled with it
    assert exit_.side is ok.Side.SELL and exit_.price >= entry.price + 5
    data = result.chart("RELIANCE").data
    assert data.price_lines == []  # nothing works at the end
    times = data.candles["time"].tolist()
    entered = times.index(chart_seconds(pd.Timestamp(entry.ts).tz_convert(IST).tz_localize(None)))
    exited = times.index(chart_seconds(pd.Timestamp(exit_.ts).tz_convert(IST).tz_localize(None)))
    assert 0 < entered < exited < 29
    levels = {line["name"]: line["value"] for line in data.lines if line["dashed"]}
    for name, level in (("target", float(entry.price) + 5), ("stop", float(entry.price) - 100)):
        worked = [i for i, v in enumerate(levels[name]) if v is not None]
        assert worked == list(range(entered, exited + 1)), name
        assert {levels[name][i] for i in worked} == {level}


# -- indicators --------------------------------------------------------------------------------------------------


def test_ctx_plot_records_a_value_per_bar_and_the_chart_draws_them(result):
    frame = result.indicators
    assert list(frame.columns) == ["time", "symbol", "name", "value"]
    bars = result.bars["timestamp"].tolist()
    count = frame[frame["name"] == "count"]
    assert count["time"].tolist() == bars and count["value"].tolist() == [i * 1000 + 2000 for i in range(1, 121)]
    mean = frame[frame["name"] == "mean"]
    closes = result.bars["close"].to_numpy()
    assert mean["value"].iloc[:4].isna().all()  # the gaps
    assert mean["value"].iloc[4:].to_numpy() == pytest.approx(
        [closes[i - 4:i + 1].mean() for i in range(4, 120)])

    lines = {line["name"]: line for line in result.chart("RELIANCE").data.lines}
    assert lines["mean"]["pane"] == 0 and lines["count"]["pane"] == 1  # near the prices / far from them
    assert lines["mean"]["value"][:4] == [None] * 4
    assert lines["mean"]["value"][4:] == pytest.approx(mean["value"].iloc[4:].tolist())
    five = {line["name"]: line for line in result.chart("RELIANCE", "5m").data.lines}
    assert five["count"]["value"] == [float(i * 1000 + 2000) for i in range(5, 121, 5)]  # each candle's last


def test_plotting_twice_on_one_bar_keeps_the_last_and_other_symbols_can_be_named():
    class Twice(ok.Strategy):
        def on_bar(self, ctx, bar):
            ctx.plot("x", 1)
            ctx.plot("x", bar.close)
            ctx.plot("spread", Decimal("1.5"), symbol="OTHER")

    result = ok.backtest(Twice(), wave(3), fees=None)
    frame = result.indicators
    assert frame[frame["name"] == "x"]["value"].tolist() == result.bars["close"].tolist()
    assert set(frame[frame["name"] == "spread"]["symbol"]) == {"OTHER"}


@pytest.mark.parametrize(("where", "kwargs", "field"), [
    ("on_start", {"name": "x", "value": 1}, "ctx.plot"),
    ("on_bar", {"name": "", "value": 1}, "name"),
    ("on_bar", {"name": 5, "value": 1}, "name"),
    ("on_bar", {"name": "x" * 65, "value": 1}, "name"),
    ("on_bar", {"name": ["x"], "value": 1}, "name"),
    ("on_bar", {"name": "x", "value": 1, "symbol": ["RELIANCE"]}, "symbol"),
    ("on_bar", {"name": "x", "value": float("-inf")}, "value"),
    ("on_bar", {"name": "x", "value": 10**400}, "value"),
    ("on_bar", {"name": "x", "value": "12"}, "value"),
    ("on_bar", {"name": "x", "value": float("inf")}, "value"),
    ("on_bar", {"name": "x", "value": [1]}, "value"),
    ("on_bar", {"name": "x", "value": 1, "symbol": ""}, "symbol"),
])
def test_ctx_plot_refuses_bad_input_naming_the_field(where, kwargs, field):
    class Bad(ok.Strategy):
        pass

    setattr(Bad, where, lambda self, ctx, *rest: ctx.plot(**kwargs))
    with pytest.raises(ConfigError) as error:
        ok.backtest(Bad(), wave(3), fees=None)
    assert error.value.field == field


# -- the window --------------------------------------------------------------------------------------------------


def test_max_bars_keeps_the_last_candles_and_the_note_says_how_to_see_more(result):
    chart = result.chart("RELIANCE", max_bars=30)
    data = chart.data
    assert len(data.candles) == 30 and data.total == 120 and data.windowed
    assert data.candles["time"].iloc[-1] == chart_seconds("2026-01-05 11:14")  # the last of 120 minutes from 09:15
    first = data.candles["time"].iloc[0]
    assert (data.markers["time"] >= first).all()
    assert len(data.markers) == sum(1 for f in result.fills if f.ts >= OPEN_UTC + timedelta(minutes=90))
    assert all(min(line["time"]) >= first for line in data.lines)
    note = data.note()
    assert "30 of 120 candles" in note and "start=" in note and "CandleChart.from_result" in note


def test_start_and_end_choose_the_range_in_exchange_time(result):
    data = result.chart("RELIANCE", start="2026-01-05 09:30", end=datetime(2026, 1, 5, 9, 39)).data
    assert data.candles["time"].tolist() == [chart_seconds(f"2026-01-05 09:{m}") for m in range(30, 40)]
    aware = result.chart("RELIANCE", start=datetime(2026, 1, 5, 4, 0, tzinfo=UTC), max_bars=1).data  # 09:30 IST
    assert aware.candles["time"].tolist() == [chart_seconds("2026-01-05 11:14")]  # the last one of the range
    whole_day = result.chart("RELIANCE", end=date(2026, 1, 5)).data  # a date alone: that whole day
    assert len(whole_day.candles) == 120
    with pytest.raises(ConfigError) as error:
        result.chart("RELIANCE", start="2026-01-06")
    assert error.value.field == "start" and "09:15" in error.value.allowed
    with pytest.raises(ConfigError) as error:
        result.chart("RELIANCE", start="2026-01-05 10:00", end="2026-01-05 09:00")
    assert error.value.field == "end"


# -- hostile arguments -------------------------------------------------------------------------------------------

junk = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=12),
                 st.binary(max_size=4), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2),
                                                                                             st.integers(),
                                                                                             max_size=1))
HOSTILE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@HOSTILE
@given(symbol=junk)
def test_hostile_symbols_are_refused_naming_symbol(result, symbol):
    if symbol in ("RELIANCE", None):
        return  # the run's one symbol (None picks it)
    with pytest.raises(ConfigError) as error:
        result.chart(symbol)
    assert error.value.field == "symbol" and "RELIANCE" in error.value.allowed


@HOSTILE
@given(interval=junk)
def test_hostile_intervals_are_refused_naming_interval(result, interval):
    if interval is None or (isinstance(interval, str) and interval in INTERVALS):
        return
    with pytest.raises(ConfigError) as error:
        result.chart("RELIANCE", interval)
    assert error.value.field == "interval"


@HOSTILE
@given(max_bars=st.one_of(junk, st.integers(min_value=-10, max_value=0),
                          st.integers(min_value=MAX_BARS + 1, max_value=10**30)))
def test_hostile_max_bars_are_refused_naming_max_bars(result, max_bars):
    if isinstance(max_bars, int) and not isinstance(max_bars, bool) and 1 <= max_bars <= MAX_BARS:
        assert len(result.chart("RELIANCE", max_bars=max_bars).data.candles) == min(max_bars, 120)
        return
    with pytest.raises(ConfigError) as error:
        result.chart("RELIANCE", max_bars=max_bars)
    assert error.value.field == "max_bars"


@HOSTILE
@given(field=st.sampled_from(["start", "end"]),
       value=st.one_of(junk, st.datetimes(), st.dates(), st.text(alphabet="0123456789-: T+", max_size=25)))
def test_hostile_start_and_end_chart_or_are_refused_naming_the_field(result, field, value):
    try:
        chart = result.chart("RELIANCE", **{field: value})
    except ConfigError as error:
        assert error.field in ("start", "end")
        if value is not None and not isinstance(value, str | date):
            assert error.field == field  # not a time at all: refused for what it is
    else:
        assert 1 <= len(chart.data.candles) <= 120


@HOSTILE
@given(height=st.one_of(junk, st.integers(min_value=-5, max_value=5000)))
def test_hostile_heights_are_refused_naming_height(result, height):
    if isinstance(height, int) and not isinstance(height, bool) and 150 <= height <= 3000:
        return
    with pytest.raises(ConfigError) as error:
        result.chart("RELIANCE", height=height)
    assert error.value.field == "height"


# -- the HTML ----------------------------------------------------------------------------------------------------


def embedded_payload(page: str) -> dict:
    match = re.search(r"var data = (\{.*?\});\n", page)
    assert match is not None
    return json.loads(match.group(1))


def test_saved_html_is_self_contained_and_carries_the_data(result, tmp_path):
    chart = result.chart("RELIANCE", "5m", title="Crossover </script><b>")
    path = chart.save(tmp_path / "chart.html")
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and library_source() in page
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", page)  # nothing fetched
    assert "</script><b>" not in page  # the title is escaped
    assert embedded_payload(page) == json.loads(json.dumps(chart.data.payload()))
    assert chart._repr_html_().count('class="oms-chart"') == 1
    assert repr(chart).startswith("<ResultChart RELIANCE 5m: 24 of 24 candles")


def test_a_symbol_with_script_in_its_name_cannot_break_out_of_the_page():
    frame = wave(3, symbol="</script><script>alert(1)</script>")
    with pytest.warns(UserWarning, match="no instrument definition"):
        result = ok.backtest(ok.Strategy(), frame, fees=None)
    page = result.chart().html()
    assert page.count("</script>") == 2  # the ends of the two script elements, the library's and the drawing's
    assert embedded_payload(page)["symbol"] == "</script><script>alert(1)</script>"


def test_a_chart_object_refuses_a_bad_height_directly(result):
    with pytest.raises(ConfigError) as error:
        ResultChart(result.chart("RELIANCE").data, height=True)
    assert error.value.field == "height"


def test_a_million_bar_result_sends_a_window():
    # Built directly from a million-row table (a backtest of it is a benchmark's business, not a unit test's).
    from oms_kit.chart_data import chart_data

    count = 1_000_000
    stamps = pd.date_range(OPEN_UTC, periods=count, freq="1min")
    close = 2500 + np.cumsum(np.random.default_rng(5).normal(0, 0.5, count))
    frame = pd.DataFrame({"timestamp": stamps, "symbol": "RELIANCE", "open": close, "high": close + 1,
                          "low": close - 1, "close": close, "volume": 1.0})
    data = chart_data(frame, [], "RELIANCE")
    assert len(data.candles) == 5_000 and data.total == count
    assert data.candles["close"].iloc[-1] == close[-1]
    assert len(json.dumps(data.payload())) < 1_000_000


# -- paper runs --------------------------------------------------------------------------------------------------


async def test_a_paper_replay_charts_the_same_as_its_backtest():
    data = wave(90)
    reference = ok.backtest(Crossover(), data, fees=None)
    start = data["timestamp"].iloc[0].to_pydatetime()
    oms = await ok.OMS.open(feed=None, clock=ok.SimulatedClock(start), risk_interval=None,
                            broker=ok.MockBroker(immediate_market_fills=False))
    try:
        trader = await ok.paper_trade(Crossover(), oms=oms, feed=ok.ReplayFeed(data, speed=None))
        await trader
        paper, backtest = trader.chart("RELIANCE", "5m").data, reference.chart("RELIANCE", "5m").data
        assert len(trader.fills) > 5
        columns = ["time", "side", "quantity", "price"]
        assert paper.markers[columns].values.tolist() == backtest.markers[columns].values.tolist()
        pd.testing.assert_frame_equal(paper.candles, backtest.candles)
        assert paper.lines == backtest.lines
        pd.testing.assert_frame_equal(trader.indicators, reference.indicators)
        assert len(trader.bars) == 90
    finally:
        await oms.close()
