"""``POST /api/oms/orders/batch`` and ``remote.place_orders``, on a real uvicorn server on a free port with real
httpx clients: each order of a batch answered in its place as ``POST /orders`` answers it alone (filled, REJECTED
with its violations, a 422-shaped error for a malformed one, which records nothing and stops nothing), retries
within and across batches, the kill switch, the read-only token, the door's bound on the body, the lane and the
route answering alike, and hostile batches from Hypothesis (never a 5xx or a trace)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_service_hostile import ANY_JSON, HOSTILE_BODIES, well_formed

import oms_kit as ok
from oms_kit.client import RemoteError
from oms_kit.client.remote import BATCH_SIZE
from oms_kit.service import rest, serve
from oms_kit.service.guard import MAX_BODY
from oms_kit.service.models import MAX_BATCH, ErrorOut, OrderOut

LIMITS = ok.RiskLimits(max_order_quantity=1000, max_orders_per_second=None, duplicate_window_s=None)
READ_TOKEN = "watcher-token"
BATCH = "/orders/batch"
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
VARYING = {"order_id", "client_order_id", "created_at", "updated_at"}


class Served:
    """An OMS, its server and an authorised client of its REST API."""

    def __init__(self, oms: ok.OMS, server: Any, client: httpx.AsyncClient) -> None:
        self.oms, self.server, self.client = oms, server, client

    async def batch(self, orders: Any, **options: Any) -> httpx.Response:
        return await self.client.post(BATCH, json={"orders": orders}, **options)

    def placed(self) -> int:
        return int(self.oms.stats_today()["orders_placed"])


async def _serve(url: str = "duckdb:///:memory:") -> Served:
    oms = await ok.OMS.open(url, feed=None, limits=LIMITS, risk_interval=None)
    if "RELIANCE" not in oms.manager.prices:
        await oms.set_price("RELIANCE", 2500)
        await oms.set_price("TCS", 3900)
    server = await serve(oms, port=0, read_only_token=READ_TOKEN)
    client = httpx.AsyncClient(base_url=server.url + "/api/oms", headers={"Authorization": f"Bearer {server.token}"},
                               timeout=60)
    return Served(oms, server, client)


async def _close(served: Served) -> None:
    await served.client.aclose()
    await served.server.stop()
    await served.oms.close()


@pytest.fixture
async def api() -> AsyncIterator[Served]:
    served = await _serve()
    yield served
    await _close(served)


def _order(**fields: Any) -> dict[str, Any]:
    return {"symbol": "RELIANCE", "side": "BUY", "quantity": 10, **fields}


MIXED = [_order(client_order_id="a"),                                   # filled
         _order(quantity=5000),                                          # REJECTED: above max_order_quantity
         _order(qty=5),                                                  # malformed: an unknown field
         _order(order_type="LIMIT", price="2400"),                       # rests
         7,                                                              # malformed: not an object
         _order(quantity=0),                                             # malformed: no such quantity
         _order(symbol="NOPE"),                                          # REJECTED: unknown instrument
         _order(client_order_id="a"),                                    # a retry of the first
         _order(side="SELL", quantity=4, price="2400")]                  # malformed: a price on a MARKET order


def _outcome(order: dict[str, Any]) -> dict[str, Any]:
    fields = {k: v for k, v in order.items() if k not in VARYING | {"reason", "violations"}}
    return {**fields, "violations": [v["code"] for v in order["violations"]]}


def _is_error(item: dict[str, Any]) -> bool:
    return "order_id" not in item


# -- what a batch answers -------------------------------------------------------------------------------------------


async def test_each_order_is_answered_in_its_place_as_post_orders_answers_it_alone(api):
    twin = await _serve()  # the same orders one by one through POST /orders, on an OMS of their own
    try:
        response = await api.batch(MIXED)
        alone = [await twin.client.post("/orders", content=json.dumps(o).encode(),
                                        headers={"content-type": "application/json"}) for o in MIXED]
    finally:
        await _close(twin)

    assert response.status_code == 200, response.text
    items = response.json()
    assert len(items) == len(MIXED)
    for item, single in zip(items, alone, strict=True):
        if single.status_code == 422:
            ErrorOut.model_validate(item)
            expected = single.json()
            if expected["field"] == "body":  # an item that is not an object: named "order" in a batch
                expected.update(field="order", message=expected["message"].replace("invalid body", "invalid order"))
            assert item == expected  # the same code, message, field and hint
        else:
            OrderOut.model_validate(item)
            # The checks of a batch's order see the earlier ones as working, not yet filled (their margin held,
            # no fees paid yet): the amounts quoted in a violation may differ, not which rules were broken.
            assert _outcome(item) == _outcome(single.json())
    assert [i.get("status") or i["field"] for i in items] == [
        "FILLED", "REJECTED", "qty", "OPEN", "order", "quantity", "REJECTED", "FILLED", "price"]
    assert items[7]["order_id"] == items[0]["order_id"]
    # Nothing recorded for the malformed ones: four orders placed, one retried.
    assert api.placed() == 4 and len(api.oms.orders()) == 4
    await api.oms.flush()
    stored = await api.oms.store.fetch("SELECT order_id FROM orders")
    assert {r["order_id"] for r in stored} == {i["order_id"] for i in items if not _is_error(i)}


async def test_orders_are_placed_in_the_order_sent(api):
    orders = [_order(side="BUY" if i % 2 == 0 else "SELL", quantity=1 + i, client_order_id=f"o-{i}")
              for i in range(MAX_BATCH)]
    items = (await api.batch(orders)).json()
    assert [i["client_order_id"] for i in items] == [f"o-{i}" for i in range(MAX_BATCH)]
    assert list(api.oms.orders()["client_order_id"]) == [f"o-{i}" for i in range(MAX_BATCH)]
    created = [i["created_at"] for i in items]
    assert created == sorted(created)


async def test_retries_are_safe_within_and_across_batches_and_with_post_orders(api):
    single = await api.client.post("/orders", json=_order(client_order_id="s"))
    first = (await api.batch([_order(client_order_id="b"), _order(client_order_id="b"),
                              _order(client_order_id="s")])).json()
    again = (await api.batch([_order(client_order_id="s"), _order(client_order_id="b")])).json()

    assert first[0]["order_id"] == first[1]["order_id"] == again[1]["order_id"]
    assert first[2]["order_id"] == again[0]["order_id"] == single.json()["order_id"]
    assert api.placed() == 2 and api.oms.position("RELIANCE") == 20
    # The same client id with another order is not a retry: it is placed and rejected as a duplicate id.
    other = (await api.batch([_order(client_order_id="b", quantity=3)])).json()[0]
    assert other["status"] == "REJECTED" and other["order_id"] != first[0]["order_id"]


async def test_a_batch_under_the_kill_switch_is_rejected_order_by_order_and_recorded(api):
    assert (await api.client.post("/risk/kill-switch", json={"reason": "halt"})).status_code == 200
    items = (await api.batch([_order(), _order(quantity=7), 3])).json()
    assert [i.get("status") for i in items[:2]] == ["REJECTED", "REJECTED"]
    assert all(v["code"] == "TRADING_HALTED" for i in items[:2] for v in i["violations"])
    assert items[2]["code"] == "INVALID_INPUT"
    assert api.placed() == 2 and api.oms.position("RELIANCE") == 0


async def test_a_kill_switch_during_batches_halts_whole_batches_never_part_of_one(tmp_path: Path):
    # On a durable store a batch is prepared at once and committed before the broker sees it: a kill switch that
    # arrives meanwhile rejects the whole batch unsent, and one that comes before rejects it whole. Either way the
    # orders of one batch end alike, and none is filled after the halt.
    served = await _serve(f"duckdb:///{tmp_path}/oms.duckdb")
    try:
        async def batches() -> list[list[dict[str, Any]]]:
            return [(await served.batch([_order(quantity=1 + k % 3) for k in range(10)])).json() for _ in range(6)]

        async def halt() -> None:
            await asyncio.sleep(0.01)
            await served.client.post("/risk/kill-switch", json={"reason": "halt"})

        results, _ = await asyncio.gather(batches(), halt())
        outcomes = [{i["status"] for i in batch} for batch in results]
        assert all(len(o) == 1 for o in outcomes), outcomes
        halted = [o == {"REJECTED"} for o in outcomes]
        assert halted == sorted(halted)  # once halted, every later batch is too
        assert halted[-1]
        filled = sum(i["quantity"] for batch in results for i in batch if i["status"] == "FILLED")
        assert served.oms.position("RELIANCE") == filled
    finally:
        await _close(served)


async def test_the_read_only_token_is_refused_and_nothing_is_placed(api):
    async with httpx.AsyncClient(base_url=api.server.url + "/api/oms",
                                 headers={"Authorization": f"Bearer {READ_TOKEN}"}) as watcher:
        response = await watcher.post(BATCH, json={"orders": [_order()]})
    assert response.status_code == 403 and response.json()["code"] == "READ_ONLY_TOKEN"
    assert api.placed() == 0


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"orders": []}, "orders", "not an empty one"),
    ({"orders": [_order()] * (MAX_BATCH + 1)}, "orders", f"not {MAX_BATCH + 1}"),
    ({"orders": {"0": _order()}}, "orders", "a list of 1 to"),
    ({"orders": None}, "orders", "a list of 1 to"),
    ({}, "orders", "missing orders"),
    ({"orders": [_order()], "account": "x"}, "account", "unexpected field"),
    ([_order()], "body", "a JSON object is expected"),
])
async def test_a_malformed_batch_is_a_422_naming_the_field_and_records_nothing(api, body, field, words):
    response = await api.client.post(BATCH, json=body)
    assert response.status_code == 422, response.text
    error = response.json()
    assert (error["code"], error["field"]) == ("INVALID_INPUT", field) and words in error["message"]
    assert api.placed() == 0


async def test_the_door_takes_a_batch_of_the_longest_orders_and_refuses_a_larger_body(api):
    longest = _order(symbol="R" * 64, client_order_id="é" * 255, tag="\u2603" * 255, order_type="LIMIT",
                     price="2400.05", product="NRML", validity="DAY", variety="regular")
    body = json.dumps({"orders": [longest] * MAX_BATCH}).encode()  # every character escaped: the largest JSON
    assert MAX_BODY < len(body) < MAX_BODY * rest.BODY_FACTORS[("POST", "/api/oms/orders/batch")]
    response = await api.client.post(BATCH, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200 and len(response.json()) == MAX_BATCH  # REJECTED: no such symbol
    assert api.placed() == 1  # one order, retried 99 times by its client id

    huge = json.dumps({"orders": [_order(tag="t" * 6000)] * MAX_BATCH}).encode()
    response = await api.client.post(BATCH, content=huge, headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json()["field"] == "body"
    assert "smaller batches" in response.json()["hint"]
    # The bound of the other routes is as it was.
    single = await api.client.post("/orders", content=b" " * (MAX_BODY + 1) + b"{}",
                                   headers={"content-type": "application/json"})
    assert single.status_code == 413
    assert api.placed() == 1


async def test_the_lane_and_the_route_answer_a_batch_alike(api, monkeypatch):
    taken: list[bool] = []
    key = ("POST", rest.PREFIX + BATCH)
    lane = rest.LANES[key]

    async def counted(*args: Any) -> bool:
        taken.append(await lane(*args))
        return taken[-1]

    monkeypatch.setitem(rest.LANES, key, counted)
    orders = [_order(client_order_id="x"), _order(quantity=5000), _order(qty=1)]
    by_lane = await api.client.post(BATCH, content=json.dumps({"orders": orders}).encode(),
                                    headers={"content-type": "application/json"})
    orders[0]["client_order_id"] = "y"
    by_route = await api.client.post(BATCH, content=json.dumps({"orders": orders}).encode(),
                                     headers={"content-type": "application/vnd.oms+json"})
    assert taken == [True, False]
    assert by_lane.status_code == by_route.status_code == 200
    def same(item: dict[str, Any]) -> dict[str, Any]:  # the funds left differ: the first batch's order filled
        return item if _is_error(item) else _outcome(item)

    assert [same(i) for i in by_lane.json()] == [same(i) for i in by_route.json()]
    assert by_lane.json()[2]["field"] == "qty"


async def test_the_batch_route_is_in_the_openapi_document(api):
    async with httpx.AsyncClient(base_url=api.server.url) as browser:
        schema = (await browser.get("/openapi.json", params={"token": api.server.token})).json()
    operation = schema["paths"]["/api/oms/orders/batch"]["post"]
    body = schema["components"]["schemas"]["BatchIn"]["properties"]["orders"]
    assert body["items"] == {"$ref": "#/components/schemas/OrderIn"} and body["maxItems"] == MAX_BATCH
    assert "OrderIn" in schema["components"]["schemas"]
    assert "200" in operation["responses"]


# -- hostile batches ------------------------------------------------------------------------------------------------

HOSTILE_BATCHES = st.one_of(
    st.fixed_dictionaries({"orders": st.lists(HOSTILE_BODIES, min_size=1, max_size=12)}),
    st.fixed_dictionaries({"orders": st.lists(well_formed(), min_size=95, max_size=105)}),
    st.fixed_dictionaries({"orders": ANY_JSON}),
    st.dictionaries(st.sampled_from(["orders", "order", "account"]), st.lists(HOSTILE_BODIES, max_size=3),
                    max_size=2),
    ANY_JSON,
)


async def test_hostile_batches_are_a_422_naming_a_field_or_an_answer_per_order(api):
    await hostile_batches(api)


async def test_hostile_batches_on_a_durable_store_are_a_422_or_orders_stored_once(durable_url):
    # A durable store commits the batch before the broker sees it: the same outcomes, each order stored once.
    served = await _serve(durable_url)
    try:
        await hostile_batches(served)
    finally:
        await _close(served)


async def hostile_batches(api: Served) -> None:
    oms, loop = api.oms, asyncio.get_running_loop()
    headers = {"Authorization": f"Bearer {api.server.token}", "Content-Type": "application/json"}
    client = httpx.Client(base_url=api.server.url + "/api/oms", headers=headers, timeout=60)
    outcomes = {"batch_refused": 0, "item_refused": 0, "placed": 0}

    def placed() -> int:
        # Read on the server's loop between requests: the OMS is idle then.
        return asyncio.run_coroutine_threadsafe(_placed(oms), loop).result(timeout=30)

    @SETTINGS
    @given(body=HOSTILE_BATCHES, huge=st.booleans())
    def check(body: Any, huge: bool) -> None:
        before = placed()
        content = json.dumps(body).encode()
        if huge and isinstance(body, dict) and isinstance(body.get("orders"), list) and body["orders"]:
            content = json.dumps({**body, "orders": body["orders"] * 40, "padding": "x" * 600_000}).encode()
        response = client.post(BATCH, content=content)
        assert response.status_code < 500, response.text
        assert "Traceback" not in response.text and 'File "' not in response.text
        answer = response.json()
        if response.status_code in (413, 422):
            ErrorOut.model_validate(answer)
            assert isinstance(answer["field"], str) and answer["field"], answer
            assert placed() == before
            outcomes["batch_refused"] += 1
            return
        assert response.status_code == 200, response.text
        assert isinstance(answer, list) and len(answer) == len(body["orders"])
        new = set()
        for item in answer:
            if _is_error(item):
                ErrorOut.model_validate(item)
                assert item["code"] == "INVALID_INPUT" and item["field"], item
                outcomes["item_refused"] += 1
            else:
                OrderOut.model_validate(item)
                new.add(item["order_id"])
                outcomes["placed"] += 1
        # Every order answered is on the book; those not there before are the new ones, and only they.
        assert placed() - before <= len(new)

    try:
        await asyncio.to_thread(check)
        client.close()
        await oms.flush()
        stored = await oms.store.fetch("SELECT count(*) AS n FROM orders WHERE account = $1", oms.account)
        assert int(stored[0]["n"]) == len(oms.orders()) == oms.stats_today()["orders_placed"]
    finally:
        client.close()
    assert min(outcomes.values()) > 10, outcomes


async def _placed(oms: ok.OMS) -> int:
    return int(oms.stats_today()["orders_placed"])


# -- the Python client ----------------------------------------------------------------------------------------------


async def test_remote_place_orders_returns_an_order_or_the_exception_per_item(api):
    remote = await ok.connect(api.server.url, token=api.server.token)
    try:
        results = await remote.place_orders([
            ok.OrderRequest("RELIANCE", "BUY", 10, client_order_id="r-1"),
            {"symbol": "RELIANCE", "side": "BUY", "quantity": 5000},
            {"symbol": "RELIANCE", "side": "BUY", "quantity": -1},  # refused here, not sent
            {"symbol": "RELIANCE", "side": "BUY", "qty": 1},
            {"symbol": "RELIANCE", "side": "BUY"},
            {"symbol": "TCS", "side": "SELL", "quantity": 2, "order_type": "LIMIT", "price": 3950},
            ok.OrderRequest("RELIANCE", "BUY", 10, client_order_id="r-1"),
        ])
        assert [type(r).__name__ for r in results] == ["Order", "Order", "InvalidOrderError", "InvalidOrderError",
                                                       "InvalidOrderError", "Order", "Order"]
        assert [r.field for r in results[2:5]] == ["quantity", "qty", "quantity"]  # type: ignore[union-attr]
        assert [r.status for r in results if isinstance(r, ok.Order)] == [
            ok.OrderStatus.FILLED, ok.OrderStatus.REJECTED, ok.OrderStatus.OPEN, ok.OrderStatus.FILLED]
        assert results[0].order_id == results[6].order_id  # type: ignore[union-attr]
        for result in results:
            if isinstance(result, ok.Order):
                assert result.to_dict() == api.oms.get_order(result.order_id).to_dict()
        assert api.placed() == 3

        with pytest.raises(ok.InvalidOrderError, match=r"orders\[1\]"):
            await remote.place_orders([{"symbol": "RELIANCE", "side": "BUY", "quantity": 1}, "RELIANCE"])
        assert api.placed() == 3 and await remote.place_orders([]) == []
    finally:
        await remote.close()


async def test_remote_place_orders_sends_more_than_a_batch_in_successive_requests(api):
    remote = await ok.connect(api.server.url, token=api.server.token)
    try:
        orders = [{"symbol": "RELIANCE", "side": "BUY" if i % 2 == 0 else "SELL", "quantity": 1,
                   "client_order_id": f"n-{i}"} for i in range(BATCH_SIZE + 30)]
        results = await remote.place_orders(orders)
        assert [r.client_order_id for r in results] == [f"n-{i}" for i in range(BATCH_SIZE + 30)]  # type: ignore
        assert list(api.oms.orders()["client_order_id"]) == [f"n-{i}" for i in range(BATCH_SIZE + 30)]
        assert BATCH_SIZE == MAX_BATCH
    finally:
        await remote.close()


async def test_remote_place_orders_returns_persistence_unavailable_in_place_of_refused_orders(tmp_path: Path):
    path = tmp_path / "oms.duckdb"
    wal = Path(f"{path}.wal")
    served = await _serve(f"duckdb:///{path}")
    remote = await ok.connect(served.server.url, token=served.server.token)
    try:
        kept = await remote.place_order("RELIANCE", "BUY", 5, client_order_id="kept")
        await served.oms.flush()
        await served.oms.store.fetch("CHECKPOINT")
        wal.mkdir()  # every COMMIT now fails (see tests/test_durable_duckdb.py)
        results = await remote.place_orders([{"symbol": "RELIANCE", "side": "BUY", "quantity": 3},
                                             {"symbol": "RELIANCE", "side": "BUY", "quantity": 5,
                                              "client_order_id": "kept"}])
        assert isinstance(results[0], ok.PersistenceUnavailable)
        assert "refused: the database is unavailable" in results[0].message
        assert isinstance(results[1], ok.Order) and results[1].order_id == kept.order_id
        assert served.oms.position("RELIANCE") == 5
    finally:
        if wal.is_dir():
            wal.rmdir()
        await remote.close()
        await _close(served)


async def test_remote_place_orders_with_the_read_only_token_raises_and_places_nothing(api):
    watcher = await ok.connect(api.server.url, token=READ_TOKEN)
    try:
        with pytest.raises(RemoteError) as refused:
            await watcher.place_orders([{"symbol": "RELIANCE", "side": "BUY", "quantity": 1}])
        assert refused.value.code == "READ_ONLY_TOKEN" and refused.value.status == 403
        assert api.placed() == 0
    finally:
        await watcher.close()


async def test_the_blocking_twin_places_a_batch_from_a_thread(api):
    url, token = api.server.url, api.server.token

    def script() -> list[Any]:
        with ok.connect_sync(url, token=token) as remote:
            return remote.place_orders([{"symbol": "TCS", "side": "BUY", "quantity": 2},
                                        {"symbol": "TCS", "side": "BUY", "quantity": "two"}])

    results = await asyncio.to_thread(script)
    assert isinstance(results[0], ok.Order) and results[0].status is ok.OrderStatus.FILLED
    assert isinstance(results[1], ok.InvalidOrderError) and results[1].field == "quantity"
    assert api.oms.position("TCS") == 2
