"""StrategyRunner: drives one strategy over an order manager, bar by bar — the loop backtests and paper trading
share, so a strategy meets the same rules in both (see :mod:`oms_kit.strategy` for the timing rules it keeps)."""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Final

from oms_kit.errors import ConfigError, OmsError
from oms_kit.events import Event
from oms_kit.gtt import Gtt, parse_gtt_for
from oms_kit.market.bars import Bar
from oms_kit.models import Order, OrderStatus
from oms_kit.orders import OrderManager
from oms_kit.programs import Program
from oms_kit.rejections import RejectionTally
from oms_kit.request import OrderRequest
from oms_kit.settlement import settle_expiries
from oms_kit.strategy import PlotSeries, Strategy, StrategyContext, overrides

__all__ = ["StrategyRunner"]

_NEW: Final = OrderStatus.NEW
_BEFORE_ANY_BAR: Final = datetime.min.replace(tzinfo=UTC)


class StrategyRunner:
    """Drives one strategy over an order manager, bar by bar: the loop that backtests and paper trading share.

    For each bar, :meth:`run` moves prices into the account (marks, broker matching), reports fills and order
    changes to the strategy, calls its ``on_bar`` and collects the orders it placed; :meth:`send` gives them to the
    broker. Paper trading commits the orders to the store before it calls :meth:`send`; a backtest has no store.

    Parameters
    ----------
    strategy : Strategy
    manager : OrderManager
        The account's order manager (validator, broker, ledger, bus); the same in both modes.
    set_clock : callable, optional
        Called with each bar's timestamp before anything else (a simulated clock's ``set``).
    apply_bar : callable, optional
        How a bar's prices reach the account; ``manager.on_bar`` by default (paper trading passes the OMS's,
        which also publishes price events, or nothing when the prices came from the OMS's own feed).
    defer_marks : bool
        Backtests: while no order of the account is working, note a bar's prices instead of applying them, and
        apply the latest per symbol before anything reads them (an order's checks, ``ctx.equity``, the end of the
        run). The account then looks exactly as if every bar had been applied — with no working order the broker
        has nothing to match and only the last mark of a symbol counts — at a fraction of the cost per bar.
    send_at_once : bool
        True (backtests): :meth:`run` sends a bar's orders itself. False (paper trading): they wait in
        ``pending`` until the caller has committed them and calls :meth:`send`.

    Rejections: :meth:`rejections` counts this strategy's rejected orders by code, and :meth:`warn_rejections`
    reports them when a run ends. A rejection by the pre-trade checks is counted as it happens (one dict increment;
    accepted orders cost nothing more); the rare rejection after the checks (by the broker, or the OMS when the
    database is down) is found only when the counts are read, and only when the account's count of rejections
    says there is one.

    Days: the first bar of a new day (midnight in the exchange's time zone, ``manager.session``)
    ends the previous one. DAY orders that have had a bar to trade on expire (``broker.end_day``: on daily bars an
    order placed on one day's bar has the next day's bar, the session it was placed for) and the ledger starts the
    day's P&L again (``ledger.start_day``), so the daily loss limit measures each day on its own.

    Expiries: the first bar at or after the expiry close of a contract the account holds or has working orders in
    (``manager.settle_due``) settles it first (:meth:`settle`), at the prices seen so far, before the day ends.
    """

    def __init__(self, strategy: Strategy, manager: OrderManager, *,
                 set_clock: Callable[[datetime], Any] | None = None,
                 apply_bar: Callable[[Bar], Any] | None = None, defer_marks: bool = False,
                 send_at_once: bool = True) -> None:
        if not isinstance(strategy, Strategy):
            raise ConfigError("strategy", type(strategy).__name__, "an instance of a Strategy subclass",
                              hint="pass MyStrategy(), not MyStrategy")
        self.strategy = strategy
        self.manager = manager
        self.ctx = StrategyContext(self)
        self.set_clock = set_clock
        self.apply_bar = apply_bar or manager.on_bar
        self.send_at_once = send_at_once
        self.defer_marks = defer_marks
        self.own: set[str] = set()
        self.placed: list[Order] = []  # this strategy's orders, in placement order
        self.pending: list[Order] = []  # placed in the current step, not yet sent to the broker
        self.held: list[tuple[Order, datetime]] = []  # waiting for their symbol's next bar
        self.last_bar: dict[str, Bar] = {}
        self.stale: dict[str, Bar] = {}  # deferred marks: the latest bar per symbol not yet applied
        keep = strategy.history
        self.keep_history = keep > 0
        self.history: dict[str, deque[Bar]] = {}
        self._history_factory: Callable[[], deque[Bar]] | None = (lambda: deque(maxlen=keep)) if keep else None
        self._fills_seen = len(manager.trades)
        self._wants_fill = overrides(strategy, "on_fill")
        self._order_events: list[Event] | None = [] if overrides(strategy, "on_order") else None
        self._unsubscribe: Callable[[], None] | None = None
        # Rejections by the pre-trade checks, counted as placed: violation code -> orders, and the first one's story.
        self.tally = RejectionTally(manager.counts["rejected"])
        if self._order_events is not None:
            self._unsubscribe = manager.bus.subscribe(self._order_events.append, "order")
        # Orders that this strategy's order programs and GTTs place later are its own too.
        self.own_gtts: set[str] = set()
        manager.programs.book.placed_listeners.append(self._adopt)
        manager.gtts.placed_listeners.append(self._adopt_fired)
        # The bar being handled (None before the first): orders placed now may fill only on later bars, and
        # ctx.plot records at its symbol and time. The bar, not its time, is kept: one store per bar either way.
        self.current_bar: Bar | None = None
        # ctx.plot's values: (symbol, name) -> its times and values, appended to as the strategy plots.
        self.plots: dict[tuple[str, str], PlotSeries] = {}
        self.day_end = _BEFORE_ANY_BAR  # the manager's day_end as last read: the first bar reads it; see new_day
        self.bars_seen = 0
        self.unsettled_warned: set[str] = set()  # expired contracts a settlement could not price, warned of once
        self.started = False
        self.stopped = False

    # -- the loop ---------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Call the strategy's ``on_start`` (once)."""
        if not self.started:
            self.started = True
            self.strategy.on_start(self.ctx)
            self.dispatch()

    def run(self, bars: Iterable[Bar]) -> None:
        """The strategy's step for each bar: the day rolled when the bar begins a new one, the clock set, orders
        held for this symbol's bar released, the prices applied (marks, broker matching; noted instead while
        ``defer_marks`` allows), fills and order changes reported, the bar kept, the strategy's ``on_bar`` called,
        and the orders it placed sent (:meth:`send`) — unless ``send_at_once`` is False, when they wait in
        ``pending`` for the caller to commit them and call :meth:`send` (paper trading: an order is durable before
        the broker sees it).

        The one step of backtests and paper trading, written as one loop with its state bound to local names:
        this is a backtest's hot path."""
        manager = self.manager
        live, apply_bar, set_clock = manager.live, self.apply_bar, self.set_clock
        strategy_on_bar, ctx, dispatch, send = self.strategy.on_bar, self.ctx, self.dispatch, self.send
        last_bar, stale, held, pending = self.last_bar, self.stale, self.held, self.pending
        history, keep, factory, defer = self.history, self.keep_history, self._history_factory, self.defer_marks
        send_at_once = self.send_at_once
        gtts = manager.gtts.watching  # a GTT watches every price: marks are not deferred while one is active
        count = 0
        day_end = self.day_end
        try:
            for bar in bars:
                symbol, ts = bar.symbol, bar.timestamp
                # settle_due is read each bar: an order sent in this loop may bring a contract's expiry forward.
                if ts >= day_end or ts >= manager.settle_due:
                    self.boundary(ts)
                    day_end = self.day_end
                self.current_bar = bar
                if set_clock is not None:
                    set_clock(ts)
                count += 1
                if held:
                    self._release(symbol, ts)
                last_bar[symbol] = bar
                if defer and not live and not gtts:
                    stale[symbol] = bar
                else:
                    if stale:
                        stale.pop(symbol, None)
                    apply_bar(bar)
                    dispatch()
                if keep:
                    kept = history.get(symbol)
                    if kept is None:
                        kept = history[symbol] = factory()  # type: ignore[misc]
                    kept.append(bar)
                strategy_on_bar(ctx, bar)
                if pending and send_at_once:
                    send()
        finally:
            self.bars_seen += count

    @property
    def current_ts(self) -> datetime:
        """The time of the bar being handled (before the first bar: a time before any bar)."""
        bar = self.current_bar
        return bar.timestamp if bar is not None else _BEFORE_ANY_BAR

    def boundary(self, ts: datetime) -> None:
        """``ts``, a bar's time, is at or past an expiry close the account is exposed to or the end of the day:
        contracts that expired settle first (:meth:`settle`), so their P&L belongs to the day they expired in,
        then the day ends (:meth:`new_day`)."""
        if ts >= self.manager.settle_due:
            self.settle(ts)
        if ts >= self.day_end:
            self.new_day(ts)

    def settle(self, ts: datetime) -> None:
        """Settle the contracts expired at ``ts`` (:func:`oms_kit.settlement.settle_expiries`, at the prices the
        account has seen), before the bar of ``ts`` is applied: its prices are after the expiry. A position left
        unsettled for want of a price warns once (``UserWarning``) and is tried again at later bars."""
        self.sync_marks()  # the settlement reads the last prices
        result = settle_expiries(self.manager, ts)
        if result.settled or result.cancelled:
            self.dispatch()
        for unsettled in result.unsettled:
            if unsettled.symbol not in self.unsettled_warned:
                self.unsettled_warned.add(unsettled.symbol)
                warnings.warn(f"{unsettled.symbol} expired at {unsettled.expired_at.isoformat()} and was not "
                              f"settled: {unsettled.reason}", UserWarning, stacklevel=2)

    def new_day(self, ts: datetime) -> None:
        """``ts``, a bar's time, falls on or after the end of the day noted so far: the manager ends that day (see
        the class notes and ``OrderManager.roll_day``; the OMS may have done so already) and notes the new one."""
        if self.manager.roll_day(ts):
            self.dispatch()  # the strategy hears of its expired orders before the new day's first bar
        self.day_end = self.manager.day.end

    def send(self) -> None:
        """Give the orders placed since the last call to the broker, then report what that caused."""
        while self.pending:
            pending = self.pending[:]
            self.pending.clear()  # cleared in place: the backtest's loop holds the list
            manager, last_bar, now = self.manager, self.last_bar, self.current_ts
            for order in pending:
                if order.status is not _NEW:
                    continue  # rejected, or cancelled before it was sent
                seen = last_bar.get(order.symbol)
                if seen is None or seen.timestamp < now:
                    # The symbol's bar of this time may still come; it began before the order was placed.
                    self.held.append((order, now))
                else:
                    manager.submit(order)
            self.dispatch()  # may place more orders (on_fill), sent by the next turn of the loop

    def stop(self) -> None:
        """Send what is held, apply deferred marks and call ``on_stop`` (once)."""
        if self.stopped:
            return
        self.stopped = True
        try:
            held = self.held[:]
            self.held.clear()
            for order, _ in held:
                if order.status is _NEW:
                    self.manager.submit(order)
            self.sync_marks()
            self.dispatch()
            self.strategy.on_stop(self.ctx)
            self.dispatch()
            self.send()
            self.sync_marks()
        finally:
            if self._unsubscribe is not None:
                self._unsubscribe()
            self.manager.programs.book.placed_listeners.remove(self._adopt)
            self.manager.gtts.placed_listeners.remove(self._adopt_fired)

    # -- what the context calls -------------------------------------------------------------------------------

    def place(self, request: OrderRequest) -> Order:
        self.sync_marks()  # the checks read prices, equity and exposure
        order, send = self.manager.prepare(request)
        if send:  # always a new order
            self.own.add(order.order_id)
            self.placed.append(order)
            self.pending.append(order)
        elif order.order_id not in self.own:  # rejected, or an identical retry of an order placed elsewhere
            self.own.add(order.order_id)
            self.placed.append(order)
            if order.violations:
                self.tally.refused(order)
        return order

    def start_program(self, kind: str, request: OrderRequest, **params: Any) -> Program:
        """Start an order program (:mod:`oms_kit.programs`) whose first order is placed as this strategy's."""
        self.sync_marks()  # the program's checks read the last price
        engine = self.manager.programs
        program, first = engine.open(kind, request, **params)
        return engine.started(program, self.place(first))

    def place_gtt(self, symbol: Any, kind: Any, triggers: Any, orders: Any, last_price: Any) -> Gtt:
        """Place a GTT (:mod:`oms_kit.gtt`) whose fired orders are this strategy's."""
        self.sync_marks()
        symbol, kind, values, requests, price = parse_gtt_for(self.manager, symbol, kind, triggers, orders,
                                                              last_price)
        gtt = self.manager.gtts.add(symbol, kind, values, requests, price, self.manager.now())
        self.own_gtts.add(gtt.gtt_id)
        return gtt

    def _adopt(self, program: Program, order: Order) -> None:
        if order.order_id not in self.own and self.manager.programs.book.root.get(order.order_id) in self.own:
            self.own.add(order.order_id)
            self.placed.append(order)

    def _adopt_fired(self, gtt: Gtt, order: Order) -> None:
        if gtt.gtt_id in self.own_gtts:
            self.own.add(order.order_id)
            self.placed.append(order)

    def cancel(self, order_id: str, reason: str) -> Order:
        if order_id not in self.own:
            raise OmsError(f"order {order_id} was not placed by this strategy",
                           hint="a strategy cancels only its own orders")
        self.sync_marks()
        order = self.manager.get(order_id)
        if order.status is _NEW:
            self.held[:] = [(o, t) for o, t in self.held if o is not order]
            self.tally.withdrawn.add(order_id)
        return self.manager.cancel(order_id, reason)

    def modify(self, order_id: str, quantity: Any, price: Any, trigger_price: Any) -> Order:
        if order_id not in self.own:
            raise OmsError(f"order {order_id} was not placed by this strategy",
                           hint="a strategy modifies only its own orders")
        self.sync_marks()
        return self.manager.modify(order_id, quantity, price, trigger_price)

    def sync_marks(self) -> None:
        """Apply the deferred marks (see ``defer_marks``)."""
        if self.stale:
            stale = list(self.stale.values())
            self.stale.clear()  # cleared in place: the backtest's loop holds the dict
            for bar in stale:
                self.apply_bar(bar)

    def dispatch(self) -> None:
        """Report new fills and order changes of this strategy's orders to its hooks."""
        trades = self.manager.trades
        if self._wants_fill and len(trades) != self._fills_seen:
            own, strategy, ctx = self.own, self.strategy, self.ctx
            while self._fills_seen < len(trades):
                fill = trades[self._fills_seen]
                self._fills_seen += 1
                if fill.order_id in own:
                    strategy.on_fill(ctx, fill)
        else:
            self._fills_seen = len(trades)
        events = self._order_events
        if events:
            own, strategy, ctx = self.own, self.strategy, self.ctx
            while events:
                event = events.pop(0)
                order = event.order  # type: ignore[attr-defined]
                # on_order reports changes of an order the strategy placed; its creation (NEW) is not news to it.
                if order.order_id in own and event.event_type != "CREATED":  # type: ignore[attr-defined]
                    strategy.on_order(ctx, order)

    # -- rejections -------------------------------------------------------------------------------------------

    def rejections(self) -> dict[str, int]:
        """This strategy's rejected orders by code, most frequent first (empty when none was rejected).

        A code is a violation code of the pre-trade checks (``INSTRUMENT_NOT_FOUND``); an order that broke several
        rules counts under each. An order refused after the checks counts under the code its reason starts with
        (``PERSISTENCE_UNAVAILABLE``), else ``BROKER_REJECTED``. An order the strategy cancelled before it was sent
        ends REJECTED too, but is not counted: the strategy withdrew it.
        """
        counts, _, _ = self.tally.summary(self.placed, self.manager.counts["rejected"])
        return counts

    def rejected_orders(self) -> int:
        """How many of this strategy's orders were rejected (counted as in :meth:`rejections`, each order once)."""
        _, rejected, _ = self.tally.summary(self.placed, self.manager.counts["rejected"])
        return rejected

    def rejection_message(self) -> str | None:
        """The end-of-run report of rejections: how many orders, the counts by code and one example; None when no
        order of this strategy was rejected."""
        counts, rejected, example = self.tally.summary(self.placed, self.manager.counts["rejected"])
        if not rejected:
            return None
        codes = ", ".join(f"{code} {count}" for code, count in counts.items())
        return (f"{self.strategy!r}: {rejected} of {len(self.placed)} orders rejected ({codes}); "
                f"for example {example}")

    def warn_rejections(self, stacklevel: int = 2) -> None:
        """Warn (``UserWarning``, :meth:`rejection_message`) when orders of this strategy were rejected; a run with
        none stays quiet. Backtests and paper trading call it once, when the run has ended.

        ``stacklevel`` counts from the caller of this method, as in :func:`warnings.warn`.
        """
        message = self.rejection_message()
        if message is not None:
            warnings.warn(message, UserWarning, stacklevel=stacklevel + 1)

    # -- internals --------------------------------------------------------------------------------------------

    def _release(self, symbol: str, ts: datetime) -> None:
        # Held orders of this symbol go to the broker before its new bar is applied, so they can fill on it.
        keep: list[tuple[Order, datetime]] = []
        for order, placed_at in self.held:
            if order.symbol == symbol and ts > placed_at:
                if order.status is _NEW:
                    self.manager.submit(order)
            else:
                keep.append((order, placed_at))
        self.held[:] = keep
