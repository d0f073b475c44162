"""The whole OMS on one screen: header, candlestick chart, positions, orders, standing orders (GTTs and order
programs), ticket, risk, P&L chart and history."""

from __future__ import annotations

import ipywidgets as w

from oms_kit.sync import SyncOMS
from oms_kit.widgets.base import DEFAULT_INTERVAL, OmsLike, Panel, classed
from oms_kit.widgets.chart import ChartPanel, PnLChart
from oms_kit.widgets.header import Header
from oms_kit.widgets.history import HistoryPanel
from oms_kit.widgets.orders import OrdersPanel
from oms_kit.widgets.positions import PositionsPanel
from oms_kit.widgets.risk import RiskPanel
from oms_kit.widgets.standing import StandingPanel
from oms_kit.widgets.style import STYLE
from oms_kit.widgets.ticket import OrderTicket


class Dashboard(w.VBox):
    """A trading terminal for ``oms``, live: display it in a notebook cell, or serve the notebook with Voila.

    Parameters
    ----------
    oms : an ``oms_kit.OMS`` or the ``open_sync`` facade; a read-only OMS (``oms.read_only``) shows no ticket,
        cancel or kill controls.
    interval : shortest time between two refreshes of a panel, in seconds.

    The panels are attributes: ``header``, ``candles`` (the candlestick chart), ``positions``, ``orders``,
    ``standing`` (the active GTTs and order programs), ``ticket``, ``risk``, ``chart``, ``history``.
    """

    def __init__(self, oms: OmsLike, *, interval: float = DEFAULT_INTERVAL) -> None:
        super().__init__()
        self.oms = oms
        self.header = Header(oms, interval=interval)
        self.candles = ChartPanel(oms, interval=interval)
        self.positions = PositionsPanel(oms, interval=interval)
        self.orders = OrdersPanel(oms, interval=interval)
        self.standing = StandingPanel(oms, interval=interval)
        self.ticket = OrderTicket(oms, interval=interval)
        # A GTT made from the ticket publishes no event: the standing orders are redrawn when the ticket places.
        self.ticket.placed.append(lambda _: self.standing.mark_stale())
        self.risk = RiskPanel(oms, interval=interval)
        self.chart = PnLChart(oms, interval=interval)
        self.history = HistoryPanel(oms, interval=interval)
        left = w.VBox([self.candles, self.positions, self.orders, self.standing, self.chart],
                      layout=w.Layout(flex="3 1 0%", min_width="520px"))
        right = w.VBox([self.ticket, self.risk], layout=w.Layout(flex="2 1 0%", min_width="360px"))
        if (oms.oms if isinstance(oms, SyncOMS) else oms).read_only:
            self.ticket.layout.display = "none"
        self.children = (w.HTML(STYLE), self.header, w.HBox([left, right], layout=w.Layout(flex_flow="row wrap")),
                         self.history)
        classed(self, "oms-dashboard")

    @property
    def panels(self) -> list[Panel]:
        return [self.header, self.candles, self.positions, self.orders, self.standing, self.ticket, self.risk,
                self.chart, self.history]

    async def settle(self) -> None:
        """Wait for every panel's pending actions and refreshes."""
        for panel in self.panels:
            await panel.settle()
        for panel in self.panels:  # an action in one panel (a cancel) makes others stale
            await panel.settle()

    def close(self) -> None:
        """Stop every panel and close the widgets."""
        for panel in self.panels:
            panel.close()
        w.Widget.close(self)
        for child in self.children:
            if not isinstance(child, Panel):
                w.Widget.close(child)

    def __repr__(self) -> str:
        return f"<Dashboard {self.oms!r}>"
