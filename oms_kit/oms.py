"""The OMS facade: one object that wires store, broker, ledger, validator, feed and events — the public entry point.

Calls that touch I/O (open, close, place, modify, cancel, prices) are async; reads of in-memory state are sync and
return pandas DataFrames for tables. Here are the wiring (``open``, ``close``), the price path, the kill switch and the
lifecycle; the parts it delegates to are beside it: ``opening`` (from ``open``'s arguments to the parts),
``committer`` (rows to the store), ``book`` (orders and trades of any day), ``quotes`` (prices and instruments given
by hand), ``summary`` (the risk summary) and ``tasks`` (background tasks). Its methods of the order path
(``order_entry``), its reads (``account_reads``), its GTT and order-program methods (``standing``) and its
reconciliation with a live broker (``live_reconciliation``) are inherited from modules of their own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from datetime import tzinfo
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, Any

from oms_kit.account_reads import AccountReads
from oms_kit.book import Book
from oms_kit.broker.base import Broker
from oms_kit.broker.live import LiveBroker
from oms_kit.collector import collect_when_quiet
from oms_kit.collector import figures as collector_figures
from oms_kit.collector import hold as hold_full_passes
from oms_kit.committer import Committer
from oms_kit.errors import ConfigError, OmsError, ReconciliationPending
from oms_kit.events import Event, PriceUpdated
from oms_kit.live_reconciliation import LiveReconciliation
from oms_kit.market.bars import Bar
from oms_kit.market.calendar import NSECalendar
from oms_kit.market.clock import Clock
from oms_kit.market.feeds import Feed
from oms_kit.models import Order, TradingState
from oms_kit.monitor import RiskMonitor
from oms_kit.opening import OpenedAccount, describe_hours, open_account, watch_account
from oms_kit.order_entry import OrderEntry
from oms_kit.orders import MAX_REASON
from oms_kit.parsing import parse_text
from oms_kit.quotes import add_instruments, quote_bar
from oms_kit.reconcile import Reconciling
from oms_kit.reconciler import Reconciler
from oms_kit.recovery import restore_gtts, restore_programs
from oms_kit.risk import RiskAlert, RiskLimits
from oms_kit.settlement import Settlement
from oms_kit.standing import StandingOrders
from oms_kit.storage import WriteQueue
from oms_kit.tasks import Tasks
from oms_kit.tradable import Instrument
from oms_kit.watch import Watch

if TYPE_CHECKING:
    from oms_kit.service.server import Server


class OMS(OrderEntry, AccountReads, StandingOrders, LiveReconciliation):
    """An order management system for one account. Open it with ``await OMS.open(...)``.

    ``docs/ARCHITECTURE.md`` ("The OMS facade") lists its methods by group; each is documented where it is defined.
    """

    def __init__(self, opened: OpenedAccount) -> None:
        self.store = opened.store
        self.queue = WriteQueue(opened.store)
        self.manager = manager = opened.manager
        self.recorder = opened.recorder  # the manager's, or (read-only) one that is never told anything
        self.bus = opened.bus
        self.clock = opened.clock
        self.feed = opened.feed
        self.initial_cash = opened.cash
        self.account = manager.account
        self.read_only = opened.read_only
        self.watch: Watch | None = None  # set when read-only
        self.history = opened.history  # older orders and trades, in the store only (None: memory holds them all)
        self.day_book = opened.day_book  # a reopened day's ended orders and trades, read when first needed
        self.hours_origin = opened.hours_origin  # why the market hours are what they are (status)
        self.tasks = Tasks()  # by name: the feed, the risk monitor, the write path's halts and re-lock
        self._closed = False
        self._release_full_passes: Callable[[], None] | None = None  # the collector's hold, while open
        self._committer = Committer(self.store, self.queue, self.recorder, self.account, start_task=self.tasks.start,
                                    halt=lambda reason: self.kill_switch(reason, source="persistence"))
        self._write_behind = self._committer.write_behind  # the in-memory order path's one step, called directly
        # The trading state, kill switch, square-off, alerts and the periodic risk check.
        self.monitor = RiskMonitor(manager, self.bus, self.clock, self._committer.commit)
        self.alerts = self.monitor.alerts
        self._book = Book(manager, self.history, self.day_book, by_placement=self.read_only)
        self.reconciler: Reconciler | None = None  # with a live broker: its books against the OMS's (reconcile.py)
        manager.sent = self.monitor.sent  # orders that GTTs and order programs send, awaiting acknowledgement

    @classmethod
    async def open(
        cls,
        url: str | None = None,
        *,
        account: str = "default",
        cash: float | Decimal = 1_000_000,
        limits: RiskLimits | None = None,
        instruments: Iterable[Instrument] | None = None,
        feed: str | Feed | None = "random",
        broker: Broker | None = None,
        fees: str | None = "india_equity",
        clock: Clock | None = None,
        risk_interval: float | None = 2.0,
        read_only: bool = False,
        exchange_timezone: str | tzinfo = "Asia/Kolkata",
        market_hours: bool | NSECalendar | None = None,
        quiet_collections: bool = True,
    ) -> OMS:
        """Open an OMS on the database ``url`` (in-memory DuckDB by default) and start its feed.

        Parameters
        ----------
        url : ``duckdb:///:memory:``, ``duckdb:///file.duckdb`` or ``postgresql://…``; None reads
            OMS_KIT_DATABASE_URL, then DATABASE_URL, else memory. Migrations are applied on open.
        account : the account whose orders, positions and limits this OMS keeps.
        cash : starting cash of the account (a durable store that already holds the account keeps its own).
        limits : pre-trade and risk limits; ``RiskLimits()`` by default.
        instruments : added to (or replacing, by symbol) the default NSE instrument list.
        feed : "random" (a live random walk over a few NSE names), None (prices only from ``set_price``) or a Feed.
        broker : a configured MockBroker (paper), by default one with ``fees``; or a live broker, a
            :class:`~oms_kit.broker.kite.KiteBroker` (README, "Going live"): the OMS runs its task (``oms-kit-broker``:
            it sends orders and polls their updates) and caps ``max_orders_per_second`` at the exchange's rate.
        fees : "india_equity" or None; used when ``broker`` is not given.
        clock : where "now" comes from; the wall clock by default.
        risk_interval : seconds between two runs of the risk monitor (None: no monitor task; ``check_risk()``
            runs it by hand).
        read_only : watch an account that another session writes (a dashboard in another kernel): its committed
            state is loaded, and on PostgreSQL followed live (LISTEN/NOTIFY) with the changes published as events.
            Nothing is written and no feed or monitor runs; trading methods raise OmsError. A DuckDB file can be
            watched only once its writer has closed it (its file lock); ``refresh()`` reloads it.
        exchange_timezone : where the exchange's day and session hours (``RiskLimits.session_start``/``_end``) are
            reckoned: an IANA name such as ``"America/New_York"``, or a tzinfo.
        market_hours : whether orders are checked against NSE's trading calendar (``RiskLimits.calendar``: orders
            only in the normal market and special sessions, after-market orders held to the next open across
            weekends and holidays, MIS squared off at ``RiskLimits.mis_square_off``). None (the default) decides by
            what the OMS trades on: on for real market data on a real clock (a feed that is neither the random walk
            nor a replay, on the wall clock); off for the random walk (a session of its own, open at any hour),
            without a feed (prices by hand) and on a simulated clock or a replay (they follow their data). True:
            on, with the shipped calendar (years without holiday data: weekends only); an ``NSECalendar``: on, with
            that one; False: off. Limits with hours of their own (``session_start``/``session_end`` or
            ``calendar``) are used as they are, and then this must be None. ``status()["market_hours"]`` says
            which hours hold, and why.
        quiet_collections : while the OMS is open, the garbage collector's full passes (which would walk the day's
            orders and free nothing) wait for a pause in the orders, at most a minute (:mod:`oms_kit.collector`:
            the task ``oms-kit-collector`` runs them); ``close()`` gives the process its settings back. False: the
            process's collector is left alone, as it is by a read-only OMS.
        """
        if not isinstance(quiet_collections, bool):
            raise ConfigError("quiet_collections", quiet_collections, "True or False")
        opened = await open_account(url, account=account, cash=cash, limits=limits, instruments=instruments,
                                    feed=feed, broker=broker, fees=fees, clock=clock, risk_interval=risk_interval,
                                    read_only=read_only, exchange_timezone=exchange_timezone,
                                    market_hours=market_hours)
        oms = cls(opened)
        if read_only:
            oms.watch = await watch_account(opened, oms.alerts)
            return oms
        if oms.store.durable:
            await restore_gtts(oms.store, oms.account, oms.manager.gtts)
            await restore_programs(oms.store, oms.account, oms.manager)
        # The walk's first step repeats its start prices: quoting them now means a market order placed as soon as
        # open() returns has a reference price, instead of NO_REFERENCE_PRICE until the feed task first runs.
        now = oms.clock.now()
        for symbol, price in opened.start_prices.items():
            oms.apply_bar(Bar(now, symbol, price, price, price, price))
        await oms.commit()
        broker = oms.manager.broker
        if isinstance(broker, LiveBroker):  # sends the orders and brings the broker's reports in, until close
            if isinstance(broker, Reconciling):  # its books against the OMS's now, and after each reconnection
                oms.reconciler = reconciler = Reconciler(oms, broker)
                broker.on_reconnect = reconciler.after_reconnect
                await reconciler.at_open()
            oms.tasks.start("oms-kit-broker", broker.run(oms.commit))
        if oms.feed is not None:
            oms.tasks.start("oms-kit-feed", oms._run_feed(oms.feed))
        if risk_interval is not None:
            oms.tasks.start("oms-kit-risk-monitor", oms.monitor.run(risk_interval))
        if quiet_collections:  # taken last: an open that fails leaves no hold behind
            oms._release_full_passes = release = hold_full_passes()
            # The task releases the hold too, should its loop end without close().
            oms.tasks.start("oms-kit-collector", collect_when_quiet(oms._activity, release=release))
        return oms

    # -- prices, session and instruments ----------------------------------------------------------------------

    async def set_price(self, symbol: str, price: float | Decimal, volume: float | None = None) -> Decimal:
        """Push a quote for ``symbol``, as a feed would: marks positions and lets resting orders match.

        Raises DataError for a symbol that is not an instrument of this OMS, a price that is not a number above 0
        and at most ``MAX_PRICE`` (it is rounded to the instrument's tick), or a volume that is not a finite number
        >= 0; nothing changes then.
        """
        self.check_writable()
        tick = quote_bar(symbol, price, volume, self.manager.instruments, self.clock.now())
        self.apply_bar(tick)
        await self.commit()
        return self.manager.prices[symbol]

    async def push_bar(self, bar: Bar) -> None:
        """Push one bar, as a feed would: marks positions to its close and lets resting orders match on its open,
        high and low (the backtest's rule). A paper trader drives the OMS with this."""
        self.apply_bar(bar)
        await self.commit()

    async def settle_expiries(self, prices: dict[str, float | Decimal | str] | None = None) -> Settlement:
        """Settle the futures and options that have expired at the OMS clock's now (from 15:30 IST on the expiry
        day), as the exchange does: working orders in them are cancelled, and each open position is closed by a
        settlement order tagged ``expiry-settlement`` and its trade, at the final settlement price for a future,
        at the intrinsic value for an option in the money and at 0 for one out of the money (index contracts are
        cash-settled). The trades, P&L and cash include them; no charges are booked (STT on exercised options is
        not modelled). The risk monitor does this by itself at the first run after an expiry close, with the
        prices the OMS has; this is for a price of your own or an OMS without a monitor.

        ``prices`` maps an underlying to its final settlement price (``{"NIFTY": 25884.8}``); for an underlying
        not given, the underlying's last price, else the last price of its future of the same expiry is used.
        Returns the :class:`~oms_kit.settlement.Settlement` (``settled``, ``cancelled``). Raises ConfigError for a
        malformed ``prices`` or when a position to settle has no price, before anything changes.
        """
        self.check_writable()
        result = self.monitor.settle_expiries(self.clock.now(), prices, strict=True)
        await self.commit()
        return result

    async def end_session(self) -> None:
        """Close the trading day: DAY orders expire."""
        self.check_writable()
        self.manager.broker.end_session(self.clock.now())
        await self.commit()

    def define_instruments(self, instruments: Iterable[Instrument]) -> None:
        """Define instruments for symbols the OMS does not know yet (``paper_trade`` does so for a replay's symbols).

        A symbol already defined the same way is left as it is. Definitions live in memory, like the list given to
        :meth:`open`; pass them there to have them on every open.

        Raises
        ------
        ConfigError
            An item is not an Instrument, two items share a symbol but differ, or an item redefines a known symbol
            differently: tick and lot decide which orders are valid, so a definition does not change under orders.
        """
        add_instruments(self.manager.instruments, instruments)

    def apply_bar(self, bar: Bar) -> None:
        """The prices of one bar (or tick) into the account and the broker, with the price event, without
        committing: what :meth:`push_bar` does before it commits, for a caller that commits later (paper trading
        commits once per step)."""
        if self._closed:
            self._check_open()  # raises
        price = self.manager.on_bar(bar)  # GTTs and order programs follow the price there
        if self.bus.wants("price"):
            self.bus.publish(PriceUpdated.of(bar, price))

    async def _run_feed(self, feed: Feed) -> None:
        async for bar in feed.stream():
            self.apply_bar(bar)
            if self.recorder.rows:
                await self.commit()

    # -- kill switch and risk ---------------------------------------------------------------------------------

    async def kill_switch(self, reason: str, flatten: bool = False, source: str = "user") -> list[Order]:
        """Halt trading at once: new orders and modifies are rejected, every working order is cancelled, and with
        ``flatten=True`` every position is squared off. Persisted: a reopened OMS is still halted.

        Returns the square-off orders (empty without ``flatten``). A position that is still open afterwards (its
        closing order rejected, or working because no price has come) is reported as a BREACH alert named
        ``kill_switch_residual``, stored and published like any risk alert.
        """
        self.check_writable()
        return await self.monitor.kill_switch(reason, flatten, source)

    async def reset_kill_switch(self, reason: str, source: str = "user") -> None:
        """Lift the kill switch: trading state back to ACTIVE. ``reason`` is recorded. Refused (OmsError) while the
        daily loss is still at or beyond its limit."""
        self.check_writable()
        parse_text(reason, "reason", MAX_REASON)  # why trading may resume
        last = self.reconciler.last if self.reconciler is not None else None
        if last is not None and not last.ok:
            raise ReconciliationPending(
                f"cannot reset the kill switch: {len(last.differences)} difference(s) with the broker stand",
                hint="oms.reconciliation.differences lists them; oms.accept_reconciliation(reason) adopts the "
                "broker's side")
        await self.monitor.reset(reason, source)

    @property
    def trading_state(self) -> TradingState:
        """ACTIVE, REDUCING (orders may only shrink positions) or HALTED (the kill switch)."""
        return self.manager.trading_state

    async def check_risk(self) -> list[RiskAlert]:
        """Run the risk monitor once: measure every limit, raise WARN/BREACH alerts (stored, published), and on a
        daily-loss breach trip the kill switch (``limits.auto_kill_on_daily_loss``). Returns the new alerts.

        It also keeps the order book honest: an order sent to the broker whose acknowledgement has not come within
        ``oms_kit.monitor.ACK_TIMEOUT_S`` is looked up at the broker (accepted if it has it, rejected if not), and
        when market hours are configured (``limits.calendar``, or ``session_start``/``session_end``) the working
        DAY orders expire once the session is over. With a calendar, from ``limits.mis_square_off`` (15:20) while
        the normal market is open, MIS positions are squared off once a day as a broker does
        (``RiskMonitor.mis_square_off``). At the first run on a new exchange-local day the previous day ends
        (``OrderManager.roll_day``): its DAY orders expire, day P&L and today's counts start again. Positions whose
        mark moved since their row was written are written again, so that a restart and a read-only watcher value
        them at recent prices.
        """
        self.check_writable()
        return await self.monitor.check()

    # -- events and serving -----------------------------------------------------------------------------------

    def subscribe(
        self, callback: Callable[[Event], Any], kinds: Iterable[str] | str | None = None
    ) -> Callable[[], None]:
        """Call ``callback(event)`` for events of ``kinds`` (order, fill, position, price, risk_alert,
        trading_state; all when None). Returns a function that unsubscribes."""
        return self.bus.subscribe(callback, kinds)

    def events(self, kinds: Iterable[str] | str | None = None) -> AsyncIterator[Event]:
        """``async for event in oms.events(): ...`` — events as they happen."""
        return self.bus.events(kinds)

    async def serve(self, port: int = 8050, host: str = "127.0.0.1", token: str | None = None,
                    **options: Any) -> Server:
        """Serve this OMS over HTTP on the running event loop (a notebook's kernel), so the dashboard, the notebook
        and outside clients share it; ``await server.stop()`` ends the serving, not the OMS. ``server.url`` and
        ``server.token`` say how to reach it; the options are :func:`oms_kit.service.server.serve`'s."""
        self.check_writable()
        from oms_kit.service.server import serve  # imported when used: the HTTP stack is not the core's

        return await serve(self, host=host, port=port, token=token, **options)

    # -- lifecycle --------------------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Backend and whether it is durable, broker, feed, trading state, background tasks alive, and the
        process's garbage-collector figures (:func:`oms_kit.collector.figures`; None without ``quiet_collections``)."""
        return {
            "account": self.account,
            "backend": self.store.backend,
            "url": self.store.url,
            "durable": self.store.durable,
            "broker": self.manager.broker.status(),
            "reconciliation": self.reconciler.summary() if self.reconciler is not None else None,
            "feed": self.feed.status() if self.feed is not None else None,
            "trading_state": self.manager.trading_state.value,
            "market_hours": describe_hours(self.manager.limits, self.hours_origin),
            "tasks": self.tasks.alive(),
            "writes": self._committer.status(),
            "risk_monitor_failures": self.monitor.failures,
            "read_only": self.read_only,
            "collector": collector_figures() if self._release_full_passes is not None else None,
            "watch": self.watch.status() if self.watch is not None else None,
            "closed": self._closed,
        }

    async def refresh(self) -> None:
        """Read-only OMS: reload what the writer committed since the last refresh (on PostgreSQL this happens by
        itself after every commit; on a DuckDB file call it by hand)."""
        self._check_open()
        if self.watch is None:
            raise OmsError("refresh() is for a read-only OMS", hint="this OMS is the writer: its state is current")
        await self.watch.refresh()

    async def flush(self) -> None:
        """Wait until every record so far is committed."""
        await self._committer.flush()

    async def close(self) -> None:
        """Stop the feed and background tasks, commit what is pending and close the database."""
        if self._closed:
            return
        if self._release_full_passes is not None:  # first: whatever fails below, the process gets its settings back
            self._release_full_passes()
        if self.watch is not None:
            await self.watch.stop()
        await self.tasks.stop()
        try:
            await self.commit()
            await self.queue.close()
        finally:
            self._closed = True
            await self.store.close()

    async def __aenter__(self) -> OMS:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    def __repr__(self) -> str:
        return (f"<OMS account={self.account!r} {self.store.backend}{'' if self.store.durable else ' (memory)'} "
                f"{self.manager.trading_state} orders={len(self.manager.orders)} live={len(self.manager.live)}>")

    # -- internals --------------------------------------------------------------------------------------------

    async def commit(self) -> None:
        """Commit the records of what happened since the last commit (a strategy runner that drives the order
        manager directly calls this). Durable: returns once they are stored, or, while the database is
        unreachable, buffered for later (only new orders and modifies fail closed). In memory: written behind."""
        await self._committer.commit()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._closed

    def _activity(self) -> object:
        # What the collector's task reads to tell a pause in the orders: the order events recorded (a new order, a
        # modify, a fill, a cancel: each is one). A write behind under way on the store's worker thread reads as
        # activity too, a value equal to no other (a full pass would hold the interpreter lock it needs: after a
        # burst of 20,000 orders one fell inside the write and stretched it by 60 ms).
        return object() if self._committer.writing() else self.recorder.events

    def _check_open(self) -> None:
        if self._closed:
            raise OmsError("this OMS is closed", hint="open a new one with await OMS.open(...)")

    def check_writable(self) -> None:
        """Raise OmsError when this OMS is closed or watches its account read-only."""
        self._check_open()
        if self.read_only:
            raise OmsError(f"this OMS watches account {self.account!r} read-only: it cannot trade",
                           hint="open it without read_only=True in the session that owns the account")

