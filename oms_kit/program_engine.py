"""ProgramEngine: what order programs (:mod:`oms_kit.programs`) do when the broker reports and prices arrive.

The :class:`~oms_kit.orders.OrderManager` owns one and calls it from its broker reports (a fill, an order that
ended) and its price path, each behind a truth test of a map that is empty while no program is active. Starting a
program is two steps, so that every caller places the first order its own way (the OMS commits it before the
broker sees it, a strategy's runner holds it for its symbol's next bar): :meth:`ProgramEngine.open` checks the
parameters and returns the program with its first order's request; the caller places that order and hands it to
:meth:`ProgramEngine.started`. Later orders (legs, the iceberg's next slice) are placed here, through every
pre-trade check, and sent to the broker at once: their rows are committed with the report that caused them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from oms_kit.errors import InvalidOrderError, OmsError
from oms_kit.models import Order, OrderStatus, OrderType, Side, Validity
from oms_kit.programs import (
    ACTIVE,
    BRACKET,
    CANCELLED,
    COMPLETE,
    COVER,
    ICEBERG,
    REJECTED,
    TRAILING,
    Program,
    ProgramBook,
    exit_prices,
    leg_sizes,
    parse_legs,
    parse_points,
    parse_trail,
    trailed,
)
from oms_kit.request import OrderRequest
from oms_kit.tradable import Instrument

_MODIFIABLE = frozenset({OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.TRIGGER_PENDING})
_ENTRY_TYPES = frozenset({OrderType.MARKET, OrderType.LIMIT})


class ProgramEngine:
    """Runs an account's order programs over its order manager (``manager``: ``prepare``, ``submit``, ``modify``,
    ``cancel``, ``orders``, ``instruments``, ``prices``, ``now``, ``sent``, ``broker``)."""

    def __init__(self, manager: Any, changed: Callable[[Program], None] | None = None) -> None:
        self.manager = manager
        self.book = ProgramBook(changed)

    # -- starting ---------------------------------------------------------------------------------------------

    def open(self, kind: str, request: OrderRequest, *, target: object = None, stoploss: object = None,
             trail: object = None, trail_percent: object = None, legs: object = None) -> tuple[Program, OrderRequest]:
        """Check a program's parameters and register it; returns it with the request of its first order, which
        the caller places and passes to :meth:`started`. Raises InvalidOrderError naming the field, the value and
        what is allowed (nothing is registered then)."""
        if type(request) is not OrderRequest:
            raise InvalidOrderError("request", request, "an OrderRequest")
        instrument = self._instrument(request.symbol)
        now = self.manager.now()
        params: dict[str, Any] = {}
        if kind in (BRACKET, COVER):
            if request.order_type not in _ENTRY_TYPES:
                raise InvalidOrderError("order_type", str(request.order_type), "MARKET or LIMIT for the entry")
            params["target"] = parse_points(target, "target", kind == BRACKET) if kind == BRACKET else None
            if kind == COVER and target is not None:
                raise InvalidOrderError("target", target, "None: a cover order has a stop-loss only")
            params["stoploss"] = parse_points(stoploss, "stoploss", True)
            params["trail"], params["trail_percent"] = parse_trail(trail, trail_percent, False)
            reference = request.price if request.price is not None else self.manager.prices.get(request.symbol)
            if reference is not None:  # a stop at or below 0 is refused now when the entry's price is known
                exit_prices(request.side, reference, None, params["stoploss"], instrument)
            first = request
        elif kind == TRAILING:
            params["trail"], params["trail_percent"] = parse_trail(trail, trail_percent, True)
            last = self.manager.prices.get(request.symbol)
            if last is None:
                raise InvalidOrderError("last_price", None, f"a last price of {request.symbol} to trail from",
                                        hint="push a price first (set_price)")
            trigger = trailed(request.side, last, params["trail"], params["trail_percent"], instrument.tick_size)
            # A stop shows its whole quantity: a disclosed quantity is for limit orders.
            first = request.replace(order_type=OrderType.SL_M, price=None, trigger_price=trigger, disclosed_quantity=0)
            params["best"] = last
        elif kind == ICEBERG:
            count = parse_legs(legs, request.quantity, instrument)
            if request.validity is Validity.IOC:
                raise InvalidOrderError("validity", "IOC", "DAY: an iceberg's legs wait for each other")
            params["legs"] = count
            first = _leg(request, leg_sizes(request.quantity, count, instrument.lot_size)[0], 1)
        else:
            raise InvalidOrderError("kind", kind, "'bracket', 'cover', 'trailing' or 'iceberg'")
        program = self.book.new(kind, request.symbol, request, now, **params)
        return program, first

    def started(self, program: Program, order: Order) -> Program:
        """``order``, the first order of ``program`` (:meth:`open`), was placed: the program follows it, or ends
        ``rejected`` with its reason."""
        now = self.manager.now()
        role = {BRACKET: "entry", COVER: "entry", TRAILING: "stop", ICEBERG: "leg"}[program.kind]
        self.book.attach(program, order, role, now)
        if program.kind == ICEBERG:
            program.legs_sent = 1
        if order.status is OrderStatus.REJECTED:
            self.book.end(program, REJECTED, now, _why(order))
            return program
        self.book.changed(program)
        # A live order may have filled (or ended) while it was placed, before the program could follow it: its
        # fills so far count as one at their average price.
        if order.filled_quantity:
            self.filled(order, order.filled_quantity, order.average_price, now)  # type: ignore[arg-type]
        if order.is_terminal and order.status is not OrderStatus.FILLED:
            self.ended(order, now)
        return program

    def cancel(self, program_id: object, reason: str = "cancelled by user") -> Program:
        """End an active program: its working orders are cancelled (an entry's fills stay, with no exits)."""
        program = self.book.get(program_id)
        if program.status != ACTIVE:
            raise OmsError(f"order program {program.program_id} is {program.status}: only an active one can be "
                           "cancelled")
        self.book.end(program, CANCELLED, self.manager.now(), reason)
        self._cancel_working(program, reason)
        return program

    # -- the broker's reports ---------------------------------------------------------------------------------

    def filled(self, order: Order, quantity: int, price: Decimal, ts: datetime) -> None:
        """A fill of ``order``, which a program watches."""
        program = self.book.watched.get(order.order_id)
        if program is None:
            return
        if order.status is not OrderStatus.PARTIALLY_FILLED:
            del self.book.watched[order.order_id]
        if program.kind == ICEBERG:
            self._iceberg_filled(program, order, ts)
        elif program.kind == TRAILING:
            self.book.end(program, COMPLETE, ts, f"stop filled at {order.average_price}")
        elif order.order_id == program.entry_id:
            if program.basis is None:
                program.basis = price
                program.best = price
            program.entered = order.filled_quantity
            program.entry_done = order.status is OrderStatus.FILLED
            self._fit_exits(program, ts)
        else:
            program.exited += quantity
            self._fit_exits(program, ts)
        if program.status == ACTIVE:
            program.updated_at = ts
            self.book.changed(program)

    def ended(self, order: Order, ts: datetime) -> None:
        """``order``, which a program watches, ended without filling completely (cancelled, expired, rejected)."""
        program = self.book.watched.pop(order.order_id, None)
        if program is None or program.status != ACTIVE:
            return
        why = f"{order.order_id} {order.status}: {_why(order)}"
        if order.order_id == program.entry_id:
            program.entry_done = True
            if order.filled_quantity == 0:
                self.book.end(program, CANCELLED if order.status is not OrderStatus.REJECTED else REJECTED, ts, why)
            else:
                program.updated_at = ts
                self._fit_exits(program, ts)  # the legs stand for what filled; with nothing open, it is complete
                self.book.changed(program)
            return
        status = REJECTED if order.status is OrderStatus.REJECTED else CANCELLED
        self.book.end(program, status, ts, why)
        self._cancel_working(program, f"{program.program_id} ended: {why}")

    def priced(self, symbol: str, high: float, low: float, ts: datetime) -> None:
        """A price (a bar's range) of ``symbol``, after the broker matched on it: trailing stops follow it."""
        for program in list(self.book.trailing.get(symbol, ())):
            if program.status != ACTIVE or program.stop_id is None:
                continue
            stop = self.manager.orders[program.stop_id]
            if stop.status not in _MODIFIABLE or stop.trigger_price is None:
                continue
            instrument = self._instrument(symbol)
            best = program.best
            if stop.side is Side.SELL:
                seen = instrument.round_price(high)
                best = seen if best is None or seen > best else best
            else:
                seen = instrument.round_price(low)
                best = seen if best is None or seen < best else best
            if best == program.best:
                continue
            program.best = best
            trigger = trailed(stop.side, best, program.trail, program.trail_percent, instrument.tick_size)
            better = trigger > stop.trigger_price if stop.side is Side.SELL else trigger < stop.trigger_price
            if better:
                try:
                    self.manager.modify(stop.order_id, trigger_price=trigger)
                except OmsError as exc:  # a modify refused (the kill switch): the stop stays where it was
                    program.reason = f"trail to {trigger} refused: {exc.message}"
            program.updated_at = ts
            self.book.changed(program)

    # -- internals --------------------------------------------------------------------------------------------

    def _fit_exits(self, program: Program, ts: datetime) -> None:
        # A bracket's (cover's) exit legs made to stand for the quantity open: entry filled less legs filled.
        open_quantity = program.entered - program.exited
        if open_quantity <= 0:
            self._cancel_working(program, f"{program.program_id}: the other leg filled")
            if program.entry_done:
                self.book.end(program, COMPLETE, ts, "exited")
            else:
                program.target_id = program.stop_id = None  # the entry's next fill places new legs
            return
        side = program.request.side
        exit_side = Side.SELL if side is Side.BUY else Side.BUY
        instrument = self._instrument(program.symbol)
        # Legs are fitted once the entry has filled, which set the basis.
        target_price, stop_price = exit_prices(side, cast(Decimal, program.basis), program.target, program.stoploss,
                                               instrument)
        if program.trails and program.best is not None:
            trail_stop = trailed(exit_side, program.best, program.trail, program.trail_percent, instrument.tick_size)
            pick = max if exit_side is Side.SELL else min  # the stop closer to the price: it never moves back
            stop_price = pick(stop_price, trail_stop)  # type: ignore[type-var]
        request = program.request
        base = OrderRequest(program.symbol, exit_side, open_quantity, "LIMIT", target_price,
                            product=request.product, tag=request.tag) if target_price is not None else None
        for role, leg_id in (("target", program.target_id), ("stop", program.stop_id)):
            if role == "target" and target_price is None:
                continue
            if leg_id is None:
                if role == "target":
                    leg = base
                else:
                    leg = OrderRequest(program.symbol, exit_side, open_quantity, "SL-M", trigger_price=stop_price,
                                       product=request.product, tag=request.tag)
                if not self._place(program, leg, role, ts):  # type: ignore[arg-type]
                    return
                continue
            order = self.manager.orders[leg_id]
            wanted = order.filled_quantity + open_quantity
            if order.status in _MODIFIABLE and order.quantity != wanted:
                try:
                    self.manager.modify(leg_id, quantity=wanted)
                except OmsError as exc:
                    program.reason = f"{role} leg not resized to {wanted}: {exc.message}"

    def _iceberg_filled(self, program: Program, order: Order, ts: datetime) -> None:
        if order.status is not OrderStatus.FILLED:
            return
        instrument = self._instrument(program.symbol)
        sizes = leg_sizes(program.request.quantity, program.legs, instrument.lot_size)
        if program.legs_sent >= program.legs:
            self.book.end(program, COMPLETE, ts, f"all {program.legs} legs filled")
            return
        program.legs_sent += 1
        leg = _leg(program.request, sizes[program.legs_sent - 1], program.legs_sent)
        self._place(program, leg, "leg", ts)

    def _place(self, program: Program, request: OrderRequest, role: str, ts: datetime) -> bool:
        # A program's order, through every check, to the broker at once. False (and the program ended) when it
        # was refused.
        manager = self.manager
        # A program's order follows one the user placed; it is no new placement. The rate and duplicate throttles
        # guard against a runaway caller, and would refuse an iceberg's legs, which are alike by design.
        throttled = manager.squaring_off
        manager.squaring_off = True
        try:
            order, send = manager.prepare(request)
        except OmsError as exc:
            self.book.end(program, REJECTED, ts, f"{role} not placed: {exc.message}")
            self._cancel_working(program, f"{program.program_id} ended")
            return False
        finally:
            manager.squaring_off = throttled
        self.book.attach(program, order, role, ts)
        if order.status is OrderStatus.REJECTED:
            self.book.end(program, REJECTED, ts, f"{role} {order.order_id} rejected: {_why(order)}")
            self._cancel_working(program, f"{program.program_id} ended: its {role} was rejected")
            return False
        if send:
            manager.submit(order)
            manager.sent(order)
        return True

    def _cancel_working(self, program: Program, reason: str) -> None:
        for order_id in program.order_ids:
            order = self.manager.orders.get(order_id)
            if order is not None and order.status in _MODIFIABLE | {OrderStatus.NEW}:
                self.book.watched.pop(order_id, None)
                with contextlib.suppress(OmsError):  # already on its way out
                    self.manager.cancel(order_id, reason[:1000])

    def _instrument(self, symbol: str) -> Instrument:
        instrument = self.manager.instruments.get(symbol)
        if instrument is None:
            raise InvalidOrderError("symbol", symbol, "the symbol of an instrument of this account")
        return instrument  # type: ignore[no-any-return]


def _leg(request: OrderRequest, quantity: int, number: int) -> OrderRequest:
    # An iceberg's leg: its own quantity, and its own client order id (the given one, ``-1``, ``-2``…), since one
    # id names one order.
    # An iceberg is itself the way to show part of a quantity: a disclosed quantity larger than a leg is capped.
    client_id = request.client_order_id
    return request.replace(quantity=quantity, disclosed_quantity=min(request.disclosed_quantity, quantity),
                           client_order_id=None if client_id is None else f"{client_id}-{number}")


def _why(order: Order) -> str:
    if order.reason:
        return order.reason
    if order.violations:
        return "; ".join(str(v) for v in order.violations)
    return str(order.status)
