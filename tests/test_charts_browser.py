"""result.chart(symbol) in a real browser: a small notebook backtests a crossover and shows its chart, in JupyterLab
and as a Voila app, on free localhost ports, in Debian's headless Chromium.

Each test checks that the chart drew (a canvas of the chart holds non-blank pixels) and that the markers the page
holds (``el.omsChart.markers``) are the run's fills: the notebook writes the fills to ``fills.json`` as it runs, and
the test works out each fill's candle itself. The Voila test saves the chart's screenshot as ``docs/chart.png`` for
the README; screenshots of each step go to test-artifacts/.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from tests.test_browser import (  # the servers and the browser, as the dashboard's browser tests run them
    ARTIFACTS,
    STEP_MS,
    browser_page,
    chromium,  # noqa: F401  (a fixture)
    free_port,
    server,
)

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
NOTEBOOK = "chart.ipynb"
INTERVAL_S = 300  # the notebook's "5m"

pytestmark = pytest.mark.slow

SETUP = f"""\
import json

import pandas as pd

import oms_kit as ok

bars = pd.read_parquet({str(ROOT / "data" / "nse_minute.parquet")!r})
bars = bars[bars["symbol"] == "RELIANCE"].iloc[:1500]


class Crossover(ok.Strategy):
    fast = 12
    slow = 48

    def on_bar(self, ctx, bar):
        closes = ctx.closes(bar.symbol, self.slow)
        if len(closes) < self.slow:
            return
        fast, slow = sum(closes[-self.fast:]) / self.fast, sum(closes) / self.slow
        ctx.plot("fast mean", fast)
        ctx.plot("slow mean", slow)
        held = ctx.position(bar.symbol)
        if fast > slow and held <= 0:
            ctx.buy(bar.symbol, 10 - held)
        elif fast < slow and held >= 0:
            ctx.sell(bar.symbol, 10 + held)


result = ok.backtest(Crossover(), bars)
with open("fills.json", "w") as out:
    json.dump([[f.ts.isoformat(), str(f.side), f.quantity, str(f.price)] for f in result.fills], out)
"""

SHOW = 'result.chart("RELIANCE", "5m", max_bars=160, title="RELIANCE · 12/48 crossover · 5-minute candles")'


def make_notebook(folder: Path) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# A backtest's chart"), nbformat.v4.new_code_cell(SETUP),
                      nbformat.v4.new_code_cell(SHOW)]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                       "language": "python"}
    path = folder / NOTEBOOK
    nbformat.write(notebook, path)
    return path


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "notebooks").mkdir()
    make_notebook(tmp_path / "notebooks")
    settings = tmp_path / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    return tmp_path


def expected_markers(fills_path: Path, candle_times: list[int]) -> list[list]:
    """Each fill as the chart should mark it: the start of its five-minute candle on the exchange's clock (seconds
    as if that clock were UTC), side, quantity and price."""
    rows = json.loads(fills_path.read_text())
    assert rows, "the notebook's backtest made no fills"
    expected = []
    for ts, side, quantity, price in rows:
        local = pd.Timestamp(ts).tz_convert("Asia/Kolkata").tz_localize(None)
        seconds = int(local.as_unit("s").asm8.astype("int64"))
        candle = seconds - seconds % INTERVAL_S
        if candle_times[0] <= candle <= candle_times[-1]:  # the window the chart holds
            expected.append([candle, side, quantity, price])
    return expected


def check_chart(page: object, workdir: Path, name: str) -> None:
    """The chart drew, and its markers are the fills of its window."""
    from playwright.sync_api import expect

    chart = page.locator(".oms-chart").first  # type: ignore[attr-defined]
    expect(chart, "the chart never drew").to_have_attribute("data-oms-ready", "1", timeout=STEP_MS)
    expect(chart.locator(".oms-chart-note")).to_contain_text("160 of 300 candles")
    expect(chart, "the placeholder for pages without scripts should be gone").not_to_contain_text(
        "The chart draws when its script runs")
    page.wait_for_timeout(500)  # type: ignore[attr-defined]  # the library paints on the next frame
    painted = chart.evaluate("""root => Array.from(root.querySelectorAll('canvas')).map(canvas => {
        const { width, height } = canvas;
        if (!width || !height) return 0;
        const pixels = canvas.getContext('2d').getImageData(0, 0, width, height).data;
        let coloured = 0;
        for (let i = 0; i < pixels.length; i += 4) {
          const [r, g, b, a] = [pixels[i], pixels[i + 1], pixels[i + 2], pixels[i + 3]];
          if (a > 0 && !(r > 240 && g > 240 && b > 240)) coloured++;
        }
        return coloured;
      })""")
    assert max(painted) > 5000, f"the chart's canvases look blank: {painted}"
    inside = chart.evaluate("""root => {
        const box = root.querySelector('.oms-chart-canvas').getBoundingClientRect();
        return Array.from(root.querySelectorAll('canvas')).every(c => {
          const r = c.getBoundingClientRect();
          return r.left >= box.left - 1 && r.right <= box.right + 1;
        });
      }""")
    assert inside, "a canvas of the chart (the price axis) lies outside its box: the page's styles leak in"
    data = chart.evaluate("""root => ({
        markers: root.omsChart.markers.map(m => [m.time, m.side, m.quantity, m.price]),
        times: root.omsChart.data.candles.time,
        drawn: root.omsChart.data.markers.length,
        series: root.omsChart.chart.panes().map(p => p.getSeries().length) })""")
    expected = expected_markers(workdir / "notebooks" / "fills.json", data["times"])
    assert len(expected) >= 4, "the window should hold several fills"
    assert data["markers"] == expected
    assert data["series"][0] >= 4  # candles, volume and the two means
    chart.screenshot(path=str(ARTIFACTS / f"{name}-chart.png"))


def test_result_chart_in_jupyterlab(chromium: Path, workdir: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect

    port, token = free_port(), "oms-kit-chart-test"
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={workdir / 'notebooks'}"]
    base = f"http://127.0.0.1:{port}"
    with server(command, f"{base}/api/status?token={token}", workdir, "chart-lab"), \
            browser_page(chromium, "chart-lab") as page:
        page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}", timeout=STEP_MS)  # type: ignore[attr-defined]
        expect(page.locator("#jp-main-statusbar"), "the kernel never became idle").to_contain_text(  # type: ignore
            "(ipykernel) | Idle", timeout=STEP_MS)
        page.get_by_role("menuitem", name="Run", exact=True).click()  # type: ignore[attr-defined]
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()  # type: ignore[attr-defined]
        check_chart(page, workdir, "chart-lab")


def test_result_chart_in_voila(chromium: Path, workdir: Path) -> None:  # noqa: F811
    port = free_port()
    command = [sys.executable, "-m", "voila", f"notebooks/{NOTEBOOK}", "--no-browser", f"--port={port}",
               "--Voila.ip=127.0.0.1"]
    base = f"http://127.0.0.1:{port}"
    with server(command, f"{base}/voila/static/voila.js", workdir, "chart-voila"), \
            browser_page(chromium, "chart-voila", height=900) as page:
        page.goto(base, timeout=STEP_MS)  # type: ignore[attr-defined]
        check_chart(page, workdir, "chart-voila")
        shutil.copy(ARTIFACTS / "chart-voila-chart.png", DOCS / "chart.png")
