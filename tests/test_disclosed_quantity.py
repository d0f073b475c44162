"""Disclosed quantity (NSE's DQ): an order may show only part of itself at a time. Taken at every door (the OMS's
methods, the REST API's model, Kite's form), checked by DISCLOSED_QUANTITY with the numbers in the violation,
changed by a modify, stored and read back after a reopen (DuckDB file, PostgreSQL, a database of before the
column), shown wherever the quantity is; and it changes no fill.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

import oms_kit as ok
from oms_kit import storage
from oms_kit.errors import InvalidOrderError
from oms_kit.orders import OrderModifyRejected
from oms_kit.service import serve
from oms_kit.storage.duckdb import SCHEMA_MIGRATIONS
from oms_kit.storage.records import order_row
from tests.stubs import assert_store_matches

S = ok.OrderStatus
LIMITS = ok.RiskLimits(max_orders_per_second=None, duplicate_window_s=None)
FNO_LIMITS = ok.RiskLimits(max_order_value=None, max_order_quantity=None, max_orders_per_second=None,
                           duplicate_window_s=None)
MASTER = ok.Instruments.sample()
NOV_FUT = "NIFTY25NOVFUT"
ALLOWED = "a whole number from 0 (all of the order shown) to 1,000,000,000"


async def open_oms(url: str = "duckdb:///:memory:", **options: Any) -> ok.OMS:
    options.setdefault("limits", LIMITS)
    options.setdefault("cash", 100_000_000)  # room for every order here: only the rule under test may refuse one
    oms = await ok.OMS.open(url, feed=None, risk_interval=None, **options)
    await oms.set_price("RELIANCE", 2500)
    return oms


def codes(order: ok.Order) -> list[str]:
    return [v.code for v in order.violations]


def minimum(quantity: int) -> int:
    """10% of the quantity, rounded up, as a whole number: NSE's least disclosed quantity (the test's own sum)."""
    return math.ceil(Decimal(quantity) / 10)


# -- taken, stored and shown ------------------------------------------------------------------------------------------


async def test_an_order_with_a_disclosed_quantity_is_accepted_stored_and_shown_where_the_quantity_is():
    oms = await open_oms()
    try:
        order = await oms.place_order("RELIANCE", "BUY", 100, "LIMIT", 2450, disclosed_quantity=10)
        whole = await oms.place_order("RELIANCE", "BUY", 40, "SL", 2560, trigger_price=2550, disclosed_quantity=40)
        plain = await oms.place_order("RELIANCE", "BUY", 7, "LIMIT", 2440)

        assert (order.status, order.disclosed_quantity) == (S.OPEN, 10)
        assert (whole.status, whole.disclosed_quantity) == (S.TRIGGER_PENDING, 40)  # all of it: allowed
        assert (plain.status, plain.disclosed_quantity) == (S.OPEN, 0)
        table = oms.orders().set_index("order_id")
        assert list(table.columns).index("disclosed_quantity") == list(table.columns).index("quantity") + 1
        assert table.loc[order.order_id, "disclosed_quantity"] == 10 and table.loc[plain.order_id,
                                                                                   "disclosed_quantity"] == 0
        views = {view.order_id: view for view in oms.snapshot().working_orders}
        assert (views[order.order_id].quantity, views[order.order_id].disclosed_quantity) == (100, 10)
        assert oms.get_order(order.order_id).to_dict()["disclosed_quantity"] == 10
        await oms.flush()
        rows = await oms.store.fetch("SELECT order_id, disclosed_quantity FROM orders")
        assert {r["order_id"]: r["disclosed_quantity"] for r in rows} == {
            order.order_id: 10, whole.order_id: 40, plain.order_id: 0}
        await assert_store_matches(oms)
    finally:
        await oms.close()


async def test_the_dry_run_reports_the_check_with_its_numbers_and_skips_it_without_one():
    oms = await open_oms()
    try:
        rows = oms.validate("RELIANCE", "BUY", 25, "LIMIT", 2450, disclosed_quantity=3).set_index("name")
        shown = rows.loc["disclosed_quantity"]
        assert (shown["code"], shown["passed"], shown["value"], shown["limit"]) == ("DISCLOSED_QUANTITY", True, 3, 3)
        low = oms.validate(ok.OrderRequest("RELIANCE", "BUY", 25, "LIMIT", 2450, disclosed_quantity=2))
        failed = low.set_index("name").loc["disclosed_quantity"]
        assert (failed["passed"], failed["value"], failed["limit"]) == (False, 2, 3)
        without = oms.validate("RELIANCE", "BUY", 25, "LIMIT", 2450).set_index("name").loc["disclosed_quantity"]
        assert bool(without["skipped"]) and bool(without["passed"])
        assert oms.orders().empty  # a dry run records nothing
    finally:
        await oms.close()


async def test_a_disclosed_quantity_changes_no_fill():
    # The simulated book has no other traders: the hidden part fills as the shown part does, at once.
    oms = await open_oms()
    try:
        hidden = await oms.place_order("RELIANCE", "BUY", 100, "LIMIT", 2450, disclosed_quantity=10)
        shown = await oms.place_order("RELIANCE", "BUY", 100, "LIMIT", 2450)
        await oms.set_price("RELIANCE", 2449)

        assert (hidden.status, hidden.filled_quantity, hidden.average_price) == (
            shown.status, shown.filled_quantity, shown.average_price) == (S.FILLED, 100, Decimal("2449.00"))
        trades = oms.trades()
        assert sorted(trades.groupby("order_id")["quantity"].apply(list).tolist()) == [[100], [100]]
    finally:
        await oms.close()


# -- the rule ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("quantity", "disclosed"), [(100, 9), (25, 2), (1000, 99), (11, 1), (100, 101), (5, 6)])
async def test_a_disclosed_quantity_below_ten_percent_or_above_the_quantity_is_rejected_with_the_numbers(
        quantity: int, disclosed: int):
    oms = await open_oms()
    try:
        order = await oms.place_order("RELIANCE", "SELL", quantity, "LIMIT", 2550, product="CNC",
                                      disclosed_quantity=disclosed)
        assert order.status is S.REJECTED and codes(order) == ["DISCLOSED_QUANTITY"]
        [violation] = order.violations
        if disclosed > quantity:
            assert (violation.limit, violation.value) == (quantity, disclosed)
            assert f"disclosed quantity {disclosed} is more than the quantity {quantity}" in violation.message
        else:
            least = minimum(quantity)
            assert disclosed < least and (violation.limit, violation.value) == (least, disclosed)
            assert f"below 10% of the quantity {quantity}: at least {least}" in violation.message
            fine = await oms.place_order("RELIANCE", "SELL", quantity, "LIMIT", 2550, product="CNC",
                                         disclosed_quantity=least)
            assert fine.status is S.OPEN, fine.violations  # the least allowed is allowed
        await oms.flush()
        stored = await oms.store.fetch("SELECT violations, disclosed_quantity FROM orders WHERE order_id = $1",
                                       order.order_id)
        assert stored[0]["disclosed_quantity"] == disclosed and "DISCLOSED_QUANTITY" in stored[0]["violations"]
    finally:
        await oms.close()


@pytest.mark.parametrize(("order_type", "fields"), [("MARKET", {}), ("SL-M", {"trigger_price": 2510})])
async def test_an_order_that_takes_the_book_at_once_cannot_disclose_part_of_itself(order_type: str,
                                                                                     fields: dict[str, Any]):
    oms = await open_oms()
    try:
        order = await oms.place_order("RELIANCE", "BUY", 100, order_type, disclosed_quantity=50, **fields)
        assert codes(order) == ["DISCLOSED_QUANTITY"]
        assert (order.violations[0].limit, order.violations[0].value) == (0, 50)
        assert f"not allowed for a {order_type} order" in order.violations[0].message
        plain = await oms.place_order("RELIANCE", "BUY", 100, order_type, **fields)
        assert "DISCLOSED_QUANTITY" not in codes(plain)
    finally:
        await oms.close()


async def test_a_future_cannot_carry_a_disclosed_quantity():
    clock = ok.SimulatedClock(datetime(2025, 11, 3, 5, 0, tzinfo=UTC))  # a Monday, before the contract's expiry
    oms = await ok.OMS.open(feed=None, risk_interval=None, clock=clock, instruments=MASTER, limits=FNO_LIMITS,
                            cash=100_000_000, fees=None)
    try:
        await oms.set_price(NOV_FUT, 25800)
        order = await oms.place_order(NOV_FUT, "BUY", 750, "LIMIT", 25800, product="NRML", disclosed_quantity=75)
        assert codes(order) == ["DISCLOSED_QUANTITY"]
        [violation] = order.violations
        assert (violation.limit, violation.value) == (0, 75)
        assert f"not allowed for {NOV_FUT}, a FUT contract" in violation.message
        without = await oms.place_order(NOV_FUT, "BUY", 750, "LIMIT", 25700, product="NRML")
        assert without.status is S.OPEN, without.violations
    finally:
        await oms.close()


# -- a modify ----------------------------------------------------------------------------------------------------------


async def test_a_modify_changes_the_disclosed_quantity_and_is_checked_with_the_new_quantity():
    oms = await open_oms()
    try:
        order = await oms.place_order("RELIANCE", "BUY", 100, "LIMIT", 2450, disclosed_quantity=10)

        await oms.modify_order(order.order_id, disclosed_quantity=25)
        assert order.disclosed_quantity == 25 and order.status is S.OPEN
        with pytest.raises(OrderModifyRejected) as refused:
            await oms.modify_order(order.order_id, quantity=300)  # 25 is below 10% of 300
        assert [(v.code, v.limit, v.value) for v in refused.value.violations] == [("DISCLOSED_QUANTITY", 30, 25)]
        assert (order.quantity, order.disclosed_quantity, order.status) == (100, 25, S.OPEN)
        with pytest.raises(InvalidOrderError) as malformed:
            await oms.modify_order(order.order_id, disclosed_quantity=-1)
        assert malformed.value.field == "disclosed_quantity" and malformed.value.value == -1
        await oms.modify_order(order.order_id, quantity=300, disclosed_quantity=30)
        assert (order.quantity, order.disclosed_quantity) == (300, 30)
        await oms.modify_order(order.order_id, disclosed_quantity=0)
        assert order.disclosed_quantity == 0
        await assert_store_matches(oms)
        rows = await oms.store.fetch("SELECT disclosed_quantity FROM orders WHERE order_id = $1", order.order_id)
        assert rows == [{"disclosed_quantity": 0}]
    finally:
        await oms.close()


# -- kept across a reopen ---------------------------------------------------------------------------------------------


async def test_the_disclosed_quantity_survives_a_reopen(durable_url: str):
    oms = await open_oms(durable_url)
    resting = await oms.place_order("RELIANCE", "BUY", 100, "LIMIT", 2450, disclosed_quantity=10)
    rejected = await oms.place_order("RELIANCE", "BUY", 100, "LIMIT", 2450, disclosed_quantity=5)
    changed = await oms.place_order("RELIANCE", "SELL", 60, "LIMIT", 2600, product="CNC", disclosed_quantity=6)
    await oms.modify_order(changed.order_id, disclosed_quantity=20)
    await oms.close()

    again = await open_oms(durable_url)
    try:
        assert again.get_order(resting.order_id).disclosed_quantity == 10
        assert again.get_order(changed.order_id).disclosed_quantity == 20
        assert (again.get_order(rejected.order_id).disclosed_quantity, codes(again.get_order(rejected.order_id))) \
            == (5, ["DISCLOSED_QUANTITY"])
        table = again.orders().set_index("order_id")["disclosed_quantity"].to_dict()
        assert table == {resting.order_id: 10, rejected.order_id: 5, changed.order_id: 20}
        # The restored order is checked again as it stands: a larger quantity needs a larger disclosed quantity.
        with pytest.raises(OrderModifyRejected):
            await again.modify_order(resting.order_id, quantity=500)
        await again.set_price("RELIANCE", 2449)
        assert again.get_order(resting.order_id).filled_quantity == 100
    finally:
        await again.close()


async def test_orders_stored_before_the_column_read_back_showing_all_of_themselves(durable_url: str):
    # The database as migration 5 left it, with an order in it; migrating applies 6 (and those after it).
    placed = ok.Order("O-old-1", "C-old-1", "RELIANCE", ok.Side.BUY, 10, ok.OrderType.LIMIT,  # type: ignore[arg-type]
                      price=Decimal("2450"), account="old", status=S.OPEN, sequence=2)
    placed.created_at = placed.updated_at = datetime.now(UTC)
    store = await storage.open_store(durable_url, migrate=False)
    try:
        await store.fetch(SCHEMA_MIGRATIONS)
        for migration in storage.read_migrations()[:5]:
            body = "\n".join(line for line in migration.sql.splitlines() if not line.startswith("--"))
            for statement in body.split(";"):
                if statement.strip():
                    await store.fetch(statement)
            await store.fetch("INSERT INTO schema_migrations VALUES ($1, $2, now())", migration.version,
                              migration.name)
        values = order_row(placed)[1][:-1]  # without the disclosed quantity, which this schema has no column for
        await store.fetch(f"INSERT INTO orders VALUES ({', '.join(f'${i + 1}' for i in range(len(values)))})",
                          *values)
        await store.fetch("INSERT INTO accounts VALUES ($1, $2, $3, NULL, NULL, NULL, NULL)", "old",
                          Decimal(1_000_000), placed.created_at)
        assert (await store.migrate())[0] == 6
    finally:
        await store.close()

    oms = await ok.OMS.open(durable_url, account="old", feed=None, risk_interval=None, limits=LIMITS)
    try:
        restored = oms.get_order("O-old-1")
        assert (restored.quantity, restored.disclosed_quantity, restored.status) == (10, 0, S.OPEN)
        assert oms.active_orders()["disclosed_quantity"].tolist() == [0]
        await oms.modify_order("O-old-1", disclosed_quantity=5)  # the new column takes the change
        rows = await oms.store.fetch("SELECT disclosed_quantity FROM orders WHERE order_id = 'O-old-1'")
        assert rows == [{"disclosed_quantity": 5}]
    finally:
        await oms.close()


# -- hostile values at the door -------------------------------------------------------------------------------------


HOSTILE = [None, True, False, -1, -(2**63), 2**63, 10**9 + 1, 1.5, math.nan, math.inf, -math.inf, 1e308, "10", "",
           "0", b"1", [], {}, object(), Decimal("NaN"), Decimal("sNaN"), Decimal("1e999999999"), Decimal("-0.5"),
           Decimal("10.000000001"), 10j]
WHOLE = st.one_of(st.integers(0, 300), st.integers(0, 300).map(float), st.integers(0, 300).map(Decimal),
                  st.just(10**9))
VALUES = st.one_of(st.sampled_from(HOSTILE), WHOLE, st.integers(), st.floats(), st.text(max_size=5))


def well_formed(value: Any) -> int | None:
    """The disclosed quantity ``value`` stands for, or None when it is none (the test's own reading)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return None
    if isinstance(value, Decimal) and not (value.is_finite() and value == value.to_integral_value()):
        return None
    return int(value) if 0 <= value <= 10**9 else None


async def _hostile_place_orders(url: str) -> None:
    oms = await open_oms(url)
    loop = asyncio.get_running_loop()
    outcome = {"placed": 0, "refused": 0}

    def run(coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=30)

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(value=VALUES, quantity=st.integers(1, 300), order_type=st.sampled_from(["LIMIT", "MARKET"]))
    def check(value: Any, quantity: int, order_type: str) -> None:
        before = len(oms.manager.orders)
        expected = well_formed(value)
        price = 2400 if order_type == "LIMIT" else None
        try:
            order = run(oms.place_order("RELIANCE", "BUY", quantity, order_type, price, product="CNC",
                                        disclosed_quantity=value))
        except InvalidOrderError as error:
            assert expected is None, (value, error)
            assert error.field == "disclosed_quantity" and error.allowed == ALLOWED
            assert "disclosed_quantity" in str(error) and error.value is value
            assert len(oms.manager.orders) == before  # nothing registered, nothing to store
            outcome["refused"] += 1
            return
        assert expected is not None, value
        assert order.disclosed_quantity == expected and type(order.disclosed_quantity) is int
        breaks = expected != 0 and (order_type == "MARKET" or expected > quantity or expected < minimum(quantity))
        assert ("DISCLOSED_QUANTITY" in codes(order)) == breaks, (value, quantity, order.violations)
        assert len(oms.manager.orders) == before + 1
        outcome["placed"] += 1

    try:
        await asyncio.to_thread(check)
        await assert_store_matches(oms)
        stored = await oms.store.fetch("SELECT count(*) AS n FROM orders")
        assert int(stored[0]["n"]) == outcome["placed"] == len(oms.orders())
        assert outcome["placed"] > 20 and outcome["refused"] > 20, outcome
    finally:
        await oms.close()


async def test_hostile_disclosed_quantities_on_place_order_in_memory():
    await _hostile_place_orders("duckdb:///:memory:")


async def test_hostile_disclosed_quantities_on_place_order_on_a_duckdb_file(tmp_path: Path):
    await _hostile_place_orders(f"duckdb:///{tmp_path}/hostile.duckdb")


def test_the_request_names_the_field_the_value_and_what_is_allowed():
    with pytest.raises(InvalidOrderError) as error:
        ok.OrderRequest("RELIANCE", "BUY", 10, "LIMIT", 2450, disclosed_quantity=2.5)
    assert (error.value.field, error.value.value, error.value.allowed) == ("disclosed_quantity", 2.5, ALLOWED)
    assert ok.OrderRequest("RELIANCE", "BUY", 10, "LIMIT", 2450, disclosed_quantity=5.0).disclosed_quantity == 5
    request = ok.OrderRequest("RELIANCE", "BUY", 10, "LIMIT", 2450, disclosed_quantity=5)
    assert request.to_dict()["disclosed_quantity"] == 5 and ok.OrderRequest(**request.to_dict()) == request
    # Another disclosed quantity is another order: no retry of it.
    assert not request.same_payload(request.replace(disclosed_quantity=6))
    # A huge Decimal is refused by its exponent, without building its digits (a quantity's too).
    for field in ("quantity", "disclosed_quantity"):
        with pytest.raises(InvalidOrderError) as huge:
            ok.OrderRequest(**{**request.to_dict(), field: Decimal("1e999999999")})
        assert huge.value.field == field


# -- the REST API ----------------------------------------------------------------------------------------------------


async def test_the_rest_api_and_its_client_take_and_show_the_disclosed_quantity():
    oms = await open_oms()
    server = await serve(oms, port=0)
    remote = await ok.connect(server.url, token=server.token)
    try:
        order = await remote.place_order("RELIANCE", "BUY", 100, "LIMIT", 2450, disclosed_quantity=10)
        assert (order.status, order.disclosed_quantity) == (S.OPEN, 10)
        changed = await remote.modify_order(order.order_id, disclosed_quantity=40)
        assert changed.disclosed_quantity == 40 == oms.get_order(order.order_id).disclosed_quantity
        low = await remote.place_order("RELIANCE", "BUY", 100, "LIMIT", 2450, disclosed_quantity=9)
        assert [(v.code, v.limit, v.value) for v in low.violations] == [("DISCLOSED_QUANTITY", 10, 9)]
        with pytest.raises(InvalidOrderError) as malformed:
            await remote.place_order("RELIANCE", "BUY", 100, "LIMIT", 2450, disclosed_quantity=-3)
        assert malformed.value.field == "disclosed_quantity"
        async with httpx.AsyncClient(base_url=server.url,
                                     headers={"Authorization": f"Bearer {server.token}"}) as http:
            listed = (await http.get("/api/oms/orders")).json()
            assert [o["disclosed_quantity"] for o in listed] == [40, 9]
            refused = await http.post("/api/oms/orders", json={"symbol": "RELIANCE", "side": "BUY", "quantity": 10,
                                                               "order_type": "LIMIT", "price": 2450,
                                                               "disclosed_quantity": 2.5})
            assert refused.status_code == 422 and refused.json()["field"] == "disclosed_quantity"
        assert len(oms.orders()) == 2  # the malformed ones recorded nothing
    finally:
        await remote.close()
        await server.stop()
        await oms.close()


# -- Kite Connect -----------------------------------------------------------------------------------------------------


class Kite:
    """An OMS, its server, and the official client logged in to it; the client's calls run in a thread."""

    def __init__(self, oms: ok.OMS, server: Any) -> None:
        self.oms, self.server = oms, server
        self.client = KiteConnect(api_key=oms.account, root=server.url)
        self.client.set_access_token(server.token)

    async def __call__(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(getattr(self.client, method), *args, **kwargs)

    async def place(self, **fields: Any) -> str:
        order = {"variety": "regular", "exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY",
                 "quantity": 100, "product": "CNC", "order_type": "LIMIT", "price": 1480}
        return await self("place_order", **{**order, **fields})  # type: ignore[no-any-return]

    async def order(self, order_id: str) -> dict[str, Any]:
        return next(o for o in await self("orders") if o["order_id"] == order_id)


@pytest.fixture
async def kite():
    oms = await ok.OMS.open("duckdb:///:memory:", feed=None, risk_interval=None, limits=LIMITS)
    await oms.set_price("INFY", 1500)
    server = await serve(oms, port=0)
    yield Kite(oms, server)
    await server.stop()
    await oms.close()


async def test_kiteconnect_places_and_modifies_a_disclosed_quantity_and_reads_it_back(kite):
    order_id = await kite.place(disclosed_quantity=20)

    order = await kite.order(order_id)
    assert (order["status"], order["quantity"], order["disclosed_quantity"]) == ("OPEN", 100, 20)
    assert kite.oms.get_order(order_id).disclosed_quantity == 20
    await kite("modify_order", "regular", order_id, disclosed_quantity=50)
    assert (await kite.order(order_id))["disclosed_quantity"] == 50
    history = await kite("order_history", order_id)
    assert (history[0]["disclosed_quantity"], history[-1]["disclosed_quantity"]) == (20, 50)

    low = await kite.order(await kite.place(disclosed_quantity=5))
    assert low["status"] == "REJECTED" and low["disclosed_quantity"] == 5
    assert "DISCLOSED_QUANTITY" in low["status_message_raw"] and "at least 10" in low["status_message"]
    with pytest.raises(kex.InputException, match="`disclosed_quantity`"):
        await kite.place(disclosed_quantity=101)  # above the quantity: refused at the door, as Kite does
    assert len(kite.oms.orders()) == 2


FORM_VALUES = st.one_of(st.sampled_from(["", "0", "10", "9", "100", "101", " 30 ", "-1", "1.5", "1e2", "x", "٣",
                                         "9" * 13, "\x00", "NaN"]),
                        st.integers(-5, 200).map(str), st.text(max_size=6))


async def test_hostile_disclosed_quantities_over_the_kite_form(kite):
    headers = {"Authorization": f"token {kite.oms.account}:{kite.server.token}", "X-Kite-Version": "3",
               "Content-Type": "application/x-www-form-urlencoded"}
    outcome = {"placed": 0, "refused": 0}

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(value=FORM_VALUES, quantity=st.integers(1, 150))
    def check(value: str, quantity: int) -> None:
        before = len(kite.oms.manager.orders)
        form = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": str(quantity),
                "product": "CNC", "order_type": "LIMIT", "price": "1480", "disclosed_quantity": value}
        response = http.post("/orders/regular", content=str(httpx.QueryParams(form)).encode())
        assert response.status_code < 500, response.text
        answer = response.json()
        text = value.strip()
        whole = int(text) if text.isascii() and text.isdigit() and len(text) <= 12 else None
        if answer["status"] == "error":
            assert answer["error_type"] == "InputException" and "`disclosed_quantity`" in answer["message"], answer
            assert text and (whole is None or whole > quantity), (value, quantity)
            assert len(kite.oms.manager.orders) == before
            outcome["refused"] += 1
            return
        assert not text or (whole is not None and whole <= quantity), (value, quantity)
        order = kite.oms.get_order(answer["data"]["order_id"])
        assert order.disclosed_quantity == (whole or 0)
        breaks = bool(whole) and whole < minimum(quantity)  # type: ignore[operator]
        assert ("DISCLOSED_QUANTITY" in codes(order)) == breaks, (value, quantity, order.violations)
        outcome["placed"] += 1

    with httpx.Client(base_url=kite.server.url, headers=headers) as http:
        await asyncio.to_thread(check)
    await assert_store_matches(kite.oms)
    stored = await kite.oms.store.fetch("SELECT count(*) AS n FROM orders")
    assert int(stored[0]["n"]) == outcome["placed"]
    assert outcome["placed"] > 20 and outcome["refused"] > 20, outcome
