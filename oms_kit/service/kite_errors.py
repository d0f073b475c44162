"""Kite Connect's error envelope, shared by the Kite Connect–compatible API (:mod:`oms_kit.service.kite`) and the
door in front of every route (:mod:`oms_kit.service.guard`).

Kite's clients read an error from the body, not from the HTTP status: ``{"status": "error", "message": ...,
"error_type": "InputException", "data": null}`` makes the official client raise its own ``InputException``. A body
of any other shape (the REST API's ``{code, message, field, hint}``) would reach a Kite client as a response without
``data``, so a request of a Kite client is refused in Kite's shape, whichever part of the server refuses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

INPUT = "InputException"  # malformed or missing parameters
ORDER = "OrderException"  # an order that cannot be placed, modified or cancelled as asked
TOKEN = "TokenException"  # no token, or a wrong one
PERMISSION = "PermissionException"  # a token that may not do this (the read-only token writing)
NETWORK = "NetworkException"  # the OMS could not reach its database
GENERAL = "GeneralException"  # anything else

# The first path segment of Kite Connect's routes: a request under one of them is a Kite client's, even one that does
# not send Kite's X-Kite-Version header (curl).
KITE_PREFIXES = frozenset({"orders", "trades", "portfolio", "user", "quote", "instruments", "gtt", "mf", "margins",
                           "session", "charges", "alerts"})
MAX_MESSAGE = 2000  # characters: a message may quote what was given, and a body may hold 64 KiB of it

# The door's error codes (see guard.py) as Kite's error types; a missing token is Kite's 403 too.
_DOOR_CODES = {"UNAUTHORIZED": (403, TOKEN), "FORBIDDEN": (403, TOKEN), "READ_ONLY_TOKEN": (403, PERMISSION),
               "PAYLOAD_TOO_LARGE": (413, INPUT), "INTERNAL_ERROR": (500, GENERAL)}


class KiteError(Exception):
    """An error a Kite route answers with: the HTTP status, Kite's error type and the message."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


def kite_error_body(error_type: str, message: str) -> dict[str, Any]:
    """Kite's error envelope (a long message is cut, so a hostile value is not echoed whole)."""
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + "…"
    return {"status": "error", "message": message, "error_type": error_type, "data": None}


def is_kite_request(scope: Mapping[str, Any]) -> bool:
    """Whether an ASGI HTTP request is a Kite client's: it sends Kite's ``X-Kite-Version`` header, or its path is
    under one of Kite Connect's routes."""
    if scope.get("type") != "http":
        return False
    for name, _ in scope.get("headers", ()):
        if name.lower() == b"x-kite-version":
            return True
    path = scope.get("path", "")
    return isinstance(path, str) and path.lstrip("/").split("/", 1)[0] in KITE_PREFIXES


def kite_refusal(status: int, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
    """The status and Kite body of a refusal the door made in the REST API's error shape."""
    kite_status, error_type = _DOOR_CODES.get(str(body.get("code")), (status, GENERAL))
    message = str(body.get("message") or "refused")
    if body.get("hint"):
        message = f"{message} ({body['hint']})"
    return kite_status, kite_error_body(error_type, message)
