"""The tearsheet's figures (matplotlib): equity against a benchmark, underwater drawdown, monthly returns, the
distribution of trade P&L, and P&L by symbol, product and hour of day.

Figures are made with :class:`matplotlib.figure.Figure` directly, not through pyplot, so building a report opens no
window and leaves nothing in pyplot's list of figures; the Agg canvas renders them to PNG.
"""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["FIGURE_TITLES", "figure_png", "make_figures"]

#: Figure names, in the order the report shows them, with their titles.
FIGURE_TITLES = {
    "equity": "Equity",
    "drawdown": "Underwater (drawdown)",
    "monthly_returns": "Monthly returns",
    "trade_pnl": "Trade P&L distribution",
    "pnl_by_symbol": "Net P&L by symbol",
    "pnl_by_product": "Net P&L by product",
    "pnl_by_hour": "Net P&L by hour of exit",
}
_MAX_POINTS = 4000  # a line of a million bars is drawn from this many (each bucket's last point; the low for drawdowns)
_GREEN, _RED, _BLUE, _GREY = "#2e7d32", "#c62828", "#1f5fa8", "#888888"


def _figure(height: float = 3.2, width: float = 10.0) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _thin(series: pd.Series, low: bool = False) -> pd.Series:
    if len(series) <= _MAX_POINTS:
        return series
    step = int(np.ceil(len(series) / _MAX_POINTS))
    if not low:
        return series.iloc[np.unique(np.r_[np.arange(step - 1, len(series), step), len(series) - 1])]
    values = series.to_numpy(dtype=float)
    padded = np.pad(values, (0, -len(values) % step), constant_values=np.inf).reshape(-1, step)
    return series.iloc[np.arange(len(padded)) * step + padded.argmin(axis=1)]


def _empty(axes: Axes, text: str) -> None:
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes, color=_GREY)
    axes.set_xticks([])
    axes.set_yticks([])


def equity_figure(equity: pd.Series, benchmark: pd.Series | None, benchmark_name: str | None,
                  timezone: str) -> Figure:
    """The strategy's equity, and the benchmark's buy and hold scaled to the same starting equity."""
    fig = _figure(3.6)
    axes = fig.add_subplot()
    line = _thin(equity).tz_convert(timezone)
    axes.plot(line.index, line.to_numpy(), color=_BLUE, linewidth=1.2, label="strategy")
    if benchmark is not None:
        other = _thin(benchmark).tz_convert(timezone)
        axes.plot(other.index, other.to_numpy(), color=_GREY, linewidth=1.0, label=f"buy and hold {benchmark_name}")
    axes.axhline(float(equity.iloc[0]), color=_GREY, linewidth=0.6, linestyle=":")
    axes.set_ylabel("equity (₹)")
    axes.set_title(FIGURE_TITLES["equity"], loc="left")
    axes.legend(loc="best", frameon=False)
    axes.grid(alpha=0.3)
    fig.autofmt_xdate()
    return fig


def drawdown_figure(drawdown: pd.Series, timezone: str) -> Figure:
    """How far below its running peak the equity stood, in percent."""
    fig = _figure(2.6)
    axes = fig.add_subplot()
    line = _thin(drawdown, low=True).tz_convert(timezone) * 100
    axes.fill_between(line.index, line.to_numpy(), 0, color=_RED, alpha=0.45, linewidth=0, step="post")
    axes.set_ylabel("drawdown %")
    axes.set_title(FIGURE_TITLES["drawdown"], loc="left")
    axes.grid(alpha=0.3)
    fig.autofmt_xdate()
    return fig


def monthly_figure(table: pd.DataFrame) -> Figure:
    """Months across, years down, each cell the month's return in percent (green up, red down)."""
    from matplotlib.colors import TwoSlopeNorm

    fig = _figure(0.9 + 0.45 * max(len(table), 1))
    axes = fig.add_subplot()
    values = table.to_numpy(dtype=float) * 100
    if not np.isfinite(values).any():
        _empty(axes, "no monthly returns")
        return fig
    reach = max(float(np.nanmax(np.abs(values))), 0.01)
    axes.imshow(np.ma.masked_invalid(values), cmap="RdYlGn", norm=TwoSlopeNorm(0, -reach, reach), aspect="auto")
    for (row, column), value in np.ndenumerate(values):
        if np.isfinite(value):
            dark = abs(value) > 0.6 * reach  # the ends of the colour map are dark: white text there
            axes.text(column, row, f"{value:.1f}", ha="center", va="center", fontsize=8,
                      color="white" if dark else "black")
    axes.set_xticks(range(12), ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"])
    axes.set_yticks(range(len(table)), [str(year) for year in table.index])
    axes.set_title(FIGURE_TITLES["monthly_returns"] + " (%)", loc="left")
    return fig


def trade_pnl_figure(trades: pd.DataFrame) -> Figure:
    """A histogram of the closed trades' net P&L, wins green and losses red, with the mean marked."""
    fig = _figure(2.8)
    axes = fig.add_subplot()
    pnl = trades["net_pnl"].to_numpy(dtype=float)
    if not len(pnl):
        _empty(axes, "no closed trades")
        return fig
    edges = np.histogram_bin_edges(pnl, bins=min(40, max(5, len(pnl) // 2)))
    # matplotlib's stubs type bins as a Sequence; hist takes the ndarray of edges (numpy.histogram does).
    axes.hist(pnl[pnl > 0], bins=edges, color=_GREEN, alpha=0.8, label="wins")  # type: ignore[arg-type]
    axes.hist(pnl[pnl <= 0], bins=edges, color=_RED, alpha=0.8, label="losses")  # type: ignore[arg-type]
    axes.axvline(float(pnl.mean()), color="black", linewidth=1, linestyle="--", label=f"mean {pnl.mean():,.2f}")
    axes.set_xlabel("net P&L per trade (₹)")
    axes.set_ylabel("trades")
    axes.set_title(FIGURE_TITLES["trade_pnl"], loc="left")
    axes.legend(frameon=False)
    axes.grid(alpha=0.3)
    return fig


def bars_figure(pnl: pd.Series, name: str, xlabel: str) -> Figure:
    """Net P&L of closed trades by one key (symbol, product, hour), green above 0 and red below."""
    fig = _figure(2.8, 10.0 if name == "pnl_by_hour" else 5.0)
    axes = fig.add_subplot()
    if pnl.empty:
        _empty(axes, "no closed trades")
        return fig
    values = pnl.to_numpy(dtype=float)
    axes.bar([str(k) for k in pnl.index], values, color=np.where(values >= 0, _GREEN, _RED))
    axes.axhline(0, color=_GREY, linewidth=0.6)
    axes.set_xlabel(xlabel)
    axes.set_ylabel("net P&L (₹)")
    axes.set_title(FIGURE_TITLES[name], loc="left")
    axes.grid(alpha=0.3, axis="y")
    return fig


def make_figures(equity: pd.Series, drawdown: pd.Series, benchmark: pd.Series | None, benchmark_name: str | None,
                 monthly: pd.DataFrame, trades: pd.DataFrame, timezone: str, zone_name: str) -> dict[str, Figure]:
    """Every figure of the tearsheet by name (:data:`FIGURE_TITLES`)."""
    hours = trades["exit_ts"].dt.tz_convert(timezone).dt.hour
    return {
        "equity": equity_figure(equity, benchmark, benchmark_name, timezone),
        "drawdown": drawdown_figure(drawdown, timezone),
        "monthly_returns": monthly_figure(monthly),
        "trade_pnl": trade_pnl_figure(trades),
        "pnl_by_symbol": bars_figure(trades.groupby("symbol")["net_pnl"].sum(), "pnl_by_symbol", "symbol"),
        "pnl_by_product": bars_figure(trades.groupby("product")["net_pnl"].sum(), "pnl_by_product", "product"),
        "pnl_by_hour": bars_figure(trades["net_pnl"].groupby(hours).sum().sort_index(), "pnl_by_hour",
                                   f"hour of day ({zone_name})"),
    }


def figure_png(figure: Figure) -> str:
    """The figure as a base64 PNG, without the PNG's software tag (the page then carries no web address)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")
