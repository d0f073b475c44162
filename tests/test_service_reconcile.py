"""The reconciliation over the REST API (``/api/oms/reconciliation``, ``/run``, ``/accept``) and the Python client:
the trader's OMS trades through ok.KiteBroker and the official kiteconnect client against a served "exchange" (the
fixtures of test_kite_broker), a difference is made at the exchange by hand (test_reconcile's way), and the trader is
served on a free port to httpx, ``ok.connect`` and ``ok.connect_sync`` clients.

Nothing here asserts a time: waits are "until this holds" with a generous bound (``eventually``).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import test_kite_broker as kite_tests
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_kite_broker import eventually, status
from test_reconcile import by_hand, exchange_held, held
from test_service import assert_error
from test_service_hostile import ANY_JSON, WEIRD_TEXT

import oms_kit as ok
from oms_kit.orders import MAX_REASON
from oms_kit.service import serve
from oms_kit.service.reconcile_rest import ReconciliationStateOut

S = ok.OrderStatus
TOKEN = "reconcile-full-token"
READ_TOKEN = "reconcile-read-token"
# The fixtures of test_kite_broker: the served exchange and the trader's OMS trading there through ok.KiteBroker.
make_exchange, exchange, make_trader = kite_tests.make_exchange, kite_tests.exchange, kite_tests.make_trader


def client(server: Any, token: str | None = TOKEN) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=server.url + "/api/oms", headers=headers, timeout=30)


def state(response: httpx.Response) -> dict[str, Any]:
    """The body of a 200 answer of the reconciliation's routes, checked against its documented shape."""
    assert response.status_code == 200, response.text
    body = response.json()
    ReconciliationStateOut.model_validate(body)
    return body


async def pending(make_trader: Any, exchange: Any, url: str = "duckdb:///:memory:") -> tuple[ok.OMS, str]:
    """A trader halted for a reconciliation: it bought 2 INFY itself, then 7 were bought at the broker by hand."""
    trader = await make_trader(exchange, url=url)
    mine = await trader.place_order("INFY", "BUY", 2, product="MIS")
    await eventually(lambda: status(trader, mine) is S.FILLED, "the OMS's own fill")
    broker_id = await by_hand(exchange, "INFY", "BUY", 7)
    assert not (await trader.reconcile()).ok
    return trader, broker_id


@pytest.fixture
async def served():
    """Serve an OMS with the tests' tokens; stopped afterwards."""
    servers: list[Any] = []

    async def make(oms: ok.OMS) -> Any:
        server = await serve(oms, port=0, token=TOKEN, read_only_token=READ_TOKEN)
        servers.append(server)
        return server

    yield make
    for server in servers:
        await server.stop()


async def test_a_dashboard_sees_the_pending_reconciliation_and_a_bot_accepts_it(make_trader, exchange, served):
    trader, broker_id = await pending(make_trader, exchange)
    server = await served(trader)

    async with client(server, READ_TOKEN) as watcher, client(server) as bot, client(server, None) as stranger:
        seen = state(await watcher.get("/reconciliation"))  # the read-only token reads it
        assert seen["halted"] is True and seen["trading_state"] == "HALTED"
        last = seen["reconciliation"]
        assert last["ok"] is False and last["trigger"] == "user"
        rows = {row["kind"]: row for row in last["differences"]}
        assert set(rows) == {"unknown_order", "position"} == set(trader.reconciliation.differences["kind"])
        assert rows["unknown_order"]["broker_order_id"] == broker_id
        assert (rows["position"]["symbol"], rows["position"]["oms"], rows["position"]["broker"]) == ("INFY", 2, 9)
        assert set(rows["position"]) == set(trader.reconciliation.differences.columns)
        assert_error(await bot.post("/orders", json={"symbol": "INFY", "side": "SELL", "quantity": 1}), 409,
                     "RECONCILIATION_PENDING")

        # Accepting needs the full token, as the kill switch does; malformed bodies name their field.
        reason = {"reason": "bought by hand in the Kite app", "adopt": True}
        assert_error(await watcher.post("/reconciliation/accept", json=reason), 403, "READ_ONLY_TOKEN")
        assert_error(await stranger.post("/reconciliation/accept", json=reason), 401, "UNAUTHORIZED")
        assert_error(await watcher.post("/reconciliation/run"), 403, "READ_ONLY_TOKEN")
        for body, field in (({"reason": ""}, "reason"), ({"reason": "   "}, "reason"), ({"adopt": True}, "reason"),
                            ({"reason": "x", "adopt": "yes"}, "adopt"), ({"reason": "x", "adopt": 1}, "adopt"),
                            ({"reason": "x", "adopt": None}, "adopt"), ({"reason": 5}, "reason"),
                            ({"reason": "x" * (MAX_REASON + 1)}, "reason"), ({"reason": "x", "flatten": 1}, "flatten")):
            assert_error(await bot.post("/reconciliation/accept", json=body), 422, "INVALID_INPUT", field)
        assert trader.trading_state is ok.TradingState.HALTED and trader.reconciliation.trigger == "user"
        assert held(trader) == {("INFY", "MIS"): 2}

        accepted = state(await bot.post("/reconciliation/accept", json=reason))

        assert accepted["halted"] is False and accepted["trading_state"] == "ACTIVE"
        assert accepted["reconciliation"]["ok"] is True and accepted["reconciliation"]["trigger"] == "accept"
        taken = {row["order_id"]: row for row in accepted["reconciliation"]["adopted"]}
        assert taken[f"K-{broker_id}"]["kind"] == "order" and taken[f"K-{broker_id}"]["broker_order_id"] == broker_id
        assert trader.trading_state is ok.TradingState.ACTIVE
        assert held(trader) == exchange_held(exchange) == {("INFY", "MIS"): 9}
        after = state(await watcher.get("/reconciliation"))
        assert after["halted"] is False and after["reconciliation"] == accepted["reconciliation"]
        placed = await bot.post("/orders", json={"symbol": "INFY", "side": "SELL", "quantity": 9})
        assert placed.status_code == 201, placed.text  # trading again


async def test_a_reconciliation_run_over_http_halts_and_one_accepted_as_it_stands_adopts_nothing(make_trader,
                                                                                                exchange, served):
    trader = await make_trader(exchange)
    server = await served(trader)
    async with client(server) as bot:
        agreed = state(await bot.post("/reconciliation/run"))
        assert agreed["reconciliation"]["ok"] is True and agreed["reconciliation"]["trigger"] == "user"
        assert agreed["halted"] is False and agreed["reconciliation"]["differences"] == []

        await exchange.oms.place_order("RELIANCE", "SELL", 6, product="MIS")  # at the exchange itself, untagged
        differing = state(await bot.post("/reconciliation/run"))

        assert differing["halted"] is True and differing["trading_state"] == "HALTED"
        assert {row["kind"] for row in differing["reconciliation"]["differences"]} == {"unknown_order", "position"}
        assert trader.trading_state is ok.TradingState.HALTED and not trader.reconciliation.ok
        alerts = trader.risk_alerts()
        assert list(alerts["limit_name"]).count("reconciliation") == 1

        taken = state(await bot.post("/reconciliation/accept", json={"reason": "hedge held elsewhere",
                                                                     "adopt": False}))

        assert taken["halted"] is False and taken["reconciliation"]["ok"] is True
        assert held(trader) == {} and trader.trades().empty  # nothing adopted into the ledger
        assert state(await bot.post("/reconciliation/run"))["reconciliation"]["ok"] is True  # not listed again


async def test_without_a_live_broker_every_route_says_so_in_the_one_error_shape(served):
    oms = await ok.OMS.open("duckdb:///:memory:", feed=None, risk_interval=None)
    try:
        server = await served(oms)
        async with client(server) as bot:
            for method, path, body in (("GET", "/reconciliation", None), ("POST", "/reconciliation/run", None),
                                       ("POST", "/reconciliation/accept", {"reason": "nothing to accept"})):
                error = assert_error(await bot.request(method, path, json=body), 409, "NO_LIVE_BROKER")
                assert "live broker" in error["message"] and "KiteBroker" in error["hint"], error
            # A malformed body is still named first: nothing about the OMS is asked for it.
            assert_error(await bot.post("/reconciliation/accept", json={"reason": ""}), 422, "INVALID_INPUT",
                         "reason")
        remote = await ok.connect(server.url, token=TOKEN)
        try:
            for call in (remote.reconciliation, remote.reconcile, lambda: remote.accept_reconciliation("why")):
                with pytest.raises(ok.OmsError, match="live broker") as raised:
                    await call()
                assert not isinstance(raised.value, ok.RemoteError)  # the OMS's own error, as in the process
        finally:
            await remote.close()
        assert oms.trading_state is ok.TradingState.ACTIVE
    finally:
        await oms.close()


async def test_the_python_clients_see_run_and_accept_the_reconciliation(make_trader, exchange, served):
    trader, broker_id = await pending(make_trader, exchange)
    server = await served(trader)
    remote = await ok.connect(server.url, token=TOKEN)
    try:
        seen = await remote.reconciliation()
        mine = trader.reconciliation
        assert isinstance(seen, ok.Reconciliation) and not seen.ok and seen.ts == mine.ts
        assert list(seen.differences.columns) == list(mine.differences.columns)
        assert seen.differences[["kind", "symbol", "broker_order_id"]].equals(
            mine.differences[["kind", "symbol", "broker_order_id"]])
        with pytest.raises(ok.ReconciliationPending, match="2 difference"):  # the OMS's own exception
            await remote.place_order("INFY", "SELL", 1, product="MIS")
        with pytest.raises(ok.InvalidOrderError) as refused:
            await remote.accept_reconciliation("   ")
        assert refused.value.field == "reason"
        with pytest.raises(ok.ConfigError) as refused_adopt:
            await remote.accept_reconciliation("why", adopt="yes")  # type: ignore[arg-type]
        assert refused_adopt.value.field == "adopt"
        again = await remote.reconcile()
        assert not again.ok and again.trigger == "user" and trader.trading_state is ok.TradingState.HALTED
        assert (await remote.status())["reconciliation"]["halted"] is True
    finally:
        await remote.close()

    def script() -> tuple[ok.Reconciliation, ok.Reconciliation | None]:
        with ok.connect_sync(server.url, token=TOKEN) as blocking:
            return blocking.accept_reconciliation("bought by hand in the Kite app"), blocking.reconciliation()

    accepted, last = await asyncio.to_thread(script)

    assert accepted.ok and accepted.trigger == "accept" and last is not None and last.ts == accepted.ts
    assert trader.trading_state is ok.TradingState.ACTIVE
    theirs = trader.reconciliation.adopted
    assert accepted.adopted[["kind", "order_id", "quantity"]].astype(str).equals(
        theirs[["kind", "order_id", "quantity"]].astype(str))
    assert list(accepted.adopted["price"]) == list(theirs["price"])  # Decimals, as in the process
    assert list(accepted.adopted["ts"]) == list(theirs["ts"])  # aware datetimes, as in the process
    assert f"K-{broker_id}" in set(accepted.adopted["order_id"])


# -- hostile bodies on the accept route -------------------------------------------------------------------------------

_PRINTABLE = st.text(alphabet=st.characters(categories=("L", "N", "P", "S")), min_size=1, max_size=20)
BAD_REASONS = st.one_of(
    ANY_JSON.filter(lambda value: not isinstance(value, str)), st.just(""), st.text(" \t", max_size=5),
    st.builds(lambda a, c, b: a + c + b, WEIRD_TEXT, st.sampled_from("\x00\n\r\t\x1b\x7f\u2028"), WEIRD_TEXT),
    st.integers(MAX_REASON + 1, MAX_REASON + 40).map(lambda n: "r" * n))
BAD_ADOPTS = ANY_JSON.filter(lambda value: not isinstance(value, bool))
EXTRA_KEYS = WEIRD_TEXT.filter(lambda key: key not in ("reason", "adopt"))
JSON_BODIES = st.one_of(
    st.fixed_dictionaries({"reason": BAD_REASONS}, optional={"adopt": st.one_of(st.booleans(), ANY_JSON)}),
    st.fixed_dictionaries({"reason": _PRINTABLE, "adopt": BAD_ADOPTS}),
    st.fixed_dictionaries({"adopt": st.one_of(st.booleans(), ANY_JSON)}),
    st.builds(lambda body, key, value: {**body, key: value},
              st.fixed_dictionaries({"reason": _PRINTABLE}, optional={"adopt": st.booleans()}), EXTRA_KEYS, ANY_JSON),
    ANY_JSON)


def acceptable(body: object) -> bool:
    """Whether ``body`` is an accept the OMS would carry out (those are left out: they change the state)."""
    if not isinstance(body, dict) or not set(body) <= {"reason", "adopt"} or not isinstance(body.get("adopt", True),
                                                                                            bool):
        return False
    reason = body.get("reason")
    return isinstance(reason, str) and bool(reason.strip()) and len(reason) <= MAX_REASON and reason.isprintable()


def readable(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return None


async def test_hostile_accept_bodies_are_refused_without_a_5xx_and_change_nothing(make_trader, exchange, served,
                                                                                 durable_url):
    # On both durable stores (a DuckDB file and PostgreSQL): a refused accept writes nothing to either.
    trader, _ = await pending(make_trader, exchange, durable_url)
    server = await served(trader)
    last = trader.reconciliation
    before = (held(trader), trader.manager.ledger.cash, len(trader.manager.orders), len(trader.risk_alerts()))
    http = httpx.Client(base_url=server.url + "/api/oms", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    seen: dict[str, int] = {}

    @settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(body=st.one_of(JSON_BODIES.map(lambda body: ("json", body)), st.binary(max_size=200).map(
        lambda raw: ("raw", raw))), content_type=st.sampled_from(["application/json", "text/plain", ""]))
    def check(body: tuple[str, Any], content_type: str) -> None:
        kind, value = body
        content = json.dumps(value).encode() if kind == "json" else value  # ASCII: any text can cross
        assume(not acceptable(readable(content)))
        response = http.post("/reconciliation/accept", content=content, headers={"Content-Type": content_type})
        assert response.status_code in (400, 422), response.text
        error = response.json()
        assert set(error) == {"code", "message", "field", "hint"} and error["code"] == "INVALID_INPUT", error
        assert error["field"], error
        if content_type == "application/json" and isinstance(value, dict) and set(value) <= {"reason", "adopt"}:
            assert error["field"] in ("reason", "adopt"), (value, error)
        assert "Traceback" not in response.text and 'File "' not in response.text
        # Refused: still halted on the same reconciliation, nothing adopted, no alert raised.
        assert trader.reconciliation is last and trader.reconciler.halted
        assert trader.trading_state is ok.TradingState.HALTED
        assert (held(trader), trader.manager.ledger.cash, len(trader.manager.orders),
                len(trader.risk_alerts())) == before
        seen[error["field"]] = seen.get(error["field"], 0) + 1

    try:
        await asyncio.to_thread(check)
    finally:
        http.close()
    assert {"reason", "adopt", "body"} <= set(seen), seen  # the strategies reached every kind of refusal
    async with client(server) as bot:
        assert state(await bot.get("/reconciliation"))["halted"] is True
