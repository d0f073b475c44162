"""The reconciliation of the OMS facade with a live broker: its orders, trades and positions against the OMS's.

A part of :class:`~oms_kit.oms.OMS` (it inherits these methods), kept in a module of its own: the comparison and the
adoption are :mod:`oms_kit.reconcile`'s, the OMS's reconciler (when it runs, the halt and the resumption) is
:mod:`oms_kit.reconciler`'s, which ``OMS.open`` makes for a live broker; here are only the facade's ways in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from oms_kit.errors import ConfigError, OmsError
from oms_kit.orders import MAX_REASON
from oms_kit.parsing import parse_text
from oms_kit.reconcile import Reconciliation

if TYPE_CHECKING:
    from oms_kit.reconciler import Reconciler

__all__ = ["LiveReconciliation"]


class LiveReconciliation:
    """Reconciliation with a live broker on the OMS (see the module docstring)."""

    if TYPE_CHECKING:  # what the OMS provides
        reconciler: Reconciler | None

        def check_writable(self) -> None: ...

    async def reconcile(self) -> Reconciliation:
        """Set the live broker's orders, trades and positions against the OMS's now (``OMS.open`` and every
        reconnection do so by themselves): what matches is adopted, what differs is listed in the result's
        ``differences``, halts trading (source ``reconciliation``) and raises an alert; nothing differing resumes a
        halt of the reconciliation's own. README, "Reconciliation". Raises OmsError without a live broker or when
        the broker cannot be reached."""
        self.check_writable()
        return await self._reconciler().run("user")

    async def accept_reconciliation(self, reason: str, *, adopt: bool = True) -> Reconciliation:
        """Accept what differs from the broker now and resume trading: with ``adopt`` the broker's side is taken
        into the OMS (its unknown orders become OMS orders with their trades, orders it does not have are
        cancelled, positions still differing are adjusted at its average price); without, the differences are
        taken as they stand (not listed again in this session). Returns the reconciliation made afterwards; trading
        resumes when it is ok. Raises OmsError, changing nothing, when a difference cannot be adopted."""
        self.check_writable()
        reason = parse_text(reason, "reason", MAX_REASON)
        if not isinstance(adopt, bool):
            raise ConfigError("adopt", adopt, "True (take the broker's side) or False (take the differences as they "
                              "stand)")
        return await self._reconciler().accept(reason, adopt)

    @property
    def reconciliation(self) -> Reconciliation | None:
        """The last reconciliation with the live broker (None without one)."""
        return self.reconciler.last if self.reconciler is not None else None

    def _reconciler(self) -> Reconciler:
        if self.reconciler is None:
            raise OmsError("reconciliation needs a live broker", hint="OMS.open(broker=ok.KiteBroker(..., live=True))")
        return self.reconciler
