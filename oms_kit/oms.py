"""The OMS facade: one object that wires store, broker, ledger, validator, feed and events — the public entry point.

Calls that touch I/O (open, close, place, modify, cancel, prices) are async; reads of in-memory state are sync and
return pandas DataFrames for tables. The order path is here; the parts it delegates to are beside it: ``opening``
(from ``open``'s arguments to the parts), ``committer`` (rows to the store), ``book`` (orders and trades of any day),
``quotes`` (prices and instruments given by hand), ``summary`` (the risk summary) and ``tasks`` (background tasks).
Its GTT and order-program methods (``standing``) and its reconciliation with a live broker (``live_reconciliation``)
are inherited from modules of their own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from datetime import date, datetime, tzinfo
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, overload

import pandas as pd

from oms_kit.book import Book
from oms_kit.broker.base import Broker
from oms_kit.broker.live import LiveBroker
from oms_kit.broker.notes import day_window, fills_contract_note
from oms_kit.chain import ChainIndex, option_chain
from oms_kit.committer import Committer
from oms_kit.contracts import slice_request
from oms_kit.errors import (
    InvalidOrderError,
    OmsError,
    PersistenceUnavailable,
    ReconciliationPending,
    StoreError,
)
from oms_kit.events import Event, PriceUpdated
from oms_kit.heap import freeze_once
from oms_kit.live_reconciliation import LiveReconciliation
from oms_kit.market.bars import Bar
from oms_kit.market.calendar import NSECalendar
from oms_kit.market.clock import Clock
from oms_kit.market.feeds import Feed
from oms_kit.models import Instrument, Order, OrderStatus, Side, TradingState, parse_text
from oms_kit.monitor import RiskMonitor
from oms_kit.opening import OpenedAccount, describe_hours, open_account, watch_account
from oms_kit.orders import MAX_REASON
from oms_kit.quotes import add_instruments, quote_bar
from oms_kit.reconcile import Reconciling
from oms_kit.reconciler import Reconciler
from oms_kit.recovery import restore_gtts, restore_programs
from oms_kit.request import MAX_SYMBOL, OrderRequest, order_request
from oms_kit.risk import RiskAlert, RiskLimits
from oms_kit.settlement import Settlement, traded
from oms_kit.snapshot import Snapshot, take_snapshot
from oms_kit.standing import StandingOrders
from oms_kit.storage import RowError, WriteQueue
from oms_kit.summary import margin_rows, margin_summary, risk_summary
from oms_kit.tables import orders_frame
from oms_kit.tasks import Tasks
from oms_kit.watch import Watch

if TYPE_CHECKING:
    from oms_kit.service.server import Server


# order_request checks every field as the caller gave it (a missing side or quantity included) and raises naming
# it: place_order hands them over unchecked, through this name typed for that (no cast on the order path).
_fields_request: Callable[..., OrderRequest] = order_request

class OMS(StandingOrders, LiveReconciliation):
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
        """
        freeze_once()  # the full passes of the garbage collector walk only what trading makes (oms_kit/heap.py)
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
        return oms

    # -- orders -----------------------------------------------------------------------------------------------

    @overload
    async def place_order(
        self, symbol: str | OrderRequest, side: str | Side | None = None, quantity: int | None = None,
        order_type: str = "MARKET", price: float | Decimal | None = None, *, product: str = "MIS",
        validity: str = "DAY", trigger_price: float | Decimal | None = None, client_order_id: str | None = None,
        tag: str | None = None, variety: str = "regular", autoslice: Literal[False] = False,
        disclosed_quantity: int = 0,
    ) -> Order: ...

    @overload
    async def place_order(
        self, symbol: str | OrderRequest, side: str | Side | None = None, quantity: int | None = None,
        order_type: str = "MARKET", price: float | Decimal | None = None, *, product: str = "MIS",
        validity: str = "DAY", trigger_price: float | Decimal | None = None, client_order_id: str | None = None,
        tag: str | None = None, variety: str = "regular", autoslice: bool, disclosed_quantity: int = 0,
    ) -> Order | list[Order]: ...

    async def place_order(
        self,
        symbol: str | OrderRequest,
        side: str | Side | None = None,
        quantity: int | None = None,
        order_type: str = "MARKET",
        price: float | Decimal | None = None,
        *,
        product: str = "MIS",
        validity: str = "DAY",
        trigger_price: float | Decimal | None = None,
        client_order_id: str | None = None,
        tag: str | None = None,
        variety: str = "regular",
        autoslice: bool = False,
        disclosed_quantity: int = 0,
    ) -> Order | list[Order]:
        """Place an order; returns it once its records are committed.

        Takes the order's fields or one :class:`OrderRequest` (``oms.place_order(ok.OrderRequest(...))``).
        ``variety="amo"``: an after-market order, taken while the market is closed (the market hours of
        :class:`RiskLimits`: its session times or its calendar) and held by the broker until the session opens;
        AMO_MARKET_OPEN rejects one while it is open. ``disclosed_quantity``: how much the exchange shows at a time
        (0: all of it), NSE's rule checked (DISCLOSED_QUANTITY); it changes no fill, as the simulated book has no other
        traders to hide the rest from.

        ``autoslice=True``, as brokers offer it for futures and options: an order above the contract's freeze
        quantity (which QUANTITY_EXCEEDS_MAXIMUM refuses) is placed as child orders of at most the freeze quantity,
        each a whole number of lots (:func:`oms_kit.contracts.slice_request`), together as :meth:`place_orders`
        places a batch: each through the checks on its own, seeing the earlier children as working orders (so a
        later one may be rejected while the others stand), one commit, then the broker. The list of them is
        returned, a list of one when there was nothing to slice. Each child's ``client_order_id`` is the given one
        with ``-1``, ``-2``, … appended.

        A well-formed order that breaks a rule comes back REJECTED with ``order.violations``; malformed input
        raises InvalidOrderError and records nothing. The same ``client_order_id`` with the same payload returns
        the existing order (a safe retry).
        """
        if self._closed or self.read_only:
            self.check_writable()  # raises, with the reason
        if self.reconciler is not None:
            self.reconciler.check_trading()  # halted until the broker's books and the OMS's agree
        if self.day_book is not None and not self.day_book.loaded:  # a retried client id of the day is known
            await self.day_book.load_async()
        manager = self.manager
        if type(symbol) is OrderRequest:
            request = OrderRequest.of(symbol, side, quantity, order_type, price, trigger_price, product, validity,
                                      client_order_id, tag, variety, disclosed_quantity)
        else:  # the fields, parsed here without the detour (the order path)
            request = _fields_request(symbol, side, quantity, order_type, price, trigger_price, product, validity,
                                      client_order_id, tag, variety, disclosed_quantity)
        if autoslice is not False:
            return await self._place_slices(request, autoslice)
        order, send = manager.prepare(request)
        if not self.store.durable:
            # In memory there is nothing to make durable first: the rows wait in the store's buffers and are
            # written behind, without a coroutine per call.
            if send:
                manager.submit(order)
                self.monitor.sent(order)
            self._write_behind()
            return order
        try:
            # The order is durable before the broker sees it. An identical retry of an order still being committed
            # (NEW) brings no rows: committing none waits for what is in flight, so the retry returns only once the
            # original order is committed too.
            rows = self.recorder.take()
            if rows or order.status is OrderStatus.NEW:
                await self.queue.commit(rows)
        except RowError:
            # A value the store cannot hold (the parser's bounds should have refused it): the order was never
            # stored, so it is forgotten, not rejected, and memory stays equal to the store.
            manager.forget(order)
            raise
        except StoreError as exc:
            manager.reject_unsent(order, f"PERSISTENCE_UNAVAILABLE: {exc.message}")
            await self.commit()  # the rejection is recorded too (buffered while the database is down)
            raise PersistenceUnavailable(f"order {order.order_id} refused: the database is unavailable",
                                         detail=exc.message, hint="check the database; status() shows it") from exc
        if send:
            manager.submit(order)
            self.monitor.sent(order)
            await self.commit()
        return order

    async def place_orders(self, requests: Iterable[OrderRequest]) -> list[Order | StoreError]:
        """Place several orders in turn with one commit: what :meth:`place_order` returns for each, or the
        StoreError it would raise (the others still placed). For a bot that sends orders in batches.

        Every order is checked and registered in the given order, so the checks of each one see the earlier
        orders of the batch as working orders (their margin and quantity held), not yet filled; then, on a durable
        store, the records of all of them are committed in one transaction; then the accepted ones go to the
        broker, in order. No order reaches the broker before it is durable, as with ``place_order``, and a kill
        switch tripped while they are being committed rejects them all unsent. While the database is unreachable
        every order of the batch is refused (rejected unsent, PersistenceUnavailable in its place), except
        identical retries of orders committed earlier, which return them; a record the store cannot hold
        (RowError: the transaction stored nothing) forgets the batch's new orders, each with the error in its
        place. ``client_order_id`` retries are safe within and across batches.

        Raises InvalidOrderError, before placing anything, when an item is not an :class:`OrderRequest`, and
        OmsError when the OMS is closed or read-only.
        """
        if self._closed or self.read_only:
            self.check_writable()  # raises, with the reason
        if self.reconciler is not None:
            self.reconciler.check_trading()
        requests = list(requests)
        for i, request in enumerate(requests):
            if type(request) is not OrderRequest:
                raise InvalidOrderError(f"requests[{i}]", request, "an OrderRequest (ok.OrderRequest(...))")
        if self.day_book is not None and not self.day_book.loaded:
            await self.day_book.load_async()
        manager = self.manager
        counts = manager.counts
        prepared: list[tuple[Order, bool, bool]] = []  # (order, send, placed by this batch)
        for request in requests:
            placed = counts["placed"]
            order, send = manager.prepare(request)
            prepared.append((order, send, counts["placed"] != placed))
        if self.store.durable:
            failed = await self._commit_batch(prepared)
            if failed is not None:
                return failed
        for order, send, _ in prepared:
            if send:
                manager.submit(order)
                self.monitor.sent(order)
        if self.store.durable:
            await self.commit()
        else:
            self._write_behind()
        return [order for order, _, _ in prepared]

    async def _commit_batch(self, prepared: list[tuple[Order, bool, bool]]) -> list[Order | StoreError] | None:
        # place_orders' one commit before the broker sees any of them; on failure, each item's outcome as
        # place_order's for that order alone (None: committed).
        new = {id(order) for order, _, placed in prepared if placed}
        waiting = {id(order) for order, _, _ in prepared if order.status is OrderStatus.NEW}
        try:
            rows = self.recorder.take()
            if rows or waiting:
                await self.queue.commit(rows)
        except RowError as exc:
            for order, _, placed in prepared:
                if placed:
                    self.manager.forget(order)
            return [exc if id(order) in new else order for order, _, _ in prepared]
        except StoreError as exc:
            for order, _, _ in prepared:
                self.manager.reject_unsent(order, f"PERSISTENCE_UNAVAILABLE: {exc.message}")
            await self.commit()
            return [PersistenceUnavailable(f"order {order.order_id} refused: the database is unavailable",
                                           detail=exc.message, hint="check the database; status() shows it")
                    if id(order) in new or id(order) in waiting else order for order, _, _ in prepared]
        return None

    async def _place_slices(self, request: OrderRequest, autoslice: object) -> list[Order]:
        # place_order(autoslice=True): the children placed together (place_orders: checked in turn, each seeing the
        # earlier ones as working orders, one commit, then the broker); a store error raises as for one order.
        if autoslice is not True:
            raise InvalidOrderError("autoslice", autoslice, "True or False")
        children = slice_request(request, self.manager.instruments.get(request.symbol))
        placed = await self.place_orders(children)
        for item in placed:
            if isinstance(item, StoreError):
                raise item
        return placed  # type: ignore[return-value]

    async def modify_order(self, order_id: str, quantity: int | None = None, price: float | Decimal | None = None,
                           trigger_price: float | Decimal | None = None, *,
                           disclosed_quantity: int | None = None) -> Order:
        """Change a working order's quantity, price, trigger or disclosed quantity; raises OrderModifyRejected when a
        rule forbids it.

        Refused with PersistenceUnavailable while the database is unreachable, like a new order (cancels pass).
        """
        self.check_writable()
        if self.queue.unavailable is not None:
            raise PersistenceUnavailable(f"modify of {order_id} refused: the database is unavailable",
                                         detail=str(self.queue.unavailable), hint="status() shows the outage")
        try:
            return self.manager.modify(order_id, quantity, price, trigger_price, disclosed_quantity)
        finally:
            await self.commit()

    async def cancel_order(self, order_id: str, reason: str = "cancelled by user") -> Order:
        """Cancel a working order; returns it once the cancel is committed."""
        self.check_writable()
        order = self.manager.cancel(order_id, reason)
        await self.commit()
        return order

    async def cancel_all(self, symbol: str | None = None, reason: str = "cancel all") -> list[Order]:
        """Cancel every working order (of ``symbol`` when given)."""
        self.check_writable()
        orders = self.manager.cancel_all(symbol, reason)
        await self.commit()
        return orders

    async def square_off(self, symbol: str | None = None, reason: str = "square off") -> list[Order]:
        """Cancel working orders and close open positions (of ``symbol`` when given) with market orders.

        Runs in reduce-only mode, so these orders can only shrink positions, whatever the trading state. A position
        larger than the maximum order quantity (or the exchange's freeze quantity) is closed in slices, and the
        rate and duplicate throttles do not hold these orders back.
        """
        self.check_writable()
        return await self.monitor.square_off(symbol, reason)

    # -- prices and session -----------------------------------------------------------------------------------

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

    # -- kill switch ------------------------------------------------------------------------------------------

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

    # -- reads ------------------------------------------------------------------------------------------------

    def last_price(self, symbol: str) -> Decimal | None:
        """The latest price of ``symbol`` on its tick, or None before the first quote."""
        return self.manager.prices.get(symbol)

    def instrument(self, symbol: str) -> Instrument:
        """The instrument definition of ``symbol`` (tick, lot, freeze quantity)."""
        found = self.manager.instruments.get(symbol)
        if found is None:
            raise InvalidOrderError("symbol", symbol, ", ".join(sorted(self.manager.instruments)))
        return found

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

    def get_order(self, order_id: str) -> Order:
        """The order with this id, of any day: the day's and the working orders from memory, older ones read from
        the store. Raises OmsError when the account has no such order."""
        return self._book.get_order(order_id)

    def find_order(self, client_order_id: str) -> Order | None:
        """The order of the day placed with this client order id, or None."""
        return self._book.find_order(client_order_id)

    def load_day_book(self) -> None:
        """Make sure a reopened account's whole trading day is in memory. The orders that ended and the trades made
        before the restart are read when first needed: the reads of the book (``orders()``, ``trades()``,
        ``get_order()``, ``stats_today()``, the dashboard's history) call this themselves, and the first order
        placed waits for them; it blocks for the one read, once."""
        self._book.load_day_book()

    def active_orders(self) -> pd.DataFrame:
        """Working orders (open, partly filled, waiting for a trigger) as a table."""
        return orders_frame(list(self.manager.live.values()))

    def orders(self, symbol: str | None = None, status: str | None = None, side: str | None = None,
               since: datetime | str | None = None, until: datetime | str | None = None,
               limit: int | None = None) -> pd.DataFrame:
        """Orders in the order they were placed (newest last), filtered by any of the arguments.

        Without ``since``/``until`` this is the book in memory: the trading day (a reopened account shows every
        order of the day, in any status) and the working orders. A window reaching back before that (``since`` or
        ``until`` earlier than the day a reopened OMS began with) is read from the store too; ``limit`` keeps the
        newest that many, so older pages come with ``until=`` the oldest time shown. Times are datetimes, dates or
        ISO strings; naive ones are exchange-local.
        """
        return self._book.orders(symbol, status, side, since, until, limit)

    def trades(self, symbol: str | None = None, since: datetime | str | None = None,
               until: datetime | str | None = None, limit: int | None = None) -> pd.DataFrame:
        """Fills as a table (fees per fill included), oldest first: the trading day's from memory, and, like
        :meth:`orders`, older ones from the store when ``since``/``until`` reach back before it."""
        return self._book.trades(symbol, since, until, limit)

    def contract_note(self, day: date | None = None) -> pd.DataFrame:
        """A day's fills as a contract note: one row per trade date and segment (equity delivery or intraday by
        product, futures, options on premium), with the buy and sell values, each charge added up as a contract
        note does (brokerage per order, the rest on the day's totals, STT to the rupee) and ``fills_fees``, the
        fees the fills were booked with (``oms_kit.broker.notes`` says when and why the two differ).

        ``day`` is an exchange-local date, the current trading day when None; an earlier day's fills are read from
        the store. Raises ConfigError for a ``day`` that is not a date, DataError for fills outside the rate
        table's dates."""
        since, until = day_window(day, self.manager.session.zone, self.manager.day.began)
        trades = traded(self._book.trades(since=since, until=until))  # settlements at expiry are not traded
        return fills_contract_note(trades, self.manager.instruments, getattr(self.manager.broker, "fee_model", None))

    def positions(self) -> pd.DataFrame:
        """Every position of the day, flat ones included with their realized P&L."""
        return self.manager.ledger.to_frame()

    def position(self, symbol: str) -> int:
        """Net quantity held in ``symbol`` over all products (negative when short; 0 when none). A symbol that is
        not a text raises InvalidOrderError."""
        return self.manager.ledger.net_quantity(parse_text(symbol, "symbol", MAX_SYMBOL))

    def option_chain(self, underlying: str, expiry: date | str | None = None, *,
                     rate: float | None = None) -> pd.DataFrame:
        """The option chain of ``underlying`` (``"NIFTY"``) for ``expiry`` (a date or ``"YYYY-MM-DD"``; None: the
        nearest not yet expired on the OMS's clock): one row per strike, lowest first, with each call's and put's
        symbol, last price, implied volatility, delta and net position (``oms_kit.chain`` says how the forward and
        volatilities are found). ``rate`` discounts payoffs; None: the random-walk feed's, else 6%.

        Raises InstrumentLookupError (a ConfigError) for an underlying without options or an expiry not listed,
        ConfigError for a malformed argument."""
        self._chain_index = index = ChainIndex.of(self.manager.instruments, getattr(self, "_chain_index", None))
        return option_chain(index, self.manager.prices, self.manager.ledger.net_quantity, underlying, expiry,
                            now=self.clock.now(), rate=rate if rate is not None else getattr(self.feed, "rate", None))

    def validate(self, symbol: str | OrderRequest, side: str | None = None, quantity: int | None = None,
                 order_type: str = "MARKET", price: float | Decimal | None = None, *, product: str = "MIS",
                 validity: str = "DAY", trigger_price: float | Decimal | None = None,
                 variety: str = "regular", disclosed_quantity: int = 0) -> pd.DataFrame:
        """Dry run: every pre-trade check with pass/fail, value, limit and headroom. Nothing is recorded.

        Takes the order's fields or one :class:`OrderRequest`, as :meth:`place_order` does. For a future or an
        option two more rows follow the checks: ``margin_required`` (what the order adds to the account's portfolio
        margin, plus the premium of an option bought, against the free cash) and ``margin_benefit`` (what margining
        it with the account's positions saves against margining it alone: above 0 for a hedge); their code is
        empty."""
        request = OrderRequest.of(symbol, side, quantity, order_type, price, trigger_price, product, validity,
                                  None, None, variety, disclosed_quantity)
        results = self.manager.explain(request)
        return pd.DataFrame([r.to_dict() for r in results] + margin_rows(self.manager, request))

    def margin_summary(self) -> pd.DataFrame:
        """The account's F&O margin per underlying now: SPAN, short option minimum, initial, exposure and total
        margin of its futures and options positions and working orders, the underlying's price and the symbol it
        came from (:mod:`oms_kit.account_margin`). Empty without F&O; ``risk_summary()`` has the free cash."""
        return margin_summary(self.manager)

    def risk_summary(self) -> dict[str, Any]:
        """Trading state, day P&L, the free cash (``available_funds``) and the margins that hold the rest
        (``equity_margin``, ``fno_margin``, ``option_premium``), and each account limit with its current use."""
        return risk_summary(self.manager, self.monitor.limit_uses(), self.alerts)

    def snapshot(self) -> Snapshot:
        """The account now as frozen plain values (figures, positions, working orders, limits, alerts)."""
        return take_snapshot(self)

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

    def risk_alerts(self) -> pd.DataFrame:
        """Risk alerts raised in this session."""
        return pd.DataFrame([a.to_dict() for a in self.alerts])

    async def risk_decisions(self) -> pd.DataFrame:
        """Every pre-trade decision of a real order, from the store."""
        await self.flush()
        return await self.store.fetch_df(
            "SELECT * FROM risk_decisions WHERE account = $1 ORDER BY ts, decision_id", self.account)

    def stats_today(self) -> dict[str, Any]:
        """Today's orders placed, filled, rejected, cancelled and expired; trades, turnover and fees; the account's
        realized and unrealized P&L, its P&L since the day began, and the win rate of today's closing fills.

        The day is the exchange's (``exchange_timezone``): the risk monitor starts a new one after midnight there.
        """
        self.load_day_book()
        manager = self.manager
        return manager.day.stats(manager.counts, manager.trades, manager.closing_fills, manager.winning_fills,
                                 manager.ledger)

    async def serve(self, port: int = 8050, host: str = "127.0.0.1", token: str | None = None,
                    **options: Any) -> Server:
        """Serve this OMS over HTTP on the running event loop (a notebook's kernel), so the dashboard, the notebook
        and outside clients share it; ``await server.stop()`` ends the serving, not the OMS. ``server.url`` and
        ``server.token`` say how to reach it; the options are :func:`oms_kit.service.server.serve`'s."""
        self.check_writable()
        from oms_kit.service.server import serve  # imported when used: the HTTP stack is not the core's

        return await serve(self, host=host, port=port, token=token, **options)

    # -- events -----------------------------------------------------------------------------------------------

    def subscribe(
        self, callback: Callable[[Event], Any], kinds: Iterable[str] | str | None = None
    ) -> Callable[[], None]:
        """Call ``callback(event)`` for events of ``kinds`` (order, fill, position, price, risk_alert,
        trading_state; all when None). Returns a function that unsubscribes."""
        return self.bus.subscribe(callback, kinds)

    def events(self, kinds: Iterable[str] | str | None = None) -> AsyncIterator[Event]:
        """``async for event in oms.events(): ...`` — events as they happen."""
        return self.bus.events(kinds)

    # -- lifecycle --------------------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Backend and whether it is durable, broker, feed, trading state, background tasks alive."""
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

    def _check_open(self) -> None:
        if self._closed:
            raise OmsError("this OMS is closed", hint="open a new one with await OMS.open(...)")

    def check_writable(self) -> None:
        """Raise OmsError when this OMS is closed or watches its account read-only."""
        self._check_open()
        if self.read_only:
            raise OmsError(f"this OMS watches account {self.account!r} read-only: it cannot trade",
                           hint="open it without read_only=True in the session that owns the account")

