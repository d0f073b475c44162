"""Fee models: contract-note arithmetic done by hand, the brokerage cap, NoFees and resolving ``fees=``."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from oms_kit.broker import (
    FEE_CONTEXT,
    FEE_MODELS,
    FeeModel,
    IndiaEquityFees,
    NoFees,
    NseFees,
    fee_keywords,
    fee_model,
)
from oms_kit.errors import ConfigError
from oms_kit.models import Product, Side

D = Decimal
FEES = IndiaEquityFees()
NO_PRIOR = D(0)


def test_cnc_buy_breakdown_matches_hand_computed_contract_note():
    # 10 @ 2500 = turnover 25,000
    #   brokerage  delivery                         0
    #   STT        0.1 % x 25,000                = 25.00
    #   exchange   0.00297 % x 25,000 = 0.7425  ->  0.74
    #   SEBI       25,000 x 10 / 1 crore = 0.025 ->  0.03 (half up)
    #   stamp      0.015 % x 25,000              =  3.75
    #   GST        18 % x (0 + 0.74 + 0.03) = 0.1386 -> 0.14
    #   total      25 + 0.74 + 0.03 + 3.75 + 0.14 = 29.66
    breakdown = FEES.breakdown(Side.BUY, Product.CNC, 10, D("2500"))

    assert breakdown == {
        "brokerage": D("0.00"),
        "stt": D("25.00"),
        "exchange_transaction_charge": D("0.74"),
        "sebi_fee": D("0.03"),
        "stamp_duty": D("3.75"),
        "gst": D("0.14"),
    }
    assert FEES.fees(Side.BUY, Product.CNC, 10, D("2500")) == D("29.66")


def test_cnc_sell_pays_stt_but_no_stamp_duty():
    # Delivery STT falls on both sides; stamp duty only on the buyer.
    breakdown = FEES.breakdown(Side.SELL, Product.CNC, 10, D("2500"))

    assert breakdown["stt"] == D("25.00")
    assert breakdown["stamp_duty"] == D("0.00")
    assert FEES.fees(Side.SELL, Product.CNC, 10, D("2500")) == D("25.91")  # 25 + 0.74 + 0.03 + 0.14


def test_mis_round_trip_matches_hand_computed_contract_note():
    # Buy 100 @ 500 = turnover 50,000
    #   brokerage  min(20, 0.03 % x 50,000 = 15)    = 15.00
    #   STT        intraday: sell side only          =  0.00
    #   exchange   0.00297 % x 50,000 = 1.485       ->  1.49 (half up)
    #   SEBI       50,000 x 1e-6 = 0.05              =  0.05
    #   stamp      0.003 % x 50,000                  =  1.50
    #   GST        18 % x (15 + 1.49 + 0.05 = 16.54) = 2.9772 -> 2.98
    #   total      15 + 1.49 + 0.05 + 1.50 + 2.98    = 21.02
    buy = FEES.breakdown(Side.BUY, Product.MIS, 100, D("500"))
    # Sell 100 @ 510 = turnover 51,000
    #   brokerage  min(20, 0.03 % x 51,000 = 15.3)  = 15.30
    #   STT        0.025 % x 51,000                  = 12.75
    #   exchange   0.00297 % x 51,000 = 1.5147      ->  1.51
    #   SEBI       51,000 x 1e-6 = 0.051            ->  0.05
    #   stamp      buy side only                     =  0.00
    #   GST        18 % x (15.30 + 1.51 + 0.05 = 16.86) = 3.0348 -> 3.03
    #   total      15.30 + 12.75 + 1.51 + 0.05 + 3.03 = 32.64
    sell = FEES.breakdown(Side.SELL, Product.MIS, 100, D("510"))

    assert buy == {
        "brokerage": D("15.00"),
        "stt": D("0.00"),
        "exchange_transaction_charge": D("1.49"),
        "sebi_fee": D("0.05"),
        "stamp_duty": D("1.50"),
        "gst": D("2.98"),
    }
    assert sell == {
        "brokerage": D("15.30"),
        "stt": D("12.75"),
        "exchange_transaction_charge": D("1.51"),
        "sebi_fee": D("0.05"),
        "stamp_duty": D("0.00"),
        "gst": D("3.03"),
    }
    round_trip = FEES.fees(Side.BUY, Product.MIS, 100, D("500")) + FEES.fees(Side.SELL, Product.MIS, 100, D("510"))
    assert round_trip == D("53.66")  # 21.02 + 32.64: a gross profit of 1,000 nets 946.34


def test_mis_brokerage_is_capped_at_20_rupees_per_order():
    # 1,000 @ 1,000 = turnover 10 lakh; 0.03 % would be 300, the cap is 20.
    breakdown = FEES.breakdown(Side.BUY, Product.MIS, 1000, D("1000"))

    assert breakdown["brokerage"] == D("20.00")
    # GST 18 % x (20 + exchange 29.70 + SEBI 1.00 = 50.70) = 9.126 -> 9.13
    assert breakdown["gst"] == D("9.13")


def test_partial_fills_with_prior_turnover_pay_the_cap_once():
    # One order of 100 @ 1000 (turnover 1 lakh, 0.03 % = 30, capped at 20) filled as 50 + 50:
    # the first fill owes min(20, 15) = 15, the second min(20, 30) - 15 = 5; together the order's 20.
    first = FEES.breakdown(Side.BUY, Product.MIS, 50, D("1000"))
    second = FEES.breakdown(Side.BUY, Product.MIS, 50, D("1000"), prior_turnover=D("50000"))

    assert first["brokerage"] == D("15.00")
    assert second["brokerage"] == D("5.00")


def test_partial_fills_without_prior_turnover_are_priced_as_orders_of_their_own():
    fill = FEES.breakdown(Side.BUY, Product.MIS, 50, D("1000"))

    assert fill["brokerage"] * 2 == D("30.00")  # more than the order's 20: what the default costs


def test_nrml_equity_is_priced_at_intraday_rates():
    for side in Side:
        assert FEES.breakdown(side, Product.NRML, 37, D("1234.55")) == FEES.breakdown(
            side, Product.MIS, 37, D("1234.55")
        )


def test_rates_are_configuration_and_accept_strings():
    flat_broker = IndiaEquityFees(intraday_brokerage_rate="0.0005", brokerage_cap=D("25"))

    assert flat_broker.intraday_brokerage_rate == D("0.0005")
    assert flat_broker.breakdown(Side.BUY, Product.MIS, 100, D("100"))["brokerage"] == D("5.00")
    assert flat_broker.breakdown(Side.BUY, Product.MIS, 1000, D("1000"))["brokerage"] == D("25.00")


@pytest.mark.parametrize("bad", [D("-0.1"), "abc", float("nan"), True])
def test_rate_that_is_not_a_finite_non_negative_number_is_refused(bad):
    with pytest.raises(ConfigError, match="invalid gst_rate") as raised:
        IndiaEquityFees(gst_rate=bad)

    assert raised.value.field == "gst_rate"


def test_no_fees_charges_nothing():
    model = NoFees()

    assert model.fees(Side.BUY, Product.MIS, 1000, D("1000")) == D("0.00")
    assert model.breakdown(Side.SELL, Product.CNC, 1, D("1")) == {}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("india_equity", IndiaEquityFees), (" India_Equity ", IndiaEquityFees), ("none", NoFees), (None, NoFees)],
)
def test_fee_model_resolves_names_and_none(spec, expected):
    assert type(fee_model(spec)) is expected


def test_fee_model_returns_an_instance_as_given():
    custom = IndiaEquityFees(brokerage_cap=D("10"))

    assert fee_model(custom) is custom


def test_fee_model_accepts_any_object_with_the_protocol_methods():
    class Flat:
        def fees(self, side, product, quantity, price, *, prior_turnover=NO_PRIOR):
            return D("1.00")

        def breakdown(self, side, product, quantity, price, *, prior_turnover=NO_PRIOR):
            return {"flat": D("1.00")}

    model = Flat()

    assert fee_model(model) is model
    assert isinstance(model, FeeModel)


def test_unknown_fee_model_name_raises_naming_field_value_and_allowed_names():
    with pytest.raises(ConfigError, match="invalid fees") as raised:
        fee_model("zerodha_pro")

    error = raised.value
    assert isinstance(error, ValueError)
    assert error.field == "fees"
    assert error.value == "zerodha_pro"
    for name in FEE_MODELS:
        assert repr(name) in error.allowed
    assert "'zerodha_pro'" in str(error)


def test_fee_model_class_instead_of_instance_raises_with_a_hint():
    with pytest.raises(ConfigError, match="invalid fees") as raised:
        fee_model(IndiaEquityFees)  # type: ignore[arg-type]

    assert raised.value.hint == "pass an instance: IndiaEquityFees()"


def test_fee_model_of_another_type_raises():
    with pytest.raises(ConfigError, match="invalid fees"):
        fee_model(42)  # type: ignore[arg-type]


prices = st.integers(min_value=1, max_value=200_000).map(lambda ticks: D(ticks) * D("0.05"))
quantities = st.integers(min_value=1, max_value=100_000)


@given(side=st.sampled_from(Side), product=st.sampled_from(Product), quantity=quantities, price=prices)
def test_breakdown_is_in_paise_non_negative_and_adds_up_to_fees(side, product, quantity, price):
    breakdown = FEES.breakdown(side, product, quantity, price)

    assert all(value >= 0 and value == value.quantize(D("0.01")) for value in breakdown.values())
    assert sum(breakdown.values()) == FEES.fees(side, product, quantity, price)


@given(
    side=st.sampled_from(Side),
    product=st.sampled_from(Product),
    parts=st.lists(st.integers(min_value=1, max_value=5_000), min_size=1, max_size=6),
    price=prices,
)
def test_brokerage_of_fills_with_prior_turnover_adds_up_to_the_whole_orders(side, product, parts, price):
    prior = D(0)
    paid = D(0)
    for quantity in parts:
        paid += FEES.breakdown(side, product, quantity, price, prior_turnover=prior)["brokerage"]
        prior += price * quantity

    assert paid == FEES.breakdown(side, product, sum(parts), price)["brokerage"]


def _reference_breakdown(model: IndiaEquityFees, side: Side, product: Product, quantity: int, price: Decimal,
                         prior: Decimal) -> dict[str, Decimal]:
    # The contract note's arithmetic written plainly in Decimal: each charge turnover x rate, rounded half up to
    # the paisa; brokerage capped per order; GST on the rounded charges.
    def rounded(value: Decimal) -> Decimal:
        return value.quantize(D("0.01"), rounding="ROUND_HALF_UP")

    turnover = price * quantity
    delivery = product is Product.CNC
    buy = side is Side.BUY
    stt_rate = model.delivery_stt_rate if delivery else (model.intraday_stt_rate if not buy else D(0))
    stamp_rate = (model.delivery_stamp_duty_rate if delivery else model.intraday_stamp_duty_rate) if buy else D(0)
    rate = model.delivery_brokerage_rate if delivery else model.intraday_brokerage_rate
    brokerage = rounded(min(model.brokerage_cap, (prior + turnover) * rate)) - rounded(
        min(model.brokerage_cap, prior * rate))
    exchange = rounded(turnover * model.exchange_transaction_rate)
    sebi = rounded(turnover * model.sebi_fee_rate)
    return {"brokerage": brokerage, "stt": rounded(turnover * stt_rate), "exchange_transaction_charge": exchange,
            "sebi_fee": sebi, "stamp_duty": rounded(turnover * stamp_rate),
            "gst": rounded((brokerage + exchange + sebi) * model.gst_rate)}


@example(side=Side.BUY, product=Product.CNC, quantity=10, price=D("2500"), prior=D(0), rates={})  # SEBI 0.025
@given(
    side=st.sampled_from(Side),
    product=st.sampled_from(Product),
    quantity=st.integers(min_value=1, max_value=10**6),
    price=st.builds(lambda ticks, tick: D(ticks) * D(tick), st.integers(1, 10**7),
                    st.sampled_from(["0.05", "0.01", "0.0025", "1"])),
    prior=st.sampled_from([D(0), D("66666.6675"), D("100"), D("2500000.05")]),
    rates=st.sampled_from([{}, {"intraday_brokerage_rate": "0.0005", "brokerage_cap": "17.5", "gst_rate": 0.2},
                           {"delivery_brokerage_rate": "0.001"}]),
)
def test_charges_equal_the_contract_note_arithmetic_in_decimal(side, product, quantity, price, prior, rates):
    model = IndiaEquityFees(**rates)
    expected = _reference_breakdown(model, side, product, quantity, price, prior)
    breakdown = model.breakdown(side, product, quantity, price, prior_turnover=prior)
    assert breakdown == expected
    assert [str(v) for v in breakdown.values()] == [str(v) for v in expected.values()]  # two places each
    assert model.fees(side, product, quantity, price, prior_turnover=prior) == sum(expected.values())


# -- the context a model may take: trade_date and instrument ------------------------------------------------------


def _old(self, side, product, quantity, price, *, prior_turnover=NO_PRIOR):
    return D("0")


def _dated(self, side, product, quantity, price, *, prior_turnover=NO_PRIOR, trade_date=None):
    return D("0")


def _positional(self, side, product, quantity, price, prior_turnover=NO_PRIOR, instrument=None, trade_date=None):
    return D("0")


def _anything(self, side, product, quantity, price, **context):
    return D("0")


@pytest.mark.parametrize(
    ("fees", "expected"),
    [(_old, ()), (_dated, ("trade_date",)), (_positional, FEE_CONTEXT), (_anything, FEE_CONTEXT)],
)
def test_fee_keywords_names_the_context_a_models_fees_takes(fees, expected):
    model = type("Model", (), {"fees": fees, "breakdown": fees})()

    assert fee_keywords(model) == expected


def test_the_shipped_models_take_the_context_they_use():
    assert fee_keywords(NoFees()) == ()
    assert fee_keywords(IndiaEquityFees()) == ()
    assert fee_keywords(NseFees()) == FEE_CONTEXT


@given(st.one_of(st.none(), st.integers(), st.text(max_size=5), st.just(print),
                 st.just(type("NoSignature", (), {"fees": len})()), st.just(type("NotCallable", (), {"fees": 3})())))
def test_fee_keywords_of_anything_else_is_empty_and_never_raises(model):
    assert fee_keywords(model) == ()
