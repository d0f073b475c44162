"""Enums and value objects of the order domain.

Prices and money are exact :class:`~decimal.Decimal` on the instrument's tick; quantities are ``int``. Market data
stays ``float``: :class:`Instrument` is the one place where a float becomes a price.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from types import FunctionType
from typing import Any, NewType, Self

from oms_kit.errors import ConfigError, InvalidOrderError

OrderId = NewType("OrderId", str)
ClientOrderId = NewType("ClientOrderId", str)
TradeId = NewType("TradeId", str)


# Per enum class: every accepted spelling (value and name, upper case) to its member. Parsing runs for every field
# of every order, and a dict lookup is ten times cheaper than walking the members.
_SPELLINGS: dict[type, dict[str, Any]] = {}


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


TERMINAL_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)
WORKING_STATUSES = frozenset(
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


# The largest quantity and price an order may carry. The store keeps quantities as BIGINT and prices and money as
# DECIMAL(28, 8) (below 10**20, eight decimals): with both bounds an order's value (at most 10**18) and its fees fit
# too, so a value refused here is one that could never have been stored. No listed instrument comes near either.
MAX_QUANTITY = 10**9
MAX_PRICE = Decimal(10**9)
MAX_CASH = Decimal(10**15)  # an account's starting cash
PRICE_PLACES = 8
_PLACES = Decimal(1).scaleb(-PRICE_PLACES)
_QUANTITY_ALLOWED = f"a whole number from 1 to {MAX_QUANTITY:,}"
_DISCLOSED_ALLOWED = f"a whole number from 0 (all of the order shown) to {MAX_QUANTITY:,}"
_PRICE_ALLOWED = f"a finite number above 0 and at most {MAX_PRICE:,}, with at most {PRICE_PLACES} decimal places"


def parse_quantity(value: object, field_name: str = "quantity") -> int:
    """A whole number of units from 1 to :data:`MAX_QUANTITY`; floats such as 10.0 are accepted, 10.5 or True are
    not."""
    quantity = _whole(value)
    if quantity is None or not 0 < quantity <= MAX_QUANTITY:
        raise InvalidOrderError(field_name, value, _QUANTITY_ALLOWED)
    return quantity


def parse_disclosed_quantity(value: object) -> int:
    """How much of an order the exchange shows at a time: a whole number from 0 (all of it shown, the default) to
    :data:`MAX_QUANTITY`, read as :func:`parse_quantity` reads a quantity. Its rule against the order's quantity,
    instrument and type is a pre-trade check (``DISCLOSED_QUANTITY``, :mod:`oms_kit.checks`)."""
    quantity = _whole(value)
    if quantity is None or not 0 <= quantity <= MAX_QUANTITY:
        raise InvalidOrderError("disclosed_quantity", value, _DISCLOSED_ALLOWED)
    return quantity


def _whole(value: object) -> int | None:
    # A whole number as an int (10, 10.0, Decimal("10")), or None when it is not one (True, 10.5, "10", NaN).
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    # A Decimal is bounded by its exponent first, without arithmetic: abs(Decimal("1e999999999")) overflows the
    # context and int() of it would build a billion-digit number. Below 10**10 it may be a whole number in range.
    if (isinstance(value, Decimal) and value.is_finite() and value.adjusted() < 10
            and value == value.to_integral_value()):
        return int(value)
    return None


def _probe() -> None:
    pass


COMPILED = not isinstance(_probe, FunctionType)
"""Whether this module runs compiled (mypyc): its classes are then native, and their constructors set fields
directly."""


def parse_price(value: object, field_name: str = "price") -> Decimal:
    """An exact price above 0 and at most :data:`MAX_PRICE`, as given: a user's price is never rounded (off-tick is
    a violation), so it may have at most :data:`PRICE_PLACES` decimals, what the store keeps."""
    price = _exact(value)
    if price is None or not 0 < price <= MAX_PRICE:
        raise InvalidOrderError(field_name, value, _PRICE_ALLOWED)
    return price


def _exact(value: object) -> Decimal | None:
    # A number as an exact Decimal with at most PRICE_PLACES decimals, or None when it is not one. The bounds of the
    # caller come before any arithmetic: Decimal("1e400") compares fine but fails to quantize or add later.
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        return None
    try:
        # str() of a float is its shortest round-trip form: 2500.05 stays 2500.05, not 2500.0499999...
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not number.is_finite() or abs(number) > MAX_CASH or number.quantize(_PLACES) != number:
        return None
    return number


def parse_text(value: object, field_name: str, max_length: int) -> str:
    """A non-empty text of at most ``max_length`` characters without control characters (symbols, ids, tags,
    reasons): the store keeps it as it is (PostgreSQL's text cannot hold a NUL) and a table shows it on one line."""
    if not isinstance(value, str) or not value.strip() or len(value) > max_length or not value.isprintable():
        raise InvalidOrderError(field_name, value if not isinstance(value, str) or len(value) <= 80 else
                                value[:80] + "…", f"a non-empty text of at most {max_length} printable characters")
    return value


def parse_cash(value: object, field_name: str = "cash") -> Decimal:
    """An account's starting cash: a finite amount from 0 to :data:`MAX_CASH` with at most
    :data:`PRICE_PLACES` decimals. Raises ConfigError."""
    cash = _exact(value)
    if cash is None or not 0 <= cash <= MAX_CASH:
        raise ConfigError(field_name, value,
                          f"a finite amount from 0 to {MAX_CASH:,} with at most {PRICE_PLACES} decimal places")
    return cash


# Tick sizes already checked, with their float. An instrument list has a handful of distinct ticks, and checking
# one (parse_price, then float) was a third of the cost of building an Instrument. Bounded against hostile input.
_CHECKED_TICKS: dict[Decimal, float] = {}

# What a contract is, in Kite's words: cash equity, a future, a call or a put option.
INSTRUMENT_TYPES = ("EQ", "FUT", "CE", "PE")
_TOKEN_ALLOWED = "a whole number from 1 to 4,294,967,295 (Kite's instrument token)"


@dataclass(frozen=True, slots=True, init=False)
class Instrument:
    """A tradable contract with its tick and lot; the one place where a float becomes an exact price.

    Cash equity needs only ``symbol`` (and its tick and lot when they differ from the defaults). A future or an
    option also names its ``underlying`` (``"NIFTY"``), ``expiry`` and, for an option, ``strike``; its tick, lot and
    freeze quantity are the contract's own, since an exchange revises them for new contracts while older expiries
    keep theirs. ``segment`` and ``instrument_token`` are Kite's (``"NFO-OPT"``, a number); both are optional.
    Bad fields raise ConfigError naming the field.
    """

    symbol: str
    exchange: str = "NSE"
    tick_size: Decimal = Decimal("0.05")
    lot_size: int = 1
    freeze_quantity: int | None = None
    name: str = ""
    instrument_type: str = "EQ"  # one of INSTRUMENT_TYPES
    underlying: str | None = None  # FUT, CE, PE: the underlying's symbol, e.g. NIFTY
    expiry: date | None = None  # FUT, CE, PE: the last trading day
    strike: Decimal | None = None  # CE, PE
    segment: str | None = None  # Kite's segment: NSE, NFO-FUT, NFO-OPT, ...
    instrument_token: int | None = None  # Kite's
    _tick: float = field(init=False, repr=False, compare=False, default=0.0)  # tick_size as a float

    # The values that are checked by hand are taken as ``object`` and stored parsed: a compiled class checks its
    # fields' types on assignment, and a loader passes Decimal lots and text ticks.
    def __init__(
        self,
        symbol: object,
        exchange: str = "NSE",
        tick_size: object = Decimal("0.05"),
        lot_size: object = 1,
        freeze_quantity: object = None,
        name: str = "",
        instrument_type: object = "EQ",
        underlying: object = None,
        expiry: object = None,
        strike: object = None,
        segment: object = None,
        instrument_token: object = None,
    ) -> None:
        # An instrument is a setting, not an order: its bad fields raise ConfigError.
        if not symbol or not isinstance(symbol, str):
            raise ConfigError("symbol", symbol, "a non-empty string")
        tick, as_float = _tick_size(tick_size)
        try:
            # A valid int lot is kept as it is; anything else (10.0, True, "1") goes through the parser.
            lot = lot_size if type(lot_size) is int and 0 < lot_size <= MAX_QUANTITY else parse_quantity(
                lot_size, "lot_size")
            freeze = None if freeze_quantity is None else parse_quantity(freeze_quantity, "freeze_quantity")
        except InvalidOrderError as error:
            raise ConfigError(error.field, error.value, error.allowed) from None
        # Equities (every instrument of a backtest) pay for this one test only; contracts are checked apart.
        if (instrument_type != "EQ" or expiry is not None or strike is not None or underlying is not None
                or segment is not None or instrument_token is not None):
            contract = _check_contract(instrument_type, underlying, expiry, strike, segment, instrument_token)
        else:
            contract = ("EQ", None, None, None, None, None)
        kind, underlying_symbol, expiry_day, strike_price, segment_name, token = contract
        setter = object.__setattr__  # frozen: the constructor sets each field past the dataclass's guard
        setter(self, "symbol", symbol)
        setter(self, "exchange", exchange)
        setter(self, "tick_size", tick)
        setter(self, "lot_size", lot)
        setter(self, "freeze_quantity", freeze)
        setter(self, "name", name)
        setter(self, "instrument_type", kind)
        setter(self, "underlying", underlying_symbol)
        setter(self, "expiry", expiry_day)
        setter(self, "strike", strike_price)
        setter(self, "segment", segment_name)
        setter(self, "instrument_token", token)
        setter(self, "_tick", as_float)

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuilt(self)

    @property
    def key(self) -> str:
        """``EXCHANGE:SYMBOL``, as Kite names an instrument (``NFO:NIFTY25NOVFUT``)."""
        return f"{self.exchange}:{self.symbol}"

    @property
    def is_option(self) -> bool:
        """A call or a put (instrument_type CE or PE)."""
        return self.instrument_type in ("CE", "PE")

    @property
    def is_future(self) -> bool:
        """A future (instrument_type FUT)."""
        return self.instrument_type == "FUT"

    def round_price(self, value: float | Decimal) -> Decimal:
        """Market data (float) to an exact price on the nearest tick.

        A positive value never becomes 0: one below half a tick (a penny stock on a coarse tick) becomes one tick,
        since a price of 0 is no price (orders and marks refuse it). 0, negative and non-finite values are rounded
        as they are.
        """
        if type(value) is float:
            # Every bar goes through here. In floats the nearest tick is the exact one unless the value lies within
            # float error of half a tick (or is too large for an exact count of ticks): those take the exact path.
            ticks = value / self._tick
            if 0 < ticks < 1e12:
                count = round(ticks)
                if abs(ticks - count) < 0.4999:
                    # count is 0 only for a positive value below half a tick.
                    return Decimal(count or 1) * self.tick_size
        price = Decimal(str(value))
        steps = (price / self.tick_size).to_integral_value()
        if not steps and price > 0:
            steps = Decimal(1)
        return (steps * self.tick_size).quantize(self.tick_size)

    def is_on_tick(self, price: Decimal) -> bool:
        return price % self.tick_size == 0

    def is_lot_multiple(self, quantity: int) -> bool:
        return quantity % self.lot_size == 0


def _tick_size(value: object) -> tuple[Decimal, float]:
    # A tick size checked, with its float; ConfigError names the field.
    try:
        as_float = _CHECKED_TICKS.get(value) if type(value) is Decimal else None
    except TypeError:  # a signalling NaN has no hash; parse_price refuses it below
        as_float = None
    if as_float is not None:
        return value, as_float  # type: ignore[return-value]  # a Decimal (its type was tested above)
    try:
        tick = parse_price(value, "tick_size")
    except InvalidOrderError as error:
        raise ConfigError(error.field, error.value, error.allowed) from None
    as_float = float(tick)
    if len(_CHECKED_TICKS) < 64:
        _CHECKED_TICKS[tick] = as_float
    return tick, as_float


def _check_contract(kind: object, underlying: object, expiry: object, strike: object, segment: object,
                    token: object) -> tuple[str, str | None, date | None, Decimal | None, str | None, int | None]:
    # The fields of a future or an option, checked and returned in their one form; ConfigError names the field.
    if kind not in INSTRUMENT_TYPES or not isinstance(kind, str):
        raise ConfigError("instrument_type", kind, ", ".join(INSTRUMENT_TYPES))
    for name, text in (("underlying", underlying), ("segment", segment)):
        if text is not None and (not isinstance(text, str) or not text.strip() or not text.isprintable()):
            raise ConfigError(name, text, "a non-empty printable text, or None")
    if token is not None and (type(token) is not int or not 0 < token < 2**32):
        raise ConfigError("instrument_token", token, _TOKEN_ALLOWED)
    texts = (underlying if isinstance(underlying, str) else None, segment if isinstance(segment, str) else None)
    number = token if isinstance(token, int) else None
    if kind == "EQ":
        if expiry is not None or strike is not None:
            field_name, value = ("expiry", expiry) if expiry is not None else ("strike", strike)
            raise ConfigError(field_name, value, "None for cash equity (instrument_type EQ)")
        return kind, texts[0], None, None, texts[1], number
    if underlying is None:
        raise ConfigError("underlying", None, f"the underlying's symbol for a {kind} contract, e.g. 'NIFTY'")
    # datetime is a date too, but an expiry is a day: a time of day would make equal expiries differ.
    if type(expiry) is not date:
        raise ConfigError("expiry", expiry, f"a datetime.date for a {kind} contract")
    day: date = expiry  # type: ignore[assignment]  # its type was tested above
    if kind == "FUT":
        if strike is not None:
            raise ConfigError("strike", strike, "None for a future")
        return kind, texts[0], day, None, texts[1], number
    try:
        price = parse_price(strike, "strike")
    except InvalidOrderError as error:
        raise ConfigError("strike", strike, f"{error.allowed} for an option") from None
    # 25800.0 and 25800 are one strike: keep whole strikes whole, so they print and hash alike.
    if price == price.to_integral_value():
        price = Decimal(int(price))
    return kind, texts[0], day, price, texts[1], number


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
