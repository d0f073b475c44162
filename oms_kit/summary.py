"""The account's risk at a glance, for a person at a notebook (``OMS.risk_summary``): the trading state, the day's
P&L, cash, exposure and equity, the free cash and the margin that holds the rest, each account limit with its current
use as a table, and the alerts raised. Also the F&O margin per underlying (``OMS.margin_summary``) and the margin
rows of the dry run (``OMS.validate``)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import pandas as pd

from oms_kit.account_margin import is_derivative, rupees
from oms_kit.errors import ConfigError, DataError
from oms_kit.exposure import CheckContext, account_funds
from oms_kit.models import Order, OrderId
from oms_kit.orders import OrderManager
from oms_kit.request import OrderRequest
from oms_kit.risk import LimitUse, RiskAlert

LIMIT_COLUMNS = ["limit", "symbol", "value", "maximum", "use_pct", "level"]
#: Columns of ``OMS.margin_summary()``: money in rupees to the paisa (None for an underlying without a price).
MARGIN_COLUMNS = ["underlying", "price", "reference", "legs", "span", "short_option_minimum", "initial", "exposure",
                  "total"]


def risk_summary(manager: OrderManager, uses: Iterable[LimitUse], alerts: Iterable[RiskAlert]) -> dict[str, Any]:
    """The figures of ``manager``'s account, ``uses`` as the ``limits`` table and a copy of ``alerts``."""
    ledger = manager.ledger
    table = pd.DataFrame(
        [{"limit": u.limit_name, "symbol": u.symbol, "value": u.value, "maximum": u.limit_value,
          "use_pct": float(u.fraction * 100), "level": u.level} for u in uses],
        columns=LIMIT_COLUMNS,
    )
    funds = account_funds(manager, manager.now())
    return {
        "trading_state": manager.trading_state.value,
        "day_pnl": ledger.day_pnl(),
        "realized_pnl": ledger.realized_pnl(),
        "unrealized_pnl": ledger.unrealized_pnl(),
        "gross_exposure": ledger.gross_exposure(),
        "cash": ledger.cash,
        "equity": ledger.equity(),
        "available_funds": funds.available,
        "equity_margin": funds.equity_margin,
        "fno_margin": funds.fno_margin,
        "option_premium": funds.option_premium,
        "limits": table,
        "alerts": list(alerts),
    }


def margin_summary(manager: OrderManager) -> pd.DataFrame:
    """The account's F&O margin per underlying now (columns :data:`MARGIN_COLUMNS`), positions and working orders
    together; an underlying without a price has its name and None elsewhere. Empty without F&O."""
    used = account_funds(manager, manager.now()).used
    rows: list[dict[str, Any]] = []
    if used is not None:
        for row in used.rows:
            rows.append({"underlying": row.underlying, "price": rupees(row.price),
                         "reference": used.references.get(row.underlying), "legs": row.legs,
                         "span": rupees(row.span), "short_option_minimum": rupees(row.short_option_minimum),
                         "initial": rupees(row.initial), "exposure": rupees(row.exposure), "total": rupees(row.total)})
        rows.extend({"underlying": name} for name in used.unpriced)
    return pd.DataFrame(rows, columns=MARGIN_COLUMNS)


def margin_rows(manager: OrderManager, request: OrderRequest) -> list[dict[str, Any]]:
    """The dry run's margin rows for a future or an option (none for anything else), shaped like the checks' rows:
    ``margin_required`` (what the order adds to the portfolio margin plus an option buy's premium, against the free
    cash) and ``margin_benefit`` (what margining it with the account's positions saves against margining it alone;
    above 0 for a hedge). Their code is empty: they explain the buying-power check, they are not checks."""
    if not is_derivative(manager.instruments.get(request.symbol)):
        return []
    # The order as the dry run's checks saw it (OrderManager.explain): its margin is remembered from there.
    order = Order(OrderId("DRY-RUN"), "DRY-RUN", request.symbol, request.side, request.quantity,  # type: ignore[arg-type]
                  request.order_type, request.product, request.validity, request.price, request.trigger_price,
                  request.tag, manager.account, variety=request.variety)
    try:
        margin = CheckContext(manager, order, manager.now()).order_margin()
    except (DataError, ConfigError) as error:
        why = f"skipped: the order cannot be margined: {error.detail or error.allowed}"
        return [_row("margin_required", True, None, None, None, why, skipped=True),
                _row("margin_benefit", True, None, None, None, why, skipped=True)]
    required, available = margin.required, margin.available
    passed = required <= 0 or required <= available
    premium = f" + premium {margin.premium:,.2f}" if margin.premium else ""
    change = f"adds {margin.added:,.2f} to" if margin.added >= 0 else f"takes {-margin.added:,.2f} off"
    needs = (f"{margin.underlying} at {margin.price:,.2f} ({margin.reference}): once filled the order {change} the "
             f"margin{premium}; it needs {max(required, 0):,.2f} of the free cash {available:,.2f} (F&O margin "
             f"{margin.before:,.2f} now, {margin.after:,.2f} with it)")
    if margin.benefit > 0:
        saves = (f"margined with the account's {margin.underlying} positions the order adds {margin.added:,.2f}, "
                 f"against {margin.alone:,.2f} alone: the hedge saves {margin.benefit:,.2f}")
    else:
        saves = f"no hedge: the order needs {margin.alone:,.2f} alone and adds {margin.added:,.2f} to the account"
    return [_row("margin_required", passed, required, available, available - required, needs),
            _row("margin_benefit", True, margin.benefit, margin.alone, None, saves)]


def _row(name: str, passed: bool, value: Decimal | None, limit: Decimal | None, headroom: Decimal | None,
         message: str, skipped: bool = False) -> dict[str, Any]:
    # As CheckResult.to_dict gives the checks' rows: Decimals as strings.
    return {"name": name, "code": "", "passed": passed, "value": _text(value), "limit": _text(limit),
            "headroom": _text(headroom), "message": message, "skipped": skipped}


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
