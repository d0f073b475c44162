"""GTT (good till triggered): standing triggers on the last price that place a regular order when hit, as Kite has.

A ``single`` GTT has one trigger value and one order: it fires when the last price reaches the trigger from the side
it stood on when the GTT was made (a trigger above the price then fires at or above it, one below at or below it).
A ``two-leg`` GTT (one cancels the other, OCO) has a stop below the price and a target above it, each with its own
order: the leg whose trigger is reached first fires and the other is cancelled with it. A GTT that has not fired
expires a year after it was made.

A bar fires a trigger that its high or low reaches (a tick is a bar of one price); a bar that reaches both legs of a
two-leg GTT fires the stop first, unless the broker's intrabar rule is ``target_first``.

This module keeps the book and decides what fires; the order manager fires them on each price of their symbol, so
GTTs work the same in a backtest, in paper trading and in the OMS (``OMS.place_gtt`` and the methods beside it,
``ctx.gtt``); the fired legs' orders pass every pre-trade check, as a user's orders.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import pandas as pd

from oms_kit.errors import InvalidOrderError, OmsError
from oms_kit.models import OrderStatus
from oms_kit.parsing import parse_price
from oms_kit.request import OrderRequest
from oms_kit.tradable import Instrument

SINGLE = "single"
TWO_LEG = "two-leg"
KINDS = (SINGLE, TWO_LEG)
ACTIVE, TRIGGERED, CANCELLED, EXPIRED, REJECTED = "active", "triggered", "cancelled", "expired", "rejected"
MAX_ACTIVE = 1000  # active GTTs per account: a bound on the work each price does (Kite allows far fewer)


class GttNotFound(OmsError):
    """No GTT with this id in the account."""


@dataclass(eq=False)
class Gtt:
    """One GTT. ``triggers`` and ``orders`` go leg by leg: a two-leg GTT's first leg is the stop (below the price
    at creation), its second the target (above it). ``order_ids`` are the orders placed when it fired; ``fired_leg``
    is the index of the leg that fired; ``reason`` says why it was rejected, cancelled or expired."""

    gtt_id: str
    symbol: str
    kind: str
    triggers: tuple[Decimal, ...]
    orders: tuple[OrderRequest, ...]
    last_price: Decimal  # the price at creation (or the last modify): it sets the direction of a single trigger
    created_at: datetime
    expires_at: datetime
    status: str = ACTIVE
    updated_at: datetime | None = None
    fired_leg: int | None = None
    order_ids: list[str] = field(default_factory=list)
    reason: str | None = None

    def hit(self, high: Decimal, low: Decimal, stop_first: bool = True) -> int | None:
        """The index of the leg that a price range (a bar's high and low; a tick's one price twice) fires, or None.
        When the range reaches both legs of a two-leg GTT, the stop (leg 0) fires unless ``stop_first`` is False:
        the broker's intrabar rule, the same as for a bracket's legs."""
        if self.kind == SINGLE:
            trigger = self.triggers[0]
            crossed = high >= trigger if trigger > self.last_price else low <= trigger
            return 0 if crossed else None
        stop, target = low <= self.triggers[0], high >= self.triggers[1]
        if stop and target:
            return 0 if stop_first else 1
        if stop:
            return 0
        if target:
            return 1
        return None

    def to_dict(self) -> dict[str, Any]:
        """Plain values for a table or JSON: prices as exact strings, the orders as their fields."""
        return {
            "gtt_id": self.gtt_id, "symbol": self.symbol, "kind": self.kind, "status": self.status,
            "triggers": [str(t) for t in self.triggers], "last_price": str(self.last_price),
            "orders": [o.to_dict() for o in self.orders], "created_at": self.created_at,
            "updated_at": self.updated_at, "expires_at": self.expires_at, "fired_leg": self.fired_leg,
            "order_ids": list(self.order_ids), "reason": self.reason,
        }


def one_year_after(ts: datetime) -> datetime:
    """The same moment a year later (29 February to 28 February)."""
    try:
        return ts.replace(year=ts.year + 1)
    except ValueError:
        return ts.replace(year=ts.year + 1, day=28)


def parse_gtt(symbol: object, kind: object, triggers: object, orders: object, last_price: Decimal | None,
              instrument: Instrument | None) -> tuple[str, str, tuple[Decimal, ...], tuple[OrderRequest, ...]]:
    """Check a GTT's fields; returns them parsed. Raises InvalidOrderError naming the field, value and what is
    allowed: an unknown symbol, a kind other than ``single``/``two-leg``, triggers that are not prices on the
    instrument's tick (one for ``single``; for ``two-leg`` a stop below and a target above ``last_price``), a
    trigger equal to the price (it would fire at once), orders that are not one OrderRequest of this symbol per
    leg, or no last price to set the direction by."""
    if instrument is None:
        raise InvalidOrderError("symbol", symbol, "the symbol of an instrument of this OMS")
    assert isinstance(symbol, str)
    if kind not in KINDS:
        raise InvalidOrderError("kind", kind, "'single' or 'two-leg'")
    legs = 1 if kind == SINGLE else 2
    if isinstance(triggers, int | float | Decimal | str) and not isinstance(triggers, bool) and legs == 1:
        triggers = (triggers,)
    if not isinstance(triggers, list | tuple) or len(triggers) != legs:
        raise InvalidOrderError("triggers", triggers, f"{legs} trigger value(s) for a {kind} GTT")
    parsed = tuple(parse_price(t, "triggers") for t in triggers)
    for t in parsed:
        if instrument.round_price(t) != t:
            raise InvalidOrderError("triggers", t, f"a multiple of the tick {instrument.tick_size}")
    if last_price is None:
        raise InvalidOrderError("last_price", None, "a last price to set the trigger's direction by: a quote of "
                                f"{symbol} or last_price=", hint="push a price first (set_price) or pass last_price")
    if legs == 1 and parsed[0] == last_price:
        raise InvalidOrderError("triggers", parsed[0], f"a value above or below the last price {last_price}")
    if legs == 2 and not parsed[0] < last_price < parsed[1]:
        raise InvalidOrderError("triggers", list(parsed), f"a stop below and a target above the last price "
                                f"{last_price}, in that order")
    if isinstance(orders, OrderRequest):
        orders = (orders,)
    if not isinstance(orders, list | tuple) or len(orders) != legs:
        raise InvalidOrderError("orders", orders, f"{legs} OrderRequest(s) for a {kind} GTT, one per leg")
    for order in orders:
        if type(order) is not OrderRequest:
            raise InvalidOrderError("orders", order, "an OrderRequest (ok.OrderRequest(...))")
        if order.symbol != symbol:
            raise InvalidOrderError("orders", order.symbol, f"orders in the GTT's own symbol {symbol!r}")
    return symbol, str(kind), parsed, tuple(orders)


def parse_gtt_for(manager: Any, symbol: object, kind: object, triggers: object, orders: object,
                  last_price: object = None) -> tuple[str, str, tuple[Decimal, ...], tuple[OrderRequest, ...], Decimal]:
    """:func:`parse_gtt` against an account's order manager: its instrument of ``symbol`` and, when ``last_price``
    is None, its last price of it. Returns the parsed fields and the last price."""
    instrument = manager.instruments.get(symbol) if isinstance(symbol, str) else None
    price = (manager.prices.get(symbol) if instrument is not None else None) if last_price is None \
        else parse_price(last_price, "last_price")
    return (*parse_gtt(symbol, kind, triggers, orders, price, instrument), price)  # type: ignore[return-value]


class GttBook:
    """An account's GTTs, and the active ones by symbol for the price path."""

    def __init__(self, changed: Callable[[Gtt], None] | None = None) -> None:
        # Told of each GTT made or changed, for the store (the OMS's recorder); None: kept in memory only.
        self.changed = changed or _nothing
        self.gtts: dict[str, Gtt] = {}
        # Active GTTs by symbol: empty when none is active, so the price path tests one dict for truth.
        self.watching: dict[str, list[Gtt]] = {}
        # Told of each order a fired GTT placed (a strategy's runner adopts those of its own GTTs).
        self.placed_listeners: list[Callable[[Gtt, Any], None]] = []
        self._next = 0

    def add(self, symbol: str, kind: str, triggers: tuple[Decimal, ...], orders: tuple[OrderRequest, ...],
            last_price: Decimal, now: datetime, gtt_id: str | None = None) -> Gtt:
        """Register a GTT whose fields :func:`parse_gtt` accepted."""
        if sum(len(v) for v in self.watching.values()) >= MAX_ACTIVE:
            raise OmsError(f"at most {MAX_ACTIVE} active GTTs per account", hint="delete some first")
        if gtt_id is None:
            self._next += 1
            gtt_id = f"G-{self._next}"
            while gtt_id in self.gtts:
                self._next += 1
                gtt_id = f"G-{self._next}"
        gtt = Gtt(gtt_id, symbol, kind, triggers, orders, last_price, now, one_year_after(now), updated_at=now)
        self.restore(gtt)
        self.changed(gtt)
        return gtt

    def restore(self, gtt: Gtt) -> None:
        """Take in a GTT as it is (read back from the store on a reopen), active ones onto the price path."""
        self.gtts[gtt.gtt_id] = gtt
        if gtt.status == ACTIVE:
            self.watching.setdefault(gtt.symbol, []).append(gtt)
        self.reserve(gtt.gtt_id)

    def replace(self, gtts: list[Gtt]) -> None:
        """Hold exactly ``gtts`` (a watcher's view of the store: no price ever reaches them)."""
        self.gtts.clear()
        self.watching.clear()
        for gtt in gtts:
            self.restore(gtt)

    def reserve(self, gtt_id: str) -> None:
        """Have new ids go on after ``gtt_id`` (a stored GTT that ended: its row keeps its id)."""
        number = gtt_id[2:]
        if gtt_id.startswith("G-") and number.isdigit():  # new ids go on after the restored ones
            self._next = max(self._next, int(number))

    def get(self, gtt_id: object) -> Gtt:
        """The GTT with this id; raises GttNotFound."""
        gtt = self.gtts.get(gtt_id) if isinstance(gtt_id, str) else None
        if gtt is None:
            raise GttNotFound(f"no GTT {gtt_id!r} in this account", hint="oms.gtts() lists them")
        return gtt

    def active(self, gtt_id: object) -> Gtt:
        """The GTT with this id if it is still active; raises OmsError otherwise."""
        gtt = self.get(gtt_id)
        if gtt.status != ACTIVE:
            raise OmsError(f"GTT {gtt.gtt_id} is {gtt.status}: only an active GTT can change",
                           hint="place a new one")
        return gtt

    def end(self, gtt: Gtt, status: str, now: datetime, reason: str | None = None) -> None:
        """Take ``gtt`` off the price path with its final ``status``."""
        gtt.status, gtt.updated_at, gtt.reason = status, now, reason
        waiting = self.watching.get(gtt.symbol)
        if waiting is not None:
            if gtt in waiting:
                waiting.remove(gtt)
            if not waiting:
                del self.watching[gtt.symbol]
        self.changed(gtt)

    def due(self, symbol: str, high: Decimal, low: Decimal, now: datetime,
            stop_first: bool = True) -> list[tuple[Gtt, int]]:
        """The active GTTs of ``symbol`` that the range from ``low`` to ``high`` fires, with the leg each fires;
        those a year old expire first. The fired ones are taken off the price path here, so each fires once."""
        fired: list[tuple[Gtt, int]] = []
        for gtt in list(self.watching.get(symbol, ())):
            if now >= gtt.expires_at:
                self.end(gtt, EXPIRED, now, "expired a year after it was placed")
                continue
            leg = gtt.hit(high, low, stop_first)
            if leg is not None:
                gtt.fired_leg = leg
                self.end(gtt, TRIGGERED, now)
                fired.append((gtt, leg))
        return fired

    def expire(self, now: datetime) -> None:
        """Expire every active GTT a year old at ``now`` (a listing shows them as they are)."""
        for waiting in list(self.watching.values()):
            for gtt in list(waiting):
                if now >= gtt.expires_at:
                    self.end(gtt, EXPIRED, now, "expired a year after it was placed")

    def frame(self) -> pd.DataFrame:
        """Every GTT, oldest first, as a table."""
        columns = ["gtt_id", "symbol", "kind", "status", "triggers", "last_price", "orders", "created_at",
                   "updated_at", "expires_at", "fired_leg", "order_ids", "reason"]
        return pd.DataFrame([g.to_dict() for g in self.gtts.values()], columns=columns)


def fire(book: GttBook, manager: Any, symbol: str, bar: Any, now: datetime) -> list[tuple[Gtt, int]]:
    """Place the orders of the GTTs of ``symbol`` that ``bar`` (a bar or a tick) fires, as a user's orders: through
    every pre-trade check (``manager.prepare``), then to the broker (``manager.submit``; ``manager.sent`` tells the
    risk monitor). A bar fires a trigger its high or low reaches; when it reaches both legs of a two-leg GTT, the
    broker's intrabar rule picks the stop unless it is ``target_first``. A GTT whose order is rejected ends
    ``rejected`` with the order's reason. Returns the GTTs that fired, each with the leg that fired."""
    instrument = manager.instruments[symbol]
    high, low = instrument.round_price(bar.high), instrument.round_price(bar.low)
    stop_first = getattr(manager.broker, "intrabar", "stop_first") != "target_first"
    fired = book.due(symbol, high, low, now, stop_first)
    for gtt, leg in fired:
        try:
            order, send = manager.prepare(gtt.orders[leg])
        except OmsError as exc:  # the order cannot even be registered: the GTT says why
            gtt.status, gtt.reason = REJECTED, exc.message
            book.changed(gtt)
            continue
        gtt.order_ids.append(order.order_id)
        for listener in book.placed_listeners:
            listener(gtt, order)
        if send:
            manager.submit(order)
            manager.sent(order)
        if order.violations or order.status is OrderStatus.REJECTED:
            gtt.status = REJECTED
            gtt.reason = order.reason or "; ".join(str(v) for v in order.violations)
        elif gtt.kind == TWO_LEG:
            gtt.reason = f"leg {leg} fired on {symbol} between {low} and {high}; the other leg is cancelled"
        book.changed(gtt)
    return fired


def _nothing(gtt: Gtt) -> None:
    pass
