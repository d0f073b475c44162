"""Compare two runs of a strategy fill by fill: a backtest against a paper run (or another backtest).

Orders are paired by what the strategy asked for — the n-th order for a (symbol, side) in one run with the n-th
for the same (symbol, side) in the other — and their fills in order, so one missing fill does not shift every
pairing after it. Order ids differ between runs and are not compared.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pandas as pd

from oms_kit.errors import ConfigError
from oms_kit.models import Fill, Order

__all__ = ["COMPARE_COLUMNS", "compare"]

COMPARE_COLUMNS = [
    "symbol", "side", "order_number", "fill_number", "status", "quantity_backtest", "quantity_paper",
    "price_backtest", "price_paper", "price_difference", "ts_backtest", "ts_paper", "delay",
]


def compare(backtest: Any, paper: Any, *, price_tolerance: float | Decimal = 0,
            time_tolerance: timedelta | None = timedelta(0)) -> pd.DataFrame:
    """Where a paper run drifted from a backtest, fill by fill.

    Parameters
    ----------
    backtest : BacktestResult
        The reference run.
    paper : OMS, PaperTrader or BacktestResult
        The run to check. For an OMS every order of its account counts, so trade it with this strategy alone.
    price_tolerance : number
        Prices that differ by at most this much count as equal.
    time_tolerance : timedelta or None
        Fill times that differ by at most this much count as equal; None ignores time (a paper run on the wall
        clock).

    Returns
    -------
    pandas.DataFrame
        One row per fill of either run, columns :data:`COMPARE_COLUMNS`. ``status`` is ``same``, ``price``,
        ``time``, ``quantity`` (what differs first, in that order of importance: quantity, price, time),
        ``missing in paper`` or ``missing in backtest``. ``order_number`` counts the strategy's orders per symbol
        and side from 0; ``delay`` is paper time minus backtest time.

    Raises
    ------
    ConfigError
        ``backtest`` or ``paper`` is not a BacktestResult, a PaperTrader or an OMS.
    """
    reference = _run_of(backtest, "backtest")
    other = _run_of(paper, "paper")
    tolerance = Decimal(str(price_tolerance))
    left, right = _keyed_fills(*reference), _keyed_fills(*other)
    rows = []
    for key in sorted(set(left) | set(right), key=lambda k: _first_time(left.get(k), right.get(k))):
        a, b = left.get(key), right.get(key)
        symbol, side, order_number, fill_number = key
        row: dict[str, Any] = {"symbol": symbol, "side": side, "order_number": order_number,
                               "fill_number": fill_number}
        if a is not None:
            row.update(quantity_backtest=a.quantity, price_backtest=a.price, ts_backtest=a.ts)
        if b is not None:
            row.update(quantity_paper=b.quantity, price_paper=b.price, ts_paper=b.ts)
        if a is None:
            row["status"] = "missing in backtest"
        elif b is None:
            row["status"] = "missing in paper"
        else:
            row["price_difference"] = b.price - a.price
            row["delay"] = b.ts - a.ts if a.ts is not None and b.ts is not None else None
            if a.quantity != b.quantity:
                row["status"] = "quantity"
            elif abs(b.price - a.price) > tolerance:
                row["status"] = "price"
            elif time_tolerance is not None and (a.ts is None or b.ts is None or abs(b.ts - a.ts) > time_tolerance):
                row["status"] = "time"
            else:
                row["status"] = "same"
        rows.append(row)
    return pd.DataFrame(rows, columns=COMPARE_COLUMNS)


def _run_of(run: Any, label: str) -> tuple[list[Order], list[Fill]]:
    # (orders in placement order, fills in time order) of a BacktestResult, PaperTrader or OMS.
    runner = getattr(run, "runner", None)
    if runner is not None and hasattr(runner, "placed"):
        own = runner.own
        return list(runner.placed), [f for f in runner.manager.trades if f.order_id in own]
    manager = getattr(run, "manager", None)
    if manager is not None and hasattr(manager, "orders") and hasattr(manager, "trades"):
        return list(manager.orders.values()), list(manager.trades)
    raise ConfigError(label, type(run).__name__, "a BacktestResult, a PaperTrader or an OMS")


def _keyed_fills(orders: list[Order], fills: list[Fill]) -> dict[tuple[str, str, int, int], Fill]:
    ordinal: dict[tuple[str, str], int] = {}
    order_key: dict[str, tuple[str, str, int]] = {}
    for order in orders:
        pair = (order.symbol, order.side.value)
        number = ordinal.get(pair, 0)
        ordinal[pair] = number + 1
        order_key[order.order_id] = (*pair, number)
    keyed: dict[tuple[str, str, int, int], Fill] = {}
    counts: dict[str, int] = {}
    for fill in fills:
        base = order_key.get(fill.order_id)
        if base is None:
            continue  # a fill of an order this run's strategy did not place
        number = counts.get(fill.order_id, 0)
        counts[fill.order_id] = number + 1
        keyed[(*base, number)] = fill
    return keyed


def _first_time(a: Fill | None, b: Fill | None) -> Any:
    times = [f.ts for f in (a, b) if f is not None and f.ts is not None]
    return min(times) if times else pd.Timestamp.max.tz_localize("UTC")
