"""The event stream of a served OMS (``/ws/oms``) as an async iterator of the kit's events.

``remote.events()`` returns an :class:`EventStream`. Iterating it connects on first use; ``async with
remote.events() as stream:`` (or ``await stream.open()``) connects first and returns once the server has
subscribed it, so that nothing done after it is missed, as with ``oms.events()``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any, Self
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI, WebSocketException

from oms_kit.client.decode import event_of
from oms_kit.client.errors import EventStreamClosed, EventStreamLagged, RemoteError, error_of
from oms_kit.errors import ConfigError
from oms_kit.events import EVENT_KINDS, Event

__all__ = ["CLOSE_LAGGED", "CONTROL_TYPES", "EventStream"]

CLOSE_LAGGED = 4001  # the server's close code for a client that fell behind (oms_kit.service.ws.CLOSE_LAGGED)
CONTROL_TYPES = frozenset({"subscribed", "heartbeat", "lagged"})  # the stream's own messages
_TYPES_ALLOWED = ", ".join(sorted(EVENT_KINDS)) + ", or 'all'"


def stream_query(types: Iterable[str] | str | None, heartbeat: float | None, queue: int | None) -> dict[str, str]:
    """The handshake's query for a subscription, checked here like ``oms.events(kinds)`` checks its kinds
    (ConfigError naming ``types``, ``heartbeat`` or ``queue``)."""
    query: dict[str, str] = {}
    if types is not None:
        names = [types] if isinstance(types, str) else list(types) if isinstance(types, Iterable) else None
        if not names or not all(isinstance(n, str) for n in names) or not {n.strip().lower() for n in names} <= (
                EVENT_KINDS | {"all"}):
            raise ConfigError("types", types, _TYPES_ALLOWED)
        query["types"] = ",".join(n.strip().lower() for n in names)
    if heartbeat is not None:
        if isinstance(heartbeat, bool) or not isinstance(heartbeat, int | float) or not math.isfinite(heartbeat) \
                or not 0.1 <= heartbeat <= 3600:
            raise ConfigError("heartbeat", heartbeat, "seconds from 0.1 to 3600")
        query["heartbeat"] = repr(float(heartbeat))
    if queue is not None:
        if isinstance(queue, bool) or not isinstance(queue, int) or not 1 <= queue <= 10_000:
            raise ConfigError("queue", queue, "a whole number of events from 1 to 10,000")
        query["queue"] = str(queue)
    return query


class EventStream:
    """Events of a served OMS as they happen: ``async for event in stream`` yields the kit's event classes
    (:class:`~oms_kit.events.OrderUpdated`, :class:`~oms_kit.events.OrderFilled`, … with ``Order`` and ``Fill``
    values), or with ``raw=True`` every message as the server sent it (dicts ``{"type", "ts", "data"}``, heartbeats
    included).

    The iteration ends when :meth:`aclose` is called. When the server closes the stream it raises
    :class:`~oms_kit.client.errors.EventStreamLagged` if this client fell behind (everything before arrived, without
    a gap), :class:`~oms_kit.client.errors.EventStreamClosed` otherwise.

    Attributes
    ----------
    subscribed : the server's ``subscribed`` message's data once connected (account, types, heartbeat_s,
        queue_size), else None.
    lagged : the ``lagged`` message's data when the server said this client fell behind, else None.
    """

    def __init__(self, url: str, token: str, account: str, query: dict[str, str], raw: bool = False,
                 open_timeout: float = 10.0) -> None:
        self._url = url + ("?" + urlencode(query) if query else "")
        self._token = token
        self._account = account
        self._raw = raw
        self._open_timeout = open_timeout
        self._socket: ClientConnection | None = None
        self._closing = False
        self.subscribed: dict[str, Any] | None = None
        self.lagged: dict[str, Any] | None = None

    async def open(self) -> Self:
        """Connect and wait for the server's ``subscribed`` message: every event from here on will be yielded.
        Idempotent. Raises ConfigError for a subscription the server refuses, RemoteError when it cannot be
        reached or refuses the token."""
        if self._socket is not None:
            return self
        if self._closing:
            raise RemoteError("this event stream was closed", code="CLOSED", hint="call remote.events() again")
        try:
            # No compression: events are small, and deflating each one costs the server's loop, which is the OMS's.
            socket = await connect(self._url, additional_headers={"Authorization": f"Bearer {self._token}"},
                                   compression=None, open_timeout=self._open_timeout, max_size=2**24)
        except InvalidStatus as exc:
            response = exc.response
            try:
                body = json.loads(bytes(response.body or b""))
            except ValueError:
                body = None
            raise error_of(response.status_code, body) from None
        except (OSError, TimeoutError, InvalidURI, WebSocketException) as exc:
            raise RemoteError(f"the event stream at {self._url.split('?')[0]} cannot be reached: {exc}",
                              code="UNREACHABLE", hint="is the server running? python -m oms_kit serve") from None
        try:
            hello = json.loads(await socket.recv())
        except (ConnectionClosed, ValueError, TypeError) as exc:
            await socket.close()
            raise RemoteError(f"the event stream did not start: {exc}", code="BAD_STREAM") from None
        if not isinstance(hello, dict) or hello.get("type") != "subscribed":
            await socket.close()
            raise RemoteError("the event stream did not start with 'subscribed'", code="BAD_STREAM")
        self._socket = socket
        self.subscribed = hello.get("data")
        return self

    async def aclose(self) -> None:
        """Close the connection; the iteration ends."""
        self._closing = True
        if self._socket is not None:
            await self._socket.close()

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event | dict[str, Any]:
        if self._closing:
            raise StopAsyncIteration
        socket = self._socket or (await self.open())._socket
        assert socket is not None
        while True:
            try:
                text = await socket.recv()
            except ConnectionClosed as exc:
                if self._closing:
                    raise StopAsyncIteration from None
                raise self._closed(exc) from None
            message = json.loads(text)
            kind = message.get("type") if isinstance(message, dict) else None
            if kind == "lagged":
                self.lagged = message.get("data")
            if self._raw:
                return message  # type: ignore[no-any-return]
            if kind in CONTROL_TYPES:
                continue
            try:
                event = event_of(message, self._account)
            except (KeyError, ValueError, TypeError) as exc:
                raise RemoteError(f"an event the client cannot read: {exc}", code="BAD_EVENT",
                                  detail=str(text)[:200]) from None
            if event is not None:
                return event

    def _closed(self, exc: ConnectionClosed) -> EventStreamClosed:
        close = exc.rcvd
        code = close.code if close is not None else 1006
        reason = close.reason if close is not None else "the connection broke"
        if code == CLOSE_LAGGED:
            return EventStreamLagged(f"the event stream fell behind and was closed: {reason}", status=code,
                                     code="LAGGED", detail=reason,
                                     hint="read the state again and reconnect with remote.events()")
        return EventStreamClosed(f"the server closed the event stream ({code}): {reason or 'no reason given'}",
                                 status=code, code="STREAM_CLOSED", detail=reason or None,
                                 hint="reconnect with remote.events()")

    def __repr__(self) -> str:
        state = "closed" if self._closing else "open" if self._socket is not None else "not connected"
        return f"<EventStream {self._url.split('?')[0]} {state}>"
