"""One assembly of an account: the order manager with its ledger, validator, broker, limits and exchange session.

``OMS.open`` and ``backtest()`` build the same account from the same arguments here, so a backtest's account and a
paper-trading one cannot drift apart in how they are wired (which validator, which session, which defaults).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, tzinfo
from decimal import Decimal

from oms_kit.broker.base import Broker
from oms_kit.events import EventBus
from oms_kit.instruments import resolve_instruments
from oms_kit.ledger import Ledger
from oms_kit.orders import OrderManager
from oms_kit.risk import RiskLimits
from oms_kit.session import ExchangeSession
from oms_kit.tradable import Instrument
from oms_kit.validator import PreTradeValidator

__all__ = ["assemble_account"]


def assemble_account(
    *,
    account: str,
    cash: Decimal,
    broker: Broker,
    now: Callable[[], datetime],
    instruments: Iterable[Instrument] | None = None,
    limits: RiskLimits | None = None,
    exchange_timezone: str | tzinfo | ExchangeSession = "Asia/Kolkata",
    bus: EventBus | None = None,
) -> OrderManager:
    """An account's order manager, wired: a ledger holding ``cash`` (already parsed: the callers keep the value),
    the default instruments plus ``instruments``, ``limits`` (``RiskLimits()`` by default), every pre-trade check,
    and the exchange session of ``exchange_timezone``. Raises ConfigError naming the argument that is wrong
    (``instruments``, ``exchange_timezone``); nothing is built then."""
    session = ExchangeSession.of(exchange_timezone)
    known = resolve_instruments(instruments)
    return OrderManager(
        account=account,
        broker=broker,
        ledger=Ledger(cash, account),
        instruments=known,
        limits=limits or RiskLimits(),
        bus=bus or EventBus(),
        now=now,
        validator=PreTradeValidator(),
        session=session,
    )
