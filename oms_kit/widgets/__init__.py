"""ipywidgets panels for oms_kit: a leaf that depends on oms_kit; nothing else in oms_kit imports it.

>>> from oms_kit.widgets import dashboard
>>> dashboard(oms)            # the last line of a cell; each panel also works alone: PositionsPanel(oms)

The panels read the typed views of :mod:`oms_kit.snapshot` (each panel builds only the parts it shows; the whole
``oms.snapshot()`` composes them) and the OMS's public methods.
"""

from typing import Any

from oms_kit.widgets.base import OmsLike
from oms_kit.widgets.chart import CandleChart, ChartPanel, PnLChart
from oms_kit.widgets.dashboard import Dashboard
from oms_kit.widgets.header import Header
from oms_kit.widgets.history import HistoryPanel
from oms_kit.widgets.orders import OrdersPanel
from oms_kit.widgets.positions import PositionsPanel
from oms_kit.widgets.risk import LimitRow, RiskPanel
from oms_kit.widgets.standing import StandingPanel
from oms_kit.widgets.ticket import OrderTicket


def dashboard(oms: OmsLike, **options: Any) -> Dashboard:
    """The live dashboard of ``oms`` (an ``OMS`` or the ``open_sync`` facade); ``options`` go to
    :class:`Dashboard` (``interval``). Show it as a cell's last line, or serve the notebook with Voila."""
    return Dashboard(oms, **options)


__all__ = ["CandleChart", "ChartPanel", "Dashboard", "Header", "HistoryPanel", "LimitRow", "OmsLike", "OrderTicket",
           "OrdersPanel", "PnLChart",
           "PositionsPanel", "RiskPanel", "StandingPanel", "dashboard"]
