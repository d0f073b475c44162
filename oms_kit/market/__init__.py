"""Market data: bars, clocks and feeds.

- :mod:`~oms_kit.market.bars`: :class:`Bar`, :func:`load_bars` (DataFrame, parquet, csv or DuckDB query),
  :func:`load_quotes`, :func:`iter_bars` (the backtest's per-bar path).
- :mod:`~oms_kit.market.quote`: :class:`Quote`, a bar with bid/ask and up to five levels of depth.
- :mod:`~oms_kit.market.clock`: :class:`Clock`, :class:`LiveClock`, :class:`SimulatedClock`.
- :mod:`~oms_kit.market.feeds`: :class:`RandomWalkFeed`, and the names of :mod:`~oms_kit.market.feed` (what every
  feed shares: :class:`Feed`, :func:`run_feed`) and :mod:`~oms_kit.market.replay` (:class:`ReplayFeed`).
"""

from oms_kit.market.bars import BAR_COLUMNS, Bar, bars_to_frame, iter_bars, load_bars, load_quotes
from oms_kit.market.clock import Clock, LiveClock, SimulatedClock, as_utc
from oms_kit.market.feeds import Feed, RandomWalkFeed, ReplayFeed, run_feed
from oms_kit.market.quote import QUOTE_COLUMNS, Quote

__all__ = [
    "BAR_COLUMNS",
    "QUOTE_COLUMNS",
    "Bar",
    "Clock",
    "Feed",
    "LiveClock",
    "Quote",
    "RandomWalkFeed",
    "ReplayFeed",
    "SimulatedClock",
    "as_utc",
    "bars_to_frame",
    "iter_bars",
    "load_bars",
    "load_quotes",
    "run_feed",
]
