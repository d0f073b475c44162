"""The data behind :class:`~oms_kit.market.calendar.NSECalendar`: calendar files and session hours.

- :func:`read_calendar_csv` reads a file with the columns of the shipped ``oms_kit/market/nse_holidays.csv`` (its
  header says what each column and kind means and cites NSE's circulars) into :class:`CalendarEntry` rows.
- :data:`SESSION_HOURS`: each segment's regular hours in IST, by date, with their sources.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, time
from functools import lru_cache
from importlib.resources import files
from os import PathLike
from pathlib import Path

from oms_kit.errors import ConfigError, DataError

__all__ = [
    "ENTRY_KINDS",
    "SEGMENTS",
    "SESSION_HOURS",
    "CalendarEntry",
    "SessionHours",
    "iso_date",
    "read_calendar_csv",
    "shipped_entries",
]

SEGMENTS = ("CM", "FO")
ENTRY_KINDS = ("coverage", "holiday", "trading_day", "special")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_HH_MM = re.compile(r"\d{2}:\d{2}")


@dataclass(frozen=True, slots=True)
class CalendarEntry:
    """One row of a calendar file: ``day``, ``kind`` (one of :data:`ENTRY_KINDS`), the exchange's description, the
    segments it applies to, ``open``/``close`` (IST) for a special session, and its source."""

    day: date
    kind: str
    description: str
    segments: frozenset[str] = frozenset(SEGMENTS)
    open: time | None = None
    close: time | None = None
    source: str = ""


@dataclass(frozen=True, slots=True)
class SessionHours:
    """A segment's regular hours (IST) on the days ``valid_from``..``valid_to`` (None: still in force)."""

    segment: str
    valid_from: date
    valid_to: date | None
    pre_open: tuple[time, time] | None  # order entry; matching and buffer follow until ``open``
    pre_open_market_orders_until: time | None
    open: time
    close: time
    post_close: tuple[time, time] | None
    source: str


_D = date.min  # the first rows also stand for the years before 2024 (outside_data="weekends_only")
SESSION_HOURS: tuple[SessionHours, ...] = (
    SessionHours("CM", _D, date(2026, 9, 6), (time(9, 0), time(9, 8)), time(9, 8), time(9, 15), time(15, 30),
                 (time(15, 40), time(16, 0)), "NSE market timings (e.g. NSE/CMTR/72349)"),
    SessionHours("CM", date(2026, 9, 7), None, (time(9, 0), time(9, 10)), time(9, 5), time(9, 15), time(15, 30),
                 (time(15, 40), time(16, 0)), "NSE/CMTR/74969: revised pre-open call auction from 7 Sep 2026"),
    SessionHours("FO", _D, date(2025, 12, 7), None, None, time(9, 15), time(15, 30), None,
                 "NSE F&O market timings"),
    SessionHours("FO", date(2025, 12, 8), date(2026, 9, 6), (time(9, 0), time(9, 8)), time(9, 8), time(9, 15),
                 time(15, 30), None, "NSE/FAOP/71092: pre-open for futures from 8 Dec 2025"),
    SessionHours("FO", date(2026, 9, 7), None, (time(9, 0), time(9, 10)), time(9, 5), time(9, 15), time(15, 30),
                 None, "NSE/FAOP/74970: revised pre-open call auction from 7 Sep 2026"),
)


def iso_date(value: object) -> date | None:
    """``value`` as a date when it is a 'YYYY-MM-DD' string naming a real day, else None."""
    if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _parse_time(text: str, column: str, where: str) -> time:
    if _HH_MM.fullmatch(text):
        try:
            return time.fromisoformat(text)
        except ValueError:
            pass
    raise DataError(column, text, "a time as HH:MM (IST)", detail=where)


def _parse_entries(text: str, name: str) -> list[CalendarEntry]:
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    for column in ("date", "kind", "description"):
        if column not in (reader.fieldnames or ()):
            raise DataError(column, None, "columns date, kind, description[, segments, open, close, source]",
                            detail=f"{name}: header")
    entries: list[CalendarEntry] = []
    kinds_by_day: dict[date, set[str]] = {}
    for number, row in enumerate(reader, start=1):
        where = f"{name}: row {number}"
        if None in row:
            raise DataError("source", row[None], "no more fields than the header's (quote a comma)", detail=where)
        day = iso_date(row["date"])
        if day is None:
            raise DataError("date", row["date"], "a date as YYYY-MM-DD", detail=where)
        kind = (row["kind"] or "").strip()
        if kind not in ENTRY_KINDS:
            raise DataError("kind", row["kind"], ", ".join(ENTRY_KINDS), detail=where)
        segments = frozenset((row.get("segments") or "CM FO").split())
        if not segments or not segments <= set(SEGMENTS):
            raise DataError("segments", row.get("segments"), "CM, FO or both, separated by a space", detail=where)
        open_text, close_text = (row.get("open") or "").strip(), (row.get("close") or "").strip()
        opens = closes = None
        if kind == "special":
            opens = _parse_time(open_text, "open", where)
            closes = _parse_time(close_text, "close", where)
            if closes <= opens:
                raise DataError("close", close_text, f"a time after open {open_text}", detail=where)
        elif open_text or close_text:
            raise DataError("open", open_text or close_text, "empty except in special rows", detail=where)
        seen = kinds_by_day.setdefault(day, set())
        if {kind, *seen} >= {"holiday", "trading_day"}:
            raise DataError("kind", kind, "either holiday or trading_day for one date", detail=where)
        seen.add(kind)
        entries.append(CalendarEntry(day, kind, (row["description"] or "").strip(), segments, opens, closes,
                                     (row.get("source") or "").strip()))
    return entries


def read_calendar_csv(source: str | PathLike[str]) -> list[CalendarEntry]:
    """Read a calendar file with the columns of ``nse_holidays.csv``: ``date``, ``kind``, ``description`` and
    optionally ``segments`` (default ``CM FO``), ``open``, ``close``, ``source``; ``#`` lines are comments.

    Raises :class:`~oms_kit.errors.DataError` naming the column and row of a bad value, or for an unreadable file.
    """
    return _parse_entries(read_csv_text(source, "extra_files", "a path to a CSV file, or a list of such paths"),
                          str(source))


def read_csv_text(source: object, field_name: str, allowed: str) -> str:
    """The text of the user's CSV file ``source`` (the argument ``field_name``); ConfigError for what is not a
    path, DataError for a file that cannot be read as UTF-8."""
    if not isinstance(source, str | PathLike):
        raise ConfigError(field_name, source, allowed)
    try:
        return Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(field_name, str(source), "a readable UTF-8 CSV file", detail=str(exc)) from None


def shipped_text(name: str) -> str:
    """The text of a CSV file shipped in ``oms_kit/market``."""
    return files("oms_kit.market").joinpath(name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def shipped_entries() -> tuple[CalendarEntry, ...]:
    """The rows of the shipped ``oms_kit/market/nse_holidays.csv`` (read once)."""
    return tuple(_parse_entries(shipped_text("nse_holidays.csv"), "oms_kit/market/nse_holidays.csv"))
