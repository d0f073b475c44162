"""The order ticket: every field of an order, live pre-trade feedback as the user types, and the outcome; a regular
order, a bracket, a cover order, a trailing stop, an iceberg or a GTT (:mod:`oms_kit.widgets.ticket_kinds`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from html import escape
from typing import Any, cast

import ipywidgets as w
import pandas as pd

from oms_kit.errors import OmsError
from oms_kit.gtt import Gtt
from oms_kit.models import Order
from oms_kit.programs import Program
from oms_kit.request import OrderRequest
from oms_kit.snapshot import symbols
from oms_kit.widgets.base import DEFAULT_INTERVAL, OmsLike, Panel, button, classed
from oms_kit.widgets.format import money
from oms_kit.widgets.ticket_kinds import BY_VALUE, KINDS, OPTIONAL_FIELDS, PERCENT, POINTS, REGULAR, TRAILING, Plan
from oms_kit.widgets.ticket_kinds import plan as make_plan

ORDER_TYPES = ["MARKET", "LIMIT", "SL", "SL-M"]
PRODUCTS = ["MIS", "CNC", "NRML"]
VALIDITIES = ["DAY", "IOC"]
# The fields of the types beyond a regular order (made by OrderTicket._build_kinds).
_KIND_FIELDS = ("target", "stoploss", "trail", "trail_unit", "legs", "gtt_trigger", "stop_trigger", "stop_price",
                "target_trigger", "target_price")


class OrderTicket(Panel):
    """Symbol, side, quantity, type, price, trigger, product, validity and a Place button.

    ``kind`` chooses what Place makes: a regular order, a bracket (``target`` and ``stoploss`` points from the
    entry's fill, an optional ``trail`` in points or per cent, ``trail_unit``), a cover order (``stoploss``, optional
    ``trail``), a trailing stop (``trail``), an iceberg (``legs``), a single GTT (``gtt_trigger`` and the order) or a
    two-leg GTT (``stop_trigger`` and ``target_trigger``, with ``stop_price`` and ``target_price`` for LIMIT legs);
    only the fields of the chosen type show. While the user types, ``oms.validate`` runs on the order that would be
    placed at once (the order, a program's first order) and ``feedback`` shows the checks that would fail (or that
    all pass); a malformed field is named there. After Place, ``result`` shows the order id and status, or every
    violation of a rejection, or the program's or GTT's id and status, and follows it. ``last_order``,
    ``last_program`` and ``last_gtt`` are those placed last. ``place()`` is the button's twin; each of ``placed``
    (callables) is told what was placed (the dashboard refreshes its standing orders so).
    A read-only OMS shows no ticket.
    """

    kinds = ("price", "order", "position", "trading_state")
    title_text = "Order ticket"
    css_class = "oms-ticket"

    def __init__(self, oms: OmsLike, *, symbol: str = "", interval: float = DEFAULT_INTERVAL,
                 every: float | None = None) -> None:
        self._initial_symbol = symbol
        super().__init__(oms, interval=interval, every=every)

    def _build(self) -> list[w.Widget]:
        self.last_order: Order | None = None
        self.last_program: Program | None = None
        self.last_gtt: Gtt | None = None
        self.placed: list[Callable[[Order | Program | Gtt], None]] = []
        # What ``result`` shows, kept up to date by refresh(): an order, a program or a GTT placed from here.
        self._shown: Order | Program | Gtt | None = None
        self.checks: pd.DataFrame | None = None  # the last dry run (oms.validate)
        # A layout of its own for each field: the fields of the chosen type show, the others are hidden by theirs.
        def narrow() -> w.Layout:
            return w.Layout(width="150px")

        def wide() -> w.Layout:
            return w.Layout(width="230px")

        self.kind = classed(w.Dropdown(options=[(k.label, k.value) for k in KINDS], value=REGULAR,
                                       description="ticket", layout=wide()), "oms-ticket-kind")
        self.symbol = classed(w.Combobox(value=self._initial_symbol, options=list(symbols(self.oms)),
                                         placeholder="symbol", description="symbol", ensure_option=False,
                                         continuous_update=True, layout=wide()), "oms-symbol")
        self.side = classed(w.ToggleButtons(options=["BUY", "SELL"], value="BUY", description="side",
                                            style={"button_width": "70px"}), "oms-side")
        self.quantity = classed(w.IntText(value=1, description="quantity", continuous_update=True, layout=wide()),
                                "oms-quantity")
        self.order_type = classed(w.Dropdown(options=ORDER_TYPES, value="MARKET", description="type", layout=wide()),
                                  "oms-order-type")
        self.price = classed(w.Text(placeholder="LIMIT and SL", description="price", continuous_update=True,
                                    layout=wide()), "oms-price")
        self.trigger = classed(w.Text(placeholder="SL and SL-M", description="trigger", continuous_update=True,
                                      layout=wide()), "oms-trigger")
        self.product = classed(w.Dropdown(options=PRODUCTS, value="MIS", description="product", layout=narrow()),
                               "oms-product")
        self.validity = classed(w.Dropdown(options=VALIDITIES, value="DAY", description="validity", layout=narrow()),
                                "oms-validity")
        self._build_kinds()
        self.place_button = button("Place BUY", "oms-place", "success", width="230px")
        self.place_button.on_click(self.handler("place order", lambda: self.place()))
        self.feedback = classed(w.HTML(), "oms-ticket-feedback")
        self.result = classed(w.HTML(), "oms-ticket-result")
        fields = (self.symbol, self.side, self.quantity, self.order_type, self.price, self.trigger, self.product,
                  self.validity, *(getattr(self, name) for name in _KIND_FIELDS))
        for field in fields:
            field.observe(self.handler("ticket input", self.refresh_now), names="value")
        self.kind.observe(self.handler("ticket type", self._kind_chosen), names="value")
        self._trail_row = w.HBox([self.trail, self.trail_unit])
        form = w.VBox([self.kind, self.symbol, self.side, self.quantity, self.order_type, self.price, self.trigger,
                       self.gtt_trigger, self.stop_trigger, self.stop_price, self.target_trigger, self.target_price,
                       self.target, self.stoploss, self._trail_row, self.legs, w.HBox([self.product, self.validity]),
                       self.place_button])
        self._show_fields()
        if self.read_only:
            form.layout.display = "none"
            self.feedback.value = "<span class='oms-muted'>read-only: orders are placed by the session that " \
                                  "owns this account</span>"
        return [form, self.feedback, self.result]

    def _build_kinds(self) -> None:
        # The fields of the types beyond a regular order; each shows only for the types that use it.
        def field(name: str, description: str, placeholder: str) -> w.Text:
            return classed(w.Text(placeholder=placeholder, description=description, continuous_update=True,
                                  layout=w.Layout(width="230px")), f"oms-{name.replace('_', '-')}")

        self.target = field("target", "target", "points from the fill")
        self.stoploss = field("stoploss", "stoploss", "points from the fill")
        self.trail = field("trail", "trail", "optional")
        self.trail.layout.width = "160px"
        self.trail_unit = classed(w.ToggleButtons(options=[POINTS, PERCENT], value=POINTS,
                                                  style={"button_width": "54px"}), "oms-trail-unit")
        self.legs = classed(w.IntText(value=2, description="legs", continuous_update=True,
                                      layout=w.Layout(width="230px")), "oms-legs")
        self.gtt_trigger = field("gtt_trigger", "GTT trigger", "fires at this last price")
        self.stop_trigger = field("stop_trigger", "stop at", "a price below the last")
        self.stop_price = field("stop_price", "stop price", "the stop leg's LIMIT")
        self.target_trigger = field("target_trigger", "target at", "a price above the last")
        self.target_price = field("target_price", "target price", "the target leg's LIMIT")

    def _kind_chosen(self) -> None:
        kind = BY_VALUE[self.kind.value]
        if tuple(self.order_type.options) != kind.order_types:
            keep = self.order_type.value
            self.order_type.options = kind.order_types
            if keep in kind.order_types:
                self.order_type.value = keep
        self.trail.placeholder = "required" if kind.value == TRAILING else "optional"
        self._show_fields()
        self.refresh_now()

    def _show_fields(self) -> None:
        shown = set(BY_VALUE[self.kind.value].fields)
        for name in OPTIONAL_FIELDS:
            if name != "trail_unit":  # it shows with trail, on its row
                getattr(self, name).layout.display = None if name in shown else "none"
        self._trail_row.layout.display = None if "trail" in shown else "none"

    # -- the order on the ticket ------------------------------------------------------------------------------

    def request(self) -> OrderRequest:
        """The order on the ticket; price and trigger only where the type uses them. Raises InvalidOrderError
        naming the field when the ticket does not hold a well-formed order."""
        order_type = self.order_type.value
        return OrderRequest(
            self.symbol.value.strip().upper(),
            self.side.value,
            self.quantity.value,
            order_type,
            price=(self.price.value.strip() or None) if order_type in ("LIMIT", "SL") else None,
            trigger_price=(self.trigger.value.strip() or None) if order_type in ("SL", "SL-M") else None,
            product=self.product.value,
            validity=self.validity.value,
        )

    def plan(self) -> Plan:
        """What Place would do with the ticket's values (:class:`~oms_kit.widgets.ticket_kinds.Plan`). Raises
        InvalidOrderError naming the field when they do not make a well-formed order of the chosen type."""
        return make_plan(self)

    def refresh(self) -> None:
        order_type = self.order_type.value
        self.price.disabled = order_type not in ("LIMIT", "SL")
        self.trigger.disabled = order_type not in ("SL", "SL-M")
        self.stop_price.disabled = self.target_price.disabled = order_type != "LIMIT"
        side = self.side.value
        kind = BY_VALUE[self.kind.value]
        self.place_button.description = f"Place {side}" + ("" if kind.value == REGULAR else f" {kind.label}")
        self.place_button.button_style = "success" if side == "BUY" else "danger"
        if self.read_only:
            return
        self.feedback.value = self._feedback()
        if self._shown is not None:  # what was placed from here filled, was cancelled, fired, expired…
            self.result.value = _outcome(self._latest(self._shown))

    def _latest(self, placed: Order | Program | Gtt) -> Order | Program | Gtt:
        if isinstance(placed, Program):
            return self.oms.get_program(placed.program_id)
        if isinstance(placed, Gtt):
            return self.oms.get_gtt(placed.gtt_id)
        return placed

    def _feedback(self) -> str:
        if not self.symbol.value.strip():
            self.checks = None
            return "<span class='oms-muted'>enter a symbol</span>"
        try:
            plan = self.plan()
            checks = self.oms.validate(plan.checked) if plan.checked is not None else None
        except OmsError as exc:  # malformed input: the error names the field, the value and what is allowed
            self.checks = None
            return f"<span class='oms-down'>✗ {escape(str(exc))}</span>"
        note = f"<br><span class='oms-muted'>{escape(plan.note)}</span>" if plan.note else ""
        self.checks = checks
        if checks is None:
            return f"<span class='oms-up'>✓ {escape(plan.note)}</span>"
        failed = checks[~checks["passed"].astype(bool)]
        if len(failed):
            items = "".join(f"<li><b>{escape(str(r.code))}</b>: {escape(str(r.message))}</li>"
                            for r in failed.itertuples(index=False))
            return f"<span class='oms-down'>✗ would be rejected:</span><ul style='margin:2px 0'>{items}</ul>{note}"
        by_name = {r.name: r for r in cast(Iterable[Any], checks.itertuples(index=False))}
        parts = [f"passes all {len(checks)} checks"]
        if "max_order_value" in by_name and by_name["max_order_value"].value is not None:
            parts.append(f"value {money(by_name['max_order_value'].value)}")
        if "buying_power" in by_name and by_name["buying_power"].value is not None:
            parts.append(f"funds needed {money(by_name['buying_power'].value)}")
        return "<span class='oms-up'>✓ " + escape(" · ".join(parts)) + "</span>" + note

    # -- placing ----------------------------------------------------------------------------------------------

    def place(self) -> asyncio.Task[Any] | None:
        """Place what the ticket holds (the Place button): an order, a program or a GTT. Returns the task (its
        result is the order, the :class:`~oms_kit.programs.Program` or the :class:`~oms_kit.gtt.Gtt`), or None
        when nothing was placed (a malformed field, named in the message line) or the call ran at once."""
        what = f"place {BY_VALUE[self.kind.value].noun}"
        try:
            plan = self.plan()
        except OmsError as exc:  # malformed: nothing to place, and the error names the field
            self._action_failed(what, exc)
            return None
        self._shown = None
        self.result.value = "<span class='oms-muted'>placing…</span>"
        self.place_button.disabled = True

        def done(placed: Order | Program | Gtt) -> None:
            self.place_button.disabled = False
            if isinstance(placed, Program):
                self.last_program = placed
            elif isinstance(placed, Gtt):
                self.last_gtt = placed
            else:
                self.last_order = placed
            self._shown = placed
            self.result.value = _outcome(placed)
            for listener in self.placed:
                listener(placed)

        task = self._act(plan.what, plan.call, then=done)
        if task is not None:
            task.add_done_callback(lambda _: setattr(self.place_button, "disabled", False))
        else:
            self.place_button.disabled = False
        return task

    def _action_failed(self, what: str, exc: BaseException) -> None:
        self.result.value = f"<span class='oms-down'>✗ {escape(str(exc))}</span>"
        super()._action_failed(what, exc)


def _outcome(placed: Order | Program | Gtt) -> str:
    if isinstance(placed, Program):
        return _standing_outcome(placed.program_id, placed.kind, placed.status, placed.order_ids, placed.reason,
                                 placed.status == "rejected")
    if isinstance(placed, Gtt):
        return _standing_outcome(placed.gtt_id, f"GTT {placed.kind}", placed.status, placed.order_ids,
                                 placed.reason, placed.status == "rejected")
    order = placed
    status = str(order.status)
    if order.violations:
        items = "".join(f"<li><b>{escape(v.code)}</b>: {escape(v.message)}</li>" for v in order.violations)
        return (f"<span class='oms-down'>✗ <b>{escape(str(order.order_id))}</b> {status}</span>"
                f"<ul style='margin:2px 0'>{items}</ul>")
    fill = f" at {money(order.average_price)}" if order.filled_quantity else ""
    return f"<span class='oms-up'>✓ <b>{escape(str(order.order_id))}</b> {status}{fill}</span>"


def _standing_outcome(key: str, kind: str, status: str, order_ids: list[str], reason: str | None,
                      failed: bool) -> str:
    # "✓ P-1 bracket active · orders O-…" or "✗ G-2 GTT single rejected: <why>"
    orders = f" · orders {', '.join(order_ids)}" if order_ids else ""
    why = f": {reason}" if reason and failed else ""
    mark, css = ("✗", "oms-down") if failed else ("✓", "oms-up")
    return f"<span class='{css}'>{mark} <b>{escape(key)}</b> {escape(f'{kind} {status}{orders}{why}')}</span>"

