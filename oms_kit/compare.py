"""Compare two runs of a strategy fill by fill: a backtest against a paper run (or another backtest), or a shadow
against the live OMS it mirrored (:mod:`oms_kit.shadow`).

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

__all__ = ["COMPARE_COLUMNS", "compare", "compare_columns"]

DEFAULT_LABELS = ("backtest", "paper")
MAX_LABEL = 40


def compare_columns(labels: tuple[str, str] = DEFAULT_LABELS) -> list[str]:
    """The columns :func:`compare` gives for runs named ``labels`` (``quantity_<label>``, ``price_<label>``, ...)."""
    a, b = labels
    return ["symbol", "side", "order_number", "fill_number", "status", f"quantity_{a}", f"quantity_{b}",
            f"price_{a}", f"price_{b}", "price_difference", f"ts_{a}", f"ts_{b}", "delay"]


COMPARE_COLUMNS = compare_columns()


def compare(backtest: Any, paper: Any, *, price_tolerance: float | Decimal = 0,
            time_tolerance: timedelta | None = timedelta(0), labels: tuple[str, str] | None = None) -> pd.DataFrame:
    """Where a paper run drifted from a backtest, fill by fill (or a live OMS from its shadow).

    Parameters
    ----------
    backtest : BacktestResult, Shadow, PaperTrader or OMS
        The reference run.
    paper : OMS, PaperTrader or BacktestResult
        The run to check. For an OMS every order of its account counts, so trade it with this strategy alone;
        against a :class:`~oms_kit.shadow.Shadow`, its live OMS counts only the orders the shadow mirrored.
    price_tolerance : number
        Prices that differ by at most this much count as equal.
    time_tolerance : timedelta or None
        Fill times that differ by at most this much count as equal; None ignores time (a paper run on the wall
        clock).
    labels : (str, str), optional
        The two runs' names in the columns and statuses: ``("backtest", "paper")`` by default, ``("shadow",
        "live")`` when ``backtest`` is a shadow.

    Returns
    -------
    pandas.DataFrame
        One row per fill of either run, columns :func:`compare_columns` of the labels (:data:`COMPARE_COLUMNS` by
        default). ``status`` is ``same``, ``price``, ``time``, ``quantity`` (what differs first, in that order of
        importance: quantity, price, time), ``missing in paper`` or ``missing in backtest`` (with the labels).
        ``order_number`` counts the strategy's orders per symbol and side from 0; ``delay`` is paper time minus
        backtest time and ``price_difference`` paper price minus backtest price.

    Raises
    ------
    ConfigError
        ``backtest`` or ``paper`` is not a run (a BacktestResult, a PaperTrader, an OMS, a Shadow), or ``labels``
        is not two different names.
    """
    first, second = _labels(backtest, labels)
    reference = _run_of(backtest, "backtest")
    other = _run_of(paper, "paper")
    counterpart = getattr(backtest, "counterpart_run", None)
    if callable(counterpart):  # a shadow narrows its live OMS to the orders it mirrored
        other = counterpart(paper, *other)
    tolerance = Decimal(str(price_tolerance))
    left, right = _keyed_fills(*reference), _keyed_fills(*other)
    rows = []
    # By time, then by the key: fills at one time (a market order walking the book) keep their order whatever the
    # set's iteration order, which follows the string hashes and so changes from process to process.
    for key in sorted(set(left) | set(right), key=lambda k: (_first_time(left.get(k), right.get(k)), k)):
        a, b = left.get(key), right.get(key)
        symbol, side, order_number, fill_number = key
        row: dict[str, Any] = {"symbol": symbol, "side": side, "order_number": order_number,
                               "fill_number": fill_number}
        if a is not None:
            row.update({f"quantity_{first}": a.quantity, f"price_{first}": a.price, f"ts_{first}": a.ts})
        if b is not None:
            row.update({f"quantity_{second}": b.quantity, f"price_{second}": b.price, f"ts_{second}": b.ts})
        if a is None:
            row["status"] = f"missing in {first}"
        elif b is None:
            row["status"] = f"missing in {second}"
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
    return pd.DataFrame(rows, columns=compare_columns((first, second)))


def _labels(reference: Any, labels: object) -> tuple[str, str]:
    # The given names, checked; else the reference run's own (a shadow's), else the backtest's and paper's.
    if labels is None:
        own = getattr(reference, "compare_labels", None)
        return own if isinstance(own, tuple) else DEFAULT_LABELS
    allowed = (f"two different names (tuple or list of str), each 1 to {MAX_LABEL} letters, digits or "
               "underscores and not 'difference', e.g. ('shadow', 'live')")
    if not isinstance(labels, tuple | list) or len(labels) != 2:
        raise ConfigError("labels", labels, allowed)
    a, b = labels
    for name in (a, b):
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_LABEL or not name.replace("_", "a").isalnum() \
                or not name.isascii() or name == "difference":  # price_difference is a column already
            raise ConfigError("labels", labels, allowed)
    if a == b:
        raise ConfigError("labels", labels, allowed)
    return a, b


def _run_of(run: Any, label: str) -> tuple[list[Order], list[Fill]]:
    # (orders in placement order, fills in time order) of a BacktestResult, PaperTrader, OMS or Shadow.
    compare_run = getattr(run, "compare_run", None)
    if callable(compare_run):
        return compare_run()  # type: ignore[no-any-return]
    runner = getattr(run, "runner", None)
    if runner is not None and hasattr(runner, "placed"):
        own = runner.own
        return list(runner.placed), [f for f in runner.manager.trades if f.order_id in own]
    manager = getattr(run, "manager", None)
    if manager is not None and hasattr(manager, "orders") and hasattr(manager, "trades"):
        return list(manager.orders.values()), list(manager.trades)
    raise ConfigError(label, type(run).__name__, "a BacktestResult, a PaperTrader, an OMS or a Shadow")


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
