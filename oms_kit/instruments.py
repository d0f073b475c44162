"""The instrument list: which symbols can be traded, with their tick and lot sizes.

A default list of NSE large caps ships with the package (``oms_kit/instruments.csv``; ``data/instruments.csv`` is
an identical copy for browsing, kept in step by a test). ``OMS.open(instruments=[...])`` adds to it or replaces it
through :func:`resolve_instruments`. :func:`read_instruments` reads the kit's CSV, :func:`read_kite_instruments`
Kite Connect's instrument dump; :class:`oms_kit.Instruments` (``instrument_master.py``) looks contracts up.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date
from decimal import Decimal
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import IO, Any, cast

from oms_kit.errors import ConfigError, DataError, InvalidOrderError
from oms_kit.parsing import parse_quantity
from oms_kit.tradable import Instrument

__all__ = [
    "DEFAULT_TICK_SIZE",
    "KITE_COLUMNS",
    "default_instrument",
    "default_instruments",
    "missing_instruments",
    "read_instruments",
    "read_kite_instruments",
    "resolve_instruments",
]

# For symbols a backtest or a replay finds in its data but not in the instrument list: tick 0.01, lot 1
# (docs/ARCHITECTURE.md, "Rules the code relies on").
DEFAULT_TICK_SIZE = Decimal("0.01")
_REQUIRED_COLUMNS = ("symbol", "tick_size", "lot_size")

KITE_COLUMNS = ("instrument_token", "exchange_token", "tradingsymbol", "name", "last_price", "expiry", "strike",
                "tick_size", "lot_size", "instrument_type", "segment", "exchange")
# exchange_token is instrument_token >> 8 and last_price is yesterday's: neither is kept, so neither is required.
_KITE_REQUIRED = tuple(c for c in KITE_COLUMNS if c not in ("exchange_token", "last_price"))
# Instrument's fields by the dump's column that holds them, where the names differ.
_KITE_FIELDS = {"symbol": "tradingsymbol", "underlying": "name"}
_KITE_TYPES = "EQ, FUT, CE, PE"
# Kite lists the indices (NIFTY 50, NIFTY BANK) with tick 0 and lot 0: prices to watch, not contracts to trade.
_NOT_TRADED = frozenset({"INDICES"})


def read_instruments(source: str | Path | IO[str]) -> list[Instrument]:
    """Read instruments from a CSV file with the columns of the default list.

    Parameters
    ----------
    source
        A path or an open text file. Columns: symbol, tick_size, lot_size (required); exchange (default NSE),
        freeze_quantity (empty: none), name (optional); for futures and options also instrument_type (EQ, FUT,
        CE, PE; default EQ), underlying, expiry (YYYY-MM-DD), strike, segment and instrument_token, each optional
        (the columns of :meth:`oms_kit.Instruments.to_frame`). Other columns are ignored.

    Returns
    -------
    list of Instrument
        In file order.

    Raises
    ------
    DataError
        A required column is missing, or a row has a bad value; the message names the column, the line (the
        header is line 1) and the value.
    """
    if isinstance(source, str | Path):
        return _from_path(source, lambda handle: _parse(handle, str(source)))
    return _parse(source, getattr(source, "name", "instrument file"))


def _from_path(path: str | Path, parse: Callable[[IO[str]], list[Instrument]]) -> list[Instrument]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return parse(handle)
    except UnicodeDecodeError as error:
        raise DataError(f"instrument file {path}", error.object[max(0, error.start - 20):error.end + 20],
                        "UTF-8 text") from error


def _parse(handle: IO[str], label: str) -> list[Instrument]:
    reader, columns = _open_csv(handle, label)
    missing = [c for c in _REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise DataError(
            f"instrument columns in {label} (missing: {', '.join(missing)})",
            columns,
            "symbol, exchange, tick_size, lot_size, freeze_quantity, name",
        )
    instruments = []
    for line, row in _rows(reader, label):
        cell = _Cells(row, line, label)
        kind = cell.text("instrument_type", required=False) or "EQ"
        instruments.append(cell.instrument(
            symbol=cell.text("symbol"),
            exchange=cell.text("exchange", required=False) or "NSE",
            tick_size=cell.decimal("tick_size"),
            lot_size=cell.decimal("lot_size"),
            freeze_quantity=cell.decimal("freeze_quantity", required=False),
            name=row.get("name", ""),
            instrument_type=kind,
            underlying=cell.text("underlying", required=False),
            expiry=cell.date("expiry"),
            strike=cell.decimal("strike", required=False),
            segment=cell.text("segment", required=False),
            instrument_token=cell.integer("instrument_token", required=False),
        ))
    return instruments


def read_kite_instruments(source: str | Path | IO[str], *, freeze_quantities: Mapping[str, int] | None = None,
                          label: str | None = None) -> list[Instrument]:
    """Read Kite Connect's instrument dump (the CSV of ``GET /instruments``).

    Parameters
    ----------
    source
        A path or an open text file with Kite's columns (:data:`KITE_COLUMNS`; ``exchange_token`` and
        ``last_price`` may be absent and are not kept). Index rows (segment ``INDICES``: tick 0, lot 0) are left
        out: they are not tradable. For a future or an option, ``name`` is the underlying.
    freeze_quantities
        The exchange's freeze quantity by underlying (``{"NIFTY": 1800}``), given to its futures and options: Kite's
        dump has none.
    label
        How messages name the source (default: its path or name).

    Returns
    -------
    list of Instrument
        In file order.

    Raises
    ------
    DataError
        A required column is missing, or a row has a bad value (the message names the column, the line, the
        header being line 1, and the value), or two rows share an ``EXCHANGE:SYMBOL`` or a token.
    ConfigError
        ``freeze_quantities`` is not a mapping of underlying to a whole number from 1.
    """
    freeze = _freeze_map(freeze_quantities)
    if isinstance(source, str | Path):
        return _from_path(source, lambda handle: _parse_kite(handle, label or str(source), freeze))
    return _parse_kite(source, label or cast(str, getattr(source, "name", "Kite instrument dump")), freeze)


def _parse_kite(handle: IO[str], label: str, freeze: Mapping[str, int]) -> list[Instrument]:
    reader, columns = _open_csv(handle, label)
    missing = [c for c in _KITE_REQUIRED if c not in columns]
    if missing:
        raise DataError(f"Kite instrument columns in {label} (missing: {', '.join(missing)})", columns,
                        ", ".join(KITE_COLUMNS))
    items: list[Instrument] = []
    lines: dict[str, int] = {}
    token_lines: dict[int, int] = {}
    for line, row in _rows(reader, label):
        cell = _Cells(row, line, label, _KITE_FIELDS)
        if row.get("segment") in _NOT_TRADED:
            continue
        kind = row.get("instrument_type", "")
        if kind not in ("EQ", "FUT", "CE", "PE"):
            raise cell.error("instrument_type", kind, _KITE_TYPES)
        symbol = cell.text("tradingsymbol")
        token = cell.integer("instrument_token")
        strike = cell.decimal("strike", required=False)
        name = row.get("name", "")
        derivative = kind != "EQ"
        if derivative and not name:
            raise cell.error("name", name, f"the underlying's symbol for a {kind} contract")
        item = cell.instrument(
            symbol=symbol,
            exchange=cell.text("exchange"),
            tick_size=cell.decimal("tick_size"),
            lot_size=cell.decimal("lot_size"),
            freeze_quantity=freeze.get(name) if derivative else None,
            name=name,
            instrument_type=kind,
            underlying=name if derivative else None,
            expiry=cell.date("expiry"),
            # Kite writes strike 0 (or nothing) for equities and futures.
            strike=None if strike is not None and kind in ("EQ", "FUT") and strike == 0 else strike,
            segment=cell.text("segment"),
            instrument_token=token,
        )
        first = lines.setdefault(item.key, line)
        if first != line:
            raise cell.error("tradingsymbol", symbol, f"one row per EXCHANGE:SYMBOL ({item.key} is on line {first})")
        if token is not None and token_lines.setdefault(token, line) != line:
            raise cell.error("instrument_token", token, f"one row per token (also on line {token_lines[token]})")
        items.append(item)
    return items


def _freeze_map(freeze_quantities: Mapping[str, int] | None) -> dict[str, int]:
    # Checked here, so a bad quantity is named as the argument it is and not blamed on a row of the file.
    if freeze_quantities is None:
        return {}
    if not isinstance(freeze_quantities, Mapping):
        raise ConfigError("freeze_quantities", freeze_quantities, "a mapping of underlying to quantity, or None")
    checked = {}
    for underlying, quantity in freeze_quantities.items():
        try:
            checked[underlying] = parse_quantity(quantity, f"freeze_quantities[{underlying!r}]")
        except InvalidOrderError as error:
            raise ConfigError(error.field, error.value, error.allowed) from None
    return checked


# -- reading the cells of a row --------------------------------------------------------------------------------------

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _open_csv(handle: IO[str], label: str) -> tuple[csv.DictReader[str], list[str]]:
    # The header's names, stripped of blanks and of a byte-order mark (a spreadsheet's UTF-8 CSV has one).
    reader = csv.DictReader(handle)
    try:
        names = reader.fieldnames or []
    except csv.Error as error:
        raise DataError(f"instrument file {label}", str(error), "a CSV text with a header line") from error
    columns = [str(c).strip().lstrip("\ufeff").strip() for c in names]
    reader.fieldnames = columns
    return reader, columns


def _rows(reader: csv.DictReader[str], label: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Each row with its line number as an editor shows it (the header is line 1), cells stripped."""
    while True:
        try:
            raw = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise DataError(f"row on line {reader.line_num} of {label}", str(error), "a well-formed CSV row",
                            row=reader.line_num) from error
        # A row with fewer cells than the header has None for the rest: empty cells, as a spreadsheet writes them.
        # Cells beyond the header's are left out (DictReader keys them None).
        yield reader.line_num, {k: (v or "").strip() for k, v in raw.items() if k is not None}


class _Cells:
    """The cells of one row, read into values; a bad one is a DataError naming its column, line and value."""

    __slots__ = ("columns", "label", "line", "row")

    def __init__(self, row: dict[str, str], line: int, label: str, columns: Mapping[str, str] | None = None) -> None:
        # columns: the file's name for an Instrument field, where the two differ (Kite's tradingsymbol).
        self.row, self.line, self.label = row, line, label
        self.columns = columns or {}

    def error(self, column: str, value: object, allowed: str) -> DataError:
        return DataError(f"{column} on line {self.line} of {self.label}", value, allowed, row=self.line)

    def text(self, column: str, required: bool = True) -> str | None:
        value = self.row.get(column, "")
        if not value:
            if required:
                raise self.error(column, value, "a non-empty text")
            return None
        if not value.isprintable():
            raise self.error(column, value, "a printable text (no control characters)")
        return value

    def decimal(self, column: str, required: bool = True) -> Decimal | None:
        value = self.text(column, required)
        if value is None:
            return None
        try:
            number = Decimal(value)
        except ArithmeticError:
            number = None
        # A signalling NaN raises on the first comparison: refused here, where the error can name its cell.
        if number is None or number.is_snan():
            raise self.error(column, value, "a number")
        return number

    def integer(self, column: str, required: bool = True) -> int | None:
        value = self.text(column, required)
        if value is None:
            return None
        # ASCII digits only: int() would take "٣" or "1_000" too.
        if not (value.isascii() and value.isdigit()) or len(value) > 20:
            raise self.error(column, value, "a whole number (digits only)")
        return int(value)

    def date(self, column: str) -> date | None:
        value = self.row.get(column, "")
        if not value:
            return None
        try:
            # fromisoformat alone would also take 20251125 or 2025-W48-2.
            if not _ISO_DATE.fullmatch(value):
                raise ValueError(value)
            return date.fromisoformat(value)
        except ValueError:
            raise self.error(column, value, "a date YYYY-MM-DD (empty for cash equity)") from None

    def instrument(self, **fields: Any) -> Instrument:
        try:
            return Instrument(**fields)
        # The Instrument's own errors (ConfigError) name its field: say which column of the file holds it.
        except ConfigError as error:
            column = self.columns.get(error.field, error.field)
            raise self.error(column, self.row.get(column, error.value), error.allowed) from None


@cache
def _default_list() -> tuple[Instrument, ...]:
    # Read from the package, not from data/: an installed kit has no repository around it.
    text = files("oms_kit").joinpath("instruments.csv").read_text(encoding="utf-8")
    return tuple(_parse(io.StringIO(text), "oms_kit/instruments.csv"))


def default_instruments() -> dict[str, Instrument]:
    """Return the default NSE instrument list, keyed by symbol.

    The file is read once; each call returns a new dict, so changing it cannot change the defaults.

    Returns
    -------
    dict of str to Instrument
        RELIANCE, TCS, INFY, HDFCBANK, ICICIBANK, SBIN, ITC, LT, AXISBANK, KOTAKBANK, BHARTIARTL, HINDUNILVR:
        NSE cash equity, tick 0.05, lot 1, no freeze quantity.
    """
    return {instrument.symbol: instrument for instrument in _default_list()}


def resolve_instruments(
    instruments: Iterable[Instrument] | Mapping[str, Instrument] | None = None, replace: bool = False
) -> dict[str, Instrument]:
    """Combine the default instrument list with the caller's instruments.

    Parameters
    ----------
    instruments
        Instruments to add; one with the symbol of a default replaces that default. A mapping's values are used.
        None: the defaults alone.
    replace
        True: use only ``instruments``, without the defaults.

    Returns
    -------
    dict of str to Instrument
        A new dict keyed by symbol: defaults first (unless replaced), then the given instruments in their order.

    Raises
    ------
    ConfigError
        An item is not an Instrument, or two given instruments share a symbol but differ.
    """
    resolved = {} if replace else default_instruments()
    if instruments is None:
        return resolved
    items = instruments.values() if isinstance(instruments, Mapping) else instruments
    if not isinstance(items, Iterable) or isinstance(items, str | bytes):
        raise ConfigError("instruments", instruments, "a list of Instrument objects (or None)",
                          hint="e.g. [ok.Instrument('RELIANCE', tick_size='0.05')]")
    given: dict[str, Instrument] = {}
    for item in items:
        if not isinstance(item, Instrument):
            raise ConfigError(
                "instruments", item, "Instrument objects", hint="e.g. ok.Instrument('RELIANCE', tick_size='0.05')"
            )
        previous = given.get(item.symbol)
        if previous is not None and previous != item:
            # Which of two different definitions is meant cannot be guessed; tick and lot decide order validity.
            raise ConfigError(
                f"instruments (symbol {item.symbol} given twice)", [previous, item], "one definition per symbol"
            )
        given[item.symbol] = item
    resolved.update(given)
    return resolved


def default_instrument(symbol: str, exchange: str = "NSE") -> Instrument:
    """Return the stand-in instrument for a symbol missing from the list: tick 0.01, lot 1.

    Backtests and paper replays use it for symbols found in the data but not in the instrument list (see
    :func:`missing_instruments`).

    Parameters
    ----------
    symbol
        The symbol.
    exchange
        The exchange to record; NSE by default.
    """
    return Instrument(symbol=symbol, exchange=exchange, tick_size=DEFAULT_TICK_SIZE, lot_size=1)


def missing_instruments(symbols: Iterable[str], known: Mapping[str, Instrument], *,
                        stacklevel: int = 2) -> list[Instrument]:
    """Stand-in instruments (:func:`default_instrument`) for the symbols of the data that ``known`` lacks.

    A backtest and a paper replay both call this before their first bar, so data whose symbols are not in the
    instrument list trade on the same defaults, with the same warning, in either.

    Parameters
    ----------
    symbols
        The symbols the data holds.
    known
        The instrument definitions in use, keyed by symbol.
    stacklevel
        Passed to :func:`warnings.warn`, counted from the caller of this function (2: its caller's caller).

    Returns
    -------
    list of Instrument
        One per missing symbol, in the order of ``symbols`` (each once); empty when none is missing. When some
        are, one ``UserWarning`` names them all.
    """
    missing = [default_instrument(s) for s in dict.fromkeys(symbols) if s not in known]
    if missing:
        names = ", ".join(str(i.symbol) for i in missing)
        warnings.warn(f"no instrument definition for {names}: using tick {DEFAULT_TICK_SIZE}, lot 1 "
                      "(pass instruments=[Instrument(...)] to set them)", UserWarning, stacklevel=stacklevel + 1)
    return missing
