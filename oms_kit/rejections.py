"""A strategy's rejected orders, counted for the end-of-run report and the run's stats.

A rejection by the pre-trade checks is counted as it happens (one dict increment per code; accepted orders cost
nothing). The rare rejection after the checks (by the broker, or by the OMS while the database is down) is found
only when the counts are read, and only when the account's count of rejections says there is one to find.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from oms_kit.models import Order, OrderStatus

_REJECTED: Final = OrderStatus.REJECTED


class RejectionTally:
    """Rejections of one strategy's orders, by violation code, with the first one's story."""

    __slots__ = ("_by_check", "_example", "_refused", "_rejected_before", "withdrawn")

    def __init__(self, rejected_before: int) -> None:
        self._rejected_before = rejected_before  # the account's count of rejections when the strategy began
        self._by_check: dict[str, int] = {}
        self._refused = 0
        self._example: str | None = None
        self.withdrawn: set[str] = set()  # cancelled by the strategy before they were sent (REJECTED, not refused)

    def refused(self, order: Order) -> None:
        """Count an order the pre-trade checks refused, under each of its codes."""
        counts = self._by_check
        for violation in order.violations:
            counts[violation.code] = counts.get(violation.code, 0) + 1
        self._refused += 1
        if self._example is None:
            self._example = _describe(order)

    def summary(self, placed: Sequence[Order], rejected_now: int) -> tuple[dict[str, int], int, str | None]:
        """Counts by code (most frequent first), orders rejected, and one example, given the strategy's orders and
        the account's count of rejections now.

        An order refused after its checks counts under the code its reason starts with
        (``PERSISTENCE_UNAVAILABLE``), else ``BROKER_REJECTED``.
        """
        counts = dict(self._by_check)
        rejected, example = self._refused, self._example
        # The account's count covers every rejection: more than the checks' and the withdrawn orders means an order
        # was refused after its checks; only then are the strategy's orders looked through for it.
        if rejected_now - self._rejected_before - rejected - len(self.withdrawn) > 0:
            for order in placed:
                if order.status is _REJECTED and not order.violations and order.order_id not in self.withdrawn:
                    head = (order.reason or "").partition(":")[0]
                    code = head if head.isidentifier() and head.isupper() else "BROKER_REJECTED"
                    counts[code] = counts.get(code, 0) + 1
                    rejected += 1
                    if example is None:
                        example = _describe(order)
        return dict(sorted(counts.items(), key=lambda item: -item[1])), rejected, example


def _describe(order: Order) -> str:
    # One rejected order, as the end-of-run warning shows it: what was asked, then why it was refused.
    return f"{order.side.value} {order.quantity} {order.symbol} {order.order_type.value}: {order.reason}"
