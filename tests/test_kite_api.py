"""The Kite Connect–compatible API on a real server on a free port, called by the official ``kiteconnect`` client
(``KiteConnect(api_key=ACCOUNT, root=URL)``, ``set_access_token(TOKEN)``), unchanged: every call a Kite bot makes,
Kite's shapes and statuses, risk rejections as REJECTED orders, malformed input as the client's own InputException
with nothing recorded, token errors as TokenException, and hostile form bodies that never get a 5xx.

The client is synchronous: each call runs in a thread (``asyncio.to_thread``) while the server runs on the test's
loop, so the OMS is read between calls, when the loop is idle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

import oms_kit as ok
from oms_kit.broker.mock import MockBroker
from oms_kit.market.clock import SimulatedClock
from oms_kit.models import ClientOrderId, Order, OrderId
from oms_kit.service import serve
from oms_kit.service.kite_errors import KiteError
from oms_kit.service.kite_forms import read_form
from oms_kit.service.kite_models import INSTRUMENT_COLUMNS, IST, history_json, kite_time, universe

T = TypeVar("T")
LIMITS = ok.RiskLimits(max_order_quantity=1000, max_orders_per_second=None, duplicate_window_s=None)
INFY, RELIANCE = 1500, 2500
ORDER = {"variety": "regular", "exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": 5,
         "product": "CNC", "order_type": "MARKET"}
ORDER_FIELDS = {"placed_by", "order_id", "exchange_order_id", "parent_order_id", "status", "status_message",
                "status_message_raw", "order_timestamp", "exchange_update_timestamp", "exchange_timestamp",
                "variety", "exchange", "tradingsymbol", "instrument_token", "order_type", "transaction_type",
                "validity", "product", "quantity", "disclosed_quantity", "price", "trigger_price", "average_price",
                "filled_quantity", "pending_quantity", "cancelled_quantity", "market_protection", "meta", "tag",
                "tags", "guid"}


class Kite:
    """An OMS, its server, and the official client logged in to it."""

    def __init__(self, oms: ok.OMS, server: Any) -> None:
        self.oms, self.server = oms, server
        self.client = KiteConnect(api_key=oms.account, root=server.url)
        self.client.set_access_token(server.token)

    async def __call__(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call the client's ``method`` in a thread."""
        return await asyncio.to_thread(getattr(self.client, method), *args, **kwargs)

    async def place(self, **fields: Any) -> str:
        return await self("place_order", **{**ORDER, **fields})  # type: ignore[no-any-return]

    async def order(self, order_id: str) -> dict[str, Any]:
        return next(o for o in await self("orders") if o["order_id"] == order_id)


@pytest.fixture
async def open_kite():
    """A factory: ``await open_kite(**OMS.open arguments)`` -> Kite; closed after the test."""
    opened: list[Kite] = []

    async def make(read_only_token: str | None = None, **options: Any) -> Kite:
        options.setdefault("feed", None)
        options.setdefault("risk_interval", None)
        options.setdefault("limits", LIMITS)
        oms = await ok.OMS.open("duckdb:///:memory:", **options)
        await oms.set_price("INFY", INFY)
        await oms.set_price("RELIANCE", RELIANCE)
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


# -- placing, and the order book --------------------------------------------------------------------------------------


async def test_a_market_order_is_placed_filled_and_shown_in_kites_shape(kite):
    order_id = await kite.place(tag="bot1")

    order = await kite.order(order_id)
    assert set(order) == ORDER_FIELDS
    assert (order["status"], order["filled_quantity"], order["pending_quantity"], order["average_price"]) == (
        "COMPLETE", 5, 0, float(INFY))
    assert (order["tradingsymbol"], order["exchange"], order["transaction_type"], order["product"],
            order["order_type"], order["variety"], order["validity"], order["tag"], order["tags"]) == (
        "INFY", "NSE", "BUY", "CNC", "MARKET", "regular", "DAY", "bot1", ["bot1"])
    assert order["price"] == 0.0 and order["trigger_price"] == 0.0  # none, as Kite sends it
    assert isinstance(order["order_timestamp"], datetime)  # the client parsed Kite's "YYYY-MM-DD HH:MM:SS"
    placed = kite.oms.get_order(order_id)
    assert placed.status is ok.OrderStatus.FILLED and placed.tag == "bot1" and placed.product is ok.Product.CNC
    assert order["order_timestamp"] == placed.created_at.astimezone(IST).replace(tzinfo=None, microsecond=0)
    assert order["placed_by"] == kite.oms.account and order["guid"] == placed.client_order_id


async def test_a_limit_order_rests_open_and_completes_when_the_price_comes(kite):
    order_id = await kite.place(order_type="LIMIT", price=1480, product="MIS")

    order = await kite.order(order_id)
    assert (order["status"], order["price"], order["pending_quantity"], order["filled_quantity"]) == (
        "OPEN", 1480.0, 5, 0)
    await kite.oms.set_price("INFY", 1479)
    order = await kite.order(order_id)
    assert (order["status"], order["filled_quantity"], order["average_price"]) == ("COMPLETE", 5, 1479.0)


@pytest.mark.parametrize(("order_type", "price"), [("SL", 1555), ("SL-M", None)])
async def test_a_stop_order_waits_as_trigger_pending_then_triggers(kite, order_type, price):
    order_id = await kite.place(order_type=order_type, trigger_price=1550, price=price, product="MIS")

    order = await kite.order(order_id)
    assert (order["status"], order["trigger_price"], order["price"]) == ("TRIGGER PENDING", 1550.0, float(price or 0))
    await kite.oms.set_price("INFY", 1552)
    order = await kite.order(order_id)
    assert order["status"] == "COMPLETE" and order["filled_quantity"] == 5
    assert kite.oms.get_order(order_id).status is ok.OrderStatus.FILLED


async def test_a_partly_filled_order_is_open_with_its_filled_quantity(open_kite):
    kite = await open_kite(broker=MockBroker(fees=None, participation=0.1))
    order_id = await kite.place(order_type="LIMIT", price=1490, quantity=25, product="MIS")

    await kite.oms.set_price("INFY", 1490, volume=100)

    assert kite.oms.get_order(order_id).status is ok.OrderStatus.PARTIALLY_FILLED
    order = await kite.order(order_id)
    assert (order["status"], order["filled_quantity"], order["pending_quantity"], order["average_price"]) == (
        "OPEN", 10, 15, 1490.0)


async def test_orders_lists_the_days_orders_oldest_first(kite):
    ids = [await kite.place(), await kite.place(order_type="LIMIT", price=1400, product="MIS"),
           await kite.place(tradingsymbol="RELIANCE", transaction_type="SELL", product="MIS")]

    orders = await kite("orders")

    assert [o["order_id"] for o in orders] == ids == list(kite.oms.orders()["order_id"])
    assert [o["status"] for o in orders] == ["COMPLETE", "OPEN", "COMPLETE"]


# -- modify and cancel ------------------------------------------------------------------------------------------------


async def test_modify_changes_price_and_quantity_of_a_working_order(kite):
    order_id = await kite.place(order_type="LIMIT", price=1400, product="MIS")

    assert await kite("modify_order", "regular", order_id, price=1410, order_type="LIMIT") == order_id
    assert await kite("modify_order", "regular", order_id, quantity=8) == order_id

    order = await kite.order(order_id)
    assert (order["price"], order["quantity"], order["pending_quantity"], order["status"]) == (1410.0, 8, 8, "OPEN")
    placed = kite.oms.get_order(order_id)
    assert (placed.price, placed.quantity) == (Decimal("1410"), 8)
    history = await kite("order_history", order_id)
    assert [h["status"] for h in history] == [
        "PUT ORDER REQ RECEIVED", "OPEN", "MODIFY PENDING", "OPEN", "MODIFY PENDING", "OPEN"]
    assert [h["modified"] for h in history] == [False, False, False, True, True, True]
    assert (history[3]["price"], history[-1]["price"], history[-1]["quantity"]) == (1410.0, 1410.0, 8)


async def test_a_modify_a_rule_forbids_is_an_order_exception_and_changes_nothing(kite):
    order_id = await kite.place(order_type="LIMIT", price=1400, product="MIS")

    with pytest.raises(kex.OrderException, match="PRICE_OUTSIDE_COLLAR") as raised:
        await kite("modify_order", "regular", order_id, price=1000)

    assert raised.value.code == 400
    assert kite.oms.get_order(order_id).price == Decimal("1400")


async def test_cancel_ends_a_working_order_as_cancelled(kite):
    order_id = await kite.place(order_type="LIMIT", price=1400, product="MIS")

    assert await kite("cancel_order", "regular", order_id) == order_id

    order = await kite.order(order_id)
    assert (order["status"], order["cancelled_quantity"], order["pending_quantity"]) == ("CANCELLED", 5, 0)
    assert order["status_message"] == "cancelled by user"
    assert kite.oms.get_order(order_id).status is ok.OrderStatus.CANCELLED


async def test_modify_or_cancel_of_a_completed_order_is_an_order_exception(kite):
    order_id = await kite.place()

    with pytest.raises(kex.OrderException, match="status is FILLED"):
        await kite("modify_order", "regular", order_id, quantity=9)
    with pytest.raises(kex.OrderException, match="status is FILLED"):
        await kite("cancel_order", "regular", order_id)
    assert kite.oms.get_order(order_id).quantity == 5


@pytest.mark.parametrize("call", [
    lambda k: k("order_history", "O-nope-1"), lambda k: k("order_trades", "O-nope-1"),
    lambda k: k("cancel_order", "regular", "O-nope-1"), lambda k: k("modify_order", "regular", "O-nope-1", price=1),
])
async def test_an_unknown_order_id_is_an_input_exception(kite, call: Callable[[Kite], Any]):
    with pytest.raises(kex.InputException, match="order_id"):
        await call(kite)


async def test_modify_refuses_a_change_of_type_or_an_empty_change(kite):
    order_id = await kite.place(order_type="LIMIT", price=1400, product="MIS")

    with pytest.raises(kex.InputException, match="order_type"):
        await kite("modify_order", "regular", order_id, order_type="MARKET")
    with pytest.raises(kex.InputException, match="nothing to modify"):
        await kite("modify_order", "regular", order_id)
    with pytest.raises(kex.InputException, match="variety"):
        await kite("modify_order", "amo", order_id, price=1401)
    assert kite.oms.get_order(order_id).price == Decimal("1400")


# -- history and trades -----------------------------------------------------------------------------------------------


async def test_order_history_shows_each_state_with_its_fills(open_kite):
    kite = await open_kite(broker=MockBroker(fees=None, participation=0.1))
    order_id = await kite.place(order_type="LIMIT", price=1490, quantity=25, product="MIS")
    await kite.oms.set_price("INFY", 1490, volume=100)
    await kite.oms.set_price("INFY", 1480, volume=200)

    history = await kite("order_history", order_id)

    assert [(h["status"], h["filled_quantity"], h["pending_quantity"]) for h in history] == [
        ("PUT ORDER REQ RECEIVED", 0, 25), ("OPEN", 0, 25), ("OPEN", 10, 15), ("COMPLETE", 25, 0)]
    assert history[-1]["average_price"] == pytest.approx((10 * 1490 + 15 * 1480) / 25)
    assert history[0]["exchange_order_id"] is None and history[1]["exchange_order_id"] == order_id
    assert all(isinstance(h["order_timestamp"], datetime) for h in history)


async def test_trades_and_order_trades_are_the_fills_in_kites_shape(kite):
    first = await kite.place()
    second = await kite.place(tradingsymbol="RELIANCE", transaction_type="SELL", quantity=3, product="MIS")

    trades = await kite("trades")
    own = await kite("order_trades", second)

    assert [t["order_id"] for t in trades] == [first, second]
    assert [t["trade_id"] for t in trades] == list(kite.oms.trades()["trade_id"])
    assert own == [t for t in trades if t["order_id"] == second]
    trade = own[0]
    assert (trade["tradingsymbol"], trade["transaction_type"], trade["quantity"], trade["average_price"],
            trade["product"], trade["exchange"]) == ("RELIANCE", "SELL", 3, float(RELIANCE), "MIS", "NSE")
    assert isinstance(trade["fill_timestamp"], datetime)


# -- positions, holdings, margins -------------------------------------------------------------------------------------


async def test_positions_net_and_day_follow_the_fills_and_the_marks(kite):
    await kite.place(quantity=10, product="MIS")
    await kite.oms.set_price("INFY", 1510)
    await kite.place(quantity=4, transaction_type="SELL", product="MIS")
    await kite.oms.set_price("INFY", 1520)

    positions = await kite("positions")

    net, day = positions["net"], positions["day"]
    assert len(net) == len(day) == 1
    p = net[0]
    assert (p["tradingsymbol"], p["product"], p["quantity"], p["overnight_quantity"]) == ("INFY", "MIS", 6, 0)
    assert (p["buy_quantity"], p["buy_value"], p["sell_quantity"], p["sell_value"]) == (10, 15000.0, 4, 6040.0)
    assert (p["average_price"], p["last_price"]) == (1500.0, 1520.0)
    assert p["pnl"] == 6040 - 15000 + 6 * 1520 == 160  # value + quantity x last price
    assert (p["realised"], p["unrealised"]) == (40.0, 120.0)
    ledger = kite.oms.positions().iloc[0]
    assert p["realised"] == float(ledger["realized_pnl"]) and p["unrealised"] == float(ledger["unrealized_pnl"])
    assert day[0]["quantity"] == 6 and day[0]["pnl"] == 160.0 and day[0]["average_price"] == 1500.0


async def test_holdings_are_the_cnc_quantity_carried_from_an_earlier_day(open_kite):
    clock = SimulatedClock(datetime(2026, 1, 5, 4, 0, tzinfo=UTC))  # Monday 09:30 in Mumbai
    kite = await open_kite(clock=clock)
    await kite.oms.check_risk()  # notes the day
    await kite.place(quantity=10, product="CNC")
    await kite.place(tradingsymbol="RELIANCE", quantity=2, product="MIS")
    assert await kite("holdings") == []

    clock.set(datetime(2026, 1, 6, 4, 0, tzinfo=UTC))  # Tuesday
    await kite.oms.check_risk()
    await kite.oms.set_price("INFY", 1530)
    await kite.place(quantity=3, transaction_type="SELL", product="CNC")

    holdings = await kite("holdings")
    assert len(holdings) == 1
    h = holdings[0]
    assert (h["tradingsymbol"], h["product"], h["quantity"], h["used_quantity"], h["average_price"],
            h["last_price"], h["pnl"]) == ("INFY", "CNC", 10, 3, 1500.0, 1530.0, 300.0)
    positions = await kite("positions")
    infy = next(p for p in positions["net"] if p["tradingsymbol"] == "INFY")
    assert (infy["quantity"], infy["overnight_quantity"], infy["day_sell_quantity"]) == (7, 10, 3)
    assert [p["tradingsymbol"] for p in positions["day"]] == ["INFY"]  # RELIANCE was not traded today


async def test_margins_are_the_funds_the_margin_check_sees(kite):
    before = await kite("margins")
    await kite.place(quantity=10, product="CNC")  # 15,000 of delivery
    await kite.place(order_type="LIMIT", price=1400, quantity=10, product="MIS")  # 14,000 / 5 blocked while open

    margins = await kite("margins")
    equity = margins["equity"]

    assert set(margins) == {"equity", "commodity"} and margins["commodity"]["enabled"] is False
    assert equity["enabled"] is True and equity["utilised"]["delivery"] == 15000.0
    assert equity["utilised"]["debits"] == 15000.0 + 2800.0
    assert equity["net"] == pytest.approx(equity["available"]["cash"] - equity["utilised"]["debits"])
    assert equity["net"] == pytest.approx(before["equity"]["net"] - 15000 - 2800 - _fees(kite))
    assert await kite("margins", "equity") == equity
    with pytest.raises(kex.InputException, match="segment"):
        await kite("margins", "nope")


def _fees(kite: Kite) -> float:
    return float(sum(kite.oms.trades()["fees"]))


async def test_profile_is_the_served_account(kite):
    profile = await kite("profile")
    assert profile["user_id"] == kite.oms.account and profile["exchanges"] == ["NSE"]


# -- market data ------------------------------------------------------------------------------------------------------


async def test_ltp_quote_and_ohlc_by_name_or_token_unknown_ones_left_out(kite):
    ltp = await kite("ltp", "NSE:INFY", "NSE:NOPE", "BSE:INFY")
    assert list(ltp) == ["NSE:INFY"] and ltp["NSE:INFY"]["last_price"] == float(INFY)
    token = ltp["NSE:INFY"]["instrument_token"]
    assert (await kite("ltp", token))[str(token)]["last_price"] == float(INFY)

    await kite("ohlc", "NSE:INFY")  # the first quote request starts the day's book at the last price
    for price in (1520, 1490, 1505):
        await kite.oms.set_price("INFY", price)

    ohlc = (await kite("ohlc", ["NSE:INFY", "NSE:RELIANCE"]))
    assert ohlc["NSE:INFY"]["ohlc"] == {"open": 1500.0, "high": 1520.0, "low": 1490.0, "close": 1500.0}
    assert ohlc["NSE:INFY"]["last_price"] == 1505.0 and ohlc["NSE:RELIANCE"]["last_price"] == float(RELIANCE)
    quote = (await kite("quote", "NSE:INFY"))["NSE:INFY"]
    assert quote["ohlc"] == ohlc["NSE:INFY"]["ohlc"] and quote["instrument_token"] == token
    # The circuit limits are the price collar (10% by default) around the last price, on the tick.
    assert (quote["lower_circuit_limit"], quote["upper_circuit_limit"]) == (1354.5, 1655.5)
    assert isinstance(quote["timestamp"], datetime) and len(quote["depth"]["buy"]) == 5
    with pytest.raises(kex.InputException, match="instrument"):
        await kite("ltp")


async def test_instruments_are_the_oms_nse_equities_as_kites_csv(kite):
    instruments = await kite("instruments")

    assert list(instruments[0]) == list(INSTRUMENT_COLUMNS)
    symbols = [i["tradingsymbol"] for i in instruments]
    assert sorted(symbols) == sorted(kite.oms.manager.instruments) == symbols
    infy = next(i for i in instruments if i["tradingsymbol"] == "INFY")
    assert (infy["exchange"], infy["segment"], infy["instrument_type"], infy["tick_size"], infy["lot_size"],
            infy["last_price"]) == ("NSE", "NSE", "EQ", 0.05, 1, float(INFY))
    assert len({i["instrument_token"] for i in instruments}) == len(instruments)
    order = await kite.order(await kite.place())
    assert order["instrument_token"] == infy["instrument_token"]
    assert await kite("instruments", "NSE") == instruments
    assert await kite("instruments", "BSE") == []


# -- rejections and malformed input -----------------------------------------------------------------------------------


async def test_a_risk_rejection_is_an_order_rejected_with_its_reasons(kite):
    order_id = await kite.place(quantity=5000, product="MIS")  # above max_order_quantity=1000

    order = await kite.order(order_id)
    assert order["status"] == "REJECTED" and order["filled_quantity"] == 0 and order["exchange_order_id"] is None
    assert "QUANTITY_EXCEEDS_MAXIMUM" in order["status_message"]
    assert "QUANTITY_EXCEEDS_MAXIMUM" in order["status_message_raw"]
    rejected = kite.oms.get_order(order_id)
    assert rejected.status is ok.OrderStatus.REJECTED
    assert "QUANTITY_EXCEEDS_MAXIMUM" in [v.code for v in rejected.violations]
    assert (await kite("order_history", order_id))[-1]["status"] == "REJECTED"


async def test_the_kill_switch_rejects_kite_orders_too(kite):
    await kite.oms.kill_switch("stop")
    order = await kite.order(await kite.place())
    assert order["status"] == "REJECTED" and "TRADING_HALTED" in order["status_message"]


MALFORMED = [
    ({"quantity": 0}, "quantity"), ({"quantity": -1}, "quantity"), ({"quantity": 1.5}, "quantity"),
    ({"quantity": "ten"}, "quantity"), ({"transaction_type": "HOLD"}, "transaction_type"),
    ({"product": "BO"}, "product"), ({"order_type": "STOP"}, "order_type"), ({"exchange": "BSE"}, "exchange"),
    ({"tradingsymbol": "NOPE"}, "tradingsymbol"), ({"tradingsymbol": "infy"}, "tradingsymbol"),
    ({"order_type": "LIMIT"}, "price"), ({"order_type": "LIMIT", "price": 0}, "price"),
    ({"order_type": "LIMIT", "price": "abc"}, "price"), ({"order_type": "SL", "price": 1500}, "trigger_price"),
    ({"order_type": "MARKET", "price": 1500}, "price"), ({"validity": "TTL"}, "validity"),
    ({"validity": "GTC"}, "validity"), ({"validity_ttl": 5}, "validity_ttl"), ({"variety": "auction"}, "variety"),
    ({"variety": "co"}, "product"), ({"variety": "iceberg", "iceberg_legs": 2}, "iceberg_quantity"),
    ({"tag": "t" * 21}, "tag"), ({"disclosed_quantity": 9}, "disclosed_quantity"),
    ({"market_protection": 101}, "market_protection"), ({"exchange": ""}, "exchange"),
]


@pytest.mark.parametrize(("fields", "named"), MALFORMED)
async def test_malformed_input_is_an_input_exception_naming_the_field_and_records_nothing(kite, fields, named):
    with pytest.raises(kex.InputException) as raised:
        await kite.place(**fields)

    assert raised.value.code == 400
    assert f"`{named}`" in str(raised.value)
    assert kite.oms.orders().empty and kite.oms.stats_today()["orders_placed"] == 0


async def test_a_zero_price_or_trigger_is_none_where_the_order_type_takes_none(kite):
    order_id = await kite.place(price=0, trigger_price=0)  # what many Kite bots send for a market order
    assert (await kite.order(order_id))["status"] == "COMPLETE"


# -- the door ---------------------------------------------------------------------------------------------------------


async def test_a_wrong_or_missing_token_is_a_token_exception(kite):
    expired: list[bool] = []
    kite.client.set_session_expiry_hook(lambda: expired.append(True))
    for api_key, token in ((kite.oms.account, "wrong"), ("someone-else", kite.server.token)):
        kite.client.api_key = api_key
        kite.client.set_access_token(token)
        with pytest.raises(kex.TokenException) as raised:
            await kite("orders")
        assert raised.value.code == 403
    kite.client.set_access_token(None)  # no Authorization header at all
    with pytest.raises(kex.TokenException):
        await kite("positions")
    kite.client.api_key = kite.oms.account
    with pytest.raises(kex.TokenException):
        await kite.place()
    assert expired == [True, True, True, True]  # the client's hook for an expired session ran
    assert kite.oms.orders().empty


async def test_the_read_only_token_reads_but_cannot_trade(open_kite):
    kite = await open_kite(read_only_token="watcher-token")
    kite.client.set_access_token("watcher-token")

    assert await kite("orders") == []
    with pytest.raises(kex.PermissionException) as raised:
        await kite.place()
    assert raised.value.code == 403 and kite.oms.orders().empty


async def test_kite_requests_get_kites_error_shape_and_the_rest_api_keeps_its_own(kite):
    async with httpx.AsyncClient(base_url=kite.server.url) as http:
        wrong = {"Authorization": f"token {kite.oms.account}:wrong"}
        good = {"Authorization": f"token {kite.oms.account}:{kite.server.token}"}
        refused = await http.get("/orders", headers=wrong)
        assert refused.status_code == 403
        assert {k: v for k, v in refused.json().items() if k != "message"} == {
            "status": "error", "error_type": "TokenException", "data": None}
        rest = await http.get("/api/oms/orders", headers={"Authorization": "Bearer wrong"})
        assert rest.status_code == 403 and set(rest.json()) == {"code", "message", "field", "hint"}
        # Kite's header marks a Kite client wherever it calls.
        marked = await http.get("/api/oms/orders", headers={**wrong, "X-Kite-Version": "3"})
        assert marked.json()["error_type"] == "TokenException"
        not_allowed = await http.post("/trades", headers=good)
        assert not_allowed.status_code == 405 and not_allowed.json()["error_type"] == "InputException"
        too_large = await http.post("/orders/regular", headers=good, content=b"a=" + b"x" * 70_000)
        assert too_large.status_code == 413 and too_large.json()["error_type"] == "InputException"
        twice = await http.post("/orders/regular", headers=good, content=b"quantity=1&quantity=2")
        assert twice.status_code == 400 and "twice" in twice.json()["message"]
    assert kite.oms.orders().empty


# -- hostile form bodies ----------------------------------------------------------------------------------------------

WEIRD = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=12)  # controls too; raw bytes below
VALUES: dict[str, st.SearchStrategy[str]] = {
    "exchange": st.sampled_from(["NSE", "BSE", "nse", "", " NSE"]),
    "tradingsymbol": st.sampled_from(["INFY", "RELIANCE", "infy", "NOPE", "", "I" * 70, "IN\x00FY"]),
    "transaction_type": st.sampled_from(["BUY", "SELL", "sell", "HOLD", ""]),
    "quantity": st.sampled_from(["1", "5", "0", "-1", "1.5", "1e3", "5000", "1000000001", "9" * 40, " 7 ", ""]),
    "product": st.sampled_from(["CNC", "MIS", "NRML", "mis", "BO", ""]),
    "order_type": st.sampled_from(["MARKET", "LIMIT", "SL", "SL-M", "limit", "STOP", ""]),
    "price": st.sampled_from(["0", "1480", "1480.05", "1480.01", "-5", "NaN", "Infinity", "1e999999", "1" * 70, ""]),
    "trigger_price": st.sampled_from(["0", "1550", "1550.5", "abc", "-0", ""]),
    "validity": st.sampled_from(["DAY", "IOC", "TTL", "GTC", ""]),
    "variety": st.sampled_from(["regular", "amo", ""]),
    "tag": st.sampled_from(["bot", "t" * 21, "", "a\nb"]),
    "disclosed_quantity": st.sampled_from(["0", "2", "99", "x"]),
    "market_protection": st.sampled_from(["-1", "0", "50", "101", "x"]),
    "iceberg_legs": st.sampled_from(["", "2"]),
    "autoslice": st.sampled_from(["false", "true", ""]),
}
REQUIRED = ("exchange", "tradingsymbol", "transaction_type", "quantity", "product", "order_type")
FORMS = st.fixed_dictionaries(
    {name: st.one_of(VALUES[name], VALUES[name], WEIRD) for name in REQUIRED},
    optional={**{name: st.one_of(values, WEIRD) for name, values in VALUES.items() if name not in REQUIRED},
              "qty": WEIRD, "symbol": WEIRD},
)


@st.composite
def well_formed(draw: st.DrawFn) -> dict[str, str]:
    """A form the API must take (the order may still break a rule and come back REJECTED)."""
    kind = draw(st.sampled_from(["MARKET", "LIMIT", "SL", "SL-M"]))
    form = {"exchange": "NSE", "tradingsymbol": draw(st.sampled_from(["INFY", "RELIANCE"])),
            "transaction_type": draw(st.sampled_from(["BUY", "SELL"])), "quantity": str(draw(st.integers(1, 2000))),
            "product": draw(st.sampled_from(["CNC", "MIS", "NRML"])), "order_type": kind,
            "variety": "regular"}
    if kind in ("LIMIT", "SL"):
        form["price"] = draw(st.sampled_from(["1480", "1480.05", "2400", "1480.01", "0.05"]))
    elif draw(st.booleans()):
        form["price"] = "0"
    if kind in ("SL", "SL-M"):
        form["trigger_price"] = draw(st.sampled_from(["1550", "2550.5", "1"]))
    for name, values in (("validity", ["DAY", "IOC"]), ("tag", ["bot", "t" * 20]), ("disclosed_quantity", ["0"]),
                         ("market_protection", ["-1", "5"]), ("autoslice", ["false"])):
        if draw(st.booleans()):
            form[name] = draw(st.sampled_from(values))
    return form


@st.composite
def one_field_off(draw: st.DrawFn) -> dict[str, str]:
    """A well-formed form with one field (or an unknown one) set to something else."""
    form = draw(well_formed())
    name = draw(st.sampled_from([*VALUES, "qty", "api_key"]))
    form[name] = draw(st.one_of(VALUES.get(name, WEIRD), WEIRD))
    return form


def encoded(form: Any) -> bytes:
    return str(httpx.QueryParams(form)).encode()


BODIES = st.one_of(
    well_formed().map(encoded), one_field_off().map(encoded),
    FORMS.map(encoded),
    st.lists(st.tuples(st.sampled_from([*VALUES, "x"]), WEIRD), max_size=8).map(
        encoded),  # repeated names too
    st.binary(max_size=200),
)


async def test_hostile_form_bodies_never_get_a_5xx_and_are_refused_or_recorded(kite):
    oms, url = kite.oms, kite.server.url
    headers = {"Authorization": f"token {oms.account}:{kite.server.token}", "X-Kite-Version": "3",
               "Content-Type": "application/x-www-form-urlencoded"}
    outcomes = {"placed": 0, "refused": 0}

    def placed() -> int:
        return oms.stats_today()["orders_placed"]  # read between requests: the loop is idle then

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(body=BODIES, variety=st.sampled_from(["regular", "regular", "amo", "x" * 300, "%00"]))
    def check(body: bytes, variety: str) -> None:
        before = placed()
        response = http.post(f"/orders/{variety}", content=body)
        assert response.status_code < 500, response.text
        assert "Traceback" not in response.text and 'File "' not in response.text
        answer = response.json()
        if answer["status"] == "error":
            assert response.status_code == 400 and answer["error_type"] == "InputException", answer
            assert answer["data"] is None and answer["message"]
            assert placed() == before
            outcomes["refused"] += 1
            return
        assert response.status_code == 200 and set(answer["data"]) == {"order_id"}
        assert placed() == before + 1
        order = http.get(f"/orders/{answer['data']['order_id']}").json()["data"]
        assert order[0]["status"] == "PUT ORDER REQ RECEIVED"
        outcomes["placed"] += 1

    with httpx.Client(base_url=url, headers=headers) as http:
        await asyncio.to_thread(check)
    await oms.flush()
    stored = await oms.store.fetch("SELECT count(*) AS n FROM orders")
    assert int(stored[0]["n"]) == len(oms.orders()) == placed() == outcomes["placed"]
    assert outcomes["placed"] > 30 and outcomes["refused"] > 100, outcomes



MODIFY_VALUES: dict[str, st.SearchStrategy[str]] = {
    "quantity": VALUES["quantity"], "price": VALUES["price"], "trigger_price": VALUES["trigger_price"],
    "order_type": VALUES["order_type"], "validity": VALUES["validity"], "variety": VALUES["variety"],
    "order_id": st.sampled_from(["O-x-1", ""]), "disclosed_quantity": VALUES["disclosed_quantity"],
    "market_protection": VALUES["market_protection"], "parent_order_id": WEIRD,
}
WELL_FORMED_MODIFY = st.fixed_dictionaries(
    {"price": st.integers(1390, 1450).map(str)},
    optional={"quantity": st.integers(6, 50).map(str), "order_type": st.just("LIMIT"), "variety": st.just("regular"),
              "validity": st.just("DAY"), "trigger_price": st.just("0")})
MODIFY_BODIES = st.one_of(
    WELL_FORMED_MODIFY.map(encoded),
    st.fixed_dictionaries({}, optional={name: st.one_of(values, WEIRD) for name, values in MODIFY_VALUES.items()}
                          ).map(encoded),
    st.binary(max_size=100),
)


async def test_hostile_modify_bodies_never_get_a_5xx_and_a_refused_one_changes_nothing(kite):
    oms = kite.oms
    headers = {"Authorization": f"token {oms.account}:{kite.server.token}", "X-Kite-Version": "3",
               "Content-Type": "application/x-www-form-urlencoded"}
    working: list[str] = [await kite.place(order_type="LIMIT", price=1400, product="MIS")]
    loop = asyncio.get_running_loop()
    outcomes = {"modified": 0, "refused": 0}

    def values(order_id: str) -> tuple[Any, ...]:
        order = oms.get_order(order_id)
        return order.quantity, order.price, order.trigger_price, order.status

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(body=MODIFY_BODIES)
    def check(body: bytes) -> None:
        if not oms.get_order(working[-1]).is_working:  # a modify filled it: trade the next one
            place = kite.place(order_type="LIMIT", price=1400, product="MIS")
            working.append(asyncio.run_coroutine_threadsafe(place, loop).result(timeout=30))
        order_id = working[-1]
        before = values(order_id)
        response = http.put(f"/orders/regular/{order_id}", content=body)
        assert response.status_code < 500, response.text
        assert "Traceback" not in response.text
        answer = response.json()
        if answer["status"] == "error":
            assert response.status_code == 400 and answer["error_type"] in ("InputException", "OrderException")
            assert values(order_id) == before, answer
            outcomes["refused"] += 1
        else:
            assert answer["data"] == {"order_id": order_id}
            form = dict(httpx.QueryParams(body.decode()))
            after = values(order_id)
            price, quantity = form.get("price", "").strip(), form.get("quantity", "").strip()
            assert after[1] == (Decimal(price) if price and Decimal(price) else before[1])  # 0: no new price
            assert after[0] == (int(quantity) if quantity else before[0])
            outcomes["modified"] += 1

    with httpx.Client(base_url=kite.server.url, headers=headers) as http:
        await asyncio.to_thread(check)
    assert outcomes["modified"] > 3 and outcomes["refused"] > 50, outcomes


INSTRUMENT_KEYS = st.one_of(st.sampled_from(["NSE:INFY", "NSE:RELIANCE", "NSE:NOPE", "BSE:INFY", "INFY", ":", "NSE:",
                                             "0", "-1", "9" * 30]),
                            st.integers(0, 2**31).map(str), WEIRD)


async def test_hostile_instrument_lists_of_quotes_never_get_a_5xx(kite):
    headers = {"Authorization": f"token {kite.oms.account}:{kite.server.token}"}
    infy = (await kite("ltp", "NSE:INFY"))["NSE:INFY"]["instrument_token"]

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(keys=st.lists(st.one_of(INSTRUMENT_KEYS, st.just(str(infy))), max_size=6),
           path=st.sampled_from(["/quote", "/quote/ltp", "/quote/ohlc"]))
    def check(keys: list[str], path: str) -> None:
        response = http.get(path, params=[("i", key) for key in keys])
        assert response.status_code < 500, response.text
        answer = response.json()
        if not keys:
            assert response.status_code == 400 and answer["error_type"] == "InputException"
            return
        assert response.status_code == 200, answer
        known = {"NSE:INFY", "NSE:RELIANCE", str(infy)}
        assert set(answer["data"]) == known & set(keys)
        for quote in answer["data"].values():
            assert quote["last_price"] in (float(INFY), float(RELIANCE))

    with httpx.Client(base_url=kite.server.url, headers=headers) as http:
        await asyncio.to_thread(check)


# -- the shapes' own properties ---------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(symbols=st.sets(st.text(min_size=1, max_size=12), max_size=40))
def test_instrument_tokens_are_unique_stable_and_fit_kites_numbers(symbols: set[str]):
    instruments = {s: ok.Instrument(s) for s in symbols}
    world = universe(instruments)
    tokens = [world.token(s) for s in symbols]

    assert len(set(tokens)) == len(symbols)
    assert all(0 < t < 2**30 and t & 0xFF == 1 for t in tokens)  # NSE's segment in the low byte
    assert {world.by_token[t] for t in tokens} == symbols
    assert universe(dict(instruments)).exchange_tokens == world.exchange_tokens  # the same every time
    assert world.token("not one of them" if "not one of them" not in symbols else "") in (0, *tokens)


@settings(max_examples=300, deadline=None)
@given(body=st.one_of(st.binary(max_size=300), st.text(max_size=100).map(lambda t: t.encode("utf-8", "replace"))))
def test_a_form_body_is_read_or_refused_as_an_input_exception(body: bytes):
    try:
        form = read_form(body)
    except KiteError as error:
        assert (error.status, error.error_type) == (400, "InputException")
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in form.items())


@settings(max_examples=200, deadline=None)
@given(ts=st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 30),
                       timezones=st.sampled_from([UTC, IST, None])))
def test_kite_time_is_ist_to_the_second(ts: datetime):
    text = kite_time(ts)
    assert text is not None and len(text) == 19
    aware = ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
    assert datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST) == aware.replace(microsecond=0)


async def test_an_ioc_remainder_that_expired_is_cancelled_in_kites_book(open_kite):
    kite = await open_kite(broker=MockBroker(fees=None, participation=0.1, immediate_market_fills=False))
    order_id = await kite.place(quantity=25, validity="IOC", product="MIS")

    await kite.oms.set_price("INFY", 1505, volume=100)

    assert kite.oms.get_order(order_id).status is ok.OrderStatus.EXPIRED
    order = await kite.order(order_id)
    assert (order["status"], order["filled_quantity"], order["cancelled_quantity"], order["pending_quantity"],
            order["validity"]) == ("CANCELLED", 10, 15, 0, "IOC")


@pytest.mark.parametrize("call", [
    lambda k: k("mf_sips"), lambda k: k("mf_orders"), lambda k: k("order_margins", [{"x": 1}]),
    lambda k: k("historical_data", 408065, "2026-01-01", "2026-01-02", "minute"),
    lambda k: k("get_auction_instruments"), lambda k: k("generate_session", "request-token", "secret"),
])
async def test_kite_routes_not_offered_are_a_general_exception_404(kite, call: Callable[[Kite], Any]):
    with pytest.raises(kex.GeneralException, match="not offered") as raised:
        await call(kite)
    assert raised.value.code == 404


async def test_order_history_and_the_books_on_a_durable_store_and_after_a_restart(durable_url):
    async def start() -> Kite:
        oms = await ok.OMS.open(durable_url, feed=None, risk_interval=None, limits=LIMITS)
        await oms.set_price("INFY", INFY)
        return Kite(oms, await serve(oms, port=0))

    kite = await start()
    try:
        filled = await kite.place()
        working = await kite.place(order_type="LIMIT", price=1400, product="MIS")
        await kite("modify_order", "regular", working, price=1405, quantity=7)
        history = await kite("order_history", working)
    finally:
        await kite.server.stop()
        await kite.oms.close()
    assert [(h["status"], h["quantity"], h["price"]) for h in history] == [
        ("PUT ORDER REQ RECEIVED", 5, 1400.0), ("OPEN", 5, 1400.0), ("MODIFY PENDING", 5, 1400.0), ("OPEN", 7, 1405.0)]

    kite = await start()  # the same account, reopened from the store: the trail alone knows the placed values
    try:
        assert await kite("order_history", working) == history
        assert [o["order_id"] for o in await kite("orders")] == [filled, working]
        assert [t["order_id"] for t in await kite("order_trades", filled)] == [filled]
        assert (await kite("positions"))["net"][0]["quantity"] == 5
    finally:
        await kite.server.stop()
        await kite.oms.close()


# -- order history: each state with the values it had -----------------------------------------------------------------


def _states(history: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(h["status"], h["quantity"], h["price"], h["filled_quantity"], h["pending_quantity"]) for h in history]


async def test_order_history_shows_the_placed_values_before_a_modify_and_the_new_ones_after(kite):
    order_id = await kite.place(order_type="LIMIT", price=1400, quantity=5, product="MIS")
    await kite("modify_order", "regular", order_id, price=1410, quantity=8)
    with pytest.raises(kex.OrderException, match="PRICE_OUTSIDE_COLLAR"):
        await kite("modify_order", "regular", order_id, price=1000)  # refused: the order keeps 1410 and 8
    await kite("modify_order", "regular", order_id, quantity=6)

    history = await kite("order_history", order_id)

    assert _states(history) == [
        ("PUT ORDER REQ RECEIVED", 5, 1400.0, 0, 5), ("OPEN", 5, 1400.0, 0, 5),
        ("MODIFY PENDING", 5, 1400.0, 0, 5), ("OPEN", 8, 1410.0, 0, 8),
        ("MODIFY PENDING", 8, 1410.0, 0, 8), ("OPEN", 8, 1410.0, 0, 8),
        ("MODIFY PENDING", 8, 1410.0, 0, 8), ("OPEN", 6, 1410.0, 0, 6)]
    assert "PRICE_OUTSIDE_COLLAR" in history[5]["status_message"]
    assert [h["modified"] for h in history] == [False, False, False, True, True, True, True, True]
    order = kite.oms.get_order(order_id)  # the last entry is the order as it is
    assert (history[-1]["quantity"], history[-1]["price"]) == (order.quantity, float(order.price))


async def test_order_history_of_a_modified_stop_order_shows_each_trigger_price(kite):
    order_id = await kite.place(order_type="SL", trigger_price=1550, price=1555, product="MIS")
    await kite("modify_order", "regular", order_id, trigger_price=1560, price=1565)

    history = await kite("order_history", order_id)

    assert [(h["status"], h["trigger_price"], h["price"]) for h in history] == [
        ("PUT ORDER REQ RECEIVED", 1550.0, 1555.0), ("TRIGGER PENDING", 1550.0, 1555.0),
        ("MODIFY PENDING", 1550.0, 1555.0), ("TRIGGER PENDING", 1560.0, 1565.0)]


async def test_order_history_of_a_partly_filled_order_modified_then_filled(open_kite):
    kite = await open_kite(broker=MockBroker(fees=None, participation=0.1))
    order_id = await kite.place(order_type="LIMIT", price=1490, quantity=25, product="MIS")
    await kite.oms.set_price("INFY", 1490, volume=100)  # 10 of 25
    await kite("modify_order", "regular", order_id, price=1485, quantity=30)
    await kite.oms.set_price("INFY", 1484, volume=100)  # 10 more at the new price
    await kite.oms.set_price("INFY", 1483, volume=1000)  # the last 10

    history = await kite("order_history", order_id)

    assert _states(history) == [
        ("PUT ORDER REQ RECEIVED", 25, 1490.0, 0, 25), ("OPEN", 25, 1490.0, 0, 25), ("OPEN", 25, 1490.0, 10, 15),
        ("MODIFY PENDING", 25, 1490.0, 10, 15), ("OPEN", 30, 1485.0, 10, 20), ("OPEN", 30, 1485.0, 20, 10),
        ("COMPLETE", 30, 1485.0, 30, 0)]
    fills = kite.oms.trades()
    fills = fills[fills["order_id"] == order_id]
    averages = [float(sum(p * q for p, q in zip(fills["price"][:n], fills["quantity"][:n], strict=True)) /
                      sum(fills["quantity"][:n])) for n in (1, 2, 3)]
    assert [h["average_price"] for h in history if h["filled_quantity"]] == pytest.approx(
        [averages[0], averages[0], averages[0], averages[1], averages[2]])
    assert history[-1]["average_price"] == pytest.approx(float(kite.oms.get_order(order_id).average_price))


def test_a_trail_stored_without_the_replaced_values_shows_the_earliest_value_known():
    # Rows written before MODIFY_REQUESTED kept "previous": what a modify replaced is not known, so the entries
    # before it show the first value known (the modify's), and a field no modify changed the order's own.
    order = Order(OrderId("O-x-1"), ClientOrderId("c1"), "INFY", ok.Side.BUY, 8, ok.OrderType.LIMIT,
                  price=Decimal("1420"), status=ok.OrderStatus.OPEN)
    ts = datetime(2026, 12, 4, 4, 0, tzinfo=UTC)
    rows = [(0, "CREATED", "NEW", "{}"), (1, "ACCEPTED", "OPEN", "{}"),
            (2, "MODIFY_REQUESTED", "PENDING_MODIFY", '{"changes": {"price": "1410"}}'),
            (3, "MODIFIED", "OPEN", '{"changes": {"price": "1410"}}'),
            (4, "MODIFY_REQUESTED", "PENDING_MODIFY", '{"changes": {"price": "1420"}, "previous": {"price": "1410"}}'),
            (5, "MODIFIED", "OPEN", '{"changes": {"price": "1420"}}')]
    events = [{"sequence": n, "ts": ts, "event_type": kind, "to_status": status, "detail": detail}
              for n, kind, status, detail in rows]

    history = history_json(order, events, 0)

    assert [(h["price"], h["quantity"]) for h in history] == [(1410.0, 8)] * 5 + [(1420.0, 8)]
