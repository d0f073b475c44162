"""Quote tables: the columns of a quote recording made into a bar table with the book beside it, and its checks.

:func:`~oms_kit.market.bars.load_bars` and :func:`~oms_kit.market.bars.load_quotes` call these when a table has
depth columns (:data:`~oms_kit.market.quote.DEPTH_COLUMNS`); the rules are those of
:class:`~oms_kit.market.quote.Quote`, checked a column at a time.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from oms_kit.errors import DataError
from oms_kit.market.frame_checks import columns_error, refuse, to_float
from oms_kit.market.quote import DEPTH, DEPTH_COLUMNS, depth_problem

__all__ = ["check_quotes", "is_quote_table", "prepare_quote_columns"]

PRICE_COLUMNS = ("open", "high", "low", "close")
DEPTH_NAME = re.compile(r"^(bid|ask)_(price|qty)_\d+$")  # a depth column, of any level: more than 5 is refused
_LEVEL_ONE = ("bid_price_1", "bid_qty_1", "ask_price_1", "ask_qty_1")
_COLUMNS_ALLOWED = (f"timestamp, symbol, last, optionally volume, and depth columns bid_price_1 … bid_price_{DEPTH}, "
                    f"bid_qty_1 …, ask_price_1 …, ask_qty_1 … (a level's price and quantity together)")


def is_quote_table(frame: pd.DataFrame) -> bool:
    """Whether ``frame`` has a depth column (of any level): then it is loaded and checked as quotes."""
    return "bid_price_1" in frame.columns or any(DEPTH_NAME.match(str(c)) for c in frame.columns)


def prepare_quote_columns(frame: pd.DataFrame) -> None:
    """Give a quote table the bar columns (open, high, low, close from ``last``) and every depth column, in place;
    refuse depth columns beyond the fifth level, half a level, or no depth at all."""
    columns = list(frame.columns)
    beyond = [c for c in columns if DEPTH_NAME.match(c) and c not in DEPTH_COLUMNS]
    if beyond:
        raise DataError("quote columns", beyond,
                        f"depth columns of levels 1 to {DEPTH} (bid_price_1 … ask_qty_{DEPTH})")
    given = [c for c in DEPTH_COLUMNS if c in frame.columns]
    if not given:
        raise columns_error(list(_LEVEL_ONE), columns, "a quote table has depth columns: bid_price_1, bid_qty_1, "
                            "ask_price_1, ask_qty_1 and so on to level 5", table="quote", allowed=_COLUMNS_ALLOWED)
    for column in given:
        side, what, level = column.split("_")
        pair = f"{side}_{'qty' if what == 'price' else 'price'}_{level}"
        if pair not in frame.columns:
            raise columns_error([pair], columns, f"a level has a price and a quantity column: {column} needs {pair}",
                                table="quote", allowed=_COLUMNS_ALLOWED)
    for column in DEPTH_COLUMNS:
        if column not in frame.columns:
            frame[column] = math.nan
    if "last" in frame.columns:
        ranged = [c for c in PRICE_COLUMNS if c in frame.columns]
        if ranged:
            raise DataError("quote columns", ranged, "last alone: a quote has one price, its open, high, low and "
                            "close", hint="drop the open, high, low and close columns, or the last column")
        for column in PRICE_COLUMNS:
            frame[column] = frame["last"]
        del frame["last"]
    elif "close" in frame.columns:  # a loaded quote table, loaded again: its price is in the bar columns
        for column in PRICE_COLUMNS[:3]:
            if column not in frame.columns:
                frame[column] = frame["close"]
    else:
        raise columns_error(["last"], columns, "a quote table has the last traded price in a column named last",
                            table="quote", allowed=_COLUMNS_ALLOWED)


def check_quotes(frame: pd.DataFrame, convert: bool = True) -> None:
    """Refuse a quote whose prices differ (a quote has one) or whose book breaks a rule; ``convert``: the depth
    columns become float64 in place (a loaded table's already are, and a caller's frame is not written to)."""
    closes = frame["close"].to_numpy()
    for column in PRICE_COLUMNS[:3]:
        bad = frame[column].to_numpy() != closes
        if bad.any():
            raise refuse(frame, bad, column, "the quote's last price (close): a quote has one price",
                         "a table with a range per row is a bar table: leave out the depth columns")
    arrays, unreadable, originals = {}, {}, {}
    for column in DEPTH_COLUMNS:
        originals[column] = given = frame[column]
        arrays[column] = values = to_float(given)
        if not pd.api.types.is_float_dtype(given):
            unreadable[column] = np.isnan(values) & given.notna().to_numpy()
        if convert:
            frame[column] = values
    problem = depth_problem(arrays, unreadable)
    if problem is not None:
        column, bad, allowed = problem
        raise refuse(frame, bad, column, allowed, "fix or drop the rows; an empty level has neither price nor "
                     "quantity", source=originals[column])
