"""Order programs on the OMS: brackets (target and stop-loss, one cancelling the other, optionally trailing), cover
orders, trailing stop-losses and icebergs — each whole lifecycle, a restart in the middle of one on a DuckDB file
and on PostgreSQL, the kill switch, one bar reaching both legs, and hostile input refused with nothing placed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import oms_kit as ok
from oms_kit.errors import InvalidOrderError, OmsError
from oms_kit.market.clock import SimulatedClock
from oms_kit.programs import ProgramNotFound

S = ok.OrderStatus
START = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
LIMITS = ok.RiskLimits(max_orders_per_second=None, duplicate_window_s=None)


async def open_oms(url: str = "duckdb:///:memory:", clock: SimulatedClock | None = None, **options) -> ok.OMS:
    options.setdefault("limits", LIMITS)
    return await ok.OMS.open(url, feed=None, risk_interval=None, clock=clock or SimulatedClock(START), **options)


def bar(symbol: str, high: float, low: float, close: float, minutes: int = 1, open: float | None = None) -> ok.Bar:
    return ok.Bar(START + timedelta(minutes=minutes), symbol, close if open is None else open, high, low, close,
                  1_000)


def status(oms: ok.OMS, order_id: str | None) -> S:
    assert order_id is not None
    return oms.get_order(order_id).status


async def test_a_bracket_places_its_legs_on_the_entrys_fill_and_the_target_cancels_the_stop():
    oms = await open_oms()
    try:
        await oms.set_price("INFY", 1502)
        program = await oms.place_bracket("INFY", "BUY", 10, "LIMIT", 1500, target=10, stoploss=5)
        assert program.status == "active" and (program.target_id, program.stop_id) == (None, None)

        await oms.set_price("INFY", 1500)  # the entry fills: the legs go out at 1510 and a stop at 1495
        target, stop = oms.get_order(program.target_id), oms.get_order(program.stop_id)
        assert (target.side, target.order_type, target.price, target.quantity) == (ok.Side.SELL, ok.OrderType.LIMIT,
                                                                                   Decimal("1510"), 10)
        assert (stop.side, stop.order_type, stop.trigger_price, stop.status) == (ok.Side.SELL, ok.OrderType.SL_M,
                                                                                 Decimal("1495"), S.TRIGGER_PENDING)
        await oms.set_price("INFY", 1511)

        assert (status(oms, program.target_id), status(oms, program.stop_id)) == (S.FILLED, S.CANCELLED)
        assert program.status == "complete" and program.exited == 10
        assert oms.position("INFY") == 0
        assert oms.programs()["status"].tolist() == ["complete"]
    finally:
        await oms.close()


async def test_a_short_brackets_stop_is_above_and_fills_cancelling_the_target():
    oms = await open_oms()
    try:
        await oms.set_price("TCS", 3500)
        program = await oms.place_bracket("TCS", "SELL", 4, "MARKET", target=20, stoploss=10)
        assert oms.get_order(program.entry_id).status is S.FILLED  # a live market order fills at once
        assert oms.get_order(program.target_id).price == Decimal("3480")
        assert oms.get_order(program.stop_id).trigger_price == Decimal("3510")

        await oms.set_price("TCS", 3512)

        assert (status(oms, program.stop_id), status(oms, program.target_id)) == (S.FILLED, S.CANCELLED)
        assert program.status == "complete"
        assert oms.position("TCS") == 0
    finally:
        await oms.close()


async def test_partial_fills_grow_the_legs_and_a_partial_exit_shrinks_the_other_leg():
    oms = await open_oms(broker=ok.MockBroker(participation=0.5))
    try:
        await oms.set_price("INFY", 1502)
        program = await oms.place_bracket("INFY", "BUY", 10, "LIMIT", 1500, target=10, stoploss=5)
        await oms.set_price("INFY", 1500, volume=8)  # 4 of 10 fill: legs of 4
        assert program.entered == 4
        assert oms.get_order(program.target_id).quantity == 4 and oms.get_order(program.stop_id).quantity == 4
        await oms.set_price("INFY", 1500, volume=20)  # the other 6: legs of 10
        assert oms.get_order(program.target_id).quantity == 10 and oms.get_order(program.stop_id).quantity == 10

        await oms.set_price("INFY", 1510, volume=6)  # 3 of the target fill: the stop covers the 7 left
        assert program.exited == 3
        assert oms.get_order(program.stop_id).quantity == 7 and status(oms, program.target_id) is S.PARTIALLY_FILLED
        await oms.set_price("INFY", 1494, volume=100)

        assert status(oms, program.stop_id) is S.FILLED and status(oms, program.target_id) is S.CANCELLED
        assert program.status == "complete" and program.exited == 10 and oms.position("INFY") == 0
    finally:
        await oms.close()


async def test_a_trailing_bracket_raises_its_stop_with_the_high_never_lowers_it_and_exits_on_the_raised_stop():
    oms = await open_oms()
    try:
        await oms.set_price("INFY", 1500)
        program = await oms.place_bracket("INFY", "BUY", 10, "MARKET", target=100, stoploss=5, trail=4)
        stop_id = program.stop_id
        assert oms.get_order(stop_id).trigger_price == Decimal("1496")  # 1500 - 4 is closer than 1500 - 5

        await oms.push_bar(bar("INFY", high=1510, low=1497, close=1508))  # reached 1497: above the stop
        assert oms.get_order(stop_id).trigger_price == Decimal("1506") and program.best == Decimal("1510")
        await oms.push_bar(bar("INFY", high=1509, low=1507, close=1508, minutes=2))
        assert oms.get_order(stop_id).trigger_price == Decimal("1506")  # never back

        await oms.push_bar(bar("INFY", high=1508, low=1505, close=1505, minutes=3, open=1508))

        assert status(oms, stop_id) is S.FILLED and status(oms, program.target_id) is S.CANCELLED
        assert oms.trades()["price"].iloc[-1] == Decimal("1506")
        assert program.status == "complete"
    finally:
        await oms.close()


async def test_a_cover_order_has_a_compulsory_stop_and_no_target():
    oms = await open_oms()
    try:
        await oms.set_price("SBIN", 800)
        with pytest.raises(InvalidOrderError) as error:
            await oms.place_cover("SBIN", "BUY", 10, stoploss=None)  # type: ignore[arg-type]
        assert error.value.field == "stoploss"
        program = await oms.place_cover("SBIN", "BUY", 10, stoploss=4)
        assert program.target_id is None and oms.get_order(program.stop_id).trigger_price == Decimal("796")
        assert len(oms.orders()) == 2

        await oms.set_price("SBIN", 795)

        assert status(oms, program.stop_id) is S.FILLED and program.status == "complete"
    finally:
        await oms.close()


@pytest.mark.parametrize(("side", "prices", "trigger"), [
    ("SELL", [1500, 1520, 1510], Decimal("1504.80")),   # 1 % under the best 1520, on the tick
    ("BUY", [1500, 1480, 1490], Decimal("1494.80")),    # 1 % over the best 1480
])
async def test_a_trailing_stop_by_percent_follows_the_best_price_only(side, prices, trigger):
    oms = await open_oms()
    try:
        await oms.set_price("INFY", prices[0])
        held = await oms.place_order("INFY", "BUY" if side == "SELL" else "SELL", 5)
        program = await oms.place_trailing_stop("INFY", side, 5, trail_percent=1)
        stop = oms.get_order(program.stop_id)
        assert stop.order_type is ok.OrderType.SL_M and held.status is S.FILLED
        for price in prices[1:]:
            await oms.set_price("INFY", price)
        assert stop.trigger_price == trigger and stop.status is S.TRIGGER_PENDING

        await oms.set_price("INFY", float(trigger) + (-1 if side == "SELL" else 1))

        assert stop.status is S.FILLED and program.status == "complete"
        assert oms.position("INFY") == 0
    finally:
        await oms.close()


async def test_an_iceberg_sends_the_next_leg_when_the_one_before_has_filled():
    oms = await open_oms()
    try:
        await oms.set_price("INFY", 1505)
        program = await oms.place_iceberg("INFY", "BUY", 10, "LIMIT", 1500, legs=3, client_order_id="ice")
        assert [oms.get_order(i).quantity for i in program.order_ids] == [4]
        # The first leg fills; the second goes out at once, fills at the last price 1500, and the third after it.
        await oms.set_price("INFY", 1500)
        assert [oms.get_order(i).quantity for i in program.order_ids] == [4, 3, 3]
        assert [oms.get_order(i).client_order_id for i in program.order_ids] == ["ice-1", "ice-2", "ice-3"]
        assert [oms.get_order(i).status for i in program.order_ids] == [S.FILLED] * 3
        assert program.status == "complete" and oms.position("INFY") == 10
    finally:
        await oms.close()


async def test_an_iceberg_leg_cancelled_ends_it_without_the_later_legs():
    oms = await open_oms()
    try:
        await oms.set_price("INFY", 1505)
        program = await oms.place_iceberg("INFY", "BUY", 100, "LIMIT", 1500, legs=5)
        await oms.cancel_order(program.order_ids[0])
        await oms.set_price("INFY", 1490)
        assert program.status == "cancelled" and len(program.order_ids) == 1
    finally:
        await oms.close()


async def test_the_kill_switch_cancels_a_brackets_legs_and_ends_it():
    oms = await open_oms()
    try:
        await oms.set_price("INFY", 1500)
        program = await oms.place_bracket("INFY", "BUY", 10, "MARKET", target=10, stoploss=5)
        await oms.kill_switch("test")
        assert (status(oms, program.target_id), status(oms, program.stop_id)) == (S.CANCELLED, S.CANCELLED)
        assert program.status == "cancelled"
        await oms.set_price("INFY", 1520)
        assert len(oms.orders()) == 3  # nothing placed after
    finally:
        await oms.close()


async def test_cancel_program_cancels_its_working_orders_and_a_second_cancel_is_refused():
    oms = await open_oms()
    try:
        await oms.set_price("INFY", 1500)
        program = await oms.place_bracket("INFY", "BUY", 10, "MARKET", target=10, stoploss=5)
        await oms.cancel_program(program.program_id)
        assert program.status == "cancelled"
        assert (status(oms, program.target_id), status(oms, program.stop_id)) == (S.CANCELLED, S.CANCELLED)
        with pytest.raises(OmsError, match="cancelled"):
            await oms.cancel_program(program.program_id)
        with pytest.raises(ProgramNotFound):
            oms.get_program("P-999")
    finally:
        await oms.close()


async def test_a_rejected_entry_ends_the_bracket_rejected_with_its_reason():
    oms = await open_oms(limits=ok.RiskLimits(max_order_quantity=5))
    try:
        await oms.set_price("INFY", 1500)
        program = await oms.place_bracket("INFY", "BUY", 10, "MARKET", target=10, stoploss=5)
        assert program.status == "rejected" and "QUANTITY" in program.reason
        assert len(oms.orders()) == 1
    finally:
        await oms.close()


@pytest.mark.parametrize("kind", ["bracket", "trailing", "iceberg"])
async def test_a_restart_in_the_middle_keeps_the_program_following_its_orders(durable_url, kind):
    clock = SimulatedClock(START)
    # Orders match a second after they are placed, so an iceberg's next leg rests at the restart.
    oms = await open_oms(durable_url, clock, broker=ok.MockBroker(latency=1) if kind == "iceberg" else None)
    try:
        await oms.set_price("INFY", 1500)
        if kind == "bracket":
            program = await oms.place_bracket("INFY", "BUY", 10, "MARKET", target=20, stoploss=5, trail=5)
            await oms.set_price("INFY", 1504)  # the stop trails to 1499
        elif kind == "trailing":
            await oms.place_order("INFY", "BUY", 10)
            program = await oms.place_trailing_stop("INFY", "SELL", 10, trail=5)
            await oms.set_price("INFY", 1504)
        else:
            program = await oms.place_iceberg("INFY", "BUY", 10, "LIMIT", 1495, legs=2)
            clock.set(START + timedelta(seconds=2))
            await oms.set_price("INFY", 1495)  # leg 1 fills; leg 2 is placed, to match from a second later
            assert len(program.order_ids) == 2 and status(oms, program.order_ids[1]) is S.OPEN
            await oms.set_price("INFY", 1504)
        program_id = program.program_id
    finally:
        await oms.close()

    oms = await open_oms(durable_url, clock)
    try:
        restored = oms.get_program(program_id)
        assert restored.status == "active" and restored is not program
        assert restored.order_ids == program.order_ids
        if kind == "iceberg":
            assert restored.legs_sent == 2
            await oms.set_price("INFY", 1495)
            assert status(oms, restored.order_ids[1]) is S.FILLED and restored.status == "complete"
            assert oms.position("INFY") == 10
        else:
            stop = oms.get_order(restored.stop_id)
            assert stop.trigger_price == Decimal("1499") and restored.best == Decimal("1504")
            await oms.set_price("INFY", 1510)  # trails on after the restart
            assert stop.trigger_price == Decimal("1505")
            await oms.set_price("INFY", 1504)
            assert stop.status is S.FILLED and restored.status == "complete"
            if kind == "bracket":
                assert status(oms, restored.target_id) is S.CANCELLED
        new = await oms.place_cover("INFY", "BUY", 1, stoploss=1)
        assert new.program_id != program_id  # ids go on after the stored ones
    finally:
        await oms.close()

    oms = await open_oms(durable_url, clock)
    try:
        assert oms.get_program(program_id).status == "complete"
    finally:
        await oms.close()


HOSTILE = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                    st.text(max_size=8), st.decimals(allow_nan=True), st.lists(st.integers(), max_size=2))


@pytest.mark.parametrize("url", ["memory", "file"])
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(target=HOSTILE, stoploss=HOSTILE, trail=HOSTILE, legs=HOSTILE, quantity=HOSTILE)
async def test_hostile_program_arguments_are_refused_naming_the_field_with_nothing_placed(
        url, tmp_path_factory, target, stoploss, trail, legs, quantity):
    path = "duckdb:///:memory:" if url == "memory" else f"duckdb:///{tmp_path_factory.mktemp('p')}/a.duckdb"
    oms = await open_oms(path)
    try:
        await oms.set_price("INFY", 1500)
        calls = [
            lambda: oms.place_bracket("INFY", "BUY", quantity, "MARKET", target=target, stoploss=stoploss,
                                      trail=trail),
            lambda: oms.place_cover("INFY", "BUY", quantity, stoploss=stoploss, trail_percent=trail),
            lambda: oms.place_trailing_stop("INFY", "SELL", quantity, trail=trail),
            lambda: oms.place_iceberg("INFY", "BUY", quantity, "LIMIT", 1500, legs=legs),
        ]
        for call in calls:
            before = (len(oms.orders()), len(oms.programs()))
            try:
                program = await call()
            except InvalidOrderError as exc:
                assert exc.field and exc.allowed
                assert (len(oms.orders()), len(oms.programs())) == before
            else:
                assert program.status in {"active", "complete", "rejected"}
                assert program.order_ids and len(oms.orders()) > before[0]
        await oms.flush()
    finally:
        await oms.close()


async def test_an_iceberg_in_a_future_slices_whole_lots_within_the_freeze_quantity():
    future = ok.Instrument("NIFTY26JANFUT", exchange="NFO", lot_size=65, freeze_quantity=1800, instrument_type="FUT",
                           underlying="NIFTY", expiry=datetime(2026, 1, 27).date(), tick_size=Decimal("0.10"))
    limits = ok.RiskLimits(max_orders_per_second=None, duplicate_window_s=None, max_order_value=None,
                           max_position_quantity=None)
    oms = await open_oms(clock=SimulatedClock(datetime(2026, 1, 5, 5, 0, tzinfo=UTC)), instruments=[future],
                         cash=500_000_000, limits=limits)
    try:
        await oms.set_price(future.symbol, 25_000)
        with pytest.raises(InvalidOrderError) as error:  # 2 legs of 2,600 would each pass the freeze quantity
            await oms.place_iceberg(future.symbol, "BUY", 5_200, "LIMIT", 24_990, legs=2)
        assert error.value.field == "legs" and "1800" in error.value.allowed and "at least 3" in error.value.hint
        with pytest.raises(InvalidOrderError, match="whole lots"):
            await oms.place_iceberg(future.symbol, "BUY", 100, "LIMIT", 24_990, legs=2)
        assert oms.programs().empty and oms.orders().empty

        program = await oms.place_iceberg(future.symbol, "BUY", 5_200, "LIMIT", 24_990, legs=3)
        await oms.set_price(future.symbol, 24_990)

        quantities = [oms.get_order(i).quantity for i in program.order_ids]
        assert quantities == [1755, 1755, 1690] and all(q % 65 == 0 and q <= 1800 for q in quantities)
        assert program.status == "complete" and oms.position(future.symbol) == 5_200
    finally:
        await oms.close()


def test_a_brackets_legs_working_at_the_end_of_a_backtest_day_expire_and_end_it_without_an_error():
    import pandas as pd

    class OneBracket(ok.Strategy):
        def on_start(self, ctx):
            self.programs = []

        def on_bar(self, ctx, bar):
            if not self.programs:
                self.programs.append(ctx.bracket(bar.symbol, "BUY", 1, "MARKET", target=50, stoploss=50))

    times = [datetime(2026, 1, 5, 9, 56 + i, tzinfo=UTC) for i in range(4)] + [datetime(2026, 1, 6, 3, 45, tzinfo=UTC)]
    bars = pd.DataFrame({"timestamp": times, "symbol": "INFY", "open": 1500.0, "high": 1501.0, "low": 1499.0,
                         "close": 1500.0, "volume": 1000.0})
    strategy = OneBracket()
    result = ok.backtest(strategy, bars)

    (program,) = strategy.programs
    statuses = {o.order_id: o.status for o in result.placed}
    assert statuses[program.entry_id] is S.FILLED
    # one leg expired with the day, and its expiry cancelled the other
    assert sorted([statuses[program.target_id], statuses[program.stop_id]]) == [S.CANCELLED, S.EXPIRED]
    assert program.status == "cancelled" and "EXPIRED" in program.reason


async def test_an_iceberg_lists_its_whole_quantity():
    oms = await open_oms()
    try:
        await oms.set_price("INFY", 1505)
        await oms.place_iceberg("INFY", "BUY", 100, "LIMIT", 1500, legs=4)
        row = oms.programs().iloc[0]
        assert (row["kind"], row["quantity"], row["legs"], row["legs_sent"]) == ("iceberg", 100, 4, 1)
    finally:
        await oms.close()
