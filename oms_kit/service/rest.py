"""The REST API under ``/api/oms``: the OMS's methods over HTTP, JSON in and out, with their semantics.

Every route reads the OMS of the app (``request.app.state.oms``) and answers with the OMS's values as JSON (see
:mod:`oms_kit.service.encode`); an error is one shape (see :mod:`oms_kit.service.errors`). A well-formed order that
breaks a rule is recorded and returned REJECTED with its violations (201), as ``OMS.place_order`` returns it;
malformed input is a 422 naming the field, and nothing is recorded. ``POST /orders/batch`` places several orders
in one request, each answered in its place as ``POST /orders`` answers it alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from oms_kit.errors import OmsError
from oms_kit.models import Order
from oms_kit.request import OrderRequest
from oms_kit.service.encode import OmsJSONResponse, frame_records
from oms_kit.service.errors import FIELD_ERRORS, ApiError, oms_error, validation_error
from oms_kit.service.lane import Lane, json_lane
from oms_kit.service.models import (
    AlertOut,
    BatchIn,
    CancelAllIn,
    ErrorOut,
    KillSwitchIn,
    ModifyIn,
    OrderIn,
    OrderOut,
    PositionOut,
    ResetIn,
    RiskSummaryOut,
    SquareOffIn,
    StatsOut,
    StatusOut,
    TradeOut,
    TradingStateOut,
    ValidateOut,
)
from oms_kit.tables import ORDER_COLUMNS

if TYPE_CHECKING:  # the OMS may import this package to serve itself
    from oms_kit.oms import OMS

PREFIX = "/api/oms"

# The error answers every route documents; the package's other routers (programs, reconciliation) add theirs to it.
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text} for code, text in (
        (401, "no token"), (403, "a wrong token, or the read-only token on a route that changes something"),
        (422, "malformed input: the field is named"))
}
_ORDER_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS, 404: {"model": ErrorOut, "description": "no order with this id"},
    409: {"model": ErrorOut, "description": "refused in the order's or the OMS's current state"},
}

router = APIRouter(prefix=PREFIX, tags=["oms"], responses=ERRORS)


def oms_of(request: Request) -> OMS:
    """The OMS the app serves."""
    return request.app.state.oms  # type: ignore[no-any-return]


def order_json(order: Order) -> dict[str, Any]:
    """An order as the API sends it: the columns of ``OMS.orders()``, its violations in full."""
    fields = order.to_dict()
    return {name: fields[name] for name in ORDER_COLUMNS}


def _json(content: Any, status: int = 200) -> Response:
    return OmsJSONResponse(content, status_code=status)


def _find(oms: OMS, order_id: str) -> Order:
    try:
        return oms.get_order(order_id)
    except FIELD_ERRORS:
        raise
    except OmsError as exc:
        raise ApiError(404, "ORDER_NOT_FOUND", exc.message, field="order_id", hint=exc.hint) from None


# -- orders ---------------------------------------------------------------------------------------------------------


@router.post("/orders", response_model=OrderOut, status_code=201, summary="Place an order", responses={
    **ERRORS, 200: {"model": OrderOut, "description": "a retry: the order placed earlier with this client_order_id"},
    503: {"model": ErrorOut, "description": "the database is unreachable: the order was refused, not sent"}})
async def place_order(request: Request, body: OrderIn) -> Response:
    """Place an order (``OMS.place_order``). 201 with the order, REJECTED with its violations when it breaks a
    rule; 200 with the order already placed when ``client_order_id`` repeats an earlier identical order (a safe
    retry); 422 naming the field for malformed input (nothing recorded); 503 while the database is unreachable."""
    oms = oms_of(request)
    order_request = body.request()
    known = None if order_request.client_order_id is None else oms.find_order(order_request.client_order_id)
    order = await oms.place_order(order_request)
    return _json(order_json(order), 200 if known is not None and known.order_id == order.order_id else 201)


@router.post("/orders/batch", response_model=list[OrderOut | ErrorOut], summary="Place several orders", responses={
    **ERRORS, 200: {"model": list[OrderOut | ErrorOut],
                     "description": "one item per order, in the order sent: the order, or the error in its place"},
    413: {"model": ErrorOut, "description": "a body larger than the door's bound for this route"}})
async def place_orders(request: Request, body: BatchIn) -> Response:
    """Place 1 to 100 orders in one request (``OMS.place_orders``), each the JSON of ``POST /orders``, in the order
    given, each on its own. 200 with a list of as many items in the same order, each what ``POST /orders`` answers
    for that order alone: the order (accepted, or REJECTED with its violations; a repeated ``client_order_id``
    returns the order placed earlier, in this batch or before), or an error of the one shape in its place
    (INVALID_INPUT naming the field for a malformed order, which records nothing and does not stop the others;
    PERSISTENCE_UNAVAILABLE while the database is unreachable). The orders are checked in turn, committed
    together, then sent to the broker. 422 naming ``orders`` for a batch that is not a list of 1 to 100."""
    oms = oms_of(request)
    items = [_order_request(item) for item in body.orders]
    requests = [item for item in items if type(item) is OrderRequest]
    results = iter(await oms.place_orders(requests) if requests else ())
    answers: list[dict[str, Any]] = []
    for item in items:
        if type(item) is not OrderRequest:
            answers.append(item)  # type: ignore[arg-type]
            continue
        result = next(results)
        answers.append(order_json(result) if isinstance(result, Order) else oms_error(result)[1])
    return _json(answers)


def _order_request(item: Any) -> OrderRequest | dict[str, Any]:
    # One item of a batch as POST /orders reads its body: the request, or the error body it would answer with
    # (its field named as there; "order" for an item that is not an object).
    try:
        return OrderIn.model_validate(item).request()
    except ValidationError as exc:
        return validation_error([{**e, "loc": ("order", *e["loc"])} for e in exc.errors(include_url=False)])
    except FIELD_ERRORS as exc:
        return oms_error(exc)[1]


# The hot routes of a bot, answered by the door when their body is well-formed (see oms_kit.service.lane): the
# router and the layers before it cost the server more than an order itself. The routes above answer the rest.
LANES: dict[tuple[str, str], Lane] = {("POST", PREFIX + "/orders"): json_lane(place_order),
                                      ("POST", PREFIX + "/orders/batch"): json_lane(place_orders)}
# Routes whose bodies may be larger than the door's bound for the others, by how many times: a batch holds up to
# MAX_BATCH orders of a few hundred bytes each, up to about 4 KiB for the longest texts with every character
# escaped, so 100 of those pass the door's default 64 KiB times 8.
BODY_FACTORS: dict[tuple[str, str], int] = {("POST", PREFIX + "/orders/batch"): 8}


@router.get("/orders/active", response_model=list[OrderOut], summary="Working orders")
async def active_orders(request: Request) -> Response:
    """The working orders (open, partly filled, waiting for a trigger), oldest first (``OMS.active_orders``)."""
    oms = oms_of(request)
    return _json(_orders(oms, frame_records(oms.active_orders())))


@router.get("/orders", response_model=list[OrderOut], summary="Orders, filtered")
async def orders(request: Request, symbol: str | None = None, status: str | None = None, side: str | None = None,
                 since: str | None = Query(None, description="ISO 8601; naive times are exchange-local"),
                 until: str | None = Query(None, description="ISO 8601; naive times are exchange-local"),
                 limit: int | None = Query(None, description="the newest this many")) -> Response:
    """Orders in the order they were placed, newest last, with the filters of ``OMS.orders()``: the trading day
    from memory, and older ones from the store when ``since``/``until`` reach back before it."""
    oms = oms_of(request)
    frame = oms.orders(symbol=symbol, status=status, side=side, since=since, until=until, limit=limit)
    return _json(_orders(oms, frame_records(frame)))


@router.get("/orders/{order_id}", response_model=OrderOut, responses=_ORDER_ERRORS, summary="One order")
async def get_order(request: Request, order_id: str) -> Response:
    """The order with this id, of any day (``OMS.get_order``); 404 when the account has none."""
    return _json(order_json(_find(oms_of(request), order_id)))


@router.patch("/orders/{order_id}", response_model=OrderOut, responses=_ORDER_ERRORS, summary="Modify an order")
async def modify_order(request: Request, order_id: str, body: ModifyIn) -> Response:
    """Change a working order's quantity, price, trigger or disclosed quantity (``OMS.modify_order``). 409
    MODIFY_REJECTED when a rule forbids the change (the order keeps its values), 409 REFUSED when the order is no
    longer working."""
    oms = oms_of(request)
    _find(oms, order_id)
    order = await oms.modify_order(order_id, body.quantity, body.price, body.trigger_price,
                                   disclosed_quantity=body.disclosed_quantity)
    return _json(order_json(order))


@router.delete("/orders/{order_id}", response_model=OrderOut, responses=_ORDER_ERRORS, summary="Cancel an order")
async def cancel_order(request: Request, order_id: str,
                       reason: str = Query("cancelled by user", description="kept in the order's history")
                       ) -> Response:
    """Cancel a working order (``OMS.cancel_order``); 409 when it is no longer working."""
    oms = oms_of(request)
    _find(oms, order_id)
    return _json(order_json(await oms.cancel_order(order_id, reason)))


@router.post("/orders/cancel-all", response_model=list[OrderOut], summary="Cancel every working order")
async def cancel_all(request: Request, body: Annotated[CancelAllIn | None, Body()] = None) -> Response:
    """Cancel every working order, or those of ``symbol`` (``OMS.cancel_all``); the orders cancelled."""
    body = body or CancelAllIn()
    cancelled = await oms_of(request).cancel_all(body.symbol, body.reason)
    return _json([order_json(o) for o in cancelled])


@router.post("/orders/validate", response_model=ValidateOut, summary="Dry run of an order")
async def validate(request: Request, body: OrderIn) -> Response:
    """Every pre-trade check on this order as if placed now, with pass/fail, value, limit and headroom
    (``OMS.validate``). Nothing is recorded."""
    checks = frame_records(oms_of(request).validate(body.request()))
    return _json({"passed": all(c["passed"] for c in checks), "checks": checks})


# -- positions and trades -------------------------------------------------------------------------------------------


@router.get("/positions", response_model=list[PositionOut], summary="Positions of the day")
async def positions(request: Request) -> Response:
    """Every position of the day, flat ones included with their realized P&L (``OMS.positions``)."""
    return _json(frame_records(oms_of(request).positions()))


@router.post("/positions/square-off", response_model=list[OrderOut], summary="Close positions")
async def square_off(request: Request, body: Annotated[SquareOffIn | None, Body()] = None) -> Response:
    """Cancel working orders and close open positions (of ``symbol`` when given) with market orders
    (``OMS.square_off``); the closing orders."""
    body = body or SquareOffIn()
    return _json([order_json(o) for o in await oms_of(request).square_off(body.symbol, body.reason)])


@router.get("/trades", response_model=list[TradeOut], summary="Fills")
async def trades(request: Request, symbol: str | None = None,
                 since: str | None = Query(None, description="ISO 8601; naive times are exchange-local"),
                 until: str | None = Query(None, description="ISO 8601; naive times are exchange-local"),
                 limit: int | None = Query(None, description="the newest this many")) -> Response:
    """Fills, oldest first, fees per fill (``OMS.trades``), with its filters."""
    return _json(frame_records(oms_of(request).trades(symbol=symbol, since=since, until=until, limit=limit)))


# -- risk -----------------------------------------------------------------------------------------------------------


@router.get("/risk/summary", response_model=RiskSummaryOut, summary="Risk summary")
async def risk_summary(request: Request) -> Response:
    """Trading state, P&L, exposure, each limit in use and the session's alerts (``OMS.risk_summary``)."""
    return _json(oms_of(request).risk_summary())


@router.get("/risk/alerts", response_model=list[AlertOut], summary="Risk alerts")
async def risk_alerts(request: Request) -> Response:
    """The risk alerts raised in this session (``OMS.risk_alerts``)."""
    return _json(frame_records(oms_of(request).risk_alerts()))


@router.post("/risk/kill-switch", response_model=TradingStateOut, summary="Kill switch")
async def kill_switch(request: Request, body: KillSwitchIn) -> Response:
    """Halt trading at once: new orders and modifies are rejected, every working order is cancelled, and with
    ``flatten`` every position is squared off (``OMS.kill_switch``). Persisted."""
    oms = oms_of(request)
    orders = await oms.kill_switch(body.reason, flatten=body.flatten)
    return _json({"trading_state": oms.trading_state, "orders": [order_json(o) for o in orders]})


@router.post("/risk/reset", response_model=TradingStateOut, responses=_ORDER_ERRORS, summary="Lift the kill switch")
async def reset_kill_switch(request: Request, body: ResetIn) -> Response:
    """Trading state back to ACTIVE (``OMS.reset_kill_switch``); 409 while the daily loss is still in breach."""
    oms = oms_of(request)
    await oms.reset_kill_switch(body.reason)
    return _json({"trading_state": oms.trading_state, "orders": []})


# -- the day and the OMS --------------------------------------------------------------------------------------------


@router.get("/stats/today", response_model=StatsOut, summary="Today's figures")
async def stats_today(request: Request) -> Response:
    """Orders by how they ended, trades, turnover, fees, P&L and win rate of the trading day (``OMS.stats_today``)."""
    return _json(oms_of(request).stats_today())


@router.get("/status", response_model=StatusOut, summary="Status of the OMS")
async def status(request: Request) -> Response:
    """Backend, broker, feed, trading state, background tasks and writes (``OMS.status``); the database URL without
    its password."""
    return _json(oms_of(request).status())


def _orders(oms: OMS, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # A table row holds only the violations' codes; the API sends them whole, as for one order.
    for record in records:
        record["violations"] = ([v.to_dict() for v in oms.get_order(record["order_id"]).violations]
                                if record["violations"] else [])
    return records
