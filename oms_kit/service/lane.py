"""A fast lane for the hot route of a bot: a well-formed JSON body posted to an endpoint of ``(request, body)``,
answered by the door (:class:`~oms_kit.service.guard.Guard`) without the router and middleware behind it.

Over HTTP an order's own work (validation, the OMS, the JSON) was a third of what the server's loop spent on it; the
rest was the layers between the door and the endpoint: the router, the exception middleware, FastAPI's request
wrapper with its exit stacks, and its reading of the declared parameters. A lane does what those layers do for this
one case, with the same parts: the same ``json.loads`` and model validation as FastAPI's, the same endpoint, and an
exception the endpoint raises answered by the handler the app has registered for it, as the exception middleware
would. Anything else (another content type, a body that is not JSON or not valid, a path with a root path) is not
the lane's: the request goes through the app, which answers it as always (a 422 naming the field).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, get_type_hints

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["Lane", "json_lane"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]
Lane = Callable[[Scope, bytes, Send], Awaitable[bool]]


def json_lane(endpoint: Callable[[Request, Any], Awaitable[Response]]) -> Lane:
    """The lane of ``endpoint``, an async function of ``(request, body)`` whose ``body`` is annotated with a pydantic
    model. The lane returns True when it answered the request, False when the app must (nothing sent then)."""
    model: type[BaseModel] = get_type_hints(endpoint)["body"]

    async def lane(scope: Scope, body: bytes, send: Send) -> bool:
        if scope.get("root_path") or not _is_json(scope):
            return False
        try:
            value = model.model_validate(json.loads(body))
        except Exception:  # not JSON, or not valid: the app's path reports it its way
            return False
        request = Request(scope)
        try:
            response = await endpoint(request, value)
        except Exception as exc:
            handler = _handler(scope, exc)
            if handler is None:
                raise
            response = handler(request, exc)
            if inspect.isawaitable(response):
                response = await response
        await response(scope, _no_more, send)
        return True

    return lane


def _is_json(scope: Scope) -> bool:
    # As Starlette's headers read it: the first Content-Type, as latin-1.
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return bool(value.decode("latin-1").partition(";")[0].strip().lower() == "application/json")
    return False


def _handler(scope: Scope, exc: Exception) -> Callable[..., Any] | None:
    # The exception middleware's lookup: the handler of the nearest class in the exception's MRO. Exception itself
    # (a 500) is not the exception middleware's business, nor the lane's: the door turns it into its generic 500.
    handlers = getattr(scope.get("app"), "exception_handlers", {})
    for kind in type(exc).__mro__:
        if kind is Exception:
            return None
        if kind in handlers:
            return handlers[kind]  # type: ignore[no-any-return]
    return None


async def _no_more() -> Message:
    # The body was read whole by the door; a response reads nothing more (an SSE one would wait for a disconnect).
    return {"type": "http.disconnect"}
