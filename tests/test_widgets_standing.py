"""The order ticket's types (bracket, cover, trailing stop, iceberg, GTT single and two-leg) and the standing orders
panel, on a real OMS (in-memory DuckDB, prices by set_price): fields typed, Place clicked, the program or GTT seen in
the OMS and in the panel, deleted or cancelled from the panel; hostile values typed into the new fields."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import oms_kit as ok
from oms_kit import OMS, OrderStatus
from oms_kit.errors import InvalidOrderError
from oms_kit.market.clock import SimulatedClock
from oms_kit.snapshot import gtt_views, program_views
from oms_kit.widgets import Dashboard, OrderTicket, StandingPanel
from oms_kit.widgets.ticket_kinds import KINDS, OPTIONAL_FIELDS

LIMITS = ok.RiskLimits(max_orders_per_second=None, duplicate_window_s=None)


@pytest.fixture
async def oms() -> AsyncIterator[OMS]:
    oms = await ok.OMS.open(feed=None, fees=None, risk_interval=None, limits=LIMITS)
    await oms.set_price("RELIANCE", 2500.0)
    await oms.set_price("TCS", 3900.0)
    yield oms
    await oms.close()


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


def fill(ticket: OrderTicket, kind: str, **values: Any) -> None:
    """Type into the ticket as a user does: the type first, then each field."""
    ticket.kind.value = kind
    for name, value in values.items():
        getattr(ticket, name).value = value


async def click_place(dashboard: Dashboard) -> None:
    dashboard.ticket.place_button.click()
    await dashboard.settle()


def gtt_row(panel: StandingPanel, gtt_id: str) -> str:
    return panel._gtt_rows[gtt_id].text.value


def program_row(panel: StandingPanel, program_id: str) -> str:
    return panel._program_rows[program_id].text.value


# -- the ticket's types -------------------------------------------------------------------------------------------


async def test_only_the_fields_of_the_chosen_type_show(oms, shown):
    ticket = shown(OrderTicket, oms, symbol="RELIANCE")
    expected = {
        "regular": {"order_type", "price", "trigger", "product", "validity"},
        "bracket": {"order_type", "price", "target", "stoploss", "trail", "product", "validity"},
        "cover": {"order_type", "price", "stoploss", "trail", "product"},
        "trailing": {"trail", "product"},
        "iceberg": {"order_type", "price", "legs", "product"},
        "gtt-single": {"gtt_trigger", "order_type", "price", "trigger", "product", "validity"},
        "gtt-two-leg": {"stop_trigger", "stop_price", "target_trigger", "target_price", "order_type", "product",
                        "validity"},
    }
    assert [k.value for k in KINDS] == list(expected)
    for kind, fields in expected.items():
        ticket.kind.value = kind
        shown_fields = {n for n in OPTIONAL_FIELDS if n != "trail_unit" and visible(getattr(ticket, n))}
        assert shown_fields == fields, kind
        assert visible(ticket.symbol) and visible(ticket.side) and visible(ticket.quantity)
        assert visible(ticket._trail_row) == ("trail" in fields)
    ticket.kind.value = "bracket"
    assert ticket.order_type.options == ("MARKET", "LIMIT")
    assert ticket.place_button.description == "Place BUY Bracket"
    ticket.kind.value = "regular"
    assert ticket.order_type.options == ("MARKET", "LIMIT", "SL", "SL-M")
    assert ticket.place_button.description == "Place BUY"


async def test_a_bracket_from_the_ticket_places_its_entry_then_its_legs_shown_in_the_panel(oms, shown):
    dashboard = shown(Dashboard, oms)
    fill(dashboard.ticket, "bracket", symbol="RELIANCE", quantity=10, order_type="LIMIT", price="2490",
         target="10", stoploss="5")
    assert "✓ passes all" in dashboard.ticket.feedback.value
    assert "target 10.00 and stop 5.00 points" in dashboard.ticket.feedback.value

    await click_place(dashboard)

    program = dashboard.ticket.last_program
    assert program is not None and program.kind == "bracket" and program.status == "active"
    assert oms.programs()["program_id"].tolist() == [program.program_id]
    entry = oms.get_order(program.entry_id)
    assert (entry.side, entry.quantity, entry.order_type, entry.price) == (ok.Side.BUY, 10, ok.OrderType.LIMIT,
                                                                           Decimal("2490"))
    assert f"<b>{program.program_id}</b> bracket active" in dashboard.ticket.result.value
    standing = dashboard.standing
    assert standing.program_ids == [program.program_id]
    assert "bracket" in program_row(standing, program.program_id)
    assert f"entry LIMIT 2,490.00 {entry.order_id} OPEN" in program_row(standing, program.program_id)

    await oms.set_price("RELIANCE", 2490.0)  # the entry fills: a target at 2,500 and a stop at 2,485 go out
    await dashboard.settle()

    row = program_row(standing, program.program_id)
    assert f"target 2,500.00 {program.target_id} OPEN" in row
    assert f"stop ▼2,485.00 {program.stop_id} TRIGGER" in row
    assert "FILLED 10@2,490.00" in row

    await oms.set_price("RELIANCE", 2501.0)  # the target fills, the stop is cancelled: the program is complete
    await dashboard.settle()
    assert oms.get_program(program.program_id).status == "complete"
    assert standing.program_ids == [] and "0 active order programs" in standing.program_count.value
    assert "bracket complete" in dashboard.ticket.result.value  # the ticket follows what it placed


async def test_a_cover_order_from_the_ticket_has_a_stop_and_no_target(oms, shown):
    dashboard = shown(Dashboard, oms)
    fill(dashboard.ticket, "cover", symbol="TCS", side="SELL", quantity=3, stoploss="20", trail="30")

    await click_place(dashboard)

    program = dashboard.ticket.last_program
    assert program.kind == "cover" and program.trail == Decimal(30)
    stop = oms.get_order(program.stop_id)  # a MARKET entry fills at once: its stop is out, the nearer of the two
    assert (stop.side, stop.order_type, stop.trigger_price) == (ok.Side.BUY, ok.OrderType.SL_M, Decimal("3920"))
    assert program.target_id is None
    row = program_row(dashboard.standing, program.program_id)
    assert f"stop ▲3,920.00 {stop.order_id} TRIGGER" in row and "target" not in row
    assert "trail 30.00 pts" in row


async def test_a_trailing_stop_from_the_ticket_follows_the_best_price_in_the_panel(oms, shown):
    dashboard = shown(Dashboard, oms)
    await oms.place_order("RELIANCE", "BUY", 4)
    fill(dashboard.ticket, "trailing", symbol="RELIANCE", side="SELL", quantity=4, trail="1", trail_unit="%")
    assert "SL-M triggered at 2,475.00 now, then 1% behind" in dashboard.ticket.feedback.value

    await click_place(dashboard)

    program = dashboard.ticket.last_program
    assert (program.kind, program.trail_percent) == ("trailing", Decimal(1))
    assert oms.get_order(program.stop_id).trigger_price == Decimal("2475")
    panel = dashboard.standing
    assert "stop ▼2,475.00" in program_row(panel, program.program_id)

    await oms.set_price("RELIANCE", 2600.0)
    await dashboard.settle()

    assert oms.get_order(program.stop_id).trigger_price == Decimal("2574")
    row = program_row(panel, program.program_id)
    assert "stop ▼2,574.00" in row and "best 2,600.00" in row


async def test_an_iceberg_from_the_ticket_sends_its_first_leg(oms, shown):
    dashboard = shown(Dashboard, oms)
    fill(dashboard.ticket, "iceberg", symbol="RELIANCE", quantity=10, order_type="LIMIT", price="2480", legs=3)
    assert "3 legs of 4 and 3" in dashboard.ticket.feedback.value

    await click_place(dashboard)

    program = dashboard.ticket.last_program
    first = oms.get_order(program.order_ids[0])
    assert (program.kind, program.legs, first.quantity, first.price) == ("iceberg", 3, 4, Decimal("2480"))
    row = program_row(dashboard.standing, program.program_id)
    assert f"leg 1/3 {first.order_id} OPEN" in row and "filled 0/10" in row

    await oms.set_price("RELIANCE", 2480.0)  # each leg fills where the price is, and the next goes out
    await dashboard.settle()
    assert oms.get_program(program.program_id).status == "complete"
    assert [oms.get_order(i).quantity for i in oms.get_program(program.program_id).order_ids] == [4, 3, 3]
    assert dashboard.standing.program_ids == []


async def test_a_single_gtt_from_the_ticket_is_listed_then_fires_its_order(oms, shown):
    dashboard = shown(Dashboard, oms)
    fill(dashboard.ticket, "gtt-single", symbol="RELIANCE", quantity=5, order_type="LIMIT", price="2552",
         gtt_trigger="2550")
    assert "reaches ▲2,550.00 (last 2,500.00)" in dashboard.ticket.feedback.value

    await click_place(dashboard)

    gtt = dashboard.ticket.last_gtt
    assert gtt is not None and (gtt.kind, gtt.status, gtt.triggers) == ("single", "active", (Decimal("2550"),))
    assert oms.gtts("active")["gtt_id"].tolist() == [gtt.gtt_id] and len(oms.orders()) == 0
    panel = dashboard.standing
    assert panel.gtt_ids == [gtt.gtt_id]  # no event for a GTT made: the ticket told the panel
    row = gtt_row(panel, gtt.gtt_id)
    assert "single" in row and "▲2,550.00 → " in row and "5 LIMIT 2,552.00 MIS" in row and "active" in row
    assert f"expires {gtt.expires_at.astimezone().date().isoformat()}" in row

    await oms.set_price("RELIANCE", 2551.0)
    await dashboard.settle()

    assert oms.get_gtt(gtt.gtt_id).status == "triggered"
    assert panel.gtt_ids == [] and "0 active GTTs" in panel.gtt_count.value
    (order_id,) = oms.get_gtt(gtt.gtt_id).order_ids
    assert oms.get_order(order_id).price == Decimal("2552")
    assert f"GTT single triggered · orders {order_id}" in dashboard.ticket.result.value


async def test_a_two_leg_gtt_from_the_ticket_fires_one_leg_and_leaves_the_panel(oms, shown):
    dashboard = shown(Dashboard, oms)
    await oms.place_order("RELIANCE", "BUY", 5, product="CNC")
    fill(dashboard.ticket, "gtt-two-leg", symbol="RELIANCE", side="SELL", quantity=5, product="CNC",
         order_type="LIMIT", stop_trigger="2400", stop_price="2395", target_trigger="2600", target_price="2605")

    await click_place(dashboard)

    gtt = dashboard.ticket.last_gtt
    assert (gtt.kind, gtt.triggers) == ("two-leg", (Decimal("2400"), Decimal("2600")))
    assert [o.price for o in gtt.orders] == [Decimal("2395"), Decimal("2605")]
    row = gtt_row(dashboard.standing, gtt.gtt_id)
    assert "stop ▼2,400.00 → " in row and "target ▲2,600.00 → " in row and "5 LIMIT 2,605.00 CNC" in row

    await oms.set_price("RELIANCE", 2399.0)
    await dashboard.settle()

    assert oms.get_gtt(gtt.gtt_id).fired_leg == 0
    assert dashboard.standing.gtt_ids == []


async def test_a_rejected_program_shows_its_reason_in_the_ticket(oms, shown):
    dashboard = shown(Dashboard, oms)
    fill(dashboard.ticket, "bracket", symbol="RELIANCE", quantity=10, order_type="LIMIT", price="2490.03",
         target="10", stoploss="5")  # off the tick: a well-formed entry that the checks reject
    assert "PRICE_NOT_ON_TICK" in dashboard.ticket.feedback.value

    await click_place(dashboard)

    program = dashboard.ticket.last_program
    assert program.status == "rejected"
    assert f"✗ <b>{program.program_id}</b> bracket rejected" in dashboard.ticket.result.value
    assert dashboard.standing.program_ids == []


@pytest.mark.parametrize(("kind", "values", "field"), [
    ("bracket", {"target": "ten", "stoploss": "5"}, "target"),
    ("bracket", {"target": "10", "stoploss": ""}, "stoploss"),
    ("cover", {"stoploss": "5", "trail": "5", "trail_unit": "%", "order_type": "LIMIT", "price": ""}, "price"),
    ("cover", {"stoploss": "5", "trail": "150", "trail_unit": "%"}, "trail_percent"),
    ("trailing", {"trail": "-1"}, "trail"),
    ("iceberg", {"legs": 51, "quantity": 100}, "legs"),
    ("gtt-single", {"gtt_trigger": "2500"}, "triggers"),  # at the last price: it would fire at once
    ("gtt-single", {"gtt_trigger": "abc"}, "gtt_trigger"),
    ("gtt-two-leg", {"stop_trigger": "2600", "target_trigger": "2400"}, "triggers"),
    ("gtt-two-leg", {"stop_trigger": "2400", "target_trigger": "2600", "order_type": "LIMIT",
                     "stop_price": "2395", "target_price": "1e400"}, "target_price"),
])
async def test_a_malformed_field_is_named_and_nothing_is_placed(oms, shown, kind, values, field):
    dashboard = shown(Dashboard, oms)
    fill(dashboard.ticket, "regular", symbol="RELIANCE")
    fill(dashboard.ticket, kind, **values)
    assert f"invalid {field}:" in dashboard.ticket.feedback.value

    await click_place(dashboard)

    ticket = dashboard.ticket
    assert "refused" in ticket.last_message and f"invalid {field}:" in ticket.last_message
    assert "✗" in ticket.result.value and not ticket.errors
    assert (len(oms.orders()), len(oms.programs()), len(oms.gtts())) == (0, 0, 0)
    assert (ticket.last_program, ticket.last_gtt) == (None, None)


# -- the standing orders panel ------------------------------------------------------------------------------------


async def test_deleting_a_gtt_from_the_panel(oms, shown):
    panel = shown(StandingPanel, oms)
    kept = await oms.place_gtt("TCS", 4000, ok.OrderRequest("TCS", "BUY", 1))
    gone = await oms.place_gtt("RELIANCE", 2400, ok.OrderRequest("RELIANCE", "BUY", 2))
    panel.refresh_now()
    assert panel.gtt_ids == [kept.gtt_id, gone.gtt_id]

    panel._gtt_rows[gone.gtt_id].button.click()
    await panel.settle()

    assert oms.get_gtt(gone.gtt_id).status == "cancelled" and oms.get_gtt(kept.gtt_id).status == "active"
    assert panel.gtt_ids == [kept.gtt_id]
    assert panel.last_message == f"GTT {gone.gtt_id} cancelled"
    await oms.set_price("RELIANCE", 2399.0)
    assert oms.orders().empty  # a deleted GTT no longer fires


async def test_cancelling_a_program_from_the_panel_cancels_its_working_orders(oms, shown):
    panel = shown(StandingPanel, oms)
    program = await oms.place_bracket("RELIANCE", "BUY", 5, "LIMIT", 2480, target=10, stoploss=5)
    await panel.settle()
    assert panel.program_ids == [program.program_id]

    panel._program_rows[program.program_id].button.click()
    await panel.settle()

    assert oms.get_program(program.program_id).status == "cancelled"
    assert oms.get_order(program.entry_id).status is OrderStatus.CANCELLED
    assert panel.program_ids == [] and panel.last_message == f"bracket {program.program_id} cancelled"


async def test_a_delete_refused_as_the_gtt_ended_elsewhere_is_shown_and_its_row_goes(oms, shown):
    panel = shown(StandingPanel, oms)
    gtt = await oms.place_gtt("RELIANCE", 2400, ok.OrderRequest("RELIANCE", "BUY", 2))
    panel.refresh_now()
    await oms.delete_gtt(gtt.gtt_id)  # deleted elsewhere before the click

    panel._gtt_rows[gtt.gtt_id].button.click()
    await panel.settle()

    assert "refused" in panel.last_message and "is cancelled" in panel.last_message and not panel.errors
    assert panel.gtt_ids == []


async def test_a_refused_cancel_is_shown_and_offers_the_button_again(oms, shown):
    panel = shown(StandingPanel, oms)
    program = await oms.place_bracket("RELIANCE", "BUY", 5, "LIMIT", 2480, target=10, stoploss=5)
    panel.refresh_now()
    oms.read_only = True  # what a reader opened read-only is: no change allowed

    panel._program_rows[program.program_id].button.click()
    await panel.settle()

    assert "refused" in panel.last_message and "read-only" in panel.last_message and not panel.errors
    button = panel._program_rows[program.program_id].button
    assert (button.disabled, button.description) == (False, "✕ Cancel")
    assert oms.get_program(program.program_id).status == "active"
    oms.read_only = False


async def test_a_gtt_made_elsewhere_appears_on_the_panels_own_refresh_cycle(oms, shown):
    panel = shown(StandingPanel, oms, every=0.05)
    gtt = await oms.place_gtt("RELIANCE", 2600, ok.OrderRequest("RELIANCE", "SELL", 1))  # publishes no event

    deadline = time.monotonic() + 15
    while panel.gtt_ids != [gtt.gtt_id]:
        assert time.monotonic() < deadline, "the panel's refresh cycle never showed the GTT"
        await asyncio.sleep(0.02)


async def test_a_read_only_oms_lists_standing_orders_without_buttons(oms, shown):
    gtt = await oms.place_gtt("RELIANCE", 2600, ok.OrderRequest("RELIANCE", "SELL", 1))
    program = await oms.place_bracket("RELIANCE", "BUY", 5, "LIMIT", 2480, target=10, stoploss=5)
    oms.read_only = True

    panel = shown(StandingPanel, oms)

    assert (panel.gtt_ids, panel.program_ids) == ([gtt.gtt_id], [program.program_id])
    assert not visible(panel._gtt_rows[gtt.gtt_id].button)
    assert not visible(panel._program_rows[program.program_id].button)


def test_the_ticket_places_a_gtt_through_the_blocking_facade_outside_a_loop():
    oms = ok.open_sync(feed=None, fees=None, risk_interval=None)
    dashboard = Dashboard(oms)
    try:
        oms.set_price("RELIANCE", 2500.0)
        fill(dashboard.ticket, "gtt-single", symbol="RELIANCE", quantity=2, gtt_trigger="2450")

        dashboard.ticket.place_button.click()  # runs at once through the facade

        gtt = dashboard.ticket.last_gtt
        assert gtt is not None and oms.gtts("active")["gtt_id"].tolist() == [gtt.gtt_id]
        wait_for(lambda: dashboard.standing.gtt_ids == [gtt.gtt_id])  # the panel's refresh, on the OMS's thread
        dashboard.standing._gtt_rows[gtt.gtt_id].button.click()
        assert oms.get_gtt(gtt.gtt_id).status == "cancelled"
        wait_for(lambda: dashboard.standing.gtt_ids == [])
        assert all(not p.errors for p in dashboard.panels), [p.errors for p in dashboard.panels]
    finally:
        dashboard.close()
        oms.close()


def wait_for(condition: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


# -- the read model's views ---------------------------------------------------------------------------------------


async def test_the_views_agree_with_the_oms_listings_and_serialise(oms):
    gtt = await oms.place_gtt("RELIANCE", [2400, 2600], [ok.OrderRequest("RELIANCE", "SELL", 1),
                                                         ok.OrderRequest("RELIANCE", "SELL", 1, "LIMIT", 2605)],
                              kind="two-leg")
    bracket = await oms.place_bracket("RELIANCE", "BUY", 5, "LIMIT", 2480, target=10, stoploss=5, trail=2)
    iceberg = await oms.place_iceberg("TCS", "BUY", 10, "LIMIT", 3890, legs=4)
    await oms.delete_gtt(gtt.gtt_id)

    (g,) = gtt_views(oms)
    assert gtt_views(oms, "active") == ()
    row = oms.gtts().iloc[0]
    assert (g.gtt_id, g.kind, g.status, g.expires_at) == (row["gtt_id"], row["kind"], row["status"],
                                                          row["expires_at"])
    assert [leg.trigger for leg in g.legs] == [Decimal(t) for t in row["triggers"]]
    assert [(leg.side, leg.order_type, leg.price) for leg in g.legs] == [("SELL", "MARKET", None),
                                                                         ("SELL", "LIMIT", Decimal("2605"))]

    views = program_views(oms, "active")
    assert [v.program_id for v in views] == oms.programs("active")["program_id"].tolist() == [
        bracket.program_id, iceberg.program_id]
    b, i = views
    assert (b.kind, b.target, b.stoploss, b.trail, b.entry_id) == ("bracket", 10, 5, 2, bracket.entry_id)
    assert b.order(b.entry_id).status == "OPEN" and b.order(b.target_id) is None
    assert (i.quantity, i.legs, i.legs_sent) == (10, 4, 1)  # the whole quantity, as asked
    assert sum(o.quantity for o in i.orders) == 3  # the first leg of 3, 3, 2, 2
    json.dumps([g.to_dict(), b.to_dict(), i.to_dict()])


async def test_a_gtt_a_year_old_is_shown_expired_and_leaves_the_panel():
    start = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
    clock = SimulatedClock(start)
    oms = await ok.OMS.open(feed=None, risk_interval=None, clock=clock)
    panel = StandingPanel(oms)
    try:
        await oms.set_price("INFY", 1500)
        gtt = await oms.place_gtt("INFY", 1600, ok.OrderRequest("INFY", "BUY", 1))
        panel.refresh_now()
        assert panel.gtt_ids == [gtt.gtt_id]

        clock.set(start.replace(year=2027))
        panel.refresh_now()

        assert panel.gtt_ids == [] and gtt_views(oms, "active") == ()
        assert [v.gtt_id for v in gtt_views(oms, "expired")] == [gtt.gtt_id]
        assert oms.gtts()["status"].tolist() == ["expired"]  # as the OMS lists it
    finally:
        panel.close()
        await oms.close()


# -- hostile input ------------------------------------------------------------------------------------------------


TYPED = st.one_of(st.text(max_size=10),
                  st.sampled_from(["", " ", "0", "-1", "5", "2500", "2,500", "1e400", "nan", "-inf", "0.0000000001",
                                   "١٢", "1_000", "2500.03", "100%", "None"]),
                  st.decimals(allow_nan=True, allow_infinity=True).map(str))
COUNTS = st.integers(-10**12, 10**12) | st.sampled_from([0, 1, 2, 3, 50, 51])
# Mostly sensible quantities and legs, so that the other fields' values are the ones refused (or placed).
QUANTITIES = st.integers(1, 20) | st.integers(1, 20) | COUNTS
LEGS = st.integers(2, 5) | COUNTS


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(kind=st.sampled_from([k.value for k in KINDS if k.value != "regular"]), quantity=QUANTITIES, legs=LEGS,
       unit=st.sampled_from(["points", "%"]), order_type=st.sampled_from(["MARKET", "LIMIT"]),
       texts=st.fixed_dictionaries({name: TYPED for name in (
           "price", "target", "stoploss", "trail", "gtt_trigger", "stop_trigger", "stop_price", "target_trigger",
           "target_price")}))
async def test_hostile_values_typed_into_the_ticket_get_a_clear_message_and_nothing_is_placed(
        oms, kind, quantity, legs, unit, order_type, texts):
    ticket = OrderTicket(oms, symbol="RELIANCE")
    try:
        await type_and_place(oms, ticket, kind, quantity, legs, unit, order_type, texts)
    finally:
        ticket.close()


async def type_and_place(oms: OMS, ticket: OrderTicket, kind: str, quantity: int, legs: int, unit: str,
                         order_type: str, texts: dict[str, str]) -> None:
    fill(ticket, kind, quantity=quantity, legs=legs, trail_unit=unit, order_type=order_type, **texts)
    before = (len(oms.orders()), len(oms.programs()), len(oms.gtts()))
    try:
        ticket.plan()
    except InvalidOrderError as exc:
        refused: InvalidOrderError | None = exc
    else:
        refused = None

    ticket.place_button.click()
    await ticket.settle()

    assert not ticket.errors, ticket.errors  # no fault: every refusal is the OMS's own, worded
    if refused is not None:
        event(f"refused: {refused.field}")
        assert f"invalid {refused.field}:" in ticket.feedback.value
        assert "refused" in ticket.last_message and f"invalid {refused.field}:" in ticket.last_message
        assert (len(oms.orders()), len(oms.programs()), len(oms.gtts())) == before
        assert "✗" in ticket.result.value
    elif "refused" in ticket.last_message:  # well-formed to the ticket, refused by the OMS: still nothing placed
        event("refused by the OMS")
        assert "invalid" in ticket.last_message
        assert (len(oms.orders()), len(oms.programs()), len(oms.gtts())) == before
    else:  # a well-formed ticket: a program or a GTT, with its id on the ticket
        event(f"placed: {kind}")
        placed = ticket.last_gtt if kind.startswith("gtt") else ticket.last_program
        assert placed is not None
        assert (len(oms.programs()), len(oms.gtts())) != before[1:]
