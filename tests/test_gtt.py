"""GTT (good till triggered): single triggers fire once when the last price reaches them from the side they stood
on; a two-leg (OCO) GTT fires the leg whose trigger was reached and cancels the other; the fired order goes through
the pre-trade checks and a rejection is kept on the GTT; modify, delete; expiry a year on; hostile input refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import oms_kit as ok
from oms_kit.errors import InvalidOrderError, OmsError
from oms_kit.gtt import GttNotFound, one_year_after
from oms_kit.market.clock import SimulatedClock
from oms_kit.parsing import MAX_PRICE

S = ok.OrderStatus
START = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
LIMITS = ok.RiskLimits(max_orders_per_second=None, duplicate_window_s=None)


async def open_oms(clock: SimulatedClock | None = None, url: str = "duckdb:///:memory:", **options) -> ok.OMS:
    options.setdefault("limits", LIMITS)
    return await ok.OMS.open(url, feed=None, risk_interval=None,
                             clock=clock or SimulatedClock(START), **options)


def buy(quantity: int = 5, **fields) -> ok.OrderRequest:
    return ok.OrderRequest("INFY", "BUY", quantity, **fields)


def sell(quantity: int = 5, **fields) -> ok.OrderRequest:
    return ok.OrderRequest("INFY", "SELL", quantity, product="CNC", **fields)


async def test_a_single_trigger_above_the_price_fires_once_when_the_price_reaches_it():
    oms = await open_oms()
    try:
        await oms.set_price("INFY", 1500)
        gtt = await oms.place_gtt("INFY", 1550, buy())
        await oms.set_price("INFY", 1549)
        await oms.set_price("INFY", 1400)  # below the price of creation: not this trigger's side
        assert gtt.status == "active" and gtt.order_ids == []

        await oms.set_price("INFY", 1551)
        await oms.set_price("INFY", 1560)  # again above: fired already

        assert gtt.status == "triggered" and len(gtt.order_ids) == 1
        order = oms.get_order(gtt.order_ids[0])
        assert (order.side, order.quantity, order.status) == (ok.Side.BUY, 5, S.FILLED)
        assert len(oms.orders()) == 1
        assert oms.gtts()["status"].tolist() == ["triggered"]
    finally:
        await oms.close()


async def test_a_single_trigger_below_the_price_fires_at_or_below_it():
    oms = await open_oms()
    try:
        await oms.set_price("INFY", 1500)
        gtt = await oms.place_gtt("INFY", "1450", sell(order_type="LIMIT", price=1440))
        await oms.set_price("INFY", 1600)
        assert gtt.status == "active"
        await oms.set_price("INFY", 1450)  # at the trigger: fires
        assert gtt.status == "triggered"
        order = oms.get_order(gtt.order_ids[0])
        assert (order.side, order.order_type, order.price) == (ok.Side.SELL, ok.OrderType.LIMIT, Decimal("1440"))
        await oms.set_price("INFY", 1300)
        assert len(gtt.order_ids) == 1 and len(oms.orders()) == 1
    finally:
        await oms.close()


@pytest.mark.parametrize(("path", "leg", "side"), [([1480, 1395], 0, ok.Side.SELL), ([1520, 1610], 1, ok.Side.BUY)])
async def test_an_oco_fires_the_leg_reached_and_cancels_the_other(path, leg, side):
    oms = await open_oms()
    try:
        await oms.set_price("INFY", 1500)
        gtt = await oms.place_gtt("INFY", [1400, 1600], [sell(), buy()], kind="two-leg")
        for price in path:
            await oms.set_price("INFY", price)
        assert (gtt.status, gtt.fired_leg, len(gtt.order_ids)) == ("triggered", leg, 1)
        assert oms.get_order(gtt.order_ids[0]).side is side
        # the other leg is gone: a price past its trigger places nothing
        await oms.set_price("INFY", 1700 if leg == 0 else 1300)
        assert len(oms.orders()) == 1 and gtt.order_ids == [oms.orders()["order_id"].iloc[0]]
        assert oms.manager.gtts.watching == {}
    finally:
        await oms.close()


async def test_a_fired_order_rejected_by_a_limit_is_recorded_on_the_gtt():
    oms = await open_oms(limits=ok.RiskLimits(max_order_value=Decimal(100_000), max_orders_per_second=None))
    try:
        await oms.set_price("INFY", 1500)
        gtt = await oms.place_gtt("INFY", 1600, buy(1000))  # 1.6 million, over the order value limit
        await oms.set_price("INFY", 1600)
        order = oms.get_order(gtt.order_ids[0])
        assert order.status is S.REJECTED
        assert gtt.status == "rejected" and gtt.reason
        assert any(v.code in gtt.reason for v in order.violations)
        assert oms.gtts("rejected")["gtt_id"].tolist() == [gtt.gtt_id]
    finally:
        await oms.close()


async def test_modify_moves_the_trigger_and_delete_stops_it():
    oms = await open_oms()
    try:
        await oms.set_price("INFY", 1500)
        moved = await oms.place_gtt("INFY", 1550, buy())
        deleted = await oms.place_gtt("INFY", 1450, sell())
        await oms.modify_gtt(moved.gtt_id, 1700, buy(7))
        assert (moved.triggers, moved.orders[0].quantity) == ((Decimal("1700"),), 7)
        await oms.delete_gtt(deleted.gtt_id)

        await oms.set_price("INFY", 1600)  # the old trigger: nothing
        await oms.set_price("INFY", 1400)  # the deleted one's: nothing
        assert moved.status == "active" and deleted.status == "cancelled" and len(oms.orders()) == 0
        await oms.set_price("INFY", 1700)
        assert moved.status == "triggered" and oms.get_order(moved.order_ids[0]).quantity == 7

        with pytest.raises(OmsError, match="triggered"):
            await oms.modify_gtt(moved.gtt_id, 1800)
        with pytest.raises(OmsError, match="cancelled"):
            await oms.delete_gtt(deleted.gtt_id)
        with pytest.raises(GttNotFound):
            await oms.delete_gtt("G-999")
        below = await oms.place_gtt("INFY", 1550, buy())
        with pytest.raises(InvalidOrderError, match="triggers"):  # a modify is checked like a new GTT
            await oms.modify_gtt(below.gtt_id, 1700)  # 1700 is the last price now: it would fire at once
        assert below.triggers == (Decimal("1550"),)
    finally:
        await oms.close()


async def test_a_gtt_expires_a_year_after_it_was_placed():
    clock = SimulatedClock(START)
    oms = await open_oms(clock)
    try:
        await oms.set_price("INFY", 1500)
        listed = await oms.place_gtt("INFY", 1550, buy())
        priced = await oms.place_gtt("INFY", 1450, sell())
        assert listed.expires_at == START.replace(year=2027)
        clock.set(START + timedelta(days=364))
        assert oms.gtts("active")["gtt_id"].tolist() == [listed.gtt_id, priced.gtt_id]

        clock.set(START.replace(year=2027))
        await oms.set_price("INFY", 1400)  # would fire the second, a year on: it expires instead
        assert priced.status == "expired" and len(oms.orders()) == 0
        assert oms.gtts()["status"].tolist() == ["expired", "expired"]
        assert one_year_after(datetime(2028, 2, 29, tzinfo=UTC)) == datetime(2029, 2, 28, tzinfo=UTC)
    finally:
        await oms.close()


async def test_a_restart_on_a_duckdb_file_keeps_the_active_gtts_and_they_fire_after_it(tmp_path):
    url = f"duckdb:///{tmp_path / 'gtt.duckdb'}"
    clock = SimulatedClock(START)
    oms = await open_oms(clock, url=url)
    try:
        await oms.set_price("INFY", 1500)
        single = await oms.place_gtt("INFY", 1550, buy(3))
        oco = await oms.place_gtt("INFY", [1400, 1650], [sell(), buy()], kind="two-leg")
        gone = await oms.place_gtt("INFY", 1450, sell())
        await oms.delete_gtt(gone.gtt_id)
        await oms.modify_gtt(single.gtt_id, 1560)
    finally:
        await oms.close()

    oms = await open_oms(clock, url=url)
    try:
        active = oms.gtts()
        assert active["gtt_id"].tolist() == [single.gtt_id, oco.gtt_id]
        assert active["triggers"].tolist() == [["1560"], ["1400", "1650"]]
        restored = oms.get_gtt(single.gtt_id)
        assert (restored.orders, restored.expires_at) == (single.orders, single.expires_at)
        await oms.set_price("INFY", 1500)  # no quote survives a restart; the GTTs keep their direction
        fresh = await oms.place_gtt("INFY", 1300, sell())
        assert fresh.gtt_id not in {single.gtt_id, oco.gtt_id, gone.gtt_id}  # a stored row is not overwritten
        await oms.set_price("INFY", 1655)  # fires both the single (1560 up) and the OCO's target
        assert (restored.status, oms.get_gtt(oco.gtt_id).fired_leg) == ("triggered", 1)
        assert sorted(oms.orders()["quantity"].tolist()) == [3, 5]
    finally:
        await oms.close()

    oms = await open_oms(clock, url=url)
    try:
        assert oms.gtts()["gtt_id"].tolist() == [fresh.gtt_id]  # the fired ones stay fired
        stored = await oms.store.fetch_df("SELECT gtt_id, status FROM gtts ORDER BY gtt_id")
        assert dict(zip(stored["gtt_id"], stored["status"], strict=True)) == {
            single.gtt_id: "triggered", oco.gtt_id: "triggered", gone.gtt_id: "cancelled", fresh.gtt_id: "active"}
    finally:
        await oms.close()


async def test_place_gtt_refuses_malformed_fields_by_name():
    oms = await open_oms()
    try:
        with pytest.raises(InvalidOrderError, match="last_price"):  # no quote yet: no direction
            await oms.place_gtt("INFY", 1550, buy())
        await oms.set_price("INFY", 1500)
        cases = [
            (("NOPE", 1550, buy()), {}, "symbol"),
            (("INFY", 1550, buy()), {"kind": "triple"}, "kind"),
            (("INFY", [1400], [sell(), buy()]), {"kind": "two-leg"}, "triggers"),
            (("INFY", [1600, 1400], [sell(), buy()]), {"kind": "two-leg"}, "triggers"),
            (("INFY", 1500, buy()), {}, "triggers"),
            (("INFY", 1550.02, buy()), {}, "triggers"),
            (("INFY", 1550, ok.OrderRequest("TCS", "BUY", 1)), {}, "orders"),
            (("INFY", 1550, [buy(), buy()]), {}, "orders"),
            (("INFY", 1550, {"side": "BUY"}), {}, "orders"),
        ]
        for args, named, field in cases:
            with pytest.raises(InvalidOrderError) as caught:
                await oms.place_gtt(*args, **named)
            assert caught.value.field == field, (args, named)
        assert oms.gtts().empty
    finally:
        await oms.close()


HOSTILE = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                    st.text(max_size=20), st.lists(st.floats(), max_size=3), st.dictionaries(st.text(), st.integers()),
                    st.just(Decimal("NaN")), st.just(Decimal("-1")), st.just([]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(symbol=st.one_of(st.just("INFY"), HOSTILE), triggers=HOSTILE, kind=st.one_of(st.sampled_from(
    ["single", "two-leg"]), HOSTILE), orders=st.one_of(st.just(None), HOSTILE), last_price=HOSTILE)
def test_hostile_place_gtt_either_makes_a_valid_gtt_or_raises_a_named_error(symbol, triggers, kind, orders,
                                                                            last_price):
    import asyncio

    async def run() -> None:
        oms = await open_oms()
        try:
            await oms.set_price("INFY", 1500)
            try:
                gtt = await oms.place_gtt(symbol, triggers, orders if orders is not None else buy(), kind=kind,
                                          last_price=last_price)
            except InvalidOrderError as exc:
                assert exc.field in {"symbol", "kind", "triggers", "orders", "last_price"}
                assert oms.gtts().empty
                return
            assert gtt.status == "active" and gtt.kind in {"single", "two-leg"}
            assert all(0 < t <= MAX_PRICE for t in gtt.triggers)
            assert all(type(o) is ok.OrderRequest and o.symbol == "INFY" for o in gtt.orders)
            assert oms.gtts("active")["gtt_id"].tolist() == [gtt.gtt_id]
        finally:
            await oms.close()

    asyncio.run(run())


@settings(max_examples=80, deadline=None)
@given(triggers=HOSTILE, orders=st.one_of(st.just(None), HOSTILE))
def test_hostile_modify_gtt_changes_nothing_unless_it_is_valid(triggers, orders):
    import asyncio

    async def run() -> None:
        oms = await open_oms()
        try:
            await oms.set_price("INFY", 1500)
            gtt = await oms.place_gtt("INFY", [1400, 1600], [sell(), buy()], kind="two-leg")
            before = gtt.to_dict()
            try:
                await oms.modify_gtt(gtt.gtt_id, triggers, orders)
            except InvalidOrderError as exc:
                assert exc.field in {"triggers", "orders"}
                assert gtt.to_dict() == before
                return
            assert gtt.triggers[0] < Decimal(1500) < gtt.triggers[1] and len(gtt.orders) == 2
        finally:
            await oms.close()

    asyncio.run(run())
