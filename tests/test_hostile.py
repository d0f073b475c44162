"""Hostile input at the OMS's public methods: random calls with most fields valid and one or two not.

Whatever comes in, only OmsError subclasses escape, the store holds exactly what the OMS holds in memory, and a
valid order placed afterwards is stored. Run on DuckDB in memory, a DuckDB file and PostgreSQL; each example opens
an OMS of its own (an account of its own) on a loop of its own, as test_stateful does.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms_kit import (
    OMS,
    Instrument,
    InvalidOrderError,
    MockBroker,
    OmsError,
    OrderStatus,
    RiskLimits,
    SimulatedClock,
)
from oms_kit.tables import ORDER_COLUMNS, TRADE_COLUMNS
from tests.stubs import assert_store_matches

START = datetime(2026, 1, 5, 4, 0, tzinfo=UTC)
LIMITS = RiskLimits(max_orders_per_second=None, duplicate_window_s=None)

# Values that break naive code: wrong types, non-finite and huge numbers, texts a store or a table chokes on.
HOSTILE = st.sampled_from([
    None, True, False, 0, -1, 2**63, 2**64, -(2**63), 10**9 + 1, math.nan, math.inf, -math.inf, 1e308, 5e-324,
    0.1 + 0.2, "", " ", "abc", "NaN", "1e400", "-0", "١٢", "\x00", "RELI\x00ANCE", "A" * 10_000, "\n", b"RELIANCE",
    [], {}, (), object(), Decimal("1e400"), Decimal("NaN"), Decimal("sNaN"), Decimal("-0"), Decimal("1e-30"),
    Decimal("2500.123456789"), datetime(2026, 1, 1), 2500j,
])
VALID = {
    "symbol": st.sampled_from(["RELIANCE", "SBIN", "TCS", "NOSUCH"]),
    "side": st.sampled_from(["BUY", "SELL", "buy"]),
    "quantity": st.integers(1, 40),
    "order_type": st.sampled_from(["MARKET", "LIMIT", "SL", "SL-M"]),
    "price": st.sampled_from([2500, 2499.95, Decimal("801.05"), "800", 3900.03]),
    "trigger_price": st.sampled_from([2510, 790, Decimal("805")]),
    "product": st.sampled_from(["MIS", "CNC", "NRML"]),
    "validity": st.sampled_from(["DAY", "IOC"]),
    "client_order_id": st.one_of(st.none(), st.sampled_from(["bot-1", "bot-2", "bot-3"])),
    "tag": st.one_of(st.none(), st.sampled_from(["t", "swing"])),
    "volume": st.one_of(st.none(), st.sampled_from([0, 10, 1_000.5])),
    "reason": st.sampled_from(["because", "risk"]),
}


@st.composite
def arguments(draw: st.DrawFn, fields: tuple[str, ...]) -> tuple[dict[str, Any], frozenset[str]]:
    """Valid values for ``fields``, then one or two of them (sometimes none) replaced by hostile ones; and the names
    of those."""
    values = {name: draw(VALID[name]) for name in fields}
    hostile = draw(st.lists(st.sampled_from(fields), max_size=2, unique=True))
    for name in hostile:
        values[name] = draw(HOSTILE)
    return values, frozenset(hostile)


PLACE = ("symbol", "side", "quantity", "order_type", "price", "trigger_price", "product", "validity",
         "client_order_id", "tag")
CALLS = st.one_of(
    st.tuples(st.just("place"), arguments(PLACE)),
    st.tuples(st.just("validate"), arguments(PLACE[:-2])),
    st.tuples(st.just("modify"), arguments(("quantity", "price", "trigger_price"))),
    st.tuples(st.just("cancel"), arguments(("reason",))),
    st.tuples(st.just("set_price"), arguments(("symbol", "price", "volume"))),
    st.tuples(st.just("get_order"), st.tuples(st.fixed_dictionaries({}, optional={"order_id": HOSTILE}),
                                              st.just(frozenset({"order_id"})))),
)


async def _call(oms: OMS, name: str, drawn: tuple[dict[str, Any], frozenset[str]], known: list[str]) -> None:
    # An order type without a price or trigger is given none unless that value is the hostile one: a valid price
    # on a MARKET order is a refusal the example is not about.
    values, hostile = dict(drawn[0]), drawn[1]
    order_type = values.get("order_type")
    if order_type in ("MARKET", "SL-M") and "price" not in hostile:
        values["price"] = None
    if order_type in ("MARKET", "LIMIT") and "trigger_price" not in hostile:
        values["trigger_price"] = None
    target = known[-1] if known else "O-none-1"
    if name == "place":
        order = await oms.place_order(values.pop("symbol"), values.pop("side"), values.pop("quantity"),
                                      values.pop("order_type"), values.pop("price"), **values)
        known.append(order.order_id)
    elif name == "validate":
        oms.validate(values.pop("symbol"), values.pop("side"), values.pop("quantity"), values.pop("order_type"),
                     values.pop("price"), **values)
    elif name == "modify":
        await oms.modify_order(target, **values)
    elif name == "cancel":
        await oms.cancel_order(target, values["reason"])
    elif name == "set_price":
        await oms.set_price(values["symbol"], values["price"], values["volume"])
    else:
        oms.get_order(values.get("order_id", target))


async def _scenario(url: str, account: str, calls: list[Any]) -> None:
    oms = await OMS.open(url, account=account, feed=None, risk_interval=None, limits=LIMITS,
                         clock=SimulatedClock(START), broker=MockBroker(fees="india_equity"))
    try:
        await oms.set_price("RELIANCE", 2500)
        await oms.set_price("SBIN", 800)
        known: list[str] = []
        for name, values in calls:
            # A refusal, with a message naming the field, is allowed; anything else fails the test.
            with contextlib.suppress(OmsError):
                await _call(oms, name, values, known)
        await assert_store_matches(oms)
        await oms.set_price("RELIANCE", 2500)
        after = await oms.place_order("RELIANCE", "BUY", 1, "LIMIT", price=2450, client_order_id=f"after-{account}")
        assert after.status is OrderStatus.OPEN, after.violations
        await oms.flush()
        stored = await oms.store.fetch("SELECT status FROM orders WHERE order_id = $1", after.order_id)
        assert stored == [{"status": "OPEN"}]
    finally:
        await oms.close()


def _run(url: Callable[[], str], examples: int) -> None:
    accounts = itertools.count(1)

    @settings(max_examples=examples, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(calls=st.lists(CALLS, min_size=1, max_size=12))
    def check(calls: list[Any]) -> None:
        asyncio.run(_scenario(url(), f"hostile-{next(accounts)}", calls))

    check()


def test_hostile_calls_on_duckdb_in_memory() -> None:
    _run(lambda: "duckdb:///:memory:", examples=150)


def test_hostile_calls_on_a_duckdb_file(tmp_path: Path) -> None:
    files = itertools.count(1)
    _run(lambda: f"duckdb:///{tmp_path}/hostile-{next(files)}.duckdb", examples=60)


@pytest.mark.postgres
def test_hostile_calls_on_postgresql(pg_url: str) -> None:
    _run(lambda: pg_url, examples=80)


@pytest.mark.parametrize("value", [2**63, 10**9 + 1, 0, -5, 10.5, True, "10", None, math.nan])
async def test_a_quantity_the_store_cannot_hold_is_refused_at_the_door(value: Any) -> None:
    async with await OMS.open(feed=None, risk_interval=None) as oms:
        with pytest.raises(InvalidOrderError, match=r"invalid quantity: .* allowed: a whole number from 1 to "
                                                    r"1,000,000,000") as info:
            await oms.place_order("RELIANCE", "BUY", value, "LIMIT", price=2500)
        assert info.value.field == "quantity"
        assert oms.orders().empty


@pytest.mark.parametrize("value", [Decimal("1e400"), 1e10, Decimal("2500.123456789"), "abc", 0, -1, math.inf])
async def test_a_price_the_store_cannot_hold_is_refused_at_the_door(value: Any) -> None:
    async with await OMS.open(feed=None, risk_interval=None) as oms:
        with pytest.raises(InvalidOrderError, match=r"invalid price: .* at most 1,000,000,000, with at most 8 "
                                                    r"decimal places"):
            await oms.place_order("RELIANCE", "BUY", 1, "LIMIT", price=value)
        assert oms.orders().empty


async def test_one_bad_caller_among_twenty_good_ones_costs_them_nothing(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path}/crowd.duckdb"
    async with await OMS.open(url, feed=None, risk_interval=None, limits=LIMITS) as oms:
        await oms.set_price("RELIANCE", 2500)
        good = [oms.place_order("RELIANCE", "BUY", 1, "LIMIT", price=2400 + i) for i in range(20)]
        bad = oms.place_order("RELIANCE", "BUY", 2**63, "LIMIT", price=2400)
        results = await asyncio.gather(*good, bad, return_exceptions=True)
        assert isinstance(results[-1], InvalidOrderError)
        assert [r.status for r in results[:-1]] == [OrderStatus.OPEN] * 20  # type: ignore[union-attr]
        await assert_store_matches(oms)
    async with await OMS.open(url, feed=None, risk_interval=None, limits=LIMITS) as again:
        assert len(again.orders()) == 20


@pytest.mark.parametrize(("symbol", "field"), [(None, "symbol"), (math.nan, "symbol"), (2**63, "symbol"),
                                               (True, "symbol"), ("NOSUCH", "symbol")])
async def test_set_price_refuses_a_symbol_that_is_no_instrument(symbol: Any, field: str) -> None:
    async with await OMS.open(feed=None, risk_interval=None) as oms:
        with pytest.raises(OmsError, match=f"invalid {field}"):
            await oms.set_price(symbol, 100)
        assert oms.manager.prices == {}


@pytest.mark.parametrize("price", [None, [], "abc", 2**63, math.nan, -1, 0, Decimal("1e400")])
async def test_set_price_refuses_a_price_that_is_no_price(price: Any) -> None:
    async with await OMS.open(feed=None, risk_interval=None) as oms:
        with pytest.raises(OmsError, match="invalid price"):
            await oms.set_price("RELIANCE", price)
        assert oms.last_price("RELIANCE") is None


async def test_the_kill_switch_halts_whatever_its_reason() -> None:
    async with await OMS.open(feed=None, risk_interval=None) as oms:
        await oms.kill_switch(None)  # type: ignore[arg-type]
        assert oms.status()["trading_state"] == "HALTED"
        with pytest.raises(InvalidOrderError, match="invalid reason"):
            await oms.reset_kill_switch("\x00")


async def test_an_order_whose_records_the_store_refuses_is_forgotten_not_half_kept(tmp_path: Path) -> None:
    # A fault put into the store's write (the parser's bounds leave no value of the public API that the store
    # refuses): every write holding the tag "poison" fails as a row the store cannot hold.
    from oms_kit.storage import RowError

    async with await OMS.open(f"duckdb:///{tmp_path}/poison.duckdb", feed=None, risk_interval=None,
                              limits=LIMITS) as oms:
        write = oms.store.write

        async def poisoned(rows: Any) -> None:
            if any("poison" in values for _, values in rows):
                raise RowError("orders.tag cannot be stored", table="orders", column="tag", value="poison")
            await write(rows)

        oms.store.write = poisoned  # type: ignore[method-assign]
        await oms.set_price("RELIANCE", 2500)
        kept = await oms.place_order("RELIANCE", "BUY", 1, "LIMIT", price=2450)
        with pytest.raises(RowError, match=r"orders\.tag cannot be stored"):
            await oms.place_order("RELIANCE", "BUY", 1, "LIMIT", price=2451, tag="poison")
        assert list(oms.orders()["order_id"]) == [kept.order_id]
        assert oms.stats_today()["orders_placed"] == 1
        assert len(oms.manager.live) == 1
        await assert_store_matches(oms)
        after = await oms.place_order("RELIANCE", "BUY", 1, "LIMIT", price=2452)
        assert after.status is OrderStatus.OPEN


async def test_set_price_takes_a_computed_float_and_rounds_it_to_the_tick() -> None:
    async with await OMS.open(feed=None, risk_interval=None) as oms:
        assert await oms.set_price("RELIANCE", 3882.7150975866616) == Decimal("3882.70")
        assert await oms.set_price("RELIANCE", "2500.124") == Decimal("2500.10")
        assert await oms.set_price("RELIANCE", 0.0156) == Decimal("0.05")  # a positive price is at least one tick


# -- the read side: history filters and instrument definitions, on a durable store (where history reads the store) --

MOMENTS = st.one_of(st.none(), HOSTILE, st.sampled_from(["2026-01-05T09:00", "2026-01-04", START]),
                    st.datetimes(timezones=st.just(UTC)))
FILTERS = st.fixed_dictionaries({
    "symbol": st.one_of(st.none(), st.sampled_from(["RELIANCE", "NOSUCH"]), HOSTILE),
    "status": st.one_of(st.none(), st.sampled_from(["FILLED", "open"]), HOSTILE),
    "side": st.one_of(st.none(), st.sampled_from(["BUY", "sell"]), HOSTILE),
    "since": MOMENTS, "until": MOMENTS,
    "limit": st.one_of(st.none(), st.integers(-3, 5), HOSTILE),
})


async def _read_scenario(url: str, account: str, queries: list[dict[str, Any]], definitions: list[Any]) -> None:
    clock = SimulatedClock(START)
    oms = await OMS.open(url, account=account, feed=None, risk_interval=None, limits=LIMITS, clock=clock)
    await oms.set_price("RELIANCE", 2500)
    await oms.place_order("RELIANCE", "BUY", 1, "MARKET")
    await oms.close()
    clock.advance(86_400)  # a day later: yesterday's order is history in the store
    oms = await OMS.open(url, account=account, feed=None, risk_interval=None, limits=LIMITS, clock=clock)
    try:
        for query in queries:
            with contextlib.suppress(OmsError):
                orders = oms.orders(**query)
                assert list(orders.columns) == ORDER_COLUMNS
            trades_query = {k: v for k, v in query.items() if k in ("symbol", "since", "until", "limit")}
            with contextlib.suppress(OmsError):
                assert list(oms.trades(**trades_query).columns) == TRADE_COLUMNS
        known = dict(oms.manager.instruments)
        with contextlib.suppress(OmsError):
            oms.define_instruments(definitions)
        assert all(oms.manager.instruments[s] == i for s, i in known.items())  # nothing known was redefined
        assert len(oms.orders(since=START - timedelta(hours=1))) == 1
    finally:
        await oms.close()


def _run_reads(url: Callable[[], str], examples: int) -> None:
    accounts = itertools.count(1)

    @settings(max_examples=examples, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(queries=st.lists(FILTERS, min_size=1, max_size=6),
           definitions=st.one_of(HOSTILE, st.lists(st.one_of(HOSTILE, st.sampled_from([
               Instrument("NEWCO", tick_size=Decimal("0.01")), Instrument("RELIANCE", tick_size=Decimal("1"))])),
               max_size=3)))
    def check(queries: list[dict[str, Any]], definitions: Any) -> None:
        asyncio.run(_read_scenario(url(), f"reads-{next(accounts)}", queries, definitions))

    check()


def test_hostile_history_filters_and_definitions_on_a_duckdb_file(tmp_path: Path) -> None:
    files = itertools.count(1)
    _run_reads(lambda: f"duckdb:///{tmp_path}/reads-{next(files)}.duckdb", examples=40)


@pytest.mark.postgres
def test_hostile_history_filters_and_definitions_on_postgresql(pg_url: str) -> None:
    _run_reads(lambda: pg_url, examples=40)


@pytest.mark.parametrize("instruments", [True, 7, Instrument("NEWCO"), "RELIANCE"])
async def test_instruments_that_are_no_list_of_instruments_are_refused(instruments: Any) -> None:
    with pytest.raises(OmsError, match="invalid instruments"):
        await OMS.open(feed=None, risk_interval=None, instruments=instruments)
