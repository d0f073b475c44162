"""The candlestick chart in a real browser: JupyterLab and Voila on free localhost ports, Debian's headless Chromium.

The notebook (written by the test) opens an OMS on a simulated clock, pushes four hours of one-minute bars of two
symbols with a few market orders along the way, a resting limit order and a bracket, and shows the live chart panel
(``ChartPanel``) and the chart of a backtest of 20,000 bars whose strategy plots a moving average and an
oscillator (``CandleChart.from_result``). It writes what the chart must show (the
fills added up per candle and side, the working orders' prices, the last close), computed from the OMS with plain
datetime arithmetic, to a JSON file. In the page: the canvas draws (green and red candle pixels), the markers the
library holds equal the fills, the price lines equal the working orders, switching the symbol redraws with the other
symbol's markers, the backtest's chart holds a line series per plotted name in the pane the kernel chose (the
average over the candles, the oscillator in a pane below) and draws them, and scrolling it to its left edge brings
the window before it, the lines' older points with it. The Voila run saves the charts' screenshots to docs/ for the
README.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from test_browser import (  # the servers, the browser and the fixtures of the dashboard's browser tests
    ARTIFACTS,
    ROOT,
    STEP_MS,
    browser_page,
    chromium,  # noqa: F401  (a fixture)
    free_port,
    server,
)

from oms_kit.chart_data import LINE_COLORS

pytestmark = pytest.mark.slow
DOCS = ROOT / "docs"
NOTEBOOK = "chart.ipynb"

SETUP = '''\
import json
from datetime import UTC, datetime, timedelta

import numpy as np

import oms_kit as ok
from oms_kit.market.candles import CandleBook
from oms_kit.widgets import CandleChart, ChartPanel

START = datetime(2026, 1, 5, 3, 45, tzinfo=UTC)  # 09:15 IST, a Monday
clock = ok.SimulatedClock(START)
oms = await ok.OMS.open("duckdb:///:memory:", feed=None, fees=None, risk_interval=None, clock=clock)
book = CandleBook(oms.manager.session)  # the morning's bars, as a chart opened at noon would be given them
rng = np.random.default_rng(20)
last = {"RELIANCE": 2500.0, "TCS": 3900.0}
for minute in range(240):
    ts = START + timedelta(minutes=minute)
    clock.set(ts)
    for symbol, price in last.items():
        close = round(price * (1 + rng.normal(0, 0.0015)), 1)
        high = round(max(price, close) * (1 + abs(rng.normal(0, 0.0006))), 1)
        low = round(min(price, close) * (1 - abs(rng.normal(0, 0.0006))), 1)
        bar = ok.Bar(ts, symbol, price, high, low, close, float(rng.integers(1_000, 9_000)))
        await oms.push_bar(bar)
        book.on_bar(bar)
        last[symbol] = close
    if minute % 30 == 12:
        await oms.place_order("RELIANCE", "BUY" if minute % 60 == 12 else "SELL", 10)
    if minute % 45 == 20:
        await oms.place_order("TCS", "SELL" if minute % 90 == 20 else "BUY", 5, product="MIS")
resting = await oms.place_order("RELIANCE", "BUY", 10, "LIMIT",
                                price=oms.instrument("RELIANCE").round_price(last["RELIANCE"] * 0.99))
bracket = await oms.place_bracket("TCS", "BUY", 5, "MARKET", target=15, stoploss=10)
assert resting.status == ok.OrderStatus.OPEN and bracket.status == "active"


def wall_minute(ts):  # IST wall-clock seconds of the fill's minute, by hand
    local = ts.astimezone(ok.ExchangeSession.of("Asia/Kolkata").zone).replace(tzinfo=None, second=0, microsecond=0)
    return int(local.replace(tzinfo=UTC).timestamp())


expected = {}
for symbol in last:
    totals = {}
    for fill in oms.manager.trades:
        if fill.symbol == symbol:
            key = (wall_minute(fill.ts), "B" if fill.side.value == "BUY" else "S")
            totals[key] = totals.get(key, 0) + fill.quantity
    lines = []
    for order in oms.manager.live.values():
        if order.symbol == symbol:
            lines += [float(p) for p in (order.trigger_price, order.price) if p is not None]
    expected[symbol] = {"markers": sorted([t, f"{side} {q}"] for (t, side), q in totals.items()),
                        "lines": sorted(lines), "last_close": last[symbol]}
with open("chart-expected.json", "w") as out:
    json.dump(expected, out)
'''

SHOW = '''\
panel = ChartPanel(oms, book=book, symbol="RELIANCE", height=380)
panel
'''

BIG = '''\
n = 20_000
bars = {"timestamp": [START + timedelta(minutes=k) for k in range(n)], "symbol": "NIFTY",
        "close": 20_000 + np.cumsum(rng.normal(0, 4, n))}
bars["open"] = np.r_[bars["close"][0], bars["close"][:-1]]
bars["high"] = np.maximum(bars["open"], bars["close"]) + 2
bars["low"] = np.minimum(bars["open"], bars["close"]) - 2
bars["volume"] = rng.integers(100, 1_000, n).astype(float)


class Lines(ok.Strategy):
    def on_bar(self, ctx, bar):
        closes = self.__dict__.setdefault("closes", [])
        closes.append(float(bar.close))
        ctx.plot("sma 20", sum(closes[-20:]) / 20 if len(closes) >= 20 else None)
        moves = np.diff(closes[-15:])
        up, down = moves[moves > 0].sum(), -moves[moves < 0].sum()
        ctx.plot("rsi 14", 100 * up / (up + down) if up + down else None)  # 0 to 100: far from 20,000


result = ok.backtest(Lines(), __import__("pandas").DataFrame(bars), fees=None)
big = CandleChart.from_result(result, height=380)
with open("chart-lines.json", "w") as out:
    json.dump({line["name"]: line["pane"] for line in big.indicators}, out)
big
'''


def write_notebook(folder: Path) -> None:
    cells = [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}
             for source in (SETUP, SHOW, BIG)]
    notebook = {"cells": cells, "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                                             "name": "python3"}},
                "nbformat": 4, "nbformat_minor": 5}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / NOTEBOOK).write_text(json.dumps(notebook))


@pytest.fixture
def chart_workdir(tmp_path: Path) -> Path:
    write_notebook(tmp_path / "notebooks")
    settings = tmp_path / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    return tmp_path


PIXELS = """(el, colours) => {
    // Pixels over every canvas of the chart, the painted ones and those of each colour: what was drawn, not sent.
    const counts = colours.map(() => 0);
    let painted = 0;
    for (const canvas of el.querySelectorAll("canvas")) {
        if (!canvas.width || !canvas.height) continue;
        const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
        for (let i = 0; i < data.length; i += 4) {
            const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
            if (a > 0 && !(r > 245 && g > 245 && b > 245)) painted++;
            if (a <= 200) continue;
            for (let k = 0; k < colours.length; k++) {
                const [cr, cg, cb] = colours[k];
                if (Math.abs(r - cr) < 12 && Math.abs(g - cg) < 12 && Math.abs(b - cb) < 12) counts[k]++;
            }
        }
    }
    return {painted, counts};
}"""
UP, DOWN = "#1a7f37", "#cf222e"  # chart.js's candle colours


def pixels(chart: Any, **colours: str) -> dict[str, int]:
    """The chart's painted pixels (``painted``) and those of each named colour (``#rrggbb``)."""
    rgb = [[int(c[k:k + 2], 16) for k in (1, 3, 5)] for c in colours.values()]
    drawn = chart.evaluate(PIXELS, rgb)
    return {"painted": drawn["painted"], **dict(zip(colours, drawn["counts"], strict=True))}


def drive_chart(page: Any, workdir: Path, name: str, screenshots: tuple[Path, Path] | None) -> None:
    from playwright.sync_api import expect

    charts = page.locator(".oms-candle-chart")
    expect(charts, "both charts should appear").to_have_count(2, timeout=STEP_MS)
    live, big = charts.nth(0), charts.nth(1)
    expect(live, "the live chart should show RELIANCE").to_have_attribute("data-symbol", "RELIANCE", timeout=STEP_MS)
    expected = json.loads((workdir / "notebooks" / "chart-expected.json").read_text())
    page.wait_for_function("(el) => Number(el.dataset.bars) >= 240", arg=live.element_handle(), timeout=STEP_MS)
    live.scroll_into_view_if_needed()
    page.wait_for_timeout(500)  # a frame or two for the canvas

    drawn = pixels(live, up=UP, down=DOWN)
    assert drawn["up"] > 100 and drawn["down"] > 100, f"the candles should be drawn green and red: {drawn}"
    assert json.loads(live.get_attribute("data-lines")) and sorted(json.loads(live.get_attribute("data-lines"))) \
        == expected["RELIANCE"]["lines"]
    markers = [[m["time"], m["text"]] for m in json.loads(live.get_attribute("data-markers"))]
    assert sorted(markers) == expected["RELIANCE"]["markers"] and len(markers) >= 6
    assert float(live.get_attribute("data-last-close")) == expected["RELIANCE"]["last_close"]
    page.screenshot(path=str(ARTIFACTS / f"{name}-chart-1-reliance.png"), full_page=True)
    if screenshots is not None:
        live.screenshot(path=str(screenshots[0]))
    before = live.locator("canvas").first.evaluate("(c) => c.toDataURL()")

    live.locator("select.oms-chart-symbol").select_option("TCS")
    expect(live, "switching the symbol").to_have_attribute("data-symbol", "TCS", timeout=STEP_MS)
    expect(live, "TCS's last close").to_have_attribute("data-last-close", str(expected["TCS"]["last_close"]),
                                                       timeout=STEP_MS)
    page.wait_for_timeout(500)
    markers = [[m["time"], m["text"]] for m in json.loads(live.get_attribute("data-markers"))]
    assert sorted(markers) == expected["TCS"]["markers"]
    assert sorted(json.loads(live.get_attribute("data-lines"))) == expected["TCS"]["lines"]
    assert live.locator("canvas").first.evaluate("(c) => c.toDataURL()") != before, "the canvas should redraw"
    assert pixels(live)["painted"] > 1000

    live.locator(".oms-chart-interval-5m").click()
    expect(live, "the 5-minute candles").to_have_attribute("data-interval", "5m", timeout=STEP_MS)
    expect(live).to_have_attribute("data-bars", "48", timeout=STEP_MS)  # 240 minutes
    page.screenshot(path=str(ARTIFACTS / f"{name}-chart-2-tcs-5m.png"), full_page=True)

    big.scroll_into_view_if_needed()
    expect(big, "the big chart's first window").to_have_attribute("data-bars", "2000", timeout=STEP_MS)
    first = int(big.get_attribute("data-first"))
    # The backtest's ctx.plot lines: a line series each, in the pane the kernel chose, one point per candle.
    panes = json.loads((workdir / "notebooks" / "chart-lines.json").read_text())
    assert panes == {"rsi 14": 1, "sma 20": 0}
    lines = {line["name"]: line for line in json.loads(big.get_attribute("data-indicators"))}
    assert {n: line["pane"] for n, line in lines.items()} == panes and big.get_attribute("data-panes") == "2"
    assert all(line["points"] == 2000 and line["first"] == first for line in lines.values()), lines
    page.wait_for_timeout(300)
    drawn = pixels(big, rsi=LINE_COLORS[0], sma=LINE_COLORS[1])  # the lines' colours: by name, the first two
    assert drawn["rsi"] > 200 and drawn["sma"] > 200, f"both lines should be drawn: {drawn}"
    if screenshots is not None:
        big.screenshot(path=str(screenshots[1]))
    big.locator(".oms-chart-canvas").evaluate("(box) => box.__omsChart.timeScale().scrollToPosition(-2100, false)")
    expect(big, "scrolled to the left edge, the window before comes").to_have_attribute("data-bars", "4000",
                                                                                       timeout=STEP_MS)
    assert int(big.get_attribute("data-first")) == first - 2000 * 60
    lines = json.loads(big.get_attribute("data-indicators"))  # the lines' older points came with the candles
    assert [(line["points"], line["first"]) for line in lines] == [(4000, first - 2000 * 60)] * 2, lines
    assert pixels(big, up=UP)["up"] > 100
    page.screenshot(path=str(ARTIFACTS / f"{name}-chart-3-scrolled.png"), full_page=True)
    errors = (ARTIFACTS / f"{name}-console.log")
    assert not errors.exists() or "pageerror" not in errors.read_text()


def test_chart_in_jupyterlab(chromium: Path, chart_workdir: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect

    port, token = free_port(), "oms-kit-chart-test"
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={chart_workdir / 'notebooks'}"]
    base = f"http://127.0.0.1:{port}"
    with server(command, f"{base}/api/status?token={token}", chart_workdir, "chart-lab"), \
            browser_page(chromium, "chart-lab") as page:
        page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}", timeout=STEP_MS)
        expect(page.locator("#jp-main-statusbar"), "the kernel never became idle").to_contain_text(
            "(ipykernel) | Idle", timeout=STEP_MS)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        drive_chart(page, chart_workdir, "chart-lab", None)


def test_chart_in_voila(chromium: Path, chart_workdir: Path) -> None:  # noqa: F811
    port = free_port()
    command = [sys.executable, "-m", "voila", f"notebooks/{NOTEBOOK}", "--no-browser", f"--port={port}",
               "--Voila.ip=127.0.0.1"]
    base = f"http://127.0.0.1:{port}"
    with server(command, f"{base}/voila/static/voila.js", chart_workdir, "chart-voila"), \
            browser_page(chromium, "chart-voila", height=1200) as page:
        page.goto(base, timeout=STEP_MS)
        drive_chart(page, chart_workdir, "chart-voila", (DOCS / "candle-chart.png", DOCS / "candle-chart-lines.png"))
