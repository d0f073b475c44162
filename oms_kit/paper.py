"""Paper trading: the same Strategy object, live against an OMS.

:func:`paper_trade` runs a strategy as a background task of the OMS's event loop. Its orders go through
``OMS``'s order manager — the same validator, state machine, mock broker and ledger as a backtest, with the OMS's
store, events, widgets and risk monitor (the kill switch stops its orders like anyone's). Bars come from a feed
(a :class:`~oms_kit.market.feeds.ReplayFeed`, a live feed) pushed into the OMS bar by bar, or, with ``feed=None``,
from the quotes the OMS already receives.

For a paper run that reproduces a backtest fill for fill (see :func:`oms_kit.compare`), open the OMS without its own
feed, on a simulated clock, with a broker that fills market orders at the next bar's open, and the same limits,
fees, slippage and cash as the backtest::

    oms = await ok.OMS.open(feed=None, clock=ok.SimulatedClock(start), risk_interval=None,
                            broker=ok.MockBroker(immediate_market_fills=False, fees="india_equity"))
    trader = await ok.paper_trade(MyStrategy(), oms=oms, feed=ok.ReplayFeed(bars, speed=None))
    await trader          # until the replay ends; trader.stop() ends it early

Symbols of a replay that the OMS has no instrument for are defined before the first bar with tick 0.01 and lot 1,
with the warning a backtest gives for them (:func:`oms_kit.instruments.missing_instruments`), so the user's own
data trades the same way on both paths. When the run ends, rejected orders are reported as a backtest reports
them: a ``UserWarning`` with the counts by code and one example; ``trader.stats`` carries the counts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Generator
from typing import Any

import pandas as pd

from oms_kit.backtest import _equity_curve
from oms_kit.chart_data import DEFAULT_MAX_BARS, indicators_frame
from oms_kit.charts import DEFAULT_HEIGHT, ResultChart, run_chart
from oms_kit.errors import ConfigError, OmsError
from oms_kit.events import PriceUpdated
from oms_kit.instruments import missing_instruments
from oms_kit.market.bars import Bar
from oms_kit.market.feeds import Feed, RandomWalkFeed, ReplayFeed
from oms_kit.models import Fill, Order, OrderStatus
from oms_kit.oms import OMS
from oms_kit.runner import StrategyRunner
from oms_kit.strategy import Strategy
from oms_kit.tables import orders_frame, trades_frame
from oms_kit.tearsheet import Tearsheet, build_report

__all__ = ["PaperTrader", "paper_trade"]


async def paper_trade(strategy: Strategy, *, oms: OMS, feed: Feed | None = None,
                      name: str | None = None) -> PaperTrader:
    """Start paper trading ``strategy`` on ``oms``; returns the running :class:`PaperTrader`.

    Parameters
    ----------
    strategy : Strategy
        An instance; the same object a backtest runs.
    oms : OMS
        An open OMS. Open it with ``feed=None`` when ``feed`` is given here, so prices do not come twice.
    feed : Feed, optional
        The bars to trade on, pushed into the OMS one by one (``OMS.push_bar``). None: the strategy sees the OMS's
        own quotes as bars (open = high = low = close).
    name : str, optional
        Name of the background task (``oms-kit-paper-<Strategy>`` by default).

    Returns
    -------
    PaperTrader
        Already running (``on_start`` has run). ``await trader`` waits for the end of the feed;
        ``await trader.stop()`` ends it early. Either way ``on_stop`` runs once.

    Raises
    ------
    ConfigError
        ``oms`` is not an OMS, ``feed`` is not a feed, or ``strategy`` is not a Strategy instance.

    Warns
    -----
    UserWarning
        Symbols of the feed (a replay's, a random walk's) with no instrument definition in the OMS: they are
        defined on it with tick 0.01 and lot 1, as a backtest does. And when the run ends, if orders of the
        strategy were rejected: how many, the counts by code and one example.
    """
    if not isinstance(oms, OMS):
        raise ConfigError("oms", type(oms).__name__, "an open OMS (await ok.OMS.open(...))")
    if feed is not None and not callable(getattr(feed, "stream", None)):
        raise ConfigError("feed", type(feed).__name__, "a Feed (ReplayFeed, RandomWalkFeed) or None")
    oms.load_day_book()  # before the runner counts the account's trades: a reopened day's come first
    trader = PaperTrader(strategy, oms, feed, name=name)
    symbols = _symbols_of(feed)
    if symbols:
        oms.define_instruments(missing_instruments(symbols, oms.manager.instruments, stacklevel=2))
    await trader._start()
    return trader


def _symbols_of(feed: Feed | None) -> list[str]:
    # The symbols a feed will send, when it knows them before it runs (a live feed may not).
    if isinstance(feed, ReplayFeed):
        return feed.frame["symbol"].unique().tolist()
    if isinstance(feed, RandomWalkFeed):
        return feed.symbols
    return []


class PaperTrader:
    """A strategy trading on paper against an OMS; made by :func:`paper_trade`.

    Awaitable: ``await trader`` returns the trader when its feed has ended, and raises what the strategy raised.
    """

    def __init__(self, strategy: Strategy, oms: OMS, feed: Feed | None, *, name: str | None = None) -> None:
        self.strategy = strategy
        self.oms = oms
        self.feed = feed
        clock_set = getattr(oms.clock, "set", None)  # a simulated clock follows the bars
        # With no feed of its own the trader follows the OMS's price events: those prices are in already.
        apply_bar = oms.apply_bar if feed is not None else _applied_already
        self.runner = StrategyRunner(strategy, oms.manager, set_clock=clock_set, apply_bar=apply_bar,
                                     send_at_once=False)
        self.name = name or f"oms-kit-paper-{type(strategy).__name__}"
        self.task: asyncio.Task[None] | None = None
        self._events: Any = None
        self._seen: list[Bar] = []  # every bar handled, for the equity curve and the report
        self._start_equity = 0.0

    # -- lifecycle --------------------------------------------------------------------------------------------

    async def _start(self) -> None:
        if self.oms.closed:
            raise OmsError("this OMS is closed", hint="open a new one with await OMS.open(...) to trade on paper")
        # Subscribed now, not when the task first runs, so no quote pushed in between is lost.
        self._events = self.oms.events("price") if self.feed is None else None
        self._start_equity = float(self.oms.manager.ledger.equity())
        self.runner.start()
        await self._send()
        self.task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def _run(self) -> None:
        try:
            if self.feed is not None:
                bars = self.feed.stream()
                try:
                    async for bar in bars:
                        await self._handle(bar)
                finally:
                    aclose = getattr(bars, "aclose", None)
                    if aclose is not None:
                        await aclose()
            elif self._events is not None:
                events = self._events
                try:
                    async for event in events:
                        assert isinstance(event, PriceUpdated)
                        price = float(event.price)
                        await self._handle(Bar(event.ts, event.symbol, price, price, price, price))
                finally:
                    await events.aclose()  # type: ignore[attr-defined]
        finally:
            await self._finish()

    async def _handle(self, bar: Bar) -> None:
        self._seen.append(bar)
        self.runner.run((bar,))
        if self.runner.pending:
            await self._send()
        else:
            await self.oms.commit()  # the bar's fills and marks

    async def _send(self) -> None:
        # Orders are committed before the broker sees them, as with OMS.place_order.
        oms = self.oms
        if self.runner.pending:
            await oms.commit()
            self.runner.send()
        await oms.commit()

    async def _finish(self) -> None:
        if not self.runner.stopped and not self.oms.closed:
            self.runner.stop()
            await self.oms.commit()
            self.runner.warn_rejections()  # last: with warnings as errors, the run is complete before it raises

    async def stop(self) -> None:
        """Stop trading: the feed stops, ``on_stop`` runs; working orders stay working (cancel them with
        ``ctx.cancel_all`` in ``on_stop``, or ``oms.cancel_all()``)."""
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self._finish()

    async def wait(self) -> PaperTrader:
        """Wait until the feed ends (or the trader is stopped); raises what the strategy raised."""
        if self.task is None:
            raise OmsError("the paper trader was not started", hint="use await ok.paper_trade(...)")
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(self.task)
        if self.task.done() and not self.task.cancelled() and self.task.exception() is not None:
            raise self.task.exception()  # type: ignore[misc]
        return self

    def __await__(self) -> Generator[Any, None, PaperTrader]:
        return self.wait().__await__()

    @property
    def done(self) -> bool:
        """True once the feed has ended or the trader was stopped."""
        return self.task is not None and self.task.done()

    # -- reads ------------------------------------------------------------------------------------------------

    @property
    def placed(self) -> list[Order]:
        """This strategy's orders, in placement order."""
        return list(self.runner.placed)

    @property
    def fills(self) -> list[Fill]:
        """Fills of this strategy's orders, in time order."""
        own = self.runner.own
        return [f for f in self.oms.manager.trades if f.order_id in own]

    def orders(self) -> pd.DataFrame:
        """This strategy's orders as a table (the columns of ``OMS.orders()``)."""
        return orders_frame(self.runner.placed)

    def trades(self) -> pd.DataFrame:
        """Fills of this strategy's orders as a table (the columns of ``OMS.trades()``)."""
        return trades_frame(self.fills)

    @property
    def bars(self) -> pd.DataFrame:
        """The bars the trader has handled (timestamp, symbol, close; a quote's close is its last price), in order;
        of a time and symbol seen twice, the later."""
        seen = self._seen
        frame = pd.DataFrame({"timestamp": pd.to_datetime([b.timestamp for b in seen], utc=True),
                              "symbol": pd.Series([b.symbol for b in seen], dtype=object),
                              "close": pd.Series([b.close for b in seen], dtype=float)})
        return frame.drop_duplicates(["timestamp", "symbol"], keep="last").reset_index(drop=True)

    @property
    def equity(self) -> pd.DataFrame:
        """This strategy's equity curve, as ``BacktestResult.equity``: the account's equity when the trader
        started plus what the strategy's own fills made, marked at the closes of the bars it handled."""
        instruments = self.oms.manager.instruments
        bars = self.bars
        bars = bars[bars["symbol"].isin(list(instruments))]  # a symbol without an instrument was never traded
        return _equity_curve(bars, self.fills, instruments, self._start_equity)

    def report(self, benchmark: pd.Series | str | None = None, *, periods_per_year: float | None = None,
               risk_free: float = 0.0, timezone: str = "Asia/Kolkata", title: str | None = None,
               progress: bool | None = None) -> Tearsheet:
        """A tearsheet of this strategy's run so far, as ``BacktestResult.report`` gives one (the same figures,
        arguments and conventions), from :attr:`equity` and the strategy's own fills.

        Raises
        ------
        ConfigError
            A bad argument, naming it.
        DataError
            The trader has handled no bar yet.
        """
        broker = self.oms.manager.broker
        return build_report(self.equity, self.fills, instruments=self.oms.manager.instruments,
                            fee_model=getattr(broker, "fee_model", None), bars=self.bars, benchmark=benchmark,
                            periods_per_year=periods_per_year, risk_free=risk_free, timezone=timezone,
                            title=title if title is not None else repr(self.strategy), progress=progress)

    @property
    def indicators(self) -> pd.DataFrame:
        """The values the strategy recorded with ``ctx.plot(name, value)`` so far (as ``BacktestResult.indicators``:
        time, symbol, name, value)."""
        return indicators_frame(self.runner.plots)

    def chart(self, symbol: str | None = None, interval: str | None = None, *, max_bars: int = DEFAULT_MAX_BARS,
              start: Any = None, end: Any = None, height: int = DEFAULT_HEIGHT,
              title: str | None = None) -> ResultChart:
        """A candlestick chart of ``symbol`` over the bars seen so far, with this strategy's fills, working orders,
        program stops and targets and ``ctx.plot`` lines; the arguments are those of ``BacktestResult.chart``.

        Raises
        ------
        ConfigError
            A bad argument, naming it; ``symbol`` also before the first bar (there is nothing to chart yet).
        """
        if not self._seen:
            raise ConfigError("symbol", symbol, "a symbol the trader has seen a bar of (it has seen none yet)")
        return run_chart(self.runner, _ohlcv(self._seen), symbol, interval=interval, max_bars=max_bars,
                         start=start, end=end, height=height, title=title)

    @property
    def stats(self) -> dict[str, Any]:
        """This strategy's orders so far: ``orders`` (placed), ``filled`` (filled completely), ``rejected``,
        ``rejections`` (code -> orders refused with it, most frequent first; see
        :meth:`~oms_kit.runner.StrategyRunner.rejections`) and ``fills``."""
        runner = self.runner
        return {
            "orders": len(runner.placed),
            "filled": sum(1 for o in runner.placed if o.status is OrderStatus.FILLED),
            "rejected": runner.rejected_orders(),
            "rejections": runner.rejections(),
            "fills": len(self.fills),
        }

    def status(self) -> dict[str, Any]:
        """Running or not, bars seen, orders placed, working and rejected, fills, the feed's status."""
        return {
            "strategy": repr(self.strategy),
            "running": self.task is not None and not self.task.done(),
            "bars": self.runner.bars_seen,
            "orders": len(self.runner.placed),
            "working": sum(1 for o in self.runner.placed if not o.status.is_terminal),
            "rejected": self.runner.rejected_orders(),
            "fills": len(self.fills),
            "feed": self.feed.status() if self.feed is not None else None,
        }

    def __repr__(self) -> str:
        state = "running" if self.task is not None and not self.task.done() else "stopped"
        return f"<PaperTrader {self.strategy!r} {state} bars={self.runner.bars_seen} orders={len(self.runner.placed)}>"


def _ohlcv(bars: list[Bar]) -> pd.DataFrame:
    """Bars as the chart reads them (timestamp, symbol, open, high, low, close, volume), in the order handled.
    Not checked as load_bars checks a table: with feed=None two prices of a symbol may share a time, and the chart
    folds them into one candle."""
    return pd.DataFrame({"timestamp": pd.to_datetime([b.timestamp for b in bars], utc=True),
                         "symbol": [b.symbol for b in bars],
                         **{c: [getattr(b, c) for b in bars] for c in ("open", "high", "low", "close", "volume")}})


def _applied_already(bar: Bar) -> None:
    """A trader following the OMS's price events: the OMS applied the price before it published it."""
