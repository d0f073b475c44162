"""Dated rate tables: what each charge on an NSE trade was, segment by segment, on any trade date.

The table ships as ``oms_kit/broker/charge_rates.csv``, one row per rate and period::

    segment, charge, rate, basis, side, valid_from, valid_to, source

``segment`` is one of :class:`Segment` (equity delivery, equity intraday, futures, options); ``charge`` one of
:data:`TABLE_CHARGES`; ``rate`` a fraction of the traded value (``basis`` ``turnover``, or ``premium`` for options,
which is the same arithmetic: quantity x traded price), or rupees per executed order (``rupees_per_order``: a flat
brokerage, or the cap on a turnover brokerage); for GST the basis names the charges it is levied on, joined by
``+``. ``side`` is ``buy``, ``sell`` or ``both``. ``valid_from`` and ``valid_to`` are inclusive ISO dates; an empty
``valid_to`` means "in force until the table says otherwise". ``source`` names the circular, Act or broker page.

The table starts on 1 April 2024: a rate already in force then carries that date as its ``valid_from``, not the
day it first applied. Before 1 October 2024 NSE charged its members by volume slab and brokers passed on figures of
their own; the table holds what Zerodha published for that period. A trade date before the table starts, or far
beyond the last change it knows of, is refused rather than priced with rates that may not have applied.

A table is checked whole when it is read: every period of a (segment, charge) follows the previous one without a
gap or an overlap, every segment has every charge, and every value is of its kind. Errors are
:class:`~oms_kit.errors.DataError` naming the column, the value and the CSV line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import cache
from importlib.resources import files
from itertools import pairwise
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from oms_kit.errors import ConfigError, DataError

__all__ = [
    "CHARGES",
    "REVIEWED_ON",
    "TABLE_CHARGES",
    "RateRow",
    "RateTable",
    "Segment",
    "SegmentRates",
    "default_rate_table",
    "read_rate_table",
    "to_trade_date",
]


class Segment(StrEnum):
    """The NSE segments the rate table prices."""

    EQUITY_DELIVERY = "equity_delivery"
    EQUITY_INTRADAY = "equity_intraday"
    FUTURES = "futures"
    OPTIONS = "options"


CHARGES = ("brokerage", "stt", "exchange_transaction_charge", "ipft", "sebi_fee", "stamp_duty", "gst")
"""The charges of a trade, in the order a breakdown lists them."""
TABLE_CHARGES = (*CHARGES, "brokerage_cap")
"""What a table row may be: a charge, or the per-order cap on a turnover brokerage."""
REVIEWED_ON = date(2026, 12, 7)
"""The day the shipped table was last checked against its sources."""

_REQUIRED = frozenset(CHARGES)
_COLUMNS = ("segment", "charge", "rate", "basis", "side", "valid_from", "valid_to", "source")
_VALUE_BASES = ("turnover", "premium")
_PER_ORDER = "rupees_per_order"
_GST_BASE = ("brokerage", "exchange_transaction_charge", "ipft", "sebi_fee")
_SIDES = ("buy", "sell", "both")
# A trade date this far past the last rate change the table knows of is more likely a wrong value than a trade.
_HORIZON = timedelta(days=5 * 366)
_IST = ZoneInfo("Asia/Kolkata")


@dataclass(frozen=True, slots=True)
class RateRow:
    """One rate of one charge in one segment over one period (``valid_to`` None: open-ended)."""

    segment: Segment
    charge: str
    rate: Decimal
    basis: str
    side: str
    valid_from: date
    valid_to: date | None
    source: str

    def in_force(self, day: date) -> bool:
        """Whether the row applies to trades on ``day``."""
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)

    def applies_to(self, buy: bool) -> bool:
        """Whether the row charges a buy (``buy=True``) or a sell."""
        return self.side == "both" or self.side == ("buy" if buy else "sell")


@dataclass(frozen=True, slots=True)
class SegmentRates:
    """The rows of one segment in force on one trade date, by charge."""

    segment: Segment
    trade_date: date
    rows: dict[str, RateRow]
    ratios: dict[str, tuple[int, int]]
    """Each row's rate as an exact fraction (numerator, denominator), for integer arithmetic."""
    buy: frozenset[str]
    """The charges a buy pays."""
    sell: frozenset[str]
    """The charges a sell pays."""

    def get(self, charge: str) -> RateRow | None:
        """The row of ``charge``, or None (only ``brokerage_cap`` may be absent: no cap)."""
        return self.rows.get(charge)


class RateTable:
    """Rate rows checked as a whole, looked up by segment and trade date.

    Parameters
    ----------
    rows
        The rows; see the module docstring for what makes a valid table.
    horizon
        How far past the last rate change a trade date may lie; later dates are refused.
    """

    def __init__(self, rows: Iterable[RateRow], *, horizon: timedelta = _HORIZON) -> None:
        self.rows: tuple[RateRow, ...] = tuple(rows)
        chains = _check(self.rows)
        self.first_date: date = max(chain[0].valid_from for chain in chains.values())
        """The first trade date every charge of every segment has a rate for."""
        self.latest_change: date = max(row.valid_from for row in self.rows)
        """The last date on which a rate in the table changed: the current rates apply from here on."""
        ends = [chain[-1].valid_to for chain in chains.values() if chain[-1].valid_to is not None]
        self.last_date: date = min([*ends, self.latest_change + horizon])
        """The last trade date the table prices."""
        self._chains = chains
        self._cache: dict[tuple[Segment, date], SegmentRates] = {}

    def rates_on(self, segment: Segment, trade_date: date) -> SegmentRates:
        """The rates of ``segment`` in force on ``trade_date``.

        Raises
        ------
        ConfigError
            ``trade_date`` is before :attr:`first_date` or after :attr:`last_date`.
        """
        key = (segment, trade_date)
        found = self._cache.get(key)
        if found is not None:
            return found
        if not self.first_date <= trade_date <= self.last_date:
            raise ConfigError(
                "trade_date", trade_date, f"a date from {self.first_date} to {self.last_date}",
                hint="the rate table covers these dates only; pass a RateTable with rows for others")
        rows = {}
        for (seg, charge), chain in self._chains.items():
            if seg is segment:
                row = next(r for r in chain if r.in_force(trade_date))  # no gaps: _check saw to it
                rows[charge] = row
        found = self._cache[key] = SegmentRates(
            segment, trade_date, rows, {charge: row.rate.as_integer_ratio() for charge, row in rows.items()},
            frozenset(c for c, row in rows.items() if row.applies_to(True)),
            frozenset(c for c, row in rows.items() if row.applies_to(False)))
        return found

    def to_frame(self) -> Any:
        """The rows as a pandas DataFrame, one row per rate and period, in table order."""
        import pandas as pd

        return pd.DataFrame([{name: getattr(row, name) for name in _COLUMNS} for row in self.rows],
                            columns=list(_COLUMNS))

    def __repr__(self) -> str:
        return f"RateTable({len(self.rows)} rows, {self.first_date} to {self.last_date})"


def _check(rows: tuple[RateRow, ...]) -> dict[tuple[Segment, str], list[RateRow]]:
    chains: dict[tuple[Segment, str], list[RateRow]] = {}
    for row in rows:
        chains.setdefault((row.segment, row.charge), []).append(row)
    for segment in Segment:
        missing = sorted(_REQUIRED - {charge for seg, charge in chains if seg is segment})
        if missing:
            raise DataError("charge", None, ", ".join(CHARGES),
                            detail=f"segment {segment.value} has no rows for {', '.join(missing)}")
    for (segment, charge), chain in chains.items():
        chain.sort(key=lambda r: r.valid_from)
        for before, after in pairwise(chain):
            if before.valid_to is None or before.valid_to + timedelta(days=1) != after.valid_from:
                raise DataError(
                    "valid_from", after.valid_from.isoformat(),
                    "the day after the previous period's valid_to, for the same segment and charge",
                    detail=f"{segment.value} {charge}: {before.valid_from} to {before.valid_to or 'open'} is "
                           f"followed by a period from {after.valid_from}")
    return chains


def _parse_row(raw: dict[str, str], line: int) -> RateRow:
    def bad(column: str, allowed: str) -> DataError:
        return DataError(column, raw.get(column), allowed, detail=f"rate table line {line}", row=line)

    try:
        segment = Segment(raw["segment"])
    except ValueError:
        raise bad("segment", ", ".join(s.value for s in Segment)) from None
    charge = raw["charge"]
    if charge not in TABLE_CHARGES:
        raise bad("charge", ", ".join(TABLE_CHARGES))
    try:
        rate = Decimal(raw["rate"])
    except InvalidOperation:
        rate = Decimal("NaN")
    if not rate.is_finite() or rate < 0:
        raise bad("rate", "a finite number >= 0")
    basis = raw["basis"]
    if charge == "gst":
        if not basis or not set(basis.split("+")) <= set(_GST_BASE):
            raise bad("basis", "charges joined by '+', from " + ", ".join(_GST_BASE))
    elif charge == "brokerage_cap":
        if basis != _PER_ORDER:
            raise bad("basis", _PER_ORDER)
    elif basis not in _VALUE_BASES and not (charge == "brokerage" and basis == _PER_ORDER):
        raise bad("basis", ", ".join(_VALUE_BASES) + (f" or {_PER_ORDER}" if charge == "brokerage" else ""))
    side = raw["side"]
    if side not in _SIDES:
        raise bad("side", ", ".join(_SIDES))
    try:
        valid_from = date.fromisoformat(raw["valid_from"])
    except ValueError:
        raise bad("valid_from", "an ISO date, YYYY-MM-DD") from None
    try:
        valid_to = date.fromisoformat(raw["valid_to"]) if raw["valid_to"] else None
    except ValueError:
        raise bad("valid_to", "an ISO date, YYYY-MM-DD, or empty (open-ended)") from None
    if valid_to is not None and valid_to < valid_from:
        raise bad("valid_to", f"a date on or after valid_from ({valid_from})")
    if not raw["source"]:
        raise bad("source", "the circular, Act or published page the rate comes from")
    return RateRow(segment, charge, rate, basis, side, valid_from, valid_to, raw["source"])


def read_rate_table(source: str | Path | IO[str]) -> RateTable:
    """Read a rate table from a CSV file with the columns of the shipped one.

    Parameters
    ----------
    source
        A path or an open text file.

    Returns
    -------
    RateTable
        The rows, checked as a whole.

    Raises
    ------
    DataError
        A column is missing, a row has a bad value (the error names the column and the line), or the periods of a
        charge overlap or leave a gap.
    """
    if isinstance(source, str | Path):
        with open(source, newline="", encoding="utf-8") as handle:
            return read_rate_table(handle)
    reader = csv.DictReader(source)
    columns = [c.strip() for c in reader.fieldnames or []]
    missing = [c for c in _COLUMNS if c not in columns]
    if missing:
        raise DataError(f"rate table columns (missing: {', '.join(missing)})", columns, ", ".join(_COLUMNS))
    rows = []
    for line, raw in enumerate(reader, start=2):
        cleaned = {str(k).strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        rows.append(_parse_row(cleaned, line))
    return RateTable(rows)


@cache
def default_rate_table() -> RateTable:
    """The rate table shipped with the package (``oms_kit/broker/charge_rates.csv``), read once."""
    text = files("oms_kit.broker").joinpath("charge_rates.csv").read_text(encoding="utf-8")
    return read_rate_table(io.StringIO(text))


def to_trade_date(value: object, field: str = "trade_date") -> date:
    """A trade date from a ``date`` or a ``datetime`` (an aware one is taken in India's time zone first).

    Raises
    ------
    ConfigError
        For anything else (strings included: a date is not guessed from text), naming ``field``.
    """
    if isinstance(value, datetime):
        day = (value.astimezone(_IST) if value.tzinfo is not None else value).date()
    elif isinstance(value, date):
        day = value
    else:
        raise ConfigError(field, value, "a datetime.date or datetime.datetime")
    return day
