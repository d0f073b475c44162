"""The checks of the market's session: market hours (the limits' daily hours or an NSE calendar; after-market
orders the other way round) and the MIS cutoff before the broker's square-off. Part of the pre-trade checks
(:mod:`oms_kit.checks` lists them all, in the order their violations are reported)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from oms_kit.check import Check, CheckContext, Outcome
from oms_kit.errors import ConfigError, DataError
from oms_kit.market.calendar import IST, NSECalendar
from oms_kit.models import Order, Product, Side, Variety, Violation

__all__ = ["check_market_hours", "check_mis_cutoff"]

_BUY: Final = Side.BUY
_MIS: Final = Product.MIS
_AMO: Final = Variety.AMO
_NO_LIMIT: Final = "no limit is set"
_OPEN_PHASES: Final = frozenset({"open", "special"})  # a calendar's phases in which orders trade
_PHASE_TEXT: Final = {"pre_open": "pre-open order entry: orders are taken from the normal market's open",
                      "pre_open_matching": "pre-open matching", "post_close": "post-close session"}


def _market_hours(order: Order, ctx: CheckContext) -> Outcome:
    # Outside [session_start, session_end) in the account's exchange time (ctx.now naive is UTC); a session whose
    # end is before its start runs overnight. With a calendar instead, outside its normal market and special
    # sessions. Off while neither is set (limit field market_hours, a property of the limits).
    # An after-market order (Variety.AMO) is the other way round: taken only while the market is closed. A change
    # to one already taken is not a new placement and is not checked.
    limits = ctx.limits
    amo = order.variety is _AMO
    if amo and ctx.modify_of is not None:
        return _NO_LIMIT
    calendar = limits.calendar
    if calendar is not None:
        return _calendar_hours(order, ctx, calendar, amo)
    start, end = limits.session_start, limits.session_end
    if start is None or end is None:
        return _NO_LIMIT
    now, session = ctx.now, ctx.session
    local = session.local_time(now)
    hours = f"{start.isoformat()}-{end.isoformat()}"
    if amo:
        if limits.session_open(now, session.zone):
            return Violation("AMO_MARKET_OPEN", f"the market is open at {local.isoformat('seconds')} ({session}, "
                             f"session {hours}): place a regular order; after-market orders are taken while it "
                             "is closed", hours, local.isoformat("seconds"))
        return local.isoformat("seconds"), hours
    if not limits.session_open(now, session.zone):
        return Violation("MARKET_CLOSED", f"the market is closed at {local.isoformat('seconds')} ({session}); the "
                         f"session is {hours}", hours, local.isoformat("seconds"))
    return local.isoformat("seconds"), hours


def _phase(calendar: NSECalendar, now: datetime) -> tuple[str, str]:
    # The calendar's phase at now, and now as IST text. Remembered for the minute: every boundary of the sessions
    # is a whole minute (HH:MM in IST, whose offset is whole minutes too), so orders within one minute share the
    # phase and the minute's text. One entry, a tuple swapped whole, so threads cannot see half of it.
    aware = now if now.tzinfo is not None else now.replace(tzinfo=UTC)  # naive is UTC
    stamp = aware.timestamp()
    minute = stamp // 60
    memo = _phase_memo[0]
    if memo[0] is not calendar or memo[1] != minute:
        phase = calendar.phase(aware)
        memo = _phase_memo[0] = (calendar, minute, phase, aware.astimezone(IST).strftime("%a %d %b %Y %H:%M"))
    return memo[2], f"{memo[3]}:{int(stamp % 60):02d} IST"


_phase_memo: Final[list[tuple[NSECalendar | None, float, str, str]]] = [(None, -1.0, "", "")]


def _calendar_hours(order: Order, ctx: CheckContext, calendar: NSECalendar, amo: bool) -> Outcome:
    now = ctx.now
    try:
        phase, when = _phase(calendar, now)
    except (DataError, ConfigError) as error:  # a year the calendar has no holidays for: closed, with the reason
        return Violation("MARKET_CLOSED", f"the market's hours at {now.isoformat()} are unknown to the calendar "
                         f"({error.detail or error.allowed})" + (f": {error.hint}" if error.hint else ""),
                         "the calendar's years", now.isoformat())
    if phase in _OPEN_PHASES:
        if amo:
            return Violation("AMO_MARKET_OPEN", f"the market is open at {when}: place a regular order; after-market "
                             "orders are taken while it is closed", phase, when)
        return when, phase
    if amo:
        return when, phase
    local = (now if now.tzinfo is not None else now.replace(tzinfo=UTC)).astimezone(IST)
    return Violation("MARKET_CLOSED", f"the market is closed at {when} ({_closed_because(calendar, local, phase)}); "
                     f"it opens next at {_next_open(calendar, now)}", phase, when)


def _closed_because(calendar: NSECalendar, local: datetime, phase: str) -> str:
    if phase != "closed":
        return _PHASE_TEXT.get(phase, phase)
    day = local.date()
    holiday = calendar.holiday(day)
    if holiday:
        return f"holiday: {holiday}"
    if not calendar.is_trading_day(day):
        return "no trading on this day"
    return "outside the session hours"


def _next_open(calendar: NSECalendar, now: datetime) -> str:
    try:
        return calendar.next_open(now).strftime("%a %d %b %Y %H:%M IST")
    except (DataError, ConfigError):
        return "a date the calendar has no data for"


def _mis_cutoff(order: Order, ctx: CheckContext) -> Outcome:
    # With a calendar: from mis_square_off (exchange-local time) to the close of the normal market, an MIS order may
    # only reduce the MIS position (the broker squares MIS off then). Only while the normal market is open: outside
    # it the market-hours check speaks, and an after-market MIS order is for the next session.
    limits = ctx.limits
    cutoff, calendar = limits.mis_square_off, limits.calendar
    if cutoff is None or calendar is None:
        return "no MIS cutoff is set (it needs a calendar)"
    if order.product is not _MIS or order.variety is _AMO:
        return "the order is not an intraday (MIS) order for this session"
    now = ctx.now
    local = ctx.session.local_time(now)
    time_text = cutoff.isoformat("minutes")
    if local < cutoff:
        return f"{local.isoformat('seconds')} is before it", time_text
    try:
        phase = _phase(calendar, now)[0]
    except (DataError, ConfigError):
        return "the calendar has no data for this time (the market-hours check refuses it)"
    if phase != "open":
        return "the normal market is not open"
    # What closes the MIS position: working orders are not counted, as the context knows them for all products
    # together, and a CNC order beside an MIS position would hold back the broker's own square-off.
    position = ctx.product_position_quantity(_MIS)
    reducible = -position if order.side is _BUY else position
    if reducible < 0:
        reducible = 0
    if order.quantity > reducible:
        return Violation("MIS_CUTOFF", f"intraday (MIS) orders that add exposure are refused from {time_text} "
                         f"({ctx.session}) until the next session, when the broker squares MIS positions off; at "
                         f"most {reducible} {order.symbol} may be traded on this side to reduce the MIS position, "
                         "or place a CNC order", reducible, order.quantity)
    return f"{local.isoformat('seconds')}, an order that reduces the MIS position", time_text


check_market_hours = Check("market_hours", "MARKET_CLOSED", _market_hours, "{value} is within the session {limit}",
                           limit_fields=("market_hours",))
check_mis_cutoff = Check("mis_cutoff", "MIS_CUTOFF", _mis_cutoff, "{value} (MIS cutoff {limit})",
                         limit_fields=("calendar", "mis_square_off"))
