"""A served OMS from another process: ``remote = await connect("http://HOST:PORT", token=...)`` has the OMS's
methods over the REST API, returning what the OMS returns (``Order`` values, the same DataFrames, the same errors),
and ``remote.events()`` over the WebSocket.

Every method is a coroutine (the reads too: each is a request). Arguments are checked here as the OMS checks them,
with the same code (an order's fields by :class:`~oms_kit.request.OrderRequest`, the history filters by the
history's parsers), so malformed input raises the same InvalidOrderError or ConfigError, naming the same field,
without a request; what only the server can judge (an unknown order, a rule) comes back as the OMS's exception
(see :mod:`oms_kit.client.errors`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Self, TypeVar, cast
from urllib.parse import quote

import httpx
import pandas as pd

from oms_kit.client.decode import (
    alerts_frame,
    checks_frame,
    figures,
    order_of,
    orders_of,
    orders_table,
    positions_frame,
    risk_summary_of,
    trades_of,
)
from oms_kit.client.errors import RemoteError, error_of
from oms_kit.client.programs import RemotePrograms
from oms_kit.client.reconciliation import RemoteReconciliation
from oms_kit.client.stream import EventStream, stream_query
from oms_kit.errors import ConfigError, InvalidOrderError, OmsError
from oms_kit.history import parse_limit, parse_moment
from oms_kit.models import Order, OrderStatus, Side
from oms_kit.orders import MAX_REASON
from oms_kit.parsing import parse_disclosed_quantity, parse_price, parse_quantity, parse_text
from oms_kit.request import FIELDS as _FIELDS
from oms_kit.request import OrderRequest

__all__ = ["API_PREFIX", "BATCH_SIZE", "TOKEN_VARIABLE", "RemoteOMS", "connect"]

API_PREFIX = "/api/oms"
WS_PATH = "/ws/oms"
TOKEN_VARIABLE = "OMS_KIT_TOKEN"  # where connect() finds the token when none is given (as `serve` does)
DEFAULT_TIMEOUT_S = 30.0
BATCH_SIZE = 100  # orders a request of place_orders carries: the server's most (oms_kit.service.models.MAX_BATCH)
# The HTTP status POST /orders answers with for an error a batch sends in an order's place, by its code.
_ITEM_STATUS: dict[str | None, int] = {"INVALID_INPUT": 422, "PERSISTENCE_UNAVAILABLE": 503, "STORE_ERROR": 503,
                                       "REFUSED": 409, "INVALID_TRANSITION": 409}
T = TypeVar("T")


class RemoteOMS(RemotePrograms, RemoteReconciliation):
    """The methods of :class:`~oms_kit.oms.OMS` on a served OMS, as coroutines (the order programs' from
    :class:`~oms_kit.client.programs.RemotePrograms`, the reconciliation's from
    :class:`~oms_kit.client.reconciliation.RemoteReconciliation`). Made by :func:`connect`.

    Attributes
    ----------
    url : the server's base URL.
    account : the account the server serves.
    """

    def __init__(self, http: httpx.AsyncClient, url: str, token: str, account: str) -> None:
        self._http = http
        self._token = token
        self.url = url
        self.account = account

    # -- orders -------------------------------------------------------------------------------------------------

    async def place_order(self, symbol: str | OrderRequest, side: str | Side | None = None,
                          quantity: int | None = None, order_type: str = "MARKET",
                          price: float | Decimal | str | None = None, *, product: str = "MIS", validity: str = "DAY",
                          trigger_price: float | Decimal | str | None = None, client_order_id: str | None = None,
                          tag: str | None = None, disclosed_quantity: int = 0) -> Order:
        """Place an order (``POST /api/oms/orders``): the fields or one :class:`~oms_kit.request.OrderRequest`, as
        ``OMS.place_order`` takes them. A well-formed order that breaks a rule comes back REJECTED with its
        violations; malformed input raises InvalidOrderError naming the field and sends nothing. The same
        ``client_order_id`` with the same order returns the order already placed: retry with it after a timeout."""
        if type(symbol) is OrderRequest:
            request = OrderRequest.of(symbol, side, quantity, order_type, price, trigger_price, product, validity,
                                      client_order_id, tag, None, disclosed_quantity)
        else:
            request = OrderRequest(symbol, side, quantity, order_type, price,  # type: ignore[arg-type]
                                   trigger_price, product, validity, client_order_id, tag,
                                   disclosed_quantity=disclosed_quantity)
        record = await self._call("POST", "/orders", body=request.to_dict())
        return self._decode(order_of, record, self.account)

    async def place_orders(self, orders: Iterable[OrderRequest | Mapping[str, Any]]) -> list[Order | OmsError]:
        """Place several orders with one request per 100 (``POST /api/oms/orders/batch``, as
        ``OMS.place_orders``): each an :class:`~oms_kit.request.OrderRequest` or a dict of ``place_order``'s
        fields (``{"symbol": "INFY", "side": "BUY", "quantity": 5, "order_type": "LIMIT", "price": 1500}``).

        Returns one item per order, in the same order: the ``Order`` (accepted, or REJECTED with its violations;
        a repeated ``client_order_id`` returns the order placed earlier), or the exception ``place_order`` would
        have raised for it alone, returned, not raised: InvalidOrderError for a malformed order (checked here and
        not sent, or refused by the server; nothing is recorded for it and the others are placed),
        PersistenceUnavailable while the server's database is unreachable. Check each item with
        ``isinstance(item, ok.Order)``. More than 100 orders go in successive requests.

        Raises InvalidOrderError, before sending anything, for an item that is neither a request nor a dict, and
        what ``place_order`` raises for the request as a whole (RemoteError for no answer or the read-only token,
        OmsError for a closed OMS): orders of earlier requests are placed then, so give them ``client_order_id``s
        and send them again to learn their fate without placing them twice."""
        items: list[OrderRequest | OmsError] = []
        for i, order in enumerate(orders):
            if type(order) is OrderRequest:
                items.append(order)
            elif isinstance(order, Mapping):
                items.append(_request_of(order))
            else:
                raise InvalidOrderError(f"orders[{i}]", order, "an OrderRequest or a dict of place_order's fields")
        sent = [item for item in items if type(item) is OrderRequest]
        answers: list[Order | OmsError] = []
        for start in range(0, len(sent), BATCH_SIZE):
            chunk = [request.to_dict() for request in sent[start:start + BATCH_SIZE]]
            records = await self._call("POST", "/orders/batch", body={"orders": chunk})
            answers += self._decode(self._batch_answers, records, chunk)
        placed = iter(answers)
        # The items left are the OmsErrors found before sending.
        return [next(placed) if type(item) is OrderRequest else cast(OmsError, item) for item in items]

    def _batch_answers(self, records: Any, sent: list[dict[str, Any]]) -> list[Order | OmsError]:
        if not isinstance(records, list) or len(records) != len(sent):
            raise ValueError(f"{len(sent)} answers were expected, one per order")
        answers: list[Order | OmsError] = []
        for record, given in zip(records, sent, strict=True):
            if not isinstance(record, dict):
                raise TypeError("an answer is not an object")
            answers.append(order_of(record, self.account) if "order_id" in record
                           else error_of(_ITEM_STATUS.get(record.get("code"), 200), record, given))
        return answers

    async def modify_order(self, order_id: str, quantity: int | None = None,
                           price: float | Decimal | str | None = None,
                           trigger_price: float | Decimal | str | None = None, *,
                           disclosed_quantity: int | None = None) -> Order:
        """Change a working order's quantity, price, trigger or disclosed quantity (``PATCH``). Raises
        OrderModifyRejected when a rule forbids it, OmsError for an unknown order or one no longer working,
        InvalidOrderError for a malformed value."""
        path = _order_path(order_id)
        # Checked here as the OMS checks them; sent as given when JSON has the value (so that an error the server
        # finds quotes it as the OMS would), a Decimal as its exact text.
        body: dict[str, Any] = {}
        if quantity is not None:
            parse_quantity(quantity)
            body["quantity"] = quantity if isinstance(quantity, int | float) else int(quantity)
        for name, value in (("price", price), ("trigger_price", trigger_price)):
            if value is not None:
                parsed = parse_price(value, name)
                body[name] = value if isinstance(value, int | float | str) else str(parsed)
        if disclosed_quantity is not None:
            body["disclosed_quantity"] = parse_disclosed_quantity(disclosed_quantity)
        given = {"quantity": quantity, "price": price, "trigger_price": trigger_price,
                 "disclosed_quantity": disclosed_quantity}
        record = await self._call("PATCH", path, body=body, given=given, order_id=order_id)
        return self._decode(order_of, record, self.account)

    async def cancel_order(self, order_id: str, reason: str = "cancelled by user") -> Order:
        """Cancel a working order (``DELETE``); OmsError when it is unknown or no longer working."""
        path = _order_path(order_id)
        parse_text(reason, "reason", MAX_REASON)
        record = await self._call("DELETE", path, params={"reason": reason}, given={"reason": reason},
                                  order_id=order_id)
        return self._decode(order_of, record, self.account)

    async def cancel_all(self, symbol: str | None = None, reason: str = "cancel all") -> list[Order]:
        """Cancel every working order (of ``symbol`` when given); the orders cancelled."""
        _texts(symbol=symbol, reason=reason)
        records = await self._call("POST", "/orders/cancel-all", body={"symbol": symbol, "reason": reason},
                                   given={"symbol": symbol, "reason": reason})
        return self._decode(orders_of, records, self.account)

    async def square_off(self, symbol: str | None = None, reason: str = "square off") -> list[Order]:
        """Cancel working orders and close open positions (of ``symbol`` when given) with market orders; the
        closing orders."""
        _texts(symbol=symbol, reason=reason)
        records = await self._call("POST", "/positions/square-off", body={"symbol": symbol, "reason": reason},
                                   given={"symbol": symbol, "reason": reason})
        return self._decode(orders_of, records, self.account)

    async def validate(self, symbol: str | OrderRequest, side: str | None = None, quantity: int | None = None,
                       order_type: str = "MARKET", price: float | Decimal | str | None = None, *,
                       product: str = "MIS", validity: str = "DAY",
                       trigger_price: float | Decimal | str | None = None) -> pd.DataFrame:
        """Dry run: every pre-trade check with pass/fail, value, limit and headroom, as ``OMS.validate``; nothing
        is recorded."""
        request = OrderRequest.of(symbol, side, quantity, order_type, price, trigger_price, product, validity)
        result = await self._call("POST", "/orders/validate", body=request.to_dict())
        return self._decode(lambda r: checks_frame(r["checks"]), result)

    # -- reads --------------------------------------------------------------------------------------------------

    async def get_order(self, order_id: str) -> Order:
        """The order with this id, of any day; OmsError when the account has none."""
        record = await self._call("GET", _order_path(order_id), order_id=order_id)
        return self._decode(order_of, record, self.account)

    async def active_orders(self) -> pd.DataFrame:
        """Working orders as the table of ``OMS.active_orders()``."""
        records = await self._call("GET", "/orders/active")
        return self._decode(orders_table, records, self.account)

    async def orders(self, symbol: str | None = None, status: str | None = None, side: str | None = None,
                     since: datetime | date | str | None = None, until: datetime | date | str | None = None,
                     limit: int | None = None) -> pd.DataFrame:
        """Orders in the order they were placed, newest last, filtered as ``OMS.orders()`` filters them (naive times
        are exchange-local: the server's exchange)."""
        params = _history_params(symbol, since, until, limit)
        if status:
            params["status"] = OrderStatus.parse(status, "status").value if not isinstance(status, str) else status
        if side:
            params["side"] = Side.parse(side, "side").value if not isinstance(side, str) else side
        records = await self._call("GET", "/orders", params=params, given=_given(params, since=since, until=until,
                                                                                  status=status, side=side))
        return self._decode(orders_table, records, self.account)

    async def trades(self, symbol: str | None = None, since: datetime | date | str | None = None,
                     until: datetime | date | str | None = None, limit: int | None = None) -> pd.DataFrame:
        """Fills, oldest first, as the table of ``OMS.trades()``, with its filters."""
        params = _history_params(symbol, since, until, limit)
        records = await self._call("GET", "/trades", params=params, given=_given(params, since=since, until=until))
        return self._decode(trades_of, records, self.account)

    async def positions(self) -> pd.DataFrame:
        """Every position of the day, as the table of ``OMS.positions()``."""
        return self._decode(positions_frame, await self._call("GET", "/positions"))

    async def position(self, symbol: str) -> int:
        """Net quantity held in ``symbol`` over all products (negative when short)."""
        frame = await self.positions()
        return int(frame.loc[frame["symbol"] == symbol, "quantity"].sum())

    async def risk_summary(self) -> dict[str, Any]:
        """Trading state, P&L, exposure, each limit in use (a table) and the alerts, as ``OMS.risk_summary()``."""
        return self._decode(risk_summary_of, await self._call("GET", "/risk/summary"))

    async def risk_alerts(self) -> pd.DataFrame:
        """The risk alerts of the server's session, as the table of ``OMS.risk_alerts()``."""
        return self._decode(alerts_frame, await self._call("GET", "/risk/alerts"))

    async def stats_today(self) -> dict[str, Any]:
        """Today's counts, turnover, fees, P&L and win rate, as ``OMS.stats_today()``."""
        return self._decode(figures, await self._call("GET", "/stats/today"))

    async def status(self) -> dict[str, Any]:
        """Backend, broker, feed, trading state, tasks and writes of the served OMS (``OMS.status()``)."""
        return self._decode(_object, await self._call("GET", "/status"))

    # -- kill switch --------------------------------------------------------------------------------------------

    async def kill_switch(self, reason: str, flatten: bool = False) -> list[Order]:
        """Halt trading: new orders and modifies are rejected, working orders cancelled, and with ``flatten`` every
        position squared off; the square-off orders."""
        _texts(reason=reason)
        if not isinstance(flatten, bool):
            raise InvalidOrderError("flatten", flatten, "True or False")
        result = await self._call("POST", "/risk/kill-switch", body={"reason": reason, "flatten": flatten},
                                  given={"reason": reason, "flatten": flatten})
        return self._decode(lambda r: orders_of(r["orders"], self.account), result)

    async def reset_kill_switch(self, reason: str) -> None:
        """Lift the kill switch; OmsError while the daily loss is still in breach."""
        _texts(reason=reason)
        await self._call("POST", "/risk/reset", body={"reason": reason}, given={"reason": reason})

    # -- events -------------------------------------------------------------------------------------------------

    def events(self, types: Iterable[str] | str | None = None, *, heartbeat: float | None = None,
               queue: int | None = None, raw: bool = False) -> EventStream:
        """The served OMS's events as they happen (``/ws/oms``): ``async for event in remote.events(): ...``
        yields the kit's event classes, or with ``raw=True`` the messages as sent.

        ``types``: the kinds to receive (``order``, ``fill``, ``position``, ``risk_alert``, ``trading_state``,
        ``price``, or ``all``); every kind but ``price`` when None. ``heartbeat``: seconds of silence before the
        server sends a heartbeat (15 by default). ``queue``: how many events the server may hold for this client
        (10,000 by default) before it closes the stream as lagged
        (:class:`~oms_kit.client.errors.EventStreamLagged`). ``async with remote.events() as stream:`` connects
        before its body runs, so nothing after it is missed. Raises ConfigError for an unknown type."""
        query = stream_query(types, heartbeat, queue)
        scheme, rest = self.url.split("://", 1)
        url = ("wss" if scheme == "https" else "ws") + "://" + rest + WS_PATH
        return EventStream(url, self._token, self.account, query, raw=raw)

    # -- the connection -----------------------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the HTTP connections (the served OMS goes on)."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<RemoteOMS {self.url} account={self.account!r}>"

    async def _call(self, method: str, path: str, *, body: dict[str, Any] | None = None,
                    params: dict[str, str] | None = None, given: dict[str, Any] | None = None,
                    order_id: str | None = None) -> Any:
        # The body is encoded here, ASCII-only: any text a caller passes can cross, and the server reads it back.
        content = None if body is None else json.dumps(body, ensure_ascii=True, allow_nan=False)
        headers = None if body is None else {"Content-Type": "application/json"}
        try:
            response = await self._http.request(method, path, content=content, params=params, headers=headers)
        except httpx.TimeoutException as exc:
            raise RemoteError(f"{method} {path}: no answer from {self.url} in time ({type(exc).__name__})",
                              code="TIMEOUT", hint="the request may have been carried out; an order placed again "
                              "with the same client_order_id is not placed twice") from None
        except httpx.HTTPError as exc:
            raise RemoteError(f"{method} {path}: the server at {self.url} cannot be reached: {exc}",
                              code="UNREACHABLE", hint="is it running? python -m oms_kit serve") from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code >= 400:
            raise error_of(response.status_code, answer, given, order_id)
        if answer is None and response.status_code != 204:
            raise RemoteError(f"{method} {path}: the server's answer is not JSON", status=response.status_code,
                              code="BAD_RESPONSE")
        return answer

    def _decode(self, function: Callable[..., T], *args: Any) -> T:
        try:
            return function(*args)
        except (KeyError, IndexError, ValueError, TypeError, ArithmeticError) as exc:
            raise RemoteError(f"the server's answer cannot be read: {type(exc).__name__}: {exc}",
                              code="BAD_RESPONSE", hint="are the client and the server of the same version?"
                              ) from None


def _request_of(fields: Mapping[str, Any]) -> OrderRequest | OmsError:
    # A dict of place_order's fields as the request it asks for, or the error that order would raise.
    unknown = sorted(str(name) for name in fields if name not in _FIELDS)
    if unknown:
        return InvalidOrderError(unknown[0], fields[unknown[0]], "the fields of place_order: " + ", ".join(_FIELDS))
    try:
        return OrderRequest(**fields)
    except OmsError as exc:
        return exc
    except TypeError:  # a required field missing
        missing = next(name for name in ("symbol", "side", "quantity") if name not in fields)
        return InvalidOrderError(missing, None, "required: symbol, side and quantity")


def _texts(**fields: object) -> None:
    # JSON carries texts; anything else (None aside) is refused here, naming its field, before a request.
    for field, value in fields.items():
        if value is not None and not isinstance(value, str):
            raise InvalidOrderError(field, value, "a text" + (" or None" if field == "symbol" else ""))


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError("an object was expected")
    return value


def _order_path(order_id: object) -> str:
    # Checked as the OMS checks it; an id that is no path segment ("", ".", "..") names no order.
    if not isinstance(order_id, str):
        raise InvalidOrderError("order_id", order_id, "an order id string, as in the order_id column of orders()")
    if order_id.strip(".") == "":
        raise OmsError(f"unknown order id {order_id!r}", hint="order ids look like the order_id column of orders()")
    return "/orders/" + quote(order_id.encode("utf-8", "surrogatepass"), safe="")


def _history_params(symbol: object, since: object, until: object, limit: object) -> dict[str, str]:
    if symbol is not None and not isinstance(symbol, str):
        raise ConfigError("symbol", symbol, "a symbol string or None")
    parse_moment(since, "since", UTC)
    parse_moment(until, "until", UTC)
    parse_limit(limit)
    params = {"symbol": symbol, "since": _moment_text(since), "until": _moment_text(until),
              "limit": None if limit is None else str(limit)}
    return {key: _text(value) for key, value in params.items() if value is not None}


def _moment_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, date):  # a datetime (naive: exchange-local, as the server reads it) or a date
        return value.isoformat()
    return str(value).strip()


def _text(value: str) -> str:
    # A query value that cannot be UTF-8 (a lone surrogate) goes with a replacement character, which matches nothing.
    return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _given(params: dict[str, str], **values: Any) -> dict[str, Any]:
    return {**params, **{k: v for k, v in values.items() if v is not None}}


async def connect(url: str, token: str | None = None, *, timeout: float = DEFAULT_TIMEOUT_S) -> RemoteOMS:
    """Connect to an OMS served with ``python -m oms_kit serve`` or ``await oms.serve()``: checks the token and
    learns the account (``GET /api/oms/status``).

    Parameters
    ----------
    url : the server's base URL, ``http://HOST:PORT`` (what ``serve`` printed; a trailing ``/api/oms`` is allowed).
    token : the server's token (full, or read-only for a watcher); ``$OMS_KIT_TOKEN`` when None.
    timeout : seconds a request may take.

    Raises
    ------
    ConfigError
        A URL that is not http(s)://HOST:PORT, no token, or a token the server refuses (``field`` says which).
    RemoteError
        The server cannot be reached.
    """
    base = _base_url(url)
    token = _token(token)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout < 1e6:
        raise ConfigError("timeout", timeout, "a number of seconds above 0")
    http = httpx.AsyncClient(base_url=base + API_PREFIX, headers={"Authorization": f"Bearer {token}"},
                             timeout=timeout)
    remote = RemoteOMS(http, base, token, "")
    try:
        status = await remote.status()
    except RemoteError as exc:
        await http.aclose()
        if exc.status in (401, 403):
            raise ConfigError("token", "***", "the token the server printed when it started (or its read-only "
                              "token)", detail=exc.message) from None
        raise
    except BaseException:
        await http.aclose()
        raise
    account = status.get("account")
    if not isinstance(account, str):
        await http.aclose()
        raise RemoteError(f"{base} does not answer as an oms_kit server", code="BAD_RESPONSE")
    remote.account = account
    return remote


def _base_url(url: object) -> str:
    allowed = "the server's URL, http://HOST:PORT (or https://)"
    if not isinstance(url, str):
        raise ConfigError("url", url, allowed)
    base = url.strip().rstrip("/").removesuffix(API_PREFIX).rstrip("/")
    try:
        parsed = httpx.URL(base)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise ConfigError("url", url, allowed) from None
    if parsed.scheme not in ("http", "https") or not parsed.host or parsed.query or parsed.fragment \
            or parsed.path not in ("", "/"):
        raise ConfigError("url", url, allowed)
    return base


def _token(token: object) -> str:
    if token is None:
        token = os.environ.get(TOKEN_VARIABLE)
        if not token:
            raise ConfigError("token", None, f"the server's token (or set ${TOKEN_VARIABLE})")
    if not isinstance(token, str) or not token or not token.isascii() or not token.isprintable() or " " in token:
        raise ConfigError("token", "***" if isinstance(token, str) else token,
                          "the server's token: printable ASCII without spaces")
    return token
