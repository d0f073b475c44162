"""What ``OMS.open`` builds before there is an OMS: its arguments checked, the store opened with the account's
writer lock, the account assembled (:func:`~oms_kit.account.assemble_account`), and its committed state restored
(:func:`~oms_kit.recovery.restore_account`) or, for a read-only watcher, followed (:func:`watch_account`).

The result, :class:`OpenedAccount`, is what the OMS is made of; the OMS adds its write path, risk monitor and
background tasks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import cast

from oms_kit.account import assemble_account
from oms_kit.broker.base import Broker
from oms_kit.broker.live import LiveBroker, live_limits
from oms_kit.broker.mock import MockBroker
from oms_kit.errors import ConfigError
from oms_kit.events import EventBus
from oms_kit.history import History
from oms_kit.market.calendar import NSECalendar, default_calendar
from oms_kit.market.clock import Clock, LiveClock
from oms_kit.market.feeds import Feed, RandomWalkFeed, ReplayFeed
from oms_kit.market.recorder import RecordingFeed
from oms_kit.orders import OrderManager
from oms_kit.parsing import parse_cash
from oms_kit.recovery import DayBook, restore_account
from oms_kit.risk import RiskAlert, RiskLimits
from oms_kit.session import ExchangeSession
from oms_kit.storage import Store, open_store
from oms_kit.storage.recorder import Recorder
from oms_kit.tradable import Instrument
from oms_kit.watch import Watch

# Start prices of the live random-walk feed, near recent NSE levels: enough to look real in a demo.
RANDOM_WALK_START = {
    "RELIANCE": 2500.0, "TCS": 3900.0, "INFY": 1500.0, "HDFCBANK": 1650.0, "ICICIBANK": 1250.0, "SBIN": 800.0,
}


@dataclass(slots=True)
class OpenedAccount:
    """The parts of an OMS, as :func:`open_account` leaves them."""

    store: Store
    manager: OrderManager
    recorder: Recorder  # the manager's, or (read-only) one that is never told anything
    bus: EventBus
    clock: Clock
    feed: Feed | None
    cash: Decimal
    read_only: bool
    start_prices: dict[str, float]  # the random walk's, quoted before the OMS is handed out
    # Orders and trades from before the day the OMS was opened on are in the store only (None: memory holds the
    # account's whole history).
    history: History | None
    # A reopened account's orders that ended and trades made earlier in the day, read when first needed.
    day_book: DayBook | None
    hours_origin: str  # why the market hours are what they are (OMS.status()'s "market_hours")


async def open_account(
    url: str | None, *, account: str, cash: float | Decimal, limits: RiskLimits | None,
    instruments: Iterable[Instrument] | None, feed: str | Feed | None, broker: Broker | None, fees: str | None,
    clock: Clock | None, risk_interval: float | None, read_only: bool, exchange_timezone: str | tzinfo,
    market_hours: bool | NSECalendar | None = None,
) -> OpenedAccount:
    """The arguments of ``OMS.open`` (documented there) turned into the OMS's parts. ``risk_interval`` is only
    checked here. Raises ConfigError naming a wrong argument before the store is opened; the store is closed again
    when its writer lock cannot be taken."""
    session = ExchangeSession.of(exchange_timezone)
    cash_value = parse_cash(cash)
    if isinstance(feed, str) and feed != "random":
        raise ConfigError("feed", feed, "'random', None or a Feed object")
    if risk_interval is not None and (isinstance(risk_interval, bool) or not isinstance(risk_interval, int | float)
                                      or not 0 < risk_interval < float("inf")):
        raise ConfigError("risk_interval", risk_interval, "a positive number of seconds or None")
    limits, calendar, hours_origin = market_hours_limits(market_hours, limits, clock, feed)
    check_broker(broker)
    if isinstance(broker, LiveBroker):  # the exchange's order rate is a pre-trade limit when trading live
        limits = live_limits(limits, broker.orders_per_second)
    store = await open_store(url, read_only=read_only)
    lock = getattr(store, "lock_account", None)
    if lock is not None and not read_only:  # PostgreSQL; a DuckDB file is already held by its own file lock
        try:
            await lock(account)
        except BaseException:
            await store.close()
            raise
    clock = clock or LiveClock()
    bus = EventBus()
    manager = assemble_account(account=account, cash=cash_value, broker=broker or MockBroker(fees=fees),
                               now=clock.now, instruments=instruments, limits=limits, exchange_timezone=session,
                               bus=bus)
    recorder = Recorder(account, manager.account_figures)
    if not read_only:  # a watcher writes nothing
        manager.recorder = recorder
        manager.gtts.changed = recorder.gtt
        manager.programs.book.changed = recorder.program
    start_prices: dict[str, float] = {}
    if feed == "random":
        start_prices = {s: p for s, p in RANDOM_WALK_START.items() if s in manager.instruments}
        # On the OMS's clock when following the sessions (whose hours the check reads) or pricing the futures and
        # options among the instruments from their underlyings (their time to expiry runs on it).
        contracts = any(i.expiry is not None for i in manager.instruments.values())
        feed = RandomWalkFeed(start_prices, calendar=calendar, instruments=manager.instruments if contracts else None,
                              clock=clock if calendar is not None or contracts else None)
        start_prices = feed.last_prices()  # the contracts' too, priced from their underlyings' start
    day_book = None
    if read_only:
        manager.note_day(clock.now())
    # A durable store that knows the account reopens it as committed (cash argument ignored then).
    elif store.durable and await restore_account(store, manager, clock.now()):
        day_book = DayBook(store, manager, cast(datetime, manager.day.began))  # restore_account set the day
    else:
        manager.note_day(clock.now())  # the day begins now: a reopen later today keeps its P&L base
        recorder.account_changed(clock.now())
    # note_day or restore_account set the day.
    history = History(store, account, cast(datetime, manager.day.began)) if read_only or store.durable else None
    return OpenedAccount(store=store, manager=manager, recorder=recorder, bus=bus, clock=clock,
                         feed=feed, cash=cash_value, read_only=read_only,  # type: ignore[arg-type]
                         start_prices=start_prices, history=history, day_book=day_book, hours_origin=hours_origin)


_BROKER_METHODS = ("attach", "submit", "modify", "cancel", "on_bar", "open_session", "end_session", "end_day",
                   "status")


def check_broker(broker: object) -> None:
    """ConfigError unless ``broker`` is None or has the Broker protocol's methods."""
    if broker is not None and not all(callable(getattr(broker, name, None)) for name in _BROKER_METHODS):
        raise ConfigError("broker", type(broker).__name__, "None (a MockBroker with fees), a MockBroker(...), a "
                          "KiteBroker(...) or an object with the Broker protocol's methods (oms_kit.broker.base)")


def market_hours_limits(market_hours: object, limits: RiskLimits | None, clock: Clock | None,
                        feed: str | Feed | None) -> tuple[RiskLimits | None, NSECalendar | None, str]:
    """``OMS.open``'s ``market_hours`` applied to ``limits``: the limits to use, the calendar they were given (None
    when none was), and why, in words. ConfigError for a value that is not None, a bool or an NSECalendar, and for
    True, False or a calendar when ``limits`` carry hours of their own (one place says the hours).

    None decides by what the OMS trades on: real market data on a real clock (a feed that is neither the random
    walk nor a replay, on the wall clock) gets the NSE calendar; the random walk has a session of its own, open at
    any hour; without a feed prices come by hand, and a simulated clock or a replay follows its data."""
    if market_hours is not None and not isinstance(market_hours, bool | NSECalendar):
        raise ConfigError("market_hours", market_hours, "None (decided by the clock and the feed), True (the NSE "
                          "calendar), False (no market-hours check) or an NSECalendar")
    own = limits is not None and limits.market_hours is not None
    if own:
        if market_hours is not None:
            raise ConfigError("market_hours", market_hours, "None while the limits carry hours of their own "
                              "(RiskLimits session_start/session_end or calendar): they decide")
        return limits, None, "the limits' own hours"
    if market_hours is False:
        return limits, None, "off (market_hours=False)"
    if market_hours is None:
        wall = clock is None or isinstance(clock, LiveClock)
        while isinstance(feed, RecordingFeed):  # a recording of a feed follows the recorded feed's rule
            feed = feed.feed
        if feed == "random" or isinstance(feed, RandomWalkFeed):
            return limits, None, ("off: random-walk prices keep a session of their own, open at any hour "
                                  "(market_hours=True follows the NSE calendar)")
        if not wall:
            return limits, None, "off: a simulated clock follows its data"
        if feed is None:
            return limits, None, "off: no feed, prices come by hand (market_hours=True turns it on)"
        if isinstance(feed, ReplayFeed):
            return limits, None, "off: a replay follows its data"
        origin = "on by default: real market data on the wall clock"
    else:
        origin = "asked for (market_hours)"
    calendar = market_hours if isinstance(market_hours, NSECalendar) else default_calendar("weekends_only")
    return dataclasses.replace(limits or RiskLimits(), calendar=calendar), calendar, origin


def describe_hours(limits: RiskLimits, origin: str) -> str:
    """The market hours of ``limits`` in a line, with ``origin`` (why they are what they are)."""
    hours = limits.market_hours
    if hours is None:
        return origin if origin.startswith("off") else f"off ({origin})"
    if isinstance(hours, NSECalendar):
        years = f"{min(hours.covered_years)}-{max(hours.covered_years)}" if hours.covered_years else "none"
        cutoff = (f", MIS squared off at {limits.mis_square_off.isoformat('minutes')}"
                  if limits.mis_square_off is not None else "")
        rest = "other years: weekends only" if hours.outside_data == "weekends_only" else "no other years"
        return (f"NSE calendar ({hours.segment}): normal market 09:15-15:30 IST{cutoff}, holidays of {years} "
                f"({rest}); {origin}")
    start, end = hours
    return f"{start.isoformat('minutes')}-{end.isoformat('minutes')} every day, exchange time; {origin}"


async def watch_account(opened: OpenedAccount, alerts: list[RiskAlert]) -> Watch:
    """Load a read-only account's committed state and, on PostgreSQL, follow the writer's commits (LISTEN/NOTIFY);
    the alerts it stored join ``alerts``. The store is closed when this fails."""
    store, manager = opened.store, opened.manager
    watch = Watch(store, manager, opened.bus, alerts, since=manager.day.began)  # type: ignore[arg-type]
    try:
        await watch.refresh()
        listen = getattr(store, "listen", None)
        if listen is not None:
            await listen(watch.notify)
    except BaseException:
        await store.close()
        raise
    return watch
