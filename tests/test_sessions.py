"""Market sessions from the NSE calendar: orders only in the normal market, after-market orders held across weekends
and holidays to the next open (through a restart too), the broker's MIS square-off at 15:20 and the MIS cutoff after
it, the default rule that turns the check on for real market data on the wall clock and leaves the random-walk demo
trading at any hour, and the feeds that follow the sessions. Hostile values of the new settings get a ConfigError
naming them; any clock time gets a verdict that agrees with the calendar, never an exception."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import oms_kit as ok
from oms_kit.checks import CHECKS, check_market_hours, check_mis_cutoff
from oms_kit.market.bars import Bar
from oms_kit.market.calendar import IST, NSECalendar, default_calendar
from oms_kit.market.clock import LiveClock, SimulatedClock
from oms_kit.models import Product, Side, Variety
from oms_kit.session import NSE_SESSION
from oms_kit.validator import PreTradeValidator
from tests.stubs import make_order
from tests.test_validator import FakeContext

S = ok.OrderStatus
CALENDAR = default_calendar("weekends_only")
UNTHROTTLED = ok.RiskLimits(max_orders_per_second=None, duplicate_window_s=None)
HOSTILE = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=60)


def ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=IST)  # type: ignore[misc]


async def open_oms(clock: Any, url: str = "duckdb:///:memory:", **options: Any) -> ok.OMS:
    options.setdefault("limits", UNTHROTTLED)
    options.setdefault("market_hours", True)
    return await ok.OMS.open(url, feed=None, risk_interval=None, clock=clock, **options)


def codes(order: ok.Order) -> list[str]:
    return [v.code for v in order.violations]


def mis(oms: ok.OMS, symbol: str) -> int:
    position = oms.manager.ledger.position(symbol, Product.MIS)
    return position.quantity if position is not None else 0


def auto_square_offs(oms: ok.OMS) -> list[ok.Order]:
    return [o for o in oms.manager.orders.values() if o.tag == "auto-square-off"]


# -- the MIS square-off and cutoff ------------------------------------------------------------------------------


async def test_the_broker_squares_mis_off_at_1520_on_the_oms_clock_and_leaves_cnc_alone():
    clock = SimulatedClock(ist(2026, 1, 7, 10, 0))  # a Wednesday
    oms = await open_oms(clock)
    try:
        await oms.set_price("INFY", 1500)
        await oms.set_price("TCS", 3900)
        long = await oms.place_order("INFY", "BUY", 10)  # MIS by default
        short = await oms.place_order("TCS", "SELL", 3)
        cnc = await oms.place_order("INFY", "BUY", 5, product="CNC")
        resting = await oms.place_order("INFY", "BUY", 4, "LIMIT", 1400)
        resting_cnc = await oms.place_order("TCS", "BUY", 2, "LIMIT", 3800, product="CNC")
        assert {long.status, short.status, cnc.status} == {S.FILLED}

        clock.set(ist(2026, 1, 7, 15, 19, 59))
        await oms.check_risk()
        assert auto_square_offs(oms) == [] and resting.status is S.OPEN and mis(oms, "INFY") == 10

        clock.set(ist(2026, 1, 7, 15, 20))
        await oms.set_price("INFY", 1510)
        await oms.check_risk()
        closing = sorted((o.symbol, o.side, o.quantity, o.product, o.status) for o in auto_square_offs(oms))
        assert closing == [("INFY", Side.SELL, 10, Product.MIS, S.FILLED), ("TCS", Side.BUY, 3, Product.MIS, S.FILLED)]
        assert resting.status is S.CANCELLED and "MIS square-off" in (resting.reason or "")
        assert resting_cnc.status is S.OPEN
        assert (mis(oms, "INFY"), mis(oms, "TCS")) == (0, 0)
        assert oms.manager.ledger.position("INFY", Product.CNC).quantity == 5

        clock.set(ist(2026, 1, 7, 15, 22))  # once a day: the next run places nothing more
        await oms.check_risk()
        assert len(auto_square_offs(oms)) == 2
    finally:
        await oms.close()


async def test_new_mis_orders_are_refused_after_the_cutoff_until_the_next_session():
    clock = SimulatedClock(ist(2026, 1, 7, 15, 10))
    oms = await open_oms(clock)
    try:
        await oms.set_price("INFY", 1500)
        opened = await oms.place_order("INFY", "BUY", 10)
        assert opened.status is S.FILLED

        clock.set(ist(2026, 1, 7, 15, 25))  # before the monitor's run: the position is still open
        more = await oms.place_order("INFY", "BUY", 5)
        partly = await oms.place_order("INFY", "SELL", 4)  # only reduces: an exit stays possible
        too_much = await oms.place_order("INFY", "SELL", 10)  # 6 are left to sell
        delivery = await oms.place_order("INFY", "BUY", 5, product="CNC")
        after_market = await oms.place_order("INFY", "BUY", 5, variety="amo")
        dry_run = oms.validate("INFY", "BUY", 1).set_index("name")

        assert codes(more) == ["MIS_CUTOFF"] and "15:20" in more.violations[0].message
        assert partly.status is S.FILLED
        assert codes(too_much) == ["MIS_CUTOFF"] and too_much.violations[0].limit == 6
        assert delivery.status is S.FILLED
        assert codes(after_market) == ["AMO_MARKET_OPEN"]
        assert not dry_run.loc["mis_cutoff", "passed"] and dry_run.loc["mis_cutoff", "code"] == "MIS_CUTOFF"

        clock.set(ist(2026, 1, 7, 16, 0))  # closed: the market-hours check alone speaks
        assert codes(await oms.place_order("INFY", "BUY", 5)) == ["MARKET_CLOSED"]

        clock.set(ist(2026, 1, 8, 10, 0))  # the next session
        await oms.set_price("INFY", 1505)
        assert (await oms.place_order("INFY", "BUY", 5)).status is S.FILLED
    finally:
        await oms.close()


async def test_the_cutoff_time_is_a_setting_and_none_turns_the_square_off_off():
    clock = SimulatedClock(ist(2026, 1, 7, 14, 50))
    oms = await open_oms(clock, limits=ok.RiskLimits(calendar=CALENDAR, mis_square_off=time(14, 45),
                                                     max_orders_per_second=None, duplicate_window_s=None),
                         market_hours=None)
    never = await open_oms(SimulatedClock(ist(2026, 1, 7, 15, 0)),
                           limits=ok.RiskLimits(calendar=CALENDAR, mis_square_off=None), market_hours=None)
    try:
        await oms.set_price("INFY", 1500)
        assert codes(await oms.place_order("INFY", "BUY", 1)) == ["MIS_CUTOFF"]
        await never.set_price("INFY", 1500)
        kept = await never.place_order("INFY", "BUY", 7)
        never.clock.set(ist(2026, 1, 7, 15, 25))  # type: ignore[attr-defined]
        await never.check_risk()
        assert kept.status is S.FILLED and mis(never, "INFY") == 7 and auto_square_offs(never) == []
        assert (await never.place_order("INFY", "BUY", 1)).status is S.FILLED
    finally:
        await oms.close()
        await never.close()


# -- after-market orders across weekends and holidays -----------------------------------------------------------


@pytest.mark.parametrize(("evening", "weekend_day", "next_open"), [
    (ist(2026, 1, 9, 16, 0), ist(2026, 1, 10, 11, 0), ist(2026, 1, 12, 9, 15)),  # Friday to Monday
    # Friday 23 Jan 2026 to Tuesday 27 Jan: Monday 26 Jan is Republic Day (NSE/CMTR/71775).
    (ist(2026, 1, 23, 16, 0), ist(2026, 1, 26, 10, 0), ist(2026, 1, 27, 9, 15)),
])
async def test_an_order_after_hours_is_refused_and_the_same_as_amo_fills_at_the_next_open(evening, weekend_day,
                                                                                          next_open):
    clock = SimulatedClock(evening)
    oms = await open_oms(clock)
    try:
        await oms.set_price("INFY", 1500)
        regular = await oms.place_order("INFY", "BUY", 5, "LIMIT", 1490)
        amo = await oms.place_order("INFY", "BUY", 5, "LIMIT", 1490, variety="amo")
        assert codes(regular) == ["MARKET_CLOSED"]
        assert next_open.strftime("%a %d %b %Y 09:15 IST") in regular.violations[0].message
        assert amo.status is S.OPEN

        clock.set(weekend_day)  # the weekend, or a holiday: closed all day, the AMO still waits
        await oms.check_risk()  # a new day: DAY orders that had prices expire, the held AMO does not
        await oms.set_price("INFY", 1470)
        closed = await oms.place_order("INFY", "BUY", 5)
        another = await oms.place_order("INFY", "SELL", 2, variety="amo", product="CNC")
        assert codes(closed) == ["MARKET_CLOSED"] and another.status is S.OPEN
        holiday = CALENDAR.holiday(weekend_day)
        if holiday:
            assert f"holiday: {holiday}" in closed.violations[0].message

        clock.set(next_open - timedelta(seconds=1))  # pre-open: still closed for the normal market
        await oms.set_price("INFY", 1460)
        assert (amo.status, amo.filled_quantity, another.status) == (S.OPEN, 0, S.OPEN)

        clock.set(next_open)
        await oms.set_price("INFY", 1485)
        assert (amo.status, amo.average_price) == (S.FILLED, 1485)
        assert (another.status, another.average_price) == (S.FILLED, 1485)
    finally:
        await oms.close()


async def test_a_restart_between_the_amo_and_the_open_keeps_it_held_on_a_duckdb_file(tmp_path):
    url = f"duckdb:///{tmp_path / 'sessions.duckdb'}"
    clock = SimulatedClock(ist(2026, 1, 23, 20, 0))  # Friday evening
    oms = await open_oms(clock, url)
    await oms.set_price("INFY", 1500)
    placed = await oms.place_order("INFY", "BUY", 5, "LIMIT", 1490, variety="amo")
    late = await oms.place_order("INFY", "BUY", 3, "LIMIT", 1490, variety="amo")
    await oms.close()

    clock.set(ist(2026, 1, 26, 11, 0))  # Republic Day: no session has opened since Friday
    holiday = await open_oms(clock, url)
    try:
        order = holiday.get_order(placed.order_id)
        await holiday.set_price("INFY", 1470)
        assert (order.status, order.variety, order.filled_quantity) == (S.OPEN, Variety.AMO, 0)
    finally:
        await holiday.close()

    clock.set(ist(2026, 1, 27, 10, 0))  # Tuesday, after the open: the AMO is of today's session, not expired
    after_open = await open_oms(clock, url)
    try:
        order, other = after_open.get_order(placed.order_id), after_open.get_order(late.order_id)
        assert (order.status, other.status) == (S.OPEN, S.OPEN)
        await after_open.set_price("INFY", 1488)
        assert (order.status, order.average_price, other.status) == (S.FILLED, 1488, S.FILLED)
    finally:
        await after_open.close()

    # One more day on: an AMO of a session that has ended is a DAY order of an earlier day, and expires.
    clock.set(ist(2026, 1, 28, 20, 0))
    evening = await open_oms(clock, url)
    stale = await evening.place_order("INFY", "BUY", 2, "LIMIT", 1400, variety="amo")
    await evening.close()
    clock.set(ist(2026, 1, 30, 10, 0))
    reopened = await open_oms(clock, url)
    try:
        assert reopened.get_order(stale.order_id).status is S.EXPIRED
    finally:
        await reopened.close()


# -- the default rule -------------------------------------------------------------------------------------------


class NightClock(LiveClock):
    """The wall clock at 02:00 IST on a Wednesday."""

    def now(self) -> datetime:
        return ist(2026, 1, 7, 2, 0).astimezone(UTC)


class LiveFeed:
    """A feed of real market data, as a user's own feed would be: nothing arrives at night."""

    name = "exchange"

    async def stream(self) -> AsyncIterator[Bar]:
        return
        yield  # an async generator that ends at once

    def status(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "live", "running": False, "updates_sent": 0, "last_update_at": None}


async def test_the_random_walk_demo_trades_at_two_in_the_night_and_says_why():
    demo = await ok.OMS.open(clock=NightClock(), risk_interval=None)  # the quickstart's OMS: random-walk prices
    try:
        order = await demo.place_order("RELIANCE", "BUY", 10)
        assert order.status is S.FILLED
        assert demo.status()["market_hours"].startswith("off: random-walk prices keep a session of their own")
    finally:
        await demo.close()


async def test_real_market_data_on_the_wall_clock_gets_the_calendar_by_default_and_feedless_tests_do_not():
    live = await ok.OMS.open(feed=LiveFeed(), clock=NightClock(), risk_interval=None)
    by_hand = await ok.OMS.open(feed=None, clock=NightClock(), risk_interval=None)
    simulated = await ok.OMS.open(feed=LiveFeed(), clock=SimulatedClock(ist(2026, 1, 7, 2, 0)), risk_interval=None)
    try:
        for oms in (live, by_hand, simulated):
            await oms.set_price("INFY", 1500)
        refused = await live.place_order("INFY", "BUY", 1)
        assert codes(refused) == ["MARKET_CLOSED"] and "Wed 07 Jan 2026 02:00:00 IST" in refused.violations[0].message
        assert live.manager.limits.calendar is CALENDAR
        assert "on by default: real market data on the wall clock" in live.status()["market_hours"]
        assert (await by_hand.place_order("INFY", "BUY", 1)).status is S.FILLED
        assert by_hand.status()["market_hours"].startswith("off: no feed")
        assert (await simulated.place_order("INFY", "BUY", 1)).status is S.FILLED
        assert simulated.status()["market_hours"].startswith("off: a simulated clock")
    finally:
        for oms in (live, by_hand, simulated):
            await oms.close()


async def test_limits_with_hours_of_their_own_decide_and_market_hours_must_not_contradict_them():
    hours = ok.RiskLimits(session_start=time(9, 15), session_end=time(15, 30))
    own = await ok.OMS.open(feed=LiveFeed(), clock=NightClock(), risk_interval=None, limits=hours)
    try:
        assert own.manager.limits is hours and "09:15-15:30 every day" in own.status()["market_hours"]
    finally:
        await own.close()
    for value in (True, False, CALENDAR):
        with pytest.raises(ok.ConfigError) as error:
            await ok.OMS.open(feed=None, market_hours=value, limits=hours)
        assert error.value.field == "market_hours" and error.value.value is value
    with pytest.raises(ok.ConfigError) as both:
        ok.RiskLimits(calendar=CALENDAR, session_start=time(9, 15), session_end=time(15, 30))
    assert both.value.field == "calendar" and "session_start" in str(both.value)


# -- feeds that follow the sessions -----------------------------------------------------------------------------


async def test_the_random_walk_sends_nothing_while_the_market_is_closed_when_it_follows_the_calendar():
    clock = SimulatedClock(ist(2026, 1, 7, 2, 0))
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            clock.set(ist(2026, 1, 7, 9, 15))  # the open arrives while the walk waits

    feed = ok.RandomWalkFeed(["INFY"], interval=0.0, clock=clock, sleep=sleep, max_steps=2, calendar=CALENDAR)
    bars = [bar async for bar in feed.stream()]
    assert waits[:3] == [1.0, 1.0, 1.0]  # a second at a time while closed, even with interval 0
    assert [bar.timestamp for bar in bars] == [ist(2026, 1, 7, 9, 15).astimezone(UTC)] * 2
    assert "NSECalendar" in feed.status()["session"]
    always = ok.RandomWalkFeed(["INFY"], interval=0.0, clock=SimulatedClock(ist(2026, 1, 7, 2, 0)), max_steps=1,
                               sleep=sleep)
    assert len([bar async for bar in always.stream()]) == 1 and always.status()["session"].startswith("its own")


async def test_a_replay_that_follows_the_calendar_waits_for_market_time_only():
    stamps = [ist(2026, 1, 23, 15, 28), ist(2026, 1, 23, 15, 29), ist(2026, 1, 27, 9, 15), ist(2026, 1, 27, 9, 16)]
    frame = pd.DataFrame({"timestamp": [s.astimezone(UTC) for s in stamps], "symbol": "INFY", "open": 100.0,
                          "high": 100.0, "low": 100.0, "close": 100.0, "volume": 1.0})

    async def waits_of(calendar: NSECalendar | None) -> list[float]:
        now = [0.0]
        waits: list[float] = []

        async def sleep(seconds: float) -> None:
            waits.append(round(seconds, 6))
            now[0] += seconds

        feed = ok.ReplayFeed(frame, speed=60, sleep=sleep, monotonic=lambda: now[0], calendar=calendar)
        assert len([bar async for bar in feed.stream()]) == 4
        return waits

    assert await waits_of(CALENDAR) == [1.0, 1.0]  # a minute each in the sessions, nothing for the long weekend
    plain = await waits_of(None)
    assert plain[0] == 1.0 and plain[1] == pytest.approx((stamps[2] - stamps[1]).total_seconds() / 60)


# -- hostile values and any clock time --------------------------------------------------------------------------

hostile = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20)
           | st.binary(max_size=8) | st.builds(object) | st.just(time(9, 15)) | st.just("NSE") | st.just([])
           | st.just({"segment": "CM"}) | st.just(NSECalendar))


@HOSTILE
@given(value=hostile)
def test_a_calendar_setting_is_a_calendar_or_none_else_a_config_error_naming_it(value):
    settings_ = (
        (lambda v: ok.RiskLimits(calendar=v), "calendar", lambda v: v is None),
        (lambda v: ok.RandomWalkFeed(["INFY"], calendar=v), "calendar", lambda v: v is None),
        (lambda v: ok.RiskLimits(mis_square_off=v), "mis_square_off", lambda v: v is None or isinstance(v, time)),
        (default_calendar, "outside_data", lambda v: v in ("error", "weekends_only")),
    )
    for build, field, valid in settings_:
        try:
            build(value)
        except ok.ConfigError as error:
            assert not valid(value)
            assert error.field == field and error.value is value and field in str(error)
        else:
            assert valid(value)


@HOSTILE
@given(value=hostile)
def test_open_refuses_a_hostile_market_hours_value_before_opening_anything(value):
    async def scenario() -> None:
        with pytest.raises(ok.ConfigError) as error:
            await ok.OMS.open("duckdb:///:memory:", feed=None, market_hours=value)
        assert error.value.field == "market_hours" and error.value.value is value

    if value is not None and not isinstance(value, bool):  # the valid values are tested above
        asyncio.run(scenario())


@dataclass
class SessionContext(FakeContext):
    modify_of: ok.Order | None = None  # the market-hours check reads it for after-market orders


times = st.datetimes(datetime(1990, 1, 1), datetime(2040, 12, 31), timezones=st.none() | st.just(UTC)
                     | st.just(IST) | st.timezones())
products = st.sampled_from(list(Product))
calendars = st.sampled_from([CALENDAR, default_calendar()])  # weekends only, and "error" outside 2024-2026


@HOSTILE
@given(now=times, calendar=calendars, product=products, amo=st.booleans(), position=st.integers(-50, 50),
       quantity=st.integers(1, 100), side=st.sampled_from(list(Side)))
def test_any_clock_time_gets_a_verdict_that_agrees_with_the_calendar(now, calendar, product, amo, position, quantity,
                                                                     side):
    limits = ok.RiskLimits(calendar=calendar, max_order_quantity=None, max_order_value=None, price_collar_pct=None,
                           max_open_orders=None, max_orders_per_second=None, duplicate_window_s=None)
    order = make_order(product=product, quantity=quantity, side=side,
                       variety=Variety.AMO if amo else Variety.REGULAR)
    context = SessionContext(limits=limits, now=now, session=NSE_SESSION, position_quantity=position,
                          available_funds=Decimal("1e12"))
    found = {v.code for v in PreTradeValidator(CHECKS).validate(order, context)}
    try:
        is_open = calendar.is_open(now)
    except ok.OmsError:  # a year without holiday data: refused, after-market orders too (no next open to hold for)
        assert found & {"MARKET_CLOSED", "AMO_MARKET_OPEN"} == {"MARKET_CLOSED"}
        assert "no holiday data for year" in check_market_hours.explain(order, context).message
        return
    hours = check_market_hours.explain(order, context)
    assert ("AMO_MARKET_OPEN" in found) is (amo and is_open)
    assert ("MARKET_CLOSED" in found) is (not amo and not is_open)
    assert hours.passed is (is_open is not amo)
    local = (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(IST)
    cutoff = ("MIS_CUTOFF" in found)
    assert cutoff is (product is Product.MIS and not amo and calendar.phase(now) == "open"
                      and local.time() >= time(15, 20) and quantity > max(0, -position if side is Side.BUY
                                                                           else position))
    assert check_mis_cutoff.explain(order, context).passed is not cutoff


def test_the_checks_are_off_at_no_cost_without_hours():
    limits = ok.RiskLimits()
    assert not check_market_hours.applies(limits) and not check_mis_cutoff.applies(limits)
    assert check_market_hours.applies(ok.RiskLimits(calendar=CALENDAR))
    assert check_mis_cutoff.applies(ok.RiskLimits(calendar=CALENDAR))
    assert not check_mis_cutoff.applies(ok.RiskLimits(calendar=CALENDAR, mis_square_off=None))
    assert not check_mis_cutoff.applies(ok.RiskLimits(session_start=time(9, 15), session_end=time(15, 30)))


async def test_the_monitor_running_on_its_own_squares_off_at_the_cutoff():
    clock = SimulatedClock(ist(2026, 1, 7, 15, 19, 59))
    oms = await ok.OMS.open(feed=None, clock=clock, risk_interval=0.01, market_hours=True, limits=UNTHROTTLED)
    try:
        await oms.set_price("SBIN", 800)
        await oms.place_order("SBIN", "BUY", 20)
        await asyncio.sleep(0.05)
        assert mis(oms, "SBIN") == 20
        clock.set(ist(2026, 1, 7, 15, 20, 1))
        for _ in range(200):
            if mis(oms, "SBIN") == 0:
                break
            await asyncio.sleep(0.01)
        assert mis(oms, "SBIN") == 0 and [o.tag for o in auto_square_offs(oms)] == ["auto-square-off"]
    finally:
        await oms.close()
