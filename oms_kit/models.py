"""Enums and value objects of the order domain: orders, fills, positions, violations and their ids.

Prices and money are exact :class:`~decimal.Decimal` on the instrument's tick; quantities are ``int``. Market data
stays ``float``: :class:`~oms_kit.tradable.Instrument` is the one place where a float becomes a price. Order fields
are parsed at the door by :mod:`oms_kit.parsing`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from types import FunctionType
from typing import Any, Final, NewType, Self

from oms_kit.errors import InvalidOrderError

OrderId = NewType("OrderId", str)
ClientOrderId = NewType("ClientOrderId", str)
TradeId = NewType("TradeId", str)


# Per enum class: every accepted spelling (value and name, upper case) to its member. Parsing runs for every field
# of every order, and a dict lookup is ten times cheaper than walking the members.
_SPELLINGS: Final[dict[type, dict[str, Any]]] = {}


class _ParsableEnum(StrEnum):
    @classmethod
    def parse(cls, value: object, field_name: str) -> Self:
        """Return the member named by ``value`` (case-insensitive), or raise InvalidOrderError naming the field."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            spellings = _SPELLINGS.get(cls)
            if spellings is None:
                spellings = _SPELLINGS[cls] = {text: m for m in cls for text in (m.value, m.name)}
            member = spellings.get(value) or spellings.get(value.strip().upper())
            if member is not None:
                return member  # type: ignore[no-any-return]
        raise InvalidOrderError(field_name, value, ", ".join(m.value for m in cls))


class Side(_ParsableEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        """+1 for BUY, -1 for SELL: the sign a fill gives to a position."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(_ParsableEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    SL = "SL"  # stop-loss limit: waits for the trigger, then rests as a limit order
    SL_M = "SL-M"  # stop-loss market: waits for the trigger, then executes as a market order

    @property
    def needs_price(self) -> bool:
        return self in (OrderType.LIMIT, OrderType.SL)

    @property
    def needs_trigger(self) -> bool:
        return self in (OrderType.SL, OrderType.SL_M)


class Product(_ParsableEnum):
    CNC = "CNC"  # cash and carry (delivery): paid in full
    MIS = "MIS"  # intraday, margin traded, squared off by the end of the day
    NRML = "NRML"  # normal (carry forward) derivatives


class Validity(_ParsableEnum):
    DAY = "DAY"
    IOC = "IOC"


class Variety(_ParsableEnum):
    """How an order reaches the exchange (Kite's word): at once, or as an after-market order."""

    REGULAR = "regular"
    AMO = "amo"  # taken while the market is closed; the broker holds it until the session opens


class OrderStatus(_ParsableEnum):
    NEW = "NEW"
    PENDING_SUBMIT = "PENDING_SUBMIT"
    TRIGGER_PENDING = "TRIGGER_PENDING"
    OPEN = "OPEN"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    PENDING_MODIFY = "PENDING_MODIFY"
    PENDING_CANCEL = "PENDING_CANCEL"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def is_working(self) -> bool:
        """At the broker and able to fill (or to be triggered)."""
        return self in WORKING_STATUSES


TERMINAL_STATUSES: Final = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)
WORKING_STATUSES: Final = frozenset(
    {
        OrderStatus.TRIGGER_PENDING,
        OrderStatus.OPEN,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.PENDING_MODIFY,
        OrderStatus.PENDING_CANCEL,
    }
)


class TradingState(_ParsableEnum):
    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"  # only orders that shrink a position are admitted
    HALTED = "HALTED"  # kill switch: no new orders, working orders cancelled



def _rebuilt(value: Any) -> tuple[Any, ...]:
    # How pickle and copy rebuild a value object: through its constructor. A compiled class has no __dict__ to
    # restore, and a frozen one refuses the attribute assignments an unpickled state would make.
    cls = type(value)
    return cls, tuple(getattr(value, f.name) for f in fields(cls) if f.init)


@dataclass(frozen=True, slots=True)
class Violation:
    """One failed pre-trade check: a stable code and its evidence, e.g. ``NOTIONAL_EXCEEDS_MAXIMUM``."""

    code: str
    message: str
    limit: Any = None
    value: Any = None

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuilt(self)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "limit": _plain(self.limit), "value": _plain(self.value)}


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


@dataclass(slots=True, init=False)
class Order:
    """An order and where it stands. Its status changes only through :func:`oms_kit.fsm.apply`."""

    order_id: OrderId
    client_order_id: ClientOrderId
    symbol: str
    side: Side
    quantity: int
    order_type: OrderType = OrderType.MARKET
    product: Product = Product.MIS
    validity: Validity = Validity.DAY
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    tag: str | None = None
    account: str = "default"
    status: OrderStatus = OrderStatus.NEW
    filled_quantity: int = 0
    average_price: Decimal | None = None
    filled_value: Decimal = Decimal(0)  # exact sum of fill price x quantity: the average is rounded, this is not
    triggered: bool = False
    violations: tuple[Violation, ...] = ()
    reason: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    sequence: int = 0  # number of events applied; the next event's sequence number
    variety: Variety = Variety.REGULAR
    # How much the exchange shows of it at a time (0: all of it). Kept, checked (DISCLOSED_QUANTITY) and reported;
    # it changes no fill: the simulated book has no other traders to hide the rest from.
    disclosed_quantity: int = 0

    # Written out, not generated: compiled, a constructor of the source is native code that sets the fields
    # directly, where the dataclass's generated one would run as Python. As Python both are the same.
    def __init__(
        self,
        order_id: OrderId,
        client_order_id: ClientOrderId,
        symbol: str,
        side: Side,
        quantity: int,
        order_type: OrderType = OrderType.MARKET,
        product: Product = Product.MIS,
        validity: Validity = Validity.DAY,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
        tag: str | None = None,
        account: str = "default",
        status: OrderStatus = OrderStatus.NEW,
        filled_quantity: int = 0,
        average_price: Decimal | None = None,
        filled_value: Decimal = Decimal(0),
        triggered: bool = False,
        violations: tuple[Violation, ...] = (),
        reason: str | None = None,
        created_at: datetime | None = None,
        updated_at: datetime | None = None,
        sequence: int = 0,
        variety: Variety = Variety.REGULAR,
        disclosed_quantity: int = 0,
    ) -> None:
        self.order_id = order_id
        self.client_order_id = client_order_id
        self.symbol = symbol
        self.side = side
        self.quantity = quantity
        self.order_type = order_type
        self.product = product
        self.validity = validity
        self.price = price
        self.trigger_price = trigger_price
        self.tag = tag
        self.account = account
        self.status = status
        self.filled_quantity = filled_quantity
        self.average_price = average_price
        self.filled_value = filled_value
        self.triggered = triggered
        self.violations = violations
        self.reason = reason
        self.created_at = created_at
        self.updated_at = updated_at
        self.sequence = sequence
        self.variety = variety
        self.disclosed_quantity = disclosed_quantity

    @property
    def remaining_quantity(self) -> int:
        return self.quantity - self.filled_quantity

    @property
    def is_working(self) -> bool:
        return self.status.is_working

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def waits_for_trigger(self) -> bool:
        return self.order_type.needs_trigger and not self.triggered

    def __repr__(self) -> str:
        price = f" @ {self.price}" if self.price is not None else ""
        trigger = f" trigger {self.trigger_price}" if self.trigger_price is not None else ""
        return (
            f"<Order {self.order_id} {self.side} {self.quantity} {self.symbol} {self.order_type}{price}{trigger} "
            f"{self.product}/{self.validity} {self.status} filled {self.filled_quantity}>"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "client_order_id": self.client_order_id,
            "account": self.account,
            "symbol": self.symbol,
            "side": self.side.value,
            "order_type": self.order_type.value,
            "product": self.product.value,
            "validity": self.validity.value,
            "variety": self.variety.value,
            "quantity": self.quantity,
            "disclosed_quantity": self.disclosed_quantity,
            "price": self.price,
            "trigger_price": self.trigger_price,
            "filled_quantity": self.filled_quantity,
            "average_price": self.average_price,
            "status": self.status.value,
            "violations": [v.to_dict() for v in self.violations],
            "reason": self.reason,
            "tag": self.tag,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuilt(self)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left'>{k}</th><td>{v}</td></tr>"
            for k, v in self.to_dict().items()
            if v not in (None, [])
        )
        return f"<table>{rows}</table>"


def _probe() -> None:
    pass


COMPILED: Final = not isinstance(_probe, FunctionType)
"""Whether this module runs compiled (mypyc): its classes are then native, and their constructors set fields
directly."""



@dataclass(frozen=True, slots=True, init=False)
class Fill:
    """One execution (a trade) of part or all of an order."""

    trade_id: TradeId
    order_id: OrderId
    symbol: str
    side: Side
    quantity: int
    price: Decimal
    fees: Decimal = Decimal(0)
    ts: datetime | None = None
    product: Product = Product.MIS
    account: str = "default"

    # A frozen dataclass's generated __init__ calls object.__setattr__ once per field: 3 µs a fill, a twentieth of
    # the order path. As Python, the slots are set through their descriptors (frozen at a third of the cost, as
    # Bar); compiled, the fields are the class's own and are set directly.
    def __init__(
        self,
        trade_id: TradeId,
        order_id: OrderId,
        symbol: str,
        side: Side,
        quantity: int,
        price: Decimal,
        fees: Decimal = Decimal(0),
        ts: datetime | None = None,
        product: Product = Product.MIS,
        account: str = "default",
    ) -> None:
        if COMPILED:
            self.trade_id = trade_id  # type: ignore[misc]  # the constructor of a frozen class
            self.order_id = order_id  # type: ignore[misc]
            self.symbol = symbol  # type: ignore[misc]
            self.side = side  # type: ignore[misc]
            self.quantity = quantity  # type: ignore[misc]
            self.price = price  # type: ignore[misc]
            self.fees = fees  # type: ignore[misc]
            self.ts = ts  # type: ignore[misc]
            self.product = product  # type: ignore[misc]
            self.account = account  # type: ignore[misc]
            return
        _fill_trade_id(self, trade_id)
        _fill_order_id(self, order_id)
        _fill_symbol(self, symbol)
        _fill_side(self, side)
        _fill_quantity(self, quantity)
        _fill_price(self, price)
        _fill_fees(self, fees)
        _fill_ts(self, ts)
        _fill_product(self, product)
        _fill_account(self, account)

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuilt(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "trade_id": self.trade_id,
            "order_id": self.order_id,
            "account": self.account,
            "symbol": self.symbol,
            "product": self.product.value,
            "side": self.side.value,
            "quantity": self.quantity,
            "price": self.price,
            "fees": self.fees,
            "ts": self.ts,
        }


# The slot descriptors of the final class (slots=True builds a new class, so look them up after decoration).
(_fill_trade_id, _fill_order_id, _fill_symbol, _fill_side, _fill_quantity, _fill_price, _fill_fees, _fill_ts,
 _fill_product, _fill_account) = (vars(Fill)[f.name].__set__ for f in fields(Fill))


@dataclass(slots=True)
class Position:
    """A net position per symbol and product, as a broker's day position book shows it."""

    symbol: str
    product: Product = Product.MIS
    account: str = "default"
    quantity: int = 0
    average_price: Decimal = Decimal(0)
    realized_pnl: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    last_price: Decimal | None = None
    bought_quantity: int = 0
    sold_quantity: int = 0
    updated_at: datetime | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuilt(self)

    @property
    def unrealized_pnl(self) -> Decimal:
        if self.quantity == 0 or self.last_price is None:
            return Decimal(0)
        return (self.last_price - self.average_price) * self.quantity

    @property
    def market_value(self) -> Decimal:
        return (self.last_price if self.last_price is not None else self.average_price) * self.quantity

    def __repr__(self) -> str:
        return (
            f"<Position {self.symbol} {self.product} qty {self.quantity} avg {self.average_price} "
            f"realized {self.realized_pnl} unrealized {self.unrealized_pnl}>"
        )
