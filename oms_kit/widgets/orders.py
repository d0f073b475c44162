"""Active orders, one row each with its own Cancel button, and Cancel all."""

from __future__ import annotations

import asyncio
from html import escape
from typing import Any

import ipywidgets as w

from oms_kit.models import Order
from oms_kit.snapshot import OrderView, working_order_views
from oms_kit.widgets.base import DEFAULT_INTERVAL, OmsLike, Panel, button, classed, close_tree, row_count
from oms_kit.widgets.format import money

HEADING = f"{'order':<13} {'side':<4} {'qty':>6} {'symbol':<10} {'type':<6} {'price':>10} {'prod/val':<8} " \
          f"{'status':<9} {'filled':>11}"
# Working statuses in a column of nine characters.
SHORT_STATUS = {"PARTIALLY_FILLED": "PARTIAL", "TRIGGER_PENDING": "TRIGGER", "PENDING_CANCEL": "CANCELING",
                "PENDING_MODIFY": "MODIFYING", "PENDING_SUBMIT": "SENDING"}


class _Row:
    """The widgets of one order's row, kept while the order is working so a refresh only changes its text."""

    def __init__(self, panel: OrdersPanel, order_id: str) -> None:
        self.text = classed(w.HTML(), "oms-row-text")
        self.cancel = button("✕ Cancel", "oms-cancel", "warning", tooltip=f"cancel {order_id}", width="84px")
        self.cancel.layout.flex = "0 0 auto"
        self.cancel.on_click(panel.handler(f"cancel {order_id}", lambda: panel.cancel(order_id)))
        self.cancel.layout.display = "none" if panel.read_only else None
        self.box = classed(w.HBox([self.cancel, self.text], layout=w.Layout(align_items="center")),
                           "oms-order-row", f"oms-order-{order_id}")


class OrdersPanel(Panel):
    """Working orders, newest first, each with a Cancel button; a Cancel all button above them.

    Parameters
    ----------
    oms : the OMS (async or ``open_sync``).
    max_rows : rows shown at most (each row is a few widgets in the browser); the rest are counted.

    ``panel.order_ids`` are the orders shown, in order. ``cancel(order_id)`` and ``cancel_all()`` are the buttons'
    twins: they return the task running the call (await it for the result) or None when it ran at once.
    """

    kinds = ("order",)
    title_text = "Orders"
    css_class = "oms-orders"

    def __init__(self, oms: OmsLike, *, max_rows: int = 50, interval: float = DEFAULT_INTERVAL,
                 every: float | None = None) -> None:
        self.max_rows = row_count("max_rows", max_rows)
        super().__init__(oms, interval=interval, every=every)

    def _build(self) -> list[w.Widget]:
        self.order_ids: list[str] = []
        self._rows: dict[str, _Row] = {}
        self.cancel_all_button = button("✕ Cancel all", "oms-cancel-all", "danger")
        self.cancel_all_button.on_click(self.handler("cancel all", lambda: self.cancel_all()))
        self.count = classed(w.HTML(), "oms-orders-count")
        if self.read_only:
            self.cancel_all_button.layout.display = "none"
        top = w.HBox([self.cancel_all_button, self.count], layout=w.Layout(align_items="center"))
        heading = classed(w.HTML(f"<span class='oms-muted'>{escape(HEADING)}</span>"), "oms-row-text")
        # Over the rows' Cancel buttons: no gap when there are none (read-only).
        gap = w.HTML(layout=w.Layout(width="84px", flex="0 0 auto", display="none" if self.read_only else None))
        self.heading = w.HBox([gap, heading], layout=w.Layout(overflow="hidden"))
        self.list = classed(w.VBox(layout=w.Layout(overflow="auto")), "oms-orders-list")
        self.more = classed(w.HTML(), "oms-orders-more")
        return [top, self.heading, self.list, self.more]

    def refresh(self) -> None:
        working = working_order_views(self.oms)
        total = len(working)
        ids = []
        for o in working[: -self.max_rows - 1 : -1]:  # newest first
            order_id = o.order_id
            ids.append(order_id)
            row = self._rows.get(order_id)
            if row is None:
                row = self._rows[order_id] = _Row(self, order_id)
            text = _row_text(o)
            if row.text.value != text:
                row.text.value = text
        for gone in set(self._rows) - set(ids):
            close_tree(self._rows.pop(gone).box)
        if ids != self.order_ids:
            self.order_ids = ids
            self.list.children = tuple(self._rows[i].box for i in ids)
        self.count.value = f"<span class='oms-muted'>{total:,} working</span>"
        self.more.value = (f"<span class='oms-muted'>… and {total - len(ids):,} older working orders not shown"
                           "</span>" if total > len(ids) else "")
        self.heading.layout.display = None if ids else "none"

    # -- actions ----------------------------------------------------------------------------------------------

    def cancel(self, order_id: str) -> asyncio.Task[Any] | None:
        """Cancel one order (the row's button)."""
        row = self._rows.get(order_id)
        if row is not None:
            row.cancel.disabled = True
            row.cancel.description = "…"

        def done(order: Order) -> None:
            self.say(f"{order.order_id} {order.status}", "ok")

        return self._act(f"cancel {order_id}", lambda oms: oms.cancel_order(order_id), then=done)

    def cancel_all(self) -> asyncio.Task[Any] | None:
        """Cancel every working order (the Cancel all button)."""

        def done(orders: list[Order]) -> None:
            self.say(f"cancelled {len(orders)} order{'s' if len(orders) != 1 else ''}", "ok")

        return self._act("cancel all", lambda oms: oms.cancel_all(), then=done)

    def _action_failed(self, what: str, exc: BaseException) -> None:
        super()._action_failed(what, exc)
        for row in self._rows.values():  # a refused cancel leaves its order working: offer the button again
            if row.cancel.disabled:
                row.cancel.disabled = False
                row.cancel.description = "✕ Cancel"


def _row_text(o: OrderView) -> str:
    side_class = "oms-up" if o.side == "BUY" else "oms-down"
    filled = f"{o.filled_quantity:,}/{o.quantity:,}"
    product = f"{o.product}/{o.validity}"
    # A stop order shows its trigger where a market order has no price: "SL-M  ▲2,390.00", "SL  2,400.00▲2,390.00".
    price = "" if o.price is None else money(o.price)
    if o.trigger_price is not None:
        price += f"▲{money(o.trigger_price)}"
    status = SHORT_STATUS.get(o.status, o.status)
    first = f"{o.order_id:<13} "
    rest = (f" {o.quantity:>6,} {o.symbol:<10} {o.order_type:<6} {price or '—':>10} {product:<8} "
            f"{status:<9} {filled:>11}")
    return f"{escape(first)}<span class='{side_class}'>{o.side:<4}</span>{escape(rest)}"
