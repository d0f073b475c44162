"""ok.KiteBroker against a Kite-compatible "exchange": a second OMS served on a free port with its Kite Connect API
(``oms.serve``), which the broker trades through the official ``kiteconnect`` client. The trader's OMS and the
exchange's run on the test's loop; the broker's HTTP calls run on its own threads, so the exchange answers them
while the test waits.

Nothing here asserts a time: waits are "until this holds" with a generous bound (:func:`eventually`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kiteconnect import KiteConnect

import oms_kit as ok
from oms_kit.broker.kite_config import kite_tag
from oms_kit.broker.mock import MockBroker
from oms_kit.models import Order
from oms_kit.service import serve

INFY, RELIANCE = 1500, 2500
EXCHANGE_LIMITS = ok.RiskLimits(max_order_quantity=1000, max_orders_per_second=None, duplicate_window_s=None)
TRADER_LIMITS = ok.RiskLimits(max_order_quantity=100_000, max_order_value=None, duplicate_window_s=None)
S = ok.OrderStatus


async def eventually(check: Callable[[], Any], what: str = "the condition", timeout: float = 15.0) -> None:
    """Wait until ``check()`` is true (the broker polls on its threads), failing after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"{what} did not come within {timeout} s")
        await asyncio.sleep(0.01)


class Exchange:
    """The served OMS that plays the exchange; it can stop serving and serve again on the same port."""

    def __init__(self, oms: ok.OMS, server: Any) -> None:
        self.oms, self.server = oms, server
        self.port, self.token, self.url = server.port, server.token, server.url

    async def stop(self) -> None:
        await self.server.stop()

    async def restart(self) -> None:
        self.server = await serve(self.oms, port=self.port, token=self.token)

    def order_of(self, trader: ok.OMS, order: Order) -> Order | None:
        """The exchange's copy of the trader's order, found by the tag the broker gave it."""
        tag = kite_tag(trader.account, order.order_id)
        found = [o for o in self.oms.manager.orders.values() if o.tag == tag]
        assert len(found) <= 1, f"the order reached the exchange {len(found)} times"
        return found[0] if found else None


@pytest.fixture
async def make_exchange():
    made: list[Exchange] = []

    async def make(**options: Any) -> Exchange:
        options.setdefault("limits", EXCHANGE_LIMITS)
        oms = await ok.OMS.open("duckdb:///:memory:", account="EX1", feed=None, risk_interval=None, **options)
        await oms.set_price("INFY", INFY)
        await oms.set_price("RELIANCE", RELIANCE)
        exchange = Exchange(oms, await serve(oms, port=0))
        made.append(exchange)
        return exchange

    yield make
    for exchange in made:
        await exchange.server.stop()
        await exchange.oms.close()


@pytest.fixture
async def exchange(make_exchange) -> Exchange:
    return await make_exchange()


@pytest.fixture
async def make_trader():
    opened: list[ok.OMS] = []

    async def make(exchange: Exchange, url: str = "duckdb:///:memory:", root: str | None = None,
                   limits: ok.RiskLimits = TRADER_LIMITS, **broker_options: Any) -> ok.OMS:
        broker_options.setdefault("poll_interval", 0.02)
        broker_options.setdefault("max_backoff", 0.1)
        broker = ok.KiteBroker(api_key=exchange.oms.account, access_token=exchange.token,
                               root=root or exchange.url, live=True, **broker_options)
        oms = await ok.OMS.open(url, account="trader", cash=100_000_000, feed=None, risk_interval=None,
                                broker=broker, limits=limits, instruments=[ok.Instrument("NOTATEX")])
        await oms.set_price("INFY", INFY)
        await oms.set_price("RELIANCE", RELIANCE)
        await oms.set_price("NOTATEX", 100)
        opened.append(oms)
        return oms

    yield make
    for oms in opened:
        await oms.close()


@pytest.fixture
async def trader(make_trader, exchange) -> ok.OMS:
    return await make_trader(exchange)


def status(oms: ok.OMS, order: Order) -> S:
    return oms.get_order(order.order_id).status


# -- orders round-trip --------------------------------------------------------------------------------------------


async def test_a_scripts_orders_round_trip_with_the_exchanges_fills_and_the_fee_models_charges(trader, exchange):
    buy = await trader.place_order("INFY", "BUY", 10, product="MIS")
    assert buy.status is S.NEW  # sent, not yet validated by the broker

    await eventually(lambda: status(trader, buy) is S.FILLED, "the buy's fill")
    sell = await trader.place_order("INFY", "SELL", 10, "LIMIT", price=1510, product="MIS")
    await eventually(lambda: status(trader, sell) is S.OPEN, "the sell's acceptance")
    await exchange.oms.set_price("INFY", 1512)
    await eventually(lambda: status(trader, sell) is S.FILLED, "the sell's fill")

    mine, theirs = trader.trades(), exchange.oms.trades()
    assert len(mine) == len(theirs) == 2
    assert list(mine["side"]) == ["BUY", "SELL"] and list(mine["quantity"]) == list(theirs["quantity"]) == [10, 10]
    assert list(mine["price"]) == list(theirs["price"])  # the exchange's prices
    # Kite reports no charges: the trader's fee model (india_equity, as the exchange's) charges the same fills alike.
    assert list(mine["fees"]) == list(theirs["fees"]) and all(f > 0 for f in mine["fees"])
    # The exchange's own times, to the second as Kite writes them.
    assert [t.replace(microsecond=0) for t in theirs["ts"]] == list(mine["ts"])
    position = trader.positions().set_index("symbol").loc["INFY"]
    assert position["quantity"] == 0
    bought, sold = (Decimal(str(p)) for p in theirs["price"])
    assert position["realized_pnl"] == (sold - bought) * 10  # before fees
    assert exchange.order_of(trader, buy).status is S.FILLED and exchange.order_of(trader, sell).status is S.FILLED
    assert trader.status()["broker"]["connection"] == "connected"
    assert trader.status()["tasks"]["oms-kit-broker"] is True


class BuyThenTarget(ok.Strategy):
    """Buys on its first price; when the buy fills, sells at a target ten rupees above the fill."""

    def on_start(self, ctx):
        self.orders = []
        self.fills = []

    def on_bar(self, ctx, bar):
        if not self.orders:
            self.orders.append(ctx.buy(bar.symbol, 4, product="MIS"))

    def on_fill(self, ctx, fill):
        self.fills.append(fill)
        if fill.side is ok.Side.BUY:
            self.orders.append(ctx.sell(fill.symbol, 4, "LIMIT", price=fill.price + 10, product="MIS"))


async def test_a_strategys_orders_go_to_the_broker_and_its_fills_come_back_to_it(trader, exchange):
    # The runner tells a strategy of fills at its next price (as in paper trading): a live broker's fills arrive
    # between prices, so the test sends one after each fill, as a feed would.
    strategy = BuyThenTarget()
    runner = await ok.paper_trade(strategy, oms=trader)
    try:
        await trader.set_price("INFY", INFY)  # the strategy's first price: it buys
        await eventually(lambda: strategy.orders and status(trader, strategy.orders[0]) is S.FILLED, "the buy's fill")
        await trader.set_price("INFY", INFY + 1)
        await eventually(lambda: len(strategy.orders) == 2, "the target placed on the fill")
        target = strategy.orders[1]
        await eventually(lambda: status(trader, target) is S.OPEN, "the target at the exchange")
        await exchange.oms.set_price("INFY", INFY + 15)
        await eventually(lambda: status(trader, target) is S.FILLED, "the target's fill")
        await trader.set_price("INFY", INFY + 15)
        await eventually(lambda: len(strategy.fills) == 2, "the target's fill, told to the strategy")
    finally:
        await runner.stop()

    assert [f.side for f in strategy.fills] == [ok.Side.BUY, ok.Side.SELL]
    assert strategy.fills[1].price == exchange.oms.trades()["price"].iloc[1]
    assert trader.position("INFY") == 0 and exchange.order_of(trader, target).status is S.FILLED


async def test_a_strategy_like_loop_of_orders_each_reaches_the_exchange_once(trader, exchange):
    orders = [await trader.place_order("RELIANCE", side, 2, product="MIS") for side in ("BUY", "SELL") * 3]

    await eventually(lambda: all(status(trader, o) is S.FILLED for o in orders), "every fill")
    assert len(exchange.oms.orders()) == 6 and all(exchange.order_of(trader, o) is not None for o in orders)
    assert trader.positions().set_index("symbol").loc["RELIANCE", "quantity"] == 0
    assert trader.status()["broker"]["fills"] == 6


async def test_a_stop_order_waits_then_triggers_and_fills_at_the_exchange(trader, exchange):
    order = await trader.place_order("INFY", "BUY", 5, "SL-M", trigger_price=1550, product="MIS")
    await eventually(lambda: status(trader, order) is S.TRIGGER_PENDING, "the stop's acceptance")

    await exchange.oms.set_price("INFY", 1552)

    await eventually(lambda: status(trader, order) is S.FILLED, "the stop's fill")
    assert trader.get_order(order.order_id).triggered


async def test_a_fill_between_the_order_book_and_the_trade_book_is_a_trigger_and_a_fill(make_trader, exchange):
    # The two books are read one after the other: a stop order still TRIGGER PENDING in the order book may have
    # traded by the time the trade book is read. A long poll interval leaves the reads to the test.
    trader = await make_trader(exchange, poll_interval=60)
    order = await trader.place_order("INFY", "BUY", 5, "SL-M", trigger_price=1550, product="MIS")
    await eventually(lambda: status(trader, order) is S.TRIGGER_PENDING, "the acceptance (polled once on the answer)")
    client = KiteConnect(api_key=exchange.oms.account, root=exchange.url, access_token=exchange.token)

    orders = await asyncio.to_thread(client.orders)
    await exchange.oms.set_price("INFY", 1552)
    trades = await asyncio.to_thread(client.trades)
    assert [o["status"] for o in orders] == ["TRIGGER PENDING"] and len(trades) == 1
    trader.manager.broker.apply_book(orders, trades)

    assert status(trader, order) is S.FILLED and trader.get_order(order.order_id).triggered
    trader.manager.broker.apply_book(orders, trades)  # the same books again: nothing more
    assert len(trader.trades()) == 1 and trader.manager.broker.mismatches == []


async def test_an_ioc_order_that_finds_nothing_expires(trader):
    order = await trader.place_order("INFY", "BUY", 5, "LIMIT", price=1450, validity="IOC", product="MIS")

    await eventually(lambda: status(trader, order) is S.EXPIRED, "the IOC's expiry")
    assert trader.get_order(order.order_id).reason == "IOC remainder cancelled"


# -- rejections -------------------------------------------------------------------------------------------------------


async def test_a_rejection_at_the_broker_arrives_as_rejected_with_the_brokers_reason(trader, exchange):
    # The trader's own limits allow 5000; the exchange's risk system allows 1000.
    order = await trader.place_order("INFY", "BUY", 5000, "LIMIT", price=1490, product="MIS")

    await eventually(lambda: status(trader, order) is S.REJECTED, "the rejection")
    theirs = exchange.order_of(trader, order)
    assert theirs is not None and theirs.status is S.REJECTED
    reason = trader.get_order(order.order_id).reason
    assert reason == theirs.reason and "QUANTITY" in reason


async def test_an_order_the_broker_refuses_to_take_is_rejected_with_its_message(trader, exchange):
    # An instrument the trader's OMS knows and the exchange does not: Kite's InputException, no order there.
    order = await trader.place_order("NOTATEX", "BUY", 1, product="MIS")

    await eventually(lambda: status(trader, order) is S.REJECTED, "the refusal")
    reason = trader.get_order(order.order_id).reason
    assert reason.startswith("refused by the broker: ") and "NOTATEX" in reason
    assert exchange.order_of(trader, order) is None


# -- partial fills ----------------------------------------------------------------------------------------------------


async def test_partial_fills_arrive_one_trade_each_with_the_exchanges_quantities(make_exchange, make_trader):
    exchange = await make_exchange(broker=MockBroker(participation=0.1))
    trader = await make_trader(exchange)
    order = await trader.place_order("INFY", "BUY", 25, "LIMIT", price=1490, product="MIS")
    await eventually(lambda: status(trader, order) is S.OPEN, "the acceptance")

    await exchange.oms.set_price("INFY", 1489, volume=100)  # a tenth of the volume: 10 of 25
    await eventually(lambda: trader.get_order(order.order_id).filled_quantity == 10, "the first partial fill")
    assert status(trader, order) is S.PARTIALLY_FILLED
    polls = trader.status()["broker"]["polls"]
    await eventually(lambda: trader.status()["broker"]["polls"] >= polls + 3, "more polls")
    assert len(trader.trades()) == 1  # each trade once, however often the trade book is read

    await exchange.oms.set_price("INFY", 1488, volume=100)
    await exchange.oms.set_price("INFY", 1487, volume=100)

    await eventually(lambda: status(trader, order) is S.FILLED, "the last fill")
    mine, theirs = trader.trades(), exchange.oms.trades()
    assert list(mine["quantity"]) == list(theirs["quantity"]) == [10, 10, 5]
    assert list(mine["price"]) == list(theirs["price"])
    assert trader.get_order(order.order_id).average_price == exchange.order_of(trader, order).average_price


# -- modify and cancel ------------------------------------------------------------------------------------------------


async def test_modify_and_cancel_act_at_the_broker(trader, exchange):
    order = await trader.place_order("INFY", "BUY", 5, "LIMIT", price=1480, product="MIS")
    await eventually(lambda: status(trader, order) is S.OPEN, "the acceptance")

    await trader.modify_order(order.order_id, price=1485, quantity=7)

    assert trader.get_order(order.order_id).price == Decimal("1485")  # at once
    await eventually(lambda: exchange.order_of(trader, order).price == Decimal("1485"), "the modify at the exchange")
    assert exchange.order_of(trader, order).quantity == 7
    await trader.cancel_order(order.order_id, "changed my mind")
    assert status(trader, order) is S.PENDING_CANCEL
    await eventually(lambda: status(trader, order) is S.CANCELLED, "the cancel")
    assert exchange.order_of(trader, order).status is S.CANCELLED
    assert trader.get_order(order.order_id).reason == "changed my mind"


async def test_a_modify_the_broker_refuses_puts_the_earlier_values_back(trader, exchange):
    order = await trader.place_order("INFY", "BUY", 5, "LIMIT", price=1480, product="MIS")
    await eventually(lambda: status(trader, order) is S.OPEN, "the acceptance")

    await trader.modify_order(order.order_id, quantity=5000)  # the exchange's limit is 1000

    assert trader.get_order(order.order_id).quantity == 5000
    await eventually(lambda: trader.get_order(order.order_id).quantity == 5, "the earlier quantity back")
    assert status(trader, order) is S.OPEN and exchange.order_of(trader, order).quantity == 5


async def test_cancel_all_cancels_every_working_order_at_the_broker(trader, exchange):
    orders = [await trader.place_order("INFY", "BUY", 1 + i, "LIMIT", price=1480 - i, product="MIS") for i in range(4)]
    await eventually(lambda: all(status(trader, o) is S.OPEN for o in orders), "the acceptances")

    await trader.cancel_all()

    await eventually(lambda: all(status(trader, o) is S.CANCELLED for o in orders), "the cancels")
    assert all(exchange.order_of(trader, o).status is S.CANCELLED for o in orders)


# -- the kill switch and a dropped connection -------------------------------------------------------------------------


async def test_the_kill_switch_stops_new_orders_at_once_and_cancels_at_the_broker_once_it_answers(trader, exchange):
    resting = [await trader.place_order("INFY", "BUY", 1 + i, "LIMIT", price=1480 - i, product="MIS")
               for i in range(3)]
    await eventually(lambda: all(status(trader, o) is S.OPEN for o in resting), "the acceptances")
    await exchange.stop()  # the broker is unreachable: it must not hold the kill switch up
    unsent = await trader.place_order("INFY", "BUY", 2, product="MIS")  # its place fails: not at the exchange

    await trader.kill_switch("test halt")

    assert trader.trading_state is ok.TradingState.HALTED
    assert all(status(trader, o) is S.PENDING_CANCEL for o in resting)
    assert status(trader, unsent) is S.REJECTED
    refused = await trader.place_order("INFY", "BUY", 1, product="MIS")
    assert refused.status is S.REJECTED
    assert all(exchange.order_of(trader, o).status is S.OPEN for o in resting)  # nothing reached the exchange yet
    await eventually(lambda: trader.status()["broker"]["connection"] == "disconnected", "the broken connection")

    await exchange.restart()

    await eventually(lambda: all(status(trader, o) is S.CANCELLED for o in resting), "the cancels")
    assert all(exchange.order_of(trader, o).status is S.CANCELLED for o in resting)
    assert trader.get_order(resting[0].order_id).reason == "kill switch: test halt"
    await eventually(lambda: trader.status()["broker"]["followed"] == 0, "nothing left to follow")
    assert exchange.order_of(trader, unsent) is None and exchange.order_of(trader, refused) is None


async def test_the_connection_drops_mid_order_and_the_order_completes_when_it_comes_back(trader, exchange):
    resting = await trader.place_order("INFY", "BUY", 5, "LIMIT", price=1490, product="MIS")
    await eventually(lambda: status(trader, resting) is S.OPEN, "the acceptance")

    await exchange.stop()
    await eventually(lambda: trader.status()["broker"]["connection"] == "disconnected", "the broken connection")
    broker = trader.status()["broker"]
    assert broker["last_error"] and "Connection" in broker["last_error"]
    await exchange.oms.set_price("INFY", 1489)  # it fills at the exchange while the trader cannot see it
    placed_meanwhile = await trader.place_order("RELIANCE", "BUY", 3, product="MIS")
    await asyncio.sleep(0.2)
    assert status(trader, resting) is S.OPEN and status(trader, placed_meanwhile) is S.NEW

    await exchange.restart()

    await eventually(lambda: status(trader, resting) is S.FILLED, "the fill made while disconnected")
    await eventually(lambda: status(trader, placed_meanwhile) is S.FILLED, "the order placed while disconnected")
    assert exchange.order_of(trader, placed_meanwhile).status is S.FILLED  # placed once
    assert trader.status()["broker"]["connection"] == "connected"
    fill = trader.trades().set_index("order_id").loc[resting.order_id]
    assert fill["price"] == exchange.oms.trades().iloc[0]["price"]


async def test_the_risk_monitor_does_not_reject_an_order_the_unreachable_broker_has_not_answered(make_trader,
                                                                                                exchange):
    trader = await make_trader(exchange)
    trader.tasks.start("oms-kit-risk-monitor", trader.monitor.run(0.05))  # as OMS.open(risk_interval=0.05) would
    await exchange.stop()
    order = await trader.place_order("INFY", "BUY", 2, product="MIS")

    await asyncio.sleep(1.5)  # past the monitor's acknowledgement timeout (1 s), several of its runs

    assert status(trader, order) is S.NEW  # acknowledge(): the broker still has it in hand
    await exchange.restart()
    await eventually(lambda: status(trader, order) is S.FILLED, "the fill")


async def test_a_reopened_account_follows_its_working_orders_at_the_broker_by_their_tags(make_trader, exchange,
                                                                                         tmp_path):
    url = f"duckdb:///{tmp_path / 'trader.duckdb'}"
    trader = await make_trader(exchange, url=url)
    order = await trader.place_order("INFY", "BUY", 5, "LIMIT", price=1490, product="MIS")
    await eventually(lambda: status(trader, order) is S.OPEN, "the acceptance")
    await trader.close()

    await exchange.oms.set_price("INFY", 1488)  # it fills while the trader's OMS is closed
    reopened = await make_trader(exchange, url=url)

    await eventually(lambda: status(reopened, order) is S.FILLED, "the fill made while closed")
    fill = reopened.trades().iloc[-1]
    theirs = exchange.oms.trades().iloc[-1]
    assert (fill["order_id"], fill["quantity"], fill["price"]) == (order.order_id, 5, theirs["price"])
    assert fill["ts"] == theirs["ts"].replace(microsecond=0)  # the exchange's time, not the reopening's


class DroppingProxy:
    """A TCP proxy in front of the exchange that, once armed, lets the next order placement through to the
    exchange and drops its answer: the client cannot tell whether the order was placed."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.armed = False
        self.dropped = 0
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for writer in self.writers:  # the exchange's server waits for open connections when it stops
            writer.transport.abort()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self.writers += [writer, up_writer]
        doomed = asyncio.Event()

        async def outward() -> None:
            while data := await reader.read(65536):
                if self.armed and b"POST /orders/" in data:
                    self.armed = False
                    doomed.set()
                up_writer.write(data)
                await up_writer.drain()

        async def inward() -> None:
            while data := await up_reader.read(65536):
                if doomed.is_set():  # the placement's answer: never passed on
                    self.dropped += 1
                    writer.transport.abort()
                    return
                writer.write(data)
                await writer.drain()

        tasks = [asyncio.ensure_future(outward()), asyncio.ensure_future(inward())]
        with contextlib.suppress(Exception):
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        writer.transport.abort()
        up_writer.close()


async def test_a_place_whose_answer_is_lost_is_found_by_its_tag_and_not_placed_twice(make_trader, exchange):
    proxy = DroppingProxy(exchange.port)
    trader = await make_trader(exchange, root=await proxy.start())
    try:
        proxy.armed = True
        order = await trader.place_order("INFY", "BUY", 4, product="MIS")

        await eventually(lambda: status(trader, order) is S.FILLED, "the fill")
        assert proxy.dropped == 1
        theirs = exchange.order_of(trader, order)  # asserts one order at the exchange
        assert theirs is not None and theirs.quantity == 4
        assert len(exchange.oms.orders()) == 1 and len(trader.trades()) == 1
        assert trader.status()["broker"]["retries"] >= 1
    finally:
        await proxy.stop()


# -- safety: live=True, the order rate, credentials -------------------------------------------------------------------


async def test_trading_live_caps_the_order_rate_at_the_exchanges_ten_a_second(trader, exchange):
    assert trader.manager.limits.max_orders_per_second == 10  # TRADER_LIMITS leave the default, 100

    orders = [await trader.place_order("INFY", "BUY", 1, "LIMIT", price=1400 + i, product="MIS") for i in range(11)]

    assert [o.status for o in orders[:10]] == [S.NEW] * 10
    assert orders[10].status is S.REJECTED and orders[10].violations[0].code == "RATE_LIMIT_EXCEEDED"
    await eventually(lambda: all(status(trader, o) is S.OPEN for o in orders[:10]), "the acceptances")
    assert len(exchange.oms.orders()) == 10


async def test_a_stricter_rate_of_the_users_own_is_kept(make_trader, exchange):
    trader = await make_trader(exchange, limits=ok.RiskLimits(max_orders_per_second=3, per_symbol={
        "INFY": {"max_orders_per_second": None}}))

    assert trader.manager.limits.max_orders_per_second == 3
    assert trader.manager.limits_for("INFY").max_orders_per_second == 10  # an override cannot lift the cap


def test_going_live_needs_live_true():
    with pytest.raises(ok.ConfigError, match="live") as raised:
        ok.KiteBroker(api_key="key", access_token="tok123", root="http://127.0.0.1:9")

    assert raised.value.field == "live" and "True" in raised.value.allowed
    assert "tok123" not in str(raised.value)


async def test_credentials_never_reach_the_database_the_reprs_the_status_or_the_logs(make_trader, exchange, tmp_path,
                                                                                    caplog):
    caplog.set_level(logging.DEBUG)
    trader = await make_trader(exchange, url=f"duckdb:///{tmp_path / 'trader.duckdb'}")
    token = exchange.token
    filled = await trader.place_order("INFY", "BUY", 3, product="MIS")
    refused = await trader.place_order("INFY", "BUY", 5000, "LIMIT", price=1490, product="MIS")
    resting = await trader.place_order("INFY", "BUY", 3, "LIMIT", price=1450, product="MIS")
    await eventually(lambda: status(trader, filled) is S.FILLED and status(trader, refused) is S.REJECTED
                     and status(trader, resting) is S.OPEN, "the outcomes")
    await exchange.stop()  # a connection error while an order is followed, logged and kept in status()
    await eventually(lambda: trader.status()["broker"]["connection"] == "disconnected", "the broken connection")
    await exchange.restart()
    await trader.flush()

    broker = trader.manager.broker
    texts = [repr(broker), str(broker), repr(trader), str(trader.status()), repr(vars(broker)), caplog.text,
             repr(broker._credentials), trader.orders().to_string(), trader.trades().to_string()]
    tables = await trader.store.fetch("SELECT table_name FROM information_schema.tables")
    assert len(tables) > 5
    for row in tables:
        texts.append(str(await trader.store.fetch(f'SELECT * FROM "{row["table_name"]}"')))
    assert all(token not in text for text in texts)
    assert trader.status()["broker"]["credentials"] == "arguments"
    assert "cannot be reached" in caplog.text  # the logs looked at are the broker's


def test_credentials_come_from_a_file_or_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("KITE_API_KEY", raising=False)
    monkeypatch.delenv("KITE_ACCESS_TOKEN", raising=False)
    with pytest.raises(ok.ConfigError, match="KITE_ACCESS_TOKEN"):
        ok.KiteBroker(root="http://127.0.0.1:9", live=True)

    monkeypatch.setenv("KITE_API_KEY", "envkey")
    monkeypatch.setenv("KITE_ACCESS_TOKEN", "envsecret42")
    from_env = ok.KiteBroker(root="http://127.0.0.1:9", live=True)
    assert from_env.status()["credentials"] == "environment" and "envsecret42" not in repr(from_env)

    path = tmp_path / "kite.json"
    path.write_text('{"api_key": "filekey", "access_token": "filesecret42"}')
    path.chmod(0o600)
    from_file = ok.KiteBroker(root="http://127.0.0.1:9", live=True, credentials=path)
    assert from_file.status()["credentials"] == f"file {path}"
    assert from_file._credentials.access_token == "filesecret42"  # the file wins over the environment

    path.write_text('{"api_key": "filekey", "access_token": filesecret42}')  # not JSON
    with pytest.raises(ok.ConfigError, match="credentials") as raised:
        ok.KiteBroker(root="http://127.0.0.1:9", live=True, credentials=path)
    assert "filesecret42" not in str(raised.value)
    with pytest.raises(ok.ConfigError, match="credentials"):
        ok.KiteBroker(root="http://127.0.0.1:9", live=True, credentials=tmp_path / "missing.json")


async def test_open_refuses_a_broker_that_is_not_one():
    with pytest.raises(ok.ConfigError, match="broker"):
        await ok.OMS.open(feed=None, risk_interval=None, broker="kite")  # type: ignore[arg-type]


def test_status_and_time_mapping():
    from oms_kit.broker.kite_status import Stage, kite_time, stage

    assert stage("PUT ORDER REQ RECEIVED") is stage("VALIDATION PENDING") is stage("OPEN PENDING") is Stage.PENDING
    assert {stage(s) for s in ("OPEN", "TRIGGER PENDING", "AMO REQ RECEIVED", "MODIFY PENDING",
                               "CANCEL PENDING")} == {Stage.WORKING}
    assert (stage("COMPLETE"), stage("CANCELLED"), stage("REJECTED")) == (
        Stage.COMPLETE, Stage.CANCELLED, Stage.REJECTED)
    assert stage("SOMETHING NEW") is Stage.PENDING and stage(None) is Stage.PENDING
    fallback = datetime(2026, 1, 1, tzinfo=UTC)
    assert kite_time(datetime(2026, 12, 4, 9, 15), fallback) == datetime(2026, 12, 4, 3, 45, tzinfo=UTC)
    assert kite_time("2026-12-04 09:15:00", fallback) == datetime(2026, 12, 4, 3, 45, tzinfo=UTC)
    assert kite_time("garbage", fallback) is fallback and kite_time(None, fallback) is fallback


# -- hostile input ----------------------------------------------------------------------------------------------------

SECRET = "s3cretTokenValue"
HOSTILE = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40), st.binary(max_size=8), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2), st.decimals(allow_nan=True),
    st.sampled_from(["http://", "ftp://x", "http://u:p@host", "http://h:99999", "http://h/?q=1", " ", "\x00", "-1",
                     "nse", "india_equity", "x" * 600, SECRET + " x", "https://api.kite.trade"]),
    st.just(Path("/nonexistent/kite.json")), st.just(object()),
)
FIELDS = ["api_key", "access_token", "root", "live", "credentials", "poll_interval", "timeout", "orders_per_second",
          "max_backoff", "fees", "market_protection"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(FIELDS), value=HOSTILE)
def test_hostile_constructor_values_raise_a_config_error_naming_the_field_and_never_the_token(field, value):
    options: dict[str, Any] = {"api_key": "key", "access_token": SECRET, "root": "http://127.0.0.1:9", "live": True}
    if field == "credentials":
        del options["api_key"], options["access_token"]
    options[field] = value
    try:
        broker = ok.KiteBroker(**options)
    except ok.ConfigError as error:
        assert error.field.split(":")[0] in (field, "credentials", "api_key", "access_token", "KITE_API_KEY",
                                             "KITE_ACCESS_TOKEN")
        assert error.allowed and SECRET not in str(error) and SECRET not in repr(error.value)
        return
    assert SECRET not in repr(broker) and SECRET not in str(broker.status())
    assert broker.poll_interval > 0 and broker.timeout > 0 and broker.orders_per_second >= 1


@settings(max_examples=60, deadline=None)
@given(value=HOSTILE)
def test_open_with_a_hostile_broker_raises_a_config_error_and_opens_nothing(value):
    if value is None:
        return  # the default broker

    async def open_it() -> None:
        await ok.OMS.open(feed=None, risk_interval=None, broker=value)

    with pytest.raises(ok.ConfigError) as raised:
        asyncio.run(open_it())
    assert raised.value.field == "broker"


TEXTS = st.one_of(st.none(), st.text(max_size=30), st.integers(), st.floats(allow_nan=True), st.booleans(),
                  st.datetimes(), st.decimals(allow_nan=True), st.lists(st.integers(), max_size=2))


async def test_hostile_books_never_raise_and_never_break_an_order(make_trader, exchange):
    # A followed order at a broker that answers nonsense: apply_book (public, for a push channel) keeps the order
    # within the state machine's rules whatever the books say.
    trader = await make_trader(exchange, poll_interval=60)
    order = await trader.place_order("INFY", "BUY", 10, "LIMIT", price=1480, product="MIS")
    await eventually(lambda: status(trader, order) is S.OPEN, "the acceptance")
    broker = trader.manager.broker
    tag = kite_tag(trader.account, order.order_id)
    ids = st.sampled_from([broker.broker_ids[order.order_id], "other", ""])
    orders = st.lists(st.fixed_dictionaries(
        {"order_id": ids, "tag": st.sampled_from([tag, "x", None])},
        optional={"status": st.one_of(st.sampled_from(["OPEN", "COMPLETE", "CANCELLED", "REJECTED", "TRIGGER PENDING",
                                                       "PUT ORDER REQ RECEIVED", "CANCEL PENDING"]), TEXTS),
                  "filled_quantity": TEXTS, "exchange_timestamp": TEXTS, "status_message": TEXTS}), max_size=3)
    trades = st.lists(st.fixed_dictionaries(
        {"order_id": ids, "trade_id": st.text(max_size=3)},
        optional={"quantity": st.one_of(st.integers(-5, 15), TEXTS), "average_price": TEXTS,
                  "fill_timestamp": TEXTS}), max_size=3)

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(book=orders, fills=trades)
    def check(book: list[dict[str, Any]], fills: list[dict[str, Any]]) -> None:
        broker.apply_book(book, fills)
        mine = trader.get_order(order.order_id)
        assert 0 <= mine.filled_quantity <= mine.quantity
        assert mine.filled_quantity == sum(t["quantity"] for _, t in trader.trades().iterrows())
        assert all(abs((t - datetime.now(UTC)).total_seconds()) < 4 * 86400 for t in trader.trades()["ts"])

    check()
    await trader.flush()  # whatever was applied is stored


# -- shadow mode against the live broker ------------------------------------------------------------------------------

async def test_a_shadow_of_the_live_oms_sets_the_paper_fills_beside_the_exchanges(make_exchange, make_trader):
    # The exchange fills 20 bps worse than the last price; paper, beside it, at the price. The shadow follows the
    # live OMS's events: the broker's reports (NEW, then FILLED a poll later), not the requests it sends.
    exchange = await make_exchange(broker=MockBroker(slippage_bps=20))
    trader = await make_trader(exchange)
    shadow = await ok.shadow(trader)
    try:
        bought = await trader.place_order("INFY", "BUY", 10, product="MIS")
        resting = await trader.place_order("RELIANCE", "BUY", 4, "LIMIT", price=2400, product="MIS")
        await eventually(lambda: status(trader, bought) is S.FILLED and status(trader, resting) is S.OPEN,
                         "the exchange's fill and acceptance")
        await trader.cancel_order(resting.order_id)
        await eventually(lambda: status(trader, resting) is S.CANCELLED, "the cancel at the exchange")
        await shadow.drain()

        twin = shadow.oms.get_order(shadow.mirrored[bought.order_id])
        assert twin.status is S.FILLED and twin.average_price == Decimal(INFY)
        assert shadow.oms.get_order(shadow.mirrored[resting.order_id]).status is S.CANCELLED
        assert exchange.order_of(trader, bought) is not None  # the shadow sent nothing to the exchange
        assert len(exchange.oms.orders()) == 2
        drift = ok.compare(shadow, trader)
        row = drift.set_index("symbol").loc["INFY"]
        assert row["price_live"] == exchange.oms.trades().iloc[0]["price"] == Decimal("1503.00")
        assert row["price_shadow"] == Decimal("1500.00") and row["price_difference"] == Decimal("3.00")
        # Kite stamps trades to the second: the live fill's time is the exchange's, truncated, so it may read up to
        # a second before the order was placed (and mirrored).
        assert pd.Timedelta(seconds=-1) < row["delay"] < pd.Timedelta(seconds=10)
        assert shadow.status()["errors"] == 0
    finally:
        await shadow.close()
