"""Charges by trade date and segment: published worked examples to the paisa, the rate changes of 1 October 2024 and
1 April 2026, the contract-note view, the fee model in the mock broker, and hostile input.

Sources of the worked examples:

* Zerodha's brokerage calculator (https://zerodha.com/brokerage-calculator/) for Buy 1000, Sell 1000, Qty 500 in
  each segment, as recorded in the public repository https://github.com/marketcalls/vectorbt-backtesting-skills
  (its notes on Indian market costs; totals 224.61 intraday, 1112.41 delivery, 179.97 futures, 982.63 options;
  F&O STT at the rates of October 2024 to March 2026).
* Nithin Kamath, "Impact of revision in Exchange Transaction Charges and STT", 1 October 2024,
  https://nithinkamath.me/blog/impact-of-revision-in-exchange-transaction-charges-and-stt : on the selling side the
  change costs Rs 2,303 more per crore of options premium and Rs 735 more per crore of futures turnover.
* Zerodha's calculator rounding STT to the rupee: https://tradingqna.com/t/stt-tax-in-zerodha-brokerage-calculator/88483
  (sell 20 @ 103.55 intraday: 0.52 shown as 1) and https://tradingqna.com/t/stt-zerodha-brokerage-calculator/21903
  (sell 100 @ 101: 2.525 shown as 3).
"""

from __future__ import annotations

import io
import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from oms_kit.broker import FeeModel, IndiaEquityFees, fee_model
from oms_kit.broker.charges import NseFees, charges, contract_note, fill_segment
from oms_kit.broker.rates import CHARGES, RateTable, Segment, default_rate_table, read_rate_table
from oms_kit.errors import ConfigError, DataError
from oms_kit.models import Product, Side
from oms_kit.parsing import MAX_PRICE, MAX_QUANTITY
from oms_kit.tradable import Instrument
from tests.stubs import T0
from tests.test_broker import INSTRUMENT, make_broker, order, quote

D = Decimal
JUNE_2025 = date(2025, 6, 2)  # F&O STT at 0.02 % / 0.1 %: the period of the calculator figures
SHIPPED = default_rate_table()


def round_trip(segment: str, day: date = JUNE_2025, buy: str = "1000", sell: str = "1000", quantity: int = 500):
    return [
        {"trade_date": day, "segment": segment, "side": "BUY", "quantity": quantity, "price": D(buy), "order_id": "B"},
        {"trade_date": day, "segment": segment, "side": "SELL", "quantity": quantity, "price": D(sell),
         "order_id": "S"},
    ]


# -- published worked examples ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("segment", "lines"),
    [
        # brokerage 20 + 20; STT 0.025 % x 5 L; exchange 0.00297 % x 10 L; IPFT and SEBI Rs 10 / crore x 10 L;
        # stamp 0.003 % x 5 L; GST 18 % x (40 + 29.70 + 1 + 1) = 12.906
        ("equity_intraday", ("40.00", "125.00", "29.70", "1.00", "1.00", "15.00", "12.91", "224.61")),
        # no brokerage; STT 0.1 % x 10 L; stamp 0.015 % x 5 L; GST 18 % x 31.70 = 5.706
        ("equity_delivery", ("0.00", "1000.00", "29.70", "1.00", "1.00", "75.00", "5.71", "1112.41")),
        # STT 0.02 % x 5 L; exchange 0.00173 % x 10 L; stamp 0.002 % x 5 L; GST 18 % x 59.30 = 10.674
        ("futures", ("40.00", "100.00", "17.30", "1.00", "1.00", "10.00", "10.67", "179.97")),
        # flat 20 per order; STT 0.1 % of sell premium; exchange 0.03503 %, IPFT Rs 50 / crore of premium;
        # GST 18 % x (40 + 350.30 + 5 + 1) = 71.334
        ("options", ("40.00", "500.00", "350.30", "5.00", "1.00", "15.00", "71.33", "982.63")),
    ],
)
def test_contract_note_equals_zerodhas_calculator_to_the_paisa(segment, lines):
    note = contract_note(round_trip(segment))

    line = note.loc[(JUNE_2025, segment)]
    assert [str(line[name]) for name in (*CHARGES, "total_charges")] == list(lines)
    assert line["buy_value"] == line["sell_value"] == D("500000.00")


def test_stt_is_rounded_to_the_rupee_on_the_contract_note_and_to_the_paisa_per_fill():
    small = contract_note(round_trip("equity_intraday", buy="103.30", sell="103.55", quantity=20))
    half = contract_note(round_trip("equity_intraday", buy="100", sell="101", quantity=100))

    assert small.loc[(JUNE_2025, "equity_intraday"), "stt"] == D("1.00")  # 0.51775
    assert half.loc[(JUNE_2025, "equity_intraday"), "stt"] == D("3.00")  # 2.525, half up
    assert charges("equity_intraday", "SELL", 20, D("103.55"), JUNE_2025)["stt"] == D("0.52")


# -- the rates change with the trade date ------------------------------------------------------------------------


def sell_side_cost(segment: str, day: date, quantity: int, price: str) -> Decimal:
    lines = charges(segment, Side.SELL, quantity, D(price), day)
    return lines["stt"] + lines["exchange_transaction_charge"]


@pytest.mark.parametrize(("segment", "quantity", "price", "increase"),
                         [("options", 1000, "10000", D("2303.00")), ("futures", 100, "100000", D("735.00"))])
def test_october_2024_change_costs_what_the_broker_announced_per_crore_sold(segment, quantity, price, increase):
    before = sell_side_cost(segment, date(2024, 9, 30), quantity, price)
    after = sell_side_cost(segment, date(2024, 10, 1), quantity, price)

    assert after - before == increase


def test_a_trade_before_and_after_october_2024_gets_the_old_and_new_rates():
    # Options sell, premium 1 lakh: STT 0.0625 % -> 0.1 %, exchange 0.0495 % -> 0.03503 %.
    old = charges("options", "SELL", 1000, D("100"), date(2024, 9, 30))
    new = charges("options", "SELL", 1000, D("100"), date(2024, 10, 1))
    # Equity: NSE 0.00322 % -> flat 0.00297 %; STT unchanged.
    cash_old = charges("equity_delivery", "BUY", 1000, D("100"), date(2024, 9, 30))
    cash_new = charges("equity_delivery", "BUY", 1000, D("100"), date(2024, 10, 1))

    assert (old["stt"], old["exchange_transaction_charge"]) == (D("62.50"), D("49.50"))
    assert (new["stt"], new["exchange_transaction_charge"]) == (D("100.00"), D("35.03"))
    assert (cash_old["exchange_transaction_charge"], cash_new["exchange_transaction_charge"]) == (D("3.22"),
                                                                                                   D("2.97"))
    assert cash_old["stt"] == cash_new["stt"] == D("100.00")


def test_april_2026_raises_fo_stt_to_the_finance_act_2026_rates():
    # Finance Bill 2026, clause 143: futures 0.02 % -> 0.05 %, options 0.1 % -> 0.15 % of premium, from 1 April 2026.
    assert charges("futures", "SELL", 100, D("1000"), date(2026, 3, 31))["stt"] == D("20.00")
    assert charges("futures", "SELL", 100, D("1000"), date(2026, 4, 1))["stt"] == D("50.00")
    assert charges("options", "SELL", 100, D("1000"), date(2026, 3, 31))["stt"] == D("100.00")
    assert charges("options", "SELL", 100, D("1000"), date(2026, 4, 1))["stt"] == D("150.00")
    assert charges("futures", "BUY", 100, D("1000"), date(2026, 4, 1))["stt"] == D("0.00")  # sell side only


def test_an_aware_timestamp_is_dated_in_india():
    evening_utc = datetime(2024, 9, 30, 20, 0, tzinfo=UTC)  # 1 October, 01:30 in India

    assert charges("options", "SELL", 1000, D("100"), evening_utc) == charges("options", "SELL", 1000, D("100"),
                                                                                date(2024, 10, 1))


def test_every_shipped_row_names_its_source_and_the_periods_join():
    frame = SHIPPED.to_frame()

    assert len(frame) == len(SHIPPED.rows) > 0
    assert frame["source"].str.len().min() > 20
    assert SHIPPED.first_date == date(2024, 4, 1)
    for segment in Segment:
        for day in (SHIPPED.first_date, date(2024, 9, 30), date(2024, 10, 1), date(2026, 4, 1), SHIPPED.last_date):
            assert set(CHARGES) <= set(SHIPPED.rates_on(segment, day).rows)


@pytest.mark.parametrize("day", [date(2024, 3, 31), date(1900, 1, 1), date(9999, 12, 31), date(2040, 1, 1)])
def test_a_trade_date_outside_the_table_is_refused(day):
    with pytest.raises(ConfigError, match="invalid trade_date") as raised:
        charges("equity_delivery", "BUY", 1, D("1"), day)

    assert raised.value.field == "trade_date"
    assert str(SHIPPED.first_date) in raised.value.allowed


# -- the fee model -----------------------------------------------------------------------------------------------


def test_nse_fees_is_a_fee_model_and_a_name_fee_model_resolves():
    assert isinstance(NseFees(), FeeModel)
    assert type(fee_model("nse")) is NseFees


prices = st.integers(min_value=1, max_value=200_000).map(lambda ticks: D(ticks) * D("0.05"))
quantities = st.integers(min_value=1, max_value=100_000)
days_since_october_2024 = st.dates(min_value=date(2024, 10, 1), max_value=SHIPPED.last_date)


@given(side=st.sampled_from(Side), product=st.sampled_from(Product), quantity=quantities, price=prices,
       prior=st.sampled_from([D(0), D("66666.6675"), D("2500000.05")]), day=days_since_october_2024)
def test_without_ipft_the_equity_figures_are_india_equity_fees(side, product, quantity, price, prior, day):
    model = NseFees(ipft=False)
    expected = IndiaEquityFees().breakdown(side, product, quantity, price, prior_turnover=prior)

    assert model.breakdown(side, product, quantity, price, prior_turnover=prior, trade_date=day) == expected
    assert model.fees(side, product, quantity, price, prior_turnover=prior, trade_date=day) == sum(expected.values())


@given(side=st.sampled_from(Side), product=st.sampled_from(Product), quantity=quantities, price=prices)
def test_ipft_adds_rs_10_per_crore_and_its_gst(side, product, quantity, price):
    with_ipft = NseFees().breakdown(side, product, quantity, price)
    without = NseFees(ipft=False).breakdown(side, product, quantity, price)
    ipft = (price * quantity * D("0.000001")).quantize(D("0.01"), rounding="ROUND_HALF_UP")

    assert with_ipft["ipft"] == ipft
    gst_base = sum(with_ipft[name] for name in ("brokerage", "exchange_transaction_charge", "ipft", "sebi_fee"))
    assert with_ipft["gst"] == (gst_base * D("0.18")).quantize(D("0.01"), rounding="ROUND_HALF_UP")
    assert {k: v for k, v in with_ipft.items() if k not in ("ipft", "gst")} == {
        k: v for k, v in without.items() if k != "gst"}


def test_segment_resolver_prices_derivatives_and_leaves_cash_symbols_to_the_product():
    kinds = {"NIFTY25JUNFUT": "futures", "NIFTY25JUN24000CE": Segment.OPTIONS}
    model = NseFees(segment_of=kinds.get, trade_date=JUNE_2025)

    assert model.segment(Product.NRML, "NIFTY25JUNFUT") is Segment.FUTURES
    assert model.segment(Product.MIS, "NIFTY25JUN24000CE") is Segment.OPTIONS
    assert model.segment(Product.CNC, "RELIANCE") is Segment.EQUITY_DELIVERY
    assert model.segment(Product.NRML) is Segment.EQUITY_INTRADAY
    option = model.breakdown(Side.SELL, Product.NRML, 75, D("120"), symbol="NIFTY25JUN24000CE")
    assert option == charges("options", "SELL", 75, D("120"), JUNE_2025)


def test_a_resolver_answering_something_else_is_a_config_error():
    model = NseFees(segment_of=lambda symbol: "commodities")

    with pytest.raises(ConfigError, match="invalid segment_of") as raised:
        model.fees(Side.BUY, Product.MIS, 1, D("1"), symbol="GOLD")
    assert raised.value.value == "commodities"


def test_option_brokerage_is_flat_once_per_order_and_futures_capped_once_per_order():
    first = charges("options", "BUY", 75, D("100"), JUNE_2025)
    later = charges("options", "BUY", 75, D("100"), JUNE_2025, prior_turnover=D("7500"))
    # Futures: 0.03 % of a 50,000 fill is 15; the second fill's order is at 1 lakh, capped at 20.
    futures = [charges("futures", "BUY", 50, D("1000"), JUNE_2025, prior_turnover=D(p))["brokerage"]
               for p in ("0", "50000", "100000")]

    assert (first["brokerage"], later["brokerage"]) == (D("20.00"), D("0.00"))
    assert futures == [D("15.00"), D("5.00"), D("0.00")]


def test_the_mock_broker_charges_fills_with_nse_fees():
    broker, sink = make_broker(fees="nse")
    quote(broker, 2500.0)

    broker.submit(order(side=Side.SELL, quantity=10), INSTRUMENT, T0)

    fees = [report[4] for report in sink.reports if report[0] == "fill"]
    assert fees == [NseFees().fees(Side.SELL, Product.MIS, 10, D("2500.00"))]
    assert fees[0] > IndiaEquityFees().fees(Side.SELL, Product.MIS, 10, D("2500.00"))  # IPFT is billed


KINDS = {"EQ": Instrument("RELIANCE"),
         "FUT": Instrument("NIFTY25JUNFUT", instrument_type="FUT", underlying="NIFTY", expiry=date(2025, 6, 26)),
         "CE": Instrument("NIFTY25JUN24000CE", instrument_type="CE", underlying="NIFTY", expiry=date(2025, 6, 26),
                          strike=D("24000")),
         None: None}


@given(side=st.sampled_from(Side), product=st.sampled_from(Product), kind=st.sampled_from(list(KINDS)),
       quantity=st.one_of(quantities, st.just(MAX_QUANTITY)), price=st.one_of(prices, st.just(MAX_PRICE)),
       prior=st.sampled_from([D(0), D("7500.00"), D("2500000.05")]), ipft=st.booleans(),
       day=st.dates(min_value=SHIPPED.first_date, max_value=SHIPPED.last_date))
@example(side=Side.SELL, product=Product.NRML, kind="CE", quantity=1, price=D("0.05"), prior=D("7500.00"),
         ipft=True, day=JUNE_2025)  # an option's later fill: no brokerage, every charge rounds to 0.00
def test_the_brokers_call_costs_the_sum_of_the_breakdown(side, product, kind, quantity, price, prior, ipft, day):
    # fees() prices the broker's exact-typed call by a shorter road; it must land on the same paise.
    model = NseFees(ipft=ipft)
    instrument = KINDS[kind]
    breakdown = model.breakdown(side, product, quantity, price, prior_turnover=prior, trade_date=day,
                                instrument=instrument)
    fees = model.fees(side, product, quantity, price, prior_turnover=prior, trade_date=day, instrument=instrument)

    assert str(fees) == str(sum(breakdown.values(), D("0.00")))
    segment = fill_segment(product, instrument)
    assert breakdown == charges(segment, side, quantity, price, day, prior_turnover=prior, ipft=ipft)


# -- the contract note -------------------------------------------------------------------------------------------


def test_contract_note_charges_brokerage_per_order_and_sorts_days_and_segments():
    trades = [
        {"trade_date": date(2025, 6, 3), "segment": "futures", "side": "BUY", "quantity": 50, "price": "1000",
         "order_id": 7},
        {"trade_date": date(2025, 6, 3), "segment": "futures", "side": "BUY", "quantity": 50, "price": "1000",
         "order_id": 7},
        {"trade_date": JUNE_2025, "segment": "equity_intraday", "side": "SELL", "quantity": 1, "price": "100"},
        {"trade_date": JUNE_2025, "segment": "equity_intraday", "side": "SELL", "quantity": 1, "price": "100"},
    ]
    note = contract_note(trades)

    assert list(note.index) == [(JUNE_2025, "equity_intraday"), (date(2025, 6, 3), "futures")]
    assert note.loc[(date(2025, 6, 3), "futures"), "brokerage"] == D("20.00")  # one order of 1 lakh: the cap
    assert note.loc[(JUNE_2025, "equity_intraday"), "brokerage"] == D("0.06")  # two orders of 0.03 each
    assert contract_note([]).empty


def test_contract_note_reads_a_dataframe_of_fills_with_timestamps_and_float_prices():
    import pandas as pd

    fills = pd.DataFrame({"trade_date": [pd.Timestamp("2025-06-02 10:00", tz="Asia/Kolkata")] * 2,
                          "segment": ["options"] * 2, "side": ["BUY", "SELL"], "quantity": [75, 75],
                          "price": [120.5, 130.25], "order_id": [1, 2]})
    as_dicts = [{**row, "trade_date": JUNE_2025, "price": D(str(row["price"]))} for row in fills.to_dict("records")]

    note = contract_note(fills)
    assert note.equals(contract_note(as_dicts))
    assert note.loc[(JUNE_2025, "options"), "stt"] == D("10.00")  # 0.1 % of 9,768.75 = 9.77, to the rupee


@given(fills=st.lists(st.tuples(st.sampled_from(Segment), st.sampled_from(Side), st.integers(1, 5000), prices),
                      min_size=1, max_size=8))
def test_contract_note_differs_from_summed_fills_by_rounding_only(fills):
    trades = [{"trade_date": JUNE_2025, "segment": seg, "side": side, "quantity": q, "price": p, "order_id": i}
              for i, (seg, side, q, p) in enumerate(fills)]
    note = contract_note(trades)
    per_fill = sum(sum(charges(seg, side, q, p, JUNE_2025).values()) for seg, side, q, p in fills)

    # Each of 7 charges rounds by at most half a paisa per fill and once per segment; STT by half a rupee per
    # segment; GST carries 18 % of the others' rounding.
    slack = D("0.005") * 7 * (len(fills) + 4) * D("1.18") + D("0.50") * 4
    assert abs(note["total_charges"].sum() - per_fill) <= slack
    assert all(value >= 0 for value in note.to_numpy().ravel())


@pytest.mark.parametrize(
    ("field", "value"),
    [("quantity", 0), ("quantity", 2.5), ("price", "-1"), ("price", math.nan), ("side", "SHORT"),
     ("segment", "commodity"), ("trade_date", "2025-06-02"), ("trade_date", date(2020, 1, 1))],
)
def test_contract_note_names_the_bad_field_and_the_trade(field, value):
    trades = round_trip("equity_intraday")
    trades[1] = {**trades[1], field: value}

    with pytest.raises(DataError, match=f"invalid {field}") as raised:
        contract_note(trades)
    assert (raised.value.field, raised.value.row) == (field, 1)


def test_contract_note_refuses_what_is_not_a_list_of_trades():
    with pytest.raises(ConfigError, match="invalid trades"):
        contract_note("trades")
    with pytest.raises(DataError, match="invalid trade"):
        contract_note([("2025-06-02", "futures")])
    with pytest.raises(DataError, match="invalid price"):
        contract_note([{k: v for k, v in round_trip("futures")[0].items() if k != "price"}])


# -- hostile input -----------------------------------------------------------------------------------------------

GOOD = {"segment": "futures", "side": "BUY", "quantity": 10, "price": D("100"), "trade_date": JUNE_2025}
HOSTILE = {
    "segment": st.one_of(st.text(max_size=12).filter(lambda s: s.strip().lower() not in set(Segment)), st.none(),
                         st.integers(), st.just(b"futures")),
    "side": st.one_of(st.text(max_size=6).filter(lambda s: s.strip().upper() not in ("BUY", "SELL")), st.none(),
                      st.integers(), st.booleans()),
    "quantity": st.one_of(st.integers(max_value=0), st.integers(min_value=MAX_QUANTITY + 1), st.booleans(),
                          st.floats(), st.decimals(), st.text(max_size=5), st.none()),
    "price": st.one_of(st.decimals(max_value=0), st.decimals(allow_nan=True).filter(lambda d: not d.is_finite()),
                       st.integers(min_value=int(MAX_PRICE) + 1), st.floats(max_value=0), st.just(math.nan),
                       st.just(math.inf), st.booleans(), st.none(), st.text(alphabet="abc-", max_size=5),
                       st.lists(st.integers(), max_size=2)),
    "trade_date": st.one_of(st.dates(max_value=date(2024, 3, 31)),
                            st.dates(min_value=SHIPPED.last_date + timedelta(days=1)),
                            st.text(max_size=10), st.integers(), st.none(), st.floats()),
    "prior_turnover": st.one_of(st.decimals(max_value=D("-0.01")), st.just(D("NaN")), st.just(math.inf),
                                st.booleans(), st.text(alphabet="xyz", min_size=1, max_size=3),
                                st.integers(min_value=int(MAX_PRICE) * MAX_QUANTITY + 1)),
}


@given(data=st.data(), field=st.sampled_from(sorted(HOSTILE)))
def test_a_hostile_argument_is_a_config_error_naming_it(data, field):
    value = data.draw(HOSTILE[field], label=field)
    arguments = {**GOOD, field: value}
    prior = arguments.pop("prior_turnover", D(0))

    with pytest.raises(ConfigError, match=f"invalid {field}") as raised:
        charges(arguments["segment"], arguments["side"], arguments["quantity"], arguments["price"],
                arguments["trade_date"], prior_turnover=prior)
    assert raised.value.field == field


@given(segment=st.sampled_from(Segment), side=st.sampled_from(Side),
       quantity=st.one_of(st.just(MAX_QUANTITY), st.integers(1, MAX_QUANTITY)),
       price=st.one_of(st.just(MAX_PRICE), st.just(D("0.01")), st.decimals(min_value=D("0.01"), max_value=MAX_PRICE,
                                                                          places=2)),
       day=st.dates(min_value=SHIPPED.first_date, max_value=SHIPPED.last_date))
def test_extreme_but_valid_values_give_exact_non_negative_paise(segment, side, quantity, price, day):
    lines = charges(segment, side, quantity, price, day)

    assert list(lines) == list(CHARGES)
    assert all(v >= 0 and v == v.quantize(D("0.01")) for v in lines.values())
    turnover = price * quantity
    assert lines["stt"] <= turnover * D("0.0015") + D("0.005")  # the highest STT rate in the table


@pytest.mark.parametrize(("setting", "value"), [("trade_date", "2025-06-02"), ("segment_of", 42), ("table", {}),
                                                ("ipft", "yes")])
def test_nse_fees_settings_are_checked(setting, value):
    with pytest.raises(ConfigError, match=f"invalid {setting}"):
        NseFees(**{setting: value})


# -- reading a rate table ----------------------------------------------------------------------------------------


def shipped_csv() -> str:
    return SHIPPED.to_frame().assign(valid_to=lambda f: f["valid_to"].map(lambda d: d or "")).to_csv(index=False)


def edited(find: str, replace: str) -> io.StringIO:
    text = shipped_csv()
    assert find in text
    return io.StringIO(text.replace(find, replace, 1))


def test_the_shipped_table_reads_back_from_csv_unchanged():
    table = read_rate_table(io.StringIO(shipped_csv()))

    assert isinstance(table, RateTable)
    assert table.rows == SHIPPED.rows


@pytest.mark.parametrize(
    ("find", "replace", "field"),
    [
        ("futures,stt,0.000125", "futures,stt,-0.000125", "rate"),
        ("futures,stt,0.000125", "futures,stt,NaN", "rate"),
        ("futures,stt,0.000125", "futures,stamp,0.000125", "charge"),
        ("futures,stt,0.000125", "currency,stt,0.000125", "segment"),
        ("turnover,sell,2024-04-01,2024-09-30", "turnover,short,2024-04-01,2024-09-30", "side"),
        ("turnover,sell,2024-04-01,2024-09-30", "turnover,sell,2024-04-01,2024-09-29", "valid_from"),  # a gap
        ("turnover,sell,2024-04-01,2024-09-30", "turnover,sell,2024-04-01,2024-10-02", "valid_from"),  # overlap
        ("turnover,sell,2024-04-01,2024-09-30", "turnover,sell,2024-04-01,2024-02-30", "valid_to"),
        ("turnover,sell,2024-04-01,2024-09-30", "turnover,sell,2024-04-01,2024-03-01", "valid_to"),
        ("0.18,brokerage+", "0.18,stt+brokerage+", "basis"),
    ],
)
def test_a_bad_rate_table_is_a_data_error_naming_the_column(find, replace, field):
    with pytest.raises(DataError, match=f"invalid {field}") as raised:
        read_rate_table(edited(find, replace))

    assert raised.value.field == field


def test_a_rate_table_without_a_column_or_a_charge_is_refused():
    with pytest.raises(DataError, match="missing: source"):
        read_rate_table(io.StringIO("segment,charge,rate,basis,side,valid_from,valid_to\n"))
    rows = [row for row in SHIPPED.rows if not (row.segment is Segment.OPTIONS and row.charge == "ipft")]
    with pytest.raises(DataError, match="options has no rows for ipft"):
        RateTable(rows)
