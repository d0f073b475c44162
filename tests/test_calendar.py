"""The NSE calendar: trading days and holidays, session phases in IST, next open and previous close, F&O expiries.

Dates checked against NSE's circulars and reports of them (cited at each test); hostile input (non-dates, naive and
aware datetimes in any zone, far past and far future) either gets an answer that keeps the calendar's invariants or
an OmsError subclass naming the argument: NoHolidayData ("no holiday data for year Y") for a year the shipped file
does not cover, ConfigError for a value that is no date or time.
"""

from __future__ import annotations

import itertools
import math
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms_kit.errors import ConfigError, DataError, OmsError
from oms_kit.market.calendar import (
    IST,
    PHASES,
    CalendarEntry,
    NoHolidayData,
    NSECalendar,
    default_calendar,
    read_calendar_csv,
)

CAL = default_calendar()
FO = NSECalendar(segment="FO")
OPEN_ENDED = NSECalendar(outside_data="weekends_only")
COVERED = (date(2024, 1, 1), date(2026, 12, 31))
HOSTILE = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=150)


def ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=IST)  # type: ignore[misc]


# -- trading days and holidays ----------------------------------------------------------------------------------

# Weekday holidays from NSE's lists (2024: ref. 59917 and its modifications; 2025: NSE/CMTR/65587; 2026:
# NSE/CMTR/71775 and NSE/CMTR/72260).
KNOWN_HOLIDAYS = [
    (date(2024, 1, 22), "Pran Pratishtha"), (date(2024, 3, 25), "Holi"), (date(2024, 5, 20), "Elections"),
    (date(2024, 11, 1), "Diwali Laxmi Pujan"), (date(2024, 11, 20), "Maharashtra"),
    (date(2025, 2, 26), "Mahashivratri"), (date(2025, 8, 27), "Ganesh Chaturthi"),
    (date(2025, 10, 21), "Diwali Laxmi Pujan"),
    (date(2025, 10, 22), "Balipratipada"), (date(2026, 1, 15), "Municipal Corporation Election"),
    (date(2026, 1, 26), "Republic Day"), (date(2026, 3, 3), "Holi"), (date(2026, 3, 31), "Mahavir Jayanti"),
    (date(2026, 11, 24), "Guru Nanak"), (date(2026, 12, 25), "Christmas"),
]


@pytest.mark.parametrize(("day", "name"), KNOWN_HOLIDAYS)
def test_known_holidays_are_closed(day: date, name: str) -> None:
    assert day.weekday() < 5
    assert not CAL.is_trading_day(day)
    assert not FO.is_trading_day(day)
    assert CAL.session(day) is None
    assert name in (CAL.holiday(day) or "")
    assert CAL.phase(ist(day.year, day.month, day.day, 11, 0)) in ("closed", "special")
    assert day in [entry.day for entry in CAL.holidays(day, day)]


def test_ordinary_days_and_weekends() -> None:
    assert CAL.is_trading_day(date(2026, 1, 27)) and CAL.holiday(date(2026, 1, 27)) is None
    weekend_sessions = {date(2024, 1, 20), date(2025, 2, 1), date(2026, 2, 1)}
    day = COVERED[0]
    while day <= COVERED[1]:
        if day.weekday() >= 5:
            assert CAL.is_trading_day(day) is (day in weekend_sessions), day
        day += timedelta(days=1)
    # The Budget-day Sunday of 2026 (NSE/CMTR/72349) has regular hours.
    assert CAL.session(date(2026, 2, 1)) == (ist(2026, 2, 1, 9, 15), ist(2026, 2, 1, 15, 30))
    assert CAL.phase(datetime(2026, 2, 1, 5, 0, tzinfo=UTC)) == "open"


def test_trading_days_of_a_month() -> None:
    days = CAL.trading_days("2026-01-01", date(2026, 1, 31))
    assert len(days) == 20  # 22 weekdays less 15 and 26 January
    assert date(2026, 1, 15) not in days and date(2026, 1, 16) in days
    assert days == sorted(days) and all(CAL.is_trading_day(day) for day in days)
    # An inclusive range; a datetime counts by its IST date (18:30 UTC is the next day in India).
    assert CAL.trading_days(datetime(2026, 1, 15, 18, 30), date(2026, 1, 16)) == [date(2026, 1, 16)]
    assert CAL.trading_days(date(2026, 1, 16), date(2026, 1, 16)) == [date(2026, 1, 16)]


def test_muhurat_is_a_special_session_on_a_holiday() -> None:
    day = date(2025, 10, 21)  # NSE/CMTR/70319: normal market 13:45-14:45
    assert not CAL.is_trading_day(day) and CAL.session(day) is None
    assert CAL.special_sessions(day) == [(ist(2025, 10, 21, 13, 45), ist(2025, 10, 21, 14, 45))]
    assert CAL.phase(ist(2025, 10, 21, 13, 44, 59)) == "closed"
    assert CAL.phase(ist(2025, 10, 21, 13, 45)) == "special" and CAL.is_open(ist(2025, 10, 21, 14, 0))
    assert CAL.phase(ist(2025, 10, 21, 14, 45)) == "closed"
    assert CAL.special_sessions(date(2025, 10, 20)) == []


# -- phases -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("clock", "phase"), [
    (time(8, 59, 59), "closed"), (time(9, 0), "pre_open"), (time(9, 7, 59), "pre_open"),
    (time(9, 8), "pre_open_matching"), (time(9, 14, 59, 999999), "pre_open_matching"), (time(9, 15), "open"),
    (time(15, 29, 59), "open"), (time(15, 30), "closed"), (time(15, 39, 59), "closed"), (time(15, 40), "post_close"),
    (time(15, 59, 59), "post_close"), (time(16, 0), "closed"), (time(23, 59), "closed"),
])
def test_phases_at_the_boundaries(clock: time, phase: str) -> None:
    local = datetime.combine(date(2025, 3, 4), clock, IST)
    assert CAL.phase(local) == phase
    # The same instant as aware UTC, naive UTC (the kit's rule) and in another zone.
    as_utc = local.astimezone(UTC)
    assert CAL.phase(as_utc) == phase
    assert CAL.phase(as_utc.replace(tzinfo=None)) == phase
    assert CAL.phase(local.astimezone(ZoneInfo("America/New_York"))) == phase
    assert CAL.is_open(local) is (phase == "open")


def test_phases_follow_the_rules_by_date_and_segment() -> None:
    # From 7 Sep 2026 the pre-open order entry runs to 09:10 (NSE/CMTR/74969).
    assert CAL.phase(ist(2026, 9, 4, 9, 8)) == "pre_open_matching"
    assert CAL.phase(ist(2026, 9, 7, 9, 8)) == "pre_open"
    assert CAL.phase(ist(2026, 9, 7, 9, 10)) == "pre_open_matching"
    assert CAL.hours(date(2026, 9, 7)).pre_open_market_orders_until == time(9, 5)
    # Equity derivatives: no pre-open before 8 Dec 2025 (NSE/FAOP/71092), and no post-close session.
    assert FO.phase(ist(2025, 12, 5, 9, 5)) == "closed"
    assert FO.phase(ist(2025, 12, 8, 9, 5)) == "pre_open"
    assert FO.phase(ist(2025, 12, 8, 15, 45)) == "closed"
    assert CAL.phase(ist(2025, 12, 8, 15, 45)) == "post_close"


# -- next open and previous close -------------------------------------------------------------------------------

@pytest.mark.parametrize(("ts", "expected"), [
    (ist(2025, 3, 7, 16, 0), ist(2025, 3, 10, 9, 15)),  # Friday evening to Monday
    (ist(2025, 3, 13, 16, 0), ist(2025, 3, 17, 9, 15)),  # over Holi (Fri 14 Mar 2025) and the weekend
    (ist(2026, 3, 25, 15, 30), ist(2026, 3, 27, 9, 15)),  # over Ram Navami (Thu 26 Mar 2026)
    (ist(2025, 10, 20, 15, 30), ist(2025, 10, 21, 13, 45)),  # to Muhurat trading
    (ist(2025, 10, 21, 13, 45), ist(2025, 10, 23, 9, 15)),  # strictly after: over Balipratipada
    (ist(2026, 1, 30, 15, 30), ist(2026, 2, 1, 9, 15)),  # to the Budget-day Sunday
    (ist(2026, 3, 4, 9, 14, 59), ist(2026, 3, 4, 9, 15)),
])
def test_next_open(ts: datetime, expected: datetime) -> None:
    opened = CAL.next_open(ts)
    assert opened == expected and opened.utcoffset() == timedelta(hours=5, minutes=30)
    assert CAL.next_open(ts.astimezone(UTC).replace(tzinfo=None)) == expected


@pytest.mark.parametrize(("ts", "expected"), [
    (ist(2025, 3, 10, 9, 0), ist(2025, 3, 7, 15, 30)),  # Monday pre-open: Friday's close
    (ist(2025, 3, 17, 9, 15), ist(2025, 3, 13, 15, 30)),
    (ist(2025, 10, 23, 9, 0), ist(2025, 10, 21, 14, 45)),  # the Muhurat session's close
    (ist(2026, 3, 4, 15, 30), ist(2026, 3, 2, 15, 30)),  # strictly before; 3 Mar 2026 was Holi
])
def test_previous_close(ts: datetime, expected: datetime) -> None:
    assert CAL.previous_close(ts) == expected


# -- expiries ---------------------------------------------------------------------------------------------------

def test_nifty_expiries_moved_from_thursday_to_tuesday() -> None:
    # Thursday until 28 Aug 2025, Tuesday from 2 Sep 2025 (NSE circular of 23 Jun 2025; the Sep 4/11/18 contracts
    # became Sep 9/16/23 and Oct 2 became Oct 7); 21 Oct 2025 was Diwali Laxmi Pujan.
    weekly = CAL.expiries("NIFTY", date(2025, 8, 18), date(2025, 10, 31), "weekly")
    assert weekly == [
        date(2025, 8, 21), date(2025, 8, 28), date(2025, 9, 2), date(2025, 9, 9), date(2025, 9, 16),
        date(2025, 9, 23), date(2025, 9, 30), date(2025, 10, 7), date(2025, 10, 14), date(2025, 10, 20),
        date(2025, 10, 28),
    ]
    monthly = CAL.expiries("nifty", date(2024, 1, 1), date(2024, 12, 31), kind="monthly")
    assert monthly[:4] == [date(2024, 1, 25), date(2024, 2, 29), date(2024, 3, 28), date(2024, 4, 25)]
    assert len(monthly) == 12 and all(day.weekday() == 3 for day in monthly)
    assert CAL.expiries("NIFTY", date(2025, 10, 1), date(2025, 10, 31), "monthly") == [date(2025, 10, 28)]
    # NSE/FAOP/71876: the March 2026 expiry moved from Tue 31 Mar (Mahavir Jayanti) to Mon 30 Mar.
    assert CAL.expiries("NIFTY", date(2026, 3, 1), date(2026, 3, 31), "monthly") == [date(2026, 3, 30)]
    # A Thursday holiday in 2024: Id-Ul-Fitr on 11 Apr and Independence Day on 15 Aug.
    assert date(2024, 4, 10) in CAL.expiries("NIFTY", date(2024, 4, 1), date(2024, 4, 30))
    assert date(2024, 8, 14) in CAL.expiries("NIFTY", date(2024, 8, 1), date(2024, 8, 31))


def test_other_indices() -> None:
    # BANKNIFTY monthly: last Wednesday from March 2024, the December 2024 one on the 24th (Christmas), last Thursday
    # in 2025 until August, last Tuesday after (NSE circulars of 29 Dec 2023, 29 Nov 2024, 23 Jun 2025).
    bank = CAL.expiries("BANKNIFTY", date(2024, 2, 1), date(2025, 9, 30), "monthly")
    assert bank[:4] == [date(2024, 2, 29), date(2024, 3, 27), date(2024, 4, 24), date(2024, 5, 29)]
    assert date(2024, 12, 24) in bank and date(2025, 1, 30) in bank and bank[-1] == date(2025, 9, 30)
    # Weekly options of BANKNIFTY, MIDCPNIFTY and FINNIFTY ended on 13, 18 and 19 Nov 2024 (NSE, 10 Oct 2024).
    november = (date(2024, 11, 1), date(2024, 12, 31))
    assert CAL.expiries("BANKNIFTY", *november)[-1] == date(2024, 11, 13)
    assert CAL.expiries("MIDCPNIFTY", *november)[-1] == date(2024, 11, 18)
    assert CAL.expiries("FINNIFTY", *november)[-1] == date(2024, 11, 19)
    assert CAL.expiries("BANKNIFTY", date(2025, 1, 1), date(2026, 12, 31), "weekly") == []
    assert CAL.next_expiry("BANKNIFTY", ist(2025, 1, 1, 10, 0), "weekly") is None
    # MIDCPNIFTY's Monday 22 Jan 2024 expiry moved to Saturday 20 Jan, a regular session (NSE, 19 Jan 2024).
    assert date(2024, 1, 20) in CAL.expiries("MIDCPNIFTY", date(2024, 1, 15), date(2024, 1, 31))
    assert CAL.expiries("STOCK", date(2025, 8, 1), date(2025, 9, 30), "monthly") == [date(2025, 8, 28),
                                                                                     date(2025, 9, 30)]


def test_next_expiry() -> None:
    # An expiry day counts until 15:30 IST.
    assert CAL.next_expiry("NIFTY", ist(2025, 10, 20, 15, 29)) == date(2025, 10, 20)
    assert CAL.next_expiry("NIFTY", ist(2025, 10, 20, 15, 30)) == date(2025, 10, 28)
    assert CAL.next_expiry("NIFTY", datetime(2025, 10, 20, 10, 0)) == date(2025, 10, 28)  # naive: UTC, 15:30 IST
    assert CAL.next_expiry("NIFTY", ist(2025, 10, 1, 9, 0), "monthly") == date(2025, 10, 28)
    assert CAL.next_expiry("NIFTYNXT50", ist(2024, 1, 1, 9, 0), "monthly") == date(2024, 4, 26)
    assert [rule.weekday for rule in CAL.expiry_rules("NIFTY") if rule.kind == "weekly"] == [3, 1]


# -- extra holidays ---------------------------------------------------------------------------------------------

def test_user_added_holidays_and_years(tmp_path: Path) -> None:
    extra = tmp_path / "extra.csv"
    extra.write_text(
        "# more holidays\n"
        "date,kind,description,segments,open,close,source\n"
        "2026-12-29,holiday,A closure,CM FO,,,a circular\n"
        "2026-12-25,trading_day,Christmas cancelled,CM FO,,,\n"
        "2026-11-08,special,Muhurat trading,CM FO,18:00,19:00,\n"
        "2027-01-01,coverage,NSE trading holidays 2027,CM FO,,,\n"
        "2027-01-26,holiday,Republic Day,CM FO,,,\n",
        encoding="utf-8",
    )
    assert CAL.expiries("NIFTY", date(2026, 12, 1), date(2026, 12, 31), "monthly") == [date(2026, 12, 29)]
    cal = NSECalendar(extra)
    assert not cal.is_trading_day(date(2026, 12, 29)) and cal.holiday(date(2026, 12, 29)) == "A closure"
    assert cal.is_trading_day(date(2026, 12, 25)) and cal.holiday(date(2026, 12, 25)) is None
    assert cal.expiries("NIFTY", date(2026, 12, 1), date(2026, 12, 31), "monthly") == [date(2026, 12, 28)]
    assert cal.phase(ist(2026, 11, 8, 18, 30)) == "special"
    assert cal.covered_years == {2024, 2025, 2026, 2027}
    assert not cal.is_trading_day(date(2027, 1, 26)) and cal.is_trading_day(date(2027, 1, 27))
    assert cal.next_open(ist(2026, 12, 31, 16, 0)) == ist(2027, 1, 1, 9, 15)
    # The shipped calendar is unchanged and still knows nothing of 2027.
    assert CAL.is_trading_day(date(2026, 12, 29)) and not CAL.is_trading_day(date(2026, 12, 25))
    with pytest.raises(NoHolidayData):
        CAL.is_trading_day(date(2027, 1, 27))


BAD_ROWS = [
    ("2026-02-30,holiday,x,CM FO,,,", "date"),
    ("26/01/2026,holiday,x,CM FO,,,", "date"),
    ("2026-01-27,closed,x,CM FO,,,", "kind"),
    ("2026-01-27,holiday,x,CD,,,", "segments"),
    ("2026-01-27,special,x,CM,25:00,26:00,", "open"),
    ("2026-01-27,special,x,CM,14:00,13:00,", "close"),
    ("2026-01-27,holiday,x,CM,09:00,,", "open"),
    ("2026-01-27,holiday,x,CM,,,a,b", "source"),
]


@pytest.mark.parametrize(("row", "field"), BAD_ROWS)
def test_bad_extra_rows_name_the_column(tmp_path: Path, row: str, field: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("date,kind,description,segments,open,close,source\n" + row + "\n", encoding="utf-8")
    with pytest.raises(DataError) as caught:
        NSECalendar(path)
    assert caught.value.field == field and "row 1" in str(caught.value)


def test_bad_files_and_arguments(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="extra_files"):
        NSECalendar(tmp_path / "missing.csv")
    both = tmp_path / "both.csv"
    both.write_text("date,kind,description\n2026-01-27,holiday,x\n2026-01-27,trading_day,y\n", encoding="utf-8")
    with pytest.raises(DataError, match="either holiday or trading_day"):
        read_calendar_csv(both)
    headless = tmp_path / "headless.csv"
    headless.write_text("day,what\n2026-01-27,holiday\n", encoding="utf-8")
    with pytest.raises(DataError, match="date"):
        read_calendar_csv(headless)
    for name, kwargs in [("segment", {"segment": "CDS"}), ("outside_data", {"outside_data": "ignore"}),
                         ("extra_files", {"extra_files": 5}), ("expiry_rules", {"expiry_rules": 5})]:
        with pytest.raises(ConfigError) as caught:
            NSECalendar(**kwargs)
        assert caught.value.field == name


# -- beyond the shipped years -----------------------------------------------------------------------------------

def test_years_without_data() -> None:
    with pytest.raises(NoHolidayData) as caught:
        CAL.is_trading_day(date(2023, 12, 29))
    assert caught.value.field == "day" and caught.value.year == 2023
    assert "no holiday data for year 2023" in str(caught.value)
    with pytest.raises(NoHolidayData) as caught:
        CAL.trading_days(date(2026, 12, 1), date(2027, 1, 31))
    assert caught.value.field == "end" and caught.value.year == 2027
    with pytest.raises(NoHolidayData):
        CAL.next_open(ist(2026, 12, 31, 16, 0))  # the next open is in 2027
    with pytest.raises(DataError, match="expiry rules begin"):
        OPEN_ENDED.expiries("NIFTY", date(2023, 1, 1), date(2023, 12, 31))
    # weekends_only: unknown years are closed on weekends only.
    assert OPEN_ENDED.is_trading_day(date(2030, 1, 1)) and not OPEN_ENDED.is_trading_day(date(2030, 1, 5))
    assert OPEN_ENDED.next_open(ist(2030, 1, 4, 16, 0)) == ist(2030, 1, 7, 9, 15)
    assert OPEN_ENDED.is_trading_day(date(2026, 1, 26)) is False  # known years keep their holidays


# -- hostile input ----------------------------------------------------------------------------------------------

NOT_DATES: list[Any] = [None, "", "garbage", "2026-13-45", "26-01-2026", "2026-01-26T09:15", 20260126, 1.5, math.nan,
                        True, b"2026-01-26", [2026, 1, 26], {}, time(9, 15), timedelta(days=1)]
NOT_TIMESTAMPS: list[Any] = [*NOT_DATES, "2026-01-26", date(2026, 1, 26)]


@pytest.mark.parametrize("value", NOT_DATES, ids=repr)
def test_non_dates_are_refused_naming_the_argument(value: Any) -> None:
    for call, field in [
        (lambda: CAL.is_trading_day(value), "day"), (lambda: CAL.session(value), "day"),
        (lambda: CAL.holiday(value), "day"), (lambda: CAL.special_sessions(value), "day"),
        (lambda: CAL.hours(value), "day"),
        (lambda: CAL.trading_days(value, date(2026, 1, 31)), "start"),
        (lambda: CAL.trading_days(date(2026, 1, 1), value), "end"),
        (lambda: CAL.holidays(value, date(2026, 1, 31)), "start"),
        (lambda: CAL.expiries("NIFTY", value, date(2026, 1, 31)), "start"),
        (lambda: CAL.expiries("NIFTY", date(2026, 1, 1), value), "end"),
    ]:
        with pytest.raises(ConfigError) as caught:
            call()
        assert caught.value.field == field


@pytest.mark.parametrize("value", NOT_TIMESTAMPS, ids=repr)
def test_non_timestamps_are_refused_naming_the_argument(value: Any) -> None:
    for call in (CAL.phase, CAL.is_open, CAL.next_open, CAL.previous_close,
                 lambda ts: CAL.next_expiry("NIFTY", ts)):
        with pytest.raises(ConfigError) as caught:
            call(value)
        assert caught.value.field == "ts"


@pytest.mark.parametrize(("underlying", "kind", "field"), [
    ("SENSEX", "weekly", "underlying"), (None, "weekly", "underlying"), (5, "weekly", "underlying"),
    ("NIFTY", "daily", "kind"), ("NIFTY", None, "kind"), ("STOCK", "weekly", "kind"),
    ("NIFTYNXT50", "weekly", "kind"),
])
def test_bad_series_are_refused(underlying: Any, kind: Any, field: str) -> None:
    for call in (lambda: CAL.expiries(underlying, date(2025, 1, 1), date(2025, 2, 1), kind),
                 lambda: CAL.next_expiry(underlying, ist(2025, 1, 1, 9, 0), kind)):
        with pytest.raises(ConfigError) as caught:
            call()
        assert caught.value.field == field


def test_reversed_and_huge_ranges() -> None:
    with pytest.raises(ConfigError, match="on or after start") as caught:
        CAL.trading_days(date(2026, 2, 1), date(2026, 1, 1))
    assert caught.value.field == "end"
    with pytest.raises(ConfigError, match="100 years"):
        OPEN_ENDED.trading_days(date.min, date.max)
    with pytest.raises(ConfigError):
        OPEN_ENDED.next_open(datetime.max)


ZONES = st.one_of(st.none(), st.timezones(), st.builds(lambda m: timezone(timedelta(minutes=m)),
                                                         st.integers(-1439, 1439)))
ANY_DATETIME = st.datetimes(timezones=ZONES)
# Two days inside the covered years, whatever the zone, so that the previous close and next open are known too.
COVERED_DATETIME = st.datetimes(min_value=datetime(2024, 1, 4), max_value=datetime(2026, 12, 28), timezones=ZONES)


def _outcome(call: Any) -> Any:
    """The call's result, or the OmsError it raised; anything else escapes and fails the test."""
    try:
        return call()
    except OmsError as exc:
        assert isinstance(exc, ConfigError | NoHolidayData | DataError), exc
        assert exc.field in ("ts", "day", "start", "end", "date"), exc.field
        return exc


@HOSTILE
@given(ts=ANY_DATETIME, open_ended=st.booleans())
def test_any_datetime_gets_an_answer_or_a_named_error(ts: datetime, open_ended: bool) -> None:
    cal = OPEN_ENDED if open_ended else CAL
    results = {
        "phase": _outcome(lambda: cal.phase(ts)),
        "next_open": _outcome(lambda: cal.next_open(ts)),
        "previous_close": _outcome(lambda: cal.previous_close(ts)),
        "is_trading_day": _outcome(lambda: cal.is_trading_day(ts)),
        "session": _outcome(lambda: cal.session(ts)),
        "next_expiry": _outcome(lambda: cal.next_expiry("NIFTY", ts)),
        "trading_days": _outcome(lambda: cal.trading_days(ts, ts)),
    }
    phase = results["phase"]
    if isinstance(phase, str):
        assert phase in PHASES
    if isinstance(results["next_open"], datetime):
        assert results["next_open"] > ts if ts.utcoffset() is not None else True
        assert cal.is_open(results["next_open"])
    for name, result in results.items():
        if not open_ended and isinstance(result, NoHolidayData):
            assert result.year not in cal.covered_years, name


@HOSTILE
@given(ts=COVERED_DATETIME)
def test_phases_and_opens_are_consistent(ts: datetime) -> None:
    aware = ts if ts.utcoffset() is not None else ts.replace(tzinfo=UTC)
    phase = CAL.phase(ts)
    assert CAL.is_open(ts) is (phase in ("open", "special"))
    opened, closed = CAL.next_open(ts), CAL.previous_close(ts)
    assert closed < aware < opened
    assert CAL.is_open(opened) and not CAL.is_open(opened - timedelta(microseconds=1))
    assert CAL.is_open(closed - timedelta(microseconds=1)) and not CAL.is_open(closed)
    day = aware.astimezone(IST).date()
    session = CAL.session(day)
    assert (session is not None) is CAL.is_trading_day(day)
    if phase == "open":
        assert session is not None and session[0] <= aware < session[1]
    if session is not None:
        assert session[0].date() == day and session[1] - session[0] == timedelta(hours=6, minutes=15)


@HOSTILE
@given(start=st.dates(date(2024, 1, 1), date(2026, 12, 31)), days=st.integers(0, 400),
       underlying=st.sampled_from(["NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", "NIFTYNXT50", "STOCK"]),
       kind=st.sampled_from(["weekly", "monthly"]))
def test_expiries_are_trading_days_in_range(start: date, days: int, underlying: str, kind: str) -> None:
    end = min(start + timedelta(days=days), date(2026, 12, 31))
    try:
        found = CAL.expiries(underlying, start, end, kind)
    except ConfigError as exc:
        assert exc.field == "kind" and underlying in ("STOCK", "NIFTYNXT50")
        return
    assert found == sorted(set(found))
    assert all(start <= day <= end and CAL.is_trading_day(day) for day in found)
    if kind == "monthly":
        assert len({(day.year, day.month) for day in found}) == len(found)
    else:
        assert all(b - a >= timedelta(days=2) for a, b in itertools.pairwise(found))
    if found:
        assert CAL.next_expiry(underlying, datetime.combine(found[0], time(9, 15), IST), kind) == found[0]


@HOSTILE
@given(start=st.dates(), end=st.dates(), open_ended=st.booleans())
def test_any_date_range_gets_an_answer_or_a_named_error(start: date, end: date, open_ended: bool) -> None:
    cal = OPEN_ENDED if open_ended else CAL
    for call in (lambda: cal.trading_days(start, end), lambda: cal.holidays(start, end),
                 lambda: cal.expiries("NIFTY", start, end, "monthly")):
        result = _outcome(call)
        if isinstance(result, list):
            assert all(start <= (item.day if isinstance(item, CalendarEntry) else item) <= end for item in result)
        else:
            assert isinstance(result, OmsError)
