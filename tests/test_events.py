"""EventBus: callbacks by kind, unsubscribe, a failing subscriber, async iterators and their bounded queues."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from decimal import Decimal

import pytest

from oms_kit.errors import ConfigError
from oms_kit.events import (
    EVENT_KINDS,
    Event,
    EventBus,
    OrderFilled,
    OrderUpdated,
    PositionChanged,
    PriceUpdated,
    RiskAlertRaised,
    TradingStateChanged,
)
from oms_kit.models import Fill, OrderId, Position, Side, TradeId, TradingState
from tests.stubs import T0, make_order


def price(value: str = "2500", symbol: str = "RELIANCE") -> PriceUpdated:
    return PriceUpdated(T0, symbol, Decimal(value))


def one_of_each_kind() -> list[Event]:
    return [
        OrderUpdated(T0, make_order(), "ACCEPTED", "NEW"),
        OrderFilled(T0, Fill(TradeId("T-1"), OrderId("O-1"), "RELIANCE", Side.BUY, 10, Decimal("2500"))),
        PositionChanged(T0, Position("RELIANCE", quantity=10)),
        price(),
        RiskAlertRaised(T0, "alert"),
        TradingStateChanged(T0, TradingState.ACTIVE, TradingState.HALTED, "test", "user"),
    ]


def test_every_event_class_has_a_kind_the_bus_knows():
    assert sorted(e.kind for e in one_of_each_kind()) == sorted(EVENT_KINDS)


def test_events_are_immutable():
    event = price()

    with pytest.raises(dataclasses.FrozenInstanceError):
        event.price = Decimal("1")  # type: ignore[misc]


def test_callback_without_kinds_receives_every_event_in_order():
    bus, received = EventBus(), []
    bus.subscribe(received.append)
    events = one_of_each_kind()

    for event in events:
        bus.publish(event)

    assert received == events
    assert bus.published == len(events)


@pytest.mark.parametrize("kinds", ["fill", ["fill"], ("fill", "trading_state")])
def test_callback_with_kinds_receives_only_those_kinds(kinds):
    bus, received = EventBus(), []
    bus.subscribe(received.append, kinds)

    for event in one_of_each_kind():
        bus.publish(event)

    wanted = {kinds} if isinstance(kinds, str) else set(kinds)
    assert [e.kind for e in received] == [k for k in ("fill", "trading_state") if k in wanted]


def test_callbacks_run_in_subscription_order():
    bus, calls = EventBus(), []
    bus.subscribe(lambda e: calls.append("first"))
    bus.subscribe(lambda e: calls.append("second"), "price")
    bus.subscribe(lambda e: calls.append("third"))

    bus.publish(price())

    assert calls == ["first", "second", "third"]


def test_unknown_kind_is_refused_naming_the_field_and_the_kinds_allowed():
    bus = EventBus()

    with pytest.raises(ConfigError, match=r"invalid kinds: \['fills'\]") as error:
        bus.subscribe(print, ["fill", "fills"])

    assert error.value.field == "kinds"
    assert error.value.value == ["fills"]
    assert "trading_state" in error.value.allowed


def test_unsubscribe_stops_delivery_and_is_harmless_twice():
    bus, received = EventBus(), []
    unsubscribe = bus.subscribe(received.append)
    bus.publish(price("1"))

    unsubscribe()
    unsubscribe()
    bus.publish(price("2"))

    assert [e.price for e in received] == [Decimal("1")]


def test_raising_subscriber_is_logged_and_the_others_still_run(caplog):
    bus, before, after = EventBus(), [], []
    bus.subscribe(before.append)

    def broken(event: Event) -> None:
        raise RuntimeError("subscriber bug")

    bus.subscribe(broken)
    bus.subscribe(after.append)

    with caplog.at_level(logging.ERROR, logger="oms_kit.events"):
        bus.publish(price())
        bus.publish(price())

    assert len(before) == len(after) == 2
    assert bus.errors == 2
    failures = [r for r in caplog.records if r.name == "oms_kit.events"]
    assert len(failures) == 2
    assert "price" in failures[0].getMessage()
    assert failures[0].exc_info is not None and isinstance(failures[0].exc_info[1], RuntimeError)


def test_wants_follows_subscriptions():
    bus = EventBus()
    assert not bus.wants("fill")

    unsubscribe = bus.subscribe(print, "fill")
    assert bus.wants("fill")
    assert not bus.wants("price")

    unsubscribe()
    assert not bus.wants("fill")

    bus.subscribe(print)
    assert bus.wants("price")


# asyncio.gather starts its tasks in argument order, so a consumer listed first is subscribed (waiting in its
# first `await queue.get()`) before a publisher listed after it runs: no sleeping, no polling.


async def test_async_iterator_receives_events_of_its_kinds_as_they_are_published():
    bus = EventBus()
    received: list[Event] = []

    async def consume() -> None:
        async for event in bus.events(["price", "trading_state"]):
            received.append(event)
            if isinstance(event, TradingStateChanged):
                return

    async def publish() -> None:
        for event in one_of_each_kind():
            bus.publish(event)

    await asyncio.gather(consume(), publish())

    assert [e.kind for e in received] == ["price", "trading_state"]


async def test_async_iterator_unsubscribes_when_it_is_closed():
    bus = EventBus()
    subscribed: list[bool] = []

    async def first_price() -> Event:
        # aclosing: an abandoned async generator is only closed later, when the loop finalizes it.
        async with contextlib.aclosing(bus.events("price")) as events:
            async for event in events:
                return event
        raise AssertionError("the iterator ended")

    async def publish() -> None:
        subscribed.append(bus.wants("price"))
        bus.publish(price("7"))

    event, _ = await asyncio.gather(first_price(), publish())

    assert event.price == Decimal("7")  # type: ignore[attr-defined]
    assert subscribed == [True]
    assert not bus.wants("price")


async def test_two_async_iterators_each_receive_every_event():
    bus = EventBus()

    async def take(n: int) -> list[Decimal]:
        got = []
        async for event in bus.events("price"):
            got.append(event.price)  # type: ignore[attr-defined]
            if len(got) == n:
                break
        return got

    async def publish() -> None:
        for value in ("1", "2", "3"):
            bus.publish(price(value))

    first, second, _ = await asyncio.gather(take(3), take(3), publish())

    assert first == second == [Decimal("1"), Decimal("2"), Decimal("3")]


async def test_async_consumer_that_falls_behind_loses_the_oldest_events_and_they_are_counted():
    bus = EventBus(queue_size=2)
    iterator = bus.events("price")

    async def publish() -> None:
        for value in ("1", "2", "3", "4", "5"):
            bus.publish(price(value))

    first, _ = await asyncio.gather(anext(iterator), publish())

    assert first.price == Decimal("4")  # type: ignore[attr-defined]
    assert bus.dropped == 3
    assert (await anext(iterator)).price == Decimal("5")  # type: ignore[attr-defined]
    await iterator.aclose()  # type: ignore[attr-defined]
    assert not bus.wants("price")


def test_publish_with_no_subscribers_is_counted_and_harmless():
    bus = EventBus()

    bus.publish(price())

    assert bus.published == 1
    assert bus.errors == bus.dropped == 0
