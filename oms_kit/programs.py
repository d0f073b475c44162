"""Order programs: orders whose fills place, change and cancel other orders, as brokers offer them.

* **bracket**: an entry order; each fill of it places (or grows) two exit legs for the quantity filled and not yet
  exited: a target LIMIT ``target`` points beyond the price of the entry's first fill and a stop-loss SL-M
  ``stoploss`` points on the other side. One cancels the other: a leg's fill shrinks the other leg to what is still
  open, and once nothing is open the other leg is cancelled. ``trail`` (points) or ``trail_percent`` make the stop
  trail, as below.
* **cover**: a bracket without a target, an entry with a compulsory stop-loss.
* **trailing**: a stop-loss (SL-M) placed at once, ``trail`` points (or ``trail_percent`` per cent) behind the last
  price, whose trigger then follows the best price seen since (the high for a SELL stop, the low for a BUY stop),
  never back.
* **iceberg**: a quantity sent as ``legs`` (2 to 50) orders of equal size (the last takes what is left), each at
  most the instrument's freeze quantity; the next leg is placed when the one before has filled completely.

The rules, the same in a backtest, in paper trading and over the HTTP API (one implementation, driven by the
:class:`~oms_kit.orders.OrderManager`'s broker reports and prices):

* Every order a program places goes through every pre-trade check, as the user's own. A leg that is rejected ends
  the program ``rejected`` with the reason and cancels what else it has working.
* A program reacts when the broker's report arrives. A leg placed on a fill can first match on the next price (in a
  backtest, the next bar): the broker matches a bar's orders as they stood when the bar came.
* Which leg fills when one bar reaches both the target and the stop is the broker's intrabar rule (stop first
  unless ``intrabar="target_first"``, :class:`~oms_kit.broker.mock.MockBroker`), and then the other is cancelled.
* A trailing stop moves after a price has been matched: a bar whose high raises the stop is not also taken to have
  reached the raised stop (its high and low came in an unknown order). The new trigger is rounded to the tick
  towards the price it trails (down for a SELL stop), and only a move in the trader's favour is sent.
* A leg that the user or the kill switch cancels, or that expires, ends the program ``cancelled`` and cancels the
  other leg; the position is the user's to close (the kill switch's ``flatten=True`` does). An entry cancelled or
  expired before any fill ends it ``cancelled``; after a partial fill its legs stand for the quantity filled.
* Programs are stored (one row per program, its current state) and restored on reopen with their orders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

import pandas as pd

from oms_kit.errors import InvalidOrderError, OmsError
from oms_kit.models import Order, OrderStatus, Side
from oms_kit.parsing import parse_price
from oms_kit.request import OrderRequest
from oms_kit.tradable import Instrument

BRACKET, COVER, TRAILING, ICEBERG = "bracket", "cover", "trailing", "iceberg"
KINDS = (BRACKET, COVER, TRAILING, ICEBERG)
ACTIVE, COMPLETE, CANCELLED, REJECTED = "active", "complete", "cancelled", "rejected"
MIN_LEGS, MAX_LEGS = 2, 50  # an iceberg's legs, as NSE and Kite allow
MAX_ACTIVE = 1000  # active programs per account: a bound on the work each price and fill does
_WORKING = frozenset(s for s in OrderStatus if not s.is_terminal)
_HUNDRED = Decimal(100)


class ProgramNotFound(OmsError):
    """No order program with this id in the account."""


@dataclass(eq=False)
class Program:
    """One order program (see the module docstring). ``request`` is what was asked for: the entry (bracket, cover),
    the stop (trailing; its trigger is set from the last price when placed) or the whole iceberg (its legs copy it
    with their own quantities). ``entry_id``, ``target_id`` and
    ``stop_id`` name the orders of a bracket or cover (``stop_id`` a trailing stop's); ``order_ids`` every order the
    program placed, in order. ``basis`` is the price the legs were set from (the entry's first fill), ``best`` the
    best price a trailing stop has seen; ``entered`` the quantity the entry has filled and ``entry_done`` whether it
    has ended (kept here, since an ended entry of an earlier session is not in the manager's memory after a
    reopen); ``exited`` the quantity the legs have filled; ``legs_sent`` an iceberg's legs placed so far."""

    program_id: str
    kind: str
    symbol: str
    request: OrderRequest
    created_at: datetime
    target: Decimal | None = None
    stoploss: Decimal | None = None
    trail: Decimal | None = None
    trail_percent: Decimal | None = None
    legs: int = 0
    status: str = ACTIVE
    updated_at: datetime | None = None
    entry_id: str | None = None
    target_id: str | None = None
    stop_id: str | None = None
    order_ids: list[str] = field(default_factory=list)
    basis: Decimal | None = None
    best: Decimal | None = None
    entered: int = 0
    entry_done: bool = False
    exited: int = 0
    legs_sent: int = 0
    reason: str | None = None

    @property
    def trails(self) -> bool:
        return self.trail is not None or self.trail_percent is not None

    def spec(self) -> dict[str, Any]:
        """What was asked for, as plain values (the store's ``spec`` column)."""
        return {"request": self.request.to_dict(), "target": _text(self.target), "stoploss": _text(self.stoploss),
                "trail": _text(self.trail), "trail_percent": _text(self.trail_percent), "legs": self.legs}

    def state(self) -> dict[str, Any]:
        """Where it stands, as plain values (the store's ``state`` column)."""
        return {"entry_id": self.entry_id, "target_id": self.target_id, "stop_id": self.stop_id,
                "order_ids": list(self.order_ids), "basis": _text(self.basis), "best": _text(self.best),
                "entered": self.entered, "entry_done": self.entry_done, "exited": self.exited,
                "legs_sent": self.legs_sent}

    def to_dict(self) -> dict[str, Any]:
        """Plain values for a table or JSON."""
        request = self.request
        return {"program_id": self.program_id, "kind": self.kind, "symbol": self.symbol, "side": str(request.side),
                "quantity": request.quantity,
                "status": self.status, **{k: v for k, v in self.spec().items() if k != "request"},
                "order_type": str(request.order_type), "price": _text(request.price), "product": str(request.product),
                **self.state(), "created_at": self.created_at, "updated_at": self.updated_at, "reason": self.reason}


def program_from_stored(program_id: str, kind: str, symbol: str, status: str, spec: dict[str, Any],
                        state: dict[str, Any], created_at: datetime, updated_at: datetime | None,
                        reason: str | None) -> Program:
    """A Program from its stored columns (``spec`` and ``state`` as :meth:`Program.spec` and ``state`` give them)."""
    return Program(program_id, kind, symbol, OrderRequest(**spec["request"]), created_at, _decimal(spec["target"]),
                   _decimal(spec["stoploss"]), _decimal(spec["trail"]), _decimal(spec["trail_percent"]),
                   int(spec["legs"]), status, updated_at, state["entry_id"], state["target_id"], state["stop_id"],
                   list(state["order_ids"]), _decimal(state["basis"]), _decimal(state["best"]), int(state["entered"]),
                   bool(state["entry_done"]), int(state["exited"]), int(state["legs_sent"]), reason)


# -- what a program is asked for, checked ------------------------------------------------------------------------


def parse_points(value: object, name: str, required: bool) -> Decimal | None:
    """A distance in points: a price above 0, or None when not ``required``."""
    if value is None:
        if required:
            raise InvalidOrderError(name, None, "a distance in points above 0")
        return None
    return parse_price(value, name)


def parse_trail(trail: object, trail_percent: object, required: bool) -> tuple[Decimal | None, Decimal | None]:
    """``trail`` (points) or ``trail_percent`` (above 0, below 100), at most one of them."""
    if trail is not None and trail_percent is not None:
        raise InvalidOrderError("trail_percent", trail_percent, "None when trail is given: one of the two")
    points = parse_points(trail, "trail", required and trail_percent is None)
    percent = None
    if trail_percent is not None:
        percent = parse_price(trail_percent, "trail_percent")
        if percent >= _HUNDRED:
            raise InvalidOrderError("trail_percent", trail_percent, "a percentage above 0 and below 100")
    return points, percent


def parse_legs(legs: object, quantity: int, instrument: Instrument) -> int:
    """An iceberg's number of legs: a whole number from 2 to 50, at most the quantity, each leg within the freeze
    quantity and (for a contract) a whole number of lots."""
    if isinstance(legs, bool) or not isinstance(legs, int) or not MIN_LEGS <= legs <= MAX_LEGS:
        raise InvalidOrderError("legs", legs, f"a whole number from {MIN_LEGS} to {MAX_LEGS}")
    lot = instrument.lot_size
    if quantity % lot or quantity // lot < legs:
        raise InvalidOrderError("legs", legs, f"at most {quantity // lot} legs of whole lots of {lot} for "
                                f"quantity {quantity}")
    size = leg_sizes(quantity, legs, lot)[0]
    freeze = instrument.freeze_quantity
    if freeze is not None and size > freeze:
        raise InvalidOrderError("legs", legs, f"enough legs for each to be at most the freeze quantity {freeze} "
                                f"(legs of {size} now)", hint=f"at least {-(-quantity // freeze)} legs")
    return legs


def leg_sizes(quantity: int, legs: int, lot: int = 1) -> list[int]:
    """An iceberg's leg quantities: equal whole lots, the first legs one lot larger when they do not divide."""
    lots, extra = divmod(quantity // lot, legs)
    return [(lots + (1 if i < extra else 0)) * lot for i in range(legs)]


def exit_prices(side: Side, basis: Decimal, target: Decimal | None, stoploss: Decimal | None,
                instrument: Instrument) -> tuple[Decimal | None, Decimal | None]:
    """The target price and the stop trigger of the exits of an entry of ``side`` filled at ``basis``, on the tick.
    Raises InvalidOrderError when the stop would be at or below 0."""
    tick = instrument.tick_size
    sign = 1 if side is Side.BUY else -1
    target_price = _to_tick(basis + sign * target, tick, ROUND_CEILING if sign > 0 else ROUND_FLOOR) \
        if target is not None else None
    stop = _to_tick(basis - sign * stoploss, tick, ROUND_FLOOR if sign > 0 else ROUND_CEILING) \
        if stoploss is not None else None
    if stop is not None and stop <= 0:
        raise InvalidOrderError("stoploss", stoploss, f"less than the entry price {basis}")
    return target_price, stop


def trailed(side: Side, best: Decimal, trail: Decimal | None, percent: Decimal | None, tick: Decimal) -> Decimal:
    """The trigger of a stop of ``side`` (the exit's side) trailing ``best``: below it for a SELL, above for a BUY,
    rounded to the tick towards ``best``; at least one tick."""
    distance = trail if trail is not None else best * percent / _HUNDRED  # type: ignore[operator]
    if side is Side.SELL:
        return max(_to_tick(best - distance, tick, ROUND_CEILING), tick)
    return _to_tick(best + distance, tick, ROUND_FLOOR)


def _to_tick(value: Decimal, tick: Decimal, rounding: str) -> Decimal:
    return (value / tick).to_integral_value(rounding) * tick


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


# -- the book ----------------------------------------------------------------------------------------------------


class ProgramBook:
    """An account's order programs, and what the order path asks of them: the programs watching each order (for
    the broker's reports) and the trailing ones by symbol (for prices). Both maps are empty when no program is
    active, so the manager's hooks cost one truth test each."""

    def __init__(self, changed: Callable[[Program], None] | None = None) -> None:
        self.changed = changed or _nothing  # told of each program made or changed, for the store
        self.programs: dict[str, Program] = {}
        self.watched: dict[str, Program] = {}  # order id -> the active program it belongs to
        self.trailing: dict[str, list[Program]] = {}  # symbol -> active programs with a trailing stop
        self.root: dict[str, str] = {}  # order id -> the first order of its program (a strategy owns both)
        self.placed_listeners: list[Callable[[Program, Order], None]] = []
        self._next = 0

    def new(self, kind: str, symbol: str, request: OrderRequest, now: datetime, **params: Any) -> Program:
        """Register a program whose parameters were checked; its first order is placed by the caller
        (:meth:`attach`)."""
        if len({p.program_id for p in self.watched.values()}) >= MAX_ACTIVE:
            raise OmsError(f"at most {MAX_ACTIVE} active order programs per account", hint="cancel some first")
        self._next += 1
        program_id = f"P-{self._next}"
        while program_id in self.programs:
            self._next += 1
            program_id = f"P-{self._next}"
        program = Program(program_id, kind, symbol, request, now, updated_at=now, **params)
        self.programs[program_id] = program
        if program.trails:
            self.trailing.setdefault(symbol, []).append(program)
        return program

    def attach(self, program: Program, order: Order, role: str, now: datetime) -> None:
        """``order`` was placed for ``program`` as its ``role`` (``entry``, ``target``, ``stop``, ``leg``)."""
        if role == "entry":
            program.entry_id = order.order_id
        elif role == "target":
            program.target_id = order.order_id
        elif role == "stop":
            program.stop_id = order.order_id
        program.order_ids.append(order.order_id)
        self.root[order.order_id] = program.order_ids[0]
        if order.status is not OrderStatus.REJECTED:
            self.watched[order.order_id] = program
        program.updated_at = now
        for listener in self.placed_listeners:
            listener(program, order)

    def restore(self, program: Program, orders: dict[str, Order]) -> None:
        """Take in a program read back from the store, an active one watching its working orders again."""
        self.programs[program.program_id] = program
        number = program.program_id[2:]
        if program.program_id.startswith("P-") and number.isdigit():
            self._next = max(self._next, int(number))
        first = program.order_ids[0] if program.order_ids else None
        for order_id in program.order_ids:
            if first is not None:
                self.root[order_id] = first
            order = orders.get(order_id)
            if program.status == ACTIVE and order is not None and order.status in _WORKING:
                self.watched[order_id] = program
        if program.status == ACTIVE and program.trails:
            self.trailing.setdefault(program.symbol, []).append(program)

    def replace(self, programs: list[Program], orders: dict[str, Order]) -> None:
        """Hold exactly ``programs`` (a watcher's view of the store)."""
        for mapping in (self.programs, self.watched, self.trailing, self.root):
            mapping.clear()
        for program in programs:
            self.restore(program, orders)

    def get(self, program_id: object) -> Program:
        """The program with this id; raises ProgramNotFound."""
        program = self.programs.get(program_id) if isinstance(program_id, str) else None
        if program is None:
            raise ProgramNotFound(f"no order program {program_id!r} in this account",
                                  hint="oms.programs() lists them")
        return program

    def end(self, program: Program, status: str, now: datetime, reason: str | None = None) -> None:
        """Take ``program`` off the order path with its final ``status``."""
        if program.status != ACTIVE:
            return
        program.status, program.updated_at = status, now
        if reason is not None:
            program.reason = reason
        for order_id in program.order_ids:
            if self.watched.get(order_id) is program:
                del self.watched[order_id]
        trailing = self.trailing.get(program.symbol)
        if trailing is not None and program in trailing:
            trailing.remove(program)
            if not trailing:
                del self.trailing[program.symbol]
        self.changed(program)

    def frame(self) -> pd.DataFrame:
        """Every program, oldest first, as a table."""
        return programs_frame(self.programs.values())


PROGRAM_COLUMNS = ("program_id", "kind", "symbol", "side", "quantity", "status", "order_type", "price", "product",
                   "target", "stoploss", "trail", "trail_percent", "legs", "entry_id", "target_id", "stop_id",
                   "order_ids", "basis", "best", "entered", "entry_done", "exited", "legs_sent", "created_at",
                   "updated_at", "reason")


def programs_frame(programs: Iterable[Program]) -> pd.DataFrame:
    """The table of ``oms.programs()``: one row per program (:meth:`Program.to_dict`), in the order given."""
    return pd.DataFrame([p.to_dict() for p in programs], columns=list(PROGRAM_COLUMNS))


def _nothing(program: Program) -> None:
    pass
