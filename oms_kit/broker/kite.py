"""KiteBroker: the orders the OMS accepts go to a real Zerodha Kite Connect account, through the official
``kiteconnect`` client, and the broker's order updates come back as the OMS's own events and fills.

Every pre-trade check runs in the OMS first: the broker sees only orders the OMS accepted. Then:

* **Sending** (:mod:`oms_kit.broker.kite_sender`): place, modify and cancel are queued and sent by one thread, in
  order (cancels first), paced to the exchange's order rate, retried while the broker cannot be reached; a place
  that may have reached the broker is looked up by its tag (:func:`~oms_kit.broker.kite_config.kite_tag`) before it
  is sent again. The event loop never waits on an HTTP request.
* **Following**: the broker's order book and trade book (``kite.orders()``, ``kite.trades()``, and
  ``kite.order_trades()`` for an order whose fills the trade book does not show yet) are polled every
  ``poll_interval`` seconds while orders are being followed, by a second thread, and what changed is reported to
  the OMS on the loop, then committed. Kite's WebSocket order updates come on its binary ticker connection, which
  the kit's own Kite-compatible service does not speak, so they cannot be tested here: polling is what this broker
  does (the issue's fallback); a push channel can later call :meth:`KiteBroker.apply_book` with what it receives.
* **Statuses** (:mod:`oms_kit.broker.kite_status`; :mod:`oms_kit.broker.kite_book` applies the books to the
  followed orders): an order stays NEW until Kite has validated it (Kite may still reject it before that, and keeps
  its ``status_message`` as the reason); OPEN, TRIGGER PENDING or an after-market order held by the broker make it
  accepted; a stop order showing OPEN has triggered; CANCELLED ends it (an IOC order's remainder as expired). Fills
  come from the trade book, one per trade (each ``trade_id`` once), partial fills included, at the exchange's own
  timestamps.
* **Fees**: Kite does not report charges per trade, so each fill is charged by the kit's fee model, as the
  simulated broker charges it (``fees``, ``"india_equity"`` by default); the contract note is the authority.
* **Modify**: the OMS's order takes the new values at once (the state machine has no cancel of an order whose
  modify is pending, and a kill switch must be able to cancel every order); should Kite refuse the modify, the
  order gets its earlier values back, as a second modify, with a warning.
* **Cancel and the kill switch**: the OMS ends or marks the order first, then the cancel is queued, ahead of any
  waiting order. An order the OMS has ended that is still working at Kite (its place was under way when the kill
  switch tripped) is cancelled there when a poll finds it. What cannot be applied (a fill of an order the OMS has
  ended) is kept in ``mismatches``, for reconciliation.
* **A dropped connection**: requests are retried with a doubling wait up to ``max_backoff``; ``status()`` tells
  the connection's state and last error; polling resumes when the server answers again.

Going live needs ``live=True``; credentials are read as :mod:`oms_kit.broker.kite_config` says and shown nowhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from kiteconnect import KiteConnect

from oms_kit.broker.base import BrokerSink
from oms_kit.broker.fees import FeeModel, fee_model
from oms_kit.broker.kite_book import KiteBook
from oms_kit.broker.kite_config import EXCHANGE_ORDER_RATE, check_root, kite_tag, load_credentials, number, whole
from oms_kit.broker.kite_config import market_protection as check_protection  # the argument's name is taken
from oms_kit.broker.kite_sender import Command, Link, Report, Sender
from oms_kit.broker.kite_status import whole_number
from oms_kit.errors import ConfigError, OmsError
from oms_kit.market.bars import Bar
from oms_kit.models import Order, OrderType
from oms_kit.tradable import Instrument

log = logging.getLogger("oms_kit")

HEARTBEAT_S = 10.0  # seconds between two checks of the connection while no order is followed
STOP_GRACE_S = 2.0  # seconds the sender gets, when the OMS closes, to send what is queued (cancels first)


class KiteBroker:
    """A broker that sends the OMS's accepted orders to a Kite Connect account; see the module docstring.

    Parameters
    ----------
    api_key, access_token : the credentials, when not from ``credentials`` or the environment (``KITE_API_KEY``,
        ``KITE_ACCESS_TOKEN``), which keep them out of the notebook.
    root : the API's root URL: None for Kite's own; any Kite-compatible server (an OMS served by ``oms.serve()``).
    live : must be True: real orders go to the account. False raises ConfigError saying so.
    credentials : a JSON file ``{"api_key": ..., "access_token": ...}`` outside the notebook.
    poll_interval : seconds between two polls of the order and trade books while orders are followed.
    timeout : seconds an HTTP request may take.
    orders_per_second : the exchange's order rate for this client (10 unless the algorithm is registered for more);
        requests are paced to it and the OMS's ``max_orders_per_second`` is capped at it.
    max_backoff : the longest wait, in seconds, between two tries while the broker cannot be reached.
    fees : the fee model fills are charged by (Kite reports no charges per trade): as ``MockBroker``'s ``fees``.
    market_protection : sent with MARKET and SL-M orders: None (not sent), -1 (Kite's automatic) or a percentage.

    Bad input raises :class:`~oms_kit.errors.ConfigError` naming the field, the value (never a secret) and what is
    allowed.
    """

    name = "kite"

    def __init__(
        self,
        api_key: str | None = None,
        access_token: str | None = None,
        root: str | None = None,
        *,
        live: bool = False,
        credentials: object = None,
        poll_interval: float = 1.0,
        timeout: float = 7.0,
        orders_per_second: int = EXCHANGE_ORDER_RATE,
        max_backoff: float = 5.0,
        fees: str | FeeModel | None = "india_equity",
        market_protection: float | None = None,
    ) -> None:
        # Typed as the caller should pass them; each is still checked, since a notebook passes anything.
        if live is not True:
            shown = live if live is None or isinstance(live, bool | int | float) else type(live).__name__
            raise ConfigError("live", shown, "True, to send real orders to the Kite Connect account",
                              hint="KiteBroker(..., live=True) once the strategy has been proven on paper; "
                              "MockBroker paper-trades")
        self.live = True
        self._credentials = load_credentials(api_key, access_token, credentials)
        try:
            self.root = check_root(root)
            self.poll_interval = number("poll_interval", poll_interval, 0.01, 300, "seconds from 0.01 to 300")
            self.timeout = number("timeout", timeout, 0.1, 300, "seconds from 0.1 to 300")
            self.orders_per_second = whole("orders_per_second", orders_per_second, 1, 1000,
                                           "a whole number of orders a second from 1 to 1000 (the exchange allows "
                                           "10 to an unregistered client)")
            self.max_backoff = number("max_backoff", max_backoff, 0.01, 600, "seconds from 0.01 to 600")
            self.market_protection = check_protection(market_protection)
            self.fee_model = fee_model(fees)
        except ConfigError as error:  # a credential passed in the wrong place is not echoed
            raise self._credentials.scrub(error) from None
        self._link = Link(self._credentials)
        self._sink: BrokerSink | None = None
        # The followed orders; a cancel it decides on goes to the sender (made next: it writes the book's ids).
        self._book = KiteBook(self.fee_model, sink=lambda: self.sink, now=self._now,
                              send=lambda command: self._sender.put(command))
        self._sender = Sender(self._client(), self._credentials, self._link, self.orders_per_second,
                              self.max_backoff, self._book.ids, self._post)
        self._poll_client = self._client()  # the poller's own: a requests session is not shared between threads
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reports: asyncio.Queue[Report] | None = None
        self._wake: asyncio.Event | None = None
        # Called (on the loop) when the broker answers again after it could not be reached: the OMS reconciles.
        self.on_reconnect: Callable[[], Awaitable[None]] | None = None
        self.mismatches: list[dict[str, Any]] = self._book.mismatches  # what the OMS could not apply (the book's)
        self.last_poll: datetime | None = None
        self.polls = 0

    @property
    def fills(self) -> int:
        """The fills applied so far."""
        return self._book.fills

    def _client(self) -> KiteConnect:
        return KiteConnect(api_key=self._credentials.api_key, access_token=self._credentials.access_token,
                           root=self.root, timeout=self.timeout)

    # -- the Broker protocol ------------------------------------------------------------------------------------

    def attach(self, sink: BrokerSink) -> None:
        self._sink = sink

    @property
    def sink(self) -> BrokerSink:
        if self._sink is None:
            raise OmsError("KiteBroker is not attached to an order manager", hint="pass it to OMS.open(broker=...)")
        return self._sink

    def submit(self, order: Order, instrument: Instrument, ts: datetime) -> None:
        """Queue the order's place; it stays NEW until Kite has validated it (acknowledge() tells the monitor)."""
        self._book.follow(order, instrument)
        params: dict[str, Any] = {
            "variety": order.variety.value, "exchange": instrument.exchange, "tradingsymbol": order.symbol,
            "transaction_type": order.side.value, "quantity": order.quantity, "product": order.product.value,
            "order_type": order.order_type.value, "validity": order.validity.value, "tag": kite_tag(
                order.account, order.order_id)}
        if order.price is not None:
            params["price"] = str(order.price)
        if order.trigger_price is not None:
            params["trigger_price"] = str(order.trigger_price)
        if order.disclosed_quantity:
            params["disclosed_quantity"] = order.disclosed_quantity
        if self.market_protection is not None and order.order_type in (OrderType.MARKET, OrderType.SL_M):
            params["market_protection"] = self.market_protection
        self._sender.put(Command("place", order, params, params["tag"]))

    def modify(self, order: Order, changes: dict[str, Any], ts: datetime) -> None:
        """Take the new values at once (module docstring) and queue the modify."""
        previous = {name: getattr(order, name) for name in changes}
        self.sink.on_modified(order.order_id, changes, ts)
        params: dict[str, Any] = {"variety": order.variety.value, "order_type": order.order_type.value}
        for name, value in changes.items():
            params[name] = str(value) if isinstance(value, Decimal) else value
        self._sender.put(Command("modify", order, params, previous=previous))

    def cancel(self, order: Order, reason: str, ts: datetime) -> None:
        """Queue the cancel, ahead of waiting orders; the order is CANCELLED when Kite shows it so."""
        self._book.cancel(order, reason)

    def on_bar(self, bar: Bar) -> None:
        pass  # the exchange matches: prices only mark the account

    def open_session(self, ts: datetime) -> None:
        pass  # Kite holds after-market orders and sends them at the open itself

    def end_session(self, ts: datetime) -> None:
        pass  # the exchange cancels DAY orders at the close; the poll reports it

    def end_day(self, ts: datetime) -> None:
        pass

    def restore(self, order: Order, instrument: Instrument, ts: datetime, held: bool = False) -> None:
        """Follow a working order again after a restart: found at Kite by its tag at the next poll; the quantity it
        had filled is booked already, so the first trades up to it are not applied again."""
        self._book.restore(order, instrument)

    # -- for reconciliation (oms_kit.reconcile) --------------------------------------------------------------------

    def tag(self, order: Order) -> str:
        """The tag ``order`` carries at Kite (:func:`~oms_kit.broker.kite_config.kite_tag`)."""
        return kite_tag(order.account, order.order_id)

    @property
    def restored(self) -> frozenset[str]:
        """The orders followed again after a restart that no poll has found at the broker yet."""
        return frozenset(self._book.restored)

    def adopt(self, order: Order, instrument: Instrument, broker_id: str) -> None:
        """Follow an order the OMS took over from the broker (Kite's order ``broker_id``, placed without this OMS's
        tag, or one the OMS had ended that still works there): its statuses and trades are applied from now on."""
        self._book.adopt(order, instrument, broker_id)

    def release(self, order_id: str) -> None:
        """Stop following an order (one the reconciliation found the broker does not have)."""
        self._book.release(order_id)

    async def books(self) -> dict[str, Any]:
        """The broker's books as Kite gives them, fetched on a worker thread with a client of their own: ``orders``,
        ``trades`` (with ``order_trades`` of followed orders whose fills the trade book does not show), ``positions``
        (``kite.positions()["net"]``) and ``holdings``. Raises OmsError when the broker cannot be reached (the
        connection's state says so; its return is a reconnection)."""
        try:
            return await asyncio.to_thread(self._fetch_books)
        except Exception as exc:
            self._link.failed(exc)
            raise OmsError("the Kite broker could not be reached to reconcile",
                           detail=self._link.last_error, hint="status()['broker'] shows the connection; the "
                           "reconciliation runs again when the broker answers") from None

    def _fetch_books(self) -> dict[str, Any]:
        client = self._client()
        try:
            orders, trades = self._fetch(True, client) or ([], [])
            positions = client.positions()
            holdings = client.holdings()
        finally:
            with contextlib.suppress(Exception):
                client.reqsession.close()
        self._link.ok()
        net = positions.get("net") if isinstance(positions, dict) else positions
        return {"orders": orders, "trades": trades, "positions": net, "holdings": holdings}

    @property
    def broker_ids(self) -> dict[str, str]:
        """The Kite order id of each order sent (OMS order id -> Kite order id), a copy."""
        return dict(self._book.ids)

    def acknowledge(self, order_id: str, ts: datetime) -> bool:
        """The risk monitor asks about an order still NEW after a second: True while this broker follows it (queued,
        under way, or waiting for Kite's validation), so that a slow broker does not get it rejected."""
        return order_id in self._book.orders

    def status(self) -> dict[str, Any]:
        """The connection and the work in hand; no credentials."""
        link = self._link
        return {
            "name": self.name, "live": self.live, "root": self.root, "connection": link.state,
            "connection_since": link.since.isoformat(), "last_error": link.last_error, "retries": link.retries,
            "last_poll": self.last_poll.isoformat() if self.last_poll else None, "polls": self.polls,
            "poll_interval_s": self.poll_interval, "queued": self._sender.queued(), "followed": len(self._book.orders),
            "fills": self.fills, "mismatches": len(self.mismatches), "orders_per_second": self.orders_per_second,
            "fees": type(self.fee_model).__name__, "credentials": self._credentials.source,
        }

    def __repr__(self) -> str:
        return f"<KiteBroker {self.root} live {self._link.state} followed={len(self._book.orders)}>"

    # -- the task the OMS runs ----------------------------------------------------------------------------------

    async def run(self, commit: Callable[[], Awaitable[None]]) -> None:
        """Start the sender, then poll and apply reports until cancelled (the OMS closing); ``commit`` stores what
        each batch of reports changed."""
        self._loop = asyncio.get_running_loop()
        self._reports = asyncio.Queue()
        self._wake = asyncio.Event()
        self._sender.start()
        drain = asyncio.get_running_loop().create_task(self._drain(commit), name="oms-kit-broker-reports")
        try:
            await self._poll(commit)
        finally:
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain
            await asyncio.to_thread(self._sender.stop, STOP_GRACE_S)
            # Idle keep-alive connections closed: the server is not left holding them (a restart opens new ones).
            for client in (self._sender.client, self._poll_client):
                with contextlib.suppress(Exception):
                    client.reqsession.close()

    async def _poll(self, commit: Callable[[], Awaitable[None]]) -> None:
        wake, delay, idle = self._wake, self.poll_interval, 0.0
        assert wake is not None
        reconnections = self._link.reconnections
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), delay)
            wake.clear()
            if not self._book.orders and self._link.state == "connected":
                idle += delay
                if idle < HEARTBEAT_S:
                    continue
            idle = 0.0
            try:
                book = await asyncio.to_thread(self._fetch, bool(self._book.orders))
            except Exception as exc:
                self._link.failed(exc)
                delay = min(max(delay, self.poll_interval) * 2, self.max_backoff)
                continue
            self._link.ok()
            delay = self.poll_interval
            self.last_poll, self.polls = datetime.now(UTC), self.polls + 1
            if book is not None:
                self.apply_book(*book)
                await _committed(commit)
            if self._link.reconnections != reconnections:  # back after an outage: what happened meanwhile is checked
                reconnections = self._link.reconnections
                if self.on_reconnect is not None:
                    try:
                        await self.on_reconnect()
                    except Exception:  # the reconciliation reports its own trouble; the following goes on
                        log.exception("the reconciliation after a reconnection failed")

    async def _drain(self, commit: Callable[[], Awaitable[None]]) -> None:
        reports = self._reports
        assert reports is not None
        while True:
            report = await reports.get()
            self._report(report)
            while not reports.empty():
                self._report(reports.get_nowait())
            await _committed(commit)

    def _post(self, report: Report) -> None:
        # Called on the sender's thread: the report is handled on the loop.
        loop, reports = self._loop, self._reports
        if loop is None or reports is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(reports.put_nowait, report)

    def _fetch(self, following: bool, client: KiteConnect | None = None,
               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
        # On a worker thread: the books, and the trades of orders whose fills the trade book does not show yet.
        client = client or self._poll_client
        if not following:
            client.profile()  # a heartbeat: tells whether the broker is reachable
            return None
        orders = [o for o in client.orders() or [] if isinstance(o, dict)]
        trades = [t for t in client.trades() or [] if isinstance(t, dict)]
        shown: dict[str, int] = {}  # per Kite order id, the quantity its trades in the trade book add up to
        for trade in trades:
            key = str(trade.get("order_id"))
            shown[key] = shown.get(key, 0) + whole_number(trade.get("quantity"))
        for entry in orders:
            broker_id = str(entry.get("order_id"))
            filled = whole_number(entry.get("filled_quantity"))
            if self._book.local_id(entry) is not None and filled > shown.get(broker_id, 0):
                trades.extend(t for t in client.order_trades(broker_id) or [] if isinstance(t, dict))
        return orders, trades

    # -- applying what the broker says --------------------------------------------------------------------------

    def apply_book(self, orders: list[dict[str, Any]], trades: list[dict[str, Any]]) -> None:
        """Apply Kite's order book and trade book (as ``kite.orders()`` and ``kite.trades()`` give them) to the
        followed orders: acceptance, rejection, trigger, fills (each trade once), cancellation. On the loop."""
        self._book.apply(orders, trades)

    def _report(self, report: Report) -> None:
        if self._book.report(report) and self._wake is not None:
            self._wake.set()  # the next poll now: the broker's answer is news

    # -- helpers ------------------------------------------------------------------------------------------------

    def _now(self) -> datetime:
        now = getattr(self._sink, "now", None)
        return now() if callable(now) else datetime.now(UTC)


async def _committed(commit: Callable[[], Awaitable[None]]) -> None:
    # A store that fails to commit (the write path buffers and raises its own alerts) must not end the following
    # of orders: the broker's reports keep coming in, and the next commit takes them along.
    try:
        await commit()
    except Exception:
        log.exception("committing the Kite broker's reports failed; the next commit takes them along")

