"""The API's errors as the OMS's own exceptions, so code written against the in-process OMS catches the same ones.

The API sends every error as ``{"code", "message", "field", "hint"}`` with an HTTP status; :func:`error_of` turns
it back into the exception the OMS raised:

- 422 ``INVALID_INPUT`` naming a field: :class:`~oms_kit.errors.InvalidOrderError`, or
  :class:`~oms_kit.errors.ConfigError` for the filters ``since``, ``until`` and ``limit`` of ``orders()`` and
  ``trades()`` and the event stream's ``types``, ``heartbeat`` and ``queue``; with ``field``, the ``value`` the
  caller gave for it when known, and ``allowed``;
- 404: :class:`~oms_kit.errors.OmsError` (no such order), :class:`~oms_kit.programs.ProgramNotFound` for
  ``PROGRAM_NOT_FOUND``;
- 409 ``MODIFY_REJECTED``: :class:`~oms_kit.orders.OrderModifyRejected` with its violations' codes and messages;
  ``INVALID_TRANSITION``: :class:`~oms_kit.errors.InvalidTransition`; ``RECONCILIATION_PENDING``:
  :class:`~oms_kit.errors.ReconciliationPending`; ``REFUSED`` (and ``NO_LIVE_BROKER``): OmsError;
- 503: :class:`~oms_kit.errors.PersistenceUnavailable` or :class:`~oms_kit.errors.StoreError`;
- anything else (no token, a wrong one, the read-only token asked to trade, a body too large, a server error) and
  a server that cannot be reached: :class:`RemoteError`, an OmsError with the status and code.

The exception's ``message`` is the server's, word for word.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from oms_kit.errors import (
    ConfigError,
    InvalidOrderError,
    InvalidTransition,
    OmsError,
    PersistenceUnavailable,
    ReconciliationPending,
    StoreError,
)
from oms_kit.models import Violation
from oms_kit.orders import OrderModifyRejected
from oms_kit.programs import ProgramNotFound

__all__ = ["CONFIG_FIELDS", "EventStreamClosed", "EventStreamLagged", "RemoteError", "error_of"]

CONFIG_FIELDS = frozenset({"since", "until", "limit", "types", "heartbeat", "queue"})  # raised as ConfigError
_VIOLATION = re.compile(r"(?:^|; )([A-Z][A-Z0-9_]*): ")
_TRANSITION = re.compile(r"order (?P<order_id>\S+): event (?P<event>\S+) is not allowed in status (?P<status>\S+)")
_ALLOWED_EVENTS = "allowed events in this status: "


class RemoteError(OmsError):
    """The server answered with an error the OMS itself has no exception for (no token or a wrong one, the
    read-only token asked to trade, a body too large, a server error), or could not be reached.

    Attributes
    ----------
    status : the HTTP status (None when there was no answer).
    code : the error's code (``UNAUTHORIZED``, ``FORBIDDEN``, ``READ_ONLY_TOKEN``, ``UNREACHABLE`` …).
    field : the input the server named, or None.
    """

    def __init__(self, message: str, *, status: int | None = None, code: str = "REMOTE_ERROR",
                 field: str | None = None, hint: str | None = None, detail: str | None = None) -> None:
        super().__init__(message, hint=hint, detail=detail)
        self.status = status
        self.code = code
        self.field = field


class EventStreamClosed(RemoteError):
    """The server closed the event stream (it stopped, or the connection broke): ``status`` is the WebSocket close
    code, ``detail`` its reason. Reconnect with ``remote.events()``."""


class EventStreamLagged(EventStreamClosed):
    """The event stream fell so far behind that the server closed it (close code 4001): the events up to here
    arrived in order and without a gap, the later ones will not. Read the state again (``orders()``,
    ``positions()``) and reconnect, and read the stream faster (or ask for a larger ``queue``)."""


def _error_fields(body: Any) -> tuple[str, str, str | None, str | None]:
    if not isinstance(body, Mapping):
        return "HTTP_ERROR", "the server answered without the error shape", None, None
    code, message, field, hint = (body.get(k) for k in ("code", "message", "field", "hint"))
    return (code if isinstance(code, str) else "HTTP_ERROR", message if isinstance(message, str) else str(body),
            field if isinstance(field, str) else None, hint if isinstance(hint, str) else None)


def _with_message(error: OmsError, message: str) -> OmsError:
    # The server's words, so the remote error reads like the in-process one (which the server quoted).
    error.message = message
    error.args = (message,)
    return error


def error_of(status: int, body: Any, given: Mapping[str, Any] | None = None, order_id: str | None = None
             ) -> OmsError:
    """The exception for an error answer: ``status`` and the JSON ``body``; ``given`` maps field names to what the
    caller passed (the ``value`` of an InvalidOrderError), ``order_id`` is the order the call was about."""
    code, message, field, hint = _error_fields(body)
    if status == 422 and code == "INVALID_INPUT":
        allowed = message.split("; allowed: ", 1)[1] if "; allowed: " in message else (hint or "see the message")
        if hint is not None and hint == f"allowed: {allowed}":
            hint = None  # the server's stand-in for an error without a hint
        kind = ConfigError if field in CONFIG_FIELDS else InvalidOrderError
        value = (given or {}).get(field) if field else None
        return _with_message(kind(field or "body", value, allowed, hint=hint), message)
    if status == 404:
        return (ProgramNotFound if code == "PROGRAM_NOT_FOUND" else OmsError)(message, hint=hint)
    if status == 409:
        if code == "MODIFY_REJECTED" and order_id is not None:
            return _with_message(OrderModifyRejected(order_id, _violations(message, order_id)), message)
        if code == "INVALID_TRANSITION" and (found := _TRANSITION.search(message)):
            allowed_events = (hint or "").removeprefix(_ALLOWED_EVENTS)
            events = [] if allowed_events.startswith("none") else [e for e in allowed_events.split(", ") if e]
            return _with_message(InvalidTransition(found["order_id"], found["status"], found["event"], events),
                                 message)
        if code == ReconciliationPending.code:  # a bot tells this halt from others: a person has to act
            return ReconciliationPending(message, hint=hint)
        return OmsError(message, hint=hint)
    if status == 503:
        kind_503 = PersistenceUnavailable if code == "PERSISTENCE_UNAVAILABLE" else StoreError
        return kind_503(message, hint=hint)
    return RemoteError(message, status=status, code=code, field=field, hint=hint)


def _violations(message: str, order_id: str) -> list[Violation]:
    # "cannot modify order O-1: CODE: text; CODE: text" (the in-process message, quoted by the server).
    text = message.removeprefix(f"cannot modify order {order_id}: ")
    parts = _VIOLATION.split(text)  # ["", CODE, text, CODE, text, ...]
    return [Violation(parts[i], parts[i + 1]) for i in range(1, len(parts) - 1, 2)]
