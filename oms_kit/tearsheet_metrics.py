"""The tearsheet's figures, computed with pandas and numpy from an equity curve, fills and bars.

Why not quantstats or empyrical: both assume one return per calendar or trading day (``periods=252`` for daily
returns) where a backtest here runs on one-minute bars as often as on daily ones; neither knows round-trip trades,
exposure or charges; and quantstats has broken on each major pandas release (frequency aliases, removed options).
The formulas below are a few lines each and are checked against a hand-worked example in tests/test_tearsheet.py.

Conventions (the tearsheet states them too):

* **Periods.** Returns are taken bar to bar. A year is :data:`TRADING_DAYS` (252) Indian trading days; bars per
  year are 252 times the median number of bars on a trading day (in the report's time zone): 252 for daily bars,
  94,500 for one-minute bars over NSE's 375-minute session. Weekly bars count 52 a year, monthly 12.
* **CAGR** compounds over ``returns / periods_per_year`` years: trading time, not calendar time. It is NaN for a run
  shorter than one trading day, or one that ends with equity at or below 0.
* **Volatility** is the standard deviation of bar returns (``ddof=1``) times ``sqrt(periods_per_year)``; **Sharpe**
  the mean excess return over that standard deviation, times ``sqrt(periods_per_year)``; **Sortino** the same
  over the downside deviation ``sqrt(mean(min(excess, 0)^2))`` taken over every bar (Sortino and Price). The
  risk-free rate is annual and compounds to a per-bar rate.
* **Drawdown** is equity over its running peak, less 1. A drawdown's duration runs from the peak to the first bar
  back at the peak (or to the last bar if it never got back), in bars and in calendar days.
* **Trades** are round trips: a position of one symbol and product from flat back to flat (a fill that reverses
  a position closes one trade and opens the next; its quantity and fees are split between them). A trade's P&L is
  what its fills made, net of their fees. Win rate, profit factor and expectancy are over closed trades.
* **Exposure** is the share of bar times with a position open; **turnover** the traded value over the mean equity.
* **Charges' drag** is each kind of charge as a share of the gross P&L (net P&L plus every charge).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, cast

import numpy as np
import pandas as pd

from oms_kit.broker.fees import fee_keywords
from oms_kit.broker.rates import to_trade_date
from oms_kit.errors import OmsError
from oms_kit.models import Fill, Side
from oms_kit.tradable import Instrument

__all__ = ["CHARGE_LABELS", "TRADING_DAYS", "benchmark_metrics", "charges_by_kind", "drawdown_metrics",
           "monthly_returns", "periods_per_year", "return_metrics", "round_trips", "trade_metrics"]

TRADING_DAYS = 252
#: Charge kinds in the order a contract note lists them; "other" is what a fee model billed beyond its breakdown.
CHARGE_LABELS = {
    "brokerage": "Brokerage", "stt": "STT", "exchange_transaction_charge": "Exchange transaction charge",
    "ipft": "IPFT", "sebi_fee": "SEBI fee", "stamp_duty": "Stamp duty", "gst": "GST", "other": "Other",
}
_DAY = pd.Timedelta(days=1)
_ZERO = Decimal(0)
ROUND_TRIP_COLUMNS = ["symbol", "product", "direction", "entry_ts", "exit_ts", "quantity", "gross_pnl", "fees",
                      "net_pnl"]


def periods_per_year(index: pd.DatetimeIndex, timezone: str) -> float:
    """Bars a year for bars stamped ``index``: 252 trading days times the median bars of a day, or 52 (weekly
    bars) or 12 (monthly); 252 when there are fewer than two bars."""
    if len(index) < 2:
        return float(TRADING_DAYS)
    spacing = pd.Series(index).diff().median()
    if spacing >= pd.Timedelta(days=25):
        return 12.0
    if spacing >= pd.Timedelta(days=5):
        return 52.0
    per_day = pd.Series(index.tz_convert(timezone).normalize()).value_counts().median()
    return float(TRADING_DAYS * per_day)


def _annualised_growth(growth: float, years: float) -> float:
    if not years >= 1 / TRADING_DAYS or not growth > 0:
        return float("nan")
    try:
        return float(growth ** (1 / years) - 1)
    except OverflowError:
        return float("inf")


def return_metrics(equity: pd.Series, per_year: float, risk_free: float = 0.0) -> dict[str, float]:
    """total_return, cagr, volatility, sharpe, sortino and years of an equity series (see the module's notes)."""
    values = equity.to_numpy(dtype=float)
    returns = np.diff(values) / values[:-1] if len(values) > 1 else np.empty(0)
    years = len(returns) / per_year
    growth = values[-1] / values[0] if values[0] > 0 else float("nan")
    nan = float("nan")
    out = {"total_return": growth - 1, "cagr": _annualised_growth(growth, years), "volatility": nan,
           "sharpe": nan, "sortino": nan, "years": years}
    if len(returns) < 2 or not np.isfinite(returns).all():
        return out
    root = math.sqrt(per_year)
    std = float(returns.std(ddof=1))
    excess = returns - ((1 + risk_free) ** (1 / per_year) - 1)
    mean = float(excess.mean())
    out["volatility"] = std * root
    if std > 0:
        out["sharpe"] = mean / std * root
    downside = math.sqrt(float(np.mean(np.minimum(excess, 0.0) ** 2)))
    if downside > 0:
        out["sortino"] = mean / downside * root
    elif mean > 0:
        out["sortino"] = float("inf")  # gains and not one losing bar
    return out


def drawdown_series(equity: pd.Series) -> pd.Series:
    """Equity over its running peak, less 1: 0 at a new high, negative below it."""
    peak = equity.cummax()
    return (equity / peak - 1).where(peak > 0, 0.0)


def drawdown_metrics(equity: pd.Series) -> dict[str, float]:
    """max_drawdown (a fraction, <= 0), the duration of that drawdown and of the longest one, in bars and days."""
    values = equity.to_numpy(dtype=float)
    stamps = equity.index
    under = drawdown_series(equity).to_numpy() < 0
    out = {"max_drawdown": float(min(drawdown_series(equity).min(), 0.0)), "max_drawdown_bars": 0.0,
           "max_drawdown_days": 0.0, "longest_drawdown_bars": 0.0, "longest_drawdown_days": 0.0}
    if not under.any():
        return out
    # Each run of bars below the peak: from the bar before it (the peak) to the bar after it (back at the peak), or
    # to the last bar when equity never got back.
    edges = np.flatnonzero(np.diff(np.concatenate(([0], under.astype(np.int8), [0]))))
    runs = [(start - 1, min(stop, len(values) - 1)) for start, stop in zip(edges[::2], edges[1::2], strict=True)]
    trough = int(np.argmin(values / np.maximum.accumulate(values)))
    deepest = next(run for run in runs if run[0] < trough <= run[1])
    longest = max(runs, key=lambda run: (stamps[run[1]] - stamps[run[0]], run[1] - run[0]))
    for name, (peak, end) in (("max_drawdown", deepest), ("longest_drawdown", longest)):
        out[f"{name}_bars"] = float(end - peak)
        out[f"{name}_days"] = (stamps[end] - stamps[peak]) / _DAY
    return out


def monthly_returns(equity: pd.Series, timezone: str) -> pd.DataFrame:
    """Each calendar month's return (in ``timezone``), years down and months 1-12 across; the first month is
    measured from the first bar's equity."""
    local = equity.tz_convert(timezone)
    index = cast(pd.DatetimeIndex, local.index)  # tz_convert: a series on a DatetimeIndex
    ends = local.groupby([index.year, index.month]).last()
    starts = ends.shift(1)
    starts.iloc[0] = local.iloc[0]
    table = (ends / starts - 1).rename("return")
    table.index.names = ["year", "month"]
    return table.unstack("month").reindex(columns=range(1, 13))


def round_trips(fills: Iterable[Fill]) -> tuple[pd.DataFrame, int]:
    """Closed round trips of ``fills`` (columns :data:`ROUND_TRIP_COLUMNS`) and how many are still open."""
    open_trades: dict[tuple[str, str], dict[str, Any]] = {}
    closed: list[dict[str, Any]] = []
    for fill in fills:
        key = (fill.symbol, fill.product.value)
        signed = fill.quantity if fill.side is Side.BUY else -fill.quantity
        price, fee_each = float(fill.price), float(fill.fees) / fill.quantity
        while signed:
            trade = open_trades.get(key)
            if trade is None:
                trade = open_trades[key] = {"symbol": key[0], "product": key[1], "entry_ts": fill.ts, "held": 0,
                                            "cash": 0.0, "fees": 0.0, "quantity": 0,
                                            "direction": "long" if signed > 0 else "short"}
            held = trade["held"]
            # Adding to the position takes the whole fill; reducing it takes at most what is held.
            part = signed if held == 0 or (held > 0) == (signed > 0) else (
                max(signed, -held) if held > 0 else min(signed, -held))
            trade["held"] = held + part
            trade["quantity"] = max(trade["quantity"], abs(trade["held"]))
            trade["cash"] -= part * price
            trade["fees"] += abs(part) * fee_each
            signed -= part
            if trade["held"] == 0:
                del open_trades[key]
                closed.append({**{k: trade[k] for k in ("symbol", "product", "direction", "entry_ts", "quantity")},
                               "exit_ts": fill.ts, "gross_pnl": trade["cash"], "fees": trade["fees"],
                               "net_pnl": trade["cash"] - trade["fees"]})
    frame = pd.DataFrame(closed, columns=ROUND_TRIP_COLUMNS)
    for column in ("entry_ts", "exit_ts"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame, len(open_trades)


def trade_metrics(trades: pd.DataFrame) -> dict[str, float]:
    """trades, win_rate, profit_factor, expectancy, avg_win and avg_loss of closed round trips (net P&L)."""
    pnl = trades["net_pnl"].to_numpy(dtype=float)
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    won, lost = float(wins.sum()), float(-losses.sum())
    nan = float("nan")
    return {
        "trades": float(len(pnl)),
        "win_rate": len(wins) / len(pnl) if len(pnl) else nan,
        "profit_factor": won / lost if lost else (float("inf") if won else nan),
        "expectancy": float(pnl.mean()) if len(pnl) else nan,
        "avg_win": float(wins.mean()) if len(wins) else nan,
        "avg_loss": float(losses.mean()) if len(losses) else nan,
    }


def charges_by_kind(fills: Iterable[Fill], fee_model: object, instruments: Mapping[str, Instrument],
                    progress: Any = None) -> dict[str, Decimal]:
    """What the fills paid, by kind of charge (:data:`CHARGE_LABELS`), exact.

    Each fill is priced again by the fee model's ``breakdown`` as the broker priced it (the order's earlier fills'
    value as ``prior_turnover``, the trade date and instrument to a model that takes them); whatever the fill paid
    beyond its breakdown (a model without one, or one of its own) is "other", so the kinds add up to the fees booked.
    ``progress`` is a tqdm bar to advance, or None."""
    breakdown = getattr(fee_model, "breakdown", None)
    keywords = fee_keywords(fee_model) if callable(breakdown) else ()
    totals: dict[str, Decimal] = dict.fromkeys(CHARGE_LABELS, _ZERO)
    prior: dict[str, Decimal] = {}
    for count, fill in enumerate(fills, 1):
        parts: Mapping[str, Decimal] = {}
        if callable(breakdown) and fill.fees:
            context: dict[str, Any] = {}
            if "trade_date" in keywords:
                context["trade_date"] = to_trade_date(fill.ts)
            if "instrument" in keywords:
                context["instrument"] = instruments.get(fill.symbol)
            try:
                parts = breakdown(fill.side, fill.product, fill.quantity, fill.price,
                                  prior_turnover=prior.get(fill.order_id, _ZERO), **context)
            except (OmsError, TypeError, ValueError, ArithmeticError):
                parts = {}  # a model that cannot break this fill down: its fees count as "other"
        prior[fill.order_id] = prior.get(fill.order_id, _ZERO) + fill.price * fill.quantity
        named = _ZERO
        for kind, amount in parts.items():
            key = kind if kind in totals else "other"
            totals[key] += Decimal(amount)
            named += Decimal(amount)
        totals["other"] += fill.fees - named
        if progress is not None and count % 4096 == 0:
            progress.update(4096)
    if progress is not None:
        progress.update(progress.total - progress.n)
    return totals


def benchmark_metrics(strategy: pd.Series, benchmark: pd.Series, per_year: float,
                      risk_free: float = 0.0) -> dict[str, float]:
    """beta, alpha (annual, Jensen's) and correlation of the strategy's bar returns against the benchmark's."""
    ours = strategy.pct_change().iloc[1:].to_numpy(dtype=float)
    theirs = benchmark.pct_change().iloc[1:].to_numpy(dtype=float)
    nan = float("nan")
    out = {"beta": nan, "alpha": nan, "correlation": nan}
    if len(ours) < 2 or not (np.isfinite(ours).all() and np.isfinite(theirs).all()):
        return out
    variance = float(np.var(theirs, ddof=1))
    if variance > 0:
        beta = float(np.cov(ours, theirs, ddof=1)[0, 1] / variance)
        rate = (1 + risk_free) ** (1 / per_year) - 1
        out["beta"] = beta
        out["alpha"] = float((ours - rate).mean() - beta * (theirs - rate).mean()) * per_year
        if ours.std() > 0:
            out["correlation"] = float(np.corrcoef(ours, theirs)[0, 1])
    return out
