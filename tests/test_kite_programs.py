"""Kite Connect's cover (``co``) and ``iceberg`` varieties with the official ``kiteconnect`` client against a real
server on a free port, over the OMS's order programs: an iceberg's legs and a cover order's entry and stop in
``kite.orders()`` with their variety, the stop at the trigger Kite was given, cancels and modifies of their orders
by variety, and malformed forms refused as InputException naming the field with nothing placed."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

import oms_kit as ok
from oms_kit.service import serve

S = ok.OrderStatus
LIMITS = ok.RiskLimits(max_orders_per_second=None, duplicate_window_s=None)
INFY = 1500
ICEBERG = {"variety": "iceberg", "exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY",
           "quantity": 10, "product": "MIS", "order_type": "LIMIT", "price": 1495, "iceberg_legs": 3,
           "iceberg_quantity": 4}
COVER = {"variety": "co", "exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": 5,
         "product": "MIS", "order_type": "MARKET", "trigger_price": 1490}


class Kite:
    """An OMS, its server, and the official client logged in to it."""

    def __init__(self, oms: ok.OMS, server: Any) -> None:
        self.oms, self.server = oms, server
        self.client = KiteConnect(api_key=oms.account, root=server.url)
        self.client.set_access_token(server.token)

    async def __call__(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call the client's ``method`` in a thread (the server runs on this loop)."""
        return await asyncio.to_thread(getattr(self.client, method), *args, **kwargs)

    async def orders(self) -> dict[str, dict[str, Any]]:
        return {o["order_id"]: o for o in await self("orders")}


@pytest.fixture
async def kite():
    oms = await ok.OMS.open("duckdb:///:memory:", feed=None, risk_interval=None, limits=LIMITS)
    await oms.set_price("INFY", INFY)
    server = await serve(oms, port=0)
    yield Kite(oms, server)
    await server.stop()
    await oms.close()


def program_of(oms: ok.OMS, order_id: str) -> Any:
    return next(oms.get_program(p) for p in oms.programs()["program_id"] if order_id in oms.get_program(p).order_ids)


async def test_an_iceberg_order_sends_its_legs_one_after_another_shown_as_iceberg_orders(kite):
    order_id = await kite("place_order", **ICEBERG)

    program = program_of(kite.oms, order_id)
    assert (program.kind, program.legs, program.order_ids) == ("iceberg", 3, [order_id])
    first = (await kite.orders())[order_id]
    assert (first["variety"], first["quantity"], first["price"], first["status"]) == ("iceberg", 4, 1495.0, "OPEN")

    await kite.oms.set_price("INFY", 1495)  # each leg fills at once, and the next goes out

    shown = await kite.orders()
    assert list(shown) == program.order_ids and len(shown) == 3
    assert [(o["variety"], o["quantity"], o["status"]) for o in shown.values()] == [
        ("iceberg", 4, "COMPLETE"), ("iceberg", 3, "COMPLETE"), ("iceberg", 3, "COMPLETE")]
    assert program.status == "complete" and kite.oms.position("INFY") == 10
    history = await kite("order_history", program.order_ids[1])
    assert {entry["variety"] for entry in history} == {"iceberg"}


async def test_a_market_cover_order_sets_its_stop_at_the_trigger_and_exits_there(kite):
    order_id = await kite("place_order", **COVER)

    program = program_of(kite.oms, order_id)
    assert (program.kind, program.entry_id, program.stoploss) == ("cover", order_id, Decimal(INFY - 1490))
    shown = await kite.orders()
    entry, stop = shown[order_id], shown[program.stop_id]
    assert (entry["variety"], entry["status"], entry["parent_order_id"]) == ("co", "COMPLETE", None)
    assert (stop["variety"], stop["order_type"], stop["transaction_type"], stop["trigger_price"]) == (
        "co", "SL-M", "SELL", 1490.0)
    assert (stop["parent_order_id"], stop["status"]) == (order_id, "TRIGGER PENDING")

    await kite.oms.set_price("INFY", 1489)

    assert (await kite.orders())[program.stop_id]["status"] == "COMPLETE"
    assert program.status == "complete" and kite.oms.position("INFY") == 0


async def test_a_limit_sell_cover_order_sets_its_stop_from_the_limit_price(kite):
    order_id = await kite("place_order", **{**COVER, "transaction_type": "SELL", "order_type": "LIMIT",
                                            "price": 1510, "trigger_price": 1522.5})
    program = program_of(kite.oms, order_id)
    assert program.stop_id is None and program.stoploss == Decimal("12.5")

    await kite.oms.set_price("INFY", 1510)

    stop = kite.oms.get_order(program.stop_id)
    assert (stop.side, stop.trigger_price, stop.status) == (ok.Side.BUY, Decimal("1522.5"), S.TRIGGER_PENDING)


async def test_cancelling_or_modifying_a_program_order_by_its_variety_acts_on_the_order(kite):
    iceberg_id = await kite("place_order", **ICEBERG)
    cover_id = await kite("place_order", **COVER)
    regular_id = await kite("place_order", **{**COVER, "variety": "regular", "trigger_price": None})
    cover = program_of(kite.oms, cover_id)

    assert await kite("modify_order", "co", cover.stop_id, parent_order_id=cover_id, trigger_price=1492) == \
        cover.stop_id
    assert kite.oms.get_order(cover.stop_id).trigger_price == Decimal("1492")
    with pytest.raises(kex.InputException, match="variety"):
        await kite("cancel_order", "iceberg", cover.stop_id)
    with pytest.raises(kex.InputException, match="variety"):
        await kite("cancel_order", "co", regular_id)

    await kite("cancel_order", "iceberg", iceberg_id)
    await kite("exit_order", "co", cover.stop_id, parent_order_id=cover_id)

    shown = await kite.orders()
    assert shown[iceberg_id]["status"] == shown[cover.stop_id]["status"] == "CANCELLED"
    assert program_of(kite.oms, iceberg_id).status == "cancelled" and cover.status == "cancelled"
    assert shown[regular_id]["variety"] == "regular"


MALFORMED = [
    ({"trigger_price": 1510}, "trigger_price"),                      # a BUY cover's stop above the price
    ({"transaction_type": "SELL"}, "trigger_price"),                 # a SELL cover's stop below it
    ({"order_type": "LIMIT", "price": 1480}, "trigger_price"),       # below the last price, above the limit
    ({"trigger_price": None}, "trigger_price"), ({"trigger_price": "abc"}, "trigger_price"),
    ({"product": "CNC"}, "product"), ({"order_type": "SL-M"}, "order_type"), ({"validity": "IOC"}, "validity"),
    ({"variety": "iceberg", "trigger_price": None}, "iceberg_legs"),
]
ICEBERG_MALFORMED = [
    ({"iceberg_quantity": 3}, "iceberg_quantity"), ({"iceberg_quantity": None}, "iceberg_quantity"),
    ({"iceberg_legs": 1}, "iceberg_legs"), ({"iceberg_legs": 51}, "iceberg_legs"),
    ({"iceberg_legs": "x"}, "iceberg_legs"), ({"quantity": 2, "iceberg_quantity": 1}, "iceberg_legs"),
    ({"validity": "IOC"}, "validity"), ({"tradingsymbol": "NOPE"}, "tradingsymbol"),
]


@pytest.mark.parametrize(("fields", "named"), [*((f | {"_base": "co"}, n) for f, n in MALFORMED),
                                               *((f | {"_base": "iceberg"}, n) for f, n in ICEBERG_MALFORMED)])
async def test_malformed_cover_and_iceberg_orders_are_input_exceptions_naming_the_field(kite, fields, named):
    base = COVER if fields.pop("_base") == "co" else ICEBERG
    form = {k: v for k, v in {**base, **fields}.items() if v is not None}

    with pytest.raises(kex.InputException) as raised:
        await kite("place_order", **form)

    assert f"`{named}`" in str(raised.value)
    assert kite.oms.orders().empty and kite.oms.programs().empty


FIELD_VALUES: dict[str, st.SearchStrategy[str]] = {
    "variety": st.sampled_from(["co", "iceberg"]),
    "quantity": st.sampled_from(["1", "10", "0", "-1", "1.5", "9" * 30, ""]),
    "order_type": st.sampled_from(["MARKET", "LIMIT", "SL", "SL-M", ""]),
    "price": st.sampled_from(["0", "1495", "1495.05", "1495.01", "-5", "NaN", "Infinity", "1e999999", ""]),
    "trigger_price": st.sampled_from(["0", "1490", "1510", "1490.013", "-1", "NaN", "x", ""]),
    "product": st.sampled_from(["MIS", "CO", "CNC", "NRML", ""]),
    "validity": st.sampled_from(["DAY", "IOC", "TTL", ""]),
    "iceberg_legs": st.sampled_from(["2", "3", "1", "51", "²", "-2", "x", ""]),
    "iceberg_quantity": st.sampled_from(["4", "5", "3", "0", "x", "9" * 20, ""]),
    "transaction_type": st.sampled_from(["BUY", "SELL", "HOLD"]),
}


async def test_hostile_cover_and_iceberg_forms_never_get_a_5xx_and_are_refused_or_placed(kite):
    oms, url = kite.oms, kite.server.url
    headers = {"Authorization": f"token {oms.account}:{kite.server.token}", "X-Kite-Version": "3"}
    outcomes = {"placed": 0, "refused": 0}

    def counts() -> tuple[int, int]:
        return len(oms.programs()), len(oms.orders())  # read between requests: the loop is idle then

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(fields=st.fixed_dictionaries({"variety": FIELD_VALUES["variety"]}, optional={
        k: v for k, v in FIELD_VALUES.items() if k != "variety"}))
    def check(fields: dict[str, str]) -> None:
        own = {"co": {"trigger_price": "1490"}, "iceberg": {"iceberg_legs": "2", "iceberg_quantity": "5"}}
        base = own[fields["variety"]]
        form = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": "10",
                "product": "MIS", "order_type": "LIMIT", "price": "1495"} | base | fields
        before = counts()
        response = http.post(f"/orders/{fields['variety']}", data=form)
        assert response.status_code < 500, response.text
        answer = response.json()
        if answer["status"] == "error":
            assert response.status_code == 400 and answer["error_type"] == "InputException", answer
            assert counts() == before
            outcomes["refused"] += 1
            return
        assert counts()[0] == before[0] + 1
        shown = {o["order_id"]: o for o in http.get("/orders").json()["data"]}
        assert shown[answer["data"]["order_id"]]["variety"] == fields["variety"]
        outcomes["placed"] += 1

    with httpx.Client(base_url=url, headers=headers) as http:
        await asyncio.to_thread(check)
    assert outcomes["placed"] > 5 and outcomes["refused"] > 30, outcomes
