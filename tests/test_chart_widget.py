"""The candlestick chart widget (oms_kit.widgets.chart) on a real OMS and on a million synthetic bars: its model
state (markers are the fills, price lines the working orders, a new price moves the last candle), the window
protocol (a request for more returns the bars before the first one sent; bytes per message bounded), the library
message, and hostile values to its public methods and to its message handler."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import comm
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import oms_kit as ok
from oms_kit.errors import ConfigError
from oms_kit.market.candles import INTERVALS, wall_seconds
from oms_kit.models import Fill, Side
from oms_kit.widgets import ChartPanel, Dashboard
from oms_kit.widgets.chart import MAX_WINDOW, CandleChart, library_gzip, unpack

START = datetime(2026, 1, 5, 3, 45, tzinfo=UTC)  # 09:15 IST
MILLION = 1_000_000
MESSAGE_BYTES = 160_000  # a window of 2,000 candles is 96 kB of columns; markers and the envelope on top


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every widget message as the kernel would send it: its JSON-encoded data and the size of its buffers."""
    messages: list[dict[str, Any]] = []

    def publish_msg(self: Any, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None,
                    **keys: Any) -> None:
        messages.append({"type": msg_type, "data": data, "json": len(json.dumps(data, default=str)),
                         "buffers": [bytes(b) for b in buffers or ()]})

    monkeypatch.setattr(comm.DummyComm, "publish_msg", publish_msg)
    return messages


def custom(messages: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m for m in messages if m["type"] == "comm_msg" and m["data"].get("method") == "custom"
            and m["data"]["content"].get("type") == kind]


def ask(chart: CandleChart, content: Any) -> None:
    """A message from the front end, as the comm hands it to the widget."""
    chart._handle_msg({"content": {"data": {"method": "custom", "content": content}}, "buffers": []})


@pytest.fixture
async def oms() -> AsyncIterator[ok.OMS]:
    clock = ok.SimulatedClock(START)
    oms = await ok.OMS.open(feed=None, fees=None, risk_interval=None, clock=clock)
    await oms.set_price("RELIANCE", 2500.0)
    await oms.set_price("TCS", 3900.0)
    yield oms
    await oms.close()


@pytest.fixture
def closing() -> Iterator[list[Any]]:
    made: list[Any] = []
    yield made
    for widget in made:
        widget.close()


def expected_markers(fills: list[Fill], interval: str = "1m") -> list[tuple[int, str, int]]:
    """The fills added up per candle and side, by hand: what the markers must say."""
    step = INTERVALS[interval]
    totals: dict[tuple[int, str], int] = {}
    for f in fills:
        t = wall_seconds(f.ts) - wall_seconds(f.ts) % step  # type: ignore[arg-type]
        totals[(t, f.side.value)] = totals.get((t, f.side.value), 0) + f.quantity
    return sorted((t, side, q) for (t, side), q in totals.items())


def shown_markers(chart: CandleChart) -> list[tuple[int, str, int]]:
    return sorted((m["time"], m["side"], m["quantity"]) for m in chart.markers)


async def settle(panel: ChartPanel) -> None:
    await asyncio.sleep(0)
    await panel.settle()


async def test_markers_are_the_fills_and_lines_the_working_orders(oms: ok.OMS, closing: list[Any]) -> None:
    clock = oms.clock
    await oms.place_order("RELIANCE", "BUY", 10)
    clock.advance(30)
    await oms.place_order("RELIANCE", "BUY", 5)  # the same minute: one marker of 15
    clock.advance(60)
    await oms.place_order("RELIANCE", "SELL", 4)
    await oms.place_order("TCS", "SELL", 3, product="MIS")  # another symbol: not on RELIANCE's chart
    limit = await oms.place_order("RELIANCE", "BUY", 2, "LIMIT", price=2400)
    stop = await oms.place_order("RELIANCE", "SELL", 2, "SL-M", trigger_price=2300)
    panel = ChartPanel(oms)
    closing.append(panel)
    chart = panel.chart
    assert chart.symbol == "RELIANCE"  # the first symbol with a position
    fills = [f for f in oms.manager.trades if f.symbol == "RELIANCE"]
    assert shown_markers(chart) == expected_markers(fills) and len(chart.markers) == 2
    assert sorted((ln["id"], ln["price"]) for ln in chart.lines) == sorted(
        [(limit.order_id, 2400.0), (stop.order_id, 2300.0)])
    assert {ln["kind"] for ln in chart.lines} == {"limit", "trigger"}

    await oms.cancel_order(limit.order_id)
    clock.advance(60)
    await oms.place_order("RELIANCE", "SELL", 6)
    await settle(panel)
    assert [ln["id"] for ln in chart.lines] == [stop.order_id]
    fills = [f for f in oms.manager.trades if f.symbol == "RELIANCE"]
    assert shown_markers(chart) == expected_markers(fills)

    chart.show("TCS", "5m")
    assert chart.lines == [] and shown_markers(chart) == expected_markers(
        [f for f in oms.manager.trades if f.symbol == "TCS"], "5m")
    assert not panel.errors


async def test_a_bracket_shows_its_target_and_stop(oms: ok.OMS, closing: list[Any]) -> None:
    program = await oms.place_bracket("TCS", "BUY", 10, "MARKET", target=40, stoploss=25)
    panel = ChartPanel(oms, symbol="TCS")
    closing.append(panel)
    # The entry filled at 3,900: the target LIMIT 40 points above, the stop-loss SL-M's trigger 25 below.
    by_kind = {ln["kind"]: (ln["id"], ln["price"]) for ln in panel.chart.lines}
    program = oms.manager.programs.book.programs[program.program_id]
    assert by_kind == {"target": (program.target_id, 3940.0), "stop": (program.stop_id, 3875.0)}


async def test_a_new_price_moves_the_last_candle_and_a_new_minute_adds_one(oms: ok.OMS, closing: list[Any],
                                                                          sent: list[dict[str, Any]]) -> None:
    panel = ChartPanel(oms, symbol="RELIANCE")
    closing.append(panel)
    chart = panel.chart
    first = unpack(chart.bars)
    assert first.close.tolist() == [2500.0]
    oms.clock.advance(10)
    await oms.set_price("RELIANCE", 2520.0)
    await settle(panel)
    assert chart.tail == [[int(first.time[0]), 2500.0, 2520.0, 2500.0, 2520.0, 0.0]]
    oms.clock.advance(60)
    await oms.set_price("RELIANCE", 2490.0)
    await settle(panel)
    assert [c[4] for c in chart.tail] == [2520.0, 2490.0] and chart.tail[1][0] == chart.tail[0][0] + 60
    refreshes = panel.refreshes
    sent.clear()
    await oms.set_price("TCS", 3901.0)  # another symbol: fed to the book, nothing redrawn or sent
    await settle(panel)
    assert panel.refreshes == refreshes and sent == []
    assert panel.book.last("TCS", "1m").close == 3901.0  # type: ignore[union-attr]


async def test_a_chart_without_prices_waits_for_the_first(closing: list[Any]) -> None:
    oms = await ok.OMS.open(feed=None, fees=None, risk_interval=None)
    try:
        panel = ChartPanel(oms)
        closing.append(panel)
        assert panel.chart.symbol == "" and panel.chart.bars == b"" and panel.chart.symbols == []
        await oms.set_price("INFY", 1500.0)
        await settle(panel)
        assert panel.chart.symbol == "INFY" and panel.chart.symbols == ["INFY"]
        assert unpack(panel.chart.bars).close.tolist() == [1500.0]
        with pytest.raises(ConfigError, match="book"):
            ChartPanel(oms, book={})  # type: ignore[arg-type]
    finally:
        await oms.close()


async def test_the_dashboard_has_the_chart(oms: ok.OMS, closing: list[Any]) -> None:
    await oms.place_order("TCS", "BUY", 1)
    board = Dashboard(oms)
    closing.append(board)
    assert board.candles in board.panels and board.candles.chart.symbol == "TCS"
    await board.settle()
    assert not board.candles.errors


def synthetic(n: int, symbol: str = "X") -> pd.DataFrame:
    rng = np.random.default_rng(7)
    close = 1000 + np.cumsum(rng.normal(0, 0.4, n))
    close = np.abs(close) + 50
    return pd.DataFrame({"timestamp": pd.date_range(START, periods=n, freq="1min"), "symbol": symbol,
                         "open": close, "high": close + 0.5, "low": close - 0.5, "close": close, "volume": 100.0})


@pytest.fixture(scope="module")
def million() -> pd.DataFrame:
    return synthetic(MILLION)


def fill(k: int, side: str, quantity: int, price: float, ts: datetime) -> Fill:
    return Fill(f"T{k}", f"O{k}", "X", Side(side), quantity, Decimal(str(price)), ts=ts)


def test_a_million_bars_go_a_window_at_a_time(million: pd.DataFrame, sent: list[dict[str, Any]],
                                              closing: list[Any]) -> None:
    times = pd.DatetimeIndex(million["timestamp"])
    fills = [fill(k, "BUY" if k % 2 else "SELL", 1 + k % 5, 1000.0, times[i].to_pydatetime())
             for k, i in enumerate(range(0, MILLION, 997))]
    chart = CandleChart.from_bars(million, fills)
    closing.append(chart)
    shown = chart.shown
    assert len(shown) == 2_000 and shown.time[-1] == wall_seconds(times[-1].to_pydatetime())
    state = [m for m in sent if m["type"] == "comm_open" or m["data"].get("method") == "update"]
    assert max(m["json"] + sum(map(len, m["buffers"])) for m in state) < MESSAGE_BYTES

    before = int(shown.time[0])
    seen = len(shown)
    for _ in range(3):  # scrolling left, three windows
        sent.clear()
        ask(chart, {"type": "more", "before": before, "revision": chart.revision})
        (answer,) = custom(sent, "older")
        older = unpack(answer["buffers"][0])
        assert len(older) == 2_000 and older.time[-1] == before - 60  # the minute before the first one sent
        assert np.all(np.diff(older.time) == 60)
        assert answer["json"] + len(answer["buffers"][0]) < MESSAGE_BYTES
        content = answer["data"]["content"]
        assert content["count"] == 2_000 and all(older.time[0] <= m["time"] < before for m in content["markers"])
        in_range = [f for f in fills if older.time[0] <= wall_seconds(f.ts) < before]  # type: ignore[arg-type]
        assert sorted((m["time"], m["side"], m["quantity"]) for m in content["markers"]) == expected_markers(in_range)
        before = int(older.time[0])
        seen += len(older)
    assert seen == 8_000 and not chart.errors


def test_the_window_protocol_reaches_the_start_and_stops(closing: list[Any], sent: list[dict[str, Any]]) -> None:
    bars = synthetic(5_000)
    chart = CandleChart.from_bars(bars, window=1_500)
    closing.append(chart)
    collected = [chart.shown.time]
    before = int(chart.shown.time[0])
    while True:
        older = chart.older(before)
        if not len(older):
            break
        assert older.time[-1] < before
        collected.insert(0, older.time)
        before = int(older.time[0])
    assert np.array_equal(np.concatenate(collected), chart.source.candles("X", "1m").time)  # no gap, no overlap
    stale = chart.revision
    chart.show(interval="5m")
    sent.clear()
    ask(chart, {"type": "more", "before": int(chart.shown.time[0]), "revision": stale})  # about the old window
    assert custom(sent, "older") == []


def test_the_library_goes_gzipped_on_request(closing: list[Any], sent: list[dict[str, Any]]) -> None:
    chart = CandleChart.from_bars(synthetic(100))
    closing.append(chart)
    assert not any(len(b) > 100_000 for m in sent for b in m["buffers"])  # not with the widget's state
    ask(chart, {"type": "library"})
    (answer,) = custom(sent, "library")
    module = gzip.decompress(answer["buffers"][0])
    assert hashlib.sha256(module).hexdigest() == \
        "1bb1ee79f9d4dd17261b53d930f7a8995748276f80e7ba0e24412b5068062f5f"  # the vendored README's sum
    assert len(answer["buffers"][0]) < 70_000 and answer["buffers"][0] == library_gzip()


def test_a_symbol_switch_from_the_front_end_is_checked(closing: list[Any]) -> None:
    bars = pd.concat([synthetic(300, "A"), synthetic(200, "B")])
    chart = CandleChart.from_bars(bars)
    closing.append(chart)
    assert chart.symbols == ["A", "B"] and chart.symbol == "A" and len(chart.shown) == 300
    chart.set_state({"symbol": "B"})  # what the front end's switcher does
    assert chart.symbol == "B" and len(chart.shown) == 200
    chart.set_state({"symbol": "<script>"})
    assert chart.symbol == "B" and "symbol" in chart.errors[-1] and "<script>" in chart.message
    chart.set_state({"interval": "3m"})
    assert chart.interval == "1m" and "interval" in chart.errors[-1]


def test_from_result_of_a_backtest(closing: list[Any]) -> None:
    class EveryTen(ok.Strategy):
        def on_bar(self, ctx: Any, bar: Any) -> None:
            self.n = getattr(self, "n", 0) + 1
            if self.n % 10 == 0:
                ctx.order(bar.symbol, "BUY" if self.n % 20 else "SELL", 1)

    result = ok.backtest(EveryTen(), synthetic(400, "RELIANCE"), cash=10_000_000)
    chart = CandleChart.from_result(result, "RELIANCE", interval="5m")
    closing.append(chart)
    assert len(result.fills) > 10
    assert shown_markers(chart) == expected_markers(result.fills, "5m")
    with pytest.raises(ConfigError, match="result"):
        CandleChart.from_result(object())


@pytest.fixture(scope="module")
def hostile_chart() -> Iterator[CandleChart]:
    chart = CandleChart.from_bars(pd.concat([synthetic(500, "A"), synthetic(50, "B")]), window=100)
    yield chart
    chart.close()


anything = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                     st.text(max_size=30), st.binary(max_size=10), st.lists(st.integers(), max_size=3),
                     st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
                     st.sampled_from(["A", "B", "1m", "5m", "15m", "1d", "", " A", "a"]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(symbol=anything, interval=anything, before=anything, count=anything, window=anything)
def test_hostile_values_get_config_errors_or_answers(hostile_chart: CandleChart, symbol: Any, interval: Any,
                                                     before: Any, count: Any, window: Any) -> None:
    chart = hostile_chart
    was = (chart.symbol, chart.interval)
    try:
        chart.show(symbol, interval)
    except ConfigError as exc:
        assert exc.field in ("symbol", "interval") and (chart.symbol, chart.interval) == was
    else:
        assert chart.symbol in ("A", "B") and chart.interval in INTERVALS
    try:
        older = chart.older(before, count)
    except ConfigError as exc:
        assert exc.field in ("before", "window")
    else:
        assert len(older) <= (count if isinstance(count, int) else chart.window)
        assert np.all(older.time < before)
    try:
        chart.window = window
    except ConfigError as exc:
        assert exc.field == "window" and 1 <= chart.window <= MAX_WINDOW
    else:
        assert chart.window == window
    refused = chart.refused
    ask(chart, {"type": "more", "before": before, "revision": chart.revision})
    ask(chart, {"type": symbol, "before": count})
    ask(chart, before)
    assert chart.refused >= refused + 1  # the junk message at least, and nothing raised
    assert len(chart.errors) <= 100  # the newest refusals only


def test_bad_settings_are_refused() -> None:
    bars = synthetic(10)
    with pytest.raises(ConfigError, match="window"):
        CandleChart.from_bars(bars, window=0)
    with pytest.raises(ConfigError, match="height"):
        CandleChart.from_bars(bars, height=10**6)
    with pytest.raises(ConfigError, match="interval"):
        CandleChart.from_bars(bars, interval="2m")
    with pytest.raises(ConfigError, match="symbol"):
        CandleChart.from_bars(bars, symbol="NOPE")


def test_start_of_data_times_are_exchange_wall_clock() -> None:
    chart = CandleChart.from_bars(synthetic(3))
    try:
        assert int(chart.shown.time[0]) == int((START + timedelta(hours=5, minutes=30)).timestamp())
    finally:
        chart.close()


class Plotting(ok.Strategy):
    """Plots a moving average of the closes (near the prices; a gap until five bars are in) and a bar count (far
    from them) for each symbol, and trades now and then."""

    def on_bar(self, ctx: Any, bar: Any) -> None:
        closes = self.__dict__.setdefault("closes", {}).setdefault(bar.symbol, [])
        closes.append(float(bar.close))
        ctx.plot("sma", sum(closes[-5:]) / 5 if len(closes) >= 5 else None)
        ctx.plot("count", len(closes) * 1000)
        if len(closes) % 50 == 0:
            ctx.order(bar.symbol, "BUY" if len(closes) % 100 else "SELL", 1)


def expected_points(result: Any, symbol: str, name: str, step: int, start: int, stop: float = float("inf")
                    ) -> tuple[list[int], list[float | None]]:
    """A line's points by hand: the plotted values of ``symbol`` and ``name``, each on its IST candle of ``step``
    seconds (the last one of a candle wins), for candles from ``start`` up to ``stop``."""
    frame = result.indicators
    own = frame[(frame["symbol"] == symbol) & (frame["name"] == name)]
    points: dict[int, float | None] = {}
    for ts, value in zip(own["time"], own["value"], strict=True):
        wall = int(ts.timestamp()) + 5 * 3600 + 1800  # IST has no daylight saving
        points[wall - wall % step] = None if np.isnan(value) else float(value)
    kept = sorted(t for t in points if start <= t < stop)
    return kept, [points[t] for t in kept]


@pytest.fixture(scope="module")
def plotted() -> Any:
    bars = pd.concat([synthetic(1_500, "RELIANCE"), synthetic(1_200, "TCS")]).sort_values("timestamp", kind="stable")
    return ok.backtest(Plotting(), bars, cash=10_000_000)


def test_from_result_draws_the_indicator_lines_of_the_window(plotted: Any, closing: list[Any],
                                                             sent: list[dict[str, Any]]) -> None:
    chart = CandleChart.from_result(plotted, "RELIANCE", window=500)
    closing.append(chart)
    shown = chart.shown
    first = int(shown.time[0])
    assert len(shown) == 500
    lines = {line["name"]: line for line in chart.indicators}
    assert sorted(lines) == ["count", "sma"]
    assert lines["sma"]["pane"] == 0 and lines["count"]["pane"] == 1  # near the prices / far from them
    for name, line in lines.items():
        times, values = expected_points(plotted, "RELIANCE", name, 60, first)
        assert line["time"] == times == shown.time.tolist(), name  # one point per candle of the window
        assert line["value"] == pytest.approx(values), name
    # The same window's static chart places the lines in the same panes.
    static = plotted.chart("RELIANCE", "1m", max_bars=500).data
    assert {ln["name"]: ln["pane"] for ln in static.lines if not ln["dashed"]} == \
        {name: line["pane"] for name, line in lines.items()}

    before = first
    for _ in range(2):  # scrolling left: the lines' older points come with the older candles
        sent.clear()
        ask(chart, {"type": "more", "before": before, "revision": chart.revision})
        (answer,) = custom(sent, "older")
        older = unpack(answer["buffers"][0])
        content = answer["data"]["content"]
        got = {line["name"]: line for line in content["indicators"]}
        assert sorted(got) == ["count", "sma"]
        for name, line in got.items():
            times, values = expected_points(plotted, "RELIANCE", name, 60, int(older.time[0]), before)
            assert line["time"] == times == older.time.tolist() and line["value"] == pytest.approx(values), name
        before = int(older.time[0])
    assert got["sma"]["value"][:4] == [None] * 4  # the start of the data: the average's gap
    assert not chart.errors


def test_the_indicator_lines_follow_a_symbol_and_interval_switch(plotted: Any, closing: list[Any]) -> None:
    chart = CandleChart.from_result(plotted, "RELIANCE", window=100)
    closing.append(chart)
    chart.show("TCS", "5m")
    shown = chart.shown
    first = int(shown.time[0])
    lines = {line["name"]: line for line in chart.indicators}
    for name in ("count", "sma"):
        # At 5m each candle shows the last value plotted in it: the count of its fifth bar.
        times, values = expected_points(plotted, "TCS", name, 300, first)
        assert lines[name]["time"] == times == shown.time.tolist() and lines[name]["value"] == pytest.approx(values)
    assert lines["count"]["value"][-1] == 1_200 * 1000  # TCS's own count
    chart.set_state({"interval": "15m"})  # the front end's interval buttons
    assert chart.interval == "15m" and chart.indicators[0]["time"] == chart.shown.time.tolist()
    assert CandleChart.from_bars(synthetic(10)).indicators == []  # bars alone have no lines


def test_the_widget_and_result_chart_draw_the_same_fills_and_price_lines(closing: list[Any]) -> None:
    class Resting(ok.Strategy):
        def on_bar(self, ctx: Any, bar: Any) -> None:
            self.n = getattr(self, "n", 0) + 1
            if self.n % 7 == 0:
                ctx.order(bar.symbol, "BUY" if self.n % 14 else "SELL", self.n % 5 + 1)
            if self.n == 20:  # three orders never reached, still working at the end
                low = ctx.round_price(bar.symbol, float(bar.close) * 0.95)
                ctx.buy(bar.symbol, 5, "LIMIT", price=low)
                ctx.sell(bar.symbol, 3, "SL", price=low - 1, trigger_price=low)  # a stop-limit: two levels
                ctx.bracket(bar.symbol, "BUY", 2, "MARKET", target=50, stoploss=40)

    result = ok.backtest(Resting(), synthetic(300, "RELIANCE"), cash=10_000_000)
    chart = CandleChart.from_result(result, "RELIANCE", interval="5m")
    closing.append(chart)
    static = result.chart("RELIANCE", "5m").data
    assert chart.lines == static.price_lines and len(chart.lines) == 5  # limit, SL trigger and limit, target, stop
    assert {ln["kind"] for ln in chart.lines} == {"limit", "trigger", "target", "stop"}
    # One marker per fill in result.chart, one per candle and side in the widget: the same fills added up.
    totals: dict[tuple[int, str], int] = {}
    for m in static.markers.itertuples():
        totals[(m.time, m.side)] = totals.get((m.time, m.side), 0) + m.quantity
    assert shown_markers(chart) == sorted((t, side, q) for (t, side), q in totals.items())
    assert sum(m["fills"] for m in chart.markers) == len(static.markers) == len(result.fills)
