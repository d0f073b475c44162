"""Kite Connect's GTT calls (``place_gtt``, ``get_gtts``, ``get_gtt``, ``modify_gtt``, ``delete_gtt``) of the official
``kiteconnect`` client against a real server on a free port, over the OMS's GTT book: Kite's integer trigger ids and
shapes, a price crossing that fires the GTT's order, and malformed forms refused as InputException naming the field
with nothing changed."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

import oms_kit as ok
from oms_kit.service import serve

LIMITS = ok.RiskLimits(max_order_quantity=1000, max_orders_per_second=None, duplicate_window_s=None)
INFY = 1500
SELL = {"transaction_type": "SELL", "quantity": 5, "order_type": "LIMIT", "product": "CNC", "price": 1540}
BUY = {"transaction_type": "BUY", "quantity": 5, "order_type": "LIMIT", "product": "CNC", "price": 1560}
GTT_FIELDS = {"id", "user_id", "parent_trigger", "type", "created_at", "updated_at", "expires_at", "status",
              "condition", "orders", "meta"}


class Kite:
    """An OMS, its server, and the official client logged in to it."""

    def __init__(self, oms: ok.OMS, server: Any) -> None:
        self.oms, self.server = oms, server
        self.client = KiteConnect(api_key=oms.account, root=server.url)
        self.client.set_access_token(server.token)

    async def __call__(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call the client's ``method`` in a thread (the server runs on this loop)."""
        return await asyncio.to_thread(getattr(self.client, method), *args, **kwargs)

    async def single(self, trigger: float, order: dict[str, Any], last_price: float = INFY) -> int:
        placed = await self("place_gtt", "single", "INFY", "NSE", [trigger], last_price, [order])
        return placed["trigger_id"]  # type: ignore[no-any-return]


@pytest.fixture
async def open_kite():
    opened: list[Kite] = []

    async def make(read_only_token: str | None = None) -> Kite:
        oms = await ok.OMS.open("duckdb:///:memory:", feed=None, risk_interval=None, limits=LIMITS)
        await oms.set_price("INFY", INFY)
        kite = Kite(oms, await serve(oms, port=0, read_only_token=read_only_token))
        opened.append(kite)
        return kite

    yield make
    for kite in opened:
        await kite.server.stop()
        await kite.oms.close()


@pytest.fixture
async def kite(open_kite) -> Kite:
    return await open_kite()


async def test_a_single_gtt_is_placed_listed_and_fires_its_order_when_the_price_crosses(kite):
    trigger_id = await kite.single(1450, SELL | {"price": 1440})

    assert isinstance(trigger_id, int)
    gtt = kite.oms.get_gtt(f"G-{trigger_id}")
    assert (gtt.kind, gtt.triggers, gtt.status) == ("single", (1450,), "active")
    listed = await kite("get_gtts")
    assert [g["id"] for g in listed] == [trigger_id]
    shown = await kite("get_gtt", trigger_id)
    assert set(shown) == GTT_FIELDS
    assert (shown["type"], shown["status"], shown["user_id"]) == ("single", "active", kite.oms.account)
    assert shown["condition"]["trigger_values"] == [1450.0] and shown["condition"]["tradingsymbol"] == "INFY"
    (leg,) = shown["orders"]
    assert (leg["transaction_type"], leg["quantity"], leg["price"], leg["result"]) == ("SELL", 5, 1440.0, None)
    created, expires = (datetime.strptime(shown[k], "%Y-%m-%d %H:%M:%S") for k in ("created_at", "expires_at"))
    assert expires.year == created.year + 1  # Kite's "YYYY-MM-DD HH:MM:SS"; a year to fire

    await kite.oms.set_price("INFY", 1449)

    fired = await kite("get_gtt", trigger_id)
    assert fired["status"] == "triggered"
    result = fired["orders"][0]["result"]
    order_id = result["order_result"]["order_id"]
    assert order_id == gtt.order_ids[0] and result["order_result"]["status"] == "success"
    order = kite.oms.get_order(order_id)
    assert (order.side, order.quantity, order.price) == (ok.Side.SELL, 5, 1440)
    assert order_id in [o["order_id"] for o in await kite("orders")]


async def test_a_two_leg_gtt_fires_the_leg_reached_and_not_the_other(kite):
    placed = await kite("place_gtt", "two-leg", "INFY", "NSE", [1400, 1600], INFY,
                        [SELL | {"price": 1390}, SELL | {"price": 1610}])
    trigger_id = placed["trigger_id"]
    other = await kite.single(1700, BUY | {"price": 1710})
    assert other != trigger_id

    shown = await kite("get_gtt", trigger_id)
    assert shown["type"] == "two-leg" and shown["condition"]["trigger_values"] == [1400.0, 1600.0]
    await kite.oms.set_price("INFY", 1601)

    fired = await kite("get_gtt", trigger_id)
    assert fired["status"] == "triggered"
    assert fired["orders"][0]["result"] is None and fired["orders"][1]["result"]["triggered_at"] == 1600.0
    assert len(kite.oms.orders()) == 1
    statuses = {g["id"]: g["status"] for g in await kite("get_gtts")}
    assert statuses == {trigger_id: "triggered", other: "active"}


async def test_modify_changes_the_trigger_and_delete_stops_it(kite):
    trigger_id = await kite.single(1550, BUY)

    modified = await kite("modify_gtt", trigger_id, "single", "INFY", "NSE", [1580], INFY, [BUY | {"quantity": 7}])
    assert modified["trigger_id"] == trigger_id
    gtt = kite.oms.get_gtt(f"G-{trigger_id}")
    assert gtt.triggers == (1580,) and gtt.orders[0].quantity == 7
    await kite.oms.set_price("INFY", 1560)  # the old trigger: no longer fires
    assert gtt.status == "active" and kite.oms.orders().empty

    deleted = await kite("delete_gtt", trigger_id)
    assert deleted["trigger_id"] == trigger_id
    assert (await kite("get_gtt", trigger_id))["status"] == "deleted"
    await kite.oms.set_price("INFY", 1590)
    assert kite.oms.orders().empty
    with pytest.raises(kex.OrderException):  # no longer active
        await kite("delete_gtt", trigger_id)
    with pytest.raises(kex.InputException, match="type"):  # a GTT's type stays
        await kite("modify_gtt", trigger_id, "two-leg", "INFY", "NSE", [1400, 1600], INFY, [SELL, SELL])


async def test_an_unknown_or_malformed_trigger_id_is_refused(kite):
    with pytest.raises(kex.InputException, match="trigger_id") as raised:
        await kite("get_gtt", 99)
    assert raised.value.code == 404
    with pytest.raises(kex.InputException, match="trigger_id"):
        await kite("delete_gtt", 99)
    with pytest.raises(kex.InputException, match="trigger_id") as raised:
        await kite("get_gtt", "G-1")
    assert raised.value.code == 400


async def test_the_read_only_token_lists_gtts_but_cannot_place_or_delete(open_kite):
    kite = await open_kite(read_only_token="watcher-token")
    trigger_id = await kite.single(1550, BUY)
    kite.client.set_access_token("watcher-token")

    assert [g["id"] for g in await kite("get_gtts")] == [trigger_id]
    with pytest.raises(kex.PermissionException):
        await kite.single(1560, BUY)
    with pytest.raises(kex.PermissionException):
        await kite("delete_gtt", trigger_id)
    assert kite.oms.gtts()["status"].tolist() == ["active"]


async def test_values_the_oms_refuses_name_kites_field(kite):
    with pytest.raises(kex.InputException, match="trigger_values"):  # at the price: would fire at once
        await kite.single(INFY, BUY)
    with pytest.raises(kex.InputException, match="trigger_values"):  # a stop above the price
        await kite("place_gtt", "two-leg", "INFY", "NSE", [1600, 1700], INFY, [SELL, SELL])
    with pytest.raises(kex.InputException, match="tradingsymbol"):
        await kite("place_gtt", "single", "NOPE", "NSE", [1550], INFY, [BUY])
    with pytest.raises(kex.InputException, match="exchange"):
        await kite("place_gtt", "single", "INFY", "BSE", [1550], INFY, [BUY])
    assert kite.oms.gtts().empty


def _form(kind: Any, condition: Any, orders: Any) -> dict[str, str]:
    return {"type": kind, "condition": condition if isinstance(condition, str) else json.dumps(condition),
            "orders": orders if isinstance(orders, str) else json.dumps(orders)}


CONDITION = {"exchange": "NSE", "tradingsymbol": "INFY", "trigger_values": [1550], "last_price": INFY}
ORDER = {"exchange": "NSE", "tradingsymbol": "INFY", **BUY}
HOSTILE = st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30), st.text(max_size=30),
                    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(),
                                                                          max_size=2),
                    st.sampled_from(["NaN", "-1", "1e400", "Infinity", "\x00", "[[[[[[", "{}"]))
FIELDS = {"type": "type", "condition": "condition", "orders": "orders",
          "exchange": "exchange", "tradingsymbol": "tradingsymbol", "trigger_values": "trigger_values",
          "last_price": "last_price", "transaction_type": "transaction_type", "quantity": "quantity",
          "order_type": "order_type", "product": "product", "price": "price"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(sorted(FIELDS)), value=HOSTILE)
async def test_hostile_forms_are_an_input_exception_naming_the_field_and_change_nothing(kite, field, value):
    condition, order, kind = dict(CONDITION), dict(ORDER), "single"
    if field == "type":
        kind = value if isinstance(value, str) else json.dumps(value)
    elif field in ("condition", "orders"):
        pass
    elif field in condition:
        condition[field] = value
    else:
        order[field] = value
    form = _form(kind, value if field == "condition" else condition, value if field == "orders" else [order])
    headers = {"Authorization": f"token {kite.oms.account}:{kite.server.token}", "X-Kite-Version": "3"}
    before = (len(kite.oms.gtts()), len(kite.oms.orders()))
    async with httpx.AsyncClient(base_url=kite.server.url) as http:
        answer = await http.post("/gtt/triggers", data=form, headers=headers)
    body = answer.json()
    if answer.status_code == 200:  # a hostile draw that is a valid value (a whole price, "SELL", ...): one more GTT
        assert len(kite.oms.gtts()) == before[0] + 1
        return
    assert answer.status_code == 400, body
    assert body["status"] == "error" and body["error_type"] == "InputException", body
    named = FIELDS[field] in body["message"] or (
        field in ("last_price", "price") and "trigger_values" in body["message"])  # a price moves the triggers' side
    assert named, body
    assert (len(kite.oms.gtts()), len(kite.oms.orders())) == before
