"""What the OMS needs of a broker outside its process (:class:`~oms_kit.broker.kite.KiteBroker`), beyond the
:class:`~oms_kit.broker.base.Broker` protocol: a background task that brings the broker's reports in, and the
exchange's order rate, which becomes a pre-trade limit.

``OMS.open`` runs :meth:`LiveBroker.run` as the task ``oms-kit-broker`` (it ends with the OMS), and caps
``RiskLimits.max_orders_per_second`` at :attr:`LiveBroker.orders_per_second` (:func:`live_limits`), so that an order
past the exchange's rate is REJECTED in the OMS (RATE_LIMIT_EXCEEDED) instead of at the exchange.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from oms_kit.risk import RiskLimits


@runtime_checkable
class LiveBroker(Protocol):
    """A broker whose orders go out of the process; reports arrive later, from a task the OMS runs."""

    live: bool
    orders_per_second: int

    async def run(self, commit: Callable[[], Awaitable[None]]) -> None:
        """Send and follow orders until cancelled; ``commit`` stores what the broker's reports changed."""
        ...


def live_limits(limits: RiskLimits | None, rate: int) -> RiskLimits:
    """``limits`` (``RiskLimits()`` when None) with ``max_orders_per_second`` at most ``rate``, per-symbol
    overrides included: no setting lets more orders out than the exchange takes."""
    limits = limits or RiskLimits()
    current = limits.max_orders_per_second
    per_symbol = {symbol: {**values, "max_orders_per_second": rate}
                  if "max_orders_per_second" in values and (values["max_orders_per_second"] is None
                                                            or values["max_orders_per_second"] > rate)
                  else values for symbol, values in limits.per_symbol.items()}
    capped = rate if current is None or current > rate else current
    if capped == current and per_symbol == limits.per_symbol:
        return limits
    return dataclasses.replace(limits, max_orders_per_second=capped, per_symbol=per_symbol)
