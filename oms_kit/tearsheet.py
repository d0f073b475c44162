"""Tearsheets: ``result.report()`` of a backtest or a paper run, as tables, figures and one self-contained HTML page.

:func:`build_report` turns an equity curve and the fills behind it into a :class:`Tearsheet`: the metrics as a
DataFrame (return, risk, trades, exposure, turnover, charges; against a benchmark's buy and hold when one is given),
the charges by kind, the closed round trips, the monthly returns and the figures of :mod:`oms_kit.tearsheet_plots`.
``BacktestResult.report`` and ``PaperTrader.report`` call it; the conventions (periods a year, what a trade is) are in
:mod:`oms_kit.tearsheet_metrics`.
"""

from __future__ import annotations

import html
import math
import numbers
import os
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from oms_kit.bookkeeping import SETTLEMENT_SUFFIX
from oms_kit.errors import ConfigError, DataError
from oms_kit.models import Fill
from oms_kit.tearsheet_metrics import (
    CHARGE_LABELS,
    benchmark_metrics,
    charges_by_kind,
    drawdown_metrics,
    drawdown_series,
    monthly_returns,
    periods_per_year,
    return_metrics,
    round_trips,
    trade_metrics,
)
from oms_kit.tearsheet_plots import FIGURE_TITLES, figure_png, make_figures
from oms_kit.tradable import Instrument

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Tearsheet", "build_report"]

# Long reports show a progress bar (progress=None): charges are priced again fill by fill, and drawing a long
# curve takes a moment.
PROGRESS_MIN_FILLS = 50_000
PROGRESS_MIN_BARS = 200_000
_MAX_PERIODS = 1e9  # a bar a second, all year round, is 3.2e7

# (key, label, unit): the metrics table's rows, in order.
_ROWS = [
    ("total_return", "Total return", "pct"), ("cagr", "CAGR", "pct"), ("volatility", "Annual volatility", "pct"),
    ("sharpe", "Sharpe ratio", "ratio"), ("sortino", "Sortino ratio", "ratio"),
    ("max_drawdown", "Max drawdown", "pct"), ("max_drawdown_days", "Max drawdown duration (days)", "days"),
    ("max_drawdown_bars", "Max drawdown duration (bars)", "count"),
    ("longest_drawdown_days", "Longest drawdown (days)", "days"),
    ("longest_drawdown_bars", "Longest drawdown (bars)", "count"), ("calmar", "Calmar ratio", "ratio"),
    ("beta", "Beta", "ratio"), ("alpha", "Alpha (annual)", "pct"), ("correlation", "Correlation", "ratio"),
    ("trades", "Closed trades", "count"), ("open_trades", "Open trades", "count"), ("win_rate", "Win rate", "pct"),
    ("profit_factor", "Profit factor", "ratio"), ("expectancy", "Expectancy (per trade)", "money"),
    ("avg_win", "Average win", "money"), ("avg_loss", "Average loss", "money"), ("exposure", "Exposure", "pct"),
    ("traded_value", "Traded value", "money"), ("turnover", "Turnover (× mean equity)", "times"),
    ("annual_turnover", "Annual turnover", "times"), ("gross_pnl", "Gross P&L", "money"),
    ("charges", "Charges", "money"), ("charges_drag", "Charges' drag (of gross P&L)", "pct"),
    ("net_pnl", "Net P&L", "money"), ("periods_per_year", "Bars a year", "count"), ("bars", "Bars", "count"),
]


def _check_options(periods: object, risk_free: object, timezone: object, title: object, progress: object) -> None:
    if periods is not None and (isinstance(periods, bool) or not isinstance(periods, numbers.Real)
                                or not 0 < float(periods) <= _MAX_PERIODS):
        raise ConfigError("periods_per_year", periods,
                          f"None (from the bars) or a number above 0, at most {_MAX_PERIODS:g}")
    if isinstance(risk_free, bool) or not isinstance(risk_free, numbers.Real) or not -1 < float(risk_free) <= 1:
        raise ConfigError("risk_free", risk_free,
                          "an annual rate as a fraction above -1 and at most 1 (0.065 for 6.5 %)")
    if not isinstance(timezone, str) or not timezone.strip():
        raise ConfigError("timezone", timezone, "an IANA time zone name such as 'Asia/Kolkata'")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ConfigError("timezone", timezone, "an IANA time zone name such as 'Asia/Kolkata'") from None
    if title is not None and not isinstance(title, str):
        raise ConfigError("title", title, "a string, or None for the strategy's name")
    if progress is not None and not isinstance(progress, bool):
        raise ConfigError("progress", progress, "True, False or None (a bar for long reports)")


def _benchmark_prices(benchmark: object, bars: pd.DataFrame | None, equity: pd.Series) -> tuple[pd.Series, str]:
    """The benchmark's prices on the equity's bar times (each the last known; before its first, its first)."""
    symbols = [] if bars is None else sorted(bars["symbol"].unique().tolist())
    allowed = ("a price Series with a DatetimeIndex, or a symbol of the data"
               + (f" ({', '.join(symbols[:10])}{'…' if len(symbols) > 10 else ''})" if symbols else ""))
    if isinstance(benchmark, str):
        if benchmark not in symbols:
            raise ConfigError("benchmark", benchmark, allowed)
        rows = bars[bars["symbol"] == benchmark]  # type: ignore[index]
        prices = pd.Series(rows["close"].to_numpy(dtype=float), index=pd.DatetimeIndex(rows["timestamp"]))
        name = benchmark
    elif isinstance(benchmark, pd.Series):
        if not isinstance(benchmark.index, pd.DatetimeIndex) or benchmark.empty:
            raise ConfigError("benchmark", f"a Series of {len(benchmark)} on {type(benchmark.index).__name__}",
                              allowed)
        try:
            values = pd.to_numeric(benchmark, errors="raise").to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise ConfigError("benchmark", f"a Series of dtype {benchmark.dtype}", allowed,
                              detail="its values must be prices: numbers above 0") from None
        bad = ~(pd.notna(values) & (values > 0) & (values < math.inf))
        if bad.any():
            raise ConfigError("benchmark", values[bad][0], "prices: finite numbers above 0",
                              detail=f"{int(bad.sum())} of {len(values)} values are not")
        index = benchmark.index if benchmark.index.tz is not None else benchmark.index.tz_localize("UTC")
        prices = pd.Series(values, index=index.tz_convert("UTC"))
        name = str(benchmark.name) if benchmark.name is not None else "benchmark"
    else:
        raise ConfigError("benchmark", benchmark, allowed)
    prices = prices[~prices.index.duplicated(keep="last")].sort_index()
    start, end = equity.index[0], equity.index[-1]
    if not ((prices.index >= start) & (prices.index <= end)).any():
        raise ConfigError("benchmark", f"prices from {prices.index[0]} to {prices.index[-1]}",
                          f"at least one price between the run's first bar ({start}) and its last ({end})")
    aligned = prices.reindex(prices.index.union(equity.index)).ffill().reindex(equity.index).bfill()
    return aligned, name


def build_report(equity: pd.DataFrame, fills: Sequence[Fill], *, instruments: Mapping[str, Instrument],
                 fee_model: object, bars: pd.DataFrame | None = None, benchmark: pd.Series | str | None = None,
                 periods_per_year: float | None = None, risk_free: float = 0.0, timezone: str = "Asia/Kolkata",
                 title: str | None = None, progress: bool | None = None) -> Tearsheet:
    """A tearsheet of ``equity`` (the equity curve: columns ``equity`` and ``exposure``, one row per bar time, as
    ``BacktestResult.equity``) and the ``fills`` behind it; the arguments after them are ``report()``'s.

    Raises
    ------
    ConfigError
        A bad argument, naming it: ``benchmark`` (neither a price Series nor a symbol of the data, or prices that
        do not cover the run), ``periods_per_year``, ``risk_free``, ``timezone``, ``title``, ``progress``.
    DataError
        No equity to report on (a paper run that has seen no bar).
    """
    _check_options(periods_per_year, risk_free, timezone, title, progress)
    if equity.empty:
        raise DataError("equity", "no bars", "a run that has seen at least one bar")
    curve = equity["equity"].astype(float)
    bench, bench_name = (None, None) if benchmark is None else _benchmark_prices(benchmark, bars, curve)
    fills = list(fills)
    show = (len(fills) > PROGRESS_MIN_FILLS or len(curve) > PROGRESS_MIN_BARS) if progress is None else progress
    bar = None
    if show:
        from tqdm import tqdm  # the text bar: tqdm.auto would import ipywidgets into the core

        bar = tqdm(total=len(fills), unit="fill", desc="report: charges")
    try:
        kinds = charges_by_kind(fills, fee_model, instruments, bar)
    finally:
        if bar is not None:
            bar.close()
    per_year = float(periods_per_year) if periods_per_year is not None else periods_per_year_of(curve, timezone)
    trades, still_open = round_trips(fills)
    metrics = _metrics(curve, equity["exposure"], fills, trades, kinds, per_year, float(risk_free), still_open)
    columns = {"strategy": metrics}
    bench_curve = None
    if bench is not None:
        bench_curve = (bench / bench.iloc[0] * curve.iloc[0]).rename(bench_name)
        metrics.update(benchmark_metrics(curve, bench_curve, per_year, float(risk_free)))
        theirs = {**return_metrics(bench_curve, per_year, float(risk_free)), **drawdown_metrics(bench_curve)}
        theirs["calmar"] = _calmar(theirs)
        columns["benchmark"] = theirs
    table = _metrics_frame(columns, kinds, metrics)
    return Tearsheet(title=title or "Tearsheet", metrics=table, charges=_charges_frame(kinds, metrics),
                     trades=trades, monthly_returns=monthly_returns(curve, timezone), equity=curve,
                     drawdown=drawdown_series(curve), benchmark=bench_curve, benchmark_name=bench_name,
                     timezone=timezone, progress=show)


def periods_per_year_of(curve: pd.Series, timezone: str) -> float:
    """Bars a year of an equity curve (see :func:`oms_kit.tearsheet_metrics.periods_per_year`)."""
    return periods_per_year(pd.DatetimeIndex(curve.index), timezone)


def _calmar(values: Mapping[str, float]) -> float:
    drawdown = values["max_drawdown"]
    return values["cagr"] / -drawdown if drawdown < 0 else float("nan")


def _metrics(curve: pd.Series, exposure: pd.Series, fills: list[Fill], trades: pd.DataFrame,
             kinds: Mapping[str, Any], per_year: float, risk_free: float, still_open: int) -> dict[str, float]:
    values = {**return_metrics(curve, per_year, risk_free), **drawdown_metrics(curve), **trade_metrics(trades)}
    values["calmar"] = _calmar(values)
    traded = sum(float(f.price) * f.quantity for f in fills if not f.trade_id.endswith(SETTLEMENT_SUFFIX))
    mean_equity = float(curve.mean())
    values["traded_value"] = traded
    values["turnover"] = traded / mean_equity if mean_equity > 0 else float("nan")
    years = values["years"]
    values["annual_turnover"] = values["turnover"] / years if years >= 1 / 252 else float("nan")
    values["exposure"] = float((exposure.to_numpy(dtype=float) > 0).mean())
    charges = float(sum(kinds.values()))
    net = float(curve.iloc[-1] - curve.iloc[0])
    values.update(open_trades=float(still_open), charges=charges, net_pnl=net, gross_pnl=net + charges,
                  periods_per_year=per_year, bars=float(len(curve)))
    values["charges_drag"] = charges / (net + charges) if net + charges > 0 else float("nan")
    return values


def _metrics_frame(columns: Mapping[str, Mapping[str, float]], kinds: Mapping[str, Any],
                   ours: Mapping[str, float]) -> pd.DataFrame:
    rows = list(_ROWS)
    gross = ours["gross_pnl"]
    drag_rows = {}
    for kind, amount in kinds.items():
        if amount:
            key = f"charges_drag_{kind}"
            rows.insert(rows.index(("net_pnl", "Net P&L", "money")), (key, f"  drag: {CHARGE_LABELS[kind]}", "pct"))
            drag_rows[key] = float(amount) / gross if gross > 0 else float("nan")
    frame = pd.DataFrame(index=pd.Index([key for key, _, _ in rows], name="metric"))
    frame["label"] = [label for _, label, _ in rows]
    frame["unit"] = [unit for _, _, unit in rows]
    for name, values in columns.items():
        merged = {**values, **drag_rows} if name == "strategy" else values
        frame[name] = [float(merged.get(key, float("nan"))) for key, _, _ in rows]
    return frame


def _charges_frame(kinds: Mapping[str, Any], metrics: Mapping[str, float]) -> pd.DataFrame:
    total = metrics["charges"]
    gross, traded = metrics["gross_pnl"], metrics["traded_value"]
    rows = [(CHARGE_LABELS[k], float(v)) for k, v in kinds.items() if v] + [("Total", total)]
    frame = pd.DataFrame(rows, columns=["charge", "amount"]).set_index("charge")
    frame["share_of_charges"] = frame["amount"] / total if total else float("nan")
    frame["drag"] = frame["amount"] / gross if gross > 0 else float("nan")
    frame["bps_of_traded_value"] = frame["amount"] / traded * 10_000 if traded else float("nan")
    return frame


def _format(value: float, unit: str) -> str:
    if math.isnan(value):
        return "–"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if unit == "money":
        return f"−₹{-value:,.2f}" if value < 0 else f"₹{value:,.2f}"
    return {"pct": f"{value:.2%}", "ratio": f"{value:.2f}", "count": f"{value:,.0f}",
            "days": f"{value:,.1f}", "times": f"{value:,.2f}×"}[unit]


_STYLE = """
.oms-tearsheet{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;color:#222;max-width:1250px}
.oms-tearsheet h2{margin:0 0 .2em}.oms-tearsheet .sub{color:#666;margin:0 0 1em;font-size:.9em}
.oms-tearsheet .tables{display:flex;gap:2em;flex-wrap:wrap;align-items:flex-start}
.oms-tearsheet table{border-collapse:collapse;font-size:.85em}
.oms-tearsheet th,.oms-tearsheet td{padding:.2em .7em;border-bottom:1px solid #eee;text-align:right}
.oms-tearsheet th:first-child,.oms-tearsheet td:first-child{text-align:left}
.oms-tearsheet img{max-width:100%;display:block;margin:.8em 0}
.oms-tearsheet .pair{display:flex;gap:1em;flex-wrap:wrap}.oms-tearsheet .pair img{max-width:49%}
.oms-tearsheet .notes{color:#666;font-size:.8em;max-width:1000px}
"""


class Tearsheet:
    """A report of a run: ``metrics`` (a DataFrame: one row per figure, columns label, unit, strategy and, with a
    benchmark, benchmark), ``charges`` (by kind: amount, share of charges, drag on gross P&L, basis points of the
    traded value), ``trades`` (closed round trips), ``monthly_returns``, ``equity``, ``drawdown``, ``benchmark``
    (its buy and hold, scaled to the same starting equity) and ``figures`` (matplotlib, by name).

    Shows itself in Jupyter; :meth:`save` writes it as one self-contained HTML file, the figures inlined as PNG.
    """

    def __init__(self, *, title: str, metrics: pd.DataFrame, charges: pd.DataFrame, trades: pd.DataFrame,
                 monthly_returns: pd.DataFrame, equity: pd.Series, drawdown: pd.Series, benchmark: pd.Series | None,
                 benchmark_name: str | None, timezone: str, progress: bool = False) -> None:
        self.title = title
        self.metrics = metrics
        self.charges = charges
        self.trades = trades
        self.monthly_returns = monthly_returns
        self.equity = equity
        self.drawdown = drawdown
        self.benchmark = benchmark
        self.benchmark_name = benchmark_name
        self.timezone = timezone
        self._progress = progress

    @property
    def stats(self) -> pd.Series:
        """The strategy's figures as a Series, by metric key (``report.stats["sharpe"]``)."""
        return self.metrics["strategy"]

    @cached_property
    def figures(self) -> dict[str, Figure]:
        """The figures by name: equity, drawdown, monthly_returns, trade_pnl, pnl_by_symbol, pnl_by_product,
        pnl_by_hour (hours in the report's time zone)."""
        zone = "IST" if self.timezone == "Asia/Kolkata" else self.timezone
        return make_figures(self.equity, self.drawdown, self.benchmark, self.benchmark_name, self.monthly_returns,
                            self.trades, self.timezone, zone)

    @cached_property
    def _images(self) -> dict[str, str]:
        names = list(FIGURE_TITLES)
        if not self._progress:
            return {name: figure_png(self.figures[name]) for name in names}
        from tqdm import tqdm

        return {name: figure_png(self.figures[name]) for name in tqdm(names, unit="figure", desc="report: figures")}

    def to_html(self) -> str:
        """The report as an HTML fragment (a ``<div>`` with its own style), images inlined as base64 PNG."""
        frame = self.metrics
        head = "".join(f"<th>{html.escape(c)}</th>" for c in ["", "strategy", *(
            [f"buy and hold {self.benchmark_name}"] if "benchmark" in frame else [])])
        body = []
        for key, row in frame.iterrows():
            if math.isnan(row["strategy"]) and ("benchmark" not in frame or math.isnan(row["benchmark"])) and (
                    key in ("beta", "alpha", "correlation") or str(key).startswith("charges_drag_")):
                continue  # no benchmark, or no gain for a charge to take a share of
            cells = [_format(row["strategy"], row["unit"])]
            if "benchmark" in frame:
                cells.append(_format(row["benchmark"], row["unit"]))
            body.append(f"<tr><td>{html.escape(row['label'])}</td>" + "".join(f"<td>{c}</td>" for c in cells)
                        + "</tr>")
        charges = "".join(
            f"<tr><td>{html.escape(str(name))}</td><td>{_format(r['amount'], 'money')}</td>"
            f"<td>{_format(r['share_of_charges'], 'pct')}</td><td>{_format(r['drag'], 'pct')}</td>"
            f"<td>{_format(r['bps_of_traded_value'], 'ratio')}</td></tr>" for name, r in self.charges.iterrows())
        images = self._images
        figure = lambda name: (f'<img alt="{html.escape(FIGURE_TITLES[name])}" '  # noqa: E731
                               f'src="data:image/png;base64,{images[name]}">')
        start, end = (self.equity.index[i].tz_convert(self.timezone) for i in (0, -1))
        per_year = cast(float, frame.loc["periods_per_year", "strategy"])
        return (
            f'<div class="oms-tearsheet"><style>{_STYLE}</style><h2>{html.escape(self.title)}</h2>'
            f'<p class="sub">{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} ({html.escape(self.timezone)}), '
            f'{len(self.equity):,} bars, {per_year:,.0f} bars a year</p>'
            f'<div class="tables"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
            f'<table><thead><tr><th>charge</th><th>amount</th><th>share</th><th>drag</th><th>bps of traded</th>'
            f'</tr></thead><tbody>{charges}</tbody></table></div>'
            f'{figure("equity")}{figure("drawdown")}{figure("monthly_returns")}{figure("trade_pnl")}'
            f'<div class="pair">{figure("pnl_by_symbol")}{figure("pnl_by_product")}</div>{figure("pnl_by_hour")}'
            '<p class="notes">Returns bar to bar; a year is 252 trading days of the data\'s bars. Sharpe and Sortino'
            ' on excess bar returns, annualised by the square root of bars a year; CAGR over trading time. Trades'
            ' are round trips, flat to flat per symbol and product, net of charges. Drag: each charge over the gross'
            ' P&L (net P&L plus charges). Exposure: the share of bars with a position open.</p></div>')

    def _repr_html_(self) -> str:
        return self.to_html()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the report to ``path`` as one HTML file that needs nothing else (no script, no web address);
        returns the path.

        Raises
        ------
        ConfigError
            ``path`` is not a path, or its folder does not exist.
        """
        if isinstance(path, bool) or not isinstance(path, str | os.PathLike) or not str(path).strip():
            raise ConfigError("path", path, "a file path (str or Path) such as 'tearsheet.html'")
        target = Path(path)
        if not target.parent.is_dir():
            raise ConfigError("path", str(path), "a path in an existing folder", detail=f"{target.parent} is not one")
        page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(self.title)}'
                f"</title></head><body>{self.to_html()}</body></html>\n")
        target.write_text(page, encoding="utf-8")
        return target

    def __repr__(self) -> str:
        s = self.stats
        return (f"<Tearsheet {self.title!r} return={_format(s['total_return'], 'pct')} "
                f"sharpe={_format(s['sharpe'], 'ratio')} max_drawdown={_format(s['max_drawdown'], 'pct')} "
                f"trades={_format(s['trades'], 'count')}>")
