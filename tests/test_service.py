"""The REST API under /api/oms, on a real uvicorn server on a free port, called with a real httpx client: each
route's success and failure, malformed input refused naming the field with nothing recorded, the JSON shapes."""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import APIRouter

import oms_kit as ok
from oms_kit.errors import PersistenceUnavailable
from oms_kit.service import serve
from oms_kit.service.errors import oms_error
from oms_kit.service.models import (
    AlertOut,
    ErrorOut,
    OrderOut,
    PositionOut,
    RiskSummaryOut,
    StatsOut,
    StatusOut,
    TradeOut,
    ValidateOut,
)
from oms_kit.tables import ORDER_COLUMNS, TRADE_COLUMNS

PRICE = 2500
LIMITS = ok.RiskLimits(max_order_quantity=1000, max_orders_per_second=None, duplicate_window_s=None)


class Served:
    """An OMS, its server and an authorised client of its REST API."""

    def __init__(self, oms: ok.OMS, server: Any, client: httpx.AsyncClient) -> None:
        self.oms, self.server, self.client = oms, server, client

    async def place(self, **fields: Any) -> httpx.Response:
        body = {"symbol": "RELIANCE", "side": "BUY", "quantity": 10, **fields}
        return await self.client.post("/orders", json=body)

    async def stored_orders(self) -> int:
        await self.oms.flush()
        rows = await self.oms.store.fetch("SELECT count(*) AS n FROM orders")
        return int(rows[0]["n"])


@pytest.fixture
async def open_served():
    """A factory: ``await open_served(**OMS.open arguments)`` -> Served; everything is closed after the test."""
    opened: list[Served] = []

    async def make(url: str | None = "duckdb:///:memory:", routers: tuple[APIRouter, ...] = (),
                   **kwargs: Any) -> Served:
        kwargs.setdefault("feed", None)
        kwargs.setdefault("limits", LIMITS)
        kwargs.setdefault("risk_interval", None)
        oms = await ok.OMS.open(url, **kwargs)
        if "RELIANCE" not in oms.manager.prices:
            await oms.set_price("RELIANCE", PRICE)
            await oms.set_price("TCS", 3900)
        server = await serve(oms, port=0, routers=routers)
        client = httpx.AsyncClient(base_url=server.url + "/api/oms",
                                   headers={"Authorization": f"Bearer {server.token}"})
        served = Served(oms, server, client)
        opened.append(served)
        return served

    yield make
    for served in opened:
        await served.client.aclose()
        await served.server.stop()
        await served.oms.close()


@pytest.fixture
async def api(open_served) -> Served:
    return await open_served()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def untouched():
    """One server for the tests that must record nothing: every one of them checks that nothing was."""
    oms = await ok.OMS.open("duckdb:///:memory:", feed=None, limits=LIMITS, risk_interval=None)
    await oms.set_price("RELIANCE", PRICE)
    server = await serve(oms, port=0)
    async with httpx.AsyncClient(base_url=server.url + "/api/oms",
                                 headers={"Authorization": f"Bearer {server.token}"}) as client:
        yield Served(oms, server, client)
    await server.stop()
    await oms.close()


in_module_loop = pytest.mark.asyncio(loop_scope="module")


def assert_error(response: httpx.Response, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    ErrorOut.model_validate(body)
    assert set(body) == {"code", "message", "field", "hint"}
    assert body["code"] == code, body
    if field is not None:
        assert body["field"] == field, body
    assert "Traceback" not in response.text
    return body


# -- placing ----------------------------------------------------------------------------------------------------------


async def test_a_market_order_is_placed_filled_and_sent_back_with_the_columns_of_orders(api):
    response = await api.place(tag="bot-1")

    assert response.status_code == 201, response.text
    order = response.json()
    OrderOut.model_validate(order)
    assert list(order) == ORDER_COLUMNS
    assert order["status"] == "FILLED" and order["filled_quantity"] == 10 and order["tag"] == "bot-1"
    assert order["average_price"] == "2500.00"  # a decimal as a string, every digit kept
    assert datetime.fromisoformat(order["created_at"]).tzinfo is not None
    assert api.oms.get_order(order["order_id"]).status is ok.OrderStatus.FILLED
    assert api.oms.position("RELIANCE") == 10


async def test_prices_keep_every_digit_given_as_string_or_number(api):
    as_text = (await api.place(order_type="LIMIT", price="2400.05")).json()
    as_number = (await api.place(order_type="LIMIT", price=2400.05)).json()

    assert as_text["price"] == as_number["price"] == "2400.05"
    assert as_text["status"] == "OPEN"
    assert api.oms.get_order(as_number["order_id"]).price == Decimal("2400.05")


async def test_an_order_that_breaks_a_rule_is_recorded_and_returned_rejected_with_its_violations(api):
    response = await api.place(quantity=5000, order_type="LIMIT", price=PRICE)

    assert response.status_code == 201
    order = response.json()
    assert order["status"] == "REJECTED"
    codes = [v["code"] for v in order["violations"]]
    assert "QUANTITY_EXCEEDS_MAXIMUM" in codes
    violation = order["violations"][codes.index("QUANTITY_EXCEEDS_MAXIMUM")]
    assert violation["limit"] == 1000 and violation["value"] == 5000 and violation["message"]
    assert api.oms.orders()["status"].tolist() == ["REJECTED"]
    assert await api.stored_orders() == 1


async def test_a_retry_with_the_same_client_order_id_returns_the_placed_order_and_records_nothing_more(api):
    first = await api.place(client_order_id="bot-42")
    again = await api.place(client_order_id="bot-42")

    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["order_id"] == first.json()["order_id"]
    assert len(api.oms.orders()) == 1 and api.oms.position("RELIANCE") == 10
    assert await api.stored_orders() == 1


MALFORMED = [
    ({"side": "BUY", "quantity": 10}, "symbol"),
    ({"symbol": "RELIANCE", "quantity": 10}, "side"),
    ({"symbol": "RELIANCE", "side": "BUY"}, "quantity"),
    ({"symbol": 7, "side": "BUY", "quantity": 10}, "symbol"),
    ({"symbol": "", "side": "BUY", "quantity": 10}, "symbol"),
    ({"symbol": "RELIANCE", "side": "HOLD", "quantity": 10}, "side"),
    ({"symbol": "RELIANCE", "side": True, "quantity": 10}, "side"),
    ({"symbol": "RELIANCE", "side": "BUY", "quantity": "10"}, "quantity"),
    ({"symbol": "RELIANCE", "side": "BUY", "quantity": True}, "quantity"),
    ({"symbol": "RELIANCE", "side": "BUY", "quantity": 0}, "quantity"),
    ({"symbol": "RELIANCE", "side": "BUY", "quantity": -5}, "quantity"),
    ({"symbol": "RELIANCE", "side": "BUY", "quantity": 10.5}, "quantity"),
    ({"symbol": "RELIANCE", "side": "BUY", "quantity": 10**30}, "quantity"),
    ({"symbol": "RELIANCE", "side": "BUY", "quantity": [10]}, "quantity"),
    ({"symbol": "RELIANCE", "side": "BUY", "quantity": 10, "price": 2500}, "price"),
    ({"symbol": "RELIANCE", "side": "BUY", "quantity": 10, "order_type": "LIMIT"}, "price"),
    ({"symbol": "RELIANCE", "side": "BUY", "quantity": 10, "order_type": "LIMIT", "price": "abc"}, "price"),
    ({"symbol": "RELIANCE", "side": "BUY", "quantity": 10, "order_type": "LIMIT", "price": "NaN"}, "price"),
    ({"symbol": "RELIANCE", "side": "BUY", "quantity": 10, "order_type": "LIMIT", "price": -1}, "price"),
    ({"symbol": "RELIANCE", "side": "BUY", "quantity": 10, "order_type": "LIMIT", "price": False}, "price"),
    ({"symbol": "RELIANCE", "side": "BUY", "quantity": 10, "order_type": "SL-M"}, "trigger_price"),
    ({"symbol": "RELIANCE", "side": "BUY", "quantity": 10, "order_type": "STOP"}, "order_type"),
    ({"symbol": "RELIANCE", "side": "BUY", "quantity": 10, "product": "XYZ"}, "product"),
    ({"symbol": "RELIANCE", "side": "BUY", "quantity": 10, "validity": "GTC"}, "validity"),
    ({"symbol": "RELIANCE", "side": "BUY", "quantity": 10, "client_order_id": ""}, "client_order_id"),
    ({"symbol": "RELIANCE", "side": "BUY", "quantity": 10, "client_order_id": 5}, "client_order_id"),
    ({"symbol": "RELIANCE", "side": "BUY", "quantity": 10, "tag": "x" * 300}, "tag"),
    ({"symbol": "RELIANCE", "side": "BUY", "quantity": 10, "qty": 10}, "qty"),
    ([{"symbol": "RELIANCE", "side": "BUY", "quantity": 10}], "body"),
    ("RELIANCE BUY 10", "body"),
    (None, "body"),
]


@in_module_loop
@pytest.mark.parametrize(("body", "field"), MALFORMED, ids=[f"{i}-{f}" for i, (_, f) in enumerate(MALFORMED)])
async def test_malformed_orders_are_a_422_naming_the_field_and_nothing_is_recorded(untouched, body, field):
    api = untouched
    response = await api.client.post("/orders", json=body)

    error = assert_error(response, 422, "INVALID_INPUT", field)
    assert field in error["message"]
    assert api.oms.orders().empty and api.oms.stats_today()["orders_placed"] == 0
    assert await api.stored_orders() == 0


@in_module_loop
@pytest.mark.parametrize("content", [b"{", b"\xff\xfe{}", b"[" * 5000, b""])
async def test_a_body_that_is_not_json_is_a_422_naming_the_body(untouched, content):
    api = untouched
    response = await api.client.post("/orders", content=content, headers={"Content-Type": "application/json"})

    assert_error(response, 422, "INVALID_INPUT", "body")
    assert api.oms.orders().empty


async def test_validate_is_a_dry_run_that_records_nothing(api):
    passing = await api.client.post("/orders/validate", json={"symbol": "RELIANCE", "side": "BUY", "quantity": 10})
    failing = await api.client.post("/orders/validate", json={"symbol": "RELIANCE", "side": "BUY", "quantity": 5000})
    malformed = await api.client.post("/orders/validate", json={"symbol": "RELIANCE", "side": "BUY", "quantity": 0})

    assert passing.status_code == failing.status_code == 200
    ValidateOut.model_validate(passing.json())
    assert passing.json()["passed"] is True
    assert failing.json()["passed"] is False
    assert "QUANTITY_EXCEEDS_MAXIMUM" in [c["code"] for c in failing.json()["checks"] if not c["passed"]]
    assert_error(malformed, 422, "INVALID_INPUT", "quantity")
    assert api.oms.orders().empty and await api.stored_orders() == 0


# -- reading orders ---------------------------------------------------------------------------------------------------


async def test_get_an_order_by_id_and_a_404_for_an_unknown_one(api):
    placed = (await api.place()).json()

    found = await api.client.get(f"/orders/{placed['order_id']}")
    missing = await api.client.get("/orders/O-nope-1")

    assert found.status_code == 200 and found.json() == placed
    assert_error(missing, 404, "ORDER_NOT_FOUND", "order_id")


async def test_active_orders_are_the_working_ones(api):
    resting = (await api.place(order_type="LIMIT", price=2400)).json()
    await api.place()  # fills at once

    response = await api.client.get("/orders/active")

    assert response.status_code == 200
    assert [o["order_id"] for o in response.json()] == [resting["order_id"]]
    OrderOut.model_validate(response.json()[0])


async def test_order_history_with_the_filters_of_orders(api):
    buy = (await api.place()).json()
    sell = (await api.place(side="SELL", quantity=5)).json()
    rejected = (await api.place(symbol="TCS", quantity=5000, order_type="LIMIT", price=3900)).json()

    everything = (await api.client.get("/orders")).json()
    sells = (await api.client.get("/orders", params={"side": "sell"})).json()
    tcs = (await api.client.get("/orders", params={"symbol": "TCS", "status": "REJECTED"})).json()
    newest = (await api.client.get("/orders", params={"limit": 1})).json()
    since = (await api.client.get("/orders", params={"since": buy["created_at"]})).json()

    assert [o["order_id"] for o in everything] == [buy["order_id"], sell["order_id"], rejected["order_id"]]
    assert everything[2] == rejected  # a table row carries the violations in full, as the order itself
    assert [o["order_id"] for o in sells] == [sell["order_id"]]
    assert [o["order_id"] for o in tcs] == [rejected["order_id"]]
    assert [o["order_id"] for o in newest] == [rejected["order_id"]]
    assert len(since) == 3
    for order in everything:
        OrderOut.model_validate(order)


@pytest.mark.parametrize(("params", "field"), [
    ({"status": "DONE"}, "status"), ({"side": "HOLD"}, "side"), ({"limit": 0}, "limit"),
    ({"limit": "ten"}, "limit"), ({"since": "yesterday"}, "since"), ({"until": "2026-13-45"}, "until"),
])
@in_module_loop
async def test_bad_history_filters_are_a_422_naming_the_filter(untouched, params, field):
    assert_error(await untouched.client.get("/orders", params=params), 422, "INVALID_INPUT", field)


# -- modify and cancel ------------------------------------------------------------------------------------------------


async def test_modify_a_working_order(api):
    resting = (await api.place(order_type="LIMIT", price=2400)).json()

    response = await api.client.patch(f"/orders/{resting['order_id']}", json={"price": "2410.50", "quantity": 20})

    assert response.status_code == 200, response.text
    assert response.json()["price"] == "2410.50" and response.json()["quantity"] == 20
    order = api.oms.get_order(resting["order_id"])
    assert order.price == Decimal("2410.50") and order.quantity == 20


async def test_modify_failures_unknown_malformed_refused_by_a_rule_or_no_longer_working(api):
    resting = (await api.place(order_type="LIMIT", price=2400)).json()
    filled = (await api.place()).json()
    path = f"/orders/{resting['order_id']}"

    assert_error(await api.client.patch("/orders/O-nope-1", json={"price": 2401}), 404, "ORDER_NOT_FOUND", "order_id")
    assert_error(await api.client.patch(path, json={"quantity": "20"}), 422, "INVALID_INPUT", "quantity")
    assert_error(await api.client.patch(path, json={"price": "2401.013"}), 409, "MODIFY_REJECTED")  # off the tick
    assert_error(await api.client.patch(path, json={"quantity": 5000}), 409, "MODIFY_REJECTED")
    assert_error(await api.client.patch(path, json={"size": 5}), 422, "INVALID_INPUT", "size")
    assert_error(await api.client.patch(path, json={}), 422, "INVALID_INPUT")
    assert_error(await api.client.patch(f"/orders/{filled['order_id']}", json={"price": 2401}), 409, "REFUSED")
    order = api.oms.get_order(resting["order_id"])
    assert order.price == Decimal(2400) and order.quantity == 10  # unchanged by every refusal


async def test_cancel_an_order_then_cancelling_again_is_refused(api):
    resting = (await api.place(order_type="LIMIT", price=2400)).json()
    path = f"/orders/{resting['order_id']}"

    cancelled = await api.client.delete(path, params={"reason": "changed my mind"})
    again = await api.client.delete(path)
    missing = await api.client.delete("/orders/O-nope-1")

    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELLED"
    assert cancelled.json()["reason"] == "changed my mind"
    assert_error(again, 409, "REFUSED")
    assert_error(missing, 404, "ORDER_NOT_FOUND", "order_id")
    assert api.oms.get_order(resting["order_id"]).status is ok.OrderStatus.CANCELLED


async def test_cancel_all_with_and_without_a_symbol(api):
    reliance = (await api.place(order_type="LIMIT", price=2400)).json()
    tcs = (await api.place(symbol="TCS", order_type="LIMIT", price=3800)).json()

    only_tcs = await api.client.post("/orders/cancel-all", json={"symbol": "TCS"})
    rest = await api.client.post("/orders/cancel-all")
    malformed = await api.client.post("/orders/cancel-all", json={"symbol": 5})

    assert [o["order_id"] for o in only_tcs.json()] == [tcs["order_id"]]
    assert [o["order_id"] for o in rest.json()] == [reliance["order_id"]]
    assert all(o["status"] == "CANCELLED" for o in only_tcs.json() + rest.json())
    assert_error(malformed, 422, "INVALID_INPUT", "symbol")
    assert api.oms.active_orders().empty


# -- positions, trades, square-off ------------------------------------------------------------------------------------


async def test_positions_and_trades_after_a_fill(api):
    order = (await api.place()).json()
    await api.place(symbol="TCS", side="SELL", quantity=3)

    positions = (await api.client.get("/positions")).json()
    trades = (await api.client.get("/trades")).json()
    reliance_trades = (await api.client.get("/trades", params={"symbol": "RELIANCE"})).json()

    assert {(p["symbol"], p["quantity"]) for p in positions} == {("RELIANCE", 10), ("TCS", -3)}
    for position in positions:
        PositionOut.model_validate(position)
    assert len(trades) == 2 and list(trades[0]) == TRADE_COLUMNS
    TradeOut.model_validate(trades[0])
    assert [t["order_id"] for t in reliance_trades] == [order["order_id"]]
    assert reliance_trades[0]["price"] == "2500.00" and Decimal(reliance_trades[0]["fees"]) > 0
    assert_error(await api.client.get("/trades", params={"limit": -1}), 422, "INVALID_INPUT", "limit")


async def test_square_off_closes_positions(api):
    await api.place()
    await api.place(symbol="TCS", quantity=4)

    tcs = await api.client.post("/positions/square-off", json={"symbol": "TCS", "reason": "done with TCS"})
    assert [(o["symbol"], o["side"], o["quantity"]) for o in tcs.json()] == [("TCS", "SELL", 4)]
    assert api.oms.position("TCS") == 0 and api.oms.position("RELIANCE") == 10

    everything = await api.client.post("/positions/square-off")
    assert [(o["symbol"], o["status"]) for o in everything.json()] == [("RELIANCE", "FILLED")]
    assert api.oms.position("RELIANCE") == 0
    assert_error(await api.client.post("/positions/square-off", json={"reason": 1}), 422, "INVALID_INPUT", "reason")


# -- risk -------------------------------------------------------------------------------------------------------------


async def test_the_kill_switch_over_http_halts_cancels_and_flattens(api):
    resting = (await api.place(order_type="LIMIT", price=2400)).json()
    await api.place()

    response = await api.client.post("/risk/kill-switch", json={"reason": "bot misbehaves", "flatten": True})

    assert response.status_code == 200, response.text
    assert response.json()["trading_state"] == "HALTED"
    assert [(o["symbol"], o["side"], o["status"]) for o in response.json()["orders"]] == [
        ("RELIANCE", "SELL", "FILLED")]
    assert api.oms.trading_state is ok.TradingState.HALTED
    assert api.oms.get_order(resting["order_id"]).status is ok.OrderStatus.CANCELLED
    assert api.oms.position("RELIANCE") == 0
    after = (await api.place()).json()
    assert after["status"] == "REJECTED" and "TRADING_HALTED" in [v["code"] for v in after["violations"]]

    reset = await api.client.post("/risk/reset", json={"reason": "looked at it"})
    assert reset.status_code == 200 and reset.json()["trading_state"] == "ACTIVE"
    assert (await api.place()).json()["status"] == "FILLED"


async def test_kill_switch_and_reset_refuse_malformed_bodies(api):
    assert_error(await api.client.post("/risk/kill-switch", json={}), 422, "INVALID_INPUT", "reason")
    assert_error(await api.client.post("/risk/kill-switch", json={"reason": "x", "flatten": "yes"}), 422,
                 "INVALID_INPUT", "flatten")
    assert_error(await api.client.post("/risk/reset", json={}), 422, "INVALID_INPUT", "reason")
    assert api.oms.trading_state is ok.TradingState.ACTIVE


async def test_reset_is_refused_while_the_daily_loss_is_in_breach(open_served):
    api = await open_served(limits=ok.RiskLimits(daily_loss_limit=1000, max_orders_per_second=None))
    await api.place(quantity=100)
    await api.oms.set_price("RELIANCE", 2400)  # 10,000 lost
    await api.client.post("/risk/kill-switch", json={"reason": "loss"})

    response = await api.client.post("/risk/reset", json={"reason": "try again"})

    assert_error(response, 409, "REFUSED")
    assert "daily loss" in response.json()["message"]
    assert api.oms.trading_state is ok.TradingState.HALTED


async def test_risk_summary_and_alerts(open_served):
    api = await open_served(limits=ok.RiskLimits(max_gross_exposure=30_000, max_orders_per_second=None))
    await api.place()  # 25,000 of 30,000: a WARN
    await api.oms.check_risk()

    summary = await api.client.get("/risk/summary")
    alerts = await api.client.get("/risk/alerts")

    assert summary.status_code == alerts.status_code == 200
    RiskSummaryOut.model_validate(summary.json())
    assert summary.json()["gross_exposure"] == "25000.00"
    assert "max_gross_exposure" in [limit["limit"] for limit in summary.json()["limits"]]
    assert [(a["level"], a["limit_name"]) for a in alerts.json()] == [("WARN", "max_gross_exposure")]
    AlertOut.model_validate(alerts.json()[0])
    assert summary.json()["alerts"] == alerts.json()


# -- the day and the OMS ----------------------------------------------------------------------------------------------


async def test_stats_and_status(api):
    await api.place()
    await api.place(quantity=5000)

    stats = (await api.client.get("/stats/today")).json()
    status = (await api.client.get("/status")).json()

    StatsOut.model_validate(stats)
    assert stats["orders_placed"] == 2 and stats["orders_rejected"] == 1 and stats["turnover"] == "25000.00"
    StatusOut.model_validate(status)
    assert status["account"] == "default" and status["trading_state"] == "ACTIVE" and status["closed"] is False


async def test_the_served_oms_is_the_callers_own(api):
    # The process that serves the OMS (a notebook) and the HTTP clients act on one OMS.
    mine = await api.oms.place_order("RELIANCE", "BUY", 10, "LIMIT", price=2400)
    theirs = (await api.place(order_type="LIMIT", price=2390)).json()

    seen = [o["order_id"] for o in (await api.client.get("/orders/active")).json()]
    assert seen == [mine.order_id, theirs["order_id"]]
    assert api.oms.get_order(theirs["order_id"]).status is ok.OrderStatus.OPEN


async def test_a_closed_oms_refuses_orders(api):
    await api.oms.close()

    assert_error(await api.place(), 409, "REFUSED")


async def test_orders_placed_over_http_are_durable(open_served, durable_url):
    api = await open_served(durable_url, account="bot")
    placed = (await api.place(client_order_id="c-1")).json()
    retried = await api.place(client_order_id="c-1")
    assert retried.status_code == 200 and retried.json()["order_id"] == placed["order_id"]
    await api.server.stop()
    await api.oms.close()

    reopened = await open_served(durable_url, account="bot")

    found = await reopened.client.get(f"/orders/{placed['order_id']}")
    assert found.status_code == 200 and found.json()["status"] == "FILLED"
    assert (await reopened.client.get("/positions")).json()[0]["quantity"] == 10


# -- errors -----------------------------------------------------------------------------------------------------------


async def test_an_unexpected_error_is_a_generic_500_without_a_trace_and_is_logged(open_served, caplog):
    broken = APIRouter()

    @broken.get("/api/oms/broken")
    async def fail() -> None:
        raise RuntimeError("secret internals")

    api = await open_served(routers=(broken,))
    with caplog.at_level(logging.ERROR, logger="oms_kit.service"):
        response = await api.client.get("/broken")

    body = assert_error(response, 500, "INTERNAL_ERROR")
    assert "secret" not in response.text and body["field"] is None
    assert any("secret internals" in (r.exc_text or "") or r.exc_info for r in caplog.records)
    assert (await api.client.get("/status")).status_code == 200  # the server goes on


async def test_unknown_routes_and_methods_have_the_error_shape(api):
    assert_error(await api.client.get("/nothing"), 404, "NOT_FOUND")
    assert_error(await api.client.put("/orders"), 405, "METHOD_NOT_ALLOWED")


def test_oms_errors_map_to_statuses():
    status, body = oms_error(PersistenceUnavailable("down", hint="check the database"))
    assert status == 503 and body["code"] == "PERSISTENCE_UNAVAILABLE" and body["hint"] == "check the database"
    status, body = oms_error(ok.InvalidOrderError("quantity", 0, "a whole number"))
    assert status == 422 and body["field"] == "quantity" and body["hint"] == "allowed: a whole number"


async def test_openapi_document_lists_every_route(api):
    token = {"token": api.server.token}
    async with httpx.AsyncClient(base_url=api.server.url) as browser:  # a browser sends the token in the query
        schema = (await browser.get("/openapi.json", params=token)).json()
        docs = await browser.get("/docs", params=token)

    paths = schema["paths"]
    for path, methods in {"/api/oms/orders": {"get", "post"}, "/api/oms/orders/{order_id}": {"get", "patch", "delete"},
                          "/api/oms/risk/kill-switch": {"post"}, "/api/oms/status": {"get"}}.items():
        assert methods <= set(paths[path]), path
    assert schema["components"]["securitySchemes"]["token"]["scheme"] == "bearer"
    assert "HTTPValidationError" not in str(schema)  # a 422 is documented in the one error shape
    assert docs.status_code == 200 and f"/openapi.json?token={api.server.token}" in docs.text
