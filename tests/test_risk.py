"""Risk limits and the monitor's measures: limit uses and alerts at WARN (80 %) and BREACH (100 %)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from oms_kit.errors import ConfigError, InvalidOrderError
from oms_kit.ledger import Ledger
from oms_kit.models import Fill, OrderId, Product, Side, TradeId
from oms_kit.risk import AlertBook, LimitUse, RiskLimits, limit_uses

T0 = datetime(2026, 1, 5, 4, 0, tzinfo=UTC)


def _ledger_long(quantity: int, price: str, mark: str) -> Ledger:
    ledger = Ledger(Decimal(1_000_000))
    ledger.apply_fill(Fill(TradeId("T-1"), OrderId("O-1"), "SBIN", Side.BUY, quantity, Decimal(price),
                           Decimal(0), T0, Product.MIS))
    ledger.mark("SBIN", Decimal(mark))
    return ledger


@pytest.mark.parametrize(("value", "level"), [("79", None), ("80", "WARN"), ("99.99", "WARN"), ("100", "BREACH"),
                                              ("150", "BREACH")])
def test_limit_use_level_is_warn_from_80_percent_and_breach_from_100(value, level):
    assert LimitUse("daily_loss_limit", None, Decimal(value), Decimal(100)).level == level


def test_daily_loss_use_is_the_loss_net_of_fees_and_unrealized():
    ledger = _ledger_long(100, "800", "790")  # unrealized -1000

    uses = {u.limit_name: u for u in limit_uses(RiskLimits(daily_loss_limit=1200), ledger, open_orders=0)}

    assert uses["daily_loss_limit"].value == Decimal(1000)
    assert uses["daily_loss_limit"].level == "WARN"


def test_position_limits_are_measured_per_symbol_with_overrides():
    ledger = _ledger_long(100, "800", "800")
    limits = RiskLimits(max_position_quantity=1000, per_symbol={"SBIN": {"max_position_quantity": 100}})

    uses = [u for u in limit_uses(limits, ledger, open_orders=0) if u.limit_name == "max_position_quantity"]

    assert [(u.symbol, u.value, u.limit_value, u.level) for u in uses] == [("SBIN", 100, 100, "BREACH")]


def test_alert_is_raised_once_per_limit_and_level_until_it_clears():
    book = AlertBook("default")
    warn = [LimitUse("max_gross_exposure", None, Decimal(85), Decimal(100))]
    breach = [LimitUse("max_gross_exposure", None, Decimal(100), Decimal(100))]
    clear = [LimitUse("max_gross_exposure", None, Decimal(10), Decimal(100))]

    levels = [[a.level for a in book.update(uses, T0 + timedelta(seconds=i))]
              for i, uses in enumerate([warn, warn, breach, breach, warn, clear, warn])]

    assert levels == [["WARN"], [], ["BREACH"], [], [], [], ["WARN"]]


def test_alert_message_names_the_limit_symbol_and_numbers():
    (alert,) = AlertBook("acc").update([LimitUse("max_position_value", "TCS", Decimal(95), Decimal(100))], T0)

    assert alert.message == "WARN: max_position_value TCS at 95 of 100 (95 %)"
    assert alert.alert_id.startswith("A-") and alert.account == "acc"


def test_risk_limits_refuse_a_non_positive_limit_naming_the_field():
    with pytest.raises(ConfigError, match="max_order_value: -5 was given") as caught:
        RiskLimits(max_order_value=-5)
    assert isinstance(caught.value, ValueError) and not isinstance(caught.value, InvalidOrderError)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_order_value", "lots"),
        ("daily_loss_limit", float("nan")),
        ("max_open_orders", 2.5),
        ("max_orders_per_second", True),
        ("duplicate_window_s", "1"),
        ("duplicate_window_s", float("inf")),
        ("duplicate_window_s", 0),
        ("session_start", "09:15"),
        ("auto_kill_on_daily_loss", "ACTIVE"),
        ("auto_kill_on_daily_loss", "PANIC"),
    ],
)
def test_risk_limits_refuse_a_bad_setting_with_a_config_error_naming_it(field, value):
    with pytest.raises(ConfigError) as caught:
        RiskLimits(**{field: value})
    assert caught.value.field == field and caught.value.value is value


def test_per_symbol_override_of_an_unknown_field_is_refused():
    with pytest.raises(ConfigError, match="per_symbol"):
        RiskLimits(per_symbol={"SBIN": {"max_lots": 3}})


def test_per_symbol_override_with_a_bad_value_is_refused_at_once_naming_symbol_and_field():
    with pytest.raises(ConfigError) as caught:
        RiskLimits(per_symbol={"SBIN": {"max_order_quantity": -1}})
    assert caught.value.field == "per_symbol['SBIN'].max_order_quantity" and caught.value.value == -1
    with pytest.raises(ConfigError, match="per_symbol"):
        RiskLimits(per_symbol=[("SBIN", {})])  # type: ignore[arg-type]


async def test_monitor_run_that_fails_raises_an_alert_shows_in_status_and_the_monitor_goes_on():
    from oms_kit import OMS

    oms = await OMS.open(feed=None, risk_interval=0.01, limits=RiskLimits(max_gross_exposure=100_000))
    real, failures = oms.monitor.limit_uses, [RuntimeError("marks unavailable")]

    def flaky() -> list[LimitUse]:
        if failures:
            raise failures.pop()
        return real()

    oms.monitor.limit_uses = flaky  # type: ignore[method-assign]
    alerts: list[object] = []
    oms.subscribe(lambda event: alerts.append(event.alert), kinds="risk_alert")
    await oms.set_price("SBIN", 800)
    await oms.place_order("SBIN", "BUY", 110, "MARKET")  # 88,000 of 100,000: WARN, once the monitor runs again
    for _ in range(500):
        if len(alerts) >= 2:
            break
        await asyncio.sleep(0.01)

    failed, warn = alerts[:2]
    assert (failed.limit_name, failed.level) == ("risk_monitor", "BREACH")
    assert "RuntimeError: marks unavailable" in failed.message
    assert (warn.limit_name, warn.level) == ("max_gross_exposure", "WARN")
    status = oms.status()
    assert status["risk_monitor_failures"] == 1 and status["tasks"]["oms-kit-risk-monitor"] is True
    await oms.close()


async def _memory_oms(**options: object):
    from oms_kit import OMS, SimulatedClock

    clock = SimulatedClock(T0)  # 09:30 in Kolkata
    oms = await OMS.open(feed=None, risk_interval=None, fees=None, clock=clock, **options)
    return oms, clock


async def test_day_orders_expire_when_the_configured_session_is_over():
    from datetime import time

    oms, clock = await _memory_oms(limits=RiskLimits(session_start=time(9, 15), session_end=time(15, 30)))
    await oms.set_price("SBIN", 800)
    day = await oms.place_order("SBIN", "BUY", 5, "LIMIT", 790.0)
    clock.set(T0 + timedelta(hours=5, minutes=59))  # 15:29, still open
    await oms.check_risk()
    assert oms.get_order(day.order_id).status.value == "OPEN"

    clock.set(T0 + timedelta(hours=6))  # 15:30: the session is over
    await oms.check_risk()
    expired = oms.get_order(day.order_id)
    assert (expired.status.value, expired.reason) == ("EXPIRED", "DAY order expired at the end of the session")
    assert oms.active_orders().empty and oms.stats_today()["orders_expired"] == 1
    await oms.close()


async def test_order_whose_acknowledgement_was_lost_is_reconciled_with_the_broker():
    from oms_kit import MockBroker

    broker = MockBroker(fees=None, drop_ack_rate=1.0)
    oms, clock = await _memory_oms(broker=broker)
    await oms.set_price("SBIN", 800)
    order = await oms.place_order("SBIN", "BUY", 5, "LIMIT", 795.0)
    assert order.status.value == "NEW" and broker.unacknowledged() == [order.order_id]
    await oms.check_risk()  # too early to ask
    assert order.status.value == "NEW"

    clock.set(T0 + timedelta(seconds=2))
    await oms.check_risk()
    assert order.status.value == "OPEN" and broker.unacknowledged() == []
    await oms.set_price("SBIN", 794)
    assert order.status.value == "FILLED"

    lost = await oms.place_order("SBIN", "BUY", 1, "LIMIT", 790.0)
    broker._unacknowledged.clear()  # the broker never got it
    clock.set(T0 + timedelta(seconds=4))
    await oms.check_risk()
    assert (lost.status.value, lost.reason) == (
        "REJECTED", "no acknowledgement, and the broker does not know the order")
    await oms.flush()
    events = await oms.store.fetch("SELECT event_type FROM order_events WHERE order_id = $1 ORDER BY sequence",
                                   order.order_id)
    assert [e["event_type"] for e in events] == ["CREATED", "ACCEPTED", "FILLED"]
    await oms.close()
