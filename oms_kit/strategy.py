"""Strategies: one class that runs unchanged in a backtest and in live paper trading.

A strategy subclasses :class:`Strategy` and overrides the hooks it needs (``on_start``, ``on_bar``, ``on_fill``,
``on_order``, ``on_stop``). Every hook gets a :class:`StrategyContext` — buy, sell, any order type, cancel, modify,
position, cash, equity, open orders, now, recent bars — that behaves the same in :func:`oms_kit.backtest` and
:func:`oms_kit.paper_trade`, because both drive the same :class:`StrategyRunner` over the same order manager,
validator, mock broker and ledger. Only the clock and the source of bars differ.

Timing rules (the same in both):

* An order placed in a hook is checked and registered at once (``ctx.buy`` returns it, NEW or REJECTED); it goes
  to the broker when the hook returns (after being committed, on a durable store).
* A market order placed in ``on_bar`` for bar t fills at the open of the symbol's next bar (plus slippage); limit
  and stop orders fill when a later bar's range crosses their price. An order for another symbol whose bar of the
  same time has not been seen yet is held back until that symbol's next bar, so it cannot fill on a bar that began
  before the order was placed.
* ``on_fill`` and ``on_order`` are called after the step that caused them (a bar's matching, or sending orders),
  never from inside the broker, so they may place orders freely; within one step fills come first, then order
  changes. A bar's fills are reported before its ``on_bar``.

Rejections are not silent: when a run ends, a ``UserWarning`` gives the strategy's rejected orders by code with one
example (:meth:`StrategyRunner.warn_rejections`), and the run's stats carry the counts
(:meth:`StrategyRunner.rejections`).
"""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from oms_kit.errors import ConfigError, InvalidOrderError, OmsError
from oms_kit.events import Event
from oms_kit.market.bars import Bar
from oms_kit.models import Fill, Order, OrderStatus, OrderType, Product, Side, TradingState, Validity
from oms_kit.orders import OrderManager
from oms_kit.rejections import RejectionTally
from oms_kit.request import OrderRequest

__all__ = ["Strategy", "StrategyContext", "StrategyRunner"]

_NEW = OrderStatus.NEW
_BEFORE_ANY_BAR = datetime.min.replace(tzinfo=UTC)
_HOOKS = ("on_start", "on_bar", "on_fill", "on_order", "on_stop")


class Strategy:
    """Base class of a trading strategy; override the hooks you need.

    Parameters are class attributes with their defaults; the constructor takes them as keywords, so a parameter
    sweep can build ``MyStrategy(fast=5, slow=20)``::

        class Crossover(ok.Strategy):
            fast = 10
            slow = 30

            def on_bar(self, ctx, bar):
                closes = ctx.closes(bar.symbol, self.slow)
                if len(closes) < self.slow:
                    return
                fast, slow = sum(closes[-self.fast:]) / self.fast, sum(closes) / self.slow
                held = ctx.position(bar.symbol)
                if fast > slow and held <= 0:
                    ctx.buy(bar.symbol, 10 - held)
                elif fast < slow and held >= 0:
                    ctx.sell(bar.symbol, 10 + held)

    Attributes
    ----------
    history : int
        Recent bars kept per symbol for :meth:`StrategyContext.bars` and :meth:`StrategyContext.closes`
        (0 keeps none, and saves the work).

    Raises
    ------
    ConfigError
        A keyword that is not a parameter of the class (the message lists the parameters), or a ``history`` that
        is not a whole number >= 0.
    """

    history: int = 100

    def __init__(self, **params: Any) -> None:
        allowed = self.parameters()
        for name, value in params.items():
            if name not in allowed:
                raise ConfigError(f"{type(self).__name__} parameter", name,
                                  ", ".join(allowed) or "no parameters",
                                  hint="parameters are the class attributes of the strategy")
            setattr(self, name, value)
        if not isinstance(self.history, int) or isinstance(self.history, bool) or self.history < 0:
            raise ConfigError("history", self.history, "a whole number of bars >= 0")

    @classmethod
    def parameters(cls) -> dict[str, Any]:
        """The strategy's parameters and their defaults: public, non-callable class attributes."""
        found: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            if klass is object:
                continue
            for name, value in vars(klass).items():
                if name.startswith("_") or callable(value) or isinstance(value, classmethod | staticmethod | property):
                    continue
                found[name] = value
        return {name: getattr(cls, name) for name in found}

    def params(self) -> dict[str, Any]:
        """This instance's parameter values."""
        return {name: getattr(self, name) for name in self.parameters()}

    def on_start(self, ctx: StrategyContext) -> None:
        """Called once before the first bar."""

    def on_bar(self, ctx: StrategyContext, bar: Bar) -> None:
        """Called for every bar, after the bar's prices have marked positions and matched resting orders."""

    def on_fill(self, ctx: StrategyContext, fill: Fill) -> None:
        """Called for every fill of this strategy's orders."""

    def on_order(self, ctx: StrategyContext, order: Order) -> None:
        """Called when one of this strategy's orders changes status (``order`` is a snapshot of that moment)."""

    def on_stop(self, ctx: StrategyContext) -> None:
        """Called once after the last bar (or when paper trading is stopped)."""

    def __repr__(self) -> str:
        values = ", ".join(f"{k}={v!r}" for k, v in self.params().items() if k != "history")
        return f"{type(self).__name__}({values})"


def _overrides(strategy: Strategy, hook: str) -> bool:
    return getattr(type(strategy), hook) is not getattr(Strategy, hook)


class StrategyContext:
    """What a strategy sees and does: orders, positions, cash, time and recent bars.

    The same object serves backtests and paper trading. Orders go through the account's pre-trade checks; a
    well-formed order that breaks a rule comes back REJECTED with ``order.violations`` (it is not raised), and
    malformed input raises :class:`~oms_kit.errors.InvalidOrderError`.
    """

    __slots__ = ("_runner",)

    def __init__(self, runner: StrategyRunner) -> None:
        self._runner = runner

    # -- orders -----------------------------------------------------------------------------------------------

    def order(self, symbol: str | OrderRequest, side: str | Side | None = None, quantity: int | None = None,
              order_type: str | OrderType = "MARKET",
              price: float | Decimal | None = None, *, trigger_price: float | Decimal | None = None,
              product: str | Product = "MIS", validity: str | Validity = "DAY", tag: str | None = None,
              client_order_id: str | None = None) -> Order:
        """Place an order of any type (MARKET, LIMIT, SL, SL-M), given as its fields or one :class:`OrderRequest`;
        returns it, NEW or REJECTED.

        It reaches the broker when the current hook returns; see the module docstring for when it can fill.
        """
        return self._runner.place(OrderRequest.of(symbol, side, quantity, order_type, price, trigger_price, product,
                                                  validity, client_order_id, tag))

    def buy(self, symbol: str, quantity: int, order_type: str | OrderType = "MARKET",
            price: float | Decimal | None = None, *, trigger_price: float | Decimal | None = None,
            product: str | Product = "MIS", validity: str | Validity = "DAY", tag: str | None = None,
            client_order_id: str | None = None) -> Order:
        """Place a BUY order (market by default); see :meth:`order`."""
        return self._runner.place(OrderRequest(symbol, "BUY", quantity, order_type, price, trigger_price, product,
                                               validity, client_order_id, tag))

    def sell(self, symbol: str, quantity: int, order_type: str | OrderType = "MARKET",
             price: float | Decimal | None = None, *, trigger_price: float | Decimal | None = None,
             product: str | Product = "MIS", validity: str | Validity = "DAY", tag: str | None = None,
             client_order_id: str | None = None) -> Order:
        """Place a SELL order (market by default); see :meth:`order`."""
        return self._runner.place(OrderRequest(symbol, "SELL", quantity, order_type, price, trigger_price, product,
                                               validity, client_order_id, tag))

    def cancel(self, order: Order | str, reason: str = "cancelled by strategy") -> Order:
        """Cancel a working order of this strategy (an Order or its id). An order placed in the same hook, not yet
        sent, ends REJECTED with ``reason``."""
        return self._runner.cancel(order if isinstance(order, str) else order.order_id, reason)

    def cancel_all(self, symbol: str | None = None) -> list[Order]:
        """Cancel every working order of this strategy (in ``symbol`` when given)."""
        return [self._runner.cancel(o.order_id, "cancel all by strategy") for o in self.open_orders(symbol)]

    def modify(self, order: Order | str, quantity: int | None = None, price: float | Decimal | None = None,
               trigger_price: float | Decimal | None = None) -> Order:
        """Change a working order's quantity, price or trigger; raises OrderModifyRejected when a rule forbids it."""
        return self._runner.modify(order if isinstance(order, str) else order.order_id, quantity, price,
                                   trigger_price)

    # -- reads ------------------------------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        """The current time: the bar's timestamp in a backtest (and in a replay on a simulated clock)."""
        return self._runner.manager.now()

    def position(self, symbol: str) -> int:
        """Net quantity held in ``symbol`` (negative when short; 0 when none)."""
        return self._runner.manager.ledger.net_quantity(symbol)

    def positions(self) -> dict[str, int]:
        """Every open position as ``{symbol: net quantity}``."""
        held: dict[str, int] = {}
        for p in self._runner.manager.ledger.open_positions():
            held[p.symbol] = held.get(p.symbol, 0) + p.quantity
        return {s: q for s, q in held.items() if q}

    @property
    def cash(self) -> Decimal:
        """The account's cash (exact)."""
        return self._runner.manager.ledger.cash

    @property
    def equity(self) -> Decimal:
        """Cash plus positions at their latest prices (exact)."""
        self._runner.sync_marks()
        return self._runner.manager.ledger.equity()

    @property
    def trading_state(self) -> TradingState:
        """ACTIVE, REDUCING or HALTED (kill switch)."""
        return self._runner.manager.trading_state

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """This strategy's working orders (in ``symbol`` when given), oldest first."""
        own = self._runner.own
        return [o for o in self._runner.manager.live.values()
                if o.order_id in own and (symbol is None or o.symbol == symbol)]

    def get_order(self, order_id: str) -> Order:
        """An order of the account by id (raises OmsError when unknown)."""
        return self._runner.manager.get(order_id)

    def round_price(self, symbol: str, price: float | Decimal) -> Decimal:
        """``price`` on the nearest tick of ``symbol``'s instrument: limit and trigger prices off the tick are
        rejected (PRICE_NOT_ON_TICK), and float arithmetic rarely lands on one (``800 * 1.001``)."""
        instrument = self._runner.manager.instruments.get(symbol)
        if instrument is None:
            raise InvalidOrderError("symbol", symbol, "a symbol with an instrument definition")
        return instrument.round_price(price)

    def last_price(self, symbol: str) -> float | None:
        """The latest close seen for ``symbol`` (market data, float), or None before its first bar."""
        bar = self._runner.last_bar.get(symbol)
        return bar.close if bar is not None else None

    def bars(self, symbol: str, count: int | None = None) -> list[Bar]:
        """The last ``count`` bars of ``symbol`` (all kept, at most ``Strategy.history``), oldest first."""
        kept = self._runner.history.get(symbol)
        if not kept:
            return []
        bars = list(kept)
        return bars if count is None else bars[-count:] if count > 0 else []

    def closes(self, symbol: str, count: int | None = None) -> list[float]:
        """Closes of the last ``count`` bars of ``symbol``, oldest first (see :meth:`bars`)."""
        return [b.close for b in self.bars(symbol, count)]

    def __repr__(self) -> str:
        return f"<StrategyContext {self._runner.strategy!r} now={self.now.isoformat()}>"


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
        self._history_factory = (lambda: deque(maxlen=keep)) if keep else None
        self._fills_seen = len(manager.trades)
        self._wants_fill = _overrides(strategy, "on_fill")
        self._order_events: list[Event] | None = [] if _overrides(strategy, "on_order") else None
        self._unsubscribe: Callable[[], None] | None = None
        # Rejections by the pre-trade checks, counted as placed: violation code -> orders, and the first one's story.
        self.tally = RejectionTally(manager.counts["rejected"])
        if self._order_events is not None:
            self._unsubscribe = manager.bus.subscribe(self._order_events.append, "order")
        # Time of the bar being handled: orders placed now may fill only on later bars (before any bar: the first).
        self.current_ts = _BEFORE_ANY_BAR
        self.day_end = _BEFORE_ANY_BAR  # the manager's day_end as last read: the first bar reads it; see new_day
        self.bars_seen = 0
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
        count = 0
        day_end = self.day_end
        try:
            for bar in bars:
                symbol, ts = bar.symbol, bar.timestamp
                if ts >= day_end:
                    self.new_day(ts)
                    day_end = self.day_end
                self.current_ts = ts
                if set_clock is not None:
                    set_clock(ts)
                count += 1
                if held:
                    self._release(symbol, ts)
                last_bar[symbol] = bar
                if defer and not live:
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


def hooks_of(strategy: Strategy) -> Iterable[str]:
    """The hooks a strategy overrides (for messages and status)."""
    return [h for h in _HOOKS if _overrides(strategy, h)]
