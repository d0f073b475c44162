"""The door of the HTTP API: every route refuses a request without the token (401) or with a wrong one (403),
the read-only token only reads, bodies are size-limited, CORS is off unless origins are given, the WebSocket
handshake needs the token too, and the server listens on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from fastapi import APIRouter, WebSocket
from fastapi.routing import APIRoute
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

import oms_kit as ok
from oms_kit.service import Access, serve

TOKEN = "full-token-for-tests"
READ_TOKEN = "read-only-token-for-tests"
ACCOUNT = "acct"

# Every route of the API with a body that would act if the request were let in.
ROUTES = [
    ("GET", "/api/oms/positions", None),
    ("POST", "/api/oms/positions/square-off", {}),
    ("POST", "/api/oms/orders", {"symbol": "RELIANCE", "side": "BUY", "quantity": 1}),
    ("GET", "/api/oms/orders", None),
    ("GET", "/api/oms/orders/active", None),
    ("GET", "/api/oms/orders/{order_id}", None),
    ("PATCH", "/api/oms/orders/{order_id}", {"price": 2401}),
    ("DELETE", "/api/oms/orders/{order_id}", None),
    ("POST", "/api/oms/orders/cancel-all", {}),
    ("POST", "/api/oms/orders/validate", {"symbol": "RELIANCE", "side": "BUY", "quantity": 1}),
    ("GET", "/api/oms/trades", None),
    ("GET", "/api/oms/risk/summary", None),
    ("GET", "/api/oms/risk/alerts", None),
    ("POST", "/api/oms/risk/kill-switch", {"reason": "let in", "flatten": True}),
    ("POST", "/api/oms/risk/reset", {"reason": "let in"}),
    ("GET", "/api/oms/stats/today", None),
    ("GET", "/api/oms/status", None),
    ("GET", "/openapi.json", None),
    ("GET", "/docs", None),
    ("GET", "/api/oms/no-such-route", None),
    ("GET", "/", None),
]
WRITES = [route for route in ROUTES if route[0] not in ("GET", "HEAD")]
ROUTE_IDS = [f"{method} {path}" for method, path, _ in ROUTES]

pytestmark = pytest.mark.asyncio(loop_scope="module")

events = APIRouter()


@events.websocket("/ws/test")
async def echo_access(websocket: WebSocket) -> None:
    # A stand-in for the event stream to come: it only says who came in.
    await websocket.accept()
    await websocket.send_text(websocket.scope["state"]["access"].value)
    await websocket.close()


class Door:
    def __init__(self, oms: ok.OMS, server, resting: str) -> None:
        self.oms, self.server, self.resting = oms, server, resting

    def path(self, template: str) -> str:
        return template.replace("{order_id}", self.resting)

    async def untouched(self) -> None:
        # Nothing any refused request asked for happened.
        assert self.oms.trading_state is ok.TradingState.ACTIVE
        assert self.oms.orders()["order_id"].tolist() == [self.resting]
        assert self.oms.get_order(self.resting).status is ok.OrderStatus.OPEN
        assert self.oms.get_order(self.resting).price == 2400


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def door() -> AsyncIterator[Door]:
    oms = await ok.OMS.open("duckdb:///:memory:", account=ACCOUNT, feed=None, risk_interval=None)
    await oms.set_price("RELIANCE", 2500)
    resting = await oms.place_order("RELIANCE", "BUY", 1, "LIMIT", price=2400)
    server = await serve(oms, port=0, token=TOKEN, read_only_token=READ_TOKEN, routers=[events])
    yield Door(oms, server, resting.order_id)
    await server.stop()
    await oms.close()


async def send(door: Door, method: str, path: str, body: object, headers: dict[str, str] | None = None,
               params: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(base_url=door.server.url) as client:
        return await client.request(method, door.path(path), json=body, headers=headers, params=params)


def assert_refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert set(response.json()) == {"code", "message", "field", "hint"}
    assert TOKEN not in response.text and READ_TOKEN not in response.text


async def test_the_route_table_covers_every_route_of_the_app(door):
    served = {(method, route.path) for route in door.server.app.routes if isinstance(route, APIRoute)
              for method in route.methods}
    assert served <= {(method, path) for method, path, _ in ROUTES}


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=ROUTE_IDS)
async def test_without_a_token_every_route_is_401(door, method, path, body):
    response = await send(door, method, path, body)

    assert_refused(response, 401, "UNAUTHORIZED")
    assert response.headers["www-authenticate"].startswith("Bearer")
    await door.untouched()


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize("credentials", [
    {"headers": {"Authorization": "Bearer wrong-token"}},
    {"headers": {"Authorization": f"Bearer {TOKEN}x"}},
    {"headers": {"Authorization": f"Bearer {TOKEN[:-1]}"}},
    {"headers": {"Authorization": f"token {ACCOUNT}:wrong"}},
    {"headers": {"Authorization": f"token other-account:{TOKEN}"}},
    {"params": {"token": "wrong"}},
    {"headers": {"Authorization": "Bearer wrong"}, "params": {"token": TOKEN}},  # the header is what counts
], ids=["wrong", "longer", "shorter", "kite-wrong", "kite-other-account", "query-wrong", "header-wins"])
async def test_with_a_wrong_token_every_route_is_403(door, method, path, body, credentials):
    response = await send(door, method, path, body, **credentials)

    assert_refused(response, 403, "FORBIDDEN")
    await door.untouched()


@pytest.mark.parametrize("authorization",
                         ["Basic dXNlcjpwYXNz", "Bearer", f"token {ACCOUNT}", f"token {ACCOUNT}:", TOKEN])
async def test_a_header_in_no_known_form_is_no_token(door, authorization):
    response = await send(door, "GET", "/api/oms/status", None, headers={"Authorization": authorization})

    assert_refused(response, 401, "UNAUTHORIZED")


@pytest.mark.parametrize("credentials", [
    {"headers": {"Authorization": f"Bearer {TOKEN}"}},
    {"headers": {"Authorization": f"bearer {TOKEN}"}},
    {"headers": {"Authorization": f"token {ACCOUNT}:{TOKEN}"}},
    {"params": {"token": TOKEN}},
], ids=["bearer", "bearer-lower-case", "kite", "query"])
async def test_the_token_in_each_accepted_form_is_let_in(door, credentials):
    response = await send(door, "GET", "/api/oms/status", None, **credentials)

    assert response.status_code == 200 and response.json()["account"] == ACCOUNT


@pytest.mark.parametrize(("method", "path", "body"), WRITES, ids=[f"{m} {p}" for m, p, _ in WRITES])
async def test_the_read_only_token_cannot_change_anything(door, method, path, body):
    response = await send(door, method, path, body, headers={"Authorization": f"Bearer {READ_TOKEN}"})

    assert_refused(response, 403, "READ_ONLY_TOKEN")
    await door.untouched()


@pytest.mark.parametrize(("method", "path", "body"), [r for r in ROUTES if r[0] == "GET"],
                         ids=[f"{m} {p}" for m, p, _ in ROUTES if m == "GET"])
async def test_the_read_only_token_is_let_in_on_every_read(door, method, path, body):
    response = await send(door, method, path, body, headers={"Authorization": f"Bearer {READ_TOKEN}"})

    assert response.status_code in (200, 404), response.text
    if response.status_code == 404:
        assert response.json()["code"] == "NOT_FOUND"  # an unknown route, past the door


# -- the WebSocket handshake ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("query", "status"), [("", 401), ("?token=wrong", 403)])
async def test_a_websocket_without_the_token_is_refused_at_the_handshake(door, query, status):
    with pytest.raises(InvalidStatus) as refused:
        async with connect(door.server.url.replace("http", "ws") + "/ws/test" + query):
            pass
    assert refused.value.response.status_code == status


@pytest.mark.parametrize(("token", "access"), [(TOKEN, Access.FULL), (READ_TOKEN, Access.READ)])
async def test_a_websocket_with_a_token_in_the_query_is_let_in(door, token, access):
    async with connect(door.server.url.replace("http", "ws") + f"/ws/test?token={token}") as websocket:
        assert await websocket.recv() == access.value


# -- request bodies ---------------------------------------------------------------------------------------------------


async def test_a_body_over_the_limit_is_413_and_never_reaches_the_route(door):
    padding = "x" * (65 * 1024)
    body = {"symbol": "RELIANCE", "side": "BUY", "quantity": 1, "tag": padding}
    headers = {"Authorization": f"Bearer {TOKEN}"}

    declared = await send(door, "POST", "/api/oms/orders", body, headers=headers)

    async def chunks():  # no Content-Length: the size is counted as the body arrives
        for _ in range(70):
            yield b"x" * 1024

    async with httpx.AsyncClient(base_url=door.server.url) as client:
        streamed = await client.post("/api/oms/orders", content=chunks(), headers=headers)

    assert_refused(declared, 413, "PAYLOAD_TOO_LARGE")
    assert_refused(streamed, 413, "PAYLOAD_TOO_LARGE")
    assert declared.json()["field"] == "body"
    await door.untouched()


async def test_a_body_within_the_limit_reaches_the_route(door):
    body = {"symbol": "RELIANCE", "side": "BUY", "quantity": 1, "tag": "x" * (60 * 1024)}

    response = await send(door, "POST", "/api/oms/orders/validate", body, headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status_code == 422 and response.json()["field"] == "tag"  # refused by the order's rules


# -- CORS -------------------------------------------------------------------------------------------------------------


async def test_cors_is_off_by_default(door):
    origin = {"Origin": "http://elsewhere.test"}
    preflight = await send(door, "OPTIONS", "/api/oms/orders", None,
                           headers={**origin, "Access-Control-Request-Method": "POST"})
    read = await send(door, "GET", "/api/oms/status", None, headers={**origin, "Authorization": f"Bearer {TOKEN}"})

    assert preflight.status_code == 401
    assert "access-control-allow-origin" not in preflight.headers
    assert read.status_code == 200 and "access-control-allow-origin" not in read.headers


async def test_cors_for_the_origins_given():
    oms = await ok.OMS.open("duckdb:///:memory:", feed=None, risk_interval=None)
    server = await serve(oms, port=0, cors_origins=["http://dashboard.test"])
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            allowed = await client.options("/api/oms/orders", headers={
                "Origin": "http://dashboard.test", "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type"})
            other = await client.options("/api/oms/orders", headers={
                "Origin": "http://elsewhere.test", "Access-Control-Request-Method": "POST"})
            read = await client.get("/api/oms/status", headers={"Origin": "http://dashboard.test",
                                                                "Authorization": f"Bearer {server.token}"})
            anonymous = await client.get("/api/oms/status", headers={"Origin": "http://dashboard.test"})
    finally:
        await server.stop()
        await oms.close()

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://dashboard.test"
    assert "access-control-allow-origin" not in other.headers
    assert read.headers["access-control-allow-origin"] == "http://dashboard.test"
    assert anonymous.status_code == 401  # CORS lets the page ask; the token still decides


# -- where it listens, and its tokens ---------------------------------------------------------------------------------


async def test_it_listens_on_127_0_0_1_and_generates_a_token_by_default():
    oms = await ok.OMS.open("duckdb:///:memory:", feed=None, risk_interval=None)
    server = await serve(oms, port=0)
    try:
        assert server.host == "127.0.0.1" and server.url == f"http://127.0.0.1:{server.port}"
        assert server.token_generated and len(server.token) >= 40
        other = await serve(oms, port=0)
        assert other.token != server.token
        await other.stop()
    finally:
        await server.stop()
        await oms.close()
    assert not server.running
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(server.url + "/api/oms/status")


async def test_listening_beyond_this_machine_is_warned_about(caplog):
    oms = await ok.OMS.open("duckdb:///:memory:", feed=None, risk_interval=None)
    try:
        with caplog.at_level(logging.WARNING, logger="oms_kit.service"):
            server = await serve(oms, host="0.0.0.0", port=0)
        await server.stop()
        with caplog.at_level(logging.WARNING, logger="oms_kit.service"):
            quiet = await serve(oms, host="localhost", port=0)
        await quiet.stop()
    finally:
        await oms.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "0.0.0.0" in warnings[0] and "TLS" in warnings[0]


async def test_a_port_in_use_is_a_config_error_and_the_loop_goes_on():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    oms = await ok.OMS.open("duckdb:///:memory:", feed=None, risk_interval=None)
    try:
        with pytest.raises(ok.ConfigError) as error:
            await serve(oms, port=taken.getsockname()[1])
        assert error.value.field == "port"
        for bad in (-1, 70000, "8050", True, None):
            with pytest.raises(ok.ConfigError):
                await serve(oms, port=bad)
        with pytest.raises(ok.ConfigError) as error:
            await serve(oms, host="no-such-host.invalid", port=0)
        assert error.value.field == "host"
    finally:
        taken.close()
        await oms.close()
