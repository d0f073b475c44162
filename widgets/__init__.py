"""ipywidgets panels for oms_kit: depends on oms_kit, never the other way.

>>> from widgets import Dashboard
>>> Dashboard(oms)            # or oms.dashboard(); each panel also works alone: PositionsPanel(oms)
"""

from widgets.chart import PnLChart
from widgets.dashboard import Dashboard
from widgets.header import Header
from widgets.history import HistoryPanel
from widgets.orders import OrdersPanel
from widgets.positions import PositionsPanel
from widgets.risk import RiskPanel
from widgets.ticket import OrderTicket

__all__ = ["Dashboard", "Header", "HistoryPanel", "OrderTicket", "OrdersPanel", "PnLChart", "PositionsPanel",
           "RiskPanel"]
