"""NSE equity derivatives expiry dates from a table of rules by date.

The rules ship as ``oms_kit/market/nse_expiry_rules.csv`` (its header cites the circulars): one row per underlying,
kind (``weekly`` or ``monthly``), weekday and the span of nominal expiry dates it governs. A weekly series expires on
its weekday every week; a monthly one on the last such weekday of the month; an expiry that falls on a day without
a regular session moves to the previous trading day. The table starts on 2024-01-01; no expiry before that is
computed (:class:`~oms_kit.errors.DataError` naming ``start``).

In short: NIFTY expired on Thursday (weekly, and the last Thursday monthly) until 28 Aug 2025 and on Tuesday from
2 Sep 2025; BANKNIFTY, FINNIFTY and MIDCPNIFTY lost their weekly options after 13, 19 and 18 Nov 2024; their monthly
expiries moved to the last Thursday on 1 Jan 2025 and to the last Tuesday on 1 Sep 2025; STOCK stands for
single-stock derivatives.

:class:`~oms_kit.market.calendar.NSECalendar` calls these functions with its own trading days
(``NSECalendar.expiries``, ``NSECalendar.next_expiry``); they are usable with any ``is_trading_day`` function.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from os import PathLike

from oms_kit.errors import DataError
from oms_kit.market.calendar_data import read_csv_text, shipped_text

__all__ = [
    "EXPIRY_KINDS",
    "ExpiryRule",
    "default_expiry_rules",
    "expiry_dates",
    "read_expiry_rules",
]

EXPIRY_KINDS = ("weekly", "monthly")
WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI")
_COLUMNS = ("underlying", "kind", "weekday", "valid_from", "valid_to", "source")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_UNDERLYING = re.compile(r"[A-Z0-9&_-]{1,40}")
# How far a holiday can push an expiry back: the longest NSE closure is a few days; a longer run means broken data.
_MAX_SHIFT_DAYS = 30


@dataclass(frozen=True, slots=True)
class ExpiryRule:
    """``underlying``'s ``kind`` expiries fall on ``weekday`` (0 = Monday) for nominal dates in
    ``valid_from``..``valid_to`` (None: still in force); ``source`` cites the circular."""

    underlying: str
    kind: str
    weekday: int
    valid_from: date
    valid_to: date | None
    source: str = ""

    def governs(self, day: date) -> bool:
        """Whether ``day`` lies in the span of this rule."""
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


def _parse_date(text: str, column: str, where: str) -> date:
    if _ISO_DATE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise DataError(column, text, "a date as YYYY-MM-DD", detail=where)


def _parse_rules(text: str, name: str) -> tuple[ExpiryRule, ...]:
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    missing = [column for column in _COLUMNS[:5] if column not in (reader.fieldnames or ())]
    if missing:
        raise DataError(missing[0], None, "columns " + ", ".join(_COLUMNS), detail=f"{name}: header")
    rules: list[ExpiryRule] = []
    for number, row in enumerate(reader, start=1):
        where = f"{name}: rule {number}"
        if None in row:
            raise DataError("source", row[None], "no more fields than the header's (quote a comma)", detail=where)
        underlying = (row["underlying"] or "").strip().upper()
        if not _UNDERLYING.fullmatch(underlying):
            raise DataError("underlying", row["underlying"], "a symbol such as NIFTY or STOCK", detail=where)
        kind = (row["kind"] or "").strip()
        if kind not in EXPIRY_KINDS:
            raise DataError("kind", row["kind"], "weekly or monthly", detail=where)
        weekday = (row["weekday"] or "").strip().upper()
        if weekday not in WEEKDAYS:
            raise DataError("weekday", row["weekday"], ", ".join(WEEKDAYS), detail=where)
        valid_from = _parse_date((row["valid_from"] or "").strip(), "valid_from", where)
        valid_to_text = (row["valid_to"] or "").strip()
        valid_to = _parse_date(valid_to_text, "valid_to", where) if valid_to_text else None
        if valid_to is not None and valid_to < valid_from:
            raise DataError("valid_to", valid_to_text, f"a date on or after valid_from {valid_from}", detail=where)
        rule = ExpiryRule(underlying, kind, WEEKDAYS.index(weekday), valid_from, valid_to,
                          (row.get("source") or "").strip())
        for other in rules:
            if (other.underlying, other.kind) == (underlying, kind) and _overlap(other, rule):
                raise DataError("valid_from", str(valid_from), f"a span that does not overlap rule {other}",
                                detail=where)
        rules.append(rule)
    return tuple(rules)


def _overlap(a: ExpiryRule, b: ExpiryRule) -> bool:
    return (a.valid_to is None or b.valid_from <= a.valid_to) and (b.valid_to is None or a.valid_from <= b.valid_to)


def read_expiry_rules(source: str | PathLike[str]) -> tuple[ExpiryRule, ...]:
    """Read a rules file with the columns of ``nse_expiry_rules.csv`` (lines starting with ``#`` are comments).

    Raises :class:`~oms_kit.errors.DataError` naming the column and the rule for a bad value, an unreadable file,
    or two rules of one underlying and kind whose spans overlap.
    """
    return _parse_rules(read_csv_text(source, "expiry_rules", "a path to a CSV file of expiry rules"), str(source))


@lru_cache(maxsize=1)
def default_expiry_rules() -> tuple[ExpiryRule, ...]:
    """The rules shipped with the package (``oms_kit/market/nse_expiry_rules.csv``)."""
    return _parse_rules(shipped_text("nse_expiry_rules.csv"), "oms_kit/market/nse_expiry_rules.csv")


def _last_weekday(year: int, month: int, weekday: int) -> date:
    following = date(year + (month == 12), month % 12 + 1, 1)
    last = following - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _months(start: date, end: date) -> Iterable[tuple[int, int]]:
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        yield year, month
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _nominal_dates(rule: ExpiryRule, start: date, end: date) -> Iterable[date]:
    if rule.kind == "monthly":
        for year, month in _months(start, end):
            day = _last_weekday(year, month, rule.weekday)
            if start <= day <= end and rule.governs(day):
                yield day
        return
    day = start + timedelta(days=(rule.weekday - start.weekday()) % 7)
    while day <= end:
        if rule.governs(day):
            yield day
        day += timedelta(days=7)


def expiry_dates(
    rules: Iterable[ExpiryRule],
    underlying: str,
    kind: str,
    start: date,
    end: date,
    is_trading_day: Callable[[date], bool],
) -> list[date]:
    """The expiry dates of ``underlying``'s ``kind`` series from ``start`` to ``end`` (both included), in order.

    Each nominal date (the rule's weekday, or its last one in the month) that is not a trading day moves back to
    the previous trading day. ``underlying`` and ``kind`` are taken as given (the calendar checks them); the dates
    are checked against the start of the rule table.
    """
    chosen = [rule for rule in rules if rule.underlying == underlying and rule.kind == kind]
    floor = min((rule.valid_from for rule in rules), default=start)
    if start < floor:
        raise DataError("start", start, f"a date on or after {floor}, where the expiry rules begin",
                        hint="expiries before the rule table's start are not computed; see nse_expiry_rules.csv")
    # A nominal date up to a week after `end` can move back into the range when it falls on a holiday.
    horizon = end + timedelta(days=7) if end <= date.max - timedelta(days=7) else date.max
    found: set[date] = set()
    for rule in chosen:
        for nominal in _nominal_dates(rule, start, horizon):
            day = nominal
            try:
                for _ in range(_MAX_SHIFT_DAYS):
                    if is_trading_day(day):
                        break
                    day -= timedelta(days=1)
                else:
                    raise DataError("date", nominal, f"a trading day within {_MAX_SHIFT_DAYS} days before it",
                                    detail=f"{underlying} {kind} expiry of {nominal}")
            except DataError:
                if nominal > end:
                    # Beyond the range the calendar may have no data; such a date can only matter in the rare
                    # case of a holiday run reaching back into the range, which the data cannot tell.
                    continue
                raise
            if start <= day <= end:
                found.add(day)
    return sorted(found)
