"""Watching an account that another process writes: the state of a read-only OMS.

``OMS.open(url, read_only=True)`` loads what the writer has committed (orders, trades, positions, cash, trading
state, risk alerts) and publishes what changed as ordinary events, so the same panels and callbacks work on a
watched session as on a live one. On PostgreSQL every commit of the writer sends a notification (``NOTIFY
oms_kit_commits``); the watcher listens and reloads what changed, a burst of commits costing one reload. A DuckDB
file cannot be watched live (its writer holds the file lock); ``refresh()`` reloads by hand once the writer is gone.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from oms_kit.events import EventBus, OrderFilled, OrderUpdated, PositionChanged, RiskAlertRaised, TradingStateChanged
from oms_kit.models import Fill, OrderStatus, TradingState
from oms_kit.orders import OrderManager
from oms_kit.risk import RiskAlert
from oms_kit.storage.base import Store
from oms_kit.storage.records import (
    alert_from_row,
    fill_from_row,
    gtt_from_row,
    order_from_row,
    position_from_row,
    program_from_row,
    stored_decimal,
)

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Rows are read back from a little before the newest time seen: two rows of one commit may carry the same
# timestamp, and re-reading a row that did not change costs a comparison, while missing one would cost a wrong view.
_OVERLAP = timedelta(seconds=1)
_NOT_TERMINAL = "(" + ", ".join(f"'{s.value}'" for s in OrderStatus if not s.is_terminal) + ")"
_COUNTED = {OrderStatus.FILLED: "filled", OrderStatus.REJECTED: "rejected", OrderStatus.CANCELLED: "cancelled",
            OrderStatus.EXPIRED: "expired"}


class Watch:
    """Keeps ``manager`` (never sent an order) equal to what the store holds for its account.

    Parameters
    ----------
    store : Store
        Opened read-only.
    manager : OrderManager
        Its orders, trades, ledger, prices, counts and trading state are replaced from the store.
    bus : EventBus
        Where changes are published (order, fill, position, trading_state, risk_alert events).
    alerts : list
        The OMS's alert list, extended with the alerts the writer raised.
    since : datetime
        The start of the trading day: orders and trades from before it are left in the store (the OMS's history
        reads them there), but for orders still working.
    """

    def __init__(self, store: Store, manager: OrderManager, bus: EventBus, alerts: list[Any],
                 since: datetime = _EPOCH) -> None:
        self.store = store
        self.manager = manager
        self.bus = bus
        self.alerts = alerts
        self.refreshes = 0
        self.notifications = 0
        self.last_refresh: datetime | None = None
        self.error: str | None = None  # the last refresh that failed, shown in status()
        self.since = since
        self._seen_orders = self._seen_trades = self._seen_alerts = since + _OVERLAP
        self._trade_ids: set[str] = set()
        self._alert_ids: set[str] = set()
        self._filled_values: dict[str, Decimal] = {}
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def notify(self, *_: Any) -> None:
        """A commit happened: reload soon. Commits arriving during a reload cause one more reload, not one each."""
        self.notifications += 1
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._follow(), name="oms-kit-watch")

    async def _follow(self) -> None:
        self._again = True
        while self._again:
            self._again = False
            try:
                await self.refresh()
            except Exception as exc:  # shown in status(); the next notification tries again
                self.error = f"{type(exc).__name__}: {exc}"
                log.exception("refreshing the watched account failed")

    async def stop(self) -> None:
        """Stop a reload in progress (on close)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def refresh(self) -> None:
        """Read what changed in the store since the last refresh and publish it as events."""
        store, manager, account = self.store, self.manager, self.manager.account
        trades = await store.fetch(
            "SELECT * FROM trades WHERE account = $1 AND ts >= $2 ORDER BY ts, trade_id",
            account, self._seen_trades - _OVERLAP)
        orders = await store.fetch(
            "SELECT * FROM orders WHERE account = $1 AND updated_at >= $2 ORDER BY updated_at, order_id",
            account, self._seen_orders - _OVERLAP)
        if not self.refreshes:  # the first time: the orders still working from before the day, too
            orders[:0] = await store.fetch(
                f"SELECT * FROM orders WHERE account = $1 AND updated_at < $2 AND status IN {_NOT_TERMINAL} "
                "ORDER BY updated_at, order_id", account, self._seen_orders - _OVERLAP)
        positions = await store.fetch("SELECT * FROM positions WHERE account = $1", account)
        cash = await store.fetch("SELECT cash, day_base FROM accounts WHERE account = $1", account)
        state = await store.fetch("SELECT * FROM trading_state WHERE account = $1", account)
        alerts = await store.fetch("SELECT * FROM risk_alerts WHERE account = $1 AND ts >= $2 ORDER BY ts, alert_id",
                                   account, self._seen_alerts - _OVERLAP)
        # GTTs and order programs: the active ones and those that changed today, for the panels that list them.
        gtts = await store.fetch("SELECT * FROM gtts WHERE account = $1 AND (status = 'active' OR updated_at >= $2) "
                                 "ORDER BY created_at, gtt_id", account, self.since)
        programs = await store.fetch(
            "SELECT * FROM programs WHERE account = $1 AND (status = 'active' OR updated_at >= $2) "
            "ORDER BY created_at, program_id", account, self.since)
        # Everything read first, then applied: a failed read leaves the previous view whole.
        fills = self._new_fills(trades)
        changed_orders = self._apply_orders(orders)
        changed_positions = self._apply_positions(
            positions, stored_decimal(cash[0]["cash"]) if cash else manager.ledger.cash)
        if cash and cash[0]["day_base"] is not None:  # the owner's day: day P&L as the owner sees it
            manager.ledger.day_base = stored_decimal(cash[0]["day_base"])  # type: ignore[assignment]
        state_change = self._apply_state(state[0] if state else None)
        new_alerts = self._apply_alerts(alerts)
        manager.gtts.replace([gtt_from_row(row) for row in gtts])
        manager.programs.book.replace([program_from_row(row) for row in programs], manager.orders)
        self.refreshes += 1
        self.last_refresh = datetime.now(UTC)
        self.error = None

        bus = self.bus
        for order, previous in changed_orders:
            bus.publish(OrderUpdated(order.updated_at or self.last_refresh, order, "watched", previous))
        for fill in fills:
            bus.publish(OrderFilled(fill.ts or self.last_refresh, fill))
        for position in changed_positions:
            bus.publish(PositionChanged(position.updated_at or self.last_refresh, position))
        if state_change is not None:
            bus.publish(state_change)
        for alert in new_alerts:
            bus.publish(RiskAlertRaised(alert.ts, alert))

    def _new_fills(self, rows: list[dict[str, Any]]) -> list[Fill]:
        fills = []
        for row in rows:
            trade_id = row["trade_id"]
            if trade_id in self._trade_ids:
                continue
            self._trade_ids.add(trade_id)
            fill = fill_from_row(row)
            fills.append(fill)
            self.manager.trades.append(fill)
            self._filled_values[fill.order_id] = (self._filled_values.get(fill.order_id, Decimal(0))
                                                  + fill.price * fill.quantity)
            self._seen_trades = max(self._seen_trades, row["ts"])
        return fills

    def _apply_orders(self, rows: list[dict[str, Any]]) -> list[tuple[Any, str | None]]:
        manager = self.manager
        changed = []
        for row in rows:
            order = order_from_row(row, self._filled_values.get(row["order_id"], Decimal(0)))
            self._seen_orders = max(self._seen_orders, row["updated_at"])
            previous = manager.orders.get(order.order_id)
            if previous is not None and previous == order:
                continue
            manager.adopt(order, working=True)  # with the margin and working quantity a dry run reads
            changed.append((order, None if previous is None else previous.status.value))
        if changed:
            counts = dict.fromkeys(manager.counts, 0)
            for order in manager.orders.values():
                if order.created_at < self.since:  # type: ignore[operator]
                    continue  # today's counts, as the writer keeps them: orders placed since the day began
                counts["placed"] += 1
                key = _COUNTED.get(order.status)
                if key:
                    counts[key] += 1
            manager.counts.update(counts)
        return changed

    def _apply_positions(self, rows: list[dict[str, Any]], cash: Decimal) -> list[Any]:
        manager = self.manager
        before = {(p.symbol, p.product): p for p in manager.ledger.positions}
        positions = [position_from_row(row) for row in rows]
        manager.ledger.restore(positions, cash)
        for row in rows:
            if row["last_price"] is not None:
                manager.prices[row["symbol"]] = stored_decimal(row["last_price"])
        return [p for p in manager.ledger.positions if before.get((p.symbol, p.product)) != p]

    def _apply_state(self, row: dict[str, Any] | None) -> TradingStateChanged | None:
        if row is None:
            return None
        manager = self.manager
        state = TradingState(row["state"])
        if state is manager.trading_state:
            return None
        previous, manager.trading_state = manager.trading_state, state
        return TradingStateChanged(row["changed_at"], previous, state, row["reason"] or "", row["source"] or "")

    def _apply_alerts(self, rows: list[dict[str, Any]]) -> list[RiskAlert]:
        new = []
        for row in rows:
            self._seen_alerts = max(self._seen_alerts, row["ts"])
            if row["alert_id"] in self._alert_ids:
                continue
            self._alert_ids.add(row["alert_id"])
            alert = alert_from_row(row)
            self.alerts.append(alert)
            new.append(alert)
        return new

    def status(self) -> dict[str, Any]:
        """For ``OMS.status()``: how many refreshes and notifications, the last refresh and any error."""
        return {"refreshes": self.refreshes, "notifications": self.notifications,
                "last_refresh": self.last_refresh, "error": self.error,
                "live": getattr(self.store, "listening", False)}
