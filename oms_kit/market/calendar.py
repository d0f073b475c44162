"""The NSE trading calendar: trading days, holidays, session hours and phases in IST, and F&O expiry dates.

>>> from oms_kit.market.calendar import NSECalendar
>>> cal = NSECalendar()
>>> cal.is_trading_day(date(2026, 1, 26))                     # Republic Day
False
>>> cal.phase(datetime(2026, 3, 4, 3, 45, tzinfo=UTC))        # 09:15 IST
'open'
>>> cal.next_expiry("NIFTY", datetime(2025, 10, 20, 4, 0, tzinfo=UTC), "weekly")   # Tue 21 Oct was Diwali
datetime.date(2025, 10, 20)

Data. The holidays and special sessions ship as ``oms_kit/market/nse_holidays.csv``; its header cites NSE's
circulars for each year (2024: ref. 59917 of 26 Dec 2023 and its modifications; 2025: NSE/CMTR/65587; 2026:
NSE/CMTR/71775 and NSE/FAOP/71777, with 15 Jan 2026 added by NSE/CMTR/72260 and the Budget-day Sunday session of
1 Feb 2026 by NSE/CMTR/72349). A ``coverage`` row marks each year whose whole list is in the file; a date in any
other year raises :class:`NoHolidayData` (a :class:`~oms_kit.errors.DataError` naming the field and saying
"no holiday data for year Y"), unless the calendar is made with ``outside_data="weekends_only"``, which treats such
years as closed on weekends only. Extra files with the same columns (``extra_files=``; see
:func:`read_calendar_csv`) add years (with their ``coverage`` row), holidays or sessions; the rows of an extra file
replace the shipped rows of the dates they name, so a ``trading_day`` row also cancels a holiday.

Days. A trading day has a regular session: a weekday that is not a holiday, or a weekend day with a
``trading_day`` row (the Budget-day sessions of Sat 1 Feb 2025 and Sun 1 Feb 2026, Sat 20 Jan 2024). A ``special``
row is a short session (Muhurat trading, live sessions from the disaster-recovery site) on a day that is not a
trading day: the market is open in it (:meth:`NSECalendar.is_open`, phase ``"special"``), but expiries do not fall
on it and :meth:`NSECalendar.session` is None for it.

Hours (IST, UTC+05:30; :data:`SESSION_HOURS`, by date and segment). Capital market (``segment="CM"``, the
default): pre-open order entry 09:00-09:08 (NSE closes it at a random second in its last minute; 09:08 is the
latest), order matching and buffer to 09:15, normal market 09:15-15:30, post-close session 15:40-16:00 (orders at the
closing price). From 7 Sep 2026 the order entry runs to 09:10, market orders to 09:05 only (NSE/CMTR/74969). Equity
derivatives (``segment="FO"``): normal market 09:15-15:30; a pre-open session for futures from 8 Dec 2025
(NSE/FAOP/71092), with the same change on 7 Sep 2026 (NSE/FAOP/74970); no post-close session. Before 2024
(``weekends_only``) the 2024 hours are assumed. Intervals are half-open: 09:15:00 is open, 15:30:00 is not.

Times. Every timestamp argument is a datetime, naive meaning UTC (the kit's rule); datetimes returned are
timezone-aware in IST. A date argument is a ``date``, a ``YYYY-MM-DD`` string, or a datetime (its IST date).
Anything else, a datetime outside what IST can express, or a range longer than 100 years, raises
:class:`~oms_kit.errors.ConfigError` naming the argument.

Libraries considered. ``exchange_calendars`` 4.13.2 (XBOM, the BSE, whose equity holidays are NSE's) has the right
holidays for 2024-2026, including 15 Jan 2026 and the Saturday sessions of 2024 and 2025, but not the Sunday session
of 1 Feb 2026, nor Muhurat sessions, pre-open or F&O expiries; it brings pandas-based dependencies (pyluach, toolz,
korean_lunar_calendar). ``pandas_market_calendars`` 5.5.0 (``NSE``) counts the Muhurat days 1 Nov 2024 and
21 Oct 2025 as trading days with a short session, which would move no expiry off them (NSE moved NIFTY's of
21 Oct 2025 to 20 Oct), and has none of the weekend sessions. Neither is used: the dated file here is small, cited,
extendable, and answers without pandas.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import lru_cache
from os import PathLike

from oms_kit.errors import ConfigError, DataError
from oms_kit.market.calendar_data import (
    ENTRY_KINDS,
    SEGMENTS,
    SESSION_HOURS,
    CalendarEntry,
    SessionHours,
    iso_date,
    read_calendar_csv,
    shipped_entries,
)
from oms_kit.market.expiries import EXPIRY_KINDS, ExpiryRule, default_expiry_rules, expiry_dates, read_expiry_rules

__all__ = [
    "ENTRY_KINDS",
    "IST",
    "PHASES",
    "SEGMENTS",
    "SESSION_HOURS",
    "CalendarEntry",
    "NSECalendar",
    "NoHolidayData",
    "SessionHours",
    "default_calendar",
    "read_calendar_csv",
]

# A fixed UTC+05:30: the zone database gives Asia/Kolkata other offsets before 1945 (local mean time, war time),
# which would turn 09:15 into odd instants for the far-past dates that outside_data="weekends_only" accepts.
IST = timezone(timedelta(hours=5, minutes=30), "IST")
PHASES = ("pre_open", "pre_open_matching", "open", "post_close", "special", "closed")
OUTSIDE_DATA = ("error", "weekends_only")
# The end of the day's trading in a contract: an expiry day counts as past from the close on.
EXPIRY_CLOSE = time(15, 30)
_MAX_RANGE_DAYS = 36_525
# The longest stretch searched for a session: NSE closures last a few days; more means broken data.
_MAX_GAP_DAYS = 60


class NoHolidayData(DataError):
    """A date in a year whose holidays the calendar does not have: ``year`` names it, ``field`` the argument."""

    def __init__(self, field: str, value: object, year: int, covered: Iterable[int]) -> None:
        years = ", ".join(str(y) for y in sorted(covered)) or "none"
        super().__init__(
            field, value, f"a date in a year with NSE holiday data ({years})",
            detail=f"no holiday data for year {year}",
            hint="add the year's holidays with a coverage row (NSECalendar(extra_files=...)), or make the calendar "
                 "with outside_data='weekends_only' to treat unknown years as closed on weekends only",
        )
        self.year = year


def _as_ist(value: object, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise ConfigError(field, value, "a datetime (naive means UTC)")
    try:
        aware = value if value.utcoffset() is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(IST)
    except (OverflowError, ValueError, TypeError):
        raise ConfigError(field, value, "a datetime that can be expressed in IST (years 1 to 9999)") from None


def _as_day(value: object, field: str) -> date:
    if isinstance(value, datetime):
        return _as_ist(value, field).date()
    if isinstance(value, date):
        return value
    day = iso_date(value)
    if day is not None:
        return day
    raise ConfigError(field, value, "a date, a 'YYYY-MM-DD' string, or a datetime (naive means UTC)")


def _shift(day: date, days: int, field: str, value: object) -> date:
    try:
        return day + timedelta(days=days)
    except OverflowError:
        raise ConfigError(field, value, "a time with a day before and after it in the calendar") from None


class NSECalendar:
    """NSE trading days, sessions, phases and expiries; see the module docstring for the data and the rules.

    Parameters
    ----------
    extra_files
        A CSV path, or several, with the columns of ``nse_holidays.csv``: more years (with a ``coverage`` row),
        holidays or sessions. A file's rows replace the earlier rows of the dates they name.
    segment
        ``"CM"`` (capital market, the default) or ``"FO"`` (equity derivatives): which rows and hours apply.
    outside_data
        ``"error"`` (the default): a date in a year without holiday data raises :class:`NoHolidayData`;
        ``"weekends_only"``: such a year is closed on weekends only.
    expiry_rules
        A CSV path with the columns of ``nse_expiry_rules.csv`` to use instead of the shipped rules.
    """

    def __init__(
        self,
        extra_files: str | PathLike[str] | Iterable[str | PathLike[str]] = (),
        *,
        segment: str = "CM",
        outside_data: str = "error",
        expiry_rules: str | PathLike[str] | None = None,
    ) -> None:
        if segment not in SEGMENTS:
            raise ConfigError("segment", segment, "'CM' (capital market) or 'FO' (equity derivatives)")
        if outside_data not in OUTSIDE_DATA:
            raise ConfigError("outside_data", outside_data, "'error' or 'weekends_only'")
        if isinstance(extra_files, str | PathLike):
            extra_files = [extra_files]
        elif not isinstance(extra_files, Iterable) or isinstance(extra_files, bytes | dict):
            raise ConfigError("extra_files", extra_files, "a path to a CSV file, or a list of such paths")
        entries = list(shipped_entries())
        for path in list(extra_files):
            added = read_calendar_csv(path)
            named = {entry.day for entry in added if entry.kind != "coverage"}
            entries = [entry for entry in entries if entry.kind == "coverage" or entry.day not in named] + added
        self.segment = segment
        self.outside_data = outside_data
        self._rules: tuple[ExpiryRule, ...] = (
            default_expiry_rules() if expiry_rules is None else read_expiry_rules(expiry_rules))
        mine = [entry for entry in entries if segment in entry.segments]
        self._entries = tuple(sorted(mine, key=lambda entry: (entry.day, entry.kind, entry.open or time.min)))
        self.covered_years: frozenset[int] = frozenset(e.day.year for e in mine if e.kind == "coverage")
        self._holidays = {e.day: e for e in mine if e.kind == "holiday"}
        self._extra_days = {e.day for e in mine if e.kind == "trading_day"}
        self._specials: dict[date, list[tuple[time, time]]] = {}
        for entry in self._entries:
            if entry.kind == "special" and entry.open is not None and entry.close is not None:
                self._specials.setdefault(entry.day, []).append((entry.open, entry.close))
        self._hours = tuple(h for h in SESSION_HOURS if h.segment == segment)

    def __repr__(self) -> str:
        years = ", ".join(str(y) for y in sorted(self.covered_years))
        return f"NSECalendar(segment={self.segment!r}, years=[{years}], outside_data={self.outside_data!r})"

    # -- days ---------------------------------------------------------------------------------------------------

    def _check(self, day: date, field: str, value: object) -> None:
        if day.year not in self.covered_years and self.outside_data == "error":
            raise NoHolidayData(field, value, day.year, self.covered_years)

    def _trading(self, day: date) -> bool:
        if day in self._extra_days:
            return True
        return day.weekday() < 5 and day not in self._holidays

    def is_trading_day(self, day: date | datetime | str) -> bool:
        """Whether ``day`` has a regular session (a datetime counts by its IST date)."""
        resolved = _as_day(day, "day")
        self._check(resolved, "day", day)
        return self._trading(resolved)

    def holiday(self, day: date | datetime | str) -> str | None:
        """The exchange's description of the holiday on ``day``, or None when ``day`` is not a listed holiday."""
        resolved = _as_day(day, "day")
        self._check(resolved, "day", day)
        entry = self._holidays.get(resolved)
        return None if entry is None or resolved in self._extra_days else entry.description

    def _range(self, start: date | datetime | str, end: date | datetime | str) -> tuple[date, date]:
        first, last = _as_day(start, "start"), _as_day(end, "end")
        if last < first:
            raise ConfigError("end", end, f"a date on or after start ({first})")
        if (last - first).days > _MAX_RANGE_DAYS:
            raise ConfigError("end", end, f"a date at most {_MAX_RANGE_DAYS} days (100 years) after start")
        for year in range(first.year, last.year + 1):
            self._check(date(year, 1, 1), "start" if year == first.year else "end", start if year == first.year
                        else end)
        return first, last

    def trading_days(self, start: date | datetime | str, end: date | datetime | str) -> list[date]:
        """The trading days from ``start`` to ``end``, both included, in order."""
        first, last = self._range(start, end)
        return [first + timedelta(days=i) for i in range((last - first).days + 1)
                if self._trading(first + timedelta(days=i))]

    def holidays(self, start: date | datetime | str, end: date | datetime | str) -> list[CalendarEntry]:
        """The listed weekday holidays from ``start`` to ``end``, both included, with their descriptions."""
        first, last = self._range(start, end)
        return [e for day, e in sorted(self._holidays.items()) if first <= day <= last and day not in self._extra_days]

    def special_sessions(self, day: date | datetime | str) -> list[tuple[datetime, datetime]]:
        """The short sessions (Muhurat, disaster-recovery live sessions) on ``day`` as (open, close) in IST."""
        resolved = _as_day(day, "day")
        self._check(resolved, "day", day)
        return [(datetime.combine(resolved, o, IST), datetime.combine(resolved, c, IST))
                for o, c in self._specials.get(resolved, ())]

    # -- sessions -----------------------------------------------------------------------------------------------

    def hours(self, day: date | datetime | str) -> SessionHours:
        """The segment's regular hours in force on ``day`` (whether or not it is a trading day)."""
        resolved = _as_day(day, "day")
        return self._hours_on(resolved)

    def _hours_on(self, day: date) -> SessionHours:
        for hours in self._hours:
            if hours.valid_from <= day and (hours.valid_to is None or day <= hours.valid_to):
                return hours
        raise AssertionError(f"SESSION_HOURS has no {self.segment} row for {day}")  # the table covers all dates

    def session(self, day: date | datetime | str) -> tuple[datetime, datetime] | None:
        """The regular session of ``day`` as (open, close), timezone-aware in IST; None when it is no trading day."""
        resolved = _as_day(day, "day")
        self._check(resolved, "day", day)
        if not self._trading(resolved):
            return None
        hours = self._hours_on(resolved)
        return datetime.combine(resolved, hours.open, IST), datetime.combine(resolved, hours.close, IST)

    def _windows(self, day: date) -> list[tuple[datetime, datetime]]:
        windows = [(datetime.combine(day, o, IST), datetime.combine(day, c, IST))
                   for o, c in self._specials.get(day, ())]
        if self._trading(day):
            hours = self._hours_on(day)
            windows.append((datetime.combine(day, hours.open, IST), datetime.combine(day, hours.close, IST)))
        return sorted(windows)

    def phase(self, ts: datetime) -> str:
        """The market phase at ``ts``: one of :data:`PHASES`.

        ``pre_open`` is the pre-open order entry, ``pre_open_matching`` the matching and buffer after it (no order
        entry), ``open`` the normal market, ``post_close`` the capital market's closing-price session, ``special``
        a short session (Muhurat trading and the like); ``closed`` otherwise.
        """
        local = _as_ist(ts, "ts")
        day, now = local.date(), local.time()
        self._check(day, "ts", ts)
        if any(o <= now < c for o, c in self._specials.get(day, ())):
            return "special"
        if not self._trading(day):
            return "closed"
        hours = self._hours_on(day)
        if hours.open <= now < hours.close:
            return "open"
        if hours.pre_open is not None:
            if hours.pre_open[0] <= now < hours.pre_open[1]:
                return "pre_open"
            if hours.pre_open[1] <= now < hours.open:
                return "pre_open_matching"
        if hours.post_close is not None and hours.post_close[0] <= now < hours.post_close[1]:
            return "post_close"
        return "closed"

    def is_open(self, ts: datetime) -> bool:
        """Whether orders trade continuously at ``ts``: the normal market or a special session."""
        return self.phase(ts) in ("open", "special")

    def next_open(self, ts: datetime) -> datetime:
        """The first opening (of a regular or special session) strictly after ``ts``, in IST."""
        return self._next_edge(ts, 0, "opening")

    def next_close(self, ts: datetime) -> datetime:
        """The first close (of a regular or special session) strictly after ``ts``, in IST."""
        return self._next_edge(ts, 1, "close")

    def _next_edge(self, ts: datetime, edge: int, name: str) -> datetime:
        # The first session window edge (0: its opening, 1: its close) strictly after ts, day by day.
        local = _as_ist(ts, "ts")
        day = local.date()
        for _ in range(_MAX_GAP_DAYS):
            self._check(day, "ts", ts)
            for window in self._windows(day):
                if window[edge] > local:
                    return window[edge]
            day = _shift(day, 1, "ts", ts)
        raise DataError("ts", ts, f"a time with a session {name} within {_MAX_GAP_DAYS} days after it")

    def previous_close(self, ts: datetime) -> datetime:
        """The last close (of a regular or special session) strictly before ``ts``, in IST."""
        local = _as_ist(ts, "ts")
        day = local.date()
        for _ in range(_MAX_GAP_DAYS):
            self._check(day, "ts", ts)
            for _opens, closes in reversed(self._windows(day)):
                if closes < local:
                    return closes
            day = _shift(day, -1, "ts", ts)
        raise DataError("ts", ts, f"a time with a session close within {_MAX_GAP_DAYS} days before it")

    # -- expiries -----------------------------------------------------------------------------------------------

    @property
    def underlyings(self) -> tuple[str, ...]:
        """The underlyings of the expiry rules (``STOCK`` stands for single-stock derivatives)."""
        return tuple(sorted({rule.underlying for rule in self._rules}))

    def expiry_rules(self, underlying: str | None = None) -> tuple[ExpiryRule, ...]:
        """The expiry rules in force, of one underlying or of all."""
        if underlying is None:
            return self._rules
        name = self._underlying(underlying)
        return tuple(rule for rule in self._rules if rule.underlying == name)

    def _underlying(self, underlying: object) -> str:
        name = underlying.strip().upper() if isinstance(underlying, str) else None
        if name not in self.underlyings:
            raise ConfigError("underlying", underlying, ", ".join(self.underlyings))
        return name

    def _series(self, underlying: object, kind: object) -> tuple[str, str]:
        name = self._underlying(underlying)
        if kind not in EXPIRY_KINDS:
            raise ConfigError("kind", kind, "'weekly' or 'monthly'")
        kinds = sorted({rule.kind for rule in self._rules if rule.underlying == name})
        if kind not in kinds:
            raise ConfigError("kind", kind, " or ".join(repr(k) for k in kinds) + f" ({name} has no {kind} series)")
        return name, str(kind)

    def _expiry_trading_day(self, day: date) -> bool:
        self._check(day, "date", day)
        return self._trading(day)

    def expiries(self, underlying: str, start: date | datetime | str, end: date | datetime | str,
                 kind: str = "weekly") -> list[date]:
        """``underlying``'s ``kind`` (``"weekly"`` or ``"monthly"``) expiry dates from ``start`` to ``end``.

        Weekly lists every expiry of a weekly series, the month's last included; a holiday moves an expiry to the
        previous trading day. An underlying whose series ended (BANKNIFTY weekly after Nov 2024) gives an empty
        list for later ranges.
        """
        name, series = self._series(underlying, kind)
        first, last = self._range(start, end)
        return expiry_dates(self._rules, name, series, first, last, self._expiry_trading_day)

    def next_expiry(self, underlying: str, ts: datetime, kind: str = "weekly") -> date | None:
        """The first expiry of ``underlying``'s ``kind`` series not yet past at ``ts`` (an expiry day counts until
        15:30 IST); None when the rules give no later expiry."""
        name, series = self._series(underlying, kind)
        local = _as_ist(ts, "ts")
        day = local.date() if local.time() < EXPIRY_CLOSE else _shift(local.date(), 1, "ts", ts)
        self._check(day, "ts", ts)
        rules = [rule for rule in self._rules if (rule.underlying, rule.kind) == (name, series)]
        last_rule = None if any(rule.valid_to is None for rule in rules) else max(
            rule.valid_to for rule in rules if rule.valid_to is not None)
        while last_rule is None or day <= last_rule:
            # A window ends with its year at the latest, so that a year without data is not touched before the
            # expiries of the one with data are all seen.
            window_end = min(_shift(day, 40, "ts", ts), date(day.year, 12, 31))
            found = expiry_dates(self._rules, name, series, day, window_end, self._expiry_trading_day)
            if found:
                return found[0]
            day = _shift(window_end, 1, "ts", ts)
        return None


def default_calendar(outside_data: str = "error") -> NSECalendar:
    """The shipped NSE calendar of the capital market segment (built once for each ``outside_data``).

    The OMS's market-hours check uses ``default_calendar("weekends_only")``: a live OMS keeps trading (on weekdays)
    into a year whose holiday list is not in the file yet, instead of refusing every order."""
    if outside_data not in OUTSIDE_DATA:
        raise ConfigError("outside_data", outside_data, "'error' or 'weekends_only'")
    return _shipped_calendar(outside_data)


@lru_cache(maxsize=len(OUTSIDE_DATA))
def _shipped_calendar(outside_data: str) -> NSECalendar:
    return NSECalendar(outside_data=outside_data)

