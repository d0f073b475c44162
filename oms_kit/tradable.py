"""One tradable contract, :class:`Instrument`: its tick and lot, and for a future or an option its underlying,
expiry and strike; the one place where a float (market data) becomes an exact price.

Its neighbours hold many instruments or reason about them: :mod:`oms_kit.instruments` is the instrument list (which
symbols can be traded, read from the kit's CSV or Kite's dump), :mod:`oms_kit.instrument_master` looks a day's
contracts up (:class:`oms_kit.Instruments`), and :mod:`oms_kit.contracts` holds the pure functions of a future or
an option (its expiry close, its freeze-quantity slices, its settlement price).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Final

from oms_kit.errors import ConfigError, InvalidOrderError
from oms_kit.models import _rebuilt
from oms_kit.parsing import MAX_QUANTITY, parse_price, parse_quantity

# Tick sizes already checked, with their float. An instrument list has a handful of distinct ticks, and checking
# one (parse_price, then float) was a third of the cost of building an Instrument. Bounded against hostile input.
_CHECKED_TICKS: Final[dict[Decimal, float]] = {}

# What a contract is, in Kite's words: cash equity, a future, a call or a put option.
INSTRUMENT_TYPES: Final = ("EQ", "FUT", "CE", "PE")
_TOKEN_ALLOWED: Final = "a whole number from 1 to 4,294,967,295 (Kite's instrument token)"


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
