"""ok.shadow: a paper OMS fed the prices and orders of a live one, and ok.compare setting their fills side by side.

The "live" OMS here is a real OMS whose MockBroker fills differently from the paper default (slippage, latency, a
broker that rejects), so the comparison has drift to show; one test takes its prices from a second OMS served with
its Kite-compatible API on a free port, through ``ok.KiteFeed`` and the official client.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import oms_kit as ok
from oms_kit.compare import compare_columns
from oms_kit.errors import ConfigError
from oms_kit.service import serve

ROOT = Path(__file__).resolve().parents[1]
START = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)  # a Monday, 09:30 in Mumbai
LIMITS = ok.RiskLimits(max_order_quantity=1000, max_orders_per_second=None, duplicate_window_s=None)
REQUEST_FIELDS = ("symbol", "side", "quantity", "order_type", "price", "trigger_price", "product", "validity",
                  "variety", "tag", "disclosed_quantity")


class Mixed(ok.Strategy):
    """Market buys, limit sells a little above the close, a stop under every buy, stale limits cancelled."""

    every = 4
    oversized = True

    def on_start(self, ctx):
        self.bars = {}

    def on_bar(self, ctx, bar):
        seen = self.bars[bar.symbol] = self.bars.get(bar.symbol, 0) + 1
        for order in ctx.open_orders(bar.symbol):
            if order.order_type is ok.OrderType.LIMIT and order.created_at < ctx.now:
                ctx.cancel(order)
        held = ctx.position(bar.symbol)
        if seen % self.every == 0 and held <= 0:
            ctx.buy(bar.symbol, 5 - held)
        elif seen % self.every == 2 and held > 0:
            ctx.sell(bar.symbol, held, "LIMIT", price=ctx.round_price(bar.symbol, bar.close * 1.0002))
        if seen == 3 and self.oversized:
            ctx.buy(bar.symbol, 5_000)  # over max_order_quantity: refused by the live OMS's checks

    def on_fill(self, ctx, fill):
        if fill.side is ok.Side.BUY:
            ctx.sell(fill.symbol, fill.quantity, "SL-M", trigger_price=ctx.round_price(fill.symbol,
                                                                                       float(fill.price) * 0.997))


def sample(rows: int) -> pd.DataFrame:
    frame = pd.read_parquet(ROOT / "data" / "nse_minute.parquet")
    return frame[frame["symbol"].isin(["TCS", "INFY"])].iloc[:rows].reset_index(drop=True)


async def open_live(broker: ok.MockBroker, start: datetime = START, **options: Any) -> ok.OMS:
    return await ok.OMS.open(feed=None, clock=ok.SimulatedClock(start), risk_interval=None, broker=broker,
                             limits=LIMITS, **options)


def request_of(order: ok.Order) -> tuple[Any, ...]:
    return tuple(getattr(order, name) for name in REQUEST_FIELDS)


def twins(shadow: ok.Shadow) -> list[tuple[ok.Order, ok.Order]]:
    """(live order, paper order) of every mirrored order, in the live OMS's placement order."""
    return [(shadow.live.get_order(live_id), shadow.oms.get_order(paper_id))
            for live_id, paper_id in shadow.mirrored.items()]


def slipped(instrument: ok.Instrument, price: Decimal, side: str, bps: float) -> Decimal:
    """The price a MockBroker with ``slippage_bps=bps`` fills a market order at, for a reference ``price``."""
    share = Decimal(str(bps)) / Decimal(10_000)
    return instrument.round_price(price * (1 + share if side == "BUY" else 1 - share))


async def until(condition: Callable[[], bool], what: str, limit: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not condition():
        if loop.time() > deadline:
            pytest.fail(f"waited in vain for {what}")
        await asyncio.sleep(0.01)


# -- a strategy's orders, mirrored -------------------------------------------------------------------------------------


async def test_a_strategys_orders_are_mirrored_one_for_one_and_compare_shows_the_slippage():
    data = sample(400)
    bps = 25.0
    live = await open_live(ok.MockBroker(slippage_bps=bps), data["timestamp"].iloc[0].to_pydatetime())
    try:
        shadow = await ok.shadow(live)
        trader = await ok.paper_trade(Mixed(), oms=live, feed=ok.ReplayFeed(data, speed=None))
        with pytest.warns(UserWarning, match="QUANTITY_EXCEEDS_MAXIMUM"):
            await trader
        await shadow.drain()

        placed = list(live.manager.orders.values())
        refused = [o for o in placed if o.violations]
        assert refused and all("QUANTITY_EXCEEDS_MAXIMUM" in {v.code for v in o.violations} for o in refused)
        pairs = twins(shadow)
        assert len(pairs) == len(placed) - len(refused) == shadow.status()["orders"]
        assert shadow.status()["skipped"] == len(refused)
        assert {o.order_type for o, _ in pairs} == {ok.OrderType.MARKET, ok.OrderType.LIMIT, ok.OrderType.SL_M}
        for live_order, paper_order in pairs:
            assert paper_order.order_id != live_order.order_id
            assert request_of(paper_order) == request_of(live_order)
        assert len(shadow.oms.manager.orders) == len(pairs)  # the shadow placed nothing else
        assert not set(shadow.oms.manager.orders) & set(live.manager.orders)  # and nothing of it reached the live
        assert shadow.status()["cancelled"] == sum(1 for o, _ in pairs if o.status is ok.OrderStatus.CANCELLED)
        assert shadow.status()["errors"] == shadow.status()["dropped"] == 0

        drift = ok.compare(shadow, live)
        assert list(drift.columns) == compare_columns(("shadow", "live"))
        assert len(drift) == len(shadow.oms.manager.trades) == len(live.manager.trades)
        assert set(drift["status"]) <= {"same", "price"}  # same bars, same times: only slippage moves a price
        assert (drift["delay"] == pd.Timedelta(0)).all()
        kinds: dict[tuple[str, str], list[ok.Order]] = {}
        for live_order, _ in pairs:
            kinds.setdefault((live_order.symbol, live_order.side.value), []).append(live_order)
        for row in drift.itertuples():
            order = kinds[(row.symbol, row.side)][row.order_number]
            if order.order_type is ok.OrderType.LIMIT:
                expected = row.price_shadow  # a limit never slips
            else:
                expected = slipped(live.instrument(row.symbol), row.price_shadow, row.side, bps)
            assert row.price_live == expected
            assert row.price_difference == expected - row.price_shadow
        assert (drift["status"] == "price").sum() > 0
    finally:
        await shadow.close()
        await live.close()


async def test_compare_shows_the_delay_and_price_a_live_latency_implies():
    latency = 3.0
    live = await open_live(ok.MockBroker(latency=latency, fees=None))
    try:
        await live.set_price("INFY", 1500)
        shadow = await ok.shadow(live)
        await live.place_order("INFY", "BUY", 10, "MARKET")
        live.clock.set(START + timedelta(seconds=latency))
        await live.set_price("INFY", 1503.5)  # the first price the live order may fill on
        await shadow.drain()

        drift = ok.compare(shadow, live)
        assert len(drift) == 1
        row = drift.iloc[0]
        assert row["status"] == "price"
        assert row["price_shadow"] == Decimal(1500) and row["price_live"] == Decimal("1503.5")
        assert row["price_difference"] == Decimal("3.5")
        assert row["delay"] == pd.Timedelta(seconds=latency)
        assert row["ts_shadow"] == START  # paper filled when the live OMS placed it
    finally:
        await shadow.close()
        await live.close()


async def test_orders_the_live_broker_rejects_are_mirrored_and_show_as_missing_in_live():
    live = await open_live(ok.MockBroker(reject_rate=1.0))
    try:
        await live.set_price("TCS", 3900)
        shadow = await ok.shadow(live)
        rejected = [await live.place_order("TCS", side, 3, "MARKET") for side in ("BUY", "SELL", "BUY")]
        refused = await live.place_order("TCS", "BUY", 5_000, "MARKET")  # the live OMS's checks refuse it
        await shadow.drain()
        assert all(live.get_order(o.order_id).status is ok.OrderStatus.REJECTED for o in rejected)
        assert refused.violations and refused.order_id not in shadow.mirrored
        assert list(shadow.mirrored) == [o.order_id for o in rejected]
        drift = ok.compare(shadow, live)
        assert list(drift["status"]) == ["missing in live"] * 3
        assert sorted(zip(drift["side"], drift["order_number"], strict=True)) == [("BUY", 0), ("BUY", 1), ("SELL", 0)]
        assert drift["price_live"].isna().all() and (drift["price_shadow"] == Decimal(3900)).all()
    finally:
        await shadow.close()
        await live.close()


async def test_compare_counts_only_the_live_orders_the_shadow_mirrored():
    live = await open_live(ok.MockBroker(slippage_bps=10))
    try:
        await live.set_price("INFY", 1500)
        await live.place_order("INFY", "BUY", 7, "MARKET")  # before the shadow: it has no twin
        shadow = await ok.shadow(live)
        await live.place_order("INFY", "BUY", 4, "MARKET")
        await shadow.drain()
        drift = ok.compare(shadow, live)
        assert list(drift["quantity_live"]) == list(drift["quantity_shadow"]) == [4]
        assert drift["order_number"].tolist() == [0]
        old = ok.compare(shadow, live, labels=("paper", "broker"))
        assert {"price_paper", "price_broker"} <= set(old.columns)
    finally:
        await shadow.close()
        await live.close()


async def test_a_quote_reaches_the_shadow_with_its_book():
    live = await open_live(ok.MockBroker())
    try:
        shadow = await ok.shadow(live)
        await live.push_bar(ok.Quote(live.clock.now(), "TCS", 3900.0, 100, bids=[(3899.95, 40)],
                                     asks=[(3900.05, 25), (3900.10, 60)]))
        await live.place_order("TCS", "BUY", 50, "MARKET")
        await shadow.drain()
        drift = ok.compare(shadow, live)
        # Both walked the same two levels of the book: 25 at 3900.05, 25 at 3900.10.
        assert list(drift["status"]) == ["same", "same"]
        assert list(drift["price_shadow"]) == [Decimal("3900.05"), Decimal("3900.10")]
    finally:
        await shadow.close()
        await live.close()


# -- modify and cancel -------------------------------------------------------------------------------------------------


async def test_modifies_and_cancels_are_mirrored_and_a_paper_order_that_ended_first_is_missed():
    live = await open_live(ok.MockBroker(latency=5.0))
    try:
        await live.set_price("INFY", 1500)
        shadow = await ok.shadow(live)
        resting = await live.place_order("INFY", "BUY", 10, "LIMIT", price=1450)
        stop = await live.place_order("INFY", "SELL", 5, "SL", price=1390, trigger_price=1400)
        marketable = await live.place_order("INFY", "BUY", 3, "LIMIT", price=1510)  # paper fills it at once
        await live.modify_order(resting.order_id, quantity=12, price=1455.5)
        await live.modify_order(stop.order_id, trigger_price=1405)
        await live.cancel_order(marketable.order_id)
        await shadow.drain()

        twin = {live_id: shadow.oms.get_order(paper_id) for live_id, paper_id in shadow.mirrored.items()}
        assert (twin[resting.order_id].quantity, twin[resting.order_id].price) == (12, Decimal("1455.5"))
        assert twin[stop.order_id].trigger_price == Decimal(1405) and twin[stop.order_id].price == Decimal(1390)
        assert twin[marketable.order_id].status is ok.OrderStatus.FILLED  # paper filled before the cancel came
        assert shadow.status()["modified"] == 2 and shadow.status()["missed"] == 1

        await live.cancel_order(resting.order_id, reason="changed my mind")
        await live.cancel_all()
        await shadow.drain()
        assert twin[resting.order_id].status is ok.OrderStatus.CANCELLED
        assert twin[resting.order_id].reason == "cancelled on the live OMS"
        assert twin[stop.order_id].status is ok.OrderStatus.CANCELLED
        assert shadow.oms.active_orders().empty
        assert shadow.status()["cancelled"] == 2
    finally:
        await shadow.close()
        await live.close()


async def test_a_day_order_that_expires_at_the_live_broker_ends_on_the_shadow():
    live = await open_live(ok.MockBroker())
    try:
        await live.set_price("INFY", 1500)
        shadow = await ok.shadow(live)
        order = await live.place_order("INFY", "BUY", 10, "LIMIT", price=1400)
        await live.end_session()
        await shadow.drain()
        assert live.get_order(order.order_id).status is ok.OrderStatus.EXPIRED
        assert shadow.oms.get_order(shadow.mirrored[order.order_id]).status is ok.OrderStatus.CANCELLED
        assert shadow.status()["expired"] == 1
    finally:
        await shadow.close()
        await live.close()


# -- failures and stopping ---------------------------------------------------------------------------------------------


async def test_a_broken_shadow_leaves_the_live_oms_trading_and_counts_its_errors():
    live = await open_live(ok.MockBroker(slippage_bps=5))
    try:
        await live.set_price("TCS", 3900)
        shadow = await ok.shadow(live)
        await live.place_order("TCS", "BUY", 2, "MARKET")
        await shadow.drain()
        await shadow.oms.close()  # the paper OMS closed under the shadow

        orders = [await live.place_order("TCS", "BUY", 2, "MARKET") for _ in range(3)]
        await live.set_price("TCS", 3910)
        assert all(live.get_order(o.order_id).status is ok.OrderStatus.FILLED for o in orders)
        await shadow.drain()
        status = shadow.status()
        assert status["errors"] >= 4  # three orders and a price
        assert "closed" in status["last_error"]
        assert status["orders"] == 1 and status["running"]
        assert live.bus.errors == 0  # nothing raised into the live OMS's publishing
        # The live OMS trades on, and the shadow still stops cleanly.
        more = await live.place_order("TCS", "SELL", 8, "MARKET")
        assert more.status is ok.OrderStatus.FILLED
        await shadow.close()
        assert not shadow.status()["running"]
    finally:
        await shadow.close()
        await live.close()


async def test_close_stops_mirroring_and_leaves_the_records_readable():
    live = await open_live(ok.MockBroker())
    try:
        await live.set_price("INFY", 1500)
        async with await ok.shadow(live) as shadow:
            first = await live.place_order("INFY", "BUY", 5, "MARKET")
        assert shadow.closed and shadow.oms.closed
        await live.place_order("INFY", "BUY", 6, "MARKET")
        await live.set_price("INFY", 1501)
        assert list(shadow.mirrored) == [first.order_id]  # what came before close was mirrored; nothing after
        assert shadow.status()["prices"] == 0 and not live.bus.wants("order")
        assert list(shadow.orders()["quantity"]) == [5]
        assert list(shadow.trades()["price"]) == [Decimal(1500)]
        assert len(ok.compare(shadow, live)) == 1
        await shadow.close()  # again: nothing
    finally:
        await live.close()


async def test_a_shadow_refuses_an_oms_that_cannot_be_shadowed():
    live = await open_live(ok.MockBroker())
    await live.close()
    with pytest.raises(ok.OmsError, match="closed"):
        await ok.shadow(live)
    with pytest.raises(ConfigError, match="invalid live: 'str'"):
        await ok.shadow("live")  # type: ignore[arg-type]


# -- live prices from a served "exchange" through KiteFeed ------------------------------------------------------------


async def test_paper_trading_on_kite_prices_with_a_shadow_beside_it():
    exchange = await ok.OMS.open(feed=None, risk_interval=None, limits=LIMITS, clock=ok.SimulatedClock(START))
    await exchange.set_price("INFY", 1500)
    server = await serve(exchange, port=0)
    bps = 40.0
    feed = ok.KiteFeed(["INFY"], api_key=exchange.account, access_token=server.token, root=server.url,
                       sleep=lambda seconds: asyncio.sleep(min(seconds, 0.01)))
    live = await ok.OMS.open(feed=feed, risk_interval=None, limits=LIMITS, market_hours=False,
                             broker=ok.MockBroker(slippage_bps=bps))
    try:
        shadow = await ok.shadow(live)

        class EveryPrice(ok.Strategy):  # buys on every new price, sells once it holds 6
            def on_bar(self, ctx, bar):
                if ctx.position(bar.symbol) >= 6:
                    ctx.sell(bar.symbol, ctx.position(bar.symbol))
                else:
                    ctx.buy(bar.symbol, 2)

        trader = await ok.paper_trade(EveryPrice(), oms=live)  # prices from the OMS's own feed: KiteFeed's
        for price in (1500.5, 1502, 1501.25, 1499, 1498.5):
            await exchange.set_price("INFY", price)
            await until(lambda p=price: live.last_price("INFY") == Decimal(str(p)), f"INFY at {price}")
        await until(lambda: trader.stats["fills"] >= 5, "the strategy's fills")
        await trader.stop()
        await shadow.drain()

        assert feed.status()["failed_polls"] == 0
        pairs = twins(shadow)
        assert len(pairs) == len(trader.placed) >= 5
        assert all(request_of(a) == request_of(b) for a, b in pairs)
        drift = ok.compare(shadow, live)
        assert len(drift) == len(trader.fills) and set(drift["status"]) == {"price"}
        for row in drift.itertuples():
            assert row.price_live == slipped(live.instrument("INFY"), row.price_shadow, row.side, bps)
        # The shadow's marks are the served prices too.
        assert shadow.oms.last_price("INFY") == live.last_price("INFY")
    finally:
        await shadow.close()
        await live.close()
        await server.stop()
        await exchange.close()


# -- hostile arguments -------------------------------------------------------------------------------------------------

HOSTILE = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                    st.decimals(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                    st.lists(st.text(max_size=6), max_size=3), st.tuples(st.text(max_size=8), st.text(max_size=8)),
                    st.binary(max_size=4), st.just(object()), st.just(ok.MockBroker()))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(real_live=st.booleans(), live=HOSTILE, broker=HOSTILE, cash=HOSTILE, queue_size=HOSTILE)
@example(real_live=True, live=None, broker=None, cash=Decimal("NaN"), queue_size=10)
@example(real_live=True, live=None, broker=None, cash=Decimal("sNaN"), queue_size=10)
@example(real_live=True, live=None, broker=None, cash=10**40, queue_size=True)
@example(real_live=True, live=None, broker=None, cash=10**40, queue_size=5)
def test_hostile_arguments_to_shadow_get_a_config_error_naming_them(real_live, live, broker, cash, queue_size):
    async def attempt() -> None:
        oms = await open_live(ok.MockBroker()) if real_live else None
        try:
            made = await ok.shadow(oms if real_live else live, broker=broker, cash=cash, queue_size=queue_size)
        except ConfigError as error:
            assert error.field in {"live", "broker", "cash", "queue_size"}
            assert error.field in str(error)
        else:
            assert real_live
            assert isinstance(broker, ok.MockBroker) or broker is None
            assert queue_size in range(1, 10**6 + 1) and not isinstance(queue_size, bool)
            assert cash is None or (0 < cash < math.inf and not (isinstance(cash, Decimal) and cash.is_nan()))
            await made.close()
        finally:
            if oms is not None:
                await oms.close()

    asyncio.run(attempt())


@settings(max_examples=200, deadline=None)
@given(labels=HOSTILE)
def test_hostile_compare_labels_get_a_config_error(labels):
    trades = RUNS["result"]
    try:
        frame = ok.compare(trades, trades, labels=labels)
    except ConfigError as error:
        assert error.field == "labels"
    else:
        first, second = labels if labels is not None else ("backtest", "paper")
        assert first != second and {f"price_{first}", f"price_{second}"} <= set(frame.columns)
        assert len(set(frame.columns)) == len(frame.columns)


RUNS: dict[str, Any] = {}


@pytest.fixture(autouse=True, scope="module")
def backtest_run() -> None:
    RUNS["result"] = ok.backtest(Mixed(oversized=False), sample(60))
