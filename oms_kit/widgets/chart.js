// The candlestick chart's front end (oms_kit/widgets/chart.py, CandleChart): TradingView Lightweight Charts,
// vendored in the package. A result's ctx.plot lines are line series: over the candles (pane 0) or in a pane below
// them (pane 1), as the kernel places them. The library comes from the kernel once per page (a message, gzipped bytes back),
// is imported through a Blob URL (as anywidget imports this module), and is shared by every chart of the page.

const LIBRARY = "__omsKitLightweightCharts";
const UP = "#1a7f37";
const DOWN = "#cf222e";
const LINE_COLOURS = { limit: "#0969da", trigger: "#bf8700", target: UP, stop: DOWN, gtt: "#8250df" };
const MORE_AT = 20; // ask for older candles when fewer than this many are left of the visible range
const SHOWN = 300; // candles in view after a switch at most
const FIT = 40; // from this many candles on, fewer than SHOWN fill the width
const BELOW = 0.45; // the indicator pane's height beside the candles' pane (stretch factors 1 and this)

function bytesOf(buffer) {
  if (buffer instanceof ArrayBuffer) return new Uint8Array(buffer);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

function library(model) {
  if (!globalThis[LIBRARY]) {
    globalThis[LIBRARY] = new Promise((resolve, reject) => {
      const answer = async (msg, buffers) => {
        if (!msg || msg.type !== "library") return;
        model.off("msg:custom", answer);
        try {
          const unzipped = new Blob([bytesOf(buffers[0])]).stream().pipeThrough(new DecompressionStream("gzip"));
          const code = await new Response(unzipped).text();
          const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
          try {
            resolve(await import(/* webpackIgnore: true */ url));
          } finally {
            URL.revokeObjectURL(url);
          }
        } catch (error) {
          reject(error);
        }
      };
      model.on("msg:custom", answer);
      model.send({ type: "library" });
    });
    globalThis[LIBRARY].catch(() => delete globalThis[LIBRARY]);
  }
  return globalThis[LIBRARY];
}

function decode(view) {
  // Six float64 columns: time, open, high, low, close, volume (chart.py's pack).
  if (!view || view.byteLength === 0) return [];
  const bytes = bytesOf(view);
  const columns = new Float64Array(bytes.slice().buffer); // a copy: the offset of a view may not be aligned
  const n = columns.length / 6;
  const out = new Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = [columns[i], columns[n + i], columns[2 * n + i], columns[3 * n + i], columns[4 * n + i],
      columns[5 * n + i]];
  }
  return out;
}

const candleOf = (c) => ({ time: c[0], open: c[1], high: c[2], low: c[3], close: c[4] });
const volumeOf = (c) => ({ time: c[0], value: c[5], color: c[4] >= c[1] ? "rgba(26,127,55,0.35)" : "rgba(207,34,46,0.35)" });
const markerOf = (m) => ({
  time: m.time,
  position: m.side === "BUY" ? "belowBar" : "aboveBar",
  color: m.side === "BUY" ? UP : DOWN,
  shape: m.side === "BUY" ? "arrowUp" : "arrowDown",
  text: `${m.side === "BUY" ? "B" : "S"} ${m.quantity}`,
});
const pointOf = (time, value) => (value === null ? { time } : { time, value }); // null: a gap (whitespace)
const number = (x) => (x === undefined ? "" : x.toLocaleString("en-IN", { maximumFractionDigits: 2 }));

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

async function render({ model, el }) {
  el.classList.add("oms-candle-chart");
  const bar = element("div", "oms-chart-toolbar");
  bar.style.cssText = "display:flex;gap:6px;align-items:center;flex-wrap:wrap;font:12px monospace;margin:2px 0";
  const select = element("select", "oms-chart-symbol");
  const buttons = element("span", "oms-chart-intervals");
  const legend = element("span", "oms-chart-legend");
  const status = element("span", "oms-chart-status");
  status.style.color = DOWN;
  bar.append(select, buttons, legend, status);
  const box = element("div", "oms-chart-canvas");
  box.style.cssText = `position:relative;width:100%;height:${model.get("height")}px`;
  el.append(bar, box);

  const L = await library(model);
  const chart = L.createChart(box, {
    autoSize: true,
    layout: { background: { type: L.ColorType.Solid, color: "#ffffff" }, textColor: "#57606a", fontSize: 11 },
    grid: { vertLines: { color: "#f0f2f4" }, horzLines: { color: "#f0f2f4" } },
    timeScale: { timeVisible: true, secondsVisible: false, rightOffset: 4 },
    crosshair: { mode: L.CrosshairMode.Normal },
  });
  const candles = chart.addSeries(L.CandlestickSeries, {
    upColor: UP, downColor: DOWN, borderVisible: false, wickUpColor: UP, wickDownColor: DOWN,
  });
  candles.priceScale().applyOptions({ scaleMargins: { top: 0.08, bottom: 0.3 } });
  const volume = chart.addSeries(L.HistogramSeries, {
    priceFormat: { type: "volume" }, priceScaleId: "volume", lastValueVisible: false, priceLineVisible: false,
  });
  chart.priceScale("volume").applyOptions({ scaleMargins: { top: 0.78, bottom: 0 } });
  const markerApi = L.createSeriesMarkers(candles, []);
  box.__omsChart = chart; // for tests and the curious: the chart's own API

  let data = []; // [time, o, h, l, c, v], oldest first
  let olderMarkers = [];
  let priceLines = [];
  let indicators = []; // the ctx.plot lines: {name, pane, series, points}
  let pending = false;
  let exhausted = false;

  function legendOf(c) {
    legend.textContent = c ? `O ${number(c[1])} H ${number(c[2])} L ${number(c[3])} C ${number(c[4])} V ${number(c[5])}` : "no prices yet";
  }

  function describe() {
    el.dataset.symbol = model.get("symbol");
    el.dataset.interval = model.get("interval");
    el.dataset.bars = String(data.length);
    el.dataset.first = data.length ? String(data[0][0]) : "";
    el.dataset.lastClose = data.length ? String(data[data.length - 1][4]) : "";
    el.dataset.markers = JSON.stringify(markerApi.markers().map((m) => ({ time: m.time, text: m.text, position: m.position })));
    el.dataset.lines = JSON.stringify(priceLines.map((line) => line.options().price));
    // What the library holds of each indicator line: its pane and points (whitespace gaps included).
    el.dataset.indicators = JSON.stringify(indicators.map((line) => ({
      name: line.name, pane: line.series.getPane().paneIndex(), points: line.series.data().length,
      first: line.points.length ? line.points[0].time : null,
    })));
    el.dataset.panes = String(chart.panes().length);
    legendOf(data[data.length - 1]);
  }

  function drawMarkers() {
    const first = data.length ? data[0][0] : Infinity;
    const all = olderMarkers.concat(model.get("markers")).filter((m) => m.time >= first);
    all.sort((a, b) => a.time - b.time);
    markerApi.setMarkers(all.map(markerOf));
  }

  function drawLines() {
    for (const line of priceLines) candles.removePriceLine(line);
    priceLines = model.get("lines").map((line) => candles.createPriceLine({
      price: line.price,
      color: LINE_COLOURS[line.kind] || "#57606a",
      lineWidth: 1,
      lineStyle: line.kind === "gtt" ? L.LineStyle.Dotted : L.LineStyle.Dashed,
      axisLabelVisible: true,
      title: line.title,
    }));
    describe();
  }

  function drawIndicators() {
    for (const line of indicators) chart.removeSeries(line.series); // a pane left empty goes with its last line
    indicators = model.get("indicators").map((line) => {
      const series = chart.addSeries(L.LineSeries, {
        color: line.color, lineWidth: 2, title: line.name, priceLineVisible: false, lastValueVisible: true,
      }, line.pane);
      const points = line.time.map((time, i) => pointOf(time, line.value[i]));
      series.setData(points);
      return { name: line.name, pane: line.pane, series, points };
    });
    const panes = chart.panes();
    if (panes.length > 1) panes[1].setStretchFactor(BELOW);
  }

  function olderIndicators(lines) {
    // The older candles' points of each line, put before the points it has.
    const byName = new Map((lines || []).map((line) => [line.name, line]));
    for (const line of indicators) {
      const older = byName.get(line.name);
      if (!older || !older.time.length) continue;
      const first = line.points.length ? line.points[0].time : Infinity;
      const points = older.time.map((time, i) => pointOf(time, older.value[i])).filter((p) => p.time < first);
      line.points = points.concat(line.points);
      line.series.setData(line.points);
    }
  }

  function applyTail() {
    for (const c of model.get("tail")) {
      const last = data[data.length - 1];
      if (last && c[0] < last[0]) continue; // already drawn and closed
      if (last && c[0] === last[0]) data[data.length - 1] = c;
      else data.push(c);
      candles.update(candleOf(c));
      volume.update(volumeOf(c));
    }
  }

  function reset() {
    data = decode(model.get("bars"));
    olderMarkers = [];
    pending = false;
    exhausted = false;
    candles.setData(data.map(candleOf));
    volume.setData(data.map(volumeOf));
    applyTail();
    drawIndicators();
    drawMarkers();
    drawLines();
    // The newest candles at a readable width: a long history from its end, a medium one whole, a few candles at
    // the library's own spacing (fitted, two candles would fill the width).
    if (data.length >= SHOWN) chart.timeScale().setVisibleLogicalRange({ from: data.length - SHOWN, to: data.length + 4 });
    else if (data.length >= FIT) chart.timeScale().fitContent();
    else chart.timeScale().scrollToRealTime();
    describe();
  }

  function controls() {
    const symbols = model.get("symbols");
    const chosen = model.get("symbol");
    select.replaceChildren(...symbols.map((s) => Object.assign(element("option", "", s), { value: s, selected: s === chosen })));
    buttons.replaceChildren(...model.get("intervals").map((name) => {
      const button = element("button", `oms-chart-interval oms-chart-interval-${name}`, name);
      button.style.cssText = `font:12px monospace;padding:1px 6px;${name === model.get("interval") ? "font-weight:bold;background:#ddf4ff" : ""}`;
      button.onclick = () => { model.set("interval", name); model.save_changes(); };
      return button;
    }));
    status.textContent = model.get("message");
  }

  select.onchange = () => { model.set("symbol", select.value); model.save_changes(); };

  function more(range) {
    if (!range || pending || exhausted || !data.length || range.from > MORE_AT) return;
    pending = true;
    model.send({ type: "more", before: data[0][0], revision: model.get("revision") });
  }

  function answer(msg, buffers) {
    if (!msg || msg.type !== "older" || msg.revision !== model.get("revision")) return;
    pending = false;
    if (!data.length || msg.before !== data[0][0]) return;
    const older = decode(buffers[0]).filter((c) => c[0] < data[0][0]);
    if (!older.length) {
      exhausted = true;
      return;
    }
    data = older.concat(data);
    olderMarkers = msg.markers.concat(olderMarkers);
    candles.setData(data.map(candleOf));
    volume.setData(data.map(volumeOf));
    olderIndicators(msg.indicators);
    drawMarkers();
    describe();
  }

  const handlers = {
    "change:bars": reset,
    "change:tail": () => { applyTail(); drawMarkers(); describe(); },
    "change:markers": () => { drawMarkers(); describe(); },
    "change:lines": drawLines,
    "change:indicators": () => { drawIndicators(); describe(); },
    "change:symbols": controls,
    "change:symbol": controls,
    "change:interval": controls,
    "change:message": controls,
    "msg:custom": answer,
  };
  for (const [name, handler] of Object.entries(handlers)) model.on(name, handler);
  chart.timeScale().subscribeVisibleLogicalRangeChange(more);
  chart.subscribeCrosshairMove((param) => {
    const index = param && param.logical !== undefined ? Math.round(param.logical) : -1;
    legendOf(data[index] || data[data.length - 1]);
  });
  controls();
  reset();

  return () => {
    for (const [name, handler] of Object.entries(handlers)) model.off(name, handler);
    chart.remove();
  };
}

export default { render };
