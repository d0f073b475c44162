"""The contract-note view of an OMS day and of a backtest: the fills with their trade date and segment, added up as a
contract note adds them, beside the fees the fills were booked with; and hostile values for the new methods.

A fill is priced alone (each charge rounded to the paisa); a contract note takes the charges on the day's totals and
rounds each once, STT to the rupee. With fills whose every charge is a whole number of paise (turnovers of 50 lakh:
see ``EXACT``) the two agree to the paisa; otherwise they differ by that rounding, which a test pins.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import oms_kit as ok
from oms_kit import OMS, RiskLimits, SimulatedClock
from oms_kit.broker.charges import NseFees, charges, fill_segment
from oms_kit.broker.notes import day_window, fills_contract_note
from oms_kit.broker.rates import CHARGES
from oms_kit.errors import ConfigError, DataError
from oms_kit.models import OrderStatus, Product
from oms_kit.tables import TRADE_COLUMNS
from oms_kit.tradable import Instrument
from tests.stubs import bar_frame

D = Decimal
FUT = Instrument("NIFTY24DECFUT", exchange="NFO", lot_size=25, instrument_type="FUT", underlying="NIFTY",
                 expiry=date(2024, 12, 26), segment="NFO-FUT")
CALL = Instrument("NIFTY24DEC25000CE", exchange="NFO", lot_size=25, instrument_type="CE", underlying="NIFTY",
                  expiry=date(2024, 12, 26), strike=D("25000"), segment="NFO-OPT")
SEP_30 = datetime(2024, 9, 30, 4, 0, tzinfo=UTC)  # 09:30 in India
# Fills of 50 lakh each: at every rate of the table (before and after 1 October 2024) each charge, GST on brokerage
# of 20 included, is a whole number of paise, and STT a whole number of rupees. (symbol, side, quantity, price,
# product)
EXACT = [
    ("RELIANCE", "BUY", 2000, 2500.0, "CNC"),
    ("RELIANCE", "BUY", 2000, 2500.0, "MIS"),
    ("RELIANCE", "SELL", 2000, 2500.0, "MIS"),
    (FUT.symbol, "SELL", 200, 25000.0, "NRML"),
    (CALL.symbol, "BUY", 25000, 200.0, "NRML"),
    (CALL.symbol, "SELL", 25000, 200.0, "NRML"),
]


async def open_oms(clock: SimulatedClock, fees: object = "nse") -> OMS:
    return await OMS.open(feed=None, fees=fees, clock=clock, risk_interval=None, cash=100_000_000,
                          instruments=[FUT, CALL],
                          limits=RiskLimits(max_order_value=None, max_gross_exposure=None, price_collar_pct=None))


async def fill(oms: OMS, clock: SimulatedClock, symbol: str, side: str, quantity: int, price: float,
               product: str) -> None:
    clock.advance(5)
    await oms.set_price(symbol, price)
    order = await oms.place_order(symbol, side, quantity, product=product)
    assert order.status is OrderStatus.FILLED, order.violations


def per_fill(trades: pd.DataFrame, day: date, segment: str, charge: str) -> Decimal:
    """What the fills of one day and segment paid for one charge, each priced alone (as the broker priced them)."""
    total = D("0.00")
    for row in trades.to_dict("records"):
        instrument = {FUT.symbol: FUT, CALL.symbol: CALL}.get(row["symbol"])
        if fill_segment(row["product"], instrument).value == segment:
            total += charges(segment, row["side"], row["quantity"], row["price"], day)[charge]
    return total


@pytest.mark.parametrize("day", [SEP_30, SEP_30 + timedelta(days=1)])
async def test_an_oms_days_contract_note_equals_its_fills_fees_to_the_paisa(day):
    clock = SimulatedClock(day)
    oms = await open_oms(clock)
    try:
        for spec in EXACT:
            await fill(oms, clock, *spec)
        note = oms.contract_note()
        trades = oms.trades()
    finally:
        await oms.close()

    trade_date = day.date()
    segments = ["equity_delivery", "equity_intraday", "futures", "options"]
    assert list(note.index) == [(trade_date, segment) for segment in segments]
    for segment in segments:
        line = note.loc[(trade_date, segment)]
        for charge in CHARGES:
            assert line[charge] == per_fill(trades, trade_date, segment, charge), (segment, charge)
        assert line["total_charges"] == line["fills_fees"]
    assert note["fills_fees"].sum() == trades["fees"].sum() > 0
    # The rates of the day: options STT on 50 lakh of premium sold, 0.0625 % before 1 October 2024 and 0.1 % after.
    assert note.loc[(trade_date, "options"), "stt"] == (D("3125.00") if day == SEP_30 else D("5000.00"))


async def test_the_note_differs_from_the_fills_by_stt_rounded_to_the_rupee():
    # Zerodha's calculator example: sell 20 @ 103.55 intraday pays STT of 0.52, shown as 1 on the contract note.
    clock = SimulatedClock(SEP_30 + timedelta(days=1))
    oms = await open_oms(clock)
    try:
        await fill(oms, clock, "RELIANCE", "BUY", 20, 103.30, "MIS")
        await fill(oms, clock, "RELIANCE", "SELL", 20, 103.55, "MIS")
        line = oms.contract_note().iloc[0]
        fills_stt = per_fill(oms.trades(), date(2024, 10, 1), "equity_intraday", "stt")
    finally:
        await oms.close()

    # Per fill: brokerage 0.62 + 0.62, exchange 0.06 + 0.06, stamp 0.06, GST 0.12 + 0.12, STT 0.52: 2.18. On the
    # note the same, except STT 1.00 (0.51775 rounded to the rupee) and GST 18 % of 1.36 = 0.24: 2.66.
    assert (line["stt"], fills_stt) == (D("1.00"), D("0.52"))
    assert (line["fills_fees"], line["total_charges"]) == (D("2.18"), D("2.66"))
    assert line["total_charges"] - line["fills_fees"] == line["stt"] - fills_stt


async def test_the_note_of_a_day_names_that_days_fills_and_the_current_day_is_the_default():
    clock = SimulatedClock(SEP_30)
    oms = await open_oms(clock)
    try:
        await fill(oms, clock, FUT.symbol, "BUY", 200, 25000.0, "NRML")
        clock.advance(86_400)
        await oms.check_risk()  # the risk monitor rolls the day
        await fill(oms, clock, FUT.symbol, "SELL", 200, 25000.0, "NRML")
        today, yesterday = oms.contract_note(), oms.contract_note(date(2024, 9, 30))
        fees = oms.trades()["fees"].tolist()
        empty = oms.contract_note(date(2024, 9, 29))
    finally:
        await oms.close()

    assert list(today.index) == [(date(2024, 10, 1), "futures")]
    assert list(yesterday.index) == [(date(2024, 9, 30), "futures")]
    assert (yesterday.iloc[0]["fills_fees"], today.iloc[0]["fills_fees"]) == tuple(fees)
    # The sell pays the futures STT of its date: 0.02 % of 50 lakh.
    assert (yesterday.iloc[0]["stt"], today.iloc[0]["stt"]) == (D("0.00"), D("1000.00"))
    assert empty.empty and "fills_fees" in empty.columns


async def test_with_india_equity_fees_the_note_leaves_ipft_out_like_the_model():
    clock = SimulatedClock(SEP_30 + timedelta(days=1))
    oms = await open_oms(clock, fees="india_equity")
    try:
        await fill(oms, clock, "RELIANCE", "BUY", 2000, 2500.0, "MIS")
        note = oms.contract_note()
    finally:
        await oms.close()

    line = note.iloc[0]
    assert "ipft" not in note.columns
    assert line["total_charges"] == line["fills_fees"] > 0


class Trader(ok.Strategy):
    """Buys ``quantity`` on the first bar and sells it on the third, in ``product``."""

    quantity: int = 2000
    product: str = "MIS"

    def on_start(self, ctx):
        self.count = 0

    def on_bar(self, ctx, bar):
        if self.count in (0, 2):
            ctx.order(bar.symbol, "BUY" if self.count == 0 else "SELL", self.quantity, product=self.product)
        self.count += 1


@pytest.mark.parametrize(("symbol", "instruments", "price", "segment"),
                         [("RELIANCE", None, 2500.0, "equity_intraday"), (FUT.symbol, [FUT], 25000.0, "futures")])
def test_a_backtests_contract_note_equals_its_fills_fees(symbol, instruments, price, segment):
    quantity = 2000 if symbol == "RELIANCE" else 200
    bars = bar_frame([(price, price + 5, price - 5, price)] * 4, symbol=symbol, start=SEP_30)
    result = ok.backtest(Trader(quantity=quantity, product="MIS" if symbol == "RELIANCE" else "NRML"), bars,
                         fees="nse", instruments=instruments, cash=100_000_000,
                         limits=RiskLimits(max_order_value=None, max_gross_exposure=None))

    note = result.contract_note()
    assert list(note.index) == [(date(2024, 9, 30), segment)]
    line = note.iloc[0]
    assert line["fills_fees"] == line["total_charges"] == result.trades["fees"].sum()
    assert line["buy_value"] == line["sell_value"] == D(quantity) * D(str(price))


def test_a_backtest_over_days_has_a_line_per_trade_date_in_india():
    # 18:45 UTC on 30 September is 00:15 on 1 October in India: the sell's trade date, at the new STT.
    frame = bar_frame([(2500.0, 2505.0, 2495.0, 2500.0)] * 4, start=datetime(2024, 9, 30, 18, 42, tzinfo=UTC))
    result = ok.backtest(Trader(), frame, fees="nse", cash=100_000_000, limits=RiskLimits(max_order_value=None))

    note = result.contract_note()
    assert list(note.index) == [(date(2024, 10, 1), "equity_intraday")]
    assert note.iloc[0]["fills_fees"] == result.trades["fees"].sum()

    before = bar_frame([(2500.0, 2505.0, 2495.0, 2500.0)] * 4, start=datetime(2024, 3, 28, 4, 0, tzinfo=UTC))
    with pytest.raises(DataError, match="invalid trade_date"):
        ok.backtest(Trader(), before, fees=None, cash=100_000_000).contract_note()


# -- hostile values ---------------------------------------------------------------------------------------------

not_a_date = st.one_of(st.just("2024-10-01"), st.integers(), st.floats(), st.text(max_size=8),
                       st.datetimes(), st.just(pd.Timestamp("2024-10-01")), st.lists(st.integers(), max_size=2))


@given(day=not_a_date)
def test_day_window_refuses_anything_but_a_date_naming_day(day):
    with pytest.raises(ConfigError, match="invalid day") as raised:
        day_window(day, UTC, None)
    assert raised.value.field == "day"


@given(day=st.dates())
def test_day_window_covers_the_whole_day_and_nothing_more(day):
    since, until = day_window(day, UTC, None)

    assert since == datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    if day == date.max:
        assert until is None
    else:
        assert until.date() == day and (until + timedelta(microseconds=1)).date() == day + timedelta(days=1)


@given(product=st.one_of(st.text(max_size=6).filter(lambda s: s.strip().upper() not in ("CNC", "MIS", "NRML")),
                         st.none(), st.integers(), st.booleans(), st.floats()))
def test_fill_segment_refuses_a_bad_product_naming_it(product):
    with pytest.raises(ConfigError, match="invalid product"):
        fill_segment(product)


@given(instrument=st.one_of(st.text(max_size=6), st.integers(), st.dictionaries(st.text(max_size=3), st.integers()),
                            st.just({"instrument_type": "FUT"})))
def test_a_bad_instrument_is_refused_naming_it(instrument):
    with pytest.raises(ConfigError, match="invalid instrument"):
        fill_segment(Product.MIS, instrument)
    with pytest.raises(ConfigError, match="invalid instrument"):
        NseFees().fees("BUY", "MIS", 1, D("1"), instrument=instrument)


@given(product=st.sampled_from(Product), kind=st.sampled_from(["FUT", "CE", "PE"]))
def test_a_derivative_is_its_segment_whatever_the_product_and_the_resolver_say(product, kind):
    contract = Instrument(f"X{kind}", instrument_type=kind, underlying="X", expiry=date(2025, 1, 30),
                          strike=None if kind == "FUT" else D("100"))
    model = NseFees(segment_of=lambda symbol: "equity_delivery")

    assert model.segment(product, instrument=contract).value == ("futures" if kind == "FUT" else "options")
    assert model.segment(product, instrument=Instrument("ACME")).value == "equity_delivery"  # EQ: the resolver


@given(trades=st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=3),
                        st.just(pd.DataFrame({"symbol": ["A"]})), st.just(pd.DataFrame())))
def test_fills_contract_note_refuses_what_is_not_a_table_of_fills(trades):
    with pytest.raises(ConfigError, match="invalid trades"):
        fills_contract_note(trades, {}, None)


@given(instruments=st.one_of(st.none(), st.integers(), st.lists(st.just(FUT), max_size=2), st.text(max_size=3)))
def test_fills_contract_note_refuses_instruments_that_are_not_a_mapping(instruments):
    with pytest.raises(ConfigError, match="invalid instruments"):
        fills_contract_note(pd.DataFrame(columns=TRADE_COLUMNS), instruments, None)


@pytest.mark.parametrize("day", ["2024-09-30", datetime(2024, 9, 30, tzinfo=UTC), 20240930, 1.5])
async def test_oms_contract_note_refuses_a_day_that_is_not_a_date(day):
    oms = await open_oms(SimulatedClock(SEP_30))
    try:
        with pytest.raises(ConfigError, match="invalid day"):
            oms.contract_note(day)
    finally:
        await oms.close()
