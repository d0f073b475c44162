"""What one connection may cost the server, on a real uvicorn server on a free port with real sockets: a request
head that arrives too slowly (slowloris) or is too long is answered and closed, an idle connection is closed, while
a WebSocket and keep-alive requests go on; and ``?token=`` values never reach the log."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.asyncio.client import connect

import oms_kit as ok
from oms_kit.errors import ConfigError
from oms_kit.service import serve
from oms_kit.service.connection import MAX_HEAD

HEAD_TIMEOUT = 0.3  # seconds: short, so a test waits little; the assertions are on what happens, never how fast
BOUND = 20.0  # seconds any wait here may take at the most before the test fails instead of hanging


@pytest.fixture(params=["httptools", "h11"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The HTTP parser the server's protocol is built on: httptools (installed, so uvicorn's choice), or h11, the
    one uvicorn falls back to without it."""
    if request.param == "h11":
        from uvicorn.protocols.http import auto
        from uvicorn.protocols.http.h11_impl import H11Protocol

        monkeypatch.setattr(auto, "AutoHTTPProtocol", H11Protocol)
    return str(request.param)


@pytest.fixture
async def oms() -> AsyncIterator[ok.OMS]:
    oms = await ok.OMS.open("duckdb:///:memory:", feed=None, risk_interval=None)
    await oms.set_price("RELIANCE", 2500)
    yield oms
    await oms.close()


async def _read_all(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    return await asyncio.wait_for(reader.read(), BOUND)


def _error(response: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


async def test_a_head_sent_a_byte_at_a_time_is_answered_408_and_closed(oms: ok.OMS, parser: str) -> None:
    server = await serve(oms, port=0, head_timeout=HEAD_TIMEOUT)
    try:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        head = f"GET /api/oms/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {server.token}\r\n".encode()
        head += b"X-Slow: " + b"a" * 10_000
        answer = asyncio.ensure_future(_read_all(reader))
        # Each byte comes well within the timeout of the one before: the clock runs on regardless.
        with contextlib.suppress(ConnectionError):
            for byte in head:
                if answer.done():
                    break
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(HEAD_TIMEOUT / 10)
        response = await answer
        assert not head.endswith(b"\r\n\r\n") and len(head) > 100  # the head was never whole
        status, body = _error(response)
        assert status == 408 and body["code"] == "REQUEST_TIMEOUT", response
        assert str(HEAD_TIMEOUT) in str(body["message"])
        writer.close()
    finally:
        await server.stop()


async def test_a_connection_that_sends_nothing_is_closed(oms: ok.OMS, parser: str) -> None:
    server = await serve(oms, port=0, head_timeout=HEAD_TIMEOUT)
    try:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        assert await _read_all(reader) == b""  # closed without a word: nothing was asked
        writer.close()
    finally:
        await server.stop()


@pytest.mark.parametrize("more", [0, 20])
async def test_a_head_longer_than_the_bound_is_answered_431_even_to_a_client_still_sending(oms: ok.OMS,
                                                                                           more: int) -> None:
    # ``more``: chunks the client goes on sending before it reads. Closed at once, the server's socket would answer
    # them with a reset, and the client's system would drop the 431 it had not read yet: the server ends its side
    # and drops what comes for a while instead. httptools only: h11 refuses a head this long itself (400), before
    # the bound is reached.
    server = await serve(oms, port=0)
    try:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(b"GET /api/oms/status HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (MAX_HEAD + 1000))
        await writer.drain()
        if more:
            await asyncio.sleep(0.2)  # the answer is on its way: the client has not read it and goes on sending
        for _ in range(more):
            writer.write(b"a" * 10_000)
            await writer.drain()
        status, body = _error(await _read_all(reader))
        assert status == 431 and body["code"] == "HEADERS_TOO_LARGE"
        writer.close()
    finally:
        await server.stop()


async def test_keep_alive_requests_and_a_websocket_outlive_the_head_timeout(oms: ok.OMS, parser: str) -> None:
    server = await serve(oms, port=0, head_timeout=HEAD_TIMEOUT)
    headers = {"Authorization": f"Bearer {server.token}"}
    try:
        url = f"{server.url.replace('http', 'ws', 1)}/ws/oms?token={server.token}&types=order"
        async with connect(url) as websocket, httpx.AsyncClient(base_url=server.url, headers=headers) as client:
            assert json.loads(await asyncio.wait_for(websocket.recv(), BOUND))["type"] == "subscribed"
            for _ in range(3):  # one connection; between requests less than the idle timeout, more than the head's
                response = await client.post("/api/oms/orders", json={"symbol": "RELIANCE", "side": "BUY",
                                                                      "quantity": 1})
                assert response.status_code == 201, response.text
                await asyncio.sleep(HEAD_TIMEOUT * 2)
            events = [json.loads(await asyncio.wait_for(websocket.recv(), BOUND)) for _ in range(3)]
            assert [e["type"] for e in events] == ["order"] * 3
    finally:
        await server.stop()


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf"), True, "5"])
async def test_a_bad_head_timeout_is_a_config_error(oms: ok.OMS, value: object) -> None:
    with pytest.raises(ConfigError) as caught:
        await serve(oms, port=0, head_timeout=value)  # type: ignore[arg-type]
    assert caught.value.field == "head_timeout"


async def test_the_access_log_shows_no_token_from_the_query(oms: ok.OMS, caplog: pytest.LogCaptureFixture) -> None:
    token = "query-token-that-must-not-be-logged"
    server = await serve(oms, port=0, token=token, access_log=True)
    try:
        with caplog.at_level(logging.INFO):
            async with httpx.AsyncClient(base_url=server.url) as client:
                response = await client.get("/api/oms/status", params={"symbol": "X", "token": token})
                assert response.status_code == 200
            url = f"{server.url.replace('http', 'ws', 1)}/ws/oms?types=order&token={token}"
            async with connect(url) as websocket:
                assert json.loads(await asyncio.wait_for(websocket.recv(), BOUND))["type"] == "subscribed"
        lines = [record.getMessage() for record in caplog.records if record.name.startswith("uvicorn")]
        assert any("/api/oms/status?" in line and "token=***" in line for line in lines), lines
        assert any("/ws/oms?" in line and "token=***" in line for line in lines), lines
        assert not [line for line in lines if token in line]  # (the test's own httpx client logs its URL whole)
    finally:
        await server.stop()
