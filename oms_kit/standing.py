"""The standing orders of the OMS facade: GTTs (:mod:`oms_kit.gtt`) and order programs (:mod:`oms_kit.programs`:
brackets, cover orders, trailing stops, icebergs).

A part of :class:`~oms_kit.oms.OMS` (it inherits these methods), kept in a module of its own: both live in the
order manager, which fires them on its prices and broker reports, so backtests (``ctx.gtt``, ``ctx.bracket``…) and
the OMS share one implementation; here are only the facade's ways in, each committed before it returns.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pandas as pd

from oms_kit.errors import InvalidOrderError
from oms_kit.gtt import Gtt, parse_gtt_for
from oms_kit.models import Order
from oms_kit.orders import MAX_REASON
from oms_kit.parsing import parse_text
from oms_kit.programs import BRACKET, COVER, ICEBERG, TRAILING, Program
from oms_kit.request import OrderRequest

if TYPE_CHECKING:
    from oms_kit.market.clock import Clock
    from oms_kit.orders import OrderManager

__all__ = ["StandingOrders"]


class StandingOrders:
    """GTTs and order programs on the OMS (see the module docstring)."""

    if TYPE_CHECKING:  # what the OMS provides
        manager: OrderManager
        clock: Clock

        def check_writable(self) -> None: ...

        async def commit(self) -> None: ...

        async def place_order(self, symbol: Any, *args: Any, **kwargs: Any) -> Any: ...

    # -- GTT (good till triggered) -------------------------------------------------------------------------------------

    async def place_gtt(self, symbol: str, triggers: Any, orders: Any, *, kind: str = "single",
                        last_price: float | Decimal | None = None) -> Gtt:
        """Place a GTT (good till triggered, :mod:`oms_kit.gtt`): ``kind="single"`` with one trigger value and one
        :class:`OrderRequest`, or ``kind="two-leg"`` (OCO) with ``[stop, target]`` (below and above the last price)
        and one order per leg. When the last price of ``symbol`` reaches a trigger the leg's order is placed as a
        regular order through every pre-trade check (a rejection is recorded on the GTT); a two-leg GTT fires one
        leg and cancels the other. A single trigger above the last price fires at or above it, one below at or
        below it. ``last_price`` sets that direction; by default the OMS's last price of ``symbol``. A GTT that has
        not fired expires a year after it was placed. GTTs are stored: a reopened OMS keeps watching the active ones.
        A fired order is placed on the price path (no await there): it reaches the broker before its rows are
        committed, with the commit that follows the price (``set_price``, ``push_bar``, the feed's), as a strategy
        runner's orders do.

        Raises InvalidOrderError for malformed fields (naming the field, value and what is allowed), OmsError when
        the OMS is closed or read-only.
        """
        self.check_writable()
        symbol, kind, values, requests, price = parse_gtt_for(self.manager, symbol, kind, triggers, orders, last_price)
        gtt = self.manager.gtts.add(symbol, kind, values, requests, price, self.clock.now())
        await self.commit()
        return gtt

    def gtts(self, status: str | None = None) -> pd.DataFrame:
        """The GTTs (of ``status`` when given: active, triggered, cancelled, expired, rejected), oldest first;
        those a year old are expired first. A reopened OMS holds the active ones of before and all made since; the
        ended ones of earlier sessions are in the store's ``gtts`` table."""
        self.manager.gtts.expire(self.clock.now())
        frame = self.manager.gtts.frame()
        return frame if status is None else frame[frame["status"] == status].reset_index(drop=True)

    def get_gtt(self, gtt_id: str) -> Gtt:
        """The GTT with this id; raises GttNotFound (an OmsError)."""
        return self.manager.gtts.get(gtt_id)

    async def modify_gtt(self, gtt_id: str, triggers: Any = None, orders: Any = None, *,
                         last_price: float | Decimal | None = None) -> Gtt:
        """Change an active GTT's trigger values or orders (those not given stay); checked as by
        :meth:`place_gtt` against the last price now, which sets a single trigger's direction anew. Its expiry
        stays. Raises GttNotFound, OmsError for a GTT no longer active, InvalidOrderError for malformed fields."""
        self.check_writable()
        gtt = self.manager.gtts.active(gtt_id)
        _, _, values, requests, price = parse_gtt_for(
            self.manager, gtt.symbol, gtt.kind, gtt.triggers if triggers is None else triggers,
            gtt.orders if orders is None else orders, last_price)
        gtt.triggers, gtt.orders, gtt.last_price, gtt.updated_at = values, requests, price, self.clock.now()
        self.manager.gtts.changed(gtt)
        await self.commit()
        return gtt

    async def delete_gtt(self, gtt_id: str) -> Gtt:
        """Cancel an active GTT: it no longer fires and is listed as cancelled. Raises GttNotFound, OmsError for a
        GTT no longer active."""
        self.check_writable()
        gtt = self.manager.gtts.active(gtt_id)
        self.manager.gtts.end(gtt, "cancelled", self.clock.now(), "deleted by user")
        await self.commit()
        return gtt

    # -- order programs -------------------------------------------------------------------------------------

    async def place_bracket(self, symbol: str, side: str, quantity: int, order_type: str = "LIMIT",
                            price: float | Decimal | None = None, *, target: float | Decimal,
                            stoploss: float | Decimal, trail: float | Decimal | None = None,
                            trail_percent: float | Decimal | None = None, product: str = "MIS",
                            validity: str = "DAY", client_order_id: str | None = None,
                            tag: str | None = None) -> Program:
        """Place a bracket order (:mod:`oms_kit.programs`): an entry (MARKET or LIMIT) whose fills place a target
        LIMIT ``target`` points beyond the entry's first fill price and a stop-loss SL-M ``stoploss`` points on the
        other side, one cancelling the other; ``trail`` points or ``trail_percent`` make the stop trail the best
        price since the entry. Returns the :class:`~oms_kit.programs.Program` (``entry_id``, ``target_id``,
        ``stop_id``, ``status``); ``oms.programs()`` lists them. The entry passes every pre-trade check; a rejected
        one ends the program ``rejected``. Raises InvalidOrderError for malformed fields, nothing placed then."""
        request = OrderRequest(symbol, side, quantity, order_type, price, product=product, validity=validity,
                               client_order_id=client_order_id, tag=tag)
        return await self._start(BRACKET, request, target=target, stoploss=stoploss, trail=trail,
                                 trail_percent=trail_percent)

    async def place_cover(self, symbol: str, side: str, quantity: int, order_type: str = "MARKET",
                          price: float | Decimal | None = None, *, stoploss: float | Decimal,
                          trail: float | Decimal | None = None, trail_percent: float | Decimal | None = None,
                          product: str = "MIS", client_order_id: str | None = None, tag: str | None = None) -> Program:
        """Place a cover order: an entry with a compulsory stop-loss ``stoploss`` points from its first fill price
        (a bracket without a target; see :meth:`place_bracket`)."""
        request = OrderRequest(symbol, side, quantity, order_type, price, product=product,
                               client_order_id=client_order_id, tag=tag)
        return await self._start(COVER, request, stoploss=stoploss, trail=trail, trail_percent=trail_percent)

    async def place_trailing_stop(self, symbol: str, side: str, quantity: int, *,
                                  trail: float | Decimal | None = None, trail_percent: float | Decimal | None = None,
                                  product: str = "MIS", client_order_id: str | None = None,
                                  tag: str | None = None) -> Program:
        """Place a trailing stop-loss: an SL-M of ``side`` (SELL protects a long position) placed now ``trail``
        points (or ``trail_percent`` per cent) from the last price, whose trigger then follows the best price seen
        (the high for a SELL, the low for a BUY), never back. Raises InvalidOrderError without a last price."""
        request = OrderRequest(symbol, side, quantity, "SL-M", trigger_price=1, product=product,
                               client_order_id=client_order_id, tag=tag)
        return await self._start(TRAILING, request, trail=trail, trail_percent=trail_percent)

    async def place_iceberg(self, symbol: str, side: str, quantity: int, order_type: str = "LIMIT",
                            price: float | Decimal | None = None, *, legs: int, product: str = "MIS",
                            validity: str = "DAY", client_order_id: str | None = None,
                            tag: str | None = None) -> Program:
        """Place an iceberg order: ``quantity`` sent as ``legs`` (2 to 50) orders of equal whole lots, each at most
        the instrument's freeze quantity, the next placed when the one before has filled completely. The legs'
        client order ids are the given one with ``-1``, ``-2``, … appended."""
        request = OrderRequest(symbol, side, quantity, order_type, price, product=product, validity=validity,
                               client_order_id=client_order_id, tag=tag)
        return await self._start(ICEBERG, request, legs=legs)

    def programs(self, status: str | None = None) -> pd.DataFrame:
        """The order programs (of ``status`` when given: active, complete, cancelled, rejected), oldest first. A
        reopened OMS holds the active ones of before and all made since; ended ones of earlier sessions are in the
        store's ``programs`` table."""
        frame = self.manager.programs.book.frame()
        return frame if status is None else frame[frame["status"] == status].reset_index(drop=True)

    def get_program(self, program_id: str) -> Program:
        """The order program with this id; raises ProgramNotFound (an OmsError)."""
        return self.manager.programs.book.get(program_id)

    async def cancel_program(self, program_id: str, reason: str = "cancelled by user") -> Program:
        """End an active order program: its working orders are cancelled; the positions its fills made stay.
        Raises ProgramNotFound, OmsError for a program no longer active, InvalidOrderError for a bad reason."""
        self.check_writable()
        parse_text(reason, "reason", MAX_REASON)  # before the program ends: its orders' cancels carry it
        program = self.manager.programs.cancel(program_id, reason)
        await self.commit()
        return program

    async def _start(self, kind: str, request: OrderRequest, **params: Any) -> Program:
        self.check_writable()
        engine = self.manager.programs
        retried = self._retried(kind, request)
        if retried is not None:
            return retried
        program, first = engine.open(kind, request, **params)
        try:
            order: Order = await self.place_order(first)
        except BaseException:
            engine.cancel(program.program_id, "its first order was not placed")
            raise
        engine.started(program, order)
        await self.commit()
        return program

    def _retried(self, kind: str, request: OrderRequest) -> Program | None:
        # A program's client_order_id names its first order (an iceberg's first leg: the id with "-1"). Placed
        # again with the same id and the same request (a retry after a timeout), the program placed then is
        # returned, as place_order returns the order; an id an order of the day has for anything else is refused
        # before a program is made, since its first order would be that order (or a duplicate rejected).
        client_id = request.client_order_id
        if client_id is None:
            return None
        order = self.manager.find_by_client_id(f"{client_id}-1" if kind == ICEBERG else client_id)
        if order is None:
            return None
        for program in self.manager.programs.book.programs.values():
            if program.order_ids and program.order_ids[0] == order.order_id:
                if program.kind == kind and program.request == request:
                    return program
                break
        raise InvalidOrderError("client_order_id", client_id, f"an id no order of the day has: order "
                                f"{order.order_id} has it", hint="retry with the same id only with the same program")
