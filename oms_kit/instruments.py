"""The instrument list: which symbols can be traded, with their tick and lot sizes.

A default list of NSE large caps ships with the package (``oms_kit/instruments.csv``; ``data/instruments.csv`` is
an identical copy for browsing, kept in step by a test). ``OMS.open(instruments=[...])`` adds to it or replaces it
through :func:`resolve_instruments`.
"""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Iterable, Mapping
from decimal import Decimal
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import IO

from oms_kit.errors import ConfigError, DataError
from oms_kit.models import Instrument

__all__ = [
    "DEFAULT_TICK_SIZE",
    "default_instrument",
    "default_instruments",
    "missing_instruments",
    "read_instruments",
    "resolve_instruments",
]

# For symbols a backtest or a replay finds in its data but not in the instrument list: tick 0.01, lot 1
# (docs/ARCHITECTURE.md, "Rules the code relies on").
DEFAULT_TICK_SIZE = Decimal("0.01")
_REQUIRED_COLUMNS = ("symbol", "tick_size", "lot_size")


def read_instruments(source: str | Path | IO[str]) -> list[Instrument]:
    """Read instruments from a CSV file with the columns of the default list.

    Parameters
    ----------
    source
        A path or an open text file. Columns: symbol, tick_size, lot_size (required); exchange (default NSE),
        freeze_quantity (empty: none), name (optional). Other columns are ignored.

    Returns
    -------
    list of Instrument
        In file order.

    Raises
    ------
    DataError
        A required column is missing, or a row has a bad value; the message names the row.
    """
    if isinstance(source, str | Path):
        with open(source, newline="", encoding="utf-8") as handle:
            return _parse(handle, str(source))
    return _parse(source, getattr(source, "name", "instrument file"))


def _parse(handle: IO[str], label: str) -> list[Instrument]:
    reader = csv.DictReader(handle)
    columns = [c.strip() for c in reader.fieldnames or []]
    missing = [c for c in _REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise DataError(
            f"instrument columns in {label} (missing: {', '.join(missing)})",
            columns,
            "symbol, exchange, tick_size, lot_size, freeze_quantity, name",
        )
    instruments = []
    # Row numbers as an editor shows them: the header is line 1.
    for line, raw in enumerate(reader, start=2):
        row = {str(k).strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        try:
            instruments.append(
                Instrument(
                    symbol=row["symbol"],
                    exchange=row.get("exchange") or "NSE",
                    tick_size=Decimal(row["tick_size"]),
                    lot_size=int(row["lot_size"]),
                    freeze_quantity=int(row["freeze_quantity"]) if row.get("freeze_quantity") else None,
                    name=row.get("name", ""),
                )
            )
        # The Instrument's own errors (ConfigError, InvalidOrderError) are ValueErrors too.
        except (ArithmeticError, ValueError) as error:
            raise DataError(
                f"instrument on line {line} of {label}", raw, "a valid instrument row", hint=str(error)
            ) from error
    return instruments


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
