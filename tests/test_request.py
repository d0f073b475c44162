"""OrderRequest: the one door of an order's fields. What it accepts, what it refuses and how it says so."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

import oms_kit as ok
from oms_kit.errors import InvalidOrderError
from oms_kit.models import OrderType, Product, Side, Validity
from oms_kit.parsing import MAX_PRICE, MAX_QUANTITY
from oms_kit.request import FIELDS, OrderRequest


def test_the_usual_spellings_become_members_an_int_and_exact_prices():
    request = OrderRequest(" RELIANCE ", "buy", 10.0, "limit", "2500.05", product="cnc", validity=Validity.IOC)

    assert request == OrderRequest("RELIANCE", Side.BUY, 10, OrderType.LIMIT, Decimal("2500.05"),
                                   product=Product.CNC, validity="IOC")
    assert request.symbol == "RELIANCE" and request.side is Side.BUY and type(request.quantity) is int
    assert request.price == Decimal("2500.05") and request.order_type is OrderType.LIMIT
    assert request.to_dict() == {"symbol": "RELIANCE", "side": "BUY", "quantity": 10, "order_type": "LIMIT",
                                 "price": "2500.05", "trigger_price": None, "product": "CNC", "validity": "IOC",
                                 "client_order_id": None, "tag": None, "variety": "regular",
                                 "disclosed_quantity": 0}


def test_a_request_cannot_change_and_a_replaced_copy_is_parsed_again():
    request = OrderRequest("TCS", "SELL", 5)
    with pytest.raises(AttributeError):
        request.quantity = 6  # type: ignore[misc]

    assert request.replace(quantity=6).quantity == 6 and request.quantity == 5
    with pytest.raises(InvalidOrderError) as error:
        request.replace(price=3500)  # a MARKET order has no price
    assert error.value.field == "price"
    with pytest.raises(InvalidOrderError):
        request._replace(quantity=0)  # the tuple's own replace parses too


@pytest.mark.parametrize(("change", "field"), [
    ({"order_type": "LIMIT"}, "price"),
    ({"price": 100}, "price"),
    ({"order_type": "SL", "price": 100}, "trigger_price"),
    ({"trigger_price": 99}, "trigger_price"),
    ({"quantity": 0}, "quantity"),
    ({"quantity": True}, "quantity"),
    ({"symbol": "RELI\nANCE"}, "symbol"),
    ({"side": "HOLD"}, "side"),
    ({"tag": "x" * 256}, "tag"),
    ({"client_order_id": " "}, "client_order_id"),
])
def test_each_malformed_field_is_named(change, field):
    values = {"symbol": "RELIANCE", "side": "BUY", "quantity": 1, **change}
    with pytest.raises(InvalidOrderError) as error:
        OrderRequest(**values)
    assert error.value.field == field


def test_place_order_and_validate_take_a_request_whole_or_its_fields_never_both():
    async def scenario() -> None:
        oms = await ok.OMS.open(feed=None, risk_interval=None)
        try:
            await oms.set_price("RELIANCE", 2500)
            request = OrderRequest("RELIANCE", "BUY", 2, "LIMIT", 2490)
            assert oms.validate(request)["passed"].all()
            order = await oms.place_order(request)
            assert (order.symbol, order.quantity, order.price) == ("RELIANCE", 2, Decimal(2490))
            again = oms.validate(request)  # the same order again, at once
            assert list(again.loc[~again["passed"].astype(bool), "code"]) == ["POSSIBLE_DUPLICATE"]
            with pytest.raises(InvalidOrderError) as error:
                await oms.place_order(request, quantity=3)
            assert error.value.field == "quantity"
            assert len(oms.orders()) == 1
        finally:
            await oms.close()

    import asyncio

    asyncio.run(scenario())


anything = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30) | st.decimals()
            | st.binary(max_size=5) | st.builds(object) | st.sampled_from(["BUY", "SELL", "LIMIT", "SL", "MIS", "1"]))


@given(values=st.fixed_dictionaries({name: anything for name in FIELDS}))
def test_any_values_make_a_well_formed_request_or_an_invalid_order_error_naming_a_field(values):
    try:
        request = OrderRequest(**values)
    except InvalidOrderError as error:
        assert error.field in FIELDS
        assert repr(error.value) in str(error) or str(error.value) in str(error) or error.value is None
        return
    assert isinstance(request.side, Side) and isinstance(request.order_type, OrderType)
    assert type(request.quantity) is int and 0 < request.quantity <= MAX_QUANTITY
    for price in (request.price, request.trigger_price):
        assert price is None or (isinstance(price, Decimal) and 0 < price <= MAX_PRICE and math.isfinite(price))
    assert (request.price is not None) == (request.order_type in (OrderType.LIMIT, OrderType.SL))
    assert (request.trigger_price is not None) == (request.order_type in (OrderType.SL, OrderType.SL_M))
    assert OrderRequest(**request.to_dict()) == request  # what it says of itself reads back the same
