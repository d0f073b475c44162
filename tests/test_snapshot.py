"""The read model: ``oms.snapshot()`` agrees with the OMS's public tables, is frozen, and serialises to JSON."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from decimal import Decimal

import pytest

import oms_kit as ok
from oms_kit.snapshot import (
    AccountView,
    account_view,
    alert_views,
    limit_views,
    order_history,
    position_views,
    trade_history,
    working_order_views,
)


@pytest.fixture
async def oms():
    limits = ok.RiskLimits(max_position_quantity=50, daily_loss_limit=1000, duplicate_window_s=None)
    oms = await ok.OMS.open(feed=None, fees=None, risk_interval=None, limits=limits)
    await oms.set_price("RELIANCE", 2500.0)
    await oms.set_price("TCS", 3900.0)
    yield oms
    await oms.close()


async def test_the_snapshot_agrees_with_the_public_tables(oms):
    await oms.place_order("RELIANCE", "BUY", 10)
    resting = await oms.place_order("TCS", "SELL", 2, "LIMIT", price=3950)
    await oms.set_price("RELIANCE", 2510.0)

    snap = oms.snapshot()
    summary = oms.risk_summary()

    for name in ("trading_state", "cash", "equity", "day_pnl", "realized_pnl", "unrealized_pnl", "gross_exposure"):
        assert getattr(snap, name) == summary[name], name
    assert [(p.symbol, p.quantity, p.unrealized_pnl) for p in snap.positions] == [
        (r["symbol"], r["quantity"], r["unrealized_pnl"]) for r in oms.positions().to_dict("records")]
    assert snap.positions[0].unrealized_pnl == Decimal(100)
    assert [o.order_id for o in snap.working_orders] == list(oms.active_orders()["order_id"]) == [resting.order_id]
    assert [(u.limit, u.symbol, u.use_pct) for u in snap.limits] == [  # most used first
        ("max_position_quantity", "RELIANCE", 20.0), ("max_open_orders", None, 0.2), ("daily_loss_limit", None, 0.0)]
    assert (snap.account, snap.backend, snap.durable, snap.read_only, snap.feed) == ("default", "duckdb", False,
                                                                                      False, None)


async def test_the_snapshot_is_its_parts_taken_together(oms):
    await oms.place_order("RELIANCE", "BUY", 60)  # rejected: over max_position_quantity
    await oms.place_order("RELIANCE", "BUY", 50)
    await oms.place_order("TCS", "SELL", 2, "LIMIT", price=3950)
    await oms.set_price("RELIANCE", 2490.0)
    await oms.check_risk()  # a BREACH alert of max_position_quantity

    snap = oms.snapshot()
    account = account_view(oms)

    assert isinstance(snap, AccountView)
    assert dataclasses.replace(account, taken_at=snap.taken_at) == AccountView(
        **{f.name: getattr(snap, f.name) for f in dataclasses.fields(AccountView)})
    assert account.unrealized_pnl == Decimal(-500) and account.trading_state == "ACTIVE"
    assert snap.positions == position_views(oms) and snap.positions[0].last_price == Decimal(2490)
    assert snap.working_orders == working_order_views(oms) and snap.working_orders[0].symbol == "TCS"
    assert snap.limits == limit_views(oms) and snap.limits[0].limit == "max_position_quantity"
    assert snap.alerts == alert_views(oms) and [a.level for a in snap.alerts] == ["BREACH"]
    assert list(snap.to_dict())[-4:] == ["positions", "working_orders", "limits", "alerts"]


async def test_the_views_follow_each_change_of_an_order(oms):
    resting = await oms.place_order("RELIANCE", "BUY", 10, "LIMIT", price=2490)
    before = working_order_views(oms)

    assert working_order_views(oms)[0] is before[0]  # nothing changed: the view is kept
    await oms.set_price("RELIANCE", 2490.0)  # the order fills
    assert working_order_views(oms) == ()
    assert order_history(oms)[0].status == "FILLED" and before[0].status == "OPEN"
    trade = trade_history(oms)[0]
    assert (trade.order_id, trade.quantity) == (resting.order_id, 10) and trade_history(oms)[0] is trade


async def test_a_snapshot_is_frozen_and_does_not_follow_the_oms(oms):
    order = await oms.place_order("RELIANCE", "BUY", 5, "LIMIT", price=2490)
    snap = oms.snapshot()

    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.cash = Decimal(0)  # type: ignore[misc]
    await oms.cancel_order(order.order_id)
    assert snap.working_orders[0].status == "OPEN" and oms.snapshot().working_orders == ()
    again = await oms.place_order("RELIANCE", "BUY", 5, "LIMIT", price=2485)
    assert oms.snapshot().working_orders[0].order_id == again.order_id


async def test_to_dict_is_json_ready(oms):
    await oms.place_order("RELIANCE", "BUY", 60)  # rejected: over max_position_quantity
    await oms.place_order("RELIANCE", "BUY", 50)
    await oms.check_risk()  # a BREACH alert of max_position_quantity

    data = json.loads(json.dumps(oms.snapshot().to_dict()))

    assert data["cash"] == str(oms.snapshot().cash) and isinstance(data["cash"], str)
    assert datetime.fromisoformat(data["taken_at"]).tzinfo is not None
    assert Decimal(data["positions"][0]["average_price"]) == 2500
    assert data["alerts"][0]["level"] == "BREACH" and data["alerts"][0]["limit"] == "max_position_quantity"
    assert data["limits"][0]["use_pct"] == 100.0


async def test_the_history_reads_the_day_newest_first_with_filters(oms):
    rejected = await oms.place_order("TCS", "BUY", 1, "LIMIT", price=3900.01)
    bought = await oms.place_order("RELIANCE", "BUY", 10)
    sold = await oms.place_order("RELIANCE", "SELL", 4)

    assert [o.order_id for o in order_history(oms)] == [sold.order_id, bought.order_id, rejected.order_id]
    assert [o.order_id for o in order_history(oms, status="REJECTED")] == [rejected.order_id]
    assert order_history(oms, status="REJECTED")[0].violations == ("PRICE_NOT_ON_TICK",)
    assert [o.order_id for o in order_history(oms, limit=1)] == [sold.order_id]
    assert [(t.order_id, t.quantity) for t in trade_history(oms, side="SELL")] == [(sold.order_id, 4)]
    assert [t.order_id for t in trade_history(oms, symbol="TCS")] == []
    frame = oms.trades()
    assert [t.trade_id for t in trade_history(oms)] == list(frame["trade_id"])[::-1]
