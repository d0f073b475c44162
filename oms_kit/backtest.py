"""Backtests: a strategy over historical bars, through the real order path, on a simulated clock.

:func:`backtest` wires the same parts as :class:`~oms_kit.oms.OMS` — :class:`~oms_kit.orders.OrderManager` with its
:class:`~oms_kit.validator.PreTradeValidator`, the order state machine, :class:`~oms_kit.broker.mock.MockBroker`
and :class:`~oms_kit.ledger.Ledger` — on a :class:`~oms_kit.market.clock.SimulatedClock`, and runs the strategy
with the :class:`~oms_kit.runner.StrategyRunner` that paper trading uses too. There is no second "backtest
broker": every order is checked, goes through its states, fills by the broker's rules and is booked by the ledger.

What a backtest leaves out is the database: state lives in memory while it runs, and :class:`BacktestResult` builds
its tables from there (``result.to_duckdb()`` writes them to DuckDB afterwards, for SQL).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import tzinfo
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from oms_kit.account import assemble_account
from oms_kit.broker.fees import FeeModel
from oms_kit.broker.mock import MockBroker
from oms_kit.broker.notes import fills_contract_note
from oms_kit.chart_data import DEFAULT_MAX_BARS, indicators_frame
from oms_kit.charts import DEFAULT_HEIGHT, ResultChart, run_chart
from oms_kit.collector import held as collector_held
from oms_kit.errors import ConfigError, DataError
from oms_kit.instruments import missing_instruments
from oms_kit.market.bars import iter_bars, load_bars
from oms_kit.market.clock import SimulatedClock
from oms_kit.models import Fill, Order, Side
from oms_kit.orders import OrderManager
from oms_kit.parsing import parse_cash
from oms_kit.risk import RiskLimits
from oms_kit.runner import StrategyRunner
from oms_kit.session import ExchangeSession
from oms_kit.settlement import traded
from oms_kit.strategy import Strategy
from oms_kit.tables import orders_frame, trades_frame
from oms_kit.tearsheet import Tearsheet, build_report
from oms_kit.tradable import Instrument

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["BacktestResult", "backtest"]

# A progress bar for runs longer than this many bars (progress=None); shorter ones finish before it helps.
PROGRESS_MIN_BARS = 200_000
_CHUNK = 65_536  # bars converted to Python objects at a time (and progress updates)
_TRADING_DAYS = 252
# CAGR needs a run of at least a day: a shorter one's return raised to the power of (a year / its length) says
# nothing about a year (a 1 % gain in ten minutes "annualises" to about 10**227).
_MIN_CAGR_YEARS = 1 / 365.25


def backtest(
    strategy: Strategy,
    data: Any,
    *,
    symbol: str | None = None,
    cash: float | Decimal = 1_000_000,
    limits: RiskLimits | None = None,
    fees: str | FeeModel | None = "india_equity",
    slippage_bps: float = 0.0,
    spread_bps: float = 0.0,
    spread_ticks: int = 0,
    market_protection_pct: float | None = None,
    instruments: Iterable[Instrument] | None = None,
    participation: float | None = None,
    intrabar: str = "stop_first",
    progress: bool | None = None,
    account: str = "backtest",
    exchange_timezone: str | tzinfo = "Asia/Kolkata",
) -> BacktestResult:
    """Run ``strategy`` over historical bars and return its orders, trades, positions, equity curve and stats.

    Parameters
    ----------
    strategy : Strategy
        An instance (``MyStrategy(fast=5)``); its hooks run as in paper trading.
    data : DataFrame, str or Path
        Bars: a DataFrame, a ``.parquet``/``.csv`` path (globs allowed) or a DuckDB query (``SELECT …``), with
        columns timestamp, symbol, open, high, low, close, volume. Several symbols are merged by time. Or quotes
        with their book (a quote recording: timestamp, symbol, last, volume, ``bid_price_1`` … ``ask_qty_5``; see
        :func:`~oms_kit.market.bars.load_quotes`): orders then fill against the recorded depth.
    symbol : str, optional
        The symbol of a frame without a symbol column, or the one symbol to keep.
    cash : number
        Starting cash: above 0 and at most :data:`~oms_kit.parsing.MAX_CASH`.
    limits : RiskLimits, optional
        Pre-trade limits; ``RiskLimits()`` (the OMS's defaults) when None. Every check runs on every order.
    fees : "india_equity", None or a fee model
        Charges per fill; None for none.
    slippage_bps : float
        Market and stop-market fills move this many basis points against the trader.
    spread_bps, spread_ticks : float, int
        The full bid-ask spread the bars do not show, in basis points or ticks (one of them): buys fill at the ask,
        sells at the bid. Pass the same to the paper ``MockBroker`` for parity.
    market_protection_pct : float, optional
        Market and SL-M orders become limits this percentage beyond the last price (see ``MockBroker``).
    instruments : iterable of Instrument, optional
        Added to the default NSE list. A symbol of the data found in neither gets tick 0.01 and lot 1, with a
        warning.
    participation : float, optional
        With bar volume known, one bar fills at most this fraction of it (the rest waits: partial fills); on
        quotes, that fraction of each level of the book.
    intrabar : "stop_first" or "target_first"
        When one bar could fill both a resting stop and a resting limit of a symbol, which is matched first (a
        position's stop-loss and its target): the stop by default. Pass the same to the paper ``MockBroker``.
    progress : bool, optional
        Show a text progress bar (tqdm, on stderr); None shows one for runs over 200,000 bars.
    account : str
        Account name on the orders and fills.
    exchange_timezone : str or tzinfo
        Where the exchange's day is reckoned (DAY orders expire and the day's P&L starts again at its midnight) and
        the session hours of ``limits``: ``"America/New_York"`` for US data.

    Returns
    -------
    BacktestResult

    Warns
    -----
    UserWarning
        A symbol of the data has no instrument definition (it trades on tick 0.01, lot 1); and, when the run has
        ended, if any order was rejected: how many, the counts by code and one example (``stats["rejections"]``
        keeps the counts).

    Notes
    -----
    Fills follow the no-look-ahead rule: a market order placed in ``on_bar`` for bar t fills at the open of the
    symbol's next bar, moved by the slippage; limit and stop orders fill when a later bar's range crosses their
    price (see :class:`~oms_kit.broker.mock.MockBroker`). Orders still working when the data ends stay working.

    Raises
    ------
    DataError
        Bad data: no bars, a missing column, a value that is not a number or an impossible bar; it names the field.
    ConfigError
        A bad argument (``strategy`` a class instead of an instance, ``cash``, ``instruments``,
        ``exchange_timezone``, ``fees``, ``limits``…).
    """
    if not isinstance(strategy, Strategy):
        raise ConfigError("strategy", type(strategy).__name__, "an instance of a Strategy subclass",
                          hint="pass MyStrategy(), not MyStrategy")
    session = ExchangeSession.of(exchange_timezone)
    frame = load_bars(data, symbol)
    if frame.empty:
        raise DataError("data", "no bars", "at least one bar")
    initial_cash = parse_cash(cash, "cash")
    if not initial_cash:
        # Returns are measured against the starting cash.
        raise ConfigError("cash", cash, "an amount above 0")
    broker = MockBroker(slippage_bps=slippage_bps, spread_bps=spread_bps, spread_ticks=spread_ticks,
                        market_protection_pct=market_protection_pct, fees=fees, participation=participation,
                        intrabar=intrabar, immediate_market_fills=False)
    clock = SimulatedClock(frame["timestamp"].iloc[0].to_pydatetime())
    manager = assemble_account(account=account, cash=initial_cash, broker=broker, now=clock.now,
                               instruments=instruments, limits=limits, exchange_timezone=session)
    manager.instruments.update((i.symbol, i) for i in missing_instruments(
        frame["symbol"].unique().tolist(), manager.instruments, stacklevel=2))
    runner = StrategyRunner(strategy, manager, set_clock=clock.set, defer_marks=True)

    show = len(frame) > PROGRESS_MIN_BARS if progress is None else progress
    bar_progress = None
    if show:
        from tqdm import tqdm  # the text bar: tqdm.auto would import ipywidgets into the core

        bar_progress = tqdm(total=len(frame), unit="bar", desc=type(strategy).__name__)
    started = time.perf_counter()
    try:
        with collector_held():  # the orders and fills live until the result is read: full passes would free nothing
            runner.start()
            for start in range(0, len(frame), _CHUNK):
                chunk = frame.iloc[start:start + _CHUNK]
                runner.run(iter_bars(chunk))
                if bar_progress is not None:
                    bar_progress.update(len(chunk))
            runner.stop()
    finally:
        if bar_progress is not None:
            bar_progress.close()
    elapsed = time.perf_counter() - started
    runner.warn_rejections(stacklevel=2)
    return BacktestResult(strategy=strategy, bars=frame, manager=manager, runner=runner, initial_cash=initial_cash,
                          elapsed=elapsed)


@dataclass(eq=False)
class BacktestResult:
    """What a backtest did: orders, trades, positions, the equity curve and summary statistics.

    Tables are built when first read, from the run's in-memory state.

    Attributes
    ----------
    strategy : Strategy
        The strategy instance that ran (with whatever state it kept).
    bars : DataFrame
        The bars it ran over (as :func:`~oms_kit.market.bars.load_bars` returns them).
    manager : OrderManager
        The account after the run: ``manager.ledger``, ``manager.orders``, ``manager.trades``.
    initial_cash : Decimal
    elapsed : float
        Seconds the run took (building the tables not included).
    """

    strategy: Strategy
    bars: pd.DataFrame = field(repr=False)
    manager: OrderManager = field(repr=False)
    runner: StrategyRunner = field(repr=False)
    initial_cash: Decimal
    elapsed: float

    @property
    def fills(self) -> list[Fill]:
        """Every fill of the run, in time order (Fill objects)."""
        return list(self.manager.trades)

    @property
    def placed(self) -> list[Order]:
        """Every order the strategy placed, in placement order (Order objects)."""
        return list(self.runner.placed)

    @property
    def bars_per_second(self) -> float:
        """Bars handled per second of run time."""
        return len(self.bars) / self.elapsed if self.elapsed > 0 else float("inf")

    @cached_property
    def orders(self) -> pd.DataFrame:
        """Every order: the columns of ``OMS.orders()`` (violations as their codes, comma-separated)."""
        return orders_frame(self.manager.orders.values())

    @cached_property
    def trades(self) -> pd.DataFrame:
        """Every fill: trade_id, order_id, symbol, product, side, quantity, price, fees, ts (money exact)."""
        return trades_frame(self.manager.trades)

    def contract_note(self) -> pd.DataFrame:
        """The run's fills as contract notes, one row per trade date and segment: buy and sell values, each charge
        as a contract note adds it up (brokerage per order, the rest on the day's totals, STT to the rupee) and
        ``fills_fees``, what the fills were charged (``oms_kit.broker.notes`` says when and why the two differ).

        Raises DataError when a fill's date lies outside the rate table (before 1 April 2024)."""
        broker = self.manager.broker
        # Settlements at expiry are not traded, so not on the note.
        return fills_contract_note(traded(self.trades), self.manager.instruments, getattr(broker, "fee_model", None))

    @cached_property
    def positions(self) -> pd.DataFrame:
        """The position book at the end, flat positions included (``Ledger.to_frame``)."""
        return self.manager.ledger.to_frame()

    @cached_property
    def equity(self) -> pd.DataFrame:
        """The equity curve: one row per bar time, columns cash, market_value, equity, drawdown, exposure.

        Built from the fills and the bars' closes (on each instrument's tick), as floats. ``drawdown`` is the
        fraction below the running peak (0 or negative); ``exposure`` is the gross value held.
        """
        return _equity_curve(self.bars, self.manager.trades, self.manager.instruments, float(self.initial_cash))

    @cached_property
    def stats(self) -> pd.Series:
        """Summary statistics (a Series).

        start, end, bars, initial_cash, final_equity, total_return (fraction), cagr, sharpe (daily returns,
        252 a year), max_drawdown (fraction, negative), win_rate and profit_factor (over fills that close part
        of a position, before fees), exposure (fraction of bar times with a position open), fees, trades (fills),
        orders, rejected_orders (every order that ended REJECTED, those the strategy cancelled before they were
        sent included), rejections (a dict: code -> orders refused with it, most frequent first, empty when none;
        see :meth:`~oms_kit.runner.StrategyRunner.rejections`), realized_pnl, elapsed_s.

        Figures that cannot be computed are NaN, as pandas shows a missing number (and ``sort_values`` puts it
        last), never an exception: ``cagr`` when the run spans less than a day (too short to annualise) or ends
        with equity <= 0, and ``inf`` when the annualised growth is too large for a float; ``sharpe`` with fewer
        than two days of returns or none that vary; ``win_rate`` with no closing fill; ``profit_factor`` NaN with
        neither wins nor losses, ``inf`` with wins and no losses.
        """
        curve = self.equity
        equity = curve["equity"]
        initial = float(self.initial_cash)
        final = float(equity.iloc[-1])
        start, end = curve.index[0], curve.index[-1]
        years = (end - start).total_seconds() / (365.25 * 86400)
        total = final / initial - 1
        cagr = _cagr(final / initial, years)
        daily = equity.resample("1D").last().dropna().pct_change().dropna()
        std = daily.std()
        sharpe = float(daily.mean() / std * np.sqrt(_TRADING_DAYS)) if len(daily) > 1 and std > 0 else float("nan")
        manager = self.manager
        closed, wins = manager.closing_fills, manager.winning_fills
        gross_win, gross_loss = float(manager.gross_won), float(manager.gross_lost)
        return pd.Series({
            "start": start,
            "end": end,
            "bars": len(self.bars),
            "initial_cash": initial,
            "final_equity": final,
            "total_return": total,
            "cagr": cagr,
            "sharpe": sharpe,
            "max_drawdown": float(curve["drawdown"].min()),
            "win_rate": wins / closed if closed else float("nan"),
            "profit_factor": gross_win / gross_loss if gross_loss else (float("inf") if gross_win else float("nan")),
            "exposure": float((curve["exposure"] > 0).mean()),
            "fees": float(manager.ledger.fees()),
            "trades": len(manager.trades),
            "orders": len(manager.orders),
            "rejected_orders": manager.counts["rejected"],
            "rejections": self.runner.rejections(),
            "realized_pnl": float(manager.ledger.realized_pnl()),
            "elapsed_s": self.elapsed,
        }, name=repr(self.strategy), dtype=object)

    @cached_property
    def indicators(self) -> pd.DataFrame:
        """The values the strategy recorded with ``ctx.plot(name, value)``: time (UTC, the bar's), symbol, name,
        value (NaN for a gap); one row per bar a value was plotted on."""
        return indicators_frame(self.runner.plots)

    def chart(self, symbol: str | None = None, interval: str | None = None, *, max_bars: int = DEFAULT_MAX_BARS,
              start: Any = None, end: Any = None, height: int = DEFAULT_HEIGHT,
              title: str | None = None) -> ResultChart:
        """A candlestick chart of ``symbol``: candles and volume, every fill marked (a buy below its candle, a sell
        above, ``BUY 10 @ 2500.05``), the orders still working at the end as price lines, the stops and targets
        of order programs, and the ``ctx.plot`` lines. Shown in Jupyter and Voila; ``.save("chart.html")`` writes
        one self-contained file.

        Parameters
        ----------
        symbol : str, optional
            One of the run's symbols; may be left out when the run has one.
        interval : str, optional
            ``"1m"``, ``"5m"``, ``"15m"``, ``"30m"``, ``"1h"`` or ``"1d"`` candles (at least the bars' own
            length); None draws the bars as they are.
        max_bars : int
            The chart holds at most this many candles (1 to 200,000), the last of ``start``–``end``; its note
            says how many the run has and how to see the rest.
        start, end : str, date or datetime, optional
            The range to chart, both ends included (naive times are the exchange's).
        height : int
            Pixels, 150 to 3000.
        title : str, optional

        Raises
        ------
        ConfigError
            A bad argument, naming it (an unknown symbol, interval, a range with no candle…).
        """
        return run_chart(self.runner, self.bars, symbol, interval=interval, max_bars=max_bars, start=start,
                         end=end, height=height, title=title, fills=list(self.manager.trades))

    def plot(self, title: str | None = None) -> Figure:
        """Equity curve and drawdown, one above the other (matplotlib); returns the Figure."""
        import matplotlib.pyplot as plt

        curve = self.equity
        fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(10, 6), height_ratios=(3, 1))
        top.plot(curve.index, curve["equity"], linewidth=1)
        top.set_ylabel("equity")
        top.set_title(title or f"{self.strategy!r}: total return {self.stats['total_return']:.2%}")
        top.grid(alpha=0.3)
        bottom.fill_between(curve.index, curve["drawdown"] * 100, 0, color="tab:red", alpha=0.4, linewidth=0)
        bottom.set_ylabel("drawdown %")
        bottom.grid(alpha=0.3)
        fig.tight_layout()
        plt.close(fig)  # returned for display; not left open in pyplot's list of figures
        return fig

    def report(self, benchmark: pd.Series | str | None = None, *, periods_per_year: float | None = None,
               risk_free: float = 0.0, timezone: str = "Asia/Kolkata", title: str | None = None,
               progress: bool | None = None) -> Tearsheet:
        """A tearsheet of the run: CAGR, volatility, Sharpe, Sortino, drawdowns, Calmar, win rate, profit factor,
        expectancy, exposure, turnover and what the charges took, with its figures.

        Parameters
        ----------
        benchmark : Series or str, optional
            A price Series (a DatetimeIndex; naive times are UTC) or a symbol of the data: its buy and hold is drawn
            against the equity, with its own figures, and the strategy's beta, alpha and correlation to it.
        periods_per_year : float, optional
            Bars a year for annualising; None: 252 trading days times the median bars of a day (252 for daily
            bars, 94,500 for one-minute bars of NSE's 375-minute session), 52 for weekly, 12 for monthly bars.
        risk_free : float
            Annual risk-free rate as a fraction, for Sharpe, Sortino and alpha (0 by default).
        timezone : str
            Where months and hours of day are reckoned (India's by default).
        title : str, optional
            The report's heading; the strategy's name by default.
        progress : bool, optional
            A text progress bar (tqdm); None shows one for over 50,000 fills or 200,000 bars.

        Returns
        -------
        Tearsheet
            ``metrics`` (a DataFrame), ``charges``, ``trades`` (round trips), ``monthly_returns``, ``figures``;
            shown in Jupyter, ``.save("tearsheet.html")`` writes one self-contained HTML file. The conventions
            are in :mod:`oms_kit.tearsheet_metrics`.

        Raises
        ------
        ConfigError
            A bad argument, naming it (``benchmark``, ``periods_per_year``, ``risk_free``, ``timezone``,
            ``title``, ``progress``).
        """
        return build_report(self.equity, self.manager.trades, instruments=self.manager.instruments,
                            fee_model=getattr(self.manager.broker, "fee_model", None), bars=self.bars,
                            benchmark=benchmark, periods_per_year=periods_per_year, risk_free=risk_free,
                            timezone=timezone, title=title if title is not None else repr(self.strategy),
                            progress=progress)

    def to_duckdb(self, path: str | Path = ":memory:") -> Any:
        """Write orders, trades, positions, equity and stats as tables of a DuckDB database; returns the
        connection, e.g. ``result.to_duckdb().sql("SELECT side, sum(fees) FROM trades GROUP BY side").df()``.

        Money columns are exact ``DECIMAL(38, 8)``; ``equity`` has a timestamp column; the ``rejections`` stat
        is JSON text (``{"INSTRUMENT_NOT_FOUND": 3}``), one column type whatever the codes.
        """
        from oms_kit.storage.frames import frames_to_duckdb

        stats = self.stats.copy()
        stats["rejections"] = json.dumps(stats["rejections"])
        table = stats.to_frame().T.infer_objects()
        table.insert(0, "strategy", repr(self.strategy))
        return frames_to_duckdb({
            "orders": self.orders, "trades": self.trades, "positions": self.positions, "equity": self.equity,
            "stats": table.reset_index(drop=True),
        }, path)

    def __repr__(self) -> str:
        manager = self.manager
        return (f"<BacktestResult {self.strategy!r} bars={len(self.bars)} orders={len(manager.orders)} "
                f"trades={len(manager.trades)} equity={manager.ledger.equity():.2f} {self.elapsed:.2f}s>")


def _cagr(growth: float, years: float) -> float:
    """Compound annual growth of ``growth`` (final / initial equity) over ``years``; NaN when the run is too short
    to annualise or equity ended <= 0, ``inf`` when the result overflows a float."""
    if years < _MIN_CAGR_YEARS or not growth > 0:
        return float("nan")
    try:
        return growth ** (1 / years) - 1
    except OverflowError:
        return float("inf")


def _equity_curve(bars: pd.DataFrame, fills: list[Fill], instruments: dict[str, Instrument],
                  initial_cash: float) -> pd.DataFrame:
    stamps = bars["timestamp"].array
    unit = stamps.unit
    ticks = np.asarray(stamps.asi8)
    grid = np.unique(ticks)
    rows = np.searchsorted(grid, ticks)
    codes, names = pd.factorize(bars["symbol"])
    tick_sizes = np.array([float(instruments[s].tick_size) for s in names])
    closes = bars["close"].to_numpy()
    closes = np.round(closes / tick_sizes[codes]) * tick_sizes[codes]  # marks are on the tick, as the ledger's
    marks = np.full((len(grid), len(names)), np.nan)
    marks[rows, codes] = closes
    marks = pd.DataFrame(marks).ffill().to_numpy()

    held = np.zeros((len(grid), len(names)))
    cash_moves = np.zeros(len(grid))
    if fills:
        index = {s: i for i, s in enumerate(names)}
        fill_ticks = pd.DatetimeIndex([f.ts for f in fills]).as_unit(unit).asi8
        fill_rows = np.searchsorted(grid, fill_ticks, side="right") - 1
        fill_codes = np.array([index[f.symbol] for f in fills])
        signed = np.array([f.quantity if f.side is Side.BUY else -f.quantity for f in fills], dtype=float)
        prices = np.array([float(f.price) for f in fills])
        fees = np.array([float(f.fees) for f in fills])
        np.add.at(held, (fill_rows, fill_codes), signed)
        np.add.at(cash_moves, fill_rows, -signed * prices - fees)
    held = np.cumsum(held, axis=0)
    cash = initial_cash + np.cumsum(cash_moves)
    values = np.where(held != 0, held * np.nan_to_num(marks), 0.0)
    market_value = values.sum(axis=1)
    equity = cash + market_value
    peak = np.maximum.accumulate(equity)
    drawdown = np.where(peak > 0, equity / peak - 1, 0.0)
    stamps = pd.DatetimeIndex(pd.to_datetime(grid, unit=unit, utc=True), name="timestamp")
    return pd.DataFrame({"cash": cash, "market_value": market_value, "equity": equity, "drawdown": drawdown,
                         "exposure": np.abs(values).sum(axis=1)}, index=stamps)
