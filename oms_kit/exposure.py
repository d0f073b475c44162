"""An account's exposure to its own working orders and its recent placing: what the pre-trade checks measure
besides positions and prices.

:class:`Exposure` keeps, per working order, the margin it blocks and the quantity it still works, with running
totals per account and per (symbol, side), so the buying-power and position checks cost the same with one working
order or a thousand; the placement times of the last second (the order-rate check); when each (symbol, side,
quantity, price) was last accepted (the duplicate check); and which order each client order id names.
:class:`CheckContext` is the account as the checks of :mod:`oms_kit.checks` see it, read from an
:class:`Account` (the order manager) and its exposure.

Futures and options are margined together, not order by order: once the account has any (an F&O order checked,
or an F&O position or working order found when the account's funds are first read), :attr:`Exposure.margin` is its
:class:`~oms_kit.account_margin.AccountMargin`, and an F&O working order holds no block of its own here (its
quantity still counts): it is a leg of the portfolio margin, which the free cash subtracts.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Final, NamedTuple, Protocol

from oms_kit.account_margin import AccountMargin, OrderMargin, UsedMargin
from oms_kit.ledger import Ledger
from oms_kit.models import TERMINAL_STATUSES, Order, Product, Side, TradingState
from oms_kit.risk import RiskLimits
from oms_kit.session import ExchangeSession
from oms_kit.tradable import Instrument

_ZERO: Final = Decimal(0)
_NOTHING: Final = (_ZERO, 0)
# Enum members as module globals: ``Product.CNC`` goes through the enum metaclass on every use.
_CNC: Final = Product.CNC
_BUY: Final = Side.BUY
_SELL: Final = Side.SELL


class Exposure:
    """Working orders' margin and quantity, recent placements and client order ids of one account."""

    __slots__ = ("_similar", "_working", "blocked_margin", "client_ids", "held", "margin", "recent", "scanned")

    def __init__(self) -> None:
        # Order id -> (margin blocked, remaining quantity), for each working order. Read it, change it through hold().
        self.held: dict[str, tuple[Decimal, int]] = {}
        self._working: dict[tuple[str, Side], int] = {}
        self.blocked_margin = _ZERO
        # Placement times of the last second, oldest first: the order manager appends each placement and drops the
        # older ones inline, on every order.
        self.recent: deque[datetime] = deque()
        self._similar: dict[tuple[str, Side, int, Decimal | None], datetime] = {}
        self.client_ids: dict[str, str] = {}  # client order id -> the first order placed with it
        # The portfolio margin of the account's futures and options; None while it has none (margin_book).
        self.margin: AccountMargin | None = None
        self.scanned = False  # whether the account was looked through for F&O once

    def hold(self, order: Order, last_price: Decimal | None, mis_leverage: Decimal) -> None:
        """Count ``order`` again after a change (placed, filled, modified, ended): a working order blocks its
        remaining value (at its price, else its trigger, else the last price), in full for CNC and divided by the
        leverage otherwise; an ended one holds nothing."""
        held, key = self.held, (order.symbol, order.side)
        working = self._working
        before = held.pop(order.order_id, None)
        if before is not None:
            self.blocked_margin -= before[0]
            working[key] -= before[1]
        book = self.margin
        if book is not None and book.contract(order.symbol) is not None:  # F&O: a leg of the portfolio margin
            book.changes += 1
            if order.status not in TERMINAL_STATUSES:
                remaining = order.quantity - order.filled_quantity
                held[order.order_id] = (_ZERO, remaining)
                working[key] = working.get(key, 0) + remaining
                book.working[order.order_id] = order
            else:
                book.working.pop(order.order_id, None)
            return
        if order.status not in TERMINAL_STATUSES:
            remaining = order.quantity - order.filled_quantity
            value = (order.price or order.trigger_price or last_price or _ZERO) * remaining
            margin = value if order.product is _CNC else value / mis_leverage
            held[order.order_id] = (margin, remaining)
            self.blocked_margin += margin
            working[key] = working.get(key, 0) + remaining

    def held_by(self, order_id: str) -> tuple[Decimal, int]:
        """The margin and the remaining quantity the order is counted with (zero when it is not)."""
        return self.held.get(order_id, _NOTHING)

    def release(self, order: Order) -> None:
        """Stop counting an order, whatever its status (one that is forgotten)."""
        before = self.held.pop(order.order_id, None)
        if before is not None:
            self.blocked_margin -= before[0]
            self._working[(order.symbol, order.side)] -= before[1]
        book = self.margin
        if book is not None and book.working.pop(order.order_id, None) is not None:
            book.changes += 1

    def margin_book(self, account: Account, create: bool = False) -> AccountMargin | None:
        """The account's :class:`~oms_kit.account_margin.AccountMargin`: made when ``create`` (an F&O order is
        checked) or, the first time this is asked, when the account holds an F&O position or working order (a
        reopened account); None for an account without F&O. Its F&O working orders' blocks move into it."""
        book = self.margin
        if book is not None:
            return book
        if not create:
            if self.scanned:
                return None
            self.scanned = True
            probe = AccountMargin(account)
            symbols = [p.symbol for p in account.ledger.open_positions()]
            symbols += [order.symbol for order_id in self.held if (order := account.orders.get(order_id))]
            if not any(probe.contract(symbol) is not None for symbol in symbols):
                return None
        book = self.margin = AccountMargin(account)
        for position in account.ledger.open_positions():  # held before the book (a reopened account)
            book.contract(position.symbol)
        for order_id, (margin, remaining) in list(self.held.items()):  # held before the book: a plain block
            order = account.orders.get(order_id)
            if order is not None and book.contract(order.symbol) is not None:
                self.blocked_margin -= margin
                self.held[order_id] = (_ZERO, remaining)
                book.working[order_id] = order
        return book

    def working(self, symbol: str, side: Side) -> int:
        """Remaining quantity of the working orders on one side of ``symbol``."""
        return self._working.get((symbol, side), 0)

    def accepted(self, order: Order, now: datetime) -> None:
        """Note an accepted order for the duplicate check (a rejected one is no duplicate to retry)."""
        self._similar[(order.symbol, order.side, order.quantity, order.price)] = now

    def last_similar(self, symbol: str, side: str, quantity: int, price: Decimal | None) -> datetime | None:
        """When an order with the same symbol, side, quantity and price was last accepted, if ever."""
        return self._similar.get((symbol, side, quantity, price))  # type: ignore[arg-type]  # a Side hashes as its str


class Funds(NamedTuple):
    """The account's free cash and what holds the rest: ``available = equity - equity_margin - fno_margin -
    option_premium`` (see :mod:`oms_kit.account_margin`). ``used`` is the F&O book's margin, None without F&O."""

    available: Decimal
    equity_margin: Decimal
    fno_margin: Decimal
    option_premium: Decimal
    used: UsedMargin | None


def account_funds(account: Account, now: datetime) -> Funds:
    """The free cash of ``account`` at ``now`` as every order's buying-power check sees it, and its parts."""
    exposure = account.exposure
    book = exposure.margin_book(account)
    if book is None:
        ledger = account.ledger
        blocked = exposure.blocked_margin
        margin = ledger.margin_blocked(account.limits.mis_leverage)
        return Funds(ledger.equity() - blocked - margin, blocked + margin, _ZERO, _ZERO, None)
    used = book.used(now)
    available, equity_margin = book.free_cash(used)
    return Funds(available, equity_margin, used.fno_margin, used.option_premium, used)


class Account(Protocol):
    """What :class:`CheckContext` reads of an account: the order manager's public state. Read-only members
    (properties), so the manager's plain attributes and dicts match them."""

    @property
    def exposure(self) -> Exposure: ...
    @property
    def ledger(self) -> Ledger: ...
    @property
    def live(self) -> Mapping[str, Order]: ...
    @property
    def orders(self) -> Mapping[str, Order]: ...
    @property
    def limits(self) -> RiskLimits: ...
    @property
    def instruments(self) -> Mapping[str, Instrument]: ...
    @property
    def prices(self) -> Mapping[str, Decimal]: ...
    @property
    def trading_state(self) -> TradingState: ...
    @property
    def squaring_off(self) -> bool: ...
    @property
    def limits_by_symbol(self) -> Mapping[str, RiskLimits]: ...
    @property
    def session(self) -> ExchangeSession: ...

    def limits_for(self, symbol: str) -> RiskLimits: ...


class CheckContext:
    """The account as the pre-trade checks see it (:class:`oms_kit.check.CheckContext`); each property is
    computed only when a check asks. ``modify_of``: the order being modified, not counted twice and no new
    placement."""

    __slots__ = ("account", "exposure", "instrument", "last_price", "limits", "modify_of", "now", "order",
                 "trading_state")

    def __init__(self, account: Account, order: Order, now: datetime, modify_of: Order | None = None) -> None:
        self.account = account
        self.exposure = account.exposure
        self.order = order
        self.now = now
        self.modify_of = modify_of
        # Per-symbol overrides applied; the cache first, as limits_for would (a call less on every order).
        self.limits = account.limits_by_symbol.get(order.symbol) or account.limits_for(order.symbol)
        self.instrument = account.instruments.get(order.symbol)
        self.trading_state = account.trading_state
        self.last_price = account.prices.get(order.symbol)  # read by several checks: looked up once

    @property
    def session(self) -> ExchangeSession:
        return self.account.session

    @property
    def position_quantity(self) -> int:
        return self.account.ledger.net_quantity(self.order.symbol)

    def product_position_quantity(self, product: Product) -> int:
        position = self.account.ledger.position(self.order.symbol, product)
        return position.quantity if position is not None else 0

    def _working(self, side: Side) -> int:
        symbol, skip = self.order.symbol, self.modify_of
        quantity = self.exposure.working(symbol, side)
        if skip is not None and skip.symbol == symbol and skip.side is side:  # the order being modified
            quantity -= self.exposure.held_by(skip.order_id)[1]
        return quantity

    @property
    def working_buy_quantity(self) -> int:
        return self._working(_BUY)

    @property
    def working_sell_quantity(self) -> int:
        return self._working(_SELL)

    @property
    def open_order_count(self) -> int:
        return len(self.account.live) - (1 if self.modify_of is not None else 0)

    @property
    def recent_order_times(self) -> Sequence[datetime]:
        # A modify is no new placement, and a square-off must get out whatever the throttles say.
        return () if self.modify_of is not None or self.account.squaring_off else self.exposure.recent

    def last_similar_order_time(self, symbol: str, side: str, quantity: int, price: Decimal | None) -> datetime | None:
        if self.modify_of is not None or self.account.squaring_off:
            return None
        return self.exposure.last_similar(symbol, side, quantity, price)

    def client_order_id_exists(self, client_order_id: str) -> bool:
        return self.modify_of is None and client_order_id in self.exposure.client_ids

    @property
    def gross_exposure(self) -> Decimal:
        return self.account.ledger.gross_exposure()

    @property
    def day_pnl(self) -> Decimal:
        return self.account.ledger.day_pnl()

    @property
    def available_funds(self) -> Decimal:
        # Equity less the margin that positions and working orders block: CNC in full, MIS/NRML / leverage; with
        # F&O, less their portfolio margin and the option premium held (oms_kit.account_margin).
        exposure = self.exposure
        book = exposure.margin
        if book is None and not exposure.scanned:
            book = exposure.margin_book(self.account)
        if book is not None:
            return book.free_cash(book.used(self.now), self.modify_of)[0]
        ledger = self.account.ledger
        blocked = exposure.blocked_margin
        if self.modify_of is not None:
            blocked -= exposure.held_by(self.modify_of.order_id)[0]
        return ledger.equity() - blocked - ledger.margin_blocked(self.account.limits.mis_leverage)

    def order_margin(self) -> OrderMargin:
        """What this F&O order adds to the account's portfolio margin, its premium and the free cash it must fit
        (:meth:`oms_kit.account_margin.AccountMargin.order_margin`, whose DataError and ConfigError it raises)."""
        book = self.exposure.margin_book(self.account, create=True)
        assert book is not None  # created when asked to
        return book.order_margin(self.order, self.now, self.modify_of)
