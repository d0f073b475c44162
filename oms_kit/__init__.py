"""oms_kit: a Jupyter-first order management, risk and paper-trading kit.

>>> import oms_kit as ok
>>> oms = await ok.OMS.open()                    # in-memory DuckDB, mock broker, live random-walk prices
>>> order = await oms.place_order("RELIANCE", "BUY", 10, "LIMIT", price=2500)
"""

import warnings
from typing import Any

from oms_kit import black76, compiled, margin
from oms_kit.backtest import BacktestResult, backtest
from oms_kit.broker.fees import IndiaEquityFees, NoFees
from oms_kit.broker.mock import MockBroker
from oms_kit.compare import compare
from oms_kit.errors import (
    ConfigError,
    DataError,
    InvalidOrderError,
    InvalidTransition,
    OmsError,
    PersistenceUnavailable,
    ReconciliationPending,
    StoreError,
)
from oms_kit.events import (
    Event,
    EventBus,
    OrderFilled,
    OrderUpdated,
    PositionChanged,
    PriceUpdated,
    RiskAlertRaised,
    TradingStateChanged,
)
from oms_kit.instrument_master import Instruments
from oms_kit.market.bars import Bar, load_bars, load_quotes
from oms_kit.market.calendar import NSECalendar
from oms_kit.market.clock import LiveClock, SimulatedClock
from oms_kit.market.feeds import RandomWalkFeed, ReplayFeed
from oms_kit.market.kite_feed import KiteFeed, KiteTokenError
from oms_kit.market.quote import Quote
from oms_kit.market.recorder import FeedRecorder, RecordingFeed
from oms_kit.models import (
    Fill,
    Order,
    OrderStatus,
    OrderType,
    Position,
    Product,
    Side,
    TradingState,
    Validity,
    Variety,
    Violation,
)
from oms_kit.oms import OMS
from oms_kit.orders import OrderModifyRejected
from oms_kit.paper import PaperTrader, paper_trade
from oms_kit.reconcile import Reconciliation
from oms_kit.request import OrderRequest
from oms_kit.risk import RiskLimits
from oms_kit.search import OptunaSearch
from oms_kit.session import ExchangeSession
from oms_kit.shadow import Shadow, shadow
from oms_kit.strategy import Strategy, StrategyContext
from oms_kit.sweep import sweep
from oms_kit.sync import SyncOMS, open_sync
from oms_kit.tradable import Instrument
from oms_kit.walkforward import walk_forward
from oms_kit.walkforward_result import WalkForwardResult

if compiled.stale():
    # A compiled module runs its build, not its source: an edit would seem to do nothing.
    warnings.warn(f"oms_kit: {', '.join(compiled.stale())} changed after they were compiled and run as built; "
                  "build again (./run.sh setup, or pip install -e .) or install pure Python (OMS_KIT_PURE_PYTHON=1)",
                  stacklevel=2)

# The client (``ok.connect``) is loaded on first use: it brings httpx and websockets, a tenth of a second and
# thousands of objects that every later full collection of the garbage collector would walk in a backtest too.
_CLIENT_NAMES = frozenset({"RemoteError", "connect", "connect_sync"})


def __getattr__(name: str) -> Any:
    if name in _CLIENT_NAMES:
        from oms_kit import client

        return getattr(client, name)
    if name == "KiteBroker":  # loaded on first use too: kiteconnect brings requests and twisted, a fifth of a second
        from oms_kit.broker.kite import KiteBroker

        return KiteBroker
    raise AttributeError(f"module 'oms_kit' has no attribute {name!r}")

__all__ = [
    "OMS",
    "BacktestResult",
    "Bar",
    "ConfigError",
    "DataError",
    "Event",
    "EventBus",
    "ExchangeSession",
    "FeedRecorder",
    "Fill",
    "IndiaEquityFees",
    "Instrument",
    "Instruments",
    "InvalidOrderError",
    "InvalidTransition",
    "KiteBroker",
    "KiteFeed",
    "KiteTokenError",
    "LiveClock",
    "MockBroker",
    "NSECalendar",
    "NoFees",
    "OmsError",
    "OptunaSearch",
    "Order",
    "OrderFilled",
    "OrderModifyRejected",
    "OrderRequest",
    "OrderStatus",
    "OrderType",
    "OrderUpdated",
    "PaperTrader",
    "PersistenceUnavailable",
    "Position",
    "PositionChanged",
    "PriceUpdated",
    "Product",
    "Quote",
    "RandomWalkFeed",
    "Reconciliation",
    "ReconciliationPending",
    "RecordingFeed",
    "RemoteError",
    "ReplayFeed",
    "RiskAlertRaised",
    "RiskLimits",
    "Shadow",
    "Side",
    "SimulatedClock",
    "StoreError",
    "Strategy",
    "StrategyContext",
    "SyncOMS",
    "TradingState",
    "TradingStateChanged",
    "Validity",
    "Variety",
    "Violation",
    "WalkForwardResult",
    "backtest",
    "black76",
    "compare",
    "compiled",
    "connect",
    "connect_sync",
    "load_bars",
    "load_quotes",
    "margin",
    "open_sync",
    "paper_trade",
    "shadow",
    "sweep",
    "walk_forward",
]
