"""The order, trade and position tables people look at: one layout for the OMS, backtests and paper runs alike.

``OMS.orders()``, ``BacktestResult.orders`` and ``PaperTrader.orders()`` (and the trades of each) are built here, so a
backtest's table and a paper run's line up column for column with the OMS's.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from oms_kit.models import Fill, Order, Position

ORDER_COLUMNS = [
    "order_id", "client_order_id", "symbol", "side", "order_type", "product", "validity", "variety", "quantity",
    "disclosed_quantity", "price", "trigger_price", "filled_quantity", "average_price", "status", "violations",
    "reason", "tag", "created_at", "updated_at",
]
TRADE_COLUMNS = ["trade_id", "order_id", "symbol", "product", "side", "quantity", "price", "fees", "ts"]
POSITION_COLUMNS = (
    "symbol", "product", "quantity", "average_price", "last_price", "realized_pnl", "unrealized_pnl", "fees", "pnl",
    "bought_quantity", "sold_quantity", "account", "updated_at",
)
"""Columns of :meth:`~oms_kit.ledger.Ledger.to_frame` (:func:`positions_frame`), in order; ``pnl`` is realized +
unrealized - fees."""


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


def positions_frame(positions: Iterable[Position]) -> pd.DataFrame:
    """Positions as a table of :data:`POSITION_COLUMNS`, one row each, flat ones included, sorted by symbol and
    product: money as exact ``Decimal`` (object columns), quantities as int64; empty, with the columns, for none."""
    rows = sorted(positions, key=lambda p: (p.symbol, p.product.value))
    columns: dict[str, list[object]] = {name: [] for name in POSITION_COLUMNS}
    for p in rows:
        unrealized = p.unrealized_pnl
        columns["symbol"].append(p.symbol)
        columns["product"].append(p.product.value)
        columns["quantity"].append(p.quantity)
        columns["average_price"].append(p.average_price)
        columns["last_price"].append(p.last_price)
        columns["realized_pnl"].append(p.realized_pnl)
        columns["unrealized_pnl"].append(unrealized)
        columns["fees"].append(p.fees)
        columns["pnl"].append(p.realized_pnl + unrealized - p.fees)
        columns["bought_quantity"].append(p.bought_quantity)
        columns["sold_quantity"].append(p.sold_quantity)
        columns["account"].append(p.account)
        columns["updated_at"].append(p.updated_at)
    frame = pd.DataFrame(columns, columns=list(POSITION_COLUMNS))
    for name in ("quantity", "bought_quantity", "sold_quantity"):
        frame[name] = frame[name].astype("int64")
    return frame
