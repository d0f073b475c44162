"""F&O margin through the OMS: the buying-power check margins futures and options as a portfolio (a hedge needs
less than a naked short, an option bought needs its premium), the dry run shows what an order needs and what a
hedge saves, the free cash is kept consistent (snapshot, risk summary, risk panel), and equities are unchanged."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import oms_kit as ok
import oms_kit.account_margin as account_margin_module
from oms_kit import OMS, Instrument, InvalidOrderError, OrderStatus, RiskLimits, SimulatedClock
from oms_kit.widgets import RiskPanel

D = Decimal
START = datetime(2026, 1, 5, 4, 0, tzinfo=UTC)  # a Monday, 09:30 in Mumbai
EXPIRY = date(2026, 1, 27)
SPOT, VOL, LOT = 25700.0, 0.15, 65
STRIKES = (25500, 25700, 25900)
# Every check off but buying power and the ones that always run, so each test sees the margin's verdict.
LIMITS = RiskLimits(max_order_quantity=None, max_order_value=None, max_open_orders=None, max_orders_per_second=None,
                    price_collar_pct=None, duplicate_window_s=None)


def option(strike: int, kind: str) -> Instrument:
    return Instrument(f"NIFTY26JAN{strike}{kind}", exchange="NFO", lot_size=LOT, instrument_type=kind,
                      underlying="NIFTY", expiry=EXPIRY, strike=D(strike), segment="NFO-OPT")


FUTURE = Instrument("NIFTY26JANFUT", exchange="NFO", lot_size=LOT, instrument_type="FUT", underlying="NIFTY",
                    expiry=EXPIRY, segment="NFO-FUT")
INSTRUMENTS = [Instrument("NIFTY"), FUTURE, *(option(k, t) for k in STRIKES for t in ("CE", "PE"))]
CE = {k: f"NIFTY26JAN{k}CE" for k in STRIKES}
PE = {k: f"NIFTY26JAN{k}PE" for k in STRIKES}


def premium(strike: int, kind: str) -> float:
    """A fair price on the tick: Black-76 at 15% with the index at SPOT."""
    years = (datetime(2026, 1, 27, 10, 0, tzinfo=UTC) - START).total_seconds() / (365 * 86400)
    return round(ok.black76.price(SPOT, strike, years, VOL, 0.0, kind) * 20) / 20


OpenOms = Callable[..., Awaitable[OMS]]


@pytest.fixture
async def open_oms() -> AsyncIterator[OpenOms]:
    """Open an OMS in memory on a simulated clock with the NIFTY contracts, the index and every option priced."""
    opened: list[OMS] = []

    async def open_(cash: float = 1_000_000, *, index: bool = True, **options: Any) -> OMS:
        options.setdefault("limits", LIMITS)
        oms = await OMS.open(feed=None, fees=None, clock=SimulatedClock(START), risk_interval=None,
                             instruments=INSTRUMENTS, cash=cash, **options)
        opened.append(oms)
        if index:
            await oms.set_price("NIFTY", SPOT)
        for k in STRIKES:
            await oms.set_price(CE[k], premium(k, "CE"))
            await oms.set_price(PE[k], premium(k, "PE"))
        return oms

    yield open_
    for oms in opened:
        await oms.close()


def row(frame: Any, name: str) -> dict[str, Any]:
    (found,) = frame[frame["name"] == name].to_dict("records")
    return found


def codes(order: ok.Order) -> list[str]:
    return [v.code for v in order.violations]


async def filled(oms: OMS, symbol: str, side: str, lots: int = 1) -> ok.Order:
    order = await oms.place_order(symbol, side, lots * LOT, product="NRML")
    assert order.status is OrderStatus.FILLED, order.violations
    return order


async def test_a_short_straddle_needs_more_margin_than_the_same_straddle_hedged_into_an_iron_condor(open_oms):
    oms = await open_oms()
    await filled(oms, CE[25700], "SELL")
    await filled(oms, PE[25700], "SELL")
    straddle = oms.snapshot().fno_margin

    wing = oms.validate(PE[25500], "BUY", LOT, product="NRML")  # the dry run of a wing: a hedge
    required, benefit = row(wing, "margin_required"), row(wing, "margin_benefit")
    added = D(required["value"]) - D(premium(25500, "PE") * LOT).quantize(D("0.01"))
    assert added < 0 and D(benefit["value"]) == D(benefit["limit"]) - added > 0
    assert "hedge saves" in benefit["message"] and required["code"] == benefit["code"] == ""

    await filled(oms, PE[25500], "BUY")
    assert oms.snapshot().fno_margin == straddle + added  # what the dry run said the wing would take off
    await filled(oms, CE[25900], "BUY")
    condor = oms.snapshot()
    assert condor.fno_margin < straddle + added < straddle
    (view,) = condor.margins
    assert (view.underlying, view.reference, view.price) == ("NIFTY", "NIFTY", D(SPOT))
    assert view.total == condor.fno_margin and view.total == view.initial + view.exposure


async def test_the_fourth_leg_of_the_condor_is_accepted_where_a_naked_short_is_refused_for_the_same_cash(open_oms):
    # Measure first, with plenty of cash: what three legs of the condor hold, and what the fourth needs hedged and
    # naked. Then the same account with just enough cash for the hedged leg.
    probe = await open_oms(10_000_000)
    for symbol, side in ((PE[25500], "BUY"), (CE[25900], "BUY"), (CE[25700], "SELL")):
        await filled(probe, symbol, side)
    held = D(10_000_000) - probe.snapshot().available_funds
    hedged = D(row(probe.validate(PE[25700], "SELL", LOT, product="NRML"), "margin_required")["value"])
    naked_probe = await open_oms(10_000_000)
    naked = D(row(naked_probe.validate(PE[25700], "SELL", LOT, product="NRML"), "margin_required")["value"])
    assert 0 < hedged < naked
    free = (hedged + naked) / 2  # between the two

    oms = await open_oms(float(held + free))
    for symbol, side in ((PE[25500], "BUY"), (CE[25900], "BUY"), (CE[25700], "SELL")):
        await filled(oms, symbol, side)
    assert oms.snapshot().available_funds == free
    fourth = await oms.place_order(PE[25700], "SELL", LOT, product="NRML")
    assert fourth.status is OrderStatus.FILLED, fourth.violations

    bare = await open_oms(float(free))
    naked_order = await bare.place_order(PE[25700], "SELL", LOT, product="NRML")
    assert codes(naked_order) == ["INSUFFICIENT_FUNDS"]
    (violation,) = naked_order.violations
    assert (violation.value, violation.limit) == (naked, free)
    assert f"{naked:.2f}" in violation.message and "NIFTY" in violation.message


async def test_a_long_option_needs_its_premium_paid_in_full(open_oms):
    price = premium(25700, "CE")
    cost = D(str(price)) * LOT
    dry = (await open_oms()).validate(CE[25700], "BUY", LOT, "LIMIT", price, product="NRML")
    assert D(row(dry, "margin_required")["value"]) == cost  # a long option alone adds no margin: its premium
    assert D(row(dry, "buying_power")["value"]) == cost

    short = await open_oms(float(cost - 1))
    refused = await short.place_order(CE[25700], "BUY", LOT, "LIMIT", price, product="NRML")
    assert codes(refused) == ["INSUFFICIENT_FUNDS"] and refused.violations[0].value == cost

    oms = await open_oms(float(cost + 1))
    order = await oms.place_order(CE[25700], "BUY", LOT, "LIMIT", price, product="NRML")
    assert order.status is OrderStatus.FILLED
    snap = oms.snapshot()
    assert (snap.available_funds, snap.option_premium, snap.equity) == (D(1), cost, cost + 1)


async def test_a_working_option_buy_holds_its_premium_and_a_working_hedge_does_not_lower_the_margin(open_oms):
    oms = await open_oms()
    await filled(oms, CE[25700], "SELL")
    before = oms.snapshot()
    resting = await oms.place_order(CE[25900], "BUY", LOT, "LIMIT", 50, product="NRML")  # below the market: rests
    assert resting.status is OrderStatus.OPEN
    working = oms.snapshot()
    assert working.fno_margin == before.fno_margin  # it may never fill: no hedge credit yet
    assert working.option_premium == 50 * LOT and working.available_funds == before.available_funds - 50 * LOT
    await oms.cancel_order(resting.order_id)
    assert oms.snapshot().available_funds == before.available_funds


async def test_the_underlying_price_comes_from_the_index_else_the_future_else_the_order_is_refused(open_oms):
    oms = await open_oms(index=False)
    refused = await oms.place_order(CE[25700], "SELL", LOT, product="NRML")
    assert codes(refused) == ["NO_REFERENCE_PRICE"] and "NIFTY" in refused.violations[0].message
    assert row(oms.validate(CE[25700], "SELL", LOT, product="NRML"), "margin_required")["skipped"]

    await oms.set_price(FUTURE.symbol, SPOT + 20)
    order = await oms.place_order(CE[25700], "SELL", LOT, product="NRML")
    assert order.status is OrderStatus.FILLED
    summary = oms.margin_summary()
    assert list(summary[["underlying", "reference"]].itertuples(index=False, name=None)) == [
        ("NIFTY", FUTURE.symbol)]
    assert summary["price"].iloc[0] == D(SPOT + 20)
    await oms.set_price("NIFTY", SPOT)  # an index price, once there is one, comes first
    assert oms.margin_summary()["reference"].iloc[0] == "NIFTY"


async def test_equity_orders_do_not_touch_the_margin_code(open_oms, monkeypatch):
    oms = await open_oms()
    await oms.set_price("RELIANCE", 2500.0)

    def untouchable(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the portfolio margin was computed for an equity account")

    monkeypatch.setattr(account_margin_module, "portfolio_margin", untouchable)
    bought = await oms.place_order("RELIANCE", "BUY", 10)
    assert bought.status is OrderStatus.FILLED and oms.manager.exposure.margin is None
    assert oms.snapshot().fno_margin == 0 and oms.snapshot().margins == ()
    assert oms.margin_summary().empty and "margin_required" not in set(oms.validate("RELIANCE", "BUY", 1)["name"])


async def test_an_equity_order_shares_the_free_cash_with_the_fno_margin(open_oms):
    oms = await open_oms(300_000)
    await oms.set_price("RELIANCE", 2500.0)
    await filled(oms, CE[25700], "SELL")
    free = oms.snapshot().available_funds
    assert 0 < free < 300_000
    # MIS at 5x leverage: 2,500 x quantity / 5 must fit what the short call left, not the whole cash.
    fits = int(free * 5 / 2500)
    refused = await oms.place_order("RELIANCE", "BUY", fits + 1)
    assert codes(refused) == ["INSUFFICIENT_FUNDS"] and refused.violations[0].limit == free
    assert (await oms.place_order("RELIANCE", "BUY", fits)).status is OrderStatus.FILLED


async def test_the_free_cash_is_equity_less_every_margin_in_the_snapshot_the_summary_and_the_panel(open_oms):
    oms = await open_oms()
    await oms.set_price("RELIANCE", 2500.0)
    await oms.place_order("RELIANCE", "BUY", 10, "LIMIT", price=2400)  # working: blocks 4,800 at 5x
    await filled(oms, CE[25700], "SELL")
    await filled(oms, PE[25500], "BUY")
    await oms.set_price("NIFTY", SPOT + 150)  # the margin follows the underlying

    snap = oms.snapshot()
    summary = oms.risk_summary()
    assert snap.available_funds == snap.equity - snap.equity_margin - snap.fno_margin - snap.option_premium
    assert snap.equity_margin == D(4800) and snap.option_premium == D(str(premium(25500, "PE"))) * LOT
    assert snap.fno_margin == sum(v.total for v in snap.margins) == oms.margin_summary()["total"].sum() > 0
    assert snap.margins[0].price == D(SPOT + 150)
    for name in ("available_funds", "equity_margin", "fno_margin", "option_premium"):
        assert summary[name] == getattr(snap, name), name
    data = json.loads(json.dumps(snap.to_dict()))
    assert data["margins"][0]["underlying"] == "NIFTY" and D(data["fno_margin"]) == snap.fno_margin

    panel = RiskPanel(oms)
    try:
        panel.refresh_now()
        html = panel.margin.value
        assert "NIFTY" in html and f"{float(snap.fno_margin):,.2f}" in html
        assert f"{float(snap.available_funds):,.2f}" in html
    finally:
        panel.close()


async def test_closing_an_fno_position_needs_no_cash_even_when_the_free_cash_is_gone(open_oms):
    oms = await open_oms(200_000)
    await filled(oms, CE[25700], "SELL")
    await oms.set_price(CE[25700], premium(25700, "CE") * 4)  # a loss that eats the free cash
    assert oms.snapshot().available_funds < 0
    more = await oms.place_order(CE[25700], "SELL", LOT, product="NRML")
    assert codes(more) == ["INSUFFICIENT_FUNDS"]
    close = await oms.place_order(CE[25700], "BUY", LOT, product="NRML")
    assert close.status is OrderStatus.FILLED and oms.snapshot().fno_margin == 0


async def test_a_reopened_account_margins_its_fno_positions_before_any_fno_order(tmp_path):
    url = f"duckdb:///{tmp_path}/fno.duckdb"
    clock = SimulatedClock(START)
    first = await OMS.open(url, feed=None, fees=None, clock=clock, risk_interval=None, instruments=INSTRUMENTS,
                           cash=1_000_000, limits=LIMITS)
    await first.set_price("NIFTY", SPOT)
    await first.set_price(CE[25700], premium(25700, "CE"))
    await filled(first, CE[25700], "SELL")
    margin = first.snapshot().fno_margin
    await first.close()

    again = await OMS.open(url, feed=None, fees=None, clock=clock, risk_interval=None, instruments=INSTRUMENTS,
                           limits=LIMITS)
    try:
        await again.set_price("NIFTY", SPOT)
        snap = again.snapshot()
        assert snap.fno_margin == margin and snap.equity_margin == 0
    finally:
        await again.close()


# -- hostile values ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sync_oms() -> Iterator[Any]:
    oms = ok.open_sync(feed=None, fees=None, clock=SimulatedClock(START), risk_interval=None,
                       instruments=INSTRUMENTS, limits=LIMITS)
    oms.set_price("NIFTY", SPOT)
    yield oms
    oms.close()


quantities = st.one_of(st.integers(-10, 10**10), st.floats(allow_nan=True), st.text(max_size=3), st.none())
prices = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.decimals(allow_nan=True),
                   st.integers(-5, 10**10), st.sampled_from(["1e999", "abc", "0.05"]))


@settings(max_examples=80, deadline=None)
@given(symbol=st.sampled_from([FUTURE.symbol, CE[25700], PE[25500], "RELIANCE"]),
       side=st.sampled_from(["BUY", "SELL", "HOLD"]), quantity=quantities,
       order_type=st.sampled_from(["MARKET", "LIMIT", "SL", "SL-M"]), price=prices,
       underlying=st.floats(0.05, 1e9), option=st.one_of(st.none(), st.floats(0.05, 1e9)))
def test_hostile_values_give_rows_or_a_named_error_never_a_crash(sync_oms, symbol, side, quantity, order_type,
                                                                 price, underlying, option):
    sync_oms.set_price("NIFTY", underlying)  # an index anywhere, options priced far outside their bounds
    if option is not None:
        sync_oms.set_price(CE[25700], option)
    try:
        frame = sync_oms.validate(symbol, side, quantity, order_type, price, product="NRML",
                                  trigger_price=price if order_type.startswith("SL") else None)
    except InvalidOrderError as error:
        assert error.field in {"side", "quantity", "price", "trigger_price", "order_type"}
        return
    names = set(frame["name"])
    assert ("margin_required" in names) == (symbol != "RELIANCE")
    if "margin_required" in names and not row(frame, "margin_required")["skipped"]:
        required = row(frame, "margin_required")
        assert required["passed"] == (D(required["value"]) <= 0 or D(required["headroom"]) >= 0)
    summary = sync_oms.margin_summary()
    assert list(summary.columns)[:3] == ["underlying", "price", "reference"]


def test_the_margin_helpers_refuse_what_is_not_a_contract():
    assert not account_margin_module.is_derivative(None)
    assert not account_margin_module.is_derivative(Instrument("RELIANCE"))
    assert account_margin_module.is_derivative(FUTURE) and account_margin_module.is_derivative(option(25700, "CE"))
    assert ok.black76 is account_margin_module.black76 and ok.margin.Leg is account_margin_module.Leg



async def test_a_modify_of_an_fno_order_is_margined_without_the_order_it_replaces(open_oms):
    oms = await open_oms(400_000)
    high = premium(25700, "CE") * 3  # above the market: the sell rests
    resting = await oms.place_order(CE[25700], "SELL", LOT, "LIMIT", high, product="NRML")
    assert resting.status is OrderStatus.OPEN
    free = oms.snapshot().available_funds
    one_lot = D(row(oms.validate(CE[25700], "SELL", LOT, "LIMIT", high, product="NRML"), "margin_required")["value"])
    assert 0 < free < one_lot * 2  # room for this lot, not for two more

    with pytest.raises(ok.OrderModifyRejected) as refused:
        await oms.modify_order(resting.order_id, quantity=4 * LOT)
    assert [v.code for v in refused.value.violations] == ["INSUFFICIENT_FUNDS"]
    moved = await oms.modify_order(resting.order_id, price=high + 1)  # the same lot again: fits
    assert moved.price == D(str(high + 1)) and oms.snapshot().available_funds == free


async def test_kites_margins_show_the_f_and_o_margin_and_the_free_cash_the_checks_use(open_oms):
    from kiteconnect import KiteConnect

    from oms_kit.service import serve

    oms = await open_oms()
    short = await oms.place_order(CE[25700], "SELL", LOT, "LIMIT", premium(25700, "CE"), product="NRML")
    server = await serve(oms, port=0)
    try:
        kite = KiteConnect(api_key=oms.account, root=server.url)
        kite.set_access_token(server.token)
        margins = await asyncio.to_thread(kite.margins, "equity")
    finally:
        await server.stop()
    summary = oms.risk_summary()

    assert short.status is OrderStatus.OPEN or short.status is OrderStatus.FILLED
    assert margins["utilised"]["span"] == pytest.approx(float(summary["fno_margin"]), abs=0.01)
    assert margins["utilised"]["span"] > 0
    assert margins["net"] == pytest.approx(float(summary["available_funds"]), abs=0.01)
