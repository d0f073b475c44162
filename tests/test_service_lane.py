"""The door's fast lane for ``POST /api/oms/orders`` (oms_kit.service.lane), on a real uvicorn server on a free port
with a real httpx client: it answers well-formed orders, and whatever it answers (a fill, a rejection, a retry, an
order the OMS refuses) is what the app's own route answers to the same body; malformed bodies go to the route."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

import oms_kit as ok
from oms_kit.service import rest, serve

LIMITS = ok.RiskLimits(max_order_quantity=1000, max_orders_per_second=None, duplicate_window_s=None)
# Both are JSON to FastAPI's route; only the first is the lane's, so the second shows what the route answers.
LANE = "application/json"
ROUTE = "application/vnd.oms+json"
VARYING = {"order_id", "client_order_id", "created_at", "updated_at"}


class Counted:
    """The lane, counting the requests it answered and those it left to the route."""

    def __init__(self, lane: Callable[..., Awaitable[bool]]) -> None:
        self.lane, self.answered, self.declined = lane, 0, 0

    async def __call__(self, *args: Any) -> bool:
        taken = await self.lane(*args)
        if taken:
            self.answered += 1
        else:
            self.declined += 1
        return taken


@pytest.fixture
async def served(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[ok.OMS, httpx.AsyncClient, Counted]]:
    key = ("POST", rest.PREFIX + "/orders")
    counted = Counted(rest.LANES[key])
    monkeypatch.setitem(rest.LANES, key, counted)  # the door's lanes are this mapping
    oms = await ok.OMS.open("duckdb:///:memory:", feed=None, limits=LIMITS, risk_interval=None)
    await oms.set_price("RELIANCE", 2500)
    server = await serve(oms, port=0)
    client = httpx.AsyncClient(base_url=server.url + "/api/oms", headers={"Authorization": f"Bearer {server.token}"})
    yield oms, client, counted
    await client.aclose()
    await server.stop()
    await oms.close()


async def _post(client: httpx.AsyncClient, body: Any, kind: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.post("/orders", content=content, headers={"content-type": kind})


def _same(lane: httpx.Response, route: httpx.Response) -> None:
    assert lane.status_code == route.status_code, (lane.text, route.text)
    assert lane.headers["content-type"] == route.headers["content-type"]
    a, b = lane.json(), route.json()
    if isinstance(a, dict) and "order_id" in a:
        assert a.keys() == b.keys()
        a = {k: v for k, v in a.items() if k not in VARYING}
        b = {k: v for k, v in b.items() if k not in VARYING}
    assert a == b


@pytest.mark.parametrize("body", [
    {"symbol": "RELIANCE", "side": "BUY", "quantity": 5},  # filled
    {"symbol": "RELIANCE", "side": "sell", "quantity": 5, "product": "mis", "tag": "t"},  # filled, any case
    {"symbol": "RELIANCE", "side": "BUY", "quantity": 5000},  # rejected: over max_order_quantity (201, REJECTED)
    {"symbol": "RELIANCE", "side": "BUY", "quantity": 5, "order_type": "LIMIT", "price": "2490"},  # working
    {"symbol": "RELIANCE", "side": "HOLD", "quantity": 5},  # a valid JSON type, not a side: 422 from the OMS's rules
    {"symbol": "RELIANCE", "side": "BUY", "quantity": 0},  # 422 from the OMS's rules
    {"symbol": "RELIANCE", "side": "BUY", "quantity": 5, "order_type": "LIMIT"},  # a LIMIT without its price: 422
    {"symbol": "NOSUCH", "side": "BUY", "quantity": 5},  # unknown instrument
])
async def test_the_lane_answers_a_well_formed_order_as_the_route_does(served: Any, body: dict[str, Any]) -> None:
    _, client, counted = served
    lane = await _post(client, body, LANE)
    assert counted.answered == 1 and counted.declined == 0
    route = await _post(client, body, ROUTE)
    assert counted.answered == 1 and counted.declined == 1  # not the lane's content type: declined
    _same(lane, route)


@pytest.mark.parametrize("body", [
    b"{not json", b"", b"[]", b"null", {"symbol": "RELIANCE", "side": "BUY"}, {"symbol": 5, "side": "BUY",
                                                                                "quantity": 1},
    {"symbol": "RELIANCE", "side": "BUY", "quantity": 5, "qty": 5}, {"symbol": "RELIANCE", "side": "BUY",
                                                                      "quantity": True},
])
async def test_malformed_bodies_go_to_the_route_and_are_answered_alike(served: Any, body: Any) -> None:
    oms, client, counted = served
    lane = await _post(client, body, LANE)
    assert counted.answered == 0 and counted.declined == 1
    _same(lane, await _post(client, body, ROUTE))
    assert counted.answered == 0
    assert lane.status_code == 422 and lane.json()["field"]
    assert oms.orders().empty  # nothing recorded


async def test_a_retry_is_answered_200_with_the_first_order_by_both(served: Any) -> None:
    _, client, counted = served
    for kind in (LANE, ROUTE):
        body = {"symbol": "RELIANCE", "side": "BUY", "quantity": 3, "client_order_id": f"retry-{kind}"}
        first, again = await _post(client, body, kind), await _post(client, body, kind)
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json() == first.json()
    assert counted.answered == 2


async def test_an_order_placed_while_halted_is_answered_alike(served: Any) -> None:
    oms, client, counted = served
    await oms.kill_switch("test")
    body = {"symbol": "RELIANCE", "side": "BUY", "quantity": 3}
    lane, route = await _post(client, body, LANE), await _post(client, body, ROUTE)
    _same(lane, route)
    assert counted.answered == 1
