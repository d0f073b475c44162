"""The order path of the OMS facade: placing orders (one, a batch, one sliced at the freeze quantity), modifying
and cancelling them, squaring off.

A part of :class:`~oms_kit.oms.OMS` (it inherits these methods), kept in a module of its own: the checks, the booking
and the broker's reports are :class:`~oms_kit.orders.OrderManager`'s; here the facade sees that an order is durable
before the broker sees it (a durable store) or has its rows written behind (memory), as ``docs/ARCHITECTURE.md``
("The flow of an order") tells step by step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Literal, overload

from oms_kit.contracts import slice_request
from oms_kit.errors import InvalidOrderError, PersistenceUnavailable, StoreError
from oms_kit.models import Order, OrderStatus, Side
from oms_kit.request import OrderRequest, order_request
from oms_kit.storage import RowError

if TYPE_CHECKING:
    from oms_kit.monitor import RiskMonitor
    from oms_kit.orders import OrderManager
    from oms_kit.reconciler import Reconciler
    from oms_kit.recovery import DayBook
    from oms_kit.storage import Store, WriteQueue
    from oms_kit.storage.recorder import Recorder

__all__ = ["OrderEntry"]

# order_request checks every field as the caller gave it (a missing side or quantity included) and raises naming
# it: place_order hands them over unchecked, through this name typed for that (no cast on the order path).
_fields_request: Callable[..., OrderRequest] = order_request


class OrderEntry:
    """Placing, modifying and cancelling orders on the OMS (see the module docstring)."""

    if TYPE_CHECKING:  # what the OMS provides
        manager: OrderManager
        store: Store
        queue: WriteQueue
        recorder: Recorder
        monitor: RiskMonitor
        reconciler: Reconciler | None
        day_book: DayBook | None
        read_only: bool
        _closed: bool
        _write_behind: Callable[[], None]

        def check_writable(self) -> None: ...

        async def commit(self) -> None: ...

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
