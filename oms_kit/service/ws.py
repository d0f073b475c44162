"""The event stream: ``/ws/oms``, every event of the OMS as JSON over a WebSocket.

The protocol
------------
Connect with the token like any route (``Authorization: Bearer T``, or ``?token=T`` from a browser); the read-only
token may watch too. The subscription is chosen once, in the query string of the handshake, and holds for the
connection (to change it, reconnect):

``types``
    The kinds of event to receive, comma-separated (or the parameter repeated), any case: ``order``, ``fill``,
    ``position``, ``risk_alert``, ``trading_state`` and ``price``; ``all`` for every kind. Without it, every kind
    but ``price`` (prices change many times a second: a client asks for them).
``heartbeat``
    Seconds of silence after which the server sends a heartbeat: from 0.1 to 3600, 15 by default. A client that
    hears nothing for a few of these knows the connection is gone.
``queue``
    How many events the server may hold for this client while it sends earlier ones: from 1 to 10,000 (the
    default).

A query the server cannot take is refused at the handshake with HTTP 422 and the error shape naming the parameter
(``{"code": "INVALID_INPUT", "field": "types", ...}``).

Every message is a JSON object ``{"type": ..., "ts": ..., "data": {...}}``: ``ts`` is the event's time (ISO 8601
with its zone), money and prices are exact decimals as strings, like the REST API:

- ``subscribed`` first, once: ``data`` has the account, the types, ``heartbeat_s`` and ``queue_size``. Every event
  published from then on arrives, in the order the OMS published it.
- ``order``: ``data.event`` (``CREATED``, ``ACCEPTED``, ``FILLED``, ``CANCELLED``, ``REJECTED`` …),
  ``data.previous_status`` and ``data.order``, the order as ``GET /api/oms/orders/{id}`` returns it.
- ``fill``: a trade, the columns of ``GET /api/oms/trades`` and ``account``.
- ``position``: a position, the columns of ``GET /api/oms/positions``.
- ``risk_alert``: an alert, the columns of ``GET /api/oms/risk/alerts``.
- ``trading_state``: ``data.state``, ``data.previous``, ``data.reason`` and ``data.source``: the kill switch is a
  change to ``HALTED``, its reset one back to ``ACTIVE``.
- ``price``: ``data.symbol`` and ``data.price``.
- ``heartbeat``: after ``heartbeat`` seconds without a message; ``data.trading_state``.
- ``lagged``, last: the client fell behind (below).

Messages the client sends are read and ignored; closing the connection ends the subscription.

A slow client never slows the OMS
---------------------------------
The OMS hands each event to every subscriber synchronously, on its own path. Here that hand-over only puts the
event (an immutable snapshot, shared by every client) into the client's bounded queue, without waiting; a task per
client sends from the queue as fast as the client reads. When a client falls so far behind that its queue is full,
it is unsubscribed at once (the OMS does not even look at it again), the events still queued for it are dropped,
and it is sent a ``lagged`` message (``data.queue_size``, ``data.delivered``: how many events it did get) and
closed with code :data:`CLOSE_LAGGED` and a reason saying so: never silently skipped. What it received is a gap-free
beginning of the stream; it should read the state again over REST and reconnect. A client that reads nothing at all
cannot even take the close: the server waits :data:`LAG_CLOSE_TIMEOUT_S` for it and then stops serving it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, WebSocket
from starlette.datastructures import QueryParams
from starlette.websockets import WebSocketDisconnect

from oms_kit.errors import ConfigError
from oms_kit.events import EVENT_KINDS, Event
from oms_kit.models import Position
from oms_kit.service.encode import OmsJSONResponse, dumps
from oms_kit.service.errors import INVALID_INPUT, error_body
from oms_kit.service.rest import order_json

if TYPE_CHECKING:  # the OMS may import this package to serve itself
    from oms_kit.oms import OMS

__all__ = ["CLOSE_LAGGED", "DEFAULT_TYPES", "PATH", "StreamOptions", "event_json", "parse_options", "router"]

PATH = "/ws/oms"
CLOSE_LAGGED = 4001  # the close code of a client that fell behind (4000-4999: the application's own)
DEFAULT_TYPES = frozenset(EVENT_KINDS - {"price"})
DEFAULT_HEARTBEAT_S = 15.0
MIN_HEARTBEAT_S, MAX_HEARTBEAT_S = 0.1, 3600.0
MAX_QUEUE = 10_000  # events held for one client: a reference each, the events themselves are shared
LAG_CLOSE_TIMEOUT_S = 30.0  # how long a lagged client's socket may stay unwritable before it is abandoned
_TYPES_ALLOWED = ", ".join(sorted(EVENT_KINDS)) + " (comma-separated), or all"

router = APIRouter(tags=["events"])


@dataclass(frozen=True)
class StreamOptions:
    """A client's subscription: the kinds of event, the heartbeat interval and the size of its queue."""

    types: frozenset[str] = DEFAULT_TYPES
    heartbeat_s: float = DEFAULT_HEARTBEAT_S
    queue_size: int = MAX_QUEUE


def parse_options(query: QueryParams) -> StreamOptions:
    """The subscription a handshake's query asks for (see the module's docstring); ConfigError naming the parameter
    (``types``, ``heartbeat`` or ``queue``) for a value the server cannot take."""
    types = DEFAULT_TYPES
    given = query.getlist("types")
    if given:
        names = {part.strip().lower() for value in given for part in value.split(",")}
        if "all" in names:
            names = (names - {"all"}) | EVENT_KINDS
        unknown = names - EVENT_KINDS
        if not names or unknown:
            shown = ",".join(given)
            raise ConfigError("types", shown if len(shown) <= 80 else shown[:80] + "…", _TYPES_ALLOWED)
        types = frozenset(names)
    heartbeat = _number(query.get("heartbeat"), "heartbeat", DEFAULT_HEARTBEAT_S, float)
    if not MIN_HEARTBEAT_S <= heartbeat <= MAX_HEARTBEAT_S:
        raise ConfigError("heartbeat", query.get("heartbeat"),
                          f"seconds from {MIN_HEARTBEAT_S} to {MAX_HEARTBEAT_S:g}")
    queue = _number(query.get("queue"), "queue", MAX_QUEUE, int)
    if not 1 <= queue <= MAX_QUEUE:
        raise ConfigError("queue", query.get("queue"), f"a whole number of events from 1 to {MAX_QUEUE:,}")
    return StreamOptions(types, heartbeat, int(queue))


def _number(text: str | None, field: str, default: float, kind: Callable[[str], float]) -> float:
    if text is None:
        return default
    try:
        value = kind(text.strip())
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        allowed = "a number of seconds" if kind is float else "a whole number"
        raise ConfigError(field, text if len(text) <= 80 else text[:80] + "…", allowed)
    return value


# -- events as JSON ---------------------------------------------------------------------------------------------------


def position_json(position: Position) -> dict[str, Any]:
    """A position with the columns of ``OMS.positions()``."""
    unrealized = position.unrealized_pnl
    return {"symbol": position.symbol, "product": position.product.value, "quantity": position.quantity,
            "average_price": position.average_price, "last_price": position.last_price,
            "realized_pnl": position.realized_pnl, "unrealized_pnl": unrealized, "fees": position.fees,
            "pnl": position.realized_pnl + unrealized - position.fees, "bought_quantity": position.bought_quantity,
            "sold_quantity": position.sold_quantity, "account": position.account, "updated_at": position.updated_at}


def _order(event: Any) -> dict[str, Any]:
    return {"event": event.event_type, "previous_status": event.previous_status, "order": order_json(event.order)}


def _state(event: Any) -> dict[str, Any]:
    return {"state": event.state.value, "previous": event.previous.value, "reason": event.reason,
            "source": event.source}


# The data of each kind of event (``oms_kit.events.EVENT_TYPES``); ``oms_kit.client.decode`` reads it back.
_DATA: dict[str, Callable[[Any], dict[str, Any]]] = {
    "order": _order,
    "fill": lambda event: event.fill.to_dict(),
    "position": lambda event: position_json(event.position),
    "price": lambda event: {"symbol": event.symbol, "price": event.price, "bid": event.bid, "ask": event.ask,
                            "volume": event.volume},
    "risk_alert": lambda event: event.alert.to_dict(),
    "trading_state": _state,
}


def event_json(event: Event) -> dict[str, Any]:
    """An event as the stream sends it: ``{"type": kind, "ts": time, "data": {...}}`` (values not yet encoded: see
    :func:`~oms_kit.service.encode.dumps`)."""
    return {"type": event.kind, "ts": event.ts, "data": _DATA[event.kind](event)}


def _message(kind: str, ts: Any, data: dict[str, Any]) -> str:
    return dumps({"type": kind, "ts": ts, "data": data}).decode()


# -- the route --------------------------------------------------------------------------------------------------------


@router.websocket(PATH)
async def stream(websocket: WebSocket) -> None:
    """The event stream of the served OMS (see the module's docstring)."""
    try:
        options = parse_options(websocket.query_params)
    except ConfigError as exc:
        await _refuse(websocket, error_body(INVALID_INPUT, exc.message, exc.field, f"allowed: {exc.allowed}"))
        return
    oms: OMS = websocket.app.state.oms
    client = _Client(options.queue_size)
    # Subscribed before the handshake completes: whatever the OMS publishes once the client has its "subscribed"
    # message is in the queue.
    client.unsubscribe = oms.subscribe(client.put, options.types)
    try:
        await websocket.accept()
        await websocket.send_text(_message("subscribed", oms.clock.now(), {
            "account": oms.account, "types": sorted(options.types), "heartbeat_s": options.heartbeat_s,
            "queue_size": options.queue_size}))
        await client.serve(websocket, oms, options.heartbeat_s)
    except (WebSocketDisconnect, OSError):
        pass  # the client went away; nothing to tell it
    finally:
        client.unsubscribe()


async def _refuse(websocket: WebSocket, body: dict[str, Any]) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(OmsJSONResponse(body, status_code=422))
    else:  # a server without the denial extension can only refuse the handshake (403)
        await websocket.close(1008, body["message"][:120])


class _Client:
    """One connection's queue, and the tasks that send from it and listen to the client."""

    __slots__ = ("delivered", "lagged", "queue", "unsubscribe")

    def __init__(self, queue_size: int) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue(queue_size)
        self.lagged = asyncio.Event()
        self.delivered = 0
        self.unsubscribe: Callable[[], None] = _nothing

    def put(self, event: Event) -> None:
        # On the OMS's path: never waits. A full queue ends this client's subscription here and now.
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.unsubscribe()
            self.lagged.set()

    async def serve(self, websocket: WebSocket, oms: OMS, heartbeat_s: float) -> None:
        sender = asyncio.ensure_future(self._send(websocket, oms, heartbeat_s))
        listener = asyncio.ensure_future(_listen(websocket))
        lagged = asyncio.ensure_future(self.lagged.wait())
        tasks = (sender, listener, lagged)
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            tell = self.lagged.is_set() and not listener.done()  # a client that left cannot be told
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, OSError):
                    await task
        if tell:
            await self._close_lagged(websocket, oms)

    async def _send(self, websocket: WebSocket, oms: OMS, heartbeat_s: float) -> None:
        queue = self.queue
        while True:
            if queue.empty():
                try:
                    async with asyncio.timeout(heartbeat_s):
                        event = await queue.get()
                except TimeoutError:
                    await websocket.send_text(_message("heartbeat", oms.clock.now(),
                                                       {"trading_state": oms.trading_state.value}))
                    continue
            else:
                event = queue.get_nowait()
            await websocket.send_text(dumps(event_json(event)).decode())
            self.delivered += 1

    async def _close_lagged(self, websocket: WebSocket, oms: OMS) -> None:
        size = self.queue.maxsize
        reason = f"lagged: more than {size} events waiting; read the state again and reconnect"
        with contextlib.suppress(TimeoutError, WebSocketDisconnect, OSError, RuntimeError):
            async with asyncio.timeout(LAG_CLOSE_TIMEOUT_S):
                await websocket.send_text(_message("lagged", oms.clock.now(),
                                                   {"queue_size": size, "delivered": self.delivered}))
                await websocket.close(CLOSE_LAGGED, reason)


async def _listen(websocket: WebSocket) -> None:
    # What the client sends is read (so that it cannot pile up) and ignored, until it closes or the server stops.
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


def _nothing() -> None:
    pass

