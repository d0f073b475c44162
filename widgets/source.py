"""Where the panels read the OMS: its in-memory objects when it has them, its public tables otherwise.

A live panel redraws a few times a second. Building a DataFrame of 500 orders for each redraw costs ten times more
than reading the order objects the OMS already holds, so the panels read those (``oms.manager``: the ledger's
positions, the working orders, the orders and trades of the session). An OMS-like object without them (a facade
that only offers the documented methods) is read through ``positions()``, ``active_orders()``, ``orders()`` and
``trades()``, whose rows carry the same names.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any


def _manager(oms: Any) -> Any:
    manager = getattr(oms, "manager", None)
    return manager if all(hasattr(manager, a) for a in ("ledger", "live", "orders", "trades")) else None


def _whole_day(oms: Any) -> Any:
    # A reopened account reads the rest of its day when first asked for it.
    manager = _manager(oms)
    if manager is not None and hasattr(oms, "load_day_book"):
        oms.load_day_book()
    return manager


def _records(frame: Any) -> list[Any]:
    return [SimpleNamespace(**row) for row in frame.to_dict("records")]


def positions(oms: Any) -> list[Any]:
    """The day's positions (flat ones too) by symbol and product: objects with symbol, product, quantity,
    average_price, last_price, realized_pnl, unrealized_pnl."""
    manager = _manager(oms)
    if manager is None:
        return _records(oms.positions())
    return sorted(manager.ledger.positions, key=lambda p: (p.symbol, str(p.product)))


def working_orders(oms: Any) -> list[Any]:
    """Working orders, oldest first (objects with the columns of ``oms.active_orders()`` as attributes)."""
    manager = _manager(oms)
    if manager is None:
        return _records(oms.active_orders())
    return list(manager.live.values())


def account(oms: Any) -> dict[str, Decimal]:
    """Equity, day P&L, cash and gross exposure, without building the risk summary's limit table."""
    ledger = getattr(_manager(oms), "ledger", None)
    if ledger is None:
        summary = oms.risk_summary()
        return {k: summary[k] for k in ("equity", "day_pnl", "cash", "gross_exposure")}
    return {"equity": ledger.equity(), "day_pnl": ledger.day_pnl(), "cash": ledger.cash,
            "gross_exposure": ledger.gross_exposure()}


def risk(oms: Any) -> dict[str, Any]:
    """Trading state, cash, exposure, alerts, and each limit in use (objects with limit, symbol, value, maximum,
    use_pct, level), most used first: ``oms.risk_summary()`` without its DataFrame when the OMS has its ledger."""
    manager = _manager(oms)
    if manager is None or not hasattr(manager, "limits"):
        summary = oms.risk_summary()
        limits = sorted(_records(summary["limits"]), key=lambda u: -u.use_pct)
        return {**summary, "limits": limits}
    from oms_kit.risk import limit_uses  # the measure the risk monitor and risk_summary() take

    ledger = manager.ledger
    uses = [SimpleNamespace(limit=u.limit_name, symbol=u.symbol, value=u.value, maximum=u.limit_value,
                            use_pct=float(u.fraction * 100), level=u.level)
            for u in limit_uses(manager.limits, ledger, len(manager.live))]
    uses.sort(key=lambda u: -u.use_pct)
    return {"trading_state": manager.trading_state.value, "cash": ledger.cash,
            "gross_exposure": ledger.gross_exposure(), "alerts": list(getattr(oms, "alerts", ())), "limits": uses}


def order_history(oms: Any, *, symbol: str | None, status: str | None, side: str | None, since: datetime | None,
                  until: datetime | None, limit: int) -> list[Any]:
    """The newest ``limit`` orders of the session that match, newest first."""
    manager = _whole_day(oms)
    if manager is None:
        frame = oms.orders(symbol=symbol, status=status, side=side, since=since, until=until, limit=limit)
        return _records(frame)[::-1]
    chosen = (o for o in reversed(manager.orders.values())
              if (symbol is None or o.symbol == symbol) and (status is None or o.status == status)
              and (side is None or o.side == side) and _within(o.created_at, since, until))
    return _first(chosen, limit)


def trade_history(oms: Any, *, symbol: str | None, side: str | None, since: datetime | None,
                  until: datetime | None, limit: int) -> list[Any]:
    """The newest ``limit`` trades of the session that match, newest first."""
    manager = _whole_day(oms)
    if manager is None:
        rows = _records(oms.trades(symbol=symbol, since=since, until=until))
        return [t for t in rows if side is None or t.side == side][-limit:][::-1]
    chosen = (t for t in reversed(manager.trades)
              if (symbol is None or t.symbol == symbol) and (side is None or t.side == side)
              and _within(t.ts, since, until))
    return _first(chosen, limit)


def instruments(oms: Any) -> list[str]:
    """The symbols the OMS knows, for the ticket's and the filters' choices (empty when it does not say)."""
    return sorted(getattr(getattr(oms, "manager", None), "instruments", None) or {})


def _within(ts: datetime | None, since: datetime | None, until: datetime | None) -> bool:
    return ts is None or ((since is None or ts >= since) and (until is None or ts <= until))


def _first(items: Iterable[Any], limit: int) -> list[Any]:
    out = []
    for item in items:
        out.append(item)
        if len(out) >= limit:
            break
    return out
