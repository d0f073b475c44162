"""The dashboard panels on a real OMS (in-memory DuckDB, no feed, prices by set_price): buttons clicked, values read."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import oms_kit as ok
import oms_kit.snapshot as snapshot_module
import oms_kit.widgets.positions as positions_module
from oms_kit import OMS, OrderStatus, RiskLimits
from oms_kit.widgets import (
    Dashboard,
    Header,
    HistoryPanel,
    LimitRow,
    OrdersPanel,
    OrderTicket,
    PnLChart,
    PositionsPanel,
    RiskPanel,
    dashboard,
)
from oms_kit.widgets.base import Panel


@pytest.fixture
async def open_oms() -> AsyncIterator[Callable[..., Any]]:
    opened: list[OMS] = []

    async def open_(**options: Any) -> OMS:
        options.setdefault("feed", None)
        options.setdefault("fees", None)
        options.setdefault("risk_interval", None)
        oms = await ok.OMS.open(**options)
        opened.append(oms)
        await oms.set_price("RELIANCE", 2500.0)
        await oms.set_price("TCS", 3900.0)
        return oms

    yield open_
    for oms in opened:
        await oms.close()


@pytest.fixture
async def oms(open_oms: Callable[..., Any]) -> OMS:
    return await open_oms()


@pytest.fixture
def shown() -> Any:
    """Make panels and close them after the test (no ticker task or comm left behind)."""
    made: list[Any] = []

    def show(kind: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        widget = kind(*args, **kwargs)
        made.append(widget)
        return widget

    yield show
    for widget in made:
        widget.close()


def visible(widget: Any) -> bool:
    return widget.layout.display != "none"


# -- the core stays free of the widgets ---------------------------------------------------------------------------


def test_importing_oms_kit_loads_neither_ipywidgets_nor_ipython():
    code = ("import sys, oms_kit, oms_kit.sync, oms_kit.snapshot; "
            "print(sorted(m for m in ('ipywidgets', 'IPython', 'oms_kit.widgets') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


async def test_the_dashboard_function_makes_a_dashboard_with_its_options(oms, shown):
    made = shown(dashboard, oms, interval=0.5)

    assert isinstance(made, Dashboard)
    assert made.header.state.value == "ACTIVE"
    assert {p.interval for p in made.panels} == {0.5}
    assert not hasattr(oms, "dashboard")  # the core knows nothing of the widgets


# -- header -------------------------------------------------------------------------------------------------------


async def test_header_shows_state_equity_backend_and_feed(oms, shown):
    header = shown(Header, oms)

    assert header.state.value == "ACTIVE"
    assert {"oms-state", "oms-state-ACTIVE"} <= set(header.state._dom_classes)
    assert "1,000,000.00" in header.equity.value
    assert "duckdb" in header.backend.value and "not durable" in header.backend.value
    assert "none" in header.feed.value


async def test_header_day_pnl_follows_prices_coloured_by_sign(oms, shown):
    header = shown(Header, oms)
    await oms.place_order("RELIANCE", "BUY", 10)

    await oms.set_price("RELIANCE", 2510.0)
    await header.settle()
    assert "+100.00" in header.day_pnl.value and "oms-up" in header.day_pnl.value

    await oms.set_price("RELIANCE", 2480.0)
    await header.settle()
    assert "-200.00" in header.day_pnl.value and "oms-down" in header.day_pnl.value


# -- positions ----------------------------------------------------------------------------------------------------


async def test_positions_panel_shows_quantity_average_last_and_pnl_percent(oms, shown):
    panel = shown(PositionsPanel, oms)
    await oms.place_order("RELIANCE", "BUY", 10)

    await oms.set_price("RELIANCE", 2525.0)
    await panel.settle()

    html = panel.table.value
    assert "RELIANCE" in html and "MIS" in html
    assert "2,500.00" in html and "2,525.00" in html
    assert "<span class='oms-up'>+250.00</span>" in html
    assert "+1.00 %" in html  # 250 on a cost of 25,000
    assert [p.quantity for p in panel.rows] == [10]


async def test_positions_panel_keeps_a_flat_position_with_its_realized_pnl(oms, shown):
    panel = shown(PositionsPanel, oms)
    await oms.place_order("RELIANCE", "BUY", 10)
    await oms.set_price("RELIANCE", 2490.0)
    await oms.place_order("RELIANCE", "SELL", 10)

    await panel.settle()

    assert "<span class='oms-down'>-100.00</span>" in panel.table.value
    assert [p.quantity for p in panel.rows] == [0]


# -- orders -------------------------------------------------------------------------------------------------------


async def test_row_cancel_cancels_that_order_and_no_other(oms, shown):
    panel = shown(OrdersPanel, oms)
    first = await oms.place_order("RELIANCE", "BUY", 5, "LIMIT", price=2490)
    second = await oms.place_order("TCS", "SELL", 3, "LIMIT", price=3950)
    await panel.settle()
    assert panel.order_ids == [second.order_id, first.order_id]  # newest first

    row = panel._rows[second.order_id]
    assert f"oms-order-{second.order_id}" in row.box._dom_classes
    row.cancel.click()
    await panel.settle()

    assert oms.get_order(second.order_id).status is OrderStatus.CANCELLED
    assert oms.get_order(first.order_id).status is OrderStatus.OPEN
    assert panel.order_ids == [first.order_id]
    assert second.order_id in panel.last_message and "CANCELLED" in panel.last_message


async def test_cancel_all_cancels_every_working_order(oms, shown):
    panel = shown(OrdersPanel, oms)
    orders = [await oms.place_order("RELIANCE", "BUY", q, "LIMIT", price=2480 + q) for q in (1, 2, 3)]
    await panel.settle()
    assert len(panel.list.children) == 3

    panel.cancel_all_button.click()
    await panel.settle()

    assert all(oms.get_order(o.order_id).status is OrderStatus.CANCELLED for o in orders)
    assert panel.order_ids == [] and panel.list.children == ()
    assert panel.last_message == "cancelled 3 orders"


async def test_orders_panel_shows_at_most_max_rows_and_counts_the_rest(oms, shown):
    panel = shown(OrdersPanel, oms, max_rows=2)
    for q in (1, 2, 3, 4):
        await oms.place_order("RELIANCE", "BUY", q, "LIMIT", price=2480)
    await panel.settle()

    assert len(panel.list.children) == 2
    assert "2 older working orders not shown" in panel.more.value
    assert "4 working" in panel.count.value


async def test_a_refused_cancel_is_shown_and_offers_the_button_again(oms, shown):
    panel = shown(OrdersPanel, oms)
    order = await oms.place_order("RELIANCE", "BUY", 5, "LIMIT", price=2490)
    await panel.settle()
    row = panel._rows[order.order_id]
    await oms.set_price("RELIANCE", 2489.0)  # fills before the click reaches the OMS

    row.cancel.click()
    await panel.settle()

    assert "refused" in panel.last_message and order.order_id in panel.last_message
    assert panel.order_ids == []


# -- ticket -------------------------------------------------------------------------------------------------------


async def test_ticket_validates_as_the_user_types(oms, shown):
    ticket = shown(OrderTicket, oms)
    ticket.symbol.value = "RELIANCE"
    ticket.order_type.value = "LIMIT"

    ticket.price.value = "2500.03"
    assert "PRICE_NOT_ON_TICK" in ticket.feedback.value and "✗" in ticket.feedback.value

    ticket.price.value = "2500.05"
    assert "✓ passes all" in ticket.feedback.value
    assert "PRICE_NOT_ON_TICK" not in ticket.feedback.value
    assert ticket.checks["passed"].all()


async def test_ticket_names_the_field_of_malformed_input(oms, shown):
    ticket = shown(OrderTicket, oms, symbol="RELIANCE")

    ticket.quantity.value = 0
    assert "quantity" in ticket.feedback.value and "0" in ticket.feedback.value

    ticket.quantity.value = 5
    ticket.order_type.value = "LIMIT"
    ticket.price.value = "abc"
    assert "invalid price" in ticket.feedback.value and "abc" in ticket.feedback.value


async def test_ticket_enables_price_and_trigger_by_order_type(oms, shown):
    ticket = shown(OrderTicket, oms, symbol="RELIANCE")

    assert ticket.price.disabled and ticket.trigger.disabled
    ticket.order_type.value = "SL"
    assert not ticket.price.disabled and not ticket.trigger.disabled
    ticket.order_type.value = "SL-M"
    assert ticket.price.disabled and not ticket.trigger.disabled
    ticket.side.value = "SELL"
    assert ticket.place_button.description == "Place SELL" and ticket.place_button.button_style == "danger"


async def test_ticket_shows_every_violation_after_a_rejection(open_oms, shown):
    oms = await open_oms(limits=RiskLimits(max_order_quantity=5))
    ticket = shown(OrderTicket, oms, symbol="RELIANCE")
    ticket.quantity.value = 10
    ticket.order_type.value = "LIMIT"
    ticket.price.value = "2500.03"

    ticket.place_button.click()
    await ticket.settle()

    assert ticket.last_order.status is OrderStatus.REJECTED
    assert ticket.last_order.order_id in ticket.result.value and "REJECTED" in ticket.result.value
    assert "PRICE_NOT_ON_TICK" in ticket.result.value and "QUANTITY_EXCEEDS_MAXIMUM" in ticket.result.value
    assert not ticket.place_button.disabled


async def test_ticket_shows_the_order_id_after_success(oms, shown):
    ticket = shown(OrderTicket, oms, symbol="TCS")
    ticket.side.value = "SELL"
    ticket.quantity.value = 4
    ticket.order_type.value = "LIMIT"
    ticket.price.value = "3950"
    ticket.product.value = "CNC"

    order = await ticket.place()

    assert order is ticket.last_order
    assert (order.symbol, order.side, order.quantity, order.price, order.product) == (
        "TCS", ok.Side.SELL, 4, Decimal("3950"), ok.Product.CNC)
    assert order.status is OrderStatus.OPEN
    assert f"✓ <b>{order.order_id}</b> OPEN" in ticket.result.value


async def test_ticket_result_follows_the_order_placed_until_it_ends(oms, shown):
    ticket = shown(OrderTicket, oms, symbol="RELIANCE")
    ticket.order_type.value = "LIMIT"
    ticket.price.value = "2480"
    order = await ticket.place()
    assert f"✓ <b>{order.order_id}</b> OPEN" in ticket.result.value

    await oms.cancel_order(order.order_id)
    await ticket.settle()

    assert f"<b>{order.order_id}</b> CANCELLED" in ticket.result.value
    assert "OPEN" not in ticket.result.value


async def test_ticket_place_of_malformed_input_says_why_and_records_nothing(oms, shown):
    ticket = shown(OrderTicket, oms, symbol="RELIANCE")
    ticket.order_type.value = "LIMIT"  # no price

    ticket.place_button.click()
    await ticket.settle()

    assert "refused" in ticket.last_message and "price" in ticket.last_message
    assert "✗" in ticket.result.value
    assert len(oms.orders()) == 0
    await oms.flush()
    for table in ("orders", "order_events", "risk_decisions"):
        assert await oms.store.fetch(f"SELECT * FROM {table}") == [], table


# -- risk ---------------------------------------------------------------------------------------------------------


async def test_kill_switch_halts_cancels_and_the_header_shows_halted(oms, shown):
    dashboard = shown(Dashboard, oms)
    dashboard.ticket.symbol.value = "RELIANCE"
    order = await oms.place_order("RELIANCE", "BUY", 5, "LIMIT", price=2490)
    await dashboard.settle()
    assert dashboard.orders.order_ids == [order.order_id]

    dashboard.risk.kill_button.click()
    await dashboard.settle()

    assert oms.trading_state is ok.TradingState.HALTED
    assert oms.get_order(order.order_id).status is OrderStatus.CANCELLED
    assert dashboard.header.state.value == "HALTED"
    assert "oms-state-HALTED" in dashboard.header.state._dom_classes
    assert "oms-state-ACTIVE" not in dashboard.header.state._dom_classes
    assert dashboard.orders.order_ids == []
    assert "HALTED" in dashboard.risk.state.value
    assert "TRADING_HALTED" in dashboard.ticket.feedback.value


async def test_square_off_asks_for_confirmation_then_closes_every_position(oms, shown):
    panel = shown(RiskPanel, oms)
    await oms.place_order("RELIANCE", "BUY", 10)
    await oms.place_order("TCS", "SELL", 2)

    panel.square_off_button.click()
    await panel.settle()
    assert visible(panel.square_off_ask)
    assert oms.position("RELIANCE") == 10  # nothing happens before the confirmation

    panel.square_off_confirm.click()
    await panel.settle()

    assert oms.position("RELIANCE") == 0 and oms.position("TCS") == 0
    assert not visible(panel.square_off_ask)
    assert panel.last_message == "square off: 2 closing orders placed"


async def test_square_off_abort_keeps_positions(oms, shown):
    panel = shown(RiskPanel, oms)
    await oms.place_order("RELIANCE", "BUY", 10)

    panel.square_off_button.click()
    panel.square_off_abort.click()
    await panel.settle()

    assert not visible(panel.square_off_ask)
    assert oms.position("RELIANCE") == 10


async def test_reset_needs_a_reason_and_a_confirmation(oms, shown):
    panel = shown(RiskPanel, oms)
    await oms.kill_switch("test")
    await panel.settle()
    assert not panel.reset_button.disabled

    panel.reset_button.click()  # no reason yet
    assert "needs a reason" in panel.last_message and not visible(panel.reset_ask)

    panel.reset_reason.value = "checked the positions"
    panel.reset_button.click()
    await panel.settle()
    assert visible(panel.reset_ask)
    assert oms.trading_state is ok.TradingState.HALTED  # not before the confirmation

    panel.reset_confirm.click()
    await panel.settle()
    assert oms.trading_state is ok.TradingState.ACTIVE
    assert panel.last_message == "trading resumed: ACTIVE"
    assert panel.reset_button.disabled and panel.reset_reason.value == ""


async def test_reset_abort_stays_halted(oms, shown):
    panel = shown(RiskPanel, oms)
    await oms.kill_switch("test")
    panel.reset_reason.value = "maybe"

    panel.reset_button.click()
    panel.reset_abort.click()
    await panel.settle()

    assert not visible(panel.reset_ask)
    assert oms.trading_state is ok.TradingState.HALTED


async def test_reset_is_refused_while_the_daily_loss_is_in_breach(open_oms, shown):
    oms = await open_oms(limits=RiskLimits(daily_loss_limit=100))
    dashboard = shown(Dashboard, oms)
    await oms.place_order("RELIANCE", "BUY", 10)
    await oms.set_price("RELIANCE", 2480.0)  # a loss of 200 against a limit of 100
    await oms.check_risk()  # the monitor's run: BREACH trips the kill switch
    await dashboard.settle()
    risk = dashboard.risk
    assert dashboard.header.state.value == "HALTED"
    assert "BREACH" in risk.alerts.value and "daily_loss_limit" in risk.alerts.value
    daily = limit_row(risk, "daily_loss_limit")
    assert daily.level == "BREACH" and daily.pct == 200
    assert "oms-level-BREACH" in risk.limits.value and "width:100.0%" in risk.limits.value

    risk.reset_reason.value = "try again"
    risk.reset_button.click()
    risk.reset_confirm.click()
    await dashboard.settle()

    assert "reset refused" in risk.last_message and "daily loss" in risk.last_message
    assert oms.trading_state is ok.TradingState.HALTED
    assert dashboard.header.state.value == "HALTED"


async def test_limit_bars_turn_amber_at_80_percent(open_oms, shown):
    oms = await open_oms(limits=RiskLimits(max_open_orders=5))
    panel = shown(RiskPanel, oms)
    for q in (1, 2, 3):
        await oms.place_order("RELIANCE", "BUY", q, "LIMIT", price=2480)
    await panel.settle()
    assert (limit_row(panel, "max_open_orders").pct, limit_row(panel, "max_open_orders").level) == (60, "OK")
    assert "width:60.0%" in panel.limits.value

    await oms.place_order("RELIANCE", "BUY", 4, "LIMIT", price=2480)
    await panel.settle()

    row = limit_row(panel, "max_open_orders")
    assert (row.pct, row.level, row.text) == (80, "WARN", "4 / 5")
    assert "oms-level-WARN" in panel.limits.value and "width:80.0%" in panel.limits.value


def limit_row(panel: RiskPanel, limit: str, symbol: str = "") -> LimitRow:
    return next(r for r in panel.limit_rows if (r.limit, r.symbol) == (limit, symbol))


# -- history ------------------------------------------------------------------------------------------------------


async def test_history_filters_by_symbol_status_side_and_time(oms, shown):
    panel = shown(HistoryPanel, oms)
    bought = await oms.place_order("RELIANCE", "BUY", 10)
    resting = await oms.place_order("TCS", "SELL", 2, "LIMIT", price=3950)
    await panel.settle()

    def orders() -> list[str]:
        return [o.order_id for o in panel.orders_shown]

    assert orders() == [resting.order_id, bought.order_id]  # newest first
    assert [t.order_id for t in panel.trades_shown] == [bought.order_id]
    assert resting.order_id in panel.orders_table.value and "OPEN" in panel.orders_table.value

    panel.symbol.value = "TCS"
    assert orders() == [resting.order_id]
    assert panel.trades_shown == ()
    panel.symbol.value = "all"

    panel.status.value = "FILLED"
    assert orders() == [bought.order_id]
    panel.status.value = "all"

    panel.side.value = "SELL"
    assert orders() == [resting.order_id]
    assert panel.trades_shown == ()
    panel.side.value = "all"

    panel.since.value = "23:59:59"
    assert orders() == [] and "no orders match" in panel.orders_table.value
    panel.since.value = "2000-01-01T00:00"
    assert len(orders()) == 2


async def test_history_draws_the_open_tab(oms, shown):
    panel = shown(HistoryPanel, oms)
    order = await oms.place_order("RELIANCE", "BUY", 10)
    await panel.settle()
    assert panel.trades_table.value == ""

    panel.tabs.selected_index = 1

    trade = oms.trades()["trade_id"].tolist()[0]
    assert trade in panel.trades_table.value and order.order_id in panel.trades_table.value
    assert panel.tabs.titles == ("Orders (1)", "Trades (1)")


async def test_history_says_what_a_bad_time_was(oms, shown):
    panel = shown(HistoryPanel, oms)

    panel.until.value = "half past nine"

    assert "to: 'half past nine' was given" in panel.last_message and "HH:MM" in panel.last_message


# -- chart --------------------------------------------------------------------------------------------------------


async def test_chart_samples_equity_and_day_pnl_over_time(oms, shown):
    chart = shown(PnLChart, oms, every=None, min_gap=0)
    await oms.place_order("RELIANCE", "BUY", 10)

    await oms.set_price("RELIANCE", 2550.0)
    chart.refresh_now()

    (_, first_equity, first_pnl), *_, (_, equity, pnl) = chart.samples
    assert (first_equity, first_pnl) == (1_000_000.0, 0.0)
    assert (equity, pnl) == (1_000_500.0, 500.0)
    assert chart.figure.value.count("<polyline") == 2 and "+500.00" in chart.figure.value


# -- live refresh and errors --------------------------------------------------------------------------------------


# The bounds of a panel's redraws, on a loop that yields between events as a live session does (a feed, a
# strategy, button clicks): at most four a second, a burst folded into them, and a slow panel waiting nine times
# its redraw's duration. Times are read from time.monotonic, the clock the panels schedule by.
FOUR_A_SECOND = 0.25  # seconds: the shortest gap between two redraws of a panel
SLOW_FACTOR = 9  # a panel whose redraw took t seconds of CPU waits 9 t before the next one
TIMER_SLACK = 0.002  # seconds a timer may fire early or a measurement differ by


class Probe(Panel):
    """A panel that notes when each redraw starts and ends and its CPU time, and can be made slow (``busy``)."""

    kinds = ("price",)

    def __init__(self, oms: Any, *, busy: float = 0.0, **options: Any) -> None:
        self.busy = busy
        self.spans: list[tuple[float, float, float]] = []  # (start, end, CPU seconds) of each redraw
        super().__init__(oms, **options)

    def _build(self) -> list[Any]:
        return []

    def refresh(self) -> None:
        start, cpu = time.monotonic(), time.thread_time()
        while time.thread_time() - cpu < self.busy:  # CPU work, as a large table's redraw is
            pass
        self.spans.append((start, time.monotonic(), time.thread_time() - cpu))


async def stream_prices(oms: OMS, seconds: float) -> int:
    """Quote RELIANCE again and again for ``seconds``, yielding to the loop after each quote; returns the count."""
    started = time.monotonic()
    quotes = 0
    while time.monotonic() - started < seconds:
        await oms.set_price("RELIANCE", 2500.0 + (quotes % 20) * 0.05)
        quotes += 1
        await asyncio.sleep(0)
    return quotes


async def test_a_stream_of_events_is_redrawn_at_most_four_times_a_second(oms, shown):
    probe = shown(Probe, oms)
    started = time.monotonic()

    quotes = await stream_prices(oms, 1.5)

    elapsed = time.monotonic() - started
    spans = probe.spans[1:]  # after the first redraw, made when the panel was built
    assert quotes > 100 * len(spans), (quotes, len(spans))  # many events folded into each redraw
    assert len(spans) <= elapsed / FOUR_A_SECOND + 1, (len(spans), elapsed)
    assert len(spans) >= 3, "the panel kept redrawing while the events went on"
    for (_, end, _), (start, _, _) in itertools.pairwise(probe.spans):
        assert start - end >= FOUR_A_SECOND - TIMER_SLACK, probe.spans


async def test_a_slow_panel_waits_nine_times_its_redraw_and_leaves_the_loop_to_the_rest(oms, shown):
    probe = shown(Probe, oms, busy=0.04)  # 0.04 s of CPU a redraw: 0.36 s before the next, beyond the 0.25 s
    started = time.monotonic()

    quotes = await stream_prices(oms, 2.0)

    elapsed = time.monotonic() - started
    assert len(probe.spans) >= 3, probe.spans
    for (_, end, cost), (start, _, _) in itertools.pairwise(probe.spans):
        assert cost >= probe.busy
        assert start - end >= SLOW_FACTOR * cost - TIMER_SLACK, probe.spans
    redrawing = sum(cost for _, _, cost in probe.spans[1:])
    assert redrawing <= elapsed / (SLOW_FACTOR + 1) + probe.busy, (redrawing, elapsed)  # about a tenth at most
    assert quotes > 100


async def test_a_burst_of_fills_is_coalesced_into_a_few_refreshes(open_oms, shown):
    oms = await open_oms(limits=RiskLimits(max_orders_per_second=None, duplicate_window_s=None))
    dashboard = shown(Dashboard, oms)
    before = {type(p).__name__: p.refreshes for p in dashboard.panels}
    started = time.monotonic()

    for _ in range(500):  # yielding between orders, as a strategy or the feed does: the panels' timers run
        await oms.place_order("RELIANCE", "BUY", 1)
        await oms.place_order("RELIANCE", "SELL", 1)
        await asyncio.sleep(0)
    await dashboard.settle()

    elapsed = time.monotonic() - started
    bound = elapsed / FOUR_A_SECOND + 2  # one per interval, the settle's, and one for a partial interval
    for panel in dashboard.panels:
        assert panel.refreshes - before[type(panel).__name__] <= bound, (type(panel).__name__, elapsed)
    assert len(oms.trades()) == 1000
    assert len(dashboard.history.trades_shown) == dashboard.history.max_rows


async def test_an_error_while_refreshing_is_shown_inside_the_panel(oms, shown, monkeypatch):
    panel = shown(PositionsPanel, oms)

    def broken(oms: OMS) -> None:
        raise RuntimeError("positions unavailable")

    monkeypatch.setattr(positions_module, "position_views", broken)
    await oms.set_price("RELIANCE", 2501.0)
    await panel.settle()

    assert panel.errors == ["refresh: RuntimeError: positions unavailable"]
    assert visible(panel._error_view) and "positions unavailable" in panel._error_view.value
    panel.clear_errors()
    assert not visible(panel._error_view)


async def test_each_panel_builds_only_the_parts_it_shows(oms, shown, monkeypatch):
    # Measuring every limit after each price move is what made every panel slow when each built the whole
    # snapshot: only the risk panel shows the limits, so only it may measure them.
    dashboard = shown(Dashboard, oms)
    await oms.place_order("RELIANCE", "BUY", 10)
    await oms.place_order("TCS", "BUY", 1, "LIMIT", price=3800)
    await dashboard.settle()

    def unmeasurable(*args: Any) -> None:
        raise RuntimeError("limits measured")

    monkeypatch.setattr(snapshot_module, "limit_uses", unmeasurable)
    await oms.set_price("RELIANCE", 2490.0)
    await oms.place_order("TCS", "BUY", 1, "LIMIT", price=3805)
    for panel in dashboard.panels:
        panel.refresh_now()

    assert {type(p).__name__: p.errors for p in dashboard.panels if p.errors} == {
        "RiskPanel": ["refresh: RuntimeError: limits measured"]}
    assert "2,490.00" in dashboard.positions.table.value and len(dashboard.orders.order_ids) == 2


async def test_an_unexpected_error_in_a_button_action_is_shown_inside_the_panel(oms, shown, monkeypatch):
    panel = shown(OrdersPanel, oms)

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("broker went away")

    monkeypatch.setattr(oms, "cancel_all", broken)
    panel.cancel_all_button.click()
    await panel.settle()

    assert panel.errors == ["cancel all: RuntimeError: broker went away"]
    assert "broker went away" in panel._error_view.value


async def test_an_error_raised_by_a_button_itself_is_shown_inside_the_panel(oms, shown, monkeypatch):
    panel = shown(RiskPanel, oms)

    def broken() -> None:
        raise RuntimeError("no kill today")

    monkeypatch.setattr(panel, "kill", broken)
    panel.kill_button.click()

    assert panel.errors == ["kill switch: RuntimeError: no kill today"]
    assert visible(panel._error_view)


async def test_a_closed_panel_stops_listening(oms, shown):
    panel = PositionsPanel(oms)
    panel.close()
    count = panel.refreshes

    await oms.place_order("RELIANCE", "BUY", 1)
    await panel.settle()

    assert panel.refreshes == count
    assert not oms.bus.wants("position") or all(cb != panel._on_event for cb, _ in oms.bus._callbacks)


# -- read-only and the blocking facade ----------------------------------------------------------------------------


async def test_a_read_only_oms_gets_no_ticket_cancel_or_kill_controls(oms, shown):
    order = await oms.place_order("RELIANCE", "BUY", 5, "LIMIT", price=2490)
    oms.read_only = True  # what OMS.open(url, read_only=True) exposes

    dashboard = shown(Dashboard, oms)
    await dashboard.settle()

    assert not visible(dashboard.ticket)
    assert not visible(dashboard.orders.cancel_all_button)
    assert dashboard.orders.order_ids == [order.order_id]
    assert not visible(dashboard.orders._rows[order.order_id].cancel)
    controls = next(c for c in dashboard.risk.children if "oms-risk-controls" in c._dom_classes)
    assert not visible(controls)
    assert "read-only" in dashboard.header.backend.value
    assert dashboard.header._ticker is not None  # polled, as its changes come from another process


@pytest.mark.postgres
async def test_a_read_only_dashboard_follows_a_session_in_another_process_through_postgresql(pg_url, shown):
    writer = await ok.OMS.open(pg_url, feed=None, risk_interval=None)
    watcher = await ok.OMS.open(pg_url, feed=None, risk_interval=None, read_only=True)
    try:
        dashboard = shown(Dashboard, watcher)
        assert "postgresql" in dashboard.header.backend.value and "read-only" in dashboard.header.backend.value
        assert not visible(dashboard.ticket)
        await writer.set_price("RELIANCE", 2500.0)
        await writer.place_order("RELIANCE", "BUY", 10)
        resting = await writer.place_order("RELIANCE", "SELL", 4, "LIMIT", price=2510)

        await until(lambda: dashboard.orders.order_ids == [resting.order_id], "the writer's resting order")
        await until(lambda: [p.quantity for p in dashboard.positions.rows] == [10], "the writer's position")
        assert not visible(dashboard.orders._rows[resting.order_id].cancel)

        await writer.kill_switch("halted by the writer")
        await until(lambda: dashboard.header.state.value == "HALTED" and dashboard.orders.order_ids == [],
                    "the halt and the cancel")
        assert all(not p.errors for p in dashboard.panels), [p.errors for p in dashboard.panels]
    finally:
        await watcher.close()
        await writer.close()


async def until(condition: Callable[[], bool], what: str, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"the dashboard did not show {what} within {seconds} s"
        await asyncio.sleep(0.05)


def test_panels_work_with_the_blocking_facade_outside_a_loop():
    oms = ok.open_sync(feed=None, fees=None, risk_interval=None)
    dashboard = Dashboard(oms)
    try:
        oms.set_price("RELIANCE", 2500.0)
        order = oms.place_order("RELIANCE", "BUY", 5, "LIMIT", price=2490)
        wait_for(lambda: dashboard.orders.order_ids == [order.order_id])

        dashboard.risk.kill_button.click()  # runs through the facade: blocks until done

        assert oms.trading_state is ok.TradingState.HALTED
        assert oms.get_order(order.order_id).status is OrderStatus.CANCELLED
        wait_for(lambda: dashboard.header.state.value == "HALTED" and dashboard.orders.order_ids == [])
        assert all(not p.errors for p in dashboard.panels), [p.errors for p in dashboard.panels]
    finally:
        dashboard.close()
        oms.close()


KERNEL_SESSION = """
import asyncio
import oms_kit as ok
from oms_kit.widgets import Dashboard
oms = ok.open_sync(feed=None, fees=None, risk_interval=None)   # the blocking facade, inside the kernel's loop
oms.set_price("RELIANCE", 2500.0)
order = oms.place_order("RELIANCE", "BUY", 5, "LIMIT", price=2490)
dashboard = Dashboard(oms)
dashboard.risk.kill_button.click()    # schedules the kill switch on the kernel's loop, does not block it
"""
KERNEL_CHECK = """
await dashboard.settle()
assert oms.trading_state is ok.TradingState.HALTED
assert oms.get_order(order.order_id).status is ok.OrderStatus.CANCELLED
assert dashboard.header.state.value == "HALTED" and dashboard.orders.order_ids == []
assert not any(p.errors for p in dashboard.panels), [p.errors for p in dashboard.panels]
dashboard.close()
oms.close()
print("KERNEL-OK")
"""


def test_the_dashboard_of_the_blocking_facade_in_a_real_kernel():
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(KERNEL_SESSION),
                                               nbformat.v4.new_code_cell(KERNEL_CHECK)])
    root = str(Path(__file__).resolve().parent.parent)
    client = NotebookClient(notebook, timeout=120, kernel_name="python3")

    # The kernel imports this checkout's packages, as the tests do.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", root)
        client.execute()

    outputs = notebook.cells[1].outputs
    assert any("KERNEL-OK" in out.get("text", "") for out in outputs), outputs


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_every_panel_is_a_panel():
    assert all(issubclass(k, Panel) for k in (Header, PositionsPanel, OrdersPanel, OrderTicket, RiskPanel,
                                              HistoryPanel, PnLChart))
