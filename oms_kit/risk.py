"""Risk limits, and the measures the risk monitor takes of them: limit uses and alerts (WARN 80 %, BREACH 100 %)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from oms_kit.errors import ConfigError, DataError, InvalidOrderError
from oms_kit.ledger import Ledger
from oms_kit.market.calendar import NSECalendar
from oms_kit.models import TradingState


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Pre-trade and real-time limits of one account. ``None`` means no limit.

    Money values are in the account currency. ``per_symbol`` overrides fields for one symbol, e.g.
    ``RiskLimits(max_order_quantity=1000, per_symbol={"SBIN": {"max_order_quantity": 5000}})``.

    Raises :class:`~oms_kit.errors.ConfigError` naming the field, the value and what is allowed for a limit that
    is not a positive number (or None), an unknown or bad per-symbol override, a session time that is not a
    ``datetime.time``, a ``calendar`` that is not an :class:`~oms_kit.market.calendar.NSECalendar`, or a calendar
    together with session times.

    Market hours come from one of two places. ``session_start``/``session_end``: the same hours every day, in the
    exchange's local time. ``calendar``: an exchange calendar, whose normal market (and special sessions, such as
    Muhurat trading) are open and whose holidays and weekends are closed; with it, MIS positions are squared off at
    ``mis_square_off`` (exchange-local time) on a trading day and new MIS orders that add exposure are refused from
    then until the close (MIS_CUTOFF). Without either the market never closes.
    """

    max_order_quantity: int | None = 100_000
    max_order_value: Decimal | None = Decimal("5000000")
    max_position_quantity: int | None = None
    max_position_value: Decimal | None = None
    max_gross_exposure: Decimal | None = None
    max_open_orders: int | None = 500
    max_orders_per_second: int | None = 100
    daily_loss_limit: Decimal | None = None
    price_collar_pct: Decimal | None = Decimal("10")  # a limit price within this % of the last price
    duplicate_window_s: float | None = 1.0  # same symbol/side/quantity/price again within this many seconds
    # What a breach of daily_loss_limit does on its own: HALTED (kill switch), REDUCING, or None (alert only).
    auto_kill_on_daily_loss: TradingState | None = TradingState.HALTED
    mis_leverage: Decimal = Decimal("5")  # intraday (MIS) margin is value / leverage; CNC needs full cash
    session_start: time | None = None  # market hours check, off while either is None (exchange local time)
    session_end: time | None = None
    calendar: NSECalendar | None = None  # market hours by an exchange calendar (instead of the two times above)
    mis_square_off: time | None = time(15, 20)  # with a calendar: MIS squared off, new MIS refused (None: never)
    per_symbol: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def market_hours(self) -> NSECalendar | tuple[time, time] | None:
        """What the market-hours check goes by: the calendar, the ``(session_start, session_end)`` pair, or None
        (no check: the market never closes)."""
        if self.calendar is not None:
            return self.calendar
        start, end = self.session_start, self.session_end
        return None if start is None or end is None else (start, end)

    def session_open(self, now: datetime, zone: tzinfo) -> bool | None:
        """Whether the market session holds at ``now`` (a naive time is UTC) in the exchange time zone ``zone``;
        None while no session is configured. A session whose end is before its start runs overnight. With a
        calendar: whether it is open then (its normal market or a special session); a time the calendar has no
        data for counts as closed."""
        calendar = self.calendar
        if calendar is not None:
            try:
                return calendar.is_open(now)
            except (DataError, ConfigError):  # a year without holiday data (outside_data="error"): closed, fail safe
                return False
        start, end = self.session_start, self.session_end
        if start is None or end is None:
            return None
        local = (now if now.tzinfo is not None else now.replace(tzinfo=UTC)).astimezone(zone).time()
        return start <= local < end if start <= end else (local >= start or local < end)

    def last_open(self, now: datetime, zone: tzinfo) -> datetime | None:
        """When the latest session at or before ``now`` opened (``session_start`` on that day in ``zone``); None
        while no session is configured. Without a calendar every day has a session; with one, the opening of its
        latest session (regular or special), in IST, found from its previous close and next open (DataError for a
        time it has no data for)."""
        calendar = self.calendar
        if calendar is not None:
            closed = calendar.previous_close(now)
            if calendar.is_open(now):  # the session of now opened after the close before it
                return calendar.next_open(closed)
            return calendar.next_open(calendar.previous_close(closed))
        start = self.session_start
        if start is None or self.session_end is None:
            return None
        local = (now if now.tzinfo is not None else now.replace(tzinfo=UTC)).astimezone(zone)
        opened = datetime.combine(local.date(), start, zone)
        return opened - timedelta(days=1) if opened > local else opened

    def opened_since(self, since: datetime, now: datetime, zone: tzinfo) -> bool | None:
        """Whether a session opened after ``since`` and at or before ``now``; None while no session is configured.
        With a calendar, its next open after ``since``; False when the calendar has no data to say (an after-market
        order placed at ``since`` is then still held)."""
        calendar = self.calendar
        if calendar is not None:
            try:
                return calendar.next_open(since) <= _aware(now)
            except (DataError, ConfigError):
                return False
        opened = self.last_open(now, zone)
        return None if opened is None else opened > _aware(since)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in _MONEY and value is not None:
                object.__setattr__(self, f.name, _positive_decimal(f.name, value))
            elif f.name in _COUNTS and value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value <= 0
            ):
                raise ConfigError(f.name, value, "a positive whole number or None")
        window = self.duplicate_window_s
        if window is not None and (
            isinstance(window, bool) or not isinstance(window, int | float) or not 0 < window < math.inf
        ):
            raise ConfigError("duplicate_window_s", window, "a positive number of seconds or None")
        for name in ("session_start", "session_end", "mis_square_off"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), time):
                raise ConfigError(name, getattr(self, name), "a datetime.time in exchange local time, or None")
        if self.calendar is not None:
            if not isinstance(self.calendar, NSECalendar):
                raise ConfigError("calendar", self.calendar, "an NSECalendar (oms_kit.NSECalendar()) or None")
            if self.session_start is not None or self.session_end is not None:
                raise ConfigError("calendar", self.calendar, "None while session_start/session_end are set: the "
                                  "calendar's hours replace them, so give one or the other")
        if self.auto_kill_on_daily_loss is not None:
            try:
                state = TradingState.parse(self.auto_kill_on_daily_loss, "auto_kill_on_daily_loss")
            except InvalidOrderError:  # the parser speaks of orders; this is a setting
                state = None
            if state is None or state is TradingState.ACTIVE:
                raise ConfigError("auto_kill_on_daily_loss", self.auto_kill_on_daily_loss, "HALTED, REDUCING or None")
            object.__setattr__(self, "auto_kill_on_daily_loss", state)
        if not isinstance(self.per_symbol, Mapping):
            raise ConfigError("per_symbol", self.per_symbol, "a dict of symbol to a dict of limit overrides")
        names = {f.name for f in dataclasses.fields(self)} - {"per_symbol"}
        for symbol, overrides in self.per_symbol.items():
            if not isinstance(overrides, Mapping):
                raise ConfigError(f"per_symbol[{symbol!r}]", overrides, "a dict of limit overrides")
            unknown = set(overrides) - names
            if unknown:
                raise ConfigError(f"per_symbol[{symbol!r}]", sorted(unknown), ", ".join(sorted(names)))
            try:
                # Checked now, not at the symbol's first order.
                dataclasses.replace(self, per_symbol={}, **overrides)
            except ConfigError as error:
                raise ConfigError(f"per_symbol[{symbol!r}].{error.field}", error.value, error.allowed) from None

    def for_symbol(self, symbol: str) -> RiskLimits:
        """The limits that apply to ``symbol``: these, with its per-symbol overrides."""
        overrides = self.per_symbol.get(symbol)
        if not overrides:
            return self
        return dataclasses.replace(self, per_symbol={}, **overrides)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


_MONEY = {"max_order_value", "max_position_value", "max_gross_exposure", "daily_loss_limit", "price_collar_pct",
          "mis_leverage"}
_COUNTS = {"max_order_quantity", "max_position_quantity", "max_open_orders", "max_orders_per_second"}


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def _positive_decimal(name: str, value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise ConfigError(name, value, "a positive number or None")
    try:
        number = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except ArithmeticError:  # decimal.InvalidOperation: text that is not a number
        raise ConfigError(name, value, "a positive number or None") from None
    if not number.is_finite() or number <= 0:
        raise ConfigError(name, value, "a positive number or None")
    return number


WARN_FRACTION = Decimal("0.8")  # a limit 80 % used raises a WARN alert; 100 % a BREACH


@dataclass(frozen=True, slots=True)
class RiskAlert:
    """A limit found at WARN (80 %) or BREACH (100 %) of its value by the risk monitor."""

    alert_id: str
    account: str
    ts: datetime
    level: str  # "WARN" or "BREACH"
    limit_name: str
    symbol: str | None
    value: Decimal
    limit_value: Decimal
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass(frozen=True, slots=True)
class LimitUse:
    """How much of one limit is in use now."""

    limit_name: str
    symbol: str | None
    value: Decimal
    limit_value: Decimal

    @property
    def fraction(self) -> Decimal:
        return self.value / self.limit_value

    @property
    def level(self) -> str | None:
        if self.value >= self.limit_value:
            return "BREACH"
        return "WARN" if self.value >= self.limit_value * WARN_FRACTION else None


def limit_uses(limits: RiskLimits, ledger: Ledger, open_orders: int) -> list[LimitUse]:
    """Every configured limit with its current use: daily loss, gross exposure, open orders, per-symbol positions."""
    uses = []
    if limits.daily_loss_limit is not None:
        uses.append(LimitUse("daily_loss_limit", None, max(-ledger.day_pnl(), Decimal(0)), limits.daily_loss_limit))
    if limits.max_gross_exposure is not None:
        uses.append(LimitUse("max_gross_exposure", None, ledger.gross_exposure(), limits.max_gross_exposure))
    if limits.max_open_orders is not None:
        uses.append(LimitUse("max_open_orders", None, Decimal(open_orders), Decimal(limits.max_open_orders)))
    for position in ledger.open_positions():
        symbol_limits = limits.for_symbol(position.symbol)
        if symbol_limits.max_position_quantity is not None:
            quantity = Decimal(abs(ledger.net_quantity(position.symbol)))
            uses.append(LimitUse("max_position_quantity", position.symbol, quantity,
                                 Decimal(symbol_limits.max_position_quantity)))
        if symbol_limits.max_position_value is not None:
            uses.append(LimitUse("max_position_value", position.symbol, abs(position.market_value),
                                 symbol_limits.max_position_value))
    return uses


class AlertBook:
    """Turns limit uses into alerts: one per limit and level until the use falls back below WARN."""

    def __init__(self, account: str) -> None:
        self.account = account
        self.active: dict[tuple[str, str | None], str] = {}
        self._count = 0

    def update(self, uses: list[LimitUse], now: datetime) -> list[RiskAlert]:
        raised = []
        seen = set()
        for use in uses:
            key = (use.limit_name, use.symbol)
            seen.add(key)
            level = use.level
            if level is None:
                self.active.pop(key, None)
                continue
            if self.active.get(key) == level or (level == "WARN" and self.active.get(key) == "BREACH"):
                continue  # already raised at this level (a BREACH easing to WARN raises nothing new)
            self.active[key] = level
            self._count += 1
            where = f" {use.symbol}" if use.symbol else ""
            raised.append(RiskAlert(
                f"A-{self.account}-{now.timestamp():.6f}-{self._count}", self.account, now, level, use.limit_name,
                use.symbol, use.value, use.limit_value,
                f"{level}: {use.limit_name}{where} at {use.value} of {use.limit_value} "
                f"({float(use.fraction) * 100:.0f} %)"))
        for key in set(self.active) - seen:
            del self.active[key]
        return raised
