"""Order programs of a served OMS (:mod:`oms_kit.programs`: brackets, cover orders, trailing stop-losses, icebergs)
over ``/api/oms/programs``: the OMS's methods with its signatures, returning its :class:`~oms_kit.programs.Program`
values and its ``programs()`` table.

A part of :class:`~oms_kit.client.remote.RemoteOMS` (it inherits these methods), as :mod:`oms_kit.standing` is of
the OMS. Arguments are checked here as the OMS checks them (the order's fields by
:class:`~oms_kit.request.OrderRequest`, the distances and the legs by the programs' own parsers), so malformed input
raises the same InvalidOrderError without a request; what needs the instrument (an unknown symbol, legs of whole
lots within the freeze quantity, a stop below 0) the server judges, and its error comes back as the OMS's. A program
placed again with the same ``client_order_id`` (a retry after a timeout) is the one placed then, not a second.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import pandas as pd

from oms_kit.client.decode import moment
from oms_kit.errors import InvalidOrderError
from oms_kit.models import OrderType, Validity
from oms_kit.orders import MAX_REASON
from oms_kit.parsing import parse_text
from oms_kit.programs import (
    ACTIVE,
    BRACKET,
    CANCELLED,
    COMPLETE,
    COVER,
    ICEBERG,
    MAX_LEGS,
    MIN_LEGS,
    REJECTED,
    TRAILING,
    Program,
    ProgramNotFound,
    parse_points,
    parse_trail,
    program_from_stored,
    programs_frame,
)
from oms_kit.request import OrderRequest

__all__ = ["RemotePrograms", "program_of"]

STATUSES = (ACTIVE, COMPLETE, CANCELLED, REJECTED)
_ENTRY_TYPES = (OrderType.MARKET, OrderType.LIMIT)
_SPEC = ("target", "stoploss", "trail", "trail_percent", "legs")
_STATE = ("entry_id", "target_id", "stop_id", "order_ids", "basis", "best", "entered", "entry_done", "exited",
          "legs_sent")
T = TypeVar("T")


def program_of(record: Mapping[str, Any]) -> Program:
    """A Program from the API's program JSON (the columns of ``programs()`` and ``request``)."""
    if not isinstance(record, Mapping) or not isinstance(record.get("request"), Mapping):
        raise TypeError("a program object with its request was expected")
    spec = {"request": dict(record["request"]), **{name: record[name] for name in _SPEC}}
    state = {name: record[name] for name in _STATE}
    if not isinstance(state["order_ids"], list) or not all(isinstance(i, str) for i in state["order_ids"]):
        raise TypeError("order_ids: a list of order ids was expected")
    created = moment(record["created_at"])
    if created is None:
        raise ValueError("created_at is required")
    return program_from_stored(record["program_id"], record["kind"], record["symbol"], record["status"], spec, state,
                               created, moment(record["updated_at"]), record["reason"])


def _programs(records: Any) -> list[Program]:
    if not isinstance(records, list):
        raise TypeError("a list of programs was expected")
    return [program_of(record) for record in records]


def _program_path(program_id: object) -> str:
    # An id that is no text, or no path segment ("", ".", ".."), names no program: the OMS's answer, without a call.
    if not isinstance(program_id, str) or program_id.strip(".") == "":
        raise ProgramNotFound(f"no order program {program_id!r} in this account", hint="oms.programs() lists them")
    return "/programs/" + quote(program_id.encode("utf-8", "surrogatepass"), safe="")


def _sent(value: Any) -> Any:
    # A value as JSON carries it: as given when JSON has it (so an error the server finds quotes it as the OMS
    # would), a Decimal as its exact text.
    if value is None or isinstance(value, int | float | str):
        return value
    return str(value) if isinstance(value, Decimal) else value


class RemotePrograms:
    """The order-program methods of :class:`~oms_kit.oms.OMS` over the REST API (see the module docstring)."""

    if TYPE_CHECKING:  # what RemoteOMS provides
        async def _call(self, method: str, path: str, *, body: dict[str, Any] | None = None,
                        params: dict[str, str] | None = None, given: dict[str, Any] | None = None,
                        order_id: str | None = None) -> Any: ...

        def _decode(self, function: Callable[..., T], *args: Any) -> T: ...

    async def place_bracket(self, symbol: str, side: str, quantity: int, order_type: str = "LIMIT",
                            price: float | Decimal | str | None = None, *, target: float | Decimal | str,
                            stoploss: float | Decimal | str, trail: float | Decimal | str | None = None,
                            trail_percent: float | Decimal | str | None = None, product: str = "MIS",
                            validity: str = "DAY", client_order_id: str | None = None,
                            tag: str | None = None) -> Program:
        """Place a bracket order (``POST /api/oms/programs``, as ``OMS.place_bracket``): an entry whose fills
        place a target LIMIT ``target`` points beyond the entry's first fill price and an SL-M ``stoploss`` points
        on the other side, one cancelling the other; ``trail``/``trail_percent`` make the stop trail. Returns the
        Program as it stood when placed (``get_program`` reads it again)."""
        request = OrderRequest(symbol, side, quantity, order_type, price, product=product, validity=validity,
                               client_order_id=client_order_id, tag=tag)
        _entry(request)
        parse_points(target, "target", True)
        parse_points(stoploss, "stoploss", True)
        parse_trail(trail, trail_percent, False)
        return await self._place(BRACKET, request, ("order_type", "price", "validity"), target=target,
                                 stoploss=stoploss, trail=trail, trail_percent=trail_percent)

    async def place_cover(self, symbol: str, side: str, quantity: int, order_type: str = "MARKET",
                          price: float | Decimal | str | None = None, *, stoploss: float | Decimal | str,
                          trail: float | Decimal | str | None = None,
                          trail_percent: float | Decimal | str | None = None, product: str = "MIS",
                          client_order_id: str | None = None, tag: str | None = None) -> Program:
        """Place a cover order (as ``OMS.place_cover``): an entry with a compulsory stop-loss ``stoploss`` points
        from its first fill price."""
        request = OrderRequest(symbol, side, quantity, order_type, price, product=product,
                               client_order_id=client_order_id, tag=tag)
        _entry(request)
        parse_points(stoploss, "stoploss", True)
        parse_trail(trail, trail_percent, False)
        return await self._place(COVER, request, ("order_type", "price"), stoploss=stoploss, trail=trail,
                                 trail_percent=trail_percent)

    async def place_trailing_stop(self, symbol: str, side: str, quantity: int, *,
                                  trail: float | Decimal | str | None = None,
                                  trail_percent: float | Decimal | str | None = None, product: str = "MIS",
                                  client_order_id: str | None = None, tag: str | None = None) -> Program:
        """Place a trailing stop-loss (as ``OMS.place_trailing_stop``): an SL-M of ``side`` ``trail`` points (or
        ``trail_percent`` per cent) from the server's last price, following the best price seen."""
        request = OrderRequest(symbol, side, quantity, "SL-M", trigger_price=1, product=product,
                               client_order_id=client_order_id, tag=tag)
        parse_trail(trail, trail_percent, True)
        return await self._place(TRAILING, request, (), trail=trail, trail_percent=trail_percent)

    async def place_iceberg(self, symbol: str, side: str, quantity: int, order_type: str = "LIMIT",
                            price: float | Decimal | str | None = None, *, legs: int, product: str = "MIS",
                            validity: str = "DAY", client_order_id: str | None = None,
                            tag: str | None = None) -> Program:
        """Place an iceberg order (as ``OMS.place_iceberg``): ``quantity`` as ``legs`` (2 to 50) orders of equal
        whole lots, the next placed when the one before has filled."""
        request = OrderRequest(symbol, side, quantity, order_type, price, product=product, validity=validity,
                               client_order_id=client_order_id, tag=tag)
        if isinstance(legs, bool) or not isinstance(legs, int) or not MIN_LEGS <= legs <= MAX_LEGS:
            raise InvalidOrderError("legs", legs, f"a whole number from {MIN_LEGS} to {MAX_LEGS}")
        if request.validity is Validity.IOC:
            raise InvalidOrderError("validity", "IOC", "DAY: an iceberg's legs wait for each other")
        return await self._place(ICEBERG, request, ("order_type", "price", "validity"), legs=legs)

    async def programs(self, status: str | None = None) -> pd.DataFrame:
        """The order programs (of ``status`` when given: active, complete, cancelled, rejected), oldest first, as
        the table of ``OMS.programs()``."""
        if status is not None and status not in STATUSES:
            raise InvalidOrderError("status", status, ", ".join(STATUSES))
        params = {} if status is None else {"status": status}
        records = await self._call("GET", "/programs", params=params, given={"status": status})
        return self._decode(lambda r: programs_frame(_programs(r)), records)

    async def get_program(self, program_id: str) -> Program:
        """The order program with this id; ProgramNotFound (an OmsError) when the account has none."""
        record = await self._call("GET", _program_path(program_id))
        return self._decode(program_of, record)

    async def cancel_program(self, program_id: str, reason: str = "cancelled by user") -> Program:
        """End an active order program: its working orders are cancelled; the positions its fills made stay.
        Raises ProgramNotFound, OmsError for a program no longer active."""
        path = _program_path(program_id)
        parse_text(reason, "reason", MAX_REASON)
        record = await self._call("DELETE", path, params={"reason": reason}, given={"reason": reason})
        return self._decode(program_of, record)

    async def _place(self, kind: str, request: OrderRequest, order_fields: tuple[str, ...],
                     **params: Any) -> Program:
        fields = request.to_dict()
        body: dict[str, Any] = {"kind": kind, **{name: fields[name] for name in (
            "symbol", "side", "quantity", "product", "client_order_id", "tag", *order_fields)}}
        body.update({name: _sent(value) for name, value in params.items() if value is not None})
        given = {"symbol": request.symbol, "quantity": request.quantity, **params}
        record = await self._call("POST", "/programs", body=body, given=given)
        return self._decode(program_of, record)


def _entry(request: OrderRequest) -> None:
    if request.order_type not in _ENTRY_TYPES:
        raise InvalidOrderError("order_type", str(request.order_type), "MARKET or LIMIT for the entry")
