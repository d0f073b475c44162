"""Errors raised by oms_kit.

Exceptions are for misuse and broken I/O. A well-formed order that breaks a risk rule is not an exception: it is
recorded as REJECTED with its violations (see :mod:`oms_kit.validator`).
"""

from __future__ import annotations

from collections.abc import Iterable


class OmsError(Exception):
    """Base class of every oms_kit error: a message, an optional detail and a hint on what to do."""

    def __init__(self, message: str, *, detail: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.hint = hint

    def __reduce__(self) -> tuple[object, ...]:
        # Rebuilt without __init__ (subclasses take other arguments), so an error raised in a worker process (a
        # sweep's backtest) reaches the caller whole.
        return _restore, (type(self), self.args, self.__dict__)

    def __str__(self) -> str:
        text = self.message
        if self.detail:
            text += f"\n  detail: {self.detail}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class _InvalidInput(OmsError, ValueError):
    """Input refused at the door: ``field``, ``value`` and ``allowed`` say what was wrong and what would have been
    accepted. A ``ValueError`` too, so code that catches ValueError keeps working."""

    def __init__(
        self, field: str, value: object, allowed: str, *, hint: str | None = None, detail: str | None = None
    ) -> None:
        super().__init__(f"invalid {field}: {value!r} was given; allowed: {allowed}", detail=detail, hint=hint)
        self.field = field
        self.value = value
        self.allowed = allowed


class InvalidOrderError(_InvalidInput):
    """Malformed order input (symbol, side, quantity, prices, product, validity, ids, tag), refused at the door;
    nothing is recorded.

    ``field``, ``value`` and ``allowed`` say what was wrong and what would have been accepted.
    """


class DataError(_InvalidInput):
    """Market data that cannot be used: bars with a missing column, an unreadable, non-finite or impossible value
    (``high`` below ``low``, a price <= 0), duplicate bars; a data file or query that cannot be read.

    ``field`` names the column, ``value`` the first offending value, ``allowed`` what would have been accepted;
    ``detail`` says where the first offender is (row, timestamp, symbol) and how many rows are bad. ``row`` (the
    first bad row's position in the data as given) and ``count`` (how many rows are bad) are None when the error
    is not about rows (a missing column, an unreadable file).
    """

    def __init__(
        self,
        field: str,
        value: object,
        allowed: str,
        *,
        hint: str | None = None,
        detail: str | None = None,
        row: object = None,
        count: int | None = None,
    ) -> None:
        super().__init__(field, value, allowed, hint=hint, detail=detail)
        self.row = row
        self.count = count


class ConfigError(_InvalidInput):
    """A bad argument or setting: of ``OMS.open``, a backtest, a feed, risk limits, fees, a sweep and so on.

    ``field`` names the argument or setting, ``value`` what was given and ``allowed`` what would have been accepted.
    """


class InvalidTransition(OmsError):
    """An order event that the state machine does not allow in the order's current status."""

    def __init__(self, order_id: str, status: str, event: str, allowed: Iterable[str]) -> None:
        allowed_list = sorted(allowed)
        super().__init__(
            f"order {order_id}: event {event} is not allowed in status {status}",
            hint="allowed events in this status: " + (", ".join(allowed_list) or "none (terminal status)"),
        )
        self.order_id = order_id
        self.status = status
        self.event = event
        self.allowed = allowed_list


class StoreError(OmsError):
    """The database could not be opened, migrated or written."""


class PersistenceUnavailable(StoreError):
    """The durable store is unreachable; the OMS refuses new orders until it returns (fails closed)."""

    code = "PERSISTENCE_UNAVAILABLE"


class ReconciliationPending(OmsError):
    """Trading is halted because the broker's books differ from the OMS's (:mod:`oms_kit.reconcile`): new orders are
    refused until the differences are accepted (``oms.accept_reconciliation``) or resolved and reconciled again."""

    code = "RECONCILIATION_PENDING"


def _restore(cls: type[OmsError], args: tuple[object, ...], state: dict[str, object]) -> OmsError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error
