"""One JSON shape for every error the HTTP API sends: ``{"code", "message", "field", "hint"}``.

``code`` is stable and meant for programs (``INVALID_INPUT``, ``ORDER_NOT_FOUND``, ``UNAUTHORIZED`` …), ``message``
for people, ``field`` names the input that was wrong (None when no one input was), ``hint`` says what to do (or
what is allowed). The exception handlers installed by :func:`install_error_handlers` give the OMS's own errors,
FastAPI's request validation (422) and Starlette's HTTP errors (404, 405 …) this shape; whatever else escapes a
route becomes a 500 with a generic message (see :mod:`oms_kit.service.guard`), never a stack trace.

A well-formed order that breaks a rule is not an error: it is recorded and returned REJECTED with its violations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from oms_kit.errors import (
    ConfigError,
    DataError,
    InvalidOrderError,
    InvalidTransition,
    OmsError,
    PersistenceUnavailable,
    ReconciliationPending,
    StoreError,
)
from oms_kit.orders import OrderModifyRejected
from oms_kit.service.encode import OmsJSONResponse

INVALID_INPUT = "INVALID_INPUT"
MAX_MESSAGE = 2000  # characters: a message quotes what was given, and a body may hold 64 KiB of it

# Errors that name the field that was wrong (the OmsError subclasses with ``field``, ``value`` and ``allowed``).
FIELD_ERRORS = (InvalidOrderError, ConfigError, DataError)

_STATUS_CODES = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
                 405: "METHOD_NOT_ALLOWED", 406: "NOT_ACCEPTABLE", 409: "CONFLICT", 413: "PAYLOAD_TOO_LARGE",
                 415: "UNSUPPORTED_MEDIA_TYPE", 422: INVALID_INPUT, 429: "TOO_MANY_REQUESTS",
                 500: "INTERNAL_ERROR", 503: "UNAVAILABLE"}
_BODY_UNREADABLE = "There was an error parsing the body"  # FastAPI's 400 for a body json.loads cannot take


class ApiError(Exception):
    """An error a route raises on purpose: the HTTP status and the four fields of the error shape."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.hint = hint


def error_body(code: str, message: str, field: str | None = None, hint: str | None = None) -> dict[str, Any]:
    """The error shape as a dict (long messages cut, so a hostile value is not echoed whole)."""
    return {"code": code, "message": _cut(message), "field": field, "hint": None if hint is None else _cut(hint)}


def error_response(status: int, code: str, message: str, field: str | None = None, hint: str | None = None,
                   headers: dict[str, str] | None = None) -> Response:
    """A JSON response of the error shape."""
    return OmsJSONResponse(error_body(code, message, field, hint), status_code=status, headers=headers)


def oms_error(exc: OmsError) -> tuple[int, dict[str, Any]]:
    """The HTTP status and error body of an OMS exception.

    Input that names a field (InvalidOrderError, ConfigError, DataError) is a 422; a modify that broke a rule or a
    request the OMS refuses in its current state (an order that already ended, a reset while the loss is in breach,
    a closed or read-only OMS) is a 409, ``RECONCILIATION_PENDING`` while trading waits for a reconciliation to be
    accepted; an unreachable database is a 503.
    """
    message = exc.message if not exc.detail else f"{exc.message} ({exc.detail})"
    if isinstance(exc, FIELD_ERRORS):
        hint = exc.hint or f"allowed: {exc.allowed}"
        return 422, error_body(INVALID_INPUT, message, exc.field, hint)
    if isinstance(exc, OrderModifyRejected):
        codes = ", ".join(v.code for v in exc.violations)
        return 409, error_body("MODIFY_REJECTED", message, None, exc.hint or f"violations: {codes}")
    if isinstance(exc, PersistenceUnavailable):
        return 503, error_body("PERSISTENCE_UNAVAILABLE", message, None, exc.hint)
    if isinstance(exc, StoreError):
        return 503, error_body("STORE_ERROR", message, None, exc.hint)
    if isinstance(exc, InvalidTransition):
        return 409, error_body("INVALID_TRANSITION", message, None, exc.hint)
    if isinstance(exc, ReconciliationPending):  # a bot must tell this halt from others: a person has to act
        return 409, error_body(exc.code, message, None, exc.hint)
    return 409, error_body("REFUSED", message, None, exc.hint)


def validation_error(errors: Sequence[Any]) -> dict[str, Any]:
    """The error body of FastAPI's request validation errors: the first one, its location as the field."""
    if not errors:
        return error_body(INVALID_INPUT, "invalid request", "body")
    first = errors[0]
    location = [str(part) for part in first.get("loc", ()) if not isinstance(part, int)]
    # The first part says where (body, query, path, header); the rest is the field. A body that is not an object
    # (or not JSON) has no further part: the field is the body itself.
    where = location[0] if location else "body"
    field = ".".join(location[1:]) or where
    kind = first.get("type", "")
    text = str(first.get("msg", "invalid value"))
    text = text.removeprefix("Value error, ")
    if kind == "missing":
        message = f"missing {field}: it is required"
    elif kind == "extra_forbidden":
        message = f"unexpected field {field}: this request has no such field"
    elif field == where and kind in ("model_attributes_type", "dict_type", "model_type"):
        message = f"invalid {where}: a JSON object is expected"
    elif kind == "json_invalid":
        error = (first.get("ctx") or {}).get("error", "")
        message = f"invalid body: not JSON ({error})" if error else "invalid body: not JSON"
    else:
        message = f"invalid {field}: {text}"
    more = len(errors) - 1
    hint = f"{more} more error{'s' if more > 1 else ''} after this one" if more else None
    return error_body(INVALID_INPUT, message, field, hint)


def install_error_handlers(app: FastAPI) -> None:
    """Give every error a route raises the error shape: OMS errors, ApiError, request validation and HTTP errors."""

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.code, exc.message, exc.field, exc.hint)

    async def on_oms_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OmsError)
        status, body = oms_error(exc)
        return OmsJSONResponse(body, status_code=status)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return OmsJSONResponse(validation_error(exc.errors()), status_code=422)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 400 and exc.detail == _BODY_UNREADABLE:  # not UTF-8, or nested too deep to parse
            return error_response(422, INVALID_INPUT, "invalid body: not readable as JSON", "body",
                                  "send a JSON object encoded in UTF-8")
        code = _STATUS_CODES.get(exc.status_code, "HTTP_ERROR")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ").lower()
        if exc.status_code == 404:
            message = f"no such route: {request.method} {request.url.path}"
        return error_response(exc.status_code, code, message, headers=dict(exc.headers or {}) or None)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(OmsError, on_oms_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_error)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "…"
