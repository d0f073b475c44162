"""Matching on a quote's book: what :class:`~oms_kit.broker.mock.MockBroker` does with a
:class:`~oms_kit.market.quote.Quote` instead of a bar's range.

An order that executes takes the opposite side (a BUY the asks, a SELL the bids) and walks it level by level, best
first: one fill per level, at that level's price, of as much as the level still has, until the order is filled, the
book is used up or the next level is priced beyond the order's limit (a LIMIT's price, a triggered SL's price, a
protected market order's protection price; a plain market order has none). What a fill takes is gone from the
level for the rest of that quote: a second order on the same quote finds only what the first left, as on an
exchange. The next quote of the symbol brings a fresh book.

``participation`` (a fraction) makes only that share of each displayed level available, rounded down to a whole
unit: a strategy's orders do not take the whole book.

Slippage and the bar spread model do not apply on top: the book's prices are the real ask and bid, and walking
several levels is the price impact that ``slippage_bps`` stands in for on bars.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oms_kit.market.quote import Quote

__all__ = ["QuoteBook", "walk"]


class QuoteBook:
    """What is left of one quote's book for orders to take: per side a list of ``[price, quantity]`` levels, best
    first, whose quantities shrink as orders fill against them.

    Parameters
    ----------
    quote : Quote
    participation : float or None
        The share of each displayed level that orders may take (None: all of it).
    """

    __slots__ = ("asks", "bids", "last")

    def __init__(self, quote: Quote, participation: float | None) -> None:
        self.last: float = quote.close
        self.bids: list[list[float]] = _available(quote.bids, participation)
        self.asks: list[list[float]] = _available(quote.asks, participation)

    def side(self, buy: bool) -> list[list[float]]:
        """The levels an order takes: the asks for a BUY, the bids for a SELL."""
        return self.asks if buy else self.bids


def _available(levels: tuple[tuple[float, int], ...], participation: float | None) -> list[list[float]]:
    if participation is None:
        return [[price, quantity] for price, quantity in levels]
    return [[price, int(quantity * participation)] for price, quantity in levels]


def walk(
    levels: list[list[float]],
    buy: bool,
    limit: Decimal | None,
    remaining: int,
    round_price: Callable[[float], Decimal],
    fill: Callable[[int, Decimal], int],
) -> bool:
    """Fill up to ``remaining`` units against ``levels``, best first, one ``fill(quantity, price)`` per level.

    ``round_price`` puts a level's price on the instrument's tick; ``limit`` is the worst price the order takes
    (None: any). ``fill`` reports the fill and returns how much of the order may still trade (0 when it is filled
    or a report took it off the book: a cancel on the fill, say). A level is used up only once its fill was
    reported: a fill that raises (a fee model refusing the date) leaves the level as it was.

    Returns True when the walk stopped at a level priced beyond ``limit`` with the order not filled.
    """
    for level in levels:
        price = round_price(level[0])
        if limit is not None and (price > limit if buy else price < limit):
            return True
        available = int(level[1])
        if available <= 0:
            continue
        quantity = min(remaining, available)
        remaining = fill(quantity, price)
        level[1] = available - quantity
        if remaining <= 0:
            return False
    return False
