"""Positions and P&L of one account: netting per symbol and product, average price, realized and unrealized P&L.

The ledger is a broker's day position book in memory. Fills come in (:meth:`Ledger.apply_fill`), marks come in
(:meth:`Ledger.mark`), and the book answers what is held, what it is worth and what it has made. It is pure: no
I/O, no clock (times arrive with fills and marks), no logging, no pandas on the fill path, because a backtest pushes
tens of thousands of fills a second through :meth:`Ledger.apply_fill`.

Accounting
----------
- A position is netted per ``(symbol, product)``; the same symbol held as CNC and MIS is two positions.
- Adding to a position moves its average price (kept to at most 8 decimal places, like the store's columns).
- Reducing realizes ``(fill price - average price) * closed quantity``, sign included (a short gains when the price
  falls); the average of what is left does not change.
- A fill through zero closes the old side (realizing) and opens the rest at the fill price.
- A flat position stays in the book with its realized P&L and fees, as a broker's day position book shows it.
- Cash is simple cash accounting: a buy spends ``quantity * price``, a sell receives it, fees are paid from cash.
  Margin is the validator's business, not the ledger's.

With these rules ``cash + sum(quantity * mark) - starting cash == realized + unrealized - fees`` holds exactly,
up to the rounding of the average price to 8 places (at most half of 1e-8 per unit held, per fill that adds to a
position).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Final, NamedTuple

from oms_kit.errors import ConfigError, InvalidOrderError
from oms_kit.models import Fill, Position, Product, Side
from oms_kit.parsing import parse_price

if TYPE_CHECKING:
    import pandas

__all__ = ["Ledger", "SquareOff"]

_AVERAGE_PLACES: Final = Decimal("1E-8")
_ZERO: Final = Decimal(0)
_CNC: Final = Product.CNC
_BUY: Final = Side.BUY


class SquareOff(NamedTuple):
    """One order that would flatten an open position: ``(symbol, product, side, quantity)``."""

    symbol: str
    product: Product
    side: Side
    quantity: int


def _money(value: Decimal | int | float | str, field_name: str) -> Decimal:
    # Cash may be negative (a short sale's proceeds are cash, a loss can exceed it), so parse_price does not fit.
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise ConfigError(field_name, value, "a finite number")
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except ArithmeticError:
        raise ConfigError(field_name, value, "a finite number") from None
    if not amount.is_finite():
        raise ConfigError(field_name, value, "a finite number")
    return amount


class Ledger:
    """Positions, cash and P&L of one account.

    Parameters
    ----------
    cash
        Starting cash in rupees; ints, floats and strings are converted exactly (floats through ``str``).
    account
        The account whose fills this ledger books; a fill of another account is refused.

    Raises
    ------
    ConfigError
        If ``cash`` is not a finite number.

    Examples
    --------
    >>> from decimal import Decimal
    >>> from oms_kit.models import Fill, Side, Product
    >>> ledger = Ledger(Decimal(100_000))
    >>> _ = ledger.apply_fill(Fill("T-1", "O-1", "SBIN", Side.BUY, 10, Decimal("800"), product=Product.MIS))
    >>> ledger.mark("SBIN", Decimal("810"))
    >>> ledger.unrealized_pnl()
    Decimal('100')
    """

    __slots__ = (
        "_by_symbol",
        "_cost",
        "_delivery_gross",
        "_dirty",
        "_fees",
        "_gross",
        "_market_value",
        "_marks",
        "_net",
        "_positions",
        "_realized",
        "_symbol_totals",
        "_trade_ids",
        "account",
        "cash",
        "day_base",
    )

    def __init__(self, cash: Decimal | int | float | str, account: str = "default") -> None:
        self.account: str = account
        self.cash: Decimal = _money(cash, "cash")
        self._positions: dict[tuple[str, Product], Position] = {}
        # The same Position objects again, per symbol: marks and net quantity touch only that symbol's products.
        self._by_symbol: dict[str, list[Position]] = {}
        # Latest mark per symbol, so a position opened after the mark starts marked.
        self._marks: dict[str, Decimal] = {}
        self._trade_ids: set[str] = set()
        self._net: dict[str, int] = {}  # signed quantity per symbol, all products
        # Totals over the book for the reads the pre-trade checks make on every order (day P&L, gross exposure,
        # equity), so those do not walk the whole book each time. Realized P&L and fees are running sums. Values
        # move with every fill and every mark, so apply_fill and mark only note the symbol as dirty (a set add) and
        # the next read recounts just the dirty symbols. Decimal sums are exact: the totals never drift from a full
        # recount (a property test holds them to it).
        self._realized = _ZERO  # sum of realized_pnl
        # Realized + unrealized - fees when the day began (start_day): what day_pnl() counts from. Set it to go on
        # with a day begun earlier (as stored before a restart).
        self.day_base: Decimal = _ZERO
        self._fees = _ZERO  # sum of fees
        self._dirty: set[str] = set()
        # symbol: (cost, value, gross, gross of its CNC positions)
        self._symbol_totals: dict[str, tuple[Decimal, Decimal, Decimal, Decimal]] = {}
        self._cost = _ZERO  # sum of quantity * average_price
        self._market_value = _ZERO  # sum of quantity * (last_price, or average_price when unmarked)
        self._gross = _ZERO  # sum of |quantity| * (last_price, or average_price when unmarked)
        self._delivery_gross = _ZERO  # the same over CNC positions: the margin they block is their whole value

    def __repr__(self) -> str:
        open_count = sum(1 for p in self._positions.values() if p.quantity)
        return (
            f"<Ledger {self.account} cash {self.cash} positions {len(self._positions)} ({open_count} open) "
            f"trades {len(self._trade_ids)}>"
        )

    # -- writes --------------------------------------------------------------------------------------------------

    def apply_fill(self, fill: Fill) -> Position:
        """Book one fill: update its position and cash.

        Parameters
        ----------
        fill
            The execution; ``fill.fees`` (from the broker's fee model) is charged to the position and to cash.

        Returns
        -------
        Position
            The position of ``(fill.symbol, fill.product)`` after the fill. It is the ledger's live object:
            copy it (``dataclasses.replace``) before handing it to code that keeps it, such as an event.

        Raises
        ------
        ConfigError
            If the fill belongs to another account.

        Notes
        -----
        Idempotent: a fill whose ``trade_id`` was booked before (a broker's replay, a retry after a reconnect) is
        ignored and the position is returned unchanged.
        """
        key = (fill.symbol, fill.product)
        position = self._positions.get(key)
        if fill.trade_id in self._trade_ids:
            return position if position is not None else Position(fill.symbol, fill.product, self.account)
        if fill.account != self.account:
            raise ConfigError(
                "account", fill.account, repr(self.account), hint="a ledger books one account's fills"
            )
        if position is None:
            position = Position(fill.symbol, fill.product, self.account, last_price=self._marks.get(fill.symbol))
            self._positions[key] = position
            self._by_symbol.setdefault(fill.symbol, []).append(position)
        self._trade_ids.add(fill.trade_id)

        price = fill.price
        quantity = fill.quantity
        if fill.side is _BUY:
            signed = quantity
            position.bought_quantity += quantity
        else:
            signed = -quantity
            position.sold_quantity += quantity
        old = position.quantity
        old_average = average = position.average_price
        new = old + signed
        if old == 0:
            average = price
        elif (old > 0) == (signed > 0):
            # Adding: the average moves toward the fill price, weighted by quantity.
            average = (old_average * old + price * signed) / new
            if average.as_tuple().exponent < -8:  # type: ignore[operator]  # finite, so the exponent is an int
                average = average.quantize(_AVERAGE_PLACES, rounding=ROUND_HALF_EVEN)
        elif new == 0 or (new > 0) == (old > 0):
            # Reducing or closing: -signed units of the old side close at the fill price; the rest keep their average.
            realized = (price - old_average) * -signed
            position.realized_pnl += realized
            self._realized += realized
            if new == 0:
                average = _ZERO
        else:
            # Through zero: all of the old side closes, the rest opens a new position at the fill price.
            realized = (price - old_average) * old
            position.realized_pnl += realized
            self._realized += realized
            average = price
        position.quantity = new
        position.average_price = average
        self._net[fill.symbol] = self._net.get(fill.symbol, 0) + signed
        self._dirty.add(fill.symbol)  # its value totals are recounted on the next read
        fees = fill.fees
        if fees:
            position.fees += fees
            self._fees += fees
        self.cash -= price * signed + fees
        if fill.ts is not None:
            position.updated_at = fill.ts
        return position

    def mark(self, symbol: str, price: Decimal, ts: datetime | None = None) -> None:
        """Mark every product's position in ``symbol`` to ``price``.

        Parameters
        ----------
        symbol
            The symbol; a mark for a symbol not yet held is kept for positions opened later.
        price
            The latest price, exact (convert market data with :meth:`Instrument.round_price` first).
        ts
            When the price was seen; sets ``updated_at`` of the marked positions when given.

        Raises
        ------
        InvalidOrderError
            If ``price`` is not a positive finite number.
        """
        if type(price) is not Decimal or not price.is_finite() or price <= 0:
            # A float here would only fail later, deep in a P&L sum; refuse or convert at the door instead.
            price = parse_price(price, "price")
        self._marks[symbol] = price
        held = self._by_symbol.get(symbol)
        if not held:
            return
        self._dirty.add(symbol)
        for position in held:
            position.last_price = price
            if ts is not None:
                position.updated_at = ts

    def restore(
        self, positions: Iterable[Position], cash: Decimal | int | float | str, trade_ids: Iterable[str] = ()
    ) -> None:
        """Replace the ledger's state with stored state, e.g. when an OMS reopens on a durable store.

        Parameters
        ----------
        positions
            The account's positions as stored (flat ones included); they are copied, not shared.
        cash
            The account's cash.
        trade_ids
            Trade ids already booked, so a broker replaying them after the restart does not book them twice.

        Raises
        ------
        ConfigError
            If ``cash`` is not a finite number, a position belongs to another account or two positions share a
            symbol and product.
        """
        cash_amount = _money(cash, "cash")
        by_key: dict[tuple[str, Product], Position] = {}
        for stored in positions:
            if stored.account != self.account:
                raise ConfigError(
                    "account",
                    stored.account,
                    repr(self.account),
                    hint=f"position {stored.symbol}/{stored.product} is not this ledger's",
                )
            key = (stored.symbol, stored.product)
            if key in by_key:
                raise ConfigError(
                    "positions",
                    stored,
                    "one position per symbol and product",
                    hint=f"{stored.symbol}/{stored.product} appears twice",
                )
            by_key[key] = dataclasses.replace(stored)
        self.cash = cash_amount
        self._positions = by_key
        self._by_symbol = {}
        self._marks = {}
        for position in by_key.values():
            self._by_symbol.setdefault(position.symbol, []).append(position)
            if position.last_price is not None:
                self._marks[position.symbol] = position.last_price
        self._trade_ids = set(trade_ids)
        self._recount()

    def _recount(self) -> None:
        # Every total from scratch (after restore).
        self._realized = sum((p.realized_pnl for p in self._positions.values()), _ZERO)
        self._fees = sum((p.fees for p in self._positions.values()), _ZERO)
        self._symbol_totals = {}
        self._cost = self._market_value = self._gross = self._delivery_gross = _ZERO
        self._net = {}
        for p in self._positions.values():
            self._net[p.symbol] = self._net.get(p.symbol, 0) + p.quantity
        self._dirty = set(self._by_symbol)
        self._refresh()

    def _refresh(self) -> None:
        # Recount the value totals of the symbols touched since the last read.
        totals = self._symbol_totals
        cost, market_value, gross, delivery = self._cost, self._market_value, self._gross, self._delivery_gross
        for symbol in self._dirty:
            symbol_cost = symbol_value = symbol_gross = symbol_delivery = _ZERO
            for p in self._by_symbol[symbol]:
                quantity = p.quantity
                if quantity:
                    average = p.average_price
                    value = quantity * (average if p.last_price is None else p.last_price)
                    symbol_cost += quantity * average
                    symbol_value += value
                    size = abs(value)
                    symbol_gross += size
                    if p.product is _CNC:
                        symbol_delivery += size
            old = totals.get(symbol)
            if old is not None:
                cost -= old[0]
                market_value -= old[1]
                gross -= old[2]
                delivery -= old[3]
            totals[symbol] = (symbol_cost, symbol_value, symbol_gross, symbol_delivery)
            cost += symbol_cost
            market_value += symbol_value
            gross += symbol_gross
            delivery += symbol_delivery
        self._cost, self._market_value, self._gross, self._delivery_gross = cost, market_value, gross, delivery
        self._dirty.clear()

    # -- reads ---------------------------------------------------------------------------------------------------

    @property
    def positions(self) -> tuple[Position, ...]:
        """Every position in the book, flat ones included, in the order they were opened.

        These are the ledger's live objects: read them, copy them, but do not change them (the ledger's totals
        would no longer match).
        """
        return tuple(self._positions.values())

    def open_positions(self) -> Iterator[Position]:
        """The positions with a non-zero quantity.

        Returns
        -------
        Iterator[Position]
            Live objects, in the order they were opened.
        """
        return (p for p in self._positions.values() if p.quantity)

    def position(self, symbol: str, product: Product | None = None) -> Position | None:
        """The position in ``symbol`` (and ``product``), or None when there is none.

        Parameters
        ----------
        symbol
            The symbol.
        product
            The product; may be left out when the symbol is held in one product only.

        Returns
        -------
        Position or None
            The live position object.

        Raises
        ------
        InvalidOrderError
            If ``product`` is left out and the symbol has positions in more than one product.
        """
        if product is not None:
            return self._positions.get((symbol, product))
        held = self._by_symbol.get(symbol)
        if not held:
            return None
        if len(held) > 1:
            products = ", ".join(p.product.value for p in held)
            raise InvalidOrderError(
                "product",
                None,
                products,
                hint=f"{symbol} is held in {products}; name the product, or use net_quantity()",
            )
        return held[0]

    def symbol_positions(self, symbol: str) -> tuple[Position, ...]:
        """Every product's position in ``symbol`` (live objects); empty when the symbol was never traded."""
        return tuple(self._by_symbol.get(symbol, ()))

    def net_quantity(self, symbol: str) -> int:
        """Signed quantity held in ``symbol``, summed over products (0 when none)."""
        return self._net.get(symbol, 0)

    def last_price(self, symbol: str) -> Decimal | None:
        """The latest mark of ``symbol``, or None if it was never marked."""
        return self._marks.get(symbol)

    def has_trade(self, trade_id: str) -> bool:
        """Whether the fill with ``trade_id`` has been booked."""
        return trade_id in self._trade_ids

    def gross_exposure(self) -> Decimal:
        """Sum of ``|quantity| * price`` over positions, at the last mark or at the average price when unmarked."""
        if self._dirty:
            self._refresh()
        return self._gross

    def margin_blocked(self, leverage: Decimal) -> Decimal:
        """Margin the open positions block: CNC (delivery) in full, other products their value / ``leverage``."""
        if self._dirty:
            self._refresh()
        return self._delivery_gross + (self._gross - self._delivery_gross) / leverage

    def realized_pnl(self) -> Decimal:
        """Realized P&L of every position (before fees)."""
        return self._realized

    def unrealized_pnl(self) -> Decimal:
        """Unrealized P&L of the open positions at their last marks (0 for unmarked ones)."""
        # Per position, value - cost is quantity * (last - average) when marked and 0 when not.
        if self._dirty:
            self._refresh()
        return self._market_value - self._cost

    def fees(self) -> Decimal:
        """Fees paid on every fill booked."""
        return self._fees

    def day_pnl(self) -> Decimal:
        """Realized + unrealized - fees since the day began (:meth:`start_day`; until the first call, since the
        ledger began): what the daily loss limit is measured against."""
        if self._dirty:
            self._refresh()
        return self._realized + self._market_value - self._cost - self._fees - self.day_base

    def start_day(self) -> None:
        """Begin a new trading day: :meth:`day_pnl` counts from the account as it stands now, at its last marks.

        Positions carried over keep their averages; only the day's result starts again from zero.
        """
        if self._dirty:
            self._refresh()
        self.day_base = self._realized + self._market_value - self._cost - self._fees

    def market_value(self) -> Decimal:
        """Sum of ``quantity * price`` over positions (shorts negative), at the last mark or the average price."""
        if self._dirty:
            self._refresh()
        return self._market_value

    def equity(self) -> Decimal:
        """Cash plus the market value of the positions (at the average price when unmarked)."""
        if self._dirty:
            self._refresh()
        return self.cash + self._market_value

    def square_off_orders(self, symbol: str | None = None) -> list[SquareOff]:
        """The orders that would flatten every open position (or those in ``symbol``).

        Parameters
        ----------
        symbol
            Only this symbol's positions; None for all.

        Returns
        -------
        list[SquareOff]
            ``(symbol, product, side, quantity)`` per open position, sorted by symbol and product; the OMS turns
            them into market orders.
        """
        held = self._by_symbol.get(symbol, []) if symbol is not None else self._positions.values()
        orders = [
            SquareOff(p.symbol, p.product, Side.SELL if p.quantity > 0 else Side.BUY, abs(p.quantity))
            for p in held
            if p.quantity
        ]
        orders.sort(key=lambda o: (o.symbol, o.product.value))
        return orders

    def to_frame(self) -> pandas.DataFrame:
        """The position book as a table, one row per position, flat ones included.

        Returns
        -------
        pandas.DataFrame
            Columns :data:`oms_kit.tables.POSITION_COLUMNS`; money as exact ``Decimal`` (object columns), quantities
            as int64. Sorted by symbol and product. Empty, with the same columns, when nothing was traded.
        """
        from oms_kit.tables import positions_frame  # only here: the fill path must not pay for pandas

        return positions_frame(self._positions.values())
