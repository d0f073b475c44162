"""The intrabar rule: on a bar that could fill both a resting stop and a resting limit of a symbol, which is matched
first — the stop (``stop_first``, the default) or the limit (``target_first``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import oms_kit as ok
from oms_kit.errors import ConfigError
from oms_kit.models import OrderType, Side
from tests.stubs import T0, bar_frame
from tests.test_broker import INSTRUMENT, RecordingSink, bar, make_broker, order

D = Decimal


def exits(broker: Any, *, stop_placed_first: bool = False) -> tuple[Any, Any]:
    """A SELL LIMIT above at 105 (the target) and a SELL SL-M below at 95 (the stop), in the order asked."""
    target = order(OrderType.LIMIT, side=Side.SELL, price="105.00")
    stop = order(OrderType.SL_M, side=Side.SELL, trigger="95.00")
    for placed in ((stop, target) if stop_placed_first else (target, stop)):
        broker.submit(placed, INSTRUMENT, T0)
    return target, stop


def fill_order(sink: RecordingSink) -> list[str]:
    return [r[1] for r in sink.reports if r[0] == "fill"]


@pytest.mark.parametrize("stop_placed_first", [False, True])
@pytest.mark.parametrize(("rule", "first"), [("stop_first", "stop"), ("target_first", "target")])
def test_a_bar_reaching_both_matches_the_leg_the_rule_names_first_whatever_the_time_priority(
        rule, first, stop_placed_first):
    broker, sink = make_broker(intrabar=rule)
    target, stop = exits(broker, stop_placed_first=stop_placed_first)

    bar(broker, 100.0, 106.0, 94.0, 100.0)

    expected = [stop.order_id, target.order_id] if first == "stop" else [target.order_id, stop.order_id]
    assert fill_order(sink) == expected
    assert sink.fills(stop.order_id) == [(10, D("95.00"))]
    assert sink.fills(target.order_id) == [(10, D("105.00"))]


class OneCancelsOther(RecordingSink):
    """Cancels the other exit when one fills, inside the fill report, as a bracket's legs do."""

    def __init__(self, broker: Any) -> None:
        super().__init__()
        self.broker = broker
        self.legs: dict[str, Any] = {}

    def on_fill(self, order_id: str, quantity: int, price: Decimal, fees: Decimal, ts: Any) -> None:
        super().on_fill(order_id, quantity, price, fees, ts)
        for other_id, other in self.legs.items():
            if other_id != order_id:
                self.broker.cancel(other, "one cancels other", ts)


@pytest.mark.parametrize(("rule", "winner", "price"), [("stop_first", "stop", D("95.00")),
                                                        ("target_first", "target", D("105.00"))])
def test_with_one_cancels_other_only_the_leg_matched_first_fills(rule, winner, price):
    broker, _ = make_broker(intrabar=rule)
    sink = OneCancelsOther(broker)
    broker.attach(sink)
    target, stop = exits(broker)
    sink.legs = {target.order_id: target, stop.order_id: stop}

    bar(broker, 100.0, 106.0, 94.0, 100.0)

    filled, cancelled = (stop, target) if winner == "stop" else (target, stop)
    assert sink.fills() == [(10, price)]
    assert sink.kinds(filled.order_id) == ["accepted", *(["triggered"] if winner == "stop" else []), "fill"]
    assert sink.kinds(cancelled.order_id)[-1] == "cancelled"
    assert broker.status()["resting_orders"] == 0


def test_orders_of_one_kind_and_market_orders_keep_time_priority():
    broker, sink = make_broker(intrabar="target_first", immediate_market_fills=False)
    low = order(OrderType.LIMIT, side=Side.BUY, quantity=1, price="99.00")
    market = order(side=Side.BUY, quantity=2)
    high = order(OrderType.LIMIT, side=Side.BUY, quantity=3, price="99.50")
    for placed in (low, market, high):
        broker.submit(placed, INSTRUMENT, T0)
    bar(broker, 100.0, 100.0, 98.0, 99.0)
    assert fill_order(sink) == [low.order_id, market.order_id, high.order_id]


@pytest.mark.parametrize(("rule", "first"), [("stop_first", "stop"), ("target_first", "stop_limit")])
def test_a_stop_limit_that_has_triggered_counts_as_a_limit(rule, first):
    broker, sink = make_broker(intrabar=rule)
    stop_limit = order(OrderType.SL, side=Side.SELL, price="98.00", trigger="97.00")
    broker.submit(stop_limit, INSTRUMENT, T0)
    bar(broker, 97.5, 97.5, 96.5, 96.5, seconds=60)  # triggers; the bar never reaches its limit of 98.00
    assert sink.kinds(stop_limit.order_id) == ["accepted", "triggered"]
    stop = order(OrderType.SL_M, side=Side.SELL, trigger="95.00")  # placed later: behind it in time
    broker.submit(stop, INSTRUMENT, T0)

    bar(broker, 97.0, 99.0, 94.0, 97.0, seconds=120)

    expected = [stop.order_id, stop_limit.order_id] if first == "stop" else [stop_limit.order_id, stop.order_id]
    assert fill_order(sink) == expected


def test_the_rule_is_in_the_status_and_stop_first_is_the_default():
    assert make_broker()[0].status()["intrabar"] == "stop_first"
    assert make_broker(intrabar="target_first")[0].status()["intrabar"] == "target_first"


# -- in a backtest ----------------------------------------------------------------------------------------------


class Bracket(ok.Strategy):
    """Buys on the first bar; once filled, a target 3 above and a stop 3 below, both resting from the next bar."""

    def on_start(self, ctx):
        self.bought = False

    def on_bar(self, ctx, bar):
        if not self.bought:
            ctx.buy(bar.symbol, 10)
            self.bought = True

    def on_fill(self, ctx, fill):
        if fill.side is ok.Side.BUY:
            ctx.sell(fill.symbol, 10, "LIMIT", price=float(fill.price) + 3, tag="target")
            ctx.sell(fill.symbol, 10, "SL-M", trigger_price=float(fill.price) - 3, tag="stop")


DATA = bar_frame([(100, 100.5, 99.5, 100), (100, 100.5, 99.5, 100), (100, 100.5, 99.5, 100),
                  (100, 104, 96, 100), (100, 100.5, 99.5, 100)])


@pytest.mark.parametrize(("rule", "first_exit"), [("stop_first", "stop"), ("target_first", "target")])
def test_a_backtest_bar_reaching_target_and_stop_fills_the_leg_the_rule_names_first(rule, first_exit):
    result = ok.backtest(Bracket(), DATA, intrabar=rule, fees=None)
    tags = {o.order_id: o.tag for o in result.placed}
    sells = [f for f in result.fills if f.side is ok.Side.SELL]
    other = "target" if first_exit == "stop" else "stop"
    assert [tags[f.order_id] for f in sells] == [first_exit, other]
    assert {f.ts for f in sells} == {DATA["timestamp"].iloc[3].to_pydatetime()}  # both on the bar of 104/96
    assert {tags[f.order_id]: f.price for f in sells} == {"target": D("103.00"), "stop": D("97.00")}
    assert result.manager.broker.intrabar == rule


def test_the_default_backtest_rule_is_stop_first():
    result = ok.backtest(Bracket(), DATA, fees=None)
    tags = {o.order_id: o.tag for o in result.placed}
    assert [tags[f.order_id] for f in result.fills if f.side is ok.Side.SELL] == ["stop", "target"]


# -- settings ---------------------------------------------------------------------------------------------------


_hostile = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=12),
                     st.sampled_from(["STOP_FIRST", "stop first", " stop_first", "target", "", "limit_first"]),
                     st.just(["stop_first"]), st.just(b"stop_first"))


@settings(max_examples=100, deadline=None)
@given(value=_hostile)
def test_a_bad_intrabar_rule_is_refused_naming_it_by_the_broker_and_the_backtest(value):
    if value in ("stop_first", "target_first"):
        return  # st.text could draw a valid name; it is accepted (and tested above)
    with pytest.raises(ConfigError) as raised:
        make_broker(intrabar=value)
    assert raised.value.field == "intrabar"
    with pytest.raises(ConfigError) as raised:
        ok.backtest(Bracket(), DATA, intrabar=value)
    assert raised.value.field == "intrabar"
