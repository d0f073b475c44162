"""Positions: symbol, product, quantity, average and last price, unrealized P&L and P&L %, green or red."""

from __future__ import annotations

from decimal import Decimal

import ipywidgets as w

from oms_kit.snapshot import PositionView, position_views
from oms_kit.widgets.base import Panel, classed
from oms_kit.widgets.format import cell, money, pnl_html, table

COLUMNS = [("symbol", "l"), ("product", "l"), ("qty", "r"), ("avg price", "r"), ("last", "r"),
           ("unrealized", "r"), ("P&L %", "r"), ("realized", "r")]


class PositionsPanel(Panel):
    """The day's position book, flat positions included with their realized P&L, and a total line.

    ``panel.rows`` are the positions last shown.
    """

    kinds = ("position", "fill", "price")
    title_text = "Positions"
    css_class = "oms-positions"

    def _build(self) -> list[w.Widget]:
        self.rows: tuple[PositionView, ...] = ()
        self.table = classed(w.HTML(), "oms-positions-table")
        return [self.table]

    def refresh(self) -> None:
        self.rows = position_views(self.oms)
        rows = []
        unrealized_total = realized_total = Decimal(0)
        for p in self.rows:
            quantity, unrealized, realized = p.quantity, p.unrealized_pnl, p.realized_pnl
            cost = p.average_price * abs(quantity)
            pct = unrealized / cost * 100 if cost else None
            unrealized_total += unrealized
            realized_total += realized
            rows.append([cell(p.symbol), cell(p.product), f"{quantity:,}", money(p.average_price) if quantity
                         else "—", cell(p.last_price), pnl_html(unrealized), _pct(pct), pnl_html(realized)])
        total = ["total", "", "", "", "", pnl_html(unrealized_total), "", pnl_html(realized_total)] if rows else None
        self.table.value = table(COLUMNS, rows, total=total, empty="no positions today")


def _pct(value: Decimal | None) -> str:
    if value is None:
        return "—"
    return pnl_html(value, suffix=" %")
