"""Hostile and crowded use of the HTTP API: Hypothesis posts hostile JSON bodies (never a 5xx or a trace; either a
422 naming a field with nothing recorded, or a recorded order), hostile arguments to ``serve`` and to the tokens,
hostile values to the JSON encoder; and 50 clients place orders at once (every acknowledged order stored once)."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Coroutine
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import oms_kit as ok
from oms_kit.service import serve
from oms_kit.service.auth import Tokens
from oms_kit.service.encode import dumps, jsonable

T = TypeVar("T")
SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
LIMITS = ok.RiskLimits(max_orders_per_second=None, duplicate_window_s=None)

# -- hostile JSON bodies ----------------------------------------------------------------------------------------------

WEIRD_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=20)  # surrogates and controls too
# What can travel in a URL at all: UTF-8 has no lone surrogates, so no client can send one (httpx refuses to).
URL_TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=20)
JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10**40), max_value=10**40),
                      st.floats(allow_nan=True, allow_infinity=True), WEIRD_TEXT)
ANY_JSON = st.recursive(JSON_LEAF, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                           st.dictionaries(WEIRD_TEXT, inner, max_size=4)),
                        max_leaves=12)


def number_text() -> st.SearchStrategy[Any]:
    return st.one_of(st.integers(-10, 5000), st.floats(-10, 5000), st.decimals(allow_nan=True, places=3).map(str),
                     st.sampled_from(["2500", "2500.05", "2500.013", "1e3", "-0", "Infinity", "NaN", " 2500 "]))


FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "symbol": st.sampled_from(["RELIANCE", "TCS", "reliance", " RELIANCE ", "NOPE", "", "R" * 65, "RELI\x00ANCE"]),
    "side": st.sampled_from(["BUY", "SELL", "buy", " sell ", "HOLD", "", "SELL\n"]),
    "quantity": st.one_of(st.integers(-5, 2000), st.floats(-5, 2000), st.sampled_from([10**9, 10**9 + 1, 10**30])),
    "order_type": st.sampled_from(["MARKET", "LIMIT", "SL", "SL-M", "limit", "STOP", ""]),
    "price": number_text(),
    "trigger_price": number_text(),
    "product": st.sampled_from(["MIS", "CNC", "NRML", "cnc", "BO"]),
    "validity": st.sampled_from(["DAY", "IOC", "ioc", "GTC"]),
    "variety": st.sampled_from(["regular", "amo", "AMO", "co", "iceberg", ""]),
    "client_order_id": st.one_of(st.text(max_size=8), st.sampled_from(["c-1", "c-2", "x" * 256])),
    "tag": st.one_of(st.text(max_size=8), st.just("t" * 256)),
}
REQUIRED = ("symbol", "side", "quantity")
ORDER_LIKE = st.fixed_dictionaries(
    {k: FIELD_VALUES[k] for k in REQUIRED},
    optional={**{k: st.one_of(v, v, v, ANY_JSON) for k, v in FIELD_VALUES.items() if k not in REQUIRED},
              "qty": ANY_JSON},
)

@st.composite
def well_formed(draw: st.DrawFn) -> dict[str, Any]:
    """An order the API must take (it may still break a rule and come back REJECTED)."""
    body: dict[str, Any] = {"symbol": draw(st.sampled_from(["RELIANCE", "TCS", "reliance", "NOPE"])),
                            "side": draw(st.sampled_from(["BUY", "SELL", "sell"])),
                            "quantity": draw(st.integers(1, 200_000))}
    kind = draw(st.sampled_from(["MARKET", "LIMIT", "SL", "SL-M"]))
    body["order_type"] = kind
    if kind in ("LIMIT", "SL"):
        body["price"] = draw(st.sampled_from(["2400", "2400.05", 2499.95, "2400.01", 3900, "0.05"]))
    if kind in ("SL", "SL-M"):
        body["trigger_price"] = draw(st.sampled_from(["2450", 2550, "3950.00"]))
    for name, values in (("product", ["MIS", "CNC", "nrml"]), ("validity", ["DAY", "IOC"]),
                         ("variety", ["regular", "amo"]), ("client_order_id", ["c-1", "c-2", "c-3"]),
                         ("tag", ["bot", "t" * 255])):
        if draw(st.booleans()):
            body[name] = draw(st.sampled_from(values))
    return body


@st.composite
def one_field_off(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed order with one field (or an unknown one) set to something else."""
    body = draw(well_formed())
    name = draw(st.sampled_from([*FIELD_VALUES, "qty", "account"]))
    body[name] = draw(st.one_of(FIELD_VALUES.get(name, ANY_JSON), ANY_JSON))
    return body


HOSTILE_BODIES = st.one_of(well_formed(), one_field_off(), ORDER_LIKE, ANY_JSON,
                           st.dictionaries(st.sampled_from(sorted(FIELD_VALUES)), ANY_JSON, max_size=10))


def on_loop(loop: asyncio.AbstractEventLoop) -> Callable[[Coroutine[Any, Any, T]], T]:
    """Run a coroutine on the test's loop from the worker thread Hypothesis runs in, and wait for it."""
    def run(coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=30)
    return run


async def test_hostile_json_bodies_are_a_422_naming_a_field_or_a_recorded_order():
    await hostile_bodies("duckdb:///:memory:")


async def test_hostile_json_bodies_on_a_durable_store_are_a_422_or_an_order_stored_once(durable_url):
    # A durable store commits each order before the broker sees it: the same outcomes, each one stored.
    await hostile_bodies(durable_url)


async def hostile_bodies(url: str) -> None:
    oms = await ok.OMS.open(url, feed=None, limits=LIMITS, risk_interval=None)
    await oms.set_price("RELIANCE", 2500)
    await oms.set_price("TCS", 3900)
    server = await serve(oms, port=0)
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
    outcomes = {"recorded": 0, "refused": 0}

    def placed() -> int:
        return oms.stats_today()["orders_placed"]  # read between requests: the loop is idle then

    client = httpx.Client(base_url=server.url + "/api/oms", headers=headers)

    @SETTINGS
    @given(body=HOSTILE_BODIES)
    def check(body: Any) -> None:
        before = placed()
        # json.dumps writes NaN and Infinity, which Python's JSON reader takes, and escapes lone surrogates.
        response = client.post("/orders", content=json.dumps(body).encode())
        assert response.status_code < 500, response.text
        assert "Traceback" not in response.text and 'File "' not in response.text
        answer = response.json()
        if response.status_code == 422:
            assert answer["code"] == "INVALID_INPUT"
            assert isinstance(answer["field"], str) and answer["field"], answer
            assert placed() == before
            outcomes["refused"] += 1
            return
        assert response.status_code in (200, 201), response.text
        order = client.get(f"/orders/{answer['order_id']}").json()
        same = ("order_id", "client_order_id", "symbol", "side", "quantity", "price", "trigger_price", "tag")
        assert {k: order[k] for k in same} == {k: answer[k] for k in same}  # its status may have moved on
        assert placed() == before + (response.status_code == 201)
        outcomes["recorded"] += 1

    try:
        await asyncio.to_thread(check)
        await oms.flush()
        stored = await oms.store.fetch("SELECT count(*) AS n FROM orders WHERE account = $1", oms.account)
        client.close()
        assert int(stored[0]["n"]) == len(oms.orders()) == placed()
    finally:
        await server.stop()
        await oms.close()
    assert outcomes["recorded"] > 30 and outcomes["refused"] > 30, outcomes


async def test_hostile_raw_bytes_are_refused_without_a_5xx():
    oms = await ok.OMS.open("duckdb:///:memory:", feed=None, risk_interval=None)
    server = await serve(oms, port=0)

    client = httpx.Client(base_url=server.url + "/api/oms", headers={"Authorization": f"Bearer {server.token}"})

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(content=st.binary(max_size=300), content_type=st.sampled_from(
        ["application/json", "text/plain", "application/x-www-form-urlencoded", "", "application/vnd.x+json"]))
    def check(content: bytes, content_type: str) -> None:
        for path in ("/orders", "/orders/validate", "/risk/kill-switch", "/orders/cancel-all"):
            response = client.post(path, content=content, headers={"Content-Type": content_type})
            assert response.status_code in (200, 422), (path, response.text)
            if response.status_code == 422:
                assert response.json()["field"], response.text

    try:
        await asyncio.to_thread(check)
        client.close()
        assert oms.orders().empty
    finally:
        await server.stop()
        await oms.close()


MODIFY_BODIES = st.one_of(
    st.fixed_dictionaries({}, optional={"quantity": st.one_of(FIELD_VALUES["quantity"], ANY_JSON),
                                        "price": st.one_of(number_text(), ANY_JSON),
                                        "trigger_price": st.one_of(number_text(), ANY_JSON),
                                        "symbol": ANY_JSON}),
    ANY_JSON)


async def test_hostile_modifies_and_cancel_reasons_change_nothing_unless_taken():
    oms = await ok.OMS.open("duckdb:///:memory:", feed=None, limits=LIMITS, risk_interval=None)
    await oms.set_price("RELIANCE", 2500)
    server = await serve(oms, port=0)
    run = on_loop(asyncio.get_running_loop())
    client = httpx.Client(base_url=server.url + "/api/oms", headers={"Authorization": f"Bearer {server.token}",
                                                                     "Content-Type": "application/json"})

    @settings(SETTINGS, max_examples=150)
    @given(body=MODIFY_BODIES, reason=URL_TEXT)
    def check(body: Any, reason: str) -> None:
        order = run(oms.place_order("RELIANCE", "BUY", 10, "LIMIT", price=2400))
        before = (order.quantity, order.price, order.status)
        modified = client.patch(f"/orders/{order.order_id}", content=json.dumps(body).encode())
        assert modified.status_code in (200, 409, 422), modified.text
        after = oms.get_order(order.order_id)
        if modified.status_code == 422:
            assert modified.json()["field"], modified.text
        if modified.status_code != 200:
            assert (after.quantity, after.price, after.status) == before
        status = after.status  # the order object is live: read before the cancel changes it
        cancelled = client.delete(f"/orders/{order.order_id}", params={"reason": reason})
        if status is ok.OrderStatus.FILLED:  # a modify to the quote (2500) or above made the buy marketable
            assert cancelled.status_code in (409, 422), cancelled.text
            assert oms.get_order(order.order_id).status is ok.OrderStatus.FILLED
            return
        assert cancelled.status_code in (200, 422), cancelled.text
        if cancelled.status_code == 422:
            assert cancelled.json()["field"] == "reason"
            assert oms.get_order(order.order_id).is_working
            run(oms.cancel_order(order.order_id))
        else:
            assert oms.get_order(order.order_id).status is ok.OrderStatus.CANCELLED

    try:
        await asyncio.to_thread(check)
        await oms.flush()
        assert oms.status()["writes"]["errors"] == 0 and oms.trading_state is ok.TradingState.ACTIVE
    finally:
        client.close()
        await server.stop()
        await oms.close()


# -- hostile arguments ------------------------------------------------------------------------------------------------


HOSTS = st.one_of(st.sampled_from(["127.0.0.1", "localhost", "0.0.0.0", "256.1.1.1", "", " ", "::1", "[::1]",
                                   "127.0.0.1:80", "host\x00name", "é.invalid."]),
                  st.ip_addresses(v=4).map(str), st.integers(), st.none(),
                  st.text(alphabet=" \t\x00/\\:[]%", max_size=6))
PORTS = st.one_of(st.just(0), st.integers(-10, 70000), st.booleans(), st.floats(), st.text(max_size=5), st.none())
TOKENS = st.one_of(st.none(), st.text(max_size=12), st.integers(), st.binary(max_size=4))


async def test_serve_with_hostile_arguments_serves_or_raises_config_error():
    oms = await ok.OMS.open("duckdb:///:memory:", feed=None, risk_interval=None)
    run = on_loop(asyncio.get_running_loop())

    @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(host=HOSTS, port=PORTS, token=TOKENS, read_only_token=TOKENS)
    def check(host: Any, port: Any, token: Any, read_only_token: Any) -> None:
        try:
            server = run(serve(oms, host, port, token, read_only_token))
        except ok.ConfigError as error:
            assert error.field in ("host", "port", "host/port", "token", "read_only_token")
            return
        try:
            assert server.running and server.port > 0
            assert token is None or server.token == token
        finally:
            run(server.stop())

    try:
        await asyncio.to_thread(check)
    finally:
        await oms.close()


@pytest.mark.parametrize(("token", "read_only", "field"), [
    ("", None, "token"), ("has space", None, "token"), ("a:b", None, "token"), ("é-accent", None, "token"),
    ("x" * 513, None, "token"), (5, None, "token"), ("same", "same", "read_only_token"),
    ("good", "", "read_only_token"),
])
def test_tokens_that_could_not_be_sent_are_config_errors(token, read_only, field):
    with pytest.raises(ok.ConfigError) as error:
        Tokens.make(token, read_only, "default")
    assert error.value.field == field
    if isinstance(token, str) and token:
        assert token not in str(error.value)  # a token is never echoed


@SETTINGS
@given(token=st.text(max_size=80), header=st.binary(max_size=200), query=st.binary(max_size=200))
def test_hostile_tokens_headers_and_queries_never_break_the_door(token, header, query):
    from urllib.parse import urlencode

    from oms_kit.service.auth import Access, credentials_of

    try:
        tokens = Tokens.make(token, None, "acct")
    except ok.ConfigError:
        return
    for form in (f"Bearer {token}", f"token acct:{token}"):
        assert tokens.access(credentials_of([(b"authorization", form.encode())], b"")) is Access.FULL
    assert tokens.access(credentials_of([], urlencode({"token": token}).encode())) is Access.FULL
    assert tokens.access(credentials_of([(b"authorization", header)], query)) in (Access.NONE, Access.DENIED,
                                                                                   Access.FULL)
    assert tokens.access(credentials_of([], query)) in (Access.NONE, Access.DENIED, Access.FULL)


ZONES = st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), None])
VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.decimals(), WEIRD_TEXT,
              st.builds(lambda d, z: d.replace(tzinfo=z), st.datetimes(), ZONES), st.dates(),
              st.timedeltas(), st.sampled_from([*ok.OrderStatus, pd.NaT, pd.NA, np.int64(7), np.float64("nan"),
                                                np.bool_(True)])),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.tuples(inner, inner),
                            st.dictionaries(st.text(max_size=5), inner, max_size=4)),
    max_leaves=15)


@SETTINGS
@given(value=VALUES)
def test_the_encoder_turns_any_oms_value_into_json(value):
    decoded = json.loads(dumps(value))

    if isinstance(value, Decimal) and value.is_finite():
        assert Decimal(decoded) == value and decoded == str(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        assert datetime.fromisoformat(decoded) == value
    if isinstance(value, float) and not math.isfinite(value):
        assert decoded is None
    if isinstance(value, date) and not isinstance(value, datetime):
        assert decoded == value.isoformat()
    assert jsonable(decoded) == decoded  # what comes out is plain JSON already


# -- a crowd of clients -----------------------------------------------------------------------------------------------


async def test_fifty_clients_placing_orders_at_once_are_each_stored_once():
    await crowd("duckdb:///:memory:")


async def test_fifty_clients_on_a_durable_store_are_each_stored_once(durable_url):
    await crowd(durable_url)


async def crowd(url: str, clients: int = 50, per_client: int = 20) -> None:
    """``clients`` bots place ``per_client`` orders each at once, every fifth one sent twice: no 5xx, every
    acknowledged order in the book and the store, none twice."""
    oms = await ok.OMS.open(url, feed=None, limits=LIMITS, risk_interval=None)
    await oms.set_price("RELIANCE", 2500)
    server = await serve(oms, port=0)
    statuses: list[int] = []
    acknowledged: dict[str, str] = {}

    async def bot(number: int) -> None:
        async with httpx.AsyncClient(base_url=server.url + "/api/oms", timeout=60,
                                     headers={"Authorization": f"Bearer {server.token}"}) as client:
            for i in range(per_client):
                body = {"symbol": "RELIANCE", "side": "BUY" if i % 2 else "SELL", "quantity": 1 + number % 3,
                        "client_order_id": f"bot{number}-{i}"}
                attempts = 2 if i % 5 == 0 else 1  # every fifth order is sent again, as after a lost answer
                for _ in range(attempts):
                    response = await client.post("/orders", json=body)
                    statuses.append(response.status_code)
                    if response.status_code in (200, 201):
                        order = response.json()
                        assert acknowledged.setdefault(order["client_order_id"], order["order_id"]) == \
                            order["order_id"]

    try:
        await asyncio.gather(*(bot(n) for n in range(clients)))
        await oms.flush()
        book = oms.orders()
        stored = await oms.store.fetch("SELECT order_id, client_order_id FROM orders")
    finally:
        await server.stop()
        await oms.close()

    assert not [s for s in statuses if s >= 500]
    assert statuses.count(201) == clients * per_client and statuses.count(200) == clients * per_client // 5
    assert len(acknowledged) == clients * per_client
    assert sorted(book["order_id"]) == sorted(acknowledged.values())  # every acknowledged order, none doubled
    assert sorted(r["order_id"] for r in stored) == sorted(acknowledged.values())
    assert set(book["status"]) == {"FILLED"}
