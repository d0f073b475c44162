"""P&L chart: equity and day P&L over time, drawn live as SVG (no plotting library, no image round trip)."""

from __future__ import annotations

import time as _time
from collections import deque
from datetime import datetime
from html import escape

import ipywidgets as w

from oms_kit.snapshot import account_view
from oms_kit.widgets.base import DEFAULT_INTERVAL, OmsLike, Panel, classed
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
