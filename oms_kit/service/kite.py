"""A Kite Connect–compatible API at Kite's own paths from the server's root, so that a bot written against Zerodha's
Kite Connect paper-trades this OMS, with every pre-trade check, by changing one URL::

    kite = KiteConnect(api_key=ACCOUNT, root="http://127.0.0.1:8050")
    kite.set_access_token(TOKEN)
    order_id = kite.place_order(variety="regular", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY",
                                quantity=1, product="CNC", order_type="MARKET")

Routes: ``POST /orders/{variety}`` (place), ``PUT``/``DELETE /orders/{variety}/{order_id}`` (modify, cancel),
``GET /orders``, ``/orders/{order_id}`` (its history), ``/orders/{order_id}/trades``, ``/trades``,
``/portfolio/positions``, ``/portfolio/holdings``, ``/user/margins[/{segment}]``, ``/user/profile``, ``/quote``,
``/quote/ohlc``, ``/quote/ltp``, ``/instruments[/{exchange}]`` (CSV), and GTTs: ``POST``/``GET /gtt/triggers``,
``GET``/``PUT``/``DELETE /gtt/triggers/{trigger_id}`` (forms and shapes in :mod:`~oms_kit.service.kite_gtt`).
The token is the server's: Kite's clients send ``Authorization: token ACCOUNT:TOKEN``, the api_key being the
served account.

Answers are Kite's envelopes, ``{"status": "success", "data": ...}``, and errors ``{"status": "error", "message",
"error_type", "data": null}`` with Kite's HTTP codes, so the official client raises its own exceptions: malformed
input is an InputException (400) and records nothing; an order a rule refuses is placed and comes back REJECTED with
its reasons in ``status_message``, as on Kite; a modify or cancel the order's state refuses is an OrderException
(400); an unreachable database a NetworkException (503); a missing or wrong token a TokenException (403), the
read-only token writing a PermissionException (403). ``regular`` and ``amo`` orders on NSE are taken, and cover
(``co``) and ``iceberg`` orders as the OMS's order programs (:mod:`~oms_kit.service.kite_programs`); ``auction``
and other exchanges are an InputException. Shapes are in :mod:`~oms_kit.service.kite_models`, forms
in :mod:`~oms_kit.service.kite_forms`, quotes in :mod:`~oms_kit.service.kite_quotes`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

import oms_kit.service.kite_programs as programs
from oms_kit.errors import OmsError, StoreError
from oms_kit.exposure import account_funds
from oms_kit.gtt import Gtt, GttNotFound
from oms_kit.models import Order, Product
from oms_kit.orders import OrderModifyRejected
from oms_kit.service.encode import OmsJSONResponse
from oms_kit.service.errors import FIELD_ERRORS
from oms_kit.service.kite_errors import GENERAL, INPUT, NETWORK, ORDER, KiteError, kite_error_body
from oms_kit.service.kite_forms import check_order_variety, kite_field, modify_values, order_request, read_form, shown
from oms_kit.service.kite_gtt import gtt_form, gtt_id_of, gtt_json, trigger_id_of
from oms_kit.service.kite_models import (
    EXCHANGE,
    KITE_STATUS,
    Funds,
    Universe,
    day_fills,
    history_json,
    holdings_json,
    instruments_csv,
    margins_json,
    order_json,
    positions_json,
    profile_json,
    trade_json,
    universe,
)
from oms_kit.service.kite_quotes import MAX_LTP, MAX_QUOTE, PriceBook, ltp_json, ohlc_json, quote_json, requested

if TYPE_CHECKING:  # the OMS may import this package to serve itself
    from oms_kit.oms import OMS

__all__ = ["router"]

CANCEL_REASON = "cancelled by user"
SEGMENTS = ("equity", "commodity")


# A frame's rows as dicts: pandas-stubs types their keys Hashable; these frames' columns are names (str).
_Records = list[dict[str, Any]]

def kite_response(data: Any) -> Response:
    """Kite's success envelope."""
    return OmsJSONResponse({"status": "success", "data": data})


def kite_error_response(error: KiteError) -> Response:
    """Kite's error envelope with its HTTP status."""
    return OmsJSONResponse(kite_error_body(error.error_type, error.message), status_code=error.status)


def kite_error_of(exc: Exception) -> KiteError | None:
    """The Kite error an exception of a route stands for; None for one no route raises on purpose (the door then
    answers a GeneralException 500 and logs it)."""
    if isinstance(exc, KiteError):
        return exc
    if isinstance(exc, FIELD_ERRORS):
        field = kite_field(exc)  # type: ignore[arg-type]
        value = str(exc.value) if isinstance(exc.value, str | Decimal) else repr(exc.value)
        hint = f" ({exc.hint})" if exc.hint else ""
        return KiteError(400, INPUT, f"invalid `{field}`: '{shown(value)}'; allowed: {exc.allowed}{hint}")
    if isinstance(exc, OrderModifyRejected):
        reasons = "; ".join(str(v) for v in exc.violations)
        return KiteError(400, ORDER, f"modify rejected: {reasons}; the order keeps its values")
    if isinstance(exc, StoreError):  # PersistenceUnavailable too
        return KiteError(503, NETWORK, exc.message + (f" ({exc.hint})" if exc.hint else ""))
    if isinstance(exc, OmsError):  # InvalidTransition, and a state that refuses the request
        return KiteError(400, ORDER, exc.message + (f" ({exc.hint})" if exc.hint else ""))
    if isinstance(exc, RequestValidationError):
        return KiteError(400, INPUT, "invalid request")
    if isinstance(exc, HTTPException):
        return KiteError(exc.status_code, INPUT if exc.status_code < 500 else GENERAL, str(exc.detail))
    return None


class KiteRoute(APIRoute):
    """A route that answers every error in Kite's shape: the app's own handlers would answer in the REST API's."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def kite_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                error = kite_error_of(exc)
                if error is None:
                    raise
                return kite_error_response(error)

        return kite_handler

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            allowed = ", ".join(sorted(self.methods))
            error = KiteError(405, INPUT, f"{scope['method']} is not allowed on {scope['path']}: {allowed}")
            await kite_error_response(error)(scope, receive, send)
            return
        await super().handle(scope, receive, send)


class KiteErrorOut(BaseModel):
    """Kite's error envelope: the official client raises the exception named by ``error_type``."""

    status: str = Field(examples=["error"])
    message: str
    error_type: str = Field(examples=["InputException", "OrderException", "TokenException", "PermissionException",
                                      "NetworkException", "GeneralException"])
    data: None = None


# Every 4xx and 5xx of these routes is Kite's envelope (the REST API's 422 shape is never sent here).
router = APIRouter(tags=["kite"], route_class=KiteRoute, responses={
    "4XX": {"model": KiteErrorOut, "description": "InputException (400), OrderException (400), TokenException and "
            "PermissionException (403), a route not offered (404)"},
    "5XX": {"model": KiteErrorOut, "description": "NetworkException (503): the database is unreachable"}})


def _oms(request: Request) -> OMS:
    return request.app.state.oms  # type: ignore[no-any-return]


def _world(oms: OMS) -> Universe:
    return universe(oms.manager.instruments)


def _prices(request: Request) -> PriceBook:
    # Started by the first request that needs it, and kept by the app (see kite_quotes).
    state = request.app.state
    book = getattr(state, "kite_prices", None)
    if book is None:
        oms = _oms(request)
        book = state.kite_prices = PriceBook(oms.subscribe, dict(oms.manager.prices), oms.clock.now())
    return book  # type: ignore[no-any-return]


def _today(oms: OMS) -> datetime | None:
    # When the exchange day began (None before the OMS noted one): Kite's books are the day's.
    return oms.manager.day.began


def _find(oms: OMS, order_id: str) -> Order:
    try:
        return oms.get_order(order_id)
    except FIELD_ERRORS:
        raise
    except StoreError:
        raise
    except OmsError:
        raise KiteError(400, INPUT, f"invalid `order_id`: no order '{shown(order_id)}' in account {oms.account}"
                        ) from None


def _tradable(oms: OMS, symbol: str, world: Universe) -> None:
    oms.instrument(symbol)  # InvalidOrderError naming the symbol, with the symbols allowed
    if symbol not in world.instruments:
        raise KiteError(400, INPUT, f"invalid `tradingsymbol`: '{shown(symbol)}' is not an NSE instrument")


# -- orders -----------------------------------------------------------------------------------------------------------


@router.post("/orders/{variety}", summary="Place an order (Kite)")
async def place_order(request: Request, variety: str) -> Response:
    """Kite's place_order: the order's id; a rule's rejection is an order REJECTED with its reasons."""
    oms = _oms(request)
    form = read_form(await request.body())
    if variety in programs.PROGRAM_VARIETIES:  # a cover or iceberg order: the first order of the program placed
        asked = programs.program_form(form, variety)
        _tradable(oms, asked.request.symbol, _world(oms))
        return kite_response({"order_id": (await programs.place_program(oms, asked)).order_ids[0]})
    order = order_request(form, variety)
    _tradable(oms, order.symbol, _world(oms))
    placed = await oms.place_order(order)
    return kite_response({"order_id": placed.order_id})


@router.put("/orders/{variety}/{order_id}", summary="Modify an order (Kite)")
async def modify_order(request: Request, variety: str, order_id: str) -> Response:
    """Kite's modify_order: a working order's quantity, price, trigger price or disclosed quantity."""
    oms = _oms(request)
    form = read_form(await request.body())
    order = _find(oms, order_id)
    values = modify_values(form, variety, order, programs.program_variety(oms, variety, order))
    await oms.modify_order(order.order_id, values.quantity, values.price, values.trigger_price,
                           disclosed_quantity=values.disclosed_quantity)
    return kite_response({"order_id": order.order_id})


@router.delete("/orders/{variety}/{order_id}", summary="Cancel an order (Kite)")
async def cancel_order(request: Request, variety: str, order_id: str) -> Response:
    """Kite's cancel_order."""
    oms = _oms(request)
    order = _find(oms, order_id)
    check_order_variety(variety, {}, order, programs.program_variety(oms, variety, order))
    await oms.cancel_order(order.order_id, CANCEL_REASON)
    return kite_response({"order_id": order.order_id})


@router.get("/orders", summary="The day's orders (Kite)")
async def orders(request: Request) -> Response:
    """Kite's orders: the day's orders and the working ones, oldest first."""
    oms = _oms(request)
    world, began, varieties = _world(oms), _today(oms), programs.kite_varieties(oms)
    chosen = []
    for order_id in oms.orders()["order_id"]:
        order = oms.get_order(order_id)
        if began is None or order.is_working or (order.created_at is not None and order.created_at >= began):
            chosen.append(order_json(order, world.token(order.symbol)) | varieties.get(order_id, {}))
    return kite_response(chosen)


@router.get("/orders/{order_id}", summary="An order's history (Kite)")
async def order_history(request: Request, order_id: str) -> Response:
    """Kite's order_history: each state the order went through, oldest first."""
    oms = _oms(request)
    order = _find(oms, order_id)
    await oms.flush()
    events = await oms.store.fetch(
        "SELECT sequence, ts, event_type, to_status, detail FROM order_events WHERE account = $1 AND order_id = $2 "
        "ORDER BY sequence", oms.account, order.order_id)
    variety = programs.kite_varieties(oms).get(order.order_id, {})
    return kite_response([e | variety for e in history_json(order, events, _world(oms).token(order.symbol))])


@router.get("/orders/{order_id}/trades", summary="An order's trades (Kite)")
async def order_trades(request: Request, order_id: str) -> Response:
    """Kite's order_trades: the fills of one order."""
    oms = _oms(request)
    order = _find(oms, order_id)
    world = _world(oms)
    frame = oms.trades(symbol=order.symbol, since=order.created_at)
    rows = cast(_Records, frame[frame["order_id"] == order.order_id].to_dict("records"))
    return kite_response([trade_json(r, world.token(r["symbol"])) for r in rows])


@router.get("/trades", summary="The day's trades (Kite)")
async def trades(request: Request) -> Response:
    """Kite's trades: the day's fills, oldest first."""
    oms = _oms(request)
    world = _world(oms)
    return kite_response([trade_json(r, world.token(r["symbol"])) for r in _day_trades(oms)])


def _day_trades(oms: OMS) -> list[dict[str, Any]]:
    began = _today(oms)
    rows = cast(_Records, oms.trades().to_dict("records"))
    return [r for r in rows if began is None or r["ts"] >= began]


# -- portfolio and funds ----------------------------------------------------------------------------------------------


def _positions(request: Request) -> dict[str, list[dict[str, Any]]]:
    oms = _oms(request)
    positions = cast(_Records, oms.positions().to_dict("records"))
    return positions_json(positions, day_fills(_day_trades(oms)), _world(oms), _prices(request).closes())


@router.get("/portfolio/positions", summary="Positions (Kite)")
async def positions(request: Request) -> Response:
    """Kite's positions: ``net`` (open and traded today) and ``day`` (today's fills)."""
    return kite_response(_positions(request))


@router.get("/portfolio/holdings", summary="Holdings (Kite)")
async def holdings(request: Request) -> Response:
    """Kite's holdings: the CNC quantity carried from earlier days."""
    return kite_response(holdings_json(_positions(request)["net"], _prices(request).closes()))


def _funds(oms: OMS) -> Funds:
    # The figures of the buying-power check (exposure.account_funds: equity less what equity positions and working
    # orders block, the F&O portfolio's margin and the option premium paid).
    manager = oms.manager
    ledger = manager.ledger
    delivery = sum((abs(p.market_value) for p in ledger.open_positions() if p.product is Product.CNC), Decimal(0))
    funds = account_funds(manager, oms.clock.now())
    equity = ledger.equity()
    return Funds(equity, equity - funds.available, delivery, ledger.realized_pnl(), ledger.unrealized_pnl(),
                 funds.fno_margin, funds.option_premium)


@router.get("/user/margins", summary="Funds and margins (Kite)")
async def margins(request: Request) -> Response:
    """Kite's margins: the ``equity`` segment; ``commodity`` is not traded (all zero)."""
    funds = _funds(_oms(request))
    return kite_response({"equity": margins_json(funds), "commodity": margins_json(None)})


@router.get("/user/margins/{segment}", summary="Funds and margins of a segment (Kite)")
async def segment_margins(request: Request, segment: str) -> Response:
    """Kite's margins of ``equity`` or ``commodity``."""
    if segment not in SEGMENTS:
        raise KiteError(400, INPUT, f"invalid `segment`: '{shown(segment)}'; allowed: equity, commodity")
    return kite_response(margins_json(_funds(_oms(request)) if segment == "equity" else None))


@router.get("/user/profile", summary="Profile (Kite)")
async def profile(request: Request) -> Response:
    """Kite's profile of the served account."""
    return kite_response(profile_json(_oms(request).account))


# -- market data ------------------------------------------------------------------------------------------------------


def _quoted(request: Request, most: int) -> list[tuple[str, str, Any]]:
    oms = _oms(request)
    world = _world(oms)
    found = requested(request.query_params.getlist("i"), world, most)
    return [(key, symbol, price) for key, symbol in found if (price := oms.last_price(symbol)) is not None]


@router.get("/quote/ltp", summary="Last prices (Kite)")
async def ltp(request: Request) -> Response:
    """Kite's ltp: ``i=NSE:INFY`` repeated; instruments unknown or without a price yet are left out."""
    world = _world(_oms(request))
    return kite_response({key: ltp_json(s, world, p) for key, s, p in _quoted(request, MAX_LTP)})


@router.get("/quote/ohlc", summary="Open, high, low, close (Kite)")
async def ohlc(request: Request) -> Response:
    """Kite's ohlc: the day's open, high and low and the previous close, with the last price."""
    world, book = _world(_oms(request)), _prices(request)
    return kite_response({key: ohlc_json(s, world, p, book) for key, s, p in _quoted(request, MAX_LTP)})


@router.get("/quote", summary="Quotes (Kite)")
async def quote(request: Request) -> Response:
    """Kite's quote: prices, the day's range and the circuit limits (the account's price collar)."""
    oms = _oms(request)
    world, book, now = _world(oms), _prices(request), oms.clock.now()
    return kite_response({key: quote_json(s, world, p, book, oms.manager.limits_for(s).price_collar_pct, now)
                          for key, s, p in _quoted(request, MAX_QUOTE)})


@router.get("/instruments", summary="Instrument list, CSV (Kite)")
async def instruments(request: Request) -> Response:
    """Kite's instrument list as CSV: the OMS's NSE equities."""
    oms = _oms(request)
    return _csv(instruments_csv(_world(oms), oms.manager.prices))


@router.get("/instruments/{exchange}", summary="Instrument list of an exchange, CSV (Kite)")
async def exchange_instruments(request: Request, exchange: str) -> Response:
    """Kite's instrument list of one exchange: NSE's, or none (the header only) for another."""
    oms = _oms(request)
    world = _world(oms) if exchange == EXCHANGE else universe({})
    return _csv(instruments_csv(world, oms.manager.prices))


def _csv(text: str) -> Response:
    return Response(text, media_type="text/csv; charset=utf-8")


# -- GTT --------------------------------------------------------------------------------------------------------------


def _gtt(oms: OMS, trigger_id: str) -> Gtt:
    try:
        return oms.get_gtt(gtt_id_of(trigger_id))
    except GttNotFound:
        raise KiteError(404, INPUT, f"invalid `trigger_id`: no GTT {shown(trigger_id)} in account {oms.account}"
                        ) from None


def _gtt_json(oms: OMS, gtt: Gtt, world: Universe) -> dict[str, Any]:
    statuses = {}
    for order_id in gtt.order_ids:
        try:
            statuses[order_id] = KITE_STATUS[oms.get_order(order_id).status]
        except OmsError:  # an order of an earlier session no longer in memory
            continue
    return gtt_json(gtt, oms.account, world.token(gtt.symbol), statuses)


@router.post("/gtt/triggers", summary="Place a GTT (Kite)")
async def place_gtt(request: Request) -> Response:
    """Kite's place_gtt: a ``single`` or ``two-leg`` GTT; answers its ``trigger_id``."""
    oms = _oms(request)
    asked = gtt_form(read_form(await request.body()))
    _tradable(oms, asked.symbol, _world(oms))
    gtt = await oms.place_gtt(asked.symbol, asked.triggers, list(asked.orders), kind=asked.kind,
                              last_price=asked.last_price)
    return kite_response({"trigger_id": trigger_id_of(gtt.gtt_id)})


@router.get("/gtt/triggers", summary="GTTs (Kite)")
async def gtts(request: Request) -> Response:
    """Kite's get_gtts: the account's GTTs, oldest first, whatever their status."""
    oms = _oms(request)
    world = _world(oms)
    chosen = [oms.get_gtt(gtt_id) for gtt_id in oms.gtts()["gtt_id"]]
    # Kite's ids are integers: every GTT the OMS numbers has one (G-7 is 7).
    return kite_response([_gtt_json(oms, g, world) for g in chosen if trigger_id_of(g.gtt_id) is not None])


@router.get("/gtt/triggers/{trigger_id}", summary="A GTT (Kite)")
async def gtt_info(request: Request, trigger_id: str) -> Response:
    """Kite's get_gtt."""
    oms = _oms(request)
    oms.gtts()  # a year-old GTT is shown expired
    return kite_response(_gtt_json(oms, _gtt(oms, trigger_id), _world(oms)))


@router.put("/gtt/triggers/{trigger_id}", summary="Modify a GTT (Kite)")
async def modify_gtt(request: Request, trigger_id: str) -> Response:
    """Kite's modify_gtt: an active GTT's trigger values and orders; its type and symbol cannot change."""
    oms = _oms(request)
    asked = gtt_form(read_form(await request.body()))
    gtt = _gtt(oms, trigger_id)
    if asked.kind != gtt.kind:
        raise KiteError(400, INPUT, f"invalid `type`: '{asked.kind}'; GTT {trigger_id} is {gtt.kind} and its type "
                        "cannot change: delete it and place a new one")
    if asked.symbol != gtt.symbol:
        raise KiteError(400, INPUT, f"invalid `tradingsymbol`: '{shown(asked.symbol)}'; GTT {trigger_id} is on "
                        f"{gtt.symbol}")
    await oms.modify_gtt(gtt.gtt_id, asked.triggers, list(asked.orders), last_price=asked.last_price)
    return kite_response({"trigger_id": trigger_id_of(gtt.gtt_id)})


@router.delete("/gtt/triggers/{trigger_id}", summary="Delete a GTT (Kite)")
async def delete_gtt(request: Request, trigger_id: str) -> Response:
    """Kite's delete_gtt: an active GTT no longer fires and is listed as deleted."""
    oms = _oms(request)
    gtt = _gtt(oms, trigger_id)
    await oms.delete_gtt(gtt.gtt_id)
    return kite_response({"trigger_id": trigger_id_of(gtt.gtt_id)})


# Kite's routes this API does not offer answer in Kite's shape (a GeneralException, 404), not in the REST API's,
# which a Kite client could not read.
NOT_OFFERED = ("/gtt", "/gtt/{rest:path}", "/mf/{rest:path}", "/margins/{rest:path}", "/charges/{rest:path}",
               "/session/{rest:path}", "/alerts", "/alerts/{rest:path}", "/instruments/historical/{rest:path}",
               "/instruments/trigger_range/{rest:path}", "/portfolio/holdings/{rest:path}", "/user/profile/{rest:path}")


async def not_offered(request: Request) -> Response:
    """A Kite route this paper OMS does not offer."""
    raise KiteError(404, GENERAL, f"{request.method} {shown(request.url.path)} is not offered by this paper OMS: it "
                    "takes regular orders and GTTs and serves the order book, trades, positions, holdings, margins, "
                    "quotes and instruments")


for _path in NOT_OFFERED:
    router.add_api_route(_path, not_offered, methods=["GET", "POST", "PUT", "DELETE"], include_in_schema=False)
