"""MockBroker: a simulated exchange and broker in the OMS's own process.

Matching works on bars (open, high, low, close, volume); a live price is a bar whose four prices are equal, so one
rule serves backtests and live paper trading. A :class:`~oms_kit.market.quote.Quote` (a bar with a book: bid and
ask with sizes, up to five levels each side) is matched on its book instead; the rules for quotes follow these:

* MARKET fills at the reference price — the current price when placed live (``immediate_market_fills``), else the
  next bar's open (no look-ahead) — moved against the trader by ``slippage_bps``.
* LIMIT rests; a BUY fills when a bar's low reaches its price, at the better of the open and the limit (a gap
  through the limit fills at the open). SELL mirrors it.
* SL and SL-M wait (TRIGGER_PENDING) until a bar reaches the trigger; then SL acts as a limit at its price and SL-M
  as a market order whose reference is the trigger, or the open when the bar gapped through it.
* ``spread_bps`` / ``spread_ticks`` (one of them): bars and last prices carry no quotes, so the broker puts the full
  bid-ask spread around the traded price ``p``: ask = ``p`` on its tick plus half the spread rounded *up* to the tick,
  bid = minus half rounded *down* (never below one tick). A BUY executes at the ask, a SELL at the bid: a MARKET or
  triggered SL-M at the ask/bid of its reference price; a LIMIT BUY only when the ask reaches it (ask of the bar's low
  <= limit) and at the better of the ask of the open (of the trigger, for a triggered SL) and the limit; a LIMIT SELL
  when the bid of the high >= limit. Triggers stay on the traded price, as the exchange's are on the last traded
  price. The spread is not slippage: slippage then moves a market fill further from the ask/bid (the touch, then
  impact), and a limit never slips. A round trip costs one full spread, plus up to a tick each side where half the
  spread falls between ticks (an odd ``spread_ticks``). Off (0) the fills are exactly those without a spread.
* ``market_protection_pct``: as a broker's market protection (Kite's ``market_protection``, a percentage), a MARKET
  order becomes a LIMIT at the last price the broker had when the order arrived (an SL-M: its trigger) plus this
  percentage for a BUY, rounded down to the tick (minus it, rounded up, for a SELL). A fill that would be beyond it
  does not happen: the order rests as that limit from the next price on (an IOC's remainder expires). The order's
  record keeps its MARKET type; its fill prices show the cap. Off by default.
* ``participation``: with bar volume known, one bar fills at most that fraction of it; the rest waits (partial fill).
* ``intrabar``: which resting orders of a symbol a bar matches first when several could fill, since a bar does not
  say whether its high or its low came first. ``"stop_first"`` (the default, the cautious assumption): stop orders
  (SL and SL-M not yet triggered) before limit orders (LIMIT, and SL once triggered); ``"target_first"``: limits
  before stops. Otherwise, and among stops or among limits, time priority. This decides a bar that reaches both a
  position's stop below and its target above: the leg matched first fills, and a report that cancels the other
  (one-cancels-other) takes it off the book before the bar reaches it. Quotes follow the same order.
* IOC gets one chance to match and its remainder expires; DAY orders expire at :meth:`end_session`, or at
  :meth:`end_day` once they have had a price to trade on (a backtest's day boundary).
* ``latency`` (seconds on the OMS clock): an order can first match on a price at or after placement + latency.
* ``reject_rate`` and ``drop_ack_rate``: seeded random faults for tests, off by default.

On a quote the book replaces the range (:mod:`oms_kit.broker.depth` has the walk and its reasons): MARKET, and SL-M
once triggered, walk the opposite side level by level, one fill per level at its price, until filled or the book is
used up (the remainder waits for the next quote; an IOC's expires; market protection stops the walk at its price
and rests the remainder there); a LIMIT, or a triggered SL, fills when the opposite side crosses it, walking the
levels at or better than its price; stops trigger on the last traded price; what one order takes is gone for the
next on the same quote; ``participation`` is a share of each level. No slippage and no spread model on quotes.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any, Final, cast

from oms_kit.broker.base import BrokerSink
from oms_kit.broker.depth import QuoteBook, walk
from oms_kit.broker.fees import FeeModel, fee_keywords, fee_model
from oms_kit.broker.rates import to_trade_date
from oms_kit.broker.resting import RestingOrder, resting_order
from oms_kit.broker.settings import (
    intrabar_setting,
    participation_setting,
    protection_setting,
    setting,
    spread_settings,
)
from oms_kit.market.quote import Quote
from oms_kit.models import Order, OrderType, Side, Validity, Variety
from oms_kit.tradable import Instrument

if TYPE_CHECKING:
    from oms_kit.market.bars import Bar

_BPS: Final = Decimal("0.0001")
_ZERO: Final = Decimal(0)
_HALF: Final = Decimal("0.5")
_PERCENT: Final = Decimal("0.01")
# Members as globals: ``Side.BUY`` goes through the enum's metaclass, ten times slower, on every fill.
_BUY: Final = Side.BUY
_DAY: Final = Validity.DAY
_IOC: Final = Validity.IOC
_TRIGGERED_TYPES: Final = frozenset({OrderType.SL, OrderType.SL_M})
_AMO: Final = Variety.AMO
_MARKET_TYPES: Final = frozenset({OrderType.MARKET, OrderType.SL_M})
_MARKET: Final = OrderType.MARKET
_SL: Final = OrderType.SL
_SL_M: Final = OrderType.SL_M
_LIMIT: Final = OrderType.LIMIT
# When an after-market order held for the session's open may first match: never, until open_session sets its time.
# A time rather than a flag, so the matching loop's one comparison with the bar's time skips held orders for free.
_HELD: Final = datetime.max.replace(tzinfo=UTC)


def _to_tick(value: Decimal, tick: Decimal, rounding: str) -> Decimal:
    return (value / tick).to_integral_value(rounding) * tick


class MockBroker:
    """A simulated broker with realistic fills; see the module docstring for the rules.

    Parameters
    ----------
    slippage_bps : market and stop-market fills move this many basis points against the trader.
    spread_bps, spread_ticks : the full bid-ask spread around the traded price, in basis points of the price or in
        ticks (a whole number); one of them. A BUY fills at the ask, a SELL at the bid (module docstring). 0: none.
    market_protection_pct : convert MARKET and SL-M orders to a limit this percentage beyond the last price (the
        trigger for SL-M); None or 0: off. Set for the broker; Kite's per-order ``market_protection`` field is
        checked and ignored by the service.
    fees : "india_equity", "nse", None, or a fee model; charges are computed per fill, as on a contract note. A
        model whose ``fees`` takes ``trade_date`` or ``instrument`` (``NseFees``) gets the fill's trade date in India
        and its instrument; one that does not is called with the older arguments only (see
        :func:`~oms_kit.broker.fees.fee_keywords`).
    latency : seconds (OMS clock) between placement and the first price the order can match.
    participation : fraction of a bar's volume one bar may fill, or of each level of a quote's book (None: no cap).
    intrabar : "stop_first" (default) or "target_first": which of a symbol's resting stop and limit orders a bar
        matches first when both could fill (module docstring).
    immediate_market_fills : fill marketable orders at the current price when placed (live); a backtest sets
        False so they wait for the next bar's open.
    reject_rate, drop_ack_rate : probability of a simulated rejection / lost acknowledgement, drawn from ``seed``.

    A setting out of range raises :class:`~oms_kit.errors.ConfigError` naming it.
    """

    name = "mock"

    def __init__(
        self,
        *,
        slippage_bps: object = 0.0,
        spread_bps: object = 0.0,
        spread_ticks: object = 0,
        market_protection_pct: object = None,
        fees: str | FeeModel | None = "india_equity",
        latency: object = 0.0,
        participation: object = None,
        intrabar: object = "stop_first",
        immediate_market_fills: bool = True,
        reject_rate: object = 0.0,
        drop_ack_rate: object = 0.0,
        seed: int | None = 0,
    ) -> None:
        # The settings are typed `object`: each is checked here and a wrong one raises a ConfigError naming it; a
        # narrower annotation would make the compiled module raise a bare TypeError before the check.
        slippage = setting("slippage_bps", slippage_bps, math.inf, "a finite number of basis points >= 0")
        self.slippage = Decimal(str(slippage)) * _BPS
        self._half_share, self._half_ticks = spread_settings(spread_bps, spread_ticks)
        self._spread = bool(self._half_share or self._half_ticks)  # one test on the matching path when off
        self.protection = protection_setting(market_protection_pct)
        self.fee_model = fee_model(fees)
        # Asked once here, not per fill: a model of the older shape (and NoFees, a backtest's) keeps its one call.
        self._fee_keywords = fee_keywords(self.fee_model)
        self.latency = timedelta(seconds=setting("latency", latency, math.inf, "a finite number of seconds >= 0"))
        self.participation = participation_setting(participation)
        self.intrabar = intrabar_setting(intrabar)
        self._stop_first = intrabar == "stop_first"
        self.immediate_market_fills = immediate_market_fills
        self.reject_rate = setting("reject_rate", reject_rate, 1.0, "a probability from 0 to 1")
        self.drop_ack_rate = setting("drop_ack_rate", drop_ack_rate, 1.0, "a probability from 0 to 1")
        self._random = random.Random(seed)
        self._sink: BrokerSink | None = None
        self._books: dict[str, dict[str, RestingOrder]] = {}  # per symbol, in time priority
        self._entries: dict[str, RestingOrder] = {}
        self._unacknowledged: dict[str, RestingOrder] = {}
        self._last: dict[str, float] = {}
        # Per symbol: (float price, instrument, that price on the instrument's tick). A live quote is matched by
        # every order placed until the next one, so it is rounded once, not once per order.
        self._rounded: dict[str, tuple[float, Instrument, Decimal]] = {}
        self._depth: dict[str, QuoteBook] = {}  # per symbol whose latest price was a quote: what is left of its book
        self.fills = 0

    def attach(self, sink: BrokerSink) -> None:
        self._sink = sink

    @property
    def sink(self) -> BrokerSink:
        if self._sink is None:
            raise RuntimeError("MockBroker is not attached to an order manager")
        return self._sink

    def submit(self, order: Order, instrument: Instrument, ts: datetime) -> None:
        if self.reject_rate and self._random.random() < self.reject_rate:
            self.sink.on_rejected(order.order_id, "rejected by broker (simulated fault)", ts)
            return
        entry = resting_order(order, instrument, ts + self.latency if self.latency else ts)
        if self.protection is not None and entry.order_type is _MARKET:
            entry.protect_from = self._last.get(order.symbol)
        if self.drop_ack_rate and self._random.random() < self.drop_ack_rate:
            # The broker has the order but its acknowledgement was lost: the OMS must reconcile.
            self._unacknowledged[order.order_id] = entry
            return
        (self._sink or self.sink).on_accepted(order.order_id, ts)  # the property only to word the error
        self._book(entry)
        if order.variety is _AMO:
            entry.eligible_at = _HELD  # Kite's "AMO REQ RECEIVED": accepted, not at the exchange before the open
        elif self.immediate_market_fills and not self.latency and order.symbol in self._last:
            entry.offered = True
            self._match_latest(entry, ts)
            if entry.validity is _IOC:
                self._expire_ioc(entry, ts)
        # Otherwise an IOC's one chance is the first price it may match on (next bar, or after the latency):
        # on_bar expires its remainder then.

    def restore(self, order: Order, instrument: Instrument, ts: datetime, held: bool = False) -> None:
        """Put back a working order after a restart, without reporting it again; ``held``: an after-market order
        still waiting for the session to open."""
        self._book(resting_order(order, instrument, _HELD if held else ts))

    def unacknowledged(self) -> list[str]:
        """Order ids the broker holds whose acknowledgement was lost."""
        return list(self._unacknowledged)

    def acknowledge(self, order_id: str, ts: datetime) -> bool:
        """Answer a status query for an order whose acknowledgement was lost; True when the broker had it."""
        entry = self._unacknowledged.pop(order_id, None)
        if entry is None:
            return False
        self.sink.on_accepted(order_id, ts)
        self._book(entry)
        return True

    def modify(self, order: Order, changes: dict[str, Any], ts: datetime) -> None:
        entry = self._find(order.order_id)
        if entry is None:
            return
        if "quantity" in changes:
            entry.remaining = changes["quantity"] - order.filled_quantity
        entry.price = changes.get("price", entry.price)
        entry.trigger_price = changes.get("trigger_price", entry.trigger_price)
        self.sink.on_modified(order.order_id, changes, ts)
        if self.immediate_market_fills and ts >= entry.eligible_at and entry.symbol in self._last:
            entry.offered = True
            self._match_latest(entry, ts)

    def cancel(self, order: Order, reason: str, ts: datetime) -> None:
        self._remove(order.order_id)
        self._unacknowledged.pop(order.order_id, None)
        self.sink.on_cancelled(order.order_id, reason, ts)

    def on_bar(self, bar: Bar) -> None:
        symbol, ts = bar.symbol, bar.timestamp
        self._last[symbol] = bar.close
        depth = None
        if isinstance(bar, Quote):
            depth = self._depth[symbol] = QuoteBook(bar, self.participation)
        elif self._depth:
            self._depth.pop(symbol, None)  # a bar after quotes: its range, not the old book, is the market now
        book = self._books.get(symbol)
        if not book:
            return
        entries = list(book.values())
        if len(entries) > 1:
            entries = self._intrabar_order(entries)
        for entry in entries:
            if entry.order_id not in book or ts < entry.eligible_at:
                continue
            entry.offered = True
            if depth is not None:
                self._match_quote(entry, ts, depth)
            else:
                # Matching takes the prices as numbers: an order filled on submit matches on a last price, no bar.
                self._match(entry, ts, bar.open, bar.high, bar.low, bar.close, bar.volume)
            if entry.validity is _IOC:
                self._expire_ioc(entry, ts)

    def open_session(self, ts: datetime) -> None:
        """The session opened at ``ts``: after-market orders held for it may match from now on."""
        for book in self._books.values():
            for entry in book.values():
                if entry.eligible_at is _HELD:
                    entry.eligible_at = ts

    def end_session(self, ts: datetime) -> None:
        for book in self._books.values():
            for entry in list(book.values()):
                if entry.eligible_at is _HELD or entry.order_id not in book:
                    continue  # an after-market order is for the next session; a removed one was cancelled meanwhile
                # An IOC still booked has not had its chance yet (no price since it was placed): it ends too.
                self._remove(entry.order_id)
                self.sink.on_expired(entry.order_id, f"{entry.validity} order expired at the end of the session", ts)

    def end_day(self, ts: datetime) -> None:
        """A trading day ended: DAY orders that have had at least one price to trade on expire.

        An order placed on a day's last bar has had none yet (it can first match on the next bar), so it lives
        on into the next day's first bars; on daily bars that is the one session it was placed for.
        """
        for book in self._books.values():
            for entry in list(book.values()):
                # An order removed meanwhile was cancelled by the report of another's expiry (an order program).
                if entry.offered and entry.validity is _DAY and entry.order_id in book:
                    self._remove(entry.order_id)
                    self.sink.on_expired(entry.order_id, "DAY order expired at the end of its trading day", ts)

    def last_price(self, symbol: str) -> float | None:
        return self._last.get(symbol)

    def status(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "resting_orders": len(self._entries),
            "fills": self.fills,
            "slippage_bps": float(self.slippage / _BPS),
            "spread_bps": float(self._half_share * 2 / _BPS),
            "spread_ticks": int(self._half_ticks * 2),
            "market_protection_pct": float(self.protection / _PERCENT) if self.protection is not None else None,
            "latency_s": self.latency.total_seconds(),
            "intrabar": self.intrabar,
            "fees": type(self.fee_model).__name__,
        }

    # -- matching ---------------------------------------------------------------------------------------------

    def _match(
        self, e: RestingOrder, ts: datetime, open: float, high: float, low: float, close: float, volume: float | None
    ) -> None:
        buy = e.side is _BUY
        if e.order_type in _TRIGGERED_TYPES and not e.triggered:
            trigger = float(e.trigger_price)  # type: ignore[arg-type]
            if not (high >= trigger if buy else low <= trigger):
                return
            e.triggered = True
            self.sink.on_triggered(e.order_id, ts)
            if e.order_id not in self._books.get(e.symbol, {}):
                return  # the trigger report led to a cancel
            # A bar that opened beyond the trigger executes from the open.
            reference = max(open, trigger) if buy else min(open, trigger)
        else:
            reference = open
        if e.order_type in _MARKET_TYPES:
            price = self._on_tick(e, reference)
            if self._spread:
                price = self._touch(e, price, buy)
            if self.slippage:
                price = e.instrument.round_price(price * (1 + self.slippage if buy else 1 - self.slippage))
            if self.protection is not None and not self._within_protection(e, price, reference, buy):
                return
        elif self._spread:
            # The ask must reach a BUY limit (the bid a SELL limit): the bar's best price on the order's side.
            limit = cast(Decimal, e.price)  # a limit order has its price
            if (buy and self._touch(e, self._on_tick(e, low), True) > limit) or (
                    not buy and self._touch(e, self._on_tick(e, high), False) < limit):
                return
            start = self._touch(e, self._on_tick(e, reference), buy)
            price = min(start, limit) if buy else max(start, limit)
        else:
            limit = cast(Decimal, e.price)  # a limit order has its price
            if (buy and Decimal(str(low)) > limit) or (not buy and Decimal(str(high)) < limit):
                return
            start = self._on_tick(e, reference)
            price = min(start, limit) if buy else max(start, limit)
        quantity = e.remaining
        if self.participation is not None and volume is not None and not math.isnan(volume) and volume > 0:
            quantity = min(quantity, int(volume * self.participation))
            if quantity <= 0:
                return
        self._fill(e, quantity, price, ts)

    def _fill(self, e: RestingOrder, quantity: int, price: Decimal, ts: datetime) -> None:
        # Priced before the book changes: a model that refuses the fill (a trade date its rate table does not
        # cover) leaves the order as it was.
        if self._fee_keywords:
            fees = self._dated_fees(e, quantity, price, ts)
        else:
            fees = self.fee_model.fees(e.side, e.product, quantity, price, prior_turnover=e.turnover)
        e.remaining -= quantity
        if e.remaining == 0:
            self._remove(e.order_id)
        self.fills += 1
        e.turnover += price * quantity
        (self._sink or self.sink).on_fill(e.order_id, quantity, price, fees, ts)

    def _dated_fees(self, e: RestingOrder, quantity: int, price: Decimal, ts: datetime) -> Decimal:
        # The context the model named: the trade date is India's (NSE's rates change at midnight IST), the
        # instrument the order was placed on.
        keywords: dict[str, Any] = {}
        if "trade_date" in self._fee_keywords:
            keywords["trade_date"] = to_trade_date(ts)
        if "instrument" in self._fee_keywords:
            keywords["instrument"] = e.instrument
        return self.fee_model.fees(e.side, e.product, quantity, price, prior_turnover=e.turnover, **keywords)

    def _touch(self, e: RestingOrder, price: Decimal, buy: bool) -> Decimal:
        # The ask (BUY) or bid (SELL) around a traded price on the tick: half the spread away, rounded against the
        # trader to the tick; a bid never below one tick (no price of 0 or less).
        tick = e.instrument.tick_size
        half = price * self._half_share if self._half_share else self._half_ticks * tick
        if buy:
            return _to_tick(price + half, tick, ROUND_CEILING)
        return max(_to_tick(price - half, tick, ROUND_FLOOR), tick)

    def _within_protection(self, e: RestingOrder, price: Decimal, reference: float, buy: bool) -> bool:
        # Market protection: the order is a limit at its base price plus/minus the percentage. A fill beyond it
        # does not happen; the order rests as that limit, to match from the next price on like any other.
        cap = self._protection_cap(e, reference, buy)
        if price <= cap if buy else price >= cap:
            return True
        e.order_type, e.price = _LIMIT, cap
        return False

    def _protection_cap(self, e: RestingOrder, reference: float, buy: bool) -> Decimal:
        if e.order_type is _SL_M:
            base = e.trigger_price
        else:
            base = self._on_tick(e, e.protect_from if e.protect_from is not None else reference)
        tick, protection = e.instrument.tick_size, self.protection or _ZERO
        if buy:
            cap = _to_tick(base * (1 + protection), tick, ROUND_FLOOR)  # type: ignore[operator]
        else:
            cap = max(_to_tick(base * (1 - protection), tick, ROUND_CEILING), tick)  # type: ignore[operator]
        return cap

    # -- quotes and priority ----------------------------------------------------------------------------------

    def _match_latest(self, e: RestingOrder, ts: datetime) -> None:
        # An order placed or changed between prices: what is left of the latest quote's book, or the last price.
        depth = self._depth.get(e.symbol) if self._depth else None
        if depth is not None:
            self._match_quote(e, ts, depth)
        else:
            price = self._last[e.symbol]
            self._match(e, ts, price, price, price, price, None)

    def _match_quote(self, e: RestingOrder, ts: datetime, depth: QuoteBook) -> None:
        buy = e.side is _BUY
        if e.order_type in _TRIGGERED_TYPES and not e.triggered:
            trigger = float(e.trigger_price)  # type: ignore[arg-type]
            if not (depth.last >= trigger if buy else depth.last <= trigger):
                return  # stops trigger on the last traded price, as the exchange's do
            e.triggered = True
            self.sink.on_triggered(e.order_id, ts)
            if e.order_id not in self._books.get(e.symbol, {}):
                return
        protected = False
        if e.order_type in _MARKET_TYPES:
            limit = None
            if self.protection is not None:
                if e.protect_from is None:
                    e.protect_from = depth.last  # one cap for every quote the order waits through
                limit, protected = self._protection_cap(e, depth.last, buy), True
        else:
            limit = e.price
        book = self._books[e.symbol]

        def fill(quantity: int, price: Decimal) -> int:
            self._fill(e, quantity, price, ts)
            return e.remaining if e.order_id in book else 0

        beyond = walk(depth.side(buy), buy, limit, e.remaining, e.instrument.round_price, fill)
        if beyond and protected and e.order_id in book:
            e.order_type, e.price = _LIMIT, limit  # rests as its protection limit, as on bars

    def _intrabar_order(self, entries: list[RestingOrder]) -> list[RestingOrder]:
        # Stops (not yet triggered) and limits take the places the two kinds hold in time priority, the kind the
        # intrabar rule names first; other orders keep their places. One pass when only one kind rests.
        stops = [e for e in entries if e.order_type in _TRIGGERED_TYPES and not e.triggered]
        if not stops:
            return entries
        limits = [e for e in entries if e.order_type is _LIMIT or (e.order_type is _SL and e.triggered)]
        if not limits:
            return entries
        ranked = iter(stops + limits if self._stop_first else limits + stops)
        return [next(ranked) if (e.order_type in _TRIGGERED_TYPES and not e.triggered) or e.order_type is _LIMIT
                or (e.order_type is _SL and e.triggered) else e for e in entries]

    def _on_tick(self, e: RestingOrder, price: float) -> Decimal:
        cached = self._rounded.get(e.symbol)
        if cached is not None and cached[0] == price and cached[1] is e.instrument:
            return cached[2]
        rounded = e.instrument.round_price(price)
        self._rounded[e.symbol] = (price, e.instrument, rounded)
        return rounded

    def _expire_ioc(self, entry: RestingOrder, ts: datetime) -> None:
        if self._remove(entry.order_id):
            self.sink.on_expired(entry.order_id, "IOC remainder cancelled", ts)

    def _book(self, entry: RestingOrder) -> None:
        self._books.setdefault(entry.symbol, {})[entry.order_id] = entry
        self._entries[entry.order_id] = entry

    def _find(self, order_id: str) -> RestingOrder | None:
        return self._entries.get(order_id)

    def _remove(self, order_id: str) -> bool:
        entry = self._entries.pop(order_id, None)
        if entry is None:
            return False
        del self._books[entry.symbol][order_id]
        return True
