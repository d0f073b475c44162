"""Shadow mode: a paper OMS beside a live one, fed the same prices and the same orders, filled the paper way.

``shadow = await ok.shadow(live)`` opens an in-memory OMS with the kit's :class:`~oms_kit.broker.mock.MockBroker`
(the live broker's fee model, the live OMS's instruments and limits) and follows the live OMS's events:

* every price the live OMS applies (its feed's bars and quotes, ``push_bar``, ``set_price``: the bar or quote
  itself, which :class:`~oms_kit.events.PriceUpdated` carries) is applied to the shadow;
* every order created on the live OMS (a strategy's, the ticket's, a square-off's, a GTT's) is placed on the shadow
  with the same request (symbol, side, quantity, type, prices, product, validity, variety, tag, disclosed quantity;
  its client order id is the live order's), except an order the live OMS refused before its broker (pre-trade
  checks: ``order.violations``): it never reached a broker, so there is no fill to compare, and a paper fill of it
  would be one the strategy never had. It is counted as ``skipped``. An order the live *broker* rejected was sent,
  and is mirrored: where paper would have filled it, :func:`~oms_kit.compare` shows the fill as missing in live;
* a cancel is mirrored when it is asked for (``CANCEL_REQUESTED``), a modify once the live broker confirmed it
  (``MODIFIED``: the event carries the order with its new values, not the request), and a DAY order that expired at
  the live broker (the session's end) is cancelled on the shadow. A modify or cancel that finds the paper order
  already ended (paper filled it first) is counted as ``missed``: that too is drift.

The shadow's clock is a :class:`~oms_kit.market.clock.SimulatedClock` moved to each event's time, so a paper fill
is stamped when the live OMS placed the order or applied the price, and ``ok.compare(shadow, live)`` shows the live
broker's delay against it (``delay`` = live minus shadow, ``price_difference`` = live minus shadow). The shadow
starts flat, with the live account's equity as cash and the live OMS's last prices.

The live path pays one ``deque.append`` per event: the callback only queues, and a task of the event loop mirrors
later, in order. Nothing here calls the live OMS or its broker, so a mirrored order cannot reach the live broker;
an error in the shadow (its OMS closed, a bug) is logged and counted in :meth:`Shadow.status`, never raised into
the live OMS. ``await shadow.close()`` stops the mirroring; the shadow's orders and trades stay readable.

Without a live broker there is no shadow to keep: paper trading on live prices is an OMS whose feed is the live
feed (``ok.OMS.open(feed=ok.KiteFeed(...))``) and ``ok.paper_trade`` on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import deque
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Any

import pandas as pd

from oms_kit.bookkeeping import SETTLEMENT_TAG
from oms_kit.broker.mock import MockBroker
from oms_kit.errors import ConfigError
from oms_kit.events import Event, OrderUpdated, PriceUpdated
from oms_kit.market.bars import Bar
from oms_kit.market.clock import SimulatedClock
from oms_kit.models import Fill, Order, Validity
from oms_kit.oms import OMS
from oms_kit.request import OrderRequest

__all__ = ["MAX_QUEUE", "Shadow", "shadow"]

log = logging.getLogger("oms_kit.shadow")

MAX_QUEUE = 1_000_000  # events a shadow may hold unmirrored; a shadow that far behind drops (and counts) the rest
_BATCH = 512  # events mirrored between two yields to the event loop, so the live OMS's tasks keep running
_MIRRORED_CHANGES = ("quantity", "price", "trigger_price", "disclosed_quantity")


async def shadow(live: OMS, *, broker: MockBroker | None = None, cash: float | Decimal | None = None,
                 queue_size: int = 100_000) -> Shadow:
    """Start shadowing ``live``: a paper OMS that gets its prices and orders; returns the running :class:`Shadow`.

    Parameters
    ----------
    live : OMS
        The OMS the strategy trades on, open and writable (whatever its broker). Start the shadow before the
        strategy's first order: an order placed earlier has no twin (``ok.compare(shadow, live)`` counts only the
        live orders the shadow mirrored).
    broker : MockBroker, optional
        The paper broker, configured as you want paper fills to be (``slippage_bps``, ``spread_bps``, ...). By
        default a ``MockBroker`` with the live broker's fee model (``"india_equity"`` when it has none) and no
        slippage: a market order fills at the last price when placed.
    cash : number, optional
        The shadow account's cash; the live account's equity (cash plus positions at their marks) by default.
    queue_size : int
        Events held unmirrored at most (1 to ``MAX_QUEUE``); past it the newest are dropped and counted
        (``status()["dropped"]``): the comparison is then incomplete.

    Raises
    ------
    ConfigError
        ``live`` is not an OMS (or watches its account read-only), ``broker`` is not a MockBroker, ``cash`` is not
        a number above 0, or ``queue_size`` is not a whole number in range.
    OmsError
        ``live`` is closed.
    """
    if not isinstance(live, OMS):
        raise ConfigError("live", type(live).__name__, "an open OMS (await ok.OMS.open(...))")
    if live.read_only:
        raise ConfigError("live", repr(live), "an OMS that trades (a read-only OMS places no orders to shadow)")
    live.check_writable()  # a closed OMS: OmsError, with the reason
    if broker is not None and not isinstance(broker, MockBroker):
        raise ConfigError("broker", type(broker).__name__, "a MockBroker (ok.MockBroker(...)) or None")
    if cash is not None and not _positive(cash):
        raise ConfigError("cash", cash, "a finite number above 0, or None for the live account's equity")
    if isinstance(queue_size, bool) or not isinstance(queue_size, int) or not 1 <= queue_size <= MAX_QUEUE:
        raise ConfigError("queue_size", queue_size, f"a whole number from 1 to {MAX_QUEUE:,}")
    if broker is None:
        fees = getattr(live.manager.broker, "fee_model", None)
        broker = MockBroker(fees=fees if fees is not None else "india_equity")
    clock = SimulatedClock(live.clock.now())
    paper = await OMS.open("duckdb:///:memory:", account=live.account,  # memory, whatever the environment says
                           cash=cash if cash is not None else live.manager.ledger.equity(),
                           limits=live.manager.limits, instruments=list(live.manager.instruments.values()),
                           feed=None, broker=broker, clock=clock, risk_interval=None,
                           exchange_timezone=live.manager.session.zone)
    # The live OMS's last prices, then the subscription, with no await in between: no price falls in a gap (the
    # mirroring task commits these rows with its first events).
    now = clock.now()
    for symbol, price in list(live.manager.prices.items()):  # the reference a market order placed now fills at
        paper.apply_bar(Bar(now, symbol, float(price), float(price), float(price), float(price)))
    return Shadow(live, paper, clock, queue_size)


def _positive(value: object) -> bool:
    # A finite number above 0; a Decimal NaN is tested apart, since comparing it raises InvalidOperation.
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return False
    if isinstance(value, Decimal):
        return value.is_finite() and value > 0
    return 0 < value < math.inf


class Shadow:
    """A paper OMS mirroring a live one; made by :func:`shadow` (the module docstring says what is mirrored).

    ``oms`` is the paper OMS (read it as any OMS: ``orders()``, ``trades()``, ``positions()``), ``live`` the live
    one, ``mirrored`` maps each mirrored live order id to its paper twin's.
    """

    compare_labels = ("shadow", "live")  # ok.compare(shadow, live) names its columns so

    def __init__(self, live: OMS, paper: OMS, clock: SimulatedClock, queue_size: int) -> None:
        self.live = live
        self.oms = paper
        self.clock = clock
        self.mirrored: dict[str, str] = {}
        self._queue: deque[Event] = deque()
        self._queue_size = queue_size
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False
        self._counts = dict.fromkeys(("prices", "orders", "skipped", "rejected", "modified", "cancelled",
                                      "expired", "missed", "errors", "dropped"), 0)
        self.last_error: str | None = None
        # Subscribed before the task starts: nothing the live OMS publishes from here on is lost.
        self._unsubscribe = live.subscribe(self._receive, ("order", "price"))
        self._task = asyncio.get_running_loop().create_task(self._run(), name="oms-kit-shadow")

    # -- on the live path: queue only ---------------------------------------------------------------------------

    def _receive(self, event: Event) -> None:
        if len(self._queue) >= self._queue_size:
            self._counts["dropped"] += 1
            return
        self._queue.append(event)
        self._idle.clear()
        self._wake.set()

    # -- the mirroring task ---------------------------------------------------------------------------------------

    async def _run(self) -> None:
        queue = self._queue
        while True:
            await self._wake.wait()
            self._wake.clear()
            done = 0
            while queue:
                await self._mirror(queue.popleft())
                done += 1
                if done % _BATCH == 0:
                    await self._commit()
                    await asyncio.sleep(0)
            await self._commit()
            if not queue:
                self._idle.set()

    async def _mirror(self, event: Event) -> None:
        try:
            self._follow(event.ts)
            if isinstance(event, PriceUpdated):
                self._price(event)
            elif isinstance(event, OrderUpdated):
                await self._order(event)
        except Exception as exc:
            # Whatever failed, the live OMS trades on: counted, logged (the first few, then one in a thousand).
            self._counts["errors"] += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            errors = self._counts["errors"]
            if errors <= 3 or errors % 1000 == 0:
                log.warning("shadow of %r: %s event not mirrored (%d errors so far)", self.live.account,
                            event.kind, errors, exc_info=True)

    async def _commit(self) -> None:
        if not self.oms.closed:
            try:
                await self.oms.commit()
            except Exception as exc:
                self._counts["errors"] += 1
                self.last_error = f"{type(exc).__name__}: {exc}"

    def _follow(self, ts: datetime) -> None:
        # The clock never goes back: a quote stamped with the exchange's (earlier) trade time leaves it where it is.
        if ts > self.clock.now():
            self.clock.set(ts)

    def _price(self, event: PriceUpdated) -> None:
        bar = event.bar
        if bar is None:  # an event without its bar: the marked price as a tick
            price = float(event.price)
            volume = event.volume if event.volume is not None else math.nan
            bar = Bar(event.ts, event.symbol, price, price, price, price, volume)
        self._define(bar.symbol)
        self.oms.apply_bar(bar)
        self._counts["prices"] += 1

    async def _order(self, event: OrderUpdated) -> None:
        kind, order = event.event_type, event.order
        if kind == "CREATED":
            await self._place(order)
            return
        twin_id = self.mirrored.get(order.order_id)
        if twin_id is None or kind not in ("MODIFIED", "CANCEL_REQUESTED", "EXPIRED"):
            return  # not mirrored (placed before the shadow, or skipped), or nothing the shadow follows
        if kind == "EXPIRED" and order.validity is not Validity.DAY:
            return  # an IOC's remainder: the paper broker expires its own
        twin = self.oms.manager.orders[twin_id]
        if twin.status.is_terminal:
            self._counts["missed"] += 1  # paper filled (or ended) it first
            return
        if kind == "MODIFIED":
            changes = {name: getattr(order, name) for name in _MIRRORED_CHANGES
                       if getattr(order, name) != getattr(twin, name)}
            if changes:
                await self.oms.modify_order(twin_id, **changes)
                self._counts["modified"] += 1
        elif kind == "CANCEL_REQUESTED":
            await self.oms.cancel_order(twin_id, "cancelled on the live OMS")  # the event has no reason
            self._counts["cancelled"] += 1
        else:
            await self.oms.cancel_order(twin_id, "expired at the live broker")
            self._counts["expired"] += 1

    async def _place(self, order: Order) -> None:
        if order.tag == SETTLEMENT_TAG:
            return  # an expiry's settlement is booked, not placed: the shadow settles its own
        current = self.live.manager.orders.get(order.order_id, order)
        if current.violations:
            self._counts["skipped"] += 1  # refused by the live OMS's checks: it never reached a broker
            return
        request = OrderRequest(order.symbol, order.side, order.quantity, order.order_type, order.price,
                               order.trigger_price, order.product, order.validity, order.client_order_id, order.tag,
                               order.variety, order.disclosed_quantity)
        self._define(order.symbol)
        twin = await self.oms.place_order(request)
        self.mirrored[order.order_id] = twin.order_id
        self._counts["orders"] += 1
        if twin.violations:
            self._counts["rejected"] += 1

    def _define(self, symbol: str) -> None:
        # An instrument defined on the live OMS after the shadow opened (paper_trade does so for a replay's symbols).
        if symbol not in self.oms.manager.instruments:
            instrument = self.live.manager.instruments.get(symbol)
            if instrument is not None:
                self.oms.define_instruments([instrument])

    # -- control --------------------------------------------------------------------------------------------------

    async def drain(self) -> Shadow:
        """Wait until every event the live OMS published so far is mirrored (before reading or comparing)."""
        while not self._closed and not self._idle.is_set():
            await self._idle.wait()
        return self

    async def close(self) -> None:
        """Stop mirroring: what was published before is mirrored first, then the live OMS is left alone. The paper
        OMS is closed; its orders, trades and positions stay readable. Calling it again does nothing."""
        if self._closed:
            return
        self._unsubscribe()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.drain(), timeout=30)
        self._closed = True
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        with contextlib.suppress(Exception):
            await self.oms.close()

    async def __aenter__(self) -> Shadow:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    # -- reads ----------------------------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._closed

    def status(self) -> dict[str, Any]:
        """Mirroring or not; events waiting (``behind``); prices applied; orders mirrored, ``skipped`` (refused by
        the live OMS's checks), ``rejected`` by the shadow's; modifies, cancels and expiries mirrored, ``missed``
        (the paper order had ended); ``errors`` with ``last_error``; ``dropped`` (the queue was full)."""
        return {"running": not self._closed and not self._task.done(), "behind": len(self._queue),
                **self._counts, "last_error": self.last_error}

    def orders(self) -> pd.DataFrame:
        """The shadow's orders (the columns of ``OMS.orders()``)."""
        return self.oms.orders()

    def trades(self) -> pd.DataFrame:
        """The shadow's fills (the columns of ``OMS.trades()``)."""
        return self.oms.trades()

    def compare_run(self) -> tuple[list[Order], list[Fill]]:
        """The shadow's orders in placement order and its fills in time order, as :func:`oms_kit.compare` reads a
        run."""
        manager = self.oms.manager
        return list(manager.orders.values()), list(manager.trades)

    def counterpart_run(self, run: object, orders: list[Order],
                        fills: list[Fill]) -> tuple[list[Order], list[Fill]]:
        """What :func:`oms_kit.compare` sets beside the shadow: of its own live OMS, only the orders it mirrored
        (an order placed before the shadow started, or skipped, has no twin and would shift the pairing)."""
        if run is not self.live:
            return orders, fills
        mirrored = self.mirrored
        return [o for o in orders if o.order_id in mirrored], [f for f in fills if f.order_id in mirrored]

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running"
        return (f"<Shadow of {self.live.account!r} {state} orders={self._counts['orders']} "
                f"behind={len(self._queue)} errors={self._counts['errors']}>")
