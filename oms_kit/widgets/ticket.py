"""The order ticket: every field of an order, live pre-trade feedback as the user types, and the outcome."""

from __future__ import annotations

import asyncio
from html import escape
from typing import Any

import ipywidgets as w
import pandas as pd

from oms_kit.errors import OmsError
from oms_kit.models import Order
from oms_kit.request import OrderRequest
from oms_kit.snapshot import symbols
from oms_kit.widgets.base import DEFAULT_INTERVAL, OmsLike, Panel, button, classed
from oms_kit.widgets.format import money

ORDER_TYPES = ["MARKET", "LIMIT", "SL", "SL-M"]
PRODUCTS = ["MIS", "CNC", "NRML"]
VALIDITIES = ["DAY", "IOC"]


class OrderTicket(Panel):
    """Symbol, side, quantity, type, price, trigger, product, validity and a Place button.

    While the user types, ``oms.validate`` runs on the ticket's values and ``feedback`` shows the checks that would
    fail (or that all pass); after Place, ``result`` shows the order id and status, or every violation of a
    rejection, and follows that order as it fills or is cancelled. ``last_order`` is the order placed last.
    ``place()`` is the button's twin.
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
        self._shown: Order | None = None  # the order whose outcome ``result`` shows, kept up to date by refresh()
        self.checks: pd.DataFrame | None = None  # the last dry run (oms.validate)
        narrow, wide = w.Layout(width="150px"), w.Layout(width="230px")
        self.symbol = classed(w.Combobox(value=self._initial_symbol, options=list(symbols(self.oms)),
                                         placeholder="symbol", description="symbol", ensure_option=False,
                                         continuous_update=True, layout=wide), "oms-symbol")
        self.side = classed(w.ToggleButtons(options=["BUY", "SELL"], value="BUY", description="side",
                                            style={"button_width": "70px"}), "oms-side")
        self.quantity = classed(w.IntText(value=1, description="quantity", continuous_update=True, layout=wide),
                                "oms-quantity")
        self.order_type = classed(w.Dropdown(options=ORDER_TYPES, value="MARKET", description="type", layout=wide),
                                  "oms-order-type")
        self.price = classed(w.Text(placeholder="LIMIT and SL", description="price", continuous_update=True,
                                    layout=wide), "oms-price")
        self.trigger = classed(w.Text(placeholder="SL and SL-M", description="trigger", continuous_update=True,
                                      layout=wide), "oms-trigger")
        self.product = classed(w.Dropdown(options=PRODUCTS, value="MIS", description="product", layout=narrow),
                               "oms-product")
        self.validity = classed(w.Dropdown(options=VALIDITIES, value="DAY", description="validity", layout=narrow),
                                "oms-validity")
        self.place_button = button("Place BUY", "oms-place", "success", width="230px")
        self.place_button.on_click(self.handler("place order", lambda: self.place()))
        self.feedback = classed(w.HTML(), "oms-ticket-feedback")
        self.result = classed(w.HTML(), "oms-ticket-result")
        fields = (self.symbol, self.side, self.quantity, self.order_type, self.price, self.trigger, self.product,
                  self.validity)
        for field in fields:
            field.observe(self.handler("ticket input", self.refresh_now), names="value")
        form = w.VBox([self.symbol, self.side, self.quantity, self.order_type, self.price, self.trigger,
                       w.HBox([self.product, self.validity]), self.place_button])
        if self.read_only:
            form.layout.display = "none"
            self.feedback.value = "<span class='oms-muted'>read-only: orders are placed by the session that " \
                                  "owns this account</span>"
        return [form, self.feedback, self.result]

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

    def refresh(self) -> None:
        order_type = self.order_type.value
        self.price.disabled = order_type not in ("LIMIT", "SL")
        self.trigger.disabled = order_type not in ("SL", "SL-M")
        side = self.side.value
        self.place_button.description = f"Place {side}"
        self.place_button.button_style = "success" if side == "BUY" else "danger"
        if self.read_only:
            return
        self.feedback.value = self._feedback()
        if self._shown is not None:  # the order placed from here filled, was cancelled, expired…
            self.result.value = _outcome(self._shown)

    def _feedback(self) -> str:
        if not self.symbol.value.strip():
            self.checks = None
            return "<span class='oms-muted'>enter a symbol</span>"
        try:
            checks = self.oms.validate(self.request())
        except OmsError as exc:  # malformed input: the error names the field, the value and what is allowed
            self.checks = None
            return f"<span class='oms-down'>✗ {escape(str(exc))}</span>"
        self.checks = checks
        failed = checks[~checks["passed"].astype(bool)]
        if len(failed):
            items = "".join(f"<li><b>{escape(str(r.code))}</b>: {escape(str(r.message))}</li>"
                            for r in failed.itertuples(index=False))
            return f"<span class='oms-down'>✗ would be rejected:</span><ul style='margin:2px 0'>{items}</ul>"
        by_name = {r.name: r for r in checks.itertuples(index=False)}
        parts = [f"passes all {len(checks)} checks"]
        if "max_order_value" in by_name and by_name["max_order_value"].value is not None:
            parts.append(f"value {money(by_name['max_order_value'].value)}")
        if "buying_power" in by_name and by_name["buying_power"].value is not None:
            parts.append(f"funds needed {money(by_name['buying_power'].value)}")
        return "<span class='oms-up'>✓ " + escape(" · ".join(parts)) + "</span>"

    # -- placing ----------------------------------------------------------------------------------------------

    def place(self) -> asyncio.Task[Any] | None:
        """Place the order on the ticket (the Place button). Returns the task (its result is the order)."""
        try:
            request = self.request()
        except OmsError as exc:  # malformed: nothing to place, and the error names the field
            self._action_failed("place order", exc)
            return None
        self._shown = None
        self.result.value = "<span class='oms-muted'>placing…</span>"
        self.place_button.disabled = True

        def done(order: Order) -> None:
            self.place_button.disabled = False
            self.last_order = self._shown = order
            self.result.value = _outcome(order)

        task = self._act("place order", lambda oms: oms.place_order(request), then=done)
        if task is not None:
            task.add_done_callback(lambda _: setattr(self.place_button, "disabled", False))
        else:
            self.place_button.disabled = False
        return task

    def _action_failed(self, what: str, exc: BaseException) -> None:
        self.result.value = f"<span class='oms-down'>✗ {escape(str(exc))}</span>"
        super()._action_failed(what, exc)


def _outcome(order: Order) -> str:
    status = str(order.status)
    if order.violations:
        items = "".join(f"<li><b>{escape(v.code)}</b>: {escape(v.message)}</li>" for v in order.violations)
        return (f"<span class='oms-down'>✗ <b>{escape(str(order.order_id))}</b> {status}</span>"
                f"<ul style='margin:2px 0'>{items}</ul>")
    fill = f" at {money(order.average_price)}" if order.filled_quantity else ""
    return f"<span class='oms-up'>✓ <b>{escape(str(order.order_id))}</b> {status}{fill}</span>"
