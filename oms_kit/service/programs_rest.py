"""Order programs over the REST API (:mod:`oms_kit.programs`: brackets, cover orders, trailing stop-losses,
icebergs), under ``/api/oms`` beside the orders:

* ``POST /programs``: a program of ``kind`` bracket, cover, trailing or iceberg, placed by the OMS's own method
  (``place_bracket``, ``place_cover``, ``place_trailing_stop``, ``place_iceberg``) with the fields that method takes;
  201 with the program (200 with the one placed earlier for a repeated ``client_order_id``: a safe retry).
* ``GET /programs`` (``?status=`` active, complete, cancelled or rejected), ``GET /programs/{program_id}``.
* ``DELETE /programs/{program_id}``: ``cancel_program``, its working orders cancelled.

A program is answered as the JSON of :meth:`~oms_kit.programs.Program.to_dict` (the columns of ``oms.programs()``)
with ``request`` (``Program.request``'s fields), so a client can rebuild the Program. The program's orders are orders
like any other (``GET /orders``). Errors have the API's one shape: malformed input (a field of another kind
included) is a 422 naming the field with nothing placed, an unknown program a 404 ``PROGRAM_NOT_FOUND``, a cancel of
a program no longer active a 409 ``REFUSED``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from oms_kit.errors import InvalidOrderError
from oms_kit.orders import MAX_REASON
from oms_kit.programs import (
    ACTIVE,
    BRACKET,
    CANCELLED,
    COMPLETE,
    COVER,
    ICEBERG,
    KINDS,
    REJECTED,
    TRAILING,
    Program,
    ProgramNotFound,
)
from oms_kit.service.encode import OmsJSONResponse
from oms_kit.service.errors import ApiError
from oms_kit.service.models import ErrorOut, ProgramIn, ProgramOut
from oms_kit.service.rest import ERRORS, PREFIX, oms_of

if TYPE_CHECKING:  # the OMS may import this package to serve itself
    from oms_kit.oms import OMS

__all__ = ["KIND_FIELDS", "STATUSES", "program_json", "router"]

STATUSES = (ACTIVE, COMPLETE, CANCELLED, REJECTED)
# The fields each kind takes beyond symbol, side, quantity, product, client_order_id and tag: the keyword arguments
# of its OMS method. Those a kind requires are passed even when missing, so the OMS names them.
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    BRACKET: ("order_type", "price", "target", "stoploss", "trail", "trail_percent", "validity"),
    COVER: ("order_type", "price", "stoploss", "trail", "trail_percent"),
    TRAILING: ("trail", "trail_percent"),
    ICEBERG: ("order_type", "price", "legs", "validity"),
}
_REQUIRED = {BRACKET: ("target", "stoploss"), COVER: ("stoploss",), TRAILING: (), ICEBERG: ("legs",)}
_OPTIONAL = ("target", "stoploss", "trail", "trail_percent", "legs", "order_type", "price", "validity")
_PROGRAM_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS, 404: {"model": ErrorOut, "description": "no order program with this id"},
    409: {"model": ErrorOut, "description": "the program is no longer active, or the OMS refuses writes"},
}

router = APIRouter(prefix=PREFIX, tags=["programs"], responses=ERRORS)


def program_json(program: Program) -> dict[str, Any]:
    """A program as the API sends it: :meth:`Program.to_dict` and ``request`` (``Program.request``'s fields)."""
    return {**program.to_dict(), "request": program.request.to_dict()}


async def start_program(oms: OMS, body: ProgramIn) -> Program:
    """Place the program ``body`` asks for with the OMS's method of its kind; InvalidOrderError naming the field
    for a kind not offered or a field the kind does not take (nothing placed then)."""
    kind = body.kind
    if kind not in KIND_FIELDS:
        raise InvalidOrderError("kind", kind, " or ".join(repr(k) for k in KINDS))
    taken = KIND_FIELDS[kind]
    given = {name: getattr(body, name) for name in _OPTIONAL if getattr(body, name) is not None}
    for name, value in given.items():
        if name not in taken:
            raise InvalidOrderError(name, value, f"none for a {kind} program: it takes {', '.join(taken)}")
    arguments = {name: None for name in _REQUIRED[kind]} | given
    method = {BRACKET: oms.place_bracket, COVER: oms.place_cover, TRAILING: oms.place_trailing_stop,
              ICEBERG: oms.place_iceberg}[kind]
    return await method(body.symbol, body.side, body.quantity, product=body.product,  # type: ignore[operator]
                        client_order_id=body.client_order_id, tag=body.tag, **arguments)


def find_program(oms: OMS, program_id: str) -> Program:
    """The program with this id; a 404 PROGRAM_NOT_FOUND naming ``program_id`` when the account has none."""
    try:
        return oms.get_program(program_id)
    except ProgramNotFound as exc:
        raise ApiError(404, "PROGRAM_NOT_FOUND", exc.message, field="program_id", hint=exc.hint) from None


def _json(content: Any, status: int = 200) -> Response:
    return OmsJSONResponse(content, status_code=status)


_PLACE_ANSWERS: dict[int | str, dict[str, Any]] = {
    **ERRORS, 200: {"model": ProgramOut, "description": "a retry: the program placed with this client_order_id"},
    409: {"model": ErrorOut, "description": "the OMS refuses writes (closed, or read-only)"},
}


@router.post("/programs", response_model=ProgramOut, status_code=201, summary="Place an order program",
             responses=_PLACE_ANSWERS)
async def place_program(request: Request, body: ProgramIn) -> Response:
    """Place a bracket, cover order, trailing stop-loss or iceberg (``OMS.place_bracket``, ``place_cover``,
    ``place_trailing_stop``, ``place_iceberg``): 201 with the program and the ids of the orders placed so far.
    Its first order passes every pre-trade check; one a rule rejects ends the program ``rejected`` with the reason
    (still 201). 200 with the program placed earlier when ``client_order_id`` repeats it (a safe retry). 422 naming
    the field for malformed input, a field the kind does not take or a ``client_order_id`` of another order:
    nothing placed."""
    oms = oms_of(request)
    made = len(oms.manager.programs.book.programs)
    program = await start_program(oms, body)
    return _json(program_json(program), 201 if len(oms.manager.programs.book.programs) > made else 200)


@router.get("/programs", response_model=list[ProgramOut], summary="Order programs")
async def programs(request: Request, status: str | None = Query(
        None, description="active, complete, cancelled or rejected; every program when not given")) -> Response:
    """The order programs, oldest first (``OMS.programs``), of ``status`` when given."""
    if status is not None and status not in STATUSES:
        raise InvalidOrderError("status", status, ", ".join(STATUSES))
    oms = oms_of(request)
    frame = oms.programs(status)
    return _json([program_json(oms.get_program(program_id)) for program_id in frame["program_id"]])


@router.get("/programs/{program_id}", response_model=ProgramOut, responses=_PROGRAM_ERRORS,
            summary="One order program")
async def get_program(request: Request, program_id: str) -> Response:
    """The program with this id (``OMS.get_program``); 404 when the account has none."""
    return _json(program_json(find_program(oms_of(request), program_id)))


@router.delete("/programs/{program_id}", response_model=ProgramOut, responses=_PROGRAM_ERRORS,
               summary="Cancel an order program")
async def cancel_program(request: Request, program_id: str,
                         reason: str = Query("cancelled by user", description="kept as the program's reason",
                                             max_length=MAX_REASON)) -> Response:
    """End an active program (``OMS.cancel_program``): its working orders are cancelled, the positions its fills
    made stay. 409 REFUSED for a program no longer active."""
    oms = oms_of(request)
    program = find_program(oms, program_id)
    return _json(program_json(await oms.cancel_program(program.program_id, reason)))
