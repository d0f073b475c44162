"""Order programs over the REST API and the Python client, against a real server on a free port: each kind placed
with ``POST /api/oms/programs`` and seen in ``oms.programs()`` and the orders; a bracket's legs placed and filled as
prices are pushed; ``DELETE`` cancelling; 404 for an unknown program; a retry with the same ``client_order_id``; the
client's ``place_bracket`` & co returning the OMS's Program values and table; and hostile bodies (Hypothesis) on
memory and on a DuckDB file, answered 422 in the error shape with nothing placed, never a 5xx or a trace."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import oms_kit as ok
from oms_kit.programs import ProgramNotFound
from oms_kit.service import serve

S = ok.OrderStatus
LIMITS = ok.RiskLimits(max_orders_per_second=None, duplicate_window_s=None)
READ_TOKEN = "programs-read-token"
ERROR_FIELDS = {"code", "message", "field", "hint"}
BODIES = {
    "bracket": {"kind": "bracket", "symbol": "INFY", "side": "BUY", "quantity": 10, "order_type": "LIMIT",
                "price": "1500", "target": 10, "stoploss": "5"},
    "cover": {"kind": "cover", "symbol": "INFY", "side": "SELL", "quantity": 4, "stoploss": 6.5},
    "trailing": {"kind": "trailing", "symbol": "INFY", "side": "SELL", "quantity": 5, "trail_percent": "1"},
    "iceberg": {"kind": "iceberg", "symbol": "INFY", "side": "BUY", "quantity": 10, "price": 1495, "legs": 3,
                "client_order_id": "ice"},
}


class Served:
    def __init__(self, oms: ok.OMS, server: Any, http: httpx.AsyncClient) -> None:
        self.oms, self.server, self.http = oms, server, http

    async def place(self, body: dict[str, Any]) -> httpx.Response:
        return await self.http.post("/programs", json=body)


async def open_served(url: str = "duckdb:///:memory:") -> Served:
    oms = await ok.OMS.open(url, feed=None, risk_interval=None, limits=LIMITS)
    await oms.set_price("INFY", 1502)
    server = await serve(oms, port=0, read_only_token=READ_TOKEN)
    http = httpx.AsyncClient(base_url=server.url + "/api/oms", headers={"Authorization": f"Bearer {server.token}"})
    return Served(oms, server, http)


async def close_served(served: Served) -> None:
    await served.http.aclose()
    await served.server.stop()
    await served.oms.close()


@pytest.fixture
async def api() -> AsyncIterator[Served]:
    served = await open_served()
    yield served
    await close_served(served)


def assert_error(response: httpx.Response, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == ERROR_FIELDS and body["code"] == code
    if field is not None:
        assert body["field"] == field
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body  # type: ignore[no-any-return]


# -- each kind over REST ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", BODIES)
async def test_each_kind_is_placed_over_rest_and_seen_in_the_oms(api, kind):
    if kind == "trailing":
        await api.oms.place_order("INFY", "BUY", 5)  # the position the stop protects

    response = await api.place(BODIES[kind])

    assert response.status_code == 201, response.text
    answer = response.json()
    program = api.oms.get_program(answer["program_id"])
    assert (answer["kind"], answer["status"], answer["symbol"]) == (kind, "active", "INFY")
    assert answer["order_ids"] == program.order_ids and program.order_ids
    assert answer["quantity"] == BODIES[kind]["quantity"] and answer["request"]["symbol"] == "INFY"
    assert api.oms.programs()["program_id"].tolist() == [answer["program_id"]]
    orders = {o["order_id"]: o for o in (await api.http.get("/orders")).json()}
    assert set(program.order_ids) <= set(orders)
    first = orders[program.order_ids[0]]
    if kind == "iceberg":
        assert (first["quantity"], Decimal(first["price"]), first["client_order_id"]) == (4, 1495, "ice-1")
    elif kind == "trailing":
        # 1 % under 1502, on the tick
        assert (first["order_type"], Decimal(first["trigger_price"])) == ("SL-M", Decimal("1487"))
    elif kind == "cover":  # a live market entry fills at once; its stop is 6.5 points above the fill
        assert first["status"] == "FILLED" and Decimal(orders[program.stop_id]["trigger_price"]) == Decimal("1508.5")
    else:
        assert (first["order_type"], Decimal(first["price"]), first["status"]) == ("LIMIT", 1500, "OPEN")
    listed = (await api.http.get("/programs", params={"status": "active"})).json()
    assert [p["program_id"] for p in listed] == [answer["program_id"]]
    assert (await api.http.get("/programs", params={"status": "complete"})).json() == []


async def test_a_brackets_legs_are_placed_and_filled_as_prices_are_pushed(api):
    placed = (await api.place(BODIES["bracket"])).json()
    program_id = placed["program_id"]
    assert (placed["target_id"], placed["stop_id"]) == (None, None)

    await api.oms.set_price("INFY", 1500)  # the entry fills: a target at 1510, a stop at 1495
    shown = (await api.http.get(f"/programs/{program_id}")).json()
    assert shown["entered"] == 10 and Decimal(shown["basis"]) == 1500 and len(shown["order_ids"]) == 3
    target = (await api.http.get(f"/orders/{shown['target_id']}")).json()
    stop = (await api.http.get(f"/orders/{shown['stop_id']}")).json()
    assert (target["side"], Decimal(target["price"]), target["status"]) == ("SELL", 1510, "OPEN")
    assert (stop["order_type"], Decimal(stop["trigger_price"]), stop["status"]) == ("SL-M", 1495, "TRIGGER_PENDING")

    await api.oms.set_price("INFY", 1494)

    done = (await api.http.get(f"/programs/{program_id}")).json()
    assert (done["status"], done["exited"]) == ("complete", 10)
    statuses = {o["order_id"]: o["status"] for o in (await api.http.get("/orders")).json()}
    assert (statuses[done["stop_id"]], statuses[done["target_id"]]) == ("FILLED", "CANCELLED")
    assert api.oms.position("INFY") == 0
    assert [p["status"] for p in (await api.http.get("/programs", params={"status": "complete"})).json()] == [
        "complete"]


async def test_delete_cancels_a_program_and_its_working_orders_and_a_second_delete_is_refused(api):
    body = {**BODIES["bracket"], "order_type": "MARKET", "price": None}
    program_id = (await api.place(body)).json()["program_id"]

    response = await api.http.delete(f"/programs/{program_id}", params={"reason": "done for the day"})

    assert response.status_code == 200
    answer = response.json()
    assert (answer["status"], answer["reason"]) == ("cancelled", "done for the day")
    program = api.oms.get_program(program_id)
    assert program.status == "cancelled"
    assert api.oms.get_order(program.target_id).status is S.CANCELLED
    assert api.oms.get_order(program.stop_id).status is S.CANCELLED
    assert api.oms.position("INFY") == 10  # the entry's fill stays
    assert_error(await api.http.delete(f"/programs/{program_id}"), 409, "REFUSED")
    bad_reason = await api.http.delete(f"/programs/{program_id}", params={"reason": "a\x00b"})
    assert bad_reason.status_code == 422


@pytest.mark.parametrize("method", ["GET", "DELETE"])
@pytest.mark.parametrize("program_id", ["P-999", "nope", "%2e", "P-1%00"])
async def test_an_unknown_program_is_a_404_in_the_error_shape(api, method, program_id):
    response = await api.http.request(method, f"/programs/{program_id}")

    assert response.status_code == 404
    assert set(response.json()) == ERROR_FIELDS
    assert api.oms.programs().empty and api.oms.orders().empty


async def test_a_kind_a_field_of_another_kind_or_a_bad_status_is_a_422_naming_it(api):
    assert_error(await api.place({**BODIES["cover"], "kind": "oco"}), 422, "INVALID_INPUT", "kind")
    assert_error(await api.place({**BODIES["cover"], "target": 10}), 422, "INVALID_INPUT", "target")
    assert_error(await api.place({**BODIES["iceberg"], "trail": 1}), 422, "INVALID_INPUT", "trail")
    assert_error(await api.place({**BODIES["trailing"], "order_type": "LIMIT"}), 422, "INVALID_INPUT", "order_type")
    assert_error(await api.place({k: v for k, v in BODIES["bracket"].items() if k != "stoploss"}), 422,
                 "INVALID_INPUT", "stoploss")
    assert_error(await api.place({**BODIES["iceberg"], "legs": 51}), 422, "INVALID_INPUT", "legs")
    assert_error(await api.place({**BODIES["bracket"], "qty": 1}), 422, "INVALID_INPUT", "qty")
    assert_error(await api.http.get("/programs", params={"status": "open"}), 422, "INVALID_INPUT", "status")
    assert api.oms.programs().empty and api.oms.orders().empty


@pytest.mark.parametrize("raw", [
    b'{"kind": "bracket", "symbol": "INFY", "side": "BUY", "quantity": NaN, "target": 1, "stoploss": 1}',
    b'{"kind": "cover", "symbol": "INFY", "side": "BUY", "quantity": 1, "stoploss": Infinity}',
    b'{"kind": "cover", "symbol": "INFY", "side": "BUY", "quantity": 1, "stoploss": 1e400}',
    b'{"kind": "iceberg", "symbol": "INFY", "side": "BUY", "quantity": 1e400, "price": 1, "legs": 2}',
    b'{"kind": "iceberg", "symbol": "INFY", "side": "BUY", "quantity": 10, "price": 1495, "legs": 2.5}',
    b'{"kind": "trailing", "symbol": "INFY", "side": "SELL", "quantity": 1, "trail": -NaN}',
    b'{"kind": "bracket"', b"[" * 5000, b"\xff\xfe", b"null", b'"bracket"',
], ids=["nan", "infinity", "1e400", "huge-quantity", "half-leg", "minus-nan", "cut", "deep", "not-utf8", "null",
        "text"])
async def test_json_no_program_can_hold_is_a_422_with_nothing_placed(api, raw):
    response = await api.http.post("/programs", content=raw, headers={"Content-Type": "application/json"})

    assert_error(response, 422, "INVALID_INPUT")
    assert api.oms.programs().empty and api.oms.orders().empty


async def test_a_retry_with_the_same_client_order_id_returns_the_program_placed_then(api):
    first = await api.place(BODIES["iceberg"])
    again = await api.place(BODIES["iceberg"])
    other = await api.place({**BODIES["iceberg"], "quantity": 12})

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["program_id"] == first.json()["program_id"]
    assert_error(other, 422, "INVALID_INPUT", "client_order_id")
    assert len(api.oms.programs()) == 1 and len(api.oms.orders()) == 1


async def test_the_read_only_token_lists_programs_but_cannot_place_or_cancel(api):
    program_id = (await api.place(BODIES["iceberg"])).json()["program_id"]
    async with httpx.AsyncClient(base_url=api.server.url + "/api/oms",
                                 headers={"Authorization": f"Bearer {READ_TOKEN}"}) as watcher:
        assert (await watcher.get(f"/programs/{program_id}")).status_code == 200
        assert (await watcher.post("/programs", json=BODIES["cover"])).status_code == 403
        assert (await watcher.delete(f"/programs/{program_id}")).status_code == 403
    assert api.oms.get_program(program_id).status == "active" and len(api.oms.programs()) == 1


async def test_the_openapi_document_lists_the_program_routes(api):
    schema = (await api.http.get(api.server.url + "/openapi.json")).json()

    assert {"get", "post"} <= set(schema["paths"]["/api/oms/programs"])
    assert {"get", "delete"} <= set(schema["paths"]["/api/oms/programs/{program_id}"])
    assert "ProgramIn" in schema["components"]["schemas"] and "HTTPValidationError" not in str(schema)


# -- the Python client ------------------------------------------------------------------------------------------------


async def test_the_client_places_each_kind_and_reads_them_as_the_oms_does(api):
    oms = api.oms
    await oms.place_order("INFY", "BUY", 5)
    async with await ok.connect(api.server.url, token=api.server.token) as remote:
        bracket = await remote.place_bracket("INFY", "BUY", 10, "LIMIT", Decimal("1500"), target=10, stoploss=5,
                                             trail="2")
        cover = await remote.place_cover("INFY", "SELL", 2, stoploss=4.5, tag="c")
        trailing = await remote.place_trailing_stop("INFY", "SELL", 5, trail=3)
        iceberg = await remote.place_iceberg("INFY", "BUY", 10, "LIMIT", 1495, legs=2, client_order_id="ice")
        assert (await remote.place_iceberg("INFY", "BUY", 10, "LIMIT", 1495, legs=2,
                                           client_order_id="ice")).program_id == iceberg.program_id
        await oms.set_price("INFY", 1500)

        for placed in (bracket, cover, trailing, iceberg):
            local = oms.get_program(placed.program_id)
            assert placed.kind == local.kind and placed.request == local.request
            remote_now = await remote.get_program(placed.program_id)
            assert remote_now.to_dict() == local.to_dict()
        pd.testing.assert_frame_equal(await remote.programs(), oms.programs())
        pd.testing.assert_frame_equal(await remote.programs("active"), oms.programs("active"))

        cancelled = await remote.cancel_program(bracket.program_id, "enough")
        assert cancelled.status == "cancelled" and oms.get_program(bracket.program_id).status == "cancelled"
        with pytest.raises(ok.OmsError, match="cancelled"):
            await remote.cancel_program(bracket.program_id)
        with pytest.raises(ProgramNotFound):
            await remote.get_program("P-999")
        with pytest.raises(ProgramNotFound):
            await remote.get_program("..")


async def test_the_client_refuses_malformed_arguments_as_the_oms_does_without_a_request(api):
    oms = api.oms
    async with await ok.connect(api.server.url, token=api.server.token) as remote:
        calls = [
            ("legs", lambda o: o.place_iceberg("INFY", "BUY", 10, "LIMIT", 1495, legs=1)),
            ("target", lambda o: o.place_bracket("INFY", "BUY", 10, "MARKET", target=None, stoploss=5)),
            ("stoploss", lambda o: o.place_cover("INFY", "BUY", 10, stoploss="NaN")),
            ("trail", lambda o: o.place_trailing_stop("INFY", "SELL", 10)),
            ("trail_percent", lambda o: o.place_trailing_stop("INFY", "SELL", 10, trail_percent=100)),
            ("trigger_price", lambda o: o.place_bracket("INFY", "BUY", 10, "SL-M", target=1, stoploss=1)),
            ("quantity", lambda o: o.place_cover("INFY", "BUY", 0, stoploss=1)),
            ("validity", lambda o: o.place_iceberg("INFY", "BUY", 10, "LIMIT", 1495, legs=2, validity="IOC")),
            ("status", lambda o: o.programs("open")),
        ]
        for field, call in calls:
            with pytest.raises(ok.InvalidOrderError) as remote_error:
                await call(remote)
            assert remote_error.value.field == field
            if field != "status":  # the OMS's programs() filters by any text
                with pytest.raises(ok.InvalidOrderError) as local_error:
                    await call(oms)
                assert local_error.value.field == field
        # What needs the instrument, the server judges: its error comes back as the OMS's.
        with pytest.raises(ok.InvalidOrderError) as error:
            await remote.place_iceberg("INFY", "BUY", 3, "LIMIT", 1495, legs=4)
        assert error.value.field == "legs"
    assert oms.programs().empty and oms.orders().empty


async def test_the_blocking_client_places_and_cancels_a_program(api):
    url, token = api.server.url, api.server.token

    def script() -> tuple[ok.OrderStatus | str, ...]:
        with ok.connect_sync(url, token=token) as remote:
            program = remote.place_cover("INFY", "BUY", 3, "LIMIT", 1490, stoploss=5)
            frame = remote.programs()
            cancelled = remote.cancel_program(program.program_id)
            return program.program_id, frame["kind"].tolist()[0], cancelled.status

    program_id, kind, status = await asyncio.to_thread(script)

    assert (kind, status) == ("cover", "cancelled")
    assert api.oms.get_program(program_id).status == "cancelled"
    assert api.oms.get_order(api.oms.get_program(program_id).entry_id).status is S.CANCELLED


# -- hostile bodies ---------------------------------------------------------------------------------------------------

WEIRD_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=12)
JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10**40), max_value=10**40),
                      st.floats(allow_nan=False, allow_infinity=False), WEIRD_TEXT)
ANY_JSON = st.recursive(JSON_LEAF, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                           st.dictionaries(WEIRD_TEXT, inner, max_size=3)),
                        max_leaves=6)
NUMBER = st.one_of(st.integers(-10, 3000), st.floats(-10, 3000), st.decimals(allow_nan=True, places=3).map(str),
                   st.sampled_from(["1500", "1500.05", "0.013", "1e3", "-0", "Infinity", "NaN", "1e999999",
                                    "9" * 40, 10**30]))
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "kind": st.sampled_from(["bracket", "cover", "trailing", "iceberg", "BRACKET", "oco", ""]),
    "symbol": st.sampled_from(["INFY", "TCS", "infy", "NOPE", "", "I" * 70, "IN\x00FY"]),
    "side": st.sampled_from(["BUY", "SELL", "sell", "HOLD", ""]),
    "quantity": st.one_of(st.integers(-5, 60), st.floats(-5, 60), st.sampled_from([10**9, 10**9 + 1, 10**30])),
    "order_type": st.sampled_from(["MARKET", "LIMIT", "SL", "SL-M", "limit", "STOP"]),
    "price": NUMBER, "target": NUMBER, "stoploss": NUMBER, "trail": NUMBER, "trail_percent": NUMBER,
    "legs": st.one_of(st.integers(-3, 60), st.sampled_from([2.0, "3", 10**30])),
    "product": st.sampled_from(["MIS", "CNC", "NRML", "BO"]),
    "validity": st.sampled_from(["DAY", "IOC", "GTC"]),
    "client_order_id": st.sampled_from(["h-1", "h-2", "x" * 300, "", "a\nb"]),
    "tag": st.one_of(st.text(max_size=6), st.just("t" * 300)),
}
PROGRAM_LIKE = st.fixed_dictionaries(
    {"kind": VALUES["kind"]},
    optional={**{name: st.one_of(values, values, values, ANY_JSON) for name, values in VALUES.items()
                 if name != "kind"}, "qty": ANY_JSON},
)


@st.composite
def well_formed(draw: st.DrawFn) -> dict[str, Any]:
    """A program the API must take (its first order may still break a rule and come back rejected)."""
    kind = draw(st.sampled_from(["bracket", "cover", "trailing", "iceberg"]))
    body: dict[str, Any] = {"kind": kind, "symbol": "INFY", "side": draw(st.sampled_from(["BUY", "SELL"])),
                            "quantity": draw(st.integers(2, 40))}
    if kind in ("bracket", "cover", "iceberg"):
        body["order_type"] = draw(st.sampled_from(["MARKET", "LIMIT"]))
        if body["order_type"] == "LIMIT":
            body["price"] = draw(st.sampled_from(["1490", 1495.5, "1502"]))
    if kind in ("bracket", "cover"):
        body["stoploss"] = draw(st.sampled_from([5, "2.5", 0.05]))
    if kind == "bracket":
        body["target"] = draw(st.sampled_from([10, "7.5"]))
    if kind == "trailing" or (kind != "iceberg" and draw(st.booleans())):
        body[draw(st.sampled_from(["trail", "trail_percent"]))] = draw(st.sampled_from([3, "0.5"]))
    if kind == "iceberg":
        body["legs"] = draw(st.integers(2, body["quantity"]))
    return body


@st.composite
def one_field_off(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed program with one field (or an unknown one) set to something else, or left out."""
    body = draw(well_formed())
    name = draw(st.sampled_from([*VALUES, "qty"]))
    if draw(st.booleans()) and name in body:
        del body[name]
    else:
        body[name] = draw(st.one_of(VALUES.get(name, ANY_JSON), ANY_JSON))
    return body


HOSTILE = st.one_of(well_formed(), one_field_off(), one_field_off(), PROGRAM_LIKE, ANY_JSON)


@pytest.mark.parametrize("store", ["memory", "file"])
async def test_hostile_bodies_get_a_422_in_the_error_shape_with_nothing_placed_or_a_program(store, tmp_path):
    served = await open_served("duckdb:///:memory:" if store == "memory" else f"duckdb:///{tmp_path}/p.duckdb")
    oms = served.oms
    outcomes = {"placed": 0, "refused": 0}
    headers = {"Authorization": f"Bearer {served.server.token}"}

    def counts() -> tuple[int, int]:
        return len(oms.programs()), len(oms.orders())  # read between requests: the loop is idle then

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=HOSTILE)
    def check(body: Any) -> None:
        before = counts()
        # JSON escapes every non-ASCII character, lone surrogates included (httpx's json= would not encode them)
        response = http.post("/programs", content=json.dumps(body), headers={"Content-Type": "application/json"})
        assert response.status_code < 500, response.text
        assert "Traceback" not in response.text and 'File "' not in response.text
        answer = response.json()
        if response.status_code in (200, 201):
            program_id = answer["program_id"]
            assert answer["order_ids"] and answer["status"] in ("active", "complete", "rejected")
            if response.status_code == 201:
                assert counts()[0] == before[0] + 1 and counts()[1] > before[1]
                outcomes["placed"] += 1
            shown = http.get(f"/programs/{program_id}").json()
            assert shown["program_id"] == program_id and shown["kind"] == answer["kind"]
            return
        assert response.status_code == 422, response.text
        assert set(answer) == ERROR_FIELDS and answer["code"] == "INVALID_INPUT" and answer["field"]
        assert counts() == before
        outcomes["refused"] += 1

    try:
        with httpx.Client(base_url=served.server.url + "/api/oms", headers=headers) as http:
            await asyncio.to_thread(check)
        await oms.flush()
        stored = await oms.store.fetch("SELECT count(*) AS n FROM programs")
        assert int(stored[0]["n"]) == len(oms.programs()) == outcomes["placed"]
        assert outcomes["placed"] > 10 and outcomes["refused"] > 40, outcomes
    finally:
        await close_served(served)
