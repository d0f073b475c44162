"""The reconciliation of a served OMS with its live broker (:mod:`oms_kit.reconcile`) over
``/api/oms/reconciliation``: the OMS's ``reconcile``, ``accept_reconciliation`` and ``reconciliation``, returning its
:class:`~oms_kit.reconcile.Reconciliation` values (the same DataFrames of differences and adoptions).

A part of :class:`~oms_kit.client.remote.RemoteOMS` (it inherits these methods). ``reconciliation`` is a property of
the OMS; here it is a coroutine, as every read is a request. The arguments of ``accept_reconciliation`` are checked
here as the OMS checks them, so malformed ones raise the same InvalidOrderError or ConfigError without a request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd

from oms_kit.client.decode import moment, money
from oms_kit.errors import ConfigError
from oms_kit.orders import MAX_REASON
from oms_kit.parsing import parse_text
from oms_kit.reconcile import ADOPTED_COLUMNS, Reconciliation, differences_frame

__all__ = ["RemoteReconciliation", "reconciliation_of"]

T = TypeVar("T")


def reconciliation_of(record: Mapping[str, Any]) -> Reconciliation:
    """A Reconciliation from the API's JSON: its differences as the JSON gave their values (texts, numbers), the
    adoptions' prices as Decimal and their times as aware datetimes, as in the OMS."""
    ts = moment(record["ts"])
    if ts is None or not isinstance(record["trigger"], str):
        raise ValueError("a reconciliation has a time and a trigger")
    differences, adopted = record["differences"], record["adopted"]
    if not isinstance(differences, list) or not isinstance(adopted, list):
        raise TypeError("differences and adopted: lists of records were expected")
    rows = [{**row, "price": money(row.get("price")), "ts": moment(row.get("ts"))} for row in adopted]
    return Reconciliation(ts, record["trigger"], differences_frame(differences),
                          pd.DataFrame(rows, columns=ADOPTED_COLUMNS))


def _state(record: Any) -> Reconciliation | None:
    if not isinstance(record, Mapping) or "reconciliation" not in record:
        raise TypeError("the reconciliation's state was expected")
    last = record["reconciliation"]
    return None if last is None else reconciliation_of(last)


def _result(record: Any) -> Reconciliation:
    result = _state(record)
    if result is None:
        raise ValueError("the reconciliation made was expected")
    return result


class RemoteReconciliation:
    """The reconciliation methods of :class:`~oms_kit.oms.OMS` over the REST API (see the module docstring)."""

    if TYPE_CHECKING:  # what RemoteOMS provides
        async def _call(self, method: str, path: str, *, body: dict[str, Any] | None = None,
                        params: dict[str, str] | None = None, given: dict[str, Any] | None = None,
                        order_id: str | None = None) -> Any: ...

        def _decode(self, function: Callable[..., T], *args: Any) -> T: ...

    async def reconciliation(self) -> Reconciliation | None:
        """The served OMS's last reconciliation with its live broker (``OMS.reconciliation``; ``GET
        /api/oms/reconciliation``), None before one could be made (the broker out of reach at the open). Raises
        OmsError when the served OMS has no live broker (where the OMS's property is None: the server says so
        rather than answering nothing). Whether trading is halted for it is
        ``(await remote.status())["reconciliation"]["halted"]``."""
        return self._decode(_state, await self._call("GET", "/reconciliation"))

    async def reconcile(self) -> Reconciliation:
        """Reconcile the served OMS with its live broker now (``OMS.reconcile``; ``POST
        /api/oms/reconciliation/run``): a difference halts trading. Raises OmsError without a live broker or when
        the broker cannot be reached."""
        return self._decode(_result, await self._call("POST", "/reconciliation/run"))

    async def accept_reconciliation(self, reason: str, *, adopt: bool = True) -> Reconciliation:
        """Accept what differs from the broker now and resume trading (``OMS.accept_reconciliation``; ``POST
        /api/oms/reconciliation/accept``, which needs the full token): with ``adopt`` the broker's side is taken
        into the OMS, without it the differences are taken as they stand. Returns the reconciliation made
        afterwards. Raises InvalidOrderError naming ``reason`` or ConfigError naming ``adopt`` without a request,
        OmsError, changing nothing, when a difference cannot be adopted or there is no live broker."""
        parse_text(reason, "reason", MAX_REASON)
        if not isinstance(adopt, bool):
            raise ConfigError("adopt", adopt, "True (take the broker's side) or False (take the differences as they "
                              "stand)")
        given = {"reason": reason, "adopt": adopt}
        return self._decode(_result, await self._call("POST", "/reconciliation/accept", body=given, given=given))
