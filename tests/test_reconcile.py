"""Reconciliation with a live broker (oms_kit.reconcile): the trader's OMS, on a durable DuckDB file so that it can
be closed and reopened, trades through ok.KiteBroker and the official kiteconnect client against an "exchange", a
second OMS served on a free port with its Kite-compatible API (the fixtures of test_kite_broker).

Nothing here asserts a time: waits are "until this holds" with a generous bound (``eventually``).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import pytest
import test_kite_broker as kite_tests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kiteconnect import KiteConnect
from test_kite_broker import Exchange, eventually, status

import oms_kit as ok
from oms_kit.errors import OmsError
from oms_kit.parsing import MAX_QUANTITY
from oms_kit.reconcile import adopt, compare
from oms_kit.service import serve

S = ok.OrderStatus
CASH = Decimal(100_000_000)
# The fixtures of test_kite_broker: the served exchange and the trader's OMS trading there through ok.KiteBroker.
make_exchange, exchange, make_trader = kite_tests.make_exchange, kite_tests.exchange, kite_tests.make_trader


@pytest.fixture
def url(durable_url: str) -> str:
    """The trader's durable store: a DuckDB file, and PostgreSQL (conftest's ``durable_url``)."""
    return durable_url


def kite(exchange: Exchange) -> KiteConnect:
    """A second program at the broker: the official client, placing orders without the OMS's tag."""
    return KiteConnect(api_key=exchange.oms.account, access_token=exchange.token, root=exchange.url)


async def by_hand(exchange: Exchange, symbol: str, side: str, quantity: int) -> str:
    # On a thread: the exchange answers on this loop.
    return str(await asyncio.to_thread(
        kite(exchange).place_order, variety="regular", exchange="NSE", tradingsymbol=symbol, transaction_type=side,
        quantity=quantity, product="MIS", order_type="MARKET"))


def held(oms: ok.OMS) -> dict[tuple[str, str], int]:
    return {(p.symbol, p.product.value): p.quantity for p in oms.manager.ledger.positions if p.quantity}


def exchange_held(exchange: Exchange) -> dict[tuple[str, str], int]:
    return held(exchange.oms)


def cash_from_trades(oms: ok.OMS) -> Decimal:
    trades = oms.trades()
    signs = trades["side"].map({"BUY": -1, "SELL": 1})
    return CASH + sum((Decimal(str(s)) * p * q for s, p, q in zip(signs, trades["price"], trades["quantity"],
                                                                   strict=True)), Decimal(0)) - sum(
        trades["fees"], Decimal(0))


async def test_a_restart_while_orders_fill_at_the_broker_adopts_the_fills_at_their_times(make_trader, exchange, url):
    trader = await make_trader(exchange, url=url)
    buy = await trader.place_order("INFY", "BUY", 5, "LIMIT", price=1490, product="MIS")
    sell = await trader.place_order("RELIANCE", "SELL", 3, "LIMIT", price=2505, product="MIS")
    await eventually(lambda: status(trader, buy) is S.OPEN and status(trader, sell) is S.OPEN, "the acceptances")
    await trader.close()

    await exchange.oms.set_price("INFY", 1488)  # both fill while the trader's kernel is down
    await exchange.oms.set_price("RELIANCE", 2507)
    reopened = await make_trader(exchange, url=url)

    result = reopened.reconciliation
    assert result is not None and result.ok and result.trigger == "open", result.differences
    fills = result.adopted[result.adopted["kind"] == "fill"].set_index("order_id")
    theirs = exchange.oms.trades().set_index("order_id")
    for order, signed in ((buy, 5), (sell, -3)):
        fill, at_exchange = fills.loc[order.order_id], theirs.loc[exchange.order_of(reopened, order).order_id]
        assert (fill["quantity"], fill["price"]) == (signed, at_exchange["price"])
        assert fill["ts"] == at_exchange["ts"].replace(microsecond=0)  # the exchange's time, not the reopening's
        assert status(reopened, order) is S.FILLED
    assert held(reopened) == exchange_held(exchange) == {("INFY", "MIS"): 5, ("RELIANCE", "MIS"): -3}
    assert reopened.manager.ledger.cash == cash_from_trades(reopened)
    assert reopened.trading_state is ok.TradingState.ACTIVE
    assert reopened.status()["reconciliation"]["ok"] is True


async def test_new_orders_at_the_restart_are_looked_up_at_the_broker_by_their_tags(make_trader, exchange, url):
    # The poll never comes in time: the order reaches the exchange but stays NEW here, as if the process died
    # before Kite's acknowledgement came back.
    trader = await make_trader(exchange, url=url, poll_interval=300)
    reached = await trader.place_order("INFY", "BUY", 4, product="MIS")
    await eventually(lambda: exchange.order_of(trader, reached) is not None, "the order at the exchange")
    await exchange.stop()
    lost = await trader.place_order("RELIANCE", "BUY", 2, product="MIS")  # its place cannot reach the broker
    await eventually(lambda: trader.status()["broker"]["connection"] == "disconnected", "the broken connection")
    await trader.close()
    await exchange.restart()

    reopened = await make_trader(exchange, url=url)

    assert reopened.reconciliation.ok, reopened.reconciliation.differences
    found = reopened.get_order(reached.order_id)
    assert found.status is S.FILLED and found.filled_quantity == 4  # adopted as the broker has it
    assert reopened.trades().iloc[-1]["price"] == exchange.oms.trades().iloc[-1]["price"]
    never = reopened.get_order(lost.order_id)
    assert never.status is S.REJECTED and "not at the broker after the restart" in never.reason
    assert exchange.order_of(reopened, lost) is None  # not sent again
    assert held(reopened) == exchange_held(exchange) == {("INFY", "MIS"): 4}
    assert reopened.trading_state is ok.TradingState.ACTIVE


async def test_an_order_placed_at_the_broker_without_the_oms_tag_halts_trading_until_accepted(make_trader, exchange,
                                                                                             url):
    trader = await make_trader(exchange, url=url)
    mine = await trader.place_order("INFY", "BUY", 2, product="MIS")
    await eventually(lambda: status(trader, mine) is S.FILLED, "the OMS's own fill")
    broker_id = await by_hand(exchange, "INFY", "BUY", 7)  # the Kite app, or another program

    result = await trader.reconcile()

    assert not result.ok
    differences = result.differences.set_index("kind")
    assert set(differences.index) == {"unknown_order", "position"}
    assert differences.loc["unknown_order", "broker_order_id"] == broker_id
    assert (differences.loc["position", "oms"], differences.loc["position", "broker"]) == (2, 9)
    assert type(differences.loc["position", "oms"]) is int  # quantities stay whole beside None in other rows
    assert trader.trading_state is ok.TradingState.HALTED
    alerts = trader.risk_alerts()
    assert list(alerts["limit_name"]).count("reconciliation") == 1 and alerts.iloc[-1]["level"] == "BREACH"
    with pytest.raises(ok.ReconciliationPending, match="2 difference"):
        await trader.place_order("INFY", "SELL", 1, product="MIS")
    with pytest.raises(ok.ReconciliationPending):
        await trader.reset_kill_switch("trying")

    # Closed and reopened unresolved: still halted, the difference listed again.
    await trader.close()
    trader = await make_trader(exchange, url=url)
    assert trader.trading_state is ok.TradingState.HALTED and not trader.reconciliation.ok
    with pytest.raises(ok.ReconciliationPending):
        await trader.place_order("INFY", "SELL", 1, product="MIS")

    accepted = await trader.accept_reconciliation("bought by hand in the Kite app")

    assert accepted.ok and trader.trading_state is ok.TradingState.ACTIVE
    taken = trader.get_order(f"K-{broker_id}")
    assert (taken.status, taken.filled_quantity, taken.tag) == (S.FILLED, 7, "adopted")
    at_exchange = exchange.oms.get_order(broker_id)
    fill = trader.trades().set_index("order_id").loc[taken.order_id]
    assert fill["price"] == at_exchange.average_price
    assert fill["ts"] == exchange.oms.trades().set_index("order_id").loc[broker_id, "ts"].replace(microsecond=0)
    assert held(trader) == exchange_held(exchange) == {("INFY", "MIS"): 9}
    assert trader.manager.ledger.cash == cash_from_trades(trader)
    sold = await trader.place_order("INFY", "SELL", 9, product="MIS")  # trading again
    await eventually(lambda: status(trader, sold) is S.FILLED, "the sell")

    # The adopted order is known by Kite's id after a restart too: nothing differs.
    await trader.close()
    trader = await make_trader(exchange, url=url)
    assert trader.reconciliation.ok, trader.reconciliation.differences
    assert trader.trading_state is ok.TradingState.ACTIVE and held(trader) == {}


async def test_a_position_changed_at_the_exchange_can_be_taken_as_it_stands(make_trader, exchange, url):
    trader = await make_trader(exchange, url=url)
    await exchange.oms.place_order("RELIANCE", "SELL", 6, product="MIS")  # at the exchange itself, untagged

    result = await trader.reconcile()
    assert set(result.differences["kind"]) == {"unknown_order", "position"}
    assert trader.trading_state is ok.TradingState.HALTED

    accepted = await trader.accept_reconciliation("hedge held elsewhere", adopt=False)

    assert accepted.ok and trader.trading_state is ok.TradingState.ACTIVE
    assert held(trader) == {} and trader.trades().empty  # nothing adopted into the ledger
    assert (await trader.reconcile()).ok  # not listed again in this session
    placed = await trader.place_order("INFY", "BUY", 1, product="MIS")
    await eventually(lambda: status(trader, placed) is S.FILLED, "trading again")


async def test_an_order_modified_at_the_broker_by_another_program_takes_the_brokers_values(make_trader, exchange):
    trader = await make_trader(exchange)
    order = await trader.place_order("INFY", "BUY", 5, "LIMIT", price=1490, product="MIS")
    await eventually(lambda: status(trader, order) is S.OPEN, "the acceptance")
    theirs = exchange.order_of(trader, order).order_id
    await asyncio.to_thread(kite(exchange).modify_order, variety="regular", order_id=theirs, price=1470, quantity=8)

    result = await trader.reconcile()

    (row,) = result.differences.to_dict("records")
    assert (row["kind"], row["order_id"], row["broker_order_id"]) == ("order_values", order.order_id, theirs)
    assert trader.trading_state is ok.TradingState.HALTED
    await trader.accept_reconciliation("changed in the Kite app")
    mine = trader.get_order(order.order_id)
    assert (mine.price, mine.quantity, mine.status) == (Decimal(1470), 8, S.OPEN)
    assert trader.trading_state is ok.TradingState.ACTIVE and (await trader.reconcile()).ok
    await exchange.oms.set_price("INFY", 1469)
    await eventually(lambda: status(trader, order) is S.FILLED, "the fill at the broker's price")
    assert trader.get_order(order.order_id).filled_quantity == 8


async def test_an_order_ended_here_but_working_at_the_broker_is_cancelled_there_once_accepted(make_trader, exchange,
                                                                                             url):
    # The OMS ended an order that still works at the exchange (a cancel taken as done while the broker could not be
    # reached), and the process stopped before anything could tell.
    trader = await make_trader(exchange, url=url)
    order = await trader.place_order("INFY", "BUY", 5, "LIMIT", price=1400, product="MIS")
    await eventually(lambda: status(trader, order) is S.OPEN, "the acceptance")
    await exchange.stop()
    trader.manager.on_cancelled(order.order_id, "cancelled in the OMS alone", trader.clock.now())
    await trader.kill_switch("stop everything")
    await trader.close()
    await exchange.restart()
    assert exchange.order_of(trader, order).status is S.OPEN

    reopened = await make_trader(exchange, url=url)

    (row,) = reopened.reconciliation.differences.to_dict("records")
    assert (row["kind"], row["order_id"], row["oms"], row["broker"]) == ("order_status", order.order_id, "CANCELLED",
                                                                         "OPEN")
    with pytest.raises(ok.ReconciliationPending):
        await reopened.reset_kill_switch("resume")
    await reopened.accept_reconciliation("cancel it at the broker")
    await eventually(lambda: exchange.order_of(reopened, order).status is S.CANCELLED, "the cancel at the exchange")
    assert reopened.trading_state is ok.TradingState.HALTED  # the user's kill switch stands
    assert (await reopened.reconcile()).ok
    await reopened.reset_kill_switch("resume")
    assert reopened.trading_state is ok.TradingState.ACTIVE


async def test_a_reconnection_reconciles_what_happened_while_the_broker_could_not_be_reached(make_trader, exchange,
                                                                                             url):
    trader = await make_trader(exchange, url=url)
    resting = await trader.place_order("INFY", "BUY", 5, "LIMIT", price=1490, product="MIS")
    await eventually(lambda: status(trader, resting) is S.OPEN, "the acceptance")
    assert trader.reconciliation.trigger == "open"

    await exchange.stop()
    await eventually(lambda: trader.status()["broker"]["connection"] == "disconnected", "the broken connection")
    await exchange.oms.set_price("INFY", 1489)  # the resting order fills, unseen
    hand = await exchange.oms.place_order("RELIANCE", "BUY", 3, product="MIS")  # and an order not of the OMS
    await asyncio.sleep(0.1)
    assert status(trader, resting) is S.OPEN and trader.trading_state is ok.TradingState.ACTIVE

    await exchange.restart()

    await eventually(lambda: trader.reconciliation.trigger == "reconnect", "the reconciliation after reconnecting")
    result = trader.reconciliation
    assert status(trader, resting) is S.FILLED
    assert set(result.differences["kind"]) == {"unknown_order", "position"}
    assert list(result.differences.set_index("kind").loc[["unknown_order"], "broker_order_id"]) == [hand.order_id]
    assert trader.trading_state is ok.TradingState.HALTED
    assert trader.status()["reconciliation"]["halted"] is True

    await trader.accept_reconciliation("bought at the exchange")
    assert trader.trading_state is ok.TradingState.ACTIVE
    assert held(trader) == exchange_held(exchange) == {("INFY", "MIS"): 5, ("RELIANCE", "MIS"): 3}


async def test_a_broker_out_of_reach_at_the_open_halts_until_it_answers_and_agrees(make_trader, exchange, url):
    trader = await make_trader(exchange, url=url)
    order = await trader.place_order("INFY", "BUY", 3, "LIMIT", price=1490, product="MIS")
    await eventually(lambda: status(trader, order) is S.OPEN, "the acceptance")
    await trader.close()
    await exchange.stop()

    reopened = await make_trader(exchange, url=url)
    assert reopened.trading_state is ok.TradingState.HALTED and reopened.reconciliation is None
    with pytest.raises(ok.ReconciliationPending):
        await reopened.place_order("INFY", "BUY", 1, product="MIS")

    await exchange.restart()

    await eventually(lambda: reopened.trading_state is ok.TradingState.ACTIVE, "trading resumed once reconciled")
    assert reopened.reconciliation.ok and reopened.reconciliation.trigger == "reconnect"


async def test_the_kill_switch_of_the_user_is_not_lifted_by_a_reconciliation(make_trader, exchange):
    trader = await make_trader(exchange)
    await trader.kill_switch("my own halt")
    assert (await trader.reconcile()).ok
    assert trader.trading_state is ok.TradingState.HALTED  # the user's halt stands
    with pytest.raises(OmsError, match="live broker"):
        opened = await ok.OMS.open(feed=None, risk_interval=None)
        try:
            await opened.reconcile()
        finally:
            await opened.close()


# -- hostile books ----------------------------------------------------------------------------------------------------

JUNK = st.one_of(st.none(), st.text(max_size=12), st.integers(-10**20, 10**20), st.floats(allow_nan=True),
                 st.booleans(), st.decimals(allow_nan=True), st.lists(st.integers(), max_size=2))


def mostly(*values: Any) -> st.SearchStrategy[Any]:
    """One of ``values`` seven times in eight, else junk: enough well-formed books to be adopted."""
    return st.one_of(*[st.sampled_from(values)] * 7, JUNK)


SYMBOLS = mostly("INFY", "RELIANCE", "NOPE")
PRODUCTS = mostly("MIS", "CNC", "NRML", "MTF")
QUANTITIES = st.one_of(*[st.integers(-3, 12)] * 6, st.integers(-2 * MAX_QUANTITY, 2 * MAX_QUANTITY), JUNK)
PRICES = mostly(1500, "2500.5", 1499.95, 0, -1, 10**12)
IDS = mostly("1", "2", "3")
ORDERS = st.fixed_dictionaries(
    {"order_id": IDS, "status": mostly("OPEN", "COMPLETE", "CANCELLED", "REJECTED", "TRIGGER PENDING"),
     "tradingsymbol": SYMBOLS, "product": PRODUCTS, "transaction_type": mostly("BUY", "SELL"),
     "quantity": QUANTITIES, "filled_quantity": QUANTITIES, "order_type": mostly("MARKET", "LIMIT", "SL", "SL-M")},
    optional={"tag": mostly("x", ""), "price": PRICES, "trigger_price": PRICES, "validity": mostly("DAY", "IOC", "TTL"),
              "order_timestamp": JUNK})
TRADES = st.fixed_dictionaries(
    {"order_id": IDS, "trade_id": st.text(max_size=4), "quantity": QUANTITIES, "average_price": PRICES},
    optional={"fill_timestamp": JUNK})
POSITIONS = st.fixed_dictionaries(
    {"tradingsymbol": SYMBOLS, "product": PRODUCTS, "quantity": QUANTITIES},
    optional={"overnight_quantity": QUANTITIES, "t1_quantity": QUANTITIES, "average_price": PRICES,
              "last_price": PRICES})


def book(entries: st.SearchStrategy[Any], size: int) -> st.SearchStrategy[Any]:
    """A list of ``entries`` with junk among them now and then, or junk for the list."""
    return st.one_of(*[st.lists(st.one_of(*[entries] * 7, JUNK), max_size=size)] * 7, JUNK)


BOOKS = st.one_of(JUNK, *[st.fixed_dictionaries({}, optional={
    "orders": book(ORDERS, 4), "trades": book(TRADES, 4), "positions": book(POSITIONS, 3),
    "holdings": book(POSITIONS, 2)})] * 7)
# Well-formed books with hostile values (huge quantities, prices at or below 0 or past MAX_PRICE): what the OMS can
# hold is adopted, the rest refused.
KNOWN = st.sampled_from(["INFY", "RELIANCE"])
SIZES = st.one_of(*[st.integers(0, 12)] * 6, st.integers(0, 2 * MAX_QUANTITY))
FORMED = st.fixed_dictionaries({
    "orders": st.lists(st.fixed_dictionaries({
        "order_id": st.sampled_from(["1", "2", "3"]), "tradingsymbol": KNOWN,
        "product": st.sampled_from(["MIS", "CNC"]), "quantity": SIZES,
        "status": st.sampled_from(["OPEN", "COMPLETE", "CANCELLED", "TRIGGER PENDING"]),
        "filled_quantity": SIZES, "transaction_type": st.sampled_from(["BUY", "SELL"]),
        "order_type": st.sampled_from(["MARKET", "LIMIT", "SL"]), "price": PRICES, "trigger_price": PRICES}),
        max_size=3),
    "trades": st.lists(st.fixed_dictionaries({
        "order_id": st.sampled_from(["1", "2", "3"]), "trade_id": st.text(max_size=3), "quantity": SIZES,
        "average_price": PRICES}), max_size=4),
    "positions": st.lists(st.fixed_dictionaries({
        "tradingsymbol": KNOWN, "product": st.sampled_from(["MIS", "CNC", "NRML"]), "quantity": st.one_of(
            st.integers(-12, 12), st.integers(-2 * MAX_QUANTITY, 2 * MAX_QUANTITY)), "average_price": PRICES}),
        max_size=3)})


async def test_hostile_books_never_corrupt_the_ledger_and_raise_only_oms_errors(make_trader, exchange):
    trader = await make_trader(exchange, poll_interval=300)
    bought = await trader.place_order("INFY", "BUY", 3, product="MIS")
    await eventually(lambda: status(trader, bought) is S.FILLED, "a position to reconcile")
    manager, broker = trader.manager, trader.manager.broker

    def consistent() -> None:
        # Every position is the sum of its fills, cash is the fills' cash, no order overfilled.
        sums: dict[tuple[str, str], int] = {}
        for fill in manager.trades:
            key = (fill.symbol, fill.product.value)
            sums[key] = sums.get(key, 0) + fill.side.sign * fill.quantity
        assert held(trader) == {k: q for k, q in sums.items() if q}
        assert all(abs(q) <= MAX_QUANTITY for q in sums.values())
        assert manager.ledger.cash == CASH - sum((f.side.sign * f.price * f.quantity + f.fees
                                                  for f in manager.trades), Decimal(0))
        assert all(0 <= o.filled_quantity <= o.quantity for o in manager.orders.values())

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(books=st.one_of(BOOKS, FORMED))
    def check(books: Any) -> None:
        before = (held(trader), manager.ledger.cash, len(manager.trades))
        differences, _ = compare(manager, broker, books)
        # Nothing this OMS follows is in hostile books: comparing them adopts nothing.
        assert (held(trader), manager.ledger.cash, len(manager.trades)) == before
        assert all(d["kind"] in {"unknown_order", "missing_order", "order_status", "order_values", "position",
                                 "fill_not_applied", "unreadable"} for d in differences)
        before = (held(trader), manager.ledger.cash, len(manager.trades), len(manager.orders))
        try:
            adopt(manager, broker, books, differences)
        except OmsError:  # what cannot be adopted is refused before anything changes
            assert (held(trader), manager.ledger.cash, len(manager.trades), len(manager.orders)) == before
        consistent()

    check()
    await trader.flush()  # whatever was adopted can be stored


_TRADERS: dict[int, ok.OMS] = {}
HOSTILE_ARGUMENTS = st.one_of(st.none(), st.integers(), st.floats(allow_nan=True), st.text(max_size=300),
                              st.binary(max_size=8), st.lists(st.integers(), max_size=2), st.just("\x00halt"))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reason=HOSTILE_ARGUMENTS, adopt_value=st.one_of(st.booleans(), HOSTILE_ARGUMENTS))
async def test_hostile_accept_arguments_are_refused_naming_them_and_change_nothing(make_trader, exchange, reason,
                                                                                   adopt_value):
    # One trader for all the examples (the fixtures are made once for them): a difference to accept, made once.
    trader = _TRADERS.get(id(exchange))
    if trader is None:
        trader = _TRADERS[id(exchange)] = await make_trader(exchange)
        await by_hand(exchange, "INFY", "BUY", 2)
        await trader.reconcile()
    before = (held(trader), trader.manager.ledger.cash, len(trader.manager.orders), trader.trading_state)
    valid = isinstance(reason, str) and bool(reason.strip()) and reason.isprintable() and isinstance(adopt_value, bool)
    try:
        await trader.accept_reconciliation(reason, adopt=adopt_value)
    except OmsError as exc:
        assert not valid, exc
        assert exc.field in ("reason", "adopt"), exc
        assert (held(trader), trader.manager.ledger.cash, len(trader.manager.orders),
                trader.trading_state) == before
    else:
        assert isinstance(adopt_value, bool)
        await trader.reconcile()  # the next example starts halted again when the difference stands


async def test_a_bot_over_http_is_told_the_reconciliation_is_pending(make_trader, exchange):
    trader = await make_trader(exchange)
    await by_hand(exchange, "INFY", "BUY", 2)
    await trader.reconcile()
    server = await serve(trader, port=0)
    try:
        async with httpx.AsyncClient(base_url=server.url + "/api/oms",
                                     headers={"Authorization": f"Bearer {server.token}"}) as client:
            answer = await client.post("/orders", json={"symbol": "INFY", "side": "BUY", "quantity": 1})
    finally:
        await server.stop()

    assert answer.status_code == 409
    body = answer.json()
    assert body["code"] == "RECONCILIATION_PENDING", body
    assert "accept_reconciliation" in body["hint"] and "Traceback" not in answer.text
    assert trader.orders().empty  # nothing was placed
