"""Charts: the candlestick chart (:class:`CandleChart`, an anywidget around TradingView Lightweight Charts, and
:class:`ChartPanel`, its live panel for the dashboard), and the P&L chart (:class:`PnLChart`: equity and day P&L over
time, drawn live as SVG).

The candlestick chart's front end is ``chart.js`` next to this module. The library itself
(``oms_kit/static/lightweight-charts``, vendored) reaches the browser once per page, when the first chart draws: the
front end asks for it with a message and gets it gzipped (62 kB) as a binary buffer, so a chart costs the kernel
nothing to display until a browser shows it, and a page with ten charts loads it once.

The window protocol: the chart is sent the newest ``window`` candles of its symbol and interval (the ``bars`` trait,
float64 columns) and, live, the candles made since (``tail``). When the user scrolls to the left edge, the front end
asks for the candles before its first one (``{"type": "more", "before": time}``) and prepends the answer, a window at
a time, so a million bars stay a few hundred kilobytes per message. A result's ``ctx.plot`` lines (``indicators``)
go the same way: the points of the window's candles with the window, the older points with the older candles.
"""

from __future__ import annotations

import gzip
import time as _time
from collections import deque
from datetime import datetime
from functools import cache
from html import escape
from importlib.resources import files
from typing import Any

import anywidget
import ipywidgets as w
import numpy as np
import traitlets as t

from oms_kit.chart_data import IndicatorLine, line_pane
from oms_kit.errors import ConfigError
from oms_kit.market.candles import INTERVALS, CandleArrays, CandleBook, check_interval
from oms_kit.snapshot import OrderView, account_view, position_views
from oms_kit.sync import SyncOMS
from oms_kit.widgets.base import DEFAULT_INTERVAL, OmsLike, Panel, classed
from oms_kit.widgets.chart_feed import LiveSource, Source, TableSource
from oms_kit.widgets.format import clock_time, money, signed

WIDTH, PANE, GAP, LEFT = 660, 90, 26, 96  # SVG units: width, height of each pane, gap between, left margin
MAX_DRAWN = 400  # points drawn per line at most; longer histories are thinned evenly


class PnLChart(Panel):
    """Equity (top) and day P&L (bottom, zero line dashed) sampled from the account's figures (``account_view``).

    A sample is taken at each refresh (every ``every`` seconds and after fills), at most one per ``min_gap``
    seconds; ``max_samples`` are kept. ``samples`` is the list of (time, equity, day P&L).
    """

    kinds = ("fill", "position", "trading_state")
    title_text = "P&amp;L"
    css_class = "oms-chart"

    def __init__(self, oms: OmsLike, *, every: float | None = 1.0, min_gap: float = 0.5, max_samples: int = 3600,
                 interval: float = DEFAULT_INTERVAL) -> None:
        self.min_gap = min_gap
        self._samples: deque[tuple[datetime, float, float]] = deque(maxlen=max_samples)
        self._sampled_at = float("-inf")
        super().__init__(oms, interval=interval, every=every)

    @property
    def samples(self) -> list[tuple[datetime, float, float]]:
        return list(self._samples)

    def _build(self) -> list[w.Widget]:
        self.figure = classed(w.HTML(layout=w.Layout(width="100%")), "oms-chart-svg")
        return [self.figure]

    def sample(self) -> None:
        """Record equity and day P&L now."""
        account = account_view(self.oms)
        self._samples.append((account.taken_at, float(account.equity), float(account.day_pnl)))
        self._sampled_at = _time.monotonic()

    def refresh(self) -> None:
        if _time.monotonic() - self._sampled_at >= self.min_gap or not self._samples:
            self.sample()
        self.figure.value = render(list(self._samples))


def render(samples: list[tuple[datetime, float, float]]) -> str:
    """Two line panes, equity and day P&L, with their last values, ranges and the time span."""
    if len(samples) > MAX_DRAWN:
        step = len(samples) / MAX_DRAWN
        samples = [samples[int(i * step)] for i in range(MAX_DRAWN)] + [samples[-1]]
    height = 2 * PANE + GAP + 18
    parts = [f"<svg viewBox='0 0 {WIDTH} {height}' width='100%' style='max-width:{WIDTH * 1.3:.0f}px' "
             "xmlns='http://www.w3.org/2000/svg' font-family='monospace' font-size='11'>"]
    equity = [s[1] for s in samples]
    pnl = [s[2] for s in samples]
    last_pnl = pnl[-1] if pnl else 0.0
    pnl_colour = "#1a7f37" if last_pnl >= 0 else "#cf222e"
    parts.append(_pane(equity, 4, "equity", money(equity[-1]) if equity else "—", "#0969da", zero=False))
    parts.append(_pane(pnl, 4 + PANE + GAP, "day P&amp;L", signed(last_pnl) if pnl else "—", pnl_colour, zero=True))
    if samples:
        span = f"{clock_time(samples[0][0])} → {clock_time(samples[-1][0])}"
        parts.append(f"<text x='{LEFT}' y='{height - 2}' fill='#8c959f'>{escape(span)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _pane(values: list[float], top: float, label: str, last: str, colour: str, *, zero: bool) -> str:
    right = WIDTH - 8
    out = [f"<rect x='{LEFT}' y='{top}' width='{right - LEFT}' height='{PANE}' fill='none' stroke='#d0d7de'/>",
           f"<text x='4' y='{top + 12}' fill='#57606a'>{label}</text>",
           f"<text x='4' y='{top + 28}' fill='{colour}' font-weight='bold'>{escape(last)}</text>"]
    if not values:
        return "".join(out)
    low, high = min(values), max(values)
    if zero:
        low, high = min(low, 0.0), max(high, 0.0)
    if high - low < 1e-9:
        low, high = low - 1, high + 1
    inner_top, inner = top + 4, PANE - 8

    def y(v: float) -> float:
        return inner_top + (high - v) / (high - low) * inner

    n = len(values)
    xs = [LEFT + 2 + (right - LEFT - 4) * (i / (n - 1) if n > 1 else 1.0) for i in range(n)]
    points = " ".join(f"{x:.1f},{y(v):.1f}" for x, v in zip(xs, values, strict=True))
    out.append(f"<text x='4' y='{top + 46}' fill='#8c959f'>{money(high, 0)}</text>")
    out.append(f"<text x='4' y='{top + PANE - 4}' fill='#8c959f'>{money(low, 0)}</text>")
    if zero:
        out.append(f"<line x1='{LEFT}' x2='{right}' y1='{y(0):.1f}' y2='{y(0):.1f}' stroke='#8c959f' "
                   "stroke-dasharray='3 3'/>")
    out.append(f"<polyline points='{points}' fill='none' stroke='{colour}' stroke-width='1.5'/>")
    out.append(f"<circle cx='{xs[-1]:.1f}' cy='{y(values[-1]):.1f}' r='2.5' fill='{colour}'/>")
    return "".join(out)


# -- the candlestick chart ----------------------------------------------------------------------------------------

LIBRARY_VERSION = "5.2.1"
MAX_WINDOW = 20_000  # candles per message at most: 960 kB of columns
TAIL_LIMIT = 60  # live candles sent as a tail before the whole window is sent again
SEED_FILLS = 10_000  # the newest fills a live chart starts its candles from
MAX_ERRORS = 100  # refused requests kept
LINES_EVERY = 1.0  # seconds: a live chart's price lines are read at least this often while prices move


@cache
def library_gzip() -> bytes:
    """The vendored Lightweight Charts ES module, gzipped (the bytes the front end imports once per page)."""
    module = files("oms_kit").joinpath("static", "lightweight-charts",
                                       "lightweight-charts.standalone.production.mjs").read_bytes()
    return gzip.compress(module, compresslevel=9, mtime=0)


def pack(candles: CandleArrays) -> bytes:
    """``candles`` as six float64 columns one after the other (time, open, high, low, close, volume)."""
    if not len(candles):
        return b""
    return np.concatenate([np.asarray(c, dtype="<f8") for c in candles.columns()]).tobytes()


def unpack(data: bytes) -> CandleArrays:
    """The inverse of :func:`pack`."""
    table = np.frombuffer(bytes(data), dtype="<f8").reshape(6, -1) if data else np.empty((6, 0))
    return CandleArrays(table[0].astype(np.int64), *(table[k].copy() for k in range(1, 6)))


def window_size(value: Any) -> int:
    """``value`` checked as a number of candles per window."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_WINDOW:
        raise ConfigError("window", value, f"a whole number of candles from 1 to {MAX_WINDOW:,}")
    return value


class CandleChart(anywidget.AnyWidget):
    """Candles and volume of one symbol at one interval, fills as buy/sell markers, working orders as price lines,
    a result's ``ctx.plot`` lines, with a symbol and an interval switcher; scroll left and the candles before come
    in a window at a time.

    Made by :class:`ChartPanel` (live, from an OMS) and :meth:`from_result` / :meth:`from_bars` (a backtest's bars,
    a million of them if need be). ``show(symbol, interval)`` switches as the front end's controls do.
    """

    _esm = files("oms_kit.widgets").joinpath("chart.js").read_text()

    symbol = t.Unicode("").tag(sync=True)
    interval = t.Unicode("1m").tag(sync=True)
    symbols = t.List(t.Unicode()).tag(sync=True)
    intervals = t.List(t.Unicode(), default_value=list(INTERVALS)).tag(sync=True)
    bars = t.Bytes(b"").tag(sync=True)  # the window: pack()ed columns
    tail: t.List[Any] = t.List().tag(sync=True)  # live candles from the window's last on, [time, o, h, l, c, v] each
    markers = t.List(t.Dict()).tag(sync=True)  # from the window's first candle on
    lines = t.List(t.Dict()).tag(sync=True)
    # ctx.plot lines from the window's first candle on: name, color, pane (0 over the candles, 1 below), time, value
    indicators = t.List(t.Dict()).tag(sync=True)
    revision = t.Int(0).tag(sync=True)  # windows sent: a request for more names the one it extends
    height = t.Int(420).tag(sync=True)
    message = t.Unicode("").tag(sync=True)  # the last refused request, shown over the chart

    def __init__(self, source: Source, *, symbol: str | None = None, interval: str = "1m", window: int = 2_000,
                 height: int = 420) -> None:
        if isinstance(height, bool) or not isinstance(height, int) or not 120 <= height <= 4000:
            raise ConfigError("height", height, "a whole number of pixels from 120 to 4000")
        size = window_size(window)
        super().__init__(height=height)
        self.source = source
        self._window = size
        self.errors: list[str] = []  # the last MAX_ERRORS requests refused, oldest first
        self.refused = 0  # requests refused in all
        self._shown = CandleArrays.of(())
        self._indicator_lines: list[IndicatorLine] = []
        self._applying = False
        self.on_msg(self._on_msg)
        self.show(symbol if symbol is not None else self._first_symbol(), interval)

    # -- construction -----------------------------------------------------------------------------------------

    @classmethod
    def from_result(cls, result: Any, symbol: str | None = None, *, interval: str = "1m", window: int = 2_000,
                    height: int = 420) -> CandleChart:
        """The chart of a backtest's result (``result.bars``, ``result.fills``, the orders still working, the
        strategy's ``ctx.plot`` lines from ``result.indicators``: over the candles when their values lie near the
        prices, in a pane below otherwise, as ``result.chart`` draws them; at a coarser interval than the bars,
        each line's last value in each candle)."""
        bars = getattr(result, "bars", None)
        fills = getattr(result, "fills", None)
        if bars is None or fills is None:
            raise ConfigError("result", type(result).__name__, "a BacktestResult (it has bars and fills)")
        manager = getattr(result, "manager", None)
        orders = [OrderView.of(o) for o in manager.live.values()] if manager is not None else []
        programs = tuple(manager.programs.book.programs.values()) if manager is not None else ()
        session = manager.session if manager is not None else "Asia/Kolkata"
        source = TableSource(bars, fills, orders, session, programs=programs,
                             indicators=getattr(result, "indicators", None))
        return cls(source, symbol=symbol, interval=interval, window=window, height=height)

    @classmethod
    def from_bars(cls, bars: Any, fills: Any = (), symbol: str | None = None, *, interval: str = "1m",
                  window: int = 2_000, height: int = 420, exchange_timezone: str = "Asia/Kolkata") -> CandleChart:
        """The chart of ``bars`` (anything ``load_bars`` reads) with ``fills`` (Fill objects) marked."""
        from oms_kit.market.bars import load_bars

        return cls(TableSource(load_bars(bars), list(fills), (), exchange_timezone), symbol=symbol,
                   interval=interval, window=window, height=height)

    def _first_symbol(self) -> str:
        symbols = self.source.symbols()
        return symbols[0] if symbols else ""

    # -- what is shown ----------------------------------------------------------------------------------------

    @property
    def window(self) -> int:
        """Candles per window (sent first, and per request for more)."""
        return self._window

    @window.setter
    def window(self, value: int) -> None:
        self._window = window_size(value)

    @property
    def shown(self) -> CandleArrays:
        """The candles of the window last sent (the ``bars`` trait, decoded)."""
        return self._shown

    def show(self, symbol: str | None = None, interval: str | None = None) -> None:
        """Show ``symbol`` at ``interval`` (None: keep the current one): the newest window is sent.

        ConfigError for a symbol the source has no candles or price for, or an interval not in ``INTERVALS``.
        """
        symbols = self.source.symbols()
        # "" is the symbol of a chart with nothing to show yet, and only then.
        if symbol is not None and (not isinstance(symbol, str) or symbol not in symbols) \
                and not (symbol == "" and not symbols):
            allowed = ", ".join(symbols[:20]) + (" …" if len(symbols) > 20 else "")
            raise ConfigError("symbol", symbol, f"a symbol with prices: {allowed or 'none yet'}")
        if interval is not None:
            check_interval(interval)
        self._applying = True
        try:
            with self.hold_sync():
                self.symbols = list(symbols)
                if symbol is not None:
                    self.symbol = symbol
                if interval is not None:
                    self.interval = interval
                self._send_window()
        finally:
            self._applying = False

    def _send_window(self) -> None:
        candles = self.source.candles(self.symbol, self.interval) if self.symbol else CandleArrays.of(())
        shown = candles.window(max(0, len(candles) - self._window), len(candles))
        self._shown = shown
        self.bars = pack(shown)
        self.tail = []
        first = int(shown.time[0]) if len(shown) else None
        self.markers = self.source.markers(self.symbol, self.interval, first, None) if first is not None else []
        self.lines = self.source.lines(self.symbol) if self.symbol else []
        self._send_indicators(shown)
        self.revision += 1

    def _send_indicators(self, shown: CandleArrays) -> None:
        # Each line's pane is chosen on the window first sent, as result.chart chooses it for its window, and kept
        # while older windows come: a line does not jump between panes as one scrolls.
        lines = self._indicator_lines = self.source.indicators(self.symbol, self.interval) if self.symbol else []
        if not len(shown):
            self.indicators = [{**line.points(0, 0), "pane": 0} for line in lines]
            return
        first, low, high = int(shown.time[0]), float(shown.low.min()), float(shown.high.max())
        self.indicators = [{**line.points(first), "pane": line_pane(line.span(first)[1], low, high)}
                           for line in lines]

    def update(self, *, lines: bool = True) -> None:
        """Follow the source: the candles since the window (or a new window), the markers, the lines (unless
        ``lines`` is False), the symbols. Cheap when nothing changed (traits set to equal values send nothing)."""
        with self.hold_sync():
            symbols = list(self.source.symbols())
            if symbols != self.symbols:
                self.symbols = symbols
            if not self.symbol and symbols:
                self._applying = True
                try:
                    self.symbol = symbols[0]
                finally:
                    self._applying = False
            if not self.symbol:
                return
            since = int(self._shown.time[-1]) if len(self._shown) else None
            tail = self.source.tail(self.symbol, self.interval, since, TAIL_LIMIT)
            if tail is None:
                self._send_window()
                return
            if tail != self.tail:
                self.tail = tail
            if len(self._shown):
                markers = self.source.markers(self.symbol, self.interval, int(self._shown.time[0]), None)
                if markers != self.markers:
                    self.markers = markers
            if lines:
                drawn = self.source.lines(self.symbol)
                if drawn != self.lines:
                    self.lines = drawn

    # -- the window protocol ----------------------------------------------------------------------------------

    def older(self, before: int, count: int | None = None) -> CandleArrays:
        """The ``count`` (default: the window) candles of the current symbol and interval before the candle at
        ``before`` (exchange wall-clock seconds, as ``shown.time``); fewer at the start of the data, none before it.
        ConfigError for a ``before`` that is not a whole number of seconds."""
        if isinstance(before, bool) or not isinstance(before, int | np.integer) or not -2**53 < before < 2**53:
            raise ConfigError("before", before, "a whole number of seconds (a candle's time)")
        size = self._window if count is None else window_size(count)
        if not self.symbol:
            return CandleArrays.of(())
        candles = self.source.candles(self.symbol, self.interval)
        stop = int(np.searchsorted(candles.time, int(before), "left"))
        return candles.window(max(0, stop - size), stop)

    def _on_msg(self, _: Any, content: Any, buffers: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        try:
            if kind == "library":
                self.send({"type": "library", "version": LIBRARY_VERSION}, buffers=[library_gzip()])
            elif kind == "more":
                self._answer_more(content)
            else:
                raise ConfigError("message", str(content)[:200], "{'type': 'library'} or {'type': 'more', ...}")
        except Exception as exc:  # a front end's bad request must never raise in the kernel's comm handler
            self._refused(exc)

    def _answer_more(self, content: dict[str, Any]) -> None:
        if content.get("revision") != self.revision:  # a request about a window replaced since: stale
            return
        candles = self.older(content.get("before"))  # type: ignore[arg-type]
        first = int(candles.time[0]) if len(candles) else None
        markers = self.source.markers(self.symbol, self.interval, first, content["before"]) \
            if first is not None else []
        # The lines' points of the older candles, by name (the front end adds them to the lines it draws).
        lines = [line.points(first, content["before"]) for line in self._indicator_lines] if first is not None else []
        self.send({"type": "older", "revision": self.revision, "before": content["before"], "count": len(candles),
                   "markers": markers, "indicators": lines}, buffers=[pack(candles)])

    def _refused(self, exc: BaseException) -> None:
        self.refused += 1
        self.errors.append(f"{type(exc).__name__}: {exc}")
        del self.errors[:-MAX_ERRORS]  # a front end sending junk in a loop must not grow the kernel
        self.message = str(exc)[:300]

    @t.observe("symbol", "interval")
    def _switched(self, change: dict[str, Any]) -> None:
        if self._applying:
            return
        # Set by the front end's switchers: checked like show()'s arguments, put back when refused.
        try:
            if change["name"] == "symbol":
                self.show(symbol=change["new"])
            else:
                self.show(interval=change["new"])
        except ConfigError as exc:
            self._refused(exc)
            self._applying = True
            try:
                setattr(self, change["name"], change["old"])
            finally:
                self._applying = False

    def __repr__(self) -> str:
        return f"<CandleChart {self.symbol or '-'} {self.interval} window={self._window} shown={len(self._shown)}>"


def _fill_time(fill: Any) -> datetime:
    return fill.ts  # type: ignore[no-any-return]


class ChartPanel(Panel):
    """The dashboard's candlestick chart: candles built live from the OMS's prices (a :class:`CandleBook` fed by
    every price event, at 1m, 5m, 15m and 1d), the account's fills as markers, its working orders, programs' target
    and stop orders and GTT triggers as price lines. ``chart`` is the :class:`CandleChart`.

    The candles start when the panel opens, from the day's fills and each symbol's last price; the book keeps
    ``max_candles`` per symbol and interval. Hand it a ``book`` of your own to start from history (the day's bars
    given to ``book.on_bar``); the panel feeds it every price from then on (so do not feed it besides). Prices of
    other symbols than the one shown only feed the book: no redraw.
    """

    kinds = ("price", "fill", "order")
    title_text = "Chart"
    css_class = "oms-candles"

    def __init__(self, oms: OmsLike, *, symbol: str | None = None, book: CandleBook | None = None,
                 window: int = 2_000, max_candles: int = 5_000, height: int = 420,
                 interval: float = DEFAULT_INTERVAL) -> None:
        self._closed = True  # until Panel's __init__: a refused argument leaves nothing for __del__'s close to stop
        core = oms.oms if isinstance(oms, SyncOMS) else oms
        if book is not None and not isinstance(book, CandleBook):
            raise ConfigError("book", type(book).__name__, "a CandleBook or None")
        if book is None:
            book = CandleBook(core.manager.session, max_candles=max_candles)
            # The day's fills (trades at market prices), then each last price, start the candles, so the fills made
            # before the panel opened have candles to sit on.
            for trade in sorted((f for f in core.manager.trades[-SEED_FILLS:] if f.ts is not None), key=_fill_time):
                book.on_price(trade.ts, trade.symbol, trade.price)  # type: ignore[arg-type]
            now = core.clock.now()
            for name, price in tuple(core.manager.prices.items()):
                book.on_price(now, name, price)
        self.book = book
        held = [p.symbol for p in position_views(core) if p.quantity]
        self._options = {"symbol": symbol if symbol is not None else (held[0] if held else None),
                         "window": window, "height": height}
        self._said = 0
        self._orders_moved, self._lines_at = True, float("-inf")
        super().__init__(oms, interval=interval)

    def _build(self) -> list[w.Widget]:
        self.chart = CandleChart(LiveSource(self.oms, self.book), **self._options)  # type: ignore[arg-type]
        return [self.chart]

    def _on_event(self, event: Any) -> None:
        if event.kind == "price":
            self.book.on_event(event)
            if event.symbol != self.chart.symbol and event.symbol in self.chart.symbols:
                return  # another symbol's candle moved: nothing shown changed
        else:
            self._orders_moved = True
        self.mark_stale()

    def refresh(self) -> None:
        # The price lines are read again after an order or fill event, and once a second besides: a GTT made or
        # deleted publishes no event, and a price alone moves no line.
        now = _time.monotonic()
        lines = self._orders_moved or now - self._lines_at >= LINES_EVERY
        self.chart.update(lines=lines)
        if lines:
            self._orders_moved, self._lines_at = False, now
        if self.chart.refused > self._said:  # a request of the front end the chart refused
            self._said = self.chart.refused
            self.say(f"chart: {self.chart.errors[-1]}", "error")
