"""Strategies: one class that runs unchanged in a backtest and in live paper trading.

A strategy subclasses :class:`Strategy` and overrides the hooks it needs (``on_start``, ``on_bar``, ``on_fill``,
``on_order``, ``on_stop``). Every hook gets a :class:`StrategyContext` — buy, sell, any order type, cancel, modify,
position, cash, equity, open orders, now, recent bars, indicator values to chart (``plot``) — that behaves the
same in :func:`oms_kit.backtest` and :func:`oms_kit.paper_trade`, because both drive the same
:class:`~oms_kit.runner.StrategyRunner` over the same order manager, validator, mock broker and ledger. Only the
clock and the source of bars differ.

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
example (:meth:`~oms_kit.runner.StrategyRunner.warn_rejections`), and the run's stats carry the counts
(:meth:`~oms_kit.runner.StrategyRunner.rejections`).
"""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from oms_kit.errors import ConfigError, InvalidOrderError
from oms_kit.gtt import Gtt
from oms_kit.market.bars import Bar
from oms_kit.models import Fill, Order, OrderType, Product, Side, TradingState, Validity
from oms_kit.programs import BRACKET, COVER, ICEBERG, TRAILING, Program
from oms_kit.request import OrderRequest, order_request

if TYPE_CHECKING:  # the runner builds the context it drives
    from oms_kit.runner import StrategyRunner

__all__ = ["Strategy", "StrategyContext"]



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


_INF = math.inf


class PlotSeries:
    """The values ``ctx.plot`` recorded for one (symbol, name): bar times and values, and the last bar plotted
    on (a second value on the same bar replaces the first)."""

    __slots__ = ("bar", "times", "values")

    def __init__(self) -> None:
        self.times: list[datetime] = []
        self.values: list[float] = []
        self.bar: Bar | None = None


def _check_plot_name(field: str, text: object) -> None:
    if not isinstance(text, str) or not text or len(text) > 64:
        raise ConfigError(field, text, "a non-empty string of at most 64 characters")


def _new_plot(plots: dict[tuple[str, str], PlotSeries], bar_symbol: str, name: object,
              symbol: object) -> PlotSeries:
    """The series of a (symbol, name) plotted for the first time, its name and symbol checked."""
    _check_plot_name("name", name)
    if symbol is not None:
        _check_plot_name("symbol", symbol)
    series = plots[(bar_symbol if symbol is None else symbol, name)] = PlotSeries()  # type: ignore[index]
    return series


def _plot_number(value: object, name: object) -> float:
    """A plotted value that is not a float, as one: None as NaN (a gap); text and what is not a number as
    infinity, which the caller refuses."""
    if value is None:
        return math.nan
    if isinstance(value, str | bytes):
        return _INF  # text is refused, not parsed: "1e3" from a strategy is a bug, not an indicator
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return _INF


def overrides(strategy: Strategy, hook: str) -> bool:
    """Whether ``strategy``'s class overrides the hook named ``hook`` (the runner skips work for hooks left alone)."""
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
        if type(symbol) is OrderRequest:
            return self._runner.place(OrderRequest.of(symbol, side, quantity, order_type, price, trigger_price,
                                                      product, validity, client_order_id, tag))
        return self._runner.place(order_request(symbol, side, quantity, order_type, price,  # type: ignore[arg-type]
                                                trigger_price, product, validity, client_order_id, tag))

    def buy(self, symbol: str, quantity: int, order_type: str | OrderType = "MARKET",
            price: float | Decimal | None = None, *, trigger_price: float | Decimal | None = None,
            product: str | Product = "MIS", validity: str | Validity = "DAY", tag: str | None = None,
            client_order_id: str | None = None) -> Order:
        """Place a BUY order (market by default); see :meth:`order`."""
        return self._runner.place(order_request(symbol, "BUY", quantity, order_type, price, trigger_price, product,
                                                validity, client_order_id, tag))

    def sell(self, symbol: str, quantity: int, order_type: str | OrderType = "MARKET",
             price: float | Decimal | None = None, *, trigger_price: float | Decimal | None = None,
             product: str | Product = "MIS", validity: str | Validity = "DAY", tag: str | None = None,
             client_order_id: str | None = None) -> Order:
        """Place a SELL order (market by default); see :meth:`order`."""
        return self._runner.place(order_request(symbol, "SELL", quantity, order_type, price, trigger_price, product,
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

    # -- standing orders: order programs and GTTs (oms_kit.programs, oms_kit.gtt) -----------------------------

    def bracket(self, symbol: str, side: str | Side, quantity: int, order_type: str | OrderType = "LIMIT",
                price: float | Decimal | None = None, *, target: float | Decimal, stoploss: float | Decimal,
                trail: float | Decimal | None = None, trail_percent: float | Decimal | None = None,
                product: str | Product = "MIS", tag: str | None = None) -> Program:
        """A bracket order: an entry whose fills place a target LIMIT ``target`` points beyond and a stop-loss
        SL-M ``stoploss`` points behind its first fill price, one cancelling the other, the stop trailing the best
        price when ``trail`` (points) or ``trail_percent`` is given. Returns the Program (``entry_id``,
        ``target_id``, ``stop_id``, ``status``); the legs' fills and order changes reach ``on_fill``/``on_order``.
        The same as ``OMS.place_bracket``."""
        return self._runner.start_program(
            BRACKET, order_request(symbol, side, quantity, order_type, price, None, product, "DAY", None, tag),
            target=target, stoploss=stoploss, trail=trail, trail_percent=trail_percent)

    def cover(self, symbol: str, side: str | Side, quantity: int, order_type: str | OrderType = "MARKET",
              price: float | Decimal | None = None, *, stoploss: float | Decimal, trail: float | Decimal | None = None,
              trail_percent: float | Decimal | None = None, product: str | Product = "MIS",
              tag: str | None = None) -> Program:
        """A cover order: an entry with a compulsory stop-loss ``stoploss`` points from its first fill price (a
        bracket without a target)."""
        return self._runner.start_program(
            COVER, order_request(symbol, side, quantity, order_type, price, None, product, "DAY", None, tag),
            stoploss=stoploss, trail=trail, trail_percent=trail_percent)

    def trail(self, symbol: str, side: str | Side, quantity: int, *, points: float | Decimal | None = None,
              percent: float | Decimal | None = None, product: str | Product = "MIS",
              tag: str | None = None) -> Program:
        """A trailing stop-loss: an SL-M of ``side`` (SELL protects a long) ``points`` (or ``percent`` per cent)
        from the last price, its trigger following the best price since, never back."""
        request = order_request(symbol, side, quantity, "SL-M", None, 1, product, "DAY", None, tag)
        return self._runner.start_program(TRAILING, request, trail=points, trail_percent=percent)

    def iceberg(self, symbol: str, side: str | Side, quantity: int, order_type: str | OrderType = "LIMIT",
                price: float | Decimal | None = None, *, legs: int, product: str | Product = "MIS",
                tag: str | None = None) -> Program:
        """An iceberg order: ``quantity`` in ``legs`` (2 to 50) equal orders, each within the freeze quantity, the
        next placed when the one before has filled."""
        return self._runner.start_program(
            ICEBERG, order_request(symbol, side, quantity, order_type, price, None, product, "DAY", None, tag),
            legs=legs)

    def gtt(self, symbol: str, triggers: Any, orders: OrderRequest | list[OrderRequest], *, kind: str = "single",
            last_price: float | Decimal | None = None) -> Gtt:
        """A GTT: ``kind="single"`` with one trigger and one OrderRequest, or ``"two-leg"`` with ``[stop, target]``
        and one order each; when a price of ``symbol`` reaches a trigger the leg's order is placed as this
        strategy's (see ``OMS.place_gtt``)."""
        return self._runner.place_gtt(symbol, kind, triggers, orders, last_price)

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
        """The last ``count`` bars of ``symbol`` (all kept, at most ``Strategy.history``), oldest first.

        Raises ConfigError for a ``count`` above ``Strategy.history``: fewer bars would come back than asked for on
        every bar, and a strategy waiting for that many would never trade."""
        if count is not None and count > self._runner.strategy.history:
            raise ConfigError("count", count, f"at most the {self._runner.strategy.history} bars this strategy keeps "
                              "(Strategy.history)", hint=f"keep more: history = {count} on the class, or "
                              f"{type(self._runner.strategy).__name__}(history={count})")
        kept = self._runner.history.get(symbol)
        if not kept:
            return []
        bars = list(kept)
        return bars if count is None else bars[-count:] if count > 0 else []

    def closes(self, symbol: str, count: int | None = None) -> list[float]:
        """Closes of the last ``count`` bars of ``symbol``, oldest first (see :meth:`bars`)."""
        return [b.close for b in self.bars(symbol, count)]

    # -- indicators -------------------------------------------------------------------------------------------

    def plot(self, name: str, value: float | None, *, symbol: str | None = None) -> None:
        """Record an indicator's value at the current bar, for ``result.indicators`` and ``result.chart()``
        (a line per name over the symbol's candles).

        The value is kept at the time of the bar being handled, for its symbol (``symbol=`` names another, for a
        strategy that reads one symbol's bar to track another). Plotting the same name twice on one bar keeps the
        last value. ``None`` or NaN leave a gap in the line. It costs an append or two: call it on every bar.

        Raises
        ------
        ConfigError
            ``name`` or ``symbol`` not a non-empty string of at most 64 characters, ``value`` not a real number
            (or one that is infinite), or a call before the first bar (from ``on_start``).
        """
        runner = self._runner
        bar = runner.current_bar
        if bar is None:
            raise ConfigError("ctx.plot", "a call before the first bar", "calls from on_bar, on_fill, on_order or "
                              "on_stop", hint="an indicator's value belongs to a bar's time")
        try:
            series = runner.plots.get((bar.symbol if symbol is None else symbol, name))
        except TypeError:  # an unhashable name or symbol: refused below
            series = None
        if series is None:
            series = _new_plot(runner.plots, bar.symbol, name, symbol)
        # A float is what strategies plot; it skips the checks of other types.
        number = value if type(value) is float else _plot_number(value, name)
        if not -_INF < number < _INF and number == number:  # NaN (a gap) passes
            raise ConfigError("value", value, "a finite real number, or None or NaN for a gap",
                              detail=f"plot {name!r}")
        if series.bar is bar:
            series.values[-1] = number  # one value per bar: the last plotted
        else:
            series.bar = bar
            series.times.append(bar.timestamp)
            series.values.append(number)

    def __repr__(self) -> str:
        return f"<StrategyContext {self._runner.strategy!r} now={self.now.isoformat()}>"
