"""Candlestick charts of results: ``result.chart(symbol)`` for a backtest or a paper run, drawn by the vendored
TradingView Lightweight Charts library (``oms_kit/static/lightweight-charts``), with no widget and no network.

A :class:`ResultChart` is a self-contained piece of HTML: a ``div``, the library's standalone script inlined, and
the chart's data (:class:`~oms_kit.chart_data.ChartData`) as JSON in a script that draws it. Jupyter shows it by
its ``_repr_html_`` (JupyterLab, Voila and the classic notebook run the scripts of an output as it appears; no
iframe, so nothing else is fetched), and :meth:`ResultChart.save` writes it as one HTML file that opens anywhere,
offline. Each output carries the library (about 200 kB); it runs once per page (later charts reuse the global
``LightweightCharts`` it defines).

A chart holds a window of candles (``max_bars``, ``start``, ``end``; 5,000 by default), so a result of a million
bars draws at once: the note under the chart says what the window holds and how to see the rest. The dashboard's
chart widget (``oms_kit.widgets.CandleChart``) is the one that loads more as one scrolls.

On the page the chart's element (``div.oms-chart``) carries its data for scripts and tests: ``el.omsChart`` holds
``{chart, data, markers}`` once drawn, and the attributes ``data-oms-ready``, ``data-oms-markers`` (the number of
fill markers) and ``data-oms-error`` (when drawing failed).
"""

from __future__ import annotations

import html
import json
import uuid
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from oms_kit.chart_data import DEFAULT_MAX_BARS, ChartData, chart_data
from oms_kit.errors import ConfigError
from oms_kit.models import Fill

if TYPE_CHECKING:
    from oms_kit.runner import StrategyRunner

__all__ = ["ResultChart", "run_chart"]

MIN_HEIGHT, MAX_HEIGHT = 150, 3000
DEFAULT_HEIGHT = 460
LIBRARY = "lightweight-charts.standalone.production.js"

# Draws one chart from its data; defined once per page (a later output's copy finds it there).
_RENDERER = r"""
if (!window.omsKitDrawChart) {
  window.omsKitDrawChart = function (root, d) {
    var LW = window.LightweightCharts;
    var box = root.querySelector('.oms-chart-canvas');
    box.textContent = '';  // the placeholder, for pages that do not run scripts
    var chart = LW.createChart(box, {
      autoSize: true,
      layout: {background: {type: 'solid', color: '#ffffff'}, textColor: '#333', attributionLogo: true},
      grid: {vertLines: {color: '#f0f3fa'}, horzLines: {color: '#f0f3fa'}},
      rightPriceScale: {borderVisible: false},
      timeScale: {timeVisible: d.intraday, secondsVisible: false, borderVisible: false},
      crosshair: {mode: 0}
    });
    var c = d.candles, rows = new Array(c.time.length);
    for (var i = 0; i < rows.length; i++) {
      rows[i] = {time: c.time[i], open: c.open[i], high: c.high[i], low: c.low[i], close: c.close[i]};
    }
    var up = '#26a69a', down = '#ef5350';
    var candles = chart.addSeries(LW.CandlestickSeries, {upColor: up, downColor: down, borderVisible: false,
                                                         wickUpColor: up, wickDownColor: down});
    candles.setData(rows);
    if (d.volume) {
      var volume = chart.addSeries(LW.HistogramSeries, {priceFormat: {type: 'volume'}, priceScaleId: 'volume',
                                                        lastValueVisible: false, priceLineVisible: false});
      volume.priceScale().applyOptions({scaleMargins: {top: 0.8, bottom: 0}});
      var bars = [];
      for (var j = 0; j < rows.length; j++) {
        if (d.volume[j] !== null) {
          bars.push({time: rows[j].time, value: d.volume[j],
                     color: rows[j].close >= rows[j].open ? 'rgba(38,166,154,0.35)' : 'rgba(239,83,80,0.35)'});
        }
      }
      volume.setData(bars);
    }
    d.lines.forEach(function (line) {
      var series = chart.addSeries(LW.LineSeries, {color: line.color, lineWidth: line.dashed ? 1 : 2,
        lineStyle: line.dashed ? 2 : 0, title: line.name, priceLineVisible: false,
        lastValueVisible: !line.dashed, crosshairMarkerVisible: !line.dashed}, line.pane);
      var points = new Array(line.time.length);
      for (var k = 0; k < points.length; k++) {
        points[k] = line.value[k] === null ? {time: line.time[k]} : {time: line.time[k], value: line.value[k]};
      }
      series.setData(points);
    });
    var markers = d.markers.map(function (m) {
      return {time: m.time, position: m.position, shape: m.shape, color: m.color, text: m.text};
    });
    LW.createSeriesMarkers(candles, markers);
    d.priceLines.forEach(function (p) {
      candles.createPriceLine({price: p.price, color: p.color, lineWidth: 1, lineStyle: p.line_style,
                               axisLabelVisible: true, title: p.title});
    });
    var n = rows.length;
    if (n > 300) {
      chart.timeScale().setVisibleLogicalRange({from: n - 200, to: n + 5});
    } else {
      chart.timeScale().fitContent();
    }
    root.omsChart = {chart: chart, data: d, markers: d.markers};
    root.setAttribute('data-oms-markers', String(d.markers.length));
    root.setAttribute('data-oms-ready', '1');
  };
}
"""

# The library lays a chart out as a <table>; notebook front ends style tables of outputs (JupyterLab's
# jp-RenderedHTMLCommon pads cells, centres tables, stripes rows), which pushed the price axis out of the box.
_RESET = ("<style>.oms-chart .oms-chart-canvas table, .oms-chart .oms-chart-canvas tr, .oms-chart .oms-chart-canvas td "
          "{margin: 0; padding: 0; border: 0; border-spacing: 0; max-width: none; background: transparent; "
          "line-height: normal; text-align: left; vertical-align: top;}"
          ".oms-chart .oms-chart-canvas table {table-layout: auto; width: auto; border-collapse: separate;}</style>")
# Shown where scripts do not run: a notebook opened from disk runs its outputs' scripts only once trusted.
_PLACEHOLDER = ("The chart draws when its script runs: run the cell again, or trust the notebook "
                "(a notebook opened from disk does not run the scripts of its outputs until trusted).")
_STYLE = ("font-family: -apple-system, 'Segoe UI', Roboto, sans-serif; font-size: 12px; color: #333; "
          "max-width: 100%;")


@cache
def library_source() -> str:
    """The vendored Lightweight Charts standalone script (it defines the global ``LightweightCharts``)."""
    files = resources.files("oms_kit").joinpath("static", "lightweight-charts", LIBRARY)
    return files.read_text(encoding="utf-8")


class ResultChart:
    """A candlestick chart of one symbol of a run, as self-contained HTML; made by ``result.chart(symbol)``.

    Shown by Jupyter and Voila (``_repr_html_``); :meth:`save` writes it to a file. ``data`` holds what it draws
    (:class:`~oms_kit.chart_data.ChartData`): ``chart.data.candles``, ``chart.markers`` (a fill each),
    ``chart.data.lines``.
    """

    def __init__(self, data: ChartData, *, height: int = DEFAULT_HEIGHT, title: str | None = None) -> None:
        _check_options(height, title)
        self.data = data
        self.height = height
        self.title = title

    @property
    def markers(self) -> pd.DataFrame:
        """The fills the chart marks (those in its window): time, side, quantity, price, text, trade_id…"""
        return self.data.markers

    def html(self) -> str:
        """The chart as an HTML fragment (a ``div`` and its scripts, the library inlined), for a page or a
        notebook output."""
        element = f"oms-chart-{uuid.uuid4().hex[:12]}"
        data = self.data
        title = self.title or f"{data.symbol} · {data.interval}"
        payload = _script_json(data.payload())
        return (
            f'<div class="oms-chart" id="{element}" data-symbol="{html.escape(data.symbol)}" style="{_STYLE}">'
            f'<div class="oms-chart-title" style="font-weight: 600; margin: 2px 0 4px;">{html.escape(title)}</div>'
            f'<div class="oms-chart-canvas" style="position: relative; width: 100%; height: {self.height}px;">'
            f'<div style="color: #999; padding: 1em;">{_PLACEHOLDER}</div></div>'
            f'<div class="oms-chart-note" style="color: #666; margin-top: 4px;">{html.escape(data.note())}</div>'
            f"</div>\n{_RESET}\n"
            f"<script>if (!window.LightweightCharts) {{\n{library_source()}\n}}</script>\n"
            f"<script>{_RENDERER}\n(function () {{\n"
            f"  var id = {json.dumps(element)}, s = document.currentScript;\n"
            "  var root = (s && s.parentNode && s.parentNode.querySelector('[id=\"' + id + '\"]'))"
            " || document.getElementById(id);\n"
            f"  var data = {payload};\n"
            "  try { window.omsKitDrawChart(root, data); } catch (e) {\n"
            "    root.setAttribute('data-oms-error', String(e));\n"
            "    root.querySelector('.oms-chart-note').textContent = 'The chart could not be drawn: ' + e;\n"
            "  }\n"
            "})();</script>\n"
        )

    def _repr_html_(self) -> str:
        return self.html()

    def to_html(self) -> str:
        """The chart as a whole HTML document, self-contained (it opens offline)."""
        title = html.escape(self.title or f"{self.data.symbol} · {self.data.interval}")
        return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                f"<title>{title}</title></head>\n<body style=\"margin: 12px;\">\n{self.html()}</body></html>\n")

    def save(self, path: str | Path) -> Path:
        """Write the chart to ``path`` as one self-contained HTML file (the library and the data inside);
        returns the path."""
        target = Path(path)
        target.write_text(self.to_html(), encoding="utf-8")
        return target

    def __repr__(self) -> str:
        data = self.data
        return (f"<ResultChart {data.symbol} {data.interval}: {len(data.candles):,} of {data.total:,} candles, "
                f"{len(data.markers):,} fills>")


def run_chart(runner: StrategyRunner, bars: pd.DataFrame, symbol: Any = None, *, interval: Any = None,
              max_bars: Any = DEFAULT_MAX_BARS, start: Any = None, end: Any = None, height: Any = DEFAULT_HEIGHT,
              title: Any = None, fills: list[Fill] | None = None) -> ResultChart:
    """The chart of a strategy's run (what ``BacktestResult.chart`` and ``PaperTrader.chart`` return): ``bars``
    the run's bars, and the runner's fills (or ``fills``), orders, order programs and ``ctx.plot`` values (see
    :func:`~oms_kit.chart_data.chart_data` for the arguments)."""
    _check_options(height, title)
    manager = runner.manager
    own = runner.own
    if fills is None:
        fills = [f for f in manager.trades if f.order_id in own]
    programs = [p for p in manager.programs.book.programs.values() if p.order_ids and p.order_ids[0] in own]
    data = chart_data(bars, fills, symbol, interval=interval, max_bars=max_bars, start=start, end=end,
                      orders=runner.placed, programs=programs, plots=runner.plots,
                      timezone=manager.session.zone)
    return ResultChart(data, height=height, title=title)


def _check_options(height: Any, title: Any) -> None:
    if isinstance(height, bool) or not isinstance(height, int) or not MIN_HEIGHT <= height <= MAX_HEIGHT:
        raise ConfigError("height", height, f"a whole number of pixels from {MIN_HEIGHT} to {MAX_HEIGHT}")
    if title is not None and (not isinstance(title, str) or len(title) > 200):
        raise ConfigError("title", title, "a string of at most 200 characters, or None")


def _script_json(value: Any) -> str:
    """JSON that is safe inside a ``<script>``: ``<`` escaped, so no text of the data can close the element."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")
