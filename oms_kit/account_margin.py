"""The F&O margin of one account: its futures and options margined together by :mod:`oms_kit.margin`, what an
order would add to it, and the free cash left beside it.

What is margined
----------------
The contracts whose instrument is a future or an option (``instrument_type`` FUT, CE or PE, with its underlying and
expiry): the account's net position in each (all products together, as the exchange margins a client) and its
working orders, as :class:`~oms_kit.margin.Leg` values in units. A working order may never fill, so it must not
lower the margin of what is held: working orders count one side at a time, and an underlying needs the larger of
the margin of its positions with every working buy and with every working sell. Hedges already filled do net, so
a short straddle's wings bought first lower the margin of the straddle; a wing still working does not.

Prices
------
An underlying's price is the OMS's last price of the symbol named like the underlying (an index or a stock given
as an instrument of its own, e.g. ``Instrument("NIFTY")`` marked by ``set_price``), else the last price of its
future of the nearest expiry that has one (with a rate of 0, a future's price is the forward of every expiry), else
a mark of either in the ledger (a reopened account's positions). An option's volatility is implied from its own last
price; without one, or when its price is outside the no-arbitrage bounds at that underlying price, the
parameters' default. An underlying without any price cannot be margined: an order on it is refused
(``NO_REFERENCE_PRICE``) and its positions keep the plain block the ledger gives them (value / leverage) until a
price comes; contracts past their expiry are settled and hold no margin.

Free cash
---------
``available = equity - equity margin - F&O margin - option premium``, where equity margin is what equity positions
and working orders block (CNC in full, other products value / ``mis_leverage``), F&O margin the SPAN-style total
above, and option premium the value of long options held (paid in full, not free cash) and the premium of working
option buys (the part that opens a long position). ``equity`` already holds futures at their profit or loss and
short options at what they would cost to buy back. Every order's buying-power check reads ``available``; an F&O
order needs ``added + premium``: what it adds to the F&O margin (below 0 for a hedge) plus, for an option bought,
its premium.

What is recomputed when
-----------------------
:meth:`AccountMargin.used` keeps its last result and computes it again only when it is read after something it
depends on has changed: an F&O order was placed, modified, filled or ended (``changes``, counted by
:class:`~oms_kit.exposure.Exposure`), a net F&O position changed, a price of a contract, of an underlying or of one
of its futures moved, ``mis_leverage`` changed, or the minute turned (time to expiry; valuations are at the start
of the minute). Reads are the buying-power check of every order (equities too: they share the free cash),
``oms.validate``, ``oms.margin_summary`` and the snapshot. An account without F&O has no :class:`AccountMargin` at
all: its orders pay one attribute test. An F&O order's check margins only its underlying (twice: with the order,
and the order alone), reusing the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol, cast

import oms_kit.black76 as black76
from oms_kit.errors import ConfigError, DataError
from oms_kit.ledger import Ledger
from oms_kit.margin import EXCHANGE_ZONE, EXPIRY_TIME, Leg, UnderlyingMargin, portfolio_margin
from oms_kit.margin_params import MarginParams
from oms_kit.models import Order, OrderType, Product, Side
from oms_kit.tradable import Instrument

__all__ = ["DERIVATIVE_TYPES", "AccountMargin", "OrderMargin", "UsedMargin", "is_derivative"]

#: The instrument types margined by the portfolio margin.
DERIVATIVE_TYPES = frozenset({"FUT", "CE", "PE"})
_ZERO = Decimal(0)
_YEAR_SECONDS = 365.0 * 86400.0
_HORIZON = timedelta(days=int(365 * black76.MAX_YEARS) - 1)  # the margin's farthest expiry from the valuation day
_CNC, _BUY, _MARKET, _SL_M = Product.CNC, Side.BUY, OrderType.MARKET, OrderType.SL_M
_UNSEEN = object()


def is_derivative(instrument: Instrument | None) -> bool:
    """Whether ``instrument`` is a future or an option with its underlying and expiry (margined as F&O)."""
    return (instrument is not None and instrument.instrument_type in DERIVATIVE_TYPES
            and instrument.underlying is not None and instrument.expiry is not None)


def rupees(value: float) -> Decimal:
    """A margin figure (float rupees) as Decimal to the paisa."""
    return Decimal(f"{value:.2f}")


class MarginAccount(Protocol):
    """What :class:`AccountMargin` reads of an account: the order manager's public state."""

    # Read-only members (properties), so the manager's plain attributes and dicts match them.
    @property
    def ledger(self) -> Ledger: ...
    @property
    def orders(self) -> Mapping[str, Order]: ...
    @property
    def instruments(self) -> Mapping[str, Instrument]: ...
    @property
    def prices(self) -> Mapping[str, Decimal]: ...
    @property
    def limits(self) -> Any: ...  # RiskLimits: mis_leverage
    @property
    def exposure(self) -> Any: ...  # Exposure: blocked_margin, held_by


@dataclass(frozen=True, slots=True)
class UsedMargin:
    """What the account's F&O book takes from its free cash at ``at`` (see the module docstring).

    ``rows`` are the margin of each underlying that could be priced (:class:`~oms_kit.margin.UnderlyingMargin`,
    the larger of the two sides of its working orders); ``total`` their sum; ``premium`` the premium of working
    option buys that open a long position; ``long_options`` the value of long options held; ``ledger_block`` what
    the ledger's plain block (``Ledger.margin_blocked``) counts for the F&O positions margined here, which the free
    cash takes back out; ``stand_in`` the plain block of working orders on underlyings that could not be priced
    (``unpriced``), whose positions keep the ledger's block; ``references`` the symbol each underlying's price came
    from.
    """

    at: datetime
    rows: tuple[UnderlyingMargin, ...]
    total: Decimal
    premium: Decimal
    long_options: Decimal
    ledger_block: Decimal
    stand_in: Decimal
    unpriced: tuple[str, ...]
    references: Mapping[str, str]

    @property
    def fno_margin(self) -> Decimal:
        """The F&O margin: the SPAN-style totals and the stand-in block of unpriced underlyings."""
        return self.total + self.stand_in

    @property
    def option_premium(self) -> Decimal:
        """Long options held and the premium of working option buys: paid, so not free cash."""
        return self.long_options + self.premium


@dataclass(frozen=True, slots=True)
class OrderMargin:
    """What one F&O order does to the account's margin (rupees, to the paisa).

    ``added``: what the order adds to the margin of its underlying once it fills, with the positions and the
    working orders on its side (below 0 when it hedges or closes); ``before``: the account's F&O margin now;
    ``after = before + added``;
    ``alone``: the margin of the order by itself; ``benefit = alone - added``, what netting with the account saves
    (above 0 for a hedge); ``premium``: paid for an option bought, for the part that opens a long position, at the
    order's price (its limit, its trigger, or the last price); ``required = added + premium``, what the free cash
    ``available`` must cover; ``row``: the order's underlying with the order; ``reference``: the symbol whose price
    valued the underlying.
    """

    symbol: str
    underlying: str
    reference: str
    price: float
    before: Decimal
    after: Decimal
    alone: Decimal
    added: Decimal
    benefit: Decimal
    premium: Decimal
    required: Decimal
    available: Decimal
    row: UnderlyingMargin | None

    def describe(self) -> str:
        """One line: what the order adds, its premium and the hedge's benefit."""
        text = (f"{self.underlying} at {self.price:,.2f} ({self.reference}): margin {self.before:,.2f} -> "
                f"{self.after:,.2f}, added {self.added:,.2f}")
        if self.premium:
            text += f" + premium {self.premium:,.2f}"
        if self.benefit > 0:
            text += f"; {self.benefit:,.2f} less than the {self.alone:,.2f} it needs alone (hedge)"
        return text


@dataclass(slots=True)
class _Book:
    # One computation: the legs of each priced underlying (positions, working buys, working sells) and the margins
    # of each side, kept for the order checks of the same state.
    used: UsedMargin
    key: tuple[Any, ...]
    watched: tuple[str, ...]
    positions: dict[str, list[Leg]]
    buys: dict[str, list[Leg]]
    sells: dict[str, list[Leg]]
    with_buys: dict[str, float]
    with_sells: dict[str, float]
    spot: dict[str, float]
    vols: dict[str, float | None]
    net: dict[str, int]
    working_buys: dict[str, int]


class AccountMargin:
    """The F&O margin of one account (see the module docstring), kept by its :class:`~oms_kit.exposure.Exposure`.

    ``contracts`` holds the F&O instrument of each symbol seen (None for other instruments); ``working`` the F&O
    working orders by id; ``changes`` counts their changes. ``params`` are the margin parameters over the shipped
    ones (:func:`~oms_kit.margin.default_margin_params`), None for those alone.
    """

    __slots__ = ("_book", "_futures", "_futures_seen", "_legs", "_memo", "_vols", "account", "changes", "contracts",
                 "params", "working")

    def __init__(self, account: MarginAccount, params: Mapping[str, MarginParams] | None = None) -> None:
        self.account = account
        self.contracts: dict[str, Instrument | None] = {}
        self.working: dict[str, Order] = {}
        self.changes = 0
        self.params = params  # None: the shipped ones
        self._book: _Book | None = None
        self._futures: dict[str, list[Instrument]] = {}
        self._futures_seen = -1
        self._memo: tuple[tuple[Any, ...], OrderMargin] | None = None
        self._vols: dict[str, tuple[tuple[Any, ...], float | None]] = {}
        self._legs: dict[tuple[str, int, float | None], Leg] = {}

    def contract(self, symbol: str) -> Instrument | None:
        """The F&O instrument of ``symbol``, or None for an equity or an unknown symbol (remembered once known)."""
        found = self.contracts.get(symbol, _UNSEEN)
        if found is not _UNSEEN:
            return found  # type: ignore[return-value]
        instrument = self.account.instruments.get(symbol)
        if instrument is None:
            return None  # not yet defined: asked again next time
        contract = instrument if is_derivative(instrument) else None
        self.contracts[symbol] = contract
        return contract

    # -- the account's margin --------------------------------------------------------------------------------------

    def used(self, now: datetime) -> UsedMargin:
        """The F&O margin the account holds at ``now`` (recomputed only when something it depends on changed)."""
        return self._current(now).used

    def free_cash(self, used: UsedMargin, skip: Order | None = None) -> tuple[Decimal, Decimal]:
        """``(available, equity margin)``: the free cash beside ``used`` and the margin equities block (the
        working orders' block without ``skip``, an order being modified)."""
        account = self.account
        exposure, ledger = account.exposure, account.ledger
        blocked = exposure.blocked_margin
        if skip is not None:
            blocked -= exposure.held_by(skip.order_id)[0]
        equity_margin = blocked + ledger.margin_blocked(account.limits.mis_leverage) - used.ledger_block
        return ledger.equity() - equity_margin - used.fno_margin - used.option_premium, equity_margin

    def _current(self, now: datetime, skip: Order | None = None) -> _Book:
        at = _valuation_time(now)
        if skip is not None and skip.order_id in self.working:
            return self._compute(at, skip.order_id)  # the book without the order being modified: not kept
        book = self._book
        if book is not None and book.key == self._key(at, book.watched):
            return book
        book = self._book = self._compute(at, None)
        return book

    def _key(self, at: datetime, watched: Iterable[str]) -> tuple[Any, ...]:
        account = self.account
        prices, marks, ledger = account.prices, account.ledger.last_price, account.ledger
        return (self.changes, at, account.limits.mis_leverage, len(self.contracts), len(account.instruments),
                tuple(ledger.net_quantity(s) for s, c in self.contracts.items() if c is not None),
                tuple(prices.get(s) or marks(s) for s in watched))

    def _compute(self, at: datetime, skip: str | None) -> _Book:
        account = self.account
        ledger, leverage = account.ledger, account.limits.mis_leverage
        today = at.astimezone(EXCHANGE_ZONE).date()
        latest = today + _HORIZON if today <= date.max - _HORIZON else date.max
        live = {s: c for s, c in self.contracts.items() if c is not None and today <= c.expiry <= latest}  # type: ignore[operator]
        expired = {s for s, c in self.contracts.items() if c is not None and s not in live}
        # The contracts here are F&O contracts: each names its underlying.
        underlyings = sorted(cast("set[str]", {c.underlying for c in live.values()}))
        spot: dict[str, float] = {}
        references: dict[str, str] = {}
        unpriced: list[str] = []
        for name in underlyings:
            found = self._reference(name, today)
            if found is None:
                unpriced.append(name)
            else:
                spot[name], references[name] = found
        watched = self._watched(live, underlyings)
        book = _Book(None, self._key(at, watched), watched, {}, {}, {}, {}, {}, spot, {}, {}, {})  # type: ignore[arg-type]
        # Net positions, and the ledger's plain block on those margined here (expired ones hold nothing).
        ledger_block = long_options = _ZERO
        for symbol in live.keys() | expired:
            net = 0
            block = _ZERO
            for position in ledger.symbol_positions(symbol):
                quantity = position.quantity
                if quantity:
                    mark = position.last_price if position.last_price is not None else position.average_price
                    size = abs(quantity) * mark
                    block += size if position.product is _CNC else size / leverage
                    net += quantity
            contract = self.contracts[symbol]
            priced = symbol in live and contract.underlying in spot  # type: ignore[union-attr, operator]
            if priced or symbol in expired:
                ledger_block += block
            if priced and net:
                book.net[symbol] = net
                if net > 0 and contract.instrument_type != "FUT":  # type: ignore[union-attr]
                    long_options += net * self._mark(symbol)
        # Working orders: legs of each side; the premium of option buys that open a long position; a plain block
        # for those on an underlying that has no price.
        premium = stand_in = _ZERO
        buys: dict[str, list[tuple[Order, int]]] = {}
        for order_id, order in self.working.items():
            remaining = order.quantity - order.filled_quantity
            contract = live.get(order.symbol)
            if order_id == skip or remaining <= 0 or contract is None:
                continue
            if contract.underlying not in spot:
                value = (order.price or order.trigger_price or account.prices.get(order.symbol) or _ZERO) * remaining
                stand_in += value if order.product is _CNC else value / leverage
                continue
            side = book.buys if order.side is _BUY else book.sells
            side.setdefault(contract.underlying, []).append(self._leg(order.symbol, contract,  # type: ignore[arg-type]
                                                                       remaining if order.side is _BUY else -remaining,
                                                                       spot, at, book.vols))
            if order.side is _BUY:
                book.working_buys[order.symbol] = book.working_buys.get(order.symbol, 0) + remaining
                if contract.instrument_type != "FUT":
                    buys.setdefault(order.symbol, []).append((order, remaining))
        for symbol, orders in buys.items():
            long = max(book.net.get(symbol, 0), 0)
            short = -min(book.net.get(symbol, 0), 0)
            for order, remaining in orders:
                closing = min(short, remaining)
                short -= closing
                opening = remaining - closing
                if opening:
                    premium += opening * (order.price or order.trigger_price or self._mark(symbol))
                long += opening
        for symbol, net in book.net.items():
            contract = live[symbol]
            book.positions.setdefault(contract.underlying, []).append(  # type: ignore[arg-type]
                self._leg(symbol, contract, net, spot, at, book.vols))
        rows = self._rows(book, underlyings, spot, at)
        book.used = UsedMargin(at, rows, sum((rupees(r.total) for r in rows), _ZERO), premium, long_options,
                               ledger_block, stand_in, tuple(unpriced), references)
        return book

    def _rows(self, book: _Book, underlyings: list[str], spot: dict[str, float],
              at: datetime) -> tuple[UnderlyingMargin, ...]:
        # Two margins of the whole book, positions with every working buy and with every working sell (one when
        # nothing works), and the larger of the two per underlying.
        priced = [u for u in underlyings if u in spot]
        with_buys = [leg for u in priced for leg in (*book.positions.get(u, ()), *book.buys.get(u, ()))]
        first = portfolio_margin(with_buys, spot, at=at, params=self.params)
        second = first
        if book.buys or book.sells:
            with_sells = [leg for u in priced for leg in (*book.positions.get(u, ()), *book.sells.get(u, ()))]
            second = portfolio_margin(with_sells, spot, at=at, params=self.params)
        rows = []
        for name in priced:
            one, other = first.by_underlying.get(name), second.by_underlying.get(name)
            book.with_buys[name] = one.total if one is not None else 0.0
            book.with_sells[name] = other.total if other is not None else 0.0
            row = one if one is not None and (other is None or one.total >= other.total) else other
            if row is not None:
                rows.append(row)
        return tuple(rows)

    # -- an order's margin -------------------------------------------------------------------------------------------

    def order_margin(self, order: Order, now: datetime, skip: Order | None = None) -> OrderMargin:
        """What ``order`` (an F&O order, as placed or as a modify of ``skip``) would add to the account's margin,
        its premium and the free cash it must fit.

        Raises
        ------
        DataError
            Its underlying has no price (``NO_REFERENCE_PRICE`` for the check), or the order has no price to value
            its premium.
        ConfigError
            The symbol is not a future or an option, or its contract has expired (or lies beyond the margin's
            horizon).
        """
        contract = self.contract(order.symbol)
        if contract is None:
            raise ConfigError("symbol", order.symbol, "a future or an option (instrument_type FUT, CE or PE with "
                              "its underlying and expiry)")
        book = self._current(now, skip)
        key = (id(book), book.key, order.symbol, order.side, order.quantity, order.filled_quantity,
               order.order_type, order.price, order.trigger_price, skip.order_id if skip else None)
        memo = self._memo
        if memo is not None and memo[0] == key:
            result = memo[1]
        else:
            result = self._order_margin(order, contract, book)
            self._memo = (key, result)
        # The free cash moves with every equity price and order too: read afresh.
        return replace(result, available=self.free_cash(book.used, skip)[0])

    def _order_margin(self, order: Order, contract: Instrument, book: _Book) -> OrderMargin:
        at, name = book.used.at, contract.underlying
        assert name is not None and contract.expiry is not None  # is_derivative
        today = at.astimezone(EXCHANGE_ZONE).date()
        if contract.expiry < today:
            raise ConfigError("symbol", order.symbol, f"a contract that has not expired: {order.symbol} expired on "
                              f"{contract.expiry}")
        if contract.expiry > today + _HORIZON:
            raise ConfigError("symbol", order.symbol, f"a contract expiring within {black76.MAX_YEARS:g} years")
        if name not in book.spot:
            raise DataError("underlying price", name, f"a last price of {name} or of one of its futures",
                            detail=f"there is no price for {name} or its futures yet",
                            hint=f"set a price for {name} (an instrument of its own) or for a {name} future")
        remaining = order.quantity - order.filled_quantity
        buy = order.side is _BUY
        leg = self._leg(order.symbol, contract, remaining if buy else -remaining, book.spot, at, book.vols)
        positions = book.positions.get(name, [])
        same_side = book.buys.get(name, []) if buy else book.sells.get(name, [])
        after = portfolio_margin([*positions, *same_side, leg], book.spot, at=at, params=self.params)
        after_side = after.total
        alone = portfolio_margin([leg], book.spot, at=at, params=self.params).total
        # As if it filled: its side's margin with it less without it. A hedge or a close lowers it (added below
        # 0); the account's used margin itself drops only once it fills (working orders never lower it).
        before_side = (book.with_buys if buy else book.with_sells).get(name, 0.0)
        before = book.used.total
        added = rupees(after_side) - rupees(before_side)
        premium = _ZERO
        if buy and contract.instrument_type != "FUT":
            held = book.net.get(order.symbol, 0) + book.working_buys.get(order.symbol, 0)
            opening = max(held + remaining, 0) - max(held, 0)
            if opening:
                price = _order_price(order, self.account.prices.get(order.symbol))
                if price is None:
                    raise DataError("price", None, f"a price to value the premium of {order.symbol}",
                                    detail=f"a MARKET order for {order.symbol} has no last price to value its "
                                    "premium", hint="set a price or place a LIMIT order")
                premium = opening * price
        return OrderMargin(order.symbol, name, book.used.references[name], book.spot[name], before, before + added,
                           rupees(alone), added, rupees(alone) - added, premium, added + premium, _ZERO,
                           after.by_underlying.get(name))

    # -- legs and prices -----------------------------------------------------------------------------------------

    def _leg(self, symbol: str, contract: Instrument, units: int, spot: dict[str, float], at: datetime,
             vols: dict[str, float | None]) -> Leg:
        kind = contract.instrument_type
        if kind == "FUT":
            vol = None
        else:
            if symbol not in vols:
                vols[symbol] = self._implied(symbol, contract, spot[contract.underlying], at)  # type: ignore[index]
            vol = vols[symbol]
        # A Leg checks its fields when made (some 10 us): the same leg is made once and kept.
        key = (symbol, units, vol)
        leg = self._legs.get(key)
        if leg is None:
            if len(self._legs) > 10_000:
                self._legs.clear()
            strike = None if kind == "FUT" else float(contract.strike)  # type: ignore[arg-type]
            leg = self._legs[key] = Leg(contract.underlying, kind, strike, contract.expiry, units,  # type: ignore[arg-type]
                                        iv=vol)
        return leg

    def _implied(self, symbol: str, contract: Instrument, forward: float, at: datetime) -> float | None:
        # The option's own price says its volatility; without a usable one the parameters' default serves. Kept
        # per option while its price, its underlying's and the minute stay: a price move re-solves only the
        # options of the underlying that moved (about 50 us each).
        price = self.account.prices.get(symbol) or self.account.ledger.last_price(symbol)
        key = (price, forward, at)
        kept = self._vols.get(symbol)
        if kept is not None and kept[0] == key:
            return kept[1]
        expiry_at = datetime.combine(contract.expiry, EXPIRY_TIME, EXCHANGE_ZONE)  # type: ignore[arg-type]
        years = (expiry_at - at).total_seconds() / _YEAR_SECONDS
        vol: float | None = None
        if price is not None and years > 0:
            try:
                vol = black76.implied_vol(float(price), forward, float(contract.strike),  # type: ignore[arg-type]
                                          years, 0.0, contract.instrument_type)
            except (DataError, ConfigError):
                vol = None
            if vol is not None and not 1e-4 <= vol <= black76.MAX_VOL:
                vol = None
        self._vols[symbol] = (key, vol)
        return vol

    def _mark(self, symbol: str) -> Decimal:
        price = self.account.prices.get(symbol) or self.account.ledger.last_price(symbol)
        if price is not None:
            return price
        positions = self.account.ledger.symbol_positions(symbol)
        return positions[0].average_price if positions else _ZERO

    def _reference(self, underlying: str, today: date) -> tuple[float, str] | None:
        prices, marks = self.account.prices, self.account.ledger.last_price
        for lookup in (prices.get, marks):
            price = lookup(underlying)
            if price is not None:
                return float(price), underlying
            for future in self._futures_of(underlying):
                if future.expiry >= today:  # type: ignore[operator]
                    price = lookup(future.symbol)
                    if price is not None:
                        return float(price), future.symbol
        return None

    def _futures_of(self, underlying: str) -> list[Instrument]:
        instruments = self.account.instruments
        if self._futures_seen != len(instruments):  # instruments are only ever added
            futures: dict[str, list[Instrument]] = {}
            for instrument in instruments.values():
                if instrument.instrument_type == "FUT" and is_derivative(instrument):
                    futures.setdefault(instrument.underlying, []).append(instrument)  # type: ignore[arg-type]
            for found in futures.values():
                found.sort(key=lambda i: (i.expiry, i.symbol))
            self._futures, self._futures_seen = futures, len(instruments)
        return self._futures.get(underlying, [])

    def _watched(self, live: Mapping[str, Instrument | None], underlyings: list[str]) -> tuple[str, ...]:
        # Every symbol whose price the margin reads: the contracts, the underlyings and their futures.
        symbols = dict.fromkeys(live)
        for name in underlyings:
            symbols[name] = None
            symbols.update(dict.fromkeys(f.symbol for f in self._futures_of(name)))
        return tuple(symbols)


def _valuation_time(now: datetime) -> datetime:
    # The OMS clock's time (naive is UTC), at the start of its minute: one valuation serves the minute.
    aware = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    return aware.replace(second=0, microsecond=0)


def _order_price(order: Order, last: Decimal | None) -> Decimal | None:
    # As the checks value an order: its limit, its trigger (SL-M), the last price (MARKET).
    if order.order_type is _MARKET:
        return last
    if order.order_type is _SL_M:
        return order.trigger_price
    return order.price if order.price is not None else last

