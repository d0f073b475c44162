"""What ``OMS.open`` builds before there is an OMS: its arguments checked, the store opened with the account's
writer lock, the account assembled (:func:`~oms_kit.account.assemble_account`), and its committed state restored
(:func:`~oms_kit.recovery.restore_account`) or, for a read-only watcher, followed (:func:`watch_account`).

The result, :class:`OpenedAccount`, is what the OMS is made of; the OMS adds its write path, risk monitor and
background tasks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import tzinfo
from decimal import Decimal

from oms_kit.account import assemble_account
from oms_kit.broker.mock import MockBroker
from oms_kit.errors import ConfigError
from oms_kit.events import EventBus
from oms_kit.history import History
from oms_kit.market.clock import Clock, LiveClock
from oms_kit.market.feeds import Feed, RandomWalkFeed
from oms_kit.models import Instrument, parse_cash
from oms_kit.orders import OrderManager
from oms_kit.recovery import DayBook, restore_account
from oms_kit.risk import RiskAlert, RiskLimits
from oms_kit.session import ExchangeSession
from oms_kit.storage import Store, open_store
from oms_kit.storage.recorder import Recorder
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


async def open_account(
    url: str | None, *, account: str, cash: float | Decimal, limits: RiskLimits | None,
    instruments: Iterable[Instrument] | None, feed: str | Feed | None, broker: MockBroker | None, fees: str | None,
    clock: Clock | None, risk_interval: float | None, read_only: bool, exchange_timezone: str | tzinfo,
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
    start_prices: dict[str, float] = {}
    if feed == "random":
        start_prices = {s: p for s, p in RANDOM_WALK_START.items() if s in manager.instruments}
        feed = RandomWalkFeed(start_prices)
    day_book = None
    if read_only:
        manager.note_day(clock.now())
    # A durable store that knows the account reopens it as committed (cash argument ignored then).
    elif store.durable and await restore_account(store, manager, clock.now()):
        day_book = DayBook(store, manager, manager.day.began)
    else:
        manager.note_day(clock.now())  # the day begins now: a reopen later today keeps its P&L base
        recorder.account_changed(clock.now())
    history = History(store, account, manager.day.began) if read_only or store.durable else None
    return OpenedAccount(store=store, manager=manager, recorder=recorder, bus=bus, clock=clock,
                         feed=feed, cash=cash_value, read_only=read_only,  # type: ignore[arg-type]
                         start_prices=start_prices, history=history, day_book=day_book)


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
