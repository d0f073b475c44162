"""The reconciler: one OMS's reconciliation with its live broker, run on open, after a reconnection and on demand,
and the halt and resumption of its trading that follow (the comparison and the adoption are :mod:`oms_kit.reconcile`'s).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pandas as pd

from oms_kit.errors import OmsError, ReconciliationPending
from oms_kit.events import TradingStateChanged
from oms_kit.models import TradingState
from oms_kit.reconcile import (
    ADOPTED_COLUMNS,
    SOURCE,
    Reconciliation,
    Reconciling,
    acknowledged_keys,
    adopt,
    compare,
    differences_frame,
)
from oms_kit.risk import RiskAlert

if TYPE_CHECKING:
    from oms_kit.oms import OMS

log = logging.getLogger("oms_kit")


class Reconciler:
    """Runs the reconciliation of one OMS with its live broker, halts and resumes its trading; see the module
    docstring. ``OMS.open`` makes one for a broker that :class:`Reconciling` describes."""

    def __init__(self, oms: OMS, broker: Reconciling) -> None:
        self.oms = oms
        self.broker = broker
        self.last: Reconciliation | None = None
        self.acknowledged: set[tuple[str, ...]] = set()  # accepted as they stand (this session)
        self.source = ""  # the trading state's source, as last changed
        self._lock = asyncio.Lock()
        self._alerts = 0
        oms.bus.subscribe(self._state_changed, "trading_state")

    def _state_changed(self, event: Any) -> None:
        if isinstance(event, TradingStateChanged):
            self.source = event.source

    @property
    def halted(self) -> bool:
        """Whether trading is halted for the reconciliation."""
        return self.oms.manager.trading_state is TradingState.HALTED and self.source == SOURCE

    def check_trading(self) -> None:
        """Raise :class:`ReconciliationPending` while trading is halted for the reconciliation."""
        if self.halted:
            count = len(self.last.differences) if self.last is not None else 0
            raise ReconciliationPending(
                f"trading is halted until the broker's books and the OMS's agree: {count} difference(s) stand",
                hint="oms.reconciliation.differences lists them; oms.accept_reconciliation(reason) adopts the "
                "broker's side, or resolve them at the broker and await oms.reconcile()")

    async def at_open(self) -> None:
        """The reconciliation of ``OMS.open``: the stored halt is known, and when the broker cannot be reached
        trading stays halted until it answers (the reconnection reconciles)."""
        rows = await self.oms.store.fetch("SELECT source FROM trading_state WHERE account = $1", self.oms.account)
        self.source = str(rows[0]["source"]) if rows else ""
        try:
            await self.run("open")
        except OmsError as exc:
            log.warning("account %s: %s", self.oms.account, exc.message)
            self._halt("the broker could not be reached at the open: its books are not reconciled", 1)
            await self.oms.commit()

    async def after_reconnect(self) -> None:
        """The broker answers again after an outage: what happened meanwhile is reconciled."""
        await self.run("reconnect")

    def summary(self) -> dict[str, Any]:
        """The last reconciliation in brief, for ``OMS.status()``."""
        last = self.last
        return {"ts": last.ts.isoformat() if last else None, "trigger": last.trigger if last else None,
                "ok": last.ok if last else None, "differences": len(last.differences) if last else None,
                "halted": self.halted}

    async def run(self, trigger: str) -> Reconciliation:
        """Reconcile now; halt on differences, resume a halt of the reconciliation's own when none stand."""
        async with self._lock:
            result = await self._reconcile(trigger)
            self._settle(result)
            await self.oms.commit()
            return result

    async def accept(self, reason: str, adopt_broker: bool) -> Reconciliation:
        """Take the broker's side of what differs now (``adopt_broker``), or take the differences as they stand;
        then reconcile again and resume when nothing is left."""
        async with self._lock:
            oms = self.oms
            if oms.day_book is not None:
                await oms.day_book.load_async()
            books = await self.broker.books()
            differences, adopted = compare(oms.manager, self.broker, books, frozenset(self.acknowledged))
            if adopt_broker:
                adopted += adopt(oms.manager, self.broker, books, differences)
            self.acknowledged |= acknowledged_keys(oms.manager, books, differences)
            await oms.commit()
            result = await self._reconcile("accept", adopted)
            if not result.ok:
                self._settle(result)
            elif self.halted:
                self._resume(f"reconciliation accepted: {reason}")
            self.last = result
            await oms.commit()
            return result

    async def _reconcile(self, trigger: str, adopted: list[dict[str, Any]] | None = None) -> Reconciliation:
        # Twice when something differs: a fill may land between the broker's books and the OMS's ledger.
        oms, adopted = self.oms, list(adopted or [])
        if oms.day_book is not None:
            await oms.day_book.load_async()  # the tags of the day's ended orders
        differences: list[dict[str, Any]] = []
        for _ in range(2):
            books = await self.broker.books()
            differences, more = compare(oms.manager, self.broker, books, frozenset(self.acknowledged))
            adopted += more
            if not differences:
                break
        result = Reconciliation(oms.clock.now(), trigger, differences_frame(differences),
                                pd.DataFrame(adopted, columns=ADOPTED_COLUMNS))
        self.last = result
        return result

    def _settle(self, result: Reconciliation) -> None:
        if not result.ok:
            kinds = result.differences["kind"].value_counts().to_dict()
            self._halt("the broker's books differ from the OMS's: " + ", ".join(f"{n} {k}" for k, n in kinds.items()),
                       len(result.differences))
        elif self.halted:
            self._resume("reconciled: the broker's books and the OMS's agree")

    def _halt(self, reason: str, count: int) -> None:
        oms = self.oms
        if oms.manager.trading_state is not TradingState.HALTED:
            oms.monitor.set_state(TradingState.HALTED, reason, SOURCE)
        self._alerts += 1
        oms.monitor.raise_alert(RiskAlert(
            f"A-{oms.account}-reconciliation-{datetime.now(UTC):%H%M%S%f}-{self._alerts}", oms.account,
            oms.clock.now(), "BREACH", SOURCE, None, Decimal(count), Decimal(0), reason))

    def _resume(self, reason: str) -> None:
        self.oms.monitor.set_state(TradingState.ACTIVE, reason, SOURCE)
