"""Futures and options: orders for the contracts of the instrument master in units that are whole lots of each
contract's own lot, products (MIS and NRML, not CNC), expired contracts refused, the freeze quantity refused or
sliced (``autoslice=True``), and settlement at expiry: a future at the final settlement price, an option in the money
at its intrinsic value and one out of the money at 0, as trades and P&L, through the risk monitor on the OMS clock,
``settle_expiries`` by hand, a backtest and a restart on a DuckDB file. Hostile values of the new entry points get
an OmsError naming them."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import oms_kit as ok
from oms_kit.bookkeeping import SETTLEMENT_TAG
from oms_kit.contracts import MAX_SLICES, expiry_close, intrinsic_value, settlement_price, slice_quantity, slice_request
from oms_kit.market.calendar import IST
from oms_kit.models import Product
from oms_kit.settlement import parse_settlement_prices

D = Decimal
S = ok.OrderStatus
MASTER = ok.Instruments.sample()
NOV_FUT, DEC_FUT, JAN_FUT = "NIFTY25NOVFUT", "NIFTY25DECFUT", "NIFTY26JANFUT"
NOV_CALL, NOV_PUT = "NIFTY25NOV25700CE", "NIFTY25NOV25700PE"  # strike 25700, expiring Tue 25 Nov 2025
# Room for contracts worth crores: the default limits are an equity account's.
LIMITS = ok.RiskLimits(max_order_value=None, max_order_quantity=None, max_orders_per_second=None,
                       duplicate_window_s=None)
HOSTILE = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
                   max_examples=60)


def ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=IST)  # type: ignore[misc]


async def open_oms(when: datetime, url: str = "duckdb:///:memory:", **options: Any) -> ok.OMS:
    options.setdefault("limits", LIMITS)
    options.setdefault("fees", None)
    options.setdefault("cash", 100_000_000)
    oms = await ok.OMS.open(url, feed=None, risk_interval=None, clock=ok.SimulatedClock(when), instruments=MASTER,
                            **options)
    # A NIFTY price for the options' margin; of December, so that it settles no November contract.
    await oms.set_price(DEC_FUT, 26000)
    return oms


def codes(order: ok.Order) -> list[str]:
    return [v.code for v in order.violations]


def position(oms: ok.OMS, symbol: str, product: Product = Product.NRML) -> ok.Position:
    found = oms.manager.ledger.position(symbol, product)
    assert found is not None
    return found


def settlements(oms: ok.OMS) -> list[ok.Order]:
    return [o for o in oms.manager.orders.values() if o.tag == SETTLEMENT_TAG]


async def buy(oms: ok.OMS, symbol: str, quantity: int, price: float, product: str = "NRML") -> ok.Order:
    await oms.set_price(symbol, price)
    order = await oms.place_order(symbol, "BUY", quantity, product=product)
    assert order.status is S.FILLED, order.violations
    return order


# --- orders: units in lots, products, expiry ----------------------------------------------------------------------


async def test_contracts_of_the_master_trade_by_symbol_beside_the_equities():
    oms = await open_oms(ist(2025, 11, 3, 10, 0))
    try:
        await buy(oms, NOV_FUT, 150, 25800)          # two lots of 75, in units as Kite's API takes them
        await buy(oms, "RELIANCE", 3, 1480, "CNC")   # a share as before, lot 1
        assert oms.position(NOV_FUT) == 150 and oms.position("RELIANCE") == 3
        assert oms.instrument(NOV_FUT).lot_size == 75 and oms.instrument(NOV_FUT).instrument_type == "FUT"
    finally:
        await oms.close()


async def test_each_contract_has_its_own_lot_january_nifty_65_against_november_75():
    oms = await open_oms(ist(2025, 11, 3, 10, 0))
    try:
        for symbol in (NOV_FUT, JAN_FUT):
            await oms.set_price(symbol, 25900)
        assert codes(await oms.place_order(NOV_FUT, "BUY", 65, product="NRML")) == ["QUANTITY_NOT_LOT_MULTIPLE"]
        assert codes(await oms.place_order(JAN_FUT, "BUY", 75, product="NRML")) == ["QUANTITY_NOT_LOT_MULTIPLE"]
        assert (await oms.place_order(NOV_FUT, "BUY", 75, product="NRML")).status is S.FILLED
        assert (await oms.place_order(JAN_FUT, "BUY", 130, product="NRML")).status is S.FILLED
        rejected = await oms.place_order(JAN_FUT, "BUY", 100, product="NRML")
        assert rejected.violations[0].limit == 65 and rejected.violations[0].value == 100
    finally:
        await oms.close()


async def test_cnc_is_refused_for_futures_and_options_and_mis_and_nrml_are_taken():
    oms = await open_oms(ist(2025, 11, 3, 10, 0))
    try:
        await oms.set_price(NOV_CALL, 150)
        refused = await oms.place_order(NOV_CALL, "BUY", 75, product="CNC")
        assert codes(refused) == ["PRODUCT_NOT_ALLOWED"] and refused.status is S.REJECTED
        assert "CNC" in refused.violations[0].message and "MIS or NRML" in refused.violations[0].message
        for product in ("MIS", "NRML"):
            assert (await oms.place_order(NOV_CALL, "BUY", 75, product=product)).status is S.FILLED
        await oms.set_price("INFY", 1500)
        assert (await oms.place_order("INFY", "BUY", 1, product="CNC")).status is S.FILLED  # equity: unchanged
    finally:
        await oms.close()


async def test_an_order_for_an_expired_contract_is_refused_from_the_close_of_its_expiry_day():
    oms = await open_oms(ist(2025, 11, 25, 15, 29, 59))
    try:
        await oms.set_price(NOV_FUT, 25900)
        assert (await oms.place_order(NOV_FUT, "BUY", 75, product="NRML")).status is S.FILLED
        oms.clock.set(ist(2025, 11, 25, 15, 30))  # type: ignore[attr-defined]
        for side in ("BUY", "SELL"):  # closing is refused too: the contract is settled, not traded
            refused = await oms.place_order(NOV_FUT, side, 75, product="NRML")
            assert codes(refused) == ["CONTRACT_EXPIRED"]
            assert "25 Nov 2025 15:30 IST" in refused.violations[0].message
        weekly = await oms.place_order("NIFTY25N0425700CE", "BUY", 75, "LIMIT", 10, product="NRML")
        assert codes(weekly) == ["CONTRACT_EXPIRED"]  # the weekly of 4 November, three weeks gone
        await oms.set_price(DEC_FUT, 26000)
        assert (await oms.place_order(DEC_FUT, "BUY", 75, product="NRML")).status is S.FILLED
        check = oms.validate(DEC_FUT, "BUY", 75, product="NRML").set_index("name").loc["contract_expired"]
        assert check["passed"] and not check["skipped"] and "30 Dec 2025 10:00 UTC" in check["message"]
        assert check["limit"] == expiry_close(MASTER[DEC_FUT])
    finally:
        await oms.close()


# --- the freeze quantity -------------------------------------------------------------------------------------------


async def test_above_the_freeze_quantity_is_refused_and_autoslice_places_slices_of_whole_lots():
    oms = await open_oms(ist(2025, 11, 3, 10, 0))
    try:
        await oms.set_price(NOV_FUT, 25800)
        refused = await oms.place_order(NOV_FUT, "BUY", 2000, product="NRML")
        assert codes(refused) == ["QUANTITY_NOT_LOT_MULTIPLE", "QUANTITY_EXCEEDS_MAXIMUM"]
        assert refused.violations[1].limit == 1800
        # 2000 is not a whole number of lots: sliced, one child would be refused, so it is refused as it stands.
        as_one = await oms.place_order(NOV_FUT, "BUY", 2000, product="NRML", autoslice=True)
        assert [codes(o) for o in as_one] == [["QUANTITY_NOT_LOT_MULTIPLE", "QUANTITY_EXCEEDS_MAXIMUM"]]
        assert codes(await oms.place_order(NOV_FUT, "BUY", 2025, product="NRML")) == ["QUANTITY_EXCEEDS_MAXIMUM"]
        children = await oms.place_order(NOV_FUT, "BUY", 2025, product="NRML", autoslice=True,
                                         client_order_id="big", tag="roll")
        assert [o.quantity for o in children] == [1800, 225]
        assert [o.status for o in children] == [S.FILLED, S.FILLED]
        assert [o.client_order_id for o in children] == ["big-1", "big-2"] and {o.tag for o in children} == {"roll"}
        assert oms.position(NOV_FUT) == 2025
        again = await oms.place_order(NOV_FUT, "BUY", 2025, product="NRML", autoslice=True, client_order_id="big",
                                      tag="roll")  # a retry of the whole finds each child
        assert [o.order_id for o in again] == [o.order_id for o in children] and oms.position(NOV_FUT) == 2025
        small = await oms.place_order(NOV_FUT, "SELL", 75, product="NRML", autoslice=True)
        assert isinstance(small, list) and [o.quantity for o in small] == [75]
        three = await oms.place_order(NOV_FUT, "SELL", 3750, "LIMIT", 25800, product="NRML", autoslice=True)
        assert [o.quantity for o in three] == [1800, 1800, 150] and all(o.status is S.FILLED for o in three)
        assert oms.position(NOV_FUT) == 2025 - 75 - 3750
    finally:
        await oms.close()


async def test_autoslice_slices_a_contract_by_its_own_lot():
    oms = await open_oms(ist(2025, 11, 3, 10, 0))
    try:
        await oms.set_price(JAN_FUT, 26000)
        children = await oms.place_order(JAN_FUT, "BUY", 1820, product="NRML", autoslice=True)  # 28 lots of 65
        assert [o.quantity for o in children] == [1755, 65] and all(o.status is S.FILLED for o in children)
        # A child that breaks a rule of its own is rejected; the others stand.
        oms.manager.set_limits(dataclasses.replace(LIMITS, max_position_quantity=3600))
        more = await oms.place_order(JAN_FUT, "BUY", 1820, product="NRML", autoslice=True)
        assert [o.status for o in more] == [S.FILLED, S.REJECTED]
        assert codes(more[1]) == ["POSITION_LIMIT_EXCEEDED"]
    finally:
        await oms.close()


async def test_autoslice_on_a_duckdb_file_stores_every_child_and_a_retry_after_a_reopen_finds_them(tmp_path):
    url = f"duckdb:///{tmp_path / 'slices.duckdb'}"
    oms = await open_oms(ist(2025, 11, 3, 10, 0), url)
    try:
        await oms.set_price(NOV_FUT, 25800)
        children = await oms.place_order(NOV_FUT, "BUY", 1875, product="NRML", autoslice=True, client_order_id="k")
        assert [(o.quantity, o.status) for o in children] == [(1800, S.FILLED), (75, S.FILLED)]
    finally:
        await oms.close()
    oms = await open_oms(ist(2025, 11, 3, 10, 5), url)
    try:
        stored = oms.orders(symbol=NOV_FUT)
        assert stored["client_order_id"].tolist() == ["k-1", "k-2"] and oms.position(NOV_FUT) == 1875
        again = await oms.place_order(NOV_FUT, "BUY", 1875, product="NRML", autoslice=True, client_order_id="k")
        assert [o.order_id for o in again] == stored["order_id"].tolist() and oms.position(NOV_FUT) == 1875
    finally:
        await oms.close()


# --- settlement at expiry -----------------------------------------------------------------------------------------


async def test_a_future_settles_at_the_close_of_its_expiry_day_at_its_last_price_with_its_pnl():
    oms = await open_oms(ist(2025, 11, 24, 11, 0))
    try:
        await buy(oms, NOV_FUT, 150, 25800)
        cash = oms.manager.ledger.cash
        await oms.set_price(NOV_FUT, 25912.5)
        oms.clock.set(ist(2025, 11, 25, 15, 29))  # type: ignore[attr-defined]
        await oms.check_risk()
        assert oms.position(NOV_FUT) == 150 and not settlements(oms)  # not before the close
        oms.clock.set(ist(2025, 11, 25, 15, 30, 2))  # type: ignore[attr-defined]
        await oms.check_risk()
        [settled] = settlements(oms)
        assert (settled.side, settled.quantity, settled.status) == (ok.Side.SELL, 150, S.FILLED)
        assert settled.average_price == D("25912.50") and "final settlement price 25912.50" in settled.reason
        assert oms.position(NOV_FUT) == 0
        assert position(oms, NOV_FUT).realized_pnl == D("112.5") * 150
        assert oms.manager.ledger.cash == cash + D("25912.5") * 150
        trades = oms.trades()
        last = trades.iloc[-1]
        assert (last["order_id"], last["side"], last["quantity"]) == (settled.order_id, "SELL", 150)
        assert last["ts"] == expiry_close(oms.instrument(NOV_FUT)) and last["fees"] == 0
        assert oms.orders().set_index("order_id").loc[settled.order_id, "tag"] == SETTLEMENT_TAG
        await oms.check_risk()
        assert len(settlements(oms)) == 1  # once
    finally:
        await oms.close()


async def test_a_long_call_in_the_money_settles_at_intrinsic_value_and_a_put_out_of_the_money_expires_worthless():
    oms = await open_oms(ist(2025, 11, 24, 11, 0))
    try:
        await buy(oms, NOV_CALL, 75, 120)
        await buy(oms, NOV_PUT, 150, 40.5)
        await oms.set_price(NOV_CALL, 160)
        await oms.set_price(NOV_PUT, 1.5)
        cash = oms.manager.ledger.cash
        oms.clock.set(ist(2025, 11, 26, 9, 0))  # type: ignore[attr-defined]
        with pytest.raises(ok.ConfigError) as error:  # no price for NIFTY, no future of the expiry: nothing to use
            await oms.settle_expiries()
        assert error.value.field == "prices" and "NIFTY" in str(error.value)
        assert oms.position(NOV_CALL) == 75  # nothing changed
        result = await oms.settle_expiries(prices={"NIFTY": 25850.35})
        by_symbol = {o.symbol: o for o in result.settled}
        assert by_symbol[NOV_CALL].average_price == D("150.35")  # 25850.35 - 25700
        assert by_symbol[NOV_PUT].average_price == 0 and "expires worthless" in by_symbol[NOV_PUT].reason
        assert position(oms, NOV_CALL).realized_pnl == (D("150.35") - 120) * 75
        assert position(oms, NOV_PUT).realized_pnl == -D("40.5") * 150
        assert oms.manager.ledger.cash == cash + D("150.35") * 75  # the put pays nothing
        assert oms.position(NOV_CALL) == oms.position(NOV_PUT) == 0
        assert (await oms.settle_expiries(prices={"NIFTY": 1})).settled == ()  # nothing left to settle
    finally:
        await oms.close()


async def test_short_options_settle_too_and_the_future_of_the_expiry_prices_them():
    oms = await open_oms(ist(2025, 11, 25, 14, 0))
    try:
        await oms.set_price(NOV_FUT, 25620)  # the future of the same expiry: at expiry it is the index
        await oms.set_price(NOV_PUT, 90)
        assert (await oms.place_order(NOV_PUT, "SELL", 75, product="NRML")).status is S.FILLED
        oms.clock.set(ist(2025, 11, 25, 15, 31))  # type: ignore[attr-defined]
        await oms.check_risk()
        [settled] = settlements(oms)
        assert (settled.side, settled.average_price) == (ok.Side.BUY, D("80"))  # 25700 - 25620
        assert f"the last price of {NOV_FUT}" in settled.reason
        assert position(oms, NOV_PUT).realized_pnl == (90 - 80) * 75
    finally:
        await oms.close()


async def test_working_orders_in_an_expired_contract_are_cancelled_and_later_expiries_stay():
    oms = await open_oms(ist(2025, 11, 25, 14, 0))
    try:
        await oms.set_price(NOV_FUT, 25800)
        await oms.set_price(DEC_FUT, 25950)
        resting = await oms.place_order(NOV_FUT, "BUY", 75, "LIMIT", 25000, product="NRML")
        later = await oms.place_order(DEC_FUT, "BUY", 75, "LIMIT", 25000, product="NRML")
        await buy(oms, DEC_FUT, 75, 25950)
        oms.clock.set(ist(2025, 11, 25, 15, 45))  # type: ignore[attr-defined]
        await oms.check_risk()
        assert resting.status is S.CANCELLED and "expired" in resting.reason
        assert later.status is S.OPEN and oms.position(DEC_FUT) == 75 and not settlements(oms)
    finally:
        await oms.close()


async def test_a_contract_without_a_price_stays_open_with_one_alert_until_a_price_comes():
    oms = await open_oms(ist(2025, 11, 25, 12, 0))
    try:
        await buy(oms, NOV_CALL, 75, 100)
        oms.clock.set(ist(2025, 11, 25, 15, 40))  # type: ignore[attr-defined]
        await oms.check_risk()
        [alert] = [a for a in oms.alerts if a.limit_name == "expiry_settlement"]
        assert alert.level == "BREACH" and alert.symbol == NOV_CALL and "NIFTY" in alert.message
        assert oms.position(NOV_CALL) == 75
        oms.clock.set(ist(2025, 11, 25, 15, 42))  # type: ignore[attr-defined]
        await oms.check_risk()
        assert len([a for a in oms.alerts if a.limit_name == "expiry_settlement"]) == 1  # once
        await oms.set_price(NOV_FUT, 25690)  # out of the money by 10
        await oms.check_risk()
        assert [o.average_price for o in settlements(oms)] == [0] and oms.position(NOV_CALL) == 0
    finally:
        await oms.close()


async def test_settlement_books_no_charges_under_nse_fees():
    oms = await open_oms(ist(2025, 11, 24, 11, 0), fees="nse")
    try:
        await buy(oms, NOV_FUT, 75, 25800)
        oms.clock.set(ist(2025, 11, 25, 16, 0))  # type: ignore[attr-defined]
        await oms.settle_expiries(prices={"NIFTY": 25700})
        trades = oms.trades()
        assert trades["fees"].iloc[0] > 0 and trades["fees"].iloc[1] == 0
        assert trades["trade_id"].iloc[1].endswith("-settlement")
        assert position(oms, NOV_FUT).realized_pnl == -100 * 75
        # The exchange's settlement is no trade: no contract note lists or charges it.
        assert oms.contract_note(ist(2025, 11, 25).date()).empty
        note = oms.contract_note(ist(2025, 11, 24).date())
        assert note["buy_value"].tolist() == [D("1935000.00")] and note["fills_fees"].tolist() == [trades["fees"][0]]
    finally:
        await oms.close()


async def test_a_restart_on_a_duckdb_file_keeps_fno_positions_and_settles_them(tmp_path):
    url = f"duckdb:///{tmp_path / 'fno.duckdb'}"
    oms = await open_oms(ist(2025, 11, 24, 11, 0), url)
    try:
        await buy(oms, NOV_FUT, 75, 25800)
        await buy(oms, NOV_CALL, 150, 110)
        await buy(oms, JAN_FUT, 65, 26100)
        await oms.set_price(NOV_FUT, 25880)
        await oms.check_risk()  # writes the marks
    finally:
        await oms.close()
    oms = await open_oms(ist(2025, 11, 26, 10, 0), url)  # reopened the day after the expiry
    try:
        assert (oms.position(NOV_FUT), oms.position(NOV_CALL), oms.position(JAN_FUT)) == (75, 150, 65)
        await oms.check_risk()
        settled = {o.symbol: o.average_price for o in settlements(oms)}
        assert settled == {NOV_FUT: D("25880"), NOV_CALL: D("180")}  # the future's stored mark prices both
        assert oms.position(JAN_FUT) == 65  # a later expiry stays
        pnl = position(oms, NOV_FUT).realized_pnl + position(oms, NOV_CALL).realized_pnl
        assert pnl == 80 * 75 + 70 * 150
    finally:
        await oms.close()
    oms = await open_oms(ist(2025, 11, 26, 11, 0), url)
    try:
        assert oms.position(NOV_FUT) == oms.position(NOV_CALL) == 0 and oms.position(JAN_FUT) == 65
        stored = await oms.store.fetch_df("SELECT symbol, side, price FROM trades ORDER BY ts, symbol")
        assert stored.tail(2)["price"].map(D).tolist() == [D("180"), D("25880")]
        await oms.check_risk()
        assert not settlements(oms)  # nothing settles twice
    finally:
        await oms.close()


def test_a_backtest_settles_at_the_first_bar_after_the_expiry_close():
    times = [ist(2025, 11, 24, 10, 0), ist(2025, 11, 25, 10, 0), ist(2025, 11, 25, 15, 29), ist(2025, 11, 26, 9, 15)]
    rows = [(t.astimezone(UTC), symbol, price) for t, (fut, index) in
            zip(times, [(25800, 25790), (25850, 25845), (25870, 25868.4), (26000, 25990)], strict=True)
            for symbol, price in ((NOV_FUT, fut), ("NIFTY", index))]
    bars = pd.DataFrame([{"timestamp": t, "symbol": s, "open": p, "high": p, "low": p, "close": p, "volume": 1e6}
                         for t, s, p in rows])

    class LongFuture(ok.Strategy):
        bought = False

        def on_bar(self, ctx: Any, bar: Any) -> None:
            if bar.symbol == NOV_FUT and not self.bought:
                self.bought = True
                ctx.buy(NOV_FUT, 75, product="NRML")

    result = ok.backtest(LongFuture(), data=bars, cash=10_000_000, fees=None, limits=LIMITS,
                         instruments=[*MASTER, ok.Instrument("NIFTY", tick_size=D("0.01"))])
    trades = result.trades
    assert trades["price"].map(D).tolist() == [D("25850"), D("25868.4")]  # in at the next open; out at the index
    assert trades["ts"].iloc[-1] == expiry_close(MASTER[NOV_FUT])
    assert result.manager.ledger.net_quantity(NOV_FUT) == 0
    assert result.manager.ledger.realized_pnl() == D("18.4") * 75


# --- the parts, and hostile values ----------------------------------------------------------------------------------


@given(slices_wanted=st.integers(1, 300), cap=st.integers(1, 10**6), lot=st.integers(1, 5000),
       rest=st.integers(0, 10**6))
def test_slices_add_up_stay_within_the_cap_and_are_whole_lots(slices_wanted, cap, lot, rest):
    quantity = slices_wanted * cap + rest % cap + 1
    slices = slice_quantity(quantity, cap, lot)
    assert sum(slices) == quantity and all(s > 0 for s in slices)
    if cap >= lot:
        assert all(s <= cap for s in slices)
    if quantity % lot == 0:
        assert all(s % lot == 0 for s in slices)
    assert slice_quantity(quantity, None, lot) == [quantity]


NOV_STRIKES = MASTER.strikes("NIFTY", "2025-11-25")


@given(price=st.decimals(D("0.05"), D("100000"), places=2), strike=st.sampled_from(NOV_STRIKES))
def test_a_call_and_a_put_of_one_strike_settle_to_the_distance_from_the_strike(price, strike):
    call = MASTER.option("NIFTY", "2025-11-25", strike, "CE")
    put = MASTER.option("NIFTY", "2025-11-25", strike, "PE")
    assert intrinsic_value(call, price) - intrinsic_value(put, price) == price - strike  # put-call parity at expiry
    assert min(intrinsic_value(call, price), intrinsic_value(put, price)) == 0
    assert settlement_price(MASTER[NOV_FUT], price) == price
    with pytest.raises(ValueError):
        settlement_price(ok.Instrument("INFY"), price)


hostile = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | st.binary(max_size=6)
           | st.lists(st.integers(), max_size=3) | st.builds(object)
           | st.dictionaries(st.text(max_size=8) | st.integers() | st.none(), st.none() | st.integers(-5, 10**10)
                             | st.floats() | st.text(max_size=8) | st.decimals(), max_size=3))


@HOSTILE
@given(prices=hostile)
def test_settlement_prices_are_a_mapping_of_underlyings_to_prices_or_a_config_error_naming_them(prices):
    try:
        parsed = parse_settlement_prices(prices)
    except ok.ConfigError as error:
        assert error.field.startswith("prices") and str(error)
        return
    assert all(isinstance(k, str) and isinstance(v, D) and v > 0 for k, v in parsed.items())
    assert prices is None or isinstance(prices, dict)


@pytest.fixture
async def fno_oms():
    oms = await open_oms(ist(2025, 11, 26, 10, 0))
    await buy(oms, DEC_FUT, 75, 26000)
    yield oms
    await oms.close()


@HOSTILE
@given(prices=hostile, autoslice=hostile | st.sampled_from([True, False, 1, 0, "true"]))
async def test_hostile_settle_expiries_and_autoslice_change_nothing_but_raise_errors_naming_them(fno_oms, prices,
                                                                                               autoslice):
    oms = fno_oms
    try:
        result = await oms.settle_expiries(prices=prices)
        assert result.settled == ()  # nothing has expired on 26 November but the November contracts, not held
    except ok.ConfigError as error:
        assert error.field.startswith("prices")
    try:
        placed = await oms.place_order(DEC_FUT, "SELL", 1875, "LIMIT", 26500, product="NRML", autoslice=autoslice)
    except ok.InvalidOrderError as error:
        assert error.field == "autoslice" and autoslice is not True and autoslice is not False
    else:
        if autoslice is True:
            assert [o.quantity for o in placed] == [1800, 75]  # type: ignore[union-attr]
            for order in placed:  # type: ignore[union-attr]
                await oms.cancel_order(order.order_id)
        else:
            assert autoslice is False and codes(placed) == ["QUANTITY_EXCEEDS_MAXIMUM"]  # type: ignore[arg-type]
    assert oms.position(DEC_FUT) == 75


def test_autoslice_refuses_a_quantity_that_would_need_more_than_max_slices_child_orders():
    future = MASTER[NOV_FUT]
    assert len(slice_request(ok.OrderRequest(NOV_FUT, "BUY", 1800 * MAX_SLICES, product="NRML"), future)) == 100
    with pytest.raises(ok.InvalidOrderError) as error:
        slice_request(ok.OrderRequest(NOV_FUT, "BUY", 1800 * MAX_SLICES + 75, product="NRML"), future)
    assert error.value.field == "quantity" and "180000" in str(error.value)


def test_a_client_order_id_with_no_room_for_the_suffixes_is_refused_before_anything_is_placed():
    request = ok.OrderRequest(NOV_FUT, "BUY", 3750, product="NRML", client_order_id="x" * 254)
    with pytest.raises(ok.InvalidOrderError) as error:
        slice_request(request, MASTER[NOV_FUT])
    assert error.value.field == "client_order_id" and "253" in str(error.value)
    assert slice_request(request.replace(client_order_id="x" * 253), MASTER[NOV_FUT])[-1].client_order_id.endswith("-3")
    assert slice_request(request, ok.Instrument("INFY")) == [request]  # no freeze quantity: nothing to slice


def test_expiry_close_is_1530_ist_on_the_expiry_day():
    assert expiry_close(MASTER[NOV_FUT]) == datetime(2025, 11, 25, 10, 0, tzinfo=UTC)
    assert expiry_close(ok.Instrument("INFY")) is None
    assert expiry_close(MASTER[JAN_FUT]) - expiry_close(MASTER[NOV_FUT]) == timedelta(days=63)
