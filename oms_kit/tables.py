"""The order and trade tables people look at: one layout for the OMS, backtests and paper runs alike.

``OMS.orders()``, ``BacktestResult.orders`` and ``PaperTrader.orders()`` (and the trades of each) are built here, so a
backtest's table and a paper run's line up column for column with the OMS's.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from oms_kit.models import Fill, Order

ORDER_COLUMNS = [
    "order_id", "client_order_id", "symbol", "side", "order_type", "product", "validity", "variety", "quantity",
    "disclosed_quantity", "price", "trigger_price", "filled_quantity", "average_price", "status", "violations",
    "reason", "tag", "created_at", "updated_at",
]
TRADE_COLUMNS = ["trade_id", "order_id", "symbol", "product", "side", "quantity", "price", "fees", "ts"]


def orders_frame(orders: Iterable[Order]) -> pd.DataFrame:
    """Orders as a table of :data:`ORDER_COLUMNS`, violations as their codes (comma-separated); money exact."""
    rows = []
    for order in orders:
        row = order.to_dict()
        row["violations"] = ", ".join(v.code for v in order.violations)
        rows.append(row)
    return pd.DataFrame(rows, columns=ORDER_COLUMNS)


def trades_frame(fills: Iterable[Fill]) -> pd.DataFrame:
    """Fills as a table of :data:`TRADE_COLUMNS`, fees per fill; money exact."""
    return pd.DataFrame([f.to_dict() for f in fills], columns=TRADE_COLUMNS)
