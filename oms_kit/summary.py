"""The account's risk at a glance, for a person at a notebook (``OMS.risk_summary``): the trading state, the day's
P&L, cash, exposure and equity, each account limit with its current use as a table, and the alerts raised."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from oms_kit.orders import OrderManager
from oms_kit.risk import LimitUse, RiskAlert

LIMIT_COLUMNS = ["limit", "symbol", "value", "maximum", "use_pct", "level"]


def risk_summary(manager: OrderManager, uses: Iterable[LimitUse], alerts: Iterable[RiskAlert]) -> dict[str, Any]:
    """The figures of ``manager``'s account, ``uses`` as the ``limits`` table and a copy of ``alerts``."""
    ledger = manager.ledger
    table = pd.DataFrame(
        [{"limit": u.limit_name, "symbol": u.symbol, "value": u.value, "maximum": u.limit_value,
          "use_pct": float(u.fraction * 100), "level": u.level} for u in uses],
        columns=LIMIT_COLUMNS,
    )
    return {
        "trading_state": manager.trading_state.value,
        "day_pnl": ledger.day_pnl(),
        "realized_pnl": ledger.realized_pnl(),
        "unrealized_pnl": ledger.unrealized_pnl(),
        "gross_exposure": ledger.gross_exposure(),
        "cash": ledger.cash,
        "equity": ledger.equity(),
        "limits": table,
        "alerts": list(alerts),
    }
