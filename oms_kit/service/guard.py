"""The door of the HTTP API, in front of every route (those of later routers too): the token, the read-only
token's limits, the size of a request body, and the last catch for an error no route handled.

It is plain ASGI middleware, so it sees every request before routing, WebSocket handshakes included: a route
added later cannot forget to ask for the token.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from oms_kit.service.auth import READ_METHODS, Access, Tokens, credentials_of
from oms_kit.service.encode import dumps
from oms_kit.service.errors import error_body
from oms_kit.service.kite_errors import is_kite_request, kite_refusal
from oms_kit.service.lane import Lane
from oms_kit.service.rest import BODY_FACTORS, LANES

log = logging.getLogger("oms_kit.service")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY = 64 * 1024  # bytes of a request body; an order is a few hundred
_NO_TOKEN_HINT = ("send 'Authorization: Bearer TOKEN' (or Kite's 'Authorization: token ACCOUNT:TOKEN', or "
                  "?token=TOKEN); the server printed its token when it started")


class Guard:
    """ASGI middleware: authenticate, keep read-only tokens to reads, bound request bodies, and turn an unhandled
    exception into a generic 500 (logged here with its traceback, never sent).

    Parameters
    ----------
    app : the ASGI app behind the door.
    tokens : the server's tokens.
    max_body : the largest request body in bytes; a larger one is refused with 413 before the app sees it.
    lanes : requests the door answers itself once they are let in, by method and path (see
        :mod:`oms_kit.service.lane`): the REST API's ``POST /api/oms/orders`` and ``/orders/batch`` by default.
    body_factors : routes, by method and path, whose bodies may be this many times ``max_body``: the REST API's
        ``POST /api/oms/orders/batch`` (up to 100 orders) by default.
    """

    def __init__(self, app: ASGIApp, tokens: Tokens, max_body: int = MAX_BODY,
                 lanes: Mapping[tuple[str, str], Lane] = LANES,
                 body_factors: Mapping[tuple[str, str], int] = BODY_FACTORS) -> None:
        self.app = app
        self.tokens = tokens
        self.max_body = max_body
        self.lanes = lanes
        self.limits = {route: max_body * factor for route, factor in body_factors.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):  # lifespan
            await self.app(scope, receive, send)
            return
        access = self.tokens.access(credentials_of(scope.get("headers", []), scope.get("query_string", b"")))
        refusal = _refusal(access, scope.get("method", "GET") if kind == "http" else "GET")
        if refusal is not None:
            status, body = refusal
            if kind == "websocket":
                await _refuse_websocket(scope, send, status, body)
            else:
                headers = [(b"www-authenticate", b'Bearer realm="oms_kit"')] if status == 401 else []
                await _respond(send, status, body, headers, scope)
            return
        scope.setdefault("state", {})["access"] = access
        if kind == "websocket":
            await self.app(scope, receive, send)
            return
        await self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = (scope.get("method", ""), scope.get("path", ""))
        limit = self.limits.get(route, self.max_body)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _respond(send, 413, _too_large(limit, route in self.limits), scope=scope)
            return
        # The body is read here, up to the bound, and handed to the app whole: a client cannot make the app hold
        # more, however it frames the body.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _respond(send, 413, _too_large(limit, route in self.limits), scope=scope)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        lane = self.lanes.get(route)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            if lane is None or not await lane(scope, body, watch):
                await self.app(scope, replay, watch)
        except Exception:
            log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if not started:
                await _respond(send, 500, error_body("INTERNAL_ERROR", "internal error: the request could not be "
                                                     "completed", None, "the server's log has the details"),
                               scope=scope)


def _refusal(access: Access, method: str) -> tuple[int, dict[str, Any]] | None:
    if access is Access.FULL:
        return None
    if access is Access.READ:
        if method in READ_METHODS:
            return None
        return 403, error_body("READ_ONLY_TOKEN", f"the read-only token cannot {method}: it is for reads only",
                               None, "use the full token to trade")
    if access is Access.NONE:
        return 401, error_body("UNAUTHORIZED", "a token is required", None, _NO_TOKEN_HINT)
    return 403, error_body("FORBIDDEN", "the token is not valid for this server", None, _NO_TOKEN_HINT)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large(limit: int, batch: bool) -> dict[str, Any]:
    return error_body("PAYLOAD_TOO_LARGE", f"the request body is larger than {limit} bytes", "body",
                      "send the orders in smaller batches" if batch else "an order is a small JSON object")


async def _respond(send: Send, status: int, body: dict[str, Any],
                   headers: list[tuple[bytes, bytes]] | None = None, scope: Scope | None = None) -> None:
    if scope is not None and is_kite_request(scope):
        # Kite's clients read an error only in Kite's shape (an InputException, a TokenException...).
        status, body = kite_refusal(status, body)
        headers = None
    content = dumps(body)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": content})


async def _refuse_websocket(scope: Scope, send: Send, status: int, body: dict[str, Any]) -> None:
    # Before the handshake is accepted the refusal can be an HTTP response (ASGI's websocket denial response
    # extension, which uvicorn offers); without it, closing refuses the handshake with 403.
    if "websocket.http.response" in scope.get("extensions", {}):
        content = dumps(body)
        await send({"type": "websocket.http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(content)).encode())]})
        await send({"type": "websocket.http.response.body", "body": content})
    else:
        await send({"type": "websocket.close", "code": 1008})
