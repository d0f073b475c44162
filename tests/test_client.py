"""The Python client (ok.connect, ok.connect_sync) against a served OMS on a real uvicorn server on a free port:
every method gives what the in-process call gives (the same Order fields, the same DataFrames, dtypes included),
errors come back as the OMS's own exceptions naming the field, events as the kit's event classes, hostile arguments
end as they end in process, and the blocking twin works from a thread."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal
from starlette.datastructures import QueryParams

import oms_kit as ok
from oms_kit.client import EventStreamClosed, EventStreamLagged, RemoteError, RemoteOMS
from oms_kit.client.decode import event_of
from oms_kit.client.stream import CLOSE_LAGGED, stream_query
from oms_kit.events import EVENT_TYPES
from oms_kit.models import ClientOrderId, OrderId, TradeId
from oms_kit.risk import RiskAlert
from oms_kit.service import serve
from oms_kit.service.encode import dumps
from oms_kit.service.ws import CLOSE_LAGGED as SERVER_CLOSE_LAGGED
from oms_kit.service.ws import event_json, parse_options

T = TypeVar("T")
PRICE = 2500
LIMITS = ok.RiskLimits(max_order_quantity=1000, max_open_orders=10, max_orders_per_second=None,
                       duplicate_window_s=None, daily_loss_limit=50_000)
READ_TOKEN = "watcher-token"
SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


async def open_oms(**kwargs: Any) -> ok.OMS:
    kwargs.setdefault("limits", LIMITS)
    oms = await ok.OMS.open("duckdb:///:memory:", feed=None, risk_interval=None, **kwargs)
    await oms.set_price("RELIANCE", PRICE)
    await oms.set_price("TCS", 3900)
    return oms


class Served:
    def __init__(self, oms: ok.OMS, server: Any, remote: RemoteOMS) -> None:
        self.oms, self.server, self.remote = oms, server, remote


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    oms = await open_oms()
    server = await serve(oms, port=0, read_only_token=READ_TOKEN)
    remote = await ok.connect(server.url, token=server.token)
    yield Served(oms, server, remote)
    await remote.close()
    await server.stop()
    await oms.close()


def on_loop(loop: asyncio.AbstractEventLoop) -> Callable[[Coroutine[Any, Any, T]], T]:
    """Run a coroutine on the test's loop from the worker thread Hypothesis runs in, and wait for it."""
    def run(coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=30)
    return run


def assert_same_order(remote: ok.Order, local: ok.Order) -> None:
    """The fields the API carries, equal; violations as Violation values, equal to the OMS's own."""
    assert isinstance(remote, ok.Order)
    assert remote.to_dict() == local.to_dict()
    assert remote.violations == local.violations
    assert remote.account == local.account
    assert remote.filled_value == local.filled_value


async def a_trading_day(oms: ok.OMS, remote: RemoteOMS) -> dict[str, ok.Order]:
    """Orders of every kind and end, some placed over HTTP and some in process, and a risk alert."""
    orders = {
        "bought": await remote.place_order("RELIANCE", "BUY", 10, tag="bot"),
        "sold": await oms.place_order("TCS", "SELL", 4, product="CNC"),
        "resting": await remote.place_order("RELIANCE", "BUY", 5, "LIMIT", price="2400.05"),
        "stop": await remote.place_order("TCS", "SELL", 2, "SL", price=3800, trigger_price=Decimal("3850")),
        "rejected": await remote.place_order("RELIANCE", "BUY", 5000, "LIMIT", price=2400),
        "cancelled": await remote.place_order(ok.OrderRequest("TCS", "BUY", 1, "LIMIT", 3600, client_order_id="c-9")),
    }
    await remote.cancel_order(orders["cancelled"].order_id, "changed my mind")
    await remote.modify_order(orders["resting"].order_id, quantity=7, price="2401")
    await oms.set_price("RELIANCE", 2520.35)
    for _ in range(6):  # 8 open orders of the 10 allowed (LIMITS): a WARN alert
        await oms.place_order("RELIANCE", "BUY", 1, "LIMIT", price=2300)
    await oms.check_risk()
    return orders


# -- connecting -------------------------------------------------------------------------------------------------------


async def test_connect_learns_the_account_and_accepts_the_api_url_too(served):
    again = await ok.connect(served.server.url + "/api/oms/", token=served.server.token)

    assert served.remote.account == "default" == again.account
    assert again.url == served.server.url and repr(again) == f"<RemoteOMS {served.server.url} account='default'>"
    await again.close()


async def test_connect_takes_the_token_from_the_environment(served, monkeypatch):
    monkeypatch.setenv("OMS_KIT_TOKEN", served.server.token)

    async with await ok.connect(served.server.url) as remote:
        assert (await remote.status())["account"] == "default"


@pytest.mark.parametrize("token", ["wrong", READ_TOKEN + "x"])
async def test_a_wrong_token_is_a_config_error_naming_the_token(served, token):
    with pytest.raises(ok.ConfigError) as refused:
        await ok.connect(served.server.url, token=token)

    assert refused.value.field == "token" and token not in str(refused.value)


@pytest.mark.parametrize(("url", "token", "field"), [
    ("127.0.0.1:8050", "t", "url"), ("ftp://127.0.0.1:8050", "t", "url"), ("http://127.0.0.1:8050/x", "t", "url"),
    ("http://127.0.0.1:8050?a=1", "t", "url"), (8050, "t", "url"), ("http://127.0.0.1:8050", "two words", "token"),
    ("http://127.0.0.1:8050", "", "token"), ("http://127.0.0.1:8050", 42, "token"), ("http://[::1", "t", "url"),
])
async def test_connect_refuses_a_malformed_url_or_token_without_a_request(url, token, field):
    with pytest.raises(ok.ConfigError) as refused:
        await ok.connect(url, token=token)

    assert refused.value.field == field


async def test_connect_without_any_token_says_where_to_put_it(monkeypatch):
    monkeypatch.delenv("OMS_KIT_TOKEN", raising=False)

    with pytest.raises(ok.ConfigError) as refused:
        await ok.connect("http://127.0.0.1:8050")

    assert refused.value.field == "token" and "OMS_KIT_TOKEN" in refused.value.allowed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_server_that_is_not_there_is_a_remote_error():
    with pytest.raises(RemoteError) as unreachable:
        await ok.connect(f"http://127.0.0.1:{free_port()}", token="t", timeout=5)

    assert unreachable.value.code == "UNREACHABLE" and unreachable.value.status is None
    assert isinstance(unreachable.value, ok.OmsError)


async def test_the_read_only_token_reads_and_is_refused_trading(served):
    watcher = await ok.connect(served.server.url, token=READ_TOKEN)
    await served.remote.place_order("RELIANCE", "BUY", 1)

    frame = await watcher.orders()
    with pytest.raises(RemoteError) as refused:
        await watcher.place_order("RELIANCE", "BUY", 1)

    assert len(frame) == 1
    assert refused.value.status == 403 and refused.value.code == "READ_ONLY_TOKEN"
    assert len(served.oms.orders()) == 1
    await watcher.close()


# -- every method, as in process --------------------------------------------------------------------------------------


async def test_the_tables_of_an_untouched_oms_equal_the_in_process_ones(served):
    remote, oms = served.remote, served.oms

    for name in ("orders", "active_orders", "trades", "positions", "risk_alerts"):
        assert_frame_equal(await getattr(remote, name)(), getattr(oms, name)(), obj=name)


async def test_every_read_equals_the_in_process_call_after_a_trading_day(served):
    remote, oms = served.remote, served.oms
    orders = await a_trading_day(oms, remote)

    for name in ("orders", "active_orders", "trades", "positions", "risk_alerts"):
        assert_frame_equal(await getattr(remote, name)(), getattr(oms, name)(), obj=name)
    for filters in ({"symbol": "TCS"}, {"status": "OPEN"}, {"status": ok.OrderStatus.REJECTED}, {"side": "sell"},
                    {"limit": 3}, {"since": datetime.now(UTC) - timedelta(hours=1)}, {"since": date.today()},
                    {"until": (datetime.now(UTC) + timedelta(seconds=5)).isoformat(), "symbol": "RELIANCE"},
                    {"symbol": "NOPE"}):
        assert_frame_equal(await remote.orders(**filters), oms.orders(**filters), obj=str(filters))
    for filters in ({"symbol": "RELIANCE"}, {"limit": 1}, {"since": datetime.now(UTC) - timedelta(minutes=5)}):
        assert_frame_equal(await remote.trades(**filters), oms.trades(**filters), obj=str(filters))
    for order in orders.values():
        assert_same_order(await remote.get_order(order.order_id), oms.get_order(order.order_id))
    assert_frame_equal(await remote.validate("RELIANCE", "BUY", 10), oms.validate("RELIANCE", "BUY", 10))
    request = ok.OrderRequest("TCS", "SELL", 2000, "LIMIT", "3900.05")
    assert_frame_equal(await remote.validate(request), oms.validate(request))
    remote_summary, summary = await remote.risk_summary(), oms.risk_summary()
    assert_frame_equal(remote_summary.pop("limits"), summary.pop("limits"))
    assert remote_summary == summary and summary["alerts"]  # RiskAlert values, equal
    assert await remote.stats_today() == oms.stats_today()
    assert await remote.position("RELIANCE") == oms.position("RELIANCE") == 10
    assert await remote.position("TCS") == oms.position("TCS") == -4
    status = await remote.status()
    assert {k: v for k, v in status.items() if k not in ("tasks", "writes")} == \
        {k: v for k, v in oms.status().items() if k not in ("tasks", "writes")}


async def test_placing_returns_the_order_the_oms_holds(served):
    remote, oms = served.remote, served.oms

    market = await remote.place_order("RELIANCE", "buy", 10.0, product="cnc", tag="t-1", client_order_id="c-1")
    limit = await remote.place_order(ok.OrderRequest("TCS", ok.Side.SELL, 3, "LIMIT", "3999.95", validity="IOC"))
    stop = await remote.place_order("RELIANCE", "SELL", 2, "SL-M", trigger_price=2400)
    retry = await remote.place_order("RELIANCE", "buy", 10, product="CNC", tag="t-1", client_order_id="c-1")
    rejected = await remote.place_order("NOPE", "BUY", 1)

    for order in (market, limit, stop, retry, rejected):
        assert_same_order(order, oms.get_order(order.order_id))
    assert market.average_price == Decimal("2500.00") and market.created_at.tzinfo is not None
    assert retry.order_id == market.order_id and len(oms.orders()) == 4
    assert stop.status is ok.OrderStatus.TRIGGER_PENDING and not stop.triggered and stop.waits_for_trigger
    assert rejected.status is ok.OrderStatus.REJECTED and rejected.violations
    assert all(isinstance(v, ok.Violation) for v in rejected.violations)


async def test_a_rejected_order_has_the_violations_of_the_oms_with_their_evidence(served):
    order = await served.remote.place_order("RELIANCE", "BUY", 5000, "LIMIT", price=2400)

    local = served.oms.get_order(order.order_id)
    assert order.violations == local.violations
    assert [type(v.limit) for v in order.violations] == [type(v.limit) for v in local.violations]
    assert order.reason == local.reason


async def test_modify_cancel_cancel_all_and_square_off(served):
    remote, oms = served.remote, served.oms
    resting = [await remote.place_order(s, "BUY", 2, "LIMIT", price=p) for s, p in
               (("RELIANCE", 2400), ("TCS", 3800), ("TCS", 3790))]
    await remote.place_order("RELIANCE", "BUY", 10)

    modified = await remote.modify_order(resting[0].order_id, quantity=3, price=Decimal("2410.50"))
    assert_same_order(modified, oms.get_order(resting[0].order_id))
    cancelled = await remote.cancel_order(resting[1].order_id, "not now")
    assert_same_order(cancelled, oms.get_order(resting[1].order_id))
    rest = await remote.cancel_all("TCS")
    closing = await remote.square_off()

    assert modified.quantity == 3 and modified.price == Decimal("2410.50")
    assert cancelled.status is ok.OrderStatus.CANCELLED and cancelled.reason == "not now"
    assert [o.order_id for o in rest] == [resting[2].order_id]
    for order in rest + closing:
        assert isinstance(order, ok.Order) and order.account == "default"
    assert [(o.symbol, o.side, o.quantity) for o in closing] == [("RELIANCE", ok.Side.SELL, 10)]
    assert oms.position("RELIANCE") == 0 and oms.active_orders().empty


async def test_the_kill_switch_halts_flattens_and_is_reset(served):
    remote, oms = served.remote, served.oms
    await remote.place_order("RELIANCE", "BUY", 10)

    closing = await remote.kill_switch("stop everything", flatten=True)
    halted = await remote.place_order("RELIANCE", "BUY", 1)
    state = (await remote.status())["trading_state"]
    await remote.reset_kill_switch("checked")

    assert [(o.symbol, o.side, o.quantity) for o in closing] == [("RELIANCE", ok.Side.SELL, 10)]
    assert_same_order(closing[0], oms.get_order(closing[0].order_id))
    assert state == "HALTED" and halted.status is ok.OrderStatus.REJECTED
    assert "TRADING_HALTED" in [v.code for v in halted.violations]
    assert oms.trading_state is ok.TradingState.ACTIVE


# -- errors -----------------------------------------------------------------------------------------------------------


async def same_error(remote_call: Coroutine[Any, Any, Any], local: Callable[[], Any]) -> BaseException:
    """The remote call raises what the in-process call raises: the same class, field and message."""
    with pytest.raises(ok.OmsError) as remote_error:
        await remote_call
    with pytest.raises(ok.OmsError) as local_error:
        result = local()
        if asyncio.iscoroutine(result):
            await result
    assert type(remote_error.value) is type(local_error.value)
    assert remote_error.value.message == local_error.value.message
    assert getattr(remote_error.value, "field", None) == getattr(local_error.value, "field", None)
    return remote_error.value


async def test_errors_are_the_oms_exceptions_naming_the_field(served):
    remote, oms = served.remote, served.oms
    resting = await oms.place_order("RELIANCE", "BUY", 2, "LIMIT", price=2400)
    filled = await oms.place_order("RELIANCE", "BUY", 2)

    error = await same_error(remote.place_order("RELIANCE", "BUY", 0), lambda: oms.place_order("RELIANCE", "BUY", 0))
    assert isinstance(error, ok.InvalidOrderError) and error.field == "quantity" and error.value == 0
    await same_error(remote.place_order("RELIANCE", "HOLD", 1), lambda: oms.place_order("RELIANCE", "HOLD", 1))
    await same_error(remote.place_order(ok.OrderRequest("TCS", "BUY", 1), "BUY"),
                     lambda: oms.place_order(ok.OrderRequest("TCS", "BUY", 1), "BUY"))
    # Judged by the server: its 422, 404 and 409 come back as the OMS's exceptions.
    error = await same_error(remote.modify_order(resting.order_id, price=2500, trigger_price=2450),
                             lambda: oms.modify_order(resting.order_id, price=2500, trigger_price=2450))
    assert error.field == "trigger_price" and error.value == 2450
    error = await same_error(remote.orders(status="BOGUS"), lambda: oms.orders(status="BOGUS"))
    assert isinstance(error, ok.InvalidOrderError) and error.field == "status"
    error = await same_error(remote.get_order("O-nope-1"), lambda: oms.get_order("O-nope-1"))
    assert type(error) is ok.OmsError
    await same_error(remote.cancel_order(filled.order_id), lambda: oms.cancel_order(filled.order_id))
    await same_error(remote.cancel_order("O-nope-2"), lambda: oms.cancel_order("O-nope-2"))
    await same_error(remote.get_order(42), lambda: oms.get_order(42))  # type: ignore[arg-type]
    for bad in ("since", "until"):
        error = await same_error(remote.trades(**{bad: "yesterday"}), lambda b=bad: oms.trades(**{b: "yesterday"}))
        assert isinstance(error, ok.ConfigError) and error.field == bad
    error = await same_error(remote.orders(limit=0), lambda: oms.orders(limit=0))
    assert isinstance(error, ok.ConfigError)
    rejected = await same_error(remote.modify_order(resting.order_id, quantity=5000),
                                lambda: oms.modify_order(resting.order_id, quantity=5000))
    local_rejection = None
    try:
        await oms.modify_order(resting.order_id, quantity=5000)
    except ok.OrderModifyRejected as exc:
        local_rejection = exc
    assert isinstance(rejected, ok.OrderModifyRejected) and local_rejection is not None
    assert [(v.code, v.message) for v in rejected.violations] == \
        [(v.code, v.message) for v in local_rejection.violations]
    assert oms.get_order(resting.order_id).quantity == 2


async def test_an_order_id_that_is_no_path_is_an_unknown_order(served):
    for order_id in ("", ".", "..", "a/b", "O-1?x=1", "\ud800"):
        with pytest.raises(ok.OmsError) as unknown:
            await served.remote.get_order(order_id)
        assert not isinstance(unknown.value, RemoteError), order_id


async def test_reset_while_the_daily_loss_is_in_breach_is_refused(served):
    remote, oms = served.remote, served.oms
    await remote.place_order("RELIANCE", "BUY", 1000)
    await oms.set_price("RELIANCE", 2440)  # 60,000 lost, over the limit of 50,000
    await oms.check_risk()

    error = await same_error(remote.reset_kill_switch("again"), lambda: oms.reset_kill_switch("again"))

    assert type(error) is ok.OmsError and oms.trading_state is ok.TradingState.HALTED


# -- hostile arguments ------------------------------------------------------------------------------------------------

ANYTHING = st.one_of(st.none(), st.booleans(), st.integers(-(10**20), 10**20), st.floats(),
                     st.decimals(allow_nan=True), st.text(max_size=10), st.binary(max_size=4),
                     st.lists(st.integers(), max_size=2), st.just(object()))
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "symbol": st.sampled_from(["RELIANCE", "TCS", " tcs ", "NOPE", "", "R" * 65, "RELI\x00ANCE"]),
    "side": st.sampled_from(["BUY", "SELL", "sell", ok.Side.BUY, "HOLD", None]),
    "quantity": st.one_of(st.integers(-2, 2000), st.sampled_from([10.0, 10.5, Decimal("3"), "10", 10**9 + 1])),
    "order_type": st.sampled_from(["MARKET", "LIMIT", "SL", "SL-M", "limit", ok.OrderType.SL, "STOP"]),
    "price": st.one_of(st.none(), st.sampled_from([2400, "2400.05", Decimal("2499.95"), 2400.01, "1e3", "-1",
                                                  "NaN", float("inf"), 0, "2400.123456789"])),
    "trigger_price": st.one_of(st.none(), st.sampled_from([2450, "2550", Decimal("3950.00"), "x", -5])),
    "product": st.sampled_from(["MIS", "CNC", "nrml", "BO"]),
    "validity": st.sampled_from(["DAY", "IOC", "GTC"]),
    "client_order_id": st.one_of(st.none(), st.sampled_from(["c-1", "c-2", "", "x" * 256, "c\n3"])),
    "tag": st.one_of(st.none(), st.sampled_from(["bot", "t" * 256, "\ud800", "tab\t"])),
}


@st.composite
def hostile_arguments(draw: st.DrawFn) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Arguments to place_order: mostly sensible, some field hostile, sometimes an OrderRequest (with or without
    fields beside it)."""
    fields = {name: draw(values) for name, values in FIELDS.items() if name in ("symbol", "side", "quantity")
              or draw(st.booleans())}
    if draw(st.integers(0, 5)) == 0:
        name = draw(st.sampled_from(sorted(FIELDS)))
        fields[name] = draw(ANYTHING)
    if draw(st.integers(0, 6)) == 0:
        try:
            request = ok.OrderRequest(draw(FIELDS["symbol"]), "BUY", draw(st.integers(1, 50)))
        except ok.InvalidOrderError:
            request = ok.OrderRequest("RELIANCE", "BUY", 1)
        extra = {k: v for k, v in fields.items() if k not in ("symbol", "side", "quantity")} \
            if draw(st.booleans()) else {}
        return (request,), extra
    return (fields.pop("symbol"), fields.pop("side"), fields.pop("quantity")), fields


async def test_hostile_arguments_to_place_order_end_as_they_end_in_process(served):
    reference = await open_oms()  # the same OMS, fed the same orders in process
    run = on_loop(asyncio.get_running_loop())
    outcomes = {"placed": 0, "refused": 0}

    @SETTINGS
    @given(call=hostile_arguments())
    def check(call: tuple[tuple[Any, ...], dict[str, Any]]) -> None:
        args, kwargs = call
        try:
            local: Any = run(reference.place_order(*args, **kwargs))
        except ok.OmsError as exc:
            local = exc
        try:
            remote: Any = run(served.remote.place_order(*args, **kwargs))
        except ok.OmsError as exc:
            remote = exc
        if isinstance(local, ok.OmsError):
            assert type(remote) is type(local), (remote, local)
            assert isinstance(local, ok.InvalidOrderError)
            assert (remote.field, remote.message) == (local.field, local.message)
            outcomes["refused"] += 1
            return
        assert isinstance(remote, ok.Order), remote
        same = {k: v for k, v in local.to_dict().items() if k not in ("order_id", "created_at", "updated_at")
                and not (k == "client_order_id" and kwargs.get("client_order_id") is None)}
        assert {k: remote.to_dict()[k] for k in same} == same
        assert_same_order(remote, served.oms.get_order(remote.order_id))
        outcomes["placed"] += 1

    try:
        await asyncio.to_thread(check)
    finally:
        await reference.close()
    assert outcomes["placed"] > 20 and outcomes["refused"] > 20, outcomes
    assert len(served.oms.orders()) == len(reference.orders())


URL_TEXT = st.text(alphabet=st.characters(exclude_characters="@", exclude_categories=("Cs",)), max_size=12)


async def test_hostile_arguments_to_connect_are_refused_naming_them_or_unreachable(served):
    closed_port = free_port()
    run = on_loop(asyncio.get_running_loop())

    @settings(SETTINGS, max_examples=120)
    @given(url=st.one_of(ANYTHING, URL_TEXT, URL_TEXT.map(lambda t: f"http://127.0.0.1:{closed_port}{t}"),
                         URL_TEXT.map(lambda t: f"{served.server.url}{t}")),
           token=st.one_of(ANYTHING, st.just(served.server.token), st.just(READ_TOKEN)),
           timeout=st.one_of(st.just(5), st.floats(), st.integers(-5, 5), ANYTHING))
    def check(url: Any, token: Any, timeout: Any) -> None:
        try:
            remote = run(ok.connect(url, token=token, timeout=timeout))
        except ok.ConfigError as exc:
            assert exc.field in ("url", "token", "timeout"), exc
            return
        except RemoteError as exc:
            assert exc.code in ("UNREACHABLE", "TIMEOUT", "BAD_RESPONSE") or exc.status == 404, exc
            return
        assert remote.account == "default" and token in (served.server.token, READ_TOKEN)
        run(remote.close())

    await asyncio.to_thread(check)


# -- events -----------------------------------------------------------------------------------------------------------


async def test_events_are_the_kit_event_classes_equal_to_the_in_process_ones(served):
    remote, oms = served.remote, served.oms
    local: list[ok.Event] = []
    oms.subscribe(local.append, ["order", "fill", "position", "trading_state", "risk_alert"])

    async with remote.events() as stream:
        await remote.place_order("RELIANCE", "BUY", 10)
        await remote.place_order("RELIANCE", "SELL", 4, "LIMIT", price=2600)
        await remote.kill_switch("halt")
        received = [await asyncio.wait_for(stream.__anext__(), 5) for _ in range(len(local))]

    assert stream.subscribed is not None and stream.subscribed["account"] == "default"
    assert [type(e) for e in received] == [type(e) for e in local]
    for remote_event, local_event in zip(received, local, strict=True):
        if isinstance(local_event, ok.OrderUpdated):
            assert remote_event.order.to_dict() == local_event.order.to_dict()
            assert (remote_event.event_type, remote_event.previous_status, remote_event.ts) == \
                (local_event.event_type, local_event.previous_status, local_event.ts)
        else:
            assert remote_event == local_event  # fills, positions and state changes compare whole


async def test_events_with_types_prices_and_raw_messages(served):
    remote, oms = served.remote, served.oms

    async with remote.events("price") as prices, remote.events(["fill"], raw=True, heartbeat=0.2) as raw:
        await oms.set_price("TCS", 3901)
        await remote.place_order("RELIANCE", "BUY", 1)
        price = await asyncio.wait_for(prices.__anext__(), 5)
        messages = [await asyncio.wait_for(raw.__anext__(), 5)]
        while {m["type"] for m in messages} != {"fill", "heartbeat"} and len(messages) < 50:
            messages.append(await asyncio.wait_for(raw.__anext__(), 5))

    assert price == ok.PriceUpdated(price.ts, "TCS", Decimal("3901.00"))
    assert {m["type"] for m in messages} == {"fill", "heartbeat"}
    assert raw.subscribed["types"] == ["fill"] and raw.subscribed["heartbeat_s"] == 0.2


def test_every_kind_of_event_the_stream_sends_the_client_reads_back_as_the_same_event():
    at = datetime(2026, 12, 4, 4, 0, tzinfo=UTC)
    order = ok.Order(OrderId("O-7"), ClientOrderId("C-7"), "RELIANCE", ok.Side.BUY, 10, ok.OrderType.LIMIT,
                     price=Decimal("2500.05"), status=ok.OrderStatus.OPEN, created_at=at, updated_at=at)
    alert = RiskAlert("A-1", "default", at, "WARN", "max_position_value", "RELIANCE", Decimal("80"), Decimal("100"),
                      "at 80 %")
    events = [
        ok.OrderUpdated(at, order, "ACCEPTED", "NEW"),
        ok.OrderFilled(at, ok.Fill(TradeId("T-1"), OrderId("O-7"), "RELIANCE", ok.Side.BUY, 4, Decimal("2500.05"),
                                   Decimal("1.25"), at, ok.Product.MIS, "default")),
        ok.PositionChanged(at, ok.Position("RELIANCE", quantity=4, average_price=Decimal("2500.05"),
                                           last_price=Decimal("2501"), updated_at=at)),
        ok.PriceUpdated(at, "TCS", Decimal("3900.10")),
        ok.RiskAlertRaised(at, alert),
        ok.TradingStateChanged(at, ok.TradingState.ACTIVE, ok.TradingState.HALTED, "kill switch", "user"),
    ]
    assert sorted(e.kind for e in events) == sorted(EVENT_TYPES)

    for event in events:
        sent = dumps(event_json(event))
        back = event_of(json.loads(sent), "default")

        assert type(back) is EVENT_TYPES[event.kind] and dumps(event_json(back)) == sent
    assert event_of({"type": "heartbeat", "ts": at.isoformat(), "data": {}}, "default") is None


async def test_a_client_that_falls_behind_gets_the_beginning_then_the_lag_error(served):
    remote = served.remote
    stream = await remote.events(queue=2).open()

    await remote.place_order("RELIANCE", "BUY", 1)  # five events at once
    received = []
    with pytest.raises(EventStreamLagged) as lagged:
        async for event in stream:
            received.append(event)

    assert CLOSE_LAGGED == SERVER_CLOSE_LAGGED == lagged.value.status
    assert stream.lagged == {"queue_size": 2, "delivered": len(received)}
    assert [e.event_type for e in received] == ["CREATED", "ACCEPTED"][:len(received)]
    assert isinstance(lagged.value, EventStreamClosed) and isinstance(lagged.value, ok.OmsError)


async def test_the_stream_ends_when_closed_and_raises_when_the_server_stops(served):
    stream = await served.remote.events().open()
    other = await served.remote.events().open()

    await stream.aclose()
    assert [e async for e in stream] == []
    await served.server.stop()
    with pytest.raises(EventStreamClosed) as closed:
        await asyncio.wait_for(other.__anext__(), 5)

    assert closed.value.status == 1012


@pytest.mark.parametrize(("options", "field"), [
    ({"types": "prices"}, "types"), ({"types": []}, "types"), ({"types": [1]}, "types"), ({"types": 5}, "types"),
    ({"heartbeat": 0}, "heartbeat"), ({"heartbeat": float("nan")}, "heartbeat"), ({"heartbeat": True}, "heartbeat"),
    ({"queue": 0}, "queue"), ({"queue": 10_001}, "queue"), ({"queue": 2.0}, "queue"),
])
def test_a_subscription_the_server_would_refuse_is_a_config_error_at_once(served, options, field):
    with pytest.raises(ok.ConfigError) as refused:
        served.remote.events(**options)

    assert refused.value.field == field


@settings(max_examples=300, deadline=None)
@given(types=st.one_of(st.none(), st.text(max_size=12), st.lists(st.one_of(
           st.sampled_from(["order", "fill", "position", "price", "risk_alert", "trading_state", "all", " FILL "]),
           st.text(max_size=6)), max_size=4), ANYTHING),
       heartbeat=st.one_of(st.none(), st.floats(), st.integers(-5, 5000), ANYTHING),
       queue=st.one_of(st.none(), st.integers(-5, 20_000), ANYTHING))
def test_any_subscription_the_client_accepts_the_server_accepts_as_the_same(types, heartbeat, queue):
    try:
        query = stream_query(types, heartbeat, queue)
    except ok.ConfigError as error:
        assert error.field in ("types", "heartbeat", "queue")
        return
    options = parse_options(QueryParams(query))
    if types is not None:
        names = {types.strip().lower()} if isinstance(types, str) else {t.strip().lower() for t in types}
        expected = ok.events.EVENT_KINDS if "all" in names else names
        assert options.types == expected
    if heartbeat is not None:
        assert options.heartbeat_s == float(heartbeat)
    if queue is not None:
        assert options.queue_size == queue


# -- the blocking twin ------------------------------------------------------------------------------------------------


async def test_the_blocking_twin_from_a_thread(served):
    oms, url, token = served.oms, served.server.url, served.server.token

    def script() -> dict[str, Any]:
        with ok.connect_sync(url, token=token) as remote:
            with remote.events(["order"]) as stream:
                order = remote.place_order("RELIANCE", "BUY", 10, "LIMIT", price=2450)
                first = next(stream)
            modified = remote.modify_order(order.order_id, price="2455")
            try:
                remote.place_order("RELIANCE", "BUY", -1)
            except ok.InvalidOrderError as exc:
                refused = exc.field
            return {"order": order, "modified": modified, "first": first, "refused": refused,
                    "orders": remote.orders(), "positions": remote.positions(), "account": remote.account,
                    "repr": repr(remote), "stats": remote.stats_today()}

    got = await asyncio.to_thread(script)

    assert_same_order(got["modified"], oms.get_order(got["order"].order_id))
    assert got["order"].price == Decimal("2450") and got["modified"].price == Decimal("2455")
    assert isinstance(got["first"], ok.OrderUpdated) and got["first"].order.order_id == got["order"].order_id
    assert got["refused"] == "quantity" and got["account"] == "default"
    assert got["repr"].startswith("<SyncRemoteOMS http://127.0.0.1:")
    assert_frame_equal(got["orders"], oms.orders())
    assert_frame_equal(got["positions"], oms.positions())
    assert got["stats"] == oms.stats_today()


async def test_the_blocking_twin_serves_a_thread_waiting_for_events_and_one_trading_at_once(served):
    url, token = served.server.url, served.server.token

    def script() -> tuple[ok.Order, Any]:
        with ok.connect_sync(url, token=token) as remote, remote.events(["fill"]) as stream:
            got: dict[str, Any] = {}
            reader = threading.Thread(target=lambda: got.setdefault("fill", next(stream)))
            reader.start()
            time.sleep(0.2)  # the reader is waiting inside next()
            order = remote.place_order("RELIANCE", "BUY", 3)
            reader.join(10)
            return order, got.get("fill")

    order, fill = await asyncio.to_thread(script)

    assert isinstance(fill, ok.OrderFilled) and fill.fill.order_id == order.order_id


async def test_the_blocking_twin_refuses_calls_once_closed(served):
    url, token = served.server.url, served.server.token

    def script() -> str:
        remote = ok.connect_sync(url, token=token)
        remote.close()
        remote.close()  # idempotent
        try:
            remote.status()
        except ok.OmsError as exc:
            return exc.message
        return "answered"

    assert await asyncio.to_thread(script) == "this client is closed"


async def test_the_blocking_twin_reports_a_wrong_token_and_leaves_no_thread(served):
    before = {t.name for t in threading.enumerate()}

    def script() -> str | None:
        try:
            ok.connect_sync(served.server.url, token="wrong")
        except ok.ConfigError as exc:
            return exc.field
        return None

    assert await asyncio.to_thread(script) == "token"
    assert "oms-kit-remote" not in {t.name for t in threading.enumerate()} - before


def test_the_client_imports_neither_fastapi_nor_uvicorn():
    import subprocess
    import sys

    code = ("import sys, oms_kit as ok, oms_kit.client; "
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"

