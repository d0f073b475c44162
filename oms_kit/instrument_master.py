"""The instrument master: every contract of a day, with its own tick, lot and expiry, and lookups over them.

:class:`Instruments` reads Kite Connect's instrument dump (``GET /instruments``, a CSV of every tradable contract)
or the kit's own CSV (:func:`oms_kit.instruments.read_instruments`), and answers by ``EXCHANGE:SYMBOL``, by symbol,
by instrument token, and for futures and options by underlying and expiry: the futures of ``NIFTY``, its
expiries, the strikes of one expiry's option chain, one option. Lot and tick sizes are per contract: the exchange
revises an index's lot for new contracts while the older expiries keep theirs, so two NIFTY contracts of one day
can have different lots.

A small dated sample ships with the package (:meth:`Instruments.sample`): NSE equities and NIFTY and BANKNIFTY
futures and options as listed on 3 November 2025 (``data/README.md`` gives its sources).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from importlib.resources import files
from io import StringIO
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from oms_kit.errors import ConfigError, DataError, InvalidOrderError
from oms_kit.instruments import KITE_COLUMNS, read_instruments, read_kite_instruments
from oms_kit.parsing import parse_price
from oms_kit.tradable import Instrument

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "KITE_COLUMNS",
    "SAMPLE_DATE",
    "SAMPLE_FREEZE_QUANTITIES",
    "InstrumentLookupError",
    "Instruments",
]

SAMPLE_DATE = date(2025, 11, 3)
_SAMPLE_FILE = "kite_instruments_2025-11-03.csv"
# Kite's dump has no freeze quantities; these are NSE's for index derivatives from 3 November 2025 (circular of
# 31 October 2025), in units of the underlying.
SAMPLE_FREEZE_QUANTITIES: Mapping[str, int] = {"NIFTY": 1800, "BANKNIFTY": 600}

_OPTION_TYPES = ("CE", "PE")
_EXPIRY_KINDS = {"FUT": ("FUT",), "OPT": _OPTION_TYPES, "CE": ("CE",), "PE": ("PE",)}
_ORDER = {"FUT": 0, "CE": 1, "PE": 2}


class InstrumentLookupError(ConfigError, KeyError):
    """A symbol, token or contract that the instrument master does not hold (or holds more than once, on several
    exchanges). A :class:`~oms_kit.errors.ConfigError` naming what was asked, and a ``KeyError``."""

    def __str__(self) -> str:  # KeyError would show the repr of its argument
        return ConfigError.__str__(self)


class Instruments:
    """An instrument master: a day's contracts, each with its own tick, lot, freeze quantity and expiry.

    >>> master = ok.Instruments.sample()                 # or Instruments.from_kite("instruments.csv")
    >>> master["NFO:NIFTY25NOVFUT"].lot_size             # 75
    >>> master.expiries("NIFTY", "FUT")                  # [2025-11-25, 2025-12-30, 2026-01-27]
    >>> master.strikes("NIFTY", "2025-11-25")            # [25600, 25700, 25800]
    >>> master.option("NIFTY", "2025-11-25", 25700, "CE").symbol

    Iterating gives the instruments in file order; ``OMS.open(instruments=master)`` takes them all.
    """

    __slots__ = ("_by_expiry", "_by_key", "_by_symbol", "_by_token", "_contracts", "_items", "_options")

    def __init__(self, instruments: Iterable[Instrument] = ()) -> None:
        """Index ``instruments``.

        Raises
        ------
        ConfigError
            An item is not an Instrument, or two share an ``EXCHANGE:SYMBOL`` or an instrument token.
        """
        if isinstance(instruments, str | bytes) or not isinstance(instruments, Iterable):
            raise ConfigError("instruments", instruments, "an iterable of Instrument objects")
        self._items: tuple[Instrument, ...] = tuple(instruments)
        self._by_key: dict[str, Instrument] = {}
        self._by_symbol: dict[str, list[Instrument]] = {}
        self._by_token: dict[int, Instrument] = {}
        # underlying -> its futures and options (in _contract_order); (underlying, expiry) -> those of one expiry;
        # (underlying, expiry, type, strike) -> the option on each exchange that lists it. A full dump has
        # thousands of NIFTY options: one lookup must not walk them.
        self._contracts: dict[str, list[Instrument]] = {}
        self._by_expiry: dict[tuple[str, date], list[Instrument]] = {}
        self._options: dict[tuple[str, date, str, Decimal], list[Instrument]] = {}
        for item in self._items:
            if not isinstance(item, Instrument):
                raise ConfigError("instruments", item, "Instrument objects")
            # Even the same instrument twice: iteration would repeat it and its bare symbol would look ambiguous.
            if item.key in self._by_key:
                raise ConfigError(f"instruments ({item.key} given twice)", item, "one instrument per EXCHANGE:SYMBOL")
            self._by_key[item.key] = item
            self._by_symbol.setdefault(item.symbol, []).append(item)
            token = item.instrument_token
            if token is not None:
                if token in self._by_token:
                    raise ConfigError(f"instruments (instrument token {token} given twice)", item,
                                      "one instrument per token")
                self._by_token[token] = item
            if item.underlying is not None and item.expiry is not None:
                self._contracts.setdefault(item.underlying, []).append(item)
                self._by_expiry.setdefault((item.underlying, item.expiry), []).append(item)
                if item.strike is not None:
                    key = (item.underlying, item.expiry, item.instrument_type, item.strike)
                    self._options.setdefault(key, []).append(item)
        for contracts in (*self._contracts.values(), *self._by_expiry.values()):
            contracts.sort(key=_contract_order)

    # -- loading -------------------------------------------------------------------------------------------------

    @classmethod
    def from_kite(cls, source: str | Path | IO[str], *,
                  freeze_quantities: Mapping[str, int] | None = None) -> Instruments:
        """Read Kite Connect's instrument dump (the CSV of ``GET /instruments``).

        Parameters
        ----------
        source
            A path or an open text file with Kite's columns (:data:`KITE_COLUMNS`; ``exchange_token`` and
            ``last_price`` may be absent and are not kept). Index rows (segment ``INDICES``: tick 0, lot 0) are
            left out: they are not tradable. For a future or an option, ``name`` is the underlying.
        freeze_quantities
            The exchange's freeze quantity by underlying (``{"NIFTY": 1800}``), given to its futures and options:
            Kite's dump has none.

        Raises
        ------
        DataError
            A required column is missing, or a row has a bad value (the message names the column, the line, the
            header being line 1, and the value), or two rows share an ``EXCHANGE:SYMBOL`` or a token.
        """
        return cls(read_kite_instruments(source, freeze_quantities=freeze_quantities))

    @classmethod
    def from_csv(cls, source: str | Path | IO[str]) -> Instruments:
        """Read the kit's own instrument CSV (:func:`oms_kit.instruments.read_instruments`, whose columns
        :meth:`to_frame` writes).

        Raises
        ------
        DataError
            As :func:`~oms_kit.instruments.read_instruments`, or two rows share an ``EXCHANGE:SYMBOL`` or a token.
        """
        items = read_instruments(source)
        try:
            return cls(items)
        except ConfigError as error:
            raise DataError(error.field, error.value, error.allowed) from None

    @classmethod
    def sample(cls) -> Instruments:
        """The sample shipped with the package: Kite's dump format, as listed on :data:`SAMPLE_DATE`.

        Five NSE equities, and NIFTY and BANKNIFTY futures and options around the money: NIFTY's weekly options
        of 4 and 11 November 2025, the monthly expiries of November and December 2025 (lot 75; BANKNIFTY 35)
        and January 2026 (lot 65; BANKNIFTY 30, after NSE's revision of 28 October 2025), and a March 2026
        quarterly NIFTY option still on lot 75; freeze quantities :data:`SAMPLE_FREEZE_QUANTITIES`. Instrument
        tokens of the futures and options are made up.
        """
        return cls(_sample_items())

    # -- lookups -------------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self._items)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, Instrument):
            return self._by_key.get(key.key) == key
        return isinstance(key, str) and self._find(key) is not None

    def __getitem__(self, key: str) -> Instrument:
        """The instrument named ``EXCHANGE:SYMBOL`` (``NFO:NIFTY25NOVFUT``) or by its symbol alone.

        Raises
        ------
        InstrumentLookupError
            None has that name, or the bare symbol is on several exchanges (the message lists them).
        """
        if not isinstance(key, str):
            raise InstrumentLookupError("symbol", key, "a text: 'EXCHANGE:SYMBOL' or 'SYMBOL'")
        found = self._find(key)
        if found is not None:
            return found
        several = self._by_symbol.get(key, ())
        if len(several) > 1:
            raise InstrumentLookupError("symbol", key, "one of " + ", ".join(i.key for i in several),
                                        hint="the symbol is listed on more than one exchange")
        raise InstrumentLookupError("symbol", key, "a symbol of the instrument master", hint=self._examples())

    def get(self, key: str, default: Any = None) -> Any:
        """The instrument named ``key`` (as ``master[key]``), or ``default``."""
        found = self._find(key) if isinstance(key, str) else None
        return default if found is None else found

    def by_token(self, token: int) -> Instrument:
        """The instrument with Kite's ``instrument_token``.

        Raises
        ------
        InstrumentLookupError
            No instrument has that token.
        """
        found = self._by_token.get(token) if type(token) is int else None
        if found is None:
            raise InstrumentLookupError("instrument_token", token, "the token of an instrument of the master")
        return found

    def underlyings(self) -> list[str]:
        """The underlyings that have futures or options, in name order."""
        return sorted(self._contracts)

    def futures(self, underlying: str, *, exchange: str | None = None) -> list[Instrument]:
        """The futures of ``underlying`` (on ``exchange``, if given), nearest expiry first; empty if none."""
        return [i for i in self._of(underlying, exchange) if i.instrument_type == "FUT"]

    def future(self, underlying: str, expiry: date | str, *, exchange: str | None = None) -> Instrument:
        """The future of ``underlying`` expiring on ``expiry`` (a date or ``"YYYY-MM-DD"``).

        Raises
        ------
        InstrumentLookupError
            There is none, or one on each of several exchanges (give ``exchange``).
        ConfigError
            ``expiry`` is not a date.
        """
        day = _expiry(expiry)
        found = [i for i in self._of(underlying, exchange, day) if i.instrument_type == "FUT"]
        return self._one(found, "expiry", expiry, underlying, "FUT")

    def options(self, underlying: str, expiry: date | str | None = None, option_type: str | None = None, *,
                exchange: str | None = None) -> list[Instrument]:
        """The options of ``underlying``: of one expiry and type (``"CE"`` or ``"PE"``) if given; by expiry,
        then strike, calls before puts. Empty if none."""
        day = None if expiry is None else _expiry(expiry)
        kinds = _OPTION_TYPES if option_type is None else (_option_type(option_type),)
        return [i for i in self._of(underlying, exchange, day) if i.instrument_type in kinds]

    def option(self, underlying: str, expiry: date | str, strike: Decimal | int | str | float, option_type: str,
               *, exchange: str | None = None) -> Instrument:
        """The one option of ``underlying``, ``expiry``, ``strike`` and type (``"CE"`` or ``"PE"``).

        Raises
        ------
        InstrumentLookupError
            There is none, or one on each of several exchanges (give ``exchange``).
        ConfigError
            ``expiry``, ``strike`` or ``option_type`` is malformed.
        """
        name, day, price, kind = _underlying(underlying), _expiry(expiry), _strike(strike), _option_type(option_type)
        found = _on(self._options.get((name, day, kind, price), []), exchange)
        return self._one(found, "strike", strike, name, kind)

    def expiries(self, underlying: str, instrument_type: str | None = None, *,
                 exchange: str | None = None) -> list[date]:
        """The expiries of ``underlying``'s contracts, earliest first: of its futures (``"FUT"``), options
        (``"OPT"``), calls or puts (``"CE"``, ``"PE"``), or all (None). Empty if none."""
        if instrument_type is None:
            kinds: tuple[str, ...] = ("FUT", *_OPTION_TYPES)
        elif isinstance(instrument_type, str) and instrument_type.strip().upper() in _EXPIRY_KINDS:
            kinds = _EXPIRY_KINDS[instrument_type.strip().upper()]
        else:
            raise ConfigError("instrument_type", instrument_type, "FUT, OPT, CE, PE or None")
        return sorted({i.expiry for i in self._of(underlying, exchange)  # type: ignore[misc]
                       if i.instrument_type in kinds})

    def strikes(self, underlying: str, expiry: date | str, *, exchange: str | None = None) -> list[Decimal]:
        """The strikes of ``underlying``'s option chain for ``expiry`` (calls and puts together), lowest first."""
        return sorted({i.strike for i in self.options(underlying, expiry, exchange=exchange)})  # type: ignore[misc]

    def to_frame(self) -> pd.DataFrame:
        """The instruments as a DataFrame, one row each in file order, with the columns that
        :func:`~oms_kit.instruments.read_instruments` reads back: symbol, exchange, segment, instrument_type,
        underlying, expiry, strike, tick_size, lot_size, freeze_quantity, instrument_token, name (prices as
        ``Decimal``, expiries as ``datetime.date``, absent values None)."""
        import pandas as pd  # on first use: loading a master needs no pandas

        columns = ["symbol", "exchange", "segment", "instrument_type", "underlying", "expiry", "strike", "tick_size",
                   "lot_size", "freeze_quantity", "instrument_token", "name"]
        rows = [[getattr(i, c) for c in columns] for i in self._items]
        frame = pd.DataFrame(rows, columns=columns, dtype=object)
        frame["lot_size"] = frame["lot_size"].astype("int64")
        return frame

    def __repr__(self) -> str:
        return f"Instruments({len(self._items)} instruments, {len(self._contracts)} underlyings with contracts)"

    # -- helpers -------------------------------------------------------------------------------------------------

    def _find(self, key: str) -> Instrument | None:
        found = self._by_key.get(key)
        if found is None:
            several = self._by_symbol.get(key)
            if several is not None and len(several) == 1:
                found = several[0]
        return found

    def _of(self, underlying: str, exchange: str | None, expiry: date | None = None) -> list[Instrument]:
        name = _underlying(underlying)
        contracts = self._contracts.get(name, []) if expiry is None else self._by_expiry.get((name, expiry), [])
        return _on(contracts, exchange)

    def _one(self, found: list[Instrument], field: str, value: object, underlying: str, kind: str) -> Instrument:
        if len(found) == 1:
            return found[0]
        if found:
            raise InstrumentLookupError(field, value, "one of " + ", ".join(i.key for i in found),
                                        hint="the contract is listed on more than one exchange: give exchange=")
        have = self.expiries(underlying, "OPT" if kind in _OPTION_TYPES else kind)
        allowed = (f"an expiry of {underlying}'s {kind} contracts: " + ", ".join(map(str, have))) if have \
            else f"a contract of the master ({underlying} has no {kind} contracts)"
        if field == "strike" and have:
            allowed = f"a listed {kind} strike of {underlying} for that expiry (see strikes())"
        raise InstrumentLookupError(field, value, allowed)

    def _examples(self) -> str | None:
        names = [i.key for i in self._items[:3]]
        return f"e.g. {', '.join(names)}" if names else None


def _contract_order(item: Instrument) -> tuple[Any, ...]:
    # By expiry; in an expiry the future, then the chain by strike, a call before its put.
    return (item.expiry, item.exchange, item.strike is not None, item.strike or 0, _ORDER[item.instrument_type])


def _on(contracts: list[Instrument], exchange: str | None) -> list[Instrument]:
    if exchange is None:
        return contracts
    if not isinstance(exchange, str):
        raise ConfigError("exchange", exchange, "an exchange's name, e.g. 'NFO', or None")
    return [i for i in contracts if i.exchange == exchange]


def _underlying(value: object) -> str:
    if not isinstance(value, str):
        raise ConfigError("underlying", value, "the underlying's symbol as text, e.g. 'NIFTY'")
    return value


def _expiry(value: object) -> date:
    if type(value) is date:
        return value
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 10 and text[4] == "-" and text[7] == "-":
            try:
                return date.fromisoformat(text)
            except ValueError:
                pass
    hint = "pass its .date()" if isinstance(value, datetime) else None
    raise ConfigError("expiry", value, "a datetime.date or a text YYYY-MM-DD", hint=hint)


def _strike(value: object) -> Decimal:
    try:
        return parse_price(value, "strike")
    except InvalidOrderError as error:
        raise ConfigError("strike", value, error.allowed) from None


def _option_type(value: object) -> str:
    text = value.strip().upper() if isinstance(value, str) else None
    if text not in _OPTION_TYPES:
        raise ConfigError("option_type", value, "CE or PE")
    return text  # type: ignore[return-value]


@cache
def _sample_items() -> tuple[Instrument, ...]:
    # Read from the package, not from data/: an installed kit has no repository around it.
    text = files("oms_kit").joinpath(_SAMPLE_FILE).read_text(encoding="utf-8")
    return tuple(read_kite_instruments(StringIO(text), freeze_quantities=SAMPLE_FREEZE_QUANTITIES,
                                       label=f"oms_kit/{_SAMPLE_FILE}"))
